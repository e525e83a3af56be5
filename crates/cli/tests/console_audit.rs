//! The console's audit log when it cannot be written, with a real daemon over real HTTP: what
//! was asked is done all the same, the operator's answer says it was not audited, each row
//! lost is counted in `parley_console_audit_write_failures_total` (read with the strict
//! reader of the metrics text) and logged at error level without the password; a refused
//! login's answer does not tell whoever tried.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::exe;
use parley_metrics::text::parse;
use parley_station::home::{ConsoleConfig, MetricsConfig};
use parley_testkit::harness::{StationProcess, free_tcp_port, wait_until};

const PASSWORD: &str = "correct horse battery staple";
/// What the answer says when an action was done but not audited.
const NOT_AUDITED: &str = "Done, but this was NOT written to the audit log.";
/// What the daemon logs for each row lost.
const LOGGED: &str = "an audit row could not be written to console.sqlite";

/// One HTTP/1.1 answer: the status, the head as sent, the body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// One exchange, as the console's own pages make it (their `Origin` on a form).
fn http(addr: SocketAddr, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let cookie = cookie.map_or_else(String::new, |c| format!("Cookie: parley_session={c}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nOrigin: http://{addr}\r\n{cookie}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).expect("writes");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("reads");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status code");
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A login as Ana with `password` (form-encoded as it is: no character needs escaping).
fn login(addr: SocketAddr, password: &str) -> Answer {
    let form = format!("name=Ana&password={}", password.replace(' ', "+"));
    http(addr, "POST", "/login", None, &form)
}

/// The session cookie an answer sets.
fn session_cookie(answer: &Answer) -> String {
    let start = answer
        .head
        .find("parley_session=")
        .unwrap_or_else(|| panic!("a session cookie in {}", answer.head))
        + "parley_session=".len();
    answer.head[start..start + 64].to_owned()
}

/// The CSRF token a page carries.
fn csrf(page: &str) -> String {
    let start = page.find("name=\"csrf\" content=\"").expect("csrf meta") + 21;
    page[start..start + 64].to_owned()
}

/// `parley_console_audit_write_failures_total`, scraped from `metrics`.
fn failures(metrics: SocketAddr) -> f64 {
    let answer = http(metrics, "GET", "/metrics", None, "");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let parsed = parse(&answer.body).unwrap_or_else(|error| panic!("{error}\n{}", answer.body));
    parsed
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

fn free_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_tcp_port().expect("a free port")))
}

#[test]
fn an_audit_row_that_cannot_be_written_is_counted_logged_and_shown() {
    let root = tempfile::tempdir().unwrap();
    let mut alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").expect("init");
    let (console, metrics) = (free_address(), free_address());
    alpha
        .configure(|config| {
            config.console = Some(ConsoleConfig {
                listen: console.to_string(),
                cert: None,
                key: None,
                session_idle_s: 600,
            });
            config.metrics = Some(MetricsConfig {
                listen: metrics.to_string(),
            });
        })
        .expect("configure");
    let password = root.path().join("ana.password");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("write");
    let password = password.to_str().expect("UTF-8");
    alpha
        .ok(&["operator", "add", "Ana", "--password-file", password])
        .expect("operator add");
    alpha.start().expect("start");
    let up = wait_until(Duration::from_secs(20), || {
        TcpStream::connect(console).is_ok()
    });
    assert!(up, "the console listens on {console}");

    // Audited as usual: nothing is counted, nothing said.
    let logged_in = login(console, PASSWORD);
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    let cookie = session_cookie(&logged_in);
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
    let logged_in = login(console, PASSWORD);
    assert_eq!(logged_in.status, 200, "{}", logged_in.body);
    assert!(logged_in.body.contains(NOT_AUDITED), "{}", logged_in.body);
    let cookie = session_cookie(&logged_in);
    let board = http(console, "GET", "/", Some(&cookie), "");
    assert_eq!(board.status, 200, "the session works: {}", board.body);
    assert_eq!(failures(metrics), 2.0);

    // A refused login is counted, but whoever tried is not told.
    let refused = login(console, "wrong password");
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
    let logged_in = login(console, PASSWORD);
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
