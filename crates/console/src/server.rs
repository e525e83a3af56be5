//! Serving connections: HTTP/1.1, over TLS when configured, at most [`CONNECTIONS_MAX`] at
//! once, each with a TLS handshake and header deadline. Each request carries its peer address
//! (for login throttling).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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

/// Accepts connections until the runtime stops.
pub(crate) async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, router: Router) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("console: accepting a connection failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => serve(tcp, remote, router).await,
                Some(acceptor) => {
                    let handshake = Duration::from_millis(TLS_HANDSHAKE_TIMEOUT_MS);
                    match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve(stream, remote, router).await,
                        Ok(Err(error)) => tracing::debug!(%remote, "console: TLS failed: {error}"),
                        Err(_) => tracing::debug!(%remote, "console: TLS handshake too slow"),
                    }
                }
            }
        });
    }
}

async fn serve<S>(stream: S, remote: SocketAddr, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
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
