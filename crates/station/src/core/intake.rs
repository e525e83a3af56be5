//! Each peer's intake allowance, as the core keeps it: set from `[intake]` on every link,
//! charged at load with what the peer's entries took before a restart, and an alarm while a
//! peer is over it.

use parley_proto::seal::SEAL_TAG_BYTES;
use parley_proto::{IntakeLimit, StationId};
use parley_store::{AlarmKind, LinkRecord};

use super::Station;

/// The alarm's subject: one per peer.
const SUBJECT: &str = "intake";

impl Station {
    /// Gives the link with `peer` this station's intake limit.
    pub(super) fn limit_intake(&mut self, peer: &StationId) {
        let limit = self.settings.intake;
        if let Some(link) = self.endpoint.link_mut(peer) {
            link.set_intake_limit(limit);
        }
    }

    /// `peer` sent an entry over its allowance: the alarm is raised, once.
    pub(super) fn over_intake(&mut self, now_ms: u64, peer: StationId, detail: String) {
        let subject = SUBJECT.to_owned();
        let detail = format!(
            "{detail}. Its entries wait with the peer and come in as the allowance grows; \
             nothing is lost. If the peer's traffic is expected, raise [intake] in \
             parley.toml and restart"
        );
        self.watch
            .misbehaviour(now_ms, peer, AlarmKind::OverIntake, subject, detail);
    }

    /// A new entry of `peer` was taken: once half its allowance is back, the alarm clears, so
    /// a peer held at the limit keeps one alarm open rather than raising one per entry.
    pub(super) fn intake_taken(&mut self, now_ms: u64, peer: StationId) {
        let Some(link) = self.endpoint.link(&peer) else {
            return;
        };
        let (limit, available) = link.intake(now_ms);
        if available >= limit.burst_bytes / 2 {
            self.watch
                .cleared(now_ms, (AlarmKind::OverIntake, peer, SUBJECT));
        }
    }
}

/// The bytes of `peer`'s entries in `record` received within the time its allowance takes to
/// refill, before `now_ms`: what they still count against it after a restart, charged as
/// sealed, as when they came. (Key announcements, which `record` leaves out, are not counted:
/// one per epoch key.)
pub(super) fn recent_intake(
    record: &LinkRecord,
    peer: &StationId,
    limit: IntakeLimit,
    now_ms: u64,
) -> u64 {
    let since_ms = now_ms.saturating_sub(limit.refill_ms());
    record
        .entries
        .iter()
        .filter(|kept| kept.entry.entry().author == *peer)
        .filter(|kept| kept.received_ms.is_some_and(|at| at >= since_ms))
        .map(|kept| (kept.entry.bytes().len() + SEAL_TAG_BYTES) as u64)
        .sum()
}
