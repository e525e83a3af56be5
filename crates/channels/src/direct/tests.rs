use super::*;

/// Longest any single step of a test may take on localhost.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(seed: u8) -> [u8; 32] {
    key(seed).verifying_key().to_bytes()
}

fn fingerprint(seed: u8) -> Fingerprint {
    StationId(public(seed)).key_fingerprint()
}

fn endpoint(seed: u8, pinned: PinnedKeys) -> DirectEndpoint {
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    DirectEndpoint::bind(&key(seed), localhost, pinned, &DirectConfig::default())
        .expect("binding an ephemeral localhost port succeeds")
}

fn pins(seeds: &[u8]) -> PinnedKeys {
    PinnedKeys::new(seeds.iter().map(|&seed| public(seed)))
}

async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .expect("test step finished in time")
}

/// Station 1 dials station 2; each pins the other. Returns (dialled, accepted) too.
async fn linked() -> (
    DirectEndpoint,
    DirectEndpoint,
    DirectConnection,
    DirectConnection,
) {
    let one = endpoint(1, pins(&[2]));
    let two = endpoint(2, pins(&[1]));
    let addr = two.local_addr().expect("bound endpoint has an address");
    let (dialled, accepted) =
        within(async { tokio::join!(one.connect(addr, public(2)), two.accept()) }).await;
    let dialled = dialled.expect("pinned peers connect");
    let accepted = accepted.expect("pinned client is accepted");
    (one, two, dialled, accepted)
}

fn describe(received: &Result<Option<Vec<u8>>, DirectError>) -> String {
    match received {
        Ok(Some(frame)) => format!("frame {}", frame.escape_ascii()),
        Ok(None) => "end".to_owned(),
        Err(error) => format!("{error:?}"),
    }
}

/// Receives from `receiver` until the end of stream or an error, describing each result.
async fn drain(receiver: &mut FrameReceiver) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let received = within(receiver.recv()).await;
        seen.push(describe(&received));
        if !matches!(received, Ok(Some(_))) {
            return seen;
        }
    }
}

/// Writes `raw` bytes on a fresh stream from `from`, finishes it, and checks what `to`'s
/// receiver makes of them.
async fn check_recv(from: &DirectConnection, to: &DirectConnection, raw: &[u8], expect: &[&str]) {
    let mut stream = within(from.connection.open_uni())
        .await
        .expect("stream opens");
    within(stream.write_all(raw))
        .await
        .expect("raw write succeeds");
    stream.finish().expect("stream was open");
    let mut receiver = within(to.accept_receiver()).await.expect("stream arrives");
    assert_eq!(
        drain(&mut receiver).await,
        expect,
        "raw input {}",
        raw.escape_ascii()
    );
}

fn prefixed(len: u32, body: &[u8]) -> Vec<u8> {
    [&len.to_be_bytes()[..], body].concat()
}

/// Frames flow from the station that dialled to the one that accepted (each station dials
/// its peer to send, and reads on the connections it accepted).
#[tokio::test]
async fn frames_flow_and_end_cleanly() {
    let (_one, _two, dialled, accepted) = linked().await;
    assert_eq!(dialled.peer(), public(2));
    assert_eq!(accepted.peer(), public(1));
    let largest = vec![b'x'; FRAME_SIZE_MAX_BYTES];
    let frames: [&[u8]; 3] = [b"hello", b"", &largest];
    let expect = [
        "frame hello".to_owned(),
        "frame ".to_owned(),
        format!("frame {}", largest.escape_ascii()),
        "end".to_owned(),
    ];
    let mut sender = within(dialled.open_sender()).await.expect("stream opens");
    for frame in frames {
        within(sender.send(frame))
            .await
            .expect("frame within the limit is sent");
    }
    sender.finish().expect("stream was open");
    let mut receiver = within(accepted.accept_receiver())
        .await
        .expect("stream arrives");
    assert_eq!(drain(&mut receiver).await, expect);
}

/// A peer can make a station buffer little that it does not read: no stream at all on a
/// connection the station dialled (it reads only those it accepted), on one it accepted no
/// more of a stream than its receive window ahead of what it read, and no datagram.
#[tokio::test]
async fn a_peer_cannot_make_a_station_buffer_what_it_does_not_read() {
    let (_one, _two, dialled, accepted) = linked().await;
    let briefly = Duration::from_millis(500);
    let opened = tokio::time::timeout(briefly, accepted.connection.open_uni()).await;
    assert!(
        opened.is_err(),
        "no stream on a connection the station dialled"
    );
    let mut stream = within(dialled.connection.open_uni())
        .await
        .expect("stream opens");
    let window = STREAM_RECEIVE_WINDOW_BYTES as usize;
    within(stream.write_all(&vec![0; window]))
        .await
        .expect("a window's worth is taken");
    let ahead = tokio::time::timeout(briefly, stream.write_all(&[0; 1])).await;
    assert!(ahead.is_err(), "nothing beyond the window until it is read");
    for connection in [&dialled, &accepted] {
        assert_eq!(connection.connection.max_datagram_size(), None);
    }
}

