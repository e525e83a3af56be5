//! The watch with real processes, as operators read it: speed of service (`stats`), the
//! receipt deadline's warning and alarm, channels and links down, tests sent by hand and on a
//! schedule answered or missed, a question in answer (`clarify`), and what awaits an answer,
//! most urgent first.

mod common;

use std::time::Duration;

use common::watch::{
    Events, WATCH_TIMEOUT, alarms, await_alarm, outbox_item, schedule_tests, send,
};
use common::{await_all_delivered, await_channel, paired};
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// Now, as RFC 3339 (UTC, with its fraction of a second).
fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// The row of `precedence` in `stats --json`.
fn stats_row<'a>(stats: &'a Value, precedence: &str) -> &'a Value {
    stats
        .as_array()
        .expect("array")
        .iter()
        .find(|row| row["precedence"] == precedence)
        .unwrap_or_else(|| panic!("no {precedence} row: {stats:#}"))
}

/// Checks one `receipt` or `understood` object of `stats --json`: `count` durations, their
/// median, 99th percentile and maximum in order; the maximum is `max_ms` when given.
fn check_durations(durations: &Value, count: u64, max_ms: Option<u64>) {
    assert_eq!(durations["count"], count, "{durations:#}");
    if count == 0 {
        for field in ["p50_ms", "p99_ms", "max_ms"] {
            assert!(durations[field].is_null(), "{durations:#}");
        }
        return;
    }
    let of = |field: &str| {
        durations[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} missing: {durations:#}"))
    };
    let (p50, p99, max) = (of("p50_ms"), of("p99_ms"), of("max_ms"));
    assert!(p50 <= p99 && p99 <= max, "{durations:#}");
    if let Some(expected) = max_ms {
        assert_eq!(max, expected, "{durations:#}");
    }
}

/// Longest of `to - created_at` over the outbox rows `items`, `to` one of their time fields.
fn longest(items: &[&Value], to: &str) -> Option<u64> {
    items
        .iter()
        .filter_map(|item| {
            Some(
                item[to]
                    .as_u64()?
                    .saturating_sub(item["created_at"].as_u64()?),
            )
        })
        .max()
}

/// `stats`: per precedence, the messages sent, how fast they were receipted and answered,
/// which went overdue and which still wait; `--since` counts only what was written from then
/// on, and refuses a time that does not parse.
#[test]
fn stats_report_each_precedence_with_its_times_overdue_and_waiting() {
    // Long enough for Bravo's operator to answer the first FLASHes in time; the last goes
    // overdue.
    // Generous, for a loaded machine: every CLI call here is a process.
    const FLASH_UNDERSTOOD_S: u64 = 15;
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha
        .configure(|config| {
            config.objectives.flash.receipt_s = 2;
            config.objectives.flash.understood_s = FLASH_UNDERSTOOD_S;
        })
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_channel(&alpha, "Bravo", "direct", "up");
    let before = now_rfc3339();
    std::thread::sleep(Duration::from_millis(20));
    let mut answered: Vec<String> = (0..2)
        .map(|i| {
            send(
                &alpha,
                "Bravo",
                &["--precedence", "flash", &format!("flash {i}")],
            )
        })
        .collect();
    answered.push(send(&alpha, "Bravo", &["routine, answered"]));
    for id in &answered {
        let arrived = wait_until(WATCH_TIMEOUT, || {
            bravo
                .inbox()
                .unwrap()
                .iter()
                .any(|item| item["id"] == id.as_str())
        });
        assert!(arrived, "Bravo has {id}");
        bravo
            .ok(&["understood", id, "--operator", "Ana"])
            .expect("understood");
    }
    std::thread::sleep(Duration::from_millis(20));
    let middle = now_rfc3339();
    std::thread::sleep(Duration::from_millis(20));
    let overdue = send(
        &alpha,
        "Bravo",
        &["--precedence", "flash", "left unanswered"],
    );
    let waiting = send(&alpha, "Bravo", &["routine, waiting"]);
    let settled = wait_until(WATCH_TIMEOUT, || {
        let outbox = alpha.outbox().unwrap();
        outbox.len() == 5
            && outbox.iter().all(|item| item["delivered_at"].is_u64())
            && outbox
                .iter()
                .filter(|item| item["answered_at_ms"].is_u64())
                .count()
                == 3
            && outbox
                .iter()
                .any(|item| item["id"] == overdue.as_str() && item["overdue"] == true)
    });
    assert!(settled, "{:#?}", alpha.outbox().unwrap());
    let outbox = alpha.outbox().unwrap();
    let of = |precedence: &str| -> Vec<&Value> {
        outbox
            .iter()
            .filter(|item| item["precedence"] == precedence)
            .collect()
    };
    let (flash, routine) = (of("flash"), of("routine"));

    let stats = alpha.json(&["stats"]).unwrap();
    let order: Vec<&str> = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["precedence"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["flash", "immediate", "priority", "routine"]);
    let row = stats_row(&stats, "flash");
    assert_eq!(row["count"], 3, "{row:#}");
    check_durations(&row["receipt"], 3, longest(&flash, "delivered_at"));
    check_durations(&row["understood"], 2, longest(&flash, "answered_at_ms"));
    assert!(
        row["understood"]["max_ms"].as_u64() < Some(FLASH_UNDERSTOOD_S * 1_000),
        "answered in time: {row:#}"
    );
    assert_eq!(row["overdue"], 1, "{row:#}");
    assert_eq!(row["waiting"], 0, "{row:#}");
    let row = stats_row(&stats, "routine");
    assert_eq!(row["count"], 2, "{row:#}");
    check_durations(&row["receipt"], 2, longest(&routine, "delivered_at"));
    check_durations(&row["understood"], 1, longest(&routine, "answered_at_ms"));
    assert_eq!(row["overdue"], 0, "{row:#}");
    assert_eq!(row["waiting"], 1, "{row:#}");
    for precedence in ["immediate", "priority"] {
        let row = stats_row(&stats, precedence);
        assert_eq!(row["count"], 0, "{row:#}");
        check_durations(&row["receipt"], 0, None);
        check_durations(&row["understood"], 0, None);
        assert_eq!(row["overdue"], 0, "{row:#}");
        assert_eq!(row["waiting"], 0, "{row:#}");
    }

    // From before the first send: everything; from the middle: the last two only; from a time
    // to come: nothing.
    assert_eq!(alpha.json(&["stats", "--since", &before]).unwrap(), stats);
    let since_middle = alpha.json(&["stats", "--since", &middle]).unwrap();
    let row = stats_row(&since_middle, "flash");
    assert_eq!(row["count"], 1, "{row:#}");
    check_durations(&row["understood"], 0, None);
    assert_eq!(row["overdue"], 1, "{row:#}");
    let row = stats_row(&since_middle, "routine");
    assert_eq!(row["count"], 1, "{row:#}");
    check_durations(&row["understood"], 0, None);
    assert_eq!(row["waiting"], 1, "{row:#}");
    assert_eq!(outbox_item(&alpha, &waiting)["answered_at_ms"], Value::Null);
    let future = alpha
        .json(&["stats", "--since", "2999-01-01T00:00:00Z"])
        .unwrap();
    for row in future.as_array().unwrap() {
        assert_eq!(row["count"], 0, "{row:#}");
        check_durations(&row["receipt"], 0, None);
        check_durations(&row["understood"], 0, None);
        assert_eq!(row["overdue"], 0, "{row:#}");
        assert_eq!(row["waiting"], 0, "{row:#}");
    }

    // A time that does not parse is the operator's error (exit code 3).
    for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-12-01 09:00"] {
        let output = alpha.cli(&["stats", "--since", bad]).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{bad}: {stderr}");
        assert!(
            stderr.contains(&format!("{bad:?} is not an RFC 3339 time")),
            "{bad}: {stderr}"
        );
    }

    // The text form: a line per precedence, named, with its count, overdue and waiting last.
    let text = alpha.ok(&["stats"]).unwrap();
    for (name, count, overdue, waiting) in [
        ("FLASH", "3", "1", "0"),
        ("IMMEDIATE", "0", "0", "0"),
        ("PRIORITY", "0", "0", "0"),
        ("ROUTINE", "2", "0", "1"),
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line: {text}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], count, "{line}");
        assert_eq!(words[words.len() - 2..], [overdue, waiting], "{line}");
        assert_eq!(line.contains(" - "), count == "0", "{line}");
    }
}

