//! The web console over real HTTP, served by a real daemon: every page and action refuses a
//! request without a session, actions need the CSRF token, logins are throttled, cookies carry
//! their flags, untrusted text is escaped, a message from the peer shows without reload (the
//! event stream), a FLASH awaiting an answer is counted on every page until it is answered, an
//! answer given in the console is signed with the operator's name and audited, and a console
//! off loopback refuses plain HTTP.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::console::{
    PASSWORD, add_operator, await_console, console_config, csrf, form, http, http_from, logged_in,
    login, post_then_reset, serve_console, session_cookie, upload,
};
use common::exe;
use parley_testkit::harness::{StationProcess, free_tcp_port, wait_until};

/// Alpha (with a console and an operator account) and Bravo, paired and running.
fn stations(root: &Path) -> (StationProcess, StationProcess, SocketAddr) {
    let mut alpha = StationProcess::init(exe(), root, "Alpha", "en").expect("init Alpha");
    let mut bravo = StationProcess::init(exe(), root, "Bravo", "ru").expect("init Bravo");
    alpha.pin(&bravo, root).expect("pin");
    bravo.pin(&alpha, root).expect("pin");
    let addr = serve_console(&alpha);
    add_operator(&alpha, root, "Ana", None);
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    await_console(addr);
    (alpha, bravo, addr)
}

/// The event stream of the session `cookie`, its request sent; each read waits at most
/// `read_timeout`.
fn event_stream(addr: SocketAddr, cookie: &str, read_timeout: Duration) -> BufReader<TcpStream> {
    let mut events = TcpStream::connect(addr).expect("connect");
    events
        .set_read_timeout(Some(read_timeout))
        .expect("timeout");
    write!(
        events,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nCookie: parley_session={cookie}\r\n\r\n"
    )
    .expect("write");
    BufReader::new(events)
}

