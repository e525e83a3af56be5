//! The router, the login, and the pages: each rendered on the server from the station's own
//! records (the store, read-only) and status, every value escaped by the templates.

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension, Form, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use parley_station::api::records::{self, InboxItem, OutboxItem};
use parley_station::api::{Event, Reply, Request};
use parley_store::Store;
use parley_store::console::AuditAction;
use serde::Deserialize;

use crate::limits::{FORM_SIZE_MAX_BYTES, REQUEST_TIMEOUT_MS};
use crate::server::Remote;
use crate::session::{COOKIE, Session};
use crate::{State, actions, now_ms};

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// Every route.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/", get(board))
        .route("/inbox", get(inbox))
        .route("/outbox", get(outbox))
        .route("/alarms", get(alarms))
        .route("/compose", get(compose))
        .route("/codebooks", get(codebooks))
        .route("/speed", get(speed))
        .route("/transcript", get(transcript))
        .route("/transcript/export", get(transcript_export))
        .route("/events", get(events))
        .route(
            "/static/console.css",
            get(|| async { asset(CSS, "text/css") }),
        )
        .route(
            "/static/console.js",
            get(|| async { asset(JS, "text/javascript") }),
        )
        .merge(actions::routes(state.clone()))
        .layer(DefaultBodyLimit::max(FORM_SIZE_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Before any route: a request must name this console in `Host` (a loopback console answers
/// only to a loopback name, so a page on another site cannot reach it by rebinding its own
/// name to 127.0.0.1); a state-changing request must come from the console's own pages
/// (`Origin`, else `Referer`, of this host); and each must arrive and be answered within
/// [`REQUEST_TIMEOUT_MS`] (a body sent a byte at a time holds no connection for long).
async fn guard(
    Shared(state): Shared<Arc<State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !host_allowed(&state, &host) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only to its own address",
        );
    }
    if request.method() != http::Method::GET && !same_origin(request.headers(), &host) {
        return plain(
            StatusCode::FORBIDDEN,
            "the request did not come from this console's pages; nothing was done",
        );
    }
    let deadline = std::time::Duration::from_millis(REQUEST_TIMEOUT_MS);
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => plain(StatusCode::REQUEST_TIMEOUT, "the request took too long"),
    }
}

