//! The console's long lists come in pages: a record of any size makes pages of bounded size,
//! newest first, with links to the newer and older pages. Real daemons, real HTTP.

mod common;

use common::console::{PASSWORD, add_operator, await_console, http, logged_in, serve_console};
use common::watch::{WATCH_TIMEOUT, alarms, short_objectives};
use common::{exe, paired};
use parley_console::limits::PAGE_ROWS_MAX;
use parley_testkit::harness::{StationProcess, wait_until};

#[test]
fn the_inbox_comes_in_pages_newest_first() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    let addr = serve_console(&alpha);
    add_operator(&alpha, root.path(), "Ana", None);
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_console(addr);
    let sent = PAGE_ROWS_MAX + 5;
    for n in 0..sent {
        bravo
            .ok(&["send", "Alpha", &format!("traffic {n:03}")])
            .unwrap();
    }
    let arrived = wait_until(std::time::Duration::from_secs(120), || {
        alpha.inbox().is_ok_and(|inbox| inbox.len() == sent)
    });
    assert!(arrived, "Bravo's messages reach Alpha");
    let cookie = logged_in(addr, "Ana", PASSWORD);
    let page = |query: &str| http(addr, "GET", &format!("/inbox{query}"), Some(&cookie), "");
    let articles = |body: &str| body.matches("<article ").count();

    let first = page("");
    assert_eq!(first.status, 200);
    assert_eq!(articles(&first.body), PAGE_ROWS_MAX);
    let newest = format!("traffic {:03}", sent - 1);
    assert!(first.body.contains(&newest), "{}", first.body);
    assert!(first.body.contains("traffic 005") && !first.body.contains("traffic 004"));
    assert!(first.body.contains(&format!("1–{PAGE_ROWS_MAX} of {sent}")));
    assert!(
        first
            .body
            .contains(r#"<a href="/inbox?page=1" rel="next">"#)
    );
    assert!(!first.body.contains(r#"rel="prev""#), "nothing is newer");
    // Every message awaits an answer: those on the next page are pointed to, the first due
    // (the oldest) among them.
    let elsewhere = r#"<a href="/inbox?page=1">5 awaiting an answer on other pages; the first of them due is on page 2</a>"#;
    assert!(first.body.contains(elsewhere), "{}", first.body);

    let second = page("?page=1");
    assert_eq!(articles(&second.body), 5);
    assert!(second.body.contains("traffic 004") && second.body.contains("traffic 000"));
    assert!(second.body.contains(r#"<a href="/inbox" rel="prev">"#));
    assert!(!second.body.contains(r#"rel="next""#), "nothing is older");
    let elsewhere = r#"<a href="/inbox">100 awaiting an answer on other pages; the first of them due is on page 1</a>"#;
    assert!(second.body.contains(elsewhere), "{}", second.body);

    let past = page("?page=7");
    assert_eq!(articles(&past.body), 0);
    assert!(
        past.body
            .contains(&format!("nothing on this page; {sent} in all"))
    );
    assert!(!past.body.contains("Nothing received yet"), "{}", past.body);
    assert!(past.body.contains(r#"<a href="/inbox" rel="prev">"#));

    for bad in ["?page=x", "?page=-1", "?page=99999999999999999999999"] {
        assert_eq!(page(bad).status, 400, "{bad}");
        // Without a session, to the login page whatever the query, as every page.
        for path in ["/inbox", "/outbox", "/alarms", "/compose"] {
            let url = format!("{path}{}", bad.replace("page", "seq"));
            let answer = http(addr, "GET", &format!("{path}{bad}"), None, "");
            assert_eq!(answer.status, 303, "{path}{bad}");
            assert_eq!(http(addr, "GET", &url, None, "").status, 303, "{url}");
        }
    }
    assert_eq!(
        http(addr, "GET", "/transcript/export", None, "").status,
        303
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

/// The outbox is newest first whoever each message went to, and the alarms newest first:
/// the first page shows what just happened.
#[test]
fn the_outbox_and_the_alarms_are_newest_first() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    let mut charlie = StationProcess::init(exe(), root.path(), "Charlie", "en").unwrap();
    alpha.pin(&charlie, root.path()).unwrap();
    charlie.pin(&alpha, root.path()).unwrap();
    short_objectives(&alpha);
    let addr = serve_console(&alpha);
    add_operator(&alpha, root.path(), "Ana", None);
    for station in [&mut alpha, &mut bravo, &mut charlie] {
        station.start().unwrap();
    }
    await_console(addr);
    // Bravo's name sorts first: its link is listed first in the record.
    let flash = ["send", "--precedence", "flash"];
    let first = alpha.ok(&[
        &flash[..1],
        &["Charlie"],
        &flash[1..],
        &["to Charlie, first"],
    ]
    .concat());
    let then = alpha.ok(&[&flash[..1], &["Bravo"], &flash[1..], &["to Bravo, then"]].concat());
    assert!(first.is_ok() && then.is_ok());
    let cookie = logged_in(addr, "Ana", PASSWORD);
    let outbox = http(addr, "GET", "/outbox", Some(&cookie), "").body;
    let at = |text: &str| {
        outbox
            .find(text)
            .unwrap_or_else(|| panic!("{text}: {outbox}"))
    };
    assert!(at("to Bravo, then") < at("to Charlie, first"), "{outbox}");

    // Neither peer answers: two understood_overdue alarms, the later one first.
    let raised = wait_until(WATCH_TIMEOUT, || {
        alarms(&alpha, false)
            .iter()
            .filter(|alarm| alarm["kind"] == "understood_overdue")
            .count()
            == 2
    });
    assert!(raised, "{:?}", alarms(&alpha, false));
    let newest = alarms(&alpha, true)
        .iter()
        .filter_map(|alarm| alarm["id"].as_u64())
        .max()
        .expect("alarms");
    let page = http(addr, "GET", "/alarms", Some(&cookie), "").body;
    let first_article = page.find("<article ").expect("an alarm");
    let first_id = &page[first_article..][..page[first_article..].find('>').unwrap()];
    assert!(
        first_id.contains(&format!("id=\"a-{newest}\"")),
        "{first_id}"
    );
    for station in [&mut alpha, &mut bravo, &mut charlie] {
        station.stop().unwrap();
    }
}
