//! Commits and crashes: the store written the way the daemon writes it, a commit in flight
//! that a crash loses, leaves durable or tears, and the restart from what the disk holds.

use super::*;

impl World {
    /// Starts committing what the core wrote; the station transmits nothing until it
    /// completes, and a crash may come first and lose it. With nothing to commit, transmits.
    /// With a commit in flight, does nothing: its completion flushes. (What the core released
    /// at a completion can start the next commit before that completion's own flush.)
    pub(super) fn flush(&mut self, i: usize) -> Outcome {
        if self.stations[i].commit.is_some() {
            return Ok(());
        }
        let Some(commit) = self.stations[i].core.as_mut().and_then(Core::poll_commit) else {
            return self.pump(i);
        };
        let delay_ms = self.dice.between((0, COMMIT_MS_MAX));
        let crash_first = self.config.crashes
            && self.phase == Phase::Workload
            && self.dice.chance(self.config.crash_in_commit_per_mille);
        if crash_first {
            // Queued before the commit's completion, so it wins a tie.
            let crash_ms = self.dice.between((0, delay_ms));
            let crash = Event::Crash {
                station: i,
                planned: false,
            };
            self.push(crash_ms, crash);
        }
        let station = &mut self.stations[i];
        station.commit = Some(commit);
        let incarnation = station.incarnation;
        self.push(
            delay_ms,
            Event::CommitDone {
                station: i,
                incarnation,
            },
        );
        Ok(())
    }

    pub(super) fn commit_done(&mut self, i: usize) -> Outcome {
        let commit = self.stations[i]
            .commit
            .take()
            .expect("a commit is in flight");
        self.write_disk(i, commit, true)?;
        let core = self.stations[i].core.as_mut().expect("a live station");
        core.commit_done(Ok(()));
        self.drain_outputs(i)?;
        self.flush(i)
    }

    /// Applies a commit to the store, after checking the receipts in it are backed. A lossy
    /// disk drops its op from a commit the station goes on to acknowledge (`acknowledged`).
    pub(super) fn write_disk(
        &mut self,
        i: usize,
        mut commit: Commit,
        acknowledged: bool,
    ) -> Outcome {
        if self.config.lossy_disk && acknowledged && i == 0 && !self.lossy_disk_dropped {
            let lost = commit.ops.iter().position(|op| {
                matches!(op, StoreOp::AppendOwn { entry, .. } if entry.entry().seq >= LOSSY_DISK_SEQ)
            });
            if let Some(index) = lost {
                commit.ops.remove(index);
                self.lossy_disk_dropped = true;
            }
        }
        for op in &commit.ops {
            match op {
                StoreOp::MarkDelivered {
                    peer, upto, extra, ..
                } => {
                    let j = self.index_of(peer).expect("a paired station");
                    self.check_receipt_backed((i, j), *upto, extra)?;
                }
                StoreOp::StorePeerEntry { peer, entry, .. } => {
                    let j = self.index_of(peer).expect("a paired station");
                    let log = &self.stations[i].links[&j].delivered_log;
                    if entry.entry().seq > log.last().copied().unwrap_or(0) + 1 {
                        self.report.held_out_of_order += 1;
                    }
                }
                StoreOp::AppendOwn { peer, entry, .. } => {
                    let j = self.index_of(peer).expect("a paired station");
                    let link = self.stations[i].links.get_mut(&j).expect("a link");
                    let (seq, time_ms) = (entry.entry().seq, entry.entry().time_ms);
                    link.written_ms.insert(seq, time_ms);
                }
                _ => {}
            }
        }
        let name = NAMES[i];
        self.stations[i]
            .store
            .commit_batch(&commit.admin, &commit.ops)
            .map_err(|e| format!("{name}'s store refused a commit: {e}"))?;
        for op in &commit.ops {
            if let StoreOp::AdvanceInHead { peer, upto } = op {
                let j = self.index_of(peer).expect("a paired station");
                // The log holds every seq the in-head passed, so its last is the head.
                let log = &mut self.stations[i]
                    .links
                    .get_mut(&j)
                    .expect("a link")
                    .delivered_log;
                let from = log.last().copied().unwrap_or(0);
                log.extend(from + 1..=*upto);
            }
        }
        Ok(())
    }

