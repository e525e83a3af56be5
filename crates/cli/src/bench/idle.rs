//! `parley bench idle`: what a hotline costs while nothing happens, which is almost always.
//! Two stations and a relay run as real processes with their production settings, the link
//! up on all three channels (direct QUIC, the relay, a shared drop folder); once every channel
//! is up and start-up work has settled, nothing is sent for the measured window, and each
//! process's CPU time and memory are read from `/proc`, with the loopback traffic of the
//! window (heartbeats, the relay's long polls).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use parley_testkit::harness::{RelayProcess, StationProcess, wait_until};
use serde::Serialize;

/// Longest the set-up waits for every channel to come up.
const CHANNELS_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// Time left, once every channel is up, for start-up work to settle before measuring.
const SETTLE: Duration = Duration::from_secs(5);
/// The idle station's objective: at most this share of one core, in percent.
const STATION_CPU_PERCENT_MAX: f64 = 0.5;
/// The idle station's objective: at most this resident memory, in MiB.
const STATION_RSS_MIB_MAX: f64 = 30.0;
/// The shortest window measured, in seconds.
pub const IDLE_SECONDS_MIN: u64 = 1;
/// The longest window measured, in seconds (a day).
pub const IDLE_SECONDS_MAX: u64 = 86_400;
/// The shortest window that gives a verdict on the objective: CPU time is counted in clock
/// ticks (10 ms), so over a shorter window one tick weighs more than the objective allows.
const VERDICT_SECONDS_MIN: f64 = 30.0;

/// What one process cost over the window.
#[derive(Serialize)]
struct Cost {
    /// Which process.
    process: &'static str,
    /// CPU time (user and system) over the window, as a share of one core, percent.
    cpu_percent: f64,
    /// Resident memory at the end of the window, MiB.
    rss_mib: f64,
    /// Peak resident memory since the process started, MiB.
    peak_rss_mib: f64,
}

/// The report `--json` prints.
#[derive(Serialize)]
struct Report {
    /// The window measured, seconds.
    seconds: f64,
    /// The channels of the link, every one up through the window.
    channels: [&'static str; 3],
    /// Each process's cost.
    processes: Vec<Cost>,
    /// Bytes through the loopback interface in the window, extrapolated to an hour: every
    /// channel's heartbeats and the relay's long polls, both ways, both stations (and any other
    /// process on this machine using loopback meanwhile).
    loopback_bytes_per_hour: f64,
    /// Whether both stations are within their objective (CPU, and peak memory); `None` for a
    /// window shorter than [`VERDICT_SECONDS_MIN`].
    stations_within_objective: Option<bool>,
}

/// Runs the idle measurement for `seconds`.
pub fn run(seconds: u64, json: bool) -> anyhow::Result<()> {
    if !(IDLE_SECONDS_MIN..=IDLE_SECONDS_MAX).contains(&seconds) {
        bail!("--seconds {seconds} is outside {IDLE_SECONDS_MIN}..={IDLE_SECONDS_MAX}");
    }
    let root = tempfile::tempdir().context("creating a temporary directory")?;
    let exe = std::env::current_exe().context("finding the parley executable")?;
    let (mut stations, relay) = set_up(&exe, root.path())?;
    let measured = measure(&stations, &relay, Duration::from_secs(seconds));
    for station in &mut stations {
        station.stop()?;
    }
    drop(relay);
    let report = measured?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "idle for {:.0} s, the link up on direct, relay and courier:",
        report.seconds
    );
    for cost in &report.processes {
        println!(
            "  {:<6} CPU {:.3} % of one core, RSS {:.1} MiB (peak {:.1} MiB)",
            cost.process, cost.cpu_percent, cost.rss_mib, cost.peak_rss_mib
        );
    }
    println!(
        "  loopback traffic: {:.0} KiB per hour (all of it, both ways)",
        report.loopback_bytes_per_hour / 1024.0
    );
    println!(
        "  objective for a station (below {STATION_CPU_PERCENT_MAX} % of a core and {STATION_RSS_MIB_MAX} MiB): {}",
        match report.stations_within_objective {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "no verdict under 30 s (CPU time is counted in 10 ms ticks)",
        }
    );
    Ok(())
}

