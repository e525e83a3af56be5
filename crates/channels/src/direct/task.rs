//! The direct channel's tasks: accepting pinned peers' connections and reading their frames,
//! and one dial loop per peer that keeps an outgoing connection and writes the station's
//! frames to it. Both report in the shape every transport shares ([`Report`]).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_proto::StationId;
use tokio::sync::{Notify, mpsc};

use super::{DirectConnection, DirectEndpoint, DirectError};
use crate::backoff::Backoff;
use crate::report::{Inbound, Report, Signal, Via};

/// Youngest an outgoing connection may be and still be replaced when the peer dials us, in
/// milliseconds (also at least four round trips).
pub const KICK_AGE_MS_MIN: u64 = 250;

/// Timing of a dial loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialTiming {
    /// How often the round-trip time is reported while connected.
    pub heartbeat_interval: Duration,
    /// First delay before redialling; doubles (with jitter) on every failure in a row.
    pub redial_delay_min: Duration,
    /// Longest delay between redials.
    pub redial_delay_max: Duration,
}

/// The station's side of one peer's dial loop: frames to send, and the kick that tells the
/// loop the peer dialled us.
#[derive(Clone, Debug)]
pub struct DirectSender {
    frames: mpsc::Sender<Arc<[u8]>>,
    kick: Arc<Notify>,
}

impl DirectSender {
    /// Hands a frame to the dial loop; false when its queue is full or the loop has ended (the
    /// protocol resends it).
    pub fn try_send(&self, frame: Arc<[u8]>) -> bool {
        self.frames.try_send(frame).is_ok()
    }

    /// Tells the loop the peer dialled us, so an outgoing connection that may be dead is
    /// replaced at once.
    pub fn kick(&self) {
        self.kick.notify_one();
    }
}

/// Most connections one peer dialled that are kept open at once; a newer one closes the
/// oldest. The peer's dial loop keeps one; a second is the one replacing it. Without a bound,
/// a pinned peer dialling over and over would hold a reader (and its streams' buffers) per
/// connection.
pub const ACCEPTED_PER_PEER_MAX: usize = 2;

/// The connections each peer dialled that are kept, oldest first.
#[derive(Default)]
pub(super) struct Accepted(HashMap<StationId, VecDeque<DirectConnection>>);

impl Accepted {
    /// Keeps `connection` of `peer`; past the bound, closes the peer's oldest and returns it.
    pub(super) fn keep(
        &mut self,
        peer: StationId,
        connection: DirectConnection,
    ) -> Option<DirectConnection> {
        let kept = self.0.entry(peer).or_default();
        kept.push_back(connection);
        if kept.len() <= ACCEPTED_PER_PEER_MAX {
            return None;
        }
        let oldest = kept.pop_front()?;
        oldest.close();
        Some(oldest)
    }
}

/// Accepts pinned peers' connections and reads every frame they send, until the endpoint
/// closes.
pub async fn accept_loop(endpoint: Arc<DirectEndpoint>, inbound: Inbound) {
    let mut accepted = Accepted::default();
    while let Some(connection) = endpoint.accept().await {
        let peer = StationId(connection.peer());
        if !inbound.send(Report::Dialled { peer }).await {
            return;
        }
        tokio::spawn(read_connection(connection.clone(), peer, inbound.clone()));
        if accepted.keep(peer, connection).is_some() {
            tracing::debug!(peer = %peer.short(), "closed the peer's oldest connection to us: it dialled again");
        }
    }
}

async fn read_connection(connection: DirectConnection, peer: StationId, inbound: Inbound) {
    while let Ok(mut receiver) = connection.accept_receiver().await {
        let inbound = inbound.clone();
        tokio::spawn(async move {
            let via = Via::Direct(peer);
            loop {
                match receiver.recv().await {
                    Ok(Some(frame)) => inbound.offer_frame(via, frame),
                    Ok(None) => return,
                    Err(DirectError::FrameTooLarge { len, max }) => {
                        tracing::debug!(peer = %peer.short(), len, max, "direct frame over the limit; stream stopped");
                        inbound.send(Report::Oversized { via }).await;
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "direct stream ended");
                        return;
                    }
                }
            }
        });
    }
}

/// Starts the dial loop of `peer` at `address`, with a send queue of `queue_max` frames.
pub fn start_dial(
    runtime: &tokio::runtime::Handle,
    endpoint: Arc<DirectEndpoint>,
    (peer, address): (StationId, SocketAddr),
    timing: DialTiming,
    queue_max: usize,
    inbound: Inbound,
) -> DirectSender {
    let (frames, queue) = mpsc::channel(queue_max);
    let kick = Arc::new(Notify::new());
    let dial = Dial {
        endpoint,
        peer,
        address,
        kick: kick.clone(),
        timing,
        inbound,
    };
    runtime.spawn(dial.run(queue));
    DirectSender { frames, kick }
}

