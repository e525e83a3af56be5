//! The router and what every page shares: the guard before any route, the session a request
//! carries, rendering, reading the store, the interface's words, the frame, the event stream.
//! The pages themselves are in `login`, `views`, `compose` and `reports`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State as Shared};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use parley_proto::Precedence;
use parley_station::api::Event;
use parley_station::api::records::{self, AlarmItem, AlarmState, InboxItem};
use parley_store::Store;

use crate::limits::{EVENTS_ACCOUNT_CHECK_MS, FORM_SIZE_MAX_BYTES, REQUEST_TIMEOUT_MS};
use crate::session::{COOKIE, Session};
use crate::{State, actions, compose, login, reports, since_boot_ms, views};

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// Every route.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/login", get(login::login_page).post(login::login))
        .route("/", get(views::board))
        .route("/inbox", get(views::inbox))
        .route("/outbox", get(views::outbox))
        .route("/alarms", get(views::alarms))
        .route("/compose", get(compose::compose))
        .route("/codebooks", get(compose::codebooks))
        .route("/speed", get(reports::speed))
        .route("/transcript", get(reports::transcript))
        .route("/transcript/export", get(reports::transcript_export))
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
        .fallback(|| async { plain(StatusCode::NOT_FOUND, "no such page") })
        .method_not_allowed_fallback(|| async {
            plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "this page does not take that method; nothing was done",
            )
        })
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
/// name to 127.0.0.1); a state-changing request (any method but GET, HEAD and OPTIONS) must
/// come from the console's own pages
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
    if !host_allowed(state.listen, state.https, &host) {
        return plain(
            StatusCode::MISDIRECTED_REQUEST,
            "this console answers only to its own address",
        );
    }
    // GET, HEAD and OPTIONS change nothing (no route takes OPTIONS: 405); any other method
    // is taken as changing state.
    let safe = [http::Method::GET, http::Method::HEAD, http::Method::OPTIONS];
    if !safe.contains(request.method()) && !same_origin(request.headers(), &host, state.https) {
        return plain(
            StatusCode::FORBIDDEN,
            "the request did not come from this console's pages; nothing was done",
        );
    }
    let deadline = std::time::Duration::from_millis(REQUEST_TIMEOUT_MS);
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        // An action asked of the station runs on to its end: it may have been done.
        Err(_) => plain(
            StatusCode::REQUEST_TIMEOUT,
            "the request took too long; what it asked may still have been done: look (the \
             outbox, the alarms) before asking again",
        ),
    }
}

