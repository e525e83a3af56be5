//! A peer over its intake allowance: its entries are refused unread and wait with it, one
//! alarm stays open while it is held at the limit, a restart does not hand it a fresh
//! allowance, and everything it sent comes in as the allowance grows.

use parley_channels::Via;
use parley_proto::{Precedence, Rejection};

use super::{NOW_MS, envelopes_out, open_alarms, outputs, pin, station_with};
use crate::core::{AckId, Command, Input, Mode, Output, RequestId, Station};
use crate::home::Config;
use crate::intake_config::IntakeConfig;
use crate::limits::{CHECKPOINT_EVERY_ENTRIES_MAX, INTAKE_ALARM_QUIET_MS};
use crate::node::{commit_all, load};
use parley_proto::StationId;
use parley_store::Store;

const DAY_MS: u64 = 86_400_000;

/// Alpha's configuration: one MiB at once, one MiB a day.
fn alpha_config() -> Config {
    let mut config = Config::new("Alpha".into(), "en".into(), "127.0.0.1:9".into());
    config.intake = IntakeConfig {
        burst_mib: 1,
        per_day_mib: 1,
    };
    config
}

/// Hands `frames` to Alpha from Bravo's direct channel at `now_ms`; how many Alpha refused
/// as over Bravo's intake, and the wait the first refusal named.
fn deliver(
    alpha: &mut Station,
    bravo: parley_proto::StationId,
    now_ms: u64,
    frames: &[Vec<u8>],
) -> (usize, u64) {
    let (mut refused, mut wait) = (0, 0);
    alpha.catch_up(now_ms);
    for frame in frames {
        if let Err(r) = alpha.receive(now_ms, Some(Via::Direct(bravo)), frame) {
            let Rejection::OverIntake { wait_ms, .. } = r.rejection else {
                panic!("refused for another reason: {}", r.rejection);
            };
            if refused == 0 {
                wait = wait_ms;
            }
            refused += 1;
        }
    }
    alpha.collect(now_ms);
    (refused, wait)
}

/// Alpha configured as `config` and Bravo (which writes no checkpoint among its messages,
/// so that every entry after its first is one of them), paired both ways; Bravo's id.
fn pair(config: &Config) -> ((Station, Store), (Station, Store), StationId) {
    let (mut alpha, mut alpha_store) = station_with(config, 1);
    let mut bravo_config = Config::new("Bravo".into(), "en".into(), "127.0.0.1:9".into());
    bravo_config.checkpoints.every_entries = CHECKPOINT_EVERY_ENTRIES_MAX;
    let (mut bravo, mut bravo_store) = station_with(&bravo_config, 2);
    let (alpha_card, bravo_card) = (alpha.card(), bravo.card());
    pin(&mut alpha, &mut alpha_store, &bravo_card, true);
    pin(&mut bravo, &mut bravo_store, &alpha_card, true);
    let bravo_id = bravo_card.0.identity;
    ((alpha, alpha_store), (bravo, bravo_store), bravo_id)
}

/// Bravo sends `texts` to Alpha; every envelope it then puts on the wire, in seq order.
fn sends(bravo: &mut Station, store: &mut Store, texts: &[String]) -> Vec<Vec<u8>> {
    for (n, text) in texts.iter().enumerate() {
        let command = Command::Send {
            peer: "Alpha".into(),
            precedence: Precedence::Routine,
            text: text.clone(),
            exercise: false,
            translations: Default::default(),
            operator: None,
        };
        let id = RequestId(n as u64 + 1);
        bravo.handle(NOW_MS, Input::Command { id, command });
    }
    envelopes_out(bravo, store, NOW_MS)
}

/// Alpha's configuration with an allowance that grows back in 30 s, Alpha so configured and
/// paired with Bravo, Bravo's id, and the envelopes of Bravo's `messages` messages of 16 KiB.
fn fast_refill(messages: usize) -> (Config, (Station, Store), StationId, Vec<Vec<u8>>) {
    let mut config = alpha_config();
    config.intake.per_day_mib = 2_880;
    let (alpha, (mut bravo, mut bravo_store), bravo_id) = pair(&config);
    let long = "x".repeat(parley_proto::limits::TEXT_SIZE_MAX_BYTES);
    let frames = sends(&mut bravo, &mut bravo_store, &vec![long; messages]);
    (config, alpha, bravo_id, frames)
}

