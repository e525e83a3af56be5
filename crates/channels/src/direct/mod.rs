//! The direct channel: QUIC between two stations that authenticate each other by pinned
//! Ed25519 identity keys, moving opaque length-prefixed frames.
//!
//! Each station presents a self-signed certificate made from its identity key. Names, issuers
//! and validity dates are ignored: the identity *is* the key. The client accepts exactly the key
//! it dialled for; the server accepts only keys in [`PinnedKeys`]. Both check that the peer
//! signed the TLS 1.3 handshake with that key, so presenting someone else's certificate is
//! useless. Session resumption is disabled, so every connection is verified from scratch.
//!
//! On a unidirectional stream a frame is a `u32` big-endian length followed by that many bytes,
//! at most [`FRAME_SIZE_MAX_BYTES`].

mod admission;
mod certs;
pub mod task;

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use parley_proto::{Fingerprint, StationId};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, TransportErrorCode, VarInt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, OtherError,
    PeerMisbehaved, SignatureScheme,
};
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinSet};
use tracing::warn;

use self::certs::*;
pub(crate) use self::certs::{ExpectedServerKey, TlsIdentity, crypto_provider};
use crate::log_limit::LogLimit;

/// ALPN protocol id.
pub const ALPN: &[u8] = b"parley/1";
/// Largest frame sent or accepted, in bytes: the protocol's one frame limit (the default of
/// [`DirectConfig::frame_size_max_bytes`]).
pub use parley_proto::limits::FRAME_SIZE_MAX_BYTES;
/// Size of the length prefix in front of every frame (bytes).
const FRAME_PREFIX_BYTES: usize = 4;
const _: () = assert!(
    FRAME_SIZE_MAX_BYTES <= u32::MAX as usize,
    "length must fit the prefix"
);

/// TLS server name sent when dialling; never checked, the pinned key is the identity.
const SERVER_NAME: &str = "parley";
/// Subject common name of our self-signed certificates; never checked.
const CERTIFICATE_SUBJECT: &str = "parley station";
/// Authenticated connections waiting for [`DirectEndpoint::accept`]; beyond, they are closed.
const ACCEPT_QUEUE_MAX: usize = 16;
/// Unidirectional streams a peer may have open at once on a connection it dialled (none on
/// one this station dialled: it reads only those it accepted).
const UNI_STREAMS_MAX: u32 = 16;
/// Bytes a peer may send on one stream ahead of what this station has read: 8 of the largest
/// frames (on a link of 600 ms round trip, about 850 KB/s on the one stream a peer sends on). quinn's default (1.25 MB per stream, with no bound for the connection)
/// let a peer make this station buffer data it never reads, such as data after a gap at
/// the start of each of its streams.
const STREAM_RECEIVE_WINDOW_BYTES: u32 = 8 * FRAME_SIZE_MAX_BYTES as u32;
/// Bytes a peer may send on all streams of one connection ahead of what this station has
/// read.
const CONNECTION_RECEIVE_WINDOW_BYTES: u32 = 4 * STREAM_RECEIVE_WINDOW_BYTES;
/// Application close code: an orderly close by this side.
const CLOSE_CODE_NORMAL: VarInt = VarInt::from_u32(0);
/// Application close code: authenticated, but the accept queue was full.
const CLOSE_CODE_BUSY: VarInt = VarInt::from_u32(1);
/// Application close code: the peer's identity failed the post-handshake check.
const CLOSE_CODE_IDENTITY: VarInt = VarInt::from_u32(2);
/// Stream stop code sent when the peer announced a frame over the limit.
const STOP_CODE_FRAME_TOO_LARGE: VarInt = VarInt::from_u32(1);

/// Set of pinned peer identity keys (raw 32-byte Ed25519 public keys), and the IP addresses
/// those peers are configured at; shared and updatable while running. Clones share the same
/// set.
#[derive(Clone, Default)]
pub struct PinnedKeys(Arc<RwLock<Pinned>>);

#[derive(Default)]
struct Pinned {
    keys: HashSet<[u8; 32]>,
    ips: HashSet<IpAddr>,
}

impl PinnedKeys {
    /// A set holding `keys`.
    pub fn new(keys: impl IntoIterator<Item = [u8; 32]>) -> Self {
        let pinned = Pinned {
            keys: keys.into_iter().collect(),
            ips: HashSet::new(),
        };
        Self(Arc::new(RwLock::new(pinned)))
    }

