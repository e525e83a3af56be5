//! The status report, built in this one place for a running daemon and a stopped station alike.

use std::collections::BTreeMap;

use parley_proto::Precedence;
use parley_store::AlarmKind;

use super::Station;
use crate::api::AlarmItem;
use crate::api::status::{
    AlarmKindCount, Alarms, ChannelStatus, DaemonState, LiveChannel, LogClosed, MessageCounts,
    PeerCounters, PeerStatus, Queues, ReceivedCounts, RecentAlarm, Rejected, SentCounts,
    StationInfo, StatusReport, is_evidence,
};
use crate::core::health::Health;
use crate::core::watch::Answer;
use crate::limits::STATUS_ALARMS_MAX;

impl Station {
    /// The status report at `now_ms`. A daemon's is live; a stopped station's has every
    /// channel down and none of what only a running daemon knows.
    pub(super) fn status(&self, now_ms: u64) -> StatusReport {
        let live = self.live();
        let mut peers: Vec<PeerStatus> = self
            .peers
            .iter()
            .filter_map(|(id, peer)| {
                let link = self.endpoint.link(id)?;
                let channels = self
                    .table
                    .of_peer(id)
                    .map(|channel| ChannelStatus {
                        kind: channel.kind,
                        target: channel.target.clone(),
                        state: if live {
                            channel.health.state
                        } else {
                            Health::Down
                        },
                        live: live.then(|| LiveChannel {
                            since_ms: channel.health.since_ms,
                            rtt_ms: channel.health.rtt_us.map(|us| us as f64 / 1000.0),
                            changes: channel.health.changes,
                            last_error: channel.health.last_error.clone(),
                            deposit_refusal: channel.health.deposit_refusal.clone(),
                            transitions: channel.health.transitions.clone(),
                            counters: channel.counters.clone(),
                            last_refused_file: channel.last_refused_file.clone(),
                        }),
                    })
                    .collect();
                let counters = link.counters();
                Some(PeerStatus {
                    name: peer.name.clone(),
                    fingerprint: peer.fingerprint,
                    key_fingerprint: id.key_fingerprint(),
                    channels,
                    out_seq: link.out_seq(),
                    outbox_depth: link.outbox_depth() as u64,
                    peer_receipt_upto: link.peer_receipt_upto(),
                    in_head: link.in_head(),
                    in_pending: link.in_pending() as u64,
                    cosigned_upto: self.cosigned_upto(id).0,
                    peer_cosigned_upto: self.cosigned_upto(id).1,
                    peer_epoch_key: link.peer_epoch_id().to_string(),
                    log_closed: link.closed().map(LogClosed::from),
                    intake_available_bytes: live.then(|| link.intake_available_bytes(now_ms)),
                    counters: live.then(|| PeerCounters {
                        envelopes_accepted: counters.envelopes_accepted,
                        duplicates_dropped: counters.duplicates_dropped,
                        receipts_accepted: counters.receipts_accepted,
                        frames_transmitted: counters.frames_transmitted,
                        retransmissions: counters.retransmissions,
                        entries_resent: counters.entries_resent,
                        rejected: names(&counters.rejected),
                        alarms: counters.alarms,
                    }),
                })
            })
            .collect();
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        let mut frames = names(self.endpoint.unattributed_rejections());
        for (reason, count) in &self.transport_refusals {
            *frames.entry((*reason).to_owned()).or_default() += count;
        }
        StatusReport {
            station: StationInfo {
                name: self.settings.name.clone(),
                lang: self.settings.lang.clone(),
                listen: self.settings.listen.clone(),
                fingerprint: self.identity.fingerprint(),
                key_fingerprint: self.identity.id().key_fingerprint(),
            },
            daemon: if live {
                DaemonState::Running
            } else {
                DaemonState::Stopped
            },
            now_ms: live.then_some(now_ms),
            uptime_s: live.then(|| now_ms.saturating_sub(self.started_ms) / 1000),
            peers,
            rejected: live.then_some(Rejected {
                frames,
                handshakes: self.io.handshakes_rejected,
                cards: self.cards_rejected,
            }),
            queues: live.then_some(Queues {
                inputs_max: self.io.inputs_max,
                frames_dropped: self.io.frames_dropped,
                reports_waited: self.io.reports_waited,
                requests_waited: self.io.requests_waited,
                api_clients_max: self.io.api_clients_max,
                api_clients_refused: self.io.api_clients_refused,
                commit_cpu_us: self.io.commit_cpu_us,
                store_checkpoint_cpu_us: self.io.checkpoints.background_cpu_us,
                checkpoints_background: self.io.checkpoints.background,
                checkpoints_by_writer: self.io.checkpoints.by_writer,
                store_log_pages: self.io.checkpoints.log_pages,
                envelope_checks_batched: self.endpoint.envelope_checks_batched(),
                entry_checks_batched: self.endpoint.entry_checks_batched(),
            }),
            alarms: self.alarm_summary(),
            messages: self.message_counts(),
            latencies: live.then(|| self.watch.latencies().clone()),
            epoch_keys: self.key_status(),
        }
    }