#[test]
fn the_console_serves_operators_only_and_acts_as_them() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, bravo, addr) = stations(root.path());

    // Only this console's own address, and its own pages for what changes anything.
    let login_form = form(&[("name", "Ana"), ("password", PASSWORD)]);
    let rebound = http_from(addr, ("GET", "/login"), None, (None, "evil.example:80"), "");
    assert_eq!(
        rebound.status, 421,
        "a name rebound to 127.0.0.1 is refused"
    );
    let named = http_from(
        addr,
        ("GET", "/login"),
        None,
        (None, &format!("localhost:{}", addr.port())),
        "",
    );
    assert_eq!(named.status, 200);
    for origin in [None, Some("http://evil.example")] {
        let forged = http_from(
            addr,
            ("POST", "/login"),
            None,
            (origin, &addr.to_string()),
            &login_form,
        );
        assert_eq!(forged.status, 403, "a login from {origin:?}");
    }

    // Nothing without a session.
    for path in ["/", "/inbox", "/outbox", "/alarms", "/compose"] {
        let answer = http(addr, "GET", path, None, "");
        assert_eq!(answer.status, 303, "{path}");
        assert_eq!(answer.header("location"), Some("/login"), "{path}");
    }
    assert_eq!(http(addr, "GET", "/events", None, "").status, 401);
    for path in [
        "/understood",
        "/clarify",
        "/alarm/ack",
        "/send",
        "/send-code",
        "/notice",
        "/logout",
    ] {
        let answer = http(addr, "POST", path, Some("forged"), "csrf=x&id=1&text=x");
        assert_eq!(answer.status, 401, "{path}");
    }
    assert_eq!(http(addr, "GET", "/login", None, "").status, 200);

    // Log in: the cookie's flags.
    let answer = login(addr, "Ana", PASSWORD);
    assert_eq!(answer.status, 303, "{}", answer.body);
    let set_cookie = answer.header("set-cookie").expect("a cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP on loopback: {set_cookie}"
    );
    let cookie = session_cookie(&answer);
    let board = http(addr, "GET", "/", Some(&cookie), "");
    assert_eq!(board.status, 200);
    // A cookie of the same name planted beside it (by a neighbouring site) is passed over;
    // of two that both name open sessions, neither is taken.
    let planted = format!("planted; parley_session={cookie}");
    assert_eq!(http(addr, "GET", "/", Some(&planted), "").status, 200);
    let second = session_cookie(&login(addr, "Ana", PASSWORD));
    let both = format!("{second}; parley_session={cookie}");
    assert_eq!(http(addr, "GET", "/", Some(&both), "").status, 303);
    assert_eq!(http(addr, "GET", "/", Some(&second), "").status, 200);
    assert!(board.body.contains("Bravo"), "{}", board.body);
    assert!(
        board
            .body
            .contains("<main id=\"main\" data-attention=\"0\">"),
        "nothing awaits the operator yet: {}",
        board.body
    );
    assert!(
        board
            .header("content-security-policy")
            .is_some_and(|csp| csp.contains("script-src 'self'"))
    );

    // The event stream, open before the peer sends.
    let mut events = event_stream(addr, &cookie, Duration::from_secs(30));

    // A FLASH with markup in it: shown live, as text.
    let hostile = "<script>alert(1)</script> hold fire";
    let id = bravo
        .ok(&["send", "Alpha", "--precedence", "flash", hostile])
        .expect("send")
        .trim()
        .to_owned();
    let mut line = String::new();
    let announced = (0..200).any(|_| {
        line.clear();
        events.read_line(&mut line).is_ok_and(|n| n > 0) && line.contains("message_stored")
    });
    assert!(announced, "the event stream announces the message: {line}");
    let inbox = http(addr, "GET", "/inbox", Some(&cookie), "");
    assert_eq!(inbox.status, 200);
    assert!(inbox.body.contains(&id), "the message is in the inbox");
    assert!(
        inbox
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62; hold fire"),
        "{}",
        inbox.body
    );
    assert!(!inbox.body.contains("<script>alert"), "markup is escaped");
    assert!(inbox.body.contains("data-due-ms"), "a countdown");
    // The FLASH awaits an answer: counted on every page, and shown in the nav.
    for path in ["/inbox", "/outbox", "/alarms"] {
        let page = http(addr, "GET", path, Some(&cookie), "");
        assert!(
            page.body.contains("data-attention=\"1\"") && page.body.contains("1 FLASH to answer"),
            "{path}: {}",
            page.body
        );
    }

    // An answer without the CSRF token is refused; with it, it is signed as Ana.
    let token = csrf(&inbox.body);
    let without = http(
        addr,
        "POST",
        "/understood",
        Some(&cookie),
        &form(&[("id", &id), ("text", "Bravo asks us to hold fire")]),
    );
    assert_eq!(without.status, 403, "{}", without.body);
    let wrong = http(
        addr,
        "POST",
        "/understood",
        Some(&cookie),
        &form(&[("csrf", &"0".repeat(64)), ("id", &id), ("text", "x")]),
    );
    assert_eq!(wrong.status, 403);
    // Methods that change nothing pass the origin check; a route answers only its own, and
    // an unknown page says so.
    let without_origin = |method| {
        let host = addr.to_string();
        http_from(addr, (method, "/inbox"), Some(&cookie), (None, &host), "")
    };
    let head = without_origin("HEAD");
    assert_eq!(head.status, 200, "{}", head.head);
    let options = without_origin("OPTIONS");
    assert_eq!(options.status, 405, "{}", options.head);
    assert!(
        options.body.contains("does not take that method"),
        "{}",
        options.body
    );
    let put = http(addr, "PUT", "/inbox", Some(&cookie), "");
    assert_eq!(put.status, 405, "{}", put.body);
    let unknown = http(addr, "GET", "/no-such-page", Some(&cookie), "");
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("no such page"), "{}", unknown.body);
    // Without the token, a form that could not be read is refused for the token all the
    // same: nothing of how it would have been read comes back before.
    for (path, body) in [
        ("/alarm/ack", "id=abc".to_owned()),
        ("/understood", "text=no+id".to_owned()),
        ("/understood", format!("id={id}&id={id}")),
        ("/send", "text=%FF".to_owned()),
        ("/compose/check", "code=%FF".to_owned()),
        ("/logout", "a=%FF".to_owned()),
    ] {
        let refused = http(addr, "POST", path, Some(&cookie), &body);
        assert_eq!(refused.status, 403, "{path} {body}: {}", refused.body);
    }
    // With it, such a form is the action's refusal, shown and audited like any other.
    let unread = http(
        addr,
        "POST",
        "/alarm/ack",
        Some(&cookie),
        &form(&[("csrf", &token), ("id", "abc")]),
    );
    assert_eq!(unread.status, 422, "{}", unread.body);
    assert!(
        unread.body.contains("the form cannot be read"),
        "{}",
        unread.body
    );
    let audit = alpha.json(&["audit"]).expect("audit");
    assert!(
        audit
            .as_array()
            .expect("rows")
            .iter()
            .any(|row| row["action"] == "alarm_ack"
                && row["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("the form cannot be read"))),
        "{audit:#}"
    );
    let answered = http(
        addr,
        "POST",
        "/understood",
        Some(&cookie),
        &form(&[
            ("csrf", &token),
            ("id", &id),
            ("text", "Bravo asks us to hold fire"),
        ]),
    );
    assert_eq!(answered.status, 303, "{}", answered.body);
    let understood = wait_until(Duration::from_secs(30), || {
        bravo.outbox().is_ok_and(|outbox| {
            outbox.iter().any(|item| {
                item["id"] == id.as_str()
                    && item["state"] == "understood"
                    && item["answered_by"] == "Ana"
                    && item["restatement"] == "Bravo asks us to hold fire"
            })
        })
    });
    assert!(understood, "Bravo sees Ana's signed answer");
    let inbox = http(addr, "GET", "/inbox", Some(&cookie), "");
    assert!(
        inbox.body.contains("data-attention=\"0\"") && !inbox.body.contains("FLASH to answer"),
        "the answered FLASH awaits nothing: {}",
        inbox.body
    );
    let audit = alpha.json(&["audit"]).expect("audit");
    let rows = audit.as_array().expect("rows");
    assert!(
        rows.iter().any(|row| row["operator"] == "Ana"
            && row["action"] == "understood"
            && row["source"] == "console"
            && row["outcome"] == "ok"),
        "{audit:#}"
    );
    assert!(
        rows.iter()
            .any(|row| row["action"] == "login" && row["operator"] == "Ana")
    );

    // Accept Bravo's codebook in the console, as Ana.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codebook.toml");
    let proposed = bravo
        .ok(&["codebook", "propose", "Alpha", example.to_str().unwrap()])
        .expect("propose");
    let hash = proposed.trim().rsplit(' ').next().expect("hash").to_owned();
    let seen = wait_until(Duration::from_secs(30), || {
        http(addr, "GET", "/codebooks", Some(&cookie), "")
            .body
            .contains(&hash)
    });
    assert!(seen, "the proposal shows in the console");
    let page = http(addr, "GET", "/codebooks", Some(&cookie), "");
    assert!(page.body.contains("Accept this codebook"));
    // Ana sees all the receiver will read before she accepts: every label and choice value
    // in both languages, and the bounds.
    for shown in [
        "Planned date and time of launch",
        "<code>icbm</code> <span class=\"lang\">en</span> intercontinental ballistic missile (ICBM)",
        "межконтинентальная баллистическая ракета (МБР)",
        "<code>missile_count</code> integer, optional, 1 to 100",
        "<code>delay</code> duration, 60 s to 172800 s",
    ] {
        assert!(page.body.contains(shown), "{shown:?} not in {}", page.body);
    }
    let accepted = http(
        addr,
        "POST",
        "/codebook/accept",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("hash", &hash),
        ]),
    );
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let report = alpha.json(&["codebook", "show", "Bravo"]).expect("show");
    assert_eq!(report["current"], hash.as_str());
    assert_eq!(report["codebooks"][0]["accepted_by_us"], "Ana");

    // A notice's title and fields each on a line of their own: a text value that reads like
    // further fields stays inside its own line.
    let forged = "none. Time of the incident: 2026-12-04 09:00 UTC Place: 10.000000°N 20.000000°E";
    let notice = bravo
        .ok(&[
            "notice",
            "Alpha",
            "incident",
            "--field",
            "time=2026-12-04T09:00:00Z",
            "--field",
            "place=10,20",
            "--field",
            &format!("description={forged}"),
        ])
        .expect("notice")
        .trim()
        .to_owned();
    let arrived = wait_until(Duration::from_secs(30), || {
        http(addr, "GET", "/inbox", Some(&cookie), "")
            .body
            .contains(&notice)
    });
    assert!(arrived, "the notice reached Alpha's console");
    let inbox = http(addr, "GET", "/inbox", Some(&cookie), "").body;
    for line in [
        "Incident report".to_owned(),
        format!("Description: {forged}"),
    ] {
        assert!(
            inbox.contains(&format!("<span class=\"line\">{line}</span>")),
            "{line:?} not a line of its own in {inbox}"
        );
    }

    // Send from the console, then withdraw it.
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    let sent = http(
        addr,
        "POST",
        "/send",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("precedence", "priority"),
            ("text", "Convoy moving at dawn."),
            ("translation_lang", "ru"),
            ("translation_text", "Колонна выходит на рассвете."),
        ]),
    );
    assert_eq!(sent.status, 303, "{}", sent.body);
    let after = sent
        .header("location")
        .expect("to the compose page")
        .to_owned();
    assert!(after.starts_with("/compose?sent="), "{after}");
    let shown = http(addr, "GET", &after, Some(&cookie), "");
    assert!(shown.body.contains("Sent: "), "{}", shown.body);
    // A link crafted to show other text, or another id, shows no banner.
    for crafted in [
        "/compose?sent=FLASH%20delivered%20to%20Bravo".to_owned(),
        after.replacen("sent=", "sent=0", 1),
        after.replace("seq=", "seq=9"),
    ] {
        let shown = http(addr, "GET", &crafted, Some(&cookie), "");
        assert_eq!(shown.status, 200, "{crafted}");
        assert!(!shown.body.contains("Sent: "), "{crafted}: {}", shown.body);
    }
    let outbox = alpha.outbox().expect("outbox");
    let mine = outbox
        .iter()
        .find(|item| item["text"] == "Convoy moving at dawn.")
        .expect("sent");
    assert_eq!(
        mine["translations"][0]["text"],
        "Колонна выходит на рассвете."
    );
    assert_eq!(mine["sent_by"], "Ana", "the signed entry names Ana");
    let id_sent = mine["id"].as_str().expect("id").to_owned();
    let page = http(addr, "GET", "/outbox", Some(&cookie), "");
    assert!(page.body.contains("Cancel this message"));
    let cancelled = http(
        addr,
        "POST",
        "/cancel",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("id", &id_sent),
            ("reason", "sent in error"),
        ]),
    );
    assert_eq!(cancelled.status, 303, "{}", cancelled.body);
    // Bravo reads Ana's name in the signed message and in the signed cancellation.
    let signed_as_ana = wait_until(Duration::from_secs(30), || {
        bravo.json(&["inbox"]).is_ok_and(|inbox| {
            inbox.as_array().into_iter().flatten().any(|item| {
                item["id"] == id_sent.as_str()
                    && item["sent_by"] == "Ana"
                    && item["cancelled_by"] == "Ana"
                    && item["cancelled"] == "sent in error"
            })
        })
    });
    assert!(signed_as_ana, "{:#}", bravo.json(&["inbox"]).unwrap());
    let page = http(addr, "GET", "/outbox", Some(&cookie), "");
    assert!(
        page.body.contains("written by Ana")
            && page.body.contains("CANCELLED by Ana")
            && page.body.contains("sent on direct"),
        "{}",
        page.body
    );
    // A precedence the console does not offer is refused, not taken for routine.
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    let unknown = http(
        addr,
        "POST",
        "/send",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("precedence", "urgent"),
            ("text", "Which precedence?"),
        ]),
    );
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert!(
        unknown.body.contains("the precedence is not"),
        "{}",
        unknown.body
    );
    assert!(
        !alpha
            .outbox()
            .expect("outbox")
            .iter()
            .any(|item| item["text"] == "Which precedence?")
    );
    // A refused action says why and is audited with its outcome.
    let refused = http(
        addr,
        "POST",
        "/cancel",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("id", &id_sent),
            ("reason", "again"),
        ]),
    );
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("cancelled already"),
        "{}",
        refused.body
    );
    let audit = alpha.json(&["audit"]).expect("audit");
    let actions: Vec<(String, String)> = audit
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["operator"] == "Ana")
        .map(|row| {
            (
                row["action"].as_str().unwrap_or_default().to_owned(),
                row["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for action in ["codebook_accept", "send", "cancel"] {
        assert!(
            actions.iter().any(|(a, o)| a == action && o == "ok"),
            "{action}: {actions:?}"
        );
    }
    assert!(
        actions
            .iter()
            .any(|(a, o)| a == "cancel" && o.contains("cancelled already"))
    );
    // Refused before it became a request, and audited all the same.
    assert!(
        actions
            .iter()
            .any(|(a, o)| a == "send" && o.contains("the precedence is not")),
        "{actions:?}"
    );
    // What is done for a client that went away meanwhile is audited all the same: each
    // message sent by a client that reset its connection once its request was read (a tab
    // closed, a network dropped) has its row. (A reset may also come before the console read
    // the request: then nothing is done, and nothing is to audit.)
    let gone = |n: usize| format!("sent by a client gone {n}");
    let reached = |alpha: &StationProcess| -> Vec<String> {
        let outbox = alpha.outbox().expect("outbox");
        let texts = outbox.iter().filter_map(|item| item["text"].as_str());
        texts
            .filter(|text| text.starts_with("sent by a client gone"))
            .map(str::to_owned)
            .collect()
    };
    // Eight at least, more on a machine too busy to read them before their reset, each
    // given a little longer (1 to 16 ms).
    for n in 0..64 {
        if n >= 8 && !reached(&alpha).is_empty() {
            break;
        }
        let page = http(addr, "GET", "/compose", Some(&cookie), "");
        let send = form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("precedence", "routine"),
            ("text", &gone(n)),
        ]);
        let after = Duration::from_millis(1 + n as u64 / 4);
        post_then_reset(addr, "/send", &cookie, &send, after);
    }
    // A request longer than an audit row holds (each control character of the text is six
    // bytes of the row's JSON) is audited too, shortened, with its size.
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    let long = "\u{1}".repeat(12_000);
    let send = form(&[
        ("csrf", &csrf(&page.body)),
        ("peer", "Bravo"),
        ("precedence", "routine"),
        ("text", &long),
    ]);
    let sent = http(addr, "POST", "/send", Some(&cookie), &send);
    assert_eq!(sent.status, 303, "{}", sent.body);
    let rows = |alpha: &StationProcess| -> Vec<serde_json::Value> {
        let audit = alpha.json(&["audit"]).expect("audit");
        let rows = audit.as_array().expect("rows").iter();
        rows.filter(|row| row["action"] == "send" && row["outcome"] == "ok")
            .map(|row| row["detail"].clone())
            .collect()
    };
    let shortened = rows(&alpha).iter().any(|detail| {
        detail["request"] == "send"
            && detail["shortened_from_bytes"].as_u64() > Some(72_000)
            && detail["start"]
                .as_str()
                .is_some_and(|s| s.len() <= 16 * 1024)
    });
    assert!(shortened, "the long message's row");
    let sent = reached(&alpha);
    assert!(!sent.is_empty(), "no request reached the console");
    let all_audited = wait_until(Duration::from_secs(30), || {
        let rows = rows(&alpha);
        sent.iter()
            .all(|text| rows.iter().any(|detail| detail["text"] == text.as_str()))
    });
    assert!(all_audited, "{sent:?}: {:?}", rows(&alpha).len());

    // A notice refused by its rule: the error names the field, and the form comes back as
    // the operator filled it.
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    assert!(
        page.body.contains("form-missile_launch"),
        "the agreed codebook's forms"
    );
    let early = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let early = early
        .replace_nanosecond(0)
        .expect("valid")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let refused = http(
        addr,
        "POST",
        "/notice",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("form", "missile_launch"),
            ("precedence", "priority"),
            ("exercise", "true"),
            ("f_planned_launch", &early),
            ("f_missile_class", "icbm"),
            ("f_launch_area", "62.9,40.5/30"),
            ("f_impact_area", "53.0,158.0/50"),
        ]),
    );
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("planned_launch"), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"62.9,40.5/30\""),
        "the form refilled"
    );
    // Its precedence and exercise mark too, on that form alone: a corrected form goes out as
    // meant, not as real ROUTINE traffic.
    assert_eq!(
        refused
            .body
            .matches("<option selected>priority</option>")
            .count(),
        1
    );
    assert_eq!(refused.body.matches(" checked>").count(), 1);
    let notice_form = &refused.body[refused.body.find("form-missile_launch").unwrap()..];
    assert!(notice_form.contains("<option selected>priority</option>"));
    assert!(notice_form.contains(" checked>"));
    // A free text refused comes back to the peer, precedence and mark it was for.
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    let long = "x".repeat(parley_proto::limits::TEXT_SIZE_MAX_BYTES + 1);
    let refused = http(
        addr,
        "POST",
        "/send",
        Some(&cookie),
        &form(&[
            ("csrf", &csrf(&page.body)),
            ("peer", "Bravo"),
            ("precedence", "flash"),
            ("exercise", "true"),
            ("text", &long),
        ]),
    );
    assert_eq!(refused.status, 422, "{}", refused.body);
    let message_form = &refused.body[refused.body.find("action=\"/send\"").unwrap()..];
    let message_form = &message_form[..message_form.find("</form>").unwrap()];
    assert!(message_form.contains("<option value=\"Bravo\" selected>"));
    assert!(message_form.contains("<option selected>flash</option>"));
    assert!(message_form.contains(" checked>"));
    assert_eq!(refused.body.matches(" checked>").count(), 1);
    // A field that is not UTF-8 once decoded is refused, not sent with U+FFFD in its place:
    // the action's refusal, on the compose page.
    let sent_before = alpha.json(&["outbox"]).expect("outbox");
    let page = http(addr, "GET", "/compose", Some(&cookie), "");
    let body = format!(
        "csrf={}&peer=Bravo&precedence=flash&text=ab%FF%FEcd",
        csrf(&page.body)
    );
    let refused = http(addr, "POST", "/send", Some(&cookie), &body);
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("not UTF-8"), "{}", refused.body);
    assert_eq!(alpha.json(&["outbox"]).expect("outbox"), sent_before);

    // Speed of service, and the transcript: downloaded, verified by upload, a change caught.
    let speed = http(addr, "GET", "/speed", Some(&cookie), "");
    assert_eq!(speed.status, 200);
    assert!(speed.body.contains("PRIORITY") && speed.body.contains("<meter"));
    let exported = http(
        addr,
        "GET",
        "/transcript/export?peer=Bravo",
        Some(&cookie),
        "",
    );
    assert_eq!(exported.status, 200, "{}", exported.body);
    assert!(
        exported
            .header("content-disposition")
            .is_some_and(|d| d.contains("transcript-Bravo.txt"))
    );
    // The record of everything said left the station: audited, as Ana's.
    let audit = alpha.json(&["audit"]).expect("audit");
    let exports: Vec<&serde_json::Value> = (audit.as_array().expect("rows").iter())
        .filter(|row| row["action"] == "transcript_export")
        .collect();
    assert_eq!(exports.len(), 1, "{audit:#}");
    assert_eq!(exports[0]["operator"], "Ana");
    assert_eq!(exports[0]["detail"]["peer"], "Bravo");
    assert_eq!(exports[0]["outcome"], "ok");
    let page = http(addr, "GET", "/transcript", Some(&cookie), "");
    let token = csrf(&page.body);
    let verify = |body: &str, token: &str| {
        upload(addr, "/transcript/verify", &cookie, token, body.as_bytes())
    };
    let ok = verify(&exported.body, &token);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.starts_with("transcript OK"), "{}", ok.body);
    assert!(ok.body.contains("\"Alpha\" (") && ok.body.contains("\"Bravo\" ("));
    let tampered = exported.body.replacen("\"entry\":\"", "\"entry\":\"A", 1);
    let failed = verify(&tampered, &token);
    assert_eq!(failed.status, 422);
    assert!(failed.body.contains("FAILED"), "{}", failed.body);
    assert_eq!(verify(&exported.body, "").status, 403);
    // One upload at a time: while one is still arriving, another is refused unread (503);
    // once the first is given up, the next is verified.
    let slow_upload = || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        let head = format!(
            "POST /transcript/verify HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: parley_session={cookie}\r\nX-CSRF-Token: {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            exported.body.len()
        );
        stream.write_all(head.as_bytes()).expect("write");
        let half = &exported.body.as_bytes()[..exported.body.len() / 2];
        stream.write_all(half).expect("write");
        stream.set_nonblocking(true).expect("non-blocking");
        stream
    };
    let mut arriving = slow_upload();
    let mut refused = None;
    let busy = wait_until(Duration::from_secs(10), || {
        let answer = verify(&exported.body, &token);
        let busy = answer.status == 503;
        refused = Some(answer);
        // The slow one came while another was verified, and was refused itself: again.
        if !busy && arriving.read(&mut [0; 1]).is_ok() {
            arriving = slow_upload();
        }
        busy
    });
    assert!(busy, "{:?}", refused.as_ref().map(|a| (a.status, &a.body)));
    let refused = refused.expect("answered");
    assert!(
        refused
            .body
            .contains("another transcript is being verified"),
        "{}",
        refused.body
    );
    drop(arriving);
    assert!(wait_until(Duration::from_secs(10), || {
        verify(&exported.body, &token).status == 200
    }));

    // Log out: the session is gone.
    let board = http(addr, "GET", "/", Some(&cookie), "");
    let logout = http(
        addr,
        "POST",
        "/logout",
        Some(&cookie),
        &form(&[("csrf", &csrf(&board.body))]),
    );
    assert_eq!(logout.status, 303);
    assert_eq!(http(addr, "GET", "/inbox", Some(&cookie), "").status, 303);

    // Wrong passwords: refused, then throttled (the right one too, for a while).
    for _ in 0..parley_console::limits::LOGIN_FAILURES_FREE {
        assert_eq!(login(addr, "Ana", "wrong password!!").status, 401);
    }
    assert_eq!(login(addr, "Ana", "wrong password!!").status, 429);
    assert_eq!(login(addr, "Ana", PASSWORD).status, 429);
    assert_eq!(
        login(addr, "Nobody", PASSWORD).status,
        429,
        "per source too"
    );
}

