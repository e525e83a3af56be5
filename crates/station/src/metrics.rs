//! The station's metrics: Prometheus text built at scrape time from one [`StatusReport`],
//! taken through the same request path as the operator API's `status`, so the metrics and
//! `parley status` never disagree. The report carries everything: channels with state and
//! round-trip time, the counters of each link and channel, refusals by reason, queue counts,
//! the alarms not cleared by kind, the messages of the record by precedence and state, and
//! the latency histograms the watch feeds. docs/cli.md ("Metrics") lists every metric.
//!
//! Beside the report, the counters of the console the daemon serves ([`ConsoleCounters`]),
//! which the driver never sees.
//!
//! Peer names (text a peer chose, in its card) appear only as label values, which the
//! encoder escapes; no message text, key or token is ever exposed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use parley_metrics::{Buckets, Families, Labels};
use parley_proto::ChannelKind;
use parley_store::AlarmKind;

use crate::api::status::{
    ChannelCounters, ChannelStatus, Histogram, LiveChannel, PeerCounters, PeerStatus, StatusReport,
};
use crate::core::health::Health;

/// What the console counts as it serves, for the metrics: shared by the daemon and the
/// console it starts (through `DaemonHandle`). Counts since the daemon started.
#[derive(Debug, Default)]
pub struct ConsoleCounters {
    audit_write_failures: AtomicU64,
}

impl ConsoleCounters {
    /// An audit row could not be written (what it records was done, or refused, all the same).
    pub fn audit_write_failed(&self) {
        self.audit_write_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Audit rows that could not be written.
    pub fn audit_write_failures(&self) -> u64 {
        self.audit_write_failures.load(Ordering::Relaxed)
    }
}

/// The Prometheus text of `report`, with the console's counters.
pub fn exposition(report: StatusReport, console: &ConsoleCounters) -> String {
    let audit_write_failures = console.audit_write_failures();
    parley_metrics::exposition(move |families| {
        write(families, &report)?;
        write_console(families, audit_write_failures)
    })
}

fn write(families: &mut Families<'_, '_>, report: &StatusReport) -> fmt::Result {
    write_station(families, report)?;
    write_messages(families, report)?;
    write_links(families, &report.peers)?;
    write_channels(families, &report.peers)?;
    write_alarms(families, report)
}

fn write_console(families: &mut Families<'_, '_>, audit_write_failures: u64) -> fmt::Result {
    families.counter(
        "parley_console_audit_write_failures",
        "Console actions (logins and logouts included) done or refused whose audit row could \
         not be written to console.sqlite.",
        [(Labels::new(), audit_write_failures)],
    )
}

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs
        .into_iter()
        .map(|(name, value)| (name, value.to_owned()))
        .collect()
}

