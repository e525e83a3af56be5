//! The station's clock: UTC milliseconds that never go backwards.
//!
//! The protocol takes one `now_ms` for both entry times and timers. Anchoring the wall clock
//! once and advancing it by the monotonic clock gives a value that is UTC at start and immune
//! to wall-clock steps while the station runs.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Monotonic UTC milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor_utc_ms: u64,
    anchor: Instant,
}

impl Clock {
    /// Anchors the clock at the current wall-clock time.
    pub fn new() -> Self {
        Self {
            anchor_utc_ms: utc_now_ms(),
            anchor: Instant::now(),
        }
    }

    /// Now, in UTC milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.anchor_utc_ms + self.anchor.elapsed().as_millis() as u64
    }

    /// The instant at which `now_ms()` reaches `ms`.
    pub fn instant_at(&self, ms: u64) -> Instant {
        self.anchor + std::time::Duration::from_millis(ms.saturating_sub(self.anchor_utc_ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The wall clock in UTC milliseconds.
pub fn utc_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
