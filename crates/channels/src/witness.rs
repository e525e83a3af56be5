//! A stock `c2sp.org/tlog-witness` witness the station was configured with (not one of its
//! relays): its client, which posts `add-checkpoint` to the witness's submission prefix over
//! plain HTTP/1.1, and the task that submits checkpoints to it one at a time.
//!
//! Plain HTTP loses nothing the protocol relies on: the checkpoint is signed by the station,
//! the proof is checked by the witness, and the witness's answer is believed only as far as its
//! cosignature verifies under the key configured for it. What an observer of the connection
//! learns is the log's origin (the two stations' keys), its size and its root.
//!
//! Guarantees: every request has a deadline ([`WITNESS_REQUEST_TIMEOUT_MS`]); an answer is read
//! up to [`WITNESS_ANSWER_SIZE_MAX_BYTES`] and decoded strictly; the answer's cosignature is
//! left for the station to verify.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parley_proto::StationId;
use parley_proto::tlog::head::Witness;
use parley_relay_wire::witness::{
    AddCheckpoint, TEXT_CONTENT_TYPE, WITNESS_ANSWER_SIZE_MAX_BYTES, WitnessAnswer,
};
use tokio::sync::mpsc;

use crate::report::{Inbound, Report, WitnessAt};

/// Longest a submission may take, connecting included, in milliseconds.
pub const WITNESS_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Longest a witness's URL may be, in bytes.
pub const WITNESS_URL_SIZE_MAX_BYTES: usize = 2_048;
/// Most checkpoints waiting to be submitted to one stock witness (a station submits one per
/// link at a time).
pub const STOCK_WITNESS_QUEUE_MAX: usize = 64;
/// The path under the submission prefix (`c2sp.org/tlog-witness`).
const ADD_CHECKPOINT: &str = "/add-checkpoint";

/// The client of one stock witness.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    http: Client<HttpConnector, Full<Bytes>>,
    /// Where `add-checkpoint` is posted.
    add_checkpoint: Uri,
}

/// Why a witness's URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a witness's URL {0}")]
pub struct WitnessUrlError(&'static str);

/// `url`, a witness's submission prefix (`http://host:port/prefix`, without a trailing `/`
/// before `add-checkpoint`), as the URI `add-checkpoint` is posted to.
pub fn add_checkpoint_uri(url: &str) -> Result<Uri, WitnessUrlError> {
    if url.len() > WITNESS_URL_SIZE_MAX_BYTES {
        return Err(WitnessUrlError("is over 2,048 bytes"));
    }
    let uri: Uri = url.parse().map_err(|_| WitnessUrlError("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(WitnessUrlError(
                "uses https, which a stock witness cannot be reached by yet: give its plain \
                 http:// address (its answers are signed)",
            ));
        }
        _ => return Err(WitnessUrlError("does not begin with http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(WitnessUrlError("names no host"));
    }
    if uri.query().is_some() {
        return Err(WitnessUrlError("has a query"));
    }
    if url.contains('#') {
        return Err(WitnessUrlError("has a fragment"));
    }
    let prefix = uri.path().trim_end_matches('/');
    format!(
        "http://{}{prefix}{ADD_CHECKPOINT}",
        uri.authority().expect("a host")
    )
    .parse()
    .map_err(|_| WitnessUrlError("is not a URL"))
}

impl WitnessClient {
    /// A client of the witness whose submission prefix is `url`.
    pub fn new(url: &str) -> Result<Self, WitnessUrlError> {
        let add_checkpoint = add_checkpoint_uri(url)?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_millis(WITNESS_REQUEST_TIMEOUT_MS)));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        Ok(Self {
            http,
            add_checkpoint,
        })
    }

    /// Submits a checkpoint (`add-checkpoint`). The answer is read, not checked: the
    /// cosignature is the caller's to verify.
    pub async fn add_checkpoint(
        &self,
        submission: &AddCheckpoint,
    ) -> Result<WitnessAnswer, String> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.add_checkpoint.clone())
            .header(CONTENT_TYPE, TEXT_CONTENT_TYPE)
            .body(Full::new(Bytes::from(submission.encode())))
            .map_err(|error| error.to_string())?;
        let limit = WITNESS_ANSWER_SIZE_MAX_BYTES;
        let exchange = async {
            let response = (self.http.request(request).await)
                .map_err(|error| format!("unreachable: {error}"))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        format!("its answer is over the limit of {limit} bytes")
                    } else {
                        format!("reading its answer failed: {error}")
                    }
                })?
                .to_bytes();
            WitnessAnswer::read(status, &body).map_err(|error| format!("its answer: {error}"))
        };
        let timeout = Duration::from_millis(WITNESS_REQUEST_TIMEOUT_MS);
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
    }
}

/// A checkpoint of this station's log of its link with the peer, at a size.
type Submission = (StationId, u64, AddCheckpoint);

/// The station's side of a stock witness's task.
#[derive(Clone, Debug)]
pub struct WitnessSender {
    checkpoints: mpsc::Sender<Submission>,
}

impl WitnessSender {
    /// Queues a checkpoint of this station's log of its link with `peer`, at `size`; its answer
    /// comes as a [`Report::Witnessed`]. False when the queue is full or the task has ended.
    pub fn try_submit(&self, peer: StationId, size: u64, submission: AddCheckpoint) -> bool {
        self.checkpoints.try_send((peer, size, submission)).is_ok()
    }
}

/// Starts the task that submits checkpoints to `witness` through `client`, one at a time in
/// the order queued, and reports each answer.
pub fn start(
    runtime: &tokio::runtime::Handle,
    witness: Witness,
    client: WitnessClient,
    inbound: Inbound,
) -> WitnessSender {
    let (checkpoints, mut submissions) = mpsc::channel::<Submission>(STOCK_WITNESS_QUEUE_MAX);
    runtime.spawn(async move {
        while let Some((peer, size, submission)) = submissions.recv().await {
            let answer = client.add_checkpoint(&submission).await;
            let report = Report::Witnessed {
                at: WitnessAt::Stock(witness.clone()),
                peer,
                size,
                answer,
                // The specification gives a witness no path to show its checkpoint.
                held: None,
            };
            if !inbound.send(report).await {
                return;
            }
        }
    });
    WitnessSender { checkpoints }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_submission_prefix_becomes_its_add_checkpoint_uri() {
        for (url, uri) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/add-checkpoint",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/add-checkpoint",
            ),
            (
                "http://witness.example:80/w/x/",
                "http://witness.example:80/w/x/add-checkpoint",
            ),
        ] {
            assert_eq!(add_checkpoint_uri(url).unwrap().to_string(), uri, "{url}");
        }
    }

    #[test]
    fn a_url_that_is_not_a_plain_http_prefix_is_refused_with_its_reason() {
        let long = format!("http://h/{}", "a".repeat(WITNESS_URL_SIZE_MAX_BYTES - 9));
        assert_eq!(long.len(), WITNESS_URL_SIZE_MAX_BYTES);
        assert!(add_checkpoint_uri(&long).is_ok());
        let over = format!("{long}a");
        for (url, reason) in [
            (over.as_str(), "is over 2,048 bytes"),
            ("https://w.example", "uses https"),
            ("ftp://w.example", "does not begin with http://"),
            ("w.example:80", "does not begin with http://"),
            ("http://w.example/?a=1", "has a query"),
            ("http://w.example/#top", "has a fragment"),
            ("not a url", "is not a URL"),
        ] {
            let error = add_checkpoint_uri(url).unwrap_err().to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }
}
