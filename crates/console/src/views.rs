//! The pages that show the station: the board, the inbox, the outbox, the alarms.

use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use parley_station::api::records;
use parley_station::api::status::LogClosedKind;

use crate::State;
use crate::form::Query;
use crate::pages::{
    Attention, Frame, Tr, blocking, html, plain, read, session, unauthenticated, unreadable, utc,
};
use crate::paging::{self, PageQuery, Pager};
use parley_station::api::records::{InboxItem, OutboxItem};
use parley_station::api::{Reply, Request};

/// One channel on the board.
struct ChannelRow {
    kind: String,
    target: String,
    /// The stable name (a CSS class).
    state: String,
    /// The state as the operator reads it.
    state_shown: String,
    rtt: String,
    changed: String,
}

/// One peer on the board.
struct PeerBoard {
    name: String,
    link: String,
    link_line: String,
    /// Why nothing more is written to the peer, if so.
    closed: Option<String>,
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

pub(crate) async fn board(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
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
    let frame = match Frame::load(&state, &session).await {
        Ok(frame) => frame,
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
                    state_shown: tr.t(&format!("channel-state-{}", channel.state.name())),
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
            let closed = peer.log_closed.as_ref().map(|closed| {
                let id = match closed.kind {
                    LogClosedKind::Forked => "board-log-forked",
                    LogClosedKind::Behind => "board-log-behind",
                };
                tr.ta(id, &[("seq", &closed.seq.to_string())])
            });
            PeerBoard {
                name: peer.name.clone(),
                closed,
                link_line: tr.ta("link", &[("state", link)]),
                link: link.into(),
                channels,
            }
        })
        .collect();
    html(&BoardPage {
        frame,
        peers,
        alarms_open: status.alarms.open,
        alarms_line: tr.ta(
            "board-open-alarms",
            &[("count", &status.alarms.open.to_string())],
        ),
    })
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
    /// Who at the sender wrote it, as its signed entry names.
    sent_by: Option<String>,
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
        kind: tr.t(&format!("item-kind-{}", item.kind.name())),
        sent_by: sent_by(tr, item.sent_by.as_deref()),
        pending,
        due_ms: item.understood_due_ms,
        invalid: (item.shown.invalid.as_ref()).map(|why| tr.ta("invalid", &[("why", why)])),
        more: more_lines(tr, &item.shown, &item.lang),
        lang: item.lang,
        text: item.text,
        answer,
        cancelled: cancelled(tr, item.cancelled.as_deref(), item.cancelled_by.as_deref()),
    }
}

/// Who wrote a message, as its signed entry names.
fn sent_by(tr: Tr, by: Option<&str>) -> Option<String> {
    by.map(|by| tr.ta("sent-by", &[("by", by)]))
}

/// A cancellation's mark: its reason, and who cancelled when the entry names them.
fn cancelled(tr: Tr, reason: Option<&str>, by: Option<&str>) -> Option<String> {
    match (reason, by) {
        (Some(reason), Some(by)) => Some(tr.ta("cancelled-by", &[("by", by), ("reason", reason)])),
        (Some(reason), None) => Some(tr.ta("cancelled", &[("reason", reason)])),
        (None, _) => None,
    }
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    frame: Frame,
    items: Vec<InboxRow>,
    pager: Pager,
    /// Messages awaiting an answer on other pages: how many, and where the first due is.
    elsewhere: Option<(String, String)>,
}

