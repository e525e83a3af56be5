//! Shared test harness: a real relay (real TLS on 127.0.0.1, real SQLite in a temporary
//! directory) with real Ed25519 stations, genuine signed frames, and a raw HTTP client for
//! requests a well-behaved client would never send.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parley_channels::{RelayClient, RelayError};
use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE, TAG_RECEIPT};
use parley_proto::receipt::Receipt;
use parley_proto::seal::{ENCAPSULATED_KEY_BYTES, EpochSecret, Sealed};
use parley_proto::{ContactCard, EntryId, EpochKeyId, Identity, LinkId, StationId};
use parley_relay::server::now_ms;
use parley_relay::store::{MailboxSize, Store};
use parley_relay::{Limits, RelayHome, RelayServer, ServeOptions};
use parley_relay_wire::auth::{NONCE_BYTES, RequestAuth};
use parley_relay_wire::wire;
use rand_core::SeedableRng as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Longest any single step of a test may take on localhost.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Fails the test if `step` takes longer than [`STEP_TIMEOUT`].
pub async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .expect("test step finished in time")
}

/// Asserts `result` is a refusal with `status` whose reason contains `reason`.
pub fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, RelayError>,
    status: u16,
    reason: &str,
) {
    match result {
        Err(RelayError::Refused {
            status: got,
            reason: why,
        }) if got == status && why.contains(reason) => {}
        other => panic!("expected {status} with {reason:?}, got {other:?}"),
    }
}

/// Asserts a raw answer has `status` and a JSON refusal whose reason contains `reason`.
pub fn assert_raw(answer: (u16, String), status: u16, reason: &str) {
    let (got, body) = answer;
    assert_eq!(got, status, "{body}");
    let json = body.split(" [retry-after").next().unwrap_or_default();
    let refusal = wire::decode_refusal(json.as_bytes())
        .unwrap_or_else(|_| panic!("refusal body is the documented JSON: {body}"));
    assert!(
        refusal.error.contains(reason),
        "{} lacks {reason}",
        refusal.error
    );
}

/// A station: its identity and signed card.
pub struct Station {
    pub identity: Identity,
    pub name: String,
}

impl Station {
    pub fn new(name: &str, seed: u8) -> Self {
        let mut secret = [seed; 32];
        getrandom::fill(&mut secret[..16]).expect("random source");
        Self {
            identity: Identity::from_secret(&secret),
            name: name.to_owned(),
        }
    }

    pub fn id(&self) -> StationId {
        self.identity.id()
    }

    pub fn card_text(&self) -> String {
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([7; 32]));
        let card = ContactCard {
            name: self.name.clone(),
            identity: self.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: Vec::new(),
            lang: "en".into(),
            created_ms: now_ms(),
            pq_key: Some(self.identity.pq().public().clone()),
        };
        card.to_text(&card.sign(&self.identity))
    }

    pub fn fingerprint(&self) -> String {
        self.identity.fingerprint().to_string()
    }
}

/// A genuine envelope frame signed by `author`, naming `to` as recipient, whose ciphertext is
/// `ciphertext_len` bytes (the relay never opens it).
pub fn envelope_frame(
    author: &Identity,
    to: &StationId,
    seq: u64,
    ciphertext_len: usize,
) -> Vec<u8> {
    let sealed = Sealed {
        key_id: EpochKeyId([1; 8]),
        encapsulated: vec![2; ENCAPSULATED_KEY_BYTES],
        ciphertext: vec![3; ciphertext_len],
    };
    let link = LinkId::between(&author.id(), to);
    let envelope = Envelope::sign(author, link, *to, seq, EntryId([4; 32]), sealed);
    Frame::encode(TAG_ENVELOPE, &envelope)
}

/// A small genuine envelope frame.
pub fn frame(author: &Identity, to: &StationId, seq: u64) -> Vec<u8> {
    envelope_frame(author, to, seq, 100)
}

/// `bytes` with its last byte flipped: inside the signature of a frame, the last byte of a body.
pub fn tampered(mut bytes: Vec<u8>) -> Vec<u8> {
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    bytes
}

