//! The compose page's check before sending, over real HTTP against a real daemon: it answers
//! only a logged-in operator's request from the console's own pages with the session's CSRF
//! token; it names the field the agreed codebook refuses with the codebook's own words (the
//! station's, when the form is sent), or says the form is fine; it takes a form as large as
//! one that is sent and no larger; and it sends, stores and audits nothing. The compose page
//! states what HTML can state exactly: required fields, and an integer's bounds.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::console::{
    Answer, add_operator, await_console, csrf, form, http, http_from, logged_in, serve_console,
};
use common::{agree_example_codebook, exe};
use parley_console::limits::CHECK_FORM_SIZE_MAX_BYTES;
use parley_testkit::harness::StationProcess;
use serde_json::{Value, json};

/// Alpha (with a console and the operator Ana) and Bravo, paired and running, the example
/// codebook agreed between them.
fn stations(root: &Path) -> (StationProcess, StationProcess, SocketAddr) {
    let mut alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
    let mut bravo = StationProcess::init(exe(), root, "Bravo", "ru").expect("init Bravo");
    alpha.pin(&bravo, root).expect("pin");
    bravo.pin(&alpha, root).expect("pin");
    let addr = serve_console(&alpha);
    add_operator(&alpha, root, "Ana", Some("en"));
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    await_console(addr);
    agree_example_codebook(&alpha, &bravo);
    (alpha, bravo, addr)
}

/// A time `hours` from now, RFC 3339, whole seconds.
fn hours_from_now(hours: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
    let at = at.replace_nanosecond(0).expect("valid");
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// The launch notice to Bravo, filled in as the codebook takes it, with `changes` made
/// (an empty value: the field left out).
fn launch_notice(changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("peer", "Bravo".to_owned()),
        ("precedence", "routine".to_owned()),
        ("form", "missile_launch".to_owned()),
        ("f_planned_launch", hours_from_now(48)),
        ("f_missile_class", "icbm".to_owned()),
        ("f_launch_area", "62.9,40.5/30".to_owned()),
        ("f_impact_area", "53.0,158.0/50".to_owned()),
    ];
    for (name, value) in changes {
        pairs.retain(|(key, _)| key != name);
        pairs.push((name, (*value).to_owned()));
    }
    pairs
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

/// Code `code` to Bravo with `params` (`f_NAME`, value).
fn coded(code: &str, params: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("peer".to_owned(), "Bravo".to_owned()),
        ("precedence".to_owned(), "priority".to_owned()),
        ("code".to_owned(), code.to_owned()),
    ];
    pairs.extend(
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    pairs
}

/// What a check answers, for the table: sendable, or refused with the field named (or none)
/// and words its error must hold.
enum Expect {
    Ok,
    Refused(Option<&'static str>, &'static str),
}

/// The console's operator session: its address, cookie and CSRF token.
struct Operator {
    addr: SocketAddr,
    cookie: String,
    csrf: String,
}

impl Operator {
    /// `pairs` (with the CSRF token) posted to the check, as the compose page's script does.
    fn post(&self, pairs: &[(String, String)]) -> Answer {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        http(
            self.addr,
            "POST",
            "/compose/check",
            Some(&self.cookie),
            &form(&all),
        )
    }

    /// Checks `pairs` and compares the answer with `expect`.
    fn check(&self, what: &str, pairs: &[(String, String)], expect: Expect) {
        let answer = self.post(pairs);
        assert_eq!(answer.status, 200, "{what}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{what}"
        );
        let verdict: Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|error| panic!("{what}: {error}: {}", answer.body));
        match expect {
            Expect::Ok => assert_eq!(verdict, json!({ "ok": true }), "{what}"),
            Expect::Refused(field, words) => {
                assert_eq!(verdict["ok"], false, "{what}: {verdict}");
                assert_eq!(verdict["field"], json!(field), "{what}: {verdict}");
                let error = verdict["error"].as_str().unwrap_or_default();
                assert!(
                    error.contains(words),
                    "{what}: {error:?} does not say {words:?}"
                );
                assert_eq!(
                    verdict.as_object().map(serde_json::Map::len),
                    Some(3),
                    "{what}: ok, field and error only: {verdict}"
                );
            }
        }
    }
}

