//! The relay API's bodies: deterministic CBOR arrays whose first element is format version 1,
//! encoded and decoded with `parley_proto::cbor`, plus the fetch query string and the JSON
//! refusal body.
//!
//! ```text
//! deposit request    [1, [frame: bstr, ...]]
//! deposit answer     [1, stored: uint, duplicates: uint]
//! fetch answer       [1, [[id: uint, frame: bstr], ...], more: bool]
//! delete request     [1, upto: uint, [id: uint, ...]]
//! delete answer      [1, deleted: uint]
//! ping answer        [1, relay_time_ms: uint]
//! refusal (JSON)     {"error": "<reason>"}   (429 adds "retry_after_ms": <uint>)
//! ```
//!
//! Guarantees: every decoder is total (returns an error, never panics), refuses
//! non-canonical CBOR and trailing bytes, and checks its bounds before it copies anything
//! large. Decoders of what a station sends are used by the server; decoders of answers are
//! used by the client, which trusts the relay no more than the server trusts stations.

use ciborium::Value;
use parley_proto::DecodeError;
use parley_proto::cbor::{self, Fields};

use crate::limits::{DELETE_IDS_MAX, FRAME_SIZE_MAX_BYTES};

/// Name of the fetch query parameter that says how long to wait for a frame.
pub const WAIT_MS_PARAMETER: &str = "wait_ms";

/// Name of the fetch query parameter that deletes, before the fetch, every item of the
/// mailbox up to an id: what the last fetch returned and the station has committed.
pub const ACK_PARAMETER: &str = "ack";

/// Name of the fetch query parameter that bounds the frame bytes of the answer: a station on a
/// slow downlink asks for less than the relay would answer, so that an answer arrives within
/// its deadline. The first frame is answered whatever its size.
pub const BYTES_MAX_PARAMETER: &str = "bytes_max";

/// Why a body or query could not be decoded. Nothing was stored for it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not deterministic CBOR of the expected shape.
    #[error("body is malformed: {0}")]
    Malformed(#[from] DecodeError),
    /// A deposit without frames.
    #[error("deposit carries no frames")]
    NoFrames,
    /// More frames than the relay accepts in one deposit.
    #[error("deposit carries {count} frames, over the limit of {max}")]
    TooManyFrames {
        /// Frames in the deposit.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// One frame is not a byte string.
    #[error("frame {index} is not a byte string")]
    FrameNotBytes {
        /// Its position in the deposit, from 0.
        index: usize,
    },
    /// One frame is over [`FRAME_SIZE_MAX_BYTES`].
    #[error("frame {index} is {len} bytes, over the limit of {max} bytes")]
    FrameTooLarge {
        /// Its position in the deposit, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// More ids than [`DELETE_IDS_MAX`] in one delete.
    #[error("delete lists {count} ids, over the limit of {max}")]
    TooManyIds {
        /// Ids listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An id that is not an unsigned integer.
    #[error("id {index} of the delete list is not an unsigned integer")]
    BadId {
        /// Its position in the list, from 0.
        index: usize,
    },
    /// The fetch query string is not empty, nor `wait_ms=<decimal>` and `ack=<decimal>` each
    /// at most once.
    #[error("query is malformed: {0}")]
    Query(&'static str),
    /// A refusal body that is not the documented JSON.
    #[error("refusal body is not the documented JSON object")]
    Refusal,
}

/// One frame of a fetch answer: the relay-assigned id and the frame as deposited.
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Relay-assigned id, increasing in deposit order within the relay.
    pub id: u64,
    /// The frame, byte for byte as deposited.
    pub frame: Vec<u8>,
}

impl std::fmt::Debug for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Frame contents are never printed, not even ciphertext.
        f.debug_struct("Fetched")
            .field("id", &self.id)
            .field("frame_len", &self.frame.len())
            .finish()
    }
}

/// A fetch answer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FetchAnswer {
    /// The frames, in increasing id order.
    pub items: Vec<Fetched>,
    /// Whether more frames were waiting than one answer carries.
    pub more: bool,
}

/// What to delete from one's own mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeleteRequest {
    /// Every item with an id up to this one (0: none).
    pub upto: u64,
    /// These items as well.
    pub ids: Vec<u64>,
}

/// A refusal as the relay reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusalBody {
    /// The specific reason.
    pub error: String,
    /// For 429: how long to wait before the next request, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

