//! The relay server: the HTTP API (axum) over HTTP/1.1 and TLS 1.3 (tokio-rustls with the
//! relay's Ed25519 identity certificate, from `parley_channels::tls`), backed by the store.
//!
//! Guarantees:
//! - Every request except `GET /v1/health` and the witness's (`witness.rs`: authenticated by
//!   the checkpoint they carry) is authenticated from its headers alone, before a byte of its
//!   body is read or a deposit slot taken: headers parsed, timestamp within
//!   [`REQUEST_CLOCK_SKEW_MS_MAX`](crate::limits::REQUEST_CLOCK_SKEW_MS_MAX), signature
//!   verified over the body hash the headers declare,
//!   station admitted and not revoked (read from the store on every request, so
//!   `parley relay admit/revoke` in another process takes effect at once), nonce not seen
//!   before (so a replay costs the station no rate budget), the per-station rate limit, and a
//!   declared length within the endpoint's limit. Only then is the body read, within a time
//!   that grows with its declared length ([`body_read_timeout_ms`]), and checked against the
//!   signed hash. The nonce is recorded in the same transaction as the operation (see
//!   [`crate::store`]).
//! - Memory and connections are bounded, and attackers cannot take what genuine stations
//!   need: at most [`CONNECTIONS_MAX`] connections, of which at most
//!   [`UNAUTHENTICATED_CONNECTIONS_MAX`](crate::limits::UNAUTHENTICATED_CONNECTIONS_MAX)
//!   unauthenticated (beyond it one is closed at once, see `connections.rs`); TLS handshakes
//!   within [`TLS_HANDSHAKE_TIMEOUT_MS`] of the accept; at most [`DEPOSITS_IN_FLIGHT_MAX`]
//!   deposit bodies at once, taken only by authenticated requests, at most
//!   [`DEPOSITS_IN_FLIGHT_PER_STATION_MAX`] per station, and a share kept for stations that did
//!   not misbehave (see `slots.rs`).
//! - A deposit is verified frame by frame (envelope or receipt signature, sender = requester,
//!   recipient = the mailbox) and stored all or nothing, within the sender's share of the mailbox
//!   and the mailbox's quota; it is answered 200 only after its transaction committed with
//!   `synchronous=FULL` (its group's transaction, see `writer.rs`). Its sender learns what happened
//!   only once the recipient has addressed it through the relay; until then the answer is 202,
//!   whatever happened, so a station learns nothing about a station that never addressed it.
//! - Every refusal is an HTTP error with a JSON body `{"error": "<reason>"}` and changes no
//!   mailbox; a refusal to a depositor says nothing of what the recipient's mailbox holds. No
//!   input makes the server panic: every decoder returns errors.
//! - Writing requests (ping, deposit, fetch, delete, add-checkpoint) are committed in groups by
//!   one writer thread (`writer.rs`): each in its own savepoint, all of a group made durable by
//!   one commit, each answered only after it. A fetch's first read is done in its group, after
//!   its acknowledged items are deleted. What costs less than a trip to another thread and
//!   back runs on the async worker serving the request: the request's signature and its
//!   admission and nonce check (on a connection of its own, which under WAL never waits for a
//!   group's commit; while another worker holds it, on the blocking pool and the reading
//!   connection), a body's hash and a deposit's decoding up to [`INLINE_BODY_SIZE_MAX_BYTES`],
//!   a deposit's frame signatures up to
//!   [`INLINE_FRAME_CHECKS_MAX`](crate::limits::INLINE_FRAME_CHECKS_MAX) frames. Larger
//!   checks, and the reads of long polls, metrics and the witness (on the reading connection),
//!   run on the blocking pool.
//! - Logs name stations by fingerprint and frames by count and size, never by content. Each
//!   kind of warning is logged at most once per [`WARNING_INTERVAL_MS`], with a count of the
//!   others (see `warnings.rs`), so no client can flood the log.

