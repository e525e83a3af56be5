//! The console's audit log when it cannot be written, with a real daemon over real HTTP: what
//! was asked is done all the same, the operator's answer says it was not audited, each row
//! lost is counted in `parley_console_audit_write_failures_total` (read with the strict
//! reader of the metrics text) and logged at error level without the password; a refused
//! login's answer does not tell whoever tried.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::console::{
    PASSWORD, add_operator, await_console, csrf, form, http, logged_in, login, scrape,
    serve_console, serve_metrics, session_cookie,
};
use common::exe;
use parley_testkit::harness::StationProcess;

/// What the answer says when an action was done but not audited.
const NOT_AUDITED: &str = "Done, but this was NOT written to the audit log.";
/// What the daemon logs for each row lost.
const LOGGED: &str = "an audit row could not be written to console.sqlite";

/// `parley_console_audit_write_failures_total`, scraped from `metrics`.
fn failures(metrics: SocketAddr) -> f64 {
    scrape(metrics)
        .value("parley_console_audit_write_failures_total", &[])
        .expect("the counter is served")
}

/// Makes the audit table of `console` refuse every new row (`refuse`), or take them again.
fn refuse_audit_rows(console: &Path, refuse: bool) {
    let db = rusqlite::Connection::open(console).expect("opens console.sqlite");
    let sql = if refuse {
        "CREATE TRIGGER audit_refused_by_test BEFORE INSERT ON audit \
         BEGIN SELECT RAISE(ABORT, 'the audit log is out of order'); END;"
    } else {
        "DROP TRIGGER audit_refused_by_test;"
    };
    db.execute_batch(sql).expect("changes the audit table");
}

/// Alpha with a console, metrics and the operator Ana, not started: the station, its console's
/// address and its metrics'.
fn alpha(root: &Path) -> (StationProcess, SocketAddr, SocketAddr) {
    let alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init");
    let (console, metrics) = (serve_console(&alpha), serve_metrics(&alpha));
    add_operator(&alpha, root, "Ana", None);
    (alpha, console, metrics)
}

#[test]
fn an_audit_row_that_cannot_be_written_is_counted_logged_and_shown() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, console, metrics) = alpha(root.path());
    alpha.start().expect("start");
    await_console(console);

    // Audited as usual: nothing is counted, nothing said.
    let cookie = logged_in(console, "Ana", PASSWORD);
    assert_eq!(failures(metrics), 0.0);

    // The audit table refuses rows. A logout is done (the session ends), its answer says it
    // was not audited and leads on to the login page, and the row lost is counted.
    let console_db = alpha.home.join("console.sqlite");
    refuse_audit_rows(&console_db, true);
    let board = http(console, "GET", "/", Some(&cookie), "");
    let form = format!("csrf={}", csrf(&board.body));
    let out = http(console, "POST", "/logout", Some(&cookie), &form);
    assert_eq!(out.status, 200, "{}", out.body);
    assert!(out.body.contains(NOT_AUDITED), "{}", out.body);
    assert!(out.body.contains(r#"<a href="/login""#), "{}", out.body);
    assert!(out.head.contains("Max-Age=0"), "the cookie is cleared");
    let after = http(console, "GET", "/", Some(&cookie), "");
    assert_eq!(after.status, 303, "logged out: {}", after.body);
    assert_eq!(failures(metrics), 1.0);

    // A login is done (a session), said not audited, counted.
    let logged_in = login(console, "Ana", PASSWORD);
    assert_eq!(logged_in.status, 200, "{}", logged_in.body);
    assert!(logged_in.body.contains(NOT_AUDITED), "{}", logged_in.body);
    let cookie = session_cookie(&logged_in);
    let board = http(console, "GET", "/", Some(&cookie), "");
    assert_eq!(board.status, 200, "the session works: {}", board.body);
    assert_eq!(failures(metrics), 2.0);

    // A refused login is counted, but whoever tried is not told.
    let refused = login(console, "Ana", "wrong password");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(!refused.body.contains("audit"), "{}", refused.body);
    assert_eq!(failures(metrics), 3.0);

    // Each is logged at error level, and no password is.
    let log = std::fs::read_dir(&alpha.home)
        .expect("the home")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("daemon-"))
        .map(|entry| std::fs::read_to_string(entry.path()).expect("the log"))
        .collect::<String>();
    let lines: Vec<&str> = log.lines().filter(|line| line.contains(LOGGED)).collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines.iter().all(|line| line.contains("ERROR")), "{log}");
    assert!(
        lines.iter().any(|line| line.contains("out of order")),
        "{log}"
    );
    assert!(!log.contains("correct horse") && !log.contains("wrong password"));

    // Once the table takes rows again, logins are audited and nothing more is counted; the
    // log holds the first login and this one, nothing of what was lost.
    refuse_audit_rows(&console_db, false);
    let logged_in = login(console, "Ana", PASSWORD);
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    assert_eq!(failures(metrics), 3.0);
    let rows = alpha.json(&["audit"]).expect("parley audit");
    let actions: Vec<(&str, &str)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["source"] == "console")
        .map(|row| {
            let action = row["action"].as_str().expect("an action");
            (action, row["outcome"].as_str().expect("an outcome"))
        })
        .collect();
    assert_eq!(actions, [("login", "ok"), ("login", "ok")], "{rows:#}");
}