/// The interface speaks each operator's language: an operator made with `--lang ru` reads
/// it in Russian, from the login page of a Russian station on.
/// The inbox page lists what came in newest first, whoever sent it: a busy peer's messages,
/// though listed by the record before another's, never bury a newer one from someone else.
#[test]
fn the_inbox_shows_the_newest_first_whoever_sent_it() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo, addr) = stations(root.path());
    let mut charlie = StationProcess::init(exe(), root.path(), "Charlie", "en").unwrap();
    alpha.pin(&charlie, root.path()).unwrap();
    charlie.pin(&alpha, root.path()).unwrap();
    charlie.start().unwrap();
    let older: Vec<String> = (0..3)
        .map(|i| format!("Charlie routine note {i}"))
        .collect();
    for text in &older {
        charlie.ok(&["send", "Alpha", text]).unwrap();
    }
    common::await_inbox(&alpha, "Charlie", &older);
    let newest = "Bravo FLASH, newest of all".to_owned();
    bravo
        .ok(&["send", "Alpha", "--precedence", "flash", &newest])
        .unwrap();
    common::await_inbox(&alpha, "Bravo", std::slice::from_ref(&newest));
    let cookie = session_cookie(&login(addr, "Ana", PASSWORD));
    let inbox = http(addr, "GET", "/inbox", Some(&cookie), "");
    assert_eq!(inbox.status, 200);
    let at = |text: &str| {
        inbox
            .body
            .find(text)
            .unwrap_or_else(|| panic!("{text} shown"))
    };
    assert!(
        at(&newest) < at(&older[2]),
        "the newest on top: {}",
        inbox.body
    );
    assert!(at(&older[2]) < at(&older[0]));
    for station in [&mut alpha, &mut bravo, &mut charlie] {
        station.stop().unwrap();
    }
}

