//! The station's clock: UTC milliseconds that never go backwards.
//!
//! The protocol takes one `now_ms` for both entry times and timers. The clock is anchored once
//! at the wall clock, but never earlier than the latest time the store holds, and advances by
//! the time since boot: UTC at start, immune to wall-clock steps while the station runs, and a
//! station's log never goes back in time across restarts even if the wall clock did. The
//! daemon and a CLI command working on a stopped station follow the same rule.
//!
//! Time since boot (Linux's `CLOCK_BOOTTIME`) counts the time the host was suspended, where the
//! monotonic clock behind `Instant` does not: a laptop station suspended for two hours would
//! otherwise run two hours slow once it woke, refuse every entry of its peers as from the
//! future (`clock_skew`), and date its own entries two hours back, until restarted.

use std::time::{SystemTime, UNIX_EPOCH};

/// Monotonic UTC milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor_utc_ms: u64,
    anchor_since_boot_ms: u64,
    /// Milliseconds since boot, suspended time included ([`since_boot_ms`]; another source
    /// in tests).
    since_boot: fn() -> u64,
}

impl Clock {
    /// Anchors the clock at the current wall-clock time, or at `floor_ms` if that is later.
    pub fn starting_after(floor_ms: u64) -> Self {
        Self::with_source(floor_ms, since_boot_ms)
    }

    fn with_source(floor_ms: u64, since_boot: fn() -> u64) -> Self {
        Self {
            anchor_utc_ms: utc_now_ms().max(floor_ms),
            anchor_since_boot_ms: since_boot(),
            since_boot,
        }
    }

    /// Now, in UTC milliseconds.
    pub fn now_ms(&self) -> u64 {
        let elapsed = (self.since_boot)().saturating_sub(self.anchor_since_boot_ms);
        self.anchor_utc_ms.saturating_add(elapsed)
    }
}

/// Milliseconds since the host booted, the time it was suspended included (Linux's
/// `CLOCK_BOOTTIME`, which never goes back; elsewhere the monotonic clock, which on macOS
/// counts sleep too).
pub fn since_boot_ms() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = rustix::time::ClockId::Boottime;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = rustix::time::ClockId::Monotonic;
    let now = rustix::time::clock_gettime(clock);
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let millis = u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000;
    seconds.saturating_mul(1000).saturating_add(millis)
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
    use std::sync::atomic::{AtomicU64, Ordering};

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

    /// The clock advances by the time since boot, which counts a suspended host's sleep: a
    /// source standing for it advances two hours at once, and so does the clock.
    #[test]
    fn the_clock_keeps_up_with_the_time_the_host_was_suspended() {
        static SINCE_BOOT_MS: AtomicU64 = AtomicU64::new(5_000);
        let source = || SINCE_BOOT_MS.load(Ordering::Relaxed);
        let clock = Clock::with_source(0, source);
        let before = clock.now_ms();
        SINCE_BOOT_MS.fetch_add(2 * 3_600_000, Ordering::Relaxed);
        assert_eq!(clock.now_ms() - before, 2 * 3_600_000);
        // And the real source: time since boot, in step with the wall clock while awake.
        let (boot, wall) = (since_boot_ms(), utc_now_ms());
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (boot_later, wall_later) = (since_boot_ms(), utc_now_ms());
        assert!(boot_later - boot >= 50, "{boot} then {boot_later}");
        assert!((boot_later - boot).abs_diff(wall_later - wall) < 1_000);
    }
}
