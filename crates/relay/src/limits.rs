//! Every bound the relay enforces, each a named constant with its unit last, and the
//! `[limits]` table of `relay.toml` that overrides the configurable ones. The bounds of the
//! protocol itself, which every client must know too (frame size, skew, delete list, the
//! defaults clients rely on), come from `parley_relay_wire::limits` and are re-exported here.
//!
//! Both sides of each bound are tested in `tests/relay.rs`; the witness's in `tests/witness.rs`,
//! `witness/tests.rs` and `store/witness/tests.rs`.

use serde::{Deserialize, Serialize};

pub use parley_relay_wire::limits::*;

/// Default of `mailbox_size_max_bytes`: most frame bytes one station's mailbox holds.
pub const MAILBOX_SIZE_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default of `mailbox_items_max`: most frames one station's mailbox holds.
pub const MAILBOX_ITEMS_MAX: u64 = 100_000;
/// Default of `mailbox_share_percent`: the part of a recipient's mailbox (of its items and of
/// its bytes, each) that the frames of any one sender may take, in percent. With 10, one
/// sender cannot fill a mailbox: it takes ten senders at their share to fill it.
pub const MAILBOX_SHARE_PERCENT: u64 = 10;
/// Default of `sender_size_max_bytes`: most frame bytes one station may have held at the
/// relay, in every mailbox together (ten full shares of a mailbox with the defaults), so one
/// station cannot fill the relay for every other.
pub const SENDER_SIZE_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default of `relay_size_max_bytes`: most frame bytes the relay holds, every mailbox
/// together.
pub const RELAY_SIZE_MAX_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Default of `disk_free_min_bytes`: free space a deposit must leave on the store's file
/// system, in bytes. Fetches and deletes, which free space, write too (a nonce, the WAL): a
/// disk filled by deposits would stop them.
pub const DISK_FREE_MIN_BYTES: u64 = 256 * 1024 * 1024;
/// Most recipients remembered per station as addressed by it (see `store`): past this, the
/// one it addressed least recently is forgotten, so a station naming random ids costs only
/// its own entries.
pub const CORRESPONDENTS_PER_STATION_MAX: u64 = 1024;

/// Most link logs the witness holds a checkpoint of per author station (a station has one log
/// per peer): a station's first checkpoint of a further log is refused (507), so a station
/// signing checkpoints of logs with made-up peers fills only its own part of the store.
pub const WITNESS_LOGS_PER_STATION_MAX: u64 = 1024;
/// Most conflicts (checkpoints signed by a log's author that the witness cannot reconcile
/// with the one it holds) kept as evidence per author station and reason (another root at the
/// size held, or a proof that does not verify), over all its logs, both notes each; later
/// ones are counted, not kept. With [`WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES`], a station's
/// evidence takes at most about 2 × 64 × (2 × 1.2 KB + 2 KB of proof) = 600 KB.
pub const WITNESS_CONFLICTS_PER_STATION_MAX: u64 = 64;
/// Largest checkpoint text the witness cosigns, in bytes: a link log's is about 210 (its
/// origin, size and root), so this leaves room for a few extension lines. The witness keeps
/// the text with the author's signature alone (other signatures dropped), so every note it
/// keeps, held or as evidence, is this and two signature lines at most.
pub const WITNESS_CHECKPOINT_TEXT_SIZE_MAX_BYTES: usize = 1024;
/// Largest log size (entries) the witness takes in a checkpoint or as an old size: the most its
/// store can hold exactly (SQLite integers are signed 64-bit). No link log comes near it; a
/// size above it is refused as malformed (400), never cut down to fit.
pub const WITNESS_LOG_SIZE_MAX: u64 = i64::MAX as u64;

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

/// How far the relay's wall clock may be stepped back (an NTP correction) without reopening
/// replays, in milliseconds: nonces are kept this long past the skew window
/// ([`NONCE_KEEP_MS`]), so every request a stepped-back clock takes as recent still finds
/// its nonce.
pub const CLOCK_STEP_BACK_MS_MAX: u64 = 10 * 60_000;
/// How long a request's nonce is kept after its timestamp, in milliseconds: the skew window
/// and [`CLOCK_STEP_BACK_MS_MAX`].
pub const NONCE_KEEP_MS: u64 = REQUEST_CLOCK_SKEW_MS_MAX + CLOCK_STEP_BACK_MS_MAX;

