//! Refusals from the network are logged at most once per kind per interval, with how many were
//! held back: junk from a peer or a stranger must not flood the log.

use std::collections::BTreeMap;

/// Once per this long, at most, a kind of refusal is logged, in milliseconds; the ones in
/// between are counted and summed up in the next line.
pub const REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;

/// Rate limit of refusal warnings, so junk from the network cannot flood the log.
#[derive(Default)]
pub(super) struct RefusalLog {
    last: BTreeMap<&'static str, (u64, u64)>,
}

impl RefusalLog {
    /// Whether to log a refusal of `reason` now, and how many were held back since the last.
    pub(super) fn admit(&mut self, now_ms: u64, reason: &'static str) -> Option<u64> {
        let (last_ms, held) = self.last.entry(reason).or_insert((0, 0));
        if *last_ms != 0 && now_ms < *last_ms + REFUSAL_LOG_INTERVAL_MS {
            *held += 1;
            return None;
        }
        *last_ms = now_ms.max(1);
        Some(std::mem::take(held))
    }
}
