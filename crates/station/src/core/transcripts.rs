//! A transcript checked against this station's own record (docs/cli.md, `transcript check`;
//! docs/formats.md §8.9): the file's two logs, leaf by leaf, against the leaves this station
//! holds of them. Both sides signed what they hold, so a difference at one seq is two
//! histories under one key. The peer's log differing is the peer's equivocation: an evidence
//! row with the file's entry and an `equivocation` alarm, as if that entry had arrived on a
//! channel. This station's own log differing means entries signed with its key that it does
//! not hold: a `split_view` alarm whose detail holds the file's entry (the key is in other
//! hands, or this store was put back to an older copy). Every checkpoint in the file was
//! checked against the file's own entries by `transcript::verify`, so logs that agree leaf by
//! leaf hold no contradicting checkpoint either.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use parley_proto::tlog::Hash;
use parley_proto::transcript::{self, StationLog, VerifiedTranscript};
use parley_proto::{EvidenceKind, IntakeLimit, RecoverError, SignedEntry, StationId};
use parley_store::AlarmKind;

use super::Station;
use crate::api::status::LogClosed;
use crate::api::{
    ApiError, ErrorClass, LogChecked, TranscriptChecked, TranscriptExporter, TranscriptRecovered,
};
use crate::error::StationError;

/// How the leaves a station holds of a log (`held`, by seq) compare with the file's: how many
/// it holds, how many of those are the file's too, and the first seq both hold apart.
fn first_difference(
    file: &[Hash],
    held: impl Iterator<Item = (u64, Hash)>,
) -> (u64, u64, Option<u64>) {
    let (mut count, mut agreed, mut differs_at) = (0, 0, None::<u64>);
    for (seq, leaf) in held {
        count += 1;
        let in_file = seq
            .checked_sub(1)
            .and_then(|index| usize::try_from(index).ok())
            .and_then(|index| file.get(index));
        match in_file {
            None => {}
            Some(theirs) if *theirs == leaf => agreed += 1,
            Some(_) => differs_at = Some(differs_at.map_or(seq, |first| first.min(seq))),
        }
    }
    (count, agreed, differs_at)
}

fn refused(message: String) -> StationError {
    StationError::Api(ApiError::new(ErrorClass::Peer, message))
}

impl Station {
    /// Compares `transcript` (verified from `file`) with this station's record of the link it
    /// is of, and raises an alarm for each log that contradicts what this station holds.
    pub(super) fn check_transcript(
        &mut self,
        now_ms: u64,
        file: &[u8],
        transcript: &VerifiedTranscript,
    ) -> Result<TranscriptChecked, StationError> {
        let (own_slot, peer) = self.link_of(transcript)?;
        let other = &transcript.stations[1 - own_slot];
        let mine = &transcript.stations[own_slot];
        let (own, theirs) = self.compare(peer, mine, other);
        Ok(TranscriptChecked {
            peer: self.peer_name(&peer),
            exporter: TranscriptExporter::of_own_slot(own_slot),
            own: self.checked(now_ms, (file, peer), mine, own),
            peer_log: self.checked(now_ms, (file, peer), other, theirs),
        })
    }

    /// [`first_difference`] of the file's log of this station (`mine`) and of the peer's
    /// (`other`) with what this station holds of each.
    #[allow(clippy::type_complexity)]
    fn compare(
        &self,
        peer: StationId,
        mine: &StationLog,
        other: &StationLog,
    ) -> ((u64, u64, Option<u64>), (u64, u64, Option<u64>)) {
        self.logs
            .get(&peer)
            .map(|logs| {
                (
                    first_difference(&mine.leaves, logs.own_leaves()),
                    first_difference(&other.leaves, logs.peer_leaves()),
                )
            })
            .unwrap_or_default()
    }

    /// Which of `transcript`'s two stations is this one, and the other, a pinned peer.
    fn link_of(&self, transcript: &VerifiedTranscript) -> Result<(usize, StationId), StationError> {
        // Names from the file are quoted with `{:?}`: a `"` in one cannot end the quotes.
        let me = self.identity.id();
        let Some(own_slot) = transcript.stations.iter().position(|s| s.identity == me) else {
            let [first, second] = &transcript.stations;
            return Err(refused(format!(
                "the transcript is of the link between {:?} ({}) and {:?} ({}), and this \
                 station is neither; nothing was checked or stored",
                first.name,
                first.fingerprint(),
                second.name,
                second.fingerprint()
            )));
        };
        let other = &transcript.stations[1 - own_slot];
        if !self.peers.contains_key(&other.identity) {
            return Err(refused(format!(
                "the transcript's other station {:?} ({}) is not a pinned peer of this station; \
                 nothing was checked or stored",
                other.name,
                other.fingerprint()
            )));
        }
        Ok((own_slot, other.identity))
    }

