//! parley's channels: the ways two stations reach each other.
//!
//! So far there is one, the *direct channel* ([`direct`]): QUIC in which both ends prove that
//! they hold an Ed25519 identity key the other side has pinned, carrying opaque
//! length-prefixed frames. Anything not pinned is refused during the handshake.
//!
//! Architecture invariant: this crate knows who is on the other end and how large a frame may
//! be, nothing more. What the frames mean, retransmission and ordering belong to
//! `parley-proto`; the station daemon drives both.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod direct;
pub mod relay;
pub mod tls;

pub use direct::{
    ALPN, DirectConfig, DirectConnection, DirectEndpoint, DirectError, FRAME_SIZE_MAX_BYTES,
    FrameReceiver, FrameSender, PinnedKeys,
};
pub use relay::{RelayClient, RelayError};
