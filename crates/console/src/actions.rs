//! What operators do in the console: each action checks the session and its CSRF token, runs
//! one request through the daemon's operator API as the logged-in operator, and is written to
//! the audit log with its outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use parley_proto::Precedence;
use parley_station::Home;
use parley_station::api::{Reply, Request};
use parley_store::console::{AuditAction, AuditRecord, AuditSource, ConsoleDb};
use serde::Deserialize;

use crate::pages::{blocking, compose_page, failure, session};
use crate::session::Session;
use crate::{State, now_ms};

/// The action routes, each refusing a request without a session before its body is read.
pub(crate) fn routes(state: Arc<State>) -> Router<Arc<State>> {
    Router::new()
        .route("/understood", post(understood))
        .route("/clarify", post(clarify))
        .route("/alarm/ack", post(acknowledge))
        .route("/send", post(send))
        .route("/send-code", post(send_code))
        .route("/notice", post(notice))
        .route("/cancel", post(cancel))
        .route("/codebook/accept", post(accept_codebook))
        .route("/logout", post(crate::pages::logout))
        .route_layer(axum::middleware::from_fn_with_state(state, require_session))
}

/// Refuses a request without an open session (401), before anything else reads it.
async fn require_session(
    Shared(state): Shared<Arc<State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if session(&state, request.headers()).is_none() {
        return failure(StatusCode::UNAUTHORIZED, "log in first; nothing was done");
    }
    next.run(request).await
}

/// Whether `given` is the session's CSRF token (compared in constant time).
pub(crate) fn csrf_matches(session: &Session, given: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The answer to a state-changing request without the session's CSRF token.
pub(crate) fn csrf_refused() -> Response {
    failure(
        StatusCode::FORBIDDEN,
        "the request lacks this session's CSRF token; reload the page and try again; nothing was done",
    )
}

/// Checks a login: `Ok(Some(lang))` for the right password, `Ok(None)` for a wrong name or
/// password (told apart neither in the answer nor in the time taken), `Err` when the
/// accounts cannot be read.
pub(crate) fn check_login(
    home: &Home,
    name: &str,
    password: &str,
) -> Result<Option<String>, String> {
    let unreadable =
        |error: &dyn std::fmt::Display| format!("the operator accounts cannot be read: {error}");
    let db = ConsoleDb::open_read_only(&home.console_path()).map_err(|e| unreadable(&e))?;
    let account =
        parley_station::accounts::authenticate(&db, name, password).map_err(|e| unreadable(&e))?;
    Ok(account.map(|account| account.lang))
}

/// Appends to the audit log; a failure to write it is logged (the action was done).
pub(crate) async fn audit(
    state: &Arc<State>,
    operator: &str,
    action: AuditAction,
    detail: serde_json::Value,
    outcome: &str,
) {
    let home = state.home.clone();
    let record = AuditRecord {
        at_ms: now_ms(),
        operator: operator.to_owned(),
        source: AuditSource::Console,
        action,
        detail,
        outcome: outcome.to_owned(),
    };
    let written = blocking(move || {
        ConsoleDb::open(&home.console_path()).and_then(|mut db| db.append_audit(&record))
    })
    .await;
    if !matches!(written, Ok(Ok(_))) {
        tracing::error!(
            operator,
            action = action.name(),
            "console: the audit log could not be written"
        );
    }
}

/// Runs `request` as `session`'s operator, audits it, and answers with what `done` makes of
/// the outcome.
async fn act(
    state: &Arc<State>,
    session: &Session,
    action: AuditAction,
    request: Request,
) -> Result<Reply, String> {
    let detail = serde_json::to_value(&request).unwrap_or_default();
    let daemon = state.daemon.clone();
    let outcome = match blocking(move || daemon.request(request)).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => Err(error.message),
        Err(_) => Err("the request failed".to_owned()),
    };
    let said = match &outcome {
        Ok(_) => "ok",
        Err(error) => error.as_str(),
    };
    audit(state, &session.operator, action, detail, said).await;
    outcome
}

/// Checks the session and the CSRF token of a state-changing request.
fn authorise(state: &State, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
    let Some((_, session)) = session(state, headers) else {
        return Err(failure(
            StatusCode::UNAUTHORIZED,
            "log in first; nothing was done",
        ));
    };
    if !csrf_matches(&session, csrf) {
        return Err(csrf_refused());
    }
    Ok(session)
}