    /// Station `i` crashed while writing `commit`: the commit reaches its files torn, and the
    /// station restarts from them, the torn commit dropped whole (which `Disk::tear` checks).
    pub(super) fn tear(&mut self, i: usize, commit: Commit) -> Outcome {
        let peers = self.peer_ids(i);
        let station = &self.stations[i];
        let before = station.disk.before_commit(&station.store, &peers)?;
        let kept: Vec<(usize, BTreeMap<u64, u64>)> = station
            .links
            .values()
            .map(|link| (link.delivered_log.len(), link.written_ms.clone()))
            .collect();
        self.write_disk(i, commit, false)?;
        match self.stations[i].disk.tear(before, &peers, &mut self.dice)? {
            Some((store, disk)) => {
                let station = &mut self.stations[i];
                station.store = store;
                station.disk = disk;
                for (link, (delivered, written)) in station.links.values_mut().zip(kept) {
                    link.delivered_log.truncate(delivered);
                    link.written_ms = written;
                }
                self.report.commits_torn += 1;
            }
            // The commit wrote no frame to the log, or the tear left it whole: it is durable.
            None => self.report.commits_unacknowledged += 1,
        }
        Ok(())
    }

    /// A receipt may only cover entries the receiver has durably stored (persist before
    /// acknowledging); checked against the receiver's store when the sender commits it. The
    /// seqs an earlier receipt covered were checked then: a store keeps what it committed (a
    /// crash tears only the commit under way), and the final check compares both logs whole.
    pub(super) fn check_receipt_backed(
        &mut self,
        (i, j): (usize, usize),
        upto: u64,
        extra: &[u64],
    ) -> Outcome {
        let (me, peer) = (self.id(i), self.id(j));
        let from = self.stations[i].links[&j].receipt_backed_upto + 1;
        let (own, holder) = (&self.stations[i].store, &self.stations[j].store);
        for seq in (from..=upto).chain(extra.iter().copied()) {
            let written = own
                .entry_id_at(&peer, &me, seq)
                .map_err(|e| e.to_string())?;
            let held = holder
                .entry_id_at(&me, &me, seq)
                .map_err(|e| e.to_string())?;
            if written.is_none() || held != written {
                return Err(format!(
                    "{} committed a receipt from {} covering seq {seq}: written {written:?}, \
                     durably held {held:?}",
                    NAMES[i], NAMES[j]
                ));
            }
        }
        let link = self.stations[i].links.get_mut(&j).expect("a link");
        let backed = &mut link.receipt_backed_upto;
        *backed = (*backed).max(upto);
        Ok(())
    }

    pub(super) fn plan_crash(&mut self, i: usize) {
        if self.config.crashes && self.phase == Phase::Workload && !self.stations[i].planned_crash {
            self.stations[i].planned_crash = true;
            let gap = self.dice.between(CRASH_GAP_MS);
            let crash = Event::Crash {
                station: i,
                planned: true,
            };
            self.push(gap, crash);
        }
    }

    /// Drops the core with everything uncommitted. The commit in flight is lost, or half the
    /// time reaches the disk just before the crash, too late to tell the operator their send
    /// was accepted: they retry it, and the log holds the message twice (at-least-once).
    pub(super) fn crash(&mut self, i: usize, planned: bool) -> Outcome {
        let station = &mut self.stations[i];
        if planned {
            station.planned_crash = false;
        }
        if self.phase != Phase::Workload || station.core.is_none() {
            return Ok(());
        }
        if planned && self.dice.chance(CLEAN_STOP_PER_MILLE) {
            return self.stop(i);
        }
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.power_off(i, downtime_ms)
    }

    /// Station `i`'s daemon is stopped by a signal, and started again after a while. As the
    /// daemon does at a signal, it takes no more input and commits what it handled: the commit
    /// under way completes, then the records of frames sent are committed, each commit's
    /// answers released; then it records when it stopped (`Store::set_stopped`), which the
    /// start reads and clears. A due time of the peer's tests checked while it was stopped is
    /// not checked then (the watch's skip), and the checker's rules (an absence watched is
    /// alarmed, a test that came in time is not) must hold all the same.
    pub(super) fn stop(&mut self, i: usize) -> Outcome {
        if self.phase != Phase::Workload || self.stations[i].core.is_none() {
            return Ok(());
        }
        loop {
            let station = &mut self.stations[i];
            let core = station.core.as_mut().expect("a live station");
            let commit = match station.commit.take() {
                Some(commit) => commit,
                None => {
                    core.release_records();
                    match core.poll_commit() {
                        Some(commit) => commit,
                        None => break,
                    }
                }
            };
            self.write_disk(i, commit, true)?;
            let core = self.stations[i].core.as_mut().expect("a live station");
            core.commit_done(Ok(()));
            self.drain_outputs(i)?;
        }
        let clock = self.clock(i);
        let peers = self.peer_ids(i);
        let station = &mut self.stations[i];
        let watch = station.core.as_ref().expect("a live station").watch();
        station.stopped_check_ms = (peers.iter())
            .filter_map(|peer| watch.peer_schedule(peer))
            .filter_map(|(schedule, anchor_ms)| {
                let within_ms = schedule.answer_within_ms;
                let due_ms = schedule.next_due_ms(*anchor_ms, clock.saturating_sub(within_ms))?;
                Some(due_ms + within_ms)
            })
            .min();
        station
            .store
            .set_stopped(Some(clock))
            .map_err(|e| format!("{}'s store refused the stop's record: {e}", NAMES[i]))?;
        self.report.clean_stops += 1;
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.go_down(i, clock, downtime_ms);
        Ok(())
    }

