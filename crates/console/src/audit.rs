//! Writing the audit log, and what happens when a row cannot be written. What the row records
//! stands (the action was done, or refused), but an audit log an auditor can trust loses no
//! row unnoticed: a failure is counted (`parley_console_audit_write_failures_total`, served
//! with the station's metrics), logged at error level (the operator, the action and the
//! store's error; never the row's detail, which may hold a message's text), and shown to the
//! operator, whose answer says that it was not written to the audit log ([`notice`]).

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::State as Shared;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use parley_store::console::{
    AUDIT_DETAIL_SIZE_MAX_BYTES, AUDIT_OUTCOME_SIZE_MAX_BYTES, AuditAction, AuditRecord,
    AuditSource,
};

use crate::limits::{AUDIT_DETAIL_KEPT_BYTES, UNAUDITED_ANSWER_SIZE_MAX_BYTES};
use crate::pages::{Tr, blocking, cookie};
use crate::{State, now_ms, since_boot_ms};

tokio::task_local! {
    /// Whether an audit row of the request being answered could not be written (set only
    /// within [`notice`], which answers every request).
    static UNAUDITED: Cell<bool>;
}

/// Whether an audit row was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audited {
    /// It is in the audit log.
    Written,
    /// It could not be written: counted and logged.
    NotWritten,
}

/// Appends a row to the audit log. A row that cannot be written is counted and logged, and
/// the answer to the request says that it was not written to the audit log.
pub(crate) async fn audit(
    state: &Arc<State>,
    operator: &str,
    action: AuditAction,
    detail: serde_json::Value,
    outcome: &str,
) -> Audited {
    let audited = append(state, operator, action, detail, outcome).await;
    tell_if_not_written(audited);
    audited
}

/// Has the answer to the request being answered say that its audit row was not written, if
/// it was not.
pub(crate) fn tell_if_not_written(audited: Audited) {
    if audited == Audited::NotWritten {
        // Outside `notice` (no request being answered) there is no answer to tell.
        let _ = UNAUDITED.try_with(|unaudited| unaudited.set(true));
    }
}

/// A row's detail and outcome within the audit log's limits: what an operator may type (a
/// message of the largest size, a long peer name) can make either longer than a row holds,
/// and the row of an action done must be written all the same. A detail over
/// [`AUDIT_DETAIL_SIZE_MAX_BYTES`] keeps the request's name, its size and its first
/// [`AUDIT_DETAIL_KEPT_BYTES`] as text; an outcome over [`AUDIT_OUTCOME_SIZE_MAX_BYTES`] is
/// cut at a character boundary and ends with `…`. (JSON text escaped again at most doubles:
/// the shortened detail stays well within its limit.)
fn fitted(detail: serde_json::Value, outcome: &str) -> (serde_json::Value, String) {
    let text = detail.to_string();
    let detail = if text.len() <= AUDIT_DETAIL_SIZE_MAX_BYTES {
        detail
    } else {
        // A request names itself in its `op` field (the API's tag).
        let request = detail.get("op").cloned().unwrap_or_default();
        serde_json::json!({
            "request": request,
            "shortened_from_bytes": text.len(),
            "start": prefix(&text, AUDIT_DETAIL_KEPT_BYTES),
        })
    };
    let outcome = if outcome.len() <= AUDIT_OUTCOME_SIZE_MAX_BYTES {
        outcome.to_owned()
    } else {
        format!(
            "{}…",
            prefix(outcome, AUDIT_OUTCOME_SIZE_MAX_BYTES - '…'.len_utf8())
        )
    };
    (detail, outcome)
}