fn back(to: &'static str, outcome: Result<Reply, String>) -> Response {
    match outcome {
        Ok(_) => Redirect::to(to).into_response(),
        Err(error) => failure(StatusCode::UNPROCESSABLE_ENTITY, &error),
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    csrf: String,
    id: String,
    #[serde(default)]
    text: String,
}

async fn understood(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Answer>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = Request::Understood {
        id: form.id,
        restatement: (!form.text.is_empty()).then_some(form.text),
        operator: session.operator.clone(),
    };
    back(
        "/inbox",
        act(&state, &session, AuditAction::Understood, request).await,
    )
}

async fn clarify(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Answer>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = Request::Clarify {
        id: form.id,
        question: form.text,
        operator: session.operator.clone(),
    };
    back(
        "/inbox",
        act(&state, &session, AuditAction::Clarify, request).await,
    )
}

#[derive(Deserialize)]
struct Ack {
    #[serde(default)]
    csrf: String,
    id: u64,
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Ack>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = Request::AlarmAck {
        id: form.id,
        note: (!form.note.is_empty()).then_some(form.note),
        operator: session.operator.clone(),
    };
    back(
        "/alarms",
        act(&state, &session, AuditAction::AlarmAck, request).await,
    )
}

fn precedence(name: &str) -> Precedence {
    Precedence::parse(name).unwrap_or(Precedence::Routine)
}

/// The answer to a compose form: the page again, with what was sent or why not.
async fn composed(
    state: &Arc<State>,
    session: &Session,
    outcome: Result<Reply, String>,
) -> Response {
    let (error, sent) = match outcome {
        Ok(Reply::Sent(sent)) => (None, Some(format!("{} to {}", sent.id, sent.peer))),
        Ok(_) => (None, Some("done".into())),
        Err(error) => (Some(error), None),
    };
    let failed = error.is_some();
    let mut page = compose_page(state, session, error, sent).await;
    if failed {
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

#[derive(Deserialize)]
struct Send {
    #[serde(default)]
    csrf: String,
    peer: String,
    precedence: String,
    text: String,
    #[serde(default)]
    exercise: Option<String>,
    #[serde(default)]
    translation_lang: String,
    #[serde(default)]
    translation_text: String,
}

async fn send(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Send>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let mut translations = BTreeMap::new();
    if !form.translation_lang.is_empty() || !form.translation_text.is_empty() {
        translations.insert(form.translation_lang, form.translation_text);
    }
    let request = Request::Send {
        peer: form.peer,
        precedence: precedence(&form.precedence),
        text: form.text,
        exercise: form.exercise.is_some(),
        translations,
    };
    let outcome = act(&state, &session, AuditAction::Send, request).await;
    composed(&state, &session, outcome).await
}

/// The `f_NAME` fields of a code or notice form, by name; empty ones left out (absent).
fn fields(form: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    form.iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("f_")?.to_owned(), value.clone())))
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

async fn send_code(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let value = |key: &str| form.get(key).cloned().unwrap_or_default();
    let session = match authorise(&state, &headers, &value("csrf")) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Ok(code) = value("code").parse::<u64>() else {
        return composed(&state, &session, Err("the code is not a number".into())).await;
    };
    let request = Request::SendCode {
        peer: value("peer"),
        precedence: precedence(&value("precedence")),
        code,
        params: fields(&form),
        exercise: false,
    };
    let outcome = act(&state, &session, AuditAction::Send, request).await;
    composed(&state, &session, outcome).await
}

async fn notice(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let value = |key: &str| form.get(key).cloned().unwrap_or_default();
    let session = match authorise(&state, &headers, &value("csrf")) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = Request::Notice {
        peer: value("peer"),
        precedence: precedence(&value("precedence")),
        form: value("form"),
        fields: fields(&form),
        exercise: false,
    };
    let outcome = act(&state, &session, AuditAction::Send, request).await;
    composed(&state, &session, outcome).await
}

#[derive(Deserialize)]
struct Cancel {
    #[serde(default)]
    csrf: String,
    id: String,
    #[serde(default)]
    reason: String,
}

async fn cancel(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Cancel>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let request = Request::Cancel {
        id: form.id,
        reason: form.reason,
    };
    back(
        "/outbox",
        act(&state, &session, AuditAction::Cancel, request).await,
    )
}

#[derive(Deserialize)]
struct Accept {
    #[serde(default)]
    csrf: String,
    peer: String,
    hash: String,
}

async fn accept_codebook(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<Accept>,
) -> Response {
    let session = match authorise(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Some(hash) = parley_proto::CodebookHash::from_hex(&form.hash) else {
        return failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a codebook hash; nothing was done",
        );
    };
    let request = Request::CodebookAccept {
        peer: form.peer,
        hash: Some(hash),
        operator: session.operator.clone(),
    };
    back(
        "/codebooks",
        act(&state, &session, AuditAction::CodebookAccept, request).await,
    )
}
