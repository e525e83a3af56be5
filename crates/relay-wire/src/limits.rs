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
