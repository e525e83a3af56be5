//! The watch with real processes: answers, deadlines that raise alarms and signed overdue
//! entries, alarm hooks, acknowledgement and clearing, scheduled tests on both sides, alarms
//! and deadlines across `kill -9`, exercises and cancellations, and the operator's mistakes
//! refused with nothing stored.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::watch::{
    WATCH_TIMEOUT, alarms, await_alarm, outbox_item, schedule_tests, send, short_objectives,
};
use common::{await_all_delivered, paired};
use parley_proto::{Body, Entry, Precedence, SignedEntry};
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// A hook that appends each alarm it is given to `log`.
fn hook(root: &Path) -> (PathBuf, PathBuf) {
    let log = root.join("hook.log");
    let script = root.join("hook.sh");
    let body = format!(
        "#!/bin/sh\n{{ cat; echo \"env $PARLEY_ALARM_CHANGE $PARLEY_ALARM_KIND\"; }} >> {}\n",
        log.display()
    );
    std::fs::write(&script, body).expect("write hook");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

/// Every entry of a transcript exported by `station` for `peer`, both authors', verified.
fn transcript_entries(station: &StationProcess, peer: &str, dir: &Path) -> Vec<Entry> {
    let path = dir.join(format!("{}-{peer}.transcript", station.name));
    station.export_transcript(peer, &path).expect("export");
    let verified = station
        .cli(&["transcript", "verify", path.to_str().unwrap()])
        .expect("verify");
    assert!(
        verified.status.success(),
        "{}'s transcript verifies: {}",
        station.name,
        String::from_utf8_lossy(&verified.stderr)
    );
    std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .filter_map(|line| {
            let line: Value = serde_json::from_str(line).ok()?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(line["entry"].as_str()?)
                .ok()?;
            let author = SignedEntry::author_unverified(&bytes).ok()?;
            Some(
                SignedEntry::decode_verified(&bytes, &author)
                    .ok()?
                    .entry()
                    .clone(),
            )
        })
        .collect()
}

/// The bodies of every entry of a transcript exported by `station` for `peer`.
fn transcript_bodies(station: &StationProcess, peer: &str, dir: &Path) -> Vec<Body> {
    transcript_entries(station, peer, dir)
        .into_iter()
        .map(|entry| entry.body)
        .collect()
}

/// (a) A FLASH understood with a restatement: the sender sees who understood it and how,
/// and both transcripts hold the signed answer.
#[test]
fn a_flash_understood_with_a_restatement_reaches_the_sender_and_both_records() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let id = send(
        &alpha,
        "Bravo",
        &["--precedence", "flash", "hold fire at the ridge"],
    );
    let pending = wait_until(WATCH_TIMEOUT, || {
        bravo
            .json(&["inbox", "--pending"])
            .is_ok_and(|items| items.as_array().is_some_and(|items| items.len() == 1))
    });
    assert!(pending, "Bravo's operator sees it waiting");
    let item = &bravo.json(&["inbox", "--pending"]).unwrap()[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["precedence"], "flash");
    assert!(item["answer"].is_null());
    let restatement = "they will not fire on the ridge";
    bravo
        .ok(&[
            "understood",
            &id[..12],
            "--restate",
            restatement,
            "--operator",
            "Ana",
        ])
        .expect("understood");
    let understood = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, &id)["state"] == "understood"
    });
    assert!(
        understood,
        "Alpha sees it understood: {:#}",
        outbox_item(&alpha, &id)
    );
    let sent = outbox_item(&alpha, &id);
    assert_eq!(sent["restatement"], restatement);
    assert_eq!(sent["answered_by"], "Ana");
    assert!(sent["answered_at_ms"].as_u64().is_some());
    assert!(
        bravo
            .json(&["inbox", "--pending"])
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty()
    );
    await_all_delivered(&alpha, &bravo);
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        let bodies = transcript_bodies(station, peer, root.path());
        assert!(
            bodies.iter().any(|body| matches!(
                body,
                Body::Understood { operator, restatement: said, .. }
                    if operator == "Ana" && said == restatement
            )),
            "{}'s transcript holds the answer",
            station.name
        );
    }
}