/// Default of `fetch_items_max`: most frames one fetch answer carries.
pub const FETCH_ITEMS_MAX: usize = 256;

/// Most TCP connections open at once; further clients wait in the listen backlog. A station's
/// client holds two to four (long poll, deposit, delete, heartbeat), so this serves a thousand
/// busy stations: at 1,024, `bench relay` with 1,000 stations left connections waiting in the
/// backlog until they timed out. The relay raises its open-files limit to match
/// ([`OPEN_FILES_BESIDES_CONNECTIONS`]).
pub const CONNECTIONS_MAX: usize = 4096;
/// Files the relay keeps open besides its connections (its store, listeners, the runtime):
/// with [`CONNECTIONS_MAX`], the open-files limit the relay raises its own to at start, within
/// the hard limit the system sets.
pub const OPEN_FILES_BESIDES_CONNECTIONS: u64 = 256;
/// Most connections the kernel queues for the relay to accept (the `listen` backlog; the
/// system's `somaxconn` may lower it). The default of 128 overflows under a burst of
/// connections, and a client whose connection overflowed it waits for retransmissions.
pub const LISTEN_BACKLOG_MAX: u32 = 1024;
/// Most connections open at once that have not yet carried an authenticated request (in the
/// TLS handshake, sending headers, idle, or refused). A new connection beyond this closes one
/// of them at once: the oldest of the origin (IPv4 address, IPv6 /64) holding the most, so
/// connections that never authenticate can neither fill [`CONNECTIONS_MAX`] nor stall the
/// accept loop. A quarter of [`CONNECTIONS_MAX`]: when a thousand stations connect at once,
/// their handshakes must not close each other (at 256, `bench relay` with 1,000 stations saw
/// connections closed mid-handshake).
pub const UNAUTHENTICATED_CONNECTIONS_MAX: usize = 1024;
/// Most connections of one station that its authenticated requests protect from being closed
/// for [`UNAUTHENTICATED_CONNECTIONS_MAX`]; its further connections count as unauthenticated.
/// A station's client needs about four (long poll, heartbeat, deposit, delete).
pub const CONNECTIONS_PER_STATION_MAX: usize = 8;
const _: () = assert!(UNAUTHENTICATED_CONNECTIONS_MAX < CONNECTIONS_MAX);
/// Longest from accepting a TCP connection to the end of its TLS handshake, in
/// milliseconds: a client that never starts one is closed after this too.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// Most requests committed together by one group transaction (one fsync): the writer takes
/// every request waiting, up to this many, runs each in its own savepoint and commits once.
pub const GROUP_REQUESTS_MAX: usize = 256;
/// Most requests waiting for the writer; a request beyond it waits to be queued. Every
/// writing request holds a connection, so [`CONNECTIONS_MAX`] bounds them too.
pub const WRITE_QUEUE_MAX: usize = 1024;

/// Largest request body whose signed hash is checked, and whose deposit is decoded, on the
/// async worker serving it; a larger one's on the blocking pool. Hashing and decoding this
/// much takes at most some tens of microseconds, about what the thread switches of a trip to
/// the pool cost.
pub const INLINE_BODY_SIZE_MAX_BYTES: usize = 16 * 1024;
/// Most frames of a deposit whose signatures are verified on the async worker serving it;
/// a deposit of more has them verified on the blocking pool. Each verification takes tens of
/// microseconds, so this bounds how long one request holds a worker.
pub const INLINE_FRAME_CHECKS_MAX: usize = 2;

