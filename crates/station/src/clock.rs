//! The station's clock: UTC milliseconds that never go backwards.
//!
//! The protocol takes one `now_ms` for both entry times and timers. The clock is anchored once
//! at the wall clock, but never earlier than the latest time the store holds, and advances by
//! the monotonic clock: UTC at start, immune to wall-clock steps while the station runs, and a
//! station's log never goes back in time across restarts even if the wall clock did. The
//! daemon and a CLI command working on a stopped station follow the same rule.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic UTC milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor_utc_ms: u64,
    anchor: Instant,
}

impl Clock {
    /// Anchors the clock at the current wall-clock time, or at `floor_ms` if that is later.
    pub fn starting_after(floor_ms: u64) -> Self {
        Self {
            anchor_utc_ms: utc_now_ms().max(floor_ms),
            anchor: Instant::now(),
        }
    }

    /// Now, in UTC milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.anchor_utc_ms + self.anchor.elapsed().as_millis() as u64
    }
}

/// The wall clock in UTC milliseconds.
pub fn utc_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_starts_no_earlier_than_its_floor_and_never_goes_back() {
        let wall = utc_now_ms();
        let behind = Clock::starting_after(0);
        assert!(behind.now_ms() >= wall);
        let floor = wall + 3_600_000;
        let ahead = Clock::starting_after(floor);
        let first = ahead.now_ms();
        assert!(first >= floor && first < floor + 60_000);
        assert!(ahead.now_ms() >= first);
    }
}