/// (b) An unanswered message: an alarm at the sender (and the receiver), the hook runs, a
/// signed overdue entry in both records; acknowledged, then cleared by the late answer.
#[test]
fn silence_past_the_deadline_is_alarmed_signed_and_cleared_by_the_late_answer() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    let (script, hook_log) = hook(root.path());
    short_objectives(&alpha);
    short_objectives(&bravo);
    alpha
        .configure(|config| config.alarms.hook = Some(script.display().to_string()))
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    let id = send(
        &alpha,
        "Bravo",
        &["--precedence", "flash", "confirm receipt of notice 7"],
    );
    let alarm = await_alarm(&alpha, "understood_overdue", |alarm| {
        alarm["subject"] == id.as_str()
    });
    assert_eq!(alarm["state"], "open");
    assert_eq!(alarm["peer"], "Bravo");
    // The receiver waits too, and is alarmed for its own silence.
    await_alarm(&bravo, "understood_overdue", |alarm| {
        alarm["subject"] == id.as_str()
    });
    assert_eq!(
        bravo.json(&["inbox", "--pending"]).unwrap()[0]["id"],
        id.as_str()
    );
    let overdue = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, &id)["overdue"] == true
    });
    assert!(overdue, "Alpha signed an overdue entry");
    // Unacknowledged, it escalates.
    await_alarm(&alpha, "understood_overdue", |alarm| {
        alarm["level"].as_u64() >= Some(2)
    });
    let hooked = wait_until(WATCH_TIMEOUT, || {
        std::fs::read_to_string(&hook_log).is_ok_and(|log| {
            log.contains("env raised understood_overdue") && log.contains("env escalated")
        })
    });
    assert!(hooked, "the hook ran on raise and escalation");
    let log = std::fs::read_to_string(&hook_log).unwrap();
    let first: Value = serde_json::from_str(log.lines().next().unwrap()).expect("JSON");
    assert_eq!(first["event"], "alarm");
    assert_eq!(first["change"], "raised");
    assert_eq!(first["alarm"]["subject"], id.as_str());

    let number = alarm["id"].as_u64().unwrap().to_string();
    alpha
        .ok(&[
            "alarm",
            "ack",
            &number,
            "--note",
            "calling them",
            "--operator",
            "Ben",
        ])
        .expect("ack");
    let acknowledged = alarms(&alpha, false)
        .into_iter()
        .find(|alarm| alarm["id"].as_u64().map(|n| n.to_string()) == Some(number.clone()))
        .expect("still open");
    assert_eq!(acknowledged["state"], "acknowledged");
    assert_eq!(acknowledged["acknowledged_by"], "Ben");
    assert_eq!(acknowledged["note"], "calling them");

    // The late answer clears it on both sides; the overdue entry stays in both records.
    bravo
        .ok(&["understood", &id, "--operator", "Ana"])
        .expect("late answer");
    await_alarm(&alpha, "understood_overdue", |alarm| {
        alarm["subject"] == id.as_str() && alarm["state"] == "cleared"
    });
    await_alarm(&bravo, "understood_overdue", |alarm| {
        alarm["subject"] == id.as_str() && alarm["state"] == "cleared"
    });
    let cleared_hook = wait_until(WATCH_TIMEOUT, || {
        std::fs::read_to_string(&hook_log).is_ok_and(|log| log.contains("env cleared"))
    });
    assert!(cleared_hook, "the hook ran on clearing");
    await_all_delivered(&alpha, &bravo);
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        let bodies = transcript_bodies(station, peer, root.path());
        assert_eq!(
            bodies
                .iter()
                .filter(|body| matches!(body, Body::Overdue { of, .. } if of.to_string() == id))
                .count(),
            1,
            "{}'s record holds exactly one overdue entry",
            station.name
        );
    }
}

