//! A station's store put back to an older copy (a restore from backup after a disk failure),
//! between two real `parley run` processes: what the peer sent and had receipted since the
//! copy comes to the restored station again, in order, and nothing is raised as an alarm.

mod common;

use common::{
    Net, await_all_delivered, await_channel, await_inbox, inbox_texts, paired, send_all, texts,
};
use std::time::Duration;

use common::console::{PASSWORD, add_operator, await_console, http, logged_in, serve_console};
use common::watch::{RECEIPT_S, alarms, short_objectives};
use parley_testkit::harness::{StationProcess, wait_until};

/// Puts `station`'s store back to the one in `copy` (a stopped station's home): the store's
/// files of `copy` replace the station's, and the station's write-ahead log goes.
fn put_back(copy: &StationProcess, station: &StationProcess) {
    for file in std::fs::read_dir(&station.home).expect("home") {
        let path = file.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("store.sqlite") {
            std::fs::remove_file(&path).expect("remove the store");
        }
    }
    for file in std::fs::read_dir(&copy.home).expect("copy") {
        let path = file.expect("entry").path();
        let name = path.file_name().expect("a name").to_owned();
        if name.to_str().is_some_and(|n| n.starts_with("store.sqlite")) {
            std::fs::copy(&path, station.home.join(name)).expect("put the store back");
        }
    }
}

/// Open alarms, as `status` counts them.
fn open_alarms(station: &StationProcess) -> u64 {
    station.json(&["status"]).expect("status")["alarms"]["open"]
        .as_u64()
        .expect("a count")
}

/// The number of own entries `station` sealed and sent again to its first peer.
fn entries_resent(station: &StationProcess) -> u64 {
    station.json(&["status"]).expect("status")["peers"][0]["counters"]["entries_resent"]
        .as_u64()
        .expect("a running station's counter")
}

/// `status` shows, running or stopped, that nothing more is written to Alpha, and why: in
/// its JSON (`kind`, `seq`) and in its text.
fn assert_log_closed(bravo: &StationProcess, kind: &str, seq: u64) {
    let status = bravo.json(&["status"]).expect("status");
    let closed = &status["peers"][0]["log_closed"];
    assert_eq!(closed["kind"], kind, "{status}");
    assert_eq!(closed["seq"], seq, "{status}");
    let text = bravo.cli(&["status"]).expect("status");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("no more is written to it:"), "{text}");
}

/// Alpha and Bravo, paired and running: Alpha sends `before`, Bravo is stopped and its home
/// copied, then restarted, and Alpha sends `since` (Bravo too, both, when `bravo_writes`).
/// Then Bravo's disk fails: it is killed, the copy is put back, and it starts from the copy.
/// Returns both stations and what Alpha sent before and since the copy.
fn restored_from_copy(
    root: &std::path::Path,
    bravo_writes: bool,
) -> (StationProcess, StationProcess, Vec<String>, Vec<String>) {
    let (mut alpha, mut bravo) = paired(root);
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    let before = texts("before", 0..3);
    send_all(&alpha, "Bravo", &before);
    if bravo_writes {
        send_all(&bravo, "Alpha", &before);
    }
    await_all_delivered(&alpha, &bravo);
    bravo.stop().expect("clean stop");
    let copy = bravo
        .copy_to(&root.join("copy"))
        .expect("copy Bravo's home");
    bravo.start().expect("restart Bravo");
    let since = texts("since", 0..5);
    send_all(&alpha, "Bravo", &since);
    if bravo_writes {
        send_all(&bravo, "Alpha", &since);
    }
    await_all_delivered(&alpha, &bravo);
    let everything: Vec<String> = before.iter().chain(&since).cloned().collect();
    assert_eq!(inbox_texts(&bravo, "Alpha"), everything);

    bravo.kill9().expect("kill -9");
    put_back(&copy, &bravo);
    assert_eq!(inbox_texts(&bravo, "Alpha"), before, "the copy is older");
    bravo.start().expect("start Bravo from the copy");
    (alpha, bravo, before, since)
}

