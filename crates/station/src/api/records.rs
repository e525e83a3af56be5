//! What `inbox`, `outbox`, `alarms` and `peer list` show: typed records read from the store
//! (read-only, beside a running daemon), built here once for the CLI's text and its `--json`.

use std::collections::{BTreeMap, BTreeSet};

use parley_proto::{
    Body, ChannelKind, EntryId, Fingerprint, Precedence, SignedEntry, StationId, TestAnswer,
};
use parley_store::{AlarmKind, AlarmRow, KeptEntry, LinkRecord, Store};
use serde::{Deserialize, Serialize};

use super::content::{Shown, TranslationItem, show};
use crate::codebooks::{AsOf, CodebookReport, LinkCodebooks};
use crate::error::StationError;
use crate::watch_config::Objectives;
use parley_proto::limits::TRANSLATIONS_MAX;

/// What a message or test is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// An operator's message.
    Message,
    /// A pre-agreed message of the link's codebook.
    Coded,
    /// A formatted notice of the link's codebook.
    Notice,
    /// An end-to-end test.
    Test,
}

impl ItemKind {
    /// Every kind.
    pub const ALL: [ItemKind; 4] = [
        ItemKind::Message,
        ItemKind::Coded,
        ItemKind::Notice,
        ItemKind::Test,
    ];

    /// The stable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Message => "message",
            ItemKind::Coded => "coded",
            ItemKind::Notice => "notice",
            ItemKind::Test => "test",
        }
    }

    /// Whether an operator wrote it (a message of any form, not a test).
    pub fn is_message(self) -> bool {
        self != ItemKind::Test
    }
}

/// How a message or test was answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerItem {
    /// Understood, or a question back (clarify).
    pub understood: bool,
    /// Who answered; empty when the station answered a machine test itself.
    pub by: String,
    /// When, by the answering station's clock, UTC ms.
    pub at_ms: u64,
    /// The restatement (understood) or the question (clarify); may be empty.
    pub text: String,
}

/// A message or test received and delivered in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Entry id.
    pub id: EntryId,
    /// `message`, `coded`, `notice` or `test`.
    pub kind: ItemKind,
    /// Sender's peer name.
    pub from: String,
    /// Sender's fingerprint.
    pub from_fingerprint: Fingerprint,
    /// Seq in the sender's log.
    pub seq: u64,
    /// Precedence.
    pub precedence: Precedence,
    /// The message's language tag, as set by the sender; for a coded message or notice, the
    /// language `text` is rendered in (empty for a test).
    pub lang: String,
    /// The message; a coded message or notice rendered in this station's language (empty for
    /// a test).
    pub text: String,
    /// Marked EXERCISE by its sender.
    pub exercise: bool,
    /// For a test: who must answer it, `machine` or `operator`.
    pub answer_by: Option<TestAnswer>,
    /// When the sender wrote it, UTC ms, by the sender's clock.
    pub sent_at: u64,
    /// When this station stored it, UTC ms.
    pub received_at: u64,
    /// When this station's answer is due, UTC ms (by this station's objectives).
    pub understood_due_ms: u64,
    /// This station's answer, once given.
    pub answer: Option<AnswerItem>,
    /// The sender's reason, if it cancelled the message.
    pub cancelled: Option<String>,
    /// The operator at the sender who wrote it, as its signed entry names; null when a
    /// script or the station itself did.
    pub sent_by: Option<String>,
    /// The operator at the sender who cancelled it, as the signed cancellation names.
    pub cancelled_by: Option<String>,
    /// Code or form, typed values, renderings, translations.
    #[serde(flatten)]
    pub shown: Shown,
}

impl InboxItem {
    /// Whether it waits for this station's operator: not answered, not cancelled, and not a
    /// test the station answers itself.
    pub fn pending(&self) -> bool {
        self.answer.is_none()
            && self.cancelled.is_none()
            && self.answer_by != Some(TestAnswer::Machine)
    }
}