/// Whether `host` (the `Host` header) names this console: its port (a browser leaves out the
/// scheme's default, 443 or 80), and on loopback a loopback name.
fn host_allowed(listen: SocketAddr, https: bool, host: &str) -> bool {
    let Some((name, port)) = authority(host, default_port(https)) else {
        return false;
    };
    if port != listen.port() {
        return false;
    }
    if !listen.ip().is_loopback() {
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

/// The port a URL of this scheme means when it names none.
fn default_port(https: bool) -> u16 {
    if https { 443 } else { 80 }
}

/// `host[:port]` (an IPv6 address in brackets) as its name and port, `default` when it names
/// none; `None` when the port is not one.
fn authority(text: &str, default: u16) -> Option<(&str, u16)> {
    match text.rsplit_once(':') {
        // The colon of a bracketed IPv6 address with no port after it.
        Some((_, after)) if after.ends_with(']') => Some((text, default)),
        Some((name, port)) => Some((name, port.parse().ok()?)),
        None => Some((text, default)),
    }
}

/// Whether a request's `Origin` (else `Referer`) is this console's `host`: the same scheme,
/// name and port, a port left out meaning the scheme's default.
fn same_origin(headers: &HeaderMap, host: &str, https: bool) -> bool {
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|value| value.to_str().ok());
    let Some(from) = from else {
        return false;
    };
    let scheme = if https { "https://" } else { "http://" };
    let Some(rest) = from.strip_prefix(scheme) else {
        return false;
    };
    let origin = rest.split('/').next().unwrap_or_default();
    let default = default_port(https);
    match (authority(origin, default), authority(host, default)) {
        (Some((origin_name, origin_port)), Some((host_name, host_port))) => {
            origin_port == host_port && origin_name.eq_ignore_ascii_case(host_name)
        }
        _ => false,
    }
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

/// The session cookie's values in `headers`: a browser sends every cookie of the name it
/// holds, one set by a neighbouring site (a sibling subdomain's, for a console served under a
/// larger domain) among them.
fn cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .collect()
}

/// The one session cookie value in `headers` that names an open session, if exactly one
/// does: a planted cookie naming none is passed over, and of two naming open sessions neither
/// is taken, since taking one could act in another operator's name.
pub(crate) fn cookie(state: &State, headers: &HeaderMap) -> Option<String> {
    let now = since_boot_ms();
    let mut open = cookies(headers)
        .into_iter()
        .filter(|token| state.sessions.peek(now, token).is_some());
    let first = open.next();
    match open.next() {
        Some(_) => None,
        None => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::COOKIE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    /// A browser leaves the scheme's default port out of `Host` and `Origin`: a console on 443
    /// (HTTPS) or 80 is named without one, and a port named must be the console's.
    #[test]
    fn a_default_port_may_be_left_out() {
        let anywhere: SocketAddr = "0.0.0.0:443".parse().unwrap();
        for host in [
            "console.example.org",
            "console.example.org:443",
            "[2001:db8::1]",
        ] {
            assert!(host_allowed(anywhere, true, host), "{host}");
        }
        for host in [
            "console.example.org:80",
            "console.example.org:x",
            "[2001:db8::1]:8443",
        ] {
            assert!(!host_allowed(anywhere, true, host), "{host}");
        }
        let loopback: SocketAddr = "127.0.0.1:80".parse().unwrap();
        for host in ["localhost", "127.0.0.1:80", "[::1]"] {
            assert!(host_allowed(loopback, false, host), "{host}");
        }
        for host in ["localhost:443", "evil.example", "evil.example:80"] {
            assert!(!host_allowed(loopback, false, host), "{host}");
        }
        let origin = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ORIGIN, HeaderValue::from_str(value).unwrap());
            headers
        };
        let host = "console.example.org";
        for (from, same) in [
            ("https://console.example.org", true),
            ("https://Console.Example.org:443", true),
            ("https://console.example.org:8443", false),
            ("http://console.example.org", false),
            ("https://console.example.org.evil", false),
        ] {
            assert_eq!(same_origin(&origin(from), host, true), same, "{from}");
        }
        assert!(same_origin(
            &origin("https://console.example.org"),
            "console.example.org:443",
            true
        ));
        assert!(same_origin(
            &origin("http://127.0.0.1:7300"),
            "127.0.0.1:7300",
            false
        ));
    }

    #[test]
    fn every_session_cookie_is_read_whatever_header_holds_it() {
        assert!(cookies(&headers(&[])).is_empty());
        let one = headers(&["theme=dark; parley_session=abc; lang=fr"]);
        assert_eq!(cookies(&one), ["abc"]);
        let two = headers(&["parley_session=planted; theme=dark", "parley_session=abc"]);
        assert_eq!(cookies(&two), ["planted", "abc"]);
    }
}

/// The header the console's script sets on its own refreshes, which are not an operator's use.
const REFRESH_HEADER: &str = "x-parley-refresh";

/// The session the request carries, if open. An operator's request keeps it open; the page's
/// own refresh does not.
pub(crate) fn session(state: &State, headers: &HeaderMap) -> Option<(String, Session)> {
    let token = cookie(state, headers)?;
    let session = if headers.contains_key(REFRESH_HEADER) {
        state.sessions.peek(since_boot_ms(), &token)?
    } else {
        state.sessions.get(since_boot_ms(), &token)?
    };
    account_holds(state, &token, &session).then_some((token, session))
}

/// Whether `session`'s account is still the operator's: an account removed, or removed and
/// added again (a new password), since login ends its sessions at their next request.
fn account_holds(state: &State, token: &str, session: &Session) -> bool {
    match actions::account_stamp(state, &session.operator) {
        Ok(stamp) if stamp == Some(session.account) => true,
        Ok(_) => {
            state.sessions.close(token);
            false
        }
        // The accounts cannot be read now (a busy or failing disk): this request is not
        // served, but the session is not ended for it.
        Err(error) => {
            tracing::warn!(%error, "console: the operator accounts cannot be read; a request was not served");
            false
        }
    }
}

/// A refusal of a request without a session: pages go to the login, the rest get 401.
pub(crate) fn unauthenticated(page: bool) -> Response {
    if page {
        Redirect::to("/login").into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "log in first").into_response()
    }
}

