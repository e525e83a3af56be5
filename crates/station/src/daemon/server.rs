//! The operator API server: newline-delimited JSON on `api.sock` (mode 0600 in a 0700 home),
//! every request carrying the token of `api.token` (mode 0600, new at every start). At most
//! [`API_CLIENTS_MAX`] connections are served at once; each line is one request, run through
//! [`edge::perform`] on a blocking thread (its file work never touches the driver) and answered
//! once the driver has committed what it changed. A connection that sends no request within
//! [`API_REQUEST_WAIT_MS_MAX`] is closed, and so is one that has not taken an answer within
//! [`API_ANSWER_WRITE_MS_MAX`] (a client that sends requests and reads nothing would otherwise
//! hold its place for good). A `subscribe` request turns the connection into a stream of
//! events, each of which is taken within [`API_ANSWER_WRITE_MS_MAX`] too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, broadcast};

use parley_channels::log_limit::LogLimit;

use super::{Calls, call_blocking};
use crate::api::{
    ApiError, ErrorClass, Event, Reply, Request, decode_request, edge, encode_answer,
};
use crate::error::StationError;
use crate::home::Home;
use crate::limits::{
    API_ACCEPT_RETRY_MS, API_ANSWER_WRITE_MS_MAX, API_CLIENTS_MAX, API_LINE_SIZE_MAX_BYTES,
    API_REQUEST_WAIT_MS_MAX, WRONG_TOKEN_LOG_INTERVAL_MS,
};

/// The server's shared state.
pub(super) struct ApiServer {
    token: String,
    calls: Calls,
    events: broadcast::Sender<Event>,
    clients: Arc<Semaphore>,
    refused: AtomicU64,
    /// Warnings of requests with a wrong token, at most one per interval.
    wrong_tokens: std::sync::Mutex<LogLimit<()>>,
}

impl ApiServer {
    /// Writes a fresh token, binds the socket and starts serving.
    pub(super) fn bind(
        home: &Home,
        runtime: &tokio::runtime::Runtime,
        calls: Calls,
        events: broadcast::Sender<Event>,
    ) -> Result<Arc<Self>, StationError> {
        let token = random_token();
        crate::home::write_private(&home.path("api.token"), token.as_bytes(), 0o600)?;
        let _ = std::fs::remove_file(home.socket_path());
        let listener = {
            let _guard = runtime.enter();
            UnixListener::bind(home.socket_path())
                .map_err(|e| StationError::io("binding api.sock", e))?
        };
        set_mode(&home.socket_path(), 0o600)?;
        let server = Arc::new(Self {
            token,
            calls,
            events,
            clients: Arc::new(Semaphore::new(API_CLIENTS_MAX)),
            refused: AtomicU64::new(0),
            wrong_tokens: std::sync::Mutex::new(LogLimit::new(WRONG_TOKEN_LOG_INTERVAL_MS)),
        });
        runtime.spawn(server.clone().serve(listener));
        Ok(server)
    }

