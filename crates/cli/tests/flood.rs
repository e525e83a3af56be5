//! A pinned peer that floods: frames as fast as it can send them, on several streams at once,
//! for ten seconds, at a running daemon. The daemon's memory stays bounded, every frame is
//! accounted for (refused, or dropped for lack of room and counted), it answers its operator
//! throughout, and it carries genuine traffic afterwards.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{await_all_delivered, paired};
use parley_channels::{DirectConfig, DirectEndpoint, PinnedKeys};
use parley_proto::limits::FRAME_SIZE_MAX_BYTES;
use parley_proto::seal::EpochSecret;
use parley_proto::{ChannelId, ChannelKind, ContactCard, Endpoint, Keyring};
use parley_testkit::harness::{StationProcess, wait_until};
use rand_core::SeedableRng as _;

/// How long the flood lasts.
const FLOOD: Duration = Duration::from_secs(10);
/// Streams the flooder sends on at once.
const FLOOD_STREAMS: usize = 4;
/// The most the flooded daemon's resident memory may reach, in bytes: its queues are bounded
/// well below this.
const FLOOD_RSS_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The most "frame refused" lines the flooded daemon may log: refusals are logged once per
/// reason per interval, with a count of those held back, not once per frame.
const FLOOD_LOG_LINES_MAX: usize = 10;

/// Lines of the daemon logs in `station`'s home that report a refused frame.
fn refusal_lines(station: &StationProcess) -> usize {
    std::fs::read_dir(&station.home)
        .expect("home")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("daemon-"))
        .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
        .map(|log| log.lines().filter(|l| l.contains("frame refused")).count())
        .sum()
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// An envelope from `alpha` to Bravo that parses but whose signature fails: each one costs
/// the daemon a signature check.
fn forged_envelope(alpha: &parley_proto::Identity, bravo: &ContactCard) -> Vec<u8> {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
    let keyring = Keyring::new(EpochSecret::generate(&mut rng));
    let mut endpoint = Endpoint::new(alpha.clone(), keyring, [9; 32]);
    let now = parley_station::clock::utc_now_ms();
    endpoint
        .pair(now, bravo.identity, bravo.epoch_public.clone())
        .expect("pairs");
    let link = endpoint.link_mut(&bravo.identity).expect("paired");
    link.add_channel(ChannelId(0), ChannelKind::Direct);
    link.set_channel_up(now, ChannelId(0), true);
    endpoint.take_writes();
    endpoint.handle_timeout(now);
    // Its first envelope (the key announcement); a receipt of nothing goes first.
    let mut frame = std::iter::from_fn(|| endpoint.poll_transmit())
        .map(|(_, transmit)| transmit.frame.to_vec())
        .find(|frame| frame.first() == Some(&parley_proto::frame::TAG_ENVELOPE))
        .expect("an envelope");
    let middle = frame.len() / 2;
    frame[middle] ^= 1;
    frame
}

fn counts(bravo: &StationProcess) -> Option<(u64, u64, u64)> {
    let status = bravo.json(&["status"]).ok()?;
    let frames = &status["rejected"]["frames"];
    Some((
        frames["bad_signature"].as_u64().unwrap_or(0),
        frames["malformed"].as_u64().unwrap_or(0),
        status["queues"]["frames_dropped"].as_u64()?,
    ))
}

