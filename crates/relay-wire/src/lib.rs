//! The relay protocol, free of I/O and shared by the relay server (`parley-relay`) and the
//! client stations use (`parley-channels`): the bodies of requests and answers ([`wire`]),
//! request signatures ([`auth`]), the check every deposited frame passes ([`route`]), the
//! bounds both sides agree on ([`limits`]), the witness API ([`witness`]), and the paths and
//! content types of the HTTP API.
//! `docs/relay-api.md` is the specification.
//!
//! Architecture invariant: nothing here opens a socket, reads a clock or draws randomness;
//! callers pass the time and the nonce in. Every decoder is total: it returns an error, never
//! panics.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod limits;
pub mod route;
pub mod wire;
pub mod witness;

use parley_proto::StationId;

pub use auth::{AuthError, RequestAuth};
pub use wire::{BodyError, DeleteRequest, FetchAnswer, Fetched, RefusalBody};

/// ALPN protocol id of the relay API: plain HTTP/1.1 inside TLS 1.3.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// Content type of every request and answer body but refusals.
pub const CBOR_CONTENT_TYPE: &str = "application/cbor";
/// Content type of refusals.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// `GET`: unauthenticated liveness probe.
pub const PATH_HEALTH: &str = "/v1/health";
/// `GET`: signed ping, answered with the relay's time.
pub const PATH_PING: &str = "/v1/ping";
/// `GET`: long poll of the requester's own mailbox (query `wait_ms`).
pub const PATH_MAILBOX: &str = "/v1/mailbox";
/// `POST`: delete items of the requester's own mailbox.
pub const PATH_MAILBOX_DELETE: &str = "/v1/mailbox/delete";
/// Prefix of `POST /v1/mailboxes/{station id}`: deposit into a station's mailbox.
pub const PATH_MAILBOXES: &str = "/v1/mailboxes";

/// The deposit path of `recipient`'s mailbox.
pub fn deposit_path(recipient: &StationId) -> String {
    format!("{PATH_MAILBOXES}/{recipient}")
}

/// Entry point for the `relay_request` fuzz target: runs every decoder of untrusted relay
/// input on `data`. The first byte picks the decoder, the rest is its input: deposit body,
/// delete body, authentication headers (five values separated by `\n`), fetch query, the
/// client's decoders of fetch, deposit, count and refusal answers, a witness's
/// `add-checkpoint` body, and a witness's answers (cosignature lines, a size). Returns whether
/// the input decoded. Never panics.
pub fn fuzz_decode(data: &[u8]) -> bool {
    let Some((&selector, input)) = data.split_first() else {
        return false;
    };
    match selector % 10 {
        0 => wire::decode_deposit(input, limits::DEPOSIT_FRAMES_MAX_LIMIT).is_ok(),
        1 => wire::decode_delete(input).is_ok(),
        2 => decode_auth_headers(input),
        3 => std::str::from_utf8(input)
            .is_ok_and(|query| wire::parse_fetch_query(Some(query)).is_ok()),
        4 => wire::decode_fetch_answer(input).is_ok(),
        5 => wire::decode_deposit_answer(input).is_ok(),
        6 => wire::decode_count(input, "answer").is_ok(),
        7 => wire::decode_refusal(input).is_ok(),
        8 => witness::AddCheckpoint::parse(input).is_ok(),
        _ => witness::parse_cosignatures(input).is_ok() | witness::parse_size(input).is_ok(),
    }
}

/// Parses `\n`-separated values as the five authentication headers and, if they parse,
/// checks the timestamp, verifies the signature over a fixed request and checks an empty body.
fn decode_auth_headers(input: &[u8]) -> bool {
    let names = [
        auth::HEADER_STATION,
        auth::HEADER_TIMESTAMP_MS,
        auth::HEADER_NONCE,
        auth::HEADER_BODY_SHA256,
        auth::HEADER_SIGNATURE,
    ];
    let mut headers = http::HeaderMap::new();
    for (name, value) in names.iter().zip(input.split(|&byte| byte == b'\n')) {
        let Ok(value) = http::HeaderValue::from_bytes(value) else {
            return false;
        };
        headers.append(*name, value);
    }
    let Ok(request) = auth::RequestAuth::from_headers(&headers) else {
        return false;
    };
    let _ = request.check_time(0);
    let _ = request.check_body(b"");
    request
        .verify(&StationId([0; 32]), "GET", PATH_PING)
        .is_ok()
}