#[test]
fn a_store_put_back_to_an_older_copy_gets_again_what_its_peer_sent_since() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo, before, since) = restored_from_copy(root.path(), false);
    let everything: Vec<String> = before.iter().chain(&since).cloned().collect();
    await_inbox(&bravo, "Alpha", &everything);
    assert_eq!(entries_resent(&alpha), since.len() as u64);

    // The link goes on both ways, and neither side saw misbehaviour in any of it.
    let after = texts("after", 0..2);
    send_all(&alpha, "Bravo", &after);
    send_all(&bravo, "Alpha", &after);
    await_all_delivered(&alpha, &bravo);
    let all: Vec<String> = everything.iter().chain(&after).cloned().collect();
    await_inbox(&bravo, "Alpha", &all);
    await_inbox(&alpha, "Bravo", &after);
    assert_eq!(open_alarms(&alpha), 0, "Alpha raised no alarm");
    assert_eq!(open_alarms(&bravo), 0, "Bravo raised no alarm");
    let outbox = alpha.outbox().expect("outbox");
    assert_eq!(outbox.len(), all.len());
    assert!(outbox.iter().all(|m| m["state"] == "delivered"));
    alpha.stop().expect("clean stop");
    bravo.stop().expect("clean stop");
}

/// A copy that holds nothing from the peer (taken after the station's first run, which wrote
/// its own first entries, alone): its station receipts nothing, so it says so, in a receipt
/// of nothing, when its channel comes up. The peer sends again all it had receipted, without
/// waiting for a new entry of its own to be answered.
#[test]
fn a_copy_holding_nothing_from_the_peer_gets_everything_again() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo) = paired(root.path());
    bravo.start().expect("Bravo's first run, alone");
    bravo.stop().expect("clean stop");
    let copy = bravo
        .copy_to(&root.path().join("copy"))
        .expect("copy Bravo's home");
    alpha.start().expect("start Alpha");
    bravo.start().expect("restart Bravo");
    let sent = texts("sent", 0..3);
    send_all(&alpha, "Bravo", &sent);
    await_all_delivered(&alpha, &bravo);
    assert_eq!(inbox_texts(&bravo, "Alpha"), sent);

    bravo.kill9().expect("kill -9");
    put_back(&copy, &bravo);
    assert!(
        inbox_texts(&bravo, "Alpha").is_empty(),
        "the copy holds nothing"
    );
    bravo.start().expect("start Bravo from the copy");
    await_inbox(&bravo, "Alpha", &sent);
    assert!(entries_resent(&alpha) >= sent.len() as u64);
    assert_eq!(open_alarms(&alpha), 0, "Alpha raised no alarm");
    assert_eq!(open_alarms(&bravo), 0, "Bravo raised no alarm");
    alpha.stop().expect("clean stop");
    bravo.stop().expect("clean stop");
}

/// Exports a courier bundle from `station` (stopped) for `peer` and imports it at `to`.
fn carry(station: &StationProcess, peer: &str, to: &StationProcess, dir: &std::path::Path) {
    let path = dir.join(format!("from-{}.bundle", station.name));
    let path_text = path.to_str().expect("UTF-8");
    station
        .ok(&["courier", "export", peer, "--out", path_text])
        .expect("export");
    to.ok(&["courier", "import", path_text]).expect("import");
}

/// A courier's round trip between stopped Alpha and Bravo: Alpha's bundle to Bravo, Bravo's
/// (with its receipt) back.
fn round_trip(alpha: &StationProcess, bravo: &StationProcess, dir: &std::path::Path) {
    carry(alpha, "Bravo", bravo, dir);
    carry(bravo, "Alpha", alpha, dir);
}

/// Stopped Alpha sends one message, which a courier's round trip delivers and receipts; then
/// Bravo's home is copied. Returns what Alpha sent and the copy.
fn first_then_copy(
    alpha: &StationProcess,
    bravo: &StationProcess,
    root: &std::path::Path,
) -> (Vec<String>, StationProcess) {
    let first = texts("first", 0..1);
    send_all(alpha, "Bravo", &first);
    round_trip(alpha, bravo, root);
    let copy = bravo
        .copy_to(&root.join("copy"))
        .expect("copy Bravo's home");
    (first, copy)
}

