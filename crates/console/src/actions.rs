//! What operators do in the console: each action checks the session and its CSRF token, runs
//! one request through the daemon's operator API as the logged-in operator, and is written to
//! the audit log with its outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Request as AxumRequest, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use parley_proto::Precedence;
use parley_station::api::{ApiError, ErrorClass, Reply, Request};
use parley_store::console::AuditAction;
use serde::Deserialize;

use crate::State;
use crate::compose::{Refill, compose_page};
use crate::form::ActionForm;
use crate::limits::{CHECK_FORM_SIZE_MAX_BYTES, TRANSCRIPT_UPLOAD_SIZE_MAX_BYTES};
use crate::pages::{Frame, blocking, html, plain, session};
use crate::session::{AccountStamp, Session};

/// The action routes, each refusing a request without a session before its body is read.
pub(crate) fn routes(state: Arc<State>) -> Router<Arc<State>> {
    Router::new()
        .route("/understood", post(understood))
        .route("/clarify", post(clarify))
        .route("/alarm/ack", post(acknowledge))
        .route("/send", post(send))
        .route("/send-code", post(send_code))
        .route("/notice", post(notice))
        .route(
            "/compose/check",
            post(crate::check::check).layer(axum::extract::DefaultBodyLimit::max(
                CHECK_FORM_SIZE_MAX_BYTES,
            )),
        )
        .route("/cancel", post(cancel))
        .route("/codebook/accept", post(accept_codebook))
        .route(
            "/transcript/verify",
            post(verify_transcript).layer(axum::extract::DefaultBodyLimit::max(
                TRANSCRIPT_UPLOAD_SIZE_MAX_BYTES,
            )),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, require_session))
        // Not behind the session check, which looks the account up: a logout ends its
        // session even while the accounts cannot be read (it checks the session and its
        // CSRF token itself).
        .route("/logout", post(crate::login::logout))
}

/// Refuses a request without an open session (401), before anything else reads it.
async fn require_session(
    Shared(state): Shared<Arc<State>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if session(&state, request.headers()).is_none() {
        return plain(StatusCode::UNAUTHORIZED, "log in first; nothing was done");
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
    plain(
        StatusCode::FORBIDDEN,
        "the request lacks this session's CSRF token; reload the page and try again; nothing was done",
    )
}

/// Checks a login: `Ok(Some(lang))` for the right password, `Ok(None)` for a wrong name or
/// password (told apart neither in the answer nor in the time taken), `Err` when the
/// accounts cannot be read.
pub(crate) async fn check_login(
    state: &State,
    (name, password): (&str, String),
    place: tokio::sync::OwnedSemaphorePermit,
) -> Result<Option<(String, AccountStamp)>, String> {
    let account = {
        let db = state
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        db.operator(name)
            .map_err(|error| format!("the operator accounts cannot be read: {error}"))?
    };
    // Checked with no lock held: pages look accounts up meanwhile.
    let valid = (state.passwords)
        .verify((account.clone(), password), place)
        .await;
    let valid = valid.ok_or_else(|| "the password could not be checked".to_owned())?;
    Ok(account
        .filter(|_| valid)
        .map(|account| (account.lang.clone(), AccountStamp::of(&account))))
}

/// The account `name` has now, if any (a removed or replaced operator's sessions end at their
/// next request); `Err` when the accounts cannot be read now.
pub(crate) fn account_stamp(
    state: &State,
    name: &str,
) -> Result<Option<AccountStamp>, parley_store::StoreError> {
    let db = state
        .accounts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(db.operator(name)?.map(|row| AccountStamp::of(&row)))
}

/// An action's outcome: the station's answer, or why it was not done.
type Outcome = Result<Reply, Refused>;

/// Why an action was not done: what the operator is told, and the status that says whose
/// doing it was (422 the request's, 503 a station stopping or out of reach, 500 a failure of
/// its own: a full disk).
pub(crate) struct Refused {
    pub(crate) message: String,
    pub(crate) status: StatusCode,
}

impl Refused {
    /// Refused for what the request asked: 422.
    fn request(message: String) -> Self {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        Self { message, status }
    }

    /// The station's refusal, with the status of its class.
    fn of(error: ApiError) -> Self {
        Self {
            status: status_of(error.class),
            message: error.message,
        }
    }
}

/// The status of a station's refusal of this class.
fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::Operator | ErrorClass::Peer => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::Stopping | ErrorClass::Unreachable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::Local => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Checks the session and the CSRF token of a state-changing request, runs the request `make`
/// builds as the session's operator, and audits it with its outcome. `Err` is the answer to a
/// request that was not authorised (nothing was done).
async fn perform(
    state: &Arc<State>,
    headers: &HeaderMap,
    csrf: &str,
    action: AuditAction,
    make: impl FnOnce(&Session) -> Result<Request, String>,
) -> Result<(Session, Outcome), Response> {
    let Some((_, session)) = session(state, headers) else {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "log in first; nothing was done",
        ));
    };
    if !csrf_matches(&session, csrf) {
        return Err(csrf_refused());
    }
    let request = match make(&session) {
        Ok(request) => request,
        Err(error) => {
            // Refused before it became a request (a field the console could not read): audited
            // too, without the form, which may hold a message's text.
            let detail = serde_json::json!({ "refused": "the form" });
            crate::audit::audit(state, &session.operator, action, detail, &error).await;
            return Ok((session, Err(Refused::request(error))));
        }
    };
    let detail = serde_json::to_value(&request).unwrap_or_default();
    let (daemon, shared, operator) = (
        state.daemon.clone(),
        state.clone(),
        session.operator.clone(),
    );
    // The request and its audit row run to their end together in a task of their own: a
    // client that goes away meanwhile drops this handler, never the row of what was done.
    let done = tokio::spawn(async move {
        let outcome = match blocking(move || daemon.request(request)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(error)) => Err(Refused::of(error)),
            Err(_) => Err(Refused {
                message: "the request failed".to_owned(),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            }),
        };
        let said = match &outcome {
            Ok(_) => "ok",
            Err(refused) => refused.message.as_str(),
        };
        let audited = crate::audit::append(&shared, &operator, action, detail, said).await;
        (outcome, audited)
    });
    let Ok((outcome, audited)) = done.await else {
        return Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the request failed",
        ));
    };
    crate::audit::tell_if_not_written(audited);
    Ok((session, outcome))
}

