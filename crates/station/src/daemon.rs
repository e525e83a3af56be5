//! The station daemon: a driver thread that owns the [`Node`] (protocol + store) and tokio
//! tasks that own the sockets.
//!
//! The driver loop is the only place state changes: it takes every input that is waiting
//! (frames, channel changes, operator requests), feeds them to the protocol, commits all the
//! resulting writes in one transaction (group commit, fsync), and only then answers operators
//! and hands frames to the channels. So no `send` returns and no receipt leaves before the
//! state it reports is on disk, and no relay mailbox item or drop-folder bundle is deleted
//! before what it carried is on disk.
//!
//! Every link has a direct channel (when the peer has an address) plus any relay and courier
//! channels added to it; the protocol sends each envelope and receipt on every channel that is
//! not down. Tasks per transport: `direct` (QUIC accept and dial loops), `relay` (heartbeat,
//! long-poll fetch, deposits; one set per relay, shared by links), `folder` (a thread per drop
//! folder). They report frames, heartbeats and connection changes as [`Input`]s; `driver`
//! keeps each channel's health and counters.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parley_channels::{DirectConfig, DirectEndpoint, PinnedKeys};
use parley_proto::{Event, StationId};
use tokio::sync::oneshot;

use crate::api::{Request, Response};
use crate::courier::Imported;
use crate::error::StationError;
use crate::home::Home;
use crate::node::{Node, parse_listen};

mod direct;
mod driver;
mod folder;
mod relay;

use driver::{Driver, Network};

pub use driver::ChannelCounters;
pub use folder::{BUNDLE_SUFFIX, REJECTED_SUFFIX, bundle_file_name, write_atomically};
pub use relay::{RELAY_QUEUE_FRAMES_MAX, RELAY_RETRY_MS_MIN};

/// Most inputs the driver takes into one commit.
pub const DRIVER_BATCH_INPUTS_MAX: usize = 4096;
/// Longest the driver sleeps without looking at its timers, in milliseconds.
pub const DRIVER_IDLE_MS_MAX: u64 = 1_000;

/// Longest `parley run` waits for the station lock held by a CLI command, in milliseconds.
pub const LOCK_WAIT_MS_MAX: u64 = 3_000;

/// Youngest an outgoing connection may be and still be replaced when the peer dials us, in
/// milliseconds (also at least four round trips).
pub const KICK_AGE_MS_MIN: u64 = 250;

/// Which transport a frame came by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The direct channel, on a connection this pinned peer opened (QUIC authenticated it).
    Direct(StationId),
    /// A relay, by its number in the order the daemon registered relays.
    Relay(usize),
    /// A drop folder, by its number in the order the daemon registered folders.
    Folder(usize),
}

/// What reaches the driver.
pub enum Input {
    /// A frame from a channel.
    Frame {
        /// The frame.
        bytes: Vec<u8>,
        /// Where it came from.
        via: Via,
    },
    /// Frames fetched together (a relay mailbox); `done` fires once they are committed, and
    /// only then may their source forget them.
    Batch {
        /// Where they came from.
        via: Via,
        /// The frames.
        frames: Vec<Vec<u8>>,
        /// Fired after the commit.
        done: oneshot::Sender<()>,
    },
    /// A courier bundle to import; `done` gets the outcome once it is committed.
    Import {
        /// The bundle.
        bytes: Vec<u8>,
        /// Keep frames that verify on their own when the bundle's signature fails.
        salvage: bool,
        /// The drop folder it came from, if any.
        via: Option<Via>,
        /// Fired after the commit.
        done: oneshot::Sender<Result<Imported, String>>,
    },
    /// A direct channel came up or went down.
    Direct {
        /// The peer.
        peer: StationId,
        /// Whether it is up.
        up: bool,
        /// Round-trip time when known, in microseconds.
        rtt_us: Option<u64>,
    },
    /// A relay heartbeat's round-trip time in microseconds, or why it failed; or a drop
    /// folder's scan result.
    Heartbeat {
        /// Which relay or folder.
        via: Via,
        /// Round-trip time or the failure.
        result: Result<u64, String>,
    },
    /// A relay confirmed it stored (durably) frames for `peer`.
    Deposited {
        /// Which relay.
        via: Via,
        /// The recipient.
        peer: StationId,
        /// Envelopes among them.
        envelopes: u64,
        /// Receipts among them.
        receipts: u64,
    },
    /// A pinned peer opened a connection to us: it may have restarted, so our own
    /// connection to it may be dead without knowing it yet.
    PeerDialled(StationId),
    /// An operator request, answered after the commit that makes it durable.
    Api(Request, oneshot::Sender<Response>),
    /// Nothing but a wake-up, so timers are looked at.
    Tick,
    /// Stop after committing.
    Shutdown,
}

