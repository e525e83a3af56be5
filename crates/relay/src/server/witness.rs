//! The witness's endpoints (`c2sp.org/tlog-witness`), routed only when the relay serves as a
//! witness: `POST /witness/add-checkpoint` and `GET /witness/<origin hash>/checkpoint`.
//!
//! Neither carries the relay's request signature: a submission is authenticated by its
//! checkpoint's signature alone (by the log's author, a station admitted here), and the
//! checkpoints served are public. So their connections stay unauthenticated, within the bound
//! every unauthenticated connection shares, and a refusal closes the connection. A submission's
//! body is refused before it is read if it declares more than
//! [`ADD_CHECKPOINT_SIZE_MAX_BYTES`], and read within the time its length allows. Reading it,
//! the author's admission, the signature check and a first decision on what the store holds
//! run on the blocking pool with the reading connection ([`crate::witness`] lists the checks in
//! order): that settles the checkpoint held submitted again (cosigned, nothing written), every
//! refusal, and every conflict not to keep (kept before, or past its author's bound), so a
//! replay of the checkpoint held, of a stale one or of a conflict never reaches the writer.
//! Only a checkpoint to store, or a conflict to keep, goes to the writer's group (within a
//! budget per author at the request rate, apart from its signed requests'; 429 beyond it),
//! where the decision is taken again and the witness signs once it says to store. The cosignature is answered only once its
//! checkpoint is durable.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use parley_proto::Identity;
use parley_proto::tlog::{Hash, note};
use parley_relay_wire::witness::{self as wire, ADD_CHECKPOINT_SIZE_MAX_BYTES, TEXT_CONTENT_TYPE};
use tracing::debug;

use super::admission::{declared_length, over_limit, read_bounded};
use super::connections::ConnectionHandle;
use super::metrics::WitnessRefused;
use super::refusal::Refusal;
use super::{Relay, blocking, now_ms};
use crate::store::{Evidence, Store, WitnessOutcome};
use crate::witness::{self, ConflictReason, Submission, WitnessRefusal};

/// The witness's key and the name it cosigns under.
pub(super) struct WitnessKey {
    identity: Identity,
    /// `parley.witness/<relay key hex>`.
    pub(super) name: String,
}

impl WitnessKey {
    /// The relay's `identity` as a witness.
    pub(super) fn of(identity: Identity) -> Self {
        let name = wire::name(&identity.id());
        Self { identity, name }
    }

    /// The witness's cosignature line on the checkpoint `text`, timestamped now. The
    /// specification forbids a zero timestamp; a clock before 1970 gets 1 s.
    fn cosign(&self, text: &str) -> Result<String, WitnessRefusal> {
        let time_s = (now_ms() / 1000).max(1);
        note::cosignature_line(text, &self.name, self.identity.signing_key(), time_s)
            .map_err(|error| WitnessRefusal::CannotCosign(error.to_string()))
    }
}

pub(super) async fn add_checkpoint(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = add_checkpoint_request(&relay, &headers, body).await;
    if let Err(refusal) = &result {
        relay
            .metrics
            .witness_refused(WitnessRefused::of_refusal(refusal));
    }
    relay.answer(&connection, result)
}

async fn add_checkpoint_request(
    relay: &Relay,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let key = relay.witness.clone().ok_or_else(not_a_witness)?;
    let limit = ADD_CHECKPOINT_SIZE_MAX_BYTES;
    let declared = declared_length(headers);
    if declared.is_some_and(|declared| declared > limit as u64) {
        return Err(over_limit(limit));
    }
    let body = read_bounded(body, limit, declared.unwrap_or(limit as u64)).await?;
    let (reader, signer) = (relay.reader.clone(), key.clone());
    let (submission, decided) = blocking(move || check(&body, &reader, &signer)).await??;
    let (origin, size) = (submission.origin().to_owned(), submission.size());
    let outcome = match decided {
        Some(outcome) => outcome,
        None => {
            // A checkpoint to store or a conflict to keep (a fsync'd write and a signature):
            // within the witness's rate for its author, so that no one can keep the writer
            // busy. Not the author's request rate: anyone can send a submission (it is not
            // signed by its sender), and would lock the author out of its mailbox. What is
            // settled without the writer (the checkpoint held sent again, a conflict kept
            // before or past its author's bound) costs nothing.
            relay.within_witness_rate(&submission.author())?;
            relay
                .writer
                .write(move |store| store.witness(&submission, now_ms(), |text| key.cosign(text)))
                .await?
        }
    };
    answer(relay, &origin, size, outcome)
}

