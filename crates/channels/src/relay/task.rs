//! A relay's tasks, one set per relay (shared by every link that uses it): heartbeats (signed
//! pings, round-trip time), a long poll of this station's own mailbox whose items are deleted
//! only after the station has committed them, and deposits into peers' mailboxes, batched and
//! retried while the relay is unreachable.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use parley_proto::StationId;
use parley_proto::frame::TAG_ENVELOPE;
use parley_relay_wire::limits::{
    BODY_CBOR_OVERHEAD_BYTES, DEPOSIT_BATCH_SIZE_MAX_BYTES, DEPOSIT_FRAMES_MAX,
    FETCH_FRAMES_SIZE_MAX_BYTES, FRAME_CBOR_OVERHEAD_BYTES,
};
use parley_relay_wire::witness::{AddCheckpoint, WitnessAnswer};
use tokio::sync::{mpsc, oneshot};

use super::{RelayClient, RelayError};
use crate::backoff::Backoff;
use crate::log_limit::LogLimit;
use crate::report::{Inbound, Report, Signal, Via, WitnessAt};

/// First delay before retrying a failed deposit or fetch, in milliseconds; doubles up to the
/// heartbeat interval.
pub const RELAY_RETRY_MS_MIN: u64 = 100;

/// Once per this long, at most, refused deposits are logged, in milliseconds (the station
/// shows the channel degraded with the reason meanwhile).
pub const DEPOSIT_REFUSAL_LOG_INTERVAL_MS: u64 = 10_000;

/// Most times a deposit is retried in a row when the relay (or a proxy before it) answers
/// that it failed for now or is busy (408, 429, 5xx but 507); then it is reported refused, as
/// any refusal: a relay that keeps failing or stays busy must show as degraded, not hold the
/// deposits behind this one.
pub const DEPOSIT_RETRIES_FOR_NOW_MAX: u32 = 4;

/// After an empty answer, the next fetch starts no sooner than this long (or the poll's own
/// wait, if shorter) after the one answered: a relay that answers at once (one that does not
/// hold polls, one shutting down) is not asked again and again as fast as it answers, which
/// would spend the station's request rate there. A relay that holds the poll is never held
/// back by it.
pub const FETCH_EMPTY_INTERVAL_MS: u64 = 1_000;

/// When the fetch after one asked at `asked` and answered empty may start: no sooner than
/// [`FETCH_EMPTY_INTERVAL_MS`] (or `poll_wait`, if shorter) after `asked`.
fn next_fetch_after_empty(asked: Instant, poll_wait: Duration) -> Instant {
    asked + poll_wait.min(Duration::from_millis(FETCH_EMPTY_INTERVAL_MS))
}

/// Timing of a relay's tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelayTiming {
    /// Interval between heartbeats; a heartbeat not answered within it is missed.
    pub heartbeat_interval: Duration,
    /// Longest one mailbox fetch waits at the relay for something to arrive.
    pub poll_wait: Duration,
}

/// Most checkpoints waiting to be submitted to a relay as a witness (a station submits one per
/// link at a time).
pub const WITNESS_QUEUE_MAX: usize = 64;

/// A checkpoint for the relay to witness: of this station's log of its link with `peer`, at
/// `size`.
type Submission = (StationId, u64, AddCheckpoint);

/// The station's side of a relay's tasks: frames to deposit, with their recipients, and
/// checkpoints to submit to it as a witness.
#[derive(Clone, Debug)]
pub struct RelaySender {
    frames: mpsc::Sender<(StationId, Arc<[u8]>)>,
    checkpoints: mpsc::Sender<Submission>,
}

impl RelaySender {
    /// Queues a frame for `to`'s mailbox; false when the queue is full or the task has ended
    /// (the protocol resends it).
    pub fn try_send(&self, to: StationId, frame: Arc<[u8]>) -> bool {
        self.frames.try_send((to, frame)).is_ok()
    }

    /// Queues a checkpoint of this station's log of its link with `peer`, at `size`, for the
    /// relay to witness; its answer comes as a [`Report::Witnessed`]. False when the queue is
    /// full or the task has ended (no answer will come).
    pub fn try_submit(&self, peer: StationId, size: u64, submission: AddCheckpoint) -> bool {
        self.checkpoints.try_send((peer, size, submission)).is_ok()
    }
}

