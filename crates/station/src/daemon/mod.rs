//! The station daemon: the I/O around the station core. One driver thread owns the core and
//! the store and runs the loop — take every waiting input, feed the core, commit (one
//! transaction, fsync), release what waited for the commit (answers, acknowledgements,
//! events), hand frames to the transports ([`driver`]). A small tokio runtime owns the sockets:
//! the direct channel's endpoint, accept and dial loops, each relay's tasks, the operator API
//! server ([`server`]); a thread per drop folder. Transports live in `parley-channels` and
//! report in one shape; [`transports`] starts them and routes frames to them.

mod driver;
mod hooks;
mod liveness;
mod metrics;
mod server;
mod transports;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use parley_channels::{DirectConfig, DirectEndpoint, Inbound, PinnedKeys};
use parley_store::Store;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::api::{ApiError, ErrorClass, Event, Reply, Request, edge};
use crate::clock::Clock;
use crate::core::{Command, Mode, Station};
use crate::error::StationError;
use crate::home::Home;
use crate::limits::{
    DRIVER_FRAME_BYTES_QUEUE_MAX, DRIVER_REPORTS_QUEUE_MAX, DRIVER_REQUESTS_QUEUE_MAX,
    EVENTS_QUEUE_MAX, HOOK_REPORTS_MAX, LOCK_WAIT_MS_MAX,
};
use crate::metrics::ConsoleCounters;
use crate::node::{load, os_seed, parse_listen};

use driver::Driver;
use server::ApiServer;
use transports::Transports;

/// An operator command on its way to the driver, with where its answer goes.
pub(crate) struct Call {
    command: Command,
    reply: oneshot::Sender<Result<Reply, ApiError>>,
}

/// The driver's queue of operator commands: bounded ([`DRIVER_REQUESTS_QUEUE_MAX`]); a sender
/// that finds it full waits for room, and is counted. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Calls {
    sender: mpsc::Sender<Call>,
    waited: Arc<AtomicU64>,
}

impl Calls {
    /// The queue, and the driver's receiving side.
    fn new() -> (Self, mpsc::Receiver<Call>) {
        let (sender, receiver) = mpsc::channel(DRIVER_REQUESTS_QUEUE_MAX);
        let waited = Arc::new(AtomicU64::new(0));
        (Self { sender, waited }, receiver)
    }

    /// Queues `call` from a thread outside the runtime; `Err` once the driver has stopped.
    fn blocking_send(&self, call: Call) -> Result<(), Call> {
        match self.sender.try_send(call) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(call)) => Err(call),
            Err(mpsc::error::TrySendError::Full(call)) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.sender.blocking_send(call).map_err(|e| e.0)
            }
        }
    }

    /// Queues `call`; `Err` once the driver has stopped.
    async fn send(&self, call: Call) -> Result<(), Call> {
        match self.sender.try_send(call) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(call)) => Err(call),
            Err(mpsc::error::TrySendError::Full(call)) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.sender.send(call).await.map_err(|e| e.0)
            }
        }
    }
}

/// Hands `command` to the driver and waits for its answer (from a thread outside the runtime).
fn call_blocking(calls: &Calls, command: Command) -> Result<Reply, ApiError> {
    let (reply, answer) = oneshot::channel();
    let stopping = || {
        ApiError::new(
            ErrorClass::Stopping,
            "the station is stopping; nothing was done",
        )
    };
    calls
        .blocking_send(Call { command, reply })
        .map_err(|_| stopping())?;
    answer.blocking_recv().map_err(|_| {
        ApiError::new(
            ErrorClass::Stopping,
            "the station stopped before answering; check `parley status`",
        )
    })?
}

/// Runs requests on a running daemon and subscribes to its events; cheap to clone.
#[derive(Clone)]
pub struct DaemonHandle {
    calls: Calls,
    events: broadcast::Sender<Event>,
    console: Arc<ConsoleCounters>,
}