/// Reads and verifies a submission, the author's admission read from `reader`, and decides it
/// on what `reader` sees ([`Store::witness_read_only`]): everything that can be done without
/// the writer, and, when that settles it, its outcome.
fn check(
    body: &[u8],
    reader: &Mutex<Store>,
    key: &WitnessKey,
) -> Result<(Submission, Option<WitnessOutcome>), Refusal> {
    let read = || reader.lock().unwrap_or_else(PoisonError::into_inner);
    let unverified = witness::read(body)?;
    let status = read().station_status(&unverified.author())?;
    let submission = unverified.verify(status)?;
    let decided = read().witness_read_only(&submission, |text| key.cosign(text))?;
    Ok((submission, decided))
}

/// The answer to a submission of a checkpoint of log `origin` at `size` that had `outcome`.
fn answer(
    relay: &Relay,
    origin: &str,
    size: u64,
    outcome: WitnessOutcome,
) -> Result<Response, Refusal> {
    match outcome {
        WitnessOutcome::Cosigned {
            cosignature,
            stored,
        } => {
            if stored {
                // The metric counts the checkpoints stored; the one held again is not one.
                relay.metrics.witness_cosigned();
            }
            debug!(%origin, size, stored, "checkpoint cosigned");
            Ok(([(CONTENT_TYPE, TEXT_CONTENT_TYPE)], cosignature).into_response())
        }
        WitnessOutcome::Refused(WitnessRefusal::StaleOldSize { held, .. }) => {
            // The protocol's answer to a client that is behind, not a fault: not logged, and
            // the connection stays open for the retry.
            relay.metrics.witness_refused(WitnessRefused::StaleOldSize);
            Ok(super::refusal::tlog_size_answer(held))
        }
        WitnessOutcome::Refused(WitnessRefusal::Conflict { held, .. }) => {
            // Another root at the size held where nothing is held (a checkpoint of size 0
            // whose root is not the empty tree's): the specification's 409 with that size. No
            // checkpoint of the author's is held to keep beside it as evidence.
            relay.metrics.witness_refused(WitnessRefused::Conflict);
            Ok(super::refusal::tlog_size_answer(held))
        }
        WitnessOutcome::Refused(refusal) => Err(refusal.into()),
        WitnessOutcome::Conflict { refusal, evidence } => {
            let WitnessRefusal::Conflict { reason, held, size } = &refusal else {
                return Err(Refusal::internal(format!(
                    "the store reported a conflict without one: {refusal}"
                )));
            };
            relay.metrics.witness_conflict(*reason);
            let what = match reason {
                ConflictReason::SameSizeDifferentRoot => format!(
                    "evidence of a fork of log {origin}: its author signed a checkpoint of size \
                     {size} with another root than the one this witness cosigned"
                ),
                ConflictReason::InconsistentProof => format!(
                    "a checkpoint of log {origin} whose consistency proof from the held one does \
                     not verify (a fork, or a bad proof): size {size}, held size {held}"
                ),
            };
            let evidence = match evidence {
                Evidence::Kept => "both checkpoints are kept",
                Evidence::KeptBefore => {
                    "kept already: the same checkpoint came against the same held one before"
                }
                Evidence::OverBound => {
                    "not kept: its author's logs have the most conflicts of this reason kept already"
                }
            };
            let detail = format!("{what}; {evidence}; see `parley relay witness`");
            Err(Refusal::witness_conflict(&refusal, *reason, detail))
        }
    }
}

pub(super) async fn checkpoint(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    origin_hash: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let hash = parse_origin_hash(origin_hash).ok_or_else(no_checkpoint)?;
        let log = relay.read(move |store| store.witnessed_log(&hash)).await?;
        let log = log.ok_or_else(no_checkpoint)?;
        Ok(([(CONTENT_TYPE, TEXT_CONTENT_TYPE)], log.note).into_response())
    };
    relay.answer(&connection, result.await)
}

/// The SHA-256 of an origin, as the monitoring path names it: 64 lowercase hex digits.
fn parse_origin_hash(path: Result<Path<String>, PathRejection>) -> Option<Hash> {
    let Path(text) = path.ok()?;
    let lowercase = text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let mut hash = [0u8; 32];
    (lowercase && text.len() == 64 && hex::decode_to_slice(&text, &mut hash).is_ok())
        .then_some(hash)
}

fn no_checkpoint() -> Refusal {
    Refusal::witness(
        StatusCode::NOT_FOUND,
        "this witness has cosigned no checkpoint of a log whose origin has that SHA-256 (64 \
         lowercase hex digits)",
    )
}

fn not_a_witness() -> Refusal {
    Refusal::no_such_endpoint(
        StatusCode::NOT_FOUND,
        "no such endpoint; see docs/relay-api.md",
    )
}