/// A FLASH sent while the peer is away: half-way to its receipt deadline a warning, at the
/// deadline a `receipt_overdue` alarm, cleared once the peer is back and receipts it.
#[test]
fn a_missing_receipt_is_warned_at_half_time_alarmed_and_cleared_by_the_receipt() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha
        .configure(|config| {
            config.objectives.flash.receipt_s = 2;
            config.objectives.flash.understood_s = 600;
        })
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    let mut events = Events::follow(&alpha);
    // The subscription is live once it reports a receipt.
    let live = (0..10).any(|i| {
        send(&alpha, "Bravo", &[&format!("probe {i}")]);
        events
            .until(Duration::from_secs(3), |event| {
                event["event"] == "receipted"
            })
            .is_some()
    });
    assert!(live, "no receipt reported: {:#?}", events.seen);
    bravo.kill9().unwrap();
    let id = send(&alpha, "Bravo", &["--precedence", "flash", "are you there"]);
    let warned = events.await_event("warning of the receipt", |event| {
        event["event"] == "deadline_warning" && event["id"] == id.as_str()
    });
    let raised = events.await_event("receipt_overdue raised", |event| {
        event["event"] == "alarm"
            && event["change"] == "raised"
            && event["alarm"]["kind"] == "receipt_overdue"
            && event["alarm"]["subject"] == id.as_str()
    });
    assert!(warned < raised, "{:#?}", events.seen);
    let item = outbox_item(&alpha, &id);
    let warning = &events.seen[warned];
    assert_eq!(warning["objective"], "receipt", "{warning:#}");
    assert_eq!(warning["own"], true, "{warning:#}");
    assert_eq!(warning["peer"], "Bravo", "{warning:#}");
    assert_eq!(warning["due_ms"], item["receipt_due_ms"], "{warning:#}");
    let alarm = events.seen[raised]["alarm"].clone();
    assert_eq!(alarm["peer"], "Bravo");
    assert_eq!(alarm["state"], "open");
    assert!(
        alarm["raised_at_ms"].as_u64() >= item["receipt_due_ms"].as_u64(),
        "not before it is due: {alarm:#}"
    );
    let listed = await_alarm(&alpha, "receipt_overdue", |listed| {
        listed["id"] == alarm["id"]
    });
    assert_eq!(listed["state"], "open");
    assert!(
        !events.seen[..raised]
            .iter()
            .any(|event| event["event"] == "alarm"),
        "no other alarm first: {:#?}",
        events.seen
    );

    bravo.start().unwrap();
    events.await_event("receipt_overdue cleared", |event| {
        event["event"] == "alarm"
            && event["change"] == "cleared"
            && event["alarm"]["id"] == alarm["id"]
    });
    let cleared = await_alarm(&alpha, "receipt_overdue", |listed| {
        listed["id"] == alarm["id"] && listed["state"] == "cleared"
    });
    assert!(cleared["cleared_at_ms"].is_u64(), "{cleared:#}");
    assert!(outbox_item(&alpha, &id)["delivered_at"].is_u64());
    assert!(
        !alarms(&alpha, false)
            .iter()
            .any(|open| open["id"] == alarm["id"]),
        "`alarms` leaves a cleared alarm out"
    );
}