pub(crate) fn html(template: &impl Template) -> Response {
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
pub(crate) async fn read<T: Send + 'static>(
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
pub(crate) fn unreadable(error: impl std::fmt::Display) -> Response {
    plain(StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
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

/// What awaits the station's operators: alarms nobody acknowledged and FLASH messages nobody
/// answered. The tab title stays marked, and the nav shows these, until both are zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attention {
    /// Open alarms: neither acknowledged nor cleared.
    pub(crate) alarms: usize,
    /// FLASH messages and tests in the inbox neither answered (understood, clarify) nor
    /// cancelled.
    pub(crate) flash: usize,
}

impl Attention {
    /// Counted from the inbox (all of it or its pending part) and the alarms (all or those
    /// not cleared).
    pub(crate) fn of(inbox: &[InboxItem], alarms: &[AlarmItem]) -> Self {
        Self {
            alarms: alarms
                .iter()
                .filter(|alarm| alarm.state == AlarmState::Open)
                .count(),
            flash: inbox
                .iter()
                .filter(|item| item.precedence == Precedence::Flash && item.pending())
                .count(),
        }
    }

    /// Read from the store.
    pub(crate) fn read(store: &Store, state: &State) -> Result<Self, Response> {
        let inbox =
            records::inbox(store, &state.objectives, &state.lang, true).map_err(unreadable)?;
        let alarms = records::alarms(store, false).map_err(unreadable)?;
        Ok(Self::of(&inbox, &alarms))
    }

    /// Everything awaiting an operator.
    pub(crate) fn total(&self) -> usize {
        self.alarms.saturating_add(self.flash)
    }
}

/// What every page's frame shows.
pub(crate) struct Frame {
    pub(crate) station: String,
    pub(crate) operator: String,
    pub(crate) csrf: String,
    pub(crate) lang: String,
    pub(crate) tr: Tr,
    /// What awaits the operators, in all (`data-attention` on the page's `<main>`).
    pub(crate) attention: usize,
    /// The inbox's badge in the nav: the FLASH messages to answer (empty: none).
    pub(crate) badge_inbox: String,
    /// The alarms' badge in the nav: the alarms to acknowledge (empty: none).
    pub(crate) badge_alarms: String,
    /// On a page that answers a form the station refused (its URL takes only the form):
    /// the page the console's script fetches instead, on the station's events, for the nav's
    /// badges and what awaits the operators, keeping this page's main section (the refusal,
    /// the form as filled in).
    pub(crate) refresh: Option<&'static str>,
}

impl Frame {
    /// The frame of a page for `session`, with what awaits the operators.
    pub(crate) fn of(state: &State, session: &Session, attention: Attention) -> Self {
        let tr = Tr::new(&session.lang);
        let badge = |id: &str, count: usize| {
            if count == 0 {
                String::new()
            } else {
                tr.ta(id, &[("count", &count.to_string())])
            }
        };
        Self {
            station: state.station.clone(),
            operator: session.operator.clone(),
            csrf: session.csrf.clone(),
            lang: tr.lang().to_owned(),
            attention: attention.total(),
            badge_inbox: badge("attention-flash", attention.flash),
            badge_alarms: badge("attention-alarms", attention.alarms),
            refresh: None,
            tr,
        }
    }

    /// The frame of a page that reads neither the inbox nor the alarms itself.
    pub(crate) async fn load(state: &Arc<State>, session: &Session) -> Result<Self, Response> {
        let attention = read(state, Attention::read).await?;
        Ok(Self::of(state, session, attention))
    }
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

/// Server-sent events: every station event, as JSON, while the session lasts.
async fn events(Shared(state): Shared<Arc<State>>, mut headers: HeaderMap) -> Response {
    // Opening (or reopening) the stream is not an operator's use of the session.
    headers.insert(REFRESH_HEADER, HeaderValue::from_static("1"));
    let Some((token, session)) = session(&state, &headers) else {
        return unauthenticated(false);
    };
    // The script shares one stream among a browser's tabs, so these lines count browsers
    // (and the pages their stream-holding tab loads), not tabs.
    tracing::info!(operator = %session.operator, "console: an event stream opened");
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
        (state, token, receiver, 0),
        |(state, token, mut receiver, mut checked_ms)| async move {
            loop {
                let event = match receiver.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        Event::Lagged { missed }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                // A session that ended (logout, idle) stops its stream; so does one whose
                // account was removed or replaced, looked up at most once a second.
                let now = since_boot_ms();
                let session = state.sessions.peek(now, &token)?;
                if now.saturating_sub(checked_ms) >= EVENTS_ACCOUNT_CHECK_MS {
                    if !account_holds(&state, &token, &session) {
                        return None;
                    }
                    checked_ms = now;
                }
                if let Ok(data) = serde_json::to_string(&event) {
                    let next = (state, token, receiver, checked_ms);
                    return Some((Ok(SseEvent::default().data(data)), next));
                }
            }
        },
    )
}