    /// Takes back this station's own entries of the link `transcript` (verified from `file`)
    /// is of that this store lacks: those the file holds beyond the own log, once both of the
    /// file's logs agree with what this station holds (else refused: `transcript check` says
    /// where, and records it). They are sealed anew and queued, the peer's receipt of them in
    /// the file applied, and the link takes new entries again once its log reaches as far as
    /// the peer's receipts covered it.
    pub(super) fn recover_from_transcript(
        &mut self,
        now_ms: u64,
        file: &[u8],
        transcript: &VerifiedTranscript,
    ) -> Result<TranscriptRecovered, StationError> {
        let (own_slot, peer) = self.link_of(transcript)?;
        let (mine, other) = (
            &transcript.stations[own_slot],
            &transcript.stations[1 - own_slot],
        );
        let (own, theirs) = self.compare(peer, mine, other);
        for ((_, _, differs_at), whose) in [(own, "this station's"), (theirs, "the peer's")] {
            if let Some(seq) = differs_at {
                return Err(refused(format!(
                    "the transcript holds another entry of {whose} log at seq {seq} than this \
                     station; nothing was recovered (`parley transcript check` records it as \
                     evidence)"
                )));
            }
        }
        let link = self.endpoint.link(&peer).expect("a pinned peer has a link");
        let from_seq = link.out_seq();
        let me = self.identity.id();
        // Only what the peer's receipt in the file covers: the peer holds those entries. An
        // earlier export of this station's own may hold more it never received, and the
        // peer may since hold other entries at those seqs (written after another restore):
        // sent, they would fork the log there.
        let receipted = mine.receipted_upto.unwrap_or(0);
        let mut entries = Vec::new();
        for seq in from_seq + 1..=receipted {
            let entry = transcript::signed_entry(file, mine, seq)
                .and_then(|bytes| SignedEntry::decode_verified(&bytes, &me).ok())
                .ok_or_else(|| {
                    refused(format!(
                        "the transcript's entry at seq {seq} of this station's log could not be \
                         read again; nothing was recovered"
                    ))
                })?;
            entries.push(entry);
        }
        // The peer's entries this store lacks, from the contiguous head: taken with the own
        // ones, so that an answer and what it answers are both here before the watch's
        // deadlines next run. No more are read than the peer's intake allowance takes (the
        // link charges each as it takes it, as it does one the peer sends again after a
        // restore): the peer made the file.
        let in_head = link.in_head();
        let mut room = link.intake_available_bytes(now_ms);
        let mut theirs = Vec::new();
        for seq in in_head + 1..=other.entries() {
            let Some(bytes) = transcript::signed_entry(file, other, seq) else {
                break;
            };
            let charge = IntakeLimit::charge_of(bytes.len()) as u64;
            let Some(left) = room.checked_sub(charge) else {
                break;
            };
            room = left;
            let Ok(entry) = SignedEntry::decode_verified(&bytes, &peer) else {
                break;
            };
            theirs.push(entry);
        }
        let receipt = mine.receipt.as_deref();
        let taken = if entries.is_empty() && theirs.is_empty() {
            parley_proto::Recovered::default()
        } else {
            self.endpoint
                .recover(now_ms, &peer, (entries, theirs), receipt)
                .map_err(|error| {
                    let class = match error {
                        RecoverError::Discontinuous { .. } => ErrorClass::Peer,
                        _ => ErrorClass::Local,
                    };
                    StationError::Api(ApiError::new(class, error.to_string()))
                })?
        };
        let (recovered, name) = (taken.own, self.peer_name(&peer));
        let link = self.endpoint.link(&peer).expect("a pinned peer has a link");
        let written = link.out_seq();
        let (log_closed, receipted_upto) = (link.closed(), link.peer_receipt_upto());
        if recovered > 0 || taken.theirs > 0 {
            tracing::warn!(peer = %name, from_seq, written, theirs = taken.theirs, closed = log_closed.is_some(), "entries this store lacked taken back from a transcript");
        }
        // The last key announced in what was taken back, now or by an earlier file, may be
        // one this store no longer holds (made after the copy): the peer seals to it. Once
        // the keys have read what was taken back, the current key is announced again wherever
        // it was not the last announced (not where the log is still closed).
        self.collect(now_ms);
        self.announce_missing(now_ms);
        Ok(TranscriptRecovered {
            peer: name,
            exporter: TranscriptExporter::of_own_slot(own_slot),
            recovered,
            peer_entries: taken.theirs,
            from_seq,
            written,
            receipted_upto,
            log_closed: log_closed.map(LogClosed::from),
        })
    }

