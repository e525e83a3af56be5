//! Refusals: an HTTP error status and a specific reason, sent as `{"error": reason}`. Each
//! carries what the relay does about it besides answering: the kind of warning it is logged
//! as (rate-limited), details for the log only, and the station to confine to the suspects'
//! deposit slots if the refusal shows it misbehaving.

use std::fmt;

use axum::response::{IntoResponse, Response};
use http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use parley_proto::StationId;
use parley_relay_wire::JSON_CONTENT_TYPE;
use parley_relay_wire::auth::AuthError;
use parley_relay_wire::wire::{self, BodyError, RefusalBody};
use parley_relay_wire::witness::{self, TLOG_SIZE_CONTENT_TYPE};

use super::warnings::Warning;
use crate::store::{DepositRefusal, StoreError};
use crate::witness::{ConflictReason, WitnessRefusal};

/// A refusal, and what the relay does about it besides answering.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    /// Sent to the client.
    pub(crate) reason: String,
    pub(crate) retry_after_ms: Option<u64>,
    /// Logged, never sent (internal failures).
    pub(crate) detail: Option<String>,
    /// An authenticated station whose request shows it misbehaving (a correct client never
    /// sends it): confined to the suspects' deposit slots for a while.
    pub(crate) misbehaving: Option<StationId>,
    /// The kind of warning it is logged as, when its status alone does not say.
    logged_as: Option<Warning>,
    /// A witness's `409` names the size it holds as its whole body (`text/x.tlog.size`, as
    /// `c2sp.org/tlog-witness` specifies), not a JSON refusal.
    tlog_size: Option<u64>,
    /// The request failed authentication: its connection is closed, even one that carried
    /// an authenticated request before.
    pub(crate) close: bool,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, reason: impl fmt::Display) -> Self {
        Self {
            status,
            reason: reason.to_string(),
            retry_after_ms: None,
            detail: None,
            misbehaving: None,
            logged_as: None,
            tlog_size: None,
            close: false,
        }
    }

    /// The same refusal, closing its connection if it is one of authentication (401, 403),
    /// not a failure of the relay's.
    pub(crate) fn closing(self) -> Self {
        let refused = matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        Self {
            close: refused,
            ..self
        }
    }

    /// A request for no endpoint (404) or with the wrong method (405).
    pub(crate) fn no_such_endpoint(status: StatusCode, reason: &str) -> Self {
        Self {
            logged_as: Some(Warning::NoSuchEndpoint),
            ..Self::new(status, reason)
        }
    }

    /// The relay failed; `detail` goes to the log only.
    pub(crate) fn internal(detail: impl fmt::Display) -> Self {
        Self {
            detail: Some(detail.to_string()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the relay failed internally; nothing was changed; retry later",
            )
        }
    }

    /// A refusal the client should retry after `retry_after_ms` (429, 503).
    pub(crate) fn retry_later(status: StatusCode, reason: &str, retry_after_ms: u64) -> Self {
        let retry_after_ms = retry_after_ms.max(1);
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(status, format!("{reason}; retry in {retry_after_ms} ms"))
        }
    }

    /// A refusal of a witness request, logged as such.
    pub(crate) fn witness(status: StatusCode, reason: impl fmt::Display) -> Self {
        Self {
            logged_as: Some(Warning::WitnessRefused),
            ..Self::new(status, reason)
        }
    }

    /// A checkpoint the witness cannot reconcile with the one it holds, for `reason`: refused
    /// with `refusal`, and `detail` logged, as an error if it is evidence of a fork by itself,
    /// as a warning if it may be a bad proof. Each has its own budget of lines, so a flood of
    /// bad proofs cannot hide a fork from the log.
    pub(crate) fn witness_conflict(
        refusal: &WitnessRefusal,
        reason: ConflictReason,
        detail: String,
    ) -> Self {
        let logged_as = match reason {
            ConflictReason::SameSizeDifferentRoot => Warning::WitnessFork,
            ConflictReason::InconsistentProof => Warning::WitnessBadProof,
        };
        // Another root at the size held is answered as the specification says (409 with the
        // size held); a proof that does not verify, 422.
        let tlog_size = match refusal {
            WitnessRefusal::Conflict { held, .. } if refusal.status() == StatusCode::CONFLICT => {
                Some(*held)
            }
            _ => None,
        };
        Self {
            detail: Some(detail),
            logged_as: Some(logged_as),
            tlog_size,
            ..Self::new(refusal.status(), refusal)
        }
    }

    /// Marks the refusal as showing `station` misbehaving.
    pub(crate) fn by(mut self, station: StationId) -> Self {
        self.misbehaving = Some(station);
        self
    }

    /// The kind of warning this refusal is logged as.
    pub(crate) fn warning(&self) -> Warning {
        if let Some(kind) = self.logged_as {
            return kind;
        }
        match self.status {
            StatusCode::UNAUTHORIZED => Warning::Unauthenticated,
            StatusCode::FORBIDDEN => Warning::Forbidden,
            StatusCode::NOT_FOUND | StatusCode::INSUFFICIENT_STORAGE => Warning::RecipientRefused,
            StatusCode::UNPROCESSABLE_ENTITY => Warning::FramesRefused,
            StatusCode::TOO_MANY_REQUESTS => Warning::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => Warning::Busy,
            StatusCode::INTERNAL_SERVER_ERROR => Warning::Internal,
            _ => Warning::Malformed,
        }
    }

    /// The answer; `close` asks the client to close the connection after it.
    pub(crate) fn into_answer(self, close: bool) -> Response {
        let mut response = match self.tlog_size {
            Some(size) => tlog_size_answer(size),
            None => {
                let body = wire::encode_refusal(&RefusalBody {
                    error: self.reason,
                    retry_after_ms: self.retry_after_ms,
                });
                (self.status, [(CONTENT_TYPE, JSON_CONTENT_TYPE)], body).into_response()
            }
        };
        let headers = response.headers_mut();
        if let Some(retry_after_ms) = self.retry_after_ms {
            let seconds = retry_after_ms.div_ceil(1000).max(1);
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        if close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A witness's `409`: the size it holds, as the whole body (`c2sp.org/tlog-witness`).
pub(crate) fn tlog_size_answer(size: u64) -> Response {
    (
        StatusCode::CONFLICT,
        [(CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE)],
        witness::encode_size(size),
    )
        .into_response()
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, error)
    }
}

