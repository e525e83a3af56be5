//! `parley demo`: two real stations and a relay on loopback. The stations pair, exchange
//! messages at every precedence, one is killed with SIGKILL mid-stream and restarted; then the
//! channels are taken away one by one — the direct path cut (delivery continues through the
//! relay), the relay killed too (a courier bundle carries the traffic) — and restored, with
//! nothing lost and nothing duplicated. Then the watch: a FLASH understood with a
//! restatement, a FLASH left unanswered past its (shortened) deadline — alarm, hook, signed
//! overdue entry, acknowledgement, late answer — an exercise and a cancellation, and scheduled
//! tests answered and missed. Then a codebook: the example agreed, a coded message and a launch
//! notice read at the far station in its own language, an early notice refused. Finally both
//! transcripts are exported and verified.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use parley_proto::TestAnswer;
use parley_proto::entry::Kind;
use parley_station::watch_config::TestConfig;
use parley_testkit::harness::{RelayProcess, StationProcess, wait_until};
use parley_testkit::proxy::UdpProxy;
use serde_json::Value;

mod codebook;

/// Messages streamed from Alpha while Bravo is killed and restarted.
const DEMO_STREAM_MESSAGES: usize = 40;
/// Longest the demo waits for everything to be receipted, in seconds.
const DEMO_DELIVERY_TIMEOUT_S: u64 = 30;
/// Messages sent in each phase of the channel section.
const DEMO_PHASE_MESSAGES: usize = 10;
/// Longest the demo waits for a channel to change state, in seconds.
const DEMO_CHANNEL_TIMEOUT_S: u64 = 20;
/// FLASH objectives shortened for the demo (the defaults are 60 s and 600 s), in seconds.
const DEMO_FLASH_RECEIPT_S: u64 = 10;
const DEMO_FLASH_UNDERSTOOD_S: u64 = 15;
/// Alpha's scheduled test of Bravo in the watch section: how often, and answered within, in
/// seconds.
const DEMO_TEST_EVERY_S: u64 = 3;
const DEMO_TEST_ANSWER_WITHIN_S: u64 = 3;
/// Longest the demo waits for the watch to act on its own (a deadline, a test), in seconds.
const DEMO_WATCH_TIMEOUT_S: u64 = 40;
/// Most lines of one listing the demo prints.
const DEMO_LINES_SHOWN_MAX: usize = 3;

struct Timeline {
    start: Instant,
}

impl Timeline {
    fn say(&self, text: impl AsRef<str>) {
        let t = self.start.elapsed().as_secs_f64();
        println!("[{t:7.3}s] {}", text.as_ref());
    }
}

