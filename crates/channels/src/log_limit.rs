//! Warnings about what others send are logged at most once per reason per interval, with how
//! many were held back: junk from a peer or a stranger must not flood the log.

use std::collections::BTreeMap;
use std::time::Instant;

/// Rate limit of warnings, one per reason per interval.
#[derive(Debug)]
pub struct LogLimit {
    interval_ms: u64,
    /// The clock of [`Self::admit_now`].
    started: Instant,
    /// Per reason: when it was last logged (milliseconds, never 0) and how many were held
    /// back since.
    last: BTreeMap<&'static str, (u64, u64)>,
}

impl LogLimit {
    /// A limit of one line per reason every `interval_ms` milliseconds.
    pub fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            started: Instant::now(),
            last: BTreeMap::new(),
        }
    }

    /// [`Self::admit`] on the monotonic clock.
    pub fn admit_now(&mut self, reason: &'static str) -> Option<u64> {
        let now_ms = self.started.elapsed().as_millis() as u64;
        self.admit(now_ms, reason)
    }

    /// Whether to log `reason` now (`now_ms` on any clock that does not go back), and if so
    /// how many were held back since the last line.
    pub fn admit(&mut self, now_ms: u64, reason: &'static str) -> Option<u64> {
        let (last_ms, held) = self.last.entry(reason).or_insert((0, 0));
        if *last_ms != 0 && now_ms < *last_ms + self.interval_ms {
            *held += 1;
            return None;
        }
        *last_ms = now_ms.max(1);
        Some(std::mem::take(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_with_the_count_held_back() {
        let mut limit = LogLimit::new(1_000);
        assert_eq!(limit.admit(0, "a"), Some(0));
        assert_eq!(limit.admit(999, "a"), None);
        assert_eq!(limit.admit(500, "b"), Some(0), "reasons are limited apart");
        assert_eq!(limit.admit(999, "a"), None);
        assert_eq!(limit.admit(1_001, "a"), Some(2));
        assert_eq!(limit.admit(1_002, "a"), None);
    }
}