mod admission;
mod connections;
mod metrics;
mod refusal;
mod requests;
mod slots;
mod warnings;
mod witness;
mod writer;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota as RateQuota};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Uri};
use parley_channels::tls::TlsError;
use parley_proto::StationId;
use parley_relay_wire::auth::RequestAuth;
use parley_relay_wire::witness::{PATH_WITNESS, PATH_WITNESS_ADD_CHECKPOINT};
use parley_relay_wire::{
    ALPN_HTTP1, CBOR_CONTENT_TYPE, PATH_HEALTH, PATH_MAILBOX, PATH_MAILBOX_DELETE, PATH_MAILBOXES,
    PATH_PING,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{error, info, warn};

use crate::home::{HomeError, RelayHome};
use crate::limits::{
    CONNECTIONS_MAX, DEPOSITS_IN_FLIGHT_MAX, DEPOSITS_IN_FLIGHT_PER_STATION_MAX,
    INLINE_BODY_SIZE_MAX_BYTES, Limits, NONCE_KEEP_MS, TLS_HANDSHAKE_TIMEOUT_MS,
    WARNING_INTERVAL_MS, WARNING_SUMMARY_CHECK_MS, body_read_timeout_ms,
};
use crate::store::{NonceRecord, Quota, StationStatus, Store, StoreError};
pub use connections::{
    CONNECTIONS_MIN, ConnectionBounds, OPEN_FILES_NEEDED, raise_open_files_limit,
};
use connections::{ConnectionHandle, Connections, bind};
use metrics::RelayMetrics;
use parley_channels::log_limit::LogLimit;
use refusal::Refusal;
use slots::{DepositSlots, FetchSlots};
use warnings::Warning;
use witness::WitnessKey;

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
    /// The metrics socket could not be bound.
    #[error("{0}; nothing was served")]
    Metrics(#[from] parley_metrics::BindError),
    /// Signal handling could not be set up.
    #[error("could not watch for SIGINT/SIGTERM: {0}")]
    Signal(std::io::Error),
    /// The store's writer thread could not be started.
    #[error("could not start the store's writer: {0}")]
    Writer(std::io::Error),
}

/// Milliseconds since the Unix epoch by the wall clock (0 if it is set before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

fn cbor_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(CONTENT_TYPE, CBOR_CONTENT_TYPE)], body).into_response()
}

/// Runs `work` on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| Refusal::internal(format!("a blocking relay task failed: {error}")))
}

/// The server's shared state.
struct Relay {
    id: StationId,
    /// The witness's key and name, when the relay is a witness.
    witness: Option<Arc<WitnessKey>>,
    limits: Limits,
    store: Arc<Mutex<Store>>,
    /// A second connection to the store, for the reads of long polls, metrics and the
    /// witness, on the blocking pool: with WAL they need not wait for a group's commit.
    reader: Arc<Mutex<Store>>,
    /// A third, for the admission and nonce check of every request, on the async worker
    /// serving it: it never waits behind a long poll's read of up to
    /// [`FETCH_FRAMES_SIZE_MAX_BYTES`](parley_relay_wire::limits::FETCH_FRAMES_SIZE_MAX_BYTES).
    admission: Mutex<Store>,
    /// Commits the writing requests in groups.
    writer: writer::Writer,
    limiter: DefaultKeyedRateLimiter<StationId>,
    /// The witness's writes per author (checkpoints stored, conflicts kept), at the same
    /// rate, apart from `limiter`: a submission is not signed by its sender, so anyone can
    /// spend this budget, and must not spend the author's requests with it.
    witness_limiter: DefaultKeyedRateLimiter<StationId>,
    /// Woken when a deposit adds items to the mailbox; one per station that used the relay.
    mailboxes: Mutex<HashMap<StationId, Arc<Notify>>>,
    /// Open connections, and which have authenticated.
    connections: Arc<Connections>,
    /// How many connections, and unauthenticated ones, are served at once.
    bounds: ConnectionBounds,
    /// Deposits being read or processed.
    slots: DepositSlots,
    /// Fetches being answered or long-polling.
    fetch_slots: Arc<FetchSlots>,
    /// One line per kind of warning per interval.
    warnings: Mutex<LogLimit<Warning>>,
    /// Counters and histograms for the metrics.
    metrics: RelayMetrics,
    /// Origin of the monotonic clock used for suspects and warnings.
    started: Instant,
    shutdown: watch::Receiver<bool>,
}