/// Most deposit bodies read and processed at once (each up to the deposit body limit, so
/// this bounds their memory). A deposit takes a slot only once its request has been
/// authenticated (signature, admission, nonce, rate), so unauthenticated clients never hold
/// one.
pub const DEPOSITS_IN_FLIGHT_MAX: usize = 32;
/// Of [`DEPOSITS_IN_FLIGHT_MAX`], most held at once by stations that misbehaved within
/// [`SUSPECT_MS`] (a body too slow, malformed, not the signed one, or with refused frames):
/// the others stay for stations that did not.
pub const DEPOSITS_IN_FLIGHT_SUSPECT_MAX: usize = 4;
/// Most deposit slots one station holds at once; a further deposit of its own is refused
/// with 429 at once. A station's client deposits one batch at a time.
pub const DEPOSITS_IN_FLIGHT_PER_STATION_MAX: usize = 2;
/// Most fetches one station has in flight at once (long polls included); a further fetch of
/// its own is refused with 429 at once. A station's client fetches one at a time per relay;
/// the rest cover a restart whose earlier long poll the relay has not yet seen end.
pub const FETCHES_IN_FLIGHT_PER_STATION_MAX: usize = 4;
const _: () = assert!(DEPOSITS_IN_FLIGHT_SUSPECT_MAX < DEPOSITS_IN_FLIGHT_MAX);
const _: () = assert!(DEPOSITS_IN_FLIGHT_PER_STATION_MAX <= DEPOSITS_IN_FLIGHT_SUSPECT_MAX);
/// Longest an authenticated deposit waits for a free slot before it is refused with 503, in
/// milliseconds.
pub const DEPOSIT_SLOT_WAIT_MS_MAX: u64 = 5_000;
/// The retry delay a 503 (no deposit slot free) and a 429 for too many deposits of one
/// station at once ask for, in milliseconds.
pub const BUSY_RETRY_AFTER_MS: u64 = 1_000;
/// How long a station that misbehaved is confined to [`DEPOSITS_IN_FLIGHT_SUSPECT_MAX`], in
/// milliseconds.
pub const SUSPECT_MS: u64 = 10 * 60_000;
/// Most stations remembered as misbehaving at once; past this the one whose confinement ends
/// first is forgotten.
pub const SUSPECT_STATIONS_MAX: usize = 4096;

/// Longest a request body of `declared_bytes` may take to arrive, in milliseconds: the grace
/// plus the time at the slowest rate allowed, at most [`BODY_READ_TIMEOUT_MS_MAX`]. A slow
/// client holds a connection (and, for a deposit, a slot) for no longer.
pub fn body_read_timeout_ms(declared_bytes: u64) -> u64 {
    let transfer_ms = declared_bytes.saturating_mul(1000) / BODY_READ_RATE_MIN_BYTES_PER_SECOND;
    BODY_READ_GRACE_MS
        .saturating_add(transfer_ms)
        .min(BODY_READ_TIMEOUT_MS_MAX)
}

/// The relay logs at most one line per kind of warning (refusals by status, connections
/// closed, …) per this many milliseconds, and counts the rest into the next line.
pub const WARNING_INTERVAL_MS: u64 = 10_000;
/// How often the relay looks for kinds of warning whose interval has passed with warnings
/// counted but not logged, to log their summary line, in milliseconds: a summary comes at
/// most this long after its interval ends.
pub const WARNING_SUMMARY_CHECK_MS: u64 = 1_000;
const _: () = assert!(WARNING_SUMMARY_CHECK_MS <= WARNING_INTERVAL_MS);

/// On shutdown, longest open requests are given to finish, in milliseconds.
pub const SHUTDOWN_GRACE_MS: u64 = 5_000;