    /// Pins `key`; returns whether it was new. Applies to handshakes that start afterwards.
    pub fn insert(&self, key: [u8; 32]) -> bool {
        // A panic elsewhere cannot leave a HashSet half-inserted, so poisoning is harmless.
        let mut pinned = self.0.write().unwrap_or_else(PoisonError::into_inner);
        pinned.keys.insert(key)
    }

    /// Whether `key` is pinned.
    pub fn contains(&self, key: &[u8; 32]) -> bool {
        let pinned = self.0.read().unwrap_or_else(PoisonError::into_inner);
        pinned.keys.contains(key)
    }

    /// Records that a pinned peer is configured at `ip`. Under a handshake flood, handshakes
    /// from there (once their address is validated) may use the slots kept for peers and are
    /// not held to the per-source limit, so a flood cannot lock a peer out.
    pub fn insert_peer_ip(&self, ip: IpAddr) {
        let mut pinned = self.0.write().unwrap_or_else(PoisonError::into_inner);
        pinned.ips.insert(ip.to_canonical());
    }

    /// Whether a pinned peer is configured at `ip`.
    pub fn is_peer_ip(&self, ip: IpAddr) -> bool {
        let pinned = self.0.read().unwrap_or_else(PoisonError::into_inner);
        pinned.ips.contains(&ip.to_canonical())
    }
}

impl fmt::Debug for PinnedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pinned = self.0.read().unwrap_or_else(PoisonError::into_inner);
        write!(
            f,
            "PinnedKeys({} keys, {} peer addresses)",
            pinned.keys.len(),
            pinned.ips.len()
        )
    }
}

/// QUIC timing of the direct channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectConfig {
    /// How often an idle connection sends a keep-alive; must be below `idle_timeout`.
    pub keep_alive_interval: Duration,
    /// A connection (or handshake) silent this long is considered lost.
    pub idle_timeout: Duration,
    /// Largest frame sent or accepted, in bytes. A station always uses the protocol's
    /// [`FRAME_SIZE_MAX_BYTES`]; only a test playing a hostile peer sets more, to send what a
    /// station must refuse.
    pub frame_size_max_bytes: usize,
    /// Longest an incoming handshake may take from its first packet, however lively: a client
    /// that keeps one going without finishing it would hold a place among the few handshakes
    /// run at once.
    pub handshake_timeout: Duration,
}

/// [`DirectConfig::handshake_timeout`] by default, in milliseconds: a handshake takes a few
/// round trips, well under a second on any link a station would use.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

impl Default for DirectConfig {
    fn default() -> Self {
        Self {
            keep_alive_interval: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(5),
            frame_size_max_bytes: FRAME_SIZE_MAX_BYTES,
            handshake_timeout: Duration::from_millis(HANDSHAKE_TIMEOUT_MS),
        }
    }
}