/// An envelope frame of exactly `size` bytes.
pub fn frame_of_size(author: &Identity, to: &StationId, size: usize) -> Vec<u8> {
    let mut ciphertext_len = size.saturating_sub(2_000);
    for _ in 0..8 {
        let frame = envelope_frame(author, to, 1, ciphertext_len);
        if frame.len() == size {
            return frame;
        }
        ciphertext_len = (ciphertext_len + size).saturating_sub(frame.len());
    }
    panic!("could not make a frame of exactly {size} bytes");
}

/// A genuine receipt frame signed by `from`, receipting `to`'s entries.
pub fn receipt_frame(from: &Identity, to: &StationId) -> Vec<u8> {
    let receipt = Receipt {
        link: LinkId::between(&from.id(), to),
        from: from.id(),
        to: *to,
        upto: 1,
        head: EntryId([5; 32]),
        extra: Vec::new(),
        time_ms: now_ms(),
    };
    Frame::encode(TAG_RECEIPT, &receipt.sign(from))
}

pub fn arcs(frames: &[Vec<u8>]) -> Vec<Arc<[u8]>> {
    frames
        .iter()
        .map(|frame| Arc::from(frame.as_slice()))
        .collect()
}

/// A relay home with two admitted stations, Alpha and Bravo, and a running server.
pub struct Relay {
    pub dir: tempfile::TempDir,
    pub home: RelayHome,
    pub server: Option<RelayServer>,
    pub id: StationId,
    pub alpha: Station,
    pub bravo: Station,
}

impl Relay {
    /// Initialises a relay with `limits`, admits Alpha and Bravo, and starts serving.
    /// A relay with default limits serving as a witness, Alpha and Bravo admitted.
    pub async fn start_witness() -> Self {
        Self::start_witness_with(Limits::default()).await
    }

    /// A relay serving as a witness too, with `limits`.
    pub async fn start_witness_with(limits: Limits) -> Self {
        let mut relay = Self::start(limits).await;
        relay
            .restart_with(ServeOptions {
                witness: true,
                ..ServeOptions::default()
            })
            .await;
        relay
    }

    pub async fn start(limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let home = RelayHome::new(dir.path().join("relay"));
        let identity = home
            .init("Neutral Relay", now_ms())
            .expect("relay initialises");
        let mut config = home.config().expect("config reads");
        config.limits = limits;
        let text = toml::to_string(&config).expect("config serialises");
        std::fs::write(home.path("relay.toml"), text).expect("config writes");
        let alpha = Station::new("Alpha", 1);
        let bravo = Station::new("Bravo", 2);
        for station in [&alpha, &bravo] {
            home.admit(&station.card_text(), &station.fingerprint(), now_ms())
                .expect("station is admitted");
        }
        let mut relay = Self {
            dir,
            home,
            server: None,
            id: identity.id(),
            alpha,
            bravo,
        };
        relay.restart().await;
        relay
    }

