//! The operators: they send messages (retrying what a crash swallowed), answer the peer's
//! messages, and make new epoch keys, each through the core's own commands.

use super::*;

/// The message an operator is sending (kept until accepted, so a crash makes them retry it).
#[derive(Clone)]
pub(super) struct Draft {
    /// The peer it is for, by index.
    pub to: usize,
    pub precedence: Precedence,
    pub text: String,
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
        let command = Command::Send {
            peer: NAMES[draft.to].into(),
            precedence: draft.precedence,
            text: draft.text,
            exercise: false,
            translations: Default::default(),
            operator: Some(format!("operator {}", NAMES[i])),
        };
        let core = station.core.as_mut().expect("checked above");
        core.handle(now_ms, Input::Command { id, command });
        self.after_input(i)
    }

    /// An operator answers: through the core's command, as at a real station. A crashed
    /// station's operator waits for it to come back.
    pub(super) fn answer(&mut self, i: usize, id: EntryId, clarify: bool) -> Outcome {
        let now_ms = self.clock(i);
        let station = &mut self.stations[i];
        let Some(core) = station.core.as_mut() else {
            self.push(
                SEND_RETRY_MS,
                Event::Answer {
                    station: i,
                    id,
                    clarify,
                },
            );
            return Ok(());
        };
        station.next_request += 1;
        let request = RequestId(station.next_request);
        station.answering.insert(request, (id, clarify));
        let (id_text, operator) = (id.to_string(), format!("operator {}", NAMES[i]));
        let command = if clarify {
            Command::Clarify {
                id: id_text,
                question: "which unit?".into(),
                operator,
            }
        } else {
            Command::Understood {
                id: id_text,
                restatement: None,
                operator,
            }
        };
        core.handle(
            now_ms,
            Input::Command {
                id: request,
                command,
            },
        );
        self.after_input(i)
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
        Draft {
            to,
            precedence,
            text,
        }
    }
}
