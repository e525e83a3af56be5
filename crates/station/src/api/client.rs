//! The operator API's client: one request per connection to the daemon's `api.sock`, with the
//! token from `api.token`, answered within [`API_TIMEOUT_MS`]; and a subscription that reads
//! events until the caller stops.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::{ApiError, ErrorClass, Event, Reply, Request, decode_answer, encode_request};
use crate::home::Home;
use crate::limits::{API_ANSWER_WRITE_MS_MAX, API_LINE_SIZE_MAX_BYTES, API_TIMEOUT_MS};

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
fn read_line(reader: &mut BufReader<UnixStream>) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    reader
        .by_ref()
        .take(API_LINE_SIZE_MAX_BYTES as u64)
        .read_line(&mut line)?;
    Ok((!line.is_empty()).then_some(line))
}

fn stopped() -> ApiError {
    ApiError::new(
        ErrorClass::Stopping,
        "the daemon stopped before answering; check `parley status`",
    )
}

/// Sends one request to the daemon running in `home` and returns its answer.
///
/// Once the request is written, the daemon may carry it out whatever becomes of the answer:
/// an answer that does not come within [`API_TIMEOUT_MS`], or cannot be read, is reported
/// as a request that may have been carried out (`stopping`), never as one the daemon did not
/// get (`unreachable`), so that nobody sends a FLASH message twice on its word.
pub fn call(home: &Home, request: &Request) -> Result<Reply, ApiError> {
    call_within(home, request, Duration::from_millis(API_TIMEOUT_MS))
}

fn call_within(home: &Home, request: &Request, timeout: Duration) -> Result<Reply, ApiError> {
    let mut reader = open(home, request, Some(timeout))?;
    let line = read_line(&mut reader)
        .map_err(|error| {
            if matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                may_be_done(format!(
                    "the daemon did not answer within {} ms",
                    timeout.as_millis()
                ))
            } else {
                may_be_done(format!("the daemon's answer could not be read ({error})"))
            }
        })?
        .ok_or_else(stopped)?;
    decode_answer(&line)
        .map_err(|error| may_be_done(format!("the daemon's answer could not be read ({error})")))?
}

/// The request was written and its answer did not come whole: the daemon may have carried it
/// out, so it is `stopping`, never `unreachable` or `local`.
fn may_be_done(unanswered: String) -> ApiError {
    ApiError::new(
        ErrorClass::Stopping,
        format!(
            "{unanswered}: the request may have been carried out; check with `status`, \
             `outbox` or `alarms` before repeating it"
        ),
    )
}

/// Longest `watch` waits, once its subscription ended, for the daemon to answer whether it
/// still runs, in milliseconds.
const STILL_RUNNING_WAIT_MS: u64 = 2_000;

/// Whether the daemon of `home` still answers (anything, an error too) within
/// [`STILL_RUNNING_WAIT_MS`]: a daemon stopping refuses the connection or hangs up unanswered.
fn answers(home: &Home) -> bool {
    let wait = Duration::from_millis(STILL_RUNNING_WAIT_MS);
    open(home, &Request::Status, Some(wait))
        .and_then(|mut reader| read_line(&mut reader).map_err(|error| unreachable("", error)))
        .is_ok_and(|line| line.is_some())
}

/// Subscribes to the daemon's events: yields each as it comes, until the daemon stops (a
/// `stopping` error, then the end), ends the subscription because its events were not taken
/// in time (a `local` error, then the end), or a line cannot be read (an error, then the end).
pub fn subscribe(home: &Home) -> Result<impl Iterator<Item = Result<Event, ApiError>>, ApiError> {
    let mut reader = open(home, &Request::Subscribe, None)?;
    let line = read_line(&mut reader)
        .map_err(|error| unreachable("reading the daemon's answer", error))?
        .ok_or_else(stopped)?;
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
    let home = home.clone();
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        let read = read_line(&mut reader)
            .map_err(|error| unreachable("reading the daemon's events", error));
        let event = match read {
            Ok(Some(line)) => serde_json::from_str(&line).map_err(|error| {
                ApiError::new(ErrorClass::Local, format!("unreadable event: {error}"))
            }),
            // The daemon ends a subscription while it runs only when an event waited too
            // long to be taken: it still answers then.
            Ok(None) if answers(&home) => Err(ApiError::new(
                ErrorClass::Local,
                format!(
                    "the daemon ended this subscription: an event was not taken within \
                     {API_ANSWER_WRITE_MS_MAX} ms (the output was not read: a paused terminal, \
                     a reader that stopped); no more events"
                ),
            )),
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

#[cfg(test)]
mod tests {
    use std::io::BufRead as _;
    use std::io::Write as _;
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A daemon that takes the request and does not answer in time may still carry it out:
    /// the caller is told so (`stopping`), not that the daemon could not be reached.
    #[test]
    fn a_request_taken_and_not_answered_in_time_may_have_been_carried_out() {
        let dir = tempfile::tempdir().expect("a directory");
        let home = Home::new(dir.path());
        std::fs::write(home.path("api.token"), "token\n").expect("writes");
        let listener = UnixListener::bind(home.socket_path()).expect("binds");
        let daemon = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accepts");
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).expect("reads");
            // Holds the connection past the caller's wait, answering nothing.
            std::thread::sleep(Duration::from_millis(600));
            (line, listener)
        });
        let error = call_within(&home, &Request::Status, Duration::from_millis(100))
            .expect_err("no answer");
        assert_eq!(error.class, ErrorClass::Stopping, "{error}");
        assert!(
            error.message.contains("did not answer within 100 ms"),
            "{error}"
        );
        assert!(
            error.message.contains("may have been carried out"),
            "{error}"
        );
        let (line, listener) = daemon.join().expect("joins");
        assert!(line.contains("status"), "{line}");

        // An answer that is not one (damaged, or cut off at the line limit) is the same.
        let daemon = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accepts");
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).expect("reads");
            stream.write_all(b"{\"ok\":tr\n").expect("answers");
        });
        let error = call(&home, &Request::Status).expect_err("unreadable");
        assert_eq!(error.class, ErrorClass::Stopping, "{error}");
        assert!(error.message.contains("could not be read"), "{error}");
        assert!(
            error.message.contains("may have been carried out"),
            "{error}"
        );
        daemon.join().expect("joins");

        // With nothing listening, nothing was sent.
        std::fs::remove_file(home.socket_path()).expect("removes");
        let error = call(&home, &Request::Status).expect_err("nobody");
        assert_eq!(error.class, ErrorClass::Unreachable, "{error}");
    }
}
