//! The client stations use to reach a relay: HTTP/1.1 over TLS 1.3 pinned to the relay's
//! identity key ([`crate::tls::pinned_client_config`]), every request signed with the
//! station's identity (`parley_relay_wire::auth`).
//!
//! Guarantees: a relay presenting any other key fails the handshake, reported as
//! [`RelayError::Transport`] before any request is sent. Every request has a deadline; answers
//! are read up to [`RESPONSE_SIZE_MAX_BYTES`] and decoded strictly. Connections are pooled and
//! reused. Neither the client's nor the errors' `Debug` output contains key material.

pub mod task;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parley_proto::{Identity, StationId};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::connect::Connector;

use parley_relay_wire::auth::{NONCE_BYTES, RequestAuth};
use parley_relay_wire::limits::{
    BODY_CBOR_OVERHEAD_BYTES, BODY_READ_RATE_MIN_BYTES_PER_SECOND, DELETE_IDS_MAX,
    DEPOSIT_FRAMES_MAX_LIMIT, FETCH_FRAMES_SIZE_MAX_BYTES, FETCH_ITEMS_MAX_LIMIT,
    FETCH_WAIT_MS_MAX_LIMIT, HEADER_READ_TIMEOUT_MS,
};
use parley_relay_wire::wire::{self, DeleteRequest, Fetched};
use parley_relay_wire::witness::{
    AddCheckpoint, PATH_WITNESS_ADD_CHECKPOINT, TEXT_CONTENT_TYPE, WITNESS_ANSWER_SIZE_MAX_BYTES,
    WitnessAnswer, checkpoint_path,
};
use parley_relay_wire::{
    ALPN_HTTP1, CBOR_CONTENT_TYPE, PATH_MAILBOX, PATH_MAILBOX_DELETE, PATH_PING, deposit_path,
};

/// Longest a request may take beyond the long-poll wait it asked for, in milliseconds, until
/// its answer's head; its body may take longer ([`ANSWER_RATE_MIN_BYTES_PER_SECOND`]).
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Slowest an answer's body may arrive, in bytes per second: each byte read extends the
/// request's deadline by its time at this rate. A full fetch answer (some 4 MiB) needs about
/// 140 KiB/s to arrive within [`REQUEST_TIMEOUT_MS`] alone; without this a station on a slower
/// downlink fetched the same frames again and again and never got them. A relay trickling
/// bytes is still cut off ([`RelayError::Stalled`]): an answer is bounded
/// ([`RESPONSE_SIZE_MAX_BYTES`]), so it may add at most some 4.5 minutes. Below this rate the
/// station asks for smaller answers (`task::AnswerSize`).
pub const ANSWER_RATE_MIN_BYTES_PER_SECOND: u64 = 16 * 1024;
/// Longest a TCP connect plus TLS handshake may take, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Longest an idle pooled connection is kept for reuse, in milliseconds; well below
/// [`HEADER_READ_TIMEOUT_MS`], after which a relay closes idle connections, so a request is
/// never sent on a connection the relay is closing.
pub const POOL_IDLE_TIMEOUT_MS: u64 = 5_000;
const _: () = assert!(POOL_IDLE_TIMEOUT_MS * 2 <= HEADER_READ_TIMEOUT_MS);
/// Largest answer read from a relay, in bytes (the largest fetch answer plus framing).
pub const RESPONSE_SIZE_MAX_BYTES: usize =
    FETCH_FRAMES_SIZE_MAX_BYTES + FETCH_ITEMS_MAX_LIMIT * 16 + BODY_CBOR_OVERHEAD_BYTES;
/// Longest refusal reason kept from an answer, in bytes.
pub const REASON_SIZE_MAX_BYTES: usize = 1024;