/// The longest start of `text` of at most `max` bytes that ends at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// As [`audit`], but the answer does not say so: for a refused login, whose answer goes to
/// someone not logged in, who is not to learn that failed logins go unrecorded.
pub(crate) async fn append(
    state: &Arc<State>,
    operator: &str,
    action: AuditAction,
    detail: serde_json::Value,
    outcome: &str,
) -> Audited {
    let shared = state.clone();
    let (detail, outcome) = fitted(detail, outcome);
    let record = AuditRecord {
        at_ms: now_ms(),
        operator: operator.to_owned(),
        source: AuditSource::Console,
        action,
        detail,
        outcome,
    };
    let written = blocking(move || {
        let mut db = shared
            .audit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        db.append_audit(&record)
    })
    .await;
    match written {
        Ok(Ok(_)) => Audited::Written,
        Ok(Err(error)) => not_written(state, operator, action, &error),
        Err(_) => not_written(state, operator, action, &"the task writing it failed"),
    }
}

/// Counts and logs an audit row that could not be written.
fn not_written(
    state: &State,
    operator: &str,
    action: AuditAction,
    error: &dyn fmt::Display,
) -> Audited {
    state.daemon.console_counters().audit_write_failed();
    tracing::error!(
        operator,
        action = action.name(),
        %error,
        "console: an audit row could not be written to console.sqlite; what it records was \
         done (or refused) all the same, and the operator was told; counted in \
         parley_console_audit_write_failures_total"
    );
    Audited::NotWritten
}

/// Around every request: when an audit row of it could not be written, its answer says so.
pub(crate) async fn notice(
    Shared(state): Shared<Arc<State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = cookie(&state, request.headers());
    let answered = async move {
        let response = next.run(request).await;
        (response, UNAUDITED.with(Cell::get))
    };
    let (response, unaudited) = UNAUDITED.scope(Cell::new(false), answered).await;
    if !unaudited {
        return response;
    }
    // The operator's language while their session is open; the station's after a logout.
    let lang = token
        .and_then(|token| state.sessions.peek(since_boot_ms(), &token))
        .map_or_else(|| state.lang.clone(), |session| session.lang);
    tell(response, Tr::new(&lang)).await
}

/// The page that answers an action done but not audited, in place of its redirect.
#[derive(Template)]
#[template(path = "unaudited.html")]
struct UnauditedPage {
    lang: &'static str,
    title: String,
    done: String,
    tell: String,
    /// Where the redirect went: a path of the console.
    on: String,
    go_on: String,
}

/// The sentence put at the top of any other answer.
#[derive(Template)]
#[template(
    source = r#"<p class="error" role="alert">{{ said }} {{ tell }}</p>"#,
    ext = "html"
)]
struct UnauditedAlert {
    said: String,
    tell: String,
}

/// `response`, telling that it was not written to the audit log: a redirect (an action done)
/// becomes a page that says so, with a link on (its other headers, a session cookie among
/// them, are kept); a text or HTML answer gets the sentence at its top. An answer over
/// [`UNAUDITED_ANSWER_SIZE_MAX_BYTES`] is replaced by the sentence alone. A file to download
/// (a transcript, which holds every message in clear) is withheld: 503, with the sentence
/// alone (a sentence at its top would also make it fail to verify).
async fn tell(response: Response, tr: Tr) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if parts.headers.remove(header::CONTENT_DISPOSITION).is_some() {
        parts.status = StatusCode::SERVICE_UNAVAILABLE;
        let (withheld, tell) = (tr.t("unaudited-withheld"), tr.t("unaudited-tell"));
        let text = format!("{withheld} {tell}\n");
        return with_body(parts, "text/plain; charset=utf-8", Ok(text));
    }
    if parts.status.is_redirection() {
        let on = parts
            .headers
            .remove(header::LOCATION)
            .and_then(|location| location.to_str().ok().map(str::to_owned))
            .filter(|location| location.starts_with('/') && !location.starts_with("//"))
            .unwrap_or_else(|| "/".to_owned());
        parts.status = StatusCode::OK;
        let page = UnauditedPage {
            lang: tr.lang(),
            title: tr.t("unaudited-title"),
            done: tr.t("unaudited-done"),
            tell: tr.t("unaudited-tell"),
            on,
            go_on: tr.t("unaudited-continue"),
        };
        return with_body(parts, "text/html; charset=utf-8", page.render());
    }
    let said = tr.t("unaudited-answer");
    let tell = tr.t("unaudited-tell");
    let Ok(original) = axum::body::to_bytes(body, UNAUDITED_ANSWER_SIZE_MAX_BYTES).await else {
        return with_body(
            parts,
            "text/plain; charset=utf-8",
            Ok(format!("{said} {tell}\n")),
        );
    };
    let original = String::from_utf8_lossy(&original);
    let kind = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|kind| kind.to_str().ok())
        .unwrap_or_default();
    if kind.starts_with("text/html") {
        let alert = UnauditedAlert { said, tell }.render();
        let page = alert.map(|alert| html_with(&original, &alert));
        return with_body(parts, "text/html; charset=utf-8", page);
    }
    let text = format!("{said} {tell}\n\n{original}");
    with_body(parts, "text/plain; charset=utf-8", Ok(text))
}

