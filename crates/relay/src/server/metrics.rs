//! The relay's metrics: counters and a latency histogram fed as requests are answered, and
//! gauges read from the store at each scrape (stations, mailboxes, frames and bytes held)
//! and from the connection table. Served on a separate plain-HTTP address
//! (`parley relay serve --metrics ADDR`) by [`parley_metrics::serve`]; docs/cli.md
//! ("Metrics") lists every metric.
//!
//! Labels take values from closed sets only (endpoint, refusal reason, station state): the
//! relay's metrics name no station.

use http::Method;
use parley_metrics::prometheus_client::metrics::counter::Counter;
use parley_metrics::prometheus_client::metrics::family::Family;
use parley_metrics::prometheus_client::metrics::gauge::Gauge;
use parley_metrics::prometheus_client::metrics::histogram::Histogram;
use parley_metrics::{Registry, encode_registry};
use parley_relay_wire::witness::{PATH_WITNESS, PATH_WITNESS_ADD_CHECKPOINT};
use parley_relay_wire::{
    PATH_HEALTH, PATH_MAILBOX, PATH_MAILBOX_DELETE, PATH_MAILBOXES, PATH_PING,
};

use super::refusal::Refusal;
use super::warnings::Warning;
use crate::store::{DepositRefusal, Totals};
use crate::witness::ConflictReason;

/// One label, from a closed set.
type Label = [(&'static str, &'static str); 1];

/// Upper bounds of the request duration buckets, in seconds. A fetch is a long poll: it
/// lasts up to the wait its station asked for.
const REQUEST_DURATION_BOUNDS_S: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// An endpoint of the relay API, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Health,
    Ping,
    Deposit,
    Fetch,
    Delete,
    /// The witness's `add-checkpoint`.
    WitnessAddCheckpoint,
    /// The witness's latest checkpoint of a log.
    WitnessCheckpoint,
    /// No endpoint, or the wrong method.
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 8] = [
        Endpoint::Health,
        Endpoint::Ping,
        Endpoint::Deposit,
        Endpoint::Fetch,
        Endpoint::Delete,
        Endpoint::WitnessAddCheckpoint,
        Endpoint::WitnessCheckpoint,
        Endpoint::Other,
    ];

    /// The endpoint a request's method and path name.
    pub(crate) fn of(method: &Method, path: &str) -> Self {
        let deposit = path
            .strip_prefix(PATH_MAILBOXES)
            .is_some_and(|rest| rest.starts_with('/'));
        let witness_checkpoint = path
            .strip_prefix(PATH_WITNESS)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix("/checkpoint"))
            .is_some_and(|hash| !hash.is_empty() && !hash.contains('/'));
        match (method, path) {
            (&Method::GET, PATH_HEALTH) => Endpoint::Health,
            (&Method::GET, PATH_PING) => Endpoint::Ping,
            (&Method::GET, PATH_MAILBOX) => Endpoint::Fetch,
            (&Method::POST, PATH_MAILBOX_DELETE) => Endpoint::Delete,
            (&Method::POST, PATH_WITNESS_ADD_CHECKPOINT) => Endpoint::WitnessAddCheckpoint,
            (&Method::POST, _) if deposit => Endpoint::Deposit,
            (&Method::GET, _) if witness_checkpoint => Endpoint::WitnessCheckpoint,
            _ => Endpoint::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
            Endpoint::Ping => "ping",
            Endpoint::Deposit => "deposit",
            Endpoint::Fetch => "fetch",
            Endpoint::Delete => "delete",
            Endpoint::WitnessAddCheckpoint => "witness_add_checkpoint",
            Endpoint::WitnessCheckpoint => "witness_checkpoint",
            Endpoint::Other => "other",
        }
    }
}

/// Why a deposit was refused, as a label. A refusal the depositor is not told of (answered
/// 202) is counted under its reason all the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepositRefused {
    /// Its authentication failed (401).
    Unauthenticated,
    /// The depositor is not admitted, or revoked (403).
    NotAdmitted,
    /// Its body, path or length was refused (400, 408, 413, …).
    Malformed,
    /// A frame failed the check (422).
    FramesRefused,
    /// Over the station's rate or in-flight limit (429).
    RateLimited,
    /// No deposit slot came free (503).
    Busy,
    /// The recipient is not admitted, or revoked.
    RecipientNotAdmitted,
    /// Over the depositor's share of the recipient's mailbox.
    ShareFull,
    /// The recipient's mailbox is full.
    MailboxFull,
    /// Over what the depositor may hold across every mailbox.
    SenderFull,
    /// The relay holds all it may, or its disk is nearly full.
    StorageFull,
    /// The relay failed (500).
    Internal,
}

