//! `parley bench relay`: a real relay process (`parley relay serve`, its production settings
//! but the per-station request rate) and N admitted stations, each with the client stations
//! use (`parley_channels::relay::RelayClient`: TLS pinned to the relay, every request
//! signed). Every station long-polls its own mailbox, each poll acknowledging (deleting) what
//! the last one fetched, and deposits signed envelopes of `--size` bytes of ciphertext to
//! stations drawn at random, paced so that all together offer `--rate` frames a second. First an idle window (every station polling,
//! nothing deposited), then the measured window; then the deposits stop and every frame
//! deposited must reach its recipient.
//!
//! Reported: durable deposits a second (a deposit is answered only after the relay's
//! transaction committed with `synchronous=FULL`), deposit latency (request to answer) and
//! delivery latency (deposit sent to frame fetched by its recipient), p50/p99/max; the relay's
//! CPU and memory while idle and under load, its memory per connected station; and this
//! process's own CPU, since the stations' clients share the machine with the relay.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parley_channels::relay::{RelayClient, RelayError};
use parley_proto::card::ContactCard;
use parley_proto::envelope::Envelope;
use parley_proto::frame::{Frame, TAG_ENVELOPE};
use parley_proto::seal::{ENCAPSULATED_KEY_BYTES, EpochSecret, Sealed};
use parley_proto::{EntryId, EpochKeyId, Identity, LinkId, StationId};
use parley_testkit::harness::RelayProcess;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng as _};
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::idle::{cpu_ticks, memory_kib};
use super::{Spread, percentile_spread};

/// Fewest stations: one depositing to another.
pub const RELAY_STATIONS_MIN: u64 = 2;
/// Most stations: each holds two connections or more, and the relay serves 4,096 at once
/// (`parley_relay::limits::CONNECTIONS_MAX`).
pub const RELAY_STATIONS_MAX: u64 = 2_000;
/// Shortest measured window, in seconds.
pub const RELAY_SECONDS_MIN: u64 = 1;
/// Longest measured window, in seconds.
pub const RELAY_SECONDS_MAX: u64 = 3_600;
/// Smallest offered rate, frames a second (all stations together).
pub const RELAY_RATE_MIN: u64 = 1;
/// Largest offered rate, frames a second.
pub const RELAY_RATE_MAX: u64 = 1_000_000;
/// Smallest ciphertext per frame, in bytes.
pub const RELAY_SIZE_MIN: u64 = 1;
/// Largest ciphertext per frame, in bytes (a frame must stay within the envelope's bound).
pub const RELAY_SIZE_MAX: u64 = 16_384;

/// The objective's number of stations.
const OBJECTIVE_STATIONS: u64 = 1_000;
/// The objective: durable frames a second with 1,000 stations.
const OBJECTIVE_FRAMES_PER_SECOND: f64 = 20_000.0;
/// The objective: p99 deposit latency, in microseconds.
const OBJECTIVE_DEPOSIT_P99_US: u64 = 10_000;
/// Stations connecting at once while warming up (each a TLS handshake with the relay).
const WARM_UP_CONCURRENCY: usize = 64;
/// Longest the warm-up may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long every station polls with nothing deposited before the measured window.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Longest a long poll waits (the relay may cap it lower).
const FETCH_WAIT: Duration = Duration::from_secs(25);
/// Longest the deposited frames may take to reach their recipients once deposits stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What to measure.
pub struct Options {
    /// Admitted stations, all depositing and polling.
    pub stations: u64,
    /// The measured window, seconds.
    pub seconds: u64,
    /// Frames offered a second, all stations together.
    pub rate: u64,
    /// Ciphertext bytes per frame.
    pub size: u64,
    /// JSON output.
    pub json: bool,
}