/// Starts the tasks of relay `via` and returns the queue its deposits are fed from, holding at
/// most `queue_max` frames.
pub fn start(
    runtime: &tokio::runtime::Handle,
    via: Via,
    client: RelayClient,
    timing: RelayTiming,
    queue_max: usize,
    inbound: Inbound,
) -> RelaySender {
    let (frames, queue) = mpsc::channel(queue_max);
    let (checkpoints, submissions) = mpsc::channel(WITNESS_QUEUE_MAX);
    let relay = Relay {
        via,
        client,
        timing,
        inbound,
    };
    runtime.spawn(relay.clone().heartbeat_loop());
    runtime.spawn(relay.clone().fetch_loop());
    runtime.spawn(relay.clone().witness_loop(submissions));
    runtime.spawn(relay.deposit_loop(queue));
    RelaySender {
        frames,
        checkpoints,
    }
}

#[derive(Clone)]
struct Relay {
    via: Via,
    client: RelayClient,
    timing: RelayTiming,
    inbound: Inbound,
}

impl Relay {
    /// Retry delays: from [`RELAY_RETRY_MS_MIN`] doubling up to the heartbeat interval.
    fn backoff(&self) -> Backoff {
        let min = Duration::from_millis(RELAY_RETRY_MS_MIN);
        Backoff::new(min, self.timing.heartbeat_interval)
    }