pub fn run() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the parley binary")?;
    let root = tempfile::tempdir().context("creating a temporary directory")?;
    let t = Timeline {
        start: Instant::now(),
    };
    t.say(format!("two stations in {}", root.path().display()));
    let mut alpha = StationProcess::init(&exe, root.path(), "Alpha", "en")?;
    let mut bravo = StationProcess::init(&exe, root.path(), "Bravo", "ru")?;
    t.say(format!(
        "Alpha {} on {}",
        alpha.fingerprint()?,
        alpha.listen
    ));
    t.say(format!(
        "Bravo {} on {}",
        bravo.fingerprint()?,
        bravo.listen
    ));

    // The direct path runs through two UDP forwarders the demo can cut.
    let to_alpha = UdpProxy::start(alpha.listen)?;
    let to_bravo = UdpProxy::start(bravo.listen)?;
    alpha.pin_at(&bravo, &to_bravo.addr().to_string(), root.path())?;
    bravo.pin_at(&alpha, &to_alpha.addr().to_string(), root.path())?;
    t.say("cards exchanged; each operator confirmed the other's fingerprint and pinned it");
    let wrong = alpha.cli(&[
        "peer",
        "add",
        root.path().join("bravo.card").to_str().context("path")?,
        "--fingerprint",
        "0000-0000-0000-0000-0000-0000-0000-0000",
    ])?;
    ensure!(
        !wrong.status.success(),
        "a wrong fingerprint must be refused"
    );
    t.say("a card offered with the wrong fingerprint is refused, nothing pinned");

    let mut relay = RelayProcess::init(&exe, root.path(), "Relay")?;
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        relay.admit(station, root.path())?;
        station.fast_heartbeats()?;
        station.add_relay(peer, &relay, root.path())?;
        station.configure(|config| {
            config.objectives.flash.receipt_s = DEMO_FLASH_RECEIPT_S;
            config.objectives.flash.understood_s = DEMO_FLASH_UNDERSTOOD_S;
        })?;
    }
    let hook_log = root.path().join("alarm-hook.log");
    let hook = alarm_hook(root.path(), &hook_log)?;
    alpha.configure(|config| config.alarms.hook = Some(hook))?;
    t.say(format!(
        "FLASH must be receipted within {DEMO_FLASH_RECEIPT_S} s and understood within {DEMO_FLASH_UNDERSTOOD_S} s (shortened for the demo); Alpha's alarm hook appends to {}",
        hook_log.display()
    ));
    relay.start()?;
    t.say(format!(
        "a neutral relay {} on {} admitted both stations; each pinned it by its card and fingerprint",
        relay.fingerprint()?,
        relay.url()
    ));

    alpha.start()?;
    bravo.start()?;
    t.say("both daemons running (parley run)");
    await_channel(&t, &alpha, "relay", "up")?;
    await_channel(&t, &alpha, "direct", "up")?;

    let mut flashes = Vec::new();
    for precedence in ["flash", "immediate", "priority", "routine"] {
        let text = if precedence == "flash" {
            "FLASH from Alpha: our aircraft hold 50 km from the border until 18:00 UTC".to_owned()
        } else {
            format!("{} from Alpha: routine traffic", precedence.to_uppercase())
        };
        let alpha_id = alpha.ok(&["send", "Bravo", "--precedence", precedence, &text])?;
        t.say(format!(
            "Alpha → Bravo {precedence:<9} id {}…",
            &alpha_id.trim()[..16]
        ));
        let text = format!("{} от Браво: учение", precedence.to_uppercase());
        let bravo_id = bravo.ok(&["send", "Alpha", "--precedence", precedence, &text])?;
        t.say(format!(
            "Bravo → Alpha {precedence:<9} id {}…",
            &bravo_id.trim()[..16]
        ));
        if precedence == "flash" {
            flashes = vec![alpha_id.trim().to_owned(), bravo_id.trim().to_owned()];
        }
    }
    await_delivered(&t, &alpha, &bravo)?;
    answer_flashes(&t, &alpha, &bravo, &flashes)?;

    t.say(format!(
        "Alpha streams {DEMO_STREAM_MESSAGES} messages; Bravo is killed with SIGKILL mid-stream"
    ));
    for i in 1..=DEMO_STREAM_MESSAGES {
        alpha.ok(&["send", "Bravo", &format!("stream message {i}")])?;
        if i == DEMO_STREAM_MESSAGES / 3 {
            bravo.kill9()?;
            t.say(format!("kill -9 Bravo after message {i}"));
        }
        if i == 2 * DEMO_STREAM_MESSAGES / 3 {
            bravo.start()?;
            t.say(format!(
                "Bravo restarted after message {i}; it resumes from its store"
            ));
        }
    }
    await_delivered(&t, &alpha, &bravo)?;

    let inbox = bravo.inbox()?;
    let stream: Vec<&str> = inbox
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|text| text.starts_with("stream message "))
        .collect();
    let expected: Vec<String> = (1..=DEMO_STREAM_MESSAGES)
        .map(|i| format!("stream message {i}"))
        .collect();
    ensure!(
        stream == expected,
        "Bravo's inbox must hold every stream message once, in order"
    );
    t.say(format!(
        "Bravo holds all {DEMO_STREAM_MESSAGES} stream messages exactly once, in order; every one is 'delivered' at Alpha"
    ));

    let mut counter = 0;
    let mut phase = |label: &str| -> anyhow::Result<Vec<String>> {
        let texts: Vec<String> = (0..DEMO_PHASE_MESSAGES)
            .map(|_| {
                counter += 1;
                format!("{label} {counter}")
            })
            .collect();
        for text in &texts {
            alpha.ok(&["send", "Bravo", text])?;
        }
        Ok(texts)
    };
    let mut sent = phase("all channels up:")?;
    print_channels(&alpha)?;
    await_delivered(&t, &alpha, &bravo)?;

    to_alpha.set_blackhole(true);
    to_bravo.set_blackhole(true);
    t.say("the direct path is cut (every datagram dropped, both ways)");
    sent.extend(phase("direct cut:")?);
    await_channel(&t, &alpha, "direct", "down")?;
    await_delivered(&t, &alpha, &bravo)?;
    t.say("delivered through the relay alone");

    relay.kill9()?;
    t.say("the relay is killed too: no network path is left");
    await_channel(&t, &alpha, "relay", "down")?;
    sent.extend(phase("courier:")?);
    let bundle = root.path().join("usb-stick-to-bravo.bundle");
    let bundle_path = bundle.to_str().context("path")?;
    let out = alpha.ok(&["courier", "export", "Bravo", "--out", bundle_path])?;
    t.say(format!("Alpha: {}", out.trim()));
    let rotated = bravo.json(&["key", "rotate"])?;
    let new_key = rotated["key_id"].as_str().context("key_id")?.to_owned();
    t.say(format!(
        "while the bundle travels, Bravo makes a new epoch key ({new_key}), announced in its log"
    ));
    let out = bravo.ok(&["courier", "import", bundle_path])?;
    t.say(format!(
        "Bravo: {} (sealed to its previous key, kept until Alpha has moved on)",
        out.trim()
    ));
    let back = root.path().join("usb-stick-to-alpha.bundle");
    let back_path = back.to_str().context("path")?;
    bravo.ok(&["courier", "export", "Alpha", "--out", back_path])?;
    let out = alpha.ok(&["courier", "import", back_path])?;
    t.say(format!("Alpha imports the return bundle: {}", out.trim()));
    ensure!(
        alpha.all_delivered(),
        "the return bundle must carry the receipts"
    );
    let status = alpha.json(&["status"])?;
    let sealing_to = status["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["name"] == "Bravo"))
        .and_then(|peer| peer["peer_epoch_key"].as_str());
    ensure!(
        sealing_to == Some(new_key.as_str()),
        "Alpha must seal to Bravo's new key once it read the announcement: {sealing_to:?}"
    );
    t.say("the return bundle carried Bravo's announcement: Alpha seals to the new key from now on");

    relay.start()?;
    to_alpha.set_blackhole(false);
    to_bravo.set_blackhole(false);
    t.say("relay restarted and direct path restored");
    await_channel(&t, &alpha, "relay", "up")?;
    await_channel(&t, &alpha, "direct", "up")?;
    sent.extend(phase("recovered:")?);
    await_delivered(&t, &alpha, &bravo)?;
    print_channels(&alpha)?;
    let received: Vec<String> = bravo
        .inbox()?
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter(|text| sent.iter().any(|s| s == text))
        .map(str::to_owned)
        .collect();
    ensure!(
        received == sent,
        "Bravo must hold every phase's messages exactly once, in order"
    );
    t.say(format!(
        "all {} messages of the four phases arrived exactly once, in order, by whichever channel was left",
        sent.len()
    ));
    let keys = bravo.json(&["status"])?["epoch_keys"].clone();
    let still_needed = keys.as_array().is_none_or(|keys| {
        keys.len() != 2 || keys.iter().any(|key| key.get("needed_by").is_some())
    });
    ensure!(
        !still_needed,
        "Bravo's old key must be needed by no one now: {keys}"
    );
    t.say("Bravo's epoch keys: the old one is no longer needed, and goes once retained 14 days");
    print_lines(&bravo, &["status"], &["epoch key"])?;

    watch(&t, &mut alpha, &mut bravo, &hook_log)?;
    codebook::run(&t, root.path(), &alpha, &bravo)?;

    alpha.stop()?;
    bravo.stop()?;
    t.say("both daemons stopped cleanly (SIGTERM); Alpha's speed of service (parley stats):");
    for line in alpha.ok(&["stats"])?.lines() {
        println!("            {line}");
    }

    let alpha_file = root.path().join("alpha-transcript.txt");
    let bravo_file = root.path().join("bravo-transcript.txt");
    alpha.export_transcript("Bravo", &alpha_file)?;
    bravo.export_transcript("Alpha", &bravo_file)?;
    let alpha_verified =
        alpha.ok(&["transcript", "verify", alpha_file.to_str().context("path")?])?;
    let bravo_verified =
        bravo.ok(&["transcript", "verify", bravo_file.to_str().context("path")?])?;
    for file in [&alpha_file, &bravo_file] {
        let transcript = parley_proto::transcript::verify(&std::fs::read(file)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        let log_of = |name: &str| {
            transcript
                .stations
                .iter()
                .find(|station| station.name == name)
                .map(|station| &station.kinds)
                .with_context(|| format!("{name}'s log in the transcript"))
        };
        let (alpha_kinds, bravo_kinds) = (log_of("Alpha")?, log_of("Bravo")?);
        ensure!(
            alpha_kinds.of(Kind::Overdue) >= 1
                && alpha_kinds.of(Kind::Cancel) == 1
                && alpha_kinds.of(Kind::Clarify) == 1
                && alpha_kinds.of(Kind::Test) >= 1
                && alpha_kinds.of(Kind::Schedule) == 1
                && alpha_kinds.of(Kind::CodebookProposal) == 1
                && alpha_kinds.of(Kind::Coded) == 1
                && alpha_kinds.of(Kind::Notice) == 1
                && bravo_kinds.of(Kind::Understood) >= 2
                && bravo_kinds.of(Kind::CodebookAccept) == 1,
            "{} must hold Alpha's overdue entries, cancellation, question, tests, schedule, codebook proposal, coded message and notice, and Bravo's answers and acceptance",
            file.display()
        );
    }
    t.say("both transcripts exported and verified (every signature, chain link and receipt); both hold the understood, clarify, overdue, cancel, test, codebook, coded and notice entries:");
    for line in alpha_verified.lines() {
        println!("            Alpha's copy: {line}");
    }
    for line in bravo_verified.lines() {
        println!("            Bravo's copy: {line}");
    }
    let agreed = alpha.ok(&[
        "transcript",
        "verify",
        alpha_file.to_str().context("path")?,
        bravo_file.to_str().context("path")?,
        "--expect",
        &alpha.fingerprint()?,
        "--expect",
        &bravo.fingerprint()?,
    ])?;
    t.say("the two copies, keys pinned, agree entry for entry: every entry either side held of the other's log is in the record:");
    for line in agreed.lines() {
        println!("            {line}");
    }

    let mut tampered = std::fs::read_to_string(&alpha_file)?;
    let at = tampered.find("{\"entry\":\"").context("an entry line")? + 30;
    let flipped = if tampered.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..at + 1, flipped);
    let tampered_file = root.path().join("tampered.txt");
    std::fs::write(&tampered_file, tampered)?;
    let check = alpha.cli(&[
        "transcript",
        "verify",
        tampered_file.to_str().context("path")?,
    ])?;
    ensure!(!check.status.success(), "a tampered transcript must fail");
    t.say(format!(
        "a transcript with one character changed fails: {}",
        String::from_utf8_lossy(&check.stderr).trim()
    ));

    t.say("Demo complete.");
    Ok(())
}

