//! `parley demo`: two real stations and a relay on loopback. The stations pair, exchange
//! messages at every precedence, one is killed with SIGKILL mid-stream and restarted; then the
//! channels are taken away one by one — the direct path cut (delivery continues through the
//! relay), the relay killed too (a courier bundle carries the traffic) — and restored, with
//! nothing lost and nothing duplicated; finally both transcripts are exported and verified.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use parley_testkit::harness::{RelayProcess, StationProcess, wait_until};
use parley_testkit::proxy::UdpProxy;

/// Messages streamed from Alpha while Bravo is killed and restarted.
const DEMO_STREAM_MESSAGES: usize = 40;
/// Longest the demo waits for everything to be receipted, in seconds.
const DEMO_DELIVERY_TIMEOUT_S: u64 = 30;
/// Messages sent in each phase of the channel section.
const DEMO_PHASE_MESSAGES: usize = 10;
/// Longest the demo waits for a channel to change state, in seconds.
const DEMO_CHANNEL_TIMEOUT_S: u64 = 20;

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
    }
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

    for precedence in ["flash", "immediate", "priority", "routine"] {
        let text = format!(
            "{} from Alpha: exercise, exercise",
            precedence.to_uppercase()
        );
        let id = alpha.ok(&["send", "Bravo", "--precedence", precedence, &text])?;
        t.say(format!(
            "Alpha → Bravo {precedence:<9} id {}…",
            &id.trim()[..16]
        ));
        let text = format!("{} от Браво: учение", precedence.to_uppercase());
        let id = bravo.ok(&["send", "Alpha", "--precedence", precedence, &text])?;
        t.say(format!(
            "Bravo → Alpha {precedence:<9} id {}…",
            &id.trim()[..16]
        ));
    }
    await_delivered(&t, &alpha, &bravo)?;

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
    let out = bravo.ok(&["courier", "import", bundle_path])?;
    t.say(format!("Bravo: {}", out.trim()));
    let back = root.path().join("usb-stick-to-alpha.bundle");
    let back_path = back.to_str().context("path")?;
    bravo.ok(&["courier", "export", "Alpha", "--out", back_path])?;
    let out = alpha.ok(&["courier", "import", back_path])?;
    t.say(format!("Alpha imports the return bundle: {}", out.trim()));
    ensure!(
        alpha.all_delivered(),
        "the return bundle must carry the receipts"
    );

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

    let alpha_file = root.path().join("alpha-transcript.txt");
    let bravo_file = root.path().join("bravo-transcript.txt");
    alpha.export_transcript("Bravo", &alpha_file)?;
    bravo.export_transcript("Alpha", &bravo_file)?;
    let alpha_verified =
        alpha.ok(&["transcript", "verify", alpha_file.to_str().context("path")?])?;
    let bravo_verified =
        bravo.ok(&["transcript", "verify", bravo_file.to_str().context("path")?])?;
    t.say("both transcripts exported and verified (every signature, chain link and receipt):");
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

    alpha.stop()?;
    bravo.stop()?;
    t.say("both daemons stopped cleanly (SIGTERM). Demo complete.");
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

/// Compares the entry counts and heads the two verifications printed (lines name the station).
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
