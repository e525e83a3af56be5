//! The bounds of the relay protocol itself: what every relay and every client must agree on.
//! The relay's configurable bounds and its own resource limits are in `parley-relay`; the
//! client's timeouts are in `parley-channels`. Each is a named constant with its unit last,
//! tested on both sides.

/// Largest frame (tag byte plus envelope or receipt) a deposit or fetch may carry, in bytes:
/// the protocol's one frame limit, so anything a station may send fits.
pub use parley_proto::limits::FRAME_SIZE_MAX_BYTES;

/// Default of a relay's `deposit_frames_max`: most frames one deposit may carry. Clients
/// deposit at most this many at once, so every relay accepts their deposits.
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

/// Time any request body may take to reach a relay, whatever its size, in milliseconds.
pub const BODY_READ_GRACE_MS: u64 = 5_000;
/// Slowest a request body may reach a relay beyond [`BODY_READ_GRACE_MS`], in bytes per
/// second: a body of `n` declared bytes must arrive within the grace plus `n` at this rate.
pub const BODY_READ_RATE_MIN_BYTES_PER_SECOND: u64 = 64 * 1024;
/// Longest any request body may take to reach a relay, in milliseconds.
pub const BODY_READ_TIMEOUT_MS_MAX: u64 = 30_000;

/// Largest deposit body a client builds, in bytes: what arrives at the slowest rate a relay
/// accepts within the longest time it waits for a body, less the grace (left for the
/// connection and the headers). A full deposit of the largest frames (some 4 MiB) would need
/// about 140 KiB/s to arrive in time, so a station on a slower uplink could never deposit a
/// long message's frames, retrying them for ever; frames past this size go in the next deposit.
pub const DEPOSIT_BATCH_SIZE_MAX_BYTES: usize = ((BODY_READ_TIMEOUT_MS_MAX - BODY_READ_GRACE_MS)
    * BODY_READ_RATE_MIN_BYTES_PER_SECOND
    / 1000) as usize;
const _: () = assert!(DEPOSIT_BATCH_SIZE_MAX_BYTES >= deposit_body_size_max_bytes(1));
const _: () = assert!(DEPOSIT_BATCH_SIZE_MAX_BYTES <= DEPOSIT_BODY_SIZE_MAX_BYTES);

/// Default of a relay's `fetch_wait_ms_max`: longest a fetch waits for a frame to arrive, in
/// milliseconds. A larger `wait_ms` is clamped to it; stations ask for at most this.
pub const FETCH_WAIT_MS_MAX: u64 = 25_000;
/// Highest value `fetch_wait_ms_max` may be configured to, in milliseconds. A client asks
/// for at most this.
pub const FETCH_WAIT_MS_MAX_LIMIT: u64 = 60_000;
/// Highest value a relay's `fetch_items_max` may be configured to: most frames in one answer.
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

/// Longest a client may take to send a request's headers, in milliseconds; this is also how
/// long a relay keeps an idle keep-alive connection open, so clients reuse a pooled
/// connection only well within it.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