impl DepositRefused {
    const ALL: [DepositRefused; 12] = [
        DepositRefused::Unauthenticated,
        DepositRefused::NotAdmitted,
        DepositRefused::Malformed,
        DepositRefused::FramesRefused,
        DepositRefused::RateLimited,
        DepositRefused::Busy,
        DepositRefused::RecipientNotAdmitted,
        DepositRefused::ShareFull,
        DepositRefused::MailboxFull,
        DepositRefused::SenderFull,
        DepositRefused::StorageFull,
        DepositRefused::Internal,
    ];

    fn name(self) -> &'static str {
        match self {
            DepositRefused::Unauthenticated => "unauthenticated",
            DepositRefused::NotAdmitted => "not_admitted",
            DepositRefused::Malformed => "malformed",
            DepositRefused::FramesRefused => "frames_refused",
            DepositRefused::RateLimited => "rate_limited",
            DepositRefused::Busy => "busy",
            DepositRefused::RecipientNotAdmitted => "recipient_not_admitted",
            DepositRefused::ShareFull => "share_full",
            DepositRefused::MailboxFull => "mailbox_full",
            DepositRefused::SenderFull => "sender_full",
            DepositRefused::StorageFull => "storage_full",
            DepositRefused::Internal => "internal",
        }
    }

    /// The reason of a refusal before the store was asked.
    pub(crate) fn of_refusal(refusal: &Refusal) -> Self {
        match refusal.warning() {
            Warning::Unauthenticated => DepositRefused::Unauthenticated,
            Warning::Forbidden => DepositRefused::NotAdmitted,
            Warning::FramesRefused => DepositRefused::FramesRefused,
            Warning::RateLimited => DepositRefused::RateLimited,
            Warning::Busy => DepositRefused::Busy,
            Warning::Internal => DepositRefused::Internal,
            Warning::RecipientRefused => DepositRefused::RecipientNotAdmitted,
            Warning::StorageFull => DepositRefused::StorageFull,
            Warning::Malformed
            | Warning::NoSuchEndpoint
            | Warning::DepositWithheld
            | Warning::ConnectionClosed
            | Warning::AcceptFailed
            | Warning::WitnessRefused
            | Warning::WitnessFork
            | Warning::WitnessBadProof => DepositRefused::Malformed,
        }
    }

    /// The reason of a refusal by the store.
    pub(crate) fn of_store(refusal: &DepositRefusal) -> Self {
        match refusal {
            DepositRefusal::RecipientNotAdmitted(_) => DepositRefused::RecipientNotAdmitted,
            DepositRefusal::ShareFull { .. } => DepositRefused::ShareFull,
            DepositRefusal::MailboxFull => DepositRefused::MailboxFull,
            DepositRefusal::SenderFull { .. } => DepositRefused::SenderFull,
            DepositRefusal::RelayFull { .. } | DepositRefusal::DiskFull { .. } => {
                DepositRefused::StorageFull
            }
        }
    }
}

/// Why the witness did not cosign a checkpoint, as a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WitnessRefused {
    /// Malformed, too large or too slow (400, 408, 413).
    Malformed,
    /// The origin names no log of an admitted station (404).
    UnknownOrigin,
    /// No signature by the log's key verifies (403).
    Unsigned,
    /// The old size is not the size held (409).
    StaleOldSize,
    /// A size or a proof that cannot be right, whatever the witness holds (422).
    Unprocessable,
    /// A checkpoint that cannot be reconciled with the one held (409 for another root at the
    /// size held, 422 for a proof that does not verify): counted by reason too.
    Conflict,
    /// The author has as many witnessed logs as the witness keeps (507).
    TooManyLogs,
    /// Over the witness's budget for its author (429).
    RateLimited,
    /// The relay failed (500).
    Internal,
}

impl WitnessRefused {
    const ALL: [WitnessRefused; 9] = [
        WitnessRefused::Malformed,
        WitnessRefused::UnknownOrigin,
        WitnessRefused::Unsigned,
        WitnessRefused::StaleOldSize,
        WitnessRefused::Unprocessable,
        WitnessRefused::Conflict,
        WitnessRefused::TooManyLogs,
        WitnessRefused::RateLimited,
        WitnessRefused::Internal,
    ];