/// (c) Scheduled tests: answered by the far station while it runs; missed (and signed as
/// overdue) while it is down; and "expected test not received" at the receiver while the
/// sender is down.
#[test]
fn scheduled_tests_are_answered_missed_and_expected() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    schedule_tests(&alpha, "Bravo", 2, parley_proto::TestAnswer::Machine, 2);
    alpha.start().unwrap();
    bravo.start().unwrap();
    let answered = wait_until(WATCH_TIMEOUT, || {
        alpha.outbox().unwrap().iter().any(|item| {
            item["kind"] == "test"
                && item["answer_by"] == "machine"
                && item["state"] == "understood"
                && item["answered_by"] == ""
        })
    });
    assert!(answered, "Bravo's station answers the tests by itself");

    bravo.kill9().unwrap();
    let missed = await_alarm(&alpha, "test_missed", |_| true);
    assert_eq!(missed["peer"], "Bravo");
    bravo.start().unwrap();
    // Back up: the overdue entries reach Bravo's record.
    let delivered = wait_until(WATCH_TIMEOUT, || {
        let bodies = transcript_bodies(&bravo, "Alpha", root.path());
        bodies
            .iter()
            .any(|body| matches!(body, Body::Overdue { .. }))
    });
    assert!(delivered, "the overdue entries reach Bravo");

    alpha.kill9().unwrap();
    let expected = await_alarm(&bravo, "expected_test_not_received", |_| true);
    assert_eq!(expected["peer"], "Alpha");
    alpha.start().unwrap();
    await_alarm(&bravo, "expected_test_not_received", |alarm| {
        alarm["state"] == "cleared"
    });
}

/// (d) Alarms and deadlines survive `kill -9` of either station and of both: an open alarm
/// stays open, an acknowledged one keeps its state, level and note (and does not escalate),
/// and deadlines running when a station dies fire after its restart.
#[test]
fn alarms_and_deadlines_survive_kill_9() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    short_objectives(&alpha);
    short_objectives(&bravo);
    alpha.start().unwrap();
    bravo.start().unwrap();
    let first = send(&alpha, "Bravo", &["--precedence", "flash", "first"]);
    let sent_alarm = await_alarm(&alpha, "understood_overdue", |alarm| {
        alarm["subject"] == first.as_str()
    });
    // Alpha's operator acknowledges at once; Bravo's alarm, for its own silence, stays open.
    let number = sent_alarm["id"].as_u64().unwrap().to_string();
    alpha
        .ok(&[
            "alarm",
            "ack",
            &number,
            "--note",
            "on the phone",
            "--operator",
            "Ben",
        ])
        .expect("ack");
    let find = |station: &StationProcess, id: &Value| {
        alarms(station, true)
            .into_iter()
            .find(|alarm| alarm["id"] == *id)
            .unwrap_or_else(|| panic!("{} lost alarm {id}", station.name))
    };
    let acknowledged = find(&alpha, &sent_alarm["id"]);
    assert_eq!(acknowledged["state"], "acknowledged");
    let kept_acknowledged = |station: &StationProcess| {
        let now = find(station, &sent_alarm["id"]);
        assert_eq!(now["state"], "acknowledged", "{now:#}");
        assert_eq!(now["level"], acknowledged["level"], "{now:#}");
        assert_eq!(now["acknowledged_by"], "Ben", "{now:#}");
        assert_eq!(now["note"], "on the phone", "{now:#}");
        assert_eq!(
            now["acknowledged_at_ms"], acknowledged["acknowledged_at_ms"],
            "{now:#}"
        );
    };
    let received_alarm = await_alarm(&bravo, "understood_overdue", |alarm| {
        alarm["subject"] == first.as_str()
    });
    let kept_open = |station: &StationProcess, before: &Value| {
        let now = find(station, &before["id"]);
        assert_eq!(now["state"], "open", "{now:#}");
        assert_eq!(now["raised_at_ms"], before["raised_at_ms"], "{now:#}");
        assert!(now["level"].as_u64() >= before["level"].as_u64(), "{now:#}");
    };

    // A deadline running when the sender dies alone still fires after its restart.
    let second = send(&alpha, "Bravo", &["--precedence", "flash", "second"]);
    alpha.kill9().unwrap();
    alpha.start().unwrap();
    kept_acknowledged(&alpha);
    let second_alarm = await_alarm(&alpha, "understood_overdue", |alarm| {
        alarm["subject"] == second.as_str()
    });
    // Bravo dies alone: its open alarm is kept, and its deadline for the second fires.
    let received_alarm = find(&bravo, &received_alarm["id"]);
    bravo.kill9().unwrap();
    bravo.start().unwrap();
    kept_open(&bravo, &received_alarm);
    await_alarm(&bravo, "understood_overdue", |alarm| {
        alarm["subject"] == second.as_str()
    });

    // Both die together.
    let second_alarm = find(&alpha, &second_alarm["id"]);
    let received_alarm = find(&bravo, &received_alarm["id"]);
    alpha.kill9().unwrap();
    bravo.kill9().unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    kept_open(&alpha, &second_alarm);
    kept_open(&bravo, &received_alarm);
    // Well past an escalation period since the acknowledgement, it has not escalated.
    std::thread::sleep(std::time::Duration::from_secs(3));
    kept_acknowledged(&alpha);
    // One overdue entry each, however many restarts.
    alpha.kill9().unwrap();
    alpha.start().unwrap();
    await_all_delivered(&alpha, &bravo);
    let bodies = transcript_bodies(&alpha, "Bravo", root.path());
    for id in [&first, &second] {
        let overdue = bodies
            .iter()
            .filter(|body| matches!(body, Body::Overdue { of, .. } if of.to_string() == *id))
            .count();
        assert_eq!(overdue, 1, "one overdue entry for {id}");
    }
}

