//! A stock `c2sp.org/tlog-witness` witness the station was configured with (not one of its
//! relays): its client, which posts `add-checkpoint` to the witness's submission prefix over
//! HTTP/1.1, plain or over TLS verified by the Web PKI rules, and the task that submits
//! checkpoints to it one at a time.
//!
//! The checkpoint is signed by the station, the proof is checked by the witness, and the
//! witness's answer is believed only as far as its cosignature verifies under the key
//! configured for it, so TLS adds nothing to what is recorded; it hides from an observer the
//! log's origin (the two stations' keys), its size and its root. Over `https://` the server is
//! verified against the certificate authorities of a PEM file: the one configured for the
//! witness, else the system's bundle ([`SYSTEM_CA_BUNDLE`], or `SSL_CERT_FILE`).
//!
//! Guarantees: every request has a deadline ([`WITNESS_REQUEST_TIMEOUT_MS`]); an answer is read
//! up to [`WITNESS_ANSWER_SIZE_MAX_BYTES`] and decoded strictly; the answer's cosignature is
//! left for the station to verify.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parley_proto::StationId;
use parley_proto::tlog::head::Witness;
use parley_relay_wire::ALPN_HTTP1;
use parley_relay_wire::witness::{
    AddCheckpoint, TEXT_CONTENT_TYPE, WITNESS_ANSWER_SIZE_MAX_BYTES, WitnessAnswer,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

use crate::connect::Connector;
use crate::report::{Inbound, Report, WitnessAt};

/// Longest a submission may take, connecting included, in milliseconds.
pub const WITNESS_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Longest a witness's URL may be, in bytes.
pub const WITNESS_URL_SIZE_MAX_BYTES: usize = 2_048;
/// Largest file of certificate authorities read, in bytes (Debian's whole bundle is about
/// 220 KiB).
pub const CA_FILE_SIZE_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The system's bundle of certificate authorities (Debian's `ca-certificates`), trusted for a
/// witness over `https://` that names no file of its own, unless `SSL_CERT_FILE` names one.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Most checkpoints waiting to be submitted to one stock witness (a station submits one per
/// link at a time).
pub const STOCK_WITNESS_QUEUE_MAX: usize = 64;
/// The path under the submission prefix (`c2sp.org/tlog-witness`).
const ADD_CHECKPOINT: &str = "/add-checkpoint";

/// The client of one stock witness.
#[derive(Clone, Debug)]
pub struct WitnessClient {
    http: Client<Connector, Full<Bytes>>,
    /// Where `add-checkpoint` is posted.
    add_checkpoint: Uri,
}

/// Why a witness's URL or its certificate authorities cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WitnessUrlError(String);

fn url_error(why: &str) -> WitnessUrlError {
    WitnessUrlError(format!("a witness's URL {why}"))
}

/// `url`, a witness's submission prefix (`http://` or `https://`, host, optional port and
/// path), as the URI `add-checkpoint` is posted to.
pub fn add_checkpoint_uri(url: &str) -> Result<Uri, WitnessUrlError> {
    if url.len() > WITNESS_URL_SIZE_MAX_BYTES {
        return Err(url_error("is over 2,048 bytes"));
    }
    let uri: Uri = url.parse().map_err(|_| url_error("is not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(scheme @ ("http" | "https")) => scheme,
        _ => return Err(url_error("does not begin with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| url_error("names no host"))?;
    if authority.host().is_empty() {
        return Err(url_error("names no host"));
    }
    if authority.as_str().contains('@') {
        return Err(url_error("carries user information"));
    }
    if uri.query().is_some() {
        return Err(url_error("has a query"));
    }
    if url.contains('#') {
        return Err(url_error("has a fragment"));
    }
    let prefix = uri.path().trim_end_matches('/');
    format!("{scheme}://{authority}{prefix}{ADD_CHECKPOINT}")
        .parse()
        .map_err(|_| url_error("is not a URL"))
}

/// The certificate authorities in the PEM file at `path`: a regular file (a link to one is
/// followed) of at most [`CA_FILE_SIZE_MAX_BYTES`] holding one certificate or more. It is
/// opened once without blocking, and what is judged and read is that open file.
pub fn read_authorities(path: &Path) -> Result<rustls::RootCertStore, WitnessUrlError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let fail = |why: String| WitnessUrlError(format!("certificate authorities {path:?}: {why}"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| fail(error.to_string()))?;
    let metadata = file.metadata().map_err(|error| fail(error.to_string()))?;
    if !metadata.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let over = |len: u64| {
        fail(format!(
            "{len} bytes, over the limit of {CA_FILE_SIZE_MAX_BYTES} bytes"
        ))
    };
    if metadata.len() > CA_FILE_SIZE_MAX_BYTES {
        return Err(over(metadata.len()));
    }
    let mut bytes = Vec::new();
    (file.take(CA_FILE_SIZE_MAX_BYTES + 1))
        .read_to_end(&mut bytes)
        .map_err(|error| fail(error.to_string()))?;
    if bytes.len() as u64 > CA_FILE_SIZE_MAX_BYTES {
        return Err(over(bytes.len() as u64));
    }
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| fail(format!("not PEM certificates: {error}")))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(fail("no certificate authority in it".into()));
    }
    Ok(roots)
}

/// The file of certificate authorities trusted for a witness over `https://` that names none:
/// `SSL_CERT_FILE`, else [`SYSTEM_CA_BUNDLE`].
pub fn system_authorities() -> PathBuf {
    std::env::var_os("SSL_CERT_FILE").map_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE), PathBuf::from)
}

