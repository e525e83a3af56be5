//! Serving connections: HTTP/1.1, over TLS when configured, at most [`CONNECTIONS_MAX`] at
//! once, each with a TLS handshake and header deadline. Each request carries its peer address
//! (for login throttling).
//!
//! A connection is *waiting* while no request of it is being answered: before its first, and
//! between two on a kept-alive connection, from when an answer's last part is handed over to
//! be written (so a page, closed to make room then, may be cut short). When every
//! place is taken, a new connection closes a waiting one to make room: the oldest of the
//! source (an IPv4 address, an IPv6 /64) holding the most ([`Waiting`]). So connections that
//! send nothing (idle TCP, slow handshakes), or a request now and then to be kept alive, cannot
//! keep an operator's browser out, and a crowd from one source closes its own connections
//! first. An event stream is not waiting until it ends: it is an operator's open page (it
//! needs a session).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use crate::ConsoleError;
use crate::limits::{
    CONNECTIONS_MAX, HEADER_READ_TIMEOUT_MS, TLS_FILE_SIZE_MAX_BYTES, TLS_HANDSHAKE_TIMEOUT_MS,
};
use crate::session::Origin;

/// The address a request came from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote(pub(crate) SocketAddr);

/// The TLS configuration from a PEM certificate chain and key.
pub(crate) fn tls_config(cert: &Path, key: &Path) -> Result<TlsAcceptor, ConsoleError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &Path, error: &dyn std::fmt::Display| {
        ConsoleError::Config(format!("{what} {}: {error}", path.display()))
    };
    let (pem, _) = read_tls_file(cert).map_err(|e| bad("cannot read the certificate", cert, &e))?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("cannot read the certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("no certificate in", cert, &"empty"));
    }
    // The key is a secret: readable by the station's user alone, or refused (the mode of the
    // file read, not of what the path names a moment before).
    let (pem, mode) = read_tls_file(key).map_err(|e| bad("cannot read the key", key, &e))?;
    if mode & 0o077 != 0 {
        return Err(bad(
            "the key",
            key,
            &format!(
                "is readable by others (mode {:o}); chmod 600 it",
                mode & 0o777
            ),
        ));
    }
    let key_der =
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad("cannot read the key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConsoleError::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ConsoleError::Config(format!("TLS certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Reads a certificate or key file of the console's, and its mode: a regular file (through a
/// symbolic link, as certificates are often kept) of at most [`TLS_FILE_SIZE_MAX_BYTES`],
/// opened without blocking, so that a FIFO or a device named by mistake is refused at once
/// rather than holding the start, or read without end.
fn read_tls_file(path: &Path) -> std::io::Result<(Vec<u8>, u32)> {
    use std::io::Read as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let metadata = file.metadata()?;
    let refuse = |why: String| Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, why));
    if !metadata.is_file() {
        return refuse("not a regular file".into());
    }
    if metadata.len() > TLS_FILE_SIZE_MAX_BYTES as u64 {
        return refuse(format!("over the limit of {TLS_FILE_SIZE_MAX_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    file.take(TLS_FILE_SIZE_MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > TLS_FILE_SIZE_MAX_BYTES {
        return refuse(format!("over the limit of {TLS_FILE_SIZE_MAX_BYTES} bytes"));
    }
    Ok((bytes, metadata.permissions().mode()))
}

/// A waiting connection: where it comes from, and what closes it.
type Waiter = (Origin, Arc<Notify>);

/// Connections waiting (no request of theirs being answered), oldest first by when they
/// connected, each with what closes it.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    by_id: BTreeMap<u64, Waiter>,
}

impl Waiting {
    /// Registers a new connection from `source`; its id, and what is notified when it is
    /// closed to make room.
    fn add(&mut self, source: IpAddr) -> (u64, Arc<Notify>) {
        let close = Arc::new(Notify::new());
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, (source.into(), close.clone()));
        (id, close)
    }

    /// Connection `id` sent a request (or ended): it no longer waits. Returns what it waited
    /// as, to wait again once answered ([`Waiting::answered`]).
    fn served(&mut self, id: u64) -> Option<Waiter> {
        self.by_id.remove(&id)
    }

    /// Connection `id`'s request was answered: it waits again, as old as it was.
    fn answered(&mut self, id: u64, waiter: Waiter) {
        self.by_id.insert(id, waiter);
    }

    /// Closes the oldest waiting connection of the source holding the most; whether one was.
    fn close_one(&mut self) -> bool {
        let mut counts: BTreeMap<Origin, usize> = BTreeMap::new();
        for (source, _) in self.by_id.values() {
            *counts.entry(*source).or_default() += 1;
        }
        let Some((&crowded, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
            return false;
        };
        let oldest = self
            .by_id
            .iter()
            .find(|(_, (s, _))| *s == crowded)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.by_id.remove(&id)) {
            Some((_, close)) => {
                // Its connection may have just ended: the place is free either way.
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Puts a connection back among the waiting when dropped, with what it waited as.
struct WaitsAgain {
    waiting: Arc<Mutex<Waiting>>,
    id: u64,
    waiter: Option<Waiter>,
}

impl Drop for WaitsAgain {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            with(&self.waiting, |w| w.answered(self.id, waiter));
        }
    }
}

/// An answer's body being written; its connection waits again once it is dropped (its last
/// part handed over to be written, or given up).
struct Answering {
    body: axum::body::Body,
    _again: WaitsAgain,
}

impl hyper::body::Body for Answering {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// Accepts connections until the runtime stops.
pub(crate) async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, router: Router) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("console: accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let closed = with(&waiting, Waiting::close_one);
                if closed {
                    tracing::debug!(%remote, "console: every place taken; closed the oldest waiting connection of the most crowded source");
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                slot
            }
        };
        let (id, closed) = with(&waiting, |w| w.add(remote.ip()));
        let router = router.clone();
        let tls = tls.clone();
        let waiting = waiting.clone();
        tokio::spawn(async move {
            let _slot = slot;
            // Forgets the connection once it ends, its answer's body dropped first (declared
            // after, dropped before), on a panic too.
            let _forget = Forget(waiting.clone(), id);
            let connection = async {
                match tls {
                    None => serve(tcp, (remote, id), &waiting, router).await,
                    Some(acceptor) => {
                        let handshake = Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS);
                        match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => serve(stream, (remote, id), &waiting, router).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%remote, "console: TLS failed: {error}");
                            }
                            Err(_) => tracing::debug!(%remote, "console: TLS handshake too slow"),
                        }
                    }
                }
            };
            // Closed to make room only while it waits (the notification comes only then).
            tokio::select! {
                () = connection => {}
                () = closed.notified() => tracing::debug!(%remote, "console: closed a waiting connection to make room"),
            }
        });
    }
}