/// (e) An exercise and a cancellation, in both inboxes' text and JSON.
#[test]
fn exercise_and_cancel_show_on_both_sides() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let drill = send(
        &alpha,
        "Bravo",
        &["--exercise", "exercise: launch detected"],
    );
    let flash = send(
        &alpha,
        "Bravo",
        &[
            "--precedence",
            "flash",
            "--operator",
            // A name that reads like more of the listing is quoted wherever it is shown.
            "Ana] [understood by Eve",
            "launch detected",
        ],
    );
    alpha
        .ok(&[
            "cancel",
            &flash,
            "--reason",
            "sensor fault",
            "--operator",
            "Boris",
        ])
        .expect("cancel");
    await_all_delivered(&alpha, &bravo);
    let shown = wait_until(WATCH_TIMEOUT, || {
        bravo
            .inbox()
            .unwrap()
            .iter()
            .any(|item| item["id"] == flash.as_str() && item["cancelled"] == "sensor fault")
    });
    assert!(shown, "Bravo sees the cancellation");
    let inbox = bravo.inbox().unwrap();
    // Who wrote each is in its signed entry; a station names none.
    let flash_item = inbox.iter().find(|i| i["id"] == flash.as_str()).unwrap();
    assert_eq!(flash_item["sent_by"], "Ana] [understood by Eve");
    assert_eq!(flash_item["cancelled_by"], "Boris");
    let drill_item = inbox
        .iter()
        .find(|item| item["id"] == drill.as_str())
        .unwrap();
    assert_eq!(drill_item["exercise"], true);
    let text = bravo.ok(&["inbox"]).unwrap();
    assert!(
        text.contains("EXERCISE \"exercise: launch detected\""),
        "{text}"
    );
    assert!(
        text.contains(
            "CANCELLED by the sender (\"Boris\"): \"sensor fault\"; \
             written by \"Ana] [understood by Eve\"]"
        ),
        "{text}"
    );
    assert!(
        !bravo
            .json(&["inbox", "--pending"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .any(|item| item["id"] == flash.as_str()),
        "a cancelled message awaits no answer"
    );
    let outbox = alpha.outbox().unwrap();
    let sent_flash = outbox
        .iter()
        .find(|item| item["id"] == flash.as_str())
        .unwrap();
    assert_eq!(sent_flash["cancelled"], "sensor fault");
    assert_eq!(
        outbox.iter().find(|i| i["id"] == drill.as_str()).unwrap()["exercise"],
        true
    );
    let text = alpha.ok(&["outbox"]).unwrap();
    assert!(
        text.contains("CANCELLED by Boris: \"sensor fault\""),
        "{text}"
    );
    assert!(
        text.lines().any(
            |line| line.contains("EXERCISE \"exercise: launch detected\"")
                && line.ends_with(drill.as_str())
        ),
        "{text}"
    );
    // The cancellation of a FLASH is FLASH, and the original stays in the record, in both
    // transcripts.
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        let entries = transcript_entries(station, peer, root.path());
        assert!(
            entries.iter().any(|entry| matches!(
                &entry.body,
                Body::Message { text, .. } if text == "launch detected"
            ) && entry.precedence == Precedence::Flash),
            "{}'s record",
            station.name
        );
        let cancels: Vec<&Entry> = entries
            .iter()
            .filter(|entry| {
                matches!(&entry.body, Body::Cancel { of, reason }
                    if reason == "sensor fault" && of.to_string() == flash)
            })
            .collect();
        assert_eq!(cancels.len(), 1, "{}'s record", station.name);
        assert_eq!(cancels[0].precedence, Precedence::Flash);
        assert_eq!(cancels[0].operator.as_deref(), Some("Boris"));
    }
}