fn version_one(fields: Vec<Value>) -> Value {
    let mut array = vec![cbor::uint(1)];
    array.extend(fields);
    Value::Array(array)
}

fn uint_at(value: Value, what: &'static str, field: &'static str) -> Result<u64, DecodeError> {
    match value {
        Value::Integer(n) => u64::try_from(n).map_err(|_| DecodeError::Field { what, field }),
        _ => Err(DecodeError::Field { what, field }),
    }
}

fn array_at(
    value: Value,
    what: &'static str,
    field: &'static str,
) -> Result<Vec<Value>, DecodeError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(DecodeError::Field { what, field }),
    }
}

/// Encodes a deposit request.
pub fn encode_deposit<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let frames = frames.iter().map(|f| cbor::bytes(f.as_ref())).collect();
    cbor::encode(&version_one(vec![Value::Array(frames)]))
}

/// Decodes a deposit request: 1 to `frames_max` frames, each a byte string of at most
/// [`FRAME_SIZE_MAX_BYTES`]. Frames are not parsed here.
pub fn decode_deposit(body: &[u8], frames_max: usize) -> Result<Vec<Vec<u8>>, BodyError> {
    let mut fields = Fields::versioned(cbor::decode(body, "deposit")?, "deposit", 2)?;
    let frames = array_at(fields.value("frames")?, "deposit", "frames")?;
    if frames.is_empty() {
        return Err(BodyError::NoFrames);
    }
    if frames.len() > frames_max {
        return Err(BodyError::TooManyFrames {
            count: frames.len(),
            max: frames_max,
        });
    }
    frames
        .into_iter()
        .enumerate()
        .map(|(index, frame)| match frame {
            Value::Bytes(bytes) if bytes.len() > FRAME_SIZE_MAX_BYTES => {
                Err(BodyError::FrameTooLarge {
                    index,
                    len: bytes.len(),
                    max: FRAME_SIZE_MAX_BYTES,
                })
            }
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(BodyError::FrameNotBytes { index }),
        })
        .collect()
}

/// Encodes a deposit answer.
pub fn encode_deposit_answer(stored: u64, duplicates: u64) -> Vec<u8> {
    cbor::encode(&version_one(vec![
        cbor::uint(stored),
        cbor::uint(duplicates),
    ]))
}

/// Decodes a deposit answer into (stored, duplicates).
pub fn decode_deposit_answer(body: &[u8]) -> Result<(u64, u64), BodyError> {
    let mut fields = Fields::versioned(cbor::decode(body, "deposit answer")?, "deposit answer", 3)?;
    Ok((fields.uint("stored")?, fields.uint("duplicates")?))
}

/// Encodes a fetch answer.
pub fn encode_fetch_answer(answer: &FetchAnswer) -> Vec<u8> {
    let items = answer
        .items
        .iter()
        .map(|item| Value::Array(vec![cbor::uint(item.id), cbor::bytes(&item.frame)]))
        .collect();
    cbor::encode(&version_one(vec![
        Value::Array(items),
        Value::Bool(answer.more),
    ]))
}

/// Decodes a fetch answer: ids strictly increasing, frames within [`FRAME_SIZE_MAX_BYTES`].
pub fn decode_fetch_answer(body: &[u8]) -> Result<FetchAnswer, BodyError> {
    const WHAT: &str = "fetch answer";
    let mut fields = Fields::versioned(cbor::decode(body, WHAT)?, WHAT, 3)?;
    let mut items = Vec::new();
    for value in array_at(fields.value("items")?, WHAT, "items")? {
        let mut item = Fields::array(value, WHAT, 2, "item")?;
        let id = item.uint("id")?;
        let frame = item.bytes("frame", FRAME_SIZE_MAX_BYTES)?;
        if items.last().is_some_and(|last: &Fetched| last.id >= id) {
            return Err(DecodeError::Field {
                what: WHAT,
                field: "id",
            }
            .into());
        }
        items.push(Fetched { id, frame });
    }
    let more = match fields.value("more")? {
        Value::Bool(more) => more,
        _ => {
            return Err(DecodeError::Field {
                what: WHAT,
                field: "more",
            }
            .into());
        }
    };
    Ok(FetchAnswer { items, more })
}

