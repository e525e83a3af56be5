//! Connections: at most [`ConnectionBounds::connections`](ConnectionBounds::connections)
//! open (by default [`CONNECTIONS_MAX`](crate::limits::CONNECTIONS_MAX)), of which at most
//! [`ConnectionBounds::unauthenticated`](ConnectionBounds::unauthenticated) (by default
//! [`UNAUTHENTICATED_CONNECTIONS_MAX`](crate::limits::UNAUTHENTICATED_CONNECTIONS_MAX)) have not
//! yet carried an authenticated request. A connection stops counting as unauthenticated when a
//! request on it passes authentication (for at most [`CONNECTIONS_PER_STATION_MAX`] connections per
//! station). When a new connection would exceed the unauthenticated bound, one is closed at once to
//! make room: the oldest of the origin holding the most. So connections that never authenticate
//! (idle TCP, slow TLS handshakes, headers that never end) cannot keep the relay from accepting,
//! and a crowd from one origin closes its own connections first.
//!
//! [`ConnectionTable`] decides, free of I/O; [`Connections`] carries out its decisions; the
//! accept loop runs each connection until it ends or is closed. How many connections the relay
//! serves follows from its open-files limit ([`ConnectionBounds`]), which it raises at start
//! ([`raise_open_files_limit`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use parley_proto::StationId;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;
use tracing::{debug, warn};

use super::Relay;
use super::metrics::Endpoint;
use super::warnings::Warning;
use crate::limits::{
    CONNECTIONS_MAX, CONNECTIONS_PER_STATION_MAX, HEADER_READ_TIMEOUT_MS, LISTEN_BACKLOG_MAX,
    OPEN_FILES_BESIDES_CONNECTIONS, REQUEST_HEAD_SIZE_MAX_BYTES, REQUEST_HEADERS_MAX,
    SHUTDOWN_GRACE_MS, TLS_HANDSHAKE_TIMEOUT_MS, UNAUTHENTICATED_CONNECTIONS_MAX,
};

/// Where connections come from, for choosing which to close: an IPv4 address, or the /64
/// prefix of an IPv6 address (one host usually holds a whole /64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Origin {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 address.
    V6([u8; 8]),
}

impl From<IpAddr> for Origin {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Origin::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Origin::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&v6.octets()[..8]);
                    Origin::V6(prefix)
                }
            },
        }
    }
}

/// Which connections are open and which have authenticated. Free of I/O.
#[derive(Debug)]
pub(crate) struct ConnectionTable {
    unauthenticated_max: usize,
    next_id: u64,
    /// Connections that have not authenticated, by id: ids grow, so the first is the oldest.
    unauthenticated: BTreeMap<u64, Origin>,
    /// Authenticated connections and their station.
    authenticated: BTreeMap<u64, StationId>,
    /// Authenticated connections per station; a station with none has no entry.
    per_station: BTreeMap<StationId, usize>,
}

impl ConnectionTable {
    /// A table allowing `unauthenticated_max` unauthenticated connections.
    pub(crate) fn new(unauthenticated_max: usize) -> Self {
        assert!(unauthenticated_max > 0, "room for at least one connection");
        Self {
            unauthenticated_max,
            next_id: 0,
            unauthenticated: BTreeMap::new(),
            authenticated: BTreeMap::new(),
            per_station: BTreeMap::new(),
        }
    }

    /// Registers a new connection from `origin`: its id, and the connection to close to make
    /// room for it, if one must be.
    pub(crate) fn open(&mut self, origin: Origin) -> (u64, Option<u64>) {
        let closed = if self.unauthenticated.len() >= self.unauthenticated_max {
            let victim = self.victim();
            if let Some(victim) = victim {
                self.unauthenticated.remove(&victim);
            }
            victim
        } else {
            None
        };
        let id = self.next_id;
        self.next_id += 1;
        self.unauthenticated.insert(id, origin);
        (id, closed)
    }

    /// The unauthenticated connection to close first: the oldest of the origin holding the
    /// most (of those tied, the one whose oldest is oldest).
    fn victim(&self) -> Option<u64> {
        let mut by_origin: BTreeMap<Origin, (usize, u64)> = BTreeMap::new();
        for (id, origin) in &self.unauthenticated {
            let entry = by_origin.entry(*origin).or_insert((0, *id));
            entry.0 += 1;
        }
        by_origin
            .values()
            .max_by_key(|(count, oldest)| (*count, std::cmp::Reverse(*oldest)))
            .map(|(_, oldest)| *oldest)
    }