/// Why a direct-channel operation failed.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum DirectError {
    /// The identity key could not be turned into a TLS certificate (a local fault).
    #[error("could not make a TLS certificate from the identity key: {0}; nothing was bound")]
    Identity(String),
    /// The configuration was refused.
    #[error("invalid direct channel configuration: {0}; nothing was bound; fix it and retry")]
    Config(String),
    /// The UDP socket could not be bound.
    #[error("could not bind the direct channel to {addr}: {source}; is the port in use?")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's account.
        source: std::io::Error,
    },
    /// A local socket operation failed.
    #[error("local socket error: {0}")]
    Io(#[source] std::io::Error),
    /// Dialling could not start (bad address, endpoint closed).
    #[error("could not start dialling: {0}; nothing was sent")]
    Connect(#[source] quinn::ConnectError),
    /// The QUIC/TLS handshake failed for a reason other than the identity checks below.
    #[error(
        "handshake failed: {0}; nothing was sent; check the peer is a reachable parley station"
    )]
    Handshake(#[source] quinn::ConnectionError),
    /// An incoming handshake did not finish in time.
    #[error("the handshake did not finish within {ms} ms; connection dropped")]
    HandshakeTimedOut {
        /// The limit, [`DirectConfig::handshake_timeout`].
        ms: u128,
    },
    /// The peer refused our identity: our key is not pinned there.
    #[error(
        "the peer refused this station's identity (not pinned there); nothing was sent; \
         ask its operator to pin our fingerprint"
    )]
    RefusedByPeer,
    /// An incoming peer presented an identity that is not pinned here.
    #[error("peer identity with key fingerprint {fingerprint} is not pinned; connection refused")]
    NotPinned {
        /// Fingerprint of the identity presented.
        fingerprint: Fingerprint,
    },
    /// The station dialled presented another identity than the one expected.
    #[error(
        "expected the station with key fingerprint {expected_fingerprint} but the peer's is \
         {presented_fingerprint} (status --json shows each peer's key_fingerprint); nothing was \
         sent; check the address, or re-verify the peer's fingerprint out of band"
    )]
    WrongPeer {
        /// Fingerprint of the identity we dialled for.
        expected_fingerprint: Fingerprint,
        /// Fingerprint of the identity the peer proved.
        presented_fingerprint: Fingerprint,
    },
    /// The peer's certificate did not carry a usable Ed25519 identity key.
    #[error("the peer's certificate is unusable: {0}; connection closed")]
    InvalidPeerIdentity(&'static str),
    /// A frame is over [`FRAME_SIZE_MAX_BYTES`]; it was not sent, or not read past its length.
    #[error("frame of {len} bytes is over the limit of {max} bytes; it was not transferred")]
    FrameTooLarge {
        /// The frame's length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The stream ended inside a frame; the partial frame was discarded.
    #[error("stream ended inside a frame after {received_bytes} of {expected_bytes} bytes")]
    TruncatedFrame {
        /// Bytes of the frame (prefix included) that arrived.
        received_bytes: usize,
        /// Bytes that were due (prefix included, or just the prefix if it was incomplete).
        expected_bytes: usize,
    },
    /// The connection ended; the text says why (timeout, closed by the peer or locally, …).
    #[error("the connection ended: {0}")]
    ConnectionLost(String),
    /// Writing to a stream failed (the peer stopped it, or it was already finished).
    #[error("could not write to the stream: {0}")]
    StreamWrite(#[source] quinn::WriteError),
    /// Reading from a stream failed (the peer reset it, or it was already stopped).
    #[error("could not read from the stream: {0}")]
    StreamRead(#[source] quinn::ReadError),
    /// The stream was already finished or reset.
    #[error("the stream is already finished or reset")]
    StreamClosed,
}

/// A QUIC endpoint that both dials and accepts direct-channel connections.
///
/// Must be created inside a tokio runtime. Incoming handshakes run concurrently in a background
/// task, admitted as [`admission`] says (address validation under load, per-source and total
/// bounds, slots kept for pinned peers); dropping the endpoint stops accepting but leaves
/// established connections open.
pub struct DirectEndpoint {
    endpoint: quinn::Endpoint,
    tls: TlsIdentity,
    /// The transport of connections this station dials.
    dialling: Arc<quinn::TransportConfig>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<DirectConnection>>,
    rejected: Arc<AtomicU64>,
    acceptor: tokio::task::AbortHandle,
    frame_size_max_bytes: usize,
}

/// Binds the UDP socket and the QUIC endpoint. The stateless-reset key is derived from the
/// identity key, so after a restart this station answers packets of its previous incarnation's
/// connections with a reset the peer recognises: the peer learns at once that its connection
/// is gone instead of waiting for the idle timeout.
fn bind_endpoint(
    identity: &SigningKey,
    server: quinn::ServerConfig,
    listen: SocketAddr,
) -> Result<quinn::Endpoint, DirectError> {
    let bind_error = |source| DirectError::Bind {
        addr: listen,
        source,
    };
    let seed = ring::digest::digest(
        &ring::digest::SHA256,
        &[
            b"parley quic stateless reset v1".as_slice(),
            identity.as_bytes(),
        ]
        .concat(),
    );
    let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_ref());
    let endpoint_config = quinn::EndpointConfig::new(Arc::new(reset_key));
    let socket = std::net::UdpSocket::bind(listen).map_err(bind_error)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind_error(std::io::Error::other("no async runtime found")))?;
    quinn::Endpoint::new(endpoint_config, Some(server), socket, runtime).map_err(bind_error)
}

impl DirectEndpoint {
    /// Binds a QUIC endpoint (server + client) on `listen` with a self-signed certificate made
    /// (rcgen) from `identity`. Clients are accepted only if their key is in `pinned`.
    pub fn bind(
        identity: &SigningKey,
        listen: SocketAddr,
        pinned: PinnedKeys,
        config: &DirectConfig,
    ) -> Result<Self, DirectError> {
        let tls = TlsIdentity::new(identity)?;
        let transport = Arc::new(transport_config(config, false)?);
        let dialling = Arc::new(transport_config(config, true)?);
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(tls.server_config(pinned.clone())?)
                .map_err(|error| DirectError::Config(error.to_string()))?,
        ));
        server.transport_config(transport);
        let endpoint = bind_endpoint(identity, server, listen)?;
        let (queue, incoming) = mpsc::channel(ACCEPT_QUEUE_MAX);
        let rejected = Arc::new(AtomicU64::new(0));
        let frame_size_max_bytes = config.frame_size_max_bytes;
        let acceptor = tokio::spawn(run_acceptor(
            endpoint.clone(),
            pinned,
            rejected.clone(),
            queue,
            (frame_size_max_bytes, config.handshake_timeout),
        ))
        .abort_handle();
        Ok(Self {
            endpoint,
            tls,
            dialling,
            incoming: tokio::sync::Mutex::new(incoming),
            rejected,
            acceptor,
            frame_size_max_bytes,
        })
    }

    /// The address the endpoint is bound to.
    pub fn local_addr(&self) -> Result<SocketAddr, DirectError> {
        self.endpoint.local_addr().map_err(DirectError::Io)
    }

    /// Dials `addr` and requires the server's certificate key to equal `peer` exactly.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        peer: [u8; 32],
    ) -> Result<DirectConnection, DirectError> {
        let verifier = Arc::new(ExpectedServerKey::new(peer, &self.tls.provider));
        let mut client = quinn::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(self.tls.client_config(verifier.clone())?)
                .map_err(|error| DirectError::Config(error.to_string()))?,
        ));
        client.transport_config(self.dialling.clone());
        let connecting = self
            .endpoint
            .connect_with(client, addr, SERVER_NAME)
            .map_err(DirectError::Connect)?;
        let connection = connecting.await.map_err(|error| verifier.explain(error))?;
        // Check again on the far side of the TLS boundary, from what the connection recorded.
        let presented = checked_peer_key(&connection)?;
        if presented != peer {
            connection.close(CLOSE_CODE_IDENTITY, b"wrong identity");
            return Err(wrong_peer(peer, presented));
        }
        Ok(DirectConnection {
            connection,
            peer,
            frame_size_max_bytes: self.frame_size_max_bytes,
        })
    }

    /// Next authenticated incoming connection (client key in [`PinnedKeys`]); `None` once the
    /// endpoint is closed. Handshake failures are logged with `tracing::warn` and counted (see
    /// [`Self::rejected_handshakes`]), not returned. Cancel-safe.
    pub async fn accept(&self) -> Option<DirectConnection> {
        let mut incoming = self.incoming.lock().await;
        loop {
            let connection = incoming.recv().await?;
            // Skip connections that ended while queued (peer left, or we are closing).
            if connection.connection.close_reason().is_none() {
                return Some(connection);
            }
        }
    }

    /// Incoming handshakes refused so far: not pinned, bad certificate, timed out, or too many
    /// in flight at once.
    pub fn rejected_handshakes(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Closes every connection, dialled or accepted, and stops accepting; [`Self::accept`]
    /// then yields `None`.
    pub fn close(&self) {
        self.endpoint.close(CLOSE_CODE_NORMAL, b"endpoint closed");
    }
}

