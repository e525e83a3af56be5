//! What a core released, checked as it comes out: answers to sends name durable entries,
//! heads only grow, and operators' answers, alarms and tests are counted.

use super::*;

impl World {
    /// Checks what the core released: every answer to a send names an entry already durable;
    /// heads only grow; honest runs raise no alarm.
    pub(super) fn drain_outputs(&mut self, i: usize) -> Outcome {
        let name = NAMES[i];
        // A clock_skew alarm accuses its peer unless it follows a refusal for clock skew that
        // was excused, and not yet followed by another such alarm; an equivocation or fork
        // alarm, unless its seq is one at which the adversary made that contradiction with the
        // peer's key and the station kept the evidence; an over_intake alarm, unless the seed
        // has tight allowances.
        let tight = self.config.intake_tight;
        let accusing = |alarm: &parley_station::api::AlarmItem, station: &Station| {
            let peer = NAMES.iter().position(|n| *n == alarm.peer);
            let skew_excused =
                peer.is_some_and(|j| (station.skew_refused.get(&j)).is_some_and(|n| *n > 0));
            let contradiction_excused = peer.is_some_and(|j| {
                (alarm.subject.strip_prefix("seq "))
                    .and_then(|seq| seq.parse().ok())
                    .is_some_and(|seq| station.contradicted.contains(&(j, seq, alarm.kind)))
            });
            let excused = contradiction_excused
                || (alarm.kind == AlarmKind::ClockSkew && skew_excused)
                || (alarm.kind == AlarmKind::OverIntake && tight);
            accuses(alarm.kind) && !excused
        };
        for peer in self.peer_ids(i) {
            if let Some(core) = &self.stations[i].core
                && let Some(link) = core.endpoint().link(&peer)
                && let Some(count) = link.counters().rejected.get("unknown_epoch_key")
            {
                return Err(format!(
                    "{name} refused {count} envelope(s) sealed to an epoch key it does not hold \
                     (unknown_epoch_key)"
                ));
            }
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
                Output::Reply { id, result } if station.acting.contains_key(&id) => {
                    let act = station.acting.remove(&id).expect("checked");
                    self.acted(i, act, result)?;
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
                    let draft = station.draft.take().expect("a send was asked");
                    let me = station.identity.id();
                    let peer = self.stations[draft.to].identity.id();
                    let station = &mut self.stations[i];
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
                    station.asked = None;
                    let link = station.links.get_mut(&draft.to).expect("a link");
                    link.accepted.push(Accepted {
                        seq: sent.seq,
                        id: sent.id,
                        precedence: draft.precedence,
                        text: draft.text,
                        code: draft.code,
                    });
                    self.report.messages_accepted += 1;
                    self.report.coded_messages += u64::from(draft.code.is_some());
                    self.maybe_cancel(i, sent.id);
                    if self.stations[i].sent() < self.config.messages_per_station {
                        let gap = self.dice.below(self.config.send_gap_ms_max + 1);
                        self.push(gap, Event::Send { station: i });
                    }
                    self.maybe_heal()?;
                }
                Output::Event(StationEvent::Delivered { peer, upto }) => {
                    let j = NAMES.iter().position(|n| *n == peer);
                    let link = j.and_then(|j| station.links.get_mut(&j));
                    let Some(link) = link else {
                        return Err(format!("{name} delivered from {peer:?}, not a peer"));
                    };
                    if upto <= link.delivered_head {
                        return Err(format!(
                            "{name} delivered up to {upto} from {peer} after already delivering \
                             up to {}",
                            link.delivered_head
                        ));
                    }
                    link.delivered_head = upto;
                    self.accept_due(i);
                }
                Output::Event(StationEvent::MessageStored { id, .. }) if self.config.watch => {
                    if !self.dice.chance(NEVER_ANSWERED_PER_MILLE) {
                        let delay_ms = self.dice.below(ANSWER_DELAY_MS_MAX + 1);
                        let clarify = self.dice.chance(CLARIFY_PER_MILLE);
                        self.acts_pending += 1;
                        let act = Act::Answer { of: id, clarify };
                        self.push(delay_ms, Event::Act { station: i, act });
                    }
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && !accusing(&alarm, station) =>
                {
                    if let Some(j) = NAMES.iter().position(|n| *n == alarm.peer)
                        && alarm.kind == AlarmKind::ClockSkew
                        && let Some(refused) = station.skew_refused.get_mut(&j)
                    {
                        *refused -= 1;
                    }
                    self.report.alarms_raised += 1;
                    match alarm.kind {
                        AlarmKind::TestMissed => self.report.tests_missed += 1,
                        AlarmKind::ExpectedTestNotReceived => self.report.tests_not_received += 1,
                        _ => {}
                    }
                    station
                        .raised
                        .push((alarm.id, alarm.kind, alarm.peer.clone(), alarm.subject));
                    self.courier_alarm(i, alarm.kind, &alarm.peer);
                }
                Output::Event(StationEvent::Alarm { change, alarm })
                    if change == AlarmEvent::Raised && accusing(&alarm, station) =>
                {
                    return Err(format!(
                        "{name} raised a {} alarm about {}: {}",
                        alarm.kind, alarm.peer, alarm.detail
                    ));
                }
                // No store here is ever put back to an older copy: a receipt taken for a loss
                // is a false one, which only a peer's clock set back may cause (formats.md §5).
                // The entries are then sent again, and must be dropped as duplicates. Those
                // sealed again to a peer's new epoch key are sent again too.
                Output::Reseal { peer, seqs, lost } => {
                    let j = self.index_of(&peer).expect("a paired station");
                    if lost && !self.stations[j].clock_went_back {
                        return Err(format!(
                            "{name} took a receipt from {} for a loss of {} own entries, though \
                             no store went back to an older copy and its clock never went back",
                            NAMES[j],
                            seqs.len()
                        ));
                    }
                    let now_ms = self.clock(i);
                    let station = &mut self.stations[i];
                    let entries = station.store.own_entries(&peer, &seqs).map_err(|error| {
                        format!("{name} could not read own entries to seal again: {error}")
                    })?;
                    if let Some(core) = station.core.as_mut() {
                        let before = core.uncommitted_writes();
                        core.reseal(now_ms, &peer, &entries, lost);
                        if lost {
                            self.report.entries_resealed += seqs.len() as u64;
                        } else if core.uncommitted_writes() > before {
                            self.report.entries_rekeyed += seqs.len() as u64;
                        }
                    }
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
