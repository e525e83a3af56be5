//! Codebooks with real processes, stations in different languages: a codebook proposed and
//! accepted, coded messages and notices rendered at the receiver in its language from typed
//! values, a newer codebook agreed while old messages still render with the old one,
//! translations from both sides, everything in verified transcripts; and each operator
//! mistake refused before anything is stored.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::exe;
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// How long a test waits for the peer to see an entry.
const SEEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The example codebook shipped with the project.
fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codebook.toml")
}

/// Alpha (English) and Bravo (Russian), paired and running.
fn stations(root: &Path) -> (StationProcess, StationProcess) {
    let mut alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
    let mut bravo = StationProcess::init(exe(), root, "Bravo", "ru").expect("init Bravo");
    alpha.pin(&bravo, root).expect("Alpha pins Bravo");
    bravo.pin(&alpha, root).expect("Bravo pins Alpha");
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    (alpha, bravo)
}

fn show(station: &StationProcess, peer: &str) -> Value {
    station.json(&["codebook", "show", peer]).expect("show")
}

/// Waits until `station`'s `codebook show PEER` satisfies `check`.
fn await_show(station: &StationProcess, peer: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let seen = wait_until(SEEN_TIMEOUT, || {
        last = show(station, peer);
        check(&last)
    });
    assert!(
        seen,
        "{}'s codebooks never got there: {last:#}",
        station.name
    );
    last
}

/// Proposes `file` from `from` and has `to` accept it; returns the hash.
fn agree(from: &StationProcess, to: &StationProcess, file: &Path) -> String {
    let out = from
        .ok(&["codebook", "propose", &to.name, file.to_str().unwrap()])
        .expect("propose");
    let hash = out.trim().rsplit(' ').next().expect("hash").to_owned();
    assert_eq!(hash.len(), 64, "{out}");
    await_show(to, &from.name, |report| {
        report["codebooks"]
            .as_array()
            .expect("array")
            .iter()
            .any(|item| item["hash"] == hash && item["standing"] == "not_agreed")
    });
    let accepted = to
        .ok(&[
            "codebook",
            "accept",
            &from.name,
            &hash,
            "--operator",
            "Boris",
        ])
        .expect("accept");
    assert!(accepted.contains(&hash), "{accepted}");
    await_show(from, &to.name, |report| report["current"] == hash);
    hash
}

/// Waits for `station`'s inbox item `id`.
fn await_inbox_item(station: &StationProcess, id: &str) -> Value {
    let mut found = None;
    let seen = wait_until(SEEN_TIMEOUT, || {
        found = station
            .inbox()
            .expect("inbox")
            .into_iter()
            .find(|item| item["id"] == id);
        found.is_some()
    });
    assert!(seen, "{} never received {id}", station.name);
    found.expect("found")
}

fn send(station: &StationProcess, args: &[&str]) -> String {
    station.ok(args).expect("send").trim().to_owned()
}

/// A command that must fail with a message containing each of `expected`, storing nothing.
fn refused(station: &StationProcess, args: &[&str], expected: &[&str]) {
    let before = station.outbox().expect("outbox").len();
    let output = station.cli(args).expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} was accepted");
    for part in expected {
        assert!(stderr.contains(part), "{args:?}: {stderr:?} lacks {part:?}");
    }
    assert!(stderr.contains("nothing was"), "{args:?}: {stderr}");
    assert_eq!(
        station.outbox().expect("outbox").len(),
        before,
        "{args:?} stored something"
    );
}

