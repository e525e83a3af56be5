//! Every message over every channel, with real processes on 127.0.0.1: two stations whose
//! direct path runs through cuttable UDP proxies, a real relay process, and courier bundles.
//! In every case each message is delivered exactly once and every one ends `delivered`; and a
//! clean stop keeps the record of where a message went.

mod common;

use std::time::{Duration, Instant};

use common::watch::{alarms, await_alarm};
use common::{
    Net, await_all_delivered, await_channel, await_inbox, await_relay_caught_up, channel_counter,
    inbox_texts, send_all, texts,
};
use parley_station::clock::utc_now_ms;
use parley_testkit::harness::{StationProcess, wait_until};

/// Heartbeat intervals set by `fast_heartbeats`, in milliseconds.
const RELAY_HEARTBEAT_MS: u64 = 250;
const DIRECT_HEARTBEAT_MS: u64 = 200;
/// What a busy two-core machine may add to three heartbeats before a station marks a channel
/// down (its health is checked on a timer, and its threads wait their turn), in milliseconds.
const DETECTION_SLACK_MS: u64 = 1_000;

/// How far a daemon's clock (anchored at `utc_now_ms` when it starts, then steady) may be from
/// the test's wall clock, in milliseconds.
const CLOCK_TOLERANCE_MS: u64 = 100;

/// Waits for `station`'s channel of `kind` to `peer` to be down, then checks that the station
/// marked it down within three heartbeats of `failed_ms` (UTC ms), by the time of the change
/// it records: how long the test took to see it (its CLI calls, the messages it sent
/// meanwhile) does not count.
fn assert_down_within_three_heartbeats(
    station: &StationProcess,
    peer: &str,
    kind: &str,
    failed_ms: u64,
    heartbeat_ms: u64,
) {
    await_channel(station, peer, kind, "down");
    let down_ms = station
        .channel_since_ms(peer, kind)
        .expect("a running daemon shows when the channel changed");
    // The daemon's clock is the wall clock at its start, then steady: the two agree to
    // within milliseconds over a test.
    assert!(
        down_ms + CLOCK_TOLERANCE_MS >= failed_ms,
        "marked down at {down_ms}, before it failed at {failed_ms}"
    );
    let took = Duration::from_millis(down_ms.saturating_sub(failed_ms));
    eprintln!("{peer}'s {kind} channel marked down {took:?} after it failed");
    let bound = Duration::from_millis(3 * heartbeat_ms + DETECTION_SLACK_MS);
    assert!(
        took <= bound,
        "marked down {took:?} after it failed, more than three heartbeats ({heartbeat_ms} ms) and slack"
    );
}

/// (a) The relay is killed with SIGKILL mid-stream: the direct link carries on, nothing lost.
#[test]
fn relay_killed_mid_stream_direct_carries_on() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.start_all();
    await_channel(&net.alpha, "Bravo", "relay", "up");
    let all = texts("a", 0..200);
    send_all(&net.alpha, "Bravo", &all[..80]);
    let killed_ms = utc_now_ms();
    net.relay.kill9().expect("kill -9 the relay");
    assert_down_within_three_heartbeats(
        &net.alpha,
        "Bravo",
        "relay",
        killed_ms,
        RELAY_HEARTBEAT_MS,
    );
    send_all(&net.alpha, "Bravo", &all[80..]);
    await_inbox(&net.bravo, "Alpha", &all);
    await_all_delivered(&net.alpha, &net.bravo);
}