/// Forgets connection `.1` among the waiting when dropped.
struct Forget(Arc<Mutex<Waiting>>, u64);

impl Drop for Forget {
    fn drop(&mut self) {
        with(&self.0, |w| w.served(self.1));
    }
}

/// Runs `f` on the waiting connections under their lock.
fn with<T>(waiting: &Mutex<Waiting>, f: impl FnOnce(&mut Waiting) -> T) -> T {
    // Nothing holding the lock can panic midway: a poisoned lock is sound.
    f(&mut waiting.lock().unwrap_or_else(PoisonError::into_inner))
}

async fn serve<S>(
    stream: S,
    (remote, id): (SocketAddr, u64),
    waiting: &Arc<Mutex<Waiting>>,
    router: Router,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let waiting = waiting.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let waiter = with(&waiting, |w| w.served(id));
        request.extensions_mut().insert(Remote(remote));
        let answer = router.clone().call(request);
        let waiting = waiting.clone();
        async move {
            let response = answer.await?;
            // Waiting again once its answer's last part is handed over (or it is given up):
            // an event stream, an operator's open page, only once it ends.
            let again = WaitsAgain {
                waiting,
                id,
                waiter,
            };
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                axum::body::Body::new(Answering {
                    body,
                    _again: again,
                })
            }))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(HEADER_READ_TIMEOUT_MS))
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = connection.await {
        tracing::debug!(%remote, "console: connection ended: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Certificate and key files named by mistake are refused at once: a FIFO (it held the
    /// start for good), a device (read without end), a file over the limit (at the limit it
    /// is read). A link to a regular file is followed, and the mode is the file's.
    #[test]
    fn tls_files_are_read_as_files_from_outside_are() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("a scratch directory");
        let fifo = dir.path().join("fifo");
        let mode = rustix::fs::Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0)
            .expect("a FIFO");
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let refused = read_tls_file(path).expect_err("refused");
            assert!(
                refused.to_string().contains("not a regular file"),
                "{refused}"
            );
            let Err(ConsoleError::Config(refused)) = tls_config(path, path) else {
                panic!("{} taken for a certificate", path.display());
            };
            assert!(refused.contains("not a regular file"), "{refused}");
        }
        let large = dir.path().join("large.pem");
        let file = std::fs::File::create(&large).expect("created");
        file.set_len(TLS_FILE_SIZE_MAX_BYTES as u64).expect("sized");
        std::fs::set_permissions(&large, std::fs::Permissions::from_mode(0o640)).expect("set");
        let link = dir.path().join("link.pem");
        std::os::unix::fs::symlink(&large, &link).expect("linked");
        let (bytes, mode) = read_tls_file(&link).expect("at the limit");
        assert_eq!(
            (bytes.len(), mode & 0o777),
            (TLS_FILE_SIZE_MAX_BYTES, 0o640)
        );
        file.set_len(TLS_FILE_SIZE_MAX_BYTES as u64 + 1)
            .expect("sized");
        let refused = read_tls_file(&large).expect_err("over it");
        assert!(refused.to_string().contains("over the limit"), "{refused}");
    }

    /// Whether `close` was notified (and takes the notification).
    fn closed(close: &Notify) -> bool {
        let notified = close.notified();
        tokio::pin!(notified);
        notified.enable()
    }

    #[test]
    fn the_oldest_waiting_connection_of_the_most_crowded_source_is_closed() {
        let (crowd, operator) = ("10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let mut waiting = Waiting::default();
        let (_, first_operator) = waiting.add(operator);
        let (_, oldest_crowd) = waiting.add(crowd);
        let (served, served_closer) = waiting.add(crowd);
        let (_, newest_crowd) = waiting.add(crowd);
        let answering = waiting.served(served).expect("it waited");
        assert!(waiting.close_one());
        assert!(closed(&oldest_crowd), "the crowd's oldest waiting");
        assert!(
            !closed(&served_closer),
            "one being answered is never closed"
        );
        assert!(!closed(&newest_crowd));
        // Answered, it waits again, as old as it was: older than the crowd's newest.
        waiting.answered(served, answering);
        assert!(waiting.close_one());
        assert!(closed(&served_closer), "answered, it waits again");
        assert!(!closed(&newest_crowd));
        assert!(waiting.close_one() && waiting.close_one(), "one each, then");
        assert!(closed(&first_operator) && closed(&newest_crowd));
        assert!(!waiting.close_one(), "none left waiting");
    }
}