/// A time `hours` from now, RFC 3339, whole seconds.
fn hours_from_now(hours: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
    let at = at.replace_nanosecond(0).expect("valid");
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

#[test]
fn codebooks_agreed_render_coded_messages_and_notices_in_each_language() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo) = stations(root.path());

    // Nothing is agreed yet: a code is refused before anything is stored.
    refused(
        &alpha,
        &["send", "Bravo", "--code", "3"],
        &["no codebook is agreed with \"Bravo\""],
    );

    let v1 = agree(&alpha, &bravo, &example());
    let report = show(&bravo, "Alpha");
    assert_eq!(report["current"], v1);
    let item = &report["codebooks"][0];
    assert_eq!(item["proposed_by"], "peer");
    assert_eq!(item["accepted_by_us"], "Boris");
    assert_eq!(item["accepted_by_peer"], "");
    assert_eq!(item["version"], 1);
    assert_eq!(item["languages"], serde_json::json!(["en", "ru"]));
    assert!(item["codes"].as_array().expect("codes").len() >= 12);
    let code4 = item["codes"]
        .as_array()
        .and_then(|codes| codes.iter().find(|code| code["number"] == 4))
        .expect("code 4");
    assert_eq!(code4["params"][1]["name"], "channel");
    assert_eq!(code4["params"][1]["values"][0]["key"], "voice");
    assert_eq!(
        code4["params"][1]["values"][0]["label"]["ru"],
        "голосовая связь"
    );
    let code7 = item["codes"]
        .as_array()
        .and_then(|codes| codes.iter().find(|code| code["number"] == 7))
        .expect("code 7");
    assert_eq!(code7["params"][0]["min"], 60);
    assert_eq!(code7["params"][0]["max"], 172_800);
    let launch_form = &item["forms"][0];
    assert_eq!(launch_form["name"], "missile_launch");
    assert_eq!(
        launch_form["rules"],
        serde_json::json!([{"field": "planned_launch", "lead_time_min_h": 24}])
    );
    let shown = bravo.ok(&["codebook", "show", "Alpha"]).expect("show");
    assert!(
        shown.contains("rule: planned_launch at least 24 h after the notice is sent"),
        "{shown}"
    );
    // Everything the receiver will read is shown to the operator who accepts: every label and
    // choice value, in every language, and the bounds.
    for line in [
        "    param delay: duration, 60 s to 172800 s",
        "      en: \"Expected within\"",
        "      ru: \"Ожидаемый срок\"",
        "    field planned_launch: datetime",
        "      en: \"Planned date and time of launch\"",
        "    field missile_class: choice",
        "      value icbm",
        "        en: \"intercontinental ballistic missile (ICBM)\"",
        "        ru: \"межконтинентальная баллистическая ракета (МБР)\"",
        "    field missile_count: integer, optional, 1 to 100",
    ] {
        assert!(
            shown.lines().any(|shown_line| shown_line == line),
            "{line:?} not in {shown}"
        );
    }

    // A coded message with typed parameters, rendered at Bravo in Russian and English.
    let coded = send(
        &alpha,
        &[
            "send",
            "Bravo",
            "--precedence",
            "flash",
            "--code",
            "4",
            "--param",
            "time=2027-01-15T10:00:00Z",
            "--param",
            "channel=voice",
        ],
    );
    let item = await_inbox_item(&bravo, &coded);
    assert_eq!(item["kind"], "coded");
    assert_eq!(item["code"], 4);
    assert_eq!(item["params"]["time"], "2027-01-15T10:00:00Z");
    assert_eq!(item["params"]["channel"], "voice");
    assert_eq!(item["codebook"]["hash"], v1);
    assert_eq!(item["codebook"]["standing"], "current");
    assert_eq!(item["invalid"], Value::Null);
    let ru = "Просим провести переговоры в 2027-01-15 10:00 UTC. Канал связи: голосовая связь.";
    assert_eq!(item["rendered"]["ru"], ru);
    assert_eq!(
        item["rendered"]["en"],
        "Request to talk at 2027-01-15 10:00 UTC. Channel: voice."
    );
    assert_eq!(item["text"], ru, "Bravo reads it in its own language");
    assert_eq!(item["lang"], "ru");

    // Code 3, kept to check it still renders after the codebook is superseded.
    let code3 = send(&alpha, &["send", "Bravo", "--code", "3"]);

    // A launch notice: typed fields, rendered in both languages.
    let launch = hours_from_now(48);
    let notice = send(
        &alpha,
        &[
            "notice",
            "Bravo",
            "missile_launch",
            "--field",
            &format!("planned_launch={launch}"),
            "--field",
            "missile_class=icbm",
            "--field",
            "launch_area=62.9,40.5/30",
            "--field",
            "impact_area=53.0,158.0;54.0,158.0;54.0,160.0",
        ],
    );
    let item = await_inbox_item(&bravo, &notice);
    assert_eq!(item["kind"], "notice");
    assert_eq!(item["form"], "missile_launch");
    assert_eq!(item["fields"]["planned_launch"], launch);
    assert_eq!(item["fields"]["missile_class"], "icbm");
    assert_eq!(
        item["fields"]["launch_area"],
        serde_json::json!({"centre": {"lat": 62.9, "lon": 40.5}, "radius_km": 30.0})
    );
    assert_eq!(
        item["fields"]["impact_area"]["polygon"]
            .as_array()
            .expect("polygon")
            .len(),
        3
    );
    assert_eq!(item["invalid"], Value::Null);
    let ru = item["rendered"]["ru"].as_str().expect("ru");
    let en = item["rendered"]["en"].as_str().expect("en");
    assert!(
        ru.starts_with("Уведомление о планируемом пуске баллистической ракеты"),
        "{ru}"
    );
    assert!(
        ru.contains("межконтинентальная баллистическая ракета (МБР)"),
        "{ru}"
    );
    assert!(ru.contains("62.900000°N 40.500000°E r = 30 km"), "{ru}");
    assert!(
        en.starts_with("Notification of a planned ballistic missile launch"),
        "{en}"
    );
    assert!(
        en.contains("Launch area: 62.900000°N 40.500000°E r = 30 km"),
        "{en}"
    );
    assert!(!ru.contains("missile_count") && !en.contains("Number of missiles"));

    // Free text with the sender's translation, and the recipient's own translation.
    let text = send(
        &alpha,
        &[
            "send",
            "Bravo",
            "Hold all movement near the ridge.",
            "--translation",
            "ru=Остановите всякое движение у хребта.",
        ],
    );
    await_inbox_item(&bravo, &text);
    send(
        &bravo,
        &[
            "translate",
            &text[..12],
            "ru",
            "Прекратить движение у хребта.",
            "--operator",
            "Boris",
        ],
    );
    let seen = wait_until(SEEN_TIMEOUT, || {
        alpha
            .outbox()
            .expect("outbox")
            .iter()
            .find(|item| item["id"] == text)
            .is_some_and(|item| {
                item["translations"]
                    .as_array()
                    .is_some_and(|t| t.len() == 2)
            })
    });
    assert!(seen, "Alpha sees Bravo's translation");
    let item = await_inbox_item(&bravo, &text);
    let translations = item["translations"].as_array().expect("translations");
    assert_eq!(translations[0]["lang"], "ru");
    assert_eq!(translations[0]["from_sender"], true);
    assert_eq!(translations[1]["by"], "Boris");
    assert_eq!(translations[1]["from_sender"], false);
    assert_eq!(item["text"], "Hold all movement near the ridge.");
    let shown = bravo.ok(&["inbox"]).expect("inbox");
    assert!(
        shown.contains("ru translated by \"Boris\" (recipient)"),
        "{shown}"
    );
    assert!(shown.contains("CODE 4"), "{shown}");
    assert!(
        shown.contains(
            "NOTICE missile_launch \"Уведомление о планируемом пуске баллистической ракеты\""
        ),
        "{shown}"
    );
    assert!(
        shown.contains("\n      \"Район пуска: 62.900000°N 40.500000°E r = 30 km\"\n"),
        "a notice's fields, one a line, quoted: {shown}"
    );

    // A newer version is agreed; new messages use it, old ones render with theirs.
    let v2_file = root.path().join("codebook-v2.toml");
    let v2_source = std::fs::read_to_string(example())
        .unwrap()
        .replace("version = 1", "version = 2")
        .replace(
            "It is not a hostile act.",
            "It is not a hostile act. Details will follow.",
        );
    std::fs::write(&v2_file, v2_source).unwrap();
    let v2 = agree(&alpha, &bravo, &v2_file);
    assert_ne!(v1, v2);
    let code3_v2 = send(&alpha, &["send", "Bravo", "--code", "3"]);
    let new = await_inbox_item(&bravo, &code3_v2);
    assert_eq!(new["codebook"]["hash"], v2);
    assert!(
        new["rendered"]["en"]
            .as_str()
            .is_some_and(|t| t.ends_with("Details will follow.")),
        "{new:#}"
    );
    let old = await_inbox_item(&bravo, &code3);
    assert_eq!(old["codebook"]["hash"], v1);
    assert_eq!(old["codebook"]["standing"], "superseded");
    assert_eq!(
        old["rendered"]["en"],
        "An incident is under investigation. It is not a hostile act."
    );
    assert_eq!(old["invalid"], Value::Null);
    // The older version cannot come back.
    refused(
        &alpha,
        &["codebook", "propose", "Bravo", example().to_str().unwrap()],
        &["version 2", "is agreed already"],
    );

    // Everything verifies in both exported transcripts.
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        let path = root.path().join(format!("{}.transcript", station.name));
        station.export_transcript(peer, &path).expect("export");
        let out = station
            .ok(&["transcript", "verify", path.to_str().unwrap()])
            .expect("verifies");
        assert!(out.contains("coded"), "{out}");
        assert!(out.contains("notice"), "{out}");
        assert!(out.contains("codebook_accept"), "{out}");
    }

    // Operator mistakes, each refused with the field named and nothing stored.
    let bad: &[(&[&str], &[&str])] = &[
        (&["send", "Bravo", "--code", "99"], &["99"]),
        (
            &["send", "Bravo", "--code", "4", "--param", "channel=voice"],
            &["time"],
        ),
        (
            &[
                "send",
                "Bravo",
                "--code",
                "4",
                "--param",
                "time=2027-01-15T10:00:00Z",
                "--param",
                "channel=voice",
                "--param",
                "colour=red",
            ],
            &["colour"],
        ),
        (
            &[
                "send",
                "Bravo",
                "--code",
                "4",
                "--param",
                "time=tomorrow",
                "--param",
                "channel=voice",
            ],
            &["time"],
        ),
        (
            &[
                "send",
                "Bravo",
                "--code",
                "4",
                "--param",
                "time=2027-01-15T10:00:00Z",
                "--param",
                "channel=pigeon",
            ],
            &["channel"],
        ),
        (
            &[
                "notice",
                "Bravo",
                "missile_launch",
                "--field",
                "missile_class=icbm",
            ],
            &["planned_launch"],
        ),
        (
            &[
                "notice",
                "Bravo",
                "incident",
                "--field",
                "time=2026-01-01T00:00:00Z",
                "--field",
                "place=91,10",
                "--field",
                "description=smoke",
            ],
            &["place"],
        ),
        (
            &[
                "notice",
                "Bravo",
                "military_exercise",
                "--field",
                "start=2027-01-01T00:00:00Z",
                "--field",
                "end=2027-01-02T00:00:00Z",
                "--field",
                "area=50,30/-5",
                "--field",
                "scale=tactical",
                "--field",
                "personnel=500",
            ],
            &["area"],
        ),
        (
            &[
                "notice",
                "Bravo",
                "missile_launch",
                "--field",
                &format!("planned_launch={}", hours_from_now(23)),
                "--field",
                "missile_class=icbm",
                "--field",
                "launch_area=62.9,40.5/30",
                "--field",
                "impact_area=53.0,158.0/50",
            ],
            &["planned_launch", "24"],
        ),
        (&["notice", "Bravo", "weather_report"], &["weather_report"]),
        (
            &["send", "Bravo", "text", "--translation", "en=own language"],
            &["own language"],
        ),
        (
            &["send", "Bravo", "text", "--translation", "nolanguage"],
            &["LANG=TEXT"],
        ),
    ];
    for (args, expected) in bad {
        refused(&alpha, args, expected);
    }
}

