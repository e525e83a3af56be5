//! The operators: they send messages (retrying what a crash swallowed), answer the peer's
//! messages, withdraw some of their own, and make new epoch keys, each through the core's own
//! commands.

use parley_proto::{Body, Entry};
use parley_station::core::Content;

use super::*;

/// What an operator does about one entry.
#[derive(Clone, Copy, Debug, Hash)]
pub(super) enum Act {
    /// Answers the peer's message `of`: understood, or with a question.
    Answer { of: EntryId, clarify: bool },
    /// Withdraws its own message `of` (`parley cancel`).
    Cancel { of: EntryId },
    /// Proposes the world's codebook `book` to its acceptor.
    Propose { book: usize },
    /// Accepts the world's codebook `book`.
    Accept { book: usize },
}

/// The message an operator is sending (kept until accepted, so a crash makes them retry it).
#[derive(Clone)]
pub(super) struct Draft {
    /// The peer it is for, by index.
    pub to: usize,
    pub precedence: Precedence,
    pub text: String,
    /// A coded message's code (sent instead of the text).
    pub code: Option<u64>,
}

impl World {
    /// An operator makes a new epoch key (`parley key rotate`); a crashed station's operator
    /// waits for it to come back.
    pub(super) fn rotate(&mut self, i: usize) -> Outcome {
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        let Some(core) = station.core.as_mut() else {
            self.push(SEND_RETRY_MS, Event::Rotate { station: i });
            return Ok(());
        };
        station.next_request += 1;
        let id = RequestId(station.next_request);
        core.handle(
            now_ms,
            Input::Command {
                id,
                command: Command::KeyRotate,
            },
        );
        self.after_input(i)
    }

    pub(super) fn send(&mut self, i: usize) -> Outcome {
        let station = &self.stations[i];
        if station.sent() >= self.config.messages_per_station || station.asked.is_some() {
            return Ok(());
        }
        if station.core.is_none() {
            self.push(SEND_RETRY_MS, Event::Send { station: i });
            return Ok(());
        }
        if self.stations[i].draft.is_none() {
            let draft = self.draft(i);
            self.stations[i].draft = Some(draft);
        }
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        let draft = station.draft.clone().expect("drafted above");
        station.next_request += 1;
        let id = RequestId(station.next_request);
        station.asked = Some(id);
        let (peer, operator) = (
            NAMES[draft.to].into(),
            Some(format!("operator {}", NAMES[i])),
        );
        let command = match draft.code {
            Some(code) => Command::SendContent {
                peer,
                precedence: draft.precedence,
                content: Content::Coded {
                    code,
                    params: Default::default(),
                },
                exercise: false,
                operator,
            },
            None => Command::Send {
                peer,
                precedence: draft.precedence,
                text: draft.text,
                exercise: false,
                translations: Default::default(),
                operator,
            },
        };
        let core = station.core.as_mut().expect("checked above");
        core.handle(now_ms, Input::Command { id, command });
        self.after_input(i)
    }

    /// An operator acts on an entry (answers the peer's message, or withdraws one of its
    /// own) through the core's command, as at a real station. A crashed station's operator
    /// waits for it to come back.
    pub(super) fn act(&mut self, i: usize, act: Act) -> Outcome {
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        if station.core.is_none() {
            self.push(SEND_RETRY_MS, Event::Act { station: i, act });
            return Ok(());
        }
        station.next_request += 1;
        let request = RequestId(station.next_request);
        station.acting.insert(request, act);
        let operator = format!("operator {}", NAMES[i]);
        let command = match act {
            Act::Answer { of, clarify: true } => Command::Clarify {
                id: of.to_string(),
                question: "which unit?".into(),
                operator,
            },
            Act::Answer { of, clarify: false } => Command::Understood {
                id: of.to_string(),
                restatement: None,
                operator,
            },
            Act::Cancel { of } => Command::Cancel {
                id: of.to_string(),
                reason: "superseded".into(),
                operator: Some(operator),
            },
            Act::Propose { .. } | Act::Accept { .. } => self.book_command(act, operator),
        };
        let core = self.stations[i].core.as_mut().expect("checked above");
        core.handle(
            now_ms,
            Input::Command {
                id: request,
                command,
            },
        );
        self.after_input(i)
    }

