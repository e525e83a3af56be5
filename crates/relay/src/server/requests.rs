//! The endpoints: each authenticates its request from the headers ([`Relay::admit`]), reads
//! and checks its body ([`Relay::read_body`]), does its work, and answers through
//! [`Relay::answer`], which logs and shapes refusals.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Uri};
use parley_proto::StationId;
use parley_relay_wire::limits::{DELETE_BODY_SIZE_MAX_BYTES, FETCH_FRAMES_SIZE_MAX_BYTES};
use parley_relay_wire::route;
use parley_relay_wire::wire::{self, FetchAnswer, Fetched};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tracing::{debug, warn};

use super::connections::ConnectionHandle;
use super::metrics::DepositRefused;
use super::refusal::Refusal;
use super::slots::{FetchSlot, NoSlot};
use super::warnings::Warning;
use super::{Relay, blocking, cbor_response, now_ms};
use crate::limits::{
    BUSY_RETRY_AFTER_MS, DEPOSIT_SLOT_WAIT_MS_MAX, DEPOSITS_IN_FLIGHT_PER_STATION_MAX,
    FETCHES_IN_FLIGHT_PER_STATION_MAX, INLINE_BODY_SIZE_MAX_BYTES, INLINE_FRAME_CHECKS_MAX,
};
use crate::store::{DepositReport, FetchBounds, StoredItem};

type Recipient = Result<Path<String>, PathRejection>;

pub(super) async fn health() -> Response {
    ([(CONTENT_TYPE, "text/plain")], "ok").into_response()
}

pub(super) async fn ping(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let request = relay.admit(&connection, &method, &uri, &headers, 0).await?;
        relay.read_body(&request, body, 0).await?;
        let nonce = request.nonce;
        relay
            .writer
            .write(move |store| store.record_request(&nonce))
            .await?;
        Ok(cbor_response(StatusCode::OK, wire::encode_count(now_ms())))
    };
    relay.answer(&connection, result.await)
}

pub(super) async fn deposit(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    recipient: Recipient,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = deposit_request(
        &relay,
        &connection,
        recipient,
        &method,
        &uri,
        &headers,
        body,
    );
    relay.answer(&connection, result.await)
}

/// A deposit, counted in the metrics: stored, or refused and why.
async fn deposit_request(
    relay: &Relay,
    connection: &ConnectionHandle,
    recipient: Recipient,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let counted = |refusal: Refusal| {
        relay
            .metrics
            .deposit_refused(DepositRefused::of_refusal(&refusal));
        refusal
    };
    let limit = relay.limits.deposit_body_size_max_bytes();
    let request = relay
        .admit(connection, method, uri, headers, limit)
        .await
        .map_err(counted)?;
    let requester = request.station();
    let recipient = parse_recipient(recipient).map_err(|refusal| counted(refusal.by(requester)))?;
    // Bounds the memory deposits take; only authenticated requests get this far.
    let _slot = relay
        .slots
        .acquire(requester, relay.clock_ms())
        .await
        .map_err(|why| counted(no_slot(why)))?;
    let body = relay
        .read_body(&request, body, limit)
        .await
        .map_err(counted)?;
    let frames_max = relay.limits.deposit_frames_max;
    let decode = move |body: &[u8]| {
        wire::decode_deposit(body, frames_max)
            .map_err(Refusal::from)
            .and_then(|frames| checked_frames(frames, &requester, &recipient))
    };
    // A deposit small in bytes and in frames is decoded and checked here: less work than the
    // thread switches of a trip to the blocking pool and back. A larger one there.
    let checked = if body.len() > INLINE_BODY_SIZE_MAX_BYTES {
        blocking(move || decode(&body)).await?
    } else {
        match wire::decode_deposit(&body, frames_max) {
            Ok(frames) if frames.len() > INLINE_FRAME_CHECKS_MAX => {
                blocking(move || checked_frames(frames, &requester, &recipient)).await?
            }
            Ok(frames) => checked_frames(frames, &requester, &recipient),
            Err(error) => Err(error.into()),
        }
    };
    let frames = checked
        .map_err(|refusal| match refusal.status {
            // A correct client never sends a malformed body or frames that fail the check.
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => refusal.by(requester),
            _ => refusal,
        })
        .map_err(counted)?;
    let (count, bytes) = (frames.len(), frames.iter().map(Vec::len).sum::<usize>());
    let (quota, retention_ms) = (relay.quota(), relay.limits.retention_ms);
    let nonce = request.nonce;
    let report = relay
        .writer
        .write(move |store| {
            store.deposit(&nonce, &recipient, &frames, quota, now_ms(), retention_ms)
        })
        .await
        .map_err(counted)?;
    match &report.outcome {
        Ok(outcome) => relay
            .metrics
            .deposit_stored(outcome.stored, outcome.duplicates),
        Err(refusal) => relay
            .metrics
            .deposit_refused(DepositRefused::of_store(refusal)),
    }
    if report
        .outcome
        .as_ref()
        .is_ok_and(|outcome| outcome.stored > 0)
    {
        relay.mailbox(&recipient).notify_waiters();
    }
    // Per deposit, at debug: a station's traffic must not be able to flood the log.
    debug!(
        from = %requester.key_fingerprint(),
        to = %recipient.key_fingerprint(),
        frames = count,
        bytes,
        outcome = ?report.outcome,
        disclosed = report.disclosed,
        "deposit"
    );
    answer_deposit(relay, &requester, &recipient, report)
}