/// A peer that goes away: its channel and then the whole link are alarmed once down for
/// `channel_down_after_s`, and both alarms clear when it is back. `alarms` lists them while
/// they are not cleared; `alarms --all` keeps them after.
#[test]
fn a_peer_away_raises_channel_down_and_link_down_cleared_when_it_returns() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    for station in [&alpha, &bravo] {
        station.fast_heartbeats().unwrap();
    }
    alpha
        .configure(|config| config.alarms.channel_down_after_s = 1)
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_channel(&alpha, "Bravo", "direct", "up");
    // Whatever the start raised (Bravo was not up yet) is cleared now the channel is up.
    let cleared_so_far = wait_until(WATCH_TIMEOUT, || alarms(&alpha, false).is_empty());
    assert!(cleared_so_far, "{:#?}", alarms(&alpha, true));
    let known = alarms(&alpha, true)
        .iter()
        .filter_map(|alarm| alarm["id"].as_u64())
        .max()
        .unwrap_or(0);
    let new_and_open =
        |alarm: &Value| alarm["id"].as_u64() > Some(known) && alarm["state"] == "open";

    bravo.kill9().unwrap();
    let channel = await_alarm(&alpha, "channel_down", new_and_open);
    assert_eq!(channel["peer"], "Bravo");
    let status = alpha.json(&["status"]).unwrap();
    let target = status["peers"][0]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|channel| channel["kind"] == "direct")
        .and_then(|channel| channel["target"].as_str())
        .expect("the direct channel's target")
        .to_owned();
    assert!(target.ends_with(&bravo.listen.to_string()), "{target}");
    assert_eq!(channel["subject"], format!("direct {target}"));
    let link = await_alarm(&alpha, "link_down", new_and_open);
    assert_eq!(link["peer"], "Bravo");
    assert_eq!(link["subject"], "link");
    let open: Vec<Value> = alarms(&alpha, false)
        .iter()
        .map(|alarm| alarm["id"].clone())
        .collect();
    assert!(
        open.contains(&channel["id"]) && open.contains(&link["id"]),
        "`alarms` lists both: {open:?}"
    );

    bravo.start().unwrap();
    for alarm in [&channel, &link] {
        let kind = alarm["kind"].as_str().unwrap();
        let cleared = await_alarm(&alpha, kind, |now| {
            now["id"] == alarm["id"] && now["state"] == "cleared"
        });
        assert!(cleared["cleared_at_ms"].is_u64(), "{cleared:#}");
    }
    let open = alarms(&alpha, false);
    assert!(
        !open
            .iter()
            .any(|now| now["id"] == channel["id"] || now["id"] == link["id"]),
        "`alarms` leaves cleared alarms out: {open:#?}"
    );
    let text = alpha.ok(&["alarms"]).unwrap();
    assert!(!text.contains("link_down"), "{text}");
    let text = alpha.ok(&["alarms", "--all"]).unwrap();
    for alarm in [&channel, &link] {
        let line = format!("#{}", alarm["id"]);
        let words = text
            .lines()
            .map(|line| line.split_whitespace().take(3).collect::<Vec<_>>())
            .find(|words| words[0] == line)
            .unwrap_or_else(|| panic!("no {line}: {text}"));
        assert_eq!(words[1..], ["cleared", alarm["kind"].as_str().unwrap()]);
    }
}