/// Encodes a delete request.
pub fn encode_delete(request: &DeleteRequest) -> Vec<u8> {
    let ids = request.ids.iter().map(|id| cbor::uint(*id)).collect();
    cbor::encode(&version_one(vec![
        cbor::uint(request.upto),
        Value::Array(ids),
    ]))
}

/// Decodes a delete request: at most [`DELETE_IDS_MAX`] ids.
pub fn decode_delete(body: &[u8]) -> Result<DeleteRequest, BodyError> {
    let mut fields = Fields::versioned(cbor::decode(body, "delete")?, "delete", 3)?;
    let upto = fields.uint("upto")?;
    let list = array_at(fields.value("ids")?, "delete", "ids")?;
    if list.len() > DELETE_IDS_MAX {
        return Err(BodyError::TooManyIds {
            count: list.len(),
            max: DELETE_IDS_MAX,
        });
    }
    let ids = list
        .into_iter()
        .enumerate()
        .map(|(index, id)| uint_at(id, "delete", "ids").map_err(|_| BodyError::BadId { index }))
        .collect::<Result<_, _>>()?;
    Ok(DeleteRequest { upto, ids })
}

/// Encodes a one-number answer (delete: deleted count; ping: relay time).
pub fn encode_count(value: u64) -> Vec<u8> {
    cbor::encode(&version_one(vec![cbor::uint(value)]))
}

/// Decodes a one-number answer.
pub fn decode_count(body: &[u8], what: &'static str) -> Result<u64, BodyError> {
    let mut fields = Fields::versioned(cbor::decode(body, what)?, what, 2)?;
    Ok(fields.uint("value")?)
}

/// A fetch's query: how long to wait, and up to which id the mailbox is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchQuery {
    /// The wait asked for, milliseconds (0 when absent).
    pub wait_ms: u64,
    /// Every item with an id up to this one is deleted before the fetch (0, the default:
    /// none), as `delete`'s `upto` would.
    pub ack: u64,
    /// Most frame bytes the answer carries, its first frame answered whatever its size (0, the
    /// default: as many as the relay answers).
    pub bytes_max: u64,
}

impl FetchQuery {
    /// The query string (without `?`): `wait_ms` always, `ack` and `bytes_max` when they are
    /// not 0 (so a fetch that asks neither is one every relay of this API version reads).
    pub fn encode(&self) -> String {
        let mut query = format!("{WAIT_MS_PARAMETER}={}", self.wait_ms);
        if self.ack > 0 {
            query.push_str(&format!("&{ACK_PARAMETER}={}", self.ack));
        }
        if self.bytes_max > 0 {
            query.push_str(&format!("&{BYTES_MAX_PARAMETER}={}", self.bytes_max));
        }
        query
    }
}

/// Parses the fetch query string (without `?`): empty, or `wait_ms=<decimal>`,
/// `ack=<decimal>` and `bytes_max=<decimal>`, each at most once, in any order, joined by `&`.
pub fn parse_fetch_query(query: Option<&str>) -> Result<FetchQuery, BodyError> {
    const RULE: BodyError = BodyError::Query(
        "the parameters are wait_ms=<milliseconds>, ack=<id> and bytes_max=<bytes>, each at \
         most once",
    );
    let mut parsed = FetchQuery::default();
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Ok(parsed);
    };
    let (mut wait_seen, mut ack_seen, mut bytes_seen) = (false, false, false);
    for parameter in query.split('&') {
        let (name, value) = parameter.split_once('=').ok_or(RULE)?;
        let (slot, seen) = match name {
            WAIT_MS_PARAMETER => (&mut parsed.wait_ms, &mut wait_seen),
            ACK_PARAMETER => (&mut parsed.ack, &mut ack_seen),
            BYTES_MAX_PARAMETER => (&mut parsed.bytes_max, &mut bytes_seen),
            _ => return Err(RULE),
        };
        if std::mem::replace(seen, true) {
            return Err(RULE);
        }
        *slot = parse_decimal(value)?;
    }
    Ok(parsed)
}

/// A query parameter's value: a decimal number of at most 20 digits that fits 64 bits.
fn parse_decimal(value: &str) -> Result<u64, BodyError> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|c| c.is_ascii_digit()) {
        return Err(BodyError::Query(
            "a parameter's value is not a decimal number",
        ));
    }
    value
        .parse()
        .map_err(|_| BodyError::Query("a parameter's value is out of range"))
}