/// What a depositor is told: everything once the recipient has addressed it, otherwise a 202
/// that says nothing of what happened (stored, or refused for the recipient); a refusal for
/// what the depositor or the relay holds, which says nothing of the recipient, is told always.
fn answer_deposit(
    relay: &Relay,
    requester: &StationId,
    recipient: &StationId,
    report: DepositReport,
) -> Result<Response, Refusal> {
    match (report.disclosed, report.outcome) {
        (true, Ok(outcome)) => Ok(cbor_response(
            StatusCode::OK,
            wire::encode_deposit_answer(outcome.stored, outcome.duplicates),
        )),
        (true, Err(refusal)) => Err(refusal.into()),
        (false, Err(refusal)) if refusal.is_told_whatever_the_recipient() => Err(refusal.into()),
        (false, outcome) => {
            if let Err(refusal) = outcome {
                relay.warn(Warning::DepositWithheld, |suppressed| {
                    warn!(
                        from = %requester.key_fingerprint(),
                        to = %recipient.key_fingerprint(),
                        reason = %refusal,
                        suppressed,
                        "deposit refused, answered 202: the recipient has not addressed the \
                         depositor"
                    );
                });
            }
            Ok(cbor_response(
                StatusCode::ACCEPTED,
                wire::encode_deposit_answer(0, 0),
            ))
        }
    }
}

fn no_slot(why: NoSlot) -> Refusal {
    match why {
        NoSlot::StationBusy => Refusal::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "this station already has {DEPOSITS_IN_FLIGHT_PER_STATION_MAX} deposits in \
                 flight, the most at once; nothing was stored"
            ),
            BUSY_RETRY_AFTER_MS,
        ),
        NoSlot::RelayBusy => Refusal::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "the relay is busy: no deposit slot came free within \
                 {DEPOSIT_SLOT_WAIT_MS_MAX} ms; nothing was stored"
            ),
            BUSY_RETRY_AFTER_MS,
        ),
    }
}

pub(super) async fn fetch(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let request = relay.admit(&connection, &method, &uri, &headers, 0).await?;
        relay.read_body(&request, body, 0).await?;
        let slot = relay.fetch_slots.take(request.station()).ok_or_else(|| {
            Refusal::retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "this station already has {FETCHES_IN_FLIGHT_PER_STATION_MAX} fetches in \
                     flight, the most at once; nothing was fetched or acknowledged"
                ),
                BUSY_RETRY_AFTER_MS,
            )
        })?;
        let query = wire::parse_fetch_query(uri.query())?;
        let wait = Duration::from_millis(query.wait_ms.min(relay.limits.fetch_wait_ms_max));
        let deadline = tokio::time::Instant::now() + wait;
        let station = request.station();
        let notify = relay.mailbox(&station);
        // Registered before the first read, so a deposit committed after it still wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (retention_ms, nonce, bounds) = (
            relay.limits.retention_ms,
            request.nonce,
            fetch_bounds(&relay, query.bytes_max),
        );
        let start = relay
            .writer
            .write(move |store| {
                store.begin_fetch(&nonce, query.ack, now_ms(), retention_ms, bounds)
            })
            .await?;
        if start.acknowledged > 0 {
            debug!(station = %station.key_fingerprint(), deleted = start.acknowledged, "items acknowledged");
        }
        let answer = if start.items.is_empty() && !wait.is_zero() && !*relay.shutdown.borrow() {
            long_poll(&relay, station, deadline, &notify, notified, bounds).await?
        } else {
            fetch_answer(start.items, start.more)
        };
        debug!(
            station = %station.key_fingerprint(),
            items = answer.items.len(),
            more = answer.more,
            "fetch answered"
        );
        Ok(answer_holding(wire::encode_fetch_answer(&answer), slot))
    };
    relay.answer(&connection, result.await)
}

/// Bytes of an answer's body handed over at a time: the server takes the next only as it
/// sends, so a slot held by the body stays held while most of the answer waits to be sent.
const ANSWER_CHUNK_BYTES: usize = 64 * 1024;

/// A fetch's answer (200, CBOR), whose body holds `slot` until all of it is handed over to be
/// sent or the body is dropped (the client gone): an answer waiting for a slow reader still
/// counts against its station.
fn answer_holding(body: Vec<u8>, slot: FetchSlot) -> Response {
    let body = Bytes::from(body);
    let chunks: Vec<Bytes> = (0..body.len())
        .step_by(ANSWER_CHUNK_BYTES)
        .map(|at| body.slice(at..body.len().min(at + ANSWER_CHUNK_BYTES)))
        .collect();
    let stream = futures_util::stream::unfold(
        (chunks.into_iter(), slot),
        |(mut chunks, slot)| async move {
            let chunk = chunks.next()?;
            Some((Ok::<_, std::convert::Infallible>(chunk), (chunks, slot)))
        },
    );
    let length = body.len();
    let mut response = cbor_response(StatusCode::OK, Vec::new());
    *response.body_mut() = Body::from_stream(stream);
    // Sent with its length, as every other answer is, not in chunks.
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, length.into());
    response
}