impl Relay {
    /// Milliseconds since the server started, by a clock that never goes back.
    fn clock_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Logs a warning of `kind` through `log` (given how many of its kind were not logged
    /// since the last line), unless its kind was logged within [`WARNING_INTERVAL_MS`].
    fn warn(&self, kind: Warning, log: impl FnOnce(u64)) {
        let now_ms = self.clock_ms();
        let admitted = self
            .warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(now_ms, kind);
        if let Some(suppressed) = admitted {
            log(suppressed);
        }
    }

    /// The answer to a request: its response, or its refusal, logged (rate-limited) and, if
    /// it shows an authenticated station misbehaving, confining that station's deposits. A
    /// connection that has not authenticated is closed after a refusal, and any connection
    /// after a request that fails authentication, so each unsigned attempt costs its sender a
    /// new connection and TLS handshake.
    fn answer(&self, connection: &ConnectionHandle, result: Result<Response, Refusal>) -> Response {
        let refusal = match result {
            Ok(response) => return response,
            Err(refusal) => refusal,
        };
        if let Some(station) = &refusal.misbehaving {
            self.slots.mark_suspect(station, self.clock_ms());
        }
        let remote = connection.remote;
        self.warn(refusal.warning(), |suppressed| {
            let status = refusal.status.as_u16();
            let station = refusal
                .misbehaving
                .map(|station| station.key_fingerprint().to_string());
            match &refusal.detail {
                // Evidence of a fork is not a failure of the relay, but as grave.
                Some(detail) if refusal.warning() == Warning::WitnessFork => {
                    error!(status, %remote, suppressed, "{detail}");
                }
                Some(detail) if refusal.warning() == Warning::WitnessBadProof => {
                    warn!(status, %remote, suppressed, "{detail}");
                }
                Some(detail) => error!(status, %remote, suppressed, "request failed: {detail}"),
                None => warn!(
                    status,
                    reason = %refusal.reason,
                    %remote,
                    misbehaving = station.as_deref(),
                    suppressed,
                    "request refused"
                ),
            }
        });
        let close = refusal.close || !connection.is_authenticated();
        refusal.into_answer(close)
    }

    /// The metrics text: the instruments, with the store's totals and the connections open
    /// read now; `None` if the store cannot be read.
    async fn metrics_text(&self) -> Option<String> {
        let totals = match self.read(|store| store.totals()).await {
            Ok(totals) => totals,
            Err(refusal) => {
                warn!(
                    detail = refusal.detail.as_deref(),
                    "the metrics could not read the store"
                );
                return None;
            }
        };
        Some(self.metrics.text(totals, self.connections.counts()))
    }

    /// Runs the read `operation` on the reading connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Refusal> {
        let reader = self.reader.clone();
        blocking(move || operation(&reader.lock().unwrap_or_else(PoisonError::into_inner)))
            .await?
            .map_err(Refusal::from)
    }

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

    /// Takes one request of `station`'s rate ([`Limits::request_rate_per_second_max`], with
    /// its burst), or refuses it (429) with the time until the next is allowed.
    fn within_rate(&self, station: &StationId) -> Result<(), Refusal> {
        within(
            &self.limiter,
            station,
            "request rate over the limit for this station",
        )
    }

    /// Takes one of the witness's writes for checkpoints of `author`'s logs, at the request
    /// rate but apart from its requests' budget, or refuses it (429).
    fn within_witness_rate(&self, author: &StationId) -> Result<(), Refusal> {
        within(
            &self.witness_limiter,
            author,
            "checkpoints of this station's logs to store over the witness's rate for it (apart \
             from the station's own requests)",
        )
    }

    fn quota(&self) -> Quota {
        Quota {
            items_max: self.limits.mailbox_items_max,
            bytes_max: self.limits.mailbox_size_max_bytes,
            share_items_max: self.limits.share_items_max(),
            share_bytes_max: self.limits.share_bytes_max(),
            sender_bytes_max: self.limits.sender_size_max_bytes,
            relay_bytes_max: self.limits.relay_size_max_bytes,
            disk_free_min_bytes: self.limits.disk_free_min_bytes,
        }
    }
}

fn router(relay: Arc<Relay>) -> Router {
    let mut router = Router::new();
    if relay.witness.is_some() {
        router = router
            .route(PATH_WITNESS_ADD_CHECKPOINT, post(witness::add_checkpoint))
            .route(
                &format!("{PATH_WITNESS}/{{origin_hash}}/checkpoint"),
                get(witness::checkpoint),
            );
    }
    router
        .route(PATH_HEALTH, get(requests::health))
        .route(PATH_PING, get(requests::ping))
        .route(
            &format!("{PATH_MAILBOXES}/{{recipient}}"),
            post(requests::deposit),
        )
        .route(PATH_MAILBOX, get(requests::fetch))
        .route(PATH_MAILBOX_DELETE, post(requests::delete))
        .fallback(requests::not_found)
        .method_not_allowed_fallback(requests::method_not_allowed)
        .with_state(relay)
}