#[tokio::test]
async fn receiver_decodes_raw_streams() {
    let (_one, _two, dialled, accepted) = linked().await;
    let over = u32::try_from(FRAME_SIZE_MAX_BYTES + 1).expect("limit fits u32");
    let max = FRAME_SIZE_MAX_BYTES;
    let cases: [(Vec<u8>, Vec<String>); 6] = [
        (
            [prefixed(2, b"ab"), prefixed(0, b"")].concat(),
            vec!["frame ab".into(), "frame ".into(), "end".into()],
        ),
        (Vec::new(), vec!["end".into()]),
        (
            prefixed(over, b"more"),
            vec![format!("FrameTooLarge {{ len: {over}, max: {max} }}")],
        ),
        (
            prefixed(u32::MAX, b""),
            vec![format!("FrameTooLarge {{ len: 4294967295, max: {max} }}")],
        ),
        (
            vec![0, 0],
            vec!["TruncatedFrame { received_bytes: 2, expected_bytes: 4 }".into()],
        ),
        (
            prefixed(5, b"abc"),
            vec!["TruncatedFrame { received_bytes: 7, expected_bytes: 9 }".into()],
        ),
    ];
    for (raw, expect) in &cases {
        let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
        check_recv(&dialled, &accepted, raw, &expect).await;
    }
}

#[tokio::test]
async fn send_refuses_an_oversized_frame_without_writing() {
    let (_one, _two, dialled, accepted) = linked().await;
    let mut sender = within(dialled.open_sender()).await.expect("stream opens");
    let refused = within(sender.send(&vec![0; FRAME_SIZE_MAX_BYTES + 1])).await;
    assert!(
        matches!(refused, Err(DirectError::FrameTooLarge { len, max })
            if len == FRAME_SIZE_MAX_BYTES + 1 && max == FRAME_SIZE_MAX_BYTES),
        "{refused:?}"
    );
    within(sender.send(b"after"))
        .await
        .expect("stream is still usable");
    sender.finish().expect("stream was open");
    let mut receiver = within(accepted.accept_receiver())
        .await
        .expect("stream arrives");
    assert_eq!(drain(&mut receiver).await, ["frame after", "end"]);
}