fn write_station(families: &mut Families<'_, '_>, report: &StatusReport) -> fmt::Result {
    families.gauge(
        "parley_station_uptime_seconds",
        "Seconds since the daemon's driver started.",
        report.uptime_s.map(|uptime| (Labels::new(), uptime)),
    )?;
    let rejected = report.rejected.clone().unwrap_or_default();
    families.counter(
        "parley_station_rejections",
        "Frames refused before they could be given to a peer's link, by reason.",
        rejected
            .frames
            .iter()
            .map(|(reason, count)| (labels([("reason", reason)]), *count)),
    )?;
    families.counter(
        "parley_station_handshakes_rejected",
        "Incoming direct-channel handshakes refused.",
        [(Labels::new(), rejected.handshakes)],
    )?;
    families.counter(
        "parley_station_cards_rejected",
        "peer add requests through the daemon refused for the card.",
        [(Labels::new(), rejected.cards)],
    )?;
    let queues = report.queues.clone().unwrap_or_default();
    families.counter(
        "parley_station_frames_dropped",
        "Unasked frames (direct channel) dropped because the driver's input queue was full.",
        [(Labels::new(), queues.frames_dropped)],
    )?;
    families.counter(
        "parley_station_reports_waited",
        "Transport reports that found the driver's input queue full and waited for room.",
        [(Labels::new(), queues.reports_waited)],
    )?;
    families.counter(
        "parley_station_requests_waited",
        "Operator requests that found the driver's request queue full and waited for room.",
        [(Labels::new(), queues.requests_waited)],
    )?;
    families.counter(
        "parley_station_api_clients_refused",
        "Operator API connections refused because the most served at once were open.",
        [(Labels::new(), queues.api_clients_refused)],
    )?;
    families.counter(
        "parley_station_commit_cpu_seconds",
        "CPU time the driver spent committing to the store.",
        [(Labels::new(), queues.commit_cpu_us as f64 / 1e6)],
    )?;
    families.counter(
        "parley_station_store_checkpoint_cpu_seconds",
        "CPU time the store's checkpoint thread spent copying the write-ahead log into the database.",
        [(Labels::new(), queues.store_checkpoint_cpu_us as f64 / 1e6)],
    )?;
    families.counter(
        "parley_station_store_checkpoints",
        "Checkpoints of the store's write-ahead log, by who ran them: the checkpoint thread, or the driver in a commit that took the log past its bound.",
        [
            (labels([("by", "background")]), queues.checkpoints_background),
            (labels([("by", "writer")]), queues.checkpoints_by_writer),
        ],
    )?;
    families.gauge(
        "parley_station_store_log_pages",
        "Pages (4 KiB) in the store's write-ahead log after the latest commit.",
        [(Labels::new(), queues.store_log_pages)],
    )?;
    families.counter(
        "parley_station_envelope_checks_batched",
        "Envelope signatures checked in batches rather than one at a time.",
        [(Labels::new(), queues.envelope_checks_batched)],
    )?;
    families.counter(
        "parley_station_entry_checks_batched",
        "Entry signatures checked in batches with their envelopes' rather than one at a time.",
        [(Labels::new(), queues.entry_checks_batched)],
    )?;
    families.gauge(
        "parley_station_epoch_key_age_seconds",
        "Age of each epoch key held, by whether it is current or retained for late envelopes.",
        report.now_ms.into_iter().flat_map(|now_ms| {
            report.epoch_keys.iter().map(move |key| {
                let role = if key.current { "current" } else { "retained" };
                let age_s = now_ms.saturating_sub(key.created_ms) / 1_000;
                (labels([("key", &key.key_id), ("role", role)]), age_s)
            })
        }),
    )
}

fn write_messages(families: &mut Families<'_, '_>, report: &StatusReport) -> fmt::Result {
    let mut series = Vec::new();
    for counts in &report.messages {
        let precedence = counts.precedence.name();
        let sent = &counts.sent;
        let received = &counts.received;
        for (direction, state, count) in [
            ("sent", "unreceipted", sent.unreceipted),
            ("sent", "delivered", sent.delivered),
            ("sent", "understood", sent.understood),
            ("sent", "clarify", sent.clarify),
            ("sent", "cancelled", sent.cancelled),
            ("received", "unanswered", received.unanswered),
            ("received", "understood", received.understood),
            ("received", "clarify", received.clarify),
            ("received", "cancelled", received.cancelled),
        ] {
            let labels = labels([
                ("direction", direction),
                ("precedence", precedence),
                ("state", state),
            ]);
            series.push((labels, count));
        }
    }
    families.gauge(
        "parley_station_messages",
        "Messages of the record (tests not counted), by direction, precedence and state.",
        series,
    )?;
    let Some(latencies) = &report.latencies else {
        return Ok(());
    };
    let bounds: Vec<f64> = latencies
        .bounds_ms
        .iter()
        .map(|ms| *ms as f64 / 1e3)
        .collect();
    fn buckets<'a>(bounds: &'a [f64], histogram: &'a Histogram) -> Buckets<'a> {
        Buckets {
            bounds,
            counts: &histogram.buckets,
            sum: histogram.sum_ms as f64 / 1e3,
        }
    }
    let precedence = |name: &str| labels([("precedence", name)]);
    families.histogram(
        "parley_station_receipt_latency_seconds",
        "From send to the peer's receipt covering the message, by this station's clock.",
        latencies.precedences.iter().map(|of| {
            (
                precedence(of.precedence.name()),
                buckets(&bounds, &of.receipt),
            )
        }),
    )?;
    families.histogram(
        "parley_station_understood_latency_seconds",
        "From send to storing the peer's answer (understood or clarify), by this station's clock.",
        latencies.precedences.iter().map(|of| {
            (
                precedence(of.precedence.name()),
                buckets(&bounds, &of.understood),
            )
        }),
    )
}

