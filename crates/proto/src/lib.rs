//! parley's protocol core, free of I/O.
//!
//! Everything here is deterministic: time comes in as `now_ms`, randomness as a seeded
//! generator, persisted state as a [`LinkSnapshot`], and everything that must reach the disk
//! leaves as [`StoreOp`]s that the driver commits before it pulls any [`Transmit`]. The same
//! code therefore runs in the station daemon and thousands of times a second in the simulation.
//!
//! Layers, bottom up: [`cbor`] (deterministic encoding), [`ed25519`] (the one rule for Ed25519 signatures, alone or in batches), [`cose`]
//! (COSE_Sign1 with Ed25519),
//! [`id`] (identities and hashes), [`pq`] (ML-DSA-44), [`entry`], [`card`], [`seal`] (HPKE X-Wing), [`envelope`],
//! [`receipt`], [`frame`], [`evidence`], then the state machines [`link::Link`] and
//! [`endpoint::Endpoint`], and [`transcript`] for exported records.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod card;
pub mod cbor;
pub mod cose;
pub mod ed25519;
pub mod endpoint;
pub mod entry;
pub mod envelope;
pub mod error;
pub mod evidence;
pub mod frame;
pub mod id;
pub mod limits;
pub mod link;
pub mod names;
pub mod pq;
pub mod receipt;
pub mod seal;
pub mod store_op;
pub mod tlog;
pub mod transcript;
pub mod value;

pub use bundle::Bundle;
pub use card::ContactCard;
pub use endpoint::{Accepted, Endpoint, FrameKind, Refused};
pub use entry::{
    Body, Entry, Kind, Objective, Precedence, SignedEntry, TestAnswer, TestSchedule, Translation,
};
pub use error::{DecodeError, RecoverError, Rejection, SendError};
pub use evidence::EvidenceKind;
pub use id::{CodebookHash, EntryId, EpochKeyId, Fingerprint, Identity, LinkId, StationId};
pub use link::{
    ChannelId, ChannelKind, Delivery, Event, IntakeLimit, Link, LinkCounters, Recovered, Transmit,
    check_message_text,
};
pub use pq::{PqPublicKey, PqSigningKey};
pub use seal::{EpochSecret, Keyring};
pub use store_op::{LinkSnapshot, OutboxItem, PendingItem, StoreOp};
pub use value::{Params, Point, Value};
