//! parley's relay server: a neutral store-and-forward mailbox service, run by a facilitator,
//! through which stations that cannot reach each other directly exchange frames.
//!
//! A relay holds one mailbox per admitted station. A station deposits signed frames (envelopes
//! and receipts, exactly as on the direct channel) into the recipient's mailbox; the recipient
//! fetches them with a long poll and deletes them once it has stored them. The API is HTTP/1.1
//! over TLS 1.3 with the relay's Ed25519 identity certificate, which stations pin like a peer's
//! key; every request is signed by the station's identity key (`docs/relay-api.md`). The
//! protocol itself (bodies, signatures, the routing check) is `parley-relay-wire`; the client
//! stations use is in `parley-channels`; the `parley relay …` commands are in the `parley`
//! binary.
//!
//! Architecture invariants:
//! - The relay only ever holds signed ciphertext frames: it verifies each frame's signature and
//!   routing header (sender = the requesting station, recipient = the mailbox) and stores the
//!   bytes. It holds no epoch secret and cannot decrypt anything. What it can see: who sends to
//!   whom, when, how much, envelope headers (link, seq, entry id, epoch key id) and receipts.
//! - A deposit is answered only after it is committed to SQLite with a full fsync. SQL is
//!   spoken in [`store`] only.
//! - Every refusal is specific, changes no mailbox, and no input panics the relay.
//! - Every bound is a named constant in [`limits`]; the configurable ones live in `relay.toml`.
//! - Nothing here prints for humans: the administration API ([`home`]) returns values and
//!   typed errors, the server logs through `tracing`.
//! - As a witness (`parley relay serve --witness`), the relay cosigns the checkpoints of the
//!   link logs of admitted stations as `c2sp.org/tlog-witness` specifies, only ever forward
//!   along consistency proofs, and keeps what contradicts them as evidence ([`witness`]).
//!
//! Modules: [`limits`], [`store`] (SQLite), [`home`] (relay home and administration),
//! [`server`] (the HTTP API), [`witness`] (the witness's rules).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod home;
pub mod limits;
pub mod server;
pub mod store;
pub mod witness;

pub use home::{HomeError, RelayConfig, RelayHome};
pub use limits::Limits;
pub use server::{RelayServer, ServeError, ServeOptions};