    /// A request on connection `id` authenticated as `station`. The connection no longer
    /// counts as unauthenticated if the station holds fewer than
    /// [`CONNECTIONS_PER_STATION_MAX`] authenticated connections. Returns whether it is
    /// authenticated now.
    pub(crate) fn authenticate(&mut self, id: u64, station: &StationId) -> bool {
        if self.authenticated.contains_key(&id) {
            return true;
        }
        if !self.unauthenticated.contains_key(&id) {
            // Closed to make room while its request was being checked.
            return false;
        }
        let held = self.per_station.entry(*station).or_default();
        if *held >= CONNECTIONS_PER_STATION_MAX {
            return false;
        }
        *held += 1;
        self.unauthenticated.remove(&id);
        self.authenticated.insert(id, *station);
        true
    }

    /// Whether connection `id` is authenticated.
    pub(crate) fn is_authenticated(&self, id: u64) -> bool {
        self.authenticated.contains_key(&id)
    }

    /// Forgets connection `id`, which has ended.
    pub(crate) fn close(&mut self, id: u64) {
        self.unauthenticated.remove(&id);
        if let Some(station) = self.authenticated.remove(&id)
            && let Some(held) = self.per_station.get_mut(&station)
        {
            *held -= 1;
            if *held == 0 {
                self.per_station.remove(&station);
            }
        }
    }

    /// Connections open that have not authenticated.
    pub(crate) fn unauthenticated(&self) -> usize {
        self.unauthenticated.len()
    }

    /// Authenticated connections open.
    pub(crate) fn authenticated(&self) -> usize {
        self.authenticated.len()
    }
}

/// The table, and the signals that close connections.
#[derive(Debug)]
pub(crate) struct Connections {
    inner: Mutex<ConnectionsInner>,
}

#[derive(Debug)]
struct ConnectionsInner {
    table: ConnectionTable,
    /// Wakes a connection's task to close it, by id: one per open connection.
    closers: BTreeMap<u64, Arc<Notify>>,
}

/// One connection, as its requests see it (a request extension).
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle {
    id: u64,
    /// The client's address.
    pub(crate) remote: SocketAddr,
    connections: Arc<Connections>,
}

impl ConnectionHandle {
    /// A request on this connection authenticated as `station`.
    pub(crate) fn authenticate(&self, station: &StationId) {
        self.connections.lock().table.authenticate(self.id, station);
    }

    /// Whether a request on this connection has authenticated it.
    pub(crate) fn is_authenticated(&self) -> bool {
        self.connections.lock().table.is_authenticated(self.id)
    }
}

/// Forgets its connection when dropped, whatever ended it.
struct OpenConnection(ConnectionHandle);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut inner = self.0.connections.lock();
        inner.table.close(self.0.id);
        inner.closers.remove(&self.0.id);
    }
}