/// A list an action is taken from: its path, and the message id of its name.
#[derive(Clone, Copy)]
struct List(&'static str, &'static str);

const INBOX: List = List("/inbox", "nav-inbox");
const OUTBOX: List = List("/outbox", "nav-outbox");
const ALARMS: List = List("/alarms", "nav-alarms");
const CODEBOOKS: List = List("/codebooks", "nav-codebooks");

/// The page that says why an action was refused, with a link back to its list.
#[derive(Template)]
#[template(path = "refused.html")]
struct RefusedPage {
    frame: Frame,
    error: String,
    back: &'static str,
    back_text: String,
}

/// The answer to an action taken from a list: back to it, or a page saying why it was
/// refused, live like the list (a FLASH or an alarm that comes meanwhile still shows in the
/// title and the nav) and with a link back to it.
async fn back(
    state: &Arc<State>,
    list: List,
    performed: Result<(Session, Outcome), Response>,
) -> Response {
    let (session, Refused { message, status }) = match performed {
        Ok((_, Ok(_))) => return Redirect::to(list.0).into_response(),
        Ok((session, Err(refused))) => (session, refused),
        Err(response) => return response,
    };
    // Without the page's frame (the store unreadable), the reason alone, as text.
    let Ok(mut frame) = Frame::load(state, &session).await else {
        return plain(status, &message);
    };
    frame.refresh = Some(list.0);
    let back_text = frame
        .tr
        .ta("refused-back", &[("page", &frame.tr.t(list.1))]);
    let mut page = html(&RefusedPage {
        frame,
        error: message,
        back: list.0,
        back_text,
    });
    *page.status_mut() = status;
    page
}

#[derive(Deserialize)]
struct Answer {
    id: String,
    #[serde(default)]
    text: String,
}

async fn understood(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<Answer>,
) -> Response {
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Understood, |s| {
        let form = form.fields?;
        Ok(Request::Understood {
            id: form.id,
            restatement: (!form.text.is_empty()).then_some(form.text),
            operator: s.operator.clone(),
        })
    });
    back(&state, INBOX, performed.await).await
}

async fn clarify(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<Answer>,
) -> Response {
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Clarify, |s| {
        let form = form.fields?;
        Ok(Request::Clarify {
            id: form.id,
            question: form.text,
            operator: s.operator.clone(),
        })
    });
    back(&state, INBOX, performed.await).await
}

