//! The relay server: the HTTP API (axum) over HTTP/1.1 and TLS 1.3 (tokio-rustls with the
//! relay's Ed25519 identity certificate, from `parley_channels::tls`), backed by the store.
//!
//! Guarantees:
//! - Every request except `GET /v1/health` is authenticated before anything else happens to
//!   it: headers parsed and timestamp within [`REQUEST_CLOCK_SKEW_MS_MAX`] (before the body is
//!   read), then body read within its limit, signature verified, station admitted and not
//!   revoked (read from the store on every request, so `parley relay admit/revoke` in another
//!   process takes effect at once), nonce not seen before (so a replay costs the station no
//!   rate budget), then the per-station rate limit. The nonce is recorded in the same
//!   transaction as the operation (see [`crate::store`]).
//! - Memory is bounded: at most [`CONNECTIONS_MAX`] connections and [`DEPOSITS_IN_FLIGHT_MAX`]
//!   deposit bodies at once.
//! - A deposit is verified frame by frame (envelope or receipt signature, sender = requester,
//!   recipient = the mailbox) and stored all or nothing; it is answered 200 only after its
//!   transaction committed with `synchronous=FULL`.
//! - Every refusal is an HTTP error with a JSON body `{"error": "<reason>"}` and changes no
//!   mailbox. No input makes the server panic: every decoder returns errors.
//! - SQLite and signature checks run on the blocking pool, never on the async workers.
//! - Logs name stations by fingerprint and frames by count and size, never by content.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota as RateQuota};
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use parley_channels::tls::TlsError;
use parley_proto::StationId;
use parley_relay_wire::auth::{AuthError, RequestAuth};
use parley_relay_wire::wire::{self, BodyError, FetchAnswer, Fetched, RefusalBody};
use parley_relay_wire::{
    ALPN_HTTP1, CBOR_CONTENT_TYPE, JSON_CONTENT_TYPE, PATH_HEALTH, PATH_MAILBOX,
    PATH_MAILBOX_DELETE, PATH_MAILBOXES, PATH_PING, route,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

use crate::home::{HomeError, RelayHome};
use crate::limits::{
    BODY_READ_TIMEOUT_MS, CONNECTIONS_MAX, DELETE_BODY_SIZE_MAX_BYTES, DEPOSITS_IN_FLIGHT_MAX,
    FETCH_FRAMES_SIZE_MAX_BYTES, HEADER_READ_TIMEOUT_MS, Limits, REQUEST_CLOCK_SKEW_MS_MAX,
    SHUTDOWN_GRACE_MS, TLS_HANDSHAKE_TIMEOUT_MS,
};
use crate::store::{NonceRecord, Quota, StationStatus, Store, StoreError};

/// Why the server could not start or stopped.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The home could not be read.
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listening socket could not be bound.
    #[error("could not listen on {addr}: {source}; is the port in use?")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's account.
        source: std::io::Error,
    },
    /// Signal handling could not be set up.
    #[error("could not watch for SIGINT/SIGTERM: {0}")]
    Signal(std::io::Error),
}