/// A message or test this station sent, with where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Entry id (what `send` printed).
    pub id: EntryId,
    /// `message`, `coded`, `notice` or `test`.
    pub kind: ItemKind,
    /// Recipient's peer name.
    pub to: String,
    /// Recipient's fingerprint.
    pub to_fingerprint: Fingerprint,
    /// Seq in this station's log for the link.
    pub seq: u64,
    /// Precedence.
    pub precedence: Precedence,
    /// The message; a coded message or notice rendered in this station's language (empty
    /// for a test).
    pub text: String,
    /// The language of `text` (empty for a test).
    pub lang: String,
    /// Marked EXERCISE.
    pub exercise: bool,
    /// For a test, who must answer it; `None` for a message.
    pub answer_by: Option<TestAnswer>,
    /// When it was written, UTC ms.
    pub created_at: u64,
    /// Where it stands.
    pub state: DeliveryState,
    /// The kinds of channel it went out on (`direct`, `relay`, `courier`), each once; empty
    /// until it left, and for what a station before schema version 4 sent. A bundle written
    /// with `courier export` is not counted: it is not a channel.
    pub sent_on: Vec<ChannelKind>,
    /// When the covering receipt arrived, UTC ms; null until delivered.
    pub delivered_at: Option<u64>,
    /// The receipt is due by then, UTC ms.
    pub receipt_due_ms: u64,
    /// The answer is due by then, UTC ms.
    pub understood_due_ms: u64,
    /// The peer's restatement, when it answered understood.
    pub restatement: Option<String>,
    /// The peer's question, when it answered with one.
    pub question: Option<String>,
    /// Who answered (empty: the far station itself, for a machine test).
    pub answered_by: Option<String>,
    /// When, by the peer's clock, UTC ms.
    pub answered_at_ms: Option<u64>,
    /// Whether this station signed an overdue entry for it.
    pub overdue: bool,
    /// The reason given when this station cancelled it.
    pub cancelled: Option<String>,
    /// The operator here who wrote it, as its signed entry names; null when a script or the
    /// station itself did.
    pub sent_by: Option<String>,
    /// The operator here who cancelled it, as the signed cancellation names.
    pub cancelled_by: Option<String>,
    /// Code or form, typed values, renderings, translations.
    #[serde(flatten)]
    pub shown: Shown,
}

/// Where a sent message or test stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Stored, not yet put on any channel.
    Queued,
    /// Put on a channel at least once, not yet receipted.
    Sent,
    /// The peer's signed receipt covers it: it is on the peer's disk.
    Delivered,
    /// An operator at the peer answered: understood.
    Understood,
    /// An operator at the peer answered with a question.
    Clarify,
}

impl DeliveryState {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Understood => "understood",
            DeliveryState::Clarify => "clarify",
        }
    }
}

impl From<parley_store::DeliveryState> for DeliveryState {
    fn from(state: parley_store::DeliveryState) -> Self {
        match state {
            parley_store::DeliveryState::Queued => DeliveryState::Queued,
            parley_store::DeliveryState::Sent => DeliveryState::Sent,
            parley_store::DeliveryState::Delivered => DeliveryState::Delivered,
        }
    }
}

/// A link's messages and tests, and what answers, withdraws or reports on them, from its
/// record. Only what the right side wrote counts: an answer from the station that did not
/// write the message, a cancellation or an overdue report from the one that did; anything
/// else a peer signs stays in the record and changes no display.
struct Thread {
    /// Messages and tests, with whether the peer wrote them and when they arrived (peer
    /// entries).
    items: Vec<(SignedEntry, bool, Option<u64>)>,
    /// Keyed by the entry answered and whether the peer wrote the answer; the first counts.
    answers: BTreeMap<(EntryId, bool), AnswerItem>,
    /// Keyed like `answers`, by whether the peer wrote the cancellation.
    cancels: BTreeMap<(EntryId, bool), Cancelled>,
    overdue: BTreeSet<(EntryId, bool)>,
    /// Translations by operators, keyed by the message and whether the peer wrote them.
    translations: BTreeMap<EntryId, Vec<(bool, TranslationItem)>>,
    books: LinkCodebooks,
    /// The seq of every entry of the link, by id: where a `seen` points.
    seqs: BTreeMap<EntryId, u64>,
}

