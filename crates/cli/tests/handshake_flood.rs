//! A stranger floods a station with QUIC handshakes it never finishes: a steady stream of
//! Initials from a client that never reads an answer, so each one would hold a handshake slot
//! for as long as it keeps retransmitting. A pinned peer that restarts during the flood must
//! still get through, and the flood must not flood the log.

mod common;

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{await_channel, inbox_texts, paired};
use parley_testkit::harness::wait_until;
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// Unfinished handshakes the flood starts per second (the attack reported kept a station's
/// direct channel down at about 64).
const FLOOD_PER_SECOND: u64 = 100;
/// How long the flood runs before the peer restarts into it.
const FLOOD_LEAD: Duration = Duration::from_secs(3);
/// Longest the restarted peer may take to deliver a message through the flood, from its
/// start (a few seconds of normal; measured at about 10 ms after it came up). Without address
/// validation it never did while the flood lasted.
const THROUGH_FLOOD_MAX: Duration = Duration::from_secs(5);
/// Most handshake warnings the flooded station may log over the whole test.
const HANDSHAKE_LOG_LINES_MAX: usize = 10;

/// A UDP socket that sends but never receives: a client behind it sends its Initial, and
/// retransmits it, but never hears the answer (nor a Retry).
#[derive(Debug)]
struct DeafSocket(Arc<dyn AsyncUdpSocket>);

impl AsyncUdpSocket for DeafSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.0.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.0.try_send(transmit)
    }

    fn poll_recv(
        &self,
        _: &mut Context,
        _: &mut [IoSliceMut<'_>],
        _: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        Poll::Pending
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A QUIC client that speaks the direct channel's ALPN but never hears anything back.
fn deaf_client() -> quinn::Endpoint {
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(quinn::TokioRuntime);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let socket = runtime.wrap_udp_socket(socket).expect("wrap");
    let mut endpoint = quinn::Endpoint::new_with_abstract_socket(
        quinn::EndpointConfig::default(),
        None,
        Arc::new(DeafSocket(socket)),
        runtime,
    )
    .expect("endpoint");
    let provider = Arc::new(quinn::rustls::crypto::ring::default_provider());
    let mut tls = quinn::rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&quinn::rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(quinn::rustls::RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![parley_channels::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS");
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(Duration::from_secs(60).try_into().unwrap()));
    client.transport_config(Arc::new(transport));
    endpoint.set_default_client_config(client);
    endpoint
}

/// Starts handshakes at `target`, [`FLOOD_PER_SECOND`] of them a second, until `stop`,
/// counting them in `started`.
fn flood(target: SocketAddr, stop: Arc<AtomicBool>, started: Arc<AtomicU64>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = deaf_client();
        let mut pending = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / FLOOD_PER_SECOND));
        while !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            // Kept, never awaited: dropping it would close the handshake politely.
            pending.push(client.connect(target, "parley").expect("connect"));
            started.fetch_add(1, Ordering::Relaxed);
        }
        drop(pending);
        client.wait_idle().await;
    });
}

/// Lines of `log` about handshakes.
fn handshake_lines(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("handshake") || line.contains("refused connection"))
        .count()
}

/// A flood running on its own thread.
struct Flood {
    stop: Arc<AtomicBool>,
    started: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Flood {
    fn start(target: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicU64::new(0));
        let thread = std::thread::spawn({
            let (stop, started) = (stop.clone(), started.clone());
            move || flood(target, stop, started)
        });
        Self {
            stop,
            started,
            thread,
        }
    }

    /// Stops the flood; returns how many handshakes it started.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("flooder");
        self.started.load(Ordering::Relaxed)
    }
}

#[test]
fn a_restarted_peer_gets_through_a_flood_of_unfinished_handshakes() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_channel(&alpha, "Bravo", "direct", "up");
    // Normal: how long a restarted Alpha takes to deliver with no flood.
    alpha.kill9().unwrap();
    alpha.start().unwrap();
    let restarted = Instant::now();
    alpha.ok(&["send", "Bravo", "before the flood"]).unwrap();
    let normally = wait_until(THROUGH_FLOOD_MAX, || {
        inbox_texts(&bravo, "Alpha").contains(&"before the flood".to_owned())
    });
    let normal = restarted.elapsed();
    assert!(normally, "Alpha delivers after a restart with no flood");

    let flood = Flood::start(bravo.listen);
    std::thread::sleep(FLOOD_LEAD);
    // Alpha comes back with no connection: it must make a new handshake with Bravo.
    alpha.kill9().unwrap();
    alpha.start().unwrap();
    let restarted = Instant::now();
    alpha.ok(&["send", "Bravo", "through the flood"]).unwrap();
    let through = wait_until(THROUGH_FLOOD_MAX, || {
        inbox_texts(&bravo, "Alpha").contains(&"through the flood".to_owned())
    });
    let took = restarted.elapsed();
    let started = flood.stop();
    let log = std::fs::read_to_string(bravo.home.join("daemon-1.log")).unwrap();
    let lines = handshake_lines(&log);
    eprintln!(
        "flood of {started} unfinished handshakes; the restarted peer delivered in {took:?} \
         (with no flood: {normal:?}); {lines} handshake log lines"
    );
    assert!(
        through,
        "Alpha's message did not get through the flood in {THROUGH_FLOOD_MAX:?}"
    );
    assert!(
        started >= FLOOD_PER_SECOND * FLOOD_LEAD.as_secs(),
        "the flood ran: {started}"
    );
    assert!(
        lines <= HANDSHAKE_LOG_LINES_MAX,
        "{lines} handshake log lines: the flood floods the log"
    );
}