fn write_links(families: &mut Families<'_, '_>, peers: &[PeerStatus]) -> fmt::Result {
    let peer = |status: &PeerStatus| labels([("peer", &status.name)]);
    families.gauge(
        "parley_station_outbox_depth",
        "Own entries on the link not yet receipted by the peer.",
        peers
            .iter()
            .map(|status| (peer(status), status.outbox_depth)),
    )?;
    families.gauge(
        "parley_station_held_entries",
        "Peer entries held above a gap, waiting for it to fill.",
        peers.iter().map(|status| (peer(status), status.in_pending)),
    )?;
    families.gauge(
        "parley_station_log_closed",
        "1 while nothing more is written to the peer (this store was put back to an older copy).",
        peers
            .iter()
            .map(|status| (peer(status), u64::from(status.log_closed.is_some()))),
    )?;
    families.gauge(
        "parley_station_intake_available_bytes",
        "Bytes of the peer's entries, as sealed, the station takes now before it refuses more.",
        peers
            .iter()
            .filter_map(|status| Some((peer(status), status.intake_available_bytes?))),
    )?;
    let counted: Vec<_> = peers
        .iter()
        .filter_map(|status| Some((peer(status), status.counters.as_ref()?)))
        .collect();
    for (name, help, value) in [
        (
            "parley_station_envelopes_accepted",
            "Envelopes from the peer accepted (new entries stored).",
            (|c| c.envelopes_accepted) as fn(&PeerCounters) -> u64,
        ),
        (
            "parley_station_duplicates_dropped",
            "Envelopes from the peer dropped as duplicates of held entries.",
            |c| c.duplicates_dropped,
        ),
        (
            "parley_station_receipts_accepted",
            "Receipts from the peer accepted.",
            |c| c.receipts_accepted,
        ),
        (
            "parley_station_frames_transmitted",
            "Frames (envelopes and receipts) put on the link's channels.",
            |c| c.frames_transmitted,
        ),
        (
            "parley_station_retransmissions",
            "Envelope resends (second and later sends on a channel).",
            |c| c.retransmissions,
        ),
        (
            "parley_station_entries_resent",
            "Own entries sealed and sent again because the peer no longer held them.",
            |c| c.entries_resent,
        ),
        (
            "parley_station_evidence",
            "Evidence of misbehaviour found on the link (equivocation, fork, bad receipt).",
            |c| c.alarms,
        ),
    ] {
        let series = counted
            .iter()
            .map(|(labels, counters)| (labels.clone(), value(counters)));
        families.counter(name, help, series)?;
    }
    families.counter(
        "parley_station_link_rejections",
        "Frames claiming to be from the peer refused by its link, by reason.",
        counted.iter().flat_map(|(peer, counters)| {
            counters.rejected.iter().map(move |(reason, count)| {
                let mut labels = peer.clone();
                labels.push(("reason", reason.clone()));
                (labels, *count)
            })
        }),
    )
}

/// A channel with its labels: the peer, the channel (`direct`, `relay-1`, `courier-1`,
/// numbered per kind in the order `parley status` lists them) and its kind.
struct Labelled<'a> {
    labels: Labels,
    kind: ChannelKind,
    channel: &'a ChannelStatus,
}

