//! Every bound the console enforces, with its unit last. Both sides of each are tested.

/// Failed logins an account or a source may make before it must wait.
pub const LOGIN_FAILURES_FREE: u32 = 3;
/// The wait after the first throttled failure, in milliseconds; it doubles with each further
/// failure, up to [`LOGIN_WAIT_MS_MAX`].
pub const LOGIN_WAIT_MS_MIN: u64 = 2_000;
/// Longest wait imposed on an account or a source, in milliseconds.
pub const LOGIN_WAIT_MS_MAX: u64 = 5 * 60_000;
/// Age of a source's latest failed login (whatever the account) from which its failures are
/// forgotten, in milliseconds: three times the longest wait. An account's failures from a
/// source are not forgotten so.
pub const LOGIN_FAILURES_FORGOTTEN_MS: u64 = 3 * LOGIN_WAIT_MS_MAX;
/// Most accounts and sources whose failures are remembered; the oldest are forgotten first.
pub const LOGIN_FAILURES_TRACKED_MAX: usize = 10_000;
/// Most sessions open at once; a login beyond it ends the least recently used one.
pub const SESSIONS_MAX: usize = 1_000;
/// Largest request body (a form), in bytes.
pub const FORM_SIZE_MAX_BYTES: usize = 64 * 1024;
/// Largest form the compose page's check before sending takes, in bytes: as large as a form
/// that is sent ([`FORM_SIZE_MAX_BYTES`]), so that every form that can be sent can be checked.
pub const CHECK_FORM_SIZE_MAX_BYTES: usize = FORM_SIZE_MAX_BYTES;
/// Most connections served at once.
pub const CONNECTIONS_MAX: usize = 256;
/// Longest a TLS handshake may take, in milliseconds.
pub const TLS_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
/// Largest certificate chain or key file the console reads, in bytes: a chain of a few
/// certificates is some kilobytes.
pub const TLS_FILE_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// Longest wait for a request's headers, in milliseconds.
pub const HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Largest transcript uploaded for verification, in bytes.
pub const TRANSCRIPT_UPLOAD_SIZE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Uploaded transcripts read and verified at once, at most: each holds its whole file (up to
/// [`TRANSCRIPT_UPLOAD_SIZE_MAX_BYTES`]) and the verification's memory in the daemon. Another
/// is refused (503) before its body is read.
pub const TRANSCRIPT_VERIFICATIONS_MAX: usize = 1;
/// Transcripts exported at once, at most: each reads the station's whole record of a link
/// and holds the file in memory. Another is refused (503) before anything is read.
pub const TRANSCRIPT_EXPORTS_MAX: usize = 1;
/// How often an event stream looks up whether its session's account still holds, at most, in
/// milliseconds (a stream of a removed operator ends at the first event after that).
pub const EVENTS_ACCOUNT_CHECK_MS: u64 = 1_000;
/// Password checks (Argon2id, 19 MiB each) run at once, at most; more logins wait their turn.
pub const PASSWORD_CHECKS_MAX: usize = 2;
/// Longest a request may take to arrive and be answered, in milliseconds (a body sent a byte
/// at a time holds a connection no longer); the event stream, once answered, is not bound.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Longest idle timeout a configuration may set, in seconds (a day).
pub const SESSION_IDLE_S_MAX: u64 = 24 * 3_600;
/// Largest answer the console adds its "not written to the audit log" sentence to, in bytes;
/// a larger one (none of the console's answers is) is replaced by the sentence alone.
pub const UNAUDITED_ANSWER_SIZE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Most rows a page of the inbox, the outbox or the alarms shows; older ones are on the pages
/// after it (`?page=N`).
pub const PAGE_ROWS_MAX: usize = 100;
/// How much of a request's detail an audit row keeps, as text, when the whole is over the
/// audit log's limit (`AUDIT_DETAIL_SIZE_MAX_BYTES`, 64 KiB): the request's start, with its
/// name and whole size beside it.
pub const AUDIT_DETAIL_KEPT_BYTES: usize = 16 * 1024;
