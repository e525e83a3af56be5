//! The driver thread: owns the [`Node`], the registry of every channel of every link with its
//! health and counters, and the handles to the channel tasks. Its loop is described in the
//! daemon's module docs: inputs → protocol → commit → answers → transmits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use parley_channels::{DirectEndpoint, PinnedKeys};
use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE};
use parley_proto::receipt::Receipt;
use parley_proto::{ChannelId, ChannelKind, Event, Precedence, StationId};
use parley_store::{ChannelKindRow, ChannelRow};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::folder::{self, FolderQueue};
use super::relay::{self, RelayQueue};
use super::{DRIVER_BATCH_INPUTS_MAX, DRIVER_IDLE_MS_MAX, Input, Observer, Via, direct};
use crate::api::{Request, Response};
use crate::clock::Clock;
use crate::courier::Imported;
use crate::error::StationError;
use crate::health::{ChannelHealth, Health};
use crate::home::Config;
use crate::node::{Node, parse_listen};
use crate::status;

/// Frames counted per channel.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChannelCounters {
    /// Envelopes handed to the channel.
    pub envelopes_sent: u64,
    /// Receipts handed to the channel.
    pub receipts_sent: u64,
    /// Envelopes that arrived on it and verified (new or duplicate).
    pub envelopes_received: u64,
    /// Receipts that arrived on it and verified.
    pub receipts_received: u64,
    /// Envelopes that arrived on it already held, dropped.
    pub duplicates_dropped: u64,
    /// Frames that arrived on it and were refused.
    pub rejected: u64,
    /// Frames not handed over because the channel's queue was full (resent later).
    pub queue_full: u64,
    /// Envelopes the relay confirmed it stored (relay channels only).
    pub envelopes_stored_at_relay: u64,
    /// Receipts the relay confirmed it stored (relay channels only).
    pub receipts_stored_at_relay: u64,
}

/// Where an import's outcome goes once it is committed.
type ImportDone = oneshot::Sender<Result<Imported, String>>;

/// How a channel's frames leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Direct,
    Relay(usize),
    Folder(usize),
}

/// One channel of one link.
struct Slot {
    id: ChannelId,
    peer: StationId,
    kind: ChannelKind,
    route: Route,
    target: Option<String>,
    health: ChannelHealth,
    counters: ChannelCounters,
}

struct RelayHandle {
    url: String,
    relay: StationId,
    queue: Option<RelayQueue>,
}

struct FolderHandle {
    dir: PathBuf,
    queue: Option<FolderQueue>,
}

/// The driver's view of the sockets and channel tasks.
pub(super) struct Network {
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) endpoint: Arc<DirectEndpoint>,
    pub(super) pinned: PinnedKeys,
    pub(super) inputs: std_mpsc::Sender<Input>,
    pub(super) config: Config,
    senders: BTreeMap<StationId, mpsc::UnboundedSender<Arc<[u8]>>>,
    kicks: BTreeMap<StationId, Arc<tokio::sync::Notify>>,
    relays: Vec<RelayHandle>,
    folders: Vec<FolderHandle>,
}

