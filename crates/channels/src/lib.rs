//! parley's channels: the ways two stations reach each other, each moving opaque frames between
//! pinned identities and reporting in one shape ([`report`]): frames in, frames out, health.
//!
//! - [`direct`]: QUIC in which both ends prove that they hold an Ed25519 identity key the other
//!   side has pinned, carrying length-prefixed frames; anything not pinned is refused during
//!   the handshake. Its tasks accept peers' connections and keep one dialled connection per
//!   peer.
//! - [`relay`]: the client of a neutral relay's HTTPS API (TLS pinned to the relay's key, every
//!   request signed), and the tasks that heartbeat, long-poll the own mailbox and deposit.
//! - [`courier`]: signed bundles in files, read as hostile input, written atomically, and the
//!   drop-folder thread.
//! - [`witness`]: the client of a stock `c2sp.org/tlog-witness` witness, and its task.
//! - [`private`]: the directories that hold a station's or a relay's secrets.
//!
//! Architecture invariant: this crate knows who is on the other end, how large a frame may be
//! and how to move it; nothing about what frames mean. Authentication of frames, retransmission
//! and ordering belong to `parley-proto`; the station decides what goes on which channel.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod connect;
pub mod courier;
pub mod direct;
pub mod log_limit;
pub mod private;
pub mod relay;
pub mod report;
pub mod tls;
pub mod witness;

pub use direct::{
    ALPN, DirectConfig, DirectConnection, DirectEndpoint, DirectError, FRAME_SIZE_MAX_BYTES,
    FrameReceiver, FrameSender, PinnedKeys,
};
pub use relay::{RelayClient, RelayError};
pub use report::{Disposal, FramePermit, Inbound, Report, Signal, Via, WitnessAt};

/// The wall clock in UTC milliseconds: for bundle and request timestamps, which the far side
/// checks against its own clock.
fn utc_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// The error and its sources, joined, for a transport failure (a TLS refusal is the source of
/// a connect error).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
