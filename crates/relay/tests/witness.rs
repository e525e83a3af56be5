//! The relay as a `c2sp.org/tlog-witness` witness, end to end: a real server over TLS
//! cosigning genuine checkpoints of admitted stations' link logs, each refusal with the status
//! the specification gives it and changing nothing held, conflicts kept as evidence, and every
//! bound of a submission checked on both sides at the endpoint.

mod common;

use std::time::Duration;

use common::{
    Answer, Relay, Station, UploadEnd, raw_answer, request_head, scrape, slow_upload, within,
};
use parley_proto::StationId;
use parley_proto::tlog::head::{self, SignedHead};
use parley_proto::tlog::{self, Hash, note};
use parley_relay::Limits;
use parley_relay::ServeOptions;
use parley_relay::limits::{WITNESS_CONFLICTS_PER_STATION_MAX, body_read_timeout_ms};
use parley_relay::server::now_ms;
use parley_relay::store::WitnessedLog;
use parley_relay::witness::ConflictReason;
use parley_relay_wire::wire;
use parley_relay_wire::witness::{
    self, ADD_CHECKPOINT_SIZE_MAX_BYTES, AddCheckpoint, CONSISTENCY_PROOF_LINES_MAX,
    PATH_WITNESS_ADD_CHECKPOINT, TEXT_CONTENT_TYPE, TLOG_SIZE_CONTENT_TYPE,
};

/// A relay serving as a witness, with Alpha and Bravo admitted.
async fn witness_relay() -> Relay {
    Relay::start_witness().await
}

fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| tlog::leaf_hash(&i.to_be_bytes())).collect()
}

fn root(n: u64) -> Hash {
    tlog::root(&leaves(n))
}

fn proof(from: u64, to: u64) -> Vec<Hash> {
    tlog::consistency_proof(&leaves(to), from as usize).expect("a proof")
}

/// `author`'s checkpoint of its log with `peer` at `size` with `root`, as a signed note.
fn checkpoint(author: &Station, peer: &StationId, size: u64, root: Hash) -> String {
    SignedHead::sign(&author.identity, peer, size, root).note(&author.id(), peer)
}

/// `POST /witness/add-checkpoint` with `body`.
async fn add(relay: &Relay, body: &[u8]) -> Answer {
    within(raw_answer(
        relay.server().local_addr(),
        relay.id,
        "POST",
        PATH_WITNESS_ADD_CHECKPOINT,
        &Vec::new(),
        body,
    ))
    .await
}

/// Submits `note` from `old_size` with `proof`.
async fn submit(relay: &Relay, old_size: u64, proof: Vec<Hash>, note: &str) -> Answer {
    let body = AddCheckpoint {
        old_size,
        proof,
        checkpoint: note.to_owned(),
    }
    .encode();
    add(relay, body.as_bytes()).await
}

/// `GET /witness/<origin hash>/checkpoint`.
async fn latest(relay: &Relay, origin: &str) -> Answer {
    within(raw_answer(
        relay.server().local_addr(),
        relay.id,
        "GET",
        &witness::checkpoint_path(origin),
        &Vec::new(),
        b"",
    ))
    .await
}

/// Asserts `answer` is a cosignature of `note` by the relay as a witness, made now; returns
/// the cosigned note.
fn assert_cosigned(relay: &Relay, answer: &Answer, note: &str) -> String {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some(TEXT_CONTENT_TYPE)
    );
    let lines = witness::parse_cosignatures(answer.body.as_bytes()).expect("signature lines");
    assert_eq!(lines.len(), 1, "{answer:?}");
    let cosigned = format!("{note}{}", lines[0]);
    let key = relay.id.verifying_key().expect("the relay's key");
    let (text, time_s) =
        note::open_cosigned(&cosigned, &witness::name(&relay.id), &key).expect("it verifies");
    assert!(note.starts_with(text));
    let now_s = now_ms() / 1000;
    assert!(
        time_s > 0 && time_s.abs_diff(now_s) <= 5,
        "{time_s} vs {now_s}"
    );
    cosigned
}

/// Asserts `answer` is a refusal with `status` whose reason contains `reason`.
fn assert_refused(answer: &Answer, status: u16, reason: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    let refusal = wire::decode_refusal(answer.body.as_bytes())
        .unwrap_or_else(|_| panic!("a JSON refusal: {answer:?}"));
    assert!(
        refusal.error.contains(reason),
        "{} lacks {reason}",
        refusal.error
    );
}

