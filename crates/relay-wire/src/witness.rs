//! The witness API a relay serves when it runs as a witness, exactly as `c2sp.org/tlog-witness`
//! specifies it, so a stock C2SP witness can serve in a relay's place: the `add-checkpoint`
//! request body (an old size line, consistency proof lines, an empty line, the checkpoint as a
//! signed note), the `409 Conflict` body (the witness's size), and the answer (cosignature
//! lines). The witness signs as `parley.witness/<relay key hex>` with its identity key.
//!
//! Every decoder is total: it returns an error, never panics.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use parley_proto::StationId;
use parley_proto::tlog::Hash;
use sha2::{Digest as _, Sha256};

/// Where witness requests go: `<prefix>/add-checkpoint` and `<prefix>/<origin hash>/checkpoint`
/// (the specification's submission and monitoring prefixes, one and the same here).
pub const PATH_WITNESS: &str = "/witness";
/// `POST`: submit a checkpoint with a consistency proof; answered with cosignature lines.
pub const PATH_WITNESS_ADD_CHECKPOINT: &str = "/witness/add-checkpoint";
/// Content type of a `409 Conflict` answer: the witness's size for the log, in decimal.
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// Content type of a request body, of cosignature lines and of a checkpoint.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// Most consistency proof lines a request may carry (the specification's bound: a proof
/// between two trees of at most 2^63 leaves).
pub const CONSISTENCY_PROOF_LINES_MAX: usize = 63;
/// Largest `add-checkpoint` body read, in bytes. `c2sp.org/signed-note` has verifiers accept
/// at least 16 signatures, and the checkpoint submitted may carry other witnesses'
/// cosignatures: an ML-DSA-44 cosignature line is about 3.3 KB, so 16 of them (53 KB) with
/// the old size line, the most proof lines (63 × 45 bytes) and the checkpoint's text fit.
pub const ADD_CHECKPOINT_SIZE_MAX_BYTES: usize = 64 * 1024;
/// Largest answer a client reads from a witness, in bytes (cosignature lines, or a size): a
/// witness answers its own cosignatures, a few lines of at most about 3.3 KB (ML-DSA-44).
pub const WITNESS_ANSWER_SIZE_MAX_BYTES: usize = 16 * 1024;

/// The name `relay` cosigns under as a witness: `parley.witness/<relay key hex>`.
pub fn name(relay: &StationId) -> String {
    parley_proto::tlog::head::witness(relay)
}

/// The monitoring path of the log named `origin`: `/witness/<sha256(origin), hex>/checkpoint`.
pub fn checkpoint_path(origin: &str) -> String {
    format!(
        "{PATH_WITNESS}/{}/checkpoint",
        hex::encode(Sha256::digest(origin.as_bytes()))
    )
}

/// Why a witness request or answer could not be read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The body is not UTF-8 text.
    #[error("the body is not UTF-8 text")]
    NotText,
    /// The body is over its bound.
    #[error("the body is {len} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The body is not in the specified form.
    #[error("{0}")]
    Malformed(&'static str),
}

/// An `add-checkpoint` request: the size of the checkpoint the client believes the witness
/// holds, a consistency proof from it to the new checkpoint, and the new checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the witness's latest cosigned checkpoint of the log, as the client knows
    /// it (0 if none).
    pub old_size: u64,
    /// RFC 6962 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The checkpoint as a signed note (text, empty line, signature lines).
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body.
    pub fn encode(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }

    /// Reads a request body: its form only (the checkpoint is checked by the witness).
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let text = text(body, ADD_CHECKPOINT_SIZE_MAX_BYTES)?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or(WitnessError::Malformed("the body has no old size line"))?;
        let old_size =
            first
                .strip_prefix("old ")
                .and_then(decimal)
                .ok_or(WitnessError::Malformed(
                    "the first line is not `old <size>` in decimal without leading zeroes",
                ))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or(WitnessError::Malformed(
                "the proof lines do not end in an empty line",
            ))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == CONSISTENCY_PROOF_LINES_MAX {
                return Err(WitnessError::Malformed(
                    "the request carries more than 63 consistency proof lines",
                ));
            }
            let hash = BASE64
                .decode(line)
                .ok()
                .and_then(|bytes| Hash::try_from(bytes).ok())
                .ok_or(WitnessError::Malformed(
                    "a consistency proof line is not a base64 SHA-256 hash",
                ))?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err(WitnessError::Malformed("the request carries no checkpoint"));
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: rest.to_owned(),
        })
    }
}

/// What a witness answered an `add-checkpoint`, as its client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessAnswer {
    /// `200`: its cosignature lines (each ending in a newline), not checked yet.
    Cosigned(Vec<String>),
    /// `409 Conflict`: the size of the latest checkpoint of the log it cosigned.
    Conflict(u64),
    /// `404 Not Found`: it does not witness this log (not a witness, or the log's author is
    /// not known to it).
    NotWitnessing,
    /// Any other status (`400`, `403`, `422`, …), with the start of its body as text.
    Refused {
        /// The HTTP status.
        status: u16,
        /// What the body said, lossily decoded and cut to [`REFUSAL_TEXT_SIZE_MAX_BYTES`].
        text: String,
    },
}