    /// Checks the core's answer to an operator's act: done; or done before a crash swallowed
    /// the answer; or, for an answer, refused because the sender's cancellation came first
    /// (which station `i` must then hold).
    pub(super) fn acted(
        &mut self,
        i: usize,
        act: Act,
        result: Result<Reply, parley_station::api::ApiError>,
    ) -> Outcome {
        match (act, result) {
            (Act::Propose { .. } | Act::Accept { .. }, result) => {
                self.book_acted(i, act, result)?
            }
            (Act::Answer { .. }, Ok(Reply::Answered(_))) => self.report.answers += 1,
            (Act::Cancel { .. }, Ok(Reply::Cancelled(_))) => self.report.cancellations += 1,
            (_, Err(error)) if error.message.contains("already") => {}
            (Act::Answer { of, .. }, Err(error))
                if error.message.contains("was cancelled by its sender")
                    && self.holds_cancellation(i, of)? =>
            {
                self.report.answers_refused_cancelled += 1;
            }
            (act, other) => {
                return Err(format!(
                    "{}'s operator could not {act:?}: {other:?}",
                    NAMES[i]
                ));
            }
        }
        self.acts_pending -= 1;
        Ok(())
    }

    /// Whether station `i` holds a peer's entry cancelling message `of`.
    fn holds_cancellation(&self, i: usize, of: EntryId) -> Outcome<bool> {
        for j in self.peers(i) {
            let cancels =
                |entry: &Entry| matches!(entry.body, Body::Cancel { of: o, .. } if o == of);
            if self.stored_seq(i, (j, j), cancels)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The seq of the first entry by station `author` that `matches` in station `i`'s record
    /// of its link with `peer`.
    pub(super) fn stored_seq(
        &self,
        i: usize,
        (peer, author): (usize, usize),
        matches: impl Fn(&Entry) -> bool,
    ) -> Outcome<Option<u64>> {
        let author = self.id(author);
        let record = self.stations[i]
            .store
            .link_record(&self.id(peer))
            .map_err(|e| e.to_string())?;
        Ok(record.entries.iter().find_map(|kept| {
            let entry = kept.entry.entry();
            (entry.author == author && matches(entry)).then_some(entry.seq)
        }))
    }

    /// After `send` accepted message `id`, its operator may withdraw it later: before or after
    /// it is delivered, answered or overdue.
    pub(super) fn maybe_cancel(&mut self, i: usize, id: EntryId) {
        if self.config.watch && self.dice.chance(CANCEL_PER_MILLE) {
            let delay_ms = self.dice.below(CANCEL_DELAY_MS_MAX + 1);
            self.acts_pending += 1;
            self.push(
                delay_ms,
                Event::Act {
                    station: i,
                    act: Act::Cancel { of: id },
                },
            );
        }
    }

    /// A's administrator gives A another schedule of tests to B (every 10, 20 or 30 s, or
    /// none) and restarts its daemon once it has nothing left to commit (a clean stop, not a
    /// crash); the restarted station announces the schedule. Tried again a little later while
    /// A is down or busy; never once the network heals.
    pub(super) fn reschedule(&mut self) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        let station = &self.stations[0];
        let busy = station.commit.is_some()
            || station.asked.is_some()
            || !station.acting.is_empty()
            || !station.couriering.is_empty()
            || (station.core.as_ref()).is_none_or(|core| core.uncommitted_writes() > 0);
        if busy {
            self.push(RESTART_RETRY_MS, Event::Reschedule);
            return Ok(());
        }
        let current = station.config.tests.first().and_then(|test| test.every_s);
        let others: Vec<Option<u64>> = [None, Some(10), Some(20), Some(30)]
            .into_iter()
            .filter(|every_s| *every_s != current)
            .collect();
        let every_s = others[self.dice.below(others.len() as u64) as usize];
        self.stations[0].config.tests = every_s
            .map(|every_s| TestConfig {
                peer: NAMES[1].into(),
                at: Vec::new(),
                every_s: Some(every_s),
                answer: TestAnswer::Machine,
                answer_within_s: TEST_ANSWER_WITHIN_MS / 1_000,
            })
            .into_iter()
            .collect();
        self.report.schedules_changed += 1;
        self.retire_core(0);
        self.restart(0)
    }

    /// A message from station `i` to one of its peers, chosen at random.
    pub(super) fn draft(&mut self, i: usize) -> Draft {
        // One-, two- and three-byte characters, so the text limit is met in UTF-8 bytes.
        const ALPHABET: [char; 8] = ['a', 'e', 'n', 't', ' ', '.', 'ж', '€'];
        let precedence = Precedence::ALL[self.dice.below(4) as usize];
        let len = if self.dice.chance(self.config.large_text_per_mille) {
            TEXT_SIZE_MAX_BYTES - self.dice.below(64) as usize
        } else {
            1 + self.dice.below(TEXT_SHORT_BYTES_MAX) as usize
        };
        let mut text = String::with_capacity(len);
        while text.len() < len {
            let c = ALPHABET[self.dice.below(ALPHABET.len() as u64) as usize];
            text.push(if text.len() + c.len_utf8() <= len {
                c
            } else {
                'x'
            });
        }
        let peers: Vec<usize> = self.peers(i).collect();
        let to = peers[self.dice.below(peers.len() as u64) as usize];
        let code = self.maybe_code(i, to);
        Draft {
            to,
            precedence,
            text,
            code,
        }
    }
}