/// Milliseconds since the Unix epoch by the wall clock (0 if it is set before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A refusal: an HTTP error status and a specific reason, sent as `{"error": reason}`.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: String,
    retry_after_ms: Option<u64>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl fmt::Display) -> Self {
        Self {
            status,
            reason: reason.to_string(),
            retry_after_ms: None,
        }
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the relay failed internally; nothing was changed; retry later",
        )
    }

    fn rate_limited(wait: Duration) -> Self {
        let retry_after_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            reason: format!(
                "request rate over the limit for this station; retry in {retry_after_ms} ms"
            ),
            retry_after_ms: Some(retry_after_ms),
        }
    }
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
            StoreError::Replayed => StatusCode::UNAUTHORIZED,
            StoreError::NotAdmitted(_) | StoreError::Revoked(_) => StatusCode::FORBIDDEN,
            StoreError::RecipientNotAdmitted(_) => StatusCode::NOT_FOUND,
            StoreError::OverQuota { .. } => StatusCode::INSUFFICIENT_STORAGE,
            ref failure if !failure.is_refusal() => {
                error!("relay store failed: {failure}");
                return Self::internal();
            }
            _ => StatusCode::CONFLICT,
        };
        Self::new(status, error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        warn!(status = self.status.as_u16(), reason = %self.reason, "request refused");
        let body = wire::encode_refusal(&RefusalBody {
            error: self.reason,
            retry_after_ms: self.retry_after_ms,
        });
        let mut response = (self.status, [(CONTENT_TYPE, JSON_CONTENT_TYPE)], body).into_response();
        if let Some(retry_after_ms) = self.retry_after_ms {
            let seconds = retry_after_ms.div_ceil(1000).max(1);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn cbor_response(body: Vec<u8>) -> Response {
    ([(CONTENT_TYPE, CBOR_CONTENT_TYPE)], body).into_response()
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        error!("a blocking relay task failed: {error}");
        Refusal::internal()
    })
}

/// A request that passed authentication, admission and the rate limit.
struct Authenticated {
    station: StationId,
    nonce: NonceRecord,
}

/// The server's shared state.
struct Relay {
    id: StationId,
    limits: Limits,
    store: Arc<Mutex<Store>>,
    limiter: DefaultKeyedRateLimiter<StationId>,
    /// Woken when a deposit adds items to the mailbox; one per station that used the relay.
    mailboxes: Mutex<HashMap<StationId, Arc<Notify>>>,
    /// Deposits being read or processed; see [`DEPOSITS_IN_FLIGHT_MAX`].
    deposit_slots: Semaphore,
    shutdown: watch::Receiver<bool>,
}

impl Relay {
    /// Runs `operation` on the store, on the blocking pool.
    async fn db<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let store = self.store.clone();
        blocking(move || {
            // A panic cannot leave the connection mid-transaction: the transaction rolls back
            // when dropped. So a poisoned lock is safe to take.
            let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
            operation(&mut store)
        })
        .await?
        .map_err(Refusal::from)
    }

    fn mailbox(&self, station: &StationId) -> Arc<Notify> {
        let mut mailboxes = self
            .mailboxes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        mailboxes.entry(*station).or_default().clone()
    }

    fn quota(&self) -> Quota {
        Quota {
            items_max: self.limits.mailbox_items_max,
            bytes_max: self.limits.mailbox_size_max_bytes,
        }
    }

    /// Completes the authentication of a request whose headers passed
    /// [`authenticate_headers`] and whose body has been read: signature, admission, nonce,
    /// rate limit.
    async fn authenticate(
        &self,
        auth: RequestAuth,
        method: &Method,
        uri: &Uri,
        body: &Bytes,
    ) -> Result<Authenticated, Refusal> {
        let station = auth.station;
        let relay = self.id;
        let method = method.as_str().to_owned();
        let target = uri.path_and_query().map_or_else(
            || uri.path().to_owned(),
            |target| target.as_str().to_owned(),
        );
        let body = body.clone();
        let nonce = NonceRecord {
            station,
            nonce: auth.nonce,
            timestamp_ms: auth.timestamp_ms,
        };
        // Hashing a large body and verifying take long enough to keep off the async workers.
        blocking(move || auth.verify(&relay, &method, &target, &body)).await??;
        let (status, seen) = self.db(move |store| store.check_request(&nonce)).await?;
        match status {
            StationStatus::Admitted => {}
            StationStatus::Revoked => {
                return Err(StoreError::Revoked(station.fingerprint().to_string()).into());
            }
            StationStatus::Unknown => {
                return Err(StoreError::NotAdmitted(station.fingerprint().to_string()).into());
            }
        }
        if seen {
            return Err(StoreError::Replayed.into());
        }
        if let Err(not_until) = self.limiter.check_key(&station) {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            return Err(Refusal::rate_limited(wait));
        }
        Ok(Authenticated { station, nonce })
    }

    /// Waits until `station`'s mailbox holds items, `wait` passes or the server stops; then
    /// answers with what the mailbox holds.
    async fn long_poll(&self, station: StationId, wait: Duration) -> Result<FetchAnswer, Refusal> {
        let deadline = tokio::time::Instant::now() + wait;
        let notify = self.mailbox(&station);
        let mut shutdown = self.shutdown.clone();
        let retention_ms = self.limits.retention_ms;
        let items_max = self.limits.fetch_items_max;
        loop {
            // Registered before reading, so a deposit committed after the read still wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (items, more) = self
                .db(move |store| {
                    store.fetch(
                        &station,
                        now_ms(),
                        retention_ms,
                        items_max,
                        FETCH_FRAMES_SIZE_MAX_BYTES,
                    )
                })
                .await?;
            let done =
                !items.is_empty() || tokio::time::Instant::now() >= deadline || *shutdown.borrow();
            if done {
                let items = items
                    .into_iter()
                    .map(|item| Fetched {
                        id: item.id,
                        frame: item.frame,
                    })
                    .collect();
                return Ok(FetchAnswer { items, more });
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => {}
                _ = shutdown.changed() => return Ok(FetchAnswer::default()),
            }
        }
    }
}

