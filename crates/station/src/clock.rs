//! The station's clock: UTC milliseconds that never go backwards.
//!
//! The protocol takes one `now_ms` for both entry times and timers. The clock is anchored once
//! at the wall clock, but never earlier than the latest time the store holds, and advances by
//! the time since boot: UTC at start, immune to wall-clock steps while the station runs, and a
//! station's log never goes back in time across restarts even if the wall clock did. The
//! daemon and a CLI command working on a stopped station follow the same rule.
//!
//! Steps of the wall clock are not followed while the station runs: a wrong step (a mistyped
//! `date`, a bad time server) would date the log in the wrong time for good, and make every
//! deadline it passes due at once as if watched. [`Clock::against_wall`] tells the daemon
//! when the two differ by more than [`CLOCK_WALL_WARN_MS_MIN`], and it warns: a station started
//! before its host's time was set (no battery-backed clock) refuses its peers' entries as from
//! the future until restarted; one whose wall clock was set back dates entries its peers
//! refuse. A restart takes the wall clock up as a clean stop does (the watch knows the time
//! between was not watched).
//!
//! Time since boot (Linux's `CLOCK_BOOTTIME`) counts the time the host was suspended, where the
//! monotonic clock behind `Instant` does not: a laptop station suspended for two hours would
//! otherwise run two hours slow once it woke, refuse every entry of its peers as from the
//! future (`clock_skew`), and date its own entries two hours back, until restarted.

use std::time::{SystemTime, UNIX_EPOCH};

/// The station's clock and the wall clock differing by more than this is worth a warning:
/// more than the drift between the wall clock and the time since boot.
pub const CLOCK_WALL_WARN_MS_MIN: u64 = 60_000;

/// How the wall clock compares with the station's clock ([`Clock::against_wall`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wall {
    /// Within [`CLOCK_WALL_WARN_MS_MIN`] either way.
    InStep,
    /// The wall clock is ahead of the station's clock by `by_ms` (set forward, or right after
    /// the station started behind it).
    Ahead {
        /// How far ahead.
        by_ms: u64,
    },
    /// The wall clock is behind the station's clock by `by_ms` (set back, or behind the times
    /// the store held at start).
    Behind {
        /// How far behind.
        by_ms: u64,
    },
}

/// Monotonic UTC milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor_utc_ms: u64,
    anchor_since_boot_ms: u64,
    /// Milliseconds since boot, suspended time included ([`since_boot_ms`]; another source
    /// in tests).
    since_boot: fn() -> u64,
    /// UTC milliseconds of the wall clock ([`utc_now_ms`]; another source in tests).
    wall: fn() -> u64,
}

impl Clock {
    /// Anchors the clock at the current wall-clock time, or at `floor_ms` if that is later.
    pub fn starting_after(floor_ms: u64) -> Self {
        Self::with_sources(floor_ms, since_boot_ms, utc_now_ms)
    }

    fn with_sources(floor_ms: u64, since_boot: fn() -> u64, wall: fn() -> u64) -> Self {
        Self {
            anchor_utc_ms: wall().max(floor_ms),
            anchor_since_boot_ms: since_boot(),
            since_boot,
            wall,
        }
    }

    /// Now, in UTC milliseconds.
    pub fn now_ms(&self) -> u64 {
        let elapsed = (self.since_boot)().saturating_sub(self.anchor_since_boot_ms);
        self.anchor_utc_ms.saturating_add(elapsed)
    }

    /// How the wall clock compares with this clock now.
    pub fn against_wall(&self) -> Wall {
        let (now, wall) = (self.now_ms(), (self.wall)());
        if wall > now.saturating_add(CLOCK_WALL_WARN_MS_MIN) {
            Wall::Ahead { by_ms: wall - now }
        } else if now > wall.saturating_add(CLOCK_WALL_WARN_MS_MIN) {
            Wall::Behind { by_ms: now - wall }
        } else {
            Wall::InStep
        }
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
        let clock = Clock::with_sources(0, source, utc_now_ms);
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

    /// The wall clock stepped either way while the station runs is not followed, and is told
    /// once it differs by more than [`CLOCK_WALL_WARN_MS_MIN`].
    #[test]
    fn the_clock_does_not_follow_wall_clock_steps_but_tells_them() {
        static BOOT_MS: AtomicU64 = AtomicU64::new(1_000);
        static WALL_MS: AtomicU64 = AtomicU64::new(1_700_000_000_000);
        let boot = || BOOT_MS.load(Ordering::Relaxed);
        let wall = || WALL_MS.load(Ordering::Relaxed);
        let start = WALL_MS.load(Ordering::Relaxed);
        let clock = Clock::with_sources(0, boot, wall);
        assert_eq!(clock.against_wall(), Wall::InStep);
        // Both advance together: in step.
        BOOT_MS.fetch_add(5_000, Ordering::Relaxed);
        WALL_MS.fetch_add(5_000, Ordering::Relaxed);
        assert_eq!(clock.now_ms(), start + 5_000);
        assert_eq!(clock.against_wall(), Wall::InStep);
        // Set forward: exactly the bound is in step, one more is told; not followed.
        WALL_MS.fetch_add(CLOCK_WALL_WARN_MS_MIN, Ordering::Relaxed);
        assert_eq!(clock.against_wall(), Wall::InStep);
        WALL_MS.fetch_add(1, Ordering::Relaxed);
        let by_ms = CLOCK_WALL_WARN_MS_MIN + 1;
        assert_eq!(clock.against_wall(), Wall::Ahead { by_ms });
        assert_eq!(clock.now_ms(), start + 5_000);
        // Set back below it: the same both sides.
        WALL_MS.fetch_sub(2 * by_ms - 1, Ordering::Relaxed);
        assert_eq!(clock.against_wall(), Wall::InStep);
        WALL_MS.fetch_sub(1, Ordering::Relaxed);
        assert_eq!(clock.against_wall(), Wall::Behind { by_ms });
        assert_eq!(clock.now_ms(), start + 5_000);
    }
}