/// `parley test PEER` without a schedule: the far station answers by itself, and the outbox
/// shows the test understood by the station.
#[test]
fn a_test_sent_by_hand_is_answered_by_the_far_station() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let id = alpha
        .ok(&["test", "Bravo", "--operator", "Ana"])
        .expect("test")
        .trim()
        .to_owned();
    let answered = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, &id)["state"] == "understood"
    });
    assert!(answered, "{:#}", outbox_item(&alpha, &id));
    let item = outbox_item(&alpha, &id);
    assert_eq!(item["kind"], "test");
    assert_eq!(item["answer_by"], "machine");
    assert_eq!(item["answered_by"], "");
    assert_eq!(item["sent_by"], "Ana");
    assert_eq!(item["overdue"], false);
    assert!(item["answered_at_ms"].is_u64(), "{item:#}");
    let text = alpha.ok(&["outbox"]).unwrap();
    let line = text
        .lines()
        .find(|line| line.ends_with(id.as_str()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("TEST (machine answers)")
            && line.contains("understood by the station at \"Bravo\""),
        "{line}"
    );
    let received = bravo
        .inbox()
        .unwrap()
        .into_iter()
        .find(|item| item["id"] == id.as_str())
        .expect("in Bravo's inbox");
    assert_eq!(received["answer"]["understood"], true, "{received:#}");
    assert_eq!(received["answer"]["by"], "", "{received:#}");
    assert!(
        bravo
            .json(&["inbox", "--pending"])
            .unwrap()
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing awaits Bravo's operator"
    );
    assert!(
        !alarms(&alpha, true)
            .iter()
            .any(|alarm| alarm["kind"] == "test_missed"),
        "{:#?}",
        alarms(&alpha, true)
    );
}