    async fn heartbeat_loop(self) {
        let interval = self.timing.heartbeat_interval;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let signal = match tokio::time::timeout(interval, self.client.ping()).await {
                Ok(Ok(rtt)) => Signal::Answered {
                    rtt_us: rtt.as_micros() as u64,
                },
                Ok(Err(error)) => Signal::Missed {
                    reason: error.to_string(),
                },
                Err(_) => Signal::Missed {
                    reason: format!("no answer within {} ms", interval.as_millis()),
                },
            };
            let report = Report::Health {
                via: self.via,
                signal,
            };
            if !self.inbound.send(report).await {
                return;
            }
        }
    }

    /// Submits checkpoints one at a time, in the order queued, and reports each answer, with
    /// the witness's own checkpoint of the log when it disagreed (`409`, `422`).
    async fn witness_loop(self, mut submissions: mpsc::Receiver<Submission>) {
        while let Some((peer, size, submission)) = submissions.recv().await {
            let answer = self
                .client
                .add_checkpoint(&submission)
                .await
                .map_err(|error| error.to_string());
            let disagreed = matches!(
                answer,
                Ok(WitnessAnswer::Conflict(_) | WitnessAnswer::Refused { status: 422, .. })
            );
            let mut held = None;
            if disagreed && let Some((origin, _)) = submission.checkpoint.split_once('\n') {
                held = self.client.witness_checkpoint(origin).await.ok().flatten();
            }
            let report = Report::Witnessed {
                at: WitnessAt::Relay(self.via),
                peer,
                size,
                answer,
                held,
            };
            if !self.inbound.send(report).await {
                return;
            }
        }
    }

    async fn fetch_loop(self) {
        let mut retry = self.backoff();
        let mut owed = Owed::default();
        let mut size = AnswerSize::default();
        loop {
            let sent = owed.ack();
            let asked = Instant::now();
            let fetched = self
                .client
                .fetch_bounded(self.timing.poll_wait, sent, size.asked())
                .await;
            let items = match fetched {
                Ok(mut items) => {
                    retry.reset();
                    size.arrived(items.iter().map(|item| item.frame.len() as u64).sum());
                    if owed.answered(sent, items.first().map(|item| item.id)) {
                        tracing::info!(
                            "the relay ignored an acknowledgement (it answered items up to it \
                             again); deleting on their own"
                        );
                        self.delete_owed(&mut owed, &mut retry).await;
                        // Committed before: the station holds them.
                        items.retain(|item| item.id > sent);
                    }
                    items
                }
                Err(RelayError::Stalled { read_bytes, .. }) => {
                    // The link is up but slower than the answer needs: ask for less at once.
                    tracing::debug!(read_bytes, "relay answer cut off: it came too slowly");
                    if size.stalled(read_bytes) {
                        tracing::info!(
                            bytes_max = size.asked(),
                            "the relay's answers arrive too slowly to come whole; asking for \
                             smaller ones"
                        );
                    }
                    self.delete_owed(&mut owed, &mut retry).await;
                    continue;
                }
                Err(error) => {
                    if size.refused(&error) {
                        tracing::info!(
                            "the relay does not take a bound on its answers (an older relay); \
                             asking for whole ones"
                        );
                    } else if owed.ack_refused(&error) {
                        tracing::info!(
                            "the relay does not take acknowledgements in fetches (an older \
                             relay); deleting on their own"
                        );
                    } else {
                        tracing::debug!(%error, "relay fetch failed");
                        wait(&mut retry, &error).await;
                    }
                    self.delete_owed(&mut owed, &mut retry).await;
                    continue;
                }
            };
            let Some(last) = items.last().map(|item| item.id) else {
                // A relay that held the poll answered at or after this: no wait.
                tokio::time::sleep_until(next_fetch_after_empty(asked, self.timing.poll_wait))
                    .await;
                continue;
            };
            let (done, committed) = oneshot::channel();
            let frames = items.into_iter().map(|item| item.frame).collect();
            let batch = Report::Batch {
                via: self.via,
                frames,
                done,
            };
            if !self.inbound.send(batch).await {
                return;
            }
            // Delete only what the station has committed; if it stopped first, the items stay
            // at the relay and are fetched again (and deduplicated) after the restart. A fetch
            // returns the oldest items of the mailbox, so everything up to the last is owed.
            if committed.await.is_err() {
                return;
            }
            owed.committed(last);
            self.delete_owed(&mut owed, &mut retry).await;
        }
    }

    /// Deletes what is owed on its own, when the relay takes no acknowledgement in a fetch;
    /// retries while the relay is unreachable, gives up on a refusal (the items are fetched
    /// again, and deduplicated).
    async fn delete_owed(&self, owed: &mut Owed, retry: &mut Backoff) {
        let Some(upto) = owed.deletable() else {
            return;
        };
        while let Err(error) = self.client.delete_upto(upto).await {
            tracing::debug!(%error, "relay delete failed; retrying");
            if matches!(error, RelayError::Refused { .. }) {
                break;
            }
            wait(retry, &error).await;
        }
        owed.acknowledged();
        retry.reset();
    }

    async fn deposit_loop(self, mut frames: mpsc::Receiver<(StationId, Arc<[u8]>)>) {
        let mut retry = self.backoff();
        let mut refusals = LogLimit::new(DEPOSIT_REFUSAL_LOG_INTERVAL_MS);
        let mut size_max = DEPOSIT_BATCH_SIZE_MAX_BYTES;
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
                // After a refusal, the rest of the recipient's frames wait for the protocol to
                // resend them, as the refused ones will be: none is stored ahead of them.
                let mut rest = &group[..];
                while let Some(deposit) = deposits(rest, size_max).first().copied() {
                    match self.deposit(&mut retry, &mut refusals, to, deposit).await {
                        Deposited::Stored => {
                            rest = &rest[deposit.len()..];
                            size_max = size_max.saturating_mul(2).min(DEPOSIT_BATCH_SIZE_MAX_BYTES);
                        }
                        Deposited::Failed => {
                            // Too slow for the uplink, perhaps: the relay ends a body that
                            // arrives slower than it allows. Smaller deposits, until one
                            // frame at a time; each stored doubles the size back.
                            size_max = (body_size(deposit) / 2).max(1);
                            tracing::debug!(
                                size_max,
                                "relay deposit failed; depositing less at once"
                            );
                        }
                        Deposited::Refused => break,
                        Deposited::Stopped => return,
                    }
                }
            }
        }
    }

    /// Deposits one recipient's frames, retrying while the relay is unreachable or, up to
    /// [`DEPOSIT_RETRIES_FOR_NOW_MAX`] times, says to try again (408, 429, and 5xx but 507);
    /// a refusal, or one more such answer, is reported, not retried (the protocol resends):
    /// [`after_failed_deposit`] decides. A deposit of several frames is not retried whole
    /// after it failed in transport or its body was too slow (408): [`Deposited::Failed`], to
    /// be cut smaller.
    async fn deposit(
        &self,
        retry: &mut Backoff,
        refusals: &mut LogLimit<&'static str>,
        to: StationId,
        group: &[Arc<[u8]>],
    ) -> Deposited {
        let reported = |sent: bool, refused: bool| match (sent, refused) {
            (false, _) => Deposited::Stopped,
            (true, false) => Deposited::Stored,
            (true, true) => Deposited::Refused,
        };
        let mut retried_for_now = 0;
        loop {
            match self.client.deposit(&to, group).await {
                Ok(()) => {
                    retry.reset();
                    let envelopes = group
                        .iter()
                        .filter(|f| f.first() == Some(&TAG_ENVELOPE))
                        .count() as u64;
                    let stored = Report::Stored {
                        via: self.via,
                        peer: to,
                        envelopes,
                        receipts: group.len() as u64 - envelopes,
                    };
                    return reported(self.inbound.send(stored).await, false);
                }
                Err(error) => match after_failed_deposit(&error, retried_for_now, group.len()) {
                    AfterFailure::Report(reason) => {
                        if let Some(held_back) = refusals.admit_now("deposit refused") {
                            tracing::warn!(%reason, peer = %to.short(), frames = group.len(), held_back, "relay refused a deposit");
                        }
                        let refused = Report::DepositRefused {
                            via: self.via,
                            peer: to,
                            reason,
                        };
                        return reported(self.inbound.send(refused).await, true);
                    }
                    next => {
                        if error.status().is_some() {
                            retried_for_now += 1;
                        }
                        tracing::debug!(%error, "relay deposit failed; retrying");
                        wait(retry, &error).await;
                        if next == AfterFailure::CutSmaller {
                            return Deposited::Failed;
                        }
                    }
                },
            }
        }
    }
}