    /// Stops the server if it runs and starts it again on a new port.
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            within(server.shutdown()).await;
        }
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        self.server = Some(
            RelayServer::start(&self.home, localhost)
                .await
                .expect("relay starts"),
        );
    }

    /// Stops the server if it runs and starts it again on a new port with `options`.
    pub async fn restart_with(&mut self, options: ServeOptions) {
        if let Some(server) = self.server.take() {
            within(server.shutdown()).await;
        }
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        self.server = Some(
            RelayServer::start_with(&self.home, localhost, options)
                .await
                .expect("relay starts"),
        );
    }

    /// Stops the server and starts it again on new ports, serving metrics too; returns the
    /// metrics address.
    pub async fn restart_with_metrics(&mut self) -> SocketAddr {
        if let Some(server) = self.server.take() {
            within(server.shutdown()).await;
        }
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = RelayServer::start_with_metrics(&self.home, localhost, Some(localhost))
            .await
            .expect("relay starts");
        let metrics = server.metrics_addr().expect("metrics are served");
        self.server = Some(server);
        metrics
    }

    pub fn server(&self) -> &RelayServer {
        self.server.as_ref().expect("the relay is running")
    }

    pub fn client(&self, station: &Station) -> RelayClient {
        RelayClient::new(&self.server().url(), self.id, station.identity.clone())
            .expect("valid relay URL")
    }

    /// Admits another station while the relay runs.
    pub fn admit(&self, name: &str, seed: u8) -> Station {
        let station = Station::new(name, seed);
        self.home
            .admit(&station.card_text(), &station.fingerprint(), now_ms())
            .expect("station is admitted");
        station
    }

    /// Makes `a` and `b` correspondents, so the relay tells each what happens to its deposits
    /// to the other: each deposits a receipt into the other's mailbox; then each fetches and
    /// deletes it, leaving the mailboxes as they were.
    pub async fn introduce(&self, a: &Station, b: &Station) {
        for (from, to) in [(a, b), (b, a)] {
            let receipt = arcs(&[receipt_frame(&from.identity, &to.id())]);
            within(self.client(from).deposit(&to.id(), &receipt))
                .await
                .expect("introduction is deposited");
        }
        for station in [a, b] {
            let client = self.client(station);
            let ids: Vec<u64> = within(client.fetch(Duration::ZERO))
                .await
                .expect("fetches")
                .iter()
                .map(|item| item.id)
                .collect();
            within(client.delete(&ids)).await.expect("deletes");
        }
        let store = self.store();
        assert!(store.has_addressed(&a.id(), &b.id()).expect("reads"));
        assert!(store.has_addressed(&b.id(), &a.id()).expect("reads"));
    }

    /// Alpha deposits `count` genuine frames (seqs 1 to `count`) to Bravo: the frames.
    pub async fn alpha_deposits_to_bravo(&self, count: u64) -> Vec<Vec<u8>> {
        let sent: Vec<Vec<u8>> = (1..=count)
            .map(|seq| frame(&self.alpha.identity, &self.bravo.id(), seq))
            .collect();
        within(
            self.client(&self.alpha)
                .deposit(&self.bravo.id(), &arcs(&sent)),
        )
        .await
        .expect("deposit is stored");
        sent
    }

    pub fn store(&self) -> Store {
        self.home.store().expect("store opens")
    }

    /// What the store holds: Alpha's and Bravo's mailboxes and the nonce count.
    pub fn snapshot(&self) -> (MailboxSize, MailboxSize, u64) {
        let store = self.store();
        (
            store.mailbox_size(&self.alpha.id()).expect("reads"),
            store.mailbox_size(&self.bravo.id()).expect("reads"),
            store.nonce_count().expect("reads"),
        )
    }

    /// Signs a request as `station` with the current time and a fresh nonce.
    pub fn sign(&self, station: &Identity, method: &str, target: &str, body: &[u8]) -> Headers {
        self.sign_at(station, method, target, body, now_ms())
    }

    /// Signs a request as `station` with the given timestamp and a fresh nonce.
    pub fn sign_at(
        &self,
        station: &Identity,
        method: &str,
        target: &str,
        body: &[u8],
        timestamp_ms: u64,
    ) -> Headers {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("random source");
        let auth = RequestAuth::sign(station, &self.id, method, target, body, timestamp_ms, nonce);
        auth.to_headers()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// Sends a raw HTTP/1.1 request over pinned TLS; returns the status and the body.
    pub async fn raw(
        &self,
        method: &str,
        target: &str,
        headers: &Headers,
        body: &[u8],
    ) -> (u16, String) {
        within(raw_request(
            self.server().local_addr(),
            self.id,
            method,
            target,
            headers,
            body,
        ))
        .await
    }
}

/// Request headers as (name, value) pairs.
pub type Headers = Vec<(String, String)>;

/// An answer to a raw request.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The status line and the header lines.
    pub head: String,
    pub body: String,
}

