//! Serving connections: HTTP/1.1, over TLS when configured, at most [`CONNECTIONS_MAX`] at
//! once, each with a TLS handshake and header deadline. Each request carries its peer address
//! (for login throttling).
//!
//! A connection that has not yet sent a request is *waiting*. When every place is taken, a new
//! connection closes a waiting one to make room: the oldest of the source holding the most
//! ([`Waiting`]). So connections that send nothing (idle TCP, slow handshakes) cannot keep an
//! operator's browser out, and a crowd from one source closes its own connections first.

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
use tokio::sync::{Semaphore, oneshot};
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use crate::ConsoleError;
use crate::limits::{CONNECTIONS_MAX, HEADER_READ_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS};

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
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read the certificate", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("cannot read the certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("no certificate in", cert, &"empty"));
    }
    // The key is a secret: readable by the station's user alone, or refused.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(key)
        .map_err(|e| bad("cannot read the key", key, &e))?
        .permissions()
        .mode();
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
        PrivateKeyDer::from_pem_file(key).map_err(|e| bad("cannot read the key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConsoleError::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ConsoleError::Config(format!("TLS certificate and key: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Connections that have not yet sent a request, oldest first, each with what closes it.
#[derive(Default)]
struct Waiting {
    next_id: u64,
    by_id: BTreeMap<u64, (IpAddr, oneshot::Sender<()>)>,
}

impl Waiting {
    /// Registers a new connection from `source`; its id, and what resolves when it is closed
    /// to make room.
    fn add(&mut self, source: IpAddr) -> (u64, oneshot::Receiver<()>) {
        let (close, closed) = oneshot::channel();
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, (source, close));
        (id, closed)
    }

    /// Connection `id` sent a request (or ended): it no longer waits. Its closer is dropped,
    /// which its connection does not take for being closed.
    fn served(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    /// Closes the oldest waiting connection of the source holding the most; whether one was.
    fn close_one(&mut self) -> bool {
        let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
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
                let _ = close.send(());
                true
            }
            None => false,
        }
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
            // Closed to make room only while it waits: once served, its closer is dropped,
            // which does not match `Ok(())`, and only the connection is awaited.
            tokio::select! {
                () = connection => {}
                Ok(()) = closed => tracing::debug!(%remote, "console: closed a waiting connection to make room"),
            }
            with(&waiting, |w| w.served(id));
        });
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
        with(&waiting, |w| w.served(id));
        request.extensions_mut().insert(Remote(remote));
        router.clone().call(request)
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

    #[test]
    fn the_oldest_waiting_connection_of_the_most_crowded_source_is_closed() {
        let (crowd, operator) = ("10.0.0.9".parse().unwrap(), "10.0.0.1".parse().unwrap());
        let mut waiting = Waiting::default();
        let (_, mut first_operator) = waiting.add(operator);
        let (_, mut oldest_crowd) = waiting.add(crowd);
        let (served, mut served_closer) = waiting.add(crowd);
        let (_, mut newest_crowd) = waiting.add(crowd);
        waiting.served(served);
        assert!(waiting.close_one());
        assert_eq!(
            oldest_crowd.try_recv(),
            Ok(()),
            "the crowd's oldest waiting"
        );
        assert!(
            served_closer.try_recv().is_err(),
            "a served one is never closed"
        );
        assert!(newest_crowd.try_recv().is_err());
        assert!(waiting.close_one() && waiting.close_one(), "one each, then");
        assert_eq!(first_operator.try_recv(), Ok(()));
        assert!(!waiting.close_one(), "none left waiting");
    }
}