/// (b) The direct path is cut mid-stream: the relay carries on, nothing lost, and a message
/// sent after the cut arrives in the relay's own time.
#[test]
fn direct_cut_mid_stream_relay_carries_on() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.start_all();
    await_channel(&net.alpha, "Bravo", "direct", "up");
    await_channel(&net.alpha, "Bravo", "relay", "up");
    await_channel(&net.bravo, "Alpha", "relay", "up");
    let all = texts("b", 0..200);
    send_all(&net.alpha, "Bravo", &all[..80]);
    let cut_ms = utc_now_ms();
    net.cut_direct(true);
    send_all(&net.alpha, "Bravo", &all[80..199]);
    assert_down_within_three_heartbeats(&net.alpha, "Bravo", "direct", cut_ms, DIRECT_HEARTBEAT_MS);
    await_inbox(&net.bravo, "Alpha", &all[..199]);
    // One more, timed: relay only.
    let started = Instant::now();
    send_all(&net.alpha, "Bravo", &all[199..]);
    await_inbox(&net.bravo, "Alpha", &all);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "over the relay alone a message took {took:?}"
    );
    await_all_delivered(&net.alpha, &net.bravo);
    // The outbox says which paths each message took: both while both were up, the relay
    // alone after the cut.
    let outbox = net.alpha.outbox().expect("outbox");
    let sent_on = |text: &str| {
        outbox
            .iter()
            .find(|item| item["text"] == text)
            .map(|item| item["sent_on"].clone())
            .expect("in the outbox")
    };
    assert_eq!(sent_on(&all[0]), serde_json::json!(["direct", "relay"]));
    assert_eq!(sent_on(&all[199]), serde_json::json!(["relay"]));
    let status = net.bravo.json(&["status"]).expect("status");
    let relay = status["peers"][0]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["kind"] == "relay")
        .expect("relay channel")
        .clone();
    assert!(
        relay["counters"]["envelopes_received"]
            .as_u64()
            .unwrap_or(0)
            >= 120
    );
}

/// (c) Every network path is cut: a courier bundle carries the messages, the next bundle the
/// receipts; importing twice changes nothing; later traffic's receipts come back by network
/// once it is restored.
#[test]
fn courier_bundles_carry_everything_when_every_network_path_is_cut() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.cut_direct(true);
    net.alpha.start().expect("start Alpha");
    net.bravo.start().expect("start Bravo");
    let all = texts("c", 0..50);
    send_all(&net.alpha, "Bravo", &all);
    let bundle = root.path().join("to-bravo.bundle");
    let bundle_text = bundle.to_str().expect("UTF-8");
    net.alpha
        .ok(&["courier", "export", "Bravo", "--out", bundle_text])
        .expect("export");
    let report = net
        .bravo
        .ok(&["courier", "import", bundle_text])
        .expect("import");
    // 50 messages and the link's first entry (the key announcement).
    assert!(report.contains("51 new envelope(s)"), "{report}");
    assert_eq!(inbox_texts(&net.bravo, "Alpha"), all);
    // Idempotent.
    let again = net
        .bravo
        .ok(&["courier", "import", bundle_text])
        .expect("import again");
    assert!(
        again.contains("0 new envelope(s), 51 already held"),
        "{again}"
    );
    assert_eq!(inbox_texts(&net.bravo, "Alpha"), all);
    // Receipts back by the next bundle.
    let back = root.path().join("to-alpha.bundle");
    let back_text = back.to_str().expect("UTF-8");
    net.bravo
        .ok(&["courier", "export", "Alpha", "--out", back_text])
        .expect("export back");
    net.alpha
        .ok(&["courier", "import", back_text])
        .expect("import back");
    assert!(net.alpha.all_delivered());

    // More traffic by bundle, receipts by the network once it is restored.
    let more = texts("c2", 0..20);
    send_all(&net.alpha, "Bravo", &more);
    net.alpha
        .ok(&["courier", "export", "Bravo", "--out", bundle_text])
        .expect("export");
    net.bravo
        .ok(&["courier", "import", bundle_text])
        .expect("import");
    assert!(!net.alpha.all_delivered());
    net.cut_direct(false);
    await_all_delivered(&net.alpha, &net.bravo);
    let expected: Vec<String> = all.iter().chain(&more).cloned().collect();
    assert_eq!(inbox_texts(&net.bravo, "Alpha"), expected);
}