/// The same with stopped stations and a courier only: the commands work on the stores, and
/// the bundle that carries the restored station's receipt makes the next one from its peer
/// carry what it lost.
#[test]
fn a_courier_carries_again_what_a_stopped_station_lost_to_an_older_copy() {
    let root = tempfile::tempdir().expect("tempdir");
    let (alpha, bravo) = paired(root.path());
    let (first, copy) = first_then_copy(&alpha, &bravo, root.path());

    let since = texts("since", 0..2);
    send_all(&alpha, "Bravo", &since);
    round_trip(&alpha, &bravo, root.path());
    assert!(alpha.all_delivered(), "Bravo receipted everything");

    put_back(&copy, &bravo);
    assert_eq!(inbox_texts(&bravo, "Alpha"), first, "the copy is older");
    carry(&bravo, "Alpha", &alpha, root.path());
    assert!(!alpha.all_delivered(), "Alpha knows Bravo lost some");
    carry(&alpha, "Bravo", &bravo, root.path());
    let everything: Vec<String> = first.iter().chain(&since).cloned().collect();
    assert_eq!(inbox_texts(&bravo, "Alpha"), everything);
    carry(&bravo, "Alpha", &alpha, root.path());
    assert!(alpha.all_delivered());
}

/// Alpha's FLASH messages, receipted in time, then lost by Bravo to an older copy: Alpha's
/// daemon started while they wait to be receipted again raises no `receipt_overdue`, as a
/// daemon that ran through the loss raises none: their receipt came, and the peer's loss is
/// told otherwise (a warning, `entries_resent`).
#[test]
fn messages_sent_again_after_a_loss_keep_the_receipt_they_had() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, bravo) = paired(root.path());
    short_objectives(&alpha);
    let (_, copy) = first_then_copy(&alpha, &bravo, root.path());
    for text in texts("since", 0..2) {
        alpha
            .ok(&["send", "Bravo", "--precedence", "flash", &text])
            .expect("send");
    }
    round_trip(&alpha, &bravo, root.path());
    assert!(alpha.all_delivered(), "receipted in time");
    put_back(&copy, &bravo);
    carry(&bravo, "Alpha", &alpha, root.path());
    assert!(!alpha.all_delivered(), "Alpha sends them again");
    // Past their receipt deadline.
    std::thread::sleep(Duration::from_secs(RECEIPT_S + 1));
    alpha.start().expect("start Alpha");
    std::thread::sleep(Duration::from_secs(2));
    let overdue: Vec<serde_json::Value> = (alarms(&alpha, true).into_iter())
        .filter(|alarm| alarm["kind"] == "receipt_overdue")
        .collect();
    assert!(overdue.is_empty(), "a false alarm: {overdue:#?}");
    alpha.stop().expect("clean stop");
}

/// The same over a relay beside the direct path, and with the direct path cut while the
/// restored station comes back: the receipt that shows the loss, and the entries sent again,
/// go by the relay, where receipts from before the restore may still wait.
#[test]
fn over_a_relay_a_restored_store_gets_again_what_its_peer_sent_since() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut net = Net::new(root.path());
    net.start_all();
    await_channel(&net.alpha, "Bravo", "relay", "up");
    await_channel(&net.bravo, "Alpha", "relay", "up");
    let before = texts("before", 0..3);
    send_all(&net.alpha, "Bravo", &before);
    await_all_delivered(&net.alpha, &net.bravo);
    net.bravo.stop().expect("clean stop");
    let copy = net
        .bravo
        .copy_to(&root.path().join("copy"))
        .expect("copy Bravo's home");
    net.bravo.start().expect("restart Bravo");
    let since = texts("since", 0..40);
    send_all(&net.alpha, "Bravo", &since);
    await_all_delivered(&net.alpha, &net.bravo);

    net.bravo.kill9().expect("kill -9");
    put_back(&copy, &net.bravo);
    net.cut_direct(true);
    net.bravo.start().expect("start Bravo from the copy");
    let everything: Vec<String> = before.iter().chain(&since).cloned().collect();
    await_inbox(&net.bravo, "Alpha", &everything);
    // Some may come again from the relay's mailbox (deposited twice, or not yet deleted):
    // only those Bravo lacked when it signed its receipt are sealed again.
    let resent = entries_resent(&net.alpha);
    assert!(
        (1..=since.len() as u64).contains(&resent),
        "{resent} sent again"
    );
    net.cut_direct(false);
    let after = texts("after", 0..2);
    send_all(&net.alpha, "Bravo", &after);
    send_all(&net.bravo, "Alpha", &after);
    await_all_delivered(&net.alpha, &net.bravo);
    await_inbox(&net.alpha, "Bravo", &after);
    assert_eq!(open_alarms(&net.alpha), 0, "Alpha raised no alarm");
    assert_eq!(open_alarms(&net.bravo), 0, "Bravo raised no alarm");
}