impl Drop for DirectEndpoint {
    fn drop(&mut self) {
        // The acceptor holds an endpoint handle; without this it would listen forever.
        self.acceptor.abort();
        // Established connections live on; new ones are no longer answered.
        self.endpoint.set_server_config(None);
    }
}

impl fmt::Debug for DirectEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectEndpoint")
            .field("local_addr", &self.endpoint.local_addr().ok())
            .field("rejected_handshakes", &self.rejected_handshakes())
            .finish_non_exhaustive()
    }
}

/// Accepts incoming connections until the endpoint closes, running handshakes concurrently and
/// queueing the authenticated ones for [`DirectEndpoint::accept`].
async fn run_acceptor(
    endpoint: quinn::Endpoint,
    pinned: PinnedKeys,
    rejected: Arc<AtomicU64>,
    queue: mpsc::Sender<DirectConnection>,
    limits: (usize, Duration),
) {
    let mut handshakes = JoinSet::new();
    let mut table = admission::Table::default();
    let mut log = HandshakeLog::new();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let remote = incoming.remote_address();
                let arrival = admission::Arrival {
                    ip: remote.ip().to_canonical(),
                    validated: incoming.remote_address_validated(),
                    may_retry: incoming.may_retry(),
                    peer_ip: pinned.is_peer_ip(remote.ip()),
                };
                match table.decide(&arrival) {
                    admission::Decision::Admit => {
                        let task = handshakes
                            .spawn(authenticate(incoming, pinned.clone(), limits));
                        table.admitted(task.id(), &arrival);
                    }
                    admission::Decision::Retry => {
                        log.note(admission::RETRY_LOG_REASON, &remote);
                        // Stateless: costs one packet and no slot. An attacker that cannot
                        // receive at its claimed address never comes back.
                        if let Err(error) = incoming.retry() {
                            error.into_incoming().ignore();
                        }
                    }
                    admission::Decision::Refuse(reason) => {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        log.note(reason, &remote);
                        incoming.refuse();
                    }
                }
            }
            Some(joined) = handshakes.join_next_with_id() => {
                let id = match &joined {
                    Ok((id, _)) => *id,
                    Err(error) => error.id(),
                };
                table.finished(id);
                deliver(joined.map(|(_, done)| done), &rejected, &queue, &mut log);
            }
        }
    }
    // Dropping `handshakes` aborts the pending ones; dropping `queue` ends `accept`.
}