    /// Station `i` loses power (a crash, or a reboot) and comes back after `downtime_ms`.
    pub(super) fn power_off(&mut self, i: usize, downtime_ms: u64) -> Outcome {
        let clock = self.clock(i);
        if let Some(commit) = self.stations[i].commit.take() {
            if self.dice.chance(500) {
                self.report.commits_unacknowledged += 1;
                self.write_disk(i, commit, false)?;
            } else if self.stations[i].disk.tears() && self.dice.chance(500) {
                self.tear(i, commit)?;
            } else {
                self.report.commits_lost += 1;
            }
        }
        self.report.crashes += 1;
        self.go_down(i, clock, downtime_ms);
        Ok(())
    }

    /// Station `i` goes down at `clock` (its core dropped with whatever it had not committed)
    /// and restarts after `downtime_ms`; its operator asks again whatever was not answered.
    fn go_down(&mut self, i: usize, clock: u64, downtime_ms: u64) {
        self.retire_core(i);
        let station = &mut self.stations[i];
        station.down.push((clock, u64::MAX));
        let lost_send = station.asked.take().is_some();
        station.incarnation += 1;
        station.wake_at = None;
        let asked: Vec<Act> = std::mem::take(&mut station.acting).into_values().collect();
        self.push(downtime_ms, Event::Restart { station: i });
        for act in asked {
            self.push(downtime_ms + SEND_RETRY_MS, Event::Act { station: i, act });
        }
        if lost_send {
            self.push(downtime_ms, Event::Send { station: i });
        }
        self.courier_crashed(i, downtime_ms + SEND_RETRY_MS);
    }

    /// Rebuilds the core from the store exactly as a daemon does (the store's check included,
    /// which must pass on every store a crash leaves), with a fresh generator seed from the
    /// run's dice, and tells it which channels are up.
    pub(super) fn restart(&mut self, i: usize) -> Outcome {
        if self.stations[i].core.is_some() {
            return Ok(());
        }
        if self.phase != Phase::Workload {
            // Its clock set right, the operator waits out the store's lead (see `clocks`).
            let wait_ms = self.wait_to_start_ms(i)?;
            if wait_ms > 0 {
                self.push(wait_ms, Event::Restart { station: i });
                return Ok(());
            }
        }
        let (now_ms, seed, peers) = (self.start_clock(i)?, self.dice.seed(), self.peers(i));
        let station = &mut self.stations[i];
        if let Some((_, until_ms)) = station.down.last_mut()
            && *until_ms == u64::MAX
        {
            *until_ms = now_ms;
        }
        // A clean stop across the check of a peer's test: the watch skips that check.
        if station
            .stopped_check_ms
            .take()
            .is_some_and(|check_ms| check_ms <= now_ms)
        {
            self.report.clean_stops_across_tests += 1;
        }
        let station = &mut self.stations[i];
        station
            .store
            .check()
            .map_err(|e| format!("{}'s store fails its check after a crash: {e}", NAMES[i]))?;
        let loaded = load(
            &station.store,
            station.identity.clone(),
            &station.config,
            seed,
        )
        .map(|loaded| sim_settings(loaded, self.config.intake_tight))
        .map_err(|e| format!("{} cannot load from its store: {e}", NAMES[i]))?;
        let mut core = Core::new(now_ms, loaded, Mode::Daemon)
            .map_err(|e| format!("{} cannot restart: {e}", NAMES[i]))?;
        // Running: a crash from here on is not a clean stop (the daemon's start clears it).
        self.stations[i]
            .store
            .set_stopped(None)
            .map_err(|e| format!("{}'s store refused the start's record: {e}", NAMES[i]))?;
        inject_faults(&self.config, &mut core);
        for j in peers {
            let head = core
                .endpoint()
                .link(&self.id(j))
                .map_or(0, |link| link.in_head());
            self.stations[i]
                .links
                .get_mut(&j)
                .expect("a link")
                .delivered_head = head;
        }
        self.stations[i].core = Some(core);
        self.accept_due(i);
        self.announce_channels(i);
        self.plan_crash(i);
        self.after_input(i)
    }
}