/// The report `--json` prints.
#[derive(Serialize)]
struct Report {
    stations: u64,
    /// The measured window, seconds.
    seconds: f64,
    /// Frames offered a second, all stations together.
    offered_per_second: u64,
    /// Bytes of each frame as deposited.
    frame_bytes: usize,
    /// Deposits answered with success, one frame each: 200, stored durably; or 202, while the
    /// recipient has not addressed the depositor through the relay, which answers so whatever
    /// happened (a frame refused behind a 202 shows in `undelivered`).
    deposits: u64,
    /// Of them, a second.
    deposits_per_second: f64,
    /// Deposits the relay refused, by HTTP status.
    refused: HashMap<u16, u64>,
    /// Deposits that failed in transport (no answer, or the connection failed).
    failed: u64,
    /// The first deposit refused or failed, as the client reported it.
    first_error: Option<String>,
    /// Deposits sent later than their schedule because the station's previous one was still
    /// unanswered (the offered rate was not reached).
    late: u64,
    /// Request to answer, microseconds.
    deposit_latency: Spread,
    /// Deposit sent to frame fetched by its recipient, microseconds.
    delivery_latency: Spread,
    /// Frames answered as stored that their recipients had not fetched once the drain ended.
    undelivered: u64,
    /// Fetches that failed (each station retries).
    poll_failures: u64,
    relay: RelayCost,
    /// This process's CPU over the window (the stations' clients: signing, TLS, HTTP), as a
    /// share of one core, percent.
    clients_cpu_percent: f64,
    /// Whether the objective (≥ 20,000 frames/s with 1,000 stations, p99 deposit ≤ 10 ms) was
    /// met; `None` when the run was not of 1,000 stations offering at least that rate.
    objective_met: Option<bool>,
}

/// What the relay process cost.
#[derive(Serialize)]
struct RelayCost {
    /// Share of one core over the idle window, every station long-polling, percent.
    idle_cpu_percent: f64,
    /// Share of one core over the measured window, percent.
    cpu_percent: f64,
    /// Resident memory once started, before any station connected, MiB.
    rss_started_mib: f64,
    /// Resident memory with every station connected and polling, MiB.
    rss_idle_mib: f64,
    /// Resident memory at the end of the measured window, MiB.
    rss_mib: f64,
    /// Peak resident memory, MiB.
    peak_rss_mib: f64,
    /// What each connected station added to the relay's resident memory, KiB.
    rss_kib_per_station: f64,
}

/// One station of the benchmark: its identity and its client.
struct Station {
    identity: Identity,
    client: RelayClient,
}

/// What every station's tasks share: frames in flight by digest (when each was sent), and the
/// counts of the window.
#[derive(Default)]
struct Shared {
    in_flight: Mutex<HashMap<[u8; 32], Instant>>,
    /// Fetches that failed (each retried).
    poll_failures: AtomicU64,
}

