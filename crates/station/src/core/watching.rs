//! The core's side of the watch: feeding it what the endpoint wrote, doing what it asks
//! (appending overdue evidence, tests, schedules and machine answers), announcing its alarms
//! and warnings, and the operators' commands that answer, withdraw, test and acknowledge.

use parley_proto::limits::TEXT_SIZE_MAX_BYTES;
use parley_proto::{Body, EntryId, EvidenceKind, Precedence, StationId, StoreOp, TestAnswer};
use parley_store::AlarmKind;

use super::watch::alarms::{AlarmEvent, AlarmUpdate};
use super::watch::{Append, Awaited, Known, Warning};
use super::{Output, Station};
use crate::api::{AlarmItem, Event, Sent};
use crate::error::StationError;

/// How long the far station has to answer a test sent with `parley test` when no schedule
/// for the peer says otherwise, in milliseconds.
pub const TEST_ANSWER_WITHIN_MS_DEFAULT: u64 = 60_000;

impl Station {
    /// Feeds the watch what the endpoint just wrote.
    pub(super) fn watch_writes(&mut self, now_ms: u64, writes: &[StoreOp]) {
        for op in writes {
            match op {
                StoreOp::AppendOwn { peer, entry, .. } => {
                    self.codebooks.entry(*peer).or_default().note(entry, false);
                    let counted = self.watch.own_entry(now_ms, *peer, entry);
                    if counted {
                        self.announce_answer(*peer, entry.entry(), true);
                    }
                }
                StoreOp::StorePeerEntry { peer, entry, .. } => {
                    self.codebooks.entry(*peer).or_default().note(entry, true);
                    let counted = self.watch.peer_entry(now_ms, *peer, entry);
                    if counted {
                        self.announce_answer(*peer, entry.entry(), false);
                    }
                }
                StoreOp::MarkDelivered {
                    peer, upto, extra, ..
                } => self.watch.receipted(now_ms, *peer, *upto, extra),
                StoreOp::Evidence {
                    peer,
                    kind,
                    seq,
                    detail,
                    ..
                } => {
                    let kind = match kind {
                        EvidenceKind::Equivocation => AlarmKind::Equivocation,
                        EvidenceKind::Fork => AlarmKind::Fork,
                        EvidenceKind::BadReceipt => AlarmKind::BadReceipt,
                    };
                    self.watch.misbehaviour(
                        now_ms,
                        *peer,
                        kind,
                        format!("seq {seq}"),
                        detail.clone(),
                    );
                }
                _ => {}
            }
        }
    }

    /// An answer that counted was written: subscribers hear of it once it is durable.
    fn announce_answer(&mut self, peer: StationId, entry: &parley_proto::Entry, by_us: bool) {
        let (of, operator, understood) = match &entry.body {
            Body::Understood { of, operator, .. } => (*of, operator, true),
            Body::Clarify { of, operator, .. } => (*of, operator, false),
            _ => return,
        };
        let event = Event::Answered {
            peer: self.peer_name(&peer),
            of,
            understood,
            operator: operator.clone(),
            by_us,
            at_ms: entry.time_ms,
        };
        self.pending.outputs.push(Output::Event(event));
    }

    /// Takes what the watch produced: announces warnings, then stores and announces alarm
    /// changes (a deadline that passed while the station was stopped warns before it alarms,
    /// as it does while it runs), and returns the entries it asks for.
    pub(super) fn watch_effects(&mut self) -> Vec<Append> {
        let (updates, appends, warnings) = self.watch.take();
        for warning in warnings {
            self.announce_warning(warning);
        }
        for update in updates {
            self.announce_alarm(update);
        }
        appends
    }

    fn announce_alarm(&mut self, update: AlarmUpdate) {
        let AlarmUpdate { event, op, alarm } = update;
        let peer = self.peer_name(&alarm.peer);
        let item = AlarmItem::new(alarm, peer);
        match event {
            AlarmEvent::Raised | AlarmEvent::Escalated => tracing::error!(
                id = item.id,
                kind = item.kind.name(),
                peer = %item.peer,
                level = item.level,
                detail = %item.detail,
                "ALARM {}",
                event.name()
            ),
            AlarmEvent::Acknowledged | AlarmEvent::Cleared => tracing::info!(
                id = item.id,
                kind = item.kind.name(),
                peer = %item.peer,
                "alarm {}",
                event.name()
            ),
        }
        self.pending.admin.push(op);
        self.pending.outputs.push(Output::Event(Event::Alarm {
            change: event,
            alarm: item,
        }));
    }