/// Most connections the console serves at once (`CONNECTIONS_MAX`).
const CONSOLE_CONNECTIONS_MAX: usize = 256;

/// Connections that send nothing cannot keep an operator out: with every place taken by them,
/// a new connection closes the oldest of them and is served at once.
#[test]
fn idle_connections_cannot_keep_an_operator_out() {
    served_at_once_with_every_place_taken(|addr| {
        (0..CONSOLE_CONNECTIONS_MAX + 16)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect()
    });
}

/// Nor can connections kept alive between requests: with every place taken by connections
/// each answered once and then sending nothing more (as one sending a request now and then to
/// be kept alive would), a new connection closes the oldest of them and is served at once.
#[test]
fn kept_alive_connections_cannot_keep_an_operator_out() {
    served_at_once_with_every_place_taken(|addr| {
        let request = format!("GET /login HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        (0..CONSOLE_CONNECTIONS_MAX)
            .map(|_| {
                let mut kept = TcpStream::connect(addr).unwrap();
                kept.write_all(request.as_bytes()).unwrap();
                kept.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut status = [0; 12];
                kept.read_exact(&mut status).unwrap();
                assert_eq!(&status, b"HTTP/1.1 200", "answered, and kept alive");
                kept
            })
            .collect()
    });
}

/// With every place of a console taken by the connections `take` makes, a login page is
/// served within 3 s, three times.
fn served_at_once_with_every_place_taken(take: impl FnOnce(SocketAddr) -> Vec<TcpStream>) {
    let root = tempfile::tempdir().unwrap();
    let mut alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").unwrap();
    let addr = serve_console(&alpha);
    add_operator(&alpha, root.path(), "Ana", None);
    alpha.start().unwrap();
    await_console(addr);
    let taken = take(addr);
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let page = http(addr, "GET", "/login", None, "");
        assert_eq!(page.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "served in {:?}, every place taken",
            started.elapsed()
        );
    }
    drop(taken);
    alpha.stop().unwrap();
}