/// What follows a deposit that failed with `error` after `retried_for_now` answers that said
/// to try again, of `frames` frames.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AfterFailure {
    /// Tried again as it is, after the backoff or the wait the relay asked for.
    Again,
    /// Cut smaller, after the wait: in transport, or too slow (408), a deposit of several
    /// frames may be too large for the uplink.
    CutSmaller,
    /// Reported refused with this reason (the protocol resends the frames): a refusal, or an
    /// answer that said to try again (408, 429, 5xx but 507) [`DEPOSIT_RETRIES_FOR_NOW_MAX`]
    /// times, so that a relay that keeps failing or stays busy shows as degraded.
    Report(String),
}

fn after_failed_deposit(error: &RelayError, retried_for_now: u32, frames: usize) -> AfterFailure {
    if let Some(status) = error.status() {
        let for_now = status == 429 || RelayError::refused_for_now(status);
        if !for_now || retried_for_now >= DEPOSIT_RETRIES_FOR_NOW_MAX {
            let reason = match error {
                RelayError::Refused { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            return AfterFailure::Report(format!("HTTP {status}: {reason}"));
        }
    }
    let slow = matches!(
        error,
        RelayError::Transport(_) | RelayError::Refused { status: 408, .. }
    );
    if slow && frames > 1 {
        AfterFailure::CutSmaller
    } else {
        AfterFailure::Again
    }
}

/// How a deposit ended.
enum Deposited {
    /// The relay took the frames, and the station was told.
    Stored,
    /// The relay refused them, and the station was told.
    Refused,
    /// They did not reach the relay (in transport, or too slowly), and were several: to be
    /// deposited in smaller parts.
    Failed,
    /// The station has stopped.
    Stopped,
}

/// The body size of a deposit of `frames`.
fn body_size(frames: &[Arc<[u8]>]) -> usize {
    BODY_CBOR_OVERHEAD_BYTES
        + frames
            .iter()
            .map(|frame| frame.len() + FRAME_CBOR_OVERHEAD_BYTES)
            .sum::<usize>()
}

/// One recipient's frames, in order, cut into deposits of at most [`DEPOSIT_FRAMES_MAX`]
/// frames and `size_max` (at most [`DEPOSIT_BATCH_SIZE_MAX_BYTES`]) of body (a frame alone
/// always makes one).
fn deposits(frames: &[Arc<[u8]>], size_max: usize) -> Vec<&[Arc<[u8]>]> {
    let size_max = size_max.min(DEPOSIT_BATCH_SIZE_MAX_BYTES);
    let mut cut = Vec::new();
    let (mut start, mut body) = (0, BODY_CBOR_OVERHEAD_BYTES);
    for (at, frame) in frames.iter().enumerate() {
        let adds = frame.len() + FRAME_CBOR_OVERHEAD_BYTES;
        let full = body + adds > size_max || at - start == DEPOSIT_FRAMES_MAX;
        if at > start && full {
            cut.push(&frames[start..at]);
            (start, body) = (at, BODY_CBOR_OVERHEAD_BYTES);
        }
        body += adds;
    }
    if start < frames.len() {
        cut.push(&frames[start..]);
    }
    cut
}

/// The items of this station's mailbox it has committed and the relay has not deleted yet:
/// every id up to `upto`, acknowledged by the next fetch, or deleted on their own by a relay
/// older than acknowledgements in fetches (it refuses the `ack` parameter with HTTP 400,
/// having done nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Owed {
    upto: u64,
    /// The relay refused an acknowledgement: delete on their own from now on.
    no_ack: bool,
}

impl Owed {
    /// What the next fetch acknowledges (0: nothing).
    fn ack(&self) -> u64 {
        if self.no_ack { 0 } else { self.upto }
    }

    /// Everything up to `last` is committed.
    fn committed(&mut self, last: u64) {
        self.upto = self.upto.max(last);
    }

    /// The relay has deleted what was owed.
    fn acknowledged(&mut self) {
        self.upto = 0;
    }

    /// A fetch that acknowledged `sent` (0: nothing) was answered, its first item's id
    /// `first`. A relay that took the acknowledgement deleted every item up to it before
    /// reading, and ids only grow, so none it answers is at or below it; one that answers such
    /// an item ignored the parameter (a relay that does not know it): from then on, owed items
    /// are deleted on their own, beginning with these. Returns whether it was ignored;
    /// otherwise what was owed is deleted.
    fn answered(&mut self, sent: u64, first: Option<u64>) -> bool {
        let ignored = sent > 0 && first.is_some_and(|id| id <= sent);
        if ignored {
            self.no_ack = true;
        } else {
            self.acknowledged();
        }
        ignored
    }

    /// Whether `error`, the answer to a fetch, refuses its acknowledgement (HTTP 400 naming
    /// the query; a proxy's 400 does not): from then on, owed items are deleted on their own.
    fn ack_refused(&mut self, error: &RelayError) -> bool {
        let refused = self.ack() > 0 && refuses_query(error);
        self.no_ack |= refused;
        refused
    }

    /// Up to which id to delete on their own now, if any.
    fn deletable(&self) -> Option<u64> {
        (self.no_ack && self.upto > 0).then_some(self.upto)
    }
}

/// How many frame bytes the next fetch asks for (its first frame is answered whatever its
/// size): as many as the relay answers, until an answer's body stalls (a downlink slower than
/// the relay's largest answers need to arrive in time: without this, the same answer was
/// asked for and cut off again and again, and nothing came through); then at most half of
/// what arrived of it, and twice as much after each answer that came whole and filled half
/// its bound or more, back to the relay's own bound. Below about 2 KiB/s a frame of the
/// largest size never arrives whole, and what is behind it waits for the other channels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AnswerSize {
    /// 0: the relay's own bound.
    bytes_max: u64,
    /// The relay refused the bound (an older relay): never asked again.
    refused: bool,
}

