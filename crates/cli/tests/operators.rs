//! Operator accounts of the web console and the audit log, with the real binary: accounts
//! added from a password file or at a terminal prompt without echo, listed without their
//! hashes, removed; every refusal (a name taken, a short password, a FIFO, no terminal)
//! changes nothing; the audit log records who added and removed which account, with or
//! without a running daemon; `console.sqlite` is the owner's alone.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::exe;
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// Who runs the commands, as the audit log must show it.
const CHIEF: &str = "Chief Duty Officer";
/// A password that obeys the rules.
const PASSWORD: &str = "correct horse battery staple";
/// How long the prompt test waits for each prompt, and for the command to end.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// `parley --home HOME args…` run by [`CHIEF`], standard input closed.
fn parley(home: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PARLEY_HOME")
        .env("PARLEY_OPERATOR", CHIEF)
        .stdin(Stdio::null())
        .output()
        .expect("parley runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed; returns its standard output.
fn ok(home: &Path, args: &[&str]) -> String {
    let output = parley(home, args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

/// Runs a command that must be refused as the operator's error (exit code 3) with `expect` in
/// its message.
fn refused(home: &Path, args: &[&str], expect: &str) {
    let output = parley(home, args);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{args:?}: {}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains(expect),
        "{args:?}: {}",
        stderr(&output)
    );
}

fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(home, &all)).expect("JSON output")
}

fn names(home: &Path) -> Vec<String> {
    json(home, &["operator", "list"])
        .as_array()
        .expect("an array")
        .iter()
        .map(|operator| operator["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writes");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn operators_are_added_listed_removed_and_audited() {
    let root = tempfile::tempdir().unwrap();
    let mut station = StationProcess::init(exe(), root.path(), "Alpha", "ru").expect("init");
    let home = station.home.clone();
    let console = home.join("console.sqlite");
    let file = |name: &str, bytes: &[u8]| write_file(root.path(), name, bytes);
    let good = file("good.pw", format!("{PASSWORD}\n").as_bytes());
    let good = good.to_str().unwrap();

    // Nothing yet, and listing creates nothing.
    assert!(ok(&home, &["operator", "list"]).contains("no operator accounts"));
    assert_eq!(json(&home, &["operator", "list"]), Value::Array(Vec::new()));
    assert!(ok(&home, &["audit"]).contains("no audit rows"));
    assert_eq!(json(&home, &["audit"]), Value::Array(Vec::new()));
    assert!(!console.exists());
    // A password refused creates nothing either.
    let short = file("short.pw", b"elevenbytes\n");
    refused(
        &home,
        &[
            "operator",
            "add",
            "alice",
            "--password-file",
            short.to_str().unwrap(),
        ],
        "11 bytes, shorter than 12",
    );
    assert!(!console.exists());

    // Added from a file; the language defaults to the station's (ru) when the console has it.
    let added = ok(
        &home,
        &["operator", "add", "alice", "--password-file", good],
    );
    assert!(added.contains("\"alice\" added"), "{added}");
    ok(
        &home,
        &[
            "operator",
            "add",
            "bob",
            "--lang",
            "en",
            "--password-file",
            good,
        ],
    );
    assert_eq!(mode(&console), 0o600);
    for suffix in ["-wal", "-shm"] {
        let journal = PathBuf::from(format!("{}{suffix}", console.display()));
        if journal.exists() {
            assert_eq!(mode(&journal), 0o600, "{suffix}");
        }
    }

    // Listed without the hash, as text and as JSON.
    let listed = ok(&home, &["operator", "list"]);
    assert!(listed.contains("\"alice\"  ru  created 20"), "{listed}");
    assert!(listed.contains("\"bob\"  en  created 20"), "{listed}");
    let list = json(&home, &["operator", "list"]);
    for operator in list.as_array().expect("an array") {
        assert_eq!(keys(operator), ["created_ms", "lang", "name"], "{operator}");
        assert!(operator["created_ms"].as_u64().expect("ms") > 1_700_000_000_000);
    }
    assert_eq!(list[0]["name"], "alice");
    assert_eq!(list[0]["lang"], "ru");
    for shown in [&listed, &list.to_string()] {
        assert!(!shown.contains("argon2") && !shown.contains('$'), "{shown}");
    }

    // Refusals change nothing.
    refused(
        &home,
        &["operator", "add", "alice", "--password-file", good],
        "exists already",
    );
    let blank = file("blank.pw", " \t            \n".as_bytes());
    // Two lines: only the line ending that closes the file is not part of the password, and
    // a line break within it no login form could type.
    let two_lines = file(
        "two-lines.pw",
        format!("{PASSWORD}\n{PASSWORD}\n").as_bytes(),
    );
    let long = file("long.pw", "x".repeat(1025).as_bytes());
    for (password, expected) in [
        (&short, "11 bytes, shorter than 12"),
        (&blank, "only white space"),
        (&two_lines, "holds a control character"),
        (&long, "longer than 1024"),
    ] {
        let password = password.to_str().unwrap();
        let args = ["operator", "add", "carol", "--password-file", password];
        refused(&home, &args, expected);
    }
    let fifo = root.path().join("fifo.pw");
    common::mkfifo(&fifo);
    for path in [fifo.as_path(), root.path()] {
        refused(
            &home,
            &[
                "operator",
                "add",
                "carol",
                "--password-file",
                path.to_str().unwrap(),
            ],
            "not a regular file",
        );
    }
    refused(&home, &["operator", "add", "carol"], "not a terminal");
    refused(
        &home,
        &["operator", "add", "evil\u{202e}", "--password-file", good],
        "control or text-direction",
    );
    let usage = parley(&home, &["operator", "add", "carol", "--lang", "fr"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
    assert_eq!(names(&home), ["alice", "bob"]);

    // Exactly 12 bytes with its newline stripped is a password; the newline is not part of it.
    let twelve = file("twelve.pw", b"twelve bytes\n");
    ok(
        &home,
        &[
            "operator",
            "add",
            "carol",
            "--password-file",
            twelve.to_str().unwrap(),
        ],
    );
    let db = parley_store::ConsoleDb::open_read_only(&console).expect("opens");
    let carol = db.operator("carol").expect("reads").expect("exists");
    assert!(parley_station::accounts::verify_password(
        &carol.password_phc,
        "twelve bytes"
    ));
    assert!(!parley_station::accounts::verify_password(
        &carol.password_phc,
        "twelve bytes\n"
    ));
    drop(db);

    // Removed; a second removal is refused.
    let removed = ok(&home, &["operator", "remove", "bob"]);
    assert!(removed.contains("\"bob\" removed"), "{removed}");
    refused(
        &home,
        &["operator", "remove", "bob"],
        "no operator named \"bob\"",
    );
    assert_eq!(names(&home), ["alice", "carol"]);

    // The same commands beside a running daemon.
    station.start().expect("start");
    ok(
        &home,
        &[
            "operator",
            "add",
            "dave",
            "--lang",
            "en",
            "--password-file",
            good,
        ],
    );
    ok(&home, &["operator", "remove", "carol"]);
    assert_eq!(names(&home), ["alice", "dave"]);
    station.stop().expect("stop");

    // The audit log: who did what, refusals included, oldest first.
    let text = ok(&home, &["audit"]);
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        ("operator_add", "ok", "alice"),
        ("operator_add", "ok", "bob"),
        ("operator_add", "\"an operator named", "alice"),
        ("operator_add", "ok", "carol"),
        ("operator_remove", "ok", "bob"),
        ("operator_remove", "\"no operator named", "bob"),
        ("operator_add", "ok", "dave"),
        ("operator_remove", "ok", "carol"),
    ];
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (n, (line, (action, outcome, name))) in lines.iter().zip(expected).enumerate() {
        let start = format!("#{} 20", n + 1);
        let who = format!("\"{CHIEF}\" cli {action} {outcome}");
        let detail = format!("\"name\":\"{name}\"");
        assert!(
            line.starts_with(&start) && line.contains(&who) && line.contains(&detail),
            "{line}"
        );
    }
    let rows = json(&home, &["audit"]);
    let rows = rows.as_array().expect("an array");
    assert_eq!(rows.len(), expected.len());
    for (n, row) in rows.iter().enumerate() {
        assert_eq!(
            keys(row),
            [
                "action", "at_ms", "detail", "id", "operator", "outcome", "source"
            ],
            "{row}"
        );
        assert_eq!(row["id"], n as u64 + 1);
        assert_eq!(row["operator"], CHIEF);
        assert_eq!(row["source"], "cli");
        assert!(row["detail"].is_object(), "{row}");
    }
    assert_eq!(rows[0]["action"], "operator_add");
    assert_eq!(rows[0]["outcome"], "ok");
    assert_eq!(
        rows[0]["detail"],
        serde_json::json!({"name": "alice", "lang": "ru"})
    );
    assert_eq!(rows[4]["action"], "operator_remove");
    assert_eq!(rows[4]["detail"], serde_json::json!({"name": "bob"}));

    // Filters: by operator and by time.
    assert_eq!(
        json(&home, &["audit", "--operator", CHIEF])
            .as_array()
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        json(&home, &["audit", "--operator", "alice"]),
        Value::Array(Vec::new())
    );
    let last_ms = rows[7]["at_ms"].as_u64().unwrap();
    let since = time::OffsetDateTime::from_unix_timestamp((last_ms / 1000) as i64)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let recent = json(&home, &["audit", "--since", &since]);
    assert!(recent.as_array().unwrap().iter().any(|row| row["id"] == 8));
    assert!(ok(&home, &["audit", "--since", "2999-01-01T00:00:00Z"]).contains("no audit rows"));
    refused(
        &home,
        &["audit", "--since", "yesterday"],
        "not an RFC 3339 time",
    );

    // A console database others can read is refused, by these commands and by the daemon.
    std::fs::set_permissions(&console, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [&["operator", "remove", "alice"][..], &["run"]] {
        let output = parley(&home, args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
    }
    assert_eq!(names(&home), ["alice", "dave"]);
}

/// Quotes `text` for `sh -c`.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Collects a pipe's output as it comes.
struct Screen {
    chunks: mpsc::Receiver<Vec<u8>>,
    seen: String,
}

impl Screen {
    fn new(mut pipe: impl std::io::Read + Send + 'static) -> Self {
        let (sender, chunks) = mpsc::sync_channel(64);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Screen {
            chunks,
            seen: String::new(),
        }
    }

    /// Waits until `text` has been shown.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PROMPT_TIMEOUT;
        while !self.seen.contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("{text:?} never shown; the terminal shows {:?}", self.seen),
            }
        }
    }

    /// Everything shown until the output closed.
    fn rest(mut self) -> String {
        while let Ok(chunk) = self.chunks.recv_timeout(PROMPT_TIMEOUT) {
            self.seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        self.seen
    }
}

#[test]
fn the_password_is_asked_twice_on_a_terminal_without_echo() {
    let root = tempfile::tempdir().unwrap();
    let station = StationProcess::init(exe(), root.path(), "Alpha", "en").expect("init");
    let command = |name: &str| {
        format!(
            "{} --home {} operator add {name}",
            shell_quoted(exe().to_str().unwrap()),
            shell_quoted(station.home.to_str().unwrap())
        )
    };
    // `script` runs the command on a pseudo-terminal and relays our pipe as its keyboard.
    let run = |name: &str, typed: [&str; 2]| -> (Option<i32>, String) {
        let mut child = Command::new("script")
            .args(["-qec", &command(name), "/dev/null"])
            .env_remove("PARLEY_HOME")
            .env("PARLEY_OPERATOR", CHIEF)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs");
        let mut keyboard = child.stdin.take().expect("stdin");
        let mut screen = Screen::new(child.stdout.take().expect("stdout"));
        // Typed only once each prompt shows: echo is off by then.
        screen.wait_for(&format!("password for \"{name}\": "));
        keyboard
            .write_all(format!("{}\n", typed[0]).as_bytes())
            .unwrap();
        screen.wait_for("the same password again: ");
        keyboard
            .write_all(format!("{}\n", typed[1]).as_bytes())
            .unwrap();
        let exited = wait_until(PROMPT_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
        assert!(exited, "the command did not end: {:?}", screen.seen);
        drop(keyboard);
        let code = child.wait().expect("waits").code();
        (code, screen.rest())
    };

    let (code, shown) = run("erin", [PASSWORD, PASSWORD]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("\"erin\" added"), "{shown}");
    assert!(
        !shown.contains(PASSWORD),
        "the password was echoed: {shown:?}"
    );
    let (code, shown) = run("frank", [PASSWORD, "a different password"]);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("the two passwords differ"), "{shown}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("a different"),
        "{shown:?}"
    );
    assert_eq!(names(&station.home), ["erin"]);
}