impl Connections {
    /// A table keeping at most `unauthenticated` connections that have not authenticated.
    pub(crate) fn new(unauthenticated: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(ConnectionsInner {
                table: ConnectionTable::new(unauthenticated),
                closers: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnectionsInner> {
        // Updates cannot panic halfway, so a poisoned lock holds a consistent table.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection from `remote`, closing another if the table says so.
    /// Returns the connection, the signal that closes it, and whether another was closed.
    fn open(self: &Arc<Self>, remote: SocketAddr) -> (OpenConnection, Arc<Notify>, bool) {
        let mut inner = self.lock();
        let (id, closed) = inner.table.open(Origin::from(remote.ip()));
        let closer = Arc::new(Notify::new());
        inner.closers.insert(id, closer.clone());
        let closed = closed.and_then(|victim| inner.closers.remove(&victim));
        // notify_one keeps the wake-up for a task that is not waiting yet.
        if let Some(victim) = &closed {
            victim.notify_one();
        }
        let handle = ConnectionHandle {
            id,
            remote,
            connections: self.clone(),
        };
        (OpenConnection(handle), closer, closed.is_some())
    }

    /// (unauthenticated, authenticated) connections open.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.table.unauthenticated(), inner.table.authenticated())
    }
}

/// Accepts TCP connections (at most
/// [`ConnectionBounds::connections`](ConnectionBounds::connections) at once), registers each
/// (closing an unauthenticated one if it must), runs the TLS handshake and serves HTTP/1.1 on it
/// until it ends, is closed to make room, or the relay shuts down.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
    relay: Arc<Relay>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(relay.bounds.connections));
    let graceful = GracefulShutdown::new();
    let mut tasks = JoinSet::new();
    while !*shutdown.borrow_and_update() {
        while tasks.try_join_next().is_some() {}
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
                    relay.warn(Warning::AcceptFailed, |suppressed| {
                        warn!(suppressed, "accepting a connection failed: {error}");
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let (open, closer, closed_another) = relay.connections.open(remote);
        if closed_another {
            relay.warn(Warning::ConnectionClosed, |suppressed| {
                let (unauthenticated, authenticated) = relay.connections.counts();
                warn!(
                    %remote,
                    unauthenticated,
                    authenticated,
                    suppressed,
                    "an unauthenticated connection was closed to make room for a new one"
                );
            });
        }
        let handle = open.0.clone();
        let serve = serve_connection(
            tcp,
            acceptor.clone(),
            (router.clone(), relay.clone()),
            handle,
            &graceful,
        );
        tasks.spawn(async move {
            let _slot = slot;
            let _open = open;
            tokio::select! {
                () = serve => {}
                () = closer.notified() => debug!(%remote, "connection closed to make room"),
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
    tasks.shutdown().await;
}

/// Runs the TLS handshake (within [`TLS_HANDSHAKE_TIMEOUT_MS`] of the accept, so a client
/// that never starts one is dropped too) and serves HTTP/1.1, each request carrying `handle`
/// and timed for the metrics.
fn serve_connection(
    tcp: tokio::net::TcpStream,
    acceptor: TlsAcceptor,
    (router, relay): (Router, Arc<Relay>),
    handle: ConnectionHandle,
    graceful: &GracefulShutdown,
) -> impl Future<Output = ()> + Send + 'static {
    let watcher = graceful.watcher();
    async move {
        let remote = handle.remote;
        let handshake = Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS);
        let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                debug!(%remote, "TLS handshake failed: {error}");
                return;
            }
            Err(_) => {
                debug!(%remote, "TLS handshake not done within {TLS_HANDSHAKE_TIMEOUT_MS} ms");
                return;
            }
        };
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(handle.clone());
            let endpoint = Endpoint::of(request.method(), request.uri().path());
            let started = Instant::now();
            // A router is always ready: no need to poll it first.
            let answered = router.clone().call(request);
            let relay = relay.clone();
            async move {
                let response = answered.await;
                let seconds = started.elapsed().as_secs_f64();
                relay.metrics.request_done(endpoint, seconds);
                response
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(HEADER_READ_TIMEOUT_MS))
            .max_headers(REQUEST_HEADERS_MAX)
            .max_buf_size(REQUEST_HEAD_SIZE_MAX_BYTES)
            .serve_connection(TokioIo::new(tls), service);
        if let Err(error) = watcher.watch(connection).await {
            debug!(%remote, "connection ended with an error: {error}");
        }
    }
}

/// The open-files limit [`CONNECTIONS_MAX`] needs: the connections and
/// [`OPEN_FILES_BESIDES_CONNECTIONS`].
pub const OPEN_FILES_NEEDED: u64 = CONNECTIONS_MAX as u64 + OPEN_FILES_BESIDES_CONNECTIONS;

/// Raises this process's soft limit on open files to [`OPEN_FILES_NEEDED`], within the hard
/// limit, if it is lower (systems commonly start processes at 1,024). Returns the soft limit
/// now in force, `None` for unlimited.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    if current >= OPEN_FILES_NEEDED {
        return Some(current);
    }
    let wanted = limit
        .maximum
        .map_or(OPEN_FILES_NEEDED, |hard| hard.min(OPEN_FILES_NEEDED));
    let raised = Rlimit {
        current: Some(wanted),
        maximum: limit.maximum,
    };
    if wanted > current && setrlimit(Resource::Nofile, raised).is_ok() {
        Some(wanted)
    } else {
        Some(current)
    }
}

/// Fewest connections the relay serves whatever its open-files limit.
pub const CONNECTIONS_MIN: usize = 64;

/// The connections the relay serves at once, and of them those not yet authenticated:
/// [`CONNECTIONS_MAX`] and [`UNAUTHENTICATED_CONNECTIONS_MAX`], or, under an open-files limit
/// too low for them, what the limit leaves beside [`OPEN_FILES_BESIDES_CONNECTIONS`] and a
/// quarter of that unauthenticated: so connections that never authenticate can never take
/// every file descriptor (accepting fails before the table could close one of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionBounds {
    /// Connections at once.
    pub connections: usize,
    /// Of them, not yet authenticated.
    pub unauthenticated: usize,
}

impl ConnectionBounds {
    /// The bounds under `open_files` (`None`: unlimited).
    pub fn under(open_files: Option<u64>) -> Self {
        let room = open_files.map_or(CONNECTIONS_MAX, |limit| {
            usize::try_from(limit.saturating_sub(OPEN_FILES_BESIDES_CONNECTIONS))
                .unwrap_or(usize::MAX)
        });
        let connections = room.clamp(CONNECTIONS_MIN, CONNECTIONS_MAX);
        Self {
            connections,
            unauthenticated: UNAUTHENTICATED_CONNECTIONS_MAX.min(connections / 4),
        }
    }
}