#[test]
fn a_peer_over_its_intake_waits_and_loses_nothing() {
    let ((mut alpha, mut alpha_store), (mut bravo, mut bravo_store), bravo_id) =
        pair(&alpha_config());
    // Seventy messages of 16 KiB, more than a MiB, then ten short ones.
    const SENT: u64 = 80;
    let long = "x".repeat(parley_proto::limits::TEXT_SIZE_MAX_BYTES);
    let texts: Vec<String> = (0..SENT)
        .map(|n| {
            if n < 70 {
                long.clone()
            } else {
                format!("short {n}")
            }
        })
        .collect();
    let frames = sends(&mut bravo, &mut bravo_store, &texts);
    assert_eq!(
        frames.len() as u64,
        SENT + 1,
        "the pairing entry and the messages"
    );
    let head = |alpha: &Station| alpha.endpoint.link(&bravo_id).expect("paired").in_head();

    // A MiB takes the pairing entry and as many messages as fit; the rest are refused
    // unread, and one alarm is raised however many are refused.
    let (refused, wait_ms) = deliver(&mut alpha, bravo_id, NOW_MS, &frames);
    let taken = head(&alpha);
    assert_eq!(taken + refused as u64, SENT + 1);
    assert!(
        refused > 10 && taken > 1,
        "{taken} taken, {refused} refused"
    );
    // The short ones would fit, but the allowance is kept for the long one before them:
    // nothing is taken above the gap.
    let held = alpha.endpoint.link(&bravo_id).expect("paired").in_pending();
    assert_eq!(held, 0, "entries taken above the gap");
    let link = alpha.endpoint.link(&bravo_id).expect("paired");
    let (limit, available) = (link.intake_limit(), link.intake_available_bytes(NOW_MS));
    assert_eq!(limit.burst_bytes, 1 << 20);
    assert!(available < (1 << 20) / 64, "{available} bytes left");
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);

    // Not a millisecond before the wait the first refusal named, and then one entry more.
    // Copies of the entries held are dropped as before, and cost nothing.
    let before = NOW_MS + wait_ms - 1;
    assert_eq!(deliver(&mut alpha, bravo_id, before, &frames).0, refused);
    let now_ms = NOW_MS + wait_ms;
    assert_eq!(
        deliver(&mut alpha, bravo_id, now_ms, &frames).0,
        refused - 1
    );
    assert_eq!(head(&alpha), taken + 1);
    // Held at the limit, the peer keeps its one alarm.
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);

    // A restart does not give the peer a fresh allowance, nor take what grew back since:
    // half a day on, a restarted core takes what the running one takes (but for the pairing
    // entry, a key announcement, which a restart does not charge).
    let config = alpha_config();
    let later_ms = now_ms + DAY_MS / 2;
    let loaded = load(&alpha_store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    let restarted = Station::new(later_ms, loaded, Mode::Daemon).expect("builds");
    let takes = |core: &Station| {
        core.endpoint
            .link(&bravo_id)
            .expect("paired")
            .intake_available_bytes(later_ms)
    };
    let (running, again) = (takes(&alpha), takes(&restarted));
    assert!(
        running > 400 * 1024,
        "half a day grows half a MiB back: {running}"
    );
    let pairing = frames[0].len() as u64;
    assert!(
        (running..=running + pairing).contains(&again),
        "{running} then {again}"
    );
    let loaded = load(&alpha_store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    let mut alpha = Station::new(now_ms, loaded, Mode::Daemon).expect("builds");
    assert_eq!(
        deliver(&mut alpha, bravo_id, now_ms, &frames).0,
        refused - 1
    );

    // Bravo goes quiet: the alarm clears once half the allowance is back, with no new entry.
    let half_ms = alpha.next_intake_ms().expect("the alarm's timer");
    assert!(
        half_ms > now_ms + DAY_MS / 4 && half_ms < now_ms + DAY_MS,
        "{half_ms}"
    );
    alpha.handle_timeout(half_ms - 1);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);
    alpha.handle_timeout(half_ms);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 0);
    assert_eq!(alpha.next_intake_ms(), None);

    // A day on, everything comes in, and no alarm is raised.
    let now_ms = now_ms + DAY_MS;
    assert_eq!(deliver(&mut alpha, bravo_id, now_ms, &frames).0, 0);
    assert_eq!(head(&alpha), SENT + 1);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 0);
}

/// An allowance that grows back fast (a MiB in 30 s) still keeps one alarm open while the
/// peer is held at the limit: the entries refused come in when resent, half the allowance
/// is back, yet the alarm clears only once nothing was refused for `INTAKE_ALARM_QUIET_MS`.
#[test]
fn an_over_intake_alarm_stays_open_while_the_peer_is_held() {
    let (_, (mut alpha, mut alpha_store), bravo_id, frames) = fast_refill(70);
    let (refused, _) = deliver(&mut alpha, bravo_id, NOW_MS, &frames);
    assert!(refused > 0);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);
    // Resent 20 s on, they all come in, with more than half the allowance back.
    let resent_ms = NOW_MS + 20_000;
    assert_eq!(deliver(&mut alpha, bravo_id, resent_ms, &frames).0, 0);
    let link = alpha.endpoint.link(&bravo_id).expect("paired");
    assert!(
        link.intake_available_bytes(resent_ms) > (1 << 19),
        "half back"
    );
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);
    // Quiet since the last refusal: the alarm clears on its timer, not a millisecond before.
    let clears_ms = NOW_MS + INTAKE_ALARM_QUIET_MS;
    assert_eq!(alpha.next_intake_ms(), Some(clears_ms));
    alpha.handle_timeout(clears_ms - 1);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);
    alpha.handle_timeout(clears_ms);
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 0);
}