    fn announce_warning(&mut self, warning: Warning) {
        let peer = self.peer_name(&warning.peer);
        tracing::warn!(
            %peer,
            id = %warning.id,
            objective = warning.objective.name(),
            own = warning.own,
            due_ms = warning.due_ms,
            "half of a deadline has passed"
        );
        self.pending
            .outputs
            .push(Output::Event(Event::DeadlineWarning {
                peer,
                id: warning.id,
                objective: warning.objective,
                own: warning.own,
                due_ms: warning.due_ms,
            }));
    }

    /// Appends an entry the watch asked for. A refusal (the outbox is full) is logged: the
    /// watch asks again where it matters (a machine test stays unanswered until restart).
    pub(super) fn append_for_watch(&mut self, now_ms: u64, append: Append) {
        let Append {
            peer,
            precedence,
            body,
        } = append;
        let kind = body.kind().name();
        if let Err(error) = self.endpoint.append(now_ms, &peer, precedence, body) {
            tracing::error!(peer = %self.peer_name(&peer), kind, %error, "the watch could not write its entry");
        }
    }

    /// The watch, to read what it holds.
    pub fn watch(&self) -> &super::watch::Watch {
        &self.watch
    }

    /// Deadlines the watch still holds (receipts and answers, both sides): 0 once every
    /// message and test is receipted and answered or overdue.
    pub fn deadlines_pending(&self) -> usize {
        self.watch.deadlines_pending()
    }

