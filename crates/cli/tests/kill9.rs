//! 1,000 messages between two real `parley run` processes while one side is killed with
//! SIGKILL and restarted twice: every message arrives exactly once, in order, and ends
//! `delivered` at the sender.

mod common;

use common::{await_all_delivered, inbox_texts, paired};

const MESSAGES: usize = 1000;

fn run(kill_receiver: bool) {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    let kills = [MESSAGES / 4, 3 * MESSAGES / 5];
    let restarts = [MESSAGES / 4 + 60, 3 * MESSAGES / 5 + 60];
    for i in 1..=MESSAGES {
        let text = format!("message {i:04}");
        alpha.ok(&["send", "Bravo", &text]).expect("send");
        let victim = if kill_receiver {
            &mut bravo
        } else {
            &mut alpha
        };
        if kills.contains(&i) {
            victim.kill9().expect("kill -9");
        }
        if restarts.contains(&i) {
            victim.start().expect("restart");
        }
    }
    await_all_delivered(&alpha, &bravo);
    let expected: Vec<String> = (1..=MESSAGES).map(|i| format!("message {i:04}")).collect();
    assert_eq!(
        inbox_texts(&bravo, "Alpha"),
        expected,
        "exactly once, in order"
    );
    let outbox = alpha.outbox().expect("outbox");
    assert_eq!(outbox.len(), MESSAGES);
    assert!(outbox.iter().all(|m| m["state"] == "delivered"));
    let seqs: Vec<u64> = bravo
        .inbox()
        .expect("inbox")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "per-sender seq order");
    alpha.stop().expect("clean stop");
    bravo.stop().expect("clean stop");
}

#[test]
fn receiver_killed_twice_loses_and_duplicates_nothing() {
    run(true);
}

#[test]
fn sender_killed_twice_loses_and_duplicates_nothing() {
    run(false);
}