/// What a relay serves besides its API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// Serve Prometheus metrics on this address (plain HTTP, `GET /metrics`).
    pub metrics: Option<SocketAddr>,
    /// Serve the witness API (`c2sp.org/tlog-witness`): cosign the checkpoints of admitted
    /// stations' link logs. Without it the witness's paths are unknown endpoints (404).
    pub witness: bool,
}

/// A running relay server. Dropping it stops it too, without the grace period.
pub struct RelayServer {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    id: StationId,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for RelayServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayServer")
            .field("local_addr", &self.local_addr)
            .field(
                "fingerprint",
                &format_args!("{}", self.id.key_fingerprint()),
            )
            .finish_non_exhaustive()
    }
}

impl RelayServer {
    /// Opens the relay in `home` and serves it on `listen` (port 0 picks a free port). Must be
    /// called inside a tokio runtime. Logs "relay listening" with the bound address.
    pub async fn start(home: &RelayHome, listen: SocketAddr) -> Result<Self, ServeError> {
        Self::start_with(home, listen, ServeOptions::default()).await
    }

    /// As [`Self::start`], and serves Prometheus metrics on `metrics` (plain HTTP,
    /// `GET /metrics`) if given. A metrics address that cannot be bound refuses the start.
    pub async fn start_with_metrics(
        home: &RelayHome,
        listen: SocketAddr,
        metrics: Option<SocketAddr>,
    ) -> Result<Self, ServeError> {
        let options = ServeOptions {
            metrics,
            ..ServeOptions::default()
        };
        Self::start_with(home, listen, options).await
    }

    /// As [`Self::start`], with what else to serve: metrics, the witness.
    pub async fn start_with(
        home: &RelayHome,
        listen: SocketAddr,
        options: ServeOptions,
    ) -> Result<Self, ServeError> {
        let ServeOptions { metrics, witness } = options;
        let config = home.config()?;
        let identity = home.identity()?;
        let store_home = home.clone();
        let (store, reader, admission) = tokio::task::spawn_blocking(move || {
            Ok::<_, HomeError>((
                store_home.store()?,
                store_home.store()?,
                store_home.store()?,
            ))
        })
        .await
        .map_err(|error| HomeError::Config(format!("opening the store failed: {error}")))??;
        let tls = parley_channels::tls::server_config(identity.signing_key(), &[ALPN_HTTP1])?;
        let open_files = raise_open_files_limit();
        let bounds = ConnectionBounds::under(open_files);
        if let Some(limit) = open_files.filter(|limit| *limit < OPEN_FILES_NEEDED) {
            warn!(
                open_files_limit = limit,
                needed = OPEN_FILES_NEEDED,
                connections_max = bounds.connections,
                unauthenticated_connections_max = bounds.unauthenticated,
                "the open-files limit is below what {CONNECTIONS_MAX} connections need, and the \
                 hard limit does not allow more: the relay serves fewer (raise the hard limit, \
                 e.g. LimitNOFILE= in a systemd unit)"
            );
        }
        let listener = bind(listen).map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
        let metrics_listener = match metrics {
            Some(metrics) => Some(parley_metrics::bind(&metrics.to_string())?),
            None => None,
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok());
        let limits = config.limits;
        let rate = RateQuota::per_second(nonzero(limits.request_rate_per_second_max))
            .allow_burst(nonzero(limits.request_burst_max));
        let (shutdown, shutdown_watch) = watch::channel(false);
        let store = Arc::new(Mutex::new(store));
        let writer = writer::Writer::start(store.clone()).map_err(ServeError::Writer)?;
        let witness = witness.then(|| Arc::new(WitnessKey::of(identity.clone())));
        let relay = Arc::new(Relay {
            id: identity.id(),
            witness: witness.clone(),
            limits,
            store,
            reader: Arc::new(Mutex::new(reader)),
            admission: Mutex::new(admission),
            writer,
            limiter: DefaultKeyedRateLimiter::keyed(rate),
            witness_limiter: DefaultKeyedRateLimiter::keyed(rate),
            mailboxes: Mutex::default(),
            connections: Connections::new(bounds.unauthenticated),
            bounds,
            slots: DepositSlots::new(),
            fetch_slots: Arc::default(),
            warnings: Mutex::new(LogLimit::new(WARNING_INTERVAL_MS)),
            metrics: RelayMetrics::new(),
            started: Instant::now(),
            shutdown: shutdown_watch.clone(),
        });
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let mut tasks = Vec::new();
        if let Some(listener) = metrics_listener {
            tasks.push(tokio::spawn(serve_metrics(
                listener,
                relay.clone(),
                shutdown_watch.clone(),
            )));
            if let Some(address) = metrics_addr {
                info!(metrics = %address, "serving metrics at http://{address}/metrics");
            }
        }
        tasks.extend([
            tokio::spawn(connections::accept_loop(
                listener,
                acceptor,
                router(relay.clone()),
                relay.clone(),
                shutdown_watch.clone(),
            )),
            tokio::spawn(warning_loop(relay.clone(), shutdown_watch.clone())),
            tokio::spawn(purge_loop(relay, shutdown_watch)),
        ]);
        info!(
            address = %local_addr,
            fingerprint = %identity.fingerprint(),
            name = %config.name,
            connections_max = bounds.connections,
            unauthenticated_connections_max = bounds.unauthenticated,
            open_files_limit = open_files.map_or_else(|| "unlimited".to_owned(), |l| l.to_string()),
            tls_handshake_timeout_ms = TLS_HANDSHAKE_TIMEOUT_MS,
            deposits_in_flight_max = DEPOSITS_IN_FLIGHT_MAX,
            deposits_in_flight_per_station_max = DEPOSITS_IN_FLIGHT_PER_STATION_MAX,
            witness = witness.as_ref().map(|key| key.name.as_str()),
            "relay listening"
        );
        Ok(Self {
            local_addr,
            metrics_addr,
            id: identity.id(),
            shutdown,
            tasks,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound metrics address, if metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `https://` URL of the bound address, for [`parley_channels::RelayClient::new`].
    pub fn url(&self) -> String {
        format!("https://{}", self.local_addr)
    }

    /// The relay's identity.
    pub fn relay_id(&self) -> StationId {
        self.id
    }

    /// Stops accepting, answers waiting fetches at once, gives open requests up to
    /// [`crate::limits::SHUTDOWN_GRACE_MS`] to finish, then closes every connection.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                error!("a relay task failed: {error}");
            }
        }
        info!(address = %self.local_addr, "relay stopped");
    }
}

