//! The operator API: newline-delimited JSON over the Unix socket `api.sock` in the station's
//! home (mode 0600, in a 0700 directory), each request carrying the token from `api.token`
//! (mode 0600). The CLI is its client; docs/cli.md documents the requests.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::StationError;
use crate::home::Home;

/// Longest request or response line, in bytes.
pub const API_LINE_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// Longest the CLI waits for the daemon's answer, in milliseconds.
pub const API_TIMEOUT_MS: u64 = 30_000;

/// What an operator asks of the daemon.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Send a message; answered once it is durable.
    Send {
        /// Peer name or fingerprint.
        peer: String,
        /// `flash`, `immediate`, `priority` or `routine`.
        precedence: String,
        /// The text.
        text: String,
    },
    /// Pin a peer from its card.
    PeerAdd {
        /// Armoured card text.
        card: String,
        /// Fingerprint confirmed out of band.
        fingerprint: String,
        /// Direct address overriding the card's.
        address: Option<String>,
    },
    /// Add a relay or courier channel to the link with a peer.
    ChannelAdd {
        /// Peer name or fingerprint.
        peer: String,
        /// `relay` or `courier`.
        kind: String,
        /// Relay URL or drop folder (absolute).
        target: String,
        /// The relay's armoured card (relay only).
        card: Option<String>,
        /// The relay's fingerprint, confirmed out of band (relay only).
        fingerprint: Option<String>,
    },
    /// Write a courier bundle for a peer.
    CourierExport {
        /// Peer name or fingerprint.
        peer: String,
        /// Output file (absolute).
        out: std::path::PathBuf,
    },
    /// Import a courier bundle.
    CourierImport {
        /// The bundle file (absolute).
        path: std::path::PathBuf,
        /// Keep frames that verify on their own when the bundle's signature fails.
        salvage: bool,
    },
    /// Live status.
    Status,
}

/// A request with its token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Authenticated {
    /// Contents of `api.token`.
    pub token: String,
    /// The request.
    #[serde(flatten)]
    pub request: Request,
}

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// What went wrong, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The result, when it did.
    #[serde(default)]
    pub result: serde_json::Value,
}

impl Response {
    /// A success.
    pub fn ok(result: serde_json::Value) -> Self {
        Self {
            ok: true,
            error: None,
            result,
        }
    }

    /// A failure.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            result: serde_json::Value::Null,
        }
    }
}

/// Compares tokens without an early exit on the first difference.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Sends one request to the daemon running in `home` and returns its result.
pub fn call(home: &Home, request: Request) -> Result<serde_json::Value, StationError> {
    let token = std::fs::read_to_string(home.path("api.token"))
        .map_err(|e| StationError::io("reading api.token (is the daemon running?)", e))?;
    let stream = UnixStream::connect(home.socket_path())
        .map_err(|e| StationError::io("connecting to the daemon's api.sock", e))?;
    let timeout = Some(Duration::from_millis(API_TIMEOUT_MS));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| StationError::io("configuring the API socket", e))?;
    let mut line = serde_json::to_vec(&Authenticated {
        token: token.trim().to_owned(),
        request,
    })
    .expect("requests serialise");
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| StationError::io("writing to the daemon", e))?;
    let mut reader = BufReader::new(stream).take(API_LINE_SIZE_MAX_BYTES as u64);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .map_err(|e| StationError::io("reading the daemon's answer", e))?;
    if answer.is_empty() {
        return Err(StationError::DaemonGone);
    }
    let response: Response = serde_json::from_str(&answer)
        .map_err(|e| StationError::Daemon(format!("unreadable answer: {e}")))?;
    match response.ok {
        true => Ok(response.result),
        false => Err(StationError::Daemon(
            response.error.unwrap_or_else(|| "unknown error".into()),
        )),
    }
}