/// A fresh request nonce from the operating system's random source.
fn nonce() -> [u8; NONCE_BYTES] {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// Why a relay operation failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The relay could not be reached or did not answer in time, or the TLS handshake failed
    /// (including a relay presenting another key than the pinned one): the channel is down.
    #[error("relay unreachable: {0}")]
    Transport(String),
    /// The relay answered with an error; nothing was done. The status says where the trouble
    /// is (`docs/relay-api.md` §4): 403, this station is not admitted or was revoked at the
    /// relay (the relay is unusable until its operator admits it again); 404, the recipient is
    /// not admitted or was revoked (this peer cannot be reached through this relay); 507, the
    /// recipient's mailbox, or this station's share of it, is full (the peer is not fetching:
    /// retry later), or this station holds all it may at the relay, or the relay is full; 401, the request's signature, timestamp or nonce was refused (check the
    /// clock); 400, 413, 422 and others, a request this client should not have made.
    #[error("relay refused the request (HTTP {status}): {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The relay's reason.
        reason: String,
    },
    /// The relay refused the request because this station exceeded its request rate, or has
    /// too many deposits in flight at once (HTTP 429); nothing was done.
    #[error("relay rate limit reached; retry in {retry_after_ms} ms")]
    RateLimited {
        /// How long to wait before the next request, in milliseconds.
        retry_after_ms: u64,
    },
    /// The relay had no room for the request (HTTP 503: every deposit slot stayed taken);
    /// nothing was done. Not this station's doing.
    #[error("relay busy; retry in {retry_after_ms} ms")]
    Busy {
        /// How long to wait before retrying, in milliseconds.
        retry_after_ms: u64,
    },
    /// The answer's body came slower than [`ANSWER_RATE_MIN_BYTES_PER_SECOND`] and was cut
    /// off: a slow downlink (ask for a smaller answer) or a relay trickling bytes.
    #[error("relay unreachable: the answer's body stalled: {read_bytes} bytes in {elapsed_ms} ms")]
    Stalled {
        /// Bytes of the body read before it was cut off.
        read_bytes: u64,
        /// Since the request was sent, in milliseconds.
        elapsed_ms: u64,
    },
    /// The relay's answer could not be decoded.
    #[error("relay answer is undecodable: {0}")]
    Protocol(String),
    /// The call was refused here before anything was sent (bad URL, too many frames, …).
    #[error("invalid relay request: {0}; nothing was sent")]
    Invalid(String),
}

impl RelayError {
    /// The HTTP status of the relay's answer, for the errors that are answers: a refusal,
    /// 429 for [`RelayError::RateLimited`], 503 for [`RelayError::Busy`].
    pub fn status(&self) -> Option<u16> {
        match self {
            RelayError::Refused { status, .. } => Some(*status),
            RelayError::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS.as_u16()),
            RelayError::Busy { .. } => Some(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
            _ => None,
        }
    }

    /// Whether a refusal with HTTP `status` says to try again: 408 and every 5xx but 507 (the
    /// recipient's mailbox is full, the peer not fetching; or this station holds all it may
    /// at the relay, or the relay is full: each reported, and the frames sent again later).
    pub fn refused_for_now(status: u16) -> bool {
        status == 408 || ((500..600).contains(&status) && status != 507)
    }

    /// How long the relay asked to wait before retrying, for the errors that say.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            RelayError::RateLimited { retry_after_ms } | RelayError::Busy { retry_after_ms } => {
                Some(*retry_after_ms)
            }
            _ => None,
        }
    }
}

/// How long a 429 or 503 answer asks to wait: the body's `retry_after_ms`, else the
/// `Retry-After` header (seconds), else a second.
fn retry_after_ms(body: &[u8], header_seconds: Option<u64>) -> u64 {
    let from_body = wire::decode_refusal(body)
        .ok()
        .and_then(|refusal| refusal.retry_after_ms);
    let from_header = header_seconds.map(|seconds| seconds.saturating_mul(1000));
    from_body.or(from_header).unwrap_or(1000)
}

/// A station's client of one relay. Clones share the connection pool.
#[derive(Clone)]
pub struct RelayClient {
    base: Arc<str>,
    relay: StationId,
    me: Identity,
    http: Client<Connector, Full<Bytes>>,
    /// [`REQUEST_TIMEOUT_MS`] unless set otherwise ([`Self::with_request_timeout`]).
    request_timeout: Duration,
}