    /// Connections refused because [`API_CLIENTS_MAX`] were open.
    pub(super) fn clients_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of descriptors, say: wait for some to free up and go on serving.
                    tracing::warn!(%error, "API accept failed; retrying");
                    let retry = Duration::from_millis(API_ACCEPT_RETRY_MS);
                    tokio::time::sleep(retry).await;
                    continue;
                }
            };
            match self.clients.clone().try_acquire_owned() {
                Ok(permit) => {
                    let server = self.clone();
                    tokio::spawn(async move {
                        server.serve_client(stream).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    let busy = ApiError::new(
                        ErrorClass::Local,
                        format!(
                            "{API_CLIENTS_MAX} API connections are open, the most served at once; nothing was done; try again"
                        ),
                    );
                    let (_, mut write) = stream.into_split();
                    answer_to(&mut write, &Err(busy)).await;
                }
            }
        }
    }

    async fn serve_client(self: Arc<Self>, stream: UnixStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let mut line = Vec::new();
        loop {
            line.clear();
            let mut limited = (&mut lines).take(API_LINE_SIZE_MAX_BYTES as u64 + 1);
            let wait = Duration::from_millis(API_REQUEST_WAIT_MS_MAX);
            match tokio::time::timeout(wait, limited.read_until(b'\n', &mut line)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) => {
                    let idle = ApiError::operator(format!(
                        "no request within {API_REQUEST_WAIT_MS_MAX} ms; the connection is closed; \
                         nothing was done"
                    ));
                    answer_to(&mut write, &Err(idle)).await;
                    return;
                }
            }
            if line.len() > API_LINE_SIZE_MAX_BYTES {
                let too_long = ApiError::operator(format!(
                    "request is over {API_LINE_SIZE_MAX_BYTES} bytes; nothing was done"
                ));
                answer_to(&mut write, &Err(too_long)).await;
                return;
            }
            let request = match decode_request(&line) {
                Ok((token, _)) if !tokens_match(&token, &self.token) => {
                    let mut log = self
                        .wrong_tokens
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(suppressed) = log.admit_now(()) {
                        tracing::warn!(suppressed, "API request with a wrong token refused");
                    }
                    Err(ApiError::operator("wrong API token; nothing was done"))
                }
                Ok((_, request)) => Ok(request),
                Err(error) => Err(error),
            };
            if request == Ok(Request::Subscribe) {
                self.stream_events(lines, write).await;
                return;
            }
            let answer = match request {
                Ok(request) => self.clone().perform(request).await,
                Err(error) => Err(error),
            };
            if !answer_to(&mut write, &answer).await {
                return;
            }
        }
    }

    async fn perform(self: Arc<Self>, request: Request) -> Result<Reply, ApiError> {
        let calls = self.calls.clone();
        let performed = tokio::task::spawn_blocking(move || {
            edge::perform(request, |command| call_blocking(&calls, command))
        })
        .await;
        performed.unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorClass::Local,
                "the request failed inside the daemon; nothing was done",
            ))
        })
    }

    /// Streams events until the client hangs up, the daemon stops, or an event has waited
    /// [`API_ANSWER_WRITE_MS_MAX`] to be taken (a subscriber that stopped reading would
    /// otherwise hold its place for good). A subscriber that falls behind, but reads, is told
    /// how many events it missed. A subscriber sends nothing more: its end of
    /// the connection is read only to see it close (or anything sent, which ends the stream
    /// too), so a subscriber gone from a quiet station frees its place among the
    /// `API_CLIENTS_MAX` at once, not at the next event.
    async fn stream_events(&self, mut read: impl AsyncRead + Unpin, mut write: OwnedWriteHalf) {
        let mut events = self.events.subscribe();
        if write
            .write_all(&encode_answer(&Ok(Reply::Subscribed)))
            .await
            .is_err()
        {
            return;
        }
        let mut sent = [0u8; 1];
        loop {
            let received = tokio::select! {
                received = events.recv() => received,
                // Closed, failed, or a byte a subscriber never sends.
                _ = read.read(&mut sent) => return,
            };
            let event = match received {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(missed)) => Event::Lagged { missed },
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut line = serde_json::to_vec(&event).expect("events serialise");
            line.push(b'\n');
            if !taken_in_time(&mut write, &line).await {
                return;
            }
        }
    }
}

/// Compares tokens without an early exit on the first difference.
fn tokens_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn set_mode(path: &std::path::Path, mode: u32) -> Result<(), StationError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StationError::io("restricting api.sock", e))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `answer` to a client; false if it failed or the client did not take it within
/// [`API_ANSWER_WRITE_MS_MAX`] (the connection is then to be closed).
async fn answer_to(write: &mut OwnedWriteHalf, answer: &Result<Reply, ApiError>) -> bool {
    taken_in_time(write, &encode_answer(answer)).await
}

/// Writes `line` to a client; false if it failed or the client did not take it within
/// [`API_ANSWER_WRITE_MS_MAX`].
async fn taken_in_time(write: &mut OwnedWriteHalf, line: &[u8]) -> bool {
    let wait = Duration::from_millis(API_ANSWER_WRITE_MS_MAX);
    matches!(
        tokio::time::timeout(wait, write.write_all(line)).await,
        Ok(Ok(()))
    )
}
