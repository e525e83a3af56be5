//! The kinds of warning the relay rate-limits (through `parley_channels::log_limit`), so that
//! junk from a misbehaving or unadmitted client cannot flood the log: each kind logs at most
//! one line per interval; the others are counted, and the count is logged with the next line
//! of that kind or as a summary line once the interval has passed.

/// A kind of warning; each has its own budget of lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Warning {
    /// A request refused for its authentication (401).
    Unauthenticated,
    /// A request from a station not admitted or revoked (403).
    Forbidden,
    /// A request for no endpoint, or with the wrong method (404, 405).
    NoSuchEndpoint,
    /// A deposit refused for its recipient, or for what its depositor holds, as told to the
    /// depositor (404, 507).
    RecipientRefused,
    /// A deposit refused because the relay holds all it may, or its disk is nearly full (507):
    /// the relay's operator has to act.
    StorageFull,
    /// A request whose body, query or length was refused (400, 408, 413).
    Malformed,
    /// A deposit whose frames were refused (422).
    FramesRefused,
    /// A request over its station's rate or in-flight limit (429).
    RateLimited,
    /// A deposit that found no free slot (503).
    Busy,
    /// The relay failed (500).
    Internal,
    /// A deposit refused without telling the depositor (answered 202).
    DepositWithheld,
    /// A checkpoint the witness did not cosign (400, 403, 404, 408, 413, 422, 507).
    WitnessRefused,
    /// A checkpoint signed by its log's author of the size the witness holds with another
    /// root: evidence of a fork, logged as an error.
    WitnessFork,
    /// A checkpoint signed by its log's author whose consistency proof from the one the
    /// witness holds does not verify: a fork, or a bad proof (anyone can send one), logged as
    /// a warning.
    WitnessBadProof,
    /// A connection that never authenticated, closed to make room.
    ConnectionClosed,
    /// Accepting a connection failed.
    AcceptFailed,
}
