//! What a core released, checked as it comes out: answers to sends name durable entries,
//! heads only grow, and operators' answers, alarms and tests are counted.

use super::*;

impl World {
    /// Checks what the core released: every answer to a send names an entry already durable;
    /// heads only grow; honest runs raise no alarm.
    pub(super) fn drain_outputs(&mut self, i: usize) -> Outcome {
        let name = NAMES[i];
        let peer = self.peer_id(i);
        // A clock_skew alarm accuses the peer only if its clock never ran that far ahead.
        let accusing = |kind: AlarmKind, peer_clock_ahead: bool| {
            accuses(kind) && !(kind == AlarmKind::ClockSkew && peer_clock_ahead)
        };
        let peer_clock_ahead = self.peer_clock_ahead(i);
        if let Some(core) = &self.stations[i].core
            && let Some(link) = core.endpoint().link(&peer)
            && let Some(count) = link.counters().rejected.get("unknown_epoch_key")
        {
            return Err(format!(
                "{name} refused {count} envelope(s) sealed to an epoch key it does not hold (unknown_epoch_key)"
            ));
        }
        loop {
            let station = &mut self.stations[i];
            let Some(core) = station.core.as_mut() else {
                return Ok(());
            };
            let Some(output) = core.poll_output() else {
                return Ok(());
            };
            match output {
                Output::Reply { id, result } if station.answering.contains_key(&id) => {
                    let (of, _) = station.answering.remove(&id).expect("checked");
                    match result {
                        Ok(Reply::Answered(_)) => self.report.answers += 1,
                        // The answer was durable before a crash swallowed its reply.
                        Err(error) if error.message.contains("already") => {}
                        other => {
                            return Err(format!(
                                "{name}'s operator could not answer {of}: {other:?}"
                            ));
                        }
                    }
                    self.answers_pending -= 1;
                }
                Output::Reply { id, result } if station.couriering.contains_key(&id) => {
                    let carry = station.couriering.remove(&id).expect("checked");
                    self.courier_reply(i, carry, result)?;
                }
                Output::Reply { id, result } => {
                    if station.asked != Some(id) {
                        continue;
                    }
                    let sent = match result {
                        Ok(Reply::Sent(sent)) => sent,
                        other => return Err(format!("{name} refused a valid message: {other:?}")),
                    };
                    let me = station.identity.id();
                    let durable = station
                        .store
                        .entry_id_at(&peer, &me, sent.seq)
                        .map_err(|e| e.to_string())?;
                    if durable != Some(sent.id) {
                        return Err(format!(
                            "{name} answered send with seq {} before it was durable",
                            sent.seq
                        ));
                    }
                    let draft = station.draft.take().expect("a send was asked");
                    station.asked = None;
                    station.accepted.push(Accepted {
                        seq: sent.seq,
                        id: sent.id,
                        precedence: draft.precedence,
                        text: draft.text,
                    });
                    self.report.messages_accepted += 1;
                    if self.stations[i].accepted.len() < self.config.messages_per_station {
                        let gap = self.dice.below(self.config.send_gap_ms_max + 1);
                        self.push(gap, Event::Send { station: i });
                    }
                    self.maybe_heal()?;
                }
                Output::Event(StationEvent::Delivered { upto, .. }) => {
                    if upto <= station.delivered_head {
                        return Err(format!(
                            "{name} delivered up to {upto} after already delivering up to {}",
                            station.delivered_head
                        ));
                    }
                    station.delivered_head = upto;
                }
                Output::Event(StationEvent::MessageStored { id, .. }) if self.config.watch => {
                    if !self.dice.chance(NEVER_ANSWERED_PER_MILLE) {
                        let delay_ms = self.dice.below(ANSWER_DELAY_MS_MAX + 1);
                        let clarify = self.dice.chance(CLARIFY_PER_MILLE);
                        self.answers_pending += 1;
                        self.push(
                            delay_ms,
                            Event::Answer {
                                station: i,
                                id,
                                clarify,
                            },
                        );
                    }
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && !accusing(alarm.kind, peer_clock_ahead) =>
                {
                    self.report.alarms_raised += 1;
                    match alarm.kind {
                        AlarmKind::TestMissed => self.report.tests_missed += 1,
                        AlarmKind::ExpectedTestNotReceived => self.report.tests_not_received += 1,
                        _ => {}
                    }
                    station.raised.push((alarm.id, alarm.kind, alarm.subject));
                    self.courier_alarm(i, alarm.kind);
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && accusing(alarm.kind, peer_clock_ahead) =>
                {
                    return Err(format!(
                        "{name} raised a {} alarm: {}",
                        alarm.kind, alarm.detail
                    ));
                }
                Output::Event(_)
                | Output::Ack { .. }
                | Output::Start(_)
                | Output::Kick(_)
                | Output::Witness(_) => {}
            }
        }
    }
}
