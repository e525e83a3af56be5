//! Request authentication: every request except `GET /v1/health` carries five headers naming
//! the station, a timestamp, a random nonce, the SHA-256 of the body and an Ed25519 signature
//! by the station's identity key over a canonical string that binds the request to this relay,
//! its method, its target and its body.
//!
//! The body's hash travels in a header so that a relay can verify the signature from the
//! headers alone, before it reads (or spends memory, time or a deposit slot on) a single body
//! byte; it then checks that the body it read has that hash ([`RequestAuth::check_body`]).
//!
//! The canonical string is UTF-8, eight lines joined by `\n` (no trailing newline):
//!
//! ```text
//! parley relay request v1
//! <relay id, 64 lowercase hex digits>
//! <station id, 64 lowercase hex digits>
//! <method, e.g. POST>
//! <path and query exactly as sent, e.g. /v1/mailbox?wait_ms=1000>
//! <timestamp, milliseconds since the Unix epoch, decimal>
//! <nonce, 32 lowercase hex digits>
//! <SHA-256 of the body, 64 lowercase hex digits>
//! ```
//!
//! Guarantees: parsing is strict (one value per header, lowercase hex of exact length, decimal
//! without sign or leading zeros) and never panics; verification follows parley's one Ed25519 rule (`parley_proto::ed25519`), so a
//! signature is valid for exactly one canonical string and one key; a body is accepted only if
//! its hash is the signed one. Replay protection (the
//! nonce registry) and admission are the server's; this module is pure.

use std::fmt;

use ed25519_dalek::Signature;
use http::HeaderMap;
use parley_proto::{Identity, StationId, id::sha256};

use crate::limits::REQUEST_CLOCK_SKEW_MS_MAX;

/// Header carrying the requesting station's id (64 lowercase hex digits).
pub const HEADER_STATION: &str = "parley-station";
/// Header carrying the request time, milliseconds since the Unix epoch (decimal).
pub const HEADER_TIMESTAMP_MS: &str = "parley-timestamp-ms";
/// Header carrying a fresh random nonce (32 lowercase hex digits).
pub const HEADER_NONCE: &str = "parley-nonce";
/// Header carrying the SHA-256 of the request body, the last line of the canonical string
/// (64 lowercase hex digits).
pub const HEADER_BODY_SHA256: &str = "parley-body-sha256";
/// Header carrying the Ed25519 signature over the canonical string (128 lowercase hex digits).
pub const HEADER_SIGNATURE: &str = "parley-signature";
/// First line of the canonical string: separates relay request signatures from every other
/// parley signature (COSE objects start with a CBOR array byte, never with this text).
pub const SIGNATURE_CONTEXT: &str = "parley relay request v1";
/// Length of a request nonce, in bytes.
pub const NONCE_BYTES: usize = 16;
/// Longest decimal timestamp accepted, in digits (`u64::MAX` has 20).
const TIMESTAMP_DIGITS_MAX: usize = 20;

/// Why a request's authentication headers were refused (HTTP 401). Nothing was recorded.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("missing header {0}; every request except /v1/health must be signed")]
    MissingHeader(&'static str),
    /// A header is present more than once.
    #[error("header {0} is present more than once")]
    RepeatedHeader(&'static str),
    /// A header's value does not have the required form.
    #[error("malformed header {header}: {why}")]
    MalformedHeader {
        /// The header.
        header: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The timestamp is too far from the relay's clock.
    #[error(
        "request timestamp is {skew_ms} ms away from the relay's clock, over the limit of \
         {max_ms} ms; check the station's clock"
    )]
    ClockSkew {
        /// Distance between the timestamp and the relay's clock, in milliseconds.
        skew_ms: u64,
        /// The limit, in milliseconds.
        max_ms: u64,
    },
    /// The signature does not verify under the station's key for this request.
    #[error("signature does not verify for this request under the station's key")]
    BadSignature,
    /// The body read is not the one whose hash was signed.
    #[error(
        "request body does not match its parley-body-sha256 header; nothing was done; send the \
         body that was signed"
    )]
    BodyMismatch,
}