/// Operators' mistakes: refused with a clear message and exit code 3, nothing stored.
#[test]
fn answers_that_make_no_sense_are_refused_and_store_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let mut ids = Vec::new();
    for i in 0..17 {
        ids.push(send(&alpha, "Bravo", &[&format!("message {i}")]));
    }
    await_all_delivered(&alpha, &bravo);
    // What any stored entry or alarm change would show: the outbox, every link's own log
    // (answers, cancellations and tests are entries the outbox does not list) and the alarms.
    let stored = |station: &StationProcess| {
        let status = station.json(&["status"]).unwrap();
        let logs: Vec<(Value, Value)> = status["peers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|peer| (peer["name"].clone(), peer["out_seq"].clone()))
            .collect();
        assert!(
            logs.iter().all(|(_, seq)| seq.as_u64().is_some()),
            "{status:#}"
        );
        (
            station.json(&["outbox"]).unwrap(),
            logs,
            station.json(&["alarms", "--all"]).unwrap(),
        )
    };
    let refused = |station: &StationProcess, args: &[&str], expect: &str| {
        let before = stored(station);
        let output = station.cli(args).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nothing was stored") || stderr.contains("nothing was changed"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stored(station), before, "{args:?} stored something");
    };
    refused(
        &bravo,
        &["understood", "abcdef0123456789"],
        "no message or test has an id",
    );
    refused(&bravo, &["understood", "xyz"], "is not a message id");
    refused(
        &bravo,
        &["understood", &ids[0], "--operator", "  "],
        "the operator name is blank",
    );
    refused(&alpha, &["understood", &ids[0]], "this station's own");
    // Whoever sends or cancels is named in the signed entry: a name breaking the name rule
    // is refused before anything is stored.
    refused(
        &alpha,
        &["send", "Bravo", "hello", "--operator", "  "],
        "the operator name is blank",
    );
    refused(
        &alpha,
        &["cancel", &ids[2], "--operator", "Ana\u{202e}"],
        "the operator name",
    );
    refused(
        &alpha,
        &["test", "Bravo", "--operator", &"n".repeat(65)],
        "the operator name",
    );
    // A name that could pass for another's, with a zero-width space.
    refused(
        &alpha,
        &["send", "Bravo", "hello", "--operator", "Ana\u{200b}"],
        "the operator name holds an invisible character",
    );
    let over = "x".repeat(parley_proto::limits::TEXT_SIZE_MAX_BYTES + 1);
    refused(
        &bravo,
        &["understood", &ids[0], "--restate", &over],
        "over the limit",
    );
    // Sixteen hex digits, seventeen ids: some first digit is shared.
    let shared = (0..16)
        .map(|digit| format!("{digit:x}"))
        .find(|digit| {
            ids.iter()
                .filter(|id| id.starts_with(digit.as_str()))
                .count()
                >= 2
        })
        .expect("pigeonhole");
    refused(&bravo, &["understood", &shared], "give more digits");
    // An answer stored shows in what the refusals are compared on.
    let before = stored(&bravo);
    bravo
        .ok(&["understood", &ids[0], "--operator", "Ana"])
        .unwrap();
    assert_ne!(stored(&bravo), before, "an answer stored is seen");
    refused(
        &bravo,
        &["understood", &ids[0]],
        "understood already, by Ana",
    );
    refused(
        &bravo,
        &["clarify", &ids[0], "which?"],
        "understood already",
    );
    refused(&bravo, &["cancel", &ids[1]], "only its sender cancels");
    refused(&bravo, &["alarm", "ack", "999"], "there is no alarm 999");
    let at_limit = "x".repeat(parley_proto::limits::TEXT_SIZE_MAX_BYTES);
    bravo
        .ok(&["understood", &ids[1], "--restate", &at_limit])
        .expect("a restatement at the limit");
}