/// Two paired stations and a relay, running, with every channel of the link up.
fn set_up(exe: &Path, root: &Path) -> anyhow::Result<([StationProcess; 2], RelayProcess)> {
    let mut alpha = StationProcess::init(exe, root, "Alpha", "en")?;
    let mut bravo = StationProcess::init(exe, root, "Bravo", "en")?;
    alpha.pin(&bravo, root)?;
    bravo.pin(&alpha, root)?;
    let mut relay = RelayProcess::init(exe, root, "Relay")?;
    relay.admit(&alpha, root)?;
    relay.admit(&bravo, root)?;
    relay.start()?;
    let drop = root.join("drop");
    std::fs::create_dir(&drop).context("creating the drop folder")?;
    let drop = drop.to_str().context("a UTF-8 path")?;
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        station.add_relay(peer, &relay, root)?;
        station.ok(&["channel", "add", peer, "courier", drop])?;
    }
    alpha.start()?;
    bravo.start()?;
    let up = wait_until(CHANNELS_UP_TIMEOUT, || {
        [(&alpha, "Bravo"), (&bravo, "Alpha")]
            .iter()
            .all(|(station, peer)| {
                ["direct", "relay", "courier"]
                    .iter()
                    .all(|kind| station.channel_state(peer, kind).as_deref() == Some("up"))
            })
    });
    if !up {
        bail!("the channels did not all come up within {CHANNELS_UP_TIMEOUT:?}");
    }
    Ok(([alpha, bravo], relay))
}

/// Measures the processes over `window`, after letting start-up settle.
fn measure(
    stations: &[StationProcess; 2],
    relay: &RelayProcess,
    window: Duration,
) -> anyhow::Result<Report> {
    std::thread::sleep(SETTLE);
    let pids = [
        ("Alpha", stations[0].pid().context("Alpha runs")?),
        ("Bravo", stations[1].pid().context("Bravo runs")?),
        ("relay", relay.pid().context("the relay runs")?),
    ];
    let before: Vec<u64> = pids
        .iter()
        .map(|(_, pid)| cpu_ticks(*pid))
        .collect::<anyhow::Result<_>>()?;
    let loopback_before = loopback_bytes()?;
    let started = Instant::now();
    std::thread::sleep(window);
    let elapsed = started.elapsed().as_secs_f64();
    let loopback = loopback_bytes()?.saturating_sub(loopback_before);
    let ticks_per_s = rustix::param::clock_ticks_per_second().max(1) as f64;
    let mut processes = Vec::new();
    for ((process, pid), before) in pids.into_iter().zip(before) {
        let ticks = cpu_ticks(pid)?.saturating_sub(before);
        let (rss_kib, peak_kib) = memory_kib(pid)?;
        processes.push(Cost {
            process,
            cpu_percent: ticks as f64 / ticks_per_s / elapsed * 100.0,
            rss_mib: rss_kib as f64 / 1024.0,
            peak_rss_mib: peak_kib as f64 / 1024.0,
        });
    }
    let stations_within_objective = (elapsed >= VERDICT_SECONDS_MIN).then(|| {
        processes[..2].iter().all(|cost| {
            cost.cpu_percent < STATION_CPU_PERCENT_MAX && cost.peak_rss_mib < STATION_RSS_MIB_MAX
        })
    });
    Ok(Report {
        seconds: elapsed,
        channels: ["direct", "relay", "courier"],
        processes,
        loopback_bytes_per_hour: loopback as f64 / elapsed * 3_600.0,
        stations_within_objective,
    })
}

/// CPU time (user and system) of process `pid` so far, in clock ticks.
pub(super) fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // After the name in parentheses: state, then 10 fields, then utime and stime.
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let tick = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(user), Some(system)) => Ok(user + system),
        _ => bail!("/proc/{pid}/stat does not read as expected"),
    }
}

/// Resident memory of process `pid` now and at its peak, in KiB.
pub(super) fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(peak)) => Ok((rss, peak)),
        _ => bail!("/proc/{pid}/status has no VmRSS or VmHWM"),
    }
}

/// Bytes received on the loopback interface so far (each byte sent on it is received once).
fn loopback_bytes() -> anyhow::Result<u64> {
    let dev = std::fs::read_to_string("/proc/net/dev").context("reading /proc/net/dev")?;
    dev.lines()
        .find_map(|line| {
            let (name, counters) = line.split_once(':')?;
            (name.trim() == "lo").then(|| counters.split_whitespace().next()?.parse().ok())?
        })
        .context("/proc/net/dev lists no loopback interface")
}