/// Once per this long, at most, a kind of handshake refusal is logged, in milliseconds.
const HANDSHAKE_LOG_INTERVAL_MS: u64 = 10_000;

/// Warnings about refused handshakes, at most one per reason per
/// [`HANDSHAKE_LOG_INTERVAL_MS`]: a flood must not flood the log too.
struct HandshakeLog(LogLimit<&'static str>);

impl HandshakeLog {
    fn new() -> Self {
        Self(LogLimit::new(HANDSHAKE_LOG_INTERVAL_MS))
    }

    fn note(&mut self, reason: &'static str, remote: &SocketAddr) {
        self.note_with(reason, remote, &"");
    }

    fn note_with(&mut self, reason: &'static str, remote: &SocketAddr, detail: &dyn fmt::Display) {
        if let Some(held_back) = self.0.admit_now(reason) {
            warn!(%remote, held_back, "{reason}{detail}");
        }
    }
}

/// What `handshake` gives, or [`DirectError::HandshakeTimedOut`] once `timeout` has passed
/// (dropping an unfinished handshake abandons its connection).
async fn finished_within<T>(
    timeout: Duration,
    handshake: impl Future<Output = Result<T, quinn::ConnectionError>>,
) -> Result<T, DirectError> {
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(DirectError::HandshakeTimedOut {
            ms: timeout.as_millis(),
        }),
        Ok(result) => result.map_err(DirectError::Handshake),
    }
}

/// Completes one incoming handshake within its time (`limits`: the frame size limit and the
/// handshake timeout) and checks the client's identity.
async fn authenticate(
    incoming: quinn::Incoming,
    pinned: PinnedKeys,
    (frame_size_max_bytes, handshake_timeout): (usize, Duration),
) -> (SocketAddr, Result<DirectConnection, DirectError>) {
    let remote = incoming.remote_address();
    let result = match finished_within(handshake_timeout, incoming.into_future()).await {
        Err(error) => Err(error),
        Ok(connection) => match checked_peer_key(&connection) {
            Err(error) => Err(error),
            Ok(peer) if !pinned.contains(&peer) => {
                connection.close(CLOSE_CODE_IDENTITY, b"not pinned");
                Err(DirectError::NotPinned {
                    fingerprint: StationId(peer).key_fingerprint(),
                })
            }
            Ok(peer) => Ok(DirectConnection {
                connection,
                peer,
                frame_size_max_bytes,
            }),
        },
    };
    (remote, result)
}

