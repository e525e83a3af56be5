//! How much of a peer's log this station takes in: a token bucket of bytes per link, so a
//! paired peer, hostile or broken, cannot fill the disk that every link shares. An entry over
//! the allowance is refused before it is opened, not stored and not receipted: it waits with
//! its author, who sends it again, so nothing accepted is lost and nothing is dropped.

use crate::limits::ENVELOPE_SIZE_MAX_BYTES;

/// A day, in milliseconds: the period of the daily rate.
const DAY_MS: u64 = 24 * 3_600_000;

/// What one peer may make this station store: a burst, refilled at a daily rate. Each entry
/// is charged as sealed (its bytes and [`crate::seal::SEAL_TAG_BYTES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntakeLimit {
    /// Most bytes of sealed entries taken at once, with the bucket full. At least
    /// [`ENVELOPE_SIZE_MAX_BYTES`], so every entry can be taken in the end.
    pub burst_bytes: u64,
    /// Bytes the allowance grows by in a day, up to `burst_bytes`.
    pub per_day_bytes: u64,
}

impl Default for IntakeLimit {
    fn default() -> Self {
        Self {
            burst_bytes: crate::limits::INTAKE_BURST_BYTES_DEFAULT,
            per_day_bytes: crate::limits::INTAKE_PER_DAY_BYTES_DEFAULT,
        }
    }
}

impl IntakeLimit {
    /// What an entry of `len` signed bytes is charged: its bytes as sealed, with the AEAD's
    /// tag.
    pub fn charge_of(len: usize) -> usize {
        len.saturating_add(crate::seal::SEAL_TAG_BYTES)
    }

    /// Panics on a limit that could never take the largest envelope, or never refill.
    fn assert_valid(&self) {
        assert!(
            self.burst_bytes >= ENVELOPE_SIZE_MAX_BYTES as u64,
            "an intake burst must hold the largest envelope"
        );
        assert!(self.per_day_bytes > 0, "an intake must refill");
    }