/// An action of the console while the audit table refuses rows: a message is sent all the
/// same (signed as Ana), its answer says that it was not audited and leads on to the compose
/// page, and the row lost is counted; an action the station refuses keeps its refusal under
/// the same kind of sentence, and is counted too. Neither is in the audit log.
#[test]
fn a_console_action_that_cannot_be_audited_is_done_said_and_counted() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, console, metrics) = alpha(root.path());
    let bravo = StationProcess::init(exe(), root.path(), "Bravo", "fr").expect("init Bravo");
    alpha.pin(&bravo, root.path()).expect("Alpha pins Bravo");
    alpha.start().expect("start");
    await_console(console);
    let cookie = logged_in(console, "Ana", PASSWORD);
    assert_eq!(failures(metrics), 0.0);

    // A message sent while the audit table refuses rows: sent, said not audited, counted.
    let console_db = alpha.home.join("console.sqlite");
    refuse_audit_rows(&console_db, true);
    let page = http(console, "GET", "/compose", Some(&cookie), "");
    assert_eq!(page.status, 200, "{}", page.body);
    let text = "Sent while the audit log is out of order.";
    let sent = http(
        console,
        "POST",
        "/send",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("precedence", "routine"),
            ("text", text),
        ]),
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains(NOT_AUDITED), "{}", sent.body);
    assert!(
        sent.body.contains(r#"<a href="/compose?sent="#),
        "{}",
        sent.body
    );
    assert!(sent.header("location").is_none(), "{}", sent.head);
    let outbox = alpha.outbox().expect("outbox");
    let mine = outbox
        .iter()
        .find(|item| item["text"] == text)
        .unwrap_or_else(|| panic!("sent all the same: {outbox:#?}"));
    assert_eq!(mine["sent_by"], "Ana", "the signed entry names Ana");
    assert_eq!(failures(metrics), 1.0);

    // A cancellation the station refuses: its refusal stands under the sentence, counted.
    let page = http(console, "GET", "/outbox", Some(&cookie), "");
    let refused = http(
        console,
        "POST",
        "/cancel",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("id", "deadbeef"),
            ("reason", "no such message"),
        ]),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    // The refusal is a page; the sentence is at the top of its main section.
    let sentence = refused
        .body
        .find("role=\"alert\">This answer was NOT written to the audit log.");
    let refusal = (refused.body).find(
        "<p class=\"error\" role=\"alert\">no message or test has an id starting with deadbeef",
    );
    assert!(
        sentence.is_some_and(|sentence| refusal.is_some_and(|refusal| sentence < refusal)),
        "{}",
        refused.body
    );
    assert_eq!(failures(metrics), 2.0);

    // A transcript exported is not handed over unaudited: the file is withheld whole (it
    // would not verify with a sentence at its top), and the row lost is counted.
    let export = http(
        console,
        "GET",
        "/transcript/export?peer=Bravo",
        Some(&cookie),
        "",
    );
    assert_eq!(export.status, 503, "{}", export.body);
    assert!(
        export.body.starts_with("The file was not handed over"),
        "{}",
        export.body
    );
    assert!(
        !export.body.contains("parley transcript"),
        "{}",
        export.body
    );
    assert!(
        export.header("content-disposition").is_none(),
        "{}",
        export.head
    );
    assert_eq!(failures(metrics), 3.0);

    // Once the table takes rows again, the audit log holds the login alone.
    refuse_audit_rows(&console_db, false);
    let rows = alpha.json(&["audit"]).expect("parley audit");
    let actions: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["source"] == "console")
        .map(|row| row["action"].as_str().expect("an action"))
        .collect();
    assert_eq!(actions, ["login"], "{rows:#}");
}

/// An audit row waiting for the console's database (another writer holds it, as a CLI
/// command writing `console.sqlite` may) does not hold up the pages: they look accounts up
/// through a connection of their own, and are served at once meanwhile (within 3 s: the
/// busy timeout it would otherwise wait is 5 s).
#[test]
fn pages_are_served_while_an_audit_row_waits_to_be_written() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, console, _metrics) = alpha(root.path());
    alpha.start().expect("start");
    await_console(console);
    let cookie = logged_in(console, "Ana", PASSWORD);
    let page = http(console, "GET", "/outbox", Some(&cookie), "");
    let cancel = form(&[
        ("csrf", &csrf(&page.body)),
        ("id", "deadbeef"),
        ("reason", "no such message"),
    ]);

    // Another writer holds the database: the cancellation's audit row waits for it.
    let holder = rusqlite::Connection::open(alpha.home.join("console.sqlite")).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let waiting = std::thread::spawn({
        let cookie = cookie.clone();
        move || http(console, "POST", "/cancel", Some(&cookie), &cancel)
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    let board = http(console, "GET", "/", Some(&cookie), "");
    let took = started.elapsed();
    holder.execute_batch("COMMIT").unwrap();
    assert_eq!(board.status, 200, "{}", board.body);
    assert!(
        took < std::time::Duration::from_secs(3),
        "a page waited {took:?} for an audit row's write"
    );
    let refused = waiting.join().unwrap();
    assert_eq!(refused.status, 422, "{}", refused.body);
    alpha.stop().expect("stop");
}
