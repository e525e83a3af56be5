//! A peer that sends more than a station takes from one peer: its entries over the allowance
//! wait with it, the station raises one alarm and shows what it still takes, and once the
//! allowance is raised everything the peer sent comes in; a transcript of the peer's is taken
//! within the same allowance. Real daemons, real QUIC.

mod common;

use std::time::Duration;

use common::watch::alarms;
use common::{DELIVERY_TIMEOUT_S, await_all_delivered, paired};
use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_testkit::harness::{StationProcess, wait_until};

/// Messages Alpha sends, each of about 48 KiB (a text and two translations at the limit):
/// more than Bravo's one MiB.
const SENT: usize = 24;

/// Alpha sends `SENT` messages of about 48 KiB each to Bravo (Alpha's daemon stopped, so they
/// wait in its outbox).
fn send_large(alpha: &StationProcess) {
    let text = "x".repeat(TEXT_SIZE_MAX_BYTES);
    let de = format!("de={text}");
    let it = format!("it={text}");
    for _ in 0..SENT {
        let args = [
            "send",
            "Bravo",
            "--translation",
            &de,
            "--translation",
            &it,
            &text,
        ];
        alpha.ok(&args).unwrap();
    }
}

/// Bravo's allowance for each peer: one MiB, growing back by one a day.
fn one_mib(bravo: &mut StationProcess) {
    bravo
        .configure(|config| {
            config.intake.burst_mib = 1;
            config.intake.per_day_mib = 1;
        })
        .unwrap();
}

#[test]
fn a_peer_over_its_intake_waits_until_the_allowance_is_raised() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    one_mib(&mut bravo);
    alpha.start().unwrap();
    bravo.start().unwrap();
    send_large(&alpha);

    // Bravo takes what fits in a MiB, then refuses the rest unread: one alarm, and its status
    // shows that it takes less than another message.
    let timeout = Duration::from_secs(DELIVERY_TIMEOUT_S);
    let over = |bravo: &StationProcess| {
        alarms(bravo, false)
            .iter()
            .filter(|alarm| alarm["kind"] == "over_intake")
            .count()
    };
    assert!(
        wait_until(timeout, || over(&bravo) == 1),
        "no over_intake alarm"
    );
    let status = bravo.json(&["status"]).unwrap();
    let peer = &status["peers"][0];
    let available = peer["intake_available_bytes"].as_u64().expect("a count");
    assert!(available < 3 * TEXT_SIZE_MAX_BYTES as u64, "{available}");
    let refused = peer["counters"]["rejected"]["over_intake"].as_u64();
    assert!(refused.is_some_and(|n| n > 0), "{peer}");
    let received = bravo.inbox().unwrap().len();
    assert!(
        received > 10 && received < SENT,
        "{received} of {SENT} taken"
    );
    assert!(
        !alpha.all_delivered(),
        "what Bravo refused waits in Alpha's outbox"
    );
    assert_eq!(
        over(&bravo),
        1,
        "one alarm, however many entries are refused"
    );

    // Raised, the allowance takes the rest, which Alpha sends again: nothing is lost, and the
    // alarm clears.
    bravo.stop().unwrap();
    bravo
        .configure(|config| config.intake.burst_mib = 64)
        .unwrap();
    bravo.start().unwrap();
    await_all_delivered(&alpha, &bravo);
    assert_eq!(bravo.inbox().unwrap().len(), SENT);
    assert!(
        wait_until(timeout, || over(&bravo) == 0),
        "the alarm did not clear"
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

/// The peer's entries a transcript of the peer's holds are taken within the peer's allowance,
/// as from a channel: the peer made the file. The rest come from the peer once it fits.
#[test]
fn a_peer_s_transcript_is_taken_within_its_allowance() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    one_mib(&mut bravo);
    send_large(&alpha);
    let file = root.path().join("alpha.transcript");
    alpha.export_transcript("Bravo", &file).unwrap();
    let recovered = bravo
        .json(&["transcript", "recover", file.to_str().unwrap()])
        .unwrap();
    assert_eq!(recovered["exporter"], "peer", "{recovered}");
    // Alpha's key announcement, and the messages that fit in a MiB.
    let taken = recovered["peer_entries"].as_u64().expect("a count") as usize;
    let received = bravo.inbox().unwrap().len();
    assert_eq!(received + 1, taken, "{recovered}");
    assert!(
        received > 10 && received < SENT,
        "{received} of {SENT} taken"
    );

    // Raised, the allowance takes the rest, which Alpha sends: nothing is lost.
    bravo
        .configure(|config| config.intake.burst_mib = 64)
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_all_delivered(&alpha, &bravo);
    assert_eq!(bravo.inbox().unwrap().len(), SENT);
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