impl Drop for RelayServer {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn nonzero(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

/// Serves the relay in `home` on `listen` (and what `options` asks for besides) until SIGINT or
/// SIGTERM, then shuts down gracefully.
pub async fn serve_until_signal(
    home: &RelayHome,
    listen: SocketAddr,
    options: ServeOptions,
) -> Result<(), ServeError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Signal)?;
    let server = RelayServer::start_with(home, listen, options).await?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.map_err(ServeError::Signal)?,
        _ = terminate.recv() => {}
    }
    info!("signal received; relay stopping");
    server.shutdown().await;
    Ok(())
}

/// Serves the metrics on `listener` until the relay shuts down.
async fn serve_metrics(
    listener: TcpListener,
    relay: Arc<Relay>,
    mut shutdown: watch::Receiver<bool>,
) {
    let scrape = move || {
        let relay = relay.clone();
        async move { relay.metrics_text().await }
    };
    let stop = async move {
        let _ = shutdown.wait_for(|stop| *stop).await;
    };
    parley_metrics::serve(listener, scrape, stop).await;
}

/// Logs, once each kind's [`WARNING_INTERVAL_MS`] has passed (checked every
/// [`WARNING_SUMMARY_CHECK_MS`]), how many of its warnings were counted but not logged, so a
/// flood that stops is still reported.
async fn warning_loop(relay: Arc<Relay>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_millis(WARNING_SUMMARY_CHECK_MS));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        let due = relay
            .warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush(relay.clock_ms());
        for (kind, suppressed) in due {
            warn!(
                ?kind,
                suppressed,
                "{suppressed} more warnings of this kind were not logged (at most one line per \
                 kind every {WARNING_INTERVAL_MS} ms)"
            );
        }
    }
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
            .db(move |store| store.purge(now_ms(), retention_ms, NONCE_KEEP_MS))
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
            Err(refusal) => warn!(
                reason = %refusal.reason,
                detail = refusal.detail.as_deref(),
                "purge failed; will retry"
            ),
        }
        relay.limiter.retain_recent();
        relay.witness_limiter.retain_recent();
    }
}

/// Takes one from `station`'s bucket of `limiter`, or refuses (429, saying `over`) with the
/// time until the next is allowed.
fn within(
    limiter: &DefaultKeyedRateLimiter<StationId>,
    station: &StationId,
    over: &'static str,
) -> Result<(), Refusal> {
    limiter.check_key(station).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        Refusal::retry_later(StatusCode::TOO_MANY_REQUESTS, over, wait_ms)
    })
}
