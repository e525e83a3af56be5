//! The station daemon: a driver thread that owns the [`Node`] (protocol + store) and tokio
//! tasks that own the sockets.
//!
//! The driver loop is the only place state changes: it takes every input that is waiting
//! (frames, channel changes, operator requests), feeds them to the protocol, commits all the
//! resulting writes in one transaction (group commit, fsync), and only then answers operators
//! and hands frames to the channels. So no `send` returns and no receipt leaves before the
//! state it reports is on disk.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use parley_channels::{DirectConfig, DirectEndpoint, PinnedKeys};
use parley_proto::{ChannelId, ChannelKind, Event, Precedence, StationId};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::api::{Request, Response};
use crate::clock::Clock;
use crate::error::StationError;
use crate::home::Home;
use crate::node::{Node, parse_listen};
use crate::status;

/// Most inputs the driver takes into one commit.
pub const DRIVER_BATCH_INPUTS_MAX: usize = 4096;
/// Longest the driver sleeps without looking at its timers, in milliseconds.
pub const DRIVER_IDLE_MS_MAX: u64 = 1_000;

/// Longest `parley run` waits for the station lock held by a CLI command, in milliseconds.
pub const LOCK_WAIT_MS_MAX: u64 = 3_000;

/// Youngest an outgoing connection may be and still be replaced when the peer dials us, in
/// milliseconds (also at least four round trips).
pub const KICK_AGE_MS_MIN: u64 = 250;

