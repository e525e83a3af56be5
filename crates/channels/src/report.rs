//! What every transport tells the station, in one shape: frames in, health, and the few
//! transport facts the station counts. A transport never interprets a frame; the station
//! authenticates and deduplicates whatever arrives, by whichever path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use parley_proto::StationId;
use parley_proto::tlog::head::Witness;
use parley_relay_wire::witness::WitnessAnswer;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Which transport a report or a frame concerns. A direct transport serves one link; a relay
/// or a drop folder serves every link that uses it, and frames say which link they belong to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Via {
    /// The direct QUIC channel with this pinned peer.
    Direct(StationId),
    /// A relay, by its number in the station's list of relays.
    Relay(u16),
    /// A drop folder, by its number in the station's list of folders.
    Folder(u16),
}

/// Where a checkpoint goes to be witnessed: a relay channel running as a witness, or a stock
/// `c2sp.org/tlog-witness` witness the station was configured with.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum WitnessAt {
    /// A relay, by its channel.
    Relay(Via),
    /// A stock witness, by its name and key.
    Stock(Witness),
}

/// What a transport knows about its own health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A connection came up (round-trip time when known, in microseconds).
    Connected {
        /// Round-trip time, microseconds.
        rtt_us: Option<u64>,
    },
    /// The connection is gone.
    Lost {
        /// Why.
        reason: String,
    },
    /// A heartbeat was answered after `rtt_us` microseconds.
    Answered {
        /// Round-trip time, microseconds.
        rtt_us: u64,
    },
    /// A heartbeat went unanswered.
    Missed {
        /// Why.
        reason: String,
    },
    /// The medium is present and usable (a drop folder).
    Present,
    /// The medium is unusable right now (a drop folder vanished).
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// What becomes of a bundle file the station took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposal {
    /// Everything in it the station will ever take is held: the file may go.
    Delete,
    /// Some of its frames were refused for now, for what mends with time (over the peer's
    /// intake allowance, entries from a clock ahead): the file is read again later, rather
    /// than those frames waiting for the peer's resend on this channel, a day or more away.
    ReadAgainLater,
}

