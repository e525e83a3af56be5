//! A peer that sends more than a station takes from one peer: its entries over the allowance
//! wait with it, the station raises one alarm and shows what it still takes, and once the
//! allowance is raised everything the peer sent comes in. Real daemons, real QUIC.

mod common;

use std::time::Duration;

use common::watch::alarms;
use common::{DELIVERY_TIMEOUT_S, await_all_delivered, paired};
use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_testkit::harness::{StationProcess, wait_until};

/// Messages Alpha sends, each of about 48 KiB (a text and two translations at the limit):
/// more than Bravo's one MiB.
const SENT: usize = 24;

#[test]
fn a_peer_over_its_intake_waits_until_the_allowance_is_raised() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    bravo
        .configure(|config| {
            config.intake.burst_mib = 1;
            config.intake.per_day_mib = 1;
        })
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
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