/// The authentication headers of one request, parsed but not necessarily verified.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestAuth {
    /// The station claiming to make the request.
    pub station: StationId,
    /// When the station signed it, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// A random value never used twice by this station within the skew window.
    pub nonce: [u8; NONCE_BYTES],
    /// SHA-256 of the request body, as signed.
    pub body_sha256: [u8; 32],
    /// Ed25519 signature over [`canonical_request`].
    pub signature: [u8; 64],
}

impl fmt::Debug for RequestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestAuth")
            .field("station", &self.station)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("nonce", &hex::encode(self.nonce))
            .field("body_sha256", &hex::encode(self.body_sha256))
            .finish_non_exhaustive()
    }
}

/// The canonical string a request signature covers (see the module documentation);
/// `body_sha256` is the SHA-256 of the request body.
pub fn canonical_request(
    relay: &StationId,
    station: &StationId,
    method: &str,
    target: &str,
    timestamp_ms: u64,
    nonce: &[u8; NONCE_BYTES],
    body_sha256: &[u8; 32],
) -> Vec<u8> {
    [
        SIGNATURE_CONTEXT.to_owned(),
        hex::encode(relay.0),
        hex::encode(station.0),
        method.to_owned(),
        target.to_owned(),
        timestamp_ms.to_string(),
        hex::encode(nonce),
        hex::encode(body_sha256),
    ]
    .join("\n")
    .into_bytes()
}

impl RequestAuth {
    /// Signs a request to `relay` as `me`.
    pub fn sign(
        me: &Identity,
        relay: &StationId,
        method: &str,
        target: &str,
        body: &[u8],
        timestamp_ms: u64,
        nonce: [u8; NONCE_BYTES],
    ) -> Self {
        let station = me.id();
        let body_sha256 = sha256(&[body]);
        let message = canonical_request(
            relay,
            &station,
            method,
            target,
            timestamp_ms,
            &nonce,
            &body_sha256,
        );
        Self {
            station,
            timestamp_ms,
            nonce,
            body_sha256,
            signature: me.sign(&message),
        }
    }

    /// The five headers, as (name, value) pairs.
    pub fn to_headers(&self) -> [(&'static str, String); 5] {
        [
            (HEADER_STATION, hex::encode(self.station.0)),
            (HEADER_TIMESTAMP_MS, self.timestamp_ms.to_string()),
            (HEADER_NONCE, hex::encode(self.nonce)),
            (HEADER_BODY_SHA256, hex::encode(self.body_sha256)),
            (HEADER_SIGNATURE, hex::encode(self.signature)),
        ]
    }

    /// Parses the five headers strictly.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, AuthError> {
        let station = StationId(fixed_hex(headers, HEADER_STATION)?);
        let timestamp_ms = decimal(header(headers, HEADER_TIMESTAMP_MS)?, HEADER_TIMESTAMP_MS)?;
        let nonce = fixed_hex(headers, HEADER_NONCE)?;
        let body_sha256 = fixed_hex(headers, HEADER_BODY_SHA256)?;
        let signature = fixed_hex(headers, HEADER_SIGNATURE)?;
        Ok(Self {
            station,
            timestamp_ms,
            nonce,
            body_sha256,
            signature,
        })
    }

    /// Refuses a timestamp more than [`REQUEST_CLOCK_SKEW_MS_MAX`] away from `now_ms`.
    pub fn check_time(&self, now_ms: u64) -> Result<(), AuthError> {
        let skew_ms = now_ms.abs_diff(self.timestamp_ms);
        if skew_ms > REQUEST_CLOCK_SKEW_MS_MAX {
            return Err(AuthError::ClockSkew {
                skew_ms,
                max_ms: REQUEST_CLOCK_SKEW_MS_MAX,
            });
        }
        Ok(())
    }

    /// Verifies the signature (strictly) for this request to `relay`, over the body hash the
    /// headers declare: no body is needed, so a relay can do this before reading one. The body
    /// must then pass [`Self::check_body`].
    pub fn verify(&self, relay: &StationId, method: &str, target: &str) -> Result<(), AuthError> {
        let key = self
            .station
            .verifying_key()
            .map_err(|_| AuthError::MalformedHeader {
                header: HEADER_STATION,
                why: "not a valid Ed25519 public key",
            })?;
        let message = canonical_request(
            relay,
            &self.station,
            method,
            target,
            self.timestamp_ms,
            &self.nonce,
            &self.body_sha256,
        );
        parley_proto::ed25519::verify(&key, &message, &Signature::from_bytes(&self.signature))
            .map_err(|_| AuthError::BadSignature)
    }