/// A running daemon, in this process.
pub struct Daemon {
    inputs: std_mpsc::Sender<Input>,
    driver: Option<thread::JoinHandle<Result<(), StationError>>>,
    runtime: Option<tokio::runtime::Runtime>,
    endpoint: Arc<DirectEndpoint>,
    home: Home,
    _lock: std::fs::File,
}

/// Observer of protocol events after they are durable (benchmarks, tests).
pub type Observer = std_mpsc::Sender<(u64, Event)>;

impl Daemon {
    /// Starts the daemon for `home`: takes the station lock, opens the store, binds the direct
    /// channel and the API socket, and starts the driver.
    pub fn start(home: &Home, observer: Option<Observer>) -> Result<Self, StationError> {
        let lock = lock_waiting(home)?;
        let node = Node::open(home)?;
        let config = node.config().clone();
        let listen = parse_listen(&config.listen)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("parley-io")
            .build()
            .map_err(|e| StationError::io("starting the I/O runtime", e))?;
        let pinned = PinnedKeys::default();
        for id in node.peers().keys() {
            pinned.insert(id.0);
        }
        let direct_config = DirectConfig {
            keep_alive_interval: Duration::from_millis(config.direct.heartbeat_interval_ms),
            idle_timeout: Duration::from_millis(config.direct.idle_timeout_ms),
        };
        let endpoint = {
            let _guard = runtime.enter();
            DirectEndpoint::bind(
                node.identity().signing_key(),
                listen,
                pinned.clone(),
                &direct_config,
            )
            .map_err(|e| StationError::Config(format!("cannot listen on {listen}: {e}")))?
        };
        let endpoint = Arc::new(endpoint);
        let (inputs, inputs_rx) = std_mpsc::channel();
        let token = random_token();
        crate::home::write_private(&home.path("api.token"), token.as_bytes(), 0o600)?;
        let _ = std::fs::remove_file(home.socket_path());
        let listener = {
            let _guard = runtime.enter();
            tokio::net::UnixListener::bind(home.socket_path())
                .map_err(|e| StationError::io("binding api.sock", e))?
        };
        set_mode(&home.socket_path(), 0o600)?;
        runtime.spawn(crate::server::serve_api(listener, token, inputs.clone()));
        runtime.spawn(direct::accept_loop(endpoint.clone(), inputs.clone()));
        let network = Network::new(
            runtime.handle().clone(),
            endpoint.clone(),
            pinned,
            inputs.clone(),
            config.clone(),
        );
        let driver = Driver::new(node, network, observer)?;
        let driver = thread::Builder::new()
            .name("parley-driver".into())
            .spawn(move || driver.run(inputs_rx))
            .map_err(|e| StationError::io("starting the driver thread", e))?;
        tracing::info!(listen = %listen, home = %home.root().display(), "station running");
        Ok(Self {
            inputs,
            driver: Some(driver),
            runtime: Some(runtime),
            endpoint,
            home: home.clone(),
            _lock: lock,
        })
    }

    /// A handle for feeding requests in-process.
    pub fn inputs(&self) -> std_mpsc::Sender<Input> {
        self.inputs.clone()
    }

    /// Sends a request and waits for its answer.
    pub fn request(&self, request: Request) -> Response {
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Api(request, reply)).is_err() {
            return Response::error("the driver has stopped");
        }
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Response::error("the driver stopped before answering"))
    }

    /// Commits, closes the channels and stops.
    pub fn shutdown(mut self) -> Result<(), StationError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StationError> {
        let _ = self.inputs.send(Input::Shutdown);
        let result = match self.driver.take() {
            Some(driver) => driver
                .join()
                .unwrap_or_else(|_| Err(StationError::Daemon("the driver thread panicked".into()))),
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

    /// Runs until SIGINT or SIGTERM (or the driver fails), then shuts down cleanly.
    pub fn run_until_signal(mut self) -> Result<(), StationError> {
        let runtime = self.runtime.as_ref().expect("running");
        let driver_done = {
            let inputs = self.inputs.clone();
            runtime.block_on(async move {
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
                            if inputs.send(Input::Tick).is_err() { break; }
                        }
                    }
                }
                tracing::info!("stopping");
                Ok::<(), StationError>(())
            })
        };
        let stopped = self.stop();
        driver_done.and(stopped)
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