impl fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayClient")
            .field("url", &self.base)
            .field("relay", &format_args!("{}", self.relay.key_fingerprint()))
            .field("station", &format_args!("{}", self.me.fingerprint()))
            .finish_non_exhaustive()
    }
}

/// Splits `https://host[:port][/]` into host and port.
fn parse_url(url: &str) -> Result<(Uri, String, u16), RelayError> {
    let invalid = |why: &str| RelayError::Invalid(format!("relay URL {url:?} {why}"));
    let uri: Uri = url.parse().map_err(|_| invalid("is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("must start with https://"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid("must have no path or query"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("must not carry user information"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((uri.clone(), host, authority.port_u16().unwrap_or(443)))
}

impl RelayClient {
    /// A client of the relay at `url` (`https://host:port`) whose identity is `relay`,
    /// signing as `me`. TLS is pinned to `relay`'s key. Needs no runtime until a request is
    /// made; requests need a tokio runtime.
    pub fn new(url: &str, relay: StationId, me: Identity) -> Result<Self, RelayError> {
        let (uri, host, port) = parse_url(url)?;
        let tls = crate::tls::pinned_client_config(relay.0, &[ALPN_HTTP1])
            .map_err(|error| RelayError::Invalid(error.to_string()))?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| RelayError::Invalid(format!("relay URL {url:?} has an invalid host")))?;
        let connector = Connector {
            tls: Some((TlsConnector::from(Arc::new(tls)), server_name)),
            host,
            port,
            timeout: Duration::from_millis(CONNECT_TIMEOUT_MS),
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_millis(POOL_IDLE_TIMEOUT_MS))
            .build(connector);
        let authority = uri.authority().map_or("", |a| a.as_str());
        Ok(Self {
            base: format!("https://{authority}").into(),
            relay,
            me,
            http,
            request_timeout: Duration::from_millis(REQUEST_TIMEOUT_MS),
        })
    }

    /// The same client with requests given `timeout` instead of [`REQUEST_TIMEOUT_MS`] to
    /// their answer's head: for tests of slow links, which would otherwise wait 30 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The relay's identity.
    pub fn relay(&self) -> StationId {
        self.relay
    }

    /// Sends one signed request and returns the body of a 200 (or, for a deposit, 202) answer.
    async fn call(
        &self,
        method: Method,
        target: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, RelayError> {
        let auth = RequestAuth::sign(
            &self.me,
            &self.relay,
            method.as_str(),
            target,
            &body,
            crate::utc_now_ms(),
            nonce(),
        );
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.base))
            .header(CONTENT_TYPE, CBOR_CONTENT_TYPE);
        for (name, value) in auth.to_headers() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| RelayError::Invalid(error.to_string()))?;
        let (status, retry_after, body) = self
            .exchange(request, timeout, RESPONSE_SIZE_MAX_BYTES)
            .await?;
        match status {
            StatusCode::OK | StatusCode::ACCEPTED => Ok(body.to_vec()),
            StatusCode::TOO_MANY_REQUESTS => Err(RelayError::RateLimited {
                retry_after_ms: retry_after_ms(&body, retry_after),
            }),
            StatusCode::SERVICE_UNAVAILABLE => Err(RelayError::Busy {
                retry_after_ms: retry_after_ms(&body, retry_after),
            }),
            status => {
                let mut reason = wire::decode_refusal(&body)
                    .map(|refusal| refusal.error)
                    .unwrap_or_else(|_| "no reason given".to_owned());
                if reason.len() > REASON_SIZE_MAX_BYTES {
                    let mut end = REASON_SIZE_MAX_BYTES;
                    while !reason.is_char_boundary(end) {
                        end -= 1;
                    }
                    reason.truncate(end);
                }
                Err(RelayError::Refused {
                    status: status.as_u16(),
                    reason,
                })
            }
        }
    }

    /// Sends `request` and reads the answer's status, its `Retry-After` seconds and its body
    /// (at most `limit` bytes): the head within `timeout`, the body by then too or, once it
    /// flows, by a deadline each byte read extends at [`ANSWER_RATE_MIN_BYTES_PER_SECOND`].
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        limit: usize,
    ) -> Result<(StatusCode, Option<u64>, Bytes), RelayError> {
        let started = tokio::time::Instant::now();
        let late = || RelayError::Transport(format!("no answer within {} ms", timeout.as_millis()));
        let response = tokio::time::timeout(timeout, self.http.request(request))
            .await
            .map_err(|_| late())?
            .map_err(|error| RelayError::Transport(crate::chain(&error)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let mut body = Limited::new(response.into_body(), limit);
        let mut read = Vec::new();
        loop {
            let extension_ms = read.len() as u64 * 1000 / ANSWER_RATE_MIN_BYTES_PER_SECOND;
            let deadline = started + timeout + Duration::from_millis(extension_ms);
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(RelayError::Stalled {
                        read_bytes: read.len() as u64,
                        elapsed_ms: u64::try_from(started.elapsed().as_millis())
                            .unwrap_or(u64::MAX),
                    });
                }
                Ok(None) => break,
                Ok(Some(frame)) => frame.map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        RelayError::Protocol(format!("answer is over the limit of {limit} bytes"))
                    } else {
                        RelayError::Transport(format!("reading the answer failed: {error}"))
                    }
                })?,
            };
            if let Ok(data) = frame.into_data() {
                read.extend_from_slice(&data);
            }
        }
        Ok((status, retry_after, Bytes::from(read)))
    }

    /// An unsigned request to the witness API (the specification has no request signatures),
    /// its answer read up to [`WITNESS_ANSWER_SIZE_MAX_BYTES`].
    async fn witness_call(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), RelayError> {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, TEXT_CONTENT_TYPE)
            .body(Full::new(body))
            .map_err(|error| RelayError::Invalid(error.to_string()))?;
        let timeout = self.request_timeout;
        let (status, _, body) = self
            .exchange(request, timeout, WITNESS_ANSWER_SIZE_MAX_BYTES)
            .await?;
        Ok((status, body))
    }

    /// Submits a checkpoint to the relay as a witness (`c2sp.org/tlog-witness`,
    /// `add-checkpoint`). Unsigned, as the specification has it: the checkpoint's signature is
    /// what authenticates it. The answer is read, not checked: the cosignature's signature is
    /// the caller's to verify.
    pub async fn add_checkpoint(
        &self,
        submission: &AddCheckpoint,
    ) -> Result<WitnessAnswer, RelayError> {
        let body = Bytes::from(submission.encode());
        let (status, body) = self
            .witness_call(Method::POST, PATH_WITNESS_ADD_CHECKPOINT, body)
            .await?;
        WitnessAnswer::read(status.as_u16(), &body)
            .map_err(|error| RelayError::Protocol(format!("the witness's answer: {error}")))
    }

    /// The latest checkpoint of the log named `origin` the relay cosigned as a witness, with
    /// its signatures (the specification's monitoring API), or `None` if it holds none. Read,
    /// not checked.
    pub async fn witness_checkpoint(&self, origin: &str) -> Result<Option<String>, RelayError> {
        let path = checkpoint_path(origin);
        let (status, body) = self.witness_call(Method::GET, &path, Bytes::new()).await?;
        match status {
            StatusCode::OK => String::from_utf8(body.to_vec())
                .map(Some)
                .map_err(|_| RelayError::Protocol("the witness's checkpoint is not text".into())),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(RelayError::Refused {
                status: status.as_u16(),
                reason: "the witness's checkpoint could not be read".into(),
            }),
        }
    }

    /// Checks the relay answers this station; returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, RelayError> {
        let started = Instant::now();
        let body = self
            .call(Method::GET, PATH_PING, Vec::new(), self.request_timeout)
            .await?;
        let rtt = started.elapsed();
        wire::decode_count(&body, "ping answer")
            .map_err(|error| RelayError::Protocol(error.to_string()))?;
        Ok(rtt)
    }

    /// Deposits `frames` (at most the relay's `deposit_frames_max`, by default
    /// [`parley_relay_wire::limits::DEPOSIT_FRAMES_MAX`]) into `to`'s mailbox. Returns once the
    /// relay has taken them: stored on disk (200) or, while `to` has not yet addressed this
    /// station through the relay, taken without saying whether they could be stored (202; the
    /// relay tells a station nothing about a station that never addressed it). Delivery is
    /// confirmed end to end by `to`'s receipts either way. On error nothing was stored.
    pub async fn deposit(&self, to: &StationId, frames: &[Arc<[u8]>]) -> Result<(), RelayError> {
        if frames.is_empty() || frames.len() > DEPOSIT_FRAMES_MAX_LIMIT {
            return Err(RelayError::Invalid(format!(
                "a deposit carries 1 to {DEPOSIT_FRAMES_MAX_LIMIT} frames, not {}",
                frames.len()
            )));
        }
        let target = deposit_path(to);
        let body = wire::encode_deposit(frames);
        // The body's own time at the slowest rate a relay accepts comes on top: the request's
        // timeout also covers connecting and waiting for one of the relay's deposit slots.
        let upload_ms = body.len() as u64 * 1000 / BODY_READ_RATE_MIN_BYTES_PER_SECOND;
        let timeout = self.request_timeout + Duration::from_millis(upload_ms);
        let body = self.call(Method::POST, &target, body, timeout).await?;
        wire::decode_deposit_answer(&body)
            .map_err(|error| RelayError::Protocol(error.to_string()))?;
        Ok(())
    }

    /// Fetches frames from this station's mailbox, waiting up to `wait` (at most
    /// [`FETCH_WAIT_MS_MAX_LIMIT`]; the relay may cap it lower) for one to arrive. Returns
    /// them in increasing id order; an empty list means none arrived in time. Frames stay in
    /// the mailbox until [`Self::delete`]d.
    pub async fn fetch(&self, wait: Duration) -> Result<Vec<Fetched>, RelayError> {
        self.fetch_acknowledging(wait, 0).await
    }

    /// [`Self::fetch`], deleting first every item of the mailbox with an id up to `ack` (what
    /// the last fetch returned and this station has committed; 0: none): one signed request
    /// where a fetch and a delete would be two. A relay older than the `ack` parameter refuses
    /// it (HTTP 400) and does nothing.
    pub async fn fetch_acknowledging(
        &self,
        wait: Duration,
        ack: u64,
    ) -> Result<Vec<Fetched>, RelayError> {
        self.fetch_bounded(wait, ack, 0).await
    }

    /// [`Self::fetch_acknowledging`], asking for an answer of at most `bytes_max` frame bytes,
    /// its first frame whatever its size (0: as many as the relay answers), so that it arrives in time
    /// over a slow downlink. A relay older than the `bytes_max` parameter refuses it (HTTP
    /// 400) and does nothing.
    pub async fn fetch_bounded(
        &self,
        wait: Duration,
        ack: u64,
        bytes_max: u64,
    ) -> Result<Vec<Fetched>, RelayError> {
        let wait_ms = u64::try_from(wait.as_millis())
            .unwrap_or(u64::MAX)
            .min(FETCH_WAIT_MS_MAX_LIMIT);
        let query = wire::FetchQuery {
            wait_ms,
            ack,
            bytes_max,
        };
        let target = format!("{PATH_MAILBOX}?{}", query.encode());
        let timeout = self.request_timeout + Duration::from_millis(wait_ms);
        let body = self.call(Method::GET, &target, Vec::new(), timeout).await?;
        let answer = wire::decode_fetch_answer(&body)
            .map_err(|error| RelayError::Protocol(error.to_string()))?;
        Ok(answer.items)
    }

    /// Deletes the items with these ids from this station's mailbox (ids of other mailboxes
    /// are ignored by the relay).
    pub async fn delete(&self, ids: &[u64]) -> Result<(), RelayError> {
        for chunk in ids.chunks(DELETE_IDS_MAX) {
            self.post_delete(DeleteRequest {
                upto: 0,
                ids: chunk.to_vec(),
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes every item of this station's mailbox with an id up to `upto`.
    pub async fn delete_upto(&self, upto: u64) -> Result<(), RelayError> {
        self.post_delete(DeleteRequest {
            upto,
            ids: Vec::new(),
        })
        .await
    }

    async fn post_delete(&self, request: DeleteRequest) -> Result<(), RelayError> {
        let body = wire::encode_delete(&request);
        let answer = self
            .call(
                Method::POST,
                PATH_MAILBOX_DELETE,
                body,
                self.request_timeout,
            )
            .await?;
        wire::decode_count(&answer, "delete answer")
            .map_err(|error| RelayError::Protocol(error.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        let relay = Identity::from_secret(&[9; 32]).id();
        let me = Identity::from_secret(&[1; 32]);
        let check = |url: &str, expect: Result<(), &str>| {
            let got = RelayClient::new(url, relay, me.clone()).map(|_| ());
            match (got, expect) {
                (Ok(()), Ok(())) => {}
                (Err(RelayError::Invalid(got)), Err(want)) => {
                    assert!(got.contains(want), "{got} lacks {want}")
                }
                (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
            }
        };
        check("https://127.0.0.1:7400", Ok(()));
        check("https://[::1]:7400/", Ok(()));
        check("https://relay.example", Ok(()));
        check("http://127.0.0.1:7400", Err("must start with https://"));
        check("https://127.0.0.1:7400/v1", Err("no path or query"));
        check("https://user@127.0.0.1:7400", Err("user information"));
        check("not a url", Err("is not a URL"));
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let secret = [0x5a; 32];
        let me = Identity::from_secret(&secret);
        let relay = Identity::from_secret(&[9; 32]).id();
        let client = RelayClient::new("https://127.0.0.1:7400", relay, me).expect("valid URL");
        let shown = format!("{client:?}");
        assert!(!shown.contains(&hex::encode(secret)), "{shown}");
        assert!(!shown.contains("5a5a5a"), "{shown}");
        assert!(
            shown.contains(&relay.key_fingerprint().to_string()),
            "{shown}"
        );
    }

    #[test]
    fn errors_carry_the_status_and_retry_delay_a_station_acts_on() {
        let refused = |status: u16| RelayError::Refused {
            status,
            reason: "why".into(),
        };
        let check = |error: RelayError, status: Option<u16>, retry_after_ms: Option<u64>| {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.retry_after_ms(), retry_after_ms, "{error:?}");
        };
        check(refused(403), Some(403), None);
        check(refused(404), Some(404), None);
        check(refused(507), Some(507), None);
        check(
            RelayError::RateLimited { retry_after_ms: 7 },
            Some(429),
            Some(7),
        );
        check(RelayError::Busy { retry_after_ms: 9 }, Some(503), Some(9));
        check(RelayError::Transport("down".into()), None, None);
        check(RelayError::Protocol("garbled".into()), None, None);

        // A refusal that says to try again is retried (a few times); any other is final.
        for status in [408, 500, 502, 504, 599] {
            assert!(RelayError::refused_for_now(status), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 413, 422, 507] {
            assert!(!RelayError::refused_for_now(status), "{status}");
        }

        // The delay comes from the body, else the header (seconds), else one second.
        let body = br#"{"error":"busy","retry_after_ms":1500}"#;
        assert_eq!(retry_after_ms(body, Some(9)), 1500);
        assert_eq!(retry_after_ms(br#"{"error":"busy"}"#, Some(2)), 2000);
        assert_eq!(retry_after_ms(b"not json", None), 1000);
        assert_eq!(retry_after_ms(b"", Some(u64::MAX)), u64::MAX);
    }
}
