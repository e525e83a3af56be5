//! Retry delays shared by the transports: doubling from a minimum up to a maximum, each with
//! up to a quarter added at random so stations that fail together do not retry in lockstep.

use std::time::Duration;

/// Delays before retrying.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// Delays from `min` doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max: max.max(min),
        }
    }

    /// After a success: the next failure waits the minimum again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }

    /// The delay before the next retry (at least `floor`, at most the maximum plus its share of
    /// jitter); the one after it doubles.
    pub fn take(&mut self, floor: Duration) -> Duration {
        let delay = self.next.max(floor).min(self.max);
        self.next = (self.next * 2).min(self.max);
        let mut noise = [0u8; 2];
        getrandom::fill(&mut noise).expect("the operating system's random source is available");
        delay + delay.mul_f64(f64::from(u16::from_le_bytes(noise)) / f64::from(u16::MAX) / 4.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_with_at_most_a_quarter_more() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(100), ms(1_000));
        for base in [100, 200, 400, 800, 1_000, 1_000] {
            let delay = backoff.take(Duration::ZERO);
            assert!(
                delay >= ms(base) && delay <= ms(base + base / 4),
                "{delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.take(Duration::ZERO) <= ms(125));
        // A floor asked for (a relay's retry-after) is honoured up to the maximum only.
        assert!(backoff.take(ms(600)) >= ms(600));
        assert!(backoff.take(Duration::from_secs(3600)) <= ms(1_250));
    }
}
