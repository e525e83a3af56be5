//! The courier: operators carry bundles by hand, through the core's own commands (`courier
//! export` at one station, `courier import` at the other), routinely and when a link is down
//! or a receipt overdue. A bundle arrives a second to a minute later (a courier is slower, but
//! every minute simulated costs the timers' work); some arrive twice; some only once everything else is done, when every envelope in
//! them was receipted long ago and the keys they were sealed to have been superseded (and
//! erased). Every frame of an authentic bundle must be accepted, new or a duplicate.

use super::*;

/// Time between two bundles an operator exports while messages flow, in milliseconds (least,
/// most).
const COURIER_EVERY_MS: (u64, u64) = (60_000, 240_000);
/// How long an operator takes to export a bundle once the link is down or a receipt overdue,
/// in milliseconds (least, most).
const COURIER_REACT_MS: (u64, u64) = (1_000, 30_000);
/// How long a bundle takes to reach the other station, in milliseconds (least, most).
const COURIER_DELAY_MS: (u64, u64) = (1_000, 60_000);
/// Chance that a bundle is imported twice (a copy left on the medium), per mille.
const COURIER_TWICE_PER_MILLE: u64 = 200;
/// Chance that a copy is held until everything else is done (a medium found in a drawer),
/// per mille.
const COURIER_LATE_PER_MILLE: u64 = 200;

/// A courier command asked of a core and not yet answered.
pub(super) enum Carry {
    /// A bundle for this peer.
    Export(usize),
    /// A bundle from this peer.
    Import(usize, Arc<[u8]>),
}

impl World {
    /// Schedules station `i`'s next routine export, for a peer drawn at random, when the run
    /// has a courier.
    pub(super) fn plan_courier(&mut self, i: usize) {
        if self.config.courier {
            let gap = self.dice.between(COURIER_EVERY_MS);
            let peers: Vec<usize> = self.peers(i).collect();
            let peer = peers[self.dice.below(peers.len() as u64) as usize];
            let export = Event::Export {
                station: i,
                peer,
                routine: true,
            };
            self.push(gap, export);
        }
    }

    /// Station `i`'s link with `peer` is down or a receipt overdue: its operator turns to the
    /// courier.
    pub(super) fn courier_alarm(&mut self, i: usize, kind: AlarmKind, peer: &str) {
        let alarming = matches!(kind, AlarmKind::LinkDown | AlarmKind::ReceiptOverdue);
        let peer = self.index_named(peer);
        if let Some(peer) = peer
            && self.config.courier
            && alarming
            && self.phase == Phase::Workload
        {
            let gap = self.dice.between(COURIER_REACT_MS);
            let export = Event::Export {
                station: i,
                peer,
                routine: false,
            };
            self.push(gap, export);
        }
    }

    /// Station `i`'s operator exports a bundle for `peer`, and plans the next routine one
    /// while messages flow. A crashed station's operator skips this one.
    pub(super) fn export(&mut self, i: usize, peer: usize, routine: bool) -> Outcome {
        if routine && self.phase == Phase::Workload {
            self.plan_courier(i);
        }
        let command = Command::Export {
            peer: NAMES[peer].into(),
        };
        self.courier_command(i, command, Carry::Export(peer))
    }

    /// Station `i`'s operator imports a bundle from `from`; a crashed station's operator waits
    /// for it to come back.
    pub(super) fn import(&mut self, i: usize, from: usize, bundle: Arc<[u8]>) -> Outcome {
        if self.stations[i].core.is_none() {
            let import = Event::Import {
                station: i,
                from,
                bundle,
            };
            self.push(SEND_RETRY_MS, import);
            return Ok(());
        }
        let command = Command::Import {
            bytes: bundle.to_vec(),
            salvage: false,
        };
        self.courier_command(i, command, Carry::Import(from, bundle))
    }