#[test]
fn the_interface_is_in_the_operators_language() {
    let root = tempfile::tempdir().unwrap();
    let mut bravo = StationProcess::init(exe(), root.path(), "Bravo", "ru").expect("init");
    let addr = serve_console(&bravo);
    for (name, lang) in [("Boris", "ru"), ("Ben", "en")] {
        add_operator(&bravo, root.path(), name, Some(lang));
    }
    bravo.start().expect("start");
    await_console(addr);
    let page = http(addr, "GET", "/login", None, "");
    assert!(
        page.body.contains("Пароль"),
        "the station's language before login"
    );
    let wrong = login(addr, "Boris", "not the password at all");
    assert!(
        wrong.body.contains("неверное имя или пароль"),
        "{}",
        wrong.body
    );
    let boris = session_cookie(&login(addr, "Boris", PASSWORD));
    let board = http(addr, "GET", "/", Some(&boris), "");
    assert!(board.body.contains("<h1>Обстановка</h1>"), "{}", board.body);
    assert!(board.body.contains("Входящие") && board.body.contains("Выйти"));
    assert!(board.body.contains("data-within=\"ответить в течение\""));
    let ben = session_cookie(&login(addr, "Ben", PASSWORD));
    let board = http(addr, "GET", "/", Some(&ben), "");
    assert!(board.body.contains("<h1>Board</h1>"), "{}", board.body);
    // A removed operator's session ends at its next request.
    bravo.ok(&["operator", "remove", "Ben"]).expect("remove");
    assert_eq!(http(addr, "GET", "/", Some(&ben), "").status, 303);
    assert_eq!(http(addr, "GET", "/", Some(&boris), "").status, 200);
    // So does one whose account was removed and added again (a password changed), even
    // between two of its requests: the new account is another account.
    let old = session_cookie(&login(addr, "Boris", PASSWORD));
    bravo.ok(&["operator", "remove", "Boris"]).expect("remove");
    add_operator(&bravo, root.path(), "Boris", Some("ru"));
    assert_eq!(http(addr, "GET", "/", Some(&old), "").status, 303);
    assert_eq!(http(addr, "GET", "/", Some(&boris), "").status, 303);
    let new = session_cookie(&login(addr, "Boris", PASSWORD));
    assert_eq!(http(addr, "GET", "/", Some(&new), "").status, 200);
}