#[test]
fn a_flooding_peer_costs_bounded_memory_and_every_frame_is_counted() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    bravo.start().unwrap();
    let alpha_identity = parley_station::Home::new(&alpha.home).identity().unwrap();
    let (bravo_card, _) = ContactCard::from_text(&bravo.ok(&["card"]).unwrap()).unwrap();
    let forged = Arc::new(forged_envelope(&alpha_identity, &bravo_card));
    let mut junk = vec![1u8; FRAME_SIZE_MAX_BYTES];
    junk[1..].fill(0xee);
    let junk = Arc::new(junk);

    let sent = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let flooder = runtime.block_on(async {
        let any = "127.0.0.1:0".parse().unwrap();
        let endpoint = DirectEndpoint::bind(
            alpha_identity.signing_key(),
            any,
            PinnedKeys::default(),
            &DirectConfig::default(),
        )
        .unwrap();
        let connection = endpoint
            .connect(bravo.listen, bravo_card.identity.0)
            .await
            .unwrap();
        let deadline = Instant::now() + FLOOD;
        let mut streams = Vec::new();
        for stream in 0..FLOOD_STREAMS {
            let (connection, sent) = (connection.clone(), sent.clone());
            let frame = if stream % 2 == 0 {
                forged.clone()
            } else {
                junk.clone()
            };
            streams.push(tokio::spawn(async move {
                let mut sender = connection.open_sender().await.unwrap();
                // Whole frames only, so every one sent arrives whole.
                while Instant::now() < deadline {
                    sender.send(&frame).await.unwrap();
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                sender.finish().unwrap();
            }));
        }
        // The operator can still reach the daemon while it is flooded.
        tokio::time::sleep(FLOOD / 2).await;
        let started = Instant::now();
        let status = tokio::task::block_in_place(|| bravo.json(&["status"]));
        assert!(status.is_ok(), "status during the flood: {status:?}");
        eprintln!(
            "status answered in {:?} during the flood",
            started.elapsed()
        );
        for stream in streams {
            stream.await.unwrap();
        }
        (endpoint, connection)
    });
    let sent = sent.load(Ordering::Relaxed);
    let accounted = wait_until(Duration::from_secs(60), || {
        counts(&bravo).is_some_and(|(bad, malformed, dropped)| bad + malformed + dropped == sent)
    });
    let (bad, malformed, dropped) = counts(&bravo).expect("status");
    let rss = peak_rss(bravo.pid().expect("running"));
    eprintln!(
        "flood: {sent} frames sent in {FLOOD:?}; {bad} refused (signature), {malformed} refused \
         (malformed), {dropped} dropped for lack of room; peak RSS {} MiB",
        rss / (1024 * 1024)
    );
    assert!(
        accounted,
        "every frame is refused or dropped and counted: {sent} sent, {bad} + {malformed} + {dropped}"
    );
    assert!(bad > 0 && malformed > 0, "both kinds of junk arrived");
    assert!(
        dropped > 0,
        "the flood filled the daemon's input queue, whose bound is then what holds"
    );
    assert!(
        rss < FLOOD_RSS_MAX_BYTES,
        "peak RSS {rss} bytes is over {FLOOD_RSS_MAX_BYTES}"
    );
    drop(flooder);
    drop(runtime);
    let logged = refusal_lines(&bravo);
    eprintln!("flood: {logged} refusal lines logged");
    assert!(
        (1..=FLOOD_LOG_LINES_MAX).contains(&logged),
        "{logged} refusal lines for {sent} junk frames: the log is flooded, or says nothing"
    );

    // Nothing of it was stored, and genuine traffic flows.
    assert!(bravo.inbox().unwrap().is_empty());
    let alarms = bravo.json(&["alarms", "--all"]).unwrap();
    let accusing = [
        "equivocation",
        "fork",
        "bad_receipt",
        "clock_skew",
        "split_view",
        "unknown_epoch_key",
        "over_intake",
    ];
    assert!(
        alarms
            .as_array()
            .unwrap()
            .iter()
            .all(|alarm| !accusing.contains(&alarm["kind"].as_str().unwrap_or(""))),
        "junk is not evidence against the peer: {alarms:#}"
    );
    alpha.start().unwrap();
    alpha.ok(&["send", "Bravo", "after the flood"]).unwrap();
    await_all_delivered(&alpha, &bravo);
    assert_eq!(common::inbox_texts(&bravo, "Alpha"), ["after the flood"]);
}