    fn name(self) -> &'static str {
        match self {
            WitnessRefused::Malformed => "malformed",
            WitnessRefused::UnknownOrigin => "unknown_origin",
            WitnessRefused::Unsigned => "unsigned",
            WitnessRefused::StaleOldSize => "stale_old_size",
            WitnessRefused::Unprocessable => "unprocessable",
            WitnessRefused::Conflict => "conflict",
            WitnessRefused::TooManyLogs => "too_many_logs",
            WitnessRefused::RateLimited => "rate_limited",
            WitnessRefused::Internal => "internal",
        }
    }

    /// The reason of a refusal by its status and how it is logged.
    pub(crate) fn of_refusal(refusal: &Refusal) -> Self {
        if matches!(
            refusal.warning(),
            Warning::WitnessFork | Warning::WitnessBadProof
        ) {
            return WitnessRefused::Conflict;
        }
        match refusal.status.as_u16() {
            404 => WitnessRefused::UnknownOrigin,
            403 => WitnessRefused::Unsigned,
            409 => WitnessRefused::StaleOldSize,
            422 => WitnessRefused::Unprocessable,
            507 => WitnessRefused::TooManyLogs,
            429 => WitnessRefused::RateLimited,
            500..=599 => WitnessRefused::Internal,
            _ => WitnessRefused::Malformed,
        }
    }
}

/// The relay's instruments.
#[derive(Debug)]
pub(crate) struct RelayMetrics {
    registry: Registry,
    deposits_stored: Counter,
    frames_stored: Counter,
    frames_duplicate: Counter,
    deposits_refused: Family<Label, Counter>,
    request_duration: Family<Label, Histogram, fn() -> Histogram>,
    stations: Family<Label, Gauge>,
    mailboxes: Gauge,
    held_frames: Gauge,
    held_bytes: Gauge,
    connections: Family<Label, Gauge>,
    witness_cosigned: Counter,
    witness_refused: Family<Label, Counter>,
    witness_conflicts: Family<Label, Counter>,
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_DURATION_BOUNDS_S)
}

