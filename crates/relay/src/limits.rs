//! Every bound the relay enforces, each a named constant with its unit last, and the
//! `[limits]` table of `relay.toml` that overrides the configurable ones. The bounds of the
//! protocol itself, which every client must know too (frame size, skew, delete list, the
//! defaults clients rely on), come from `parley_relay_wire::limits` and are re-exported here.
//!
//! Both sides of each bound are tested in `tests/relay.rs`.

use serde::{Deserialize, Serialize};

pub use parley_relay_wire::limits::*;

/// Default of `mailbox_size_max_bytes`: most frame bytes one station's mailbox holds.
pub const MAILBOX_SIZE_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default of `mailbox_items_max`: most frames one station's mailbox holds.
pub const MAILBOX_ITEMS_MAX: u64 = 100_000;

/// Default of `request_rate_per_second_max`: sustained requests per second per station.
pub const REQUEST_RATE_PER_SECOND_MAX: u32 = 20;
/// Default of `request_burst_max`: requests a station may make at once before the sustained
/// rate applies.
pub const REQUEST_BURST_MAX: u32 = 100;

/// Default of `retention_ms`: how long a deposited frame is kept, in milliseconds (14 days).
/// Older frames are gone: hidden at once, deleted by the periodic purge.
pub const RETENTION_MS: u64 = 14 * 24 * 3_600_000;
/// The periodic purge runs every `retention_ms / 4`, but at least this often, in milliseconds.
pub const PURGE_INTERVAL_MS_MAX: u64 = 60_000;

/// Default of `fetch_items_max`: most frames one fetch answer carries.
pub const FETCH_ITEMS_MAX: usize = 256;
/// Most TLS connections served at once; further clients wait in the listen backlog.
pub const CONNECTIONS_MAX: usize = 1024;
/// Most deposits read and processed at once (each body up to the deposit body limit, so this
/// bounds their memory); further deposits wait their turn.
pub const DEPOSITS_IN_FLIGHT_MAX: usize = 32;
/// Longest a TLS handshake may take before the connection is dropped, in milliseconds.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Longest a client may take to send a request's body, in milliseconds.
pub const BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// On shutdown, longest open requests are given to finish, in milliseconds.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;

/// The configurable bounds: the `[limits]` table of `relay.toml`. Missing keys take the
/// defaults above.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most frames one deposit may carry.
    pub deposit_frames_max: usize,
    /// Most frame bytes one station's mailbox holds.
    pub mailbox_size_max_bytes: u64,
    /// Most frames one station's mailbox holds.
    pub mailbox_items_max: u64,
    /// Sustained requests per second per station.
    pub request_rate_per_second_max: u32,
    /// Requests a station may make at once before the sustained rate applies.
    pub request_burst_max: u32,
    /// How long a deposited frame is kept, in milliseconds.
    pub retention_ms: u64,
    /// Longest a fetch waits for a frame to arrive, in milliseconds.
    pub fetch_wait_ms_max: u64,
    /// Most frames one fetch answer carries.
    pub fetch_items_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deposit_frames_max: DEPOSIT_FRAMES_MAX,
            mailbox_size_max_bytes: MAILBOX_SIZE_MAX_BYTES,
            mailbox_items_max: MAILBOX_ITEMS_MAX,
            request_rate_per_second_max: REQUEST_RATE_PER_SECOND_MAX,
            request_burst_max: REQUEST_BURST_MAX,
            retention_ms: RETENTION_MS,
            fetch_wait_ms_max: FETCH_WAIT_MS_MAX,
            fetch_items_max: FETCH_ITEMS_MAX,
        }
    }
}