    /// Asks station `i`'s core for a courier command. An import's frames are handled at once:
    /// any refused for clock skew must be excused then (see `clocks`).
    fn courier_command(&mut self, i: usize, command: Command, carry: Carry) -> Outcome {
        let now_ms = self.clock(i);
        let sender = match &carry {
            Carry::Import(from, _) => Some((*from, self.id(*from), self.clock_ahead(*from, i))),
            Carry::Export(_) => None,
        };
        let station = &mut self.stations[i];
        let Some(core) = station.core.as_mut() else {
            return Ok(());
        };
        station.next_request += 1;
        let id = RequestId(station.next_request);
        station.couriering.insert(id, carry);
        let skewed_before = sender
            .as_ref()
            .map(|(_, id, _)| clock_skew_refusals(core, id));
        core.handle(now_ms, Input::Command { id, command });
        if let Some((from, id, clock_ahead)) = sender {
            let skewed = clock_skew_refusals(core, &id) > skewed_before.unwrap_or(0);
            self.clock_skew_refused(i, from, skewed, clock_ahead)?;
        }
        self.after_input(i)
    }

    /// The core answered a courier command: an exported bundle goes on its way (perhaps
    /// twice, perhaps held until the end); an imported one must have had every frame accepted.
    pub(super) fn courier_reply(
        &mut self,
        i: usize,
        carry: Carry,
        result: Result<Reply, parley_station::api::ApiError>,
    ) -> Outcome {
        let name = NAMES[i];
        match (carry, result) {
            (Carry::Export(to), Ok(Reply::Exported(exported))) => {
                let bundle: Arc<[u8]> = exported.bundle.into();
                let copies = if self.dice.chance(COURIER_TWICE_PER_MILLE) {
                    self.report.bundles_twice += 1;
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if self.dice.chance(COURIER_LATE_PER_MILLE) {
                        self.late_bundles.push((i, to, bundle.clone()));
                    } else {
                        self.bundles_in_transit += 1;
                        let delay_ms = self.dice.between(COURIER_DELAY_MS);
                        let import = Event::Import {
                            station: to,
                            from: i,
                            bundle: bundle.clone(),
                        };
                        self.push(delay_ms, import);
                    }
                }
                Ok(())
            }
            (Carry::Import(..), Ok(Reply::Imported(imported))) => {
                // Refused only for an entry time too far ahead, excused as the import ran, or
                // in a seed of tight allowances for the sender's intake (sent again later).
                let tight = self.config.intake_tight;
                let excused = |why: &String| {
                    why.contains("ahead of this station's clock")
                        || (tight && why.contains("more than this station takes from one peer"))
                };
                if !imported.rejected.iter().all(excused) {
                    return Err(format!(
                        "{name} refused frames of an authentic bundle: {:?}",
                        imported.rejected
                    ));
                }
                self.bundles_in_transit -= 1;
                self.report.bundles_carried += 1;
                self.report.courier_envelopes_new += imported.envelopes_new;
                self.report.courier_duplicates += imported.duplicates;
                Ok(())
            }
            (Carry::Export(_), other) => {
                Err(format!("{name} could not export a bundle: {other:?}"))
            }
            (Carry::Import(..), other) => {
                Err(format!("{name} could not import a bundle: {other:?}"))
            }
        }
    }

    /// A crash swallowed station `i`'s courier commands: the operator imports again, after
    /// the restart, whatever was being imported (an export is merely skipped).
    pub(super) fn courier_crashed(&mut self, i: usize, after_ms: u64) {
        let asked = std::mem::take(&mut self.stations[i].couriering);
        for carry in asked.into_values() {
            if let Carry::Import(from, bundle) = carry {
                let import = Event::Import {
                    station: i,
                    from,
                    bundle,
                };
                self.push(after_ms, import);
            }
        }
    }

    /// Once everything else is done, the bundles held back arrive; returns whether there were
    /// any (the run then goes on to quiescence again).
    pub(super) fn release_late_bundles(&mut self) -> bool {
        let late = std::mem::take(&mut self.late_bundles);
        for (from, to, bundle) in &late {
            self.bundles_in_transit += 1;
            self.report.bundles_late += 1;
            let import = Event::Import {
                station: *to,
                from: *from,
                bundle: bundle.clone(),
            };
            self.push(1, import);
        }
        !late.is_empty()
    }
}
