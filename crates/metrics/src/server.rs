//! The metrics server: plain HTTP/1.1, `GET /metrics` only, one request per connection, at
//! most [`METRICS_CONNECTIONS_MAX`] connections at once. A request's body is never read.
//!
//! At most one scrape gathers at a time ([`Gatherer`]): a request that arrives while one is
//! under way shares its text instead of starting another, and a request that waits past
//! [`METRICS_SCRAPE_MS_MAX`] is answered 503 while the gathering runs on to its end. A slow
//! store or a busy driver therefore costs one gathering, never one per scrape.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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

/// Serves `GET /metrics` on `listener` until `stop` completes: a scrape calls `scrape`, which
/// answers the text, or `None` when it cannot (answered 503). `scrape` is never called again
/// while a call's future is still running: requests meanwhile share its answer, and those
/// that wait for it more than [`METRICS_SCRAPE_MS_MAX`] are answered 503.
pub async fn serve<F, Fut>(listener: TcpListener, scrape: F, stop: impl Future<Output = ()>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    let limit = Duration::from_millis(METRICS_SCRAPE_MS_MAX);
    serve_within(listener, scrape, stop, limit).await;
}

/// [`serve`], with requests waiting at most `limit` for a scrape.
async fn serve_within<F, Fut>(
    listener: TcpListener,
    scrape: F,
    stop: impl Future<Output = ()>,
    limit: Duration,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    let gatherer = Arc::new(Gatherer::new(scrape, limit));
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
        let gatherer = gatherer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gatherer = gatherer.clone();
                async move { Ok::<_, Infallible>(answer(&request, &gatherer).await) }
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
async fn answer<F, Fut>(
    request: &Request<Incoming>,
    gatherer: &Arc<Gatherer<F>>,
) -> Response<Full<Bytes>>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
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
    match gatherer.gather().await {
        Scraped::Text(text) => {
            let mut response = Response::new(Full::new(text));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
            response
        }
        Scraped::Failed => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the metrics could not be gathered now; retry\n",
        ),
        Scraped::StillGathering => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the metrics are still being gathered, too slowly; no other gathering starts until \
             this one ends; retry later\n",
        ),
    }
}

/// What a request for the metrics gets.
#[derive(Clone, Debug)]
enum Scraped {
    /// The text.
    Text(Bytes),
    /// The scrape answered that it could not gather the values (or it panicked).
    Failed,
    /// The scrape in flight did not end within the limit; it runs on.
    StillGathering,
}

/// Runs the scrape closure, at most one call at a time, and shares each call's answer with
/// every request that arrived while it ran.
struct Gatherer<F> {
    scrape: F,
    /// Longest a request waits for the answer, and after which a gathering still under way
    /// is logged.
    limit: Duration,
    /// The gathering under way, if any: its answer is published here (`None` until it ends).
    in_flight: Mutex<Option<watch::Receiver<Option<Scraped>>>>,
}

impl<F, Fut> Gatherer<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    fn new(scrape: F, limit: Duration) -> Self {
        Self {
            scrape,
            limit,
            in_flight: Mutex::new(None),
        }
    }

    /// The answer of the gathering under way, or of one started now; waited for at most
    /// [`Self::limit`].
    async fn gather(self: &Arc<Self>) -> Scraped {
        let mut answer = self.join_or_start();
        let ended = answer.wait_for(Option::is_some);
        match tokio::time::timeout(self.limit, ended).await {
            Ok(Ok(scraped)) => scraped.clone().unwrap_or(Scraped::Failed),
            // The gathering's task ended without an answer: it panicked, or the runtime stops.
            Ok(Err(_)) => Scraped::Failed,
            Err(_) => Scraped::StillGathering,
        }
    }

    /// Where the gathering under way will answer; if none is, one is started in its own
    /// task, so that a request that stops waiting (or whose connection ends) leaves it to
    /// finish rather than leaving its work behind untracked.
    fn join_or_start(self: &Arc<Self>) -> watch::Receiver<Option<Scraped>> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(answer) = in_flight.as_ref() {
            return answer.clone();
        }
        let (publish, answer) = watch::channel(None);
        *in_flight = Some(answer.clone());
        let gatherer = self.clone();
        tokio::spawn(async move {
            // Cleared however the task ends (a panic included), so the next request starts
            // a new gathering.
            let _landed = Landed(&gatherer);
            let scraped = match gatherer.run().await {
                Some(text) => Scraped::Text(Bytes::from(text)),
                None => Scraped::Failed,
            };
            publish.send_replace(Some(scraped));
        });
        answer
    }

    /// One call of the scrape closure, to its end; a call that outlasts the limit is logged
    /// once.
    async fn run(&self) -> Option<String> {
        let scrape = (self.scrape)();
        tokio::pin!(scrape);
        tokio::select! {
            text = &mut scrape => return text,
            () = tokio::time::sleep(self.limit) => {}
        }
        tracing::warn!(
            limit_ms = self.limit.as_millis(),
            "a metrics scrape is taking longer than its limit; scrapes are answered 503 until \
             it ends, and no other is started meanwhile"
        );
        scrape.await
    }
}

/// Ends the gathering under way when dropped.
struct Landed<'a, F>(&'a Gatherer<F>);