impl Thread {
    fn of(record: LinkRecord, peer: &StationId) -> Self {
        let mut thread = Thread {
            items: Vec::new(),
            answers: BTreeMap::new(),
            cancels: BTreeMap::new(),
            overdue: BTreeSet::new(),
            translations: BTreeMap::new(),
            books: LinkCodebooks::of(record.entries.iter().map(|kept| &kept.entry), peer),
            seqs: (record.entries.iter())
                .map(|kept| (kept.entry.id(), kept.entry.entry().seq))
                .chain(record.key_announcement_seqs)
                .collect(),
        };
        for KeptEntry { entry, received_ms } in record.entries {
            let fields = entry.entry();
            let by_peer = fields.author == *peer;
            match &fields.body {
                body if body.message_exercise().is_some() => {
                    thread.items.push((entry, by_peer, received_ms));
                }
                Body::Test { .. } => {
                    thread.items.push((entry, by_peer, received_ms));
                }
                Body::Translate {
                    of,
                    lang,
                    text,
                    operator,
                } => {
                    let item = TranslationItem {
                        lang: lang.clone(),
                        text: text.clone(),
                        by: operator.clone(),
                        from_sender: false,
                    };
                    // As many from each side as a sender may attach; the rest stay in the
                    // record, not shown.
                    let kept = thread.translations.entry(*of).or_default();
                    let from_side = kept.iter().filter(|(side, _)| *side == by_peer).count();
                    if from_side < TRANSLATIONS_MAX {
                        kept.push((by_peer, item));
                    }
                }
                Body::Understood {
                    of,
                    operator,
                    restatement,
                } => {
                    thread.answers.entry((*of, by_peer)).or_insert(AnswerItem {
                        understood: true,
                        by: operator.clone(),
                        at_ms: fields.time_ms,
                        text: restatement.clone(),
                    });
                }
                Body::Clarify {
                    of,
                    operator,
                    question,
                } => {
                    thread.answers.entry((*of, by_peer)).or_insert(AnswerItem {
                        understood: false,
                        by: operator.clone(),
                        at_ms: fields.time_ms,
                        text: question.clone(),
                    });
                }
                Body::Cancel { of, reason } => {
                    thread
                        .cancels
                        .entry((*of, by_peer))
                        .or_insert_with(|| Cancelled {
                            reason: reason.clone(),
                            by: fields.operator().map(str::to_owned),
                        });
                }
                Body::Overdue { of, .. } => {
                    thread.overdue.insert((*of, by_peer));
                }
                _ => {}
            }
        }
        thread
    }

    /// The answer to `id`, written by the other side than its author (`by_peer`: the peer
    /// wrote `id`).
    fn answer(&self, id: EntryId, by_peer: bool) -> Option<&AnswerItem> {
        self.answers.get(&(id, !by_peer))
    }

    /// Why its author withdrew `id`, and which operator did.
    fn cancelled(&self, id: EntryId, by_peer: bool) -> (Option<String>, Option<String>) {
        match self.cancels.get(&(id, by_peer)) {
            Some(cancelled) => (Some(cancelled.reason.clone()), cancelled.by.clone()),
            None => (None, None),
        }
    }

    /// Whether the author of `id` reported it overdue.
    fn overdue(&self, id: EntryId, by_peer: bool) -> bool {
        self.overdue.contains(&(id, by_peer))
    }

    /// How `entry` shows at a station working in `lang`: its kind, text, language, exercise
    /// mark, who answers a test, and the rest; with the operators' translations of it.
    fn contents(
        &self,
        entry: &SignedEntry,
        (by_peer, received_ms): (bool, Option<u64>),
        lang: &str,
    ) -> Contents {
        let fields = entry.entry();
        let kind = match &fields.body {
            Body::Test { answer, .. } => {
                return Contents {
                    kind: ItemKind::Test,
                    text: String::new(),
                    lang: String::new(),
                    exercise: false,
                    answer_by: Some(*answer),
                    shown: Shown::default(),
                };
            }
            Body::Coded { .. } => ItemKind::Coded,
            Body::Notice { .. } => ItemKind::Notice,
            _ => ItemKind::Message,
        };
        let as_of = AsOf {
            by_peer,
            seq: fields.seq,
            seen: self.seqs.get(&fields.seen).copied().unwrap_or(0),
        };
        let (text, lang, mut shown) = show(fields, (&self.books, as_of), lang, received_ms);
        let translated = self.translations.get(&entry.id()).into_iter().flatten();
        shown.translations.extend(
            translated.map(|(translator_is_peer, item)| TranslationItem {
                from_sender: *translator_is_peer == by_peer,
                ..item.clone()
            }),
        );
        Contents {
            kind,
            text,
            lang,
            exercise: fields.body.message_exercise().unwrap_or(false),
            answer_by: None,
            shown,
        }
    }
}

