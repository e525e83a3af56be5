//! Each peer's intake allowance, as the core keeps it: set from `[intake]` on every link,
//! charged at load with what the peer's entries took before a restart, and an alarm while a
//! peer is over it.

use parley_proto::{IntakeLimit, Link, StationId};
use parley_store::{AlarmKind, LinkRecord};

use super::Station;
use crate::limits::INTAKE_ALARM_QUIET_MS;

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

    /// A new entry of `peer` was taken, or its allowance has grown: once half of it is back
    /// and nothing of the peer's was refused for [`INTAKE_ALARM_QUIET_MS`], the alarm clears.
    /// A peer held at the limit keeps one alarm open, whatever its entries' sizes and the
    /// rate the allowance grows at, and one that went quiet does not keep it open.
    pub(super) fn intake_taken(&mut self, now_ms: u64, peer: StationId) {
        if self
            .intake_clears_at_ms(&peer)
            .is_some_and(|at_ms| at_ms <= now_ms)
        {
            self.watch
                .cleared(now_ms, (AlarmKind::OverIntake, peer, SUBJECT));
        }
    }

    /// When the `over_intake` alarm of `peer` may clear, UTC ms.
    fn intake_clears_at_ms(&self, peer: &StationId) -> Option<u64> {
        let link = self.endpoint.link(peer)?;
        let half_ms = link.intake_holds_at_ms(link.intake_limit().burst_bytes / 2);
        let quiet_ms = link
            .intake_refused_ms()
            .map_or(0, |at_ms| at_ms.saturating_add(INTAKE_ALARM_QUIET_MS));
        Some(half_ms.max(quiet_ms))
    }

    /// Clears the `over_intake` alarms that may clear.
    pub(super) fn intake_timers(&mut self, now_ms: u64) {
        let alarmed: Vec<StationId> = self.intake_alarmed().collect();
        for peer in alarmed {
            self.intake_taken(now_ms, peer);
        }
    }

    /// When an `over_intake` alarm next clears for want of a new entry. Only the daemon runs
    /// timers.
    pub(super) fn next_intake_ms(&self) -> Option<u64> {
        if self.mode != super::Mode::Daemon {
            return None;
        }
        (self.intake_alarmed())
            .filter_map(|peer| self.intake_clears_at_ms(&peer))
            .min()
    }

    /// After a restart, a peer whose `over_intake` alarm is open and whose allowance is not
    /// half back counts as refused now: when it last was is not stored, and it may still be
    /// held at the limit, so the alarm waits its quiet time again rather than clearing at the
    /// next entry. With half back (the limit raised, or hours gone by), the peer is not held,
    /// and the next entry taken clears it.
    pub(super) fn intake_after_restart(&mut self, now_ms: u64) {
        let alarmed: Vec<StationId> = self.intake_alarmed().collect();
        for peer in alarmed {
            if let Some(link) = self.endpoint.link_mut(&peer)
                && link.intake_available_bytes(now_ms) < link.intake_limit().burst_bytes / 2
            {
                link.note_intake_refused(now_ms);
            }
        }
    }

    /// The peers with an `over_intake` alarm open.
    fn intake_alarmed(&self) -> impl Iterator<Item = StationId> + '_ {
        (self.peers.keys().copied()).filter(|peer| {
            let condition = (AlarmKind::OverIntake, *peer, SUBJECT.to_owned());
            self.watch
                .open_alarm(condition.0, condition.1, condition.2)
                .is_some()
        })
    }
}

/// The alarm of a refusal for `over_intake` (`rejection`, which says how far over): kind,
/// subject and detail. It is raised once per peer, however many entries are refused.
pub(super) fn alarm(rejection: &parley_proto::Rejection) -> (AlarmKind, String, String) {
    let detail = format!(
        "{rejection}. Its entries wait with the peer and come in as the allowance grows; \
         nothing is lost. If the peer's traffic is expected, raise [intake] in parley.toml and \
         restart"
    );
    (AlarmKind::OverIntake, SUBJECT.to_owned(), detail)
}

/// Charges `link` with what `peer`'s entries in `record` took of its allowance before a
/// restart. The allowance is taken as empty two refill times ago, then each entry received
/// since is charged as sealed at the time it came, in that order: never more than the
/// running station had (the allowance only grows with what it starts from), and exactly as
/// much when the peer left it to fill up once in that time. (Key announcements, which
/// `record` leaves out, are not charged: one per epoch key.)
pub(super) fn charge_recent(link: &mut Link, record: &LinkRecord, peer: &StationId, now_ms: u64) {
    let limit = link.intake_limit();
    let since_ms = now_ms.saturating_sub(limit.refill_ms().saturating_mul(2));
    link.spend_intake(since_ms, limit.burst_bytes);
    let mut recent: Vec<(u64, u64)> = (record.entries.iter())
        .filter(|kept| kept.entry.entry().author == *peer)
        .filter_map(|kept| {
            let at_ms = kept.received_ms.filter(|at| *at >= since_ms)?;
            Some((
                at_ms,
                IntakeLimit::charge_of(kept.entry.bytes().len()) as u64,
            ))
        })
        .collect();
    recent.sort_unstable();
    for (at_ms, bytes) in recent {
        link.spend_intake(at_ms, bytes);
    }
}