fn channels(peers: &[PeerStatus]) -> Vec<Labelled<'_>> {
    let mut all = Vec::new();
    for peer in peers {
        let mut numbers: BTreeMap<ChannelKind, usize> = BTreeMap::new();
        for channel in &peer.channels {
            let number = numbers.entry(channel.kind).or_default();
            *number += 1;
            let name = match channel.kind {
                ChannelKind::Direct => "direct".to_owned(),
                kind => format!("{}-{number}", kind.name()),
            };
            let labels = vec![
                ("peer", peer.name.clone()),
                ("channel", name),
                ("kind", channel.kind.name().to_owned()),
            ];
            all.push(Labelled {
                labels,
                kind: channel.kind,
                channel,
            });
        }
    }
    all
}

fn with(labels: &Labels, name: &'static str, value: &str) -> Labels {
    let mut labels = labels.clone();
    labels.push((name, value.to_owned()));
    labels
}

fn write_channels(families: &mut Families<'_, '_>, peers: &[PeerStatus]) -> fmt::Result {
    let channels = channels(peers);
    families.gauge(
        "parley_station_channel_state",
        "1 for the channel's current state (up, degraded, down), 0 for the others.",
        channels.iter().flat_map(|labelled| {
            [Health::Up, Health::Degraded, Health::Down].map(|state| {
                let current = u64::from(labelled.channel.state == state);
                (with(&labelled.labels, "state", state.name()), current)
            })
        }),
    )?;
    // What only a running daemon knows.
    let live: Vec<(&Labels, ChannelKind, &LiveChannel)> = channels
        .iter()
        .filter_map(|labelled| {
            let live = labelled.channel.live.as_ref()?;
            Some((&labelled.labels, labelled.kind, live))
        })
        .collect();
    families.gauge(
        "parley_station_channel_rtt_seconds",
        "Last measured round-trip time of the channel (absent while down, and for courier).",
        live.iter()
            .filter_map(|(labels, _, live)| Some(((*labels).clone(), live.rtt_ms? / 1e3))),
    )?;
    families.counter(
        "parley_station_channel_state_changes",
        "State changes of the channel.",
        live.iter()
            .map(|(labels, _, live)| ((*labels).clone(), live.changes)),
    )?;
    let by_frame = |kind: Option<ChannelKind>, counts: fn(&ChannelCounters) -> (u64, u64)| {
        live.iter()
            .filter(move |(_, of, _)| kind.is_none_or(|kind| kind == *of))
            .flat_map(move |(labels, _, live)| {
                let (envelopes, receipts) = counts(&live.counters);
                [
                    (with(labels, "frame", "envelope"), envelopes),
                    (with(labels, "frame", "receipt"), receipts),
                ]
            })
    };
    families.counter(
        "parley_station_channel_frames_sent",
        "Frames handed to the channel, by frame kind.",
        by_frame(None, |c| (c.envelopes_sent, c.receipts_sent)),
    )?;
    families.counter(
        "parley_station_channel_frames_received",
        "Frames that arrived on the channel and verified, by frame kind.",
        by_frame(None, |c| (c.envelopes_received, c.receipts_received)),
    )?;
    families.counter(
        "parley_station_relay_frames_stored",
        "Frames the relay confirmed it stored, by frame kind (relay channels).",
        by_frame(Some(ChannelKind::Relay), |c| {
            (c.envelopes_stored_at_relay, c.receipts_stored_at_relay)
        }),
    )?;
    let each = |kind: Option<ChannelKind>, count: fn(&ChannelCounters) -> u64| {
        live.iter()
            .filter(move |(_, of, _)| kind.is_none_or(|kind| kind == *of))
            .map(move |(labels, _, live)| ((*labels).clone(), count(&live.counters)))
    };
    for (name, help, kind, count) in [
        (
            "parley_station_channel_duplicates_dropped",
            "Envelopes that arrived on the channel already held.",
            None,
            (|c| c.duplicates_dropped) as fn(&ChannelCounters) -> u64,
        ),
        (
            "parley_station_channel_rejections",
            "Frames that arrived on the channel and were refused.",
            None,
            |c| c.rejected,
        ),
        (
            "parley_station_channel_queue_full",
            "Frames not handed to the channel because its queue was full (resent later).",
            None,
            |c| c.queue_full,
        ),
        (
            "parley_station_relay_deposits_refused",
            "Deposits the relay refused to store (relay channels).",
            Some(ChannelKind::Relay),
            |c| c.deposits_refused,
        ),
        (
            "parley_station_courier_files_refused",
            "Files in the drop folder set aside: bundles refused, files refused unread (courier).",
            Some(ChannelKind::Courier),
            |c| c.files_refused,
        ),
    ] {
        families.counter(name, help, each(kind, count))?;
    }
    Ok(())
}