/// What one station's depositing saw.
#[derive(Default)]
struct Deposits {
    latencies_us: Vec<u64>,
    refused: HashMap<u16, u64>,
    failed: u64,
    late: u64,
    /// The first refusal or failure, as the client reported it.
    first_error: Option<String>,
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    // The stations' clients hold two connections or more each, in this process.
    parley_relay::server::raise_open_files_limit();
    let root = tempfile::tempdir().context("creating a scratch directory")?;
    let exe = std::env::current_exe().context("finding the parley executable")?;
    let (mut relay, relay_id, identities) = set_up_relay(&exe, root.path(), options.stations)?;
    relay.start()?;
    let pid = relay.pid().context("the relay runs")?;
    let rss_started_kib = memory_kib(pid)?.0;
    let stations = identities
        .into_iter()
        .map(|identity| {
            let client = RelayClient::new(&relay.url(), relay_id, identity.clone())?;
            Ok(Station { identity, client })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the clients' runtime")?;
    let report = runtime.block_on(measure(options, stations, pid, rss_started_kib))?;
    drop(runtime);
    drop(relay);
    print(&report, options.json)
}

/// A relay in `root`, initialised, with `stations` new stations admitted (not yet serving).
/// Returns it with its identity and the stations' identities.
fn set_up_relay(
    exe: &Path,
    root: &Path,
    stations: u64,
) -> anyhow::Result<(RelayProcess, StationId, Vec<Identity>)> {
    let relay = RelayProcess::init(exe, root, "Relay")?;
    // The benchmark measures the relay's store and its server, not its per-station rate
    // limit (a station here makes about two requests a frame: a deposit, and a fetch that
    // acknowledges the frame the last one fetched).
    relay.configure(|config| {
        config.limits.request_rate_per_second_max = 100_000;
        config.limits.request_burst_max = 100_000;
    })?;
    let home = parley_relay::RelayHome::new(&relay.home);
    let relay_id = home.identity()?.id();
    let mut rng = ChaCha20Rng::from_seed(os_seed());
    let now_ms = parley_station::clock::utc_now_ms();
    let mut identities = Vec::with_capacity(stations as usize);
    for n in 0..stations {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let identity = Identity::from_secret(&seed);
        let epoch = EpochSecret::generate(&mut rng);
        let card = ContactCard {
            name: format!("Station {n}"),
            identity: identity.id(),
            epoch_key_id: epoch.id(),
            epoch_public: epoch.public_bytes().to_vec(),
            addresses: Vec::new(),
            lang: "en".into(),
            created_ms: now_ms,
            pq_key: Some(identity.pq().public().clone()),
        };
        let text = card.to_text(&card.sign(&identity));
        home.admit(&text, &identity.fingerprint().to_string(), now_ms)
            .with_context(|| format!("admitting station {n}"))?;
        identities.push(identity);
    }
    Ok((relay, relay_id, identities))
}

/// 32 bytes from the operating system's random source.
fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system's random source is available");
    seed
}

async fn measure(
    options: &Options,
    stations: Vec<Station>,
    pid: u32,
    rss_started_kib: u64,
) -> anyhow::Result<Report> {
    let stations: Arc<Vec<Station>> = Arc::new(stations);
    warm_up(&stations).await?;
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut fetchers = JoinSet::new();
    for index in 0..stations.len() {
        let (stations, shared, stop) = (stations.clone(), shared.clone(), stop_rx.clone());
        fetchers.spawn(fetch_loop(stations, index, shared, stop));
    }

    let ticks_per_s = rustix::param::clock_ticks_per_second().max(1) as f64;
    let share =
        |ticks: u64, elapsed: Duration| ticks as f64 / ticks_per_s / elapsed.as_secs_f64() * 100.0;
    let idle_before = cpu_ticks(pid)?;
    let idle_started = Instant::now();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_cpu_percent = share(
        cpu_ticks(pid)?.saturating_sub(idle_before),
        idle_started.elapsed(),
    );
    let rss_idle_kib = memory_kib(pid)?.0;

    let me = std::process::id();
    let (relay_before, me_before) = (cpu_ticks(pid)?, cpu_ticks(me)?);
    let started = Instant::now();
    let end = started + Duration::from_secs(options.seconds);
    let interval = Duration::from_secs_f64(stations.len() as f64 / options.rate as f64);
    let mut depositors = JoinSet::new();
    for index in 0..stations.len() {
        let (stations, shared) = (stations.clone(), shared.clone());
        let size = options.size as usize;
        depositors.spawn(async move {
            deposit_loop(&stations, index, &shared, size, interval, end).await
        });
    }
    let mut deposits = Deposits::default();
    while let Some(joined) = depositors.join_next().await {
        let one = joined.context("a station's deposits")?;
        deposits.latencies_us.extend(one.latencies_us);
        for (status, count) in one.refused {
            *deposits.refused.entry(status).or_default() += count;
        }
        deposits.failed += one.failed;
        deposits.late += one.late;
        deposits.first_error = deposits.first_error.or(one.first_error);
    }
    let elapsed = started.elapsed();
    let relay_ticks = cpu_ticks(pid)?.saturating_sub(relay_before);
    let me_ticks = cpu_ticks(me)?.saturating_sub(me_before);
    let (rss_kib, peak_kib) = memory_kib(pid)?;

    // Every deposit has ended: what is still in flight was answered as taken and not yet
    // fetched (a deposit that failed took its frame out, unless its recipient had it first).
    let in_flight = || {
        shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len() as u64
    };
    let drained = Instant::now();
    while in_flight() > 0 && drained.elapsed() < DRAIN_TIMEOUT {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send_replace(true);
    let mut delivery_us = Vec::new();
    while let Some(joined) = fetchers.join_next().await {
        delivery_us.extend(joined.context("a station's fetches")??);
    }
    let undelivered = in_flight();

    deposits.latencies_us.sort_unstable();
    delivery_us.sort_unstable();
    let ok = deposits.latencies_us.len() as u64;
    let per_second = ok as f64 / elapsed.as_secs_f64();
    let deposit_latency = percentile_spread(&deposits.latencies_us);
    let stations_n = stations.len() as u64;
    let objective_met = (stations_n == OBJECTIVE_STATIONS
        && options.rate as f64 >= OBJECTIVE_FRAMES_PER_SECOND)
        .then_some(
            per_second >= OBJECTIVE_FRAMES_PER_SECOND
                && deposit_latency.p99_us <= OBJECTIVE_DEPOSIT_P99_US,
        );
    Ok(Report {
        stations: stations_n,
        seconds: elapsed.as_secs_f64(),
        offered_per_second: options.rate,
        frame_bytes: envelope(
            &stations[0].identity,
            stations[1].identity.id(),
            1,
            &vec![0; options.size as usize],
        )
        .len(),
        deposits: ok,
        deposits_per_second: per_second,
        refused: deposits.refused,
        failed: deposits.failed,
        late: deposits.late,
        first_error: deposits.first_error,
        deposit_latency,
        delivery_latency: percentile_spread(&delivery_us),
        undelivered,
        poll_failures: shared.poll_failures.load(Ordering::Relaxed),
        relay: RelayCost {
            idle_cpu_percent,
            cpu_percent: share(relay_ticks, elapsed),
            rss_started_mib: rss_started_kib as f64 / 1024.0,
            rss_idle_mib: rss_idle_kib as f64 / 1024.0,
            rss_mib: rss_kib as f64 / 1024.0,
            peak_rss_mib: peak_kib as f64 / 1024.0,
            rss_kib_per_station: rss_idle_kib.saturating_sub(rss_started_kib) as f64
                / stations_n as f64,
        },
        clients_cpu_percent: share(me_ticks, elapsed),
        objective_met,
    })
}

/// Every station pings the relay once, a few at a time, so the measured window starts with
/// every station connected and admitted.
async fn warm_up(stations: &Arc<Vec<Station>>) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(WARM_UP_CONCURRENCY));
    let mut pings = JoinSet::new();
    for index in 0..stations.len() {
        let (stations, permits) = (stations.clone(), permits.clone());
        pings.spawn(async move {
            let _permit = permits.acquire_owned().await;
            stations[index].client.ping().await.map(|_| ())
        });
    }
    let all = async {
        while let Some(joined) = pings.join_next().await {
            joined
                .context("a station's ping")?
                .context("a station's ping")?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(WARM_UP_TIMEOUT, all)
        .await
        .context("the stations did not all reach the relay in time")?
}

/// One station's mailbox: long polls, each fetched frame matched to when it was sent, then
/// acknowledged by the next poll; until told to stop. Returns the delivery latencies.
async fn fetch_loop(
    stations: Arc<Vec<Station>>,
    index: usize,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Vec<u64>> {
    let client = &stations[index].client;
    let mut latencies_us = Vec::new();
    // What the next fetch acknowledges, as a station's relay channel does.
    let mut ack = 0;
    loop {
        let items = tokio::select! {
            items = client.fetch_acknowledging(FETCH_WAIT, ack) => items,
            _ = stop.wait_for(|stop| *stop) => return Ok(latencies_us),
        };
        let items = match items {
            Ok(items) => {
                ack = 0;
                items
            }
            Err(_) => {
                shared.poll_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(last) = items.last().map(|item| item.id) else {
            continue;
        };
        let fetched_at = Instant::now();
        {
            let mut in_flight = shared
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for item in &items {
                if let Some(sent) = in_flight.remove(&parley_proto::id::sha256(&[&item.frame])) {
                    latencies_us.push(fetched_at.duration_since(sent).as_micros() as u64);
                }
            }
        }
        ack = last;
    }
}

/// One station's deposits until `end`: every `interval` (from a random phase) a signed
/// envelope of `size` bytes of ciphertext to a station drawn at random.
async fn deposit_loop(
    stations: &[Station],
    index: usize,
    shared: &Shared,
    size: usize,
    interval: Duration,
    end: Instant,
) -> Deposits {
    let me = &stations[index];
    let mut rng = ChaCha20Rng::from_seed(os_seed());
    let mut out = Deposits::default();
    let phase = interval.mul_f64(f64::from(rng.next_u32()) / f64::from(u32::MAX));
    let mut next = Instant::now() + phase;
    let mut seq = 0u64;
    let ciphertext: Vec<u8> = (0..size).map(|_| rng.next_u32() as u8).collect();
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        let mut to = rng.next_u32() as usize % (stations.len() - 1);
        if to >= index {
            to += 1;
        }
        let to = stations[to].identity.id();
        seq += 1;
        let frame: Arc<[u8]> = envelope(&me.identity, to, seq, &ciphertext).into();
        let digest = parley_proto::id::sha256(&[&frame]);
        let sent = Instant::now();
        shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(digest, sent);
        match me.client.deposit(&to, &[frame]).await {
            Ok(()) => out.latencies_us.push(sent.elapsed().as_micros() as u64),
            Err(error) => {
                shared
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&digest);
                out.first_error.get_or_insert_with(|| error.to_string());
                match error {
                    RelayError::Refused { status, .. } => {
                        *out.refused.entry(status).or_default() += 1;
                    }
                    _ => out.failed += 1,
                }
            }
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            out.late += 1;
            next = now;
        }
    }
    out
}

/// A signed envelope from `author` to `to` around `ciphertext`, as a frame. The relay checks
/// its signature and its parties, never its contents.
fn envelope(author: &Identity, to: StationId, seq: u64, ciphertext: &[u8]) -> Vec<u8> {
    let link = LinkId::between(&author.id(), &to);
    let entry_id = EntryId(parley_proto::id::sha256(&[&seq.to_be_bytes(), ciphertext]));
    let sealed = Sealed {
        key_id: EpochKeyId([0; 8]),
        encapsulated: vec![0; ENCAPSULATED_KEY_BYTES],
        ciphertext: ciphertext.to_vec(),
    };
    Frame::encode(
        TAG_ENVELOPE,
        &Envelope::sign(author, link, to, seq, entry_id, sealed),
    )
}

fn print(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "relay with {} stations, {:.1} s offered {} frames/s of {} bytes",
        report.stations, report.seconds, report.offered_per_second, report.frame_bytes
    );
    println!(
        "  stored durably     {} deposits, {:.0}/s ({} refused, {} failed, {} sent late)",
        report.deposits,
        report.deposits_per_second,
        report.refused.values().sum::<u64>(),
        report.failed,
        report.late
    );
    for (label, spread) in [
        ("deposit latency", &report.deposit_latency),
        ("delivery latency", &report.delivery_latency),
    ] {
        println!(
            "  {label:<18} p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            ms(spread.p50_us),
            ms(spread.p99_us),
            ms(spread.max_us)
        );
    }
    println!(
        "  undelivered        {} ({} fetches failed)",
        report.undelivered, report.poll_failures
    );
    if let Some(error) = &report.first_error {
        println!("  first error        {}", crate::render::text(error));
    }
    let relay = &report.relay;
    println!(
        "  relay              {:.1} % of a core under load, {:.2} % idle with every station polling",
        relay.cpu_percent, relay.idle_cpu_percent
    );
    println!(
        "  relay memory       {:.1} MiB started, {:.1} MiB idle with every station connected ({:.1} KiB each), {:.1} MiB under load (peak {:.1})",
        relay.rss_started_mib,
        relay.rss_idle_mib,
        relay.rss_kib_per_station,
        relay.rss_mib,
        relay.peak_rss_mib
    );
    println!(
        "  stations' clients  {:.1} % of a core (this process)",
        report.clients_cpu_percent
    );
    match report.objective_met {
        Some(true) => println!("objective (≥ 20,000 frames/s, p99 deposit ≤ 10 ms): met"),
        Some(false) => println!("objective (≥ 20,000 frames/s, p99 deposit ≤ 10 ms): not met"),
        None => println!("objective: judged only for 1,000 stations offering ≥ 20,000 frames/s"),
    }
    Ok(())
}