#[test]
fn the_compose_check_names_what_the_codebook_refuses_and_changes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let (alpha, _bravo, addr) = stations(root.path());
    let cookie = logged_in(addr, "Ana", common::console::PASSWORD);
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    assert_eq!(page.status, 200);
    let ana = Operator {
        addr,
        csrf: csrf(&page.body),
        cookie,
    };

    // The page states what HTML can state exactly: a required field, an integer's bounds;
    // each field has its place for the check's words.
    for needle in [
        "data-check=\"/compose/check\"",
        "name=\"f_missile_count\" type=\"number\" step=\"1\" min=\"1\" max=\"100\" placeholder=\"integer\" value=\"\" aria-describedby=",
        "name=\"f_planned_launch\" placeholder=\"datetime\" value=\"\" required aria-describedby=",
        "name=\"f_delay\" type=\"number\"",
    ] {
        let found = page.body.contains(needle);
        // A duration is no integer to the browser ("2h" is one), so it gets no number input.
        let expected = needle != "name=\"f_delay\" type=\"number\"";
        assert_eq!(found, expected, "{needle:?} in the compose page");
    }

    let notice = |changes: &[(&str, &str)]| launch_notice(changes);
    ana.check("a launch notice 48 h ahead", &notice(&[]), Expect::Ok);
    ana.check(
        "a launch notice 2 h ahead",
        &notice(&[("f_planned_launch", &hours_from_now(2))]),
        Expect::Refused(
            Some("planned_launch"),
            "less than 24 h after the notice is sent",
        ),
    );
    ana.check(
        "a missile count that is no number",
        &notice(&[("f_missile_count", "many")]),
        Expect::Refused(Some("missile_count"), "is not an integer"),
    );
    ana.check(
        "a missile count over its bound",
        &notice(&[("f_missile_count", "101")]),
        Expect::Refused(Some("missile_count"), "101"),
    );
    ana.check(
        "a missile class not offered",
        &notice(&[("f_missile_class", "cruise")]),
        Expect::Refused(Some("missile_class"), "cruise"),
    );
    ana.check(
        "a required field left out",
        &notice(&[("f_impact_area", "")]),
        Expect::Refused(Some("impact_area"), "required, and missing"),
    );
    ana.check(
        "a field the form does not have",
        &notice(&[("f_warheads", "3")]),
        Expect::Refused(Some("warheads"), "not a field of form"),
    );
    ana.check(
        "a form the codebook does not have",
        &notice(&[("form", "parade")]),
        Expect::Refused(None, "there is no form `parade`"),
    );
    ana.check(
        "a precedence the console does not offer",
        &notice(&[("precedence", "urgent")]),
        Expect::Refused(Some("precedence"), "the precedence is not flash"),
    );
    ana.check(
        "a peer not paired",
        &notice(&[("peer", "Nobody")]),
        Expect::Refused(None, "unknown peer \"Nobody\""),
    );
    ana.check(
        "code 4 with its parameters",
        &coded(
            "4",
            &[("f_time", &hours_from_now(1)), ("f_channel", "voice")],
        ),
        Expect::Ok,
    );
    ana.check(
        "code 4 on a channel not offered",
        &coded("4", &[("f_time", &hours_from_now(1)), ("f_channel", "fax")]),
        Expect::Refused(Some("channel"), "fax"),
    );
    ana.check(
        "code 7 sooner than its bound",
        &coded("7", &[("f_delay", "10s")]),
        Expect::Refused(Some("delay"), "10"),
    );
    ana.check(
        "a code the codebook does not have",
        &coded("99", &[]),
        Expect::Refused(None, "there is no code 99"),
    );
    ana.check(
        "a code that is no number",
        &coded("four", &[]),
        Expect::Refused(None, "the code is not a number"),
    );

    // Only a logged-in operator, from the console's pages, with the session's CSRF token.
    let good = form(
        &[("csrf", ana.csrf.as_str())]
            .into_iter()
            .chain(notice(&[]).iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect::<Vec<_>>(),
    );
    let without_token = form(
        &notice(&[])
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let wrong_token = good.replace(&ana.csrf, &"0".repeat(64));
    let ours = format!("http://{addr}");
    let (ours, session) = (Some(ours.as_str()), Some(ana.cookie.as_str()));
    let path = ("POST", "/compose/check");
    for (what, cookie, origin, body, status) in [
        ("no session", None, ours, &good, 401),
        ("a forged session", Some("forged"), ours, &good, 401),
        ("no CSRF token", session, ours, &without_token, 403),
        ("a wrong CSRF token", session, ours, &wrong_token, 403),
        ("no Origin", session, None, &good, 403),
        (
            "another site",
            session,
            Some("http://evil.example"),
            &good,
            403,
        ),
    ] {
        let answer = http_from(addr, path, cookie, (origin, &addr.to_string()), body);
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert!(!answer.body.contains("\"ok\""), "{what}: {}", answer.body);
    }
    let read = http_from(
        addr,
        ("GET", "/compose/check"),
        Some(&ana.cookie),
        (None, &addr.to_string()),
        "",
    );
    assert_eq!(read.status, 405, "only POST: {}", read.body);

    // A form as large as one that can be sent is checked; a byte more is refused unread.
    let padded = |size: usize| {
        let mut body = format!("{good}&pad=");
        body.push_str(&"x".repeat(size - body.len()));
        body
    };
    for (size, status) in [
        (CHECK_FORM_SIZE_MAX_BYTES, 200),
        (CHECK_FORM_SIZE_MAX_BYTES + 1, 413),
    ] {
        let answer = http(
            addr,
            "POST",
            "/compose/check",
            Some(&ana.cookie),
            &padded(size),
        );
        assert_eq!(answer.status, status, "a {size}-byte form: {}", answer.body);
    }

    // Nothing was sent or stored, and the console audited Ana's login only.
    let outbox = alpha.outbox().expect("outbox");
    assert!(outbox.is_empty(), "nothing sent: {outbox:?}");
    let audit = alpha.json(&["audit"]).expect("audit");
    let actions: Vec<&str> = audit
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["source"] == "console")
        .filter_map(|row| row["action"].as_str())
        .collect();
    assert_eq!(actions, ["login"], "{audit:#}");
}