/// A cancellation: the reason, and the operator its entry names.
struct Cancelled {
    reason: String,
    by: Option<String>,
}

/// A message's or test's contents as shown.
struct Contents {
    kind: ItemKind,
    text: String,
    lang: String,
    exercise: bool,
    answer_by: Option<TestAnswer>,
    shown: Shown,
}

/// When the answer to `entry` is due under `objectives`, UTC ms.
fn answer_due_ms(entry: &parley_proto::Entry, objectives: &Objectives) -> u64 {
    match entry.body {
        Body::Test {
            answer_within_ms, ..
        } => entry.time_ms + answer_within_ms,
        _ => entry.time_ms + objectives.of(entry.precedence).understood_s * 1_000,
    }
}

/// Every delivered message and test from every peer, per sender in seq order; with
/// `pending`, only those awaiting this station's operator, by when the answer is due.
pub fn inbox(
    store: &Store,
    objectives: &Objectives,
    lang: &str,
    pending: bool,
) -> Result<Vec<InboxItem>, StationError> {
    let mut items = Vec::new();
    for peer in store.peers()? {
        let thread = Thread::of(store.link_record(&peer.id)?, &peer.id);
        for (entry, by_peer, received_ms) in &thread.items {
            let fields = entry.entry();
            if !by_peer || fields.seq > peer.in_head {
                continue;
            }
            let contents = thread.contents(entry, (true, *received_ms), lang);
            let (cancelled, cancelled_by) = thread.cancelled(entry.id(), true);
            items.push(InboxItem {
                id: entry.id(),
                kind: contents.kind,
                from: peer.name.clone(),
                from_fingerprint: peer.card.fingerprint(),
                seq: fields.seq,
                precedence: fields.precedence,
                lang: contents.lang,
                text: contents.text,
                exercise: contents.exercise,
                answer_by: contents.answer_by,
                sent_at: fields.time_ms,
                received_at: received_ms.unwrap_or(fields.time_ms),
                understood_due_ms: answer_due_ms(fields, objectives),
                answer: thread.answer(entry.id(), true).cloned(),
                cancelled,
                sent_by: fields.operator().map(str::to_owned),
                cancelled_by,
                shown: contents.shown,
            });
        }
    }
    if pending {
        items.retain(InboxItem::pending);
        items.sort_by_key(|item| (item.understood_due_ms, item.received_at));
    }
    Ok(items)
}

/// Every message and test this station sent, per recipient in seq order; coded messages and
/// notices rendered in `lang` where their codebook has it.
pub fn outbox(
    store: &Store,
    objectives: &Objectives,
    lang: &str,
) -> Result<Vec<OutboxItem>, StationError> {
    let mut items = Vec::new();
    for peer in store.peers()? {
        let mut states: BTreeMap<u64, parley_store::OutboxState> = store
            .outbox_states(&peer.id)?
            .into_iter()
            .map(|row| (row.seq, row))
            .collect();
        let thread = Thread::of(store.link_record(&peer.id)?, &peer.id);
        for (entry, by_peer, _) in &thread.items {
            let fields = entry.entry();
            if *by_peer {
                continue;
            }
            let Some(row) = states.remove(&fields.seq) else {
                continue;
            };
            let contents = thread.contents(entry, (false, None), lang);
            let answer = thread.answer(entry.id(), false);
            let state = match answer {
                Some(answer) if answer.understood => DeliveryState::Understood,
                Some(_) => DeliveryState::Clarify,
                None => row.state.into(),
            };
            let receipt_s = objectives.of(fields.precedence).receipt_s;
            let (cancelled, cancelled_by) = thread.cancelled(entry.id(), false);
            items.push(OutboxItem {
                id: entry.id(),
                kind: contents.kind,
                to: peer.name.clone(),
                to_fingerprint: peer.card.fingerprint(),
                seq: fields.seq,
                precedence: fields.precedence,
                text: contents.text,
                lang: contents.lang,
                exercise: contents.exercise,
                answer_by: contents.answer_by,
                created_at: fields.time_ms,
                state,
                sent_on: row.sent_on,
                delivered_at: row.delivered_ms,
                receipt_due_ms: fields.time_ms + receipt_s * 1_000,
                understood_due_ms: answer_due_ms(fields, objectives),
                restatement: answer.filter(|a| a.understood).map(|a| a.text.clone()),
                question: answer.filter(|a| !a.understood).map(|a| a.text.clone()),
                answered_by: answer.map(|a| a.by.clone()),
                answered_at_ms: answer.map(|a| a.at_ms),
                overdue: thread.overdue(entry.id(), false),
                cancelled,
                sent_by: fields.operator().map(str::to_owned),
                cancelled_by,
                shown: contents.shown,
            });
        }
    }
    Ok(items)
}