/// The configurable bounds: the `[limits]` table of `relay.toml`. Missing keys take the
/// defaults above.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most frames one deposit may carry: at least what a client deposits at once.
    pub deposit_frames_max: usize,
    /// Most frame bytes one station's mailbox holds.
    pub mailbox_size_max_bytes: u64,
    /// Most frames one station's mailbox holds.
    pub mailbox_items_max: u64,
    /// The part of a mailbox's items, and of its bytes, one sender's frames may take, in
    /// percent (100: no limit per sender). See [`Limits::share_items_max`].
    pub mailbox_share_percent: u64,
    /// Most frame bytes one station may have held, in every mailbox together.
    pub sender_size_max_bytes: u64,
    /// Most frame bytes the relay holds, every mailbox together.
    pub relay_size_max_bytes: u64,
    /// Free space a deposit must leave on the store's file system, in bytes.
    pub disk_free_min_bytes: u64,
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
            mailbox_share_percent: MAILBOX_SHARE_PERCENT,
            sender_size_max_bytes: SENDER_SIZE_MAX_BYTES,
            relay_size_max_bytes: RELAY_SIZE_MAX_BYTES,
            disk_free_min_bytes: DISK_FREE_MIN_BYTES,
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
        // Clients deposit up to the default at once: a relay taking fewer would refuse them.
        in_range(
            "deposit_frames_max",
            self.deposit_frames_max as u64,
            DEPOSIT_FRAMES_MAX as u64,
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
        in_range("mailbox_share_percent", self.mailbox_share_percent, 1, 100)?;
        for (name, value) in [
            ("sender_size_max_bytes", self.sender_size_max_bytes),
            ("relay_size_max_bytes", self.relay_size_max_bytes),
        ] {
            in_range(name, value, FRAME_SIZE_MAX_BYTES as u64, i64::MAX as u64)?;
        }
        in_range(
            "disk_free_min_bytes",
            self.disk_free_min_bytes,
            0,
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

    /// Most frames of one sender in one mailbox: `mailbox_share_percent` of
    /// `mailbox_items_max`, rounded down, at least 1.
    pub fn share_items_max(&self) -> u64 {
        percent_of(self.mailbox_items_max, self.mailbox_share_percent).max(1)
    }

    /// Most frame bytes of one sender in one mailbox: `mailbox_share_percent` of
    /// `mailbox_size_max_bytes`, rounded down, but at least one frame of the largest size (so
    /// any frame can be deposited) and at most the mailbox.
    pub fn share_bytes_max(&self) -> u64 {
        percent_of(self.mailbox_size_max_bytes, self.mailbox_share_percent)
            .max(FRAME_SIZE_MAX_BYTES as u64)
            .min(self.mailbox_size_max_bytes)
    }

    /// How often the periodic purge runs, in milliseconds.
    pub fn purge_interval_ms(&self) -> u64 {
        (self.retention_ms / 4).clamp(1, PURGE_INTERVAL_MS_MAX)
    }
}

/// `percent` % of `value`, rounded down, without overflow.
fn percent_of(value: u64, percent: u64) -> u64 {
    let part = u128::from(value) * u128::from(percent) / 100;
    u64::try_from(part).unwrap_or(u64::MAX)
}

/// Most header fields a request may carry (HTTP's own layer answers `431`, without a JSON
/// body: the connection is refused before the relay reads the request). The relay's clients
/// send fewer than a dozen.
pub const REQUEST_HEADERS_MAX: usize = 32;
/// Largest read buffer of a connection, in bytes: a request head (line and header fields, a
/// long URI included) longer than this is refused `431`, as for [`REQUEST_HEADERS_MAX`].
/// hyper's default (about 400 KiB) let [`UNAUTHENTICATED_CONNECTIONS_MAX`] connections that
/// never end their heads hold about 400 MiB for [`HEADER_READ_TIMEOUT_MS`]; at this size they
/// hold 16 MiB. A body is read through it a buffer at a time, whatever its size.
pub const REQUEST_HEAD_SIZE_MAX_BYTES: usize = 16 * 1024;

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
        check(|l| l.deposit_frames_max = DEPOSIT_FRAMES_MAX, Ok(()));
        check(
            |l| l.deposit_frames_max = DEPOSIT_FRAMES_MAX - 1,
            Err("deposit_frames_max = 63 is outside the allowed range 64..=1024"),
        );
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
        check(|l| l.mailbox_share_percent = 1, Ok(()));
        check(
            |l| l.mailbox_share_percent = 0,
            Err("mailbox_share_percent = 0"),
        );
        check(|l| l.mailbox_share_percent = 100, Ok(()));
        check(
            |l| l.mailbox_share_percent = 101,
            Err("mailbox_share_percent"),
        );
        let frame = FRAME_SIZE_MAX_BYTES as u64;
        check(|l| l.sender_size_max_bytes = frame, Ok(()));
        check(
            |l| l.sender_size_max_bytes = frame - 1,
            Err("sender_size_max_bytes = 65536"),
        );
        check(|l| l.sender_size_max_bytes = i64::MAX as u64, Ok(()));
        check(
            |l| l.sender_size_max_bytes = i64::MAX as u64 + 1,
            Err("sender_size_max_bytes"),
        );
        check(|l| l.relay_size_max_bytes = frame, Ok(()));
        check(
            |l| l.relay_size_max_bytes = frame - 1,
            Err("relay_size_max_bytes = 65536"),
        );
        check(|l| l.disk_free_min_bytes = 0, Ok(()));
        check(|l| l.disk_free_min_bytes = i64::MAX as u64, Ok(()));
        check(
            |l| l.disk_free_min_bytes = i64::MAX as u64 + 1,
            Err("disk_free_min_bytes"),
        );
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

    #[test]
    fn a_sender_share_is_a_percentage_within_bounds() {
        let limits = |items, bytes, percent| Limits {
            mailbox_items_max: items,
            mailbox_size_max_bytes: bytes,
            mailbox_share_percent: percent,
            ..Limits::default()
        };
        let defaults = Limits::default();
        assert_eq!(defaults.share_items_max(), MAILBOX_ITEMS_MAX / 10);
        assert_eq!(defaults.share_bytes_max(), MAILBOX_SIZE_MAX_BYTES / 10);
        // Rounded down, but never below one item.
        assert_eq!(limits(19, MAILBOX_SIZE_MAX_BYTES, 10).share_items_max(), 1);
        assert_eq!(limits(20, MAILBOX_SIZE_MAX_BYTES, 10).share_items_max(), 2);
        assert_eq!(limits(9, MAILBOX_SIZE_MAX_BYTES, 10).share_items_max(), 1);
        assert_eq!(limits(3, MAILBOX_SIZE_MAX_BYTES, 100).share_items_max(), 3);
        // Never below one frame of the largest size, never above the mailbox.
        let frame = FRAME_SIZE_MAX_BYTES as u64;
        assert_eq!(limits(10, frame * 10, 10).share_bytes_max(), frame);
        assert_eq!(limits(10, frame * 10 - 10, 10).share_bytes_max(), frame);
        assert_eq!(limits(10, frame * 20, 10).share_bytes_max(), frame * 2);
        assert_eq!(limits(10, frame, 1).share_bytes_max(), frame);
        assert_eq!(limits(10, frame * 3, 100).share_bytes_max(), frame * 3);
        // The largest values do not overflow.
        let huge = limits(i64::MAX as u64, i64::MAX as u64, 100);
        assert_eq!(huge.share_items_max(), i64::MAX as u64);
        assert_eq!(huge.share_bytes_max(), i64::MAX as u64);
    }

    #[test]
    fn body_time_grows_with_the_declared_size_up_to_the_limit() {
        let rate = BODY_READ_RATE_MIN_BYTES_PER_SECOND;
        assert_eq!(body_read_timeout_ms(0), BODY_READ_GRACE_MS);
        assert_eq!(body_read_timeout_ms(rate), BODY_READ_GRACE_MS + 1_000);
        assert_eq!(body_read_timeout_ms(rate - 1), BODY_READ_GRACE_MS + 999);
        let at_cap = (BODY_READ_TIMEOUT_MS_MAX - BODY_READ_GRACE_MS) * rate / 1000;
        assert_eq!(body_read_timeout_ms(at_cap), BODY_READ_TIMEOUT_MS_MAX);
        assert_eq!(
            body_read_timeout_ms(at_cap + rate),
            BODY_READ_TIMEOUT_MS_MAX
        );
        assert_eq!(body_read_timeout_ms(u64::MAX), BODY_READ_TIMEOUT_MS_MAX);
        // The largest deposit gets the whole limit; a small one only the grace and a little.
        assert_eq!(
            body_read_timeout_ms(DEPOSIT_BODY_SIZE_MAX_BYTES as u64),
            BODY_READ_TIMEOUT_MS_MAX
        );
        assert!(body_read_timeout_ms(2_000) < BODY_READ_GRACE_MS + 100);
    }
}