/// Scheduled tests its operator must answer: the receiver's operator answers one with
/// `understood` and the sender's outbox names them; one left unanswered past
/// `answer_within_s` is a `test_missed` alarm at the sender.
#[test]
fn scheduled_operator_tests_are_answered_by_the_operator_or_missed() {
    // Generous, for a loaded machine: every CLI call here is a process.
    const ANSWER_WITHIN_S: u64 = 12;
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    schedule_tests(
        &alpha,
        "Bravo",
        3,
        parley_proto::TestAnswer::Operator,
        ANSWER_WITHIN_S,
    );
    alpha.start().unwrap();
    bravo.start().unwrap();
    let mut test = None;
    let pending = wait_until(WATCH_TIMEOUT, || {
        test = bravo
            .json(&["inbox", "--pending"])
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["kind"] == "test")
            .cloned();
        test.is_some()
    });
    assert!(pending, "a test awaits Bravo's operator");
    let test = test.unwrap();
    assert_eq!(test["answer_by"], "operator", "{test:#}");
    let id = test["id"].as_str().unwrap().to_owned();
    assert_eq!(
        test["understood_due_ms"].as_u64(),
        Some(test["sent_at"].as_u64().unwrap() + ANSWER_WITHIN_S * 1_000)
    );
    bravo
        .ok(&["understood", &id, "--operator", "Ana"])
        .expect("understood");
    let answered = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, &id)["state"] == "understood"
    });
    assert!(answered, "{:#}", outbox_item(&alpha, &id));
    let item = outbox_item(&alpha, &id);
    assert_eq!(item["kind"], "test");
    assert_eq!(item["answer_by"], "operator");
    assert_eq!(item["answered_by"], "Ana");
    assert_eq!(item["overdue"], false);
    let text = alpha.ok(&["outbox"]).unwrap();
    assert!(
        text.lines().any(|line| line.ends_with(id.as_str())
            && line.contains("TEST (operator answers)")
            && line.contains("understood by \"Ana\" at \"Bravo\"")),
        "{text}"
    );

    // The next tests nobody answers: missed.
    let missed = await_alarm(&alpha, "test_missed", |alarm| {
        alarm["subject"] != id.as_str()
    });
    assert_eq!(missed["peer"], "Bravo");
    let missed_test = outbox_item(&alpha, missed["subject"].as_str().unwrap());
    assert_eq!(missed_test["kind"], "test");
    assert!(missed_test["answered_by"].is_null(), "{missed_test:#}");
    assert!(
        missed["raised_at_ms"].as_u64() >= missed_test["understood_due_ms"].as_u64(),
        "not before it is due: {missed:#} {missed_test:#}"
    );
    let signed = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, missed["subject"].as_str().unwrap())["overdue"] == true
    });
    assert!(signed, "an overdue entry for the missed test");
    assert!(
        !alarms(&alpha, false)
            .iter()
            .any(|alarm| alarm["subject"] == id.as_str()),
        "the answered test has no alarm open"
    );
}