#[derive(Deserialize)]
struct Ack {
    id: u64,
    #[serde(default)]
    note: String,
}

async fn acknowledge(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<Ack>,
) -> Response {
    let performed = perform(&state, &headers, &form.csrf, AuditAction::AlarmAck, |s| {
        let form = form.fields?;
        Ok(Request::AlarmAck {
            id: form.id,
            note: (!form.note.is_empty()).then_some(form.note),
            operator: s.operator.clone(),
        })
    });
    back(&state, ALARMS, performed.await).await
}

#[derive(Deserialize)]
struct Cancel {
    id: String,
    #[serde(default)]
    reason: String,
}

async fn cancel(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<Cancel>,
) -> Response {
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Cancel, |s| {
        let form = form.fields?;
        Ok(Request::Cancel {
            id: form.id,
            reason: form.reason,
            operator: Some(s.operator.clone()),
        })
    });
    back(&state, OUTBOX, performed.await).await
}

#[derive(Deserialize)]
struct Accept {
    peer: String,
    hash: String,
}

async fn accept_codebook(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<Accept>,
) -> Response {
    let action = AuditAction::CodebookAccept;
    let performed = perform(&state, &headers, &form.csrf, action, |s| {
        let form = form.fields?;
        let hash = parley_proto::CodebookHash::from_hex(&form.hash)
            .ok_or_else(|| "not a codebook hash; nothing was done".to_owned())?;
        Ok(Request::CodebookAccept {
            peer: form.peer,
            hash: Some(hash),
            operator: s.operator.clone(),
        })
    });
    back(&state, CODEBOOKS, performed.await).await
}

/// The form's precedence; one the console does not offer is refused, never guessed.
pub(crate) fn precedence(filled: &Filled) -> Result<Precedence, String> {
    Precedence::parse(&filled.value("precedence")).ok_or_else(|| {
        "the precedence is not flash, immediate, priority or routine; nothing was sent".to_owned()
    })
}

/// The answer to a compose form: the page again, with what was sent, or why not and the form
/// as the operator filled it (the CSRF token aside).
async fn composed(
    state: &Arc<State>,
    performed: Result<(Session, Outcome), Response>,
    mut filled: Refill,
) -> Response {
    let (session, outcome) = match performed {
        Ok(performed) => performed,
        Err(response) => return response,
    };
    filled.remove("csrf");
    match outcome {
        // Sent: to the compose page by GET, so reloading it sends nothing again.
        Ok(Reply::Sent(sent)) => {
            let to = percent_encode(&sent.peer);
            let url = format!("/compose?sent={}&seq={}&to={to}", sent.id, sent.seq);
            Redirect::to(&url).into_response()
        }
        Ok(_) => Redirect::to("/compose").into_response(),
        Err(Refused { message, status }) => {
            let mut page = compose_page(state, &session, (Some(message), None), filled).await;
            *page.status_mut() = status;
            page
        }
    }
}

async fn send(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<BTreeMap<String, String>>,
) -> Response {
    let (filled, unread) = Filled::of(form.fields);
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Send, |s| {
        unread?;
        let (lang, text) = (
            filled.value("translation_lang"),
            filled.value("translation_text"),
        );
        let mut translations = BTreeMap::new();
        if !lang.is_empty() || !text.is_empty() {
            translations.insert(lang, text);
        }
        Ok(Request::Send {
            peer: filled.value("peer"),
            precedence: precedence(&filled)?,
            text: filled.value("text"),
            exercise: filled.exercise(),
            translations,
            operator: Some(s.operator.clone()),
        })
    });
    composed(&state, performed.await, filled.form).await
}

/// Whether a compose form carries the exercise mark: its field is there, whatever its value
/// (an unchecked box sends nothing).
pub(crate) fn exercise_marked(form: &BTreeMap<String, String>) -> bool {
    form.contains_key("exercise")
}

/// A code or notice form: its fixed fields, and its `f_NAME` fields by name (empty ones left
/// out: absent).
pub(crate) struct Filled {
    pub(crate) form: BTreeMap<String, String>,
}

impl Filled {
    /// The form as it was filled, and why it cannot be read if it cannot (then empty).
    pub(crate) fn of(
        fields: Result<BTreeMap<String, String>, String>,
    ) -> (Self, Result<(), String>) {
        match fields {
            Ok(form) => (Self { form }, Ok(())),
            Err(error) => (
                Self {
                    form: BTreeMap::new(),
                },
                Err(error),
            ),
        }
    }

