//! Evidence of a fork reaches the relay's log as an error, once per interval however many
//! conflicting checkpoints arrive (the others counted into the next line), and the log names
//! the log by its origin, never the checkpoints' text. A bad consistency proof is logged as a
//! warning, not as evidence, on its own budget. The relay's log is captured by a
//! process-wide subscriber, hence a test binary of its own.

mod common;

use std::time::Instant;

use common::{Captured, Relay, raw_answer};
use parley_proto::tlog::head::{self, SignedHead};
use parley_proto::tlog::{self, note};
use parley_relay::limits::WARNING_INTERVAL_MS;
use parley_relay_wire::witness::{AddCheckpoint, PATH_WITNESS_ADD_CHECKPOINT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_logged_as_errors_at_most_once_per_interval() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let relay = Relay::start_witness().await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let origin = head::origin(&alpha.id(), &bravo);
    let submit = |old_size: u64, checkpoint: String| {
        let body = AddCheckpoint {
            old_size,
            proof: vec![],
            checkpoint,
        }
        .encode();
        let (addr, relay_id) = (relay.server().local_addr(), relay.id);
        async move {
            let path = PATH_WITNESS_ADD_CHECKPOINT;
            raw_answer(addr, relay_id, "POST", path, &Vec::new(), body.as_bytes()).await
        }
    };
    let root = tlog::root(&[tlog::leaf_hash(b"one")]);
    let first = SignedHead::sign(&alpha.identity, &bravo, 1, root).note(&alpha.id(), &bravo);
    assert_eq!(submit(0, first).await.status, 200);

    let started = Instant::now();
    let conflicts = 30u64;
    for n in 0..conflicts {
        // Another tree of size 1, with an extension line that must not reach the log.
        let text = format!(
            "{origin}\n1\n{}\nmarker-{n}\n",
            parley_relay::witness::encode_hash(&[7; 32])
        );
        let forked = note::sign(&text, &origin, alpha.identity.signing_key()).expect("signs");
        assert_eq!(submit(1, forked).await.status, 409);
    }
    let flood = started.elapsed();
    let lines = log.lines();
    let errors: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("evidence of a fork"))
        .collect();
    eprintln!("{conflicts} conflicts in {flood:?} logged:\n{errors:#?}");
    let intervals = flood.as_millis() as u64 / WARNING_INTERVAL_MS + 1;
    assert!(
        !errors.is_empty() && errors.len() as u64 <= intervals,
        "{errors:#?}"
    );
    assert!(
        errors.iter().all(|line| line.contains("ERROR")),
        "{errors:#?}"
    );
    assert!(errors[0].contains(&origin), "{}", errors[0]);
    assert!(
        !lines.iter().any(|line| line.contains("marker-")),
        "a checkpoint's text reached the log"
    );

    // A larger checkpoint with a proof that does not verify is not evidence of a fork by
    // itself (anyone holding a signed checkpoint can send a bad proof): logged at once, as a
    // warning, on a budget of its own that the flood of forks above did not spend.
    let larger = SignedHead::sign(&alpha.identity, &bravo, 2, [8; 32]).note(&alpha.id(), &bravo);
    let body = AddCheckpoint {
        old_size: 1,
        proof: vec![[9; 32]],
        checkpoint: larger,
    }
    .encode();
    let path = PATH_WITNESS_ADD_CHECKPOINT;
    let (addr, relay_id) = (relay.server().local_addr(), relay.id);
    let answer = raw_answer(addr, relay_id, "POST", path, &Vec::new(), body.as_bytes()).await;
    assert_eq!(answer.status, 422, "{answer:?}");
    let lines = log.lines();
    let bad_proofs: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("a fork, or a bad proof"))
        .collect();
    assert_eq!(bad_proofs.len(), 1, "{lines:#?}");
    assert!(bad_proofs[0].contains("WARN"), "{}", bad_proofs[0]);
    assert!(!bad_proofs[0].contains("evidence"), "{}", bad_proofs[0]);
    assert!(bad_proofs[0].contains(&origin), "{}", bad_proofs[0]);
}
