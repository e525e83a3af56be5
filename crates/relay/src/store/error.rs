//! Why a store operation failed, and why a deposit stored nothing.

/// Why a store operation failed. The variants before [`StoreError::Sqlite`] are refusals:
/// the request was understood and declined, and no mailbox changed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request's nonce was already used: a replay.
    #[error("nonce already used: this request was replayed; nothing was done")]
    Replayed,
    /// The request reached the store after the nonces of its time were purged: a replay of
    /// it could no longer be told from it.
    #[error(
        "request timestamp is older than the nonces this relay keeps: it arrived too late to be told from a replay; nothing was done; send it again"
    )]
    TooLate,
    /// The requesting station is not admitted.
    #[error("station {0} is not admitted at this relay")]
    NotAdmitted(String),
    /// The requesting station was revoked.
    #[error("station {0} has been revoked at this relay")]
    Revoked(String),
    /// Admitting a station that is already admitted.
    #[error("station {fingerprint} is already admitted as {name}; nothing was changed")]
    AlreadyAdmitted {
        /// Its fingerprint.
        fingerprint: String,
        /// The name it is admitted under.
        name: String,
    },
    /// Another station admitted has this name (a revoked one's name can be taken).
    #[error(
        "another station is already admitted as {0}; nothing was changed; ask the station to \
         pick another name in its card, or revoke the other one"
    )]
    NameTaken(String),
    /// No station by that name.
    #[error("no station named {0} is admitted here; see `parley relay list`")]
    NoSuchStation(String),
    /// The station was revoked already.
    #[error("station {0} is already revoked")]
    AlreadyRevoked(String),
    /// SQLite failed; the transaction was rolled back.
    #[error("relay store error: {0}; nothing was changed")]
    Sqlite(#[from] rusqlite::Error),
    /// The group transaction this request was to run in was rolled back by an earlier
    /// failure in it (see the relay's log); nothing of the request happened.
    #[error("the relay store rolled back the group of requests this one belonged to")]
    GroupAborted,
    /// The store holds something this build cannot read.
    #[error("relay store is corrupt or from a newer build: {0}")]
    Corrupt(String),
    /// The free space of the store's file system could not be read.
    #[error(
        "cannot read the free space of the relay store's file system: {0}; nothing was changed"
    )]
    FreeSpace(String),
}

impl StoreError {
    /// Whether the error is a refusal (the request was declined) rather than a failure.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            StoreError::Sqlite(_)
                | StoreError::Corrupt(_)
                | StoreError::GroupAborted
                | StoreError::FreeSpace(_)
        )
    }
}

/// Why a deposit stored nothing. Each text says only what the depositor may know: its own
/// deposit, its own share and the relay's settings, never what the recipient's mailbox holds.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DepositRefusal {
    /// The recipient is not admitted, or was revoked.
    #[error(
        "recipient {0} is not admitted at this relay, or was revoked; nothing was stored; \
         reach it another way"
    )]
    RecipientNotAdmitted(String),
    /// The sender's frames would take more than its share of the recipient's mailbox.
    #[error(
        "this deposit ({new_items} frames, {new_bytes} bytes) would take your frames in the \
         recipient's mailbox over your share of it ({items_max} frames, {bytes_max} bytes); \
         nothing was stored; the recipient has not fetched your earlier frames yet: retry later"
    )]
    ShareFull {
        /// New (non-duplicate) frames in the deposit.
        new_items: u64,
        /// Bytes of the new frames.
        new_bytes: u64,
        /// Most frames of one sender in one mailbox.
        items_max: u64,
        /// Most frame bytes of one sender in one mailbox.
        bytes_max: u64,
    },
    /// The recipient's mailbox has no room, though the sender is within its share.
    #[error(
        "the recipient's mailbox is full; nothing was stored; it has not fetched its frames \
         yet: retry later"
    )]
    MailboxFull,
    /// The sender's frames in every mailbox together would take more than one station may
    /// have held at this relay.
    #[error(
        "this deposit ({new_bytes} bytes) would take your frames held at this relay, in every \
         mailbox together, over the most one station may have held ({bytes_max} bytes); \
         nothing was stored; your recipients have not fetched your earlier frames yet: retry \
         later"
    )]
    SenderFull {
        /// Bytes of the new frames.
        new_bytes: u64,
        /// Most frame bytes of one sender across every mailbox.
        bytes_max: u64,
    },
    /// Every station's frames together would take more than the relay holds.
    #[error(
        "the relay holds as many frame bytes as it may ({bytes_max}); nothing was stored: \
         retry later"
    )]
    RelayFull {
        /// Most frame bytes the relay holds.
        bytes_max: u64,
    },
    /// The relay's disk would be left with less free space than it keeps for fetches and
    /// deletes, which free space.
    #[error(
        "the relay's disk is nearly full (it keeps {free_min} bytes free so that frames can \
         still be fetched and deleted); nothing was stored: retry later"
    )]
    DiskFull {
        /// Bytes the relay keeps free on its store's file system.
        free_min: u64,
    },
}

impl DepositRefusal {
    /// Whether the refusal is about the depositor or the relay, not the recipient: told to the
    /// depositor even when the recipient has not addressed it, since it says nothing of the
    /// recipient (docs/relay-api.md §4).
    pub fn is_told_whatever_the_recipient(&self) -> bool {
        matches!(
            self,
            Self::SenderFull { .. } | Self::RelayFull { .. } | Self::DiskFull { .. }
        )
    }
}
