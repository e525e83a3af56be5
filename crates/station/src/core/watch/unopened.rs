//! The `unknown_epoch_key` alarm's life: one open per peer while entries of the peer refused
//! for an epoch key this station does not hold are not stored. It clears once every one is,
//! not when a later entry of the peer is accepted (held above one refused, which still could
//! not be read while the alarm said all was well). The seqs are kept in memory; the alarm's
//! detail names the first refused, so a watch that begins with the alarm open reads it back.

use parley_proto::StationId;
use parley_store::AlarmKind;

use super::Watch;

/// The subject of a peer's `unknown_epoch_key` alarm: one open per peer, whatever keys its
/// envelopes name (a key id is any 8 bytes the peer signs), until every entry refused so is
/// stored.
pub const UNKNOWN_EPOCH_KEY_SUBJECT: &str = "epoch keys";

/// The seq an `unknown_epoch_key` alarm's detail names (`… from entry N of its log …`).
fn unopened_seq(detail: &str) -> Option<u64> {
    let (_, after) = detail.split_once(UNOPENED_FROM)?;
    let digits = after.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// What precedes the seq in an `unknown_epoch_key` alarm's detail.
pub const UNOPENED_FROM: &str = "from entry ";

impl Watch {
    /// The peer's entry `seq` was refused, sealed to an epoch key this station does not hold:
    /// the peer's `unknown_epoch_key` alarm is raised (once, whatever the key) with `detail`,
    /// and stays open until every entry so refused is stored.
    pub fn unopened(&mut self, now_ms: u64, peer: StationId, seq: u64, detail: String) {
        let subject = UNKNOWN_EPOCH_KEY_SUBJECT.to_owned();
        self.misbehaviour(now_ms, peer, AlarmKind::UnknownEpochKey, subject, detail);
        let (lowest, highest) = self.unopened.entry(peer).or_insert((seq, seq));
        *lowest = (*lowest).min(seq);
        *highest = (*highest).max(seq);
    }

    /// The peer's `unknown_epoch_key` alarm, open when this watch began, was raised for the
    /// entry its detail names (`from entry N`, the first refused; others may have been
    /// refused since, below it or above): it clears once every entry from `first_missing`,
    /// the lowest of the peer not stored, up to that one is stored. An alarm whose detail
    /// names none (raised by an earlier version) waits for `first_missing` alone.
    pub fn unopened_before(&mut self, peer: StationId, first_missing: u64) {
        let named = (self.alarms.open())
            .find(|alarm| {
                alarm.kind == AlarmKind::UnknownEpochKey
                    && alarm.peer == peer
                    && alarm.subject == UNKNOWN_EPOCH_KEY_SUBJECT
            })
            .map(|alarm| unopened_seq(&alarm.detail));
        if let Some(named) = named {
            let highest = named.map_or(first_missing, |named| named.max(first_missing));
            self.unopened.insert(peer, (first_missing, highest));
        }
    }

    /// A new envelope of `peer` was accepted: its clock is fine again. `stored` tells whether
    /// an entry of the peer is stored now. The `unknown_epoch_key` alarm clears once every
    /// entry it waits for is stored (so a later envelope sealed to a key not held raises a
    /// new one).
    pub fn accepted(&mut self, now_ms: u64, peer: StationId, stored: impl Fn(u64) -> bool) {
        self.cleared(now_ms, (AlarmKind::ClockSkew, peer, "clock"));
        let waiting = self
            .unopened
            .get_mut(&peer)
            .is_some_and(|(lowest, highest)| {
                // What is stored stays stored: the lowest moves up past it.
                while *lowest <= *highest && stored(*lowest) {
                    *lowest += 1;
                }
                *lowest <= *highest
            });
        if !waiting {
            self.unopened.remove(&peer);
            let unknown_key = (AlarmKind::UnknownEpochKey, peer, UNKNOWN_EPOCH_KEY_SUBJECT);
            self.cleared(now_ms, unknown_key);
        }
    }
}
