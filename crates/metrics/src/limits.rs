//! The bounds of the metrics endpoint, each with its unit last.

/// Most connections served at once; a connection beyond them is closed at once, unanswered.
/// A Prometheus server scrapes with one connection at a time.
pub const METRICS_CONNECTIONS_MAX: usize = 8;
/// Longest a client may take to send its request headers, in milliseconds.
pub const METRICS_HEADER_READ_TIMEOUT_MS: u64 = 5_000;
/// Longest one connection is served, from accept to the end of its answer, in milliseconds.
pub const METRICS_CONNECTION_MS_MAX: u64 = 30_000;
/// Longest a scrape waits for the values to be gathered before it is answered 503, in
/// milliseconds; a gathering that takes longer runs on (one at a time) and is logged.
pub const METRICS_SCRAPE_MS_MAX: u64 = 10_000;
/// Most bytes of text [`crate::text::parse`] reads.
pub const METRICS_TEXT_SIZE_MAX_BYTES: usize = 16 * 1024 * 1024;
const _: () = assert!(METRICS_SCRAPE_MS_MAX < METRICS_CONNECTION_MS_MAX);