/// A station put back to a copy older than entries it wrote itself: the peer's receipt covers
/// seqs this store never wrote. The station raises `split_view` and writes nothing more to
/// the peer, which would fork its log; the peer sees no equivocation. What the peer sent
/// since the copy still comes again.
#[test]
fn a_store_that_lost_entries_it_wrote_writes_no_more_rather_than_fork_its_log() {
    let root = tempfile::tempdir().expect("tempdir");
    let (alpha, mut bravo, before, since) = restored_from_copy(root.path(), true);
    let everything: Vec<String> = before.iter().chain(&since).cloned().collect();
    await_inbox(&bravo, "Alpha", &everything);
    let split_view = || {
        bravo
            .json(&["alarms"])
            .expect("alarms")
            .as_array()
            .is_some_and(|alarms| {
                alarms
                    .iter()
                    .any(|alarm| alarm["kind"] == "split_view" && alarm["peer"] == "Alpha")
            })
    };
    assert!(
        wait_until(Duration::from_secs(30), split_view),
        "Bravo raised split_view"
    );
    let refused = bravo.cli(&["send", "Alpha", "would fork"]).expect("run");
    assert_eq!(refused.status.code(), Some(1), "a local error");
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("this store ends at seq") && error.contains("does not fork"),
        "{error}"
    );
    let peer_holds = 1 + (before.len() + since.len()) as u64;
    assert_log_closed(&bravo, "behind", peer_holds);
    // The refusal is kept: a command on the stopped station refuses too.
    bravo.stop().expect("clean stop");
    let offline = bravo.cli(&["send", "Alpha", "would fork"]).expect("run");
    assert_eq!(offline.status.code(), Some(1), "a local error");
    assert_log_closed(&bravo, "behind", peer_holds);
    // Alpha saw no equivocation: Bravo never signed another entry. (What Alpha writes from
    // now on names Bravo's entries it read, which Bravo no longer holds: refused there.)
    assert_eq!(open_alarms(&alpha), 0, "Alpha raised no alarm");
    assert_eq!(inbox_texts(&alpha, "Bravo"), everything);
}

