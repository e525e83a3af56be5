//! Warnings about what others send are logged at most once per kind per interval, the others
//! counted: junk from a peer, a stranger or a flood must not flood the log. The count goes
//! out with the next line of that kind or, if none comes, with [`LogLimit::flush`] as a
//! summary once the interval has passed.
//!
//! Free of I/O: time is passed in (milliseconds of a clock that never goes back, e.g. a
//! simulated one), or read from the monotonic clock with the `_now` calls; the caller logs.

use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
struct KindState {
    /// When the last line of this kind was logged.
    logged_ms: u64,
    /// Warnings counted but not logged since.
    suppressed: u64,
}

/// At most one line per kind of warning (`K`, a closed set or a fixed text) per interval.
#[derive(Debug)]
pub struct LogLimit<K> {
    interval_ms: u64,
    /// The clock of the `_now` calls.
    started: Instant,
    /// One entry per kind ever seen: bounded by the kinds.
    kinds: BTreeMap<K, KindState>,
}

impl<K: Ord + Copy> LogLimit<K> {
    /// A limit of one line per kind every `interval_ms` milliseconds.
    pub fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            started: Instant::now(),
            kinds: BTreeMap::new(),
        }
    }

    /// Whether to log a warning of `kind` at `now_ms`, and if so how many of its kind were
    /// counted but not logged since the last line.
    pub fn admit(&mut self, now_ms: u64, kind: K) -> Option<u64> {
        let interval_ms = self.interval_ms;
        match self.kinds.get_mut(&kind) {
            Some(state) if now_ms < state.logged_ms.saturating_add(interval_ms) => {
                state.suppressed = state.suppressed.saturating_add(1);
                None
            }
            Some(state) => {
                state.logged_ms = now_ms;
                Some(std::mem::take(&mut state.suppressed))
            }
            None => {
                let state = KindState {
                    logged_ms: now_ms,
                    suppressed: 0,
                };
                self.kinds.insert(kind, state);
                Some(0)
            }
        }
    }

    /// The kinds whose last line is at least an interval old and that have counted warnings
    /// since, with their counts: one summary line each is due. Counts as a line logged now.
    pub fn flush(&mut self, now_ms: u64) -> Vec<(K, u64)> {
        let interval_ms = self.interval_ms;
        self.kinds
            .iter_mut()
            .filter(|(_, state)| {
                state.suppressed > 0 && now_ms >= state.logged_ms.saturating_add(interval_ms)
            })
            .map(|(kind, state)| {
                state.logged_ms = now_ms;
                (*kind, std::mem::take(&mut state.suppressed))
            })
            .collect()
    }

    /// Milliseconds of the monotonic clock since this limit was made.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// [`Self::admit`] on the monotonic clock.
    pub fn admit_now(&mut self, kind: K) -> Option<u64> {
        let now_ms = self.now_ms();
        self.admit(now_ms, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL_MS: u64 = 10_000;

    /// One step: a warning at a time and the verdict expected, or a flush and what it yields.
    enum Step {
        Admit(&'static str, u64, Option<u64>),
        Flush(u64, Vec<(&'static str, u64)>),
    }

    fn check(steps: Vec<Step>) {
        let mut limit = LogLimit::new(INTERVAL_MS);
        for (index, step) in steps.into_iter().enumerate() {
            match step {
                Step::Admit(kind, now_ms, expect) => {
                    assert_eq!(limit.admit(now_ms, kind), expect, "step {index}");
                }
                Step::Flush(now_ms, expect) => {
                    assert_eq!(limit.flush(now_ms), expect, "step {index}");
                }
            }
        }
    }

    use Step::{Admit, Flush};

    #[test]
    fn one_line_per_kind_per_interval_and_the_rest_counted() {
        let mut steps = vec![Admit("a", 1_000, Some(0))];
        // A flood within the interval: counted, not logged.
        for n in 0..1_000 {
            steps.push(Admit("a", 1_000 + n * 9, None));
        }
        steps.extend([
            // One millisecond before the interval ends, still counted.
            Admit("a", 1_000 + INTERVAL_MS - 1, None),
            // Exactly at its end, logged with the count.
            Admit("a", 1_000 + INTERVAL_MS, Some(1_001)),
            Admit("a", 1_000 + INTERVAL_MS + 1, None),
        ]);
        check(steps);
    }

    #[test]
    fn kinds_have_their_own_budgets() {
        check(vec![
            Admit("a", 0, Some(0)),
            Admit("b", 1, Some(0)),
            Admit("a", 2, None),
            Admit("b", 3, None),
            Admit("b", 4, None),
            Admit("c", 5, Some(0)),
        ]);
    }

    #[test]
    fn a_flood_that_stops_is_summarised_once_the_interval_has_passed() {
        check(vec![
            Admit("a", 0, Some(0)),
            Admit("a", 1, None),
            Admit("a", 2, None),
            Admit("b", 5, Some(0)),
            // Before the interval has passed: nothing is due.
            Flush(INTERVAL_MS - 1, vec![]),
            // Then one summary for the kind that counted something, none for the other.
            Flush(INTERVAL_MS, vec![("a", 2)]),
            Flush(INTERVAL_MS * 5, vec![]),
            // The summary counts as a line: the next warning waits its interval.
            Admit("a", INTERVAL_MS + 1, None),
            Admit("a", INTERVAL_MS * 2, Some(1)),
        ]);
    }

    #[test]
    fn lines_per_interval_are_bounded_whatever_the_rate() {
        let mut limit = LogLimit::new(INTERVAL_MS);
        let (mut lines, mut counted) = (0, 0);
        // A million warnings over 100 s, and a flush every second.
        for n in 0..1_000_000u64 {
            let now_ms = n / 10;
            if let Some(suppressed) = limit.admit(now_ms, "a") {
                lines += 1;
                counted += suppressed + 1;
            }
            if now_ms % 1_000 == 0 {
                for (_, suppressed) in limit.flush(now_ms) {
                    lines += 1;
                    counted += suppressed;
                }
            }
        }
        for (_, suppressed) in limit.flush(u64::MAX) {
            lines += 1;
            counted += suppressed;
        }
        assert!(lines <= 100_000 / INTERVAL_MS + 2, "{lines} lines");
        assert_eq!(counted, 1_000_000, "every warning is counted in some line");
    }
}