/// A hook that appends each alarm it is given (one JSON line) to `log`; returns its path.
fn alarm_hook(dir: &Path, log: &Path) -> anyhow::Result<String> {
    let script = dir.join("alarm-hook.sh");
    let log = log.to_str().context("hook log path is UTF-8")?;
    ensure!(
        !log.contains('\''),
        "the hook log's path {log:?} holds a quote"
    );
    let body = format!("#!/bin/sh\ncat >> '{log}'\n");
    std::fs::write(&script, body).context("writing the alarm hook")?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .context("making the alarm hook executable")?;
    Ok(script.to_str().context("hook path is UTF-8")?.to_owned())
}

/// Bravo's operator understands Alpha's FLASH and restates it; Alpha's asks about Bravo's.
fn answer_flashes(
    t: &Timeline,
    alpha: &StationProcess,
    bravo: &StationProcess,
    flashes: &[String],
) -> anyhow::Result<()> {
    let [alpha_flash, bravo_flash] = flashes else {
        bail!("one FLASH each way");
    };
    let restatement = "Alpha keeps its aircraft 50 km back from the border until 18:00 UTC";
    bravo.ok(&[
        "understood",
        &alpha_flash[..12],
        "--restate",
        restatement,
        "--operator",
        "Lt. Petrova",
    ])?;
    alpha.ok(&[
        "clarify",
        &bravo_flash[..12],
        "which exercise area, and until when?",
        "--operator",
        "Maj. Reyes",
    ])?;
    await_outbox(alpha, alpha_flash, |item| item["state"] == "understood")?;
    await_outbox(bravo, bravo_flash, |item| item["state"] == "clarify")?;
    t.say("Bravo's operator answers Alpha's FLASH 'understood' in their own words; Alpha's operator asks Bravo to clarify theirs. The senders' outboxes:");
    print_lines(alpha, &["outbox"], &[alpha_flash.as_str()])?;
    print_lines(bravo, &["outbox"], &[bravo_flash.as_str()])?;
    Ok(())
}

