//! The console's long lists come in pages: a record of any size makes pages of bounded size,
//! newest first, with links to the newer and older pages. Real daemons, real HTTP.

mod common;

use common::console::{PASSWORD, add_operator, await_console, http, logged_in, serve_console};
use common::paired;
use parley_console::limits::PAGE_ROWS_MAX;
use parley_testkit::harness::wait_until;

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
    let elsewhere = r#"<a href="/inbox?page=1">5 awaiting an answer on other pages; the first due is on page 2</a>"#;
    assert!(first.body.contains(elsewhere), "{}", first.body);

    let second = page("?page=1");
    assert_eq!(articles(&second.body), 5);
    assert!(second.body.contains("traffic 004") && second.body.contains("traffic 000"));
    assert!(second.body.contains(r#"<a href="/inbox" rel="prev">"#));
    assert!(!second.body.contains(r#"rel="next""#), "nothing is older");
    let elsewhere =
        r#"<a href="/inbox">100 awaiting an answer on other pages; the first due is on page 1</a>"#;
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
    }
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