impl RelayMetrics {
    pub(crate) fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::default(),
            deposits_stored: Counter::default(),
            frames_stored: Counter::default(),
            frames_duplicate: Counter::default(),
            deposits_refused: Family::default(),
            request_duration: Family::new_with_constructor(request_histogram),
            stations: Family::default(),
            mailboxes: Gauge::default(),
            held_frames: Gauge::default(),
            held_bytes: Gauge::default(),
            connections: Family::default(),
            witness_cosigned: Counter::default(),
            witness_refused: Family::default(),
            witness_conflicts: Family::default(),
        };
        // Every series of a closed set exists from the start, at zero.
        for reason in DepositRefused::ALL {
            drop(
                metrics
                    .deposits_refused
                    .get_or_create(&[("reason", reason.name())]),
            );
        }
        for reason in WitnessRefused::ALL {
            drop(
                metrics
                    .witness_refused
                    .get_or_create(&[("reason", reason.name())]),
            );
        }
        for reason in ConflictReason::ALL {
            drop(
                metrics
                    .witness_conflicts
                    .get_or_create(&[("reason", reason.name())]),
            );
        }
        for endpoint in Endpoint::ALL {
            drop(
                metrics
                    .request_duration
                    .get_or_create(&[("endpoint", endpoint.name())]),
            );
        }
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "parley_relay_deposits_stored",
            "Deposits stored (all their frames new or already held), since the relay started",
            self.deposits_stored.clone(),
        );
        registry.register(
            "parley_relay_frames_stored",
            "Frames stored by deposits, since the relay started",
            self.frames_stored.clone(),
        );
        registry.register(
            "parley_relay_frames_duplicate",
            "Frames deposited that the mailbox already held, not stored again",
            self.frames_duplicate.clone(),
        );
        registry.register(
            "parley_relay_deposits_refused",
            "Deposits refused, by reason (refusals answered 202 included)",
            self.deposits_refused.clone(),
        );
        registry.register(
            "parley_relay_request_duration_seconds",
            "Time from a request's headers to its answer, by endpoint (fetch: a long poll)",
            self.request_duration.clone(),
        );
        registry.register(
            "parley_relay_stations",
            "Stations in the relay's list, by state (admitted, revoked)",
            self.stations.clone(),
        );
        registry.register(
            "parley_relay_mailboxes",
            "Mailboxes holding at least one frame",
            self.mailboxes.clone(),
        );
        registry.register(
            "parley_relay_held_frames",
            "Frames held in all mailboxes (expired ones until purged)",
            self.held_frames.clone(),
        );
        registry.register(
            "parley_relay_held_bytes",
            "Frame bytes held in all mailboxes (expired ones until purged)",
            self.held_bytes.clone(),
        );
        registry.register(
            "parley_relay_connections",
            "Open connections, by state (authenticated, unauthenticated)",
            self.connections.clone(),
        );
        registry.register(
            "parley_relay_witness_cosigned",
            "Checkpoints the witness cosigned (stored as their log's latest), since the relay \
             started",
            self.witness_cosigned.clone(),
        );
        registry.register(
            "parley_relay_witness_refused",
            "Checkpoints the witness did not cosign, by reason (a 409 for a stale old size \
             included)",
            self.witness_refused.clone(),
        );
        registry.register(
            "parley_relay_witness_conflicts",
            "Checkpoints signed by their log's author that the witness could not reconcile \
             with the one it held, by reason (same_size_different_root: a fork; \
             inconsistent_proof: a fork, or a bad proof), kept or only counted",
            self.witness_conflicts.clone(),
        );
    }

    /// A deposit was stored: `stored` new frames, `duplicates` already held.
    pub(crate) fn deposit_stored(&self, stored: u64, duplicates: u64) {
        self.deposits_stored.inc();
        self.frames_stored.inc_by(stored);
        self.frames_duplicate.inc_by(duplicates);
    }

    /// A deposit was refused.
    pub(crate) fn deposit_refused(&self, reason: DepositRefused) {
        self.deposits_refused
            .get_or_create(&[("reason", reason.name())])
            .inc();
    }

    /// The witness cosigned a checkpoint.
    pub(crate) fn witness_cosigned(&self) {
        self.witness_cosigned.inc();
    }

    /// The witness did not cosign a checkpoint.
    pub(crate) fn witness_refused(&self, reason: WitnessRefused) {
        self.witness_refused
            .get_or_create(&[("reason", reason.name())])
            .inc();
    }

    /// A checkpoint contradicted the one the witness held.
    pub(crate) fn witness_conflict(&self, reason: ConflictReason) {
        self.witness_conflicts
            .get_or_create(&[("reason", reason.name())])
            .inc();
    }

    /// A request to `endpoint` was answered after `seconds`.
    pub(crate) fn request_done(&self, endpoint: Endpoint, seconds: f64) {
        self.request_duration
            .get_or_create(&[("endpoint", endpoint.name())])
            .observe(seconds);
    }

    /// The text of a scrape, with the store's `totals` and the connections open.
    pub(crate) fn text(
        &self,
        totals: Totals,
        (unauthenticated, authenticated): (usize, usize),
    ) -> String {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let stations = [
            ("admitted", totals.stations_admitted),
            ("revoked", totals.stations_revoked),
        ];
        for (state, count) in stations {
            self.stations
                .get_or_create(&[("state", state)])
                .set(gauge(count));
        }
        self.mailboxes.set(gauge(totals.mailboxes));
        self.held_frames.set(gauge(totals.items));
        self.held_bytes.set(gauge(totals.bytes));
        let connections = [
            ("authenticated", authenticated),
            ("unauthenticated", unauthenticated),
        ];
        for (state, count) in connections {
            self.connections
                .get_or_create(&[("state", state)])
                .set(gauge(count as u64));
        }
        encode_registry(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use parley_metrics::text::{Kind, parse};

    use super::*;

    #[test]
    fn requests_are_labelled_by_endpoint() {
        let check = |method: Method, path: &str, expect: Endpoint| {
            assert_eq!(Endpoint::of(&method, path), expect, "{method} {path}");
        };
        check(Method::GET, PATH_HEALTH, Endpoint::Health);
        check(Method::GET, PATH_PING, Endpoint::Ping);
        check(Method::GET, PATH_MAILBOX, Endpoint::Fetch);
        check(Method::POST, PATH_MAILBOX_DELETE, Endpoint::Delete);
        check(
            Method::POST,
            &format!("{PATH_MAILBOXES}/abc"),
            Endpoint::Deposit,
        );
        check(Method::POST, PATH_MAILBOXES, Endpoint::Other);
        check(
            Method::POST,
            &format!("{PATH_MAILBOXES}x/abc"),
            Endpoint::Other,
        );
        check(
            Method::GET,
            &format!("{PATH_MAILBOXES}/abc"),
            Endpoint::Other,
        );
        check(Method::POST, PATH_PING, Endpoint::Other);
        check(Method::GET, "/", Endpoint::Other);
        check(
            Method::POST,
            PATH_WITNESS_ADD_CHECKPOINT,
            Endpoint::WitnessAddCheckpoint,
        );
        check(Method::GET, PATH_WITNESS_ADD_CHECKPOINT, Endpoint::Other);
        let monitoring = parley_relay_wire::witness::checkpoint_path("example.com/log");
        check(Method::GET, &monitoring, Endpoint::WitnessCheckpoint);
        check(Method::POST, &monitoring, Endpoint::Other);
        check(Method::GET, "/witness//checkpoint", Endpoint::Other);
        check(Method::GET, "/witness/a/b/checkpoint", Endpoint::Other);
    }

    #[test]
    fn the_exposition_is_valid_text_with_conventional_names() {
        let metrics = RelayMetrics::new();
        metrics.deposit_stored(3, 1);
        metrics.deposit_refused(DepositRefused::of_refusal(&Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "frame 0 refused",
        )));
        metrics.deposit_refused(DepositRefused::of_store(&DepositRefusal::MailboxFull));
        metrics.request_done(Endpoint::Deposit, 0.003);
        metrics.witness_cosigned();
        metrics.witness_refused(WitnessRefused::of_refusal(&Refusal::new(
            StatusCode::CONFLICT,
            "stale",
        )));
        metrics.witness_conflict(ConflictReason::InconsistentProof);
        let totals = Totals {
            stations_admitted: 2,
            stations_revoked: 1,
            mailboxes: 1,
            items: 3,
            bytes: 700,
        };
        let text = metrics.text(totals, (4, 1));
        let parsed = parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
        for family in &parsed.families {
            assert!(family.name.starts_with("parley_relay_"), "{}", family.name);
            assert_eq!(
                family.kind == Kind::Counter,
                family.name.ends_with("_total"),
                "{}",
                family.name
            );
        }
        let value = |name: &str, labels: &[(&str, &str)]| parsed.value(name, labels);
        assert_eq!(value("parley_relay_deposits_stored_total", &[]), Some(1.0));
        assert_eq!(value("parley_relay_frames_stored_total", &[]), Some(3.0));
        assert_eq!(value("parley_relay_frames_duplicate_total", &[]), Some(1.0));
        let refused = "parley_relay_deposits_refused_total";
        assert_eq!(value(refused, &[("reason", "frames_refused")]), Some(1.0));
        assert_eq!(value(refused, &[("reason", "mailbox_full")]), Some(1.0));
        assert_eq!(
            value(refused, &[("reason", "busy")]),
            Some(0.0),
            "every reason, from 0"
        );
        let duration = "parley_relay_request_duration_seconds_count";
        assert_eq!(value(duration, &[("endpoint", "deposit")]), Some(1.0));
        assert_eq!(value(duration, &[("endpoint", "fetch")]), Some(0.0));
        assert_eq!(
            value("parley_relay_stations", &[("state", "revoked")]),
            Some(1.0)
        );
        assert_eq!(value("parley_relay_held_bytes", &[]), Some(700.0));
        assert_eq!(value("parley_relay_held_frames", &[]), Some(3.0));
        assert_eq!(value("parley_relay_mailboxes", &[]), Some(1.0));
        let connections = [("state", "unauthenticated")];
        assert_eq!(value("parley_relay_connections", &connections), Some(4.0));
        assert_eq!(value("parley_relay_witness_cosigned_total", &[]), Some(1.0));
        let refused = "parley_relay_witness_refused_total";
        assert_eq!(value(refused, &[("reason", "stale_old_size")]), Some(1.0));
        assert_eq!(value(refused, &[("reason", "conflict")]), Some(0.0));
        let conflicts = "parley_relay_witness_conflicts_total";
        assert_eq!(
            value(conflicts, &[("reason", "inconsistent_proof")]),
            Some(1.0)
        );
        assert_eq!(
            value(conflicts, &[("reason", "same_size_different_root")]),
            Some(0.0)
        );
    }
}