    /// What [`first_difference`] found of `log` in the file; evidence and an alarm on the link
    /// with `peer` if it differs from what this station holds.
    fn checked(
        &mut self,
        now_ms: u64,
        (file, peer): (&[u8], StationId),
        log: &StationLog,
        (held, agreed, differs_at): (u64, u64, Option<u64>),
    ) -> LogChecked {
        let alarm = differs_at.and_then(|seq| {
            // The log has leaves up to `seq` (it differs there), so the file has the entry.
            let entry = transcript::signed_entry(file, log, seq);
            debug_assert!(entry.is_some(), "the file verified holds entry {seq}");
            let encoded = entry
                .as_deref()
                .map(|e| BASE64.encode(e))
                .unwrap_or_default();
            if log.identity == peer {
                let detail = format!(
                    "a transcript holds another entry of the peer's at seq {seq} than this \
                     station holds; the file's entry, as signed:\n{encoded}"
                );
                let (kind, subject) = (AlarmKind::Equivocation, format!("seq {seq}"));
                // Once per alarm: checking the file again adds no second row.
                if self.watch.open_alarm(kind, peer, subject.clone()).is_none()
                    && let (Some(entry), Some(link)) = (&entry, self.endpoint.link_mut(&peer))
                {
                    let evidence = (EvidenceKind::Equivocation, seq);
                    link.record_evidence(now_ms, evidence, detail.clone(), entry);
                }
                self.watch.misbehaviour(now_ms, peer, kind, subject, detail)
            } else {
                let detail = format!(
                    "a transcript holds another entry at seq {seq} of this station's own log \
                     than this station holds, signed with its key: the key is in other hands, \
                     or this store was put back to an older copy; the file's entry, as \
                     signed:\n{encoded}"
                );
                self.watch.misbehaviour(
                    now_ms,
                    peer,
                    AlarmKind::SplitView,
                    format!("own seq {seq}"),
                    detail,
                )
            }
        });
        LogChecked {
            in_file: log.entries(),
            held,
            agreed,
            differs_at,
            alarm,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(n: u8) -> Hash {
        parley_proto::tlog::leaf_hash(&[n])
    }

    #[test]
    fn the_first_difference_is_the_lowest_seq_both_hold_apart() {
        let file = [leaf(1), leaf(2), leaf(3), leaf(4)];
        let same = (1..=4u64).map(|s| (s, leaf(s as u8)));
        assert_eq!(first_difference(&file, same), (4, 4, None));
        // The station holds more than the file, and the file more than a gap it has.
        let held = [(1, leaf(1)), (2, leaf(2)), (4, leaf(4)), (5, leaf(5))];
        assert_eq!(first_difference(&file, held.into_iter()), (4, 3, None));
        let forked = [(1, leaf(1)), (2, leaf(9)), (3, leaf(8)), (4, leaf(4))];
        assert_eq!(first_difference(&file, forked.into_iter()), (4, 2, Some(2)));
        // Held beyond a gap comes after the delivered ones: the lowest seq still wins.
        let late = [(1, leaf(7)), (3, leaf(8))];
        assert_eq!(
            first_difference(&file, late.into_iter().rev()),
            (2, 0, Some(1))
        );
        assert_eq!(first_difference(&[], held.into_iter()), (4, 0, None));
        // A seq of 0 (never stored) is no entry of the file's.
        assert_eq!(
            first_difference(&file, [(0, leaf(1))].into_iter()),
            (1, 0, None)
        );
    }
}