/// A transport's report to the station.
#[derive(Debug)]
pub enum Report {
    /// One frame arrived. On the direct channel the sender is the QUIC-authenticated peer.
    Frame {
        /// The transport.
        via: Via,
        /// The frame.
        bytes: Vec<u8>,
        /// Its share of the inbound budgets, returned when the report is dropped.
        permit: Option<FramePermit>,
    },
    /// Frames fetched together from a relay mailbox; `done` fires once they are committed, and
    /// only then may the relay forget them.
    Batch {
        /// The transport.
        via: Via,
        /// The frames.
        frames: Vec<Vec<u8>>,
        /// Fired after the commit.
        done: oneshot::Sender<()>,
    },
    /// A bundle read from a drop folder; `done` gets the outcome once it is committed (or
    /// refused), and only then may the file be deleted, kept to be read again, or set aside.
    Bundle {
        /// The transport.
        via: Via,
        /// The file's name in its folder.
        name: String,
        /// The bundle's bytes.
        bytes: Vec<u8>,
        /// Fired after the commit, with why the bundle was refused if it was.
        done: oneshot::Sender<Result<Disposal, String>>,
    },
    /// The transport's health changed or was measured.
    Health {
        /// The transport.
        via: Via,
        /// What it saw.
        signal: Signal,
    },
    /// A relay confirmed it stored (durably) frames for `peer`.
    Stored {
        /// The relay.
        via: Via,
        /// The recipient.
        peer: StationId,
        /// Envelopes among them.
        envelopes: u64,
        /// Receipts among them.
        receipts: u64,
    },
    /// A relay refused to store frames for `peer` (a full mailbox, a revoked admission): they
    /// were not stored, and the protocol resends them later.
    DepositRefused {
        /// The relay.
        via: Via,
        /// The recipient.
        peer: StationId,
        /// Why, as the relay said (its HTTP status and reason).
        reason: String,
    },
    /// A frame over the frame limit arrived and was refused before it was read (its stream is
    /// stopped): counted, never delivered.
    Oversized {
        /// The transport.
        via: Via,
    },
    /// A pinned peer opened a connection to us: it may have restarted, so our own connection
    /// to it may be dead without knowing it yet.
    Dialled {
        /// The peer.
        peer: StationId,
    },
    /// A witness (a relay, or a stock witness) answered the submission of this station's
    /// checkpoint at `size` of its log of the link with `peer`, or could not be reached about
    /// it.
    Witnessed {
        /// The witness.
        at: WitnessAt,
        /// The link's peer.
        peer: StationId,
        /// The checkpoint's size.
        size: u64,
        /// The answer, or why there is none.
        answer: Result<WitnessAnswer, String>,
        /// The witness's own latest checkpoint of the log, when it disagreed (unchecked).
        held: Option<String>,
    },
    /// A file in a drop folder was set aside or refused before it could be read as a bundle
    /// (not a regular file, not the station's user's to read, too large).
    FileRefused {
        /// The folder.
        via: Via,
        /// The file's name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// One peer's frames that arrive unasked hold this share (one in it) of the byte budget and
/// of the report queue, and more only while [`PEER_SHARES_KEPT_FREE`] shares stay free: a
/// paired peer flooding the direct channel, hostile or broken, leaves room for the other
/// peers' frames, and one catching up alone may use half the queue.
pub const PEER_SHARE_DIVISOR: usize = 4;
/// Shares of the budget and of the queue a peer past its own share leaves free: two other
/// peers' (so two flooding peers still leave one share free).
pub const PEER_SHARES_KEPT_FREE: usize = 2;

/// Where transports send their reports. Bounded twice: in reports, and for frames that arrive
/// unasked (the direct channel) in bytes, each peer's within its share or past it only while
/// half stays free. Such a frame that does not fit is dropped and counted: its sender
/// retransmits it, so a flood costs the flooder, never this station's memory nor the other
/// peers' room. Everything else (a relay's batch, a folder's bundle, health) waits for room
/// instead.
#[derive(Clone, Debug)]
pub struct Inbound {
    reports: mpsc::Sender<Report>,
    budget: Arc<Semaphore>,
    /// Each peer's share of the budget and of the queue (bytes, reports), made as its first
    /// frame arrives (on the direct channel, from a pinned peer only).
    shares: Arc<Mutex<HashMap<StationId, PeerShare>>>,
    /// What a peer's share holds: bytes, reports.
    share: (usize, usize),
    dropped: Arc<AtomicU64>,
    waited: Arc<AtomicU64>,
}

/// One peer's share of the inbound budgets.
#[derive(Debug)]
struct PeerShare {
    bytes: Arc<Semaphore>,
    reports: Arc<Semaphore>,
}

/// What a frame that arrived unasked holds of the inbound budgets while it waits: given back
/// when it is dropped.
#[derive(Debug)]
pub struct FramePermit {
    _bytes: OwnedSemaphorePermit,
    _peer: Option<[OwnedSemaphorePermit; 2]>,
}

impl Inbound {
    /// A queue of at most `reports_max` reports, with at most `frame_bytes_max` bytes of
    /// unasked frames in it; returns the sending side and the station's receiving side.
    pub fn new(reports_max: usize, frame_bytes_max: usize) -> (Self, mpsc::Receiver<Report>) {
        let (reports, receiver) = mpsc::channel(reports_max);
        let inbound = Self {
            reports,
            budget: Arc::new(Semaphore::new(frame_bytes_max)),
            shares: Arc::default(),
            share: (
                (frame_bytes_max / PEER_SHARE_DIVISOR).max(1),
                (reports_max / PEER_SHARE_DIVISOR).max(1),
            ),
            dropped: Arc::new(AtomicU64::new(0)),
            waited: Arc::new(AtomicU64::new(0)),
        };
        (inbound, receiver)
    }

    /// Offers a frame that arrived unasked; drops and counts it when the queue is full, or
    /// when its peer holds its share and half is no longer free.
    pub fn offer_frame(&self, via: Via, bytes: Vec<u8>) {
        let Some(permit) = self.frame_permit(via, bytes.len()) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let report = Report::Frame {
            via,
            bytes,
            permit: Some(permit),
        };
        if self.reports.try_send(report).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Room for a frame of `len` bytes that arrived unasked by `via`, in the whole budget and,
    /// from a peer, in its share, or past the share while half the budget and of the queue
    /// stays free (room for two other peers' shares); None if there is none.
    fn frame_permit(&self, via: Via, len: usize) -> Option<FramePermit> {
        let len = u32::try_from(len).ok()?;
        let Via::Direct(peer) = via else {
            let bytes = self.budget.clone().try_acquire_many_owned(len).ok()?;
            return Some(FramePermit {
                _bytes: bytes,
                _peer: None,
            });
        };
        // Under the lock: frames of several peers arriving at once see what each other took.
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        let share = shares.entry(peer).or_insert_with(|| PeerShare {
            bytes: Arc::new(Semaphore::new(self.share.0)),
            reports: Arc::new(Semaphore::new(self.share.1)),
        });
        let in_share = share.bytes.clone().try_acquire_many_owned(len).ok();
        let report = share.reports.clone().try_acquire_owned().ok();
        let peer = match (in_share, report) {
            (Some(bytes), Some(report)) => Some([bytes, report]),
            _ => None,
        };
        let bytes = self.budget.clone().try_acquire_many_owned(len).ok()?;
        // What is left of the peer's own share it may still take later: not free for others.
        let reserve = PEER_SHARES_KEPT_FREE;
        let reserve_kept = self.budget.available_permits()
            >= reserve * self.share.0 + share.bytes.available_permits()
            && self.reports.capacity() > reserve * self.share.1 + share.reports.available_permits();
        (peer.is_some() || reserve_kept).then_some(FramePermit {
            _bytes: bytes,
            _peer: peer,
        })
    }

    /// Sends a report, waiting for room (counted). Returns false once the station has
    /// stopped.
    pub async fn send(&self, report: Report) -> bool {
        match self.reports.try_send(report) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(report)) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.reports.send(report).await.is_ok()
            }
        }
    }