/// Hands a finished handshake to the accept queue, or logs and counts its failure.
fn deliver(
    joined: Result<(SocketAddr, Result<DirectConnection, DirectError>), JoinError>,
    rejected: &AtomicU64,
    queue: &mpsc::Sender<DirectConnection>,
    log: &mut HandshakeLog,
) {
    match joined {
        Err(error) => {
            rejected.fetch_add(1, Ordering::Relaxed);
            warn!("incoming handshake task failed: {error}");
        }
        Ok((remote, Err(error))) => {
            rejected.fetch_add(1, Ordering::Relaxed);
            let reason = match error {
                DirectError::NotPinned { .. } => "refused incoming connection: ",
                DirectError::InvalidPeerIdentity(_) => "refused incoming connection: ",
                _ => "incoming handshake failed: ",
            };
            log.note_with(reason, &remote, &error);
        }
        Ok((remote, Ok(connection))) => {
            if let Err(full_or_closed) = queue.try_send(connection) {
                log.note(
                    "closing authenticated connection: accept queue full or closed",
                    &remote,
                );
                full_or_closed
                    .into_inner()
                    .connection
                    .close(CLOSE_CODE_BUSY, b"busy");
            }
        }
    }
}

/// An authenticated direct-channel connection. Clones share the connection.
#[derive(Clone)]
pub struct DirectConnection {
    connection: quinn::Connection,
    peer: [u8; 32],
    frame_size_max_bytes: usize,
}

impl DirectConnection {
    /// The authenticated peer identity key.
    pub fn peer(&self) -> [u8; 32] {
        self.peer
    }

    /// Current round-trip time estimate.
    pub fn rtt(&self) -> Duration {
        self.connection.rtt()
    }

    /// The peer's current UDP address.
    pub fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// Opens one unidirectional stream for sending frames. The peer learns of it (and its
    /// [`Self::accept_receiver`] returns) when the first frame is sent.
    pub async fn open_sender(&self) -> Result<FrameSender, DirectError> {
        let stream = self.connection.open_uni().await.map_err(lost)?;
        Ok(FrameSender {
            stream,
            frame_size_max_bytes: self.frame_size_max_bytes,
        })
    }

    /// Accepts the next unidirectional stream of frames from the peer.
    pub async fn accept_receiver(&self) -> Result<FrameReceiver, DirectError> {
        let stream = self.connection.accept_uni().await.map_err(lost)?;
        Ok(FrameReceiver {
            stream,
            pending: Vec::new(),
            frame_size_max_bytes: self.frame_size_max_bytes,
        })
    }

    /// Resolves when the connection ends, with why.
    pub async fn closed(&self) -> DirectError {
        lost(self.connection.closed().await)
    }

    /// Closes the connection at once; unsent and unacknowledged data is abandoned.
    pub fn close(&self) {
        self.connection.close(CLOSE_CODE_NORMAL, b"closed");
    }
}

impl fmt::Debug for DirectConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectConnection")
            .field("peer", &StationId(self.peer))
            .field("remote_address", &self.remote_address())
            .finish()
    }
}

/// Sends frames on one unidirectional stream. Dropping it finishes the stream.
#[derive(Debug)]
pub struct FrameSender {
    stream: quinn::SendStream,
    frame_size_max_bytes: usize,
}

impl FrameSender {
    /// Sends `frame` as a `u32` big-endian length then its bytes; refuses frames over the
    /// endpoint's frame limit without writing anything. Not cancel-safe: a send dropped part
    /// way leaves a partial frame, after which the stream must be abandoned.
    pub async fn send(&mut self, frame: &[u8]) -> Result<(), DirectError> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|_| frame.len() <= self.frame_size_max_bytes)
            .ok_or(DirectError::FrameTooLarge {
                len: frame.len(),
                max: self.frame_size_max_bytes,
            })?;
        self.stream
            .write_all(&len.to_be_bytes())
            .await
            .map_err(write_error)?;
        self.stream.write_all(frame).await.map_err(write_error)
    }

    /// Ends the stream cleanly: the peer's receiver yields `Ok(None)` after the last frame.
    pub fn finish(&mut self) -> Result<(), DirectError> {
        self.stream.finish().map_err(|_| DirectError::StreamClosed)
    }
}

/// Receives frames from one unidirectional stream.
#[derive(Debug)]
pub struct FrameReceiver {
    stream: quinn::RecvStream,
    /// Bytes of the frame being received so far, prefix included.
    pending: Vec<u8>,
    frame_size_max_bytes: usize,
}