    /// How long an empty bucket takes to fill, in milliseconds: how far back the bytes
    /// already received count against the allowance when a link is loaded.
    pub fn refill_ms(&self) -> u64 {
        let ms = u128::from(self.burst_bytes) * u128::from(DAY_MS) / u128::from(self.per_day_bytes);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

/// One link's bucket. Amounts are kept in bytes × [`DAY_MS`], so a refill of
/// `per_day_bytes` a day is exactly `per_day_bytes` units a millisecond: nothing is rounded.
#[derive(Clone, Debug)]
pub(super) struct Intake {
    limit: IntakeLimit,
    level: u128,
    at_ms: u64,
}

impl Intake {
    /// A full bucket.
    pub(super) fn new(limit: IntakeLimit) -> Self {
        limit.assert_valid();
        Self {
            limit,
            level: scaled(limit.burst_bytes),
            at_ms: 0,
        }
    }

    /// The limit in force.
    pub(super) fn limit(&self) -> IntakeLimit {
        self.limit
    }

    /// Changes the limit, keeping what was spent (up to the new burst).
    pub(super) fn set_limit(&mut self, limit: IntakeLimit) {
        limit.assert_valid();
        let spent = scaled(self.limit.burst_bytes).saturating_sub(self.level);
        self.limit = limit;
        self.level = scaled(limit.burst_bytes).saturating_sub(spent);
    }

    /// The level at `now_ms`, refilled since it was last changed.
    fn level_at(&self, now_ms: u64) -> u128 {
        let elapsed = now_ms.saturating_sub(self.at_ms);
        let gained = u128::from(elapsed) * u128::from(self.limit.per_day_bytes);
        (self.level + gained).min(scaled(self.limit.burst_bytes))
    }

    fn refill(&mut self, now_ms: u64) {
        self.level = self.level_at(now_ms);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Bytes that may be taken at `now_ms`.
    pub(super) fn available_bytes(&self, now_ms: u64) -> u64 {
        u64::try_from(self.level_at(now_ms) / u128::from(DAY_MS)).unwrap_or(u64::MAX)
    }

    /// Whether `bytes` may be taken now; if not, in how many milliseconds they may.
    pub(super) fn check(&mut self, now_ms: u64, bytes: usize) -> Result<(), u64> {
        self.refill(now_ms);
        if self.fitted(bytes) {
            return Ok(());
        }
        Err(self.holds_at_ms(bytes as u64) - self.at_ms)
    }

    /// When the allowance will hold `bytes`, UTC ms (a time past when it already does).
    pub(super) fn holds_at_ms(&self, bytes: u64) -> u64 {
        let short = scaled(bytes).saturating_sub(self.level);
        let wait = short.div_ceil(u128::from(self.limit.per_day_bytes));
        self.at_ms
            .saturating_add(u64::try_from(wait).unwrap_or(u64::MAX))
    }

    /// Whether `bytes` fit in the allowance as it stood when last changed, before any refill
    /// since: a check that needs no clock, never more generous than [`Intake::check`].
    pub(super) fn fitted(&self, bytes: usize) -> bool {
        scaled(bytes as u64) <= self.level
    }

    /// Takes `bytes` out of the allowance (down to nothing).
    pub(super) fn spend(&mut self, now_ms: u64, bytes: u64) {
        self.refill(now_ms);
        self.level = self.level.saturating_sub(scaled(bytes));
    }
}

fn scaled(bytes: u64) -> u128 {
    u128::from(bytes) * u128::from(DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    fn limit(burst_bytes: u64, per_day_bytes: u64) -> IntakeLimit {
        IntakeLimit {
            burst_bytes,
            per_day_bytes,
        }
    }

    #[test]
    fn a_full_bucket_takes_its_burst_and_not_a_byte_more() {
        let mut intake = Intake::new(limit(64 * KIB, DAY_MS));
        assert_eq!(intake.check(5, 64 * KIB as usize), Ok(()));
        assert_eq!(intake.check(5, 64 * KIB as usize + 1), Err(1));
        intake.spend(5, 64 * KIB);
        assert_eq!(intake.available_bytes(5), 0);
        assert!(!intake.fitted(1));
        // A byte a millisecond: 100 ms give 100 bytes.
        assert_eq!(intake.check(105, 100), Ok(()));
        assert!(intake.fitted(100) && !intake.fitted(101), "as last checked");
        assert_eq!(intake.holds_at_ms(100), 105);
        assert_eq!(intake.holds_at_ms(1_100), 1_105);
        assert_eq!(intake.check(105, 101), Err(1));
        assert_eq!(intake.check(105, 1_000), Err(900));
    }

    #[test]
    fn the_bucket_refills_to_its_burst_only() {
        let mut intake = Intake::new(limit(64 * KIB, 2 * DAY_MS));
        intake.spend(0, 64 * KIB);
        assert_eq!(intake.available_bytes(1_000), 2_000);
        assert_eq!(intake.available_bytes(DAY_MS), 64 * KIB);
        // Spent after a clock went back, what was spent comes back from the latest time.
        intake.spend(DAY_MS, 64 * KIB);
        intake.spend(10, 0);
        assert_eq!(intake.available_bytes(DAY_MS + 1_000), 2_000);
        assert_eq!(intake.available_bytes(10), 0);
        assert_eq!(limit(64 * KIB, 2 * DAY_MS).refill_ms(), 32 * KIB);
    }

    #[test]
    fn a_new_limit_keeps_what_was_spent() {
        let mut intake = Intake::new(limit(100 * KIB, 1));
        intake.spend(0, 30 * KIB);
        intake.set_limit(limit(1_000 * KIB, 1));
        assert_eq!(intake.available_bytes(0), 970 * KIB);
        intake.set_limit(limit(64 * KIB, 1));
        assert_eq!(intake.available_bytes(0), 34 * KIB);
        assert_eq!(intake.limit(), limit(64 * KIB, 1));
    }
}
