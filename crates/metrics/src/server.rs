//! The metrics server: plain HTTP/1.1, `GET /metrics` only, one request per connection, at
//! most [`METRICS_CONNECTIONS_MAX`] connections at once. A request's body is never read.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::limits::{
    METRICS_CONNECTION_MS_MAX, METRICS_CONNECTIONS_MAX, METRICS_HEADER_READ_TIMEOUT_MS,
    METRICS_SCRAPE_MS_MAX,
};
use crate::write::CONTENT_TYPE as METRICS_CONTENT_TYPE;

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

/// Why the metrics address could not be listened on.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address is not `IP:PORT`.
    #[error("the metrics address {0:?} is not IP:PORT (e.g. 127.0.0.1:9464)")]
    Address(String),
    /// The socket could not be bound (a port in use, an address not of this machine).
    #[error("cannot listen for metrics on {addr}: {source}; is the port in use?")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's account.
        source: std::io::Error,
    },
}

/// Binds the metrics address `address` (`IP:PORT`), so that a bad address or a port in use
/// is found before anything is served. Call inside a tokio runtime.
pub fn bind(address: &str) -> Result<TcpListener, BindError> {
    let addr: SocketAddr = address
        .trim()
        .parse()
        .map_err(|_| BindError::Address(address.to_owned()))?;
    let listen = |source| BindError::Listen { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(listen)?;
    listener.set_nonblocking(true).map_err(listen)?;
    TcpListener::from_std(listener).map_err(listen)
}

/// Serves `GET /metrics` on `listener` until `stop` completes: each scrape calls `scrape`,
/// which answers the text, or `None` when it cannot (answered 503).
pub async fn serve<F, Fut>(listener: TcpListener, scrape: F, stop: impl Future<Output = ()>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    let scrape = Arc::new(scrape);
    let slots = Arc::new(Semaphore::new(METRICS_CONNECTIONS_MAX));
    tokio::pin!(stop);
    loop {
        let (tcp, remote) = tokio::select! {
            () = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: wait for some to free up.
                    tracing::warn!(%error, "accepting a metrics connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "metrics connection closed: {METRICS_CONNECTIONS_MAX} open");
            continue;
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let scrape = scrape.clone();
                async move { Ok::<_, Infallible>(answer(&request, || scrape()).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_millis(METRICS_HEADER_READ_TIMEOUT_MS))
                .keep_alive(false)
                .serve_connection(TokioIo::new(tcp), service);
            let limit = Duration::from_millis(METRICS_CONNECTION_MS_MAX);
            match tokio::time::timeout(limit, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%remote, "metrics connection failed: {error}"),
                Err(_) => tracing::debug!(%remote, "metrics connection over its time limit"),
            }
            drop(slot);
        });
    }
}

/// The answer to `request`: the scrape for `GET /metrics`, 405 for another method on it, 404
/// for any other path. The body is never read.
async fn answer<Fut>(
    request: &Request<Incoming>,
    scrape: impl FnOnce() -> Fut,
) -> Response<Full<Bytes>>
where
    Fut: Future<Output = Option<String>>,
{
    if request.uri().path() != METRICS_PATH {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let limit = Duration::from_millis(METRICS_SCRAPE_MS_MAX);
    match tokio::time::timeout(limit, scrape()).await {
        Ok(Some(text)) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        Ok(None) | Err(_) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the metrics could not be gathered now; retry\n",
        ),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    /// One raw HTTP/1.1 exchange with the server at `addr`.
    fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream.write_all(request.as_bytes()).expect("write");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        answer
    }

    fn check(addr: SocketAddr, request: &str, status: &str, body: &str) {
        let answer = exchange(addr, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(answer.ends_with(body), "{answer}");
    }

    #[test]
    fn only_get_metrics_is_served() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (listener, addr) = runtime.block_on(async {
            let listener = bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("address");
            (listener, addr)
        });
        let stop = tokio::sync::oneshot::channel::<()>();
        let scrape = || async { Some("up 1\n".to_owned()) };
        let server = runtime.spawn(serve(listener, scrape, async {
            let _ = stop.1.await;
        }));
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        check(addr, &get("/metrics"), "200", "\r\n\r\nup 1\n");
        check(addr, &get("/metrics?x=1"), "200", "up 1\n");
        let answer = exchange(addr, &get("/metrics"));
        assert!(
            answer.contains("content-type: text/plain; version=0.0.4"),
            "{answer}"
        );
        check(addr, &get("/"), "404", "at /metrics\n");
        check(addr, &get("/metricsx"), "404", "at /metrics\n");
        // A body is announced and never read; the answer comes all the same.
        let post = "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let answer = exchange(addr, post);
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        assert!(answer.contains("allow: GET"), "{answer}");
        check(addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "405", "");
        // A port in use is refused with an account of it.
        let error = runtime
            .block_on(async { bind(&addr.to_string()) })
            .expect_err("in use");
        assert!(error.to_string().contains("in use"), "{error}");
        let error = runtime
            .block_on(async { bind("localhost:99999") })
            .expect_err("not an address");
        assert!(error.to_string().contains("not IP:PORT"), "{error}");
        let _ = stop.0.send(());
        runtime.block_on(server).expect("the server stops");
    }

    #[test]
    fn a_failed_scrape_is_answered_503() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime.block_on(async { bind("127.0.0.1:0").expect("bind") });
        let addr = listener.local_addr().expect("address");
        let scrape = || async { None };
        let thread = std::thread::spawn(move || {
            check(
                addr,
                "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
                "503",
                "retry\n",
            );
        });
        runtime.block_on(async {
            tokio::select! {
                () = serve(listener, scrape, std::future::pending()) => {}
                () = async {
                    while !thread.is_finished() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                } => {}
            }
        });
        thread.join().expect("the check passed");
    }
}