/// Parses the authentication headers and checks the timestamp, before the body is read.
fn authenticate_headers(headers: &HeaderMap) -> Result<RequestAuth, Refusal> {
    let auth = RequestAuth::from_headers(headers)?;
    auth.check_time(now_ms())?;
    Ok(auth)
}

/// Reads a request body of at most `limit` bytes within [`BODY_READ_TIMEOUT_MS`].
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    let timeout = Duration::from_millis(BODY_READ_TIMEOUT_MS);
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => {
            let inner = error.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is over the limit of {limit} bytes"),
                ))
            } else {
                Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!("could not read the request body: {inner}"),
                ))
            }
        }
        Err(_) => Err(Refusal::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {BODY_READ_TIMEOUT_MS} ms"),
        )),
    }
}

/// Checks every frame of a deposit; the first failure refuses the whole deposit.
fn check_frames(
    frames: &[Vec<u8>],
    requester: &StationId,
    recipient: &StationId,
) -> Result<(), Refusal> {
    for (index, frame) in frames.iter().enumerate() {
        route::check_frame(frame, requester, recipient).map_err(|why| {
            Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("frame {index} refused: {why}; nothing was stored"),
            )
        })?;
    }
    Ok(())
}

fn parse_recipient(path: Result<Path<String>, PathRejection>) -> Result<StationId, Refusal> {
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

async fn health() -> Response {
    ([(CONTENT_TYPE, "text/plain")], "ok").into_response()
}

async fn ping(
    State(relay): State<Arc<Relay>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let auth = authenticate_headers(&headers)?;
    let body = read_body(body, 0).await?;
    let request = relay.authenticate(auth, &method, &uri, &body).await?;
    relay
        .db(move |store| store.record_request(&request.nonce))
        .await?;
    Ok(cbor_response(wire::encode_count(now_ms())))
}

async fn deposit(
    State(relay): State<Arc<Relay>>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let auth = authenticate_headers(&headers)?;
    // Bounds the memory deposits take: at most DEPOSITS_IN_FLIGHT_MAX bodies at once.
    let _slot = relay
        .deposit_slots
        .acquire()
        .await
        .map_err(|_| Refusal::internal())?;
    let body = read_body(body, relay.limits.deposit_body_size_max_bytes()).await?;
    let request = relay.authenticate(auth, &method, &uri, &body).await?;
    let recipient = parse_recipient(path)?;
    let frames_max = relay.limits.deposit_frames_max;
    let requester = request.station;
    let frames = blocking(move || {
        let frames = wire::decode_deposit(&body, frames_max)?;
        check_frames(&frames, &requester, &recipient)?;
        Ok::<_, Refusal>(frames)
    })
    .await??;
    let (count, bytes) = (frames.len(), frames.iter().map(Vec::len).sum::<usize>());
    let (quota, retention_ms) = (relay.quota(), relay.limits.retention_ms);
    let outcome = relay
        .db(move |store| {
            store.deposit(
                &request.nonce,
                &recipient,
                &frames,
                quota,
                now_ms(),
                retention_ms,
            )
        })
        .await?;
    if outcome.stored > 0 {
        relay.mailbox(&recipient).notify_waiters();
    }
    info!(
        from = %requester.fingerprint(),
        to = %recipient.fingerprint(),
        frames = count,
        bytes,
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        "deposit stored"
    );
    Ok(cbor_response(wire::encode_deposit_answer(
        outcome.stored,
        outcome.duplicates,
    )))
}

async fn fetch(
    State(relay): State<Arc<Relay>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let auth = authenticate_headers(&headers)?;
    let body = read_body(body, 0).await?;
    let request = relay.authenticate(auth, &method, &uri, &body).await?;
    let wait_ms = wire::parse_fetch_query(uri.query())?.min(relay.limits.fetch_wait_ms_max);
    let retention_ms = relay.limits.retention_ms;
    relay
        .db(move |store| store.begin_fetch(&request.nonce, now_ms(), retention_ms))
        .await?;
    let answer = relay
        .long_poll(request.station, Duration::from_millis(wait_ms))
        .await?;
    debug!(
        station = %request.station.fingerprint(),
        items = answer.items.len(),
        more = answer.more,
        "fetch answered"
    );
    Ok(cbor_response(wire::encode_fetch_answer(&answer)))
}

async fn delete(
    State(relay): State<Arc<Relay>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let auth = authenticate_headers(&headers)?;
    let body = read_body(body, DELETE_BODY_SIZE_MAX_BYTES).await?;
    let request = relay.authenticate(auth, &method, &uri, &body).await?;
    let wanted = wire::decode_delete(&body)?;
    let deleted = relay
        .db(move |store| store.delete(&request.nonce, wanted.upto, &wanted.ids))
        .await?;
    debug!(station = %request.station.fingerprint(), deleted, "items deleted");
    Ok(cbor_response(wire::encode_count(deleted)))
}

async fn not_found() -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "no such endpoint; see docs/relay-api.md",
    )
}