pub(crate) async fn inbox(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    query: Query<PageQuery>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let query = match query.parsed() {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let read = read(&state, |store, state| {
        let items =
            records::inbox(store, &state.objectives, &state.lang, false).map_err(unreadable)?;
        let alarms = records::alarms(store, false).map_err(unreadable)?;
        let attention = Attention::of(&items, &alarms);
        Ok((items, attention))
    });
    let (mut items, attention) = match read.await {
        Ok(read) => read,
        Err(response) => return response,
    };
    // Newest first, whoever sent it: what just came in is at the top (the record lists each
    // sender's in turn, so a busy sender's would bury another's). Same time: the later seq.
    items.sort_by_key(|item| std::cmp::Reverse((item.received_at, item.seq)));
    let tr = Tr::new(&session.lang);
    let elsewhere = pending_elsewhere(tr, &items, query.number());
    let (items, pager) = query.page("/inbox", &tr, items);
    html(&InboxPage {
        frame: Frame::of(&state, &session, attention),
        items: items.into_iter().map(|item| inbox_row(tr, item)).collect(),
        pager,
        elsewhere,
    })
}

/// When messages awaiting an answer are on other pages than `page` of `items` (newest
/// first): how many, and a link to the page of the one due first.
fn pending_elsewhere(tr: Tr, items: &[InboxItem], page: usize) -> Option<(String, String)> {
    let elsewhere: Vec<(usize, &InboxItem)> = (items.iter().enumerate())
        .filter(|(index, item)| item.pending() && paging::page_of(*index) != page)
        .collect();
    let (index, _) = elsewhere
        .iter()
        .min_by_key(|(_, item)| item.understood_due_ms)?;
    let first = paging::page_of(*index);
    let args = [
        ("count", elsewhere.len().to_string()),
        ("page", (first + 1).to_string()),
    ];
    let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Some((
        tr.ta("pending-elsewhere", &args),
        paging::href("/inbox", first),
    ))
}

/// One message as the outbox shows it.
struct OutboxRow {
    id: String,
    precedence: String,
    precedence_upper: String,
    exercise: bool,
    to_line: String,
    kind: String,
    sent_by: Option<String>,
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
    .map(|(name, done)| {
        let step = match name {
            "step-sent" if !item.sent_on.is_empty() => {
                let on: Vec<&str> = item.sent_on.iter().map(|kind| kind.name()).collect();
                tr.ta("step-sent-on", &[("channels", &on.join(", "))])
            }
            _ => tr.t(name),
        };
        (step, if done { "done" } else { "" }.to_owned())
    })
    .collect();
    let far = tr.t("the-far-station");
    let answer = item.answered_by.as_ref().map(|by| {
        // The peer's operator, named as of the peer: it may bear an own operator's name.
        let by = if by.is_empty() {
            far
        } else {
            tr.ta("operator-at-peer", &[("by", by), ("peer", &item.to)])
        };
        let by = &by;
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
        kind: tr.t(&format!("item-kind-{}", item.kind.name())),
        sent_by: sent_by(tr, item.sent_by.as_deref()),
        timeline,
        text: item.text,
        answer,
        can_cancel: item.cancelled.is_none() && item.kind.is_message() && !answered,
        cancelled: cancelled(tr, item.cancelled.as_deref(), item.cancelled_by.as_deref()),
    }
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    frame: Frame,
    items: Vec<OutboxRow>,
    pager: Pager,
}

pub(crate) async fn outbox(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    query: Query<PageQuery>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let query = match query.parsed() {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let read = read(&state, |store, state| {
        records::outbox(store, &state.objectives, &state.lang).map_err(unreadable)
    });
    let mut items = match read.await {
        Ok(items) => items,
        Err(response) => return response,
    };
    // Newest first, whoever it went to (the record lists each peer's in turn, so a busy
    // link's would bury another's). Same time: the later seq.
    items.sort_by_key(|item| std::cmp::Reverse((item.created_at, item.seq)));
    let frame = match Frame::load(&state, &session).await {
        Ok(frame) => frame,
        Err(response) => return response,
    };
    let tr = Tr::new(&session.lang);
    let (items, pager) = query.page("/outbox", &tr, items);
    html(&OutboxPage {
        frame,
        items: items.into_iter().map(|item| outbox_row(tr, item)).collect(),
        pager,
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
    pager: Pager,
}

pub(crate) async fn alarms(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    query: Query<PageQuery>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let query = match query.parsed() {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let read = read(&state, |store, state| {
        let alarms = records::alarms(store, true).map_err(unreadable)?;
        let pending =
            records::inbox(store, &state.objectives, &state.lang, true).map_err(unreadable)?;
        let attention = Attention::of(&pending, &alarms);
        Ok((alarms, attention))
    });
    let (items, attention) = match read.await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let tr = Tr::new(&session.lang);
    // The store lists alarms newest first.
    let (items, pager) = query.page("/alarms", &tr, items);
    let rows = items
        .into_iter()
        .map(|alarm| AlarmRow {
            id: alarm.id,
            kind: tr.t(&format!("alarm-kind-{}", alarm.kind.name())),
            line: tr.ta(
                "alarm-line",
                &[
                    ("peer", &alarm.peer),
                    (
                        "state",
                        &tr.t(&format!("alarm-state-{}", alarm.state.name())),
                    ),
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
            open: alarm.state == records::AlarmState::Open,
        })
        .collect();
    html(&AlarmsPage {
        frame: Frame::of(&state, &session, attention),
        alarms: rows,
        pager,
    })
}