impl Limits {
    /// Checks every value is within its allowed range; the error names the first that is not.
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |name: &str, value: u64, min: u64, max: u64| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "[limits] {name} = {value} is outside the allowed range {min}..={max}"
                ))
            }
        };
        in_range(
            "deposit_frames_max",
            self.deposit_frames_max as u64,
            1,
            DEPOSIT_FRAMES_MAX_LIMIT as u64,
        )?;
        in_range(
            "mailbox_size_max_bytes",
            self.mailbox_size_max_bytes,
            FRAME_SIZE_MAX_BYTES as u64,
            i64::MAX as u64,
        )?;
        in_range(
            "mailbox_items_max",
            self.mailbox_items_max,
            1,
            i64::MAX as u64,
        )?;
        in_range(
            "request_rate_per_second_max",
            self.request_rate_per_second_max.into(),
            1,
            u32::MAX.into(),
        )?;
        in_range(
            "request_burst_max",
            self.request_burst_max.into(),
            1,
            u32::MAX.into(),
        )?;
        in_range("retention_ms", self.retention_ms, 1, i64::MAX as u64 / 2)?;
        in_range(
            "fetch_wait_ms_max",
            self.fetch_wait_ms_max,
            0,
            FETCH_WAIT_MS_MAX_LIMIT,
        )?;
        in_range(
            "fetch_items_max",
            self.fetch_items_max as u64,
            1,
            FETCH_ITEMS_MAX_LIMIT as u64,
        )
    }

    /// Largest deposit body this configuration accepts, in bytes.
    pub fn deposit_body_size_max_bytes(&self) -> usize {
        deposit_body_size_max_bytes(self.deposit_frames_max)
    }

    /// How often the periodic purge runs, in milliseconds.
    pub fn purge_interval_ms(&self) -> u64 {
        (self.retention_ms / 4).clamp(1, PURGE_INTERVAL_MS_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(edit: impl FnOnce(&mut Limits), expect: Result<(), &str>) {
        let mut limits = Limits::default();
        edit(&mut limits);
        match (limits.validate(), expect) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{got} lacks {want}"),
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn limits_are_validated_on_both_sides_of_each_range() {
        check(|_| {}, Ok(()));
        check(|l| l.deposit_frames_max = 1, Ok(()));
        check(|l| l.deposit_frames_max = 0, Err("deposit_frames_max = 0"));
        check(|l| l.deposit_frames_max = DEPOSIT_FRAMES_MAX_LIMIT, Ok(()));
        check(
            |l| l.deposit_frames_max = DEPOSIT_FRAMES_MAX_LIMIT + 1,
            Err("deposit_frames_max"),
        );
        check(
            |l| l.mailbox_size_max_bytes = FRAME_SIZE_MAX_BYTES as u64,
            Ok(()),
        );
        check(
            |l| l.mailbox_size_max_bytes = FRAME_SIZE_MAX_BYTES as u64 - 1,
            Err("mailbox_size_max_bytes"),
        );
        check(|l| l.mailbox_items_max = 0, Err("mailbox_items_max"));
        check(|l| l.request_rate_per_second_max = 0, Err("request_rate"));
        check(|l| l.request_burst_max = 0, Err("request_burst_max"));
        check(|l| l.retention_ms = 0, Err("retention_ms"));
        check(|l| l.fetch_wait_ms_max = FETCH_WAIT_MS_MAX_LIMIT, Ok(()));
        check(
            |l| l.fetch_wait_ms_max = FETCH_WAIT_MS_MAX_LIMIT + 1,
            Err("fetch_wait_ms_max"),
        );
        check(|l| l.fetch_items_max = 0, Err("fetch_items_max"));
        check(
            |l| l.fetch_items_max = FETCH_ITEMS_MAX_LIMIT + 1,
            Err("fetch_items_max"),
        );
    }

    #[test]
    fn purge_interval_follows_retention_within_bounds() {
        let with_retention = |retention_ms| Limits {
            retention_ms,
            ..Limits::default()
        };
        assert_eq!(
            with_retention(RETENTION_MS).purge_interval_ms(),
            PURGE_INTERVAL_MS_MAX
        );
        assert_eq!(with_retention(400).purge_interval_ms(), 100);
        assert_eq!(with_retention(1).purge_interval_ms(), 1);
    }
}