impl DaemonHandle {
    /// Runs `request` as the API server would, and waits for its answer. Call from a thread
    /// outside any runtime (in async code, from `spawn_blocking`).
    pub fn request(&self, request: Request) -> Result<Reply, ApiError> {
        edge::perform(request, |command| call_blocking(&self.calls, command))
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// What the console counts, served with the daemon's metrics.
    pub fn console_counters(&self) -> &ConsoleCounters {
        &self.console
    }
}

/// A running daemon, in this process.
pub struct Daemon {
    calls: Calls,
    events: broadcast::Sender<Event>,
    console: Arc<ConsoleCounters>,
    shutdown: Option<oneshot::Sender<()>>,
    driver: Option<thread::JoinHandle<Result<(), StationError>>>,
    runtime: Option<tokio::runtime::Runtime>,
    endpoint: Arc<DirectEndpoint>,
    home: Home,
    _lock: std::fs::File,
}

impl Daemon {
    /// Starts the daemon for `home`: takes the station lock, opens the store, binds the direct
    /// channel and the API socket, starts every transport and the driver.
    pub fn start(home: &Home) -> Result<Self, StationError> {
        let lock = lock_waiting(home)?;
        let config = home.config()?;
        home.check_private()?;
        config.check().map_err(StationError::Config)?;
        if let Some(hook) = &config.alarms.hook {
            hooks::check(Path::new(hook))?;
        }
        let identity = home.identity()?;
        let mut store = Store::open_existing(&home.store_path())?;
        store.checkpoint_in_background()?;
        let clock = Clock::starting_after(store.latest_time_ms()?);
        let loaded = load(&store, identity.clone(), &config, os_seed())?;
        let station = Station::new(clock.now_ms(), loaded, Mode::Daemon)?;
        let listen = parse_listen(&config.listen)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("parley-io")
            .build()
            .map_err(|e| StationError::io("starting the I/O runtime", e))?;
        let pinned = PinnedKeys::default();
        let direct_config = DirectConfig {
            keep_alive_interval: Duration::from_millis(config.direct.heartbeat_interval_ms),
            idle_timeout: Duration::from_millis(config.direct.idle_timeout_ms),
            ..DirectConfig::default()
        };
        let endpoint = {
            let _guard = runtime.enter();
            DirectEndpoint::bind(
                identity.signing_key(),
                listen,
                pinned.clone(),
                &direct_config,
            )
            .map_err(|e| StationError::Config(format!("cannot listen on {listen}: {e}")))?
        };
        let endpoint = Arc::new(endpoint);
        // Bound before anything else is started, so a bad address or a port in use refuses
        // the start at once.
        let metrics = match &config.metrics {
            Some(metrics) => {
                let _guard = runtime.enter();
                let listener = parley_metrics::bind(&metrics.listen).map_err(|error| {
                    StationError::Config(format!("{error}; nothing was started"))
                })?;
                Some(listener)
            }
            None => None,
        };
        // Each stock witness's client, its certificate authorities read: one that cannot be
        // used refuses the start.
        let mut stock_witnesses = Vec::with_capacity(config.witnesses.len());
        for (index, witness) in config.witnesses.iter().enumerate() {
            let named = witness
                .witness()
                .and_then(|named| Ok((named, witness.client()?)));
            stock_witnesses.push(named.map_err(|error| {
                StationError::Config(format!("witnesses[{index}]: {error}; nothing was started"))
            })?);
        }
        let (inbound, reports) =
            Inbound::new(DRIVER_REPORTS_QUEUE_MAX, DRIVER_FRAME_BYTES_QUEUE_MAX);
        let (calls, calls_rx) = Calls::new();
        let (events, _) = broadcast::channel(EVENTS_QUEUE_MAX);
        let server = ApiServer::bind(home, &runtime, calls.clone(), events.clone())?;
        runtime.spawn(parley_channels::direct::task::accept_loop(
            endpoint.clone(),
            inbound.clone(),
        ));
        let transports = Transports::new(
            runtime.handle().clone(),
            (endpoint.clone(), pinned),
            inbound.clone(),
            (&config, stock_witnesses),
            identity,
        );
        let (hooked, hooked_rx) = mpsc::channel(HOOK_REPORTS_MAX);
        let hooks = hooks::Hooks::new(config.alarms.hook.as_ref().map(PathBuf::from), hooked);
        let unhooked = store.alarms_unhooked()?;
        hooks.resume(
            unhooked
                .into_iter()
                .map(|row| station.alarm_item(row))
                .collect(),
        );
        let driver = Driver::new(
            station,
            store,
            clock,
            (transports, hooks),
            events.clone(),
            (inbound, server, calls.waited.clone()),
        );
        let (shutdown, stop) = oneshot::channel();
        let console = Arc::new(ConsoleCounters::default());
        let driver = thread::Builder::new()
            .name("parley-driver".into())
            .spawn(move || driver.run((reports, calls_rx, hooked_rx), stop))
            .map_err(|e| StationError::io("starting the driver thread", e))?;
        if let Some(listener) = metrics {
            match listener.local_addr() {
                Ok(address) => tracing::info!(
                    metrics = %address,
                    "serving metrics at http://{address}/metrics"
                ),
                Err(error) => tracing::warn!(%error, "serving metrics at an unknown address"),
            }
            runtime.spawn(metrics::serve(listener, calls.clone(), console.clone()));
        }
        tracing::info!(listen = %listen, home = %home.root().display(), "station running");
        Ok(Self {
            calls,
            events,
            console,
            shutdown: Some(shutdown),
            driver: Some(driver),
            runtime: Some(runtime),
            endpoint,
            home: home.clone(),
            _lock: lock,
        })
    }

