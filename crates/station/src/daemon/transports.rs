//! The transports the driver hands frames to: one dial loop per peer, the tasks of each relay,
//! a thread per drop folder, and a task per stock witness. Started when the core asks
//! ([`Start`]), the stock witnesses' at once; each has a bounded queue, and a frame that does
//! not fit is not handed over (the protocol resends it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_channels::courier::folder::{self, FolderSender};
use parley_channels::direct::task::{DialTiming, DirectSender, start_dial};
use parley_channels::relay::task::{self as relay_task, RelaySender, RelayTiming};
use parley_channels::witness::{self as stock_witness, WitnessClient, WitnessSender};
use parley_channels::{DirectEndpoint, Inbound, PinnedKeys, RelayClient, Signal, Via, WitnessAt};
use parley_proto::tlog::head::Witness;
use parley_proto::{Identity, StationId};

use super::liveness::Liveness;
use crate::core::{Start, Transmit, WitnessSubmit};
use crate::home::Config;
use crate::limits::{DIRECT_SEND_QUEUE_FRAMES_MAX, RELAY_SEND_QUEUE_FRAMES_MAX};
use crate::node::parse_listen;

/// Every running transport.
pub(super) struct Transports {
    runtime: tokio::runtime::Handle,
    endpoint: Arc<DirectEndpoint>,
    pinned: PinnedKeys,
    inbound: Inbound,
    dial: DialTiming,
    relay: RelayTiming,
    scan_interval: Duration,
    identity: Identity,
    direct: BTreeMap<StationId, DirectSender>,
    relays: BTreeMap<Via, RelaySender>,
    folders: BTreeMap<Via, FolderSender>,
    stock_witnesses: BTreeMap<Witness, WitnessSender>,
    /// When each transport last reported.
    liveness: Liveness,
}

impl Transports {
    pub(super) fn new(
        runtime: tokio::runtime::Handle,
        (endpoint, pinned): (Arc<DirectEndpoint>, PinnedKeys),
        inbound: Inbound,
        (config, stock): (&Config, Vec<(Witness, WitnessClient)>),
        identity: Identity,
    ) -> Self {
        let ms = Duration::from_millis;
        let stock_witnesses = (stock.into_iter())
            .map(|(witness, client)| {
                let sender =
                    stock_witness::start(&runtime, witness.clone(), client, inbound.clone());
                (witness, sender)
            })
            .collect();
        Self {
            runtime,
            endpoint,
            pinned,
            inbound,
            dial: DialTiming {
                heartbeat_interval: ms(config.direct.heartbeat_interval_ms),
                redial_delay_min: ms(config.direct.redial_delay_ms_min),
                redial_delay_max: ms(config.direct.redial_delay_ms_max),
            },
            relay: RelayTiming {
                heartbeat_interval: ms(config.relay.heartbeat_interval_ms),
                poll_wait: ms(config.relay.poll_wait_ms),
            },
            scan_interval: ms(config.courier.scan_interval_ms),
            identity,
            direct: BTreeMap::new(),
            relays: BTreeMap::new(),
            folders: BTreeMap::new(),
            stock_witnesses,
            liveness: Liveness::default(),
        }
    }

    /// The transport of `via` reported `signal`.
    pub(super) fn heard(&mut self, via: Via, signal: &Signal) {
        let interval = match via {
            Via::Direct(_) => self.dial.heartbeat_interval,
            Via::Relay(_) => self.relay.heartbeat_interval,
            Via::Folder(_) => self.scan_interval,
        };
        self.liveness.heard(via, signal, interval, Instant::now());
    }

    /// The transport of `via` reported something other than its health: it is not stuck.
    pub(super) fn touched(&mut self, via: Via) {
        self.liveness.touched(via, Instant::now());
    }

    /// The heartbeats that silent transports missed until now ([`Liveness::missed`]).
    pub(super) fn missed(&mut self) -> Vec<(Via, Signal)> {
        self.liveness.missed(Instant::now())
    }

    /// Incoming direct handshakes refused so far.
    pub(super) fn handshakes_rejected(&self) -> u64 {
        self.endpoint.rejected_handshakes()
    }

    /// Starts a transport. One that cannot start is logged and stays down (its channels are
    /// shown down in status).
    pub(super) fn start(&mut self, start: Start) {
        match start {
            Start::Direct { peer, address } => {
                self.pinned.insert(peer.0);
                let Some(address) = address else {
                    return;
                };
                let address = match parse_listen(&address) {
                    Ok(address) => address,
                    Err(error) => {
                        tracing::warn!(peer = %peer.short(), %error, "peer address unusable; direct channel off");
                        return;
                    }
                };
                self.pinned.insert_peer_ip(address.ip());
                let sender = start_dial(
                    &self.runtime,
                    self.endpoint.clone(),
                    (peer, address),
                    self.dial,
                    DIRECT_SEND_QUEUE_FRAMES_MAX,
                    self.inbound.clone(),
                );
                self.direct.insert(peer, sender);
            }
            Start::Relay { via, url, relay } => {
                match RelayClient::new(&url, relay, self.identity.clone()) {
                    Ok(client) => {
                        let sender = relay_task::start(
                            &self.runtime,
                            via,
                            client,
                            self.relay,
                            RELAY_SEND_QUEUE_FRAMES_MAX,
                            self.inbound.clone(),
                        );
                        self.relays.insert(via, sender);
                    }
                    Err(error) => tracing::error!(url, %error, "relay channel unusable"),
                }
            }
            Start::Folder { via, dir } => {
                let started = folder::start(
                    via,
                    PathBuf::from(&dir),
                    self.identity.clone(),
                    self.scan_interval,
                    self.inbound.clone(),
                );
                match started {
                    Ok(sender) => {
                        self.folders.insert(via, sender);
                    }
                    Err(error) => {
                        tracing::error!(dir, %error, "drop folder thread failed to start")
                    }
                }
            }
        }
    }

    /// Hands a frame to its transport; false when its queue is full or it is not running.
    pub(super) fn send(&self, transmit: &Transmit) -> bool {
        let frame = transmit.frame.clone();
        match transmit.via {
            Via::Direct(peer) => self
                .direct
                .get(&peer)
                .is_some_and(|sender| sender.try_send(frame)),
            via @ Via::Relay(_) => self
                .relays
                .get(&via)
                .is_some_and(|sender| sender.try_send(transmit.peer, frame)),
            via @ Via::Folder(_) => self
                .folders
                .get(&via)
                .is_some_and(|sender| sender.try_send(transmit.peer, frame)),
        }
    }

    /// Hands a checkpoint to its witness's task (its relay's, or the stock witness's); false
    /// when its queue is full or it is not running.
    pub(super) fn submit(&self, submit: &WitnessSubmit) -> bool {
        let (peer, size, submission) = (submit.peer, submit.size, submit.submission.clone());
        match &submit.at {
            WitnessAt::Relay(via) => (self.relays.get(via))
                .is_some_and(|sender| sender.try_submit(peer, size, submission)),
            WitnessAt::Stock(witness) => (self.stock_witnesses.get(witness))
                .is_some_and(|sender| sender.try_submit(peer, size, submission)),
        }
    }

    /// Tells `peer`'s dial loop the peer dialled us.
    pub(super) fn kick(&self, peer: &StationId) {
        if let Some(sender) = self.direct.get(peer) {
            sender.kick();
        }
    }
}