/// A peer held at the limit for longer than its allowance takes to fill: a restart gives it
/// no more than the running station would (it was not full a refill time ago), and its alarm
/// stays the same alarm, though entries come in.
#[test]
fn a_restart_neither_refills_the_allowance_nor_clears_the_alarm() {
    let (config, (mut alpha, mut alpha_store), bravo_id, frames) = fast_refill(400);
    // Resent every 10 s for two minutes: a third of a MiB grows back each time, and is taken.
    let mut now_ms = NOW_MS;
    while now_ms <= NOW_MS + 120_000 {
        let (refused, _) = deliver(&mut alpha, bravo_id, now_ms, &frames);
        assert!(refused > 0, "held at the limit at {now_ms}");
        now_ms += 10_000;
    }
    let last_ms = now_ms - 10_000;
    assert_eq!(open_alarms(&mut alpha, &mut alpha_store, "over_intake"), 1);
    let alarm = |store: &Store| store.alarms(false).expect("reads")[0].id;
    let raised = alarm(&alpha_store);
    // Restarted 5 s after the last refusal, a sixth of the allowance back.
    let restart_ms = last_ms + 5_000;
    let takes = |core: &Station| {
        core.endpoint
            .link(&bravo_id)
            .expect("paired")
            .intake_available_bytes(restart_ms)
    };
    let running = takes(&alpha);
    assert!(running > 1 << 17, "{running}");
    let loaded = load(&alpha_store, alpha.identity.clone(), &config, [1; 32]).expect("loads");
    let mut restarted = Station::new(restart_ms, loaded, Mode::Daemon).expect("builds");
    let again = takes(&restarted);
    assert!(
        again <= running,
        "a restart gave {again} where the station had {running}"
    );
    restarted.handle_timeout(restart_ms);
    // Half a minute on, half the allowance is back, and the entries resent come in.
    let later_ms = restart_ms + 30_000;
    deliver(&mut restarted, bravo_id, later_ms, &frames);
    restarted.handle_timeout(later_ms);
    assert_eq!(
        open_alarms(&mut restarted, &mut alpha_store, "over_intake"),
        1
    );
    assert_eq!(alarm(&alpha_store), raised, "the same alarm");
}

/// A bundle from a drop folder some of whose entries are over the peer's intake is kept to
/// be read again later (deleted, those entries would wait for the peer's resend on the
/// courier, a day or more away); once they fit, the same bundle is taken whole and may go.
#[test]
fn a_bundle_over_the_intake_is_read_again_later() {
    use parley_channels::Disposal;
    use parley_proto::{Bundle, Identity, LinkId};
    let (_, (mut alpha, mut alpha_store), bravo_id, frames) = fast_refill(80);
    let sent = frames.len() as u64;
    let alpha_id = alpha.identity.id();
    let bytes = Bundle {
        link: LinkId::between(&bravo_id, &alpha_id),
        from: bravo_id,
        to: alpha_id,
        created_ms: NOW_MS,
        frames,
    }
    .sign(&Identity::from_secret(&[2; 32]));
    let mut import = |now_ms: u64, ack: u64| {
        let bundle = Input::Bundle {
            via: Via::Folder(0),
            name: "bundle".into(),
            bytes: bytes.clone(),
            ack: AckId(ack),
        };
        alpha.handle(now_ms, bundle);
        commit_all(&mut alpha, &mut alpha_store).expect("commits");
        let acked = outputs(&mut alpha)
            .into_iter()
            .find_map(|output| match output {
                Output::Ack {
                    ack: AckId(a),
                    result,
                } if a == ack => Some(result),
                _ => None,
            });
        let head = alpha.endpoint.link(&bravo_id).expect("paired").in_head();
        (acked.expect("acknowledged"), head)
    };
    let (first, taken) = import(NOW_MS, 1);
    assert_eq!(first, Ok(Disposal::ReadAgainLater));
    assert!(taken < sent, "{taken} of {sent} taken");
    // Two minutes on, the allowance has grown back: the rest is taken, the file may go.
    let (again, taken) = import(NOW_MS + 120_000, 2);
    assert_eq!(again, Ok(Disposal::Delete));
    assert_eq!(taken, sent);
}