/// `clarify`: the receiver answers with a question; the sender's outbox shows the state
/// `clarify`, the question and who asked, and the receiver's inbox its own answer.
#[test]
fn a_question_in_answer_reaches_the_sender() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let id = send(
        &alpha,
        "Bravo",
        &["--precedence", "immediate", "hold at the ridge"],
    );
    let arrived = wait_until(WATCH_TIMEOUT, || {
        bravo
            .inbox()
            .unwrap()
            .iter()
            .any(|item| item["id"] == id.as_str())
    });
    assert!(arrived, "Bravo has it");
    let question = "which ridge, north or south?";
    bravo
        .ok(&["clarify", &id, question, "--operator", "Ana"])
        .expect("clarify");
    let asked = wait_until(WATCH_TIMEOUT, || {
        outbox_item(&alpha, &id)["state"] == "clarify"
    });
    assert!(asked, "{:#}", outbox_item(&alpha, &id));
    let item = outbox_item(&alpha, &id);
    assert_eq!(item["question"], question);
    assert_eq!(item["answered_by"], "Ana");
    assert!(item["restatement"].is_null(), "{item:#}");
    assert!(item["answered_at_ms"].is_u64(), "{item:#}");
    let text = alpha.ok(&["outbox"]).unwrap();
    assert!(
        text.contains("clarify from \"Ana\" at \"Bravo\"") && text.contains(question),
        "{text}"
    );
    let received = bravo
        .inbox()
        .unwrap()
        .into_iter()
        .find(|item| item["id"] == id.as_str())
        .unwrap();
    assert_eq!(received["answer"]["understood"], false, "{received:#}");
    assert_eq!(received["answer"]["text"], question, "{received:#}");
    assert_eq!(received["answer"]["by"], "Ana", "{received:#}");
    let pending = bravo.json(&["inbox", "--pending"]).unwrap();
    assert!(pending.as_array().unwrap().is_empty(), "{pending:#}");
    // Answered once: the question counts as the answer.
    let again = bravo.cli(&["understood", &id]).unwrap();
    assert_eq!(again.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("answered with a question already"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// `inbox --pending` lists the most urgent first: a FLASH received after a ROUTINE comes
/// before it.
#[test]
fn pending_messages_are_listed_by_their_answer_deadline() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let routine = send(
        &alpha,
        "Bravo",
        &["--precedence", "routine", "when you can"],
    );
    let priority = send(&alpha, "Bravo", &["--precedence", "priority", "soon"]);
    let flash = send(&alpha, "Bravo", &["--precedence", "flash", "now"]);
    await_all_delivered(&alpha, &bravo);
    let ids = |station: &StationProcess, args: &[&str]| -> Vec<String> {
        station
            .json(args)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&bravo, &["inbox"]),
        [routine.as_str(), priority.as_str(), flash.as_str()],
        "the inbox is in order of receipt"
    );
    assert_eq!(
        ids(&bravo, &["inbox", "--pending"]),
        [flash.as_str(), priority.as_str(), routine.as_str()],
        "the most urgent first"
    );
    let pending = bravo.json(&["inbox", "--pending"]).unwrap();
    let due: Vec<u64> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["understood_due_ms"].as_u64().unwrap())
        .collect();
    assert!(due.windows(2).all(|pair| pair[0] <= pair[1]), "{due:?}");
    // Answered, the FLASH leaves the list; the rest keep their order.
    bravo.ok(&["understood", &flash]).unwrap();
    assert_eq!(
        ids(&bravo, &["inbox", "--pending"]),
        [priority.as_str(), routine.as_str()]
    );
}