/// Most bytes of a refusal's body kept as its text.
pub const REFUSAL_TEXT_SIZE_MAX_BYTES: usize = 512;

impl WitnessAnswer {
    /// Reads an answer of `status` with `body`.
    pub fn read(status: u16, body: &[u8]) -> Result<Self, WitnessError> {
        match status {
            200 => parse_cosignatures(body).map(Self::Cosigned),
            409 => parse_size(body).map(Self::Conflict),
            404 => Ok(Self::NotWitnessing),
            status => {
                let mut text = String::from_utf8_lossy(body).into_owned();
                if text.len() > REFUSAL_TEXT_SIZE_MAX_BYTES {
                    let mut end = REFUSAL_TEXT_SIZE_MAX_BYTES;
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    text.truncate(end);
                }
                Ok(Self::Refused { status, text })
            }
        }
    }
}

/// The body of a `409 Conflict` answer: the witness's size for the log.
pub fn encode_size(size: u64) -> String {
    format!("{size}\n")
}

/// Reads the body of a `409 Conflict` answer.
pub fn parse_size(body: &[u8]) -> Result<u64, WitnessError> {
    text(body, WITNESS_ANSWER_SIZE_MAX_BYTES)?
        .strip_suffix('\n')
        .and_then(decimal)
        .ok_or(WitnessError::Malformed(
            "the answer is not a size in decimal and a newline",
        ))
}

/// Reads a `200` answer: one or more note signature lines (each `— <name> <base64>` and a
/// newline), returned with their newlines, to be appended to the checkpoint's note.
pub fn parse_cosignatures(body: &[u8]) -> Result<Vec<String>, WitnessError> {
    let text = text(body, WITNESS_ANSWER_SIZE_MAX_BYTES)?;
    let body = text.strip_suffix('\n').ok_or(WitnessError::Malformed(
        "the answer does not end in a newline",
    ))?;
    if body.is_empty() {
        return Err(WitnessError::Malformed("the answer carries no cosignature"));
    }
    body.split('\n')
        .map(|line| {
            if line.starts_with("\u{2014} ") {
                Ok(format!("{line}\n"))
            } else {
                Err(WitnessError::Malformed(
                    "a line of the answer is not a signature line",
                ))
            }
        })
        .collect()
}

fn text(body: &[u8], max: usize) -> Result<&str, WitnessError> {
    if body.len() > max {
        return Err(WitnessError::TooLarge {
            len: body.len(),
            max,
        });
    }
    std::str::from_utf8(body).map_err(|_| WitnessError::NotText)
}