impl FrameReceiver {
    /// The next frame; `Ok(None)` on a clean end of stream. A length over the endpoint's
    /// frame limit is an error, nothing past it is read and the stream is stopped.
    /// Cancel-safe: a partly received frame is kept for the next call.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, DirectError> {
        loop {
            let expected = self.expected_bytes()?;
            let missing = expected - self.pending.len();
            if missing == 0 {
                let mut frame = std::mem::take(&mut self.pending);
                frame.drain(..FRAME_PREFIX_BYTES);
                return Ok(Some(frame));
            }
            // Never ask for more than the current frame: nothing beyond it is read.
            match self
                .stream
                .read_chunk(missing, true)
                .await
                .map_err(read_error)?
            {
                Some(chunk) => self.pending.extend_from_slice(&chunk.bytes),
                None if self.pending.is_empty() => return Ok(None),
                None => {
                    return Err(DirectError::TruncatedFrame {
                        received_bytes: self.pending.len(),
                        expected_bytes: expected,
                    });
                }
            }
        }
    }

    /// Size of the frame being received, prefix included (just the prefix until it is read).
    fn expected_bytes(&mut self) -> Result<usize, DirectError> {
        let Some(prefix) = self.pending.first_chunk::<FRAME_PREFIX_BYTES>() else {
            return Ok(FRAME_PREFIX_BYTES);
        };
        let len = usize::try_from(u32::from_be_bytes(*prefix)).unwrap_or(usize::MAX);
        if len > self.frame_size_max_bytes {
            // Already stopped if this is a repeated call; that is fine.
            self.stream.stop(STOP_CODE_FRAME_TOO_LARGE).ok();
            return Err(DirectError::FrameTooLarge {
                len,
                max: self.frame_size_max_bytes,
            });
        }
        Ok(FRAME_PREFIX_BYTES + len)
    }
}

/// Maps the end of a connection to an error, recognising a refusal of our identity.
fn lost(error: ConnectionError) -> DirectError {
    if is_refusal(&error) {
        DirectError::RefusedByPeer
    } else {
        DirectError::ConnectionLost(error.to_string())
    }
}

/// Whether the peer closed with TLS `access_denied`, which its client verifier sends when our
/// key is not pinned there.
fn is_refusal(error: &ConnectionError) -> bool {
    let refused = TransportErrorCode::crypto(AlertDescription::AccessDenied.into());
    matches!(error, ConnectionError::ConnectionClosed(close) if close.error_code == refused)
}

fn write_error(error: quinn::WriteError) -> DirectError {
    match error {
        quinn::WriteError::ConnectionLost(error) => lost(error),
        error => DirectError::StreamWrite(error),
    }
}

fn read_error(error: quinn::ReadError) -> DirectError {
    match error {
        quinn::ReadError::ConnectionLost(error) => lost(error),
        error => DirectError::StreamRead(error),
    }
}

fn wrong_peer(expected: [u8; 32], presented: [u8; 32]) -> DirectError {
    DirectError::WrongPeer {
        expected_fingerprint: StationId(expected).key_fingerprint(),
        presented_fingerprint: StationId(presented).key_fingerprint(),
    }
}

/// The transport of connections, accepted or (`dialled`) dialled. On one this station dialled
/// the peer may open no stream: this station reads only the connections it accepted, so
/// whatever arrived on one it dialled would be buffered unread until the connection closed.
fn transport_config(
    config: &DirectConfig,
    dialled: bool,
) -> Result<quinn::TransportConfig, DirectError> {
    if config.keep_alive_interval.is_zero() || config.keep_alive_interval >= config.idle_timeout {
        return Err(DirectError::Config(format!(
            "keep-alive interval {:?} must be above zero and below the idle timeout {:?}",
            config.keep_alive_interval, config.idle_timeout
        )));
    }
    let idle_timeout = quinn::IdleTimeout::try_from(config.idle_timeout).map_err(|_| {
        DirectError::Config(format!(
            "idle timeout {:?} is too long",
            config.idle_timeout
        ))
    })?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(config.keep_alive_interval))
        .max_idle_timeout(Some(idle_timeout))
        .max_concurrent_bidi_streams(VarInt::from_u32(0))
        .max_concurrent_uni_streams(VarInt::from_u32(if dialled { 0 } else { UNI_STREAMS_MAX }))
        .stream_receive_window(VarInt::from_u32(STREAM_RECEIVE_WINDOW_BYTES))
        .receive_window(VarInt::from_u32(CONNECTION_RECEIVE_WINDOW_BYTES))
        // Nothing is sent as a datagram: none is taken in (quinn buffers 1.25 MB of them).
        .datagram_receive_buffer_size(None);
    Ok(transport)
}

#[cfg(test)]
mod tests;