/// What reaches the driver.
pub enum Input {
    /// A frame from a channel.
    Frame(Vec<u8>),
    /// A direct channel came up or went down.
    Direct {
        /// The peer.
        peer: StationId,
        /// Whether it is up.
        up: bool,
        /// Round-trip time when known, in microseconds.
        rtt_us: Option<u64>,
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

/// State of one direct channel as the driver sees it.
#[derive(Clone, Debug)]
pub struct DirectState {
    /// Channel id in the protocol.
    pub channel: ChannelId,
    /// Address dialled.
    pub address: Option<String>,
    /// Up or down.
    pub up: bool,
    /// Since when (UTC ms).
    pub since_ms: u64,
    /// Last round-trip time, microseconds.
    pub rtt_us: Option<u64>,
    /// Transitions logged.
    pub changes: u64,
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
        runtime.spawn(accept_loop(endpoint.clone(), inputs.clone()));
        let network = Network {
            runtime: runtime.handle().clone(),
            endpoint: endpoint.clone(),
            pinned,
            inputs: inputs.clone(),
            timing: config.direct.clone(),
            senders: BTreeMap::new(),
            kicks: BTreeMap::new(),
        };
        let driver = thread::Builder::new()
            .name("parley-driver".into())
            .spawn(move || Driver::new(node, network, observer).run(inputs_rx))
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

/// The driver's view of the sockets.
struct Network {
    runtime: tokio::runtime::Handle,
    endpoint: Arc<DirectEndpoint>,
    pinned: PinnedKeys,
    inputs: std_mpsc::Sender<Input>,
    timing: crate::home::DirectTiming,
    senders: BTreeMap<StationId, mpsc::UnboundedSender<Arc<[u8]>>>,
    kicks: BTreeMap<StationId, Arc<tokio::sync::Notify>>,
}

impl Network {
    fn connect_peer(&mut self, peer: StationId, address: Option<&str>) {
        self.pinned.insert(peer.0);
        let Some(address) = address else {
            return;
        };
        let address = match parse_listen(address) {
            Ok(address) => address,
            Err(error) => {
                tracing::warn!(peer = %peer.short(), %error, "peer address unusable; direct channel off");
                return;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        self.senders.insert(peer, tx);
        let kick = Arc::new(tokio::sync::Notify::new());
        self.kicks.insert(peer, kick.clone());
        self.runtime.spawn(dial_loop(
            self.endpoint.clone(),
            Dial {
                peer,
                address,
                kick,
                timing: self.timing.clone(),
            },
            rx,
            self.inputs.clone(),
        ));
    }

    fn kick(&self, peer: &StationId) {
        if let Some(kick) = self.kicks.get(peer) {
            kick.notify_one();
        }
    }

    fn transmit(&self, peer: &StationId, frame: Arc<[u8]>) {
        if let Some(sender) = self.senders.get(peer) {
            let _ = sender.send(frame);
        }
    }
}

async fn accept_loop(endpoint: Arc<DirectEndpoint>, inputs: std_mpsc::Sender<Input>) {
    while let Some(connection) = endpoint.accept().await {
        let inputs = inputs.clone();
        if inputs
            .send(Input::PeerDialled(StationId(connection.peer())))
            .is_err()
        {
            return;
        }
        tokio::spawn(async move {
            while let Ok(mut receiver) = connection.accept_receiver().await {
                let inputs = inputs.clone();
                tokio::spawn(async move {
                    loop {
                        match receiver.recv().await {
                            Ok(Some(frame)) => {
                                if inputs.send(Input::Frame(frame)).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => return,
                            Err(error) => {
                                tracing::debug!(%error, "direct stream ended");
                                return;
                            }
                        }
                    }
                });
            }
        });
    }
}

/// What a dial loop needs to know about its peer.
struct Dial {
    peer: StationId,
    address: SocketAddr,
    kick: Arc<tokio::sync::Notify>,
    timing: crate::home::DirectTiming,
}

/// Keeps one outgoing connection to a peer and writes the driver's frames to it. A kick (the
/// peer dialled us) aborts a pending dial, and replaces an established connection older than
/// [`KICK_AGE_MS_MIN`], which is how a restarted peer is reached at once instead of after the idle
/// timeout. The age condition (older than a handshake can take) stops the two sides from
/// kicking each other forever.
async fn dial_loop(
    endpoint: Arc<DirectEndpoint>,
    dial: Dial,
    mut frames: mpsc::UnboundedReceiver<Arc<[u8]>>,
    inputs: std_mpsc::Sender<Input>,
) {
    let Dial {
        peer,
        address,
        kick,
        timing,
    } = dial;
    let mut delay_ms = timing.redial_delay_ms_min;
    loop {
        let connected = tokio::select! {
            connected = endpoint.connect(address, peer.0) => connected,
            _ = kick.notified() => {
                delay_ms = timing.redial_delay_ms_min;
                continue;
            }
        };
        let connection = match connected {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(peer = %peer.short(), %error, "dial failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => {}
                    _ = kick.notified() => {}
                }
                delay_ms = (delay_ms * 2).min(timing.redial_delay_ms_max);
                continue;
            }
        };
        let mut sender = match connection.open_sender().await {
            Ok(sender) => sender,
            Err(error) => {
                tracing::debug!(%error, "opening a direct stream failed");
                continue;
            }
        };
        delay_ms = timing.redial_delay_ms_min;
        let connected_at = std::time::Instant::now();
        let rtt_us = Some(connection.rtt().as_micros() as u64);
        if inputs
            .send(Input::Direct {
                peer,
                up: true,
                rtt_us,
            })
            .is_err()
        {
            return;
        }
        let mut rtt_tick =
            tokio::time::interval(Duration::from_millis(timing.heartbeat_interval_ms));
        loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => {
                        if let Err(error) = sender.send(&frame).await {
                            tracing::debug!(%error, "direct send failed");
                            break;
                        }
                    }
                    None => return,
                },
                error = connection.closed() => {
                    tracing::debug!(%error, "direct connection closed");
                    break;
                }
                _ = kick.notified() => {
                    // Older than any handshake could take: the peer's new connection is not
                    // merely its answer to ours.
                    let kick_age_min = (connection.rtt() * 4).max(Duration::from_millis(KICK_AGE_MS_MIN));
                    if connected_at.elapsed() >= kick_age_min {
                        tracing::debug!(peer = %peer.short(), "peer dialled us; replacing our connection");
                        break;
                    }
                }
                _ = rtt_tick.tick() => {
                    let rtt_us = Some(connection.rtt().as_micros() as u64);
                    let _ = inputs.send(Input::Direct { peer, up: true, rtt_us });
                }
            }
        }
        connection.close();
        if inputs
            .send(Input::Direct {
                peer,
                up: false,
                rtt_us: None,
            })
            .is_err()
        {
            return;
        }
        // Frames queued for the dead connection are resent by the protocol when the
        // channel comes back.
        while frames.try_recv().is_ok() {}
    }
}

/// The driver: owns the node, runs the loop described in the module docs.
struct Driver {
    node: Node,
    network: Network,
    clock: Clock,
    direct: BTreeMap<StationId, DirectState>,
    observer: Option<Observer>,
    replies: Vec<(oneshot::Sender<Response>, Response)>,
    started: Instant,
    cards_rejected: u64,
}

impl Driver {
    fn new(mut node: Node, mut network: Network, observer: Option<Observer>) -> Self {
        let clock = Clock::new();
        let mut direct = BTreeMap::new();
        let peers: Vec<_> = node
            .peers()
            .iter()
            .map(|(id, p)| (*id, p.clone()))
            .collect();
        for (index, (peer, info)) in peers.into_iter().enumerate() {
            let channel = ChannelId(index as u16);
            if let Some(link) = node.endpoint_mut().link_mut(&peer) {
                link.add_channel(channel, ChannelKind::Direct);
            }
            network.connect_peer(peer, info.address.as_deref());
            direct.insert(
                peer,
                DirectState {
                    channel,
                    address: info.address,
                    up: false,
                    since_ms: clock.now_ms(),
                    rtt_us: None,
                    changes: 0,
                },
            );
        }
        Self {
            node,
            network,
            clock,
            direct,
            observer,
            replies: Vec::new(),
            started: Instant::now(),
            cards_rejected: 0,
        }
    }

    fn run(mut self, inputs: std_mpsc::Receiver<Input>) -> Result<(), StationError> {
        let result = self.run_loop(&inputs);
        if let Err(error) = &result {
            tracing::error!(%error, "driver stopped");
        }
        result
    }

    fn run_loop(&mut self, inputs: &std_mpsc::Receiver<Input>) -> Result<(), StationError> {
        loop {
            let wait = self.wait_duration();
            let first = match inputs.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return self.flush(),
            };
            let mut shutdown = false;
            let mut batch = first
                .into_iter()
                .chain(std::iter::from_fn(|| inputs.try_recv().ok()));
            for input in batch.by_ref().take(DRIVER_BATCH_INPUTS_MAX) {
                if let Input::Shutdown = input {
                    shutdown = true;
                    break;
                }
                self.handle(input);
            }
            self.flush()?;
            if shutdown {
                tracing::info!("driver stopped cleanly");
                return Ok(());
            }
        }
    }

    fn wait_duration(&self) -> Duration {
        let now = self.clock.now_ms();
        let due = self
            .node
            .endpoint()
            .poll_timeout()
            .unwrap_or(now + DRIVER_IDLE_MS_MAX);
        Duration::from_millis(due.saturating_sub(now).min(DRIVER_IDLE_MS_MAX))
    }

    /// Commits, then answers, then transmits.
    fn flush(&mut self) -> Result<(), StationError> {
        if let Err(error) = self.node.commit() {
            for (reply, _) in self.replies.drain(..) {
                let _ = reply.send(Response::error(format!(
                    "the store failed; the station stops: {error}"
                )));
            }
            return Err(error);
        }
        for (reply, response) in self.replies.drain(..) {
            let _ = reply.send(response);
        }
        let now = self.clock.now_ms();
        while let Some(event) = self.node.endpoint_mut().poll_event() {
            log_event(&event);
            if let Some(observer) = &self.observer {
                let _ = observer.send((now, event));
            }
        }
        self.node.endpoint_mut().handle_timeout(now);
        while let Some((peer, transmit)) = self.node.endpoint_mut().poll_transmit() {
            self.network.transmit(&peer, transmit.frame);
        }
        Ok(())
    }

    fn handle(&mut self, input: Input) {
        let now = self.clock.now_ms();
        match input {
            Input::Frame(bytes) => {
                if let Err(rejection) = self.node.endpoint_mut().handle_frame(now, &bytes) {
                    tracing::warn!(reason = rejection.counter_name(), %rejection, "frame rejected");
                }
            }
            Input::Direct { peer, up, rtt_us } => self.direct_changed(now, peer, up, rtt_us),
            Input::PeerDialled(peer) => self.network.kick(&peer),
            Input::Api(request, reply) => {
                let response = self.api(now, request);
                self.replies.push((reply, response));
            }
            Input::Tick | Input::Shutdown => {}
        }
    }

    fn direct_changed(&mut self, now: u64, peer: StationId, up: bool, rtt_us: Option<u64>) {
        let Some(state) = self.direct.get_mut(&peer) else {
            return;
        };
        if rtt_us.is_some() {
            state.rtt_us = rtt_us;
        }
        if state.up != up {
            state.up = up;
            state.since_ms = now;
            state.changes += 1;
            tracing::info!(peer = %peer.short(), state = if up { "up" } else { "down" }, "direct channel");
        }
        let channel = state.channel;
        if let Some(link) = self.node.endpoint_mut().link_mut(&peer) {
            link.set_channel_up(now, channel, up);
        }
    }

    fn api(&mut self, now: u64, request: Request) -> Response {
        match request {
            Request::Send {
                peer,
                precedence,
                text,
            } => {
                let Some(precedence) = Precedence::parse(&precedence) else {
                    return Response::error(format!(
                        "unknown precedence {precedence:?}; use flash, immediate, priority or routine"
                    ));
                };
                match self.node.send_uncommitted(now, &peer, precedence, &text) {
                    Ok((id, seq, peer)) => {
                        Response::ok(json!({ "id": id.to_hex(), "seq": seq, "peer": peer }))
                    }
                    Err(error) => Response::error(error.to_string()),
                }
            }
            Request::PeerAdd {
                card,
                fingerprint,
                address,
            } => match self.node.add_peer(now, &card, &fingerprint, address) {
                Ok((peer, name)) => {
                    self.register_peer(now, peer);
                    Response::ok(
                        json!({ "name": name, "fingerprint": peer.fingerprint().to_string() }),
                    )
                }
                Err(error) => {
                    if matches!(
                        error,
                        StationError::Card(_) | StationError::FingerprintMismatch { .. }
                    ) {
                        self.cards_rejected += 1;
                    }
                    Response::error(error.to_string())
                }
            },
            Request::Status => Response::ok(self.status(now)),
        }
    }

    fn register_peer(&mut self, now: u64, peer: StationId) {
        let channel = ChannelId(self.direct.len() as u16);
        let address = self.node.peers().get(&peer).and_then(|p| p.address.clone());
        if let Some(link) = self.node.endpoint_mut().link_mut(&peer) {
            link.add_channel(channel, ChannelKind::Direct);
        }
        self.network.connect_peer(peer, address.as_deref());
        self.direct.insert(
            peer,
            DirectState {
                channel,
                address,
                up: false,
                since_ms: now,
                rtt_us: None,
                changes: 0,
            },
        );
    }

    fn status(&self, now: u64) -> serde_json::Value {
        status::live(
            &self.node,
            &self.direct,
            self.network.endpoint.rejected_handshakes(),
            self.cards_rejected,
            now,
            self.started.elapsed(),
        )
    }
}

fn log_event(event: &Event) {
    match event {
        Event::Delivered { peer, upto } => {
            tracing::debug!(peer = %peer.short(), upto, "delivered in order")
        }
        Event::Receipted { peer, upto, newly } => {
            tracing::debug!(peer = %peer.short(), upto, newly, "receipted by peer")
        }
        Event::Alarm { peer, kind, seq } => {
            tracing::error!(peer = %peer.short(), kind, seq, "ALARM: evidence recorded")
        }
    }
}