/// (d) The relay restarted with its store intact loses nothing; with its store wiped the
/// stations retransmit until all is delivered. The direct path is cut throughout.
#[test]
fn relay_restarts_with_and_without_its_store() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.cut_direct(true);
    net.start_all();
    await_channel(&net.alpha, "Bravo", "relay", "up");
    await_channel(&net.bravo, "Alpha", "relay", "up");
    // Bravo is stopped so the envelopes wait in the relay's mailbox when it is killed.
    net.bravo.stop().expect("stop Bravo");
    let first = texts("d1", 0..40);
    let before = channel_counter(&net.alpha, "relay", "envelopes_sent");
    send_all(&net.alpha, "Bravo", &first);
    await_relay_caught_up(&net.alpha, before + 40, 0);
    net.relay.kill9().expect("kill -9 the relay");
    net.relay.start().expect("restart the relay, store intact");
    net.bravo.start().expect("start Bravo");
    await_inbox(&net.bravo, "Alpha", &first);
    await_all_delivered(&net.alpha, &net.bravo);

    // Wiped: the mailbox is gone with everything in it.
    net.bravo.stop().expect("stop Bravo");
    let second = texts("d2", 0..40);
    let before = channel_counter(&net.alpha, "relay", "envelopes_sent");
    send_all(&net.alpha, "Bravo", &second);
    await_relay_caught_up(&net.alpha, before + 40, 0);
    net.relay.kill9().expect("kill -9 the relay");
    for file in ["relay.sqlite", "relay.sqlite-wal", "relay.sqlite-shm"] {
        let _ = std::fs::remove_file(net.relay.home.join(file));
    }
    for station in [&net.alpha, &net.bravo] {
        net.relay.admit(station, root.path()).expect("re-admit");
    }
    // Down long enough to be noticed, so the relay channel's return resends everything.
    await_channel(&net.alpha, "Bravo", "relay", "down");
    net.relay.start().expect("restart the relay, store wiped");
    net.bravo.start().expect("start Bravo");
    let expected: Vec<String> = first.iter().chain(&second).cloned().collect();
    await_inbox(&net.bravo, "Alpha", &expected);
    await_all_delivered(&net.alpha, &net.bravo);
}

/// (e) The two stations are never online together: the relay alone carries the messages one
/// way and the receipts the other.
#[test]
fn stations_never_online_together_meet_through_the_relay() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.relay.start().expect("start relay");
    net.alpha.start().expect("start Alpha");
    await_channel(&net.alpha, "Bravo", "relay", "up");
    let all = texts("e", 0..60);
    send_all(&net.alpha, "Bravo", &all);
    // Stored at the relay before Alpha goes away.
    await_relay_caught_up(&net.alpha, 60, 0);
    net.alpha.stop().expect("stop Alpha");
    net.bravo.start().expect("start Bravo");
    await_inbox(&net.bravo, "Alpha", &all);
    // Bravo's receipts reach the relay before it goes.
    await_relay_caught_up(&net.bravo, 0, 1);
    net.bravo.stop().expect("stop Bravo");
    net.alpha.start().expect("restart Alpha");
    let done = wait_until(Duration::from_secs(60), || net.alpha.all_delivered());
    assert!(done, "Alpha never saw Bravo's receipts through the relay");
    assert_eq!(inbox_texts(&net.bravo, "Alpha"), all);
    // Each station's next fetch acknowledges what it fetched and committed; what a station
    // stopped before acknowledging, it fetches again when it comes back (and drops as held
    // already). Then the relay holds nothing.
    net.bravo.start().expect("restart Bravo");
    let emptied = wait_until(Duration::from_secs(30), || {
        relay_items(&net.relay.home) == 0
    });
    assert!(
        emptied,
        "the relay still holds {}",
        relay_items(&net.relay.home)
    );
}

/// Frames the relay's store holds, read beside the running relay.
fn relay_items(home: &std::path::Path) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        home.join("relay.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the relay's store opens");
    db.query_row("SELECT count(*) FROM items", [], |row| row.get(0))
        .expect("items are counted")
}