    /// Refuses a body whose SHA-256 is not the one the headers declare (and the signature
    /// covers).
    pub fn check_body(&self, body: &[u8]) -> Result<(), AuthError> {
        if sha256(&[body]) == self.body_sha256 {
            Ok(())
        } else {
            Err(AuthError::BodyMismatch)
        }
    }
}

/// The single value of `name`, as bytes.
fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a [u8], AuthError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(AuthError::MissingHeader(name))?;
    if values.next().is_some() {
        return Err(AuthError::RepeatedHeader(name));
    }
    Ok(value.as_bytes())
}

/// The value of `name` as exactly `N` bytes in lowercase hex.
fn fixed_hex<const N: usize>(
    headers: &HeaderMap,
    name: &'static str,
) -> Result<[u8; N], AuthError> {
    let text = header(headers, name)?;
    let malformed = |why| AuthError::MalformedHeader { header: name, why };
    if text.len() != 2 * N {
        return Err(malformed("wrong length"));
    }
    if !text.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(malformed("not lowercase hexadecimal"));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| malformed("not lowercase hexadecimal"))?;
    Ok(out)
}

/// A decimal `u64` without sign or leading zeros.
fn decimal(text: &[u8], name: &'static str) -> Result<u64, AuthError> {
    let malformed = |why| AuthError::MalformedHeader { header: name, why };
    if text.is_empty() || text.len() > TIMESTAMP_DIGITS_MAX || !text.iter().all(u8::is_ascii_digit)
    {
        return Err(malformed("not a decimal number"));
    }
    if text.len() > 1 && text[0] == b'0' {
        return Err(malformed("leading zero"));
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or(malformed("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NOW_MS: u64 = 1_700_000_000_000;

    fn relay() -> StationId {
        Identity::from_secret(&[9; 32]).id()
    }

    fn signed() -> (Identity, RequestAuth) {
        let me = Identity::from_secret(&[1; 32]);
        let auth = RequestAuth::sign(&me, &relay(), "POST", "/v1/ping", b"body", NOW_MS, [7; 16]);
        (me, auth)
    }

    fn headers_of(auth: &RequestAuth) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in auth.to_headers() {
            headers.insert(name, HeaderValue::from_str(&value).expect("ASCII value"));
        }
        headers
    }

    /// Replaces (or with `None` removes) one header of a valid set and parses the result.
    fn check_header(name: &'static str, value: Option<&str>, expect: Result<(), AuthError>) {
        let (_, auth) = signed();
        let mut headers = headers_of(&auth);
        match value {
            Some(value) => {
                headers.insert(name, HeaderValue::from_str(value).expect("ASCII value"));
            }
            None => {
                headers.remove(name);
            }
        }
        assert_eq!(
            RequestAuth::from_headers(&headers).map(|_| ()),
            expect,
            "{name}: {value:?}"
        );
    }

    #[test]
    fn headers_round_trip_and_verify() {
        let (_, auth) = signed();
        let parsed = RequestAuth::from_headers(&headers_of(&auth)).expect("valid headers parse");
        assert_eq!(parsed, auth);
        assert_eq!(parsed.verify(&relay(), "POST", "/v1/ping"), Ok(()));
        assert_eq!(parsed.check_body(b"body"), Ok(()));
    }

    #[test]
    fn only_the_signed_body_is_accepted() {
        let (_, auth) = signed();
        assert_eq!(auth.check_body(b"body"), Ok(()));
        for other in [&b"bodY"[..], b"", b"body ", b"bod"] {
            assert_eq!(auth.check_body(other), Err(AuthError::BodyMismatch));
        }
    }

    #[test]
    fn malformed_headers_are_refused_with_their_name() {
        let malformed = |header, why| Err(AuthError::MalformedHeader { header, why });
        check_header(
            HEADER_STATION,
            None,
            Err(AuthError::MissingHeader(HEADER_STATION)),
        );
        check_header(
            HEADER_NONCE,
            None,
            Err(AuthError::MissingHeader(HEADER_NONCE)),
        );
        check_header(
            HEADER_BODY_SHA256,
            None,
            Err(AuthError::MissingHeader(HEADER_BODY_SHA256)),
        );
        check_header(HEADER_BODY_SHA256, Some(&"0".repeat(64)), Ok(()));
        check_header(
            HEADER_BODY_SHA256,
            Some(&"0".repeat(63)),
            malformed(HEADER_BODY_SHA256, "wrong length"),
        );
        check_header(
            HEADER_STATION,
            Some("ab"),
            malformed(HEADER_STATION, "wrong length"),
        );
        check_header(
            HEADER_NONCE,
            Some(&"A".repeat(32)),
            malformed(HEADER_NONCE, "not lowercase hexadecimal"),
        );
        check_header(HEADER_NONCE, Some(&"a".repeat(32)), Ok(()));
        check_header(
            HEADER_SIGNATURE,
            Some(&"0".repeat(127)),
            malformed(HEADER_SIGNATURE, "wrong length"),
        );
        check_header(HEADER_TIMESTAMP_MS, Some("0"), Ok(()));
        check_header(HEADER_TIMESTAMP_MS, Some(&u64::MAX.to_string()), Ok(()));
        check_header(
            HEADER_TIMESTAMP_MS,
            Some("18446744073709551616"),
            malformed(HEADER_TIMESTAMP_MS, "out of range"),
        );
        check_header(
            HEADER_TIMESTAMP_MS,
            Some("012"),
            malformed(HEADER_TIMESTAMP_MS, "leading zero"),
        );
        check_header(
            HEADER_TIMESTAMP_MS,
            Some("-1"),
            malformed(HEADER_TIMESTAMP_MS, "not a decimal number"),
        );
        check_header(
            HEADER_TIMESTAMP_MS,
            Some(""),
            malformed(HEADER_TIMESTAMP_MS, "not a decimal number"),
        );
    }

    #[test]
    fn repeated_header_is_refused() {
        let (_, auth) = signed();
        let mut headers = headers_of(&auth);
        headers.append(HEADER_NONCE, HeaderValue::from_static("00"));
        assert_eq!(
            RequestAuth::from_headers(&headers),
            Err(AuthError::RepeatedHeader(HEADER_NONCE))
        );
    }

    #[test]
    fn signature_binds_every_part_of_the_request() {
        let (_, auth) = signed();
        let other_relay = Identity::from_secret(&[8; 32]).id();
        let bad = Err(AuthError::BadSignature);
        assert_eq!(auth.verify(&other_relay, "POST", "/v1/ping"), bad);
        assert_eq!(auth.verify(&relay(), "GET", "/v1/ping"), bad);
        assert_eq!(auth.verify(&relay(), "POST", "/v1/ping?x=1"), bad);
        for tamper in [
            |a: &mut RequestAuth| a.timestamp_ms += 1,
            |a: &mut RequestAuth| a.nonce[0] ^= 1,
            |a: &mut RequestAuth| a.body_sha256[0] ^= 1,
            |a: &mut RequestAuth| a.signature[0] ^= 1,
            |a: &mut RequestAuth| a.station = Identity::from_secret(&[2; 32]).id(),
        ] {
            let mut tampered = auth.clone();
            tamper(&mut tampered);
            assert_eq!(tampered.verify(&relay(), "POST", "/v1/ping"), bad);
        }
    }

    #[test]
    fn clock_skew_is_checked_on_both_sides_of_the_limit() {
        let (_, auth) = signed();
        let max = REQUEST_CLOCK_SKEW_MS_MAX;
        assert_eq!(auth.check_time(NOW_MS + max), Ok(()));
        assert_eq!(auth.check_time(NOW_MS - max), Ok(()));
        let over = Err(AuthError::ClockSkew {
            skew_ms: max + 1,
            max_ms: max,
        });
        assert_eq!(auth.check_time(NOW_MS + max + 1), over);
        assert_eq!(auth.check_time(NOW_MS - max - 1), over);
    }
}
