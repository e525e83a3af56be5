//! Speed of service and the transcript: download and verification.

use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_station::api::records;
use parley_store::console::AuditAction;
use serde::Deserialize;

use crate::State;
use crate::pages::{Frame, Tr, blocking, html, plain, read, session, unauthenticated, unreadable};

/// One precedence in the speed-of-service page.
struct SpeedRow {
    precedence: String,
    precedence_upper: String,
    count: u64,
    receipt: String,
    receipt_percent: u64,
    /// The receipt's median as a share of its objective, in words.
    receipt_share: String,
    answer: String,
    answer_percent: u64,
    answer_share: String,
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

pub(crate) async fn speed(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
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
    let tr = Tr::new(&session.lang);
    let share = |percent: u64| tr.ta("percent-of-objective", &[("percent", &percent.to_string())]);
    let rows = stats
        .iter()
        .map(|row| {
            let objective = state.objectives.of(row.precedence);
            let receipt_percent = percent(&row.receipt, objective.receipt_s);
            let answer_percent = percent(&row.understood, objective.understood_s);
            SpeedRow {
                precedence: row.precedence.name().to_owned(),
                precedence_upper: row.precedence.name().to_uppercase(),
                count: row.count,
                receipt: durations(&row.receipt),
                receipt_percent,
                receipt_share: share(receipt_percent),
                answer: durations(&row.understood),
                answer_percent,
                answer_share: share(answer_percent),
                overdue: row.overdue,
                waiting: row.waiting,
            }
        })
        .collect();
    let frame = match Frame::load(&state, &session).await {
        Ok(frame) => frame,
        Err(response) => return response,
    };
    html(&SpeedPage { frame, rows })
}

#[derive(Template)]
#[template(path = "transcript.html")]
struct TranscriptPage {
    frame: Frame,
    /// Each peer's name, and the link's label.
    peers: Vec<(String, String)>,
}

pub(crate) async fn transcript(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
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
    let frame = match Frame::load(&state, &session).await {
        Ok(frame) => frame,
        Err(response) => return response,
    };
    html(&TranscriptPage { frame, peers })
}

#[derive(Deserialize)]
pub(crate) struct Peer {
    peer: String,
}

/// The transcript of a link, as a download; audited (the record of everything said left the
/// station), one at a time.
pub(crate) async fn transcript_export(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    query: crate::form::Query<Peer>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let query = match query.parsed() {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    // Held until the export is done, by the export itself (also after a client that gave up).
    let Ok(exporting) = state.transcript_exports.clone().try_acquire_owned() else {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "another transcript is being exported; ask again once it is done; nothing was done",
        );
    };
    let home = state.home.clone();
    let peer = query.peer.clone();
    let exported = blocking(move || {
        let _exporting = exporting;
        parley_station::Node::open_read_only(&home)?.export_transcript(&peer)
    })
    .await;
    let outcome = match &exported {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "not exported: the console's work failed".to_owned(),
    };
    let detail = serde_json::json!({ "peer": query.peer });
    let action = AuditAction::TranscriptExport;
    crate::audit::audit(&state, &session.operator, action, detail, &outcome).await;
    match exported {
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