/// A listening socket on `listen` with a backlog of [`LISTEN_BACKLOG_MAX`].
pub(super) fn bind(listen: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if listen.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std and tokio do: a restarted relay can bind again at once.
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(LISTEN_BACKLOG_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parley_proto::Identity;

    const A: Origin = Origin::V4([192, 0, 2, 1]);
    const B: Origin = Origin::V4([192, 0, 2, 2]);
    const C: Origin = Origin::V6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1]);

    fn station(seed: u8) -> StationId {
        Identity::from_secret(&[seed; 32]).id()
    }

    /// Opens connections from `origins` in order into a table of `max`; returns the table and,
    /// for each open, the id it got and the id it closed.
    fn check(max: usize, origins: &[Origin], expect_closed: &[Option<u64>]) -> ConnectionTable {
        let mut table = ConnectionTable::new(max);
        let closed: Vec<Option<u64>> = origins
            .iter()
            .enumerate()
            .map(|(n, origin)| {
                let (id, closed) = table.open(*origin);
                assert_eq!(id, n as u64);
                closed
            })
            .collect();
        assert_eq!(closed, expect_closed);
        assert!(table.unauthenticated() <= max);
        table
    }

    #[test]
    fn up_to_the_bound_nothing_is_closed_and_past_it_one_is() {
        check(3, &[A, B, C], &[None, None, None]);
        // One more: the oldest of the origin holding the most (A holds two).
        check(3, &[A, B, A, C], &[None, None, None, Some(0)]);
        // All tied: the oldest overall.
        check(3, &[B, A, C, A], &[None, None, None, Some(0)]);
        // A crowd from one origin closes its own first, never the others'.
        let mut origins = vec![B, C];
        origins.extend([A; 10]);
        let mut expect = vec![None; 5];
        expect.extend((2..9).map(Some));
        let table = check(5, &origins, &expect);
        assert_eq!(table.unauthenticated(), 5);
        assert!(table.unauthenticated.contains_key(&0) && table.unauthenticated.contains_key(&1));
    }

    #[test]
    fn authenticated_connections_are_never_closed_to_make_room() {
        let mut table = ConnectionTable::new(2);
        let (first, _) = table.open(A);
        assert!(table.authenticate(first, &station(1)));
        assert!(table.is_authenticated(first));
        assert!(table.authenticate(first, &station(1)), "a second request");
        let (_, closed) = table.open(A);
        assert_eq!(closed, None);
        let (_, closed) = table.open(A);
        assert_eq!(closed, None, "two unauthenticated, within the bound");
        let (_, closed) = table.open(A);
        assert_eq!(
            closed,
            Some(1),
            "the oldest unauthenticated, not the authenticated one"
        );
        assert_eq!((table.unauthenticated(), table.authenticated()), (2, 1));
        // A connection closed to make room cannot authenticate afterwards.
        assert!(!table.authenticate(1, &station(1)));
        table.close(first);
        assert_eq!((table.unauthenticated(), table.authenticated()), (2, 0));
        assert!(table.per_station.is_empty());
    }

    #[test]
    fn a_station_protects_at_most_its_bound_of_connections() {
        let mut table = ConnectionTable::new(CONNECTIONS_PER_STATION_MAX * 2);
        let ids: Vec<u64> = (0..=CONNECTIONS_PER_STATION_MAX)
            .map(|_| table.open(A).0)
            .collect();
        for id in &ids[..CONNECTIONS_PER_STATION_MAX] {
            assert!(table.authenticate(*id, &station(1)));
        }
        let last = ids[CONNECTIONS_PER_STATION_MAX];
        assert!(!table.authenticate(last, &station(1)), "one over the bound");
        assert!(!table.is_authenticated(last));
        assert!(table.authenticate(last, &station(2)), "another station's");
        table.close(ids[0]);
        let (next, _) = table.open(A);
        assert!(table.authenticate(next, &station(1)), "room again");
    }

    #[test]
    fn origins_group_ipv6_by_prefix_and_unmap_ipv4() {
        let origin = |text: &str| Origin::from(text.parse::<IpAddr>().expect("address"));
        assert_eq!(origin("2001:db8:0:1::1"), origin("2001:db8:0:1:ffff::2"));
        assert_ne!(origin("2001:db8:0:1::1"), origin("2001:db8:0:2::1"));
        assert_eq!(origin("::ffff:192.0.2.1"), origin("192.0.2.1"));
        assert_ne!(origin("192.0.2.1"), origin("192.0.2.2"));
    }
}