    /// Runs the watch's duties due at `now_ms`. The daemon calls it when
    /// [`Station::poll_timeout`] says.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if (self.pending.records_due_ms()).is_some_and(|due_ms| due_ms <= now_ms) {
            self.pending.release_records();
        }
        self.watch.tick(now_ms);
        self.checkpoint_timers(now_ms);
        self.witness_timers(now_ms);
        self.key_timers(now_ms);
        self.intake_timers(now_ms);
        self.collect(now_ms);
    }

    /// Runs the watch's duties already due at `now_ms`, if any. [`Station::handle`] does so
    /// before every input: an answer that comes after its deadline is late even when the
    /// timer has not run yet (a core just restarted, a busy loop).
    pub fn catch_up(&mut self, now_ms: u64) {
        if self
            .watch
            .next_due_ms()
            .is_some_and(|due_ms| due_ms <= now_ms)
        {
            self.handle_timeout(now_ms);
        }
    }

    /// Finds the message or test an operator means by `prefix` (hex digits of its id).
    pub(super) fn resolve_entry(&self, prefix: &str) -> Result<(EntryId, Known), StationError> {
        let valid =
            (1..=64).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(StationError::Invalid(format!(
                "{prefix:?} is not a message id: give its hex digits (all 64, or enough to be unique) as `inbox` or `outbox` shows them; nothing was stored"
            )));
        }
        let matching = self.watch.matching(prefix);
        match matching.as_slice() {
            [] => Err(StationError::Invalid(format!(
                "no message or test has an id starting with {prefix}; nothing was stored"
            ))),
            [(id, known)] => Ok((*id, (*known).clone())),
            several => {
                let shown: Vec<String> = several
                    .iter()
                    .take(5)
                    .map(|(id, _)| id.to_string()[..16].to_owned())
                    .collect();
                Err(StationError::Invalid(format!(
                    "{prefix} is the start of {} ids ({}…); give more digits; nothing was stored",
                    several.len(),
                    shown.join(", ")
                )))
            }
        }
    }

    /// `understood` and `clarify`: this station's operator answers a peer's message or test.
    pub(super) fn answer(
        &mut self,
        now_ms: u64,
        prefix: &str,
        operator: &str,
        text: Option<&str>,
        understood: bool,
    ) -> Result<Sent, StationError> {
        check_operator(operator)?;
        let what = if understood {
            "restatement"
        } else {
            "question"
        };
        let text = text.unwrap_or_default();
        check_text(what, text)?;
        if !understood && text.trim().is_empty() {
            return Err(StationError::Invalid(
                "the question is empty; say what is unclear; nothing was stored".into(),
            ));
        }
        let (of, known) = self.resolve_entry(prefix)?;
        if known.own {
            return Err(StationError::Invalid(format!(
                "{of} is this station's own; only its recipient answers it; nothing was stored"
            )));
        }
        if known.cancelled {
            return Err(StationError::Invalid(format!(
                "{of} was cancelled by its sender; there is nothing to answer; nothing was stored"
            )));
        }
        if let Some(answer) = &known.answer {
            let how = if answer.understood {
                "understood"
            } else {
                "answered with a question"
            };
            let by = if answer.operator.is_empty() {
                "the station".to_owned()
            } else {
                answer.operator.clone()
            };
            return Err(StationError::Invalid(format!(
                "{of} was {how} already, by {by}; nothing was stored"
            )));
        }
        match known.awaited {
            Awaited::Test(TestAnswer::Machine) => {
                return Err(StationError::Invalid(format!(
                    "{of} is a machine test: the station answers it by itself; nothing was stored"
                )));
            }
            Awaited::Test(TestAnswer::Operator) if !understood => {
                return Err(StationError::Invalid(format!(
                    "{of} is a test: answer it with `understood`; nothing was stored"
                )));
            }
            _ => {}
        }
        let body = if understood {
            Body::Understood {
                of,
                operator: operator.to_owned(),
                restatement: text.to_owned(),
            }
        } else {
            Body::Clarify {
                of,
                operator: operator.to_owned(),
                question: text.to_owned(),
            }
        };
        self.write(now_ms, known.peer, known.precedence, body, None)
    }

    /// `cancel`: withdraws one of this station's messages, at its precedence.
    pub(super) fn cancel(
        &mut self,
        now_ms: u64,
        prefix: &str,
        reason: &str,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        check_text("reason", reason)?;
        let (of, known) = self.resolve_entry(prefix)?;
        if !known.own {
            return Err(StationError::Invalid(format!(
                "{of} is the peer's; only its sender cancels a message; nothing was stored"
            )));
        }
        if known.awaited != Awaited::Message {
            return Err(StationError::Invalid(format!(
                "{of} is a test; only messages are cancelled; nothing was stored"
            )));
        }
        if known.cancelled {
            return Err(StationError::Invalid(format!(
                "{of} was cancelled already; nothing was stored"
            )));
        }
        let body = Body::Cancel {
            of,
            reason: reason.to_owned(),
        };
        self.write(now_ms, known.peer, known.precedence, body, operator)
    }

    /// `test`: sends a test now, answered as the peer's schedule says (by the far station
    /// itself when there is none).
    pub(super) fn send_test(
        &mut self,
        now_ms: u64,
        peer: &str,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        let peer = self.resolve_peer(peer)?;
        let scheduled = self.watch.schedule_of(&peer);
        let body = Body::Test {
            answer: scheduled
                .and_then(|s| s.answer)
                .unwrap_or(TestAnswer::Machine),
            answer_within_ms: scheduled
                .map(|s| s.answer_within_ms)
                .filter(|ms| *ms > 0)
                .unwrap_or(TEST_ANSWER_WITHIN_MS_DEFAULT),
        };
        self.write(now_ms, peer, Precedence::Routine, body, operator)
    }

    /// `alarm ack`.
    pub(super) fn acknowledge(
        &mut self,
        now_ms: u64,
        id: u64,
        operator: &str,
        note: Option<String>,
    ) -> Result<AlarmItem, StationError> {
        check_operator(operator)?;
        if let Some(note) = &note {
            check_text("note", note)?;
        }
        let alarm = self
            .watch
            .acknowledge(now_ms, id, operator.to_owned(), note)
            .map_err(|error| StationError::Invalid(error.to_string()))?;
        let peer = self.peer_name(&alarm.peer);
        Ok(AlarmItem::new(alarm, peer))
    }

    /// Appends an entry to the link with `peer`; `operator` (checked) is who wrote it, for a
    /// body that does not name its operator itself.
    pub(super) fn write(
        &mut self,
        now_ms: u64,
        peer: StationId,
        precedence: Precedence,
        body: Body,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        if let Some(operator) = operator {
            check_operator(operator)?;
        }
        let operator = operator.map(str::to_owned);
        let (seq, id) = self
            .endpoint
            .append_by(now_ms, &peer, operator, precedence, body)?;
        Ok(Sent {
            id,
            seq,
            peer: self.peer_name(&peer),
        })
    }
}

/// An operator's name, about to be signed into a new entry, follows the rule for new names
/// (docs/formats.md): no invisible character either, so it cannot pass for another's.
pub(super) fn check_operator(operator: &str) -> Result<(), StationError> {
    parley_proto::names::check_new_name(operator).map_err(|why| {
        StationError::Invalid(format!(
            "the operator name {why}: give it with --operator NAME (1 to 64 bytes, no control, text-direction or invisible characters); nothing was stored"
        ))
    })
}

fn check_text(what: &str, text: &str) -> Result<(), StationError> {
    if text.len() > TEXT_SIZE_MAX_BYTES {
        return Err(StationError::Invalid(format!(
            "the {what} is {} bytes, over the limit of {TEXT_SIZE_MAX_BYTES} bytes; shorten it; nothing was stored",
            text.len()
        )));
    }
    Ok(())
}