/// The watch: an exercise and a cancellation, a FLASH left unanswered past its deadline, and
/// scheduled tests answered and missed.
fn watch(
    t: &Timeline,
    alpha: &mut StationProcess,
    bravo: &mut StationProcess,
    hook_log: &Path,
) -> anyhow::Result<()> {
    let drill = alpha.ok(&[
        "send",
        "Bravo",
        "--exercise",
        "simulated launch from area K-3",
    ])?;
    let false_alarm = alpha.ok(&[
        "send",
        "Bravo",
        "--precedence",
        "flash",
        "launch detected from area K-3",
    ])?;
    alpha.ok(&[
        "cancel",
        false_alarm.trim(),
        "--reason",
        "sensor fault: there was no launch",
    ])?;
    let shown = wait_until(Duration::from_secs(DEMO_WATCH_TIMEOUT_S), || {
        bravo.inbox().is_ok_and(|inbox| {
            inbox
                .iter()
                .any(|item| item["id"] == false_alarm.trim() && !item["cancelled"].is_null())
        })
    });
    ensure!(shown, "Bravo must see the cancellation");
    t.say("Alpha sends an EXERCISE message, then a FLASH it cancels a moment later (the cancellation is FLASH too). Bravo's inbox:");
    print_lines(bravo, &["inbox"], &[drill.trim()])?;
    print_lines(bravo, &["inbox"], &[false_alarm.trim()])?;

    let silent = alpha.ok(&[
        "send",
        "Bravo",
        "--precedence",
        "flash",
        "confirm you received notice 7 and stand down",
    ])?;
    let silent = silent.trim();
    t.say(format!(
        "Alpha sends a FLASH that nobody at Bravo answers; its deadline is {DEMO_FLASH_UNDERSTOOD_S} s"
    ));
    let alarm = await_alarm(alpha, |alarm| {
        alarm["kind"] == "understood_overdue" && alarm["subject"] == silent
    })?;
    t.say(
        "the deadline passes: an alarm at Alpha, and Alpha signs an overdue entry into the record:",
    );
    print_lines(alpha, &["alarms"], &["understood_overdue"])?;
    await_outbox(alpha, silent, |item| item["overdue"] == true)?;
    print_lines(alpha, &["outbox"], &[silent])?;
    await_alarm(bravo, |alarm| {
        alarm["kind"] == "understood_overdue" && alarm["subject"] == silent
    })?;
    t.say("Bravo's station alarms its own watch too: the FLASH heads its list of what awaits an answer (inbox --pending):");
    print_lines(bravo, &["inbox", "--pending"], &[silent])?;
    let hooked = wait_until(Duration::from_secs(DEMO_WATCH_TIMEOUT_S), || {
        std::fs::read_to_string(hook_log).is_ok_and(|log| log.contains(silent))
    });
    ensure!(hooked, "the alarm hook must run");
    let log = std::fs::read_to_string(hook_log)?;
    let line = log
        .lines()
        .find(|line| line.contains(silent))
        .context("the hook's line")?;
    t.say("Alpha's alarm hook ran with the alarm as JSON on its standard input:");
    println!("            {}", crate::render::text(line));

    let number = alarm["id"].as_u64().context("alarm id")?.to_string();
    alpha.ok(&[
        "alarm",
        "ack",
        &number,
        "--note",
        "calling Bravo on the backup line",
        "--operator",
        "Maj. Reyes",
    ])?;
    bravo.ok(&["understood", silent, "--operator", "Lt. Petrova"])?;
    await_alarm(alpha, |alarm| {
        alarm["kind"] == "understood_overdue"
            && alarm["subject"] == silent
            && alarm["state"] == "cleared"
    })?;
    t.say("Alpha's operator acknowledges the alarm; Bravo answers late; the alarm clears (kept in history) and the overdue entry stays in the record:");
    print_lines(alpha, &["alarms", "--all"], &["understood_overdue"])?;

    alpha.stop()?;
    alpha.configure(|config| {
        config.tests = vec![TestConfig {
            peer: "Bravo".into(),
            at: Vec::new(),
            every_s: Some(DEMO_TEST_EVERY_S),
            answer: TestAnswer::Machine,
            answer_within_s: DEMO_TEST_ANSWER_WITHIN_S,
        }];
    })?;
    alpha.start()?;
    t.say(format!(
        "Alpha restarts with a scheduled test of Bravo every {DEMO_TEST_EVERY_S} s, answered by Bravo's station within {DEMO_TEST_ANSWER_WITHIN_S} s; the schedule is announced to Bravo as a signed entry"
    ));
    let answered = wait_until(Duration::from_secs(DEMO_WATCH_TIMEOUT_S), || {
        alpha.outbox().is_ok_and(|outbox| {
            outbox
                .iter()
                .any(|item| item["kind"] == "test" && item["state"] == "understood")
        })
    });
    ensure!(answered, "Bravo's station must answer a scheduled test");
    print_lines(alpha, &["outbox"], &["TEST", "understood by the station"])?;
    bravo.kill9()?;
    t.say("kill -9 Bravo");
    let missed = await_alarm(alpha, |alarm| alarm["kind"] == "test_missed")?;
    t.say("a test goes unanswered: alarm at Alpha, and a signed overdue entry:");
    print_lines(alpha, &["alarms"], &["test_missed"])?;
    bravo.start()?;
    await_alarm(alpha, |alarm| {
        alarm["id"] == missed["id"] && alarm["state"] == "cleared"
    })?;
    t.say("Bravo restarted: its station answers the missed test late, the alarm clears, the overdue entry stays");
    await_delivered(t, alpha, bravo)?;
    Ok(())
}