impl AnswerSize {
    /// What the next fetch asks for (0: no bound).
    fn asked(&self) -> u64 {
        if self.refused { 0 } else { self.bytes_max }
    }

    /// An answer's body stalled after `read_bytes`; returns whether answers were unbounded
    /// until now.
    fn stalled(&mut self, read_bytes: u64) -> bool {
        let half = (read_bytes / 2).max(1);
        let first = self.bytes_max == 0;
        self.bytes_max = if first {
            half
        } else {
            self.bytes_max.min(half)
        };
        first && !self.refused
    }

    /// An answer of `frame_bytes` came whole: an empty or small one (the mailbox drained)
    /// says nothing of the link, and leaves the bound as it is.
    fn arrived(&mut self, frame_bytes: u64) {
        if self.bytes_max > 0 && frame_bytes.saturating_mul(2) >= self.bytes_max {
            self.bytes_max = self.bytes_max.max(frame_bytes).saturating_mul(2);
            if self.bytes_max >= FETCH_FRAMES_SIZE_MAX_BYTES as u64 {
                self.bytes_max = 0;
            }
        }
    }

    /// Whether `error`, the answer to a fetch, refuses its bound, as a relay older than it
    /// refuses a query it does not know (HTTP 400 naming the query; a proxy's 400 does not):
    /// from then on, none is asked.
    fn refused(&mut self, error: &RelayError) -> bool {
        let refused = self.asked() > 0 && refuses_query(error);
        self.refused |= refused;
        refused
    }
}