fn write_alarms(families: &mut Families<'_, '_>, report: &StatusReport) -> fmt::Result {
    let counts: BTreeMap<AlarmKind, (u64, u64)> = report
        .alarms
        .kinds
        .iter()
        .map(|kind| (kind.kind, (kind.open, kind.acknowledged)))
        .collect();
    families.gauge(
        "parley_station_alarms",
        "Alarms not cleared, by kind and state (open: not acknowledged).",
        AlarmKind::ALL.into_iter().flat_map(|kind| {
            let (open, acknowledged) = counts.get(&kind).copied().unwrap_or_default();
            [("open", open), ("acknowledged", acknowledged)]
                .map(|(state, count)| (labels([("kind", kind.name()), ("state", state)]), count))
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use parley_metrics::text::{Kind, parse};
    use parley_proto::{Identity, Precedence};

    use super::*;
    use crate::api::status::{
        AlarmKindCount, Alarms, DaemonState, Latencies, MessageCounts, PeerCounters, Queues,
        ReceivedCounts, Rejected, SentCounts, StationInfo,
    };

    const HOSTILE: &str = "a\"b\nc\\d";

    fn channel(kind: ChannelKind, state: Health, rtt_ms: Option<f64>) -> ChannelStatus {
        ChannelStatus {
            kind,
            target: Some("somewhere".into()),
            state,
            live: Some(LiveChannel {
                since_ms: 0,
                rtt_ms,
                changes: 3,
                last_error: None,
                transitions: VecDeque::new(),
                counters: ChannelCounters {
                    envelopes_sent: 5,
                    receipts_sent: 4,
                    envelopes_received: 2,
                    envelopes_stored_at_relay: 1,
                    deposits_refused: 6,
                    ..ChannelCounters::default()
                },
                deposit_refusal: None,
                last_refused_file: None,
            }),
        }
    }

    fn report() -> StatusReport {
        let fingerprint = Identity::from_secret(&[1; 32]).fingerprint();
        let mut latencies = Latencies::default();
        latencies.observe(
            Precedence::Flash,
            crate::core::watch::latency::Until::Receipt,
            0,
            1_500,
        );
        StatusReport {
            station: StationInfo {
                name: "Alpha".into(),
                lang: "en".into(),
                listen: "127.0.0.1:7300".into(),
                fingerprint,
                key_fingerprint: fingerprint,
            },
            daemon: DaemonState::Running,
            now_ms: Some(86_400_001),
            uptime_s: Some(12),
            peers: vec![PeerStatus {
                name: HOSTILE.into(),
                fingerprint,
                key_fingerprint: fingerprint,
                channels: vec![
                    channel(ChannelKind::Direct, Health::Up, Some(1.5)),
                    channel(ChannelKind::Relay, Health::Degraded, Some(250.0)),
                    channel(ChannelKind::Relay, Health::Down, None),
                ],
                out_seq: 9,
                outbox_depth: 2,
                peer_receipt_upto: 7,
                in_head: 4,
                in_pending: 1,
                cosigned_upto: 6,
                peer_cosigned_upto: 3,
                peer_epoch_key: "00112233445566778899".into(),
                intake_available_bytes: Some(1 << 20),
                log_closed: Some(crate::api::status::LogClosed {
                    kind: crate::api::status::LogClosedKind::Forked,
                    seq: 5,
                    reason: "the peer holds another entry".into(),
                }),
                counters: Some(PeerCounters {
                    retransmissions: 11,
                    rejected: BTreeMap::from([("bad_signature".to_owned(), 2)]),
                    ..PeerCounters::default()
                }),
            }],
            rejected: Some(Rejected {
                frames: BTreeMap::from([("unknown_sender".to_owned(), 4)]),
                handshakes: 1,
                cards: 0,
            }),
            queues: Some(Queues {
                commit_cpu_us: 2_500_000,
                ..Queues::default()
            }),
            alarms: Alarms {
                open: 1,
                acknowledged: 1,
                total: 3,
                recent: Vec::new(),
                kinds: vec![AlarmKindCount {
                    kind: AlarmKind::ChannelDown,
                    open: 1,
                    acknowledged: 1,
                }],
            },
            messages: vec![MessageCounts {
                precedence: Precedence::Flash,
                sent: SentCounts {
                    unreceipted: 2,
                    understood: 1,
                    ..SentCounts::default()
                },
                received: ReceivedCounts {
                    unanswered: 3,
                    ..ReceivedCounts::default()
                },
            }],
            latencies: Some(latencies),
            epoch_keys: vec![crate::api::status::EpochKeyStatus {
                key_id: "0011223344556677".into(),
                created_ms: 1,
                current: true,
                superseded_ms: None,
                needed_by: Vec::new(),
            }],
        }
    }

    #[test]
    fn the_exposition_is_valid_text_with_conventional_names() {
        let console = ConsoleCounters::default();
        console.audit_write_failed();
        console.audit_write_failed();
        let text = exposition(report(), &console);
        let parsed = parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
        for family in &parsed.families {
            assert!(
                family.name.starts_with("parley_station_")
                    || family.name.starts_with("parley_console_"),
                "{}",
                family.name
            );
            assert!(family.help.is_some(), "{} has help", family.name);
            match family.kind {
                Kind::Counter => assert!(family.name.ends_with("_total"), "{}", family.name),
                Kind::Gauge | Kind::Histogram => {
                    assert!(!family.name.ends_with("_total"), "{}", family.name);
                }
                other => panic!("{} is {other:?}", family.name),
            }
            if family.name.contains("latency") || family.name.contains("rtt") {
                assert!(family.name.ends_with("_seconds"), "{}", family.name);
            }
        }
        let kind = |name: &str| parsed.family(name).map(|family| family.kind);
        assert_eq!(
            kind("parley_station_retransmissions_total"),
            Some(Kind::Counter)
        );
        assert_eq!(kind("parley_station_channel_state"), Some(Kind::Gauge));
        assert_eq!(
            kind("parley_station_receipt_latency_seconds"),
            Some(Kind::Histogram)
        );
        let peer = ("peer", HOSTILE);
        assert_eq!(
            parsed.value("parley_station_retransmissions_total", &[peer]),
            Some(11.0)
        );
        let rejected = [peer, ("reason", "bad_signature")];
        assert_eq!(
            parsed.value("parley_station_link_rejections_total", &rejected),
            Some(2.0)
        );
        let unattributed = [("reason", "unknown_sender")];
        assert_eq!(
            parsed.value("parley_station_rejections_total", &unattributed),
            Some(4.0)
        );
        assert_eq!(
            parsed.value("parley_station_outbox_depth", &[peer]),
            Some(2.0)
        );
        assert_eq!(
            parsed.value("parley_station_log_closed", &[peer]),
            Some(1.0)
        );
        assert_eq!(
            parsed.value("parley_station_commit_cpu_seconds_total", &[]),
            Some(2.5)
        );
        let current = [("key", "0011223344556677"), ("role", "current")];
        assert_eq!(
            parsed.value("parley_station_epoch_key_age_seconds", &current),
            Some(86_400.0)
        );
        assert_eq!(
            parsed.value("parley_console_audit_write_failures_total", &[]),
            Some(2.0)
        );
        assert_eq!(
            kind("parley_console_audit_write_failures_total"),
            Some(Kind::Counter)
        );
        // Each channel: one state set to 1, the others 0; RTT in seconds where known.
        let state = |channel: &str, state: &str| {
            parsed.value(
                "parley_station_channel_state",
                &[peer, ("channel", channel), ("state", state)],
            )
        };
        assert_eq!(state("direct", "up"), Some(1.0));
        assert_eq!(state("direct", "down"), Some(0.0));
        assert_eq!(state("relay-1", "degraded"), Some(1.0));
        assert_eq!(state("relay-2", "down"), Some(1.0));
        let rtt = |channel: &str| {
            parsed.value(
                "parley_station_channel_rtt_seconds",
                &[peer, ("channel", channel)],
            )
        };
        assert_eq!(
            (rtt("direct"), rtt("relay-1"), rtt("relay-2")),
            (Some(0.0015), Some(0.25), None)
        );
        let sent = [peer, ("channel", "relay-1"), ("frame", "envelope")];
        assert_eq!(
            parsed.value("parley_station_channel_frames_sent_total", &sent),
            Some(5.0)
        );
        assert_eq!(
            parsed.value("parley_station_relay_frames_stored_total", &sent),
            Some(1.0)
        );
        let direct = [peer, ("channel", "direct")];
        assert_eq!(
            parsed.value("parley_station_relay_deposits_refused_total", &direct),
            None
        );
        // Messages by direction, precedence and state; alarms of every kind.
        let messages = |direction: &str, state: &str| {
            let labels = [
                ("direction", direction),
                ("precedence", "flash"),
                ("state", state),
            ];
            parsed.value("parley_station_messages", &labels)
        };
        assert_eq!(messages("sent", "unreceipted"), Some(2.0));
        assert_eq!(messages("received", "unanswered"), Some(3.0));
        assert_eq!(messages("received", "clarify"), Some(0.0));
        let alarms = |kind: &str, state: &str| {
            parsed.value("parley_station_alarms", &[("kind", kind), ("state", state)])
        };
        assert_eq!(alarms("channel_down", "acknowledged"), Some(1.0));
        assert_eq!(alarms("fork", "open"), Some(0.0));
        // The histogram: 1.5 s, in the bucket up to 2.5 s and above.
        let flash = [("precedence", "flash")];
        let latency = "parley_station_receipt_latency_seconds";
        assert_eq!(parsed.value(&format!("{latency}_count"), &flash), Some(1.0));
        assert_eq!(parsed.value(&format!("{latency}_sum"), &flash), Some(1.5));
        let bucket = |le: &str| {
            parsed.value(
                &format!("{latency}_bucket"),
                &[("precedence", "flash"), ("le", le)],
            )
        };
        assert_eq!(
            (bucket("1"), bucket("2.5"), bucket("+Inf")),
            (Some(0.0), Some(1.0), Some(1.0))
        );
    }

    /// A peer's name is text the peer chose: it appears only as a label value, escaped.
    #[test]
    fn a_hostile_peer_name_is_escaped() {
        let text = exposition(report(), &ConsoleCounters::default());
        assert!(text.contains(r#"peer="a\"b\nc\\d""#), "{text}");
        assert!(!text.contains(HOSTILE), "never raw");
        for line in text.lines().filter(|line| line.contains("peer=")) {
            assert!(line.starts_with("parley_station_"), "{line:?}");
        }
    }
}
