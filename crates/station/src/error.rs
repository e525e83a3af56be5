//! Station errors: what went wrong, what was not changed, what to try; and the class of each,
//! which the operator API reports and the CLI turns into its exit code.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Who or what an error is down to. The CLI exits with a distinct code per class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The operator asked for something that cannot be done: bad input, an unknown peer, a
    /// limit. Fix the request and try again.
    Operator,
    /// Something from another party failed verification: a card, a bundle, a transcript, a
    /// fingerprint that does not match.
    Peer,
    /// A local failure: the disk, the store, the configuration, a file.
    Local,
    /// The daemon is stopping or stopped before answering.
    Stopping,
    /// The daemon could not be reached.
    Unreachable,
}

impl ErrorClass {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Operator => "operator",
            ErrorClass::Peer => "peer",
            ErrorClass::Local => "local",
            ErrorClass::Stopping => "stopping",
            ErrorClass::Unreachable => "unreachable",
        }
    }
}

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
    /// A card does not verify.
    #[error("card refused, nothing was pinned: {0}")]
    Card(String),
    /// A card that verifies cannot be pinned (this station's own, already paired, name taken).
    #[error("card refused, nothing was pinned: {0}")]
    Pairing(String),
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
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(#[from] crate::api::ApiError),
}

impl StationError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: &'static str, source: std::io::Error) -> Self {
        StationError::Io { what, source }
    }

    /// Who or what the error is down to.
    pub fn class(&self) -> ErrorClass {
        match self {
            // Down to this station's store, not to what the operator asked.
            StationError::Send(error) if error.closes_link() => ErrorClass::Local,
            StationError::NotInitialised(_)
            | StationError::AlreadyInitialised(_)
            | StationError::UnknownPeer(_)
            | StationError::Send(_)
            | StationError::Pairing(_)
            | StationError::Invalid(_) => ErrorClass::Operator,
            StationError::Card(_)
            | StationError::FingerprintMismatch { .. }
            | StationError::Bundle(_) => ErrorClass::Peer,
            StationError::Config(_) | StationError::Io { .. } | StationError::Store(_) => {
                ErrorClass::Local
            }
            StationError::Api(error) => error.class,
        }
    }
}
