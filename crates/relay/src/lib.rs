//! parley's relay: a neutral store-and-forward mailbox service, run by a facilitator, through
//! which stations that cannot reach each other directly exchange frames; and the client
//! stations use to reach it.
//!
//! A relay holds one mailbox per admitted station. A station deposits signed frames (envelopes
//! and receipts, exactly as on the direct channel) into the recipient's mailbox; the recipient
//! fetches them with a long poll and deletes them once it has stored them. The API is HTTP/1.1
//! over TLS 1.3 with the relay's Ed25519 identity certificate, which stations pin like a peer's
//! key; every request is signed by the station's identity key (`docs/relay-api.md`).
//!
//! Architecture invariants:
//! - The relay only ever holds signed ciphertext frames: it verifies each frame's signature and
//!   routing header (sender = the requesting station, recipient = the mailbox) and stores the
//!   bytes. It holds no epoch secret and cannot decrypt anything. What it can see: who sends to
//!   whom, when, how much, envelope headers (link, seq, entry id, epoch key id) and receipts.
//! - A deposit is answered only after it is committed to SQLite with a full fsync.
//! - Every refusal is specific, changes no mailbox, and no input panics the relay.
//! - Every bound is a named constant in [`limits`]; the configurable ones live in `relay.toml`.
//!
//! Modules: [`limits`], [`auth`] (request signatures), [`wire`] (CBOR bodies), [`store`]
//! (SQLite), [`home`] (relay home and administration), [`server`] (the HTTP API), [`client`]
//! ([`RelayClient`]), [`cli`] (`parley relay …`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod cli;
pub mod client;
pub mod home;
pub mod limits;
pub mod server;
pub mod store;
pub mod wire;

pub use client::{RelayClient, RelayError};
pub use home::{HomeError, RelayConfig, RelayHome};
pub use limits::Limits;
pub use server::{RelayServer, ServeError};
pub use wire::Fetched;

/// Entry point for the `relay_request` fuzz target: runs every decoder of untrusted relay
/// input on `data`. The first byte picks the decoder, the rest is its input: deposit body,
/// delete body, authentication headers (four values separated by `\n`), fetch query, and the
/// client's decoders of fetch, deposit, count and refusal answers. Returns whether the input
/// decoded. Never panics.
pub fn fuzz_decode(data: &[u8]) -> bool {
    let Some((&selector, input)) = data.split_first() else {
        return false;
    };
    match selector % 8 {
        0 => wire::decode_deposit(input, limits::DEPOSIT_FRAMES_MAX_LIMIT).is_ok(),
        1 => wire::decode_delete(input).is_ok(),
        2 => decode_auth_headers(input),
        3 => std::str::from_utf8(input)
            .is_ok_and(|query| wire::parse_fetch_query(Some(query)).is_ok()),
        4 => wire::decode_fetch_answer(input).is_ok(),
        5 => wire::decode_deposit_answer(input).is_ok(),
        6 => wire::decode_count(input, "answer").is_ok(),
        _ => wire::decode_refusal(input).is_ok(),
    }
}

/// Parses `\n`-separated values as the four authentication headers and, if they parse,
/// checks the timestamp and verifies the signature over a fixed request.
fn decode_auth_headers(input: &[u8]) -> bool {
    let names = [
        auth::HEADER_STATION,
        auth::HEADER_TIMESTAMP_MS,
        auth::HEADER_NONCE,
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
    request
        .verify(&parley_proto::StationId([0; 32]), "GET", "/v1/ping", b"")
        .is_ok()
}