    /// The messages of the record by precedence and where each stands: one pass over the
    /// messages the watch knows.
    fn message_counts(&self) -> Vec<MessageCounts> {
        let mut counts: Vec<MessageCounts> = Precedence::ALL
            .into_iter()
            .map(|precedence| MessageCounts {
                precedence,
                sent: SentCounts::default(),
                received: ReceivedCounts::default(),
            })
            .collect();
        for known in self.watch.messages() {
            let of = counts
                .iter_mut()
                .find(|counts| counts.precedence == known.precedence)
                .expect("every precedence is counted");
            let answer = known
                .answer
                .as_ref()
                .map(|Answer { understood, .. }| *understood);
            if known.own {
                let outstanding = self
                    .endpoint
                    .link(&known.peer)
                    .is_some_and(|link| link.is_outstanding(known.seq));
                let sent = &mut of.sent;
                *match (known.cancelled, answer) {
                    (true, _) => &mut sent.cancelled,
                    (false, Some(true)) => &mut sent.understood,
                    (false, Some(false)) => &mut sent.clarify,
                    (false, None) if outstanding => &mut sent.unreceipted,
                    (false, None) => &mut sent.delivered,
                } += 1;
            } else {
                let received = &mut of.received;
                *match (known.cancelled, answer) {
                    (true, _) => &mut received.cancelled,
                    (false, Some(true)) => &mut received.understood,
                    (false, Some(false)) => &mut received.clarify,
                    (false, None) => &mut received.unanswered,
                } += 1;
            }
        }
        counts
    }

    /// The alarms not cleared: counts, and the newest of them.
    fn alarm_summary(&self) -> Alarms {
        let mut summary = Alarms::default();
        let mut kinds: BTreeMap<AlarmKind, AlarmKindCount> = BTreeMap::new();
        for alarm in self.watch.alarms.open() {
            let kind = kinds.entry(alarm.kind).or_insert(AlarmKindCount {
                kind: alarm.kind,
                open: 0,
                acknowledged: 0,
            });
            match alarm.acknowledged {
                Some(_) => {
                    summary.acknowledged += 1;
                    kind.acknowledged += 1;
                }
                None => {
                    summary.open += 1;
                    kind.open += 1;
                }
            }
            if summary.recent.len() < STATUS_ALARMS_MAX {
                let peer = self.peer_name(&alarm.peer);
                summary
                    .recent
                    .push(RecentAlarm::new(AlarmItem::new(alarm.clone(), peer)));
            }
        }
        summary.kinds = kinds.into_values().collect();
        // Evidence alarms never clear: every one raised is still here.
        summary.total = summary
            .kinds
            .iter()
            .filter(|count| is_evidence(count.kind))
            .map(|count| count.open + count.acknowledged)
            .sum();
        summary
    }
}

fn names(counts: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect()
}