/// A relay presenting another identity than the one pinned (an impostor on the pinned relay's
/// address) is refused at the TLS handshake: the channel stays down and says why, nothing is
/// deposited, and the direct channel carries the traffic.
#[test]
fn an_unknown_relay_certificate_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    let mut impostor = parley_testkit::harness::RelayProcess::init_at(
        common::exe(),
        root.path(),
        "Impostor",
        net.relay.listen,
    )
    .expect("impostor");
    for station in [&net.alpha, &net.bravo] {
        impostor.admit(station, root.path()).expect("admit");
    }
    impostor.start().expect("start the impostor");
    net.alpha.start().expect("start Alpha");
    net.bravo.start().expect("start Bravo");
    await_channel(&net.alpha, "Bravo", "direct", "up");
    let refused = wait_until(Duration::from_secs(20), || {
        let status = net.alpha.json(&["status"]).expect("status");
        status["peers"][0]["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .any(|c| c["kind"] == "relay" && c["state"] == "down" && !c["last_error"].is_null())
    });
    assert!(refused, "the impostor's certificate must be refused");
    let all = texts("i", 0..10);
    send_all(&net.alpha, "Bravo", &all);
    await_inbox(&net.bravo, "Alpha", &all);
    await_all_delivered(&net.alpha, &net.bravo);
    assert_eq!(
        net.alpha.channel_state("Bravo", "relay").as_deref(),
        Some("down")
    );
    let status = net.alpha.json(&["status"]).expect("status");
    let relay = status["peers"][0]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["kind"] == "relay")
        .expect("relay")
        .clone();
    eprintln!("refusal: {}", relay["last_error"]);
    assert_eq!(relay["counters"]["envelopes_received"], 0);
}

/// Items a peer's mailbox holds in the deposit-refusal test: Alpha's first entry, up to two
/// receipts (of nothing, as its relay channel comes up before it fetched Bravo's first entry;
/// then of that entry) and at least one message.
const MAILBOX_ITEMS_MAX: u64 = 4;

/// A relay that answers heartbeats but refuses deposits (the peer's mailbox is full): the
/// sender's relay channel shows `degraded` with the relay's reason instead of `up`, heartbeats
/// do not lift it, and it is `up` again once the relay stores a deposit. (A relay tells a
/// depositor why it refused only once the recipient has deposited to it: Bravo has.)
#[test]
fn a_relay_refusing_deposits_degrades_the_channel_with_its_reason() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.relay
        .configure(|config| {
            config.limits.mailbox_items_max = MAILBOX_ITEMS_MAX;
            config.limits.mailbox_share_percent = 100;
        })
        .expect("configure the relay");
    net.cut_direct(true);
    net.relay.start().expect("start relay");
    // Bravo deposits its first entry to Alpha through the relay, then stops: nothing drains
    // its mailbox from then on.
    net.bravo.start().expect("start Bravo");
    await_relay_caught_up(&net.bravo, 1, 0);
    net.bravo.stop().expect("stop Bravo");
    net.alpha.start().expect("start Alpha");
    await_channel(&net.alpha, "Bravo", "relay", "up");
    let relay_channel = |station: &StationProcess| {
        let status = station.json(&["status"]).expect("status");
        status["peers"][0]["channels"]
            .as_array()
            .expect("channels")
            .iter()
            .find(|c| c["kind"] == "relay")
            .cloned()
            .expect("a relay channel")
    };
    let refused = |channel: &serde_json::Value| {
        channel["state"] == "degraded"
            && channel["deposit_refusal"]
                .as_str()
                .is_some_and(|why| why.starts_with("HTTP 507: "))
    };
    // Messages until the mailbox is full (the link's first entries count too).
    let mut sent = 0;
    while sent < MAILBOX_ITEMS_MAX + 2 {
        net.alpha
            .ok(&["send", "Bravo", &format!("fill {sent}")])
            .expect("send");
        sent += 1;
        if wait_until(Duration::from_secs(2), || {
            refused(&relay_channel(&net.alpha))
        }) {
            break;
        }
    }
    assert!(
        refused(&relay_channel(&net.alpha)),
        "not degraded after {sent} messages: {:#}",
        relay_channel(&net.alpha)
    );
    // Heartbeats keep being answered; the channel stays degraded, and says why.
    std::thread::sleep(Duration::from_millis(4 * RELAY_HEARTBEAT_MS));
    let channel = relay_channel(&net.alpha);
    assert_eq!(channel["state"], "degraded", "{channel:#}");
    assert!(channel["counters"]["deposits_refused"].as_u64() >= Some(1));
    let last = channel["transitions"]
        .as_array()
        .expect("transitions")
        .last()
        .cloned();
    let reason = last
        .as_ref()
        .and_then(|t| t["reason"].as_str())
        .unwrap_or("");
    assert!(reason.contains("the relay refuses deposits"), "{last:?}");
    let log = std::fs::read_to_string(net.alpha.home.join("daemon-1.log")).expect("log");
    assert_eq!(
        log.matches("ALARM: the relay refuses deposits").count(),
        1,
        "one alarm line per refusal spell, not per deposit"
    );
    // And one alarm, open, naming the relay and its reason.
    let target = channel["target"]
        .as_str()
        .expect("the relay's target")
        .to_owned();
    let alarm = await_alarm(&net.alpha, "relay_refusing_deposits", |alarm| {
        alarm["subject"] == target.as_str()
    });
    assert_eq!(alarm["state"], "open", "{alarm:#}");
    assert_eq!(alarm["peer"], "Bravo", "{alarm:#}");
    assert!(
        alarm["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("refuses deposits: HTTP 507: ")),
        "{alarm:#}"
    );
    let refusing = |all| {
        alarms(&net.alpha, all)
            .into_iter()
            .filter(|alarm| alarm["kind"] == "relay_refusing_deposits")
            .count()
    };
    assert_eq!(refusing(true), 1, "one alarm per refusal spell");

    // Bravo drains its mailbox; the relay stores the next deposit and the channel is up.
    net.bravo.start().expect("restart Bravo");
    let drained = wait_until(Duration::from_secs(30), || {
        !inbox_texts(&net.bravo, "Alpha").is_empty()
    });
    assert!(drained, "Bravo fetched nothing from its mailbox");
    net.alpha
        .ok(&["send", "Bravo", "room again"])
        .expect("send");
    await_channel(&net.alpha, "Bravo", "relay", "up");
    assert!(relay_channel(&net.alpha)["deposit_refusal"].is_null());
    // The relay stores again: the alarm is cleared, and `alarms` no longer lists it.
    await_alarm(&net.alpha, "relay_refusing_deposits", |now| {
        now["id"] == alarm["id"] && now["state"] == "cleared"
    });
    assert_eq!(refusing(false), 0);
}