    /// Runs `request` as the API server would, and waits for its answer. Call from a thread
    /// outside the daemon's runtime.
    pub fn request(&self, request: Request) -> Result<Reply, ApiError> {
        edge::perform(request, |command| call_blocking(&self.calls, command))
    }

    /// Hands `command` to the driver without waiting; the answer arrives on the receiver.
    pub fn submit(&self, command: Command) -> oneshot::Receiver<Result<Reply, ApiError>> {
        let (reply, answer) = oneshot::channel();
        // A refused send drops `reply`, which the receiver sees as "stopped".
        let _ = self.calls.blocking_send(Call { command, reply });
        answer
    }

    /// Events from now on, as subscribers of the API get them.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// A handle that runs requests and subscribes, for servers beside the daemon in this
    /// process (the console).
    pub fn handle(&self) -> DaemonHandle {
        DaemonHandle {
            calls: self.calls.clone(),
            events: self.events.clone(),
            console: self.console.clone(),
        }
    }

    /// Commits, closes the channels and stops.
    pub fn shutdown(mut self) -> Result<(), StationError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StationError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let result = match self.driver.take() {
            Some(driver) => driver
                .join()
                .unwrap_or_else(|_| Err(StationError::Config("the driver thread panicked".into()))),
            None => Ok(()),
        };
        self.endpoint.close();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(200));
        }
        let _ = std::fs::remove_file(self.home.socket_path());
        let _ = std::fs::remove_file(self.home.path("api.token"));
        result
    }

    /// Runs until SIGINT or SIGTERM (or the driver stops on its own, as when the store
    /// fails), then shuts down cleanly.
    pub fn run_until_signal(mut self) -> Result<(), StationError> {
        let runtime = self.runtime.as_ref().expect("running");
        let driver = self.driver.as_ref().expect("running");
        let watched = runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())
                .map_err(|e| StationError::io("installing SIGTERM handler", e))?;
            let mut int = signal(SignalKind::interrupt())
                .map_err(|e| StationError::io("installing SIGINT handler", e))?;
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    _ = tick.tick() => {
                        if driver.is_finished() { break; }
                    }
                }
            }
            tracing::info!("stopping");
            Ok::<(), StationError>(())
        });
        let stopped = self.stop();
        watched.and(stopped)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.driver.is_some() {
            let _ = self.stop();
        }
    }
}

/// Takes the station lock, waiting out CLI commands that hold it briefly while they work on
/// a stopped station; a lock still held after [`LOCK_WAIT_MS_MAX`] belongs to a daemon.
fn lock_waiting(home: &Home) -> Result<std::fs::File, StationError> {
    let deadline = Instant::now() + Duration::from_millis(LOCK_WAIT_MS_MAX);
    loop {
        if let Some(lock) = home.try_lock()? {
            return Ok(lock);
        }
        if Instant::now() >= deadline {
            return Err(StationError::Invalid(format!(
                "a daemon already runs for {}; stop it first",
                home.root().display()
            )));
        }
        thread::sleep(Duration::from_millis(20));
    }
}