/// Waits until `station`'s outbox item `id` passes `check`.
fn await_outbox(
    station: &StationProcess,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<()> {
    let reached = wait_until(Duration::from_secs(DEMO_WATCH_TIMEOUT_S), || {
        station
            .outbox()
            .is_ok_and(|outbox| outbox.iter().any(|item| item["id"] == id && check(item)))
    });
    ensure!(
        reached,
        "{}'s outbox item {id} did not change as expected",
        station.name
    );
    Ok(())
}

/// Waits until `station` holds an alarm (open or not) passing `check`; returns it.
fn await_alarm(station: &StationProcess, check: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let mut found = None;
    wait_until(Duration::from_secs(DEMO_WATCH_TIMEOUT_S), || {
        found = station
            .json(&["alarms", "--all"])
            .ok()
            .and_then(|alarms| alarms.as_array()?.iter().find(|a| check(a)).cloned());
        found.is_some()
    });
    found.with_context(|| format!("{} raised no alarm as expected", station.name))
}

/// Prints the lines of `station`'s `args` output that contain every one of `needles`.
fn print_lines(station: &StationProcess, args: &[&str], needles: &[&str]) -> anyhow::Result<()> {
    let output = station.ok(args)?;
    let shown = output
        .lines()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)));
    for line in shown.take(DEMO_LINES_SHOWN_MAX) {
        println!("            {}: {line}", station.name);
    }
    Ok(())
}

