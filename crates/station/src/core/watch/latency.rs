//! How long the peer takes with this station's messages: from `send` to the receipt that
//! covers a message, and to the peer's answer (understood or clarify) stored here, both by
//! this station's clock, per precedence, since the daemon started. Fixed buckets: the state
//! is the same size whatever the traffic.

use parley_proto::Precedence;
use serde::{Deserialize, Serialize};

/// Upper bounds of the latency buckets, in milliseconds: from a direct channel's round trip
/// to a courier's day. A last bucket holds what is above them all.
pub const LATENCY_BUCKET_BOUNDS_MS: [u64; 18] = [
    10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000,
    1_800_000, 3_600_000, 10_800_000, 21_600_000, 86_400_000,
];

/// Which moment a latency ends at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The receipt that covers the message.
    Receipt,
    /// The peer's answer, understood or clarify.
    Answer,
}

/// Observations in fixed buckets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Observations in each bucket, not cumulative: one per bound of
    /// [`Latencies::bounds_ms`], then the one above them all.
    pub buckets: Vec<u64>,
    /// Sum of the observations, ms.
    pub sum_ms: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: vec![0; LATENCY_BUCKET_BOUNDS_MS.len() + 1],
            sum_ms: 0,
        }
    }

    fn observe(&mut self, ms: u64) {
        let bucket = LATENCY_BUCKET_BOUNDS_MS.partition_point(|bound| *bound < ms);
        self.buckets[bucket] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }

    /// Observations.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// The latencies of one precedence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedenceLatency {
    /// The precedence.
    pub precedence: Precedence,
    /// From `send` to the covering receipt.
    pub receipt: Histogram,
    /// From `send` to the peer's answer.
    pub understood: Histogram,
}

/// The latencies of this station's messages since the daemon started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latencies {
    /// Upper bounds of the buckets, ms.
    pub bounds_ms: Vec<u64>,
    /// One per precedence, highest first.
    pub precedences: Vec<PrecedenceLatency>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            bounds_ms: LATENCY_BUCKET_BOUNDS_MS.to_vec(),
            precedences: Precedence::ALL
                .into_iter()
                .map(|precedence| PrecedenceLatency {
                    precedence,
                    receipt: Histogram::new(),
                    understood: Histogram::new(),
                })
                .collect(),
        }
    }
}

impl Latencies {
    /// A message of `precedence` written at `sent_ms` reached `until` at `at_ms`.
    pub(crate) fn observe(
        &mut self,
        precedence: Precedence,
        until: Until,
        sent_ms: u64,
        at_ms: u64,
    ) {
        let of = self
            .precedences
            .iter_mut()
            .find(|latency| latency.precedence == precedence)
            .expect("every precedence has its histograms");
        let histogram = match until {
            Until::Receipt => &mut of.receipt,
            Until::Answer => &mut of.understood,
        };
        histogram.observe(at_ms.saturating_sub(sent_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_fall_in_the_bucket_of_their_upper_bound() {
        let check = |ms: u64, bucket: usize| {
            let mut latencies = Latencies::default();
            latencies.observe(Precedence::Flash, Until::Receipt, 1_000, 1_000 + ms);
            let flash = &latencies.precedences[0];
            assert_eq!(flash.precedence, Precedence::Flash);
            assert_eq!(flash.receipt.buckets[bucket], 1, "{ms} ms");
            assert_eq!((flash.receipt.count(), flash.receipt.sum_ms), (1, ms));
            assert_eq!(flash.understood.count(), 0);
        };
        check(0, 0);
        check(10, 0);
        check(11, 1);
        check(86_400_000, LATENCY_BUCKET_BOUNDS_MS.len() - 1);
        check(86_400_001, LATENCY_BUCKET_BOUNDS_MS.len());
        let mut latencies = Latencies::default();
        // A clock that went back (it cannot, but) counts as no time at all.
        latencies.observe(Precedence::Routine, Until::Answer, 5_000, 4_000);
        let routine = &latencies.precedences[3].understood;
        assert_eq!((routine.buckets[0], routine.sum_ms), (1, 0));
    }
}
