//! Station errors: what went wrong, what was not changed, what to try.

use std::path::PathBuf;

use thiserror::Error;

/// Errors of station operations.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StationError {
    /// The home has no station.
    #[error("no station in {0}; run `parley init --name NAME` first")]
    NotInitialised(PathBuf),
    /// `init` on an initialised home.
    #[error("a station already exists in {0}; nothing was changed")]
    AlreadyInitialised(PathBuf),
    /// Bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] parley_store::StoreError),
    /// No such peer.
    #[error("unknown peer {0:?}; `parley peer list` shows the paired peers")]
    UnknownPeer(String),
    /// A message was refused.
    #[error("message not sent, nothing was stored: {0}")]
    Send(#[from] parley_proto::SendError),
    /// A card was refused.
    #[error("card refused, nothing was pinned: {0}")]
    Card(String),
    /// The fingerprint given does not match the card.
    #[error(
        "fingerprint mismatch: the card's fingerprint is {card}, you gave {given}; nothing was pinned. Check the card and the fingerprint with the peer out of band"
    )]
    FingerprintMismatch {
        /// The card's fingerprint.
        card: String,
        /// The operator's.
        given: String,
    },
    /// A courier bundle was refused.
    #[error("bundle refused: {0}")]
    Bundle(String),
    /// A bad operator argument.
    #[error("{0}")]
    Invalid(String),
    /// The daemon could not be reached or answered with an error.
    #[error("daemon: {0}")]
    Daemon(String),
    /// The daemon stopped while a request was in flight.
    #[error("the daemon stopped before answering; check `parley status`")]
    DaemonGone,
}

impl StationError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str, source: std::io::Error) -> Self {
        StationError::Io { what, source }
    }
}