/// A size in ASCII decimal with no leading zeroes (`0` alone for zero).
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKPOINT: &str = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAA\n";

    #[test]
    fn a_request_round_trips_and_reads_as_the_specification_writes_it() {
        let request = AddCheckpoint {
            old_size: 2,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: CHECKPOINT.to_owned(),
        };
        let body = request.encode();
        assert!(body.starts_with("old 2\nAQEB"));
        assert_eq!(AddCheckpoint::parse(body.as_bytes()), Ok(request));
        let first = AddCheckpoint::parse(format!("old 0\n\n{CHECKPOINT}").as_bytes())
            .expect("a first submission");
        assert_eq!((first.old_size, first.proof.len()), (0, 0));
    }

    #[test]
    fn a_malformed_request_is_refused_with_its_reason() {
        let hash = BASE64.encode([7; 32]);
        for (body, reason) in [
            ("".to_owned(), "no old size line"),
            (format!("old 01\n\n{CHECKPOINT}"), "leading zeroes"),
            (format!("old -1\n\n{CHECKPOINT}"), "leading zeroes"),
            (
                format!("old 18446744073709551616\n\n{CHECKPOINT}"),
                "leading zeroes",
            ),
            (format!("size 1\n\n{CHECKPOINT}"), "leading zeroes"),
            (format!("old 1\n{hash}\n\n"), "no checkpoint"),
            (format!("old 1\n{hash}\n"), "empty line"),
            (format!("old 1\n{hash}"), "empty line"),
            (format!("old 1\nAAAA\n\n{CHECKPOINT}"), "base64 SHA-256"),
            (format!("old 1\n{hash} \n\n{CHECKPOINT}"), "base64 SHA-256"),
        ] {
            let error = AddCheckpoint::parse(body.as_bytes()).expect_err(&body);
            assert!(error.to_string().contains(reason), "{body:?}: {error}");
        }
        assert_eq!(
            AddCheckpoint::parse(b"old 1\n\xff\n\n"),
            Err(WitnessError::NotText)
        );
    }

    #[test]
    fn a_request_carries_at_most_63_proof_lines_and_64_kib() {
        let line = format!("{}\n", BASE64.encode([7; 32]));
        let with = |lines: usize| format!("old 1\n{}\n{CHECKPOINT}", line.repeat(lines));
        let at = AddCheckpoint::parse(with(CONSISTENCY_PROOF_LINES_MAX).as_bytes());
        assert_eq!(at.map(|request| request.proof.len()), Ok(63));
        let over = AddCheckpoint::parse(with(CONSISTENCY_PROOF_LINES_MAX + 1).as_bytes());
        assert!(over.is_err_and(|error| error.to_string().contains("more than 63")));

        let padded = |len: usize| {
            let mut body = format!("old 0\n\n{CHECKPOINT}");
            body.push_str(&"x".repeat(len - body.len()));
            body
        };
        assert!(AddCheckpoint::parse(padded(ADD_CHECKPOINT_SIZE_MAX_BYTES).as_bytes()).is_ok());
        assert_eq!(
            AddCheckpoint::parse(padded(ADD_CHECKPOINT_SIZE_MAX_BYTES + 1).as_bytes()),
            Err(WitnessError::TooLarge {
                len: ADD_CHECKPOINT_SIZE_MAX_BYTES + 1,
                max: ADD_CHECKPOINT_SIZE_MAX_BYTES
            })
        );
    }

    /// An ML-DSA-44 cosignature line (`c2sp.org/tlog-cosignature`): key id, time and a
    /// 2420-byte signature, in base64 under a witness's name.
    fn ml_dsa_44_line(witness: u8) -> String {
        format!(
            "\u{2014} witness{witness}.example/w1 {}\n",
            BASE64.encode([witness; 4 + 8 + 2420])
        )
    }

    #[test]
    fn a_request_with_16_ml_dsa_44_cosignatures_and_the_most_proof_lines_is_read() {
        let proof = vec![[7; 32]; CONSISTENCY_PROOF_LINES_MAX];
        let cosignatures: String = (0..16u8).map(ml_dsa_44_line).collect();
        let request = AddCheckpoint {
            old_size: u64::MAX - 1,
            proof,
            checkpoint: format!("{CHECKPOINT}{cosignatures}"),
        };
        let body = request.encode();
        assert!(body.len() > 16 * 1024, "{} bytes", body.len());
        assert_eq!(AddCheckpoint::parse(body.as_bytes()), Ok(request));
    }

    #[test]
    fn sizes_and_cosignature_answers_read_strictly() {
        assert_eq!(
            parse_size(encode_size(20_852_014).as_bytes()),
            Ok(20_852_014)
        );
        assert_eq!(parse_size(b"0\n"), Ok(0));
        for bad in [&b"12"[..], b"012\n", b"\n", b"1 \n", b"1\n\n"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        let lines = "\u{2014} w/1 AAAA\n\u{2014} w/1 BBBB\n";
        assert_eq!(
            parse_cosignatures(lines.as_bytes()),
            Ok(vec![
                "\u{2014} w/1 AAAA\n".to_owned(),
                "\u{2014} w/1 BBBB\n".to_owned()
            ])
        );
        for bad in [
            "",
            "\n",
            "\u{2014} w/1 AAAA",
            "- w/1 AAAA\n",
            "\u{2014} w/1 AAAA\n\n",
        ] {
            assert!(parse_cosignatures(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn answers_read_by_status_and_a_refusal_keeps_at_most_512_bytes_of_text() {
        assert_eq!(
            WitnessAnswer::read(409, b"7\n"),
            Ok(WitnessAnswer::Conflict(7))
        );
        assert_eq!(
            WitnessAnswer::read(404, b"anything"),
            Ok(WitnessAnswer::NotWitnessing)
        );
        assert!(WitnessAnswer::read(200, b"").is_err());
        assert!(WitnessAnswer::read(409, b"seven\n").is_err());
        let at = "\u{e9}".repeat(REFUSAL_TEXT_SIZE_MAX_BYTES / 2);
        let over = format!("{at}x");
        for (body, kept) in [(at.as_str(), at.len()), (over.as_str(), at.len())] {
            let Ok(WitnessAnswer::Refused { status, text }) =
                WitnessAnswer::read(422, body.as_bytes())
            else {
                panic!("a refusal")
            };
            assert_eq!((status, text.len()), (422, kept));
        }
        let split = format!("x{at}");
        let Ok(WitnessAnswer::Refused { text, .. }) = WitnessAnswer::read(400, split.as_bytes())
        else {
            panic!("a refusal")
        };
        assert_eq!(
            text.len(),
            REFUSAL_TEXT_SIZE_MAX_BYTES - 1,
            "cut at a character boundary"
        );
    }

    #[test]
    fn the_monitoring_path_names_the_origin_by_its_hash() {
        assert_eq!(
            checkpoint_path("example.com/log"),
            format!(
                "/witness/{}/checkpoint",
                hex::encode(Sha256::digest(b"example.com/log"))
            )
        );
    }
}