impl WitnessClient {
    /// A client of the witness whose submission prefix is `url`; over `https://`, the server
    /// is verified against the certificate authorities in the PEM file `authorities`, or the
    /// system's ([`system_authorities`]).
    pub fn new(url: &str, authorities: Option<&Path>) -> Result<Self, WitnessUrlError> {
        let add_checkpoint = add_checkpoint_uri(url)?;
        let authority = add_checkpoint.authority().expect("checked");
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = match add_checkpoint.scheme_str() {
            Some("https") => {
                let roots = match authorities {
                    Some(path) => read_authorities(path)?,
                    None => read_authorities(&system_authorities()).map_err(|error| {
                        WitnessUrlError(format!(
                            "{error} (the system's, as `ca` names none: give `ca`, or set \
                             SSL_CERT_FILE)"
                        ))
                    })?,
                };
                let config = crate::tls::webpki_client_config(roots, &[ALPN_HTTP1])
                    .map_err(|error| WitnessUrlError(error.to_string()))?;
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| url_error("has an invalid host"))?;
                Some((TlsConnector::from(Arc::new(config)), name))
            }
            _ if authorities.is_some() => {
                return Err(WitnessUrlError(
                    "certificate authorities are for a witness over https://".into(),
                ));
            }
            _ => None,
        };
        let default_port = if tls.is_some() { 443 } else { 80 };
        let connector = Connector {
            tls,
            host,
            port: authority.port_u16().unwrap_or(default_port),
            timeout: Duration::from_millis(WITNESS_REQUEST_TIMEOUT_MS),
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_millis(crate::relay::POOL_IDLE_TIMEOUT_MS))
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
            let response =
                (self.http.request(request).await).map_err(|error| crate::chain(&error))?;
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
            ("https://w.example", "https://w.example/add-checkpoint"),
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
            ("ftp://w.example", "does not begin with http:// or https://"),
            ("w.example:80", "does not begin with http:// or https://"),
            ("http://user@w.example", "carries user information"),
            ("http://w.example/?a=1", "has a query"),
            ("http://w.example/#top", "has a fragment"),
            ("not a url", "is not a URL"),
        ] {
            let error = add_checkpoint_uri(url).unwrap_err().to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    /// A file of certificate authorities is read up to its limit, and refused one byte over;
    /// one that is not a regular file, or holds no certificate, is refused too.
    #[test]
    fn a_file_of_authorities_is_read_within_its_limit_only() {
        use base64::Engine as _;

        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let pem = format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n");
        let limit = CA_FILE_SIZE_MAX_BYTES as usize;
        let padded = |len: usize| format!("{pem}{}", "\n".repeat(len - pem.len()));
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, padded(limit)).unwrap();
        assert!(read_authorities(&path).is_ok());
        std::fs::write(&path, padded(limit + 1)).unwrap();
        let error = read_authorities(&path).unwrap_err().to_string();
        assert!(error.contains("over the limit of 4194304 bytes"), "{error}");
        std::fs::write(&path, "no certificate here\n").unwrap();
        let error = read_authorities(&path).unwrap_err().to_string();
        assert!(error.contains("no certificate authority in it"), "{error}");
        let error = read_authorities(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        // A FIFO with no writer is refused at once, not waited on.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let error = read_authorities(&fifo).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let error = read_authorities(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("No such file"), "{error}");
    }

    /// Certificate authorities are for `https://` only.
    #[test]
    fn authorities_for_a_plain_http_witness_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = WitnessClient::new("http://127.0.0.1:9", Some(dir.path())).unwrap_err();
        assert!(
            error.to_string().contains("for a witness over https://"),
            "{error}"
        );
        assert!(WitnessClient::new("http://127.0.0.1:9", None).is_ok());
    }
}
