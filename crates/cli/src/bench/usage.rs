//! Where the CPU of the throughput run goes, per message: the process's CPU time split into
//! storage (the drivers' commits and the stores' checkpoint threads, measured by the daemons), network (the I/O threads, QUIC and
//! its TLS included, measured per thread), crypto (the operations the stations counted, each at
//! the cost the floor measured: an estimate) and the rest (encoding, bookkeeping, the core).

use anyhow::Context as _;
use parley_station::Daemon;
use serde::Serialize;

use super::floor::Floor;
use super::setup::status;

/// The name of the daemons' I/O threads (`Daemon::start`).
const IO_THREAD_NAME: &str = "parley-io";

/// What the process and both stations had done at one moment.
pub(super) struct Sample {
    process_us: u64,
    io_threads_us: u64,
    commit_us: u64,
    ops: Ops,
}

/// Crypto operations the stations did, from their counters.
#[derive(Default)]
struct Ops {
    /// Entries and their envelopes written (each signed twice and sealed once).
    entries: u64,
    /// Receipts sent (each signed).
    receipts_sent: u64,
    /// Envelopes received (each signature checked).
    envelopes_received: u64,
    /// Envelopes accepted (each opened and its entry verified).
    envelopes_accepted: u64,
    /// Receipts received (each verified).
    receipts_received: u64,
    /// Envelope signatures checked in batches, not alone.
    envelopes_batched: u64,
    /// Entry signatures checked in batches, not alone.
    entries_batched: u64,
}

impl Sample {
    pub(super) fn take(daemons: [&Daemon; 2]) -> anyhow::Result<Self> {
        let mut sample = Sample {
            process_us: process_cpu_us(),
            io_threads_us: threads_cpu_us(IO_THREAD_NAME)?,
            commit_us: 0,
            ops: Ops::default(),
        };
        for daemon in daemons {
            let report = status(daemon)?;
            let queues = report.queues.as_ref();
            sample.commit_us += queues.map_or(0, |q| q.commit_cpu_us + q.store_checkpoint_cpu_us);
            sample.ops.envelopes_batched += queues.map_or(0, |q| q.envelope_checks_batched);
            sample.ops.entries_batched += queues.map_or(0, |q| q.entry_checks_batched);
            for peer in &report.peers {
                let ops = &mut sample.ops;
                ops.entries += peer.out_seq;
                if let Some(counters) = &peer.counters {
                    ops.envelopes_accepted += counters.envelopes_accepted;
                }
                for channel in &peer.channels {
                    if let Some(counters) = channel.live.as_ref().map(|live| &live.counters) {
                        ops.receipts_sent += counters.receipts_sent;
                        ops.envelopes_received += counters.envelopes_received;
                        ops.receipts_received += counters.receipts_received;
                    }
                }
            }
        }
        Ok(sample)
    }
}

/// CPU per message of the throughput run, in microseconds.
#[derive(Serialize)]
pub(super) struct Breakdown {
    /// The whole process: both stations, their I/O, the benchmark's own driving.
    total_us: f64,
    /// The drivers' store commits (measured).
    storage_us: f64,
    /// The I/O threads: QUIC, TLS, sockets (measured).
    network_us: f64,
    /// Signatures, verifications, seals and opens: the counted operations at the floor's
    /// costs (estimated).
    crypto_us: f64,
    /// The rest: encoding, bookkeeping, the cores.
    other_us: f64,
    /// The share of the envelopes received whose signatures were checked in batches.
    envelopes_batched_share: f64,
    /// The share of the entries accepted whose signatures were checked in batches.
    entries_batched_share: f64,
}

impl Breakdown {
    pub(super) fn between(before: &Sample, after: &Sample, messages: u64, floor: &Floor) -> Self {
        let per = |delta: u64| delta as f64 / messages.max(1) as f64;
        let (a, b) = (&after.ops, &before.ops);
        let signs = 2 * (a.entries - b.entries) + (a.receipts_sent - b.receipts_sent);
        let received = a.envelopes_received - b.envelopes_received;
        let batched = (a.envelopes_batched - b.envelopes_batched).min(received);
        let accepted = a.envelopes_accepted - b.envelopes_accepted;
        let entries_batched = (a.entries_batched - b.entries_batched).min(accepted);
        let verifies = received + accepted + (a.receipts_received - b.receipts_received)
            - batched
            - entries_batched;
        let batched_share = |part: u64, of: u64| part as f64 / of.max(1) as f64;
        let crypto = signs as f64 * floor.op_us("sign")
            + verifies as f64 * floor.op_us("verify")
            + (batched + entries_batched) as f64
                * floor.op_us("Ed25519 batch verify per signature")
            + (a.entries - b.entries) as f64 * floor.op_us("seal")
            + accepted as f64 * floor.op_us("open");
        let total_us = per(after.process_us.saturating_sub(before.process_us));
        let storage_us = per(after.commit_us.saturating_sub(before.commit_us));
        let network_us = per(after.io_threads_us.saturating_sub(before.io_threads_us));
        let crypto_us = crypto / messages.max(1) as f64;
        Self {
            total_us,
            storage_us,
            network_us,
            crypto_us,
            other_us: (total_us - storage_us - network_us - crypto_us).max(0.0),
            envelopes_batched_share: batched_share(batched, received),
            entries_batched_share: batched_share(entries_batched, accepted),
        }
    }

    pub(super) fn print(&self) {
        println!(
            "  CPU per message: {:.0} µs = storage {:.0} + network {:.0} + crypto {:.0} (estimated) + other {:.0}; signatures checked in batches: envelopes {:.0} %, entries {:.0} %",
            self.total_us,
            self.storage_us,
            self.network_us,
            self.crypto_us,
            self.other_us,
            100.0 * self.envelopes_batched_share,
            100.0 * self.entries_batched_share
        );
    }
}

/// This process's CPU time (all its threads), in microseconds.
fn process_cpu_us() -> u64 {
    let spent = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    u64::try_from(spent.tv_sec).unwrap_or(0) * 1_000_000
        + u64::try_from(spent.tv_nsec).unwrap_or(0) / 1_000
}

/// CPU time (user and system) of this process's threads named `name`, in microseconds, from
/// `/proc/self/task` (clock-tick resolution).
fn threads_cpu_us(name: &str) -> anyhow::Result<u64> {
    let ticks_per_s = rustix::param::clock_ticks_per_second().max(1);
    let mut total_ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").context("reading /proc/self/task")? {
        let task = task?.path();
        // A thread may end between the listing and the reads.
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        if comm.trim_end() != name {
            continue;
        }
        // After the name in parentheses: state, then 10 fields, then utime and stime.
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.split(' ').collect())
            .unwrap_or_default();
        let tick = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
        total_ticks += tick(11).unwrap_or(0) + tick(12).unwrap_or(0);
    }
    Ok(total_ticks * 1_000_000 / ticks_per_s)
}