    pub(crate) fn value(&self, key: &str) -> String {
        self.form.get(key).cloned().unwrap_or_default()
    }

    fn exercise(&self) -> bool {
        exercise_marked(&self.form)
    }

    pub(crate) fn fields(&self) -> BTreeMap<String, String> {
        self.form
            .iter()
            .filter_map(|(key, value)| Some((key.strip_prefix("f_")?.to_owned(), value.clone())))
            .filter(|(_, value)| !value.is_empty())
            .collect()
    }
}

async fn send_code(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<BTreeMap<String, String>>,
) -> Response {
    let (filled, unread) = Filled::of(form.fields);
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Send, |s| {
        unread?;
        let code = filled
            .value("code")
            .parse::<u64>()
            .map_err(|_| "the code is not a number; nothing was sent".to_owned())?;
        Ok(Request::SendCode {
            peer: filled.value("peer"),
            precedence: precedence(&filled)?,
            code,
            params: filled.fields(),
            exercise: filled.exercise(),
            operator: Some(s.operator.clone()),
        })
    });
    composed(&state, performed.await, filled.form).await
}

async fn notice(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<BTreeMap<String, String>>,
) -> Response {
    let (filled, unread) = Filled::of(form.fields);
    let performed = perform(&state, &headers, &form.csrf, AuditAction::Send, |s| {
        unread?;
        Ok(Request::Notice {
            peer: filled.value("peer"),
            precedence: precedence(&filled)?,
            form: filled.value("form"),
            fields: filled.fields(),
            exercise: filled.exercise(),
            operator: Some(s.operator.clone()),
        })
    });
    composed(&state, performed.await, filled.form).await
}

/// Verifies an uploaded transcript (the request's body, as the file is) and says what it
/// proves, as `parley transcript verify` would. Changes nothing.
async fn verify_transcript(Shared(state): Shared<Arc<State>>, request: AxumRequest) -> Response {
    let headers = request.headers().clone();
    let csrf = headers
        .get("x-csrf-token")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let Some((_, session)) = session(&state, &headers) else {
        return plain(StatusCode::UNAUTHORIZED, "log in first; nothing was done");
    };
    if !csrf_matches(&session, csrf) {
        return csrf_refused();
    }
    // Held until it is verified, by the verification itself: the file and the verification
    // are in memory meanwhile, also after a client that gave up.
    let Ok(verifying) = state.transcript_verifications.clone().try_acquire_owned() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "another transcript is being verified; send this one again once it is done; nothing was done",
        );
    };
    // Read only now, within the route's limit: a request without the session's token is
    // refused before its upload is taken in.
    let body = match Bytes::from_request(request, &state).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let verified = blocking(move || {
        let _verifying = verifying;
        parley_proto::transcript::verify(&body)
    })
    .await;
    match verified {
        Ok(Ok(transcript)) => {
            let mut lines = vec![format!(
                "transcript OK: link {}",
                hex::encode(transcript.link.0)
            )];
            // Each name quoted, as the CLI shows it: a name holding a fingerprint of its
            // own in brackets cannot pass for another station's.
            for log in &transcript.stations {
                lines.push(format!(
                    "{:?} ({}): {} entries, receipted by the other side up to {}",
                    log.name,
                    log.fingerprint(),
                    log.ids.len(),
                    log.receipted_upto.unwrap_or(0)
                ));
            }
            plain(StatusCode::OK, &lines.join("\n"))
        }
        // The account may quote the file: escaped, so it cannot add a line of its own.
        Ok(Err(error)) => plain(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "transcript verification FAILED: {}",
                parley_proto::names::escaped(&error.to_string())
            ),
        ),
        Err(response) => response,
    }
}

/// `text` for a URL's query: every byte but unreserved ones percent-encoded (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refusal's status says whose doing it was: the request's, a station out of reach or
    /// stopping (ask again later), or the station's own failure.
    #[test]
    fn a_refusal_s_status_follows_its_class() {
        for (class, status) in [
            (ErrorClass::Operator, 422),
            (ErrorClass::Peer, 422),
            (ErrorClass::Stopping, 503),
            (ErrorClass::Unreachable, 503),
            (ErrorClass::Local, 500),
        ] {
            let refused = Refused::of(ApiError::new(class, "why".to_owned()));
            assert_eq!(refused.status.as_u16(), status, "{class:?}");
            assert_eq!(refused.message, "why");
        }
    }
}
