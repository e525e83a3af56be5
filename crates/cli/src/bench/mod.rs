//! `parley bench`: two stations in this process with real SQLite stores, on loopback, over the
//! chosen channels (direct QUIC, through UDP forwarders only when it is to be cut; a real relay
//! process; a shared drop folder), measuring durable end-to-end latency (send → stored at the
//! peer → verified receipt stored back) one message at a time, then sustained throughput with
//! many in flight; then, in the same run, the floor under the latency figure (`floor.rs`) and
//! the ratio of the measured p50 to it.

mod floor;
pub mod idle;
pub mod relay;
mod setup;
mod usage;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use parley_proto::Precedence;
use parley_station::Daemon;
use parley_station::api::{Event, Reply, Request};
use parley_station::core::Command;
use serde::Serialize;
use tokio::sync::broadcast;

use floor::Floor;
use setup::{await_channels, set_up};
use usage::{Breakdown, Sample};

/// Longest the benchmark waits for one message's receipt, in seconds.
const BENCH_RECEIPT_TIMEOUT_S: u64 = 60;

/// A channel the benchmark can give the link.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelChoice {
    /// QUIC between the stations.
    Direct,
    /// Through a relay process.
    Relay,
    /// Through a shared drop folder.
    Courier,
}

impl ChannelChoice {
    pub(super) fn name(self) -> &'static str {
        match self {
            ChannelChoice::Direct => "direct",
            ChannelChoice::Relay => "relay",
            ChannelChoice::Courier => "courier",
        }
    }
}

/// A channel the benchmark can cut.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlackholeChoice {
    /// The direct path: every datagram dropped, both ways.
    Direct,
    /// The relay: connections stay open, every byte dropped, both ways.
    Relay,
}

/// What to measure.
pub struct Options {
    /// Messages for the throughput run.
    pub messages: u64,
    /// Text size in bytes.
    pub size: usize,
    /// Messages for the latency run.
    pub latency_messages: u64,
    /// Channels of the link.
    pub channels: Vec<ChannelChoice>,
    /// Cut the direct path once everything is up.
    pub blackhole_direct: bool,
    /// Cut the relay once everything is up.
    pub blackhole_relay: bool,
    /// JSON output.
    pub json: bool,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    let Options {
        messages,
        size,
        latency_messages,
        json: json_out,
        ..
    } = *options;
    if options.channels.is_empty() {
        bail!("--channels needs at least one of direct, relay, courier");
    }
    let only = |channel| options.channels.iter().all(|c| *c == channel);
    if options.blackhole_direct && only(ChannelChoice::Direct) {
        bail!("--blackhole direct needs another channel to measure (e.g. --channels direct,relay)");
    }
    if options.blackhole_relay && !options.channels.contains(&ChannelChoice::Relay) {
        bail!("--blackhole relay needs the relay among the channels (--channels direct,relay)");
    }
    if options.blackhole_relay && only(ChannelChoice::Relay) {
        bail!("--blackhole relay needs another channel to measure (--channels direct,relay)");
    }
    if options.blackhole_relay && options.blackhole_direct {
        bail!("--blackhole relay and direct together leave nothing to measure but the courier");
    }
    if size == 0 || size > parley_proto::limits::TEXT_SIZE_MAX_BYTES {
        bail!(
            "--size must be 1 to {} bytes",
            parley_proto::limits::TEXT_SIZE_MAX_BYTES
        );
    }
    let root = tempfile::tempdir()?;
    let setup = set_up(
        root.path(),
        &options.channels,
        (options.blackhole_direct, options.blackhole_relay),
    )?;
    let alpha = Daemon::start(&setup.alpha)?;
    let mut events = alpha.subscribe();
    let bravo = Daemon::start(&setup.bravo)?;
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let mut wait_receipted = |seq: u64| receipted(&waiter, &alpha, &mut events, seq);
    let mut expected: Vec<(&str, &str)> =
        options.channels.iter().map(|c| (c.name(), "up")).collect();
    if !options.channels.contains(&ChannelChoice::Direct) {
        expected.push(("direct", "down"));
    }
    await_channels(&alpha, &bravo, &expected)?;
    if options.blackhole_direct {
        for proxy in setup.proxies.iter().flatten() {
            proxy.set_blackhole(true);
        }
        let mut cut = expected.clone();
        cut.retain(|(kind, _)| *kind != "direct");
        cut.push(("direct", "down"));
        await_channels(&alpha, &bravo, &cut)?;
    }
    if let Some(proxy) = &setup.relay_proxy {
        // Measured at once: the stations go on believing the relay up until its heartbeats
        // go unanswered, and every envelope is still handed to it meanwhile.
        proxy.set_blackhole(true);
    }
    // The pairing's key announcements must be receipted before measuring.
    wait_receipted(1)?;
    let text = "x".repeat(size);
    let mut seq = 1;
    let mut latencies_us = Vec::with_capacity(latency_messages as usize);
    for _ in 0..latency_messages {
        let started = Instant::now();
        seq = send(&alpha, &text)?;
        wait_receipted(seq)?;
        latencies_us.push(started.elapsed().as_micros() as u64);
    }
    latencies_us.sort_unstable();

