//! Warnings the relay rate-limits, so that junk from a misbehaving or unadmitted client cannot
//! flood the log: each kind logs at most one line per interval; the others are counted, and
//! the count is logged with the next line of that kind or, if none comes, by
//! [`WarningLimiter::flush`] as a summary line once the interval has passed.
//!
//! Free of I/O: time is passed in (milliseconds of a monotonic clock), the caller logs.

use std::collections::BTreeMap;

/// A kind of warning; each has its own budget of lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Warning {
    /// A request refused for its authentication (401).
    Unauthenticated,
    /// A request from a station not admitted or revoked (403).
    Forbidden,
    /// A request for no endpoint, or with the wrong method (404, 405).
    NoSuchEndpoint,
    /// A deposit refused for its recipient, as told to the depositor (404, 507).
    RecipientRefused,
    /// A request whose body, query or length was refused (400, 408, 413).
    Malformed,
    /// A deposit whose frames were refused (422).
    FramesRefused,
    /// A request over its station's rate or in-flight limit (429).
    RateLimited,
    /// A deposit that found no free slot (503).
    Busy,
    /// The relay failed (500).
    Internal,
    /// A deposit refused without telling the depositor (answered 202).
    DepositWithheld,
    /// A connection that never authenticated, closed to make room.
    ConnectionClosed,
    /// Accepting a connection failed.
    AcceptFailed,
}

/// What to do with one warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it, saying how many of its kind were not logged since the last line.
    Log {
        /// Warnings of this kind counted but not logged since the last line.
        suppressed: u64,
    },
    /// Do not log it; it is counted.
    Suppress,
}

#[derive(Clone, Copy, Debug)]
struct KindState {
    /// When the last line of this kind was logged.
    logged_ms: u64,
    /// Warnings counted but not logged since.
    suppressed: u64,
}

/// At most one line per kind of warning per interval.
#[derive(Debug)]
pub(crate) struct WarningLimiter {
    interval_ms: u64,
    /// One entry per kind ever seen: bounded by the kinds, a closed set.
    kinds: BTreeMap<Warning, KindState>,
}

impl WarningLimiter {
    /// A limiter allowing one line per kind per `interval_ms`.
    pub(crate) fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            kinds: BTreeMap::new(),
        }
    }

    /// Decides whether a warning of `kind` at `now_ms` is logged.
    pub(crate) fn record(&mut self, kind: Warning, now_ms: u64) -> Verdict {
        let interval_ms = self.interval_ms;
        match self.kinds.get_mut(&kind) {
            Some(state) if now_ms < state.logged_ms.saturating_add(interval_ms) => {
                state.suppressed = state.suppressed.saturating_add(1);
                Verdict::Suppress
            }
            Some(state) => {
                let suppressed = std::mem::take(&mut state.suppressed);
                state.logged_ms = now_ms;
                Verdict::Log { suppressed }
            }
            None => {
                let state = KindState {
                    logged_ms: now_ms,
                    suppressed: 0,
                };
                self.kinds.insert(kind, state);
                Verdict::Log { suppressed: 0 }
            }
        }
    }

    /// The kinds whose last line is at least an interval old and that have counted warnings
    /// since, with their counts: one summary line each is due. Counts as a line logged now.
    pub(crate) fn flush(&mut self, now_ms: u64) -> Vec<(Warning, u64)> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL_MS: u64 = 10_000;

    /// One step: a warning at a time and the verdict expected, or a flush and what it yields.
    enum Step {
        Record(Warning, u64, Verdict),
        Flush(u64, Vec<(Warning, u64)>),
    }

    fn check(steps: Vec<Step>) {
        let mut limiter = WarningLimiter::new(INTERVAL_MS);
        for (index, step) in steps.into_iter().enumerate() {
            match step {
                Step::Record(kind, now_ms, expect) => {
                    assert_eq!(limiter.record(kind, now_ms), expect, "step {index}");
                }
                Step::Flush(now_ms, expect) => {
                    assert_eq!(limiter.flush(now_ms), expect, "step {index}");
                }
            }
        }
    }

    use Step::{Flush, Record};
    use Verdict::{Log, Suppress};
    use Warning::{ConnectionClosed, Unauthenticated};

    #[test]
    fn one_line_per_kind_per_interval_and_the_rest_counted() {
        let mut steps = vec![Record(Unauthenticated, 1_000, Log { suppressed: 0 })];
        // A flood within the interval: counted, not logged.
        for n in 0..1_000 {
            steps.push(Record(Unauthenticated, 1_000 + n * 9, Suppress));
        }
        steps.extend([
            // One millisecond before the interval ends, still counted.
            Record(Unauthenticated, 1_000 + INTERVAL_MS - 1, Suppress),
            // Exactly at its end, logged with the count.
            Record(
                Unauthenticated,
                1_000 + INTERVAL_MS,
                Log { suppressed: 1_001 },
            ),
            Record(Unauthenticated, 1_000 + INTERVAL_MS + 1, Suppress),
        ]);
        check(steps);
    }

    #[test]
    fn kinds_have_their_own_budgets() {
        check(vec![
            Record(Unauthenticated, 0, Log { suppressed: 0 }),
            Record(ConnectionClosed, 1, Log { suppressed: 0 }),
            Record(Unauthenticated, 2, Suppress),
            Record(ConnectionClosed, 3, Suppress),
            Record(ConnectionClosed, 4, Suppress),
            Record(Warning::Forbidden, 5, Log { suppressed: 0 }),
        ]);
    }

    #[test]
    fn a_flood_that_stops_is_summarised_once_the_interval_has_passed() {
        check(vec![
            Record(Unauthenticated, 0, Log { suppressed: 0 }),
            Record(Unauthenticated, 1, Suppress),
            Record(Unauthenticated, 2, Suppress),
            Record(ConnectionClosed, 5, Log { suppressed: 0 }),
            // Before the interval has passed: nothing is due.
            Flush(INTERVAL_MS - 1, vec![]),
            // Then one summary for the kind that counted something, none for the other.
            Flush(INTERVAL_MS, vec![(Unauthenticated, 2)]),
            Flush(INTERVAL_MS * 5, vec![]),
            // The summary counts as a line: the next warning waits its interval.
            Record(Unauthenticated, INTERVAL_MS + 1, Suppress),
            Record(Unauthenticated, INTERVAL_MS * 2, Log { suppressed: 1 }),
        ]);
    }

    #[test]
    fn lines_per_interval_are_bounded_whatever_the_rate() {
        let mut limiter = WarningLimiter::new(INTERVAL_MS);
        let mut lines = 0;
        let mut counted = 0;
        // A million warnings over 100 s, and a flush every second.
        for n in 0..1_000_000u64 {
            let now_ms = n / 10;
            match limiter.record(Unauthenticated, now_ms) {
                Log { suppressed } => {
                    lines += 1;
                    counted += suppressed + 1;
                }
                Suppress => {}
            }
            if now_ms % 1_000 == 0 {
                for (_, suppressed) in limiter.flush(now_ms) {
                    lines += 1;
                    counted += suppressed;
                }
            }
        }
        for (_, suppressed) in limiter.flush(u64::MAX) {
            lines += 1;
            counted += suppressed;
        }
        assert!(lines <= 100_000 / INTERVAL_MS + 2, "{lines} lines");
        assert_eq!(counted, 1_000_000, "every warning is counted in some line");
    }
}