fn await_delivered(t: &Timeline, a: &StationProcess, b: &StationProcess) -> anyhow::Result<()> {
    let started = Instant::now();
    let done = wait_until(Duration::from_secs(DEMO_DELIVERY_TIMEOUT_S), || {
        a.all_delivered() && b.all_delivered()
    });
    if !done {
        bail!("messages were not all receipted within {DEMO_DELIVERY_TIMEOUT_S} s");
    }
    t.say(format!(
        "all messages receipted both ways ({} ms after the last send)",
        started.elapsed().as_millis()
    ));
    Ok(())
}

/// Waits until `station`'s channel of `kind` to Bravo is in `state`.
fn await_channel(
    t: &Timeline,
    station: &StationProcess,
    kind: &str,
    state: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let reached = wait_until(Duration::from_secs(DEMO_CHANNEL_TIMEOUT_S), || {
        station.channel_state("Bravo", kind).as_deref() == Some(state)
    });
    if !reached {
        bail!("{}'s {kind} channel did not become {state}", station.name);
    }
    t.say(format!(
        "{}'s {kind} channel is {state} ({} ms)",
        station.name,
        started.elapsed().as_millis()
    ));
    Ok(())
}

fn print_channels(station: &StationProcess) -> anyhow::Result<()> {
    for line in station.ok(&["channel", "list"])?.lines() {
        println!("            {line}");
    }
    Ok(())
}