    /// Sends a report from a thread outside the runtime, waiting for room (counted). Returns
    /// false once the station has stopped.
    pub fn send_blocking(&self, report: Report) -> bool {
        match self.reports.try_send(report) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(report)) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                self.reports.blocking_send(report).is_ok()
            }
        }
    }

    /// Reports that found the queue full and waited for room, since the start.
    pub fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// Unasked frames dropped because the queue was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIA: Via = Via::Folder(0);

    /// Takes the next report, releasing its frame's share of the byte budget.
    fn take(receiver: &mut mpsc::Receiver<Report>) -> Report {
        receiver.try_recv().expect("a report waits")
    }

    #[test]
    fn unasked_frames_fill_the_byte_budget_exactly_and_no_further() {
        let (inbound, mut receiver) = Inbound::new(16, 100);
        inbound.offer_frame(VIA, vec![0; 60]);
        inbound.offer_frame(VIA, vec![0; 40]);
        assert_eq!(inbound.dropped(), 0, "100 bytes fit a budget of 100");
        inbound.offer_frame(VIA, vec![0; 1]);
        assert_eq!(inbound.dropped(), 1, "the 101st byte does not");
        drop(take(&mut receiver));
        inbound.offer_frame(VIA, vec![0; 60]);
        assert_eq!(inbound.dropped(), 1, "a frame taken gives its bytes back");
        inbound.offer_frame(VIA, vec![0; 101]);
        assert_eq!(
            inbound.dropped(),
            2,
            "a frame larger than the budget never fits"
        );
    }

    #[test]
    fn unasked_frames_fill_the_report_queue_exactly_and_no_further() {
        let (inbound, mut receiver) = Inbound::new(2, 1_000);
        inbound.offer_frame(VIA, vec![0; 10]);
        inbound.offer_frame(VIA, vec![0; 10]);
        assert_eq!(inbound.dropped(), 0, "two reports fit a queue of two");
        inbound.offer_frame(VIA, vec![0; 10]);
        assert_eq!(inbound.dropped(), 1, "the third does not");
        drop(take(&mut receiver));
        // The dropped frame's bytes went back: the budget holds only what is queued.
        inbound.offer_frame(VIA, vec![0; 990]);
        assert_eq!(inbound.dropped(), 1);
        assert!(matches!(take(&mut receiver), Report::Frame { .. }));
        assert!(matches!(take(&mut receiver), Report::Frame { .. }));
        assert!(receiver.try_recv().is_err());
    }

    /// One peer's unasked frames hold its share of the byte budget and of the queue, and more
    /// only while half stays free: two other peers' frames still find room while one floods,
    /// and one peer alone may use half the queue. Both sides of each bound.
    #[test]
    fn one_peer_s_frames_hold_at_most_its_share() {
        let [flooder, other, third] = [1, 2, 3].map(|seed| Via::Direct(StationId([seed; 32])));
        // Bytes: a share is a quarter of 400; past it, while half stays free.
        let (inbound, mut receiver) = Inbound::new(64, 400);
        inbound.offer_frame(flooder, vec![0; 100]);
        inbound.offer_frame(flooder, vec![0; 100]);
        assert_eq!(inbound.dropped(), 0, "alone, a peer may use half");
        inbound.offer_frame(flooder, vec![0; 1]);
        assert_eq!(inbound.dropped(), 1, "and not a byte of the others' half");
        for peer in [other, third] {
            inbound.offer_frame(peer, vec![0; 100]);
        }
        assert_eq!(
            inbound.dropped(),
            1,
            "where two other peers find their shares"
        );
        drop(take(&mut receiver));
        inbound.offer_frame(flooder, vec![0; 100]);
        assert_eq!(inbound.dropped(), 1, "a frame taken gives its share back");
        // What is left of a peer's own share counts as taken: past it, a peer leaves half free
        // besides.
        let (inbound, _receiver) = Inbound::new(64, 400);
        inbound.offer_frame(flooder, vec![0; 1]);
        inbound.offer_frame(flooder, vec![0; 199]);
        assert_eq!(inbound.dropped(), 1, "199 bytes past a share with 99 left");
        inbound.offer_frame(flooder, vec![0; 99]);
        for peer in [other, third] {
            inbound.offer_frame(peer, vec![0; 100]);
        }
        assert_eq!(inbound.dropped(), 1, "two other peers find their shares");
        // Reports: a share is a quarter of 8.
        let (inbound, _receiver) = Inbound::new(8, 1_000);
        for _ in 0..4 {
            inbound.offer_frame(flooder, vec![0; 1]);
        }
        assert_eq!(inbound.dropped(), 0, "alone, a peer may use half");
        inbound.offer_frame(flooder, vec![0; 1]);
        assert_eq!(inbound.dropped(), 1, "and not a report of the others' half");
        for peer in [other, third] {
            inbound.offer_frame(peer, vec![0; 1]);
        }
        assert_eq!(
            inbound.dropped(),
            1,
            "where two other peers find their shares"
        );
    }

    /// A report of the relay's kind (a batch) that waits for room.
    fn batch() -> Report {
        let (done, _) = oneshot::channel();
        Report::Batch {
            via: VIA,
            frames: Vec::new(),
            done,
        }
    }

    #[test]
    fn reports_that_wait_for_room_are_counted_once_each_and_still_delivered() {
        let (inbound, mut receiver) = Inbound::new(1, 1_000);
        assert!(inbound.send_blocking(batch()));
        assert_eq!(inbound.waited(), 0, "one report fits a queue of one");
        let sender = inbound.clone();
        let waiting = std::thread::spawn(move || sender.send_blocking(batch()));
        while inbound.waited() == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!waiting.is_finished(), "the second waits for room");
        drop(take(&mut receiver));
        assert!(waiting.join().unwrap(), "and goes in once there is room");
        assert_eq!(inbound.waited(), 1);
        assert!(matches!(take(&mut receiver), Report::Batch { .. }));
        drop(receiver);
        assert!(
            !inbound.send_blocking(batch()),
            "a stopped station takes nothing"
        );
        assert_eq!(inbound.waited(), 1, "and nothing waited");
    }
}
