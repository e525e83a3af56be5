//! The operator API's client: one request per connection to the daemon's `api.sock`, with the
//! token from `api.token`, answered within [`API_TIMEOUT_MS`]; and a subscription that reads
//! events until the caller stops.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{ApiError, ErrorClass, Event, Reply, Request, decode_answer, encode_request};
use crate::home::Home;
use crate::limits::{API_LINE_SIZE_MAX_BYTES, API_TIMEOUT_MS};

fn unreachable(what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorClass::Unreachable,
        format!("{what}: {error}; is the daemon running? (`parley status` shows it)"),
    )
}

/// Connects to the daemon of `home` and sends `request`; returns the connection's reader.
fn open(
    home: &Home,
    request: &Request,
    timeout: Option<Duration>,
) -> Result<BufReader<UnixStream>, ApiError> {
    let token = std::fs::read_to_string(home.path("api.token"))
        .map_err(|error| unreachable("reading api.token", error))?;
    let stream = UnixStream::connect(home.socket_path())
        .map_err(|error| unreachable("connecting to the daemon's api.sock", error))?;
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_millis(API_TIMEOUT_MS))))
        .map_err(|error| unreachable("configuring the API socket", error))?;
    let line = encode_request(token.trim(), request)?;
    (&stream)
        .write_all(&line)
        .map_err(|error| unreachable("writing to the daemon", error))?;
    Ok(BufReader::new(stream))
}

/// Reads one answer line; `None` when the daemon hung up.
fn read_line(reader: &mut BufReader<UnixStream>) -> Result<Option<String>, ApiError> {
    let mut line = String::new();
    reader
        .by_ref()
        .take(API_LINE_SIZE_MAX_BYTES as u64)
        .read_line(&mut line)
        .map_err(|error| unreachable("reading the daemon's answer", error))?;
    Ok((!line.is_empty()).then_some(line))
}

fn stopped() -> ApiError {
    ApiError::new(
        ErrorClass::Stopping,
        "the daemon stopped before answering; check `parley status`",
    )
}

/// Sends one request to the daemon running in `home` and returns its answer.
pub fn call(home: &Home, request: &Request) -> Result<Reply, ApiError> {
    let timeout = Some(Duration::from_millis(API_TIMEOUT_MS));
    let mut reader = open(home, request, timeout)?;
    let line = read_line(&mut reader)?.ok_or_else(stopped)?;
    decode_answer(&line).map_err(|error| ApiError::new(ErrorClass::Local, error))?
}

/// Subscribes to the daemon's events: yields each as it comes, until the daemon stops (a
/// `stopping` error, then the end) or a line cannot be read (an error, then the end).
pub fn subscribe(home: &Home) -> Result<impl Iterator<Item = Result<Event, ApiError>>, ApiError> {
    let mut reader = open(home, &Request::Subscribe, None)?;
    let line = read_line(&mut reader)?.ok_or_else(stopped)?;
    match decode_answer(&line).map_err(|error| ApiError::new(ErrorClass::Local, error))?? {
        Reply::Subscribed => {}
        other => {
            return Err(ApiError::new(
                ErrorClass::Local,
                format!("the daemon answered a subscription with {other:?}"),
            ));
        }
    }
    let mut done = false;
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        let event = match read_line(&mut reader) {
            Ok(Some(line)) => serde_json::from_str(&line).map_err(|error| {
                ApiError::new(ErrorClass::Local, format!("unreadable event: {error}"))
            }),
            // The daemon does not end a subscription while it runs.
            Ok(None) => Err(ApiError::new(
                ErrorClass::Stopping,
                "the daemon stopped; no more events",
            )),
            Err(error) => Err(error),
        };
        done = event.is_err();
        Some(event)
    }))
}