async fn method_not_allowed() -> Refusal {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint; see docs/relay-api.md",
    )
}

fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route(PATH_HEALTH, get(health))
        .route(PATH_PING, get(ping))
        .route(&format!("{PATH_MAILBOXES}/{{recipient}}"), post(deposit))
        .route(PATH_MAILBOX, get(fetch))
        .route(PATH_MAILBOX_DELETE, post(delete))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(relay)
}

/// A running relay server. Dropping it stops it too, without the grace period.
pub struct RelayServer {
    local_addr: SocketAddr,
    id: StationId,
    shutdown: watch::Sender<bool>,
    tasks: Option<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)>,
}

impl fmt::Debug for RelayServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayServer")
            .field("local_addr", &self.local_addr)
            .field("fingerprint", &format_args!("{}", self.id.fingerprint()))
            .finish_non_exhaustive()
    }
}

impl RelayServer {
    /// Opens the relay in `home` and serves it on `listen` (port 0 picks a free port). Must be
    /// called inside a tokio runtime. Logs "relay listening" with the bound address.
    pub async fn start(home: &RelayHome, listen: SocketAddr) -> Result<Self, ServeError> {
        let config = home.config()?;
        let identity = home.identity()?;
        let store_home = home.clone();
        let store = tokio::task::spawn_blocking(move || store_home.store())
            .await
            .map_err(|error| HomeError::Config(format!("opening the store failed: {error}")))??;
        let tls = parley_channels::tls::server_config(identity.signing_key(), &[ALPN_HTTP1])?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
        let limits = config.limits;
        let rate = RateQuota::per_second(nonzero(limits.request_rate_per_second_max))
            .allow_burst(nonzero(limits.request_burst_max));
        let (shutdown, shutdown_watch) = watch::channel(false);
        let relay = Arc::new(Relay {
            id: identity.id(),
            limits,
            store: Arc::new(Mutex::new(store)),
            limiter: DefaultKeyedRateLimiter::keyed(rate),
            mailboxes: Mutex::default(),
            deposit_slots: Semaphore::new(DEPOSITS_IN_FLIGHT_MAX),
            shutdown: shutdown_watch.clone(),
        });
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let server = tokio::spawn(accept_loop(
            listener,
            acceptor,
            router(relay.clone()),
            shutdown_watch.clone(),
        ));
        let purger = tokio::spawn(purge_loop(relay, shutdown_watch));
        info!(
            address = %local_addr,
            fingerprint = %identity.id().fingerprint(),
            name = %config.name,
            "relay listening"
        );
        Ok(Self {
            local_addr,
            id: identity.id(),
            shutdown,
            tasks: Some((server, purger)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `https://` URL of the bound address, for [`crate::RelayClient::new`].
    pub fn url(&self) -> String {
        format!("https://{}", self.local_addr)
    }

    /// The relay's identity.
    pub fn relay_id(&self) -> StationId {
        self.id
    }

    /// Stops accepting, answers waiting fetches at once, gives open requests up to
    /// [`SHUTDOWN_GRACE_MS`] to finish, then closes every connection.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some((server, purger)) = self.tasks.take() {
            for task in [server, purger] {
                if let Err(error) = task.await {
                    error!("a relay task failed: {error}");
                }
            }
        }
        info!(address = %self.local_addr, "relay stopped");
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        if let Some((server, purger)) = self.tasks.take() {
            server.abort();
            purger.abort();
        }
    }
}

fn nonzero(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

/// Serves the relay in `home` on `listen` until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve_until_signal(home: &RelayHome, listen: SocketAddr) -> Result<(), ServeError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    let server = RelayServer::start(home, listen).await?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map_err(ServeError::Signal)?,
        _ = terminate.recv() => {}
    }
    info!("signal received; relay stopping");
    server.shutdown().await;
    Ok(())
}

/// Accepts TCP connections (at most [`CONNECTIONS_MAX`] at once), runs the TLS handshake and
/// serves HTTP/1.1 on each until shutdown.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    while !*shutdown.borrow_and_update() {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = shutdown.changed() => break,
        };
        let Ok(slot) = slot else { break };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!("accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let _slot = slot;
            let handshake = Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS);
            let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    debug!(%remote, "TLS handshake failed: {error}");
                    return;
                }
                Err(_) => {
                    debug!(%remote, "TLS handshake timed out");
                    return;
                }
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_millis(HEADER_READ_TIMEOUT_MS))
                .serve_connection(TokioIo::new(tls), service);
            if let Err(error) = watcher.watch(connection).await {
                debug!(%remote, "connection ended with an error: {error}");
            }
        });
    }
    drop(listener);
    let grace = Duration::from_millis(SHUTDOWN_GRACE_MS);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("open requests did not finish within {SHUTDOWN_GRACE_MS} ms; closing them");
    }
    connections.shutdown().await;
}

/// Deletes expired items and old nonces periodically, and forgets idle rate-limit state.
async fn purge_loop(relay: Arc<Relay>, mut shutdown: watch::Receiver<bool>) {
    let period = Duration::from_millis(relay.limits.purge_interval_ms());
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retention_ms = relay.limits.retention_ms;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        let purged = relay
            .db(move |store| store.purge(now_ms(), retention_ms, REQUEST_CLOCK_SKEW_MS_MAX))
            .await;
        match purged {
            Ok(purged) if purged.items > 0 => {
                info!(
                    items = purged.items,
                    nonces = purged.nonces,
                    "expired items purged"
                );
            }
            Ok(_) => {}
            Err(refusal) => warn!(reason = %refusal.reason, "purge failed; will retry"),
        }
        relay.limiter.retain_recent();
    }
}
