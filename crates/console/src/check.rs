//! The compose page's check before sending: a code or notice form, as filled so far, checked
//! against the codebook the station would use (the link's current agreed one, read from the
//! store as `LinkCodebooks::current_for_new_entry` picks it) by the codebook's own code,
//! `Codebook::coded_params` and `Codebook::notice_fields`, which the station runs when the
//! form is sent. The page shows the answer beside the field it names; the station still
//! checks again when the form is sent. Changes nothing and writes no audit row: it is a read.

use std::sync::Arc;

use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_station::StationError;
use parley_station::api::records;
use parley_store::Store;
use serde_json::json;

use crate::actions::{Filled, csrf_matches, csrf_refused, precedence};
use crate::form::ActionForm;
use crate::pages::{plain, read, session, unreadable};
use crate::{State, now_ms};

/// Whether the form would be sent, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The codebook takes it as it is.
    Sendable,
    /// It would be refused.
    Refused {
        /// The field to blame (its name in the codebook), when one is.
        field: Option<String>,
        /// Why, in the station's words.
        error: String,
    },
}

impl Verdict {
    fn refused(field: Option<&str>, error: impl Into<String>) -> Self {
        Verdict::Refused {
            field: field.map(str::to_owned),
            error: error.into(),
        }
    }

    /// The answer's body: `{"ok":true}`, or `{"ok":false,"field":…,"error":…}`.
    fn json(&self) -> serde_json::Value {
        match self {
            Verdict::Sendable => json!({ "ok": true }),
            Verdict::Refused { field, error } => {
                json!({ "ok": false, "field": field, "error": error })
            }
        }
    }
}

/// `POST /compose/check`: a code or notice form (as the page would send it, CSRF token
/// included) checked without sending it.
pub(crate) async fn check(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    form: ActionForm<std::collections::BTreeMap<String, String>>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return plain(StatusCode::UNAUTHORIZED, "log in first; nothing was done");
    };
    if !csrf_matches(&session, &form.csrf) {
        return csrf_refused();
    }
    let (filled, unread) = Filled::of(form.fields);
    if let Err(error) = unread {
        return plain(StatusCode::UNPROCESSABLE_ENTITY, &error);
    }
    let sent_ms = now_ms();
    let checked = read(&state, move |store, _| {
        verdict(store, &filled, sent_ms).map_err(unreadable)
    });
    match checked.await {
        Ok(verdict) => (
            [(header::CONTENT_TYPE, "application/json")],
            verdict.json().to_string(),
        )
            .into_response(),
        Err(response) => response,
    }
}

/// What the station would say of `filled` sent at `sent_ms`, as far as its codebook decides.
/// `Err` only when the store cannot be read.
fn verdict(store: &Store, filled: &Filled, sent_ms: u64) -> Result<Verdict, StationError> {
    if let Err(error) = precedence(filled) {
        return Ok(Verdict::refused(Some("precedence"), error));
    }
    let peer = filled.value("peer");
    let (books, peer_head) = match records::link_codebooks(store, &peer) {
        Ok(link) => (link.books, link.peer_head),
        Err(error @ StationError::UnknownPeer(_)) => {
            return Ok(Verdict::refused(None, error.to_string()));
        }
        Err(error) => return Err(error),
    };
    // The codebook the station would name in the entry: agreed in the peer's entries held
    // in order.
    let Some((_, codebook)) = books.current_for_new_entry(peer_head) else {
        return Ok(Verdict::refused(
            None,
            format!(
                "no codebook is agreed with \"{peer}\"; propose one with `parley codebook propose` and wait for its acceptance"
            ),
        ));
    };
    let args: Vec<(String, String)> = filled.fields().into_iter().collect();
    let checked = if filled.form.contains_key("form") {
        codebook.notice_fields(&filled.value("form"), &args, sent_ms)
    } else {
        let Ok(code) = filled.value("code").parse::<u64>() else {
            return Ok(Verdict::refused(None, "the code is not a number"));
        };
        codebook.coded_params(code, &args)
    };
    Ok(match checked {
        Ok(_) => Verdict::Sendable,
        Err(error) => Verdict::refused(error.field(), error.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(verdict: Verdict, expect: serde_json::Value) {
        assert_eq!(verdict.json(), expect);
    }

    #[test]
    fn verdicts_answer_as_the_page_reads_them() {
        check(Verdict::Sendable, json!({ "ok": true }));
        check(
            Verdict::refused(Some("planned_launch"), "too soon"),
            json!({ "ok": false, "field": "planned_launch", "error": "too soon" }),
        );
        check(
            Verdict::refused(None, "no codebook is agreed"),
            json!({ "ok": false, "field": null, "error": "no codebook is agreed" }),
        );
    }
}
