//! The stations' clocks. A station's core reads time as the daemon's `Clock` gives it: the
//! wall clock at start, but never earlier than the latest time in the store, then advanced
//! steadily. So a station's clock is the simulated time plus a skew fixed at each start.
//!
//! Clock faults: a station's host reboots with its wall clock wrong — within half the limit
//! an entry may be ahead of its receiver's clock (`ENTRY_FUTURE_SKEW_MS_MAX`), or beyond the
//! limit, forward or back. A clock set back starts no earlier than the store's latest time, so
//! it mostly starts only seconds behind (as a daemon's would); one set forward starts ahead. An
//! envelope may be refused for `clock_skew`, and that alarm raised, only while an entry its
//! sender wrote, not yet accepted, is dated more than the limit ahead of the receiver's clock. When the network
//! heals, each operator sets the wall clock right and restarts a station whose clock is off by
//! more than half the limit, waiting until its store's times are no more than that ahead (the
//! daemon's clock never starts before them).

use parley_proto::limits::ENTRY_FUTURE_SKEW_MS_MAX;

use super::*;

/// Time between two reboots of a station with a wrong clock, in milliseconds (least, most).
const CLOCK_JUMP_GAP_MS: (u64, u64) = (15_000, 90_000);
/// Chance that a wrong wall clock is off by more than the limit, per mille.
const CLOCK_BEYOND_PER_MILLE: u64 = 500;
/// How far a wall clock is off beyond the limit, in milliseconds past it (least, most).
const CLOCK_BEYOND_MS: (u64, u64) = (1, ENTRY_FUTURE_SKEW_MS_MAX / 2);
/// How far a wall clock is off within the limit, at most, in milliseconds: half of it, so that
/// two stations' clocks both off within it never differ by more than it.
const CLOCK_WITHIN_MS_MAX: u64 = ENTRY_FUTURE_SKEW_MS_MAX / 2;

/// The skew limit as a signed number of milliseconds.
const LIMIT_MS: i64 = ENTRY_FUTURE_SKEW_MS_MAX as i64;

impl World {
    /// Station `i`'s clock: what its core reads now.
    pub(crate) fn clock(&self, i: usize) -> u64 {
        self.now_ms.saturating_add_signed(self.stations[i].skew_ms)
    }

    /// Anchors station `i`'s clock as the daemon does at start: the wall clock, but never
    /// earlier than the latest time in its store. Returns the station's time.
    pub(super) fn start_clock(&mut self, i: usize) -> Outcome<u64> {
        let now_ms = self.now_ms;
        let station = &mut self.stations[i];
        let latest = station.store.latest_time_ms().map_err(|e| e.to_string())?;
        let anchor = now_ms
            .saturating_add_signed(station.wall_offset_ms)
            .max(latest);
        let skew_ms = anchor as i64 - now_ms as i64;
        station.clock_went_back |= skew_ms < station.skew_ms;
        station.skew_ms = skew_ms;
        if station.skew_ms.unsigned_abs() > ENTRY_FUTURE_SKEW_MS_MAX {
            self.report.clock_starts_beyond += 1;
        }
        Ok(anchor)
    }

    /// How long station `i`'s operator, who has set its wall clock right, waits before
    /// starting it: until its store's latest time is no more than [`CLOCK_WITHIN_MS_MAX`]
    /// ahead, so that its clock starts within half the limit of the right time.
    pub(super) fn wait_to_start_ms(&self, i: usize) -> Outcome<u64> {
        let station = &self.stations[i];
        let latest = station.store.latest_time_ms().map_err(|e| e.to_string())?;
        let wall = self.now_ms.saturating_add_signed(station.wall_offset_ms);
        Ok(latest.saturating_sub(wall + CLOCK_WITHIN_MS_MAX))
    }

    /// Whether an entry station `from` wrote to station `to`, and `to` has not accepted, is
    /// dated more than the limit ahead of `to`'s clock: only then may `to` refuse an envelope
    /// of `from`'s for `clock_skew` (and raise the alarm).
    pub(super) fn clock_ahead(&self, from: usize, to: usize) -> bool {
        let held = self.stations[to]
            .core
            .as_ref()
            .and_then(|core| core.endpoint().link(&self.id(from)))
            .map_or(0, |link| link.in_head());
        let written = &self.stations[from].links[&to].written_ms;
        let latest = written.range(held + 1..).map(|(_, time_ms)| *time_ms).max();
        latest.is_some_and(|time_ms| time_ms > self.clock(to) + ENTRY_FUTURE_SKEW_MS_MAX)
    }

    /// Station `i` refused (`skewed`) envelopes of `from`'s for clock skew, or not; allowed
    /// only when, as they came, `from` had an entry dated more than the limit ahead of `i`'s
    /// clock (`clock_ahead`). An allowed refusal lets the `clock_skew` alarm it raises through.
    pub(super) fn clock_skew_refused(
        &mut self,
        i: usize,
        from: usize,
        skewed: bool,
        clock_ahead: bool,
    ) -> Outcome {
        match (skewed, clock_ahead) {
            (false, _) => Ok(()),
            (true, true) => {
                *self.stations[i].skew_refused.entry(from).or_default() += 1;
                Ok(())
            }
            (true, false) => Err(format!(
                "{} refused an envelope of {} for clock skew, though no entry of {}'s was \
                 dated more than the limit ahead of its clock",
                NAMES[i], NAMES[from], NAMES[from]
            )),
        }
    }

    /// Schedules station `i`'s next reboot with a wrong clock, when the run has clock faults.
    pub(super) fn plan_clock_jump(&mut self, i: usize) {
        if self.config.clock_jumps && self.phase == Phase::Workload {
            let gap = self.dice.between(CLOCK_JUMP_GAP_MS);
            let jump = Event::Clock {
                station: i,
                right: false,
            };
            self.push(gap, jump);
        }
    }

    /// Station `i`'s host reboots and comes back with its wall clock wrong: within the limit,
    /// or beyond it forward or back.
    pub(super) fn clock_jump(&mut self, i: usize) -> Outcome {
        if self.phase != Phase::Workload {
            return Ok(());
        }
        self.plan_clock_jump(i);
        if self.stations[i].core.is_none() {
            return Ok(());
        }
        let offset = if self.dice.chance(CLOCK_BEYOND_PER_MILLE) {
            LIMIT_MS + self.dice.between(CLOCK_BEYOND_MS) as i64
        } else {
            self.dice.between((0, CLOCK_WITHIN_MS_MAX)) as i64
        };
        let back = self.dice.chance(500);
        self.stations[i].wall_offset_ms = if back { -offset } else { offset };
        self.report.clock_jumps += 1;
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.power_off(i, downtime_ms)
    }

    /// The network heals: station `i`'s operator sets its wall clock right, and restarts the
    /// station if its clock is off by more than half the limit (the restart waits, see
    /// [`World::wait_to_start_ms`]). Every two clocks then differ by no more than the limit.
    pub(super) fn set_clock_right(&mut self, i: usize) -> Outcome {
        let station = &mut self.stations[i];
        station.wall_offset_ms = 0;
        if station.skew_ms.unsigned_abs() <= CLOCK_WITHIN_MS_MAX || station.core.is_none() {
            return Ok(());
        }
        let downtime_ms = self.dice.between(DOWNTIME_MS);
        self.power_off(i, downtime_ms)
    }
}