#[test]
fn bad_codebooks_are_refused_with_the_line_and_field_named() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo) = stations(root.path());
    let source = std::fs::read_to_string(example()).unwrap();
    let write = |name: &str, text: &str| {
        let path = root.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cases: Vec<(PathBuf, Vec<&str>)> = vec![
        (
            write(
                "duplicate.toml",
                &source.replacen("number = 2\n", "number = 1\n", 1),
            ),
            vec!["line 19", "code"],
        ),
        (
            write(
                "missing-language.toml",
                &source.replacen("text.ru = \"Ваше сообщение получено.\"\n", "", 1),
            ),
            vec!["line", "ru"],
        ),
        (
            write(
                "unknown-type.toml",
                &source.replacen("type = \"duration\"", "type = \"colour\"", 1),
            ),
            vec!["line", "colour"],
        ),
        (
            write(
                "bad-rule.toml",
                &source.replacen("field = \"planned_launch\"", "field = \"nowhere\"", 1),
            ),
            vec!["line", "nowhere"],
        ),
        (
            write(
                "no-russian.toml",
                &source.replace("languages = [\"en\", \"ru\"]", "languages = [\"en\"]"),
            ),
            vec!["line"],
        ),
        (
            write(
                "oversized.toml",
                &format!(
                    "{source}\n#{}\n",
                    "x".repeat(parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES)
                ),
            ),
            vec!["over the limit"],
        ),
    ];
    for (path, expected) in &cases {
        let output = alpha
            .cli(&["codebook", "propose", "Bravo", path.to_str().unwrap()])
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} was accepted", path.display());
        for part in expected {
            assert!(
                stderr.contains(part),
                "{}: {stderr:?} lacks {part:?}",
                path.display()
            );
        }
    }
    // A key with a terminal escape in it is named escaped, never raw.
    let hostile = write(
        "escape.toml",
        &source.replacen("version = 1\n", "version = 1\n\"\u{1b}[31mEVIL\" = 1\n", 1),
    );
    let output = alpha
        .cli(&["codebook", "propose", "Bravo", hostile.to_str().unwrap()])
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(stderr.contains("EVIL"), "{stderr:?}");
    // Exactly at the limit is read (and then judged as a codebook), one byte over is not.
    let padding = parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES - source.len() - 2;
    let at_limit = write(
        "at-limit.toml",
        &format!("{source}#{}\n", "x".repeat(padding)),
    );
    assert_eq!(
        std::fs::metadata(&at_limit).unwrap().len() as usize,
        parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES
    );
    alpha
        .ok(&["codebook", "propose", "Bravo", at_limit.to_str().unwrap()])
        .expect("a codebook exactly at the limit is proposed");
    // A FIFO is not read (it would block), and neither is a directory.
    let fifo = root.path().join("fifo.toml");
    common::mkfifo(&fifo);
    for path in [fifo.as_path(), root.path()] {
        let output = alpha
            .cli(&["codebook", "propose", "Bravo", path.to_str().unwrap()])
            .expect("runs");
        assert!(!output.status.success());
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("not a regular file"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // Nothing bad was proposed: Bravo sees only the one at the limit.
    let report = await_show(&bravo, "Alpha", |report| {
        report["codebooks"].as_array().is_some_and(|c| c.len() == 1)
    });
    assert_eq!(report["current"], Value::Null);
    // Accepting with no proposal waiting at Alpha's side, or a hash never proposed.
    let output = alpha.cli(&["codebook", "accept", "Bravo"]).expect("runs");
    assert!(!output.status.success());
    let output = bravo
        .cli(&["codebook", "accept", "Alpha", &"ab".repeat(32)])
        .expect("runs");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no codebook"));
}