    let usage_before = Sample::take([&alpha, &bravo])?;
    let started = Instant::now();
    let answers: Vec<_> = (0..messages)
        .map(|_| {
            alpha.submit(Command::Send {
                peer: "Bravo".into(),
                precedence: Precedence::Routine,
                text: text.clone(),
                exercise: false,
                translations: Default::default(),
                operator: None,
            })
        })
        .collect();
    for answer in answers {
        answer.blocking_recv().context("the driver stopped")??;
    }
    wait_receipted(seq + messages)?;
    let elapsed = started.elapsed();
    let usage_after = Sample::take([&alpha, &bravo])?;
    alpha.shutdown()?;
    bravo.shutdown()?;
    let floor = Floor::measure(root.path(), size)?;
    let cpu = Breakdown::between(&usage_before, &usage_after, messages, &floor);

    let spread = percentile_spread(&latencies_us);
    let p50_us = spread.p50_us;
    let report = Report {
        channels: options.channels.iter().map(|c| c.name()).collect(),
        direct_blackholed: options.blackhole_direct,
        relay_blackholed: options.blackhole_relay,
        size_bytes: size,
        latency: Latency {
            messages: latency_messages,
            p50_us,
            p99_us: spread.p99_us,
            max_us: spread.max_us,
            p50_over_floor: p50_us as f64 / floor.us(),
        },
        throughput: Throughput {
            messages,
            seconds: elapsed.as_secs_f64(),
            messages_per_second: messages as f64 / elapsed.as_secs_f64(),
            cpu,
        },
        floor,
    };
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(())
}

/// `bench --json`.
#[derive(Serialize)]
struct Report {
    channels: Vec<&'static str>,
    direct_blackholed: bool,
    relay_blackholed: bool,
    size_bytes: usize,
    latency: Latency,
    throughput: Throughput,
    floor: Floor,
}

/// The median, 99th percentile and largest of some latencies, in microseconds.
#[derive(Serialize)]
pub(super) struct Spread {
    pub(super) p50_us: u64,
    pub(super) p99_us: u64,
    pub(super) max_us: u64,
}

/// The spread of `sorted` (ascending); zeros when it is empty.
pub(super) fn percentile_spread(sorted: &[u64]) -> Spread {
    let at = |p: f64| {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Spread {
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: sorted.last().copied().unwrap_or(0),
    }
}

#[derive(Serialize)]
struct Latency {
    messages: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    /// `p50_us` ÷ the floor measured in the same run.
    p50_over_floor: f64,
}

#[derive(Serialize)]
struct Throughput {
    messages: u64,
    seconds: f64,
    messages_per_second: f64,
    /// Where the CPU went, per message.
    cpu: Breakdown,
}

impl Report {
    fn print(&self) {
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "channels: {}{}",
            self.channels.join(","),
            match (self.direct_blackholed, self.relay_blackholed) {
                (true, _) => " (direct path blackholed)",
                (_, true) => " (relay blackholed)",
                _ => "",
            }
        );
        println!(
            "durable end-to-end latency, {}-byte messages, one at a time ({} messages):",
            self.size_bytes, self.latency.messages
        );
        println!(
            "  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            ms(self.latency.p50_us),
            ms(self.latency.p99_us),
            ms(self.latency.max_us)
        );
        println!(
            "sustained throughput, {} messages in flight:",
            self.throughput.messages
        );
        println!(
            "  {:.0} messages/s ({:.2} s)",
            self.throughput.messages_per_second, self.throughput.seconds
        );
        self.throughput.cpu.print();
        self.floor.print(self.latency.p50_us);
    }
}

fn send(daemon: &Daemon, text: &str) -> anyhow::Result<u64> {
    let request = Request::Send {
        peer: "Bravo".into(),
        precedence: Precedence::Flash,
        text: text.into(),
        exercise: false,
        translations: Default::default(),
        operator: None,
    };
    match daemon.request(request)? {
        Reply::Sent(sent) => Ok(sent.seq),
        other => bail!("send answered {other:?}"),
    }
}

/// Waits until the peer has receipted `seq`, by the events; by the status too for the first
/// message (its receipt may precede the subscription) and when events were missed.
fn receipted(
    waiter: &tokio::runtime::Runtime,
    daemon: &Daemon,
    events: &mut broadcast::Receiver<Event>,
    seq: u64,
) -> anyhow::Result<()> {
    let done = |daemon: &Daemon| -> anyhow::Result<bool> {
        let report = setup::status(daemon)?;
        Ok(report
            .peers
            .first()
            .is_some_and(|p| p.peer_receipt_upto >= seq))
    };
    if seq <= 1 && done(daemon)? {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(BENCH_RECEIPT_TIMEOUT_S);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = waiter.block_on(async { tokio::time::timeout(left, events.recv()).await });
        match next {
            Ok(Ok(Event::Receipted { upto, .. })) if upto >= seq => return Ok(()),
            Ok(Ok(_)) => {}
            // Missed events: the state is what counts.
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                if done(daemon)? {
                    return Ok(());
                }
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => bail!("the daemon stopped"),
            Err(_) => bail!("no receipt for seq {seq} within {BENCH_RECEIPT_TIMEOUT_S} s"),
        }
    }
}