/// The station whose store lost entries it wrote takes them back from the peer's transcript:
/// a transcript of its own, which holds none of them, recovers nothing and leaves the link
/// closed; Alpha's export, taken back while Bravo runs, reopens it. Bravo then writes again,
/// Alpha takes it in order and raises nothing, and after a restart Bravo writes on.
#[test]
fn a_store_that_lost_entries_it_wrote_takes_them_back_from_the_peers_transcript() {
    let root = tempfile::tempdir().expect("tempdir");
    let (alpha, mut bravo, before, since) = restored_from_copy(root.path(), true);
    let everything: Vec<String> = before.iter().chain(&since).cloned().collect();
    await_inbox(&bravo, "Alpha", &everything);
    let peer_holds = 1 + (before.len() + since.len()) as u64;
    let closed = || !bravo.json(&["status"]).expect("status")["peers"][0]["log_closed"].is_null();
    assert!(
        wait_until(Duration::from_secs(30), closed),
        "Bravo is behind"
    );
    assert_log_closed(&bravo, "behind", peer_holds);
    let path = |name: &str| root.path().join(name).to_str().expect("UTF-8").to_owned();
    bravo
        .export_transcript("Alpha", std::path::Path::new(&path("own.transcript")))
        .expect("export");
    let own = bravo
        .json(&["transcript", "recover", &path("own.transcript")])
        .expect("recover");
    assert_eq!(own["recovered"], 0, "{own}");
    assert_eq!(own["log_closed"]["kind"], "behind", "{own}");
    let text = bravo
        .ok(&["transcript", "recover", &path("own.transcript")])
        .expect("recover");
    assert!(
        text.contains("recovered no entry") && text.contains("still no more is written"),
        "{text}"
    );

    alpha
        .export_transcript("Bravo", std::path::Path::new(&path("alpha.transcript")))
        .expect("export");
    let recovered = bravo
        .json(&["transcript", "recover", &path("alpha.transcript")])
        .expect("recover");
    let copy_held = 1 + before.len() as u64;
    assert_eq!(recovered["exporter"], "peer", "{recovered}");
    assert_eq!(recovered["recovered"], since.len() as u64, "{recovered}");
    assert_eq!(recovered["from_seq"], copy_held, "{recovered}");
    assert_eq!(recovered["written"], peer_holds, "{recovered}");
    assert_eq!(recovered["receipted_upto"], peer_holds, "{recovered}");
    assert!(recovered["log_closed"].is_null(), "{recovered}");
    assert!(!closed(), "status shows the link open");
    bravo
        .ok(&["send", "Alpha", "after recovery"])
        .expect("send");
    let mut all = everything.clone();
    all.push("after recovery".to_owned());
    await_inbox(&alpha, "Bravo", &all);
    bravo.stop().expect("clean stop");
    bravo.start().expect("restart Bravo");
    bravo
        .ok(&["send", "Alpha", "after a restart"])
        .expect("send");
    all.push("after a restart".to_owned());
    await_inbox(&alpha, "Bravo", &all);
    await_all_delivered(&alpha, &bravo);
    assert_eq!(open_alarms(&alpha), 0, "Alpha saw nothing amiss");
    assert_eq!(inbox_texts(&bravo, "Alpha"), everything);
}