/// `page` with `alert` at the top of its `<main>` (else of its `<body>`, else first).
fn html_with(page: &str, alert: &str) -> String {
    let after = ["<main", "<body"]
        .iter()
        .find_map(|tag| {
            let start = page.find(tag)?;
            Some(start + page[start..].find('>')? + 1)
        })
        .unwrap_or(0);
    format!("{}\n{alert}\n{}", &page[..after], &page[after..])
}

/// The answer of `parts` with `body` (a page that fails to render answers 500).
fn with_body(
    mut parts: http::response::Parts,
    kind: &'static str,
    body: Result<String, askama::Error>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::error!("console: rendering the audit notice failed: {error}");
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            "this was NOT written to the audit log".to_owned()
        }
    };
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use axum::response::{IntoResponse, Redirect};

    use super::*;

    /// A row's detail and outcome are kept whole up to their limits, and shortened past them
    /// to what the store accepts, never cut inside a character.
    #[test]
    fn a_row_over_the_limits_is_shortened_to_fit() {
        let send = |text: &str| serde_json::json!({ "op": "send", "peer": "Bravo", "text": text });
        // `{"op":"send","peer":"Bravo","text":""}` is 38 bytes around the text.
        let n = (AUDIT_DETAIL_SIZE_MAX_BYTES - 38) / 2;
        let whole = send(&"é".repeat(n));
        assert_eq!(whole.to_string().len(), AUDIT_DETAIL_SIZE_MAX_BYTES);
        assert_eq!(fitted(whole.clone(), "ok").0, whole);
        let over = send(&format!("{}x", "é".repeat(n)));
        let size = over.to_string().len();
        assert_eq!(size, AUDIT_DETAIL_SIZE_MAX_BYTES + 1);
        let (shortened, _) = fitted(over, "ok");
        assert_eq!(shortened["request"], "send");
        assert_eq!(shortened["shortened_from_bytes"], size);
        let start = shortened["start"].as_str().expect("text");
        assert!(start.starts_with(r#"{"op":"send","peer":"Bravo","text":"éé"#));
        assert!(
            start.len() <= AUDIT_DETAIL_KEPT_BYTES && start.len() + 2 > AUDIT_DETAIL_KEPT_BYTES
        );
        assert!(shortened.to_string().len() <= AUDIT_DETAIL_SIZE_MAX_BYTES);

        let at_limit = "ж".repeat(AUDIT_OUTCOME_SIZE_MAX_BYTES / 2);
        assert_eq!(fitted(send(""), &at_limit).1, at_limit);
        let over = format!("{at_limit}x");
        let cut = fitted(send(""), &over).1;
        assert!(cut.len() <= AUDIT_OUTCOME_SIZE_MAX_BYTES, "{}", cut.len());
        assert!(cut.ends_with("ж…"));
        assert!(over.starts_with(cut.trim_end_matches('…')));
    }

    async fn told(response: Response) -> (StatusCode, http::HeaderMap, String) {
        let response = tell(response, Tr::new("en")).await;
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("a body");
        let body = String::from_utf8(body.to_vec()).expect("UTF-8");
        (parts.status, parts.headers, body)
    }

    fn check(response: Response, expect: (StatusCode, &str, &[&str])) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (status, headers, body) = runtime.block_on(told(response));
        let (expect_status, expect_kind, expect_body) = expect;
        assert_eq!(status, expect_status, "{body}");
        assert_eq!(
            headers
                .get(header::CONTENT_TYPE)
                .map(|kind| kind.as_bytes()),
            Some(expect_kind.as_bytes()),
        );
        assert!(headers.get(header::LOCATION).is_none());
        assert!(headers.get(header::CONTENT_LENGTH).is_none());
        for part in expect_body {
            assert!(body.contains(part), "{part:?} in {body}");
        }
    }

    #[test]
    fn an_unaudited_answer_says_so() {
        let html = "text/html; charset=utf-8";
        let text = "text/plain; charset=utf-8";
        // An action done: its redirect becomes a page with a link on, its cookie kept.
        let mut done = Redirect::to("/compose?sent=a%20b").into_response();
        let cookie = HeaderValue::from_static("parley_session=x");
        done.headers_mut()
            .insert(header::SET_COOKIE, cookie.clone());
        let said = [
            "Done, but this was NOT written to the audit log.",
            r#"<a href="/compose?sent=a%20b" "#,
        ];
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let (_, headers, _) = runtime.block_on(told(done));
        assert_eq!(headers.get(header::SET_COOKIE), Some(&cookie));
        check(
            Redirect::to("/inbox").into_response(),
            (StatusCode::OK, html, &said[..1]),
        );
        check(
            Redirect::to("/compose?sent=a%20b").into_response(),
            (StatusCode::OK, html, &said),
        );
        // A redirect elsewhere than the console goes on to the console's board.
        check(
            Redirect::to("//elsewhere.example/").into_response(),
            (StatusCode::OK, html, &[r#"<a href="/" "#]),
        );
        // A refusal in text keeps its status and its text, the sentence first.
        let refused = |body: String| {
            let kind = [(header::CONTENT_TYPE, text)];
            (StatusCode::UNPROCESSABLE_ENTITY, kind, body).into_response()
        };
        check(
            refused("no such message".to_owned()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                text,
                &["NOT written to the audit log.", "\n\nno such message"],
            ),
        );
        // A page gets the sentence at the top of its main section.
        let page = "<html><body><main id=\"main\"><p>form</p></main></body></html>";
        let page = (StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(page));
        check(
            page.into_response(),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                html,
                &["<main id=\"main\">\n<p class=\"error\" role=\"alert\">This answer was NOT"],
            ),
        );
        // An answer up to the limit keeps its text; one over it, the sentence alone.
        let at_limit = "x".repeat(UNAUDITED_ANSWER_SIZE_MAX_BYTES);
        let over_limit = "x".repeat(UNAUDITED_ANSWER_SIZE_MAX_BYTES + 1);
        let (_, _, body) = runtime.block_on(told(refused(at_limit)));
        let kept = body.split_once("\n\n").map(|(_, kept)| kept.len());
        assert_eq!(kept, Some(UNAUDITED_ANSWER_SIZE_MAX_BYTES), "kept whole");
        let (status, _, body) = runtime.block_on(told(refused(over_limit)));
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body.contains("NOT written") && !body.contains("xxx"),
            "{body}"
        );
    }

    #[test]
    fn html_takes_the_alert_at_the_top_of_main() {
        let check = |page: &str, expect: &str| assert_eq!(html_with(page, "!"), expect);
        check(
            "<body><main id=m>x</main>",
            "<body><main id=m>\n!\nx</main>",
        );
        check("<body class=b>x", "<body class=b>\n!\nx");
        check("x", "\n!\nx");
        check("<main", "\n!\n<main");
    }
}