/// A `409` as c2sp.org/tlog-witness specifies it: the size held, as the whole body.
fn assert_size_conflict(answer: &Answer, held: u64) {
    assert_eq!(answer.status, 409, "{answer:?}");
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some(TLOG_SIZE_CONTENT_TYPE)
    );
    assert_eq!(answer.body, witness::encode_size(held));
}

fn logs(relay: &Relay) -> Vec<WitnessedLog> {
    relay.store().witnessed_logs().expect("reads")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_a_log_forward_and_serves_its_latest_checkpoint() {
    let relay = witness_relay().await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let origin = head::origin(&alpha.id(), &bravo);
    assert_refused(&latest(&relay, &origin).await, 404, "no checkpoint");

    // The first: nothing to be consistent with.
    let first = checkpoint(alpha, &bravo, 3, root(3));
    let cosigned = assert_cosigned(&relay, &submit(&relay, 0, vec![], &first).await, &first);
    let served = latest(&relay, &origin).await;
    assert_eq!(served.status, 200);
    assert_eq!(
        served.header("content-type").as_deref(),
        Some(TEXT_CONTENT_TYPE)
    );
    assert_eq!(
        served.body, cosigned,
        "the author's signature and the cosignature"
    );

    // The next, with a proof from the size held.
    let second = checkpoint(alpha, &bravo, 7, root(7));
    let cosigned = assert_cosigned(
        &relay,
        &submit(&relay, 3, proof(3, 7), &second).await,
        &second,
    );
    assert_eq!(latest(&relay, &origin).await.body, cosigned);

    // A client behind: 409 with the size held, exactly; then it catches up.
    let third = checkpoint(alpha, &bravo, 9, root(9));
    let stale = submit(&relay, 3, proof(3, 9), &third).await;
    assert_eq!(stale.status, 409, "{stale:?}");
    assert_eq!(
        stale.header("content-type").as_deref(),
        Some(TLOG_SIZE_CONTENT_TYPE)
    );
    assert_eq!(stale.body, witness::encode_size(7));
    assert_eq!(witness::parse_size(stale.body.as_bytes()), Ok(7));
    assert_eq!(logs(&relay)[0].size, 7, "nothing changed");
    let cosigned = assert_cosigned(
        &relay,
        &submit(&relay, 7, proof(7, 9), &third).await,
        &third,
    );
    let held = logs(&relay);
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].size, held[0].root), (9, root(9)));
    assert_eq!(held[0].note, cosigned);

    // The same checkpoint again is cosigned again, afresh (made now), and nothing is
    // written: the checkpoint held, and served, keeps its first cosignature and time.
    assert_cosigned(&relay, &submit(&relay, 9, vec![], &third).await, &third);
    assert_eq!(logs(&relay), held, "nothing written");
    assert_eq!(latest(&relay, &origin).await.body, cosigned);
    let other = checkpoint(&relay.bravo, &alpha.id(), 1, root(1));
    assert_cosigned(&relay, &submit(&relay, 0, vec![], &other).await, &other);
    assert_eq!(logs(&relay).len(), 2);
    // And it is durable: a restarted relay still serves it.
    let mut relay = relay;
    relay
        .restart_with(ServeOptions {
            witness: true,
            ..ServeOptions::default()
        })
        .await;
    assert_eq!(latest(&relay, &origin).await.body, held[0].note);
}

/// A checkpoint the witness stores takes one from a budget per author at its request rate:
/// beyond its burst, 429 and nothing stored. The checkpoint held, or a conflict kept, sent
/// again costs nothing; each station's budget is its own; and it is apart from the budget of
/// the author's signed requests, which anyone sending its public checkpoints cannot spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_to_store_are_held_to_their_author_s_request_rate() {
    let relay = Relay::start_witness_with(Limits {
        request_rate_per_second_max: 1,
        request_burst_max: 2,
        ..Limits::default()
    })
    .await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let first = checkpoint(alpha, &bravo, 1, root(1));
    assert_cosigned(&relay, &submit(&relay, 0, vec![], &first).await, &first);
    let second = checkpoint(alpha, &bravo, 2, root(2));
    let answer = submit(&relay, 1, proof(1, 2), &second).await;
    assert_cosigned(&relay, &answer, &second);
    let third = checkpoint(alpha, &bravo, 3, root(3));
    let over = submit(&relay, 2, proof(2, 3), &third).await;
    assert_refused(&over, 429, "over the witness's rate for it");
    assert_eq!(logs(&relay)[0].size, 2, "nothing stored");
    // Alpha's own requests are within their own budget.
    for _ in 0..2 {
        within(relay.client(alpha).ping())
            .await
            .expect("Alpha's budget is untouched");
    }
    for _ in 0..3 {
        assert_cosigned(&relay, &submit(&relay, 2, vec![], &second).await, &second);
    }
    let other = checkpoint(&relay.bravo, &alpha.id(), 1, root(1));
    assert_cosigned(&relay, &submit(&relay, 0, vec![], &other).await, &other);
    // A second later, the rate allows one more: a conflict, kept; the same again, with the
    // budget spent, is answered as before.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let diverged = checkpoint(alpha, &bravo, 3, [8; 32]);
    for _ in 0..3 {
        let conflict = submit(&relay, 2, proof(2, 3), &diverged).await;
        assert_refused(&conflict, 422, "does not verify");
    }
    assert_eq!(relay.store().witness_conflicts().expect("reads").len(), 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answer = submit(&relay, 2, proof(2, 3), &third).await;
    assert_cosigned(&relay, &answer, &third);
}

