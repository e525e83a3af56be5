//! Logging in and out: the login page, the throttled password check, the session cookie.

use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::State;
use crate::form::{ActionForm, Form};
use crate::pages::{Tr, cookie, html, unauthenticated};
use axum::extract::Extension;
use axum::response::Redirect;
use parley_store::console::AuditAction;

use crate::server::Remote;
use crate::session::COOKIE;
use crate::{actions, audit, since_boot_ms};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    station: String,
    error: Option<String>,
    tr: Tr,
}

pub(crate) async fn login_page(Shared(state): Shared<Arc<State>>) -> Response {
    html(&LoginPage {
        station: state.station.clone(),
        error: None,
        tr: Tr::new(&state.lang),
    })
}

#[derive(Deserialize)]
pub(crate) struct Login {
    name: String,
    password: String,
}

pub(crate) async fn login(
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
    let wait_ms = state
        .throttle
        .attempt(since_boot_ms(), &form.name, remote.ip());
    if wait_ms > 0 {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            tr.ta(
                "too-many-logins",
                &[("seconds", &wait_ms.div_ceil(1_000).to_string())],
            ),
        );
    }
    let Ok(place) = state.password_checks.clone().acquire_owned().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, tr.t("wrong-login"));
    };
    let account = match actions::check_login(&state, (&form.name, form.password), place).await {
        Ok(account) => account,
        Err(error) => return refuse(StatusCode::SERVICE_UNAVAILABLE, error),
    };
    let source = remote.ip().to_string();
    let Some((lang, stamp)) = account else {
        // The name typed is recorded only when it is an operator's: a password typed into
        // the name field by mistake is not kept.
        let name = if actions::account_stamp(&state, &form.name).is_ok_and(|a| a.is_some()) {
            form.name.as_str()
        } else {
            "(no such operator)"
        };
        let detail = serde_json::json!({ "address": source });
        // Counted and logged if it cannot be written, but not said on the login page.
        audit::append(
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
    audit::audit(&state, &form.name, AuditAction::Login, detail, "ok").await;
    let token = state
        .sessions
        .open(since_boot_ms(), (form.name.clone(), stamp), lang);
    let secure = if state.https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub(crate) async fn logout(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<serde::de::IgnoredAny>,
) -> Response {
    // The session the cookie names, its account not looked up: a logout ends it even while
    // the accounts cannot be read.
    let open = cookie(&state, &headers)
        .and_then(|token| Some((state.sessions.peek(since_boot_ms(), &token)?, token)));
    let Some((session, token)) = open else {
        return unauthenticated(false);
    };
    if !actions::csrf_matches(&session, &form.csrf) {
        return actions::csrf_refused();
    }
    state.sessions.close(&token);
    let detail = serde_json::json!({});
    audit::audit(&state, &session.operator, AuditAction::Logout, detail, "ok").await;
    let mut response = Redirect::to("/login").into_response();
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