impl Network {
    pub(super) fn new(
        runtime: tokio::runtime::Handle,
        endpoint: Arc<DirectEndpoint>,
        pinned: PinnedKeys,
        inputs: std_mpsc::Sender<Input>,
        config: Config,
    ) -> Self {
        Self {
            runtime,
            endpoint,
            pinned,
            inputs,
            config,
            senders: BTreeMap::new(),
            kicks: BTreeMap::new(),
            relays: Vec::new(),
            folders: Vec::new(),
        }
    }

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
        self.runtime.spawn(direct::dial_loop(
            self.endpoint.clone(),
            direct::Dial {
                peer,
                address,
                kick,
                timing: self.config.direct.clone(),
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

    /// The index of the relay at `url` pinned to `relay`, starting its tasks the first time.
    fn relay(&mut self, url: &str, relay: StationId, me: &parley_proto::Identity) -> usize {
        if let Some(index) = self
            .relays
            .iter()
            .position(|r| r.url == url && r.relay == relay)
        {
            return index;
        }
        let index = self.relays.len();
        let queue = match relay::client(url, relay, me.clone()) {
            Ok(client) => Some(relay::spawn(
                &self.runtime,
                index,
                client,
                self.config.relay.clone(),
                self.inputs.clone(),
            )),
            Err(error) => {
                tracing::error!(url, %error, "relay channel unusable");
                None
            }
        };
        self.relays.push(RelayHandle {
            url: url.to_owned(),
            relay,
            queue,
        });
        index
    }

    /// The index of the drop folder `dir`, starting its thread the first time.
    fn folder(&mut self, dir: &str, me: &parley_proto::Identity) -> usize {
        let dir = PathBuf::from(dir);
        if let Some(index) = self.folders.iter().position(|f| f.dir == dir) {
            return index;
        }
        let index = self.folders.len();
        let scan = Duration::from_millis(self.config.courier.scan_interval_ms);
        let queue = match folder::spawn(index, dir.clone(), me.clone(), scan, self.inputs.clone()) {
            Ok(queue) => Some(queue),
            Err(error) => {
                tracing::error!(dir = %dir.display(), %error, "drop folder thread failed to start");
                None
            }
        };
        self.folders.push(FolderHandle { dir, queue });
        index
    }

    /// Hands a frame to a route; false when its queue is full or the route is unusable.
    fn transmit(&self, route: Route, peer: &StationId, frame: Arc<[u8]>) -> bool {
        match route {
            Route::Direct => self
                .senders
                .get(peer)
                .is_some_and(|sender| sender.send(frame).is_ok()),
            Route::Relay(index) => self.relays[index]
                .queue
                .as_ref()
                .is_some_and(|queue| queue.try_send((*peer, frame)).is_ok()),
            Route::Folder(index) => self.folders[index]
                .queue
                .as_ref()
                .is_some_and(|queue| queue.try_send((*peer, frame)).is_ok()),
        }
    }
}

/// The driver: owns the node, runs the loop described in the module docs.
pub(super) struct Driver {
    node: Node,
    network: Network,
    clock: Clock,
    slots: Vec<Slot>,
    observer: Option<Observer>,
    replies: Vec<(oneshot::Sender<Response>, Response)>,
    batches_done: Vec<oneshot::Sender<()>>,
    imports_done: Vec<(ImportDone, Result<Imported, String>)>,
    started: Instant,
    cards_rejected: u64,
}

impl Driver {
    pub(super) fn new(
        node: Node,
        network: Network,
        observer: Option<Observer>,
    ) -> Result<Self, StationError> {
        let mut driver = Self {
            node,
            network,
            clock: Clock::new(),
            slots: Vec::new(),
            observer,
            replies: Vec::new(),
            batches_done: Vec::new(),
            imports_done: Vec::new(),
            started: Instant::now(),
            cards_rejected: 0,
        };
        let now = driver.clock.now_ms();
        let peers: Vec<StationId> = driver.node.peers().keys().copied().collect();
        for peer in peers {
            driver.add_direct(now, peer);
        }
        for row in driver.node.store().channels()? {
            driver.add_stored(now, &row);
        }
        Ok(driver)
    }

    fn add_slot(
        &mut self,
        now: u64,
        peer: StationId,
        kind: ChannelKind,
        route: Route,
        target: Option<String>,
    ) {
        let id = ChannelId(u16::try_from(self.slots.len()).expect("fewer than 65,536 channels"));
        if let Some(link) = self.node.endpoint_mut().link_mut(&peer) {
            link.add_channel(id, kind);
        }
        self.slots.push(Slot {
            id,
            peer,
            kind,
            route,
            target,
            health: ChannelHealth::new(now),
            counters: ChannelCounters::default(),
        });
    }

    fn add_direct(&mut self, now: u64, peer: StationId) {
        let address = self.node.peers().get(&peer).and_then(|p| p.address.clone());
        self.network.connect_peer(peer, address.as_deref());
        self.add_slot(now, peer, ChannelKind::Direct, Route::Direct, address);
    }

    fn add_stored(&mut self, now: u64, row: &ChannelRow) {
        let me = self.node.identity().clone();
        let (kind, route) = match &row.kind {
            ChannelKindRow::Relay { relay, .. } => (
                ChannelKind::Relay,
                Route::Relay(self.network.relay(&row.target, *relay, &me)),
            ),
            ChannelKindRow::Courier => (
                ChannelKind::Courier,
                Route::Folder(self.network.folder(&row.target, &me)),
            ),
        };
        self.add_slot(now, row.peer, kind, route, Some(row.target.clone()));
    }

    pub(super) fn run(mut self, inputs: std_mpsc::Receiver<Input>) -> Result<(), StationError> {
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

    /// Commits, then answers and releases what waited for the commit, then transmits.
    fn flush(&mut self) -> Result<(), StationError> {
        if let Err(error) = self.node.commit() {
            for (reply, _) in self.replies.drain(..) {
                let _ = reply.send(Response::error(format!(
                    "the store failed; the station stops: {error}"
                )));
            }
            // Dropping the batch and import senders tells their tasks nothing was committed.
            self.batches_done.clear();
            self.imports_done.clear();
            return Err(error);
        }
        for (reply, response) in self.replies.drain(..) {
            let _ = reply.send(response);
        }
        for done in self.batches_done.drain(..) {
            let _ = done.send(());
        }
        for (done, result) in self.imports_done.drain(..) {
            let _ = done.send(result);
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
            let slot = &mut self.slots[usize::from(transmit.channel.0)];
            let envelope = transmit.frame.first() == Some(&TAG_ENVELOPE);
            if self.network.transmit(slot.route, &peer, transmit.frame) {
                match envelope {
                    true => slot.counters.envelopes_sent += 1,
                    false => slot.counters.receipts_sent += 1,
                }
            } else {
                slot.counters.queue_full += 1;
            }
        }
        Ok(())
    }

    fn handle(&mut self, input: Input) {
        let now = self.clock.now_ms();
        match input {
            Input::Frame { bytes, via } => self.receive(now, &bytes, Some(via)),
            Input::Batch { via, frames, done } => {
                for bytes in &frames {
                    self.receive(now, bytes, Some(via));
                }
                self.batches_done.push(done);
            }
            Input::Import {
                bytes,
                salvage,
                via,
                done,
            } => {
                let result = self.import(now, &bytes, salvage, via);
                self.imports_done
                    .push((done, result.map_err(|e| e.to_string())));
            }
            Input::Direct { peer, up, rtt_us } => {
                let degraded_rtt_ms = self.network.config.health.degraded_rtt_ms;
                self.update_health(
                    now,
                    |slot| slot.route == Route::Direct && slot.peer == peer,
                    |health| match (up, rtt_us) {
                        (true, Some(rtt)) => health.answered(now, rtt, degraded_rtt_ms).cloned(),
                        (true, None) => health.set(now, Health::Up, "connected".into()).cloned(),
                        (false, _) => health
                            .set(now, Health::Down, "connection lost".into())
                            .cloned(),
                    },
                );
            }
            Input::Heartbeat { via, result } => self.heartbeat(now, via, result),
            Input::Deposited {
                via,
                peer,
                envelopes,
                receipts,
            } => {
                if let Some(slot) = self.slot_mut(&peer, via) {
                    slot.counters.envelopes_stored_at_relay += envelopes;
                    slot.counters.receipts_stored_at_relay += receipts;
                }
            }
            Input::PeerDialled(peer) => self.network.kick(&peer),
            Input::Api(request, reply) => {
                let response = self.api(now, request);
                self.replies.push((reply, response));
            }
            Input::Tick | Input::Shutdown => {}
        }
    }

    fn heartbeat(&mut self, now: u64, via: Via, result: Result<u64, String>) {
        let degraded_rtt_ms = self.network.config.health.degraded_rtt_ms;
        let route = match via {
            Via::Relay(index) => Route::Relay(index),
            Via::Folder(index) => Route::Folder(index),
            Via::Direct(_) => return,
        };
        self.update_health(
            now,
            |slot| slot.route == route,
            |health| match (&result, route) {
                (Ok(rtt), Route::Relay(_)) => health.answered(now, *rtt, degraded_rtt_ms).cloned(),
                (Err(error), Route::Relay(_)) => health.missed(now, error).cloned(),
                (Ok(_), _) => health
                    .set(now, Health::Up, "folder present".into())
                    .cloned(),
                (Err(error), _) => health.unavailable(now, error).cloned(),
            },
        );
    }

    /// Applies `change` to the health of every channel `which` selects, logs each change and
    /// tells the protocol whether the channel is usable.
    fn update_health(
        &mut self,
        now: u64,
        which: impl Fn(&Slot) -> bool,
        mut change: impl FnMut(&mut ChannelHealth) -> Option<crate::health::Transition>,
    ) {
        for slot in self.slots.iter_mut().filter(|slot| which(slot)) {
            let Some(transition) = change(&mut slot.health) else {
                continue;
            };
            let name = self
                .node
                .peers()
                .get(&slot.peer)
                .map(|p| p.name.as_str())
                .unwrap_or("?");
            tracing::info!(
                peer = name,
                channel = slot.kind.name(),
                target = slot.target.as_deref().unwrap_or("-"),
                from = transition.from.name(),
                to = transition.to.name(),
                reason = %transition.reason,
                "channel state"
            );
            if let Some(link) = self.node.endpoint_mut().link_mut(&slot.peer) {
                link.set_channel_up(now, slot.id, slot.health.usable());
            }
        }
    }

    fn duplicates_total(&self) -> u64 {
        self.node
            .endpoint()
            .links()
            .map(|link| link.counters().duplicates_dropped)
            .sum()
    }

    fn slot_mut(&mut self, peer: &StationId, via: Via) -> Option<&mut Slot> {
        let route = match via {
            Via::Direct(_) => Route::Direct,
            Via::Relay(index) => Route::Relay(index),
            Via::Folder(index) => Route::Folder(index),
        };
        self.slots
            .iter_mut()
            .find(|slot| slot.route == route && slot.peer == *peer)
    }

    fn receive(&mut self, now: u64, bytes: &[u8], via: Option<Via>) {
        let duplicates = self.duplicates_total();
        let result = self.node.endpoint_mut().handle_frame(now, bytes);
        let duplicate = self.duplicates_total() > duplicates;
        let Some(via) = via else {
            return;
        };
        match result {
            Ok(peer) => {
                if let Some(slot) = self.slot_mut(&peer.peer, via) {
                    match bytes.first() == Some(&TAG_ENVELOPE) {
                        true => slot.counters.envelopes_received += 1,
                        false => slot.counters.receipts_received += 1,
                    }
                    slot.counters.duplicates_dropped += u64::from(duplicate);
                }
            }
            Err(rejection) => {
                tracing::warn!(reason = rejection.rejection.counter_name(), %rejection, "frame rejected");
                let claimed = match via {
                    Via::Direct(peer) => Some(peer),
                    _ => claimed_sender(bytes),
                };
                if let Some(slot) = claimed.and_then(|peer| self.slot_mut(&peer, via)) {
                    slot.counters.rejected += 1;
                }
            }
        }
    }

    fn import(
        &mut self,
        now: u64,
        bytes: &[u8],
        salvage: bool,
        via: Option<Via>,
    ) -> Result<Imported, StationError> {
        // The frames are counted on the folder's channels by `receive` when they came through
        // one; the report counts them all.
        let imported = self.node.import_bundle_uncommitted(now, bytes, salvage)?;
        if let Some(via) = via {
            let peer = self.node.resolve_peer(&imported.peer)?;
            if let Some(slot) = self.slot_mut(&peer, via) {
                slot.counters.envelopes_received += imported.envelopes_new + imported.duplicates;
                slot.counters.receipts_received += imported.receipts;
                slot.counters.duplicates_dropped += imported.duplicates;
                slot.counters.rejected += imported.rejected.len() as u64;
            }
        }
        tracing::info!(
            peer = %imported.peer,
            new = imported.envelopes_new,
            duplicates = imported.duplicates,
            receipts = imported.receipts,
            rejected = imported.rejected.len(),
            "bundle imported"
        );
        Ok(imported)
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
                    self.add_direct(now, peer);
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
            Request::ChannelAdd {
                peer,
                kind,
                target,
                card,
                fingerprint,
            } => match self.add_channel(now, &peer, &kind, &target, card, fingerprint) {
                Ok(result) => Response::ok(result),
                Err(error) => Response::error(error.to_string()),
            },
            Request::CourierExport { peer, out } => {
                match self
                    .node
                    .export_bundle(now, &peer)
                    .and_then(|(bytes, exported)| {
                        crate::courier::write_bundle_file(&out, &bytes)?;
                        Ok(exported)
                    }) {
                    Ok(exported) => Response::ok(json!(exported)),
                    Err(error) => Response::error(error.to_string()),
                }
            }
            Request::CourierImport { path, salvage } => {
                let result = crate::courier::read_bundle_file(&path)
                    .and_then(|bytes| self.import(now, &bytes, salvage, None));
                match result {
                    Ok(imported) => Response::ok(json!(imported)),
                    Err(error) => Response::error(error.to_string()),
                }
            }
            Request::Status => Response::ok(self.status(now)),
        }
    }

    fn add_channel(
        &mut self,
        now: u64,
        peer: &str,
        kind: &str,
        target: &str,
        card: Option<String>,
        fingerprint: Option<String>,
    ) -> Result<Value, StationError> {
        let id = match (kind, card, fingerprint) {
            ("relay", Some(card), Some(fingerprint)) => {
                self.node
                    .add_relay_channel(now, peer, target, &card, &fingerprint)?
            }
            ("relay", _, _) => {
                return Err(StationError::Invalid(
                    "a relay channel needs the relay's card (--card FILE) and fingerprint (--fingerprint FP)".into(),
                ));
            }
            ("courier", None, None) => self.node.add_courier_channel(now, peer, target)?,
            ("courier", _, _) => {
                return Err(StationError::Invalid(
                    "a courier channel takes only a folder; --card and --fingerprint are for relays".into(),
                ));
            }
            (other, _, _) => {
                return Err(StationError::Invalid(format!(
                    "unknown channel kind {other:?}; use relay or courier"
                )));
            }
        };
        let row = self
            .node
            .store()
            .channels()?
            .into_iter()
            .find(|row| row.id == id)
            .ok_or_else(|| {
                StationError::Daemon("the channel just added is not in the store".into())
            })?;
        self.add_stored(now, &row);
        Ok(json!({ "id": id, "kind": kind, "target": target }))
    }

    fn status(&self, now: u64) -> Value {
        let channels: Vec<(StationId, Value)> = self
            .slots
            .iter()
            .map(|slot| {
                (
                    slot.peer,
                    json!({
                        "kind": slot.kind.name(),
                        "target": slot.target,
                        "state": slot.health.state,
                        "since_ms": slot.health.since_ms,
                        "rtt_ms": slot.health.rtt_us.map(|us| us as f64 / 1000.0),
                        "changes": slot.health.changes,
                        "last_error": slot.health.last_error,
                        "transitions": slot.health.transitions,
                        "counters": slot.counters,
                    }),
                )
            })
            .collect();
        status::live(
            &self.node,
            &channels,
            self.network.endpoint.rejected_handshakes(),
            self.cards_rejected,
            now,
            self.started.elapsed(),
        )
    }
}

/// The station a frame claims to come from, read without verifying (for counting a refusal
/// on the right channel only).
fn claimed_sender(bytes: &[u8]) -> Option<StationId> {
    match Frame::parse(bytes).ok()? {
        Frame::Envelope(raw) => Envelope::peek(raw).ok().map(|e| e.claimed_from()),
        Frame::Receipt(raw) => Receipt::peek_from(raw).ok(),
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
            tracing::error!(peer = %peer.short(), kind = kind.name(), seq, "ALARM: evidence recorded")
        }
    }
}