/// Speed of service of one precedence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedenceStats {
    /// The precedence.
    pub precedence: Precedence,
    /// Messages sent.
    pub count: u64,
    /// From `send` to the peer's receipt (messages receipted).
    pub receipt: Durations,
    /// From `send` to the peer's answer, understood or clarify (messages answered).
    pub understood: Durations,
    /// Messages for which this station signed an overdue entry.
    pub overdue: u64,
    /// Messages still waiting for an answer, not yet overdue.
    pub waiting: u64,
}

/// Durations in milliseconds: how many, and their median, 99th percentile and maximum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    /// How many.
    pub count: u64,
    /// Median, ms.
    pub p50_ms: Option<u64>,
    /// 99th percentile (nearest rank), ms.
    pub p99_ms: Option<u64>,
    /// Longest, ms.
    pub max_ms: Option<u64>,
}

impl Durations {
    fn of(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        let rank = |percent: usize| {
            (!values.is_empty()).then(|| values[(values.len() * percent).div_ceil(100).max(1) - 1])
        };
        Self {
            count: values.len() as u64,
            p50_ms: rank(50),
            p99_ms: rank(99),
            max_ms: values.last().copied(),
        }
    }
}

/// `stats`: speed of service per precedence, highest first, of the messages this station
/// sent (exercises included, cancelled ones not) since `since_ms`.
pub fn stats(
    store: &Store,
    objectives: &Objectives,
    since_ms: Option<u64>,
) -> Result<Vec<PrecedenceStats>, StationError> {
    let items = outbox(store, objectives, "")?;
    Ok(Precedence::ALL
        .into_iter()
        .map(|precedence| {
            let sent: Vec<&OutboxItem> = items
                .iter()
                .filter(|item| {
                    item.kind.is_message()
                        && item.precedence == precedence
                        && item.cancelled.is_none()
                        && since_ms.is_none_or(|since| item.created_at >= since)
                })
                .collect();
            let receipt = sent
                .iter()
                .filter_map(|item| {
                    item.delivered_at
                        .map(|at| at.saturating_sub(item.created_at))
                })
                .collect();
            let understood = sent
                .iter()
                .filter_map(|item| {
                    item.answered_at_ms
                        .map(|at| at.saturating_sub(item.created_at))
                })
                .collect();
            PrecedenceStats {
                precedence,
                count: sent.len() as u64,
                receipt: Durations::of(receipt),
                understood: Durations::of(understood),
                overdue: sent.iter().filter(|item| item.overdue).count() as u64,
                waiting: sent
                    .iter()
                    .filter(|item| item.answered_at_ms.is_none() && !item.overdue)
                    .count() as u64,
            }
        })
        .collect())
}

/// An alarm, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmItem {
    /// Its number.
    pub id: u64,
    /// What it is about.
    pub kind: AlarmKind,
    /// The peer's name.
    pub peer: String,
    /// Which instance of the condition: a message id, a channel, a due time.
    pub subject: String,
    /// A human account.
    pub detail: String,
    /// `open`, `acknowledged` or `cleared`.
    pub state: AlarmState,
    /// 1 when raised; one more at each escalation.
    pub level: u32,
    /// When it was raised, UTC ms.
    pub raised_at_ms: u64,
    /// When it last escalated, UTC ms.
    pub escalated_at_ms: Option<u64>,
    /// When it was acknowledged, UTC ms.
    pub acknowledged_at_ms: Option<u64>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// Their note.
    pub note: Option<String>,
    /// When its condition ended, UTC ms.
    pub cleared_at_ms: Option<u64>,
}

/// Where an alarm stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmState {
    /// Raised; nobody acknowledged it.
    Open,
    /// An operator acknowledged it; its condition goes on.
    Acknowledged,
    /// Its condition ended.
    Cleared,
}