impl From<BodyError> for Refusal {
    fn from(error: BodyError) -> Self {
        let status = match error {
            BodyError::TooManyFrames { .. }
            | BodyError::FrameTooLarge { .. }
            | BodyError::TooManyIds { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, error)
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        let status = match error {
            StoreError::Replayed | StoreError::TooLate => StatusCode::UNAUTHORIZED,
            StoreError::NotAdmitted(_) | StoreError::Revoked(_) => StatusCode::FORBIDDEN,
            ref failure if !failure.is_refusal() => {
                return Self::internal(format!("relay store failed: {failure}"));
            }
            _ => StatusCode::CONFLICT,
        };
        Self::new(status, error)
    }
}

impl From<WitnessRefusal> for Refusal {
    fn from(refusal: WitnessRefusal) -> Self {
        match refusal {
            WitnessRefusal::CannotCosign(_) => Self::internal(refusal),
            refusal => Self::witness(refusal.status(), refusal),
        }
    }
}

impl From<DepositRefusal> for Refusal {
    fn from(refusal: DepositRefusal) -> Self {
        let (status, logged_as) = match refusal {
            DepositRefusal::RecipientNotAdmitted(_) => (StatusCode::NOT_FOUND, None),
            DepositRefusal::RelayFull { .. } | DepositRefusal::DiskFull { .. } => {
                (StatusCode::INSUFFICIENT_STORAGE, Some(Warning::StorageFull))
            }
            _ => (StatusCode::INSUFFICIENT_STORAGE, None),
        };
        Self {
            logged_as,
            ..Self::new(status, refusal)
        }
    }
}