/// Whether `error` is a relay's refusal of a fetch's query (HTTP 400 naming it, as a relay
/// older than one of its parameters answers), not another 400 (a proxy's).
fn refuses_query(error: &RelayError) -> bool {
    matches!(error, RelayError::Refused { status: 400, reason } if reason.contains("query"))
}

/// How long to wait before retrying after `error`: the backoff's next delay, or what a
/// rate-limiting or busy relay asked for (never more than the backoff's maximum, so a relay
/// cannot silence a channel for longer than a heartbeat interval).
async fn wait(retry: &mut Backoff, error: &RelayError) {
    let floor = error
        .retry_after_ms()
        .map_or(Duration::ZERO, Duration::from_millis);
    tokio::time::sleep(retry.take(floor)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer that stalls halves what the next asks for from what arrived of it; each
    /// whole answer doubles it, back to no bound; a relay that refuses the bound is not asked
    /// it again.
    #[test]
    fn a_stalled_answer_makes_the_next_smaller() {
        let mut size = AnswerSize::default();
        assert_eq!(size.asked(), 0);
        assert!(size.stalled(300_000), "first");
        assert_eq!(size.asked(), 150_000);
        assert!(!size.stalled(100_001), "not first");
        assert_eq!(size.asked(), 50_000);
        size.stalled(200_000);
        assert_eq!(size.asked(), 50_000, "a stall never raises the bound");
        assert!(!size.stalled(0));
        assert_eq!(size.asked(), 1, "one frame");
        // An answer that fills half its bound or more doubles it (from the frames' bytes, if
        // more); an empty or small one leaves it.
        size.arrived(2_400);
        assert_eq!(size.asked(), 4_800);
        size.arrived(0);
        size.arrived(2_399);
        assert_eq!(size.asked(), 4_800);
        size.arrived(2_400);
        assert_eq!(size.asked(), 9_600);
        let mut size = AnswerSize {
            bytes_max: FETCH_FRAMES_SIZE_MAX_BYTES as u64 / 2 - 1,
            refused: false,
        };
        size.arrived(size.bytes_max);
        assert_eq!(size.asked(), FETCH_FRAMES_SIZE_MAX_BYTES as u64 - 2);
        size.arrived(size.bytes_max);
        assert_eq!(size.asked(), 0, "the relay's own bound");
        assert!(!size.refused(&refused(400)), "nothing was asked");
        size.stalled(10);
        assert!(!size.refused(&refused(507)));
        assert!(!size.refused(&proxy_400()), "a 400 not about the query");
        assert!(!size.refused(&RelayError::Transport("reset".into())));
        assert!(size.refused(&refused(400)));
        assert_eq!(size.asked(), 0);
        assert!(!size.stalled(10), "not asked any more");
        assert_eq!(size.asked(), 0);
    }

    /// A 400 from a proxy before the relay, which names no query.
    fn proxy_400() -> RelayError {
        RelayError::Refused {
            status: 400,
            reason: "Bad Request".into(),
        }
    }

    /// A refusal with `status` whose reason names the query, as an older relay refuses a
    /// parameter it does not know.
    fn refused(status: u16) -> RelayError {
        RelayError::Refused {
            status,
            reason: "query is malformed: the only parameter is wait_ms=<milliseconds>".into(),
        }
    }

    /// A refusal is reported at once; an answer that says to try again (408, 429, 503) a few
    /// times, then reported; a transport failure, or a 408, of several frames cuts the deposit
    /// smaller, of one frame tries it again.
    #[test]
    fn a_failed_deposit_is_tried_again_cut_smaller_or_reported() {
        use AfterFailure::{Again, CutSmaller, Report};
        let busy = RelayError::Busy {
            retry_after_ms: 1_000,
        };
        let limited = RelayError::RateLimited {
            retry_after_ms: 1_000,
        };
        let down = RelayError::Transport("connection refused".into());
        for error in [&busy, &limited, &refused(500)] {
            assert_eq!(after_failed_deposit(error, 0, 1), Again, "{error}");
            let last = after_failed_deposit(error, DEPOSIT_RETRIES_FOR_NOW_MAX - 1, 1);
            assert_eq!(last, Again, "{error}");
            let reported = after_failed_deposit(error, DEPOSIT_RETRIES_FOR_NOW_MAX, 1);
            assert!(matches!(reported, Report(_)), "{error}: {reported:?}");
        }
        let Report(reason) = after_failed_deposit(&busy, DEPOSIT_RETRIES_FOR_NOW_MAX, 1) else {
            panic!("reported");
        };
        assert!(reason.starts_with("HTTP 503: relay busy"), "{reason}");
        for status in [400, 403, 404, 507] {
            let reported = after_failed_deposit(&refused(status), 0, 2);
            assert!(
                matches!(reported, Report(ref r) if r.starts_with(&format!("HTTP {status}: ")))
            );
        }
        assert_eq!(after_failed_deposit(&refused(408), 0, 2), CutSmaller);
        assert_eq!(after_failed_deposit(&refused(408), 0, 1), Again);
        assert_eq!(after_failed_deposit(&down, 9, 2), CutSmaller);
        assert_eq!(after_failed_deposit(&down, 9, 1), Again);
    }

    /// A recipient's frames go in deposits whose bodies keep within the batch bound, every
    /// frame once and in order: on both sides of the bound, and with the frame count bound.
    #[test]
    fn deposits_keep_within_the_batch_size_and_frame_count() {
        use parley_relay_wire::limits::{FRAME_SIZE_MAX_BYTES, deposit_body_size_max_bytes};
        let frame = |len: usize| -> Arc<[u8]> { vec![TAG_ENVELOPE; len].into() };
        let full = |frames| deposits(frames, DEPOSIT_BATCH_SIZE_MAX_BYTES);
        let largest = |count: usize| vec![frame(FRAME_SIZE_MAX_BYTES); count];
        // As many of the largest frames as fit, then one that fills the body to the byte.
        let fit = (DEPOSIT_BATCH_SIZE_MAX_BYTES - BODY_CBOR_OVERHEAD_BYTES)
            / (FRAME_SIZE_MAX_BYTES + FRAME_CBOR_OVERHEAD_BYTES);
        let mut exact = largest(fit);
        let room = DEPOSIT_BATCH_SIZE_MAX_BYTES - body_size(&exact) - FRAME_CBOR_OVERHEAD_BYTES;
        exact.push(frame(room));
        assert_eq!(body_size(&exact), DEPOSIT_BATCH_SIZE_MAX_BYTES);
        assert_eq!(full(&exact), vec![&exact[..]]);
        // One byte more, and the last frame goes in a deposit of its own.
        let mut over = largest(fit);
        over.push(frame(room + 1));
        assert_eq!(full(&over), vec![&over[..fit], &over[fit..]]);
        // A bound asked above the batch bound is the batch bound.
        assert_eq!(deposits(&over, usize::MAX), full(&over));
        // A whole batch of the largest frames: every deposit within the bound, none empty,
        // every frame once in order.
        let all = largest(DEPOSIT_FRAMES_MAX);
        let cut = full(&all);
        assert!(cut.len() > 1);
        assert!(
            cut.iter()
                .all(|d| !d.is_empty() && body_size(d) <= DEPOSIT_BATCH_SIZE_MAX_BYTES)
        );
        assert_eq!(cut.concat(), all);
        // Small frames: the frame count bounds a deposit, not the size.
        let small: Vec<_> = (0..DEPOSIT_FRAMES_MAX + 1).map(|_| frame(2_400)).collect();
        let cut = full(&small);
        assert_eq!(
            cut,
            vec![&small[..DEPOSIT_FRAMES_MAX], &small[DEPOSIT_FRAMES_MAX..]]
        );
        assert!(full(&[]).is_empty());
        // A smaller bound (a slow uplink): exactly two of them, or one with a byte less; below
        // one frame, each frame alone.
        let two = body_size(&small[..2]);
        assert_eq!(deposits(&small[..3], two), vec![&small[..2], &small[2..3]]);
        assert_eq!(deposits(&small[..2], two - 1).len(), 2);
        assert_eq!(deposits(&small[..3], 1).len(), 3);
        // A single frame of the largest size always makes a deposit.
        assert!(body_size(&largest(1)) <= deposit_body_size_max_bytes(1));
        assert_eq!(full(&largest(1)).len(), 1);
    }

    /// After an empty answer the next fetch waits out the interval from when the last was
    /// asked (a poll the relay held as long is not held back), or the poll's own wait if
    /// shorter.
    #[test]
    fn an_empty_answer_at_once_is_not_followed_by_a_fetch_at_once() {
        let asked = Instant::now();
        let interval = Duration::from_millis(FETCH_EMPTY_INTERVAL_MS);
        let at = next_fetch_after_empty(asked, Duration::from_secs(10));
        assert_eq!(at, asked + interval);
        let short = Duration::from_millis(50);
        assert_eq!(next_fetch_after_empty(asked, short), asked + short);
    }

    #[test]
    fn committed_items_are_acknowledged_by_the_next_fetch() {
        let mut owed = Owed::default();
        assert_eq!((owed.ack(), owed.deletable()), (0, None));
        owed.committed(7);
        assert_eq!((owed.ack(), owed.deletable()), (7, None));
        // A fetch that failed in transport acknowledged nothing: the next one does.
        assert!(!owed.ack_refused(&RelayError::Transport("reset".into())));
        owed.committed(9);
        assert_eq!(owed.ack(), 9);
        owed.acknowledged();
        assert_eq!((owed.ack(), owed.deletable()), (0, None));
    }

    #[test]
    fn a_relay_ignoring_acknowledgements_gets_deletes() {
        let mut owed = Owed::default();
        // Items above what was acknowledged: taken.
        owed.committed(7);
        assert!(!owed.answered(7, Some(8)));
        assert_eq!((owed.ack(), owed.deletable()), (0, None));
        // Nothing acknowledged, or nothing answered: no sign either way.
        assert!(!owed.answered(0, Some(1)));
        owed.committed(9);
        assert!(!owed.answered(9, None));
        // An item at the id acknowledged comes back: ignored, and deleted on their own.
        owed.committed(12);
        assert!(owed.answered(12, Some(12)));
        assert_eq!((owed.ack(), owed.deletable()), (0, Some(12)));
        owed.acknowledged();
        owed.committed(15);
        assert_eq!((owed.ack(), owed.deletable()), (0, Some(15)), "for good");
    }

    #[test]
    fn a_relay_refusing_acknowledgements_gets_deletes() {
        let mut owed = Owed::default();
        // A 400 to a fetch that acknowledged nothing is no sign of an older relay.
        assert!(!owed.ack_refused(&refused(400)));
        owed.committed(5);
        assert!(
            !owed.ack_refused(&refused(403)),
            "not admitted: no fallback"
        );
        assert!(!owed.ack_refused(&proxy_400()), "a 400 not about the query");
        assert!(owed.ack_refused(&refused(400)));
        assert_eq!((owed.ack(), owed.deletable()), (0, Some(5)));
        owed.acknowledged();
        owed.committed(8);
        assert_eq!((owed.ack(), owed.deletable()), (0, Some(8)), "for good");
    }
}