/// Encodes a refusal as JSON.
pub fn encode_refusal(refusal: &RefusalBody) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    object.insert("error".into(), refusal.error.clone().into());
    if let Some(retry_after_ms) = refusal.retry_after_ms {
        object.insert("retry_after_ms".into(), retry_after_ms.into());
    }
    serde_json::Value::Object(object).to_string().into_bytes()
}

/// Decodes a refusal body: a JSON object with a string `error` and an optional unsigned
/// `retry_after_ms`; other members are skipped as they are read, never built (a hostile
/// relay's body of megabytes of them costs no more than its bytes).
pub fn decode_refusal(body: &[u8]) -> Result<RefusalBody, BodyError> {
    #[derive(serde::Deserialize)]
    struct Wire {
        error: String,
        #[serde(default)]
        retry_after_ms: Option<u64>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|_| BodyError::Refusal)?;
    Ok(RefusalBody {
        error: wire.error,
        retry_after_ms: wire.retry_after_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: std::fmt::Debug + PartialEq>(got: Result<T, BodyError>, expect: Result<T, &str>) {
        match (got, expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => {
                let got = got.to_string();
                assert!(got.contains(want), "{got} lacks {want}");
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn deposit_bodies_round_trip_and_are_bounded() {
        let frames = vec![vec![1u8, 2], vec![]];
        check(
            decode_deposit(&encode_deposit(&frames), 2),
            Ok(frames.clone()),
        );
        check(
            decode_deposit(&encode_deposit(&frames), 1),
            Err("2 frames, over the limit of 1"),
        );
        check(
            decode_deposit(&encode_deposit::<Vec<u8>>(&[]), 2),
            Err("no frames"),
        );
        let largest = vec![vec![0u8; FRAME_SIZE_MAX_BYTES]];
        check(decode_deposit(&encode_deposit(&largest), 1), Ok(largest));
        let over = vec![vec![0u8], vec![0u8; FRAME_SIZE_MAX_BYTES + 1]];
        check(
            decode_deposit(&encode_deposit(&over), 2),
            Err("frame 1 is 65538 bytes, over the limit of 65537 bytes"),
        );
        let not_bytes = cbor::encode(&version_one(vec![Value::Array(vec![cbor::uint(3)])]));
        check(
            decode_deposit(&not_bytes, 2),
            Err("frame 0 is not a byte string"),
        );
        let version_two = cbor::encode(&Value::Array(vec![
            cbor::uint(2),
            Value::Array(vec![cbor::bytes(b"x")]),
        ]));
        check(decode_deposit(&version_two, 2), Err("format version 2"));
        let mut trailing = encode_deposit(&[b"x"]);
        trailing.push(0);
        check(decode_deposit(&trailing, 2), Err("deterministic"));
        check(decode_deposit(b"", 2), Err("not valid CBOR"));
    }

    #[test]
    fn delete_bodies_round_trip_and_are_bounded() {
        let request = DeleteRequest {
            upto: 7,
            ids: vec![9, 12],
        };
        check(decode_delete(&encode_delete(&request)), Ok(request));
        let full = DeleteRequest {
            upto: 0,
            ids: (1..=DELETE_IDS_MAX as u64)
                .map(|id| id * 1_000_000_000_000)
                .collect(),
        };
        let body = encode_delete(&full);
        assert!(body.len() <= crate::limits::DELETE_BODY_SIZE_MAX_BYTES);
        check(decode_delete(&body), Ok(full));
        let over = DeleteRequest {
            upto: 0,
            ids: vec![1; DELETE_IDS_MAX + 1],
        };
        check(
            decode_delete(&encode_delete(&over)),
            Err("over the limit of 4096"),
        );
        let negative = cbor::encode(&version_one(vec![
            cbor::uint(0),
            Value::Array(vec![Value::Integer((-1).into())]),
        ]));
        check(decode_delete(&negative), Err("id 0 of the delete list"));
    }

    #[test]
    fn answers_round_trip_and_fetch_ids_must_increase() {
        let answer = FetchAnswer {
            items: vec![
                Fetched {
                    id: 1,
                    frame: vec![1],
                },
                Fetched {
                    id: 5,
                    frame: vec![2, 3],
                },
            ],
            more: true,
        };
        check(
            decode_fetch_answer(&encode_fetch_answer(&answer)),
            Ok(answer.clone()),
        );
        let mut reordered = answer;
        reordered.items.swap(0, 1);
        check(
            decode_fetch_answer(&encode_fetch_answer(&reordered)),
            Err("field id is malformed"),
        );
        check(
            decode_deposit_answer(&encode_deposit_answer(3, 1)),
            Ok((3, 1)),
        );
        check(decode_count(&encode_count(42), "ping answer"), Ok(42));
        check(
            decode_count(&encode_deposit_answer(3, 1), "ping answer"),
            Err("malformed"),
        );
    }

    #[test]
    fn fetch_query_accepts_wait_ms_ack_and_bytes_max_once_each() {
        let query = |wait_ms, ack| FetchQuery {
            wait_ms,
            ack,
            bytes_max: 0,
        };
        check(parse_fetch_query(None), Ok(query(0, 0)));
        check(parse_fetch_query(Some("")), Ok(query(0, 0)));
        check(parse_fetch_query(Some("wait_ms=1500")), Ok(query(1500, 0)));
        check(parse_fetch_query(Some("ack=7")), Ok(query(0, 7)));
        check(
            parse_fetch_query(Some("wait_ms=1500&ack=7")),
            Ok(query(1500, 7)),
        );
        check(
            parse_fetch_query(Some("ack=7&wait_ms=1500")),
            Ok(query(1500, 7)),
        );
        check(
            parse_fetch_query(Some(&format!("wait_ms={}&ack={}", u64::MAX, u64::MAX))),
            Ok(query(u64::MAX, u64::MAX)),
        );
        let bounded = FetchQuery {
            bytes_max: 4096,
            ..query(1500, 7)
        };
        check(
            parse_fetch_query(Some("bytes_max=4096&ack=7&wait_ms=1500")),
            Ok(bounded),
        );
        for (wait_ms, ack) in [(0, 0), (25_000, 0), (0, 9), (1, u64::MAX)] {
            let encoded = query(wait_ms, ack).encode();
            assert!(!encoded.contains("bytes_max"), "{encoded}");
            check(parse_fetch_query(Some(&encoded)), Ok(query(wait_ms, ack)));
        }
        check(parse_fetch_query(Some(&bounded.encode())), Ok(bounded));
        for over in [
            "wait_ms=18446744073709551616",
            "ack=18446744073709551616",
            "bytes_max=18446744073709551616",
        ] {
            check(parse_fetch_query(Some(over)), Err("out of range"));
        }
        for bad in [
            "wait_ms=",
            "wait_ms=-1",
            "ack=",
            "ack=+1",
            "ack=0x10",
            "bytes_max=1k",
        ] {
            check(parse_fetch_query(Some(bad)), Err("not a decimal"));
        }
        for bad in [
            "wait=1",
            "wait_ms=1&wait_ms=2",
            "ack=1&ack=1",
            "bytes_max=1&bytes_max=1",
            "wait_ms=0&station=00",
            "wait_ms=1&",
            "&ack=1",
            "ack",
        ] {
            check(parse_fetch_query(Some(bad)), Err("each at most once"));
        }
        check(parse_fetch_query(Some("wait_ms=1=2")), Err("not a decimal"));
    }

    #[test]
    fn refusals_round_trip() {
        let refusal = RefusalBody {
            error: "mailbox over quota".into(),
            retry_after_ms: Some(250),
        };
        check(decode_refusal(&encode_refusal(&refusal)), Ok(refusal));
        check(decode_refusal(b"{\"error\": 3}"), Err("refusal body"));
        check(decode_refusal(b"<html>"), Err("refusal body"));
        check(
            decode_refusal(br#"{"error":"x","retry_after_ms":-1}"#),
            Err("refusal body"),
        );
        check(
            decode_refusal(br#"{"error":"x","retry_after_ms":null}"#),
            Ok(RefusalBody {
                error: "x".into(),
                retry_after_ms: None,
            }),
        );
        // Members it does not know are skipped, however many.
        let mut padded = br#"{"error":"busy","padding":["#.to_vec();
        padded.extend(std::iter::repeat_n(b"0,".as_slice(), 1_000_000).flatten());
        padded.extend(br#"0],"retry_after_ms":5}"#);
        check(
            decode_refusal(&padded),
            Ok(RefusalBody {
                error: "busy".into(),
                retry_after_ms: Some(5),
            }),
        );
    }
}
