//! Every bound the relay enforces, each a named constant with its unit last, and the
//! `[limits]` table of `relay.toml` that overrides the configurable ones.
//!
//! Both sides of each bound are tested in `tests/relay.rs`. Bounds a client must know to talk
//! to any relay (frame size, skew, delete list, response size) are not configurable.

use serde::{Deserialize, Serialize};

/// Largest frame (tag byte plus envelope or receipt) accepted in a deposit, in bytes: the
/// protocol's own limit, so anything a station may send fits.
pub const FRAME_SIZE_MAX_BYTES: usize = parley_proto::limits::FRAME_SIZE_MAX_BYTES;

/// Default of `deposit_frames_max`: most frames one deposit may carry.
pub const DEPOSIT_FRAMES_MAX: usize = 64;
/// Highest value `deposit_frames_max` may be configured to.
pub const DEPOSIT_FRAMES_MAX_LIMIT: usize = 1024;
/// CBOR overhead of one frame in a deposit body (a byte-string header), at most, in bytes.
pub const FRAME_CBOR_OVERHEAD_BYTES: usize = 5;
/// CBOR overhead of a request body around its list (array headers, version, integers), in bytes.
pub const BODY_CBOR_OVERHEAD_BYTES: usize = 32;

/// Largest deposit body for a relay that accepts `frames_max` frames per deposit, in bytes:
/// room for that many frames of the largest size and their CBOR framing.
pub const fn deposit_body_size_max_bytes(frames_max: usize) -> usize {
    frames_max * (FRAME_SIZE_MAX_BYTES + FRAME_CBOR_OVERHEAD_BYTES) + BODY_CBOR_OVERHEAD_BYTES
}

/// Largest deposit body with the default `deposit_frames_max`, in bytes.
pub const DEPOSIT_BODY_SIZE_MAX_BYTES: usize = deposit_body_size_max_bytes(DEPOSIT_FRAMES_MAX);

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

/// Default of `fetch_wait_ms_max`: longest a fetch waits for a frame to arrive, in
/// milliseconds. A larger `wait_ms` is clamped to it.
pub const FETCH_WAIT_MS_MAX: u64 = 25_000;
/// Highest value `fetch_wait_ms_max` may be configured to, in milliseconds. The client asks
/// for at most this and allows [`REQUEST_TIMEOUT_MS`] on top of the wait it asked for.
pub const FETCH_WAIT_MS_MAX_LIMIT: u64 = 60_000;
/// Default of `fetch_items_max`: most frames one fetch answer carries.
pub const FETCH_ITEMS_MAX: usize = 256;
/// Highest value `fetch_items_max` may be configured to.
pub const FETCH_ITEMS_MAX_LIMIT: usize = 4096;
/// Most frame bytes one fetch answer carries (a single frame always fits), in bytes.
pub const FETCH_FRAMES_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Most item ids one delete request may list.
pub const DELETE_IDS_MAX: usize = FETCH_ITEMS_MAX_LIMIT;
/// Largest delete body, in bytes: every id as a 9-byte CBOR integer plus framing.
pub const DELETE_BODY_SIZE_MAX_BYTES: usize = DELETE_IDS_MAX * 9 + BODY_CBOR_OVERHEAD_BYTES;

/// How far a request's timestamp may be from the relay's clock, either way, in milliseconds.
/// Nonces are remembered this long after their timestamp, so a replay is always caught.
pub const REQUEST_CLOCK_SKEW_MS_MAX: u64 = 5 * 60_000;

/// Most TLS connections served at once; further clients wait in the listen backlog.
pub const CONNECTIONS_MAX: usize = 1024;
/// Most deposits read and processed at once (each body up to the deposit body limit, so this
/// bounds their memory); further deposits wait their turn.
pub const DEPOSITS_IN_FLIGHT_MAX: usize = 32;
/// Longest a TLS handshake may take before the connection is dropped, in milliseconds.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Longest a client may take to send a request's headers, in milliseconds; this is also how
/// long an idle keep-alive connection is kept open.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Longest a client may take to send a request's body, in milliseconds.
pub const BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// On shutdown, longest open requests are given to finish, in milliseconds.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;

/// Client: longest a request may take beyond the long-poll wait it asked for, in milliseconds.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Client: longest a TCP connect plus TLS handshake may take, in milliseconds.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Client: longest an idle pooled connection is kept for reuse, in milliseconds; well below
/// [`HEADER_READ_TIMEOUT_MS`], after which the relay closes idle connections, so a request is
/// never sent on a connection the relay is closing.
pub const POOL_IDLE_TIMEOUT_MS: u64 = 5_000;
const _: () = assert!(POOL_IDLE_TIMEOUT_MS * 2 <= HEADER_READ_TIMEOUT_MS);
/// Client: largest answer read from a relay, in bytes (the largest fetch answer plus framing).
pub const RESPONSE_SIZE_MAX_BYTES: usize =
    FETCH_FRAMES_SIZE_MAX_BYTES + FETCH_ITEMS_MAX_LIMIT * 16 + BODY_CBOR_OVERHEAD_BYTES;
/// Client: longest refusal reason kept from an answer, in bytes.
pub const REASON_SIZE_MAX_BYTES: usize = 1024;

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