#[tokio::test]
async fn unpinned_client_is_refused_until_pinned() {
    let server_pins = PinnedKeys::default();
    let server = endpoint(2, server_pins.clone());
    let client = endpoint(1, pins(&[2]));
    let addr = server.local_addr().expect("bound endpoint has an address");

    // The client may finish its half of the handshake before the server refuses it.
    let outcome = match within(client.connect(addr, public(2))).await {
        Ok(connection) => within(connection.closed()).await,
        Err(error) => error,
    };
    assert!(matches!(outcome, DirectError::RefusedByPeer), "{outcome:?}");
    within(async {
        while server.rejected_handshakes() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(server.rejected_handshakes(), 1);
    let nothing = tokio::time::timeout(Duration::from_millis(200), server.accept()).await;
    assert!(nothing.is_err(), "a refused client must not be accepted");

    // Pinning takes effect while running.
    assert!(server_pins.insert(public(1)));
    let (dialled, accepted) =
        within(async { tokio::join!(client.connect(addr, public(2)), server.accept()) }).await;
    assert_eq!(dialled.expect("now pinned").peer(), public(2));
    assert_eq!(accepted.expect("now accepted").peer(), public(1));
    assert_eq!(server.rejected_handshakes(), 1);
}

#[tokio::test]
async fn dialling_for_another_key_reports_both_fingerprints() {
    let one = endpoint(1, pins(&[2]));
    let two = endpoint(2, pins(&[1]));
    let addr = two.local_addr().expect("bound endpoint has an address");
    let outcome = within(one.connect(addr, public(3))).await;
    match outcome {
        Err(DirectError::WrongPeer {
            expected_fingerprint,
            presented_fingerprint,
        }) => {
            assert_eq!(expected_fingerprint, fingerprint(3));
            assert_eq!(presented_fingerprint, fingerprint(2));
        }
        other => panic!("expected WrongPeer, got {other:?}"),
    }
}

#[tokio::test]
async fn closing_is_reported_and_ends_accept() {
    let (_one, two, dialled, accepted) = linked().await;
    dialled.close();
    let why = within(accepted.closed()).await;
    assert!(
        matches!(&why, DirectError::ConnectionLost(text) if text.contains("closed by peer")),
        "{why:?}"
    );
    two.close();
    assert!(within(two.accept()).await.is_none());
}

#[test]
fn keep_alive_must_be_below_idle_timeout() {
    let config = DirectConfig {
        keep_alive_interval: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        ..DirectConfig::default()
    };
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let refused = DirectEndpoint::bind(&key(1), localhost, PinnedKeys::default(), &config);
    assert!(
        matches!(refused, Err(DirectError::Config(_))),
        "{refused:?}"
    );
}

#[test]
fn certificate_carries_the_identity_key() {
    let identity = TlsIdentity::new(&key(4)).expect("certificate is made");
    assert_eq!(
        ed25519_key_of(&identity.certificate).expect("parses"),
        public(4)
    );
}

/// The send queue of a dial loop holds `queue_max` frames while no connection takes them,
/// and refuses the next (the protocol resends it) instead of growing.
#[tokio::test]
async fn a_dial_loop_queues_frames_up_to_its_bound_and_refuses_the_next() {
    // A socket that reads nothing and answers nothing: the dial waits out its handshake.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("binds");
    let address = silent.local_addr().expect("bound");
    let (inbound, _reports) = crate::report::Inbound::new(16, 1_000);
    let timing = task::DialTiming {
        heartbeat_interval: Duration::from_secs(1),
        redial_delay_min: Duration::from_secs(1),
        redial_delay_max: Duration::from_secs(1),
    };
    let sender = task::start_dial(
        &tokio::runtime::Handle::current(),
        Arc::new(endpoint(1, pins(&[2]))),
        (StationId(public(2)), address),
        timing,
        2,
        inbound,
    );
    let frame: Arc<[u8]> = Arc::from(&b"frame"[..]);
    assert!(sender.try_send(frame.clone()), "the first of two fits");
    assert!(sender.try_send(frame.clone()), "the second of two fits");
    assert!(!sender.try_send(frame), "a third is refused");
}

/// Any host can present a key that is not pinned, as often as it likes: the refusals are
/// logged once per interval, not once each.
#[test]
fn refused_client_keys_are_logged_under_the_limit() {
    let verifier = PinnedClientKeys::new(
        pins(&[2]),
        crypto_provider().signature_verification_algorithms,
    );
    let stranger = TlsIdentity::new(&key(1)).expect("certificate is made");
    for _ in 0..50 {
        let refused = verifier.verify_client_cert(&stranger.certificate, &[], UnixTime::now());
        assert!(refused.is_err(), "an unpinned key is refused every time");
    }
    // The refusals went through the limit: one more within the interval is not logged,
    // where a verifier that logged none yet logs it.
    assert!(
        !verifier.note_refused(public(3)),
        "logged within the interval"
    );
    let fresh = PinnedClientKeys::new(
        pins(&[2]),
        crypto_provider().signature_verification_algorithms,
    );
    assert!(fresh.note_refused(public(3)), "the first is logged");
    let pinned = TlsIdentity::new(&key(2)).expect("certificate is made");
    assert!(
        verifier
            .verify_client_cert(&pinned.certificate, &[], UnixTime::now())
            .is_ok()
    );
}

/// A peer that dials again and again keeps at most [`task::ACCEPTED_PER_PEER_MAX`]
/// connections open: each newer one closes its oldest, and another peer's are not touched.
#[tokio::test]
async fn a_peer_dialling_again_and_again_keeps_a_bounded_number_of_connections() {
    let server = endpoint(2, pins(&[1, 3]));
    let (client, other) = (endpoint(1, pins(&[2])), endpoint(3, pins(&[2])));
    let addr = server.local_addr().expect("bound endpoint has an address");
    let mut accepted = task::Accepted::default();
    // Held: a connection whose every handle is dropped closes.
    let (_to_server, from_other) =
        within(async { tokio::join!(other.connect(addr, public(2)), server.accept()) }).await;
    let from_other = from_other.expect("accepted");
    assert!(
        accepted
            .keep(StationId(public(3)), from_other.clone())
            .is_none()
    );
    let mut dialled = Vec::new();
    for n in 0..task::ACCEPTED_PER_PEER_MAX + 2 {
        let (outgoing, incoming) =
            within(async { tokio::join!(client.connect(addr, public(2)), server.accept()) }).await;
        dialled.push(outgoing.expect("dialled"));
        let closed = accepted.keep(StationId(public(1)), incoming.expect("accepted"));
        assert_eq!(
            closed.is_some(),
            n >= task::ACCEPTED_PER_PEER_MAX,
            "connection {n}"
        );
    }
    // The peer sees its two oldest closed, and the newest still open.
    for (n, outgoing) in dialled.iter().enumerate() {
        let closed = tokio::time::timeout(Duration::from_millis(500), outgoing.closed()).await;
        assert_eq!(closed.is_ok(), n < 2, "connection {n}: {closed:?}");
    }
    let still = tokio::time::timeout(Duration::from_millis(100), from_other.closed()).await;
    assert!(still.is_err(), "another peer's connection stays open");
}

/// A handshake that does not finish within its time is given up with its own error, one
/// that does is taken; the default time is [`HANDSHAKE_TIMEOUT_MS`], within which a station's
/// handshake (every test here) finishes.
#[tokio::test]
async fn a_handshake_past_its_time_is_given_up() {
    let limit = Duration::from_millis(50);
    let never = std::future::pending::<Result<(), quinn::ConnectionError>>();
    let given_up = within(finished_within(limit, never)).await;
    assert!(
        matches!(given_up, Err(DirectError::HandshakeTimedOut { ms: 50 })),
        "{given_up:?}"
    );
    let done = std::future::ready(Ok::<_, quinn::ConnectionError>(7));
    assert_eq!(finished_within(limit, done).await.expect("finished"), 7);
    assert_eq!(
        DirectConfig::default().handshake_timeout,
        Duration::from_millis(HANDSHAKE_TIMEOUT_MS)
    );
}