pub(super) async fn delete(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let limit = DELETE_BODY_SIZE_MAX_BYTES;
        let request = relay
            .admit(&connection, &method, &uri, &headers, limit)
            .await?;
        let body = relay.read_body(&request, body, limit).await?;
        let station = request.station();
        let wanted = wire::decode_delete(&body).map_err(|error| {
            let refusal = Refusal::from(error);
            match refusal.status {
                StatusCode::BAD_REQUEST => refusal.by(station),
                _ => refusal,
            }
        })?;
        let nonce = request.nonce;
        let deleted = relay
            .writer
            .write(move |store| store.delete(&nonce, wanted.upto, &wanted.ids))
            .await?;
        debug!(station = %station.key_fingerprint(), deleted, "items deleted");
        Ok(cbor_response(StatusCode::OK, wire::encode_count(deleted)))
    };
    relay.answer(&connection, result.await)
}

pub(super) async fn not_found(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
) -> Response {
    let refusal = Refusal::no_such_endpoint(
        StatusCode::NOT_FOUND,
        "no such endpoint; see docs/relay-api.md",
    );
    relay.answer(&connection, Err(refusal))
}

pub(super) async fn method_not_allowed(
    State(relay): State<Arc<Relay>>,
    Extension(connection): Extension<ConnectionHandle>,
) -> Response {
    let refusal = Refusal::no_such_endpoint(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint; see docs/relay-api.md",
    );
    relay.answer(&connection, Err(refusal))
}

/// Waits until `notified` (registered before the fetch's first read found nothing), `deadline`
/// passes or the server stops; then answers with what `station`'s mailbox holds, or waits
/// again if it holds nothing and time is left.
async fn long_poll<'a>(
    relay: &Relay,
    station: StationId,
    deadline: tokio::time::Instant,
    notify: &'a Notify,
    mut notified: Pin<&mut Notified<'a>>,
    bounds: FetchBounds,
) -> Result<FetchAnswer, Refusal> {
    let mut shutdown = relay.shutdown.clone();
    let retention_ms = relay.limits.retention_ms;
    loop {
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => return Ok(FetchAnswer::default()),
        }
        // Registered before reading, so a deposit committed after the read still wakes us.
        notified.set(notify.notified());
        notified.as_mut().enable();
        let (items, more) = relay
            .read(move |store| store.fetch(&station, now_ms(), retention_ms, bounds))
            .await?;
        let done =
            !items.is_empty() || tokio::time::Instant::now() >= deadline || *shutdown.borrow();
        if done {
            return Ok(fetch_answer(items, more));
        }
    }
}

/// How much a fetch answers: at most the relay's bounds, and the frame bytes the station
/// asked for (`bytes_max`; 0: not asked), its first frame whatever its size.
fn fetch_bounds(relay: &Relay, asked_bytes_max: u64) -> FetchBounds {
    let bytes_max = match usize::try_from(asked_bytes_max) {
        Ok(0) | Err(_) => FETCH_FRAMES_SIZE_MAX_BYTES,
        Ok(asked) => asked.min(FETCH_FRAMES_SIZE_MAX_BYTES),
    };
    FetchBounds {
        items_max: relay.limits.fetch_items_max,
        bytes_max,
    }
}

fn fetch_answer(items: Vec<StoredItem>, more: bool) -> FetchAnswer {
    let items = items
        .into_iter()
        .map(|item| Fetched {
            id: item.id,
            frame: item.frame,
        })
        .collect();
    FetchAnswer { items, more }
}

/// Checks every frame of a deposit, and gives them back; the first failure refuses the
/// whole deposit.
fn checked_frames(
    frames: Vec<Vec<u8>>,
    requester: &StationId,
    recipient: &StationId,
) -> Result<Vec<Vec<u8>>, Refusal> {
    for (index, frame) in frames.iter().enumerate() {
        route::check_frame(frame, requester, recipient).map_err(|why| {
            Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("frame {index} refused: {why}; nothing was stored"),
            )
        })?;
    }
    Ok(frames)
}

fn parse_recipient(path: Recipient) -> Result<StationId, Refusal> {
    let malformed = || {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "the recipient in the path is not a station id (64 lowercase hex digits)",
        )
    };
    let Path(text) = path.map_err(|_| malformed())?;
    let valid = text.len() == 64 && text.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !valid {
        return Err(malformed());
    }
    let mut id = [0u8; 32];
    hex::decode_to_slice(&text, &mut id).map_err(|_| malformed())?;
    Ok(StationId(id))
}