/// Submissions racing from the same old size: exactly one is cosigned, every other one is told
/// the size it stored (409), and the log holds the one cosigned: the check of the old size and
/// the update are one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_submissions_from_one_size_cosign_exactly_one() {
    let relay = witness_relay().await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let first = checkpoint(alpha, &bravo, 3, root(3));
    assert_cosigned(&relay, &submit(&relay, 0, vec![], &first).await, &first);
    let (addr, relay_id) = (relay.server().local_addr(), relay.id);
    let racing: Vec<_> = (4..12u64)
        .map(|size| {
            let body = AddCheckpoint {
                old_size: 3,
                proof: proof(3, size),
                checkpoint: checkpoint(alpha, &bravo, size, root(size)),
            }
            .encode();
            let path = PATH_WITNESS_ADD_CHECKPOINT;
            let answer = async move {
                raw_answer(addr, relay_id, "POST", path, &Vec::new(), body.as_bytes()).await
            };
            (size, tokio::spawn(answer))
        })
        .collect();
    let mut answers = Vec::new();
    for (size, answer) in racing {
        answers.push((size, within(answer).await.expect("the request ran")));
    }
    let cosigned: Vec<u64> = answers
        .iter()
        .filter(|(_, answer)| answer.status == 200)
        .map(|(size, _)| *size)
        .collect();
    assert_eq!(cosigned.len(), 1, "{answers:?}");
    let winner = cosigned[0];
    for (size, answer) in &answers {
        if *size != winner {
            assert_eq!(answer.status, 409, "{answer:?}");
            assert_eq!(answer.body, witness::encode_size(winner));
        }
    }
    assert_eq!(logs(&relay)[0].size, winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_come_in_the_specified_order_and_change_nothing() {
    let relay = witness_relay().await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let first = checkpoint(alpha, &bravo, 3, root(3));
    assert_cosigned(&relay, &submit(&relay, 0, vec![], &first).await, &first);
    let before = logs(&relay);
    let next = checkpoint(alpha, &bravo, 5, root(5));

    // 400: not a request, or not a signed checkpoint.
    assert_refused(&add(&relay, b"hello").await, 400, "old size");
    assert_refused(&add(&relay, b"old 3\n\n").await, 400, "no checkpoint");
    let unsigned = next.split("\n\n").next().expect("text").to_owned() + "\n";
    assert_refused(
        &submit(&relay, 3, proof(3, 5), &unsigned).await,
        400,
        "not a signed note",
    );
    // 404: the origin is not a link log, or its author is not admitted here.
    let text = format!(
        "example.com/log\n5\n{}\n",
        parley_relay::witness::encode_hash(&root(5))
    );
    let not_link =
        note::sign(&text, "example.com/log", alpha.identity.signing_key()).expect("signs");
    assert_refused(
        &submit(&relay, 3, proof(3, 5), &not_link).await,
        404,
        "names no link log",
    );
    let charlie = Station::new("Charlie", 3);
    let stranger = checkpoint(&charlie, &alpha.id(), 5, root(5));
    assert_refused(
        &submit(&relay, 0, vec![], &stranger).await,
        404,
        "is not admitted",
    );
    // 403: no signature by the log's key, or one under its name and key id that fails.
    let by_bravo = note::sign(
        &format!(
            "{}\n5\n{}\n",
            head::origin(&alpha.id(), &bravo),
            parley_relay::witness::encode_hash(&root(5))
        ),
        &head::origin(&alpha.id(), &bravo),
        relay.bravo.identity.signing_key(),
    )
    .expect("signs");
    assert_refused(
        &submit(&relay, 3, proof(3, 5), &by_bravo).await,
        403,
        "no signature by the key",
    );
    let bent = bend_signature(&next);
    assert_refused(
        &submit(&relay, 3, proof(3, 5), &bent).await,
        403,
        "does not verify",
    );
    // The signature before the sizes: a bad signature and an old size above the size is 403.
    assert_refused(
        &submit(&relay, 9, vec![], &bent).await,
        403,
        "does not verify",
    );
    // 400: the old size above the checkpoint's.
    assert_refused(
        &submit(&relay, 6, vec![], &next).await,
        400,
        "old size 6 is above",
    );
    // 409 before any 422: a size-0 checkpoint with another root, or a proof from the empty
    // tree, against a log held at 3 is told the size held.
    let zero = checkpoint(alpha, &bravo, 0, root(1));
    for (old_size, proof, note) in [(0, vec![], &zero), (0, proof(3, 5), &next)] {
        let stale = submit(&relay, old_size, proof, note).await;
        assert_eq!(
            (stale.status, stale.body.as_str()),
            (409, "3\n"),
            "{stale:?}"
        );
    }
    // On a log not held (Alpha's with Charlie): a size-0 checkpoint with another root than
    // the empty tree's is one of the size held (0) with another root, 409 as the
    // specification says; a proof from the empty tree, 422.
    let zero = checkpoint(alpha, &charlie.id(), 0, root(1));
    let other_root = submit(&relay, 0, vec![], &zero).await;
    assert_eq!(
        (other_root.status, other_root.body.as_str()),
        (409, "0\n"),
        "{other_root:?}"
    );
    let unheld = checkpoint(alpha, &charlie.id(), 5, root(5));
    assert_refused(
        &submit(&relay, 0, proof(3, 5), &unheld).await,
        422,
        "needs no proof",
    );
    // 422: equal sizes with a proof.
    assert_refused(
        &submit(&relay, 3, proof(2, 3), &first).await,
        422,
        "must be empty",
    );
    assert_eq!(logs(&relay), before, "nothing changed");
    assert_eq!(relay.store().witness_conflicts().expect("reads"), vec![]);

    // A revoked author's logs are unknown from then on.
    relay.home.revoke("Alpha", now_ms()).expect("revokes");
    assert_refused(
        &submit(&relay, 3, proof(3, 5), &next).await,
        404,
        "is not admitted",
    );
    assert_eq!(logs(&relay), before);
}

/// `note` with one base64 character of its first signature changed past the key id.
fn bend_signature(note: &str) -> String {
    let at = note.find("\n\n").expect("signed") + 2;
    let space = at + note[at..].find(' ').expect("name") + 1;
    let space = space + note[space..].find(' ').expect("signature") + 1 + 20;
    let mut bytes = note.as_bytes().to_vec();
    bytes[space] = if bytes[space] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII changed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_reconciled_is_refused_and_kept_within_its_authors_bound() {
    let mut relay = Relay::start(Limits::default()).await;
    let localhost = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    relay
        .restart_with(ServeOptions {
            metrics: Some(localhost),
            witness: true,
        })
        .await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let origin = head::origin(&alpha.id(), &bravo);
    let first = checkpoint(alpha, &bravo, 3, root(3));
    let held = assert_cosigned(&relay, &submit(&relay, 0, vec![], &first).await, &first);

    // Another tree of the size held: evidence of a fork, signed by the author; kept as the
    // author signed it, another key's signature on it dropped.
    let forked = checkpoint(alpha, &bravo, 3, [7; 32]);
    let text = forked.split("\n\n").next().expect("text").to_owned() + "\n";
    let other = note::signature_line(
        &text,
        "another.example/key",
        relay.bravo.identity.signing_key(),
    );
    // Answered as c2sp.org/tlog-witness says: 409, the size held as the whole body.
    let answer = submit(&relay, 3, vec![], &format!("{forked}{other}")).await;
    assert_size_conflict(&answer, 3);
    // A larger tree whose proof does not verify: a fork, or a bad proof, not evidence.
    let diverged = checkpoint(alpha, &bravo, 5, [8; 32]);
    let answer = submit(&relay, 3, proof(3, 5), &diverged).await;
    assert_refused(&answer, 422, "does not verify: a fork, or a bad proof");
    let refusal = wire::decode_refusal(answer.body.as_bytes()).expect("a refusal");
    assert!(!refusal.error.contains("evidence"), "{}", refusal.error);
    assert_eq!(
        latest(&relay, &origin).await.body,
        held,
        "the checkpoint held is unchanged"
    );

    let conflicts = relay.store().witness_conflicts().expect("reads");
    let kept: Vec<_> = conflicts
        .iter()
        .map(|c| {
            (
                c.reason,
                c.held_note.as_str(),
                c.new_note.as_str(),
                c.old_size,
            )
        })
        .collect();
    assert_eq!(
        kept,
        vec![
            (
                ConflictReason::SameSizeDifferentRoot,
                held.as_str(),
                forked.as_str(),
                3
            ),
            (
                ConflictReason::InconsistentProof,
                held.as_str(),
                diverged.as_str(),
                3
            ),
        ]
    );
    assert_eq!(conflicts[1].proof, proof(3, 5));
    // The same conflict again is answered as before, neither kept twice nor counted (it is
    // settled without the writer).
    assert_size_conflict(&submit(&relay, 3, vec![], &forked).await, 3);
    assert_eq!(relay.store().witness_conflicts().expect("reads").len(), 2);
    assert_eq!(logs(&relay)[0].conflicts_seen, 2);

    // The bound is the author's for each reason, over its logs: Alpha's log with another peer
    // shares it. The bad proof kept above takes no fork's place.
    let peer = StationId([0xcc; 32]);
    let other_first = checkpoint(alpha, &peer, 3, root(3));
    assert_cosigned(
        &relay,
        &submit(&relay, 0, vec![], &other_first).await,
        &other_first,
    );
    let fork_of = |n: u64| {
        let log_peer = if n.is_multiple_of(2) { bravo } else { peer };
        checkpoint(alpha, &log_peer, 3, [u8::try_from(n).expect("small"); 32])
    };
    let max = WITNESS_CONFLICTS_PER_STATION_MAX;
    for n in 2..=max {
        assert_size_conflict(&submit(&relay, 3, vec![], &fork_of(n)).await, 3);
    }
    assert_eq!(
        relay.store().witness_conflicts().expect("reads").len() as u64,
        max + 1
    );
    // Past it, conflicts on either log are answered, neither kept nor written.
    for n in [max + 1, max + 2] {
        assert_size_conflict(&submit(&relay, 3, vec![], &fork_of(n)).await, 3);
    }
    assert_eq!(
        relay.store().witness_conflicts().expect("reads").len() as u64,
        max + 1
    );
    let seen: u64 = logs(&relay).iter().map(|log| log.conflicts_seen).sum();
    assert_eq!(
        seen,
        max + 1,
        "each kept; past the bound, answered without the writer"
    );
    // Another author's bound is its own; and the genuine next checkpoint goes on.
    let bravo_first = checkpoint(&relay.bravo, &alpha.id(), 1, root(1));
    assert_cosigned(
        &relay,
        &submit(&relay, 0, vec![], &bravo_first).await,
        &bravo_first,
    );
    let bravo_fork = checkpoint(&relay.bravo, &alpha.id(), 1, [9; 32]);
    assert_size_conflict(&submit(&relay, 1, vec![], &bravo_fork).await, 1);
    assert_eq!(
        relay.store().witness_conflicts().expect("reads").len() as u64,
        max + 2
    );
    let next = checkpoint(alpha, &bravo, 5, root(5));
    assert_cosigned(&relay, &submit(&relay, 3, proof(3, 5), &next).await, &next);

    let metrics = relay.server().metrics_addr().expect("metrics are served");
    let text = scrape(metrics).await;
    let value = |name: &str, labels: &[(&str, &str)]| text.value(name, labels);
    // Forks: the first, its replay, the loop, the two past the bound and Bravo's.
    let forks = 2 + (max - 1) + 2 + 1;
    let conflicts = "parley_relay_witness_conflicts_total";
    assert_eq!(
        value(conflicts, &[("reason", "same_size_different_root")]),
        Some(forks as f64)
    );
    assert_eq!(
        value(conflicts, &[("reason", "inconsistent_proof")]),
        Some(1.0)
    );
    assert_eq!(value("parley_relay_witness_cosigned_total", &[]), Some(4.0));
    let refused = "parley_relay_witness_refused_total";
    assert_eq!(
        value(refused, &[("reason", "conflict")]),
        Some(forks as f64 + 1.0)
    );
    let duration = "parley_relay_request_duration_seconds_count";
    assert_eq!(
        value(duration, &[("endpoint", "witness_add_checkpoint")]),
        Some(forks as f64 + 1.0 + 4.0)
    );
    assert_eq!(
        value(duration, &[("endpoint", "witness_checkpoint")]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_lines_and_body_size_are_bounded_on_both_sides() {
    let relay = witness_relay().await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let next = checkpoint(alpha, &bravo, 5, root(5));
    // At the bound of proof lines the request is read (and refused for what it says: no
    // proof from the empty tree); one more is malformed.
    let lines = |n: usize| vec![[9; 32]; n];
    let at = submit(&relay, 0, lines(CONSISTENCY_PROOF_LINES_MAX), &next).await;
    assert_refused(
        &at,
        422,
        &format!("carries {CONSISTENCY_PROOF_LINES_MAX} consistency proof lines"),
    );
    let over = submit(&relay, 0, lines(CONSISTENCY_PROOF_LINES_MAX + 1), &next).await;
    assert_refused(&over, 400, "more than 63 consistency proof lines");

    // A body of exactly the limit is cosigned: its checkpoint carries other witnesses'
    // cosignatures (lines the size of ML-DSA-44 ones, then one sized to fit), which the
    // witness ignores and does not keep. One byte more is refused before it is read.
    let peer = StationId([0xcc; 32]);
    let note = checkpoint(alpha, &peer, 1, root(1));
    let padded = |len: usize| {
        let mut body = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: note.clone(),
        }
        .encode();
        let ml_dsa_44 = |n: usize| format!("\u{2014} witness{n}.example/w1 {}\n", "A".repeat(3244));
        // The last line: an em dash and a space (4 bytes), a name, " AAAAAAAA\n" (10 bytes).
        while body.len() + ml_dsa_44(99).len() + 15 <= len {
            body.push_str(&ml_dsa_44(body.len() % 97));
        }
        let name = "x".repeat(len - body.len() - 14);
        body.push_str(&format!("\u{2014} {name} AAAAAAAA\n"));
        assert_eq!(body.len(), len);
        body
    };
    let at_limit = padded(ADD_CHECKPOINT_SIZE_MAX_BYTES);
    let over_limit = padded(ADD_CHECKPOINT_SIZE_MAX_BYTES + 1);
    assert_refused(
        &add(&relay, over_limit.as_bytes()).await,
        413,
        &format!("over the limit of {ADD_CHECKPOINT_SIZE_MAX_BYTES} bytes"),
    );
    assert!(logs(&relay).is_empty());
    let checkpoint_note = at_limit
        .strip_prefix("old 0\n\n")
        .expect("a first submission");
    let cosigned = assert_cosigned(
        &relay,
        &add(&relay, at_limit.as_bytes()).await,
        checkpoint_note,
    );
    let cosignature = cosigned
        .strip_prefix(checkpoint_note)
        .expect("the note, then the cosignature");
    let held = logs(&relay);
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0].note,
        format!("{note}{cosignature}"),
        "the text with the author's signature and the cosignature alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_submission_is_ended_within_its_body_time() {
    let relay = witness_relay().await;
    let declared = ADD_CHECKPOINT_SIZE_MAX_BYTES;
    let head = request_head("POST", PATH_WITNESS_ADD_CHECKPOINT, &Vec::new(), declared);
    let allowed = Duration::from_millis(body_read_timeout_ms(declared as u64));
    let ended = slow_upload(
        relay.server().local_addr(),
        relay.id,
        head,
        Duration::from_millis(200),
        allowed * 3,
    )
    .await;
    match ended {
        UploadEnd::EndedByRelay { after, status } => {
            assert_eq!(status, Some(408), "{ended:?}");
            assert!(after >= allowed && after < allowed * 2, "{ended:?}");
        }
        other => panic!("the relay must end a slow body: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_witness_its_paths_are_unknown() {
    let relay = Relay::start(Limits::default()).await;
    let (alpha, bravo) = (&relay.alpha, relay.bravo.id());
    let first = checkpoint(alpha, &bravo, 3, root(3));
    assert_refused(
        &submit(&relay, 0, vec![], &first).await,
        404,
        "no such endpoint",
    );
    let origin = head::origin(&alpha.id(), &bravo);
    assert_refused(&latest(&relay, &origin).await, 404, "no such endpoint");
    assert!(logs(&relay).is_empty());
}
