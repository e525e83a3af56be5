//! The relay channel's tasks, one set per relay (shared by every link that uses it):
//! heartbeats (signed pings, round-trip time), a long-poll of this station's own mailbox whose
//! items are deleted only after the driver has committed them, and deposits into peers'
//! mailboxes, batched, retried while the relay is unreachable.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use parley_channels::{RelayClient, RelayError};
use parley_proto::frame::TAG_ENVELOPE;
use parley_proto::{Identity, StationId};
use parley_relay_wire::limits::DEPOSIT_FRAMES_MAX;
use tokio::sync::{mpsc, oneshot};

use super::{Input, Via};
use crate::home::RelayTiming;

/// Most frames queued for one relay before new ones are dropped (the protocol retransmits
/// them when the relay channel comes back).
pub const RELAY_QUEUE_FRAMES_MAX: usize = 65_536;
/// First delay before retrying a failed deposit or fetch, in milliseconds; doubles up to the
/// heartbeat interval.
pub const RELAY_RETRY_MS_MIN: u64 = 100;

/// Frames for one relay: (recipient, frame).
pub(super) type RelayQueue = mpsc::Sender<(StationId, Arc<[u8]>)>;

/// Starts the tasks of relay number `index` and returns the queue its deposits are fed from.
pub(super) fn spawn(
    runtime: &tokio::runtime::Handle,
    index: usize,
    client: RelayClient,
    timing: RelayTiming,
    inputs: std_mpsc::Sender<Input>,
) -> RelayQueue {
    let (queue, frames) = mpsc::channel(RELAY_QUEUE_FRAMES_MAX);
    let via = Via::Relay(index);
    runtime.spawn(heartbeat_loop(
        client.clone(),
        via,
        timing.clone(),
        inputs.clone(),
    ));
    let inputs_for_deposits = inputs.clone();
    runtime.spawn(fetch_loop(client.clone(), via, timing.clone(), inputs));
    runtime.spawn(deposit_loop(
        client,
        via,
        timing,
        frames,
        inputs_for_deposits,
    ));
    queue
}

async fn heartbeat_loop(
    client: RelayClient,
    via: Via,
    timing: RelayTiming,
    inputs: std_mpsc::Sender<Input>,
) {
    let interval = Duration::from_millis(timing.heartbeat_interval_ms);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = match tokio::time::timeout(interval, client.ping()).await {
            Ok(Ok(rtt)) => Ok(rtt.as_micros() as u64),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                timing.heartbeat_interval_ms
            )),
        };
        if inputs.send(Input::Heartbeat { via, result }).is_err() {
            return;
        }
    }
}

async fn fetch_loop(
    client: RelayClient,
    via: Via,
    timing: RelayTiming,
    inputs: std_mpsc::Sender<Input>,
) {
    let wait = Duration::from_millis(timing.poll_wait_ms);
    let mut retry = Backoff::new(timing.heartbeat_interval_ms);
    loop {
        let items = match client.fetch(wait).await {
            Ok(items) => {
                retry.reset();
                items
            }
            Err(error) => {
                tracing::debug!(%error, "relay fetch failed");
                retry.wait(&error).await;
                continue;
            }
        };
        if items.is_empty() {
            continue;
        }
        let ids: Vec<u64> = items.iter().map(|item| item.id).collect();
        let (done, committed) = oneshot::channel();
        let frames = items.into_iter().map(|item| item.frame).collect();
        if inputs.send(Input::Batch { via, frames, done }).is_err() {
            return;
        }
        // Delete only what the driver has committed; if it stopped first, the items stay at
        // the relay and are fetched again (and deduplicated) after the restart.
        if committed.await.is_err() {
            return;
        }
        while let Err(error) = client.delete(&ids).await {
            tracing::debug!(%error, "relay delete failed; retrying");
            if matches!(error, RelayError::Refused { .. }) {
                break;
            }
            retry.wait(&error).await;
        }
        retry.reset();
    }
}

async fn deposit_loop(
    client: RelayClient,
    via: Via,
    timing: RelayTiming,
    mut frames: mpsc::Receiver<(StationId, Arc<[u8]>)>,
    inputs: std_mpsc::Sender<Input>,
) {
    let mut retry = Backoff::new(timing.heartbeat_interval_ms);
    while let Some(first) = frames.recv().await {
        let mut batch = vec![first];
        while batch.len() < DEPOSIT_FRAMES_MAX {
            match frames.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // One deposit per recipient, in order.
        batch.sort_by_key(|(to, _)| *to);
        for group in batch.chunk_by(|a, b| a.0 == b.0) {
            let to = group[0].0;
            let group: Vec<Arc<[u8]>> = group.iter().map(|(_, f)| f.clone()).collect();
            loop {
                match client.deposit(&to, &group).await {
                    Ok(()) => {
                        retry.reset();
                        let envelopes = group
                            .iter()
                            .filter(|f| f.first() == Some(&TAG_ENVELOPE))
                            .count() as u64;
                        let input = Input::Deposited {
                            via,
                            peer: to,
                            envelopes,
                            receipts: group.len() as u64 - envelopes,
                        };
                        if inputs.send(input).is_err() {
                            return;
                        }
                        break;
                    }
                    Err(RelayError::Refused { status, reason }) => {
                        tracing::warn!(status, %reason, peer = %to.short(), frames = group.len(), "relay refused a deposit");
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "relay deposit failed; retrying");
                        retry.wait(&error).await;
                    }
                }
            }
        }
    }
}

/// Retry delays: doubling from [`RELAY_RETRY_MS_MIN`] up to the heartbeat interval, or what
/// the relay asked for when it rate-limits.
struct Backoff {
    delay_ms: u64,
    max_ms: u64,
}

impl Backoff {
    fn new(max_ms: u64) -> Self {
        Self {
            delay_ms: RELAY_RETRY_MS_MIN,
            max_ms: max_ms.max(RELAY_RETRY_MS_MIN),
        }
    }

    fn reset(&mut self) {
        self.delay_ms = RELAY_RETRY_MS_MIN;
    }

    async fn wait(&mut self, error: &RelayError) {
        let delay = match error {
            RelayError::RateLimited { retry_after_ms } => *retry_after_ms.max(&self.delay_ms),
            _ => self.delay_ms,
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        self.delay_ms = (self.delay_ms * 2).min(self.max_ms);
    }
}

/// A client for `url`, pinned to `relay`, signing as `me`.
pub(super) fn client(url: &str, relay: StationId, me: Identity) -> Result<RelayClient, String> {
    RelayClient::new(url, relay, me).map_err(|e| e.to_string())
}