/// Whether `host` (the `Host` header) names this console: its port, and on loopback a
/// loopback name.
fn host_allowed(state: &State, host: &str) -> bool {
    let Some((name, port)) = host.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(state.listen.port()) {
        return false;
    }
    if !state.listen.ip().is_loopback() {
        // Off loopback the console is HTTPS: a name that is not the certificate's fails in
        // the browser before any request.
        return true;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request's `Origin` (else `Referer`) is this console's `host`.
fn same_origin(headers: &HeaderMap, host: &str) -> bool {
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok());
    let Some(from) = from else {
        return false;
    };
    let rest = from
        .strip_prefix("https://")
        .or_else(|| from.strip_prefix("http://"))
        .unwrap_or_default();
    rest.split('/').next() == Some(host)
}

/// Headers on every answer: no framing, no sniffing, scripts only from the console itself;
/// over HTTPS, HTTPS only from now on.
async fn security_headers(Shared(state): Shared<Arc<State>>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if state.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The session cookie's value in `headers`, if any.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// The header the console's script sets on its own refreshes, which are not an operator's use.
const REFRESH_HEADER: &str = "x-parley-refresh";

/// The session the request carries, if open. An operator's request keeps it open; the page's
/// own refresh does not.
pub(crate) fn session(state: &State, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie(headers)?;
    let session = if headers.contains_key(REFRESH_HEADER) {
        state.sessions.peek(now_ms(), &token)?
    } else {
        state.sessions.get(now_ms(), &token)?
    };
    // An account removed since login ends its sessions at their next request.
    if !actions::has_account(state, &session.operator) {
        state.sessions.close_operator(&session.operator);
        return None;
    }
    Some((token, session))
}

/// A refusal of a request without a session: pages go to the login, the rest get 401.
fn unauthenticated(page: bool) -> Response {
    if page {
        Redirect::to("/login").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "log in first").into_response()
    }
}

fn html(template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(error) => {
            tracing::error!("console: rendering a page failed: {error}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

/// A plain-text answer: what the station said (an error, a verification), as text.
pub(crate) fn plain(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.to_owned(),
    )
        .into_response()
}

/// Runs blocking work (the store, the daemon, Argon2) off the runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))
}

/// Runs `read` on the store (opened read-only) on a blocking thread.
async fn read<T: Send + 'static>(
    state: &Arc<State>,
    read: impl FnOnce(&Store, &State) -> Result<T, Response> + Send + 'static,
) -> Result<T, Response> {
    let shared = state.clone();
    blocking(move || {
        let store = shared
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read(&store, &shared)
    })
    .await?
}

/// The answer when the station's records cannot be read.
fn unreadable(error: impl std::fmt::Display) -> Response {
    plain(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    station: String,
    error: Option<String>,
    tr: Tr,
}

async fn login_page(Shared(state): Shared<Arc<State>>) -> Response {
    html(&LoginPage {
        station: state.station.clone(),
        error: None,
        tr: Tr::new(&state.lang),
    })
}

#[derive(Deserialize)]
struct Login {
    name: String,
    password: String,
}

async fn login(
    Shared(state): Shared<Arc<State>>,
    Extension(Remote(remote)): Extension<Remote>,
    Form(form): Form<Login>,
) -> Response {
    let tr = Tr::new(&state.lang);
    let refuse = |status, error: String| {
        let mut page = html(&LoginPage {
            station: state.station.clone(),
            error: Some(error),
            tr,
        });
        *page.status_mut() = status;
        page
    };
    // A name no account could have is refused before anything is counted or hashed.
    if parley_station::accounts::check_operator_name(&form.name).is_err() {
        return refuse(StatusCode::UNAUTHORIZED, tr.t("wrong-login"));
    }
    // The attempt counts before the password is checked, so logins sent at once cannot all
    // pass the throttle; a right password takes its count back.
    let wait_ms = state.throttle.attempt(now_ms(), &form.name, remote.ip());
    if wait_ms > 0 {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            tr.ta(
                "too-many-logins",
                &[("seconds", &wait_ms.div_ceil(1_000).to_string())],
            ),
        );
    }
    let Ok(_permit) = state.password_checks.acquire().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, tr.t("wrong-login"));
    };
    let shared = state.clone();
    let (name, password) = (form.name.clone(), form.password);
    let checked = blocking(move || actions::check_login(&shared, &name, &password)).await;
    let account = match checked {
        Ok(Ok(account)) => account,
        Ok(Err(error)) => return refuse(StatusCode::SERVICE_UNAVAILABLE, error),
        Err(response) => return response,
    };
    let source = remote.ip().to_string();
    let Some(lang) = account else {
        // The name typed is recorded only when it is an operator's: a password typed into
        // the name field by mistake is not kept.
        let name = if actions::has_account(&state, &form.name) {
            form.name.as_str()
        } else {
            "(no such operator)"
        };
        let detail = serde_json::json!({ "address": source });
        actions::audit(
            &state,
            name,
            AuditAction::Login,
            detail,
            "wrong name or password",
        )
        .await;
        return refuse(StatusCode::UNAUTHORIZED, tr.t("wrong-login"));
    };
    state.throttle.succeeded(&form.name, remote.ip());
    let detail = serde_json::json!({ "address": source });
    actions::audit(&state, &form.name, AuditAction::Login, detail, "ok").await;
    let token = state.sessions.open(now_ms(), form.name.clone(), lang);
    let secure = if state.https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn logout(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let Some((token, session)) = session(&state, &headers) else {
        return unauthenticated(false);
    };
    if !actions::csrf_matches(&session, &form.csrf) {
        return actions::csrf_refused();
    }
    state.sessions.close(&token);
    let detail = serde_json::json!({});
    actions::audit(&state, &session.operator, AuditAction::Logout, detail, "ok").await;
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The interface's words in one language.
#[derive(Clone, Copy)]
pub(crate) struct Tr(&'static str);

impl Tr {
    /// The interface in `lang` (English when the console does not speak it).
    pub(crate) fn new(lang: &str) -> Self {
        Tr(crate::i18n::interface_lang(lang))
    }

    /// The language's tag.
    pub(crate) fn lang(&self) -> &'static str {
        self.0
    }

    /// Message `id`.
    pub(crate) fn t(&self, id: &str) -> String {
        crate::i18n::text(self.0, id, &[])
    }

    /// Message `id` with its arguments.
    pub(crate) fn ta(&self, id: &str, args: &[(&str, &str)]) -> String {
        crate::i18n::text(self.0, id, args)
    }
}

/// What every page's frame shows.
pub(crate) struct Frame {
    station: String,
    operator: String,
    csrf: String,
    lang: String,
    pub(crate) tr: Tr,
}

impl Frame {
    fn of(state: &State, session: &Session) -> Self {
        let tr = Tr::new(&session.lang);
        Self {
            station: state.station.clone(),
            operator: session.operator.clone(),
            csrf: session.csrf.clone(),
            lang: tr.lang().to_owned(),
            tr,
        }
    }
}

/// One channel on the board.
struct ChannelRow {
    kind: String,
    target: String,
    state: String,
    rtt: String,
    changed: String,
}

/// One peer on the board.
struct PeerBoard {
    name: String,
    link: String,
    link_line: String,
    channels: Vec<ChannelRow>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    frame: Frame,
    peers: Vec<PeerBoard>,
    alarms_open: u64,
    alarms_line: String,
}

async fn board(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let daemon = state.daemon.clone();
    let status = match blocking(move || daemon.request(Request::Status)).await {
        Ok(Ok(Reply::Status(status))) => status,
        Ok(Ok(_)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Ok(Err(error)) => return plain(StatusCode::SERVICE_UNAVAILABLE, &error.message),
        Err(response) => return response,
    };
    let tr = Tr::new(&session.lang);
    let peers = status
        .peers
        .iter()
        .map(|peer| {
            let channels: Vec<ChannelRow> = peer
                .channels
                .iter()
                .map(|channel| ChannelRow {
                    kind: channel.kind.name().to_owned(),
                    target: channel.target.clone().unwrap_or_default(),
                    state: channel.state.name().to_owned(),
                    rtt: channel
                        .live
                        .as_ref()
                        .and_then(|live| live.rtt_ms)
                        .map_or_else(|| "–".into(), |rtt| format!("{rtt:.1} ms")),
                    changed: channel
                        .live
                        .as_ref()
                        .map_or_else(String::new, |live| utc(live.since_ms)),
                })
                .collect();
            let up = channels.iter().any(|channel| channel.state != "down");
            let link = if up { "up" } else { "down" };
            PeerBoard {
                name: peer.name.clone(),
                link_line: tr.ta("link", &[("state", link)]),
                link: link.into(),
                channels,
            }
        })
        .collect();
    html(&BoardPage {
        frame: Frame::of(&state, &session),
        peers,
        alarms_open: status.alarms.open,
        alarms_line: tr.ta(
            "board-open-alarms",
            &[("count", &status.alarms.open.to_string())],
        ),
    })
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return format!("{ms} ms");
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// One message as the inbox shows it.
struct InboxRow {
    id: String,
    precedence: String,
    precedence_upper: String,
    exercise: bool,
    cancelled: Option<String>,
    from_line: String,
    kind: String,
    pending: bool,
    due_ms: u64,
    invalid: Option<String>,
    lang: String,
    text: String,
    /// Renderings and translations: language, text, and who translated it (empty for a
    /// rendering), kept apart so a text cannot pass for its attribution.
    more: Vec<(String, String, String)>,
    answer: Option<String>,
}

/// An answer to a message, as a line: who answered and how.
fn answer_line(tr: Tr, understood: bool, by: &str, text: &str) -> String {
    match (understood, text.is_empty()) {
        (true, true) => tr.ta("answered-understood", &[("by", by)]),
        (true, false) => tr.ta("answered-restated", &[("by", by), ("text", text)]),
        (false, _) => tr.ta("answered-clarify", &[("by", by), ("text", text)]),
    }
}

/// The renderings in other languages and the translations of a message, as `(lang, text)`.
fn more_lines(
    tr: Tr,
    shown: &parley_station::api::content::Shown,
    lang: &str,
) -> Vec<(String, String, String)> {
    let rendered = shown
        .rendered
        .iter()
        .filter(|(other, _)| other.as_str() != lang)
        .map(|(lang, text)| (lang.clone(), text.clone()));
    let translated = shown.translations.iter().map(|t| {
        let by = match (t.from_sender, t.by.is_empty()) {
            (true, true) => tr.t("translated-sender"),
            (true, false) => tr.ta("translated-by-sender", &[("by", &t.by)]),
            (false, _) => tr.ta("translated-by-recipient", &[("by", &t.by)]),
        };
        (t.lang.clone(), t.text.clone(), by)
    });
    rendered
        .map(|(lang, text)| (lang, text, String::new()))
        .chain(translated)
        .collect()
}

fn inbox_row(tr: Tr, item: InboxItem) -> InboxRow {
    let pending = item.pending();
    let station = tr.t("the-station");
    let answer = item.answer.as_ref().map(|answer| {
        let by = if answer.by.is_empty() {
            &station
        } else {
            &answer.by
        };
        answer_line(tr, answer.understood, by, &answer.text)
    });
    InboxRow {
        id: item.id.to_string(),
        precedence: item.precedence.name().to_owned(),
        precedence_upper: item.precedence.name().to_uppercase(),
        exercise: item.exercise,
        from_line: tr.ta(
            "from",
            &[("peer", &item.from), ("seq", &item.seq.to_string())],
        ),
        kind: format!("{:?}", item.kind).to_lowercase(),
        pending,
        due_ms: item.understood_due_ms,
        invalid: (item.shown.invalid.as_ref()).map(|why| tr.ta("invalid", &[("why", why)])),
        more: more_lines(tr, &item.shown, &item.lang),
        lang: item.lang,
        text: item.text,
        answer,
        cancelled: (item.cancelled.as_ref())
            .map(|reason| tr.ta("cancelled", &[("reason", reason)])),
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    frame: Frame,
    items: Vec<InboxRow>,
}

async fn inbox(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let read = read(&state, |store, state| {
        records::inbox(store, &state.objectives, &state.lang, false).map_err(unreadable)
    });
    let mut items = match read.await {
        Ok(items) => items,
        Err(response) => return response,
    };
    // Newest first: what just came in is at the top.
    items.reverse();
    html(&InboxPage {
        frame: Frame::of(&state, &session),
        items: items
            .into_iter()
            .map(|item| inbox_row(Tr::new(&session.lang), item))
            .collect(),
    })
}

/// One message as the outbox shows it.
struct OutboxRow {
    id: String,
    precedence: String,
    precedence_upper: String,
    exercise: bool,
    to_line: String,
    kind: String,
    timeline: Vec<(String, String)>,
    text: String,
    answer: Option<String>,
    cancelled: Option<String>,
    can_cancel: bool,
}

fn outbox_row(tr: Tr, item: OutboxItem) -> OutboxRow {
    use parley_station::api::records::DeliveryState as S;
    let reached = |state: S| {
        matches!(
            (item.state, state),
            (S::Understood | S::Clarify, _)
                | (S::Delivered, S::Queued | S::Sent | S::Delivered)
                | (S::Sent, S::Queued | S::Sent)
                | (S::Queued, S::Queued)
        )
    };
    let answered = matches!(item.state, S::Understood | S::Clarify);
    let last = if item.state == S::Clarify {
        "step-clarify"
    } else {
        "step-understood"
    };
    let timeline = [
        ("step-queued", reached(S::Queued)),
        ("step-sent", reached(S::Sent)),
        ("step-delivered", reached(S::Delivered)),
        (last, answered),
    ]
    .into_iter()
    .map(|(name, done)| (tr.t(name), if done { "done" } else { "" }.to_owned()))
    .collect();
    let far = tr.t("the-far-station");
    let answer = item.answered_by.as_ref().map(|by| {
        let by = if by.is_empty() { &far } else { by };
        match (&item.restatement, &item.question) {
            (_, Some(question)) => answer_line(tr, false, by, question),
            (restatement, _) => {
                answer_line(tr, true, by, restatement.as_deref().unwrap_or_default())
            }
        }
    });
    OutboxRow {
        id: item.id.to_string(),
        precedence: item.precedence.name().to_owned(),
        precedence_upper: item.precedence.name().to_uppercase(),
        exercise: item.exercise,
        to_line: tr.ta("to", &[("peer", &item.to), ("seq", &item.seq.to_string())]),
        kind: format!("{:?}", item.kind).to_lowercase(),
        timeline,
        text: item.text,
        answer,
        can_cancel: item.cancelled.is_none() && item.kind.is_message() && !answered,
        cancelled: (item.cancelled.as_ref())
            .map(|reason| tr.ta("cancelled", &[("reason", reason)])),
    }
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    frame: Frame,
    items: Vec<OutboxRow>,
}

async fn outbox(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let read = read(&state, |store, state| {
        records::outbox(store, &state.objectives, &state.lang).map_err(unreadable)
    });
    let mut items = match read.await {
        Ok(items) => items,
        Err(response) => return response,
    };
    items.reverse();
    html(&OutboxPage {
        frame: Frame::of(&state, &session),
        items: items
            .into_iter()
            .map(|item| outbox_row(Tr::new(&session.lang), item))
            .collect(),
    })
}

/// One alarm as the alarms page shows it.
struct AlarmRow {
    id: u64,
    kind: String,
    line: String,
    state: String,
    level: u32,
    subject: String,
    detail: String,
    acknowledged: Option<String>,
    open: bool,
}

#[derive(Template)]
#[template(path = "alarms.html")]
struct AlarmsPage {
    frame: Frame,
    alarms: Vec<AlarmRow>,
}

async fn alarms(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let items = match read(&state, |store, _| {
        records::alarms(store, true).map_err(unreadable)
    })
    .await
    {
        Ok(items) => items,
        Err(response) => return response,
    };
    let tr = Tr::new(&session.lang);
    let rows = items
        .into_iter()
        .rev()
        .map(|alarm| AlarmRow {
            id: alarm.id,
            kind: alarm.kind.name().to_owned(),
            line: tr.ta(
                "alarm-line",
                &[
                    ("peer", &alarm.peer),
                    ("state", alarm.state.name()),
                    ("level", &alarm.level.to_string()),
                    ("raised", &utc(alarm.raised_at_ms)),
                ],
            ),
            state: alarm.state.name().to_owned(),
            level: alarm.level,
            subject: alarm.subject,
            detail: alarm.detail,
            acknowledged: alarm.acknowledged_by.map(|by| {
                let note = alarm.note.unwrap_or_default();
                tr.ta("acknowledged-by", &[("by", &by), ("note", &note)])
            }),
            open: alarm.acknowledged_at_ms.is_none() && alarm.cleared_at_ms.is_none(),
        })
        .collect();
    html(&AlarmsPage {
        frame: Frame::of(&state, &session),
        alarms: rows,
    })
}

/// A field of a code or form, in the compose page.
pub(crate) struct FieldInput {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) kind: String,
    pub(crate) optional: bool,
    /// What the operator wrote in it last, when that was refused.
    pub(crate) value: String,
}

/// A compose form as the operator filled it, shown again when it was refused.
pub(crate) type Refill = std::collections::BTreeMap<String, String>;

/// A code in the compose page, with its text in every language.
pub(crate) struct CodeInput {
    pub(crate) number: u64,
    pub(crate) button: String,
    pub(crate) texts: Vec<(String, String)>,
    pub(crate) fields: Vec<FieldInput>,
}

/// A form in the compose page.
pub(crate) struct FormInput {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) fields: Vec<FieldInput>,
}

/// The current codebook with one peer.
pub(crate) struct BookInput {
    pub(crate) peer: String,
    pub(crate) heading: String,
    pub(crate) codes: Vec<CodeInput>,
    pub(crate) forms: Vec<FormInput>,
}

#[derive(Template)]
#[template(path = "compose.html")]
pub(crate) struct ComposePage {
    pub(crate) frame: Frame,
    pub(crate) peers: Vec<String>,
    pub(crate) codebooks: Vec<BookInput>,
    pub(crate) error: Option<String>,
    pub(crate) sent: Option<String>,
    /// The free-text form as last filled, when it was refused.
    pub(crate) message: Refill,
}

impl ComposePage {
    /// What the free-text form's `field` held when it was refused.
    fn message_value(&self, field: &str) -> &str {
        self.message.get(field).map_or("", String::as_str)
    }
}

/// The compose page, with the outcome of the last action and, when it was refused, the form
/// as the operator filled it.
pub(crate) async fn compose_page(
    state: &Arc<State>,
    session: &Session,
    (error, sent): (Option<String>, Option<String>),
    refill: Refill,
) -> Response {
    let lang = session.lang.clone();
    let refill_books = refill.clone();
    let read = read(state, move |store, _| {
        let peers: Vec<String> = records::peers(store)
            .map_err(unreadable)?
            .into_iter()
            .map(|peer| peer.name)
            .collect();
        let mut books = Vec::new();
        for peer in &peers {
            let report = records::codebooks(store, peer).map_err(unreadable)?;
            if let Some(current) = report
                .codebooks
                .iter()
                .find(|book| Some(book.hash) == report.current)
            {
                books.push(book_input(peer, current, &lang, &refill_books));
            }
        }
        Ok((peers, books))
    });
    let (peers, codebooks) = match read.await {
        Ok(read) => read,
        Err(response) => return response,
    };
    html(&ComposePage {
        frame: Frame::of(state, session),
        peers,
        codebooks,
        error,
        sent: sent.map(|what| Tr::new(&session.lang).ta("sent", &[("what", &what)])),
        message: if refill.contains_key("code") || refill.contains_key("form") {
            Refill::new()
        } else {
            refill
        },
    })
}

fn book_input(
    peer: &str,
    book: &parley_station::codebooks::CodebookItem,
    lang: &str,
    refill: &Refill,
) -> BookInput {
    let tr = Tr::new(lang);
    // The refused form's values, for the code or form it was.
    let refilled = |key: &str, which: &str| {
        let matches = refill.get("peer").is_some_and(|p| p == peer)
            && refill.get(key).is_some_and(|v| v == which);
        move |field: &str| {
            if matches {
                refill
                    .get(&format!("f_{field}"))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let pick = |texts: &std::collections::BTreeMap<String, String>| {
        texts
            .get(lang)
            .or_else(|| texts.values().next())
            .cloned()
            .unwrap_or_default()
    };
    let fields = |fields: &[parley_station::codebooks::FieldItem],
                  value: &dyn Fn(&str) -> String| {
        fields
            .iter()
            .map(|field| FieldInput {
                name: field.name.clone(),
                label: pick(&field.label),
                kind: field.kind.clone(),
                optional: field.optional,
                value: value(&field.name),
            })
            .collect()
    };
    BookInput {
        peer: peer.to_owned(),
        heading: tr.ta("codes-with", &[("peer", peer)]),
        codes: book
            .codes
            .iter()
            .map(|code| CodeInput {
                number: code.number,
                button: tr.ta("send-code", &[("code", &code.number.to_string())]),
                texts: code
                    .text
                    .iter()
                    .map(|(lang, text)| (lang.clone(), text.clone()))
                    .collect(),
                fields: fields(&code.params, &refilled("code", &code.number.to_string())),
            })
            .collect(),
        forms: book
            .forms
            .iter()
            .map(|form| FormInput {
                name: form.name.clone(),
                title: pick(&form.title),
                fields: fields(&form.fields, &refilled("form", &form.name)),
            })
            .collect(),
    }
}

#[derive(Deserialize)]
struct ComposeQuery {
    /// What was just sent, after the redirect that follows sending.
    #[serde(default)]
    sent: Option<String>,
}

async fn compose(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<ComposeQuery>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    compose_page(&state, &session, (None, query.sent), Refill::new()).await
}

/// Server-sent events: every station event, as JSON, while the session lasts.
async fn events(Shared(state): Shared<Arc<State>>, mut headers: HeaderMap) -> Response {
    // Opening (or reopening) the stream is not an operator's use of the session.
    headers.insert(REFRESH_HEADER, HeaderValue::from_static("1"));
    let Some((token, _)) = session(&state, &headers) else {
        return unauthenticated(false);
    };
    let receiver = state.daemon.subscribe();
    let stream = futures_stream(state.clone(), token, receiver);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn futures_stream(
    state: Arc<State>,
    token: String,
    receiver: tokio::sync::broadcast::Receiver<Event>,
) -> impl futures_core::Stream<Item = Result<SseEvent, Infallible>> {
    futures_util::stream::unfold(
        (state, token, receiver),
        |(state, token, mut receiver)| async move {
            loop {
                let event = match receiver.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        Event::Lagged { missed }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                // A session that ended (logout, idle) stops its stream.
                state.sessions.peek(now_ms(), &token)?;
                if let Ok(data) = serde_json::to_string(&event) {
                    return Some((Ok(SseEvent::default().data(data)), (state, token, receiver)));
                }
            }
        },
    )
}

/// A codebook proposed on a link, as the codebooks page shows it.
struct BookRow {
    peer: String,
    hash: String,
    standing: String,
    name: String,
    version: u32,
    line: String,
    error: Option<String>,
    can_accept: bool,
    codes: Vec<(u64, Vec<(String, String)>)>,
    forms: Vec<(String, Vec<(String, String)>)>,
}

#[derive(Template)]
#[template(path = "codebooks.html")]
struct CodebooksPage {
    frame: Frame,
    books: Vec<BookRow>,
}

async fn codebooks(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let tr = Tr::new(&session.lang);
    let read = read(&state, move |store, _| {
        let mut rows = Vec::new();
        for peer in records::peers(store).map_err(unreadable)? {
            let report = records::codebooks(store, &peer.name).map_err(unreadable)?;
            for book in report.codebooks {
                let pairs = |texts: &std::collections::BTreeMap<String, String>| {
                    texts.iter().map(|(l, t)| (l.clone(), t.clone())).collect()
                };
                rows.push(BookRow {
                    peer: peer.name.clone(),
                    hash: book.hash.to_string(),
                    standing: format!("{:?}", book.standing).to_lowercase(),
                    name: book.name.clone(),
                    version: book.version,
                    line: tr.ta(
                        "codebook-with",
                        &[("peer", &peer.name), ("by", &book.proposed_by)],
                    ),
                    can_accept: book.accepted_by_us.is_none() && book.error.is_none(),
                    error: (book.error.as_ref())
                        .map(|why| tr.ta("codebook-invalid", &[("why", why)])),
                    codes: book
                        .codes
                        .iter()
                        .map(|c| (c.number, pairs(&c.text)))
                        .collect(),
                    forms: book
                        .forms
                        .iter()
                        .map(|f| (f.name.clone(), pairs(&f.title)))
                        .collect(),
                });
            }
        }
        Ok(rows)
    });
    let books = match read.await {
        Ok(books) => books,
        Err(response) => return response,
    };
    html(&CodebooksPage {
        frame: Frame::of(&state, &session),
        books,
    })
}

/// One precedence in the speed-of-service page.
struct SpeedRow {
    precedence: String,
    precedence_upper: String,
    count: u64,
    receipt: String,
    receipt_percent: u64,
    answer: String,
    answer_percent: u64,
    overdue: u64,
    waiting: u64,
}

#[derive(Template)]
#[template(path = "speed.html")]
struct SpeedPage {
    frame: Frame,
    rows: Vec<SpeedRow>,
}

/// `p50 / p99` of durations, in seconds.
fn durations(durations: &records::Durations) -> String {
    let seconds = |ms: Option<u64>| {
        ms.map_or_else(|| "–".to_owned(), |ms| format!("{:.1} s", ms as f64 / 1e3))
    };
    format!(
        "{} / {}",
        seconds(durations.p50_ms),
        seconds(durations.p99_ms)
    )
}

/// A median as a percentage of its objective (capped at 100).
fn percent(durations: &records::Durations, objective_s: u64) -> u64 {
    durations.p50_ms.map_or(0, |ms| {
        (ms / 10).checked_div(objective_s).unwrap_or(100).min(100)
    })
}

async fn speed(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let stats = read(&state, |store, state| {
        records::stats(store, &state.objectives, None).map_err(unreadable)
    });
    let stats = match stats.await {
        Ok(stats) => stats,
        Err(response) => return response,
    };
    let rows = stats
        .iter()
        .map(|row| {
            let objective = state.objectives.of(row.precedence);
            SpeedRow {
                precedence: row.precedence.name().to_owned(),
                precedence_upper: row.precedence.name().to_uppercase(),
                count: row.count,
                receipt: durations(&row.receipt),
                receipt_percent: percent(&row.receipt, objective.receipt_s),
                answer: durations(&row.understood),
                answer_percent: percent(&row.understood, objective.understood_s),
                overdue: row.overdue,
                waiting: row.waiting,
            }
        })
        .collect();
    html(&SpeedPage {
        frame: Frame::of(&state, &session),
        rows,
    })
}

#[derive(Template)]
#[template(path = "transcript.html")]
struct TranscriptPage {
    frame: Frame,
    /// Each peer's name, and the link's label.
    peers: Vec<(String, String)>,
}

async fn transcript(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let tr = Tr::new(&session.lang);
    let peers = read(&state, move |store, _| {
        let peers = records::peers(store).map_err(unreadable)?;
        Ok(peers
            .into_iter()
            .map(|peer| {
                let label = tr.ta("transcript-of", &[("peer", &peer.name)]);
                (peer.name, label)
            })
            .collect())
    });
    let peers = match peers.await {
        Ok(peers) => peers,
        Err(response) => return response,
    };
    html(&TranscriptPage {
        frame: Frame::of(&state, &session),
        peers,
    })
}

#[derive(Deserialize)]
struct Peer {
    peer: String,
}

/// The transcript of a link, as a download.
async fn transcript_export(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<Peer>,
) -> Response {
    if session(&state, &headers).is_none() {
        return unauthenticated(true);
    }
    let home = state.home.clone();
    let exported = blocking(move || {
        parley_station::Node::open_read_only(&home)?.export_transcript(&query.peer)
    });
    match exported.await {
        Ok(Ok((name, text))) => {
            // The peer's name is only ever shown escaped; the file's name is made of
            // letters and digits of it alone.
            let safe: String = name
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(32)
                .collect();
            let disposition = format!("attachment; filename=\"transcript-{safe}.txt\"");
            let mut response =
                ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Ok(Err(error)) => plain(StatusCode::UNPROCESSABLE_ENTITY, &error.to_string()),
        Err(response) => response,
    }
}