/// Taken back on a stopped station, from an export of its own taken before the loss: Bravo
/// rotated its epoch key after the copy, sent a FLASH message that Alpha answered, and then,
/// with Alpha stopped, a message Alpha never received; Alpha then sent Bravo a message sealed
/// to the rotated key, which Bravo's disk takes with it. `transcript recover` takes back what
/// Alpha's receipt in the file covers (not the message Alpha never got, which Bravo then
/// writes over without a fork) and Alpha's answer with it, and announces Bravo's current key
/// again. Once both run: no `understood_overdue` at Bravo for the answered message, Alpha
/// seals its outstanding messages again to a key Bravo holds, and each takes the other's next
/// entry in order.
#[test]
fn a_stopped_station_takes_back_what_its_peer_received_and_the_answers_it_had() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo) = paired(root.path());
    short_objectives(&bravo);
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    bravo
        .ok(&["send", "Alpha", "before the copy"])
        .expect("send");
    await_all_delivered(&alpha, &bravo);
    bravo.stop().expect("clean stop");
    let copy = bravo
        .copy_to(&root.path().join("copy"))
        .expect("copy Bravo's home");
    bravo.start().expect("restart Bravo");
    bravo.ok(&["key", "rotate"]).expect("rotate");
    let flash = bravo
        .ok(&["send", "Alpha", "--precedence", "flash", "answer me"])
        .expect("send");
    let flash = flash.trim();
    await_inbox(
        &alpha,
        "Bravo",
        &texts_of(&["before the copy", "answer me"]),
    );
    alpha.ok(&["understood", flash]).expect("understood");
    let answered = || common::watch::outbox_item(&bravo, flash)["answered_by"].is_string();
    assert!(
        wait_until(Duration::from_secs(30), answered),
        "Bravo has the answer"
    );
    // A test Bravo answers by itself: taken back with its answer, it is not answered again.
    let test = alpha.ok(&["test", "Bravo"]).expect("test");
    let machine = || common::watch::outbox_item(&alpha, test.trim())["state"] == "understood";
    assert!(
        wait_until(Duration::from_secs(30), machine),
        "Bravo answered the test"
    );
    await_all_delivered(&alpha, &bravo);
    alpha.stop().expect("clean stop");
    bravo
        .ok(&["send", "Alpha", "never received"])
        .expect("send");
    let own = root.path().join("bravo.transcript");
    bravo.export_transcript("Alpha", &own).expect("export");
    bravo.kill9().expect("kill -9");
    // Sealed to the key Bravo announced after the copy, which its disk takes with it.
    alpha.start().expect("start Alpha");
    alpha
        .ok(&["send", "Bravo", "sealed to the lost key"])
        .expect("send");
    alpha.stop().expect("clean stop");
    put_back(&copy, &bravo);

    let recovered = bravo
        .json(&["transcript", "recover", own.to_str().expect("UTF-8")])
        .expect("recover");
    // The key announcement, the FLASH message and the test's answer; Alpha's answer and
    // test.
    assert_eq!(recovered["exporter"], "this_station", "{recovered}");
    assert_eq!(recovered["recovered"], 3, "{recovered}");
    assert_eq!(recovered["written"], 5, "{recovered}");
    assert_eq!(recovered["receipted_upto"], 5, "{recovered}");
    assert_eq!(recovered["peer_entries"], 2, "{recovered}");
    assert!(recovered["log_closed"].is_null(), "{recovered}");
    // The current key announced again, in the same commit, after what was taken back, and
    // nothing else (no second answer to the test).
    let status = bravo.json(&["status"]).expect("status");
    assert_eq!(status["peers"][0]["out_seq"], 6, "{status}");

    // Bravo alone first: Alpha's answer can come again from nowhere but the file. Past the
    // FLASH message's deadline, answered in what was taken back: nothing is raised.
    bravo.start().expect("start Bravo from the copy");
    std::thread::sleep(Duration::from_secs(common::watch::UNDERSTOOD_S));
    let raised: Vec<String> = alarms(&bravo, true)
        .iter()
        .map(|alarm| alarm["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !raised.iter().any(|kind| kind == "understood_overdue"),
        "{raised:?}"
    );
    alpha.start().expect("start Alpha");
    alpha
        .ok(&["send", "Bravo", "after recovery"])
        .expect("send");
    // Once Alpha reads the key announced again, it seals what is outstanding again to it.
    // (The test is listed too, with no text.)
    let from_alpha = texts_of(&["", "sealed to the lost key", "after recovery"]);
    await_inbox(&bravo, "Alpha", &from_alpha);
    bravo.ok(&["send", "Alpha", "written again"]).expect("send");
    let all = texts_of(&["before the copy", "answer me", "written again"]);
    await_inbox(&alpha, "Bravo", &all);
    await_all_delivered(&alpha, &bravo);
    assert_eq!(open_alarms(&alpha), 0, "Alpha saw nothing amiss");
    assert_eq!(open_alarms(&bravo), 0, "nor did Bravo");
}