/// The record that a frame left waits for the station's next commit (at most a second), and a
/// clean stop commits it: Alpha, alone with the relay, stops right after its message went to
/// the relay, and its outbox still says the message went out on the relay. Only a stop within
/// that second tests the stop (the record's own wait commits it after), so a slower attempt
/// is made again.
#[test]
fn a_clean_stop_keeps_the_record_of_a_frame_that_just_left() {
    const ATTEMPTS: usize = 5;
    let wait = Duration::from_millis(parley_station::limits::TRANSMISSION_RECORD_WAIT_MS);
    for attempt in 0..ATTEMPTS {
        // A new pair each time: nothing sent before to go out again.
        let root = tempfile::tempdir().expect("tempdir");
        let mut net = Net::new(root.path());
        net.relay.start().expect("start relay");
        net.alpha.start().expect("start Alpha");
        await_channel(&net.alpha, "Bravo", "relay", "up");
        // The frame cannot leave before the send starts.
        let started = Instant::now();
        net.alpha.ok(&["send", "Bravo", "just left"]).expect("send");
        let left = wait_until(Duration::from_secs(10), || {
            channel_counter(&net.alpha, "relay", "envelopes_sent") >= 1
        });
        assert!(left, "the message never went to the relay");
        net.alpha.stop().expect("stop Alpha");
        if started.elapsed() >= wait {
            eprintln!("attempt {attempt}: the stop came after the record's own wait; again");
            continue;
        }
        let outbox = net.alpha.outbox().expect("outbox");
        let item = outbox
            .iter()
            .find(|item| item["text"] == "just left")
            .expect("in the outbox");
        assert_eq!(item["sent_on"], serde_json::json!(["relay"]), "{item}");
        assert_eq!(item["state"], "sent", "{item}");
        return;
    }
    eprintln!("no attempt stopped within {wait:?} of sending on this machine: not tested");
}