impl AlarmState {
    /// Every state.
    pub const ALL: [AlarmState; 3] = [
        AlarmState::Open,
        AlarmState::Acknowledged,
        AlarmState::Cleared,
    ];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AlarmState::Open => "open",
            AlarmState::Acknowledged => "acknowledged",
            AlarmState::Cleared => "cleared",
        }
    }
}

impl AlarmItem {
    /// How far its life has gone, as the alarm hook is told of it:
    /// [`parley_store::AlarmRow::change_rank`].
    pub fn change_rank(&self) -> u32 {
        parley_store::change_rank(self.level, self.state == AlarmState::Cleared)
    }

    /// The API form of a stored alarm; `peer_name` names its peer.
    pub fn new(row: AlarmRow, peer_name: String) -> Self {
        let state = match (&row.acknowledged, row.cleared_ms) {
            (_, Some(_)) => AlarmState::Cleared,
            (Some(_), None) => AlarmState::Acknowledged,
            (None, None) => AlarmState::Open,
        };
        let (acknowledged_at_ms, acknowledged_by, note) = match row.acknowledged {
            Some(ack) => (Some(ack.at_ms), Some(ack.by), ack.note),
            None => (None, None, None),
        };
        Self {
            id: row.id,
            kind: row.kind,
            peer: peer_name,
            subject: row.subject,
            detail: row.detail,
            state,
            level: row.level,
            raised_at_ms: row.raised_ms,
            escalated_at_ms: row.escalated_ms,
            acknowledged_at_ms,
            acknowledged_by,
            note,
            cleared_at_ms: row.cleared_ms,
        }
    }
}

/// Alarms, newest first: every one with `all`, else those not cleared.
pub fn alarms(store: &Store, all: bool) -> Result<Vec<AlarmItem>, StationError> {
    let names: BTreeMap<StationId, String> = store
        .peers()?
        .into_iter()
        .map(|row| (row.id, row.name))
        .collect();
    Ok(store
        .alarms(all)?
        .into_iter()
        .map(|row| {
            let name = names
                .get(&row.peer)
                .cloned()
                .unwrap_or_else(|| row.peer.short());
            AlarmItem::new(row, name)
        })
        .collect())
}

/// A paired peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerItem {
    /// The peer's name (from its card; unique among peers).
    pub name: String,
    /// The peer's fingerprint.
    pub fingerprint: Fingerprint,
    /// Direct-channel address dialled, if any.
    pub address: Option<String>,
    /// The peer's working language, from its card.
    pub lang: String,
    /// When the peer was paired, UTC ms.
    pub added_ms: u64,
}

/// Every paired peer, by name.
pub fn peers(store: &Store) -> Result<Vec<PeerItem>, StationError> {
    Ok(store
        .peers()?
        .into_iter()
        .map(|row| PeerItem {
            name: row.name,
            fingerprint: row.card.fingerprint(),
            address: row.address,
            lang: row.card.lang,
            added_ms: row.added_ms,
        })
        .collect())
}

/// The codebooks of the link with a peer, as its record holds them.
pub struct LinkBooks {
    /// The peer's name.
    pub peer: String,
    /// The link's codebooks.
    pub books: LinkCodebooks,
    /// The seq of the peer's entries held in order: what a new entry names as seen.
    pub peer_head: u64,
}

/// The codebooks of the link with `peer` (name or fingerprint).
pub fn link_codebooks(store: &Store, peer: &str) -> Result<LinkBooks, StationError> {
    let rows = store.peers()?;
    let row = crate::core::find_peer(
        rows.iter().map(|row| {
            let fingerprints = [row.card.fingerprint(), row.id.key_fingerprint()];
            (row, row.name.as_str(), fingerprints)
        }),
        peer,
    )?;
    let record = store.link_record(&row.id)?;
    let books = LinkCodebooks::of(record.entries.iter().map(|kept| &kept.entry), &row.id);
    Ok(LinkBooks {
        peer: row.name.clone(),
        books,
        peer_head: row.in_head,
    })
}

/// `codebook show`: the codebooks of the link with `peer` (name or fingerprint).
pub fn codebooks(store: &Store, peer: &str) -> Result<CodebookReport, StationError> {
    let link = link_codebooks(store, peer)?;
    Ok(CodebookReport::new(link.peer, &link.books))
}

#[cfg(test)]
mod tests;