struct Dial {
    endpoint: Arc<DirectEndpoint>,
    peer: StationId,
    address: SocketAddr,
    kick: Arc<Notify>,
    timing: DialTiming,
    inbound: Inbound,
}

impl Dial {
    fn health(&self, signal: Signal) -> Report {
        Report::Health {
            via: Via::Direct(self.peer),
            signal,
        }
    }

    /// Keeps one outgoing connection to the peer and writes the station's frames to it. A kick
    /// (the peer dialled us) aborts a pending dial or wait, and replaces an established
    /// connection older than [`KICK_AGE_MS_MIN`], which is how a restarted peer is reached at
    /// once instead of after the idle timeout; the age condition stops the two sides from
    /// kicking each other forever. A dial that fails, or a connection that ends before one
    /// heartbeat interval (a peer refusing our identity does exactly that), backs off; a
    /// failure is logged once per change of reason.
    async fn run(self, mut frames: mpsc::Receiver<Arc<[u8]>>) {
        let mut backoff = Backoff::new(self.timing.redial_delay_min, self.timing.redial_delay_max);
        let mut last_failure = None::<String>;
        loop {
            let connected = tokio::select! {
                connected = self.endpoint.connect(self.address, self.peer.0) => connected,
                _ = self.kick.notified() => {
                    backoff.reset();
                    continue;
                }
            };
            let failure = match connected {
                Ok(connection) => match self.serve(&connection, &mut frames).await {
                    Served::Stopped => return,
                    Served::Lasted => {
                        backoff.reset();
                        None
                    }
                    Served::Ended(why) => Some(why),
                },
                Err(error) => Some(error.to_string()),
            };
            // Frames queued for a dead connection are resent by the protocol when the channel
            // comes back.
            while frames.try_recv().is_ok() {}
            if let Some(why) = failure {
                if last_failure.as_ref() != Some(&why) {
                    tracing::info!(peer = %self.peer.short(), reason = %why, "direct channel: cannot reach the peer");
                    last_failure = Some(why);
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff.take(Duration::ZERO)) => {}
                    _ = self.kick.notified() => backoff.reset(),
                }
            } else {
                last_failure = None;
            }
        }
    }

    /// Reports `connection`'s round-trip time as its heartbeat.
    async fn report_rtt(&self, connection: &DirectConnection) {
        let rtt_us = connection.rtt().as_micros() as u64;
        self.inbound
            .send(self.health(Signal::Answered { rtt_us }))
            .await;
    }

    /// Sends frames on `connection` until it ends, reporting its health.
    async fn serve(
        &self,
        connection: &DirectConnection,
        frames: &mut mpsc::Receiver<Arc<[u8]>>,
    ) -> Served {
        let mut sender = match connection.open_sender().await {
            Ok(sender) => sender,
            Err(error) => return Served::Ended(error.to_string()),
        };
        let connected_at = Instant::now();
        let rtt_us = Some(connection.rtt().as_micros() as u64);
        if !self
            .inbound
            .send(self.health(Signal::Connected { rtt_us }))
            .await
        {
            return Served::Stopped;
        }
        let mut rtt_tick = tokio::time::interval(self.timing.heartbeat_interval);
        let (reason, kicked) = loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => {
                        // A large frame on a slow link may take longer than a heartbeat: the
                        // connection's health is still reported meanwhile.
                        let send = sender.send(&frame);
                        tokio::pin!(send);
                        let sent = loop {
                            tokio::select! {
                                sent = &mut send => break sent,
                                _ = rtt_tick.tick() => self.report_rtt(connection).await,
                            }
                        };
                        if let Err(error) = sent {
                            break (error.to_string(), false);
                        }
                    }
                    None => return Served::Stopped,
                },
                error = connection.closed() => break (error.to_string(), false),
                _ = self.kick.notified() => {
                    // Older than any handshake could take: the peer's new connection is not
                    // merely its answer to ours.
                    let kick_age_min = (connection.rtt() * 4).max(Duration::from_millis(KICK_AGE_MS_MIN));
                    if connected_at.elapsed() >= kick_age_min {
                        tracing::debug!(peer = %self.peer.short(), "peer dialled us; replacing our connection");
                        break ("the peer dialled us; replacing this connection".to_owned(), true);
                    }
                }
                _ = rtt_tick.tick() => self.report_rtt(connection).await,
            }
        };
        connection.close();
        let lost = Signal::Lost {
            reason: reason.clone(),
        };
        if !self.inbound.send(self.health(lost)).await {
            return Served::Stopped;
        }
        if !kicked && connected_at.elapsed() < self.timing.heartbeat_interval {
            Served::Ended(reason)
        } else {
            Served::Lasted
        }
    }
}

/// How a connection's service ended.
enum Served {
    /// The station stopped.
    Stopped,
    /// The connection lasted at least a heartbeat interval: redial at once.
    Lasted,
    /// The connection ended early (refused, or the path is bad): back off.
    Ended(String),
}