fn texts_of(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

/// A station put back to a copy older than entries it wrote, that writes as many again before
/// the peer's receipt comes (here while the peer is stopped): the receipt does not reach beyond
/// its log, but names another entry at a seq it wrote. The station keeps the receipt as
/// `bad_receipt` evidence, raises `split_view`, and writes nothing more to the peer (what it
/// wrote forked its log; the peer refuses it as `equivocation`), also once stopped.
#[test]
fn a_store_that_forked_its_log_after_a_restore_writes_no_more() {
    let root = tempfile::tempdir().expect("tempdir");
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    let before = texts("before", 0..2);
    send_all(&bravo, "Alpha", &before);
    await_all_delivered(&bravo, &alpha);
    bravo.stop().expect("clean stop");
    let copy = bravo
        .copy_to(&root.path().join("copy"))
        .expect("copy Bravo's home");
    bravo.start().expect("restart Bravo");
    let since = texts("since", 0..3);
    send_all(&bravo, "Alpha", &since);
    await_all_delivered(&bravo, &alpha);
    alpha.stop().expect("clean stop");
    bravo.kill9().expect("kill -9");
    put_back(&copy, &bravo);
    // Written at the seqs of `since`, which Alpha holds: Bravo's log forks.
    send_all(&bravo, "Alpha", &texts("again", 0..3));
    let console = serve_console(&bravo);
    add_operator(&bravo, root.path(), "Ana", Some("en"));
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo from the copy");
    let raised = |station: &StationProcess, kind: &str| {
        station
            .json(&["alarms"])
            .expect("alarms")
            .as_array()
            .is_some_and(|alarms| alarms.iter().any(|alarm| alarm["kind"] == kind))
    };
    assert!(
        wait_until(Duration::from_secs(30), || raised(&bravo, "split_view")
            && raised(&bravo, "bad_receipt")),
        "Bravo raised split_view and bad_receipt: {}",
        bravo.json(&["alarms"]).expect("alarms")
    );
    // The operator's board says so, beside the peer.
    await_console(console);
    let cookie = logged_in(console, "Ana", PASSWORD);
    let board = http(console, "GET", "/", Some(&cookie), "");
    let seq = 1 + before.len() + since.len();
    assert!(
        board.body.contains(&format!(
            "store was put back to an older copy and wrote entries since, and the peer holds \
             another entry {seq} of its log"
        )),
        "{}",
        board.body
    );
    // A new epoch key is not announced to Alpha, and says so.
    let rotated = bravo.json(&["key", "rotate"]).expect("key rotate");
    assert_eq!(
        rotated["not_announced"],
        serde_json::json!(["Alpha"]),
        "{rotated}"
    );
    assert_eq!(rotated["announced_to"], serde_json::json!([]), "{rotated}");
    for (running, expected) in [(true, "a running station"), (false, "a stopped station")] {
        if !running {
            bravo.stop().expect("clean stop");
        }
        let refused = bravo.cli(&["send", "Alpha", "would fork"]).expect("run");
        assert_eq!(refused.status.code(), Some(1), "{expected}: a local error");
        let error = String::from_utf8_lossy(&refused.stderr);
        assert!(
            error.contains("another entry of this station's log at seq")
                && error.contains("Nothing more is written to this peer"),
            "{expected}: {error}"
        );
        assert_log_closed(&bravo, "forked", 1 + (before.len() + since.len()) as u64);
    }
    assert!(
        wait_until(Duration::from_secs(30), || raised(&alpha, "equivocation")),
        "Alpha refused the forked entries"
    );
    // Its detail gives the restore as a cause: Bravo is not taken for a liar out of hand.
    let alarms = alpha.json(&["alarms"]).expect("alarms");
    let detail = alarms
        .as_array()
        .and_then(|alarms| alarms.iter().find(|alarm| alarm["kind"] == "equivocation"))
        .and_then(|alarm| alarm["detail"].as_str())
        .unwrap_or_default();
    assert!(detail.contains("put back to an older copy"), "{detail}");
    let all: Vec<String> = before.iter().chain(&since).cloned().collect();
    assert_eq!(inbox_texts(&alpha, "Bravo"), all, "Alpha kept what it held");
    // What Bravo lost cannot be taken back over what it wrote since: Alpha's transcript
    // contradicts Bravo's log, and nothing is recovered (Bravo is stopped here).
    let file = root.path().join("alpha.transcript");
    alpha.export_transcript("Bravo", &file).expect("export");
    let refused = bravo
        .cli(&["transcript", "recover", file.to_str().expect("UTF-8")])
        .expect("run");
    assert_eq!(refused.status.code(), Some(4), "the file's fault");
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains(&format!(
            "another entry of this station's log at seq {}",
            1 + before.len() + 1
        )) && error.contains("nothing was recovered"),
        "{error}"
    );
    assert_log_closed(&bravo, "forked", 1 + (before.len() + since.len()) as u64);
    alpha.stop().expect("clean stop");
}