impl Answer {
    /// The value of header `name` (any case), if it is there.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// One request on a fresh connection; the body is written while the answer is read, so an
/// early refusal is seen even if the relay stops reading. The status and the body, with any
/// `retry-after` header appended to it.
pub async fn raw_request(
    addr: SocketAddr,
    relay: StationId,
    method: &str,
    target: &str,
    headers: &Headers,
    body: &[u8],
) -> (u16, String) {
    let answer = raw_answer(addr, relay, method, target, headers, body).await;
    let body = match answer.header("retry-after") {
        Some(seconds) => format!("{} [retry-after: {seconds}]", answer.body),
        None => answer.body,
    };
    (answer.status, body)
}

/// One request on a fresh connection, as [`raw_request`]; the whole answer.
pub async fn raw_answer(
    addr: SocketAddr,
    relay: StationId,
    method: &str,
    target: &str,
    headers: &Headers,
    body: &[u8],
) -> Answer {
    let config = parley_channels::tls::pinned_client_config(relay.0, &[b"http/1.1"])
        .expect("client config builds");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    // Head and body are written separately: without this, Nagle's algorithm and delayed
    // acknowledgements add tens of milliseconds to each request.
    tcp.set_nodelay(true).expect("sets TCP_NODELAY");
    let name = rustls::pki_types::ServerName::try_from("relay").expect("valid name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut reader, mut writer) = tokio::io::split(tls);
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let write = async {
        // The relay may refuse before reading everything; a failed write is then expected.
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(body).await;
            let _ = writer.flush().await;
        }
    };
    let read = async {
        let mut answer = Vec::new();
        // A connection closed without close_notify after the answer is fine here.
        let _ = reader.read_to_end(&mut answer).await;
        answer
    };
    let ((), answer) = tokio::join!(write, read);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A TLS connection to the relay, pinned to its key, as any client (hostile or not) opens it.
pub async fn tls_connect(
    addr: SocketAddr,
    relay: StationId,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let config = parley_channels::tls::pinned_client_config(relay.0, &[b"http/1.1"])
        .expect("client config builds");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from("relay").expect("valid name");
    connector.connect(name, tcp).await
}

/// How a slow upload ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadEnd {
    /// The relay answered (with this status, if one was read) or closed the connection after
    /// this long.
    EndedByRelay {
        after: Duration,
        status: Option<u16>,
    },
    /// The connection was still open, unanswered, when the upload was stopped.
    StillOpen,
    /// No TLS connection could be made.
    NoConnection,
}

/// A slow uploader: opens a TLS connection, sends `head` (request line and headers, finished
/// or not), then trickles one byte every `trickle_every` until the relay answers or closes
/// the connection, or `duration` passes.
pub async fn slow_upload(
    addr: SocketAddr,
    relay: StationId,
    head: String,
    trickle_every: Duration,
    duration: Duration,
) -> UploadEnd {
    let started = std::time::Instant::now();
    let Ok(tls) = tls_connect(addr, relay).await else {
        return UploadEnd::NoConnection;
    };
    let (mut reader, mut writer) = tokio::io::split(tls);
    let write = async {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while started.elapsed() < duration {
            if writer.write_all(b"x").await.is_err() || writer.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(trickle_every).await;
        }
        std::future::pending::<()>().await;
    };
    // The status line of the answer, or None if the connection closed before one came.
    let answer = async {
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
            if let Some(end) = answer.windows(2).position(|pair| pair == b"\r\n") {
                let line = String::from_utf8_lossy(&answer[..end]).into_owned();
                return line.split(' ').nth(1).and_then(|code| code.parse().ok());
            }
        }
    };
    tokio::select! {
        status = answer => UploadEnd::EndedByRelay { after: started.elapsed(), status },
        () = write => UploadEnd::EndedByRelay { after: started.elapsed(), status: None },
        () = tokio::time::sleep(duration) => UploadEnd::StillOpen,
    }
}

/// A request head (request line and headers, blank line included) with `headers` and a
/// declared body length.
pub fn request_head(
    method: &str,
    target: &str,
    headers: &Headers,
    content_length: usize,
) -> String {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: relay\r\ncontent-length: {content_length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A log written in memory (a `tracing` writer), read back line by line.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut log = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        let log = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&log)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// GETs `/metrics` at `addr` and parses the answer.
pub async fn scrape(addr: SocketAddr) -> parley_metrics::text::Exposition {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = within(tokio::net::TcpStream::connect(addr))
        .await
        .expect("connects");
    let request = "GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut answer = String::new();
    within(stream.read_to_string(&mut answer))
        .await
        .expect("reads");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    parley_metrics::text::parse(body).unwrap_or_else(|error| panic!("{error}\n{body}"))
}