impl<F> Drop for Landed<'_, F> {
    fn drop(&mut self) {
        *self
            .0
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
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

    /// A scrape whose gathering blocks until the test opens its gate, counting the blocking
    /// tasks it starts and the most running at once.
    #[derive(Default)]
    struct Stuck {
        gate: std::sync::Mutex<bool>,
        opened: std::sync::Condvar,
        started: std::sync::atomic::AtomicUsize,
        running: std::sync::atomic::AtomicUsize,
        running_max: std::sync::atomic::AtomicUsize,
    }

    impl Stuck {
        fn gather(&self) -> Option<String> {
            use std::sync::atomic::Ordering::SeqCst;
            self.started.fetch_add(1, SeqCst);
            let running = self.running.fetch_add(1, SeqCst) + 1;
            self.running_max.fetch_max(running, SeqCst);
            let gate = self.gate.lock().expect("not poisoned");
            drop(
                self.opened
                    .wait_while(gate, |open| !*open)
                    .expect("not poisoned"),
            );
            self.running.fetch_sub(1, SeqCst);
            Some("up 1\n".to_owned())
        }

        fn open(&self) {
            *self.gate.lock().expect("not poisoned") = true;
            self.opened.notify_all();
        }

        fn started(&self) -> usize {
            self.started.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// Opens the gate when dropped, so that a failed check does not leave the runtime
    /// waiting for stuck blocking tasks as it drops.
    struct OpenAtEnd(Arc<Stuck>);

    impl Drop for OpenAtEnd {
        fn drop(&mut self) {
            self.0.open();
        }
    }

    /// Scrapes that time out while one gathering is stuck start no other: one blocking task
    /// at most, each request answered 503 in its time, and the next scrape after the
    /// gathering ends is served.
    #[test]
    fn a_stuck_scrape_is_gathered_once_and_never_piles_up() {
        let runtime = two_threads();
        let listener = runtime.block_on(async { bind("127.0.0.1:0").expect("bind") });
        let addr = listener.local_addr().expect("address");
        let stuck = Arc::new(Stuck::default());
        let _open_at_end = OpenAtEnd(stuck.clone());
        let scrape = gathering(&stuck);
        let stop = tokio::sync::oneshot::channel::<()>();
        let limit = Duration::from_millis(300);
        let server = runtime.spawn(serve_within(
            listener,
            scrape,
            async {
                let _ = stop.1.await;
            },
            limit,
        ));
        let get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        let still = "no other gathering starts until this one ends; retry later\n";
        for _ in 0..3 {
            let begun = std::time::Instant::now();
            check(addr, get, "503", still);
            assert!(begun.elapsed() < limit * 10, "answered in its time");
        }
        let at_once: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || check(addr, get, "503", still)))
            .collect();
        for request in at_once {
            request.join().expect("answered 503");
        }
        assert_eq!(stuck.started(), 1, "one gathering for six scrapes");
        // Once the gathering ends, the next scrape is served.
        stuck.open();
        let served = wait(|| {
            let answer = exchange(addr, get);
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\nup 1\n")
        });
        assert!(served, "served once the stuck gathering ended");
        let running_max = stuck.running_max.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(running_max, 1, "never two gatherings at once");
        let _ = stop.0.send(());
        runtime.block_on(server).expect("the server stops");
    }

    /// Requests that arrive while a gathering runs share its answer: four join one gathering,
    /// and each gets its text.
    #[test]
    fn scrapes_at_once_share_one_gathering() {
        let runtime = two_threads();
        let stuck = Arc::new(Stuck::default());
        let _open_at_end = OpenAtEnd(stuck.clone());
        let scrape = gathering(&stuck);
        let gatherer = Arc::new(Gatherer::new(scrape, Duration::from_secs(60)));
        // Four requests join while the gate is shut (what `gather` does first, for each).
        let _in_runtime = runtime.enter();
        let answers: Vec<_> = (0..4).map(|_| gatherer.join_or_start()).collect();
        let started = wait(|| stuck.started() == 1);
        assert!(started, "the first request starts the gathering");
        stuck.open();
        for mut answer in answers {
            let text = runtime
                .block_on(answer.wait_for(Option::is_some))
                .expect("answered")
                .clone();
            assert!(
                matches!(&text, Some(Scraped::Text(text)) if text.as_ref() == b"up 1\n"),
                "{text:?}"
            );
        }
        assert_eq!(stuck.started(), 1, "one gathering for four requests");
        let running_max = stuck.running_max.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(running_max, 1, "never two gatherings at once");
    }

    /// A runtime of two workers, as a station's.
    fn two_threads() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A scrape closure that gathers from `stuck` on a blocking thread, as a station's does.
    fn gathering(
        stuck: &Arc<Stuck>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Option<String>> + Send>>
    + Send
    + Sync
    + 'static {
        let stuck = stuck.clone();
        move || {
            let stuck = stuck.clone();
            Box::pin(async move {
                tokio::task::spawn_blocking(move || stuck.gather())
                    .await
                    .ok()
                    .flatten()
            })
        }
    }

    /// Whether `condition` holds within a few seconds.
    fn wait(mut condition: impl FnMut() -> bool) -> bool {
        (0..500).any(|_| {
            condition() || {
                std::thread::sleep(Duration::from_millis(10));
                false
            }
        })
    }
}