#[test]
fn a_console_off_loopback_refuses_plain_http() {
    let root = tempfile::tempdir().unwrap();
    let alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").expect("init");
    alpha
        .configure(|config| {
            config.console = Some(console_config(
                format!("0.0.0.0:{}", free_tcp_port().expect("port")),
                None,
            ));
        })
        .expect("configure");
    let output = alpha.cli(&["run"]).expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("serves HTTPS only"), "{stderr}");
}

/// A console off loopback with a certificate serves HTTPS, and its session cookie is `Secure`.
#[test]
fn a_console_with_a_certificate_serves_https_with_secure_cookies() {
    use std::sync::Arc;
    let root = tempfile::tempdir().unwrap();
    let mut alpha = StationProcess::init(exe(), root.path(), "Alpha", "en").expect("init");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let (cert_path, key_path) = (
        root.path().join("console.crt"),
        root.path().join("console.key"),
    );
    std::fs::write(&cert_path, pem("CERTIFICATE", cert.der())).expect("write");
    std::fs::write(&key_path, pem("PRIVATE KEY", &key.serialize_der())).expect("write");
    let port = free_tcp_port().expect("port");
    alpha
        .configure(|config| {
            config.console = Some(console_config(
                format!("0.0.0.0:{port}"),
                Some((
                    cert_path.to_str().unwrap().to_owned(),
                    key_path.to_str().unwrap().to_owned(),
                )),
            ));
        })
        .expect("configure");
    add_operator(&alpha, root.path(), "Ana", None);
    // A key others can read is refused; readable by its owner alone, it serves.
    let refused = alpha.cli(&["run"]).expect("runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("is readable by others"), "{stderr}");
    assert!(
        !stderr.contains("station running"),
        "refused before it starts: {stderr}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    alpha.start().expect("start");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    await_console(addr);

    // Plain HTTP gets no page.
    let mut plain = TcpStream::connect(addr).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = plain.write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = String::new();
    let _ = plain.read_to_string(&mut got);
    assert!(!got.contains("HTTP/1.1 200"), "{got}");

    // HTTPS, trusting the console's certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut tls = rustls::StreamOwned::new(connection, TcpStream::connect(addr).expect("connect"));
    let body = form(&[("name", "Ana"), ("password", PASSWORD)]);
    write!(
        tls,
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nOrigin: https://{addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find(|line| line.to_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

/// PEM armour of DER bytes (RFC 7468).
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// An event stream opened by a session ends once its account is removed and added again (a
/// password changed): the next event after a second is not sent, the stream is closed.
#[test]
fn an_event_stream_ends_once_its_account_is_added_again() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo, addr) = stations(root.path());
    let cookie = logged_in(addr, "Ana", PASSWORD);
    // Reads shorter than the stream's keep-alive (15 s): a stream that goes on times one out.
    let mut events = event_stream(addr, &cookie, Duration::from_secs(10));
    let mut line = String::new();
    events.read_line(&mut line).expect("the answer");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");

    alpha.ok(&["operator", "remove", "Ana"]).expect("remove");
    add_operator(&alpha, root.path(), "Ana", None);
    std::thread::sleep(Duration::from_millis(1_100));
    bravo
        .ok(&["send", "Alpha", "for the old session's eyes only"])
        .expect("send");
    // Read to the end of the stream: the last chunk (`0`) or the connection closed.
    let mut seen = Vec::new();
    let ended = loop {
        line.clear();
        match events.read_line(&mut line) {
            Ok(0) => break true,
            Ok(_) if line == "0\r\n" => break true,
            Ok(_) => seen.push(line.clone()),
            Err(_) => break false,
        }
    };
    assert!(ended, "the stream ended: {seen:?}");
    assert!(
        !seen.iter().any(|l| l.contains("message_stored")),
        "{seen:?}"
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