/// A configuration whose objectives make no sense is refused before anything runs, with the
/// field named.
#[test]
fn objectives_that_make_no_sense_are_refused_with_the_field_named() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    let plain = root.path().join("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let plain = plain.display().to_string();
    for (change, field) in [
        (
            Box::new(|config: &mut parley_station::home::Config| {
                config.objectives.flash.understood_s = 0
            }) as Box<dyn Fn(&mut parley_station::home::Config)>,
            "objectives.flash.understood_s = 0",
        ),
        (
            Box::new(|config: &mut parley_station::home::Config| {
                config.objectives.routine.receipt_s = 7_200;
                config.objectives.routine.understood_s = 3_600;
            }),
            "objectives.routine.receipt_s = 7200 is longer than objectives.routine.understood_s",
        ),
        (
            Box::new(|config: &mut parley_station::home::Config| {
                config.alarms.hook = Some("/nonexistent/page-the-duty-officer".into());
            }),
            "alarms.hook = \"/nonexistent/page-the-duty-officer\" cannot be run",
        ),
        (
            Box::new(move |config: &mut parley_station::home::Config| {
                config.alarms.hook = Some(plain.clone());
            }),
            "cannot be run: it is not executable",
        ),
        (
            Box::new(|config: &mut parley_station::home::Config| {
                config.alarms.hook = Some("/tmp".into());
            }),
            "alarms.hook = \"/tmp\" cannot be run: it is not a regular file",
        ),
    ] {
        alpha.configure(|config| change(config)).unwrap();
        let output = alpha.cli(&["run"]).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(field), "{stderr}");
        alpha
            .configure(|config| {
                config.objectives = parley_station::watch_config::Objectives::default();
                config.alarms.hook = None;
            })
            .unwrap();
    }
}

/// A station stopped cleanly across a due time of the peer's tests, whose test waits for it
/// on a channel, raises no `expected_test_not_received` when it starts: it does not check a
/// due time it did not watch.
#[test]
fn a_clean_restart_across_the_peer_s_test_raises_no_false_alarm() {
    const EVERY_S: u64 = 4;
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    schedule_tests(
        &alpha,
        "Bravo",
        EVERY_S,
        parley_proto::TestAnswer::Machine,
        2,
    );
    alpha.start().unwrap();
    bravo.start().unwrap();
    let tests_came = |bravo: &StationProcess| {
        (bravo.inbox().unwrap().iter())
            .filter(|item| item["kind"] == "test")
            .count()
    };
    assert!(
        wait_until(WATCH_TIMEOUT, || tests_came(&bravo) >= 1),
        "a test came"
    );

    for _ in 0..2 {
        bravo.stop().unwrap();
        // Over a due time and the time allowed after it; Alpha goes on writing its tests.
        let before = tests_came(&bravo);
        std::thread::sleep(std::time::Duration::from_secs(EVERY_S + 3));
        bravo.start().unwrap();
        assert!(
            wait_until(WATCH_TIMEOUT, || tests_came(&bravo) > before),
            "the tests written while Bravo was stopped come"
        );
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let raised: Vec<Value> = alarms(&bravo, true)
        .into_iter()
        .filter(|alarm| alarm["kind"] == "expected_test_not_received")
        .collect();
    assert!(raised.is_empty(), "{raised:#?}");
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
