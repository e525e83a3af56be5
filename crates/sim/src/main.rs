//! `parley-sim`: the deterministic simulation over many seeds, on every core, with progress,
//! a replay command for the first failure, and a summary of what the seeds exercised.
//!
//! ```text
//! cargo run --release -p parley-sim -- --seeds 100000 [--from S] [--jobs J] [--faults LIST] [--json]
//! cargo run --release -p parley-sim -- --duration 8h      # random seeds until time runs out
//! ```
//!
//! Each seed runs alone on one thread, so a seed's run is the same whatever `--jobs` is; the
//! summary's trace digest (over every seed's event trace) shows it.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use parley_sim::{FAULTS, INVARIANTS, SimConfig, SimFailure, SimReport, run};

/// How often the progress line is redrawn on a terminal.
const PROGRESS_TERMINAL_MS: u64 = 250;
/// How often a progress line is printed when standard error is not a terminal.
const PROGRESS_PLAIN_MS: u64 = 10_000;
/// Longest `--duration`: a year.
const DURATION_S_MAX: u64 = 365 * 24 * 3_600;

/// Runs parley's deterministic simulation over many seeds in parallel. Exits 0 when every
/// seed kept every invariant, 1 at the first that did not (with the command that replays
/// it), 2 on a usage error.
#[derive(Parser)]
#[command(name = "parley-sim", version)]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1_000, conflicts_with = "duration")]
    seeds: u64,
    /// The first seed (default 0; with --duration, a random one).
    #[arg(long)]
    from: Option<u64>,
    /// Seeds run at once (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// The faults that are on, comma-separated (default: all): loss, duplicate, late,
    /// partitions, crashes, attacks, relay, watch, large, torn-writes (with crashes),
    /// relay-loss (with relay), courier, clock-jumps, stations (some seeds with three to five).
    #[arg(long, value_delimiter = ',')]
    faults: Option<Vec<String>>,
    /// Swarm testing: each seed keeps each of these faults on only half the time, at a
    /// quarter to twice its rate, so that rare combinations get explored.
    #[arg(long)]
    swarm: bool,
    /// The continuous mode: consecutive seeds from a random first one until this much time
    /// has passed (such as 90s, 30m, 8h); the seeds run are printed as a range.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Prints the summary as one JSON object on standard output.
    #[arg(long)]
    json: bool,
    /// Breaks the world on purpose to show the checker catches it: `lossy-disk` (a disk that
    /// drops a committed send), `answer-before-commit` (cores that answer first),
    /// `erase-keys-early` (cores that erase an old epoch key a peer may still seal to) or
    /// `erase-keys-for-one-peer` (cores that erase it once one of several peers has read a
    /// newer one).
    #[arg(long = "break", value_name = "FAULT")]
    broken: Option<String>,
}

/// `90s`, `30m`, `8h` or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 30m or 8h"))?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        _ => return Err(format!("{text:?}: the unit is s, m or h")),
    };
    number
        .checked_mul(unit_s)
        .filter(|seconds| *seconds <= DURATION_S_MAX)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is longer than a year"))
}

/// When to stop handing out seeds.
enum Limit {
    Seeds(u64),
    Until(Instant),
}

/// What the seeds run so far add up to.
#[derive(Default)]
struct Totals {
    seeds: u64,
    /// The lowest and highest seed run.
    range: Option<(u64, u64)>,
    counters: Vec<(&'static str, u64)>,
    /// Seeds that had each of [`FAULTS`] on.
    fault_seeds: [u64; FAULTS.len()],
    /// Sum of each seed's hash of (seed, trace): equal whatever order the seeds finished in.
    trace_digest: u64,
}

impl Totals {
    fn add(&mut self, report: &SimReport) {
        self.seeds += 1;
        let (low, high) = self.range.unwrap_or((report.seed, report.seed));
        self.range = Some((low.min(report.seed), high.max(report.seed)));
        let counters = report.counters();
        if self.counters.is_empty() {
            self.counters = counters.iter().map(|(name, _)| (*name, 0)).collect();
        }
        for ((_, total), (_, count)) in self.counters.iter_mut().zip(counters) {
            *total += count;
        }
        for (index, seeds) in self.fault_seeds.iter_mut().enumerate() {
            *seeds += report.faults >> index & 1;
        }
        let mut hasher = DefaultHasher::new();
        (report.seed, report.trace).hash(&mut hasher);
        self.trace_digest = self.trace_digest.wrapping_add(hasher.finish());
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match configure(&args) {
        Ok(config) => config,
        Err(why) => {
            eprintln!("error: {why}");
            return ExitCode::from(2);
        }
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let (from, limit) = match args.duration {
        Some(duration) => (
            args.from.unwrap_or_else(random_seed),
            Limit::Until(Instant::now() + duration),
        ),
        None => (args.from.unwrap_or(0), Limit::Seeds(args.seeds)),
    };
    let count = match limit {
        Limit::Seeds(count) => count,
        // A seed a microsecond would not use up the room left.
        Limit::Until(_) => DURATION_S_MAX * 1_000_000,
    };
    if from.checked_add(count).is_none() {
        eprintln!(
            "error: seeds from {from} would pass the largest seed, {}",
            u64::MAX
        );
        return ExitCode::from(2);
    }
    if !args.json {
        let what = match limit {
            Limit::Seeds(n) => format!("{n} seeds from {from}"),
            Limit::Until(_) => format!("consecutive seeds from {from} until time runs out"),
        };
        eprintln!("parley-sim: {what}, {jobs} at once");
    }
    let started = Instant::now();
    let (totals, failed) = run_seeds(&config, from, &limit, jobs);
    let (failure, failures) = match failed {
        Some((failure, count)) => (Some(failure), count),
        None => (None, 0),
    };
    let seconds = started.elapsed().as_secs_f64();
    let replay = failure.as_ref().map(|f| replay_command(&args, f.seed));
    if let (Some(failure), Some(replay)) = (&failure, &replay) {
        eprintln!("{failure}");
        eprintln!("replay: {replay}");
    }
    if args.json {
        print_json(
            &totals,
            (failure.as_ref(), failures),
            replay.as_deref(),
            jobs,
            seconds,
        );
    } else {
        print_summary(&totals, jobs, seconds);
        if let Some(failure) = &failure {
            println!(
                "FAILED: {failures} seed(s) broke an invariant; the lowest, {}, is above with its replay command",
                failure.seed
            );
        }
    }
    if failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The run's configuration from `--faults` and `--break`.
fn configure(args: &Args) -> Result<SimConfig, String> {
    let mut config = match &args.faults {
        Some(names) => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            SimConfig::with_faults(&names)?
        }
        None => SimConfig::default(),
    };
    config.swarm = args.swarm;
    match args.broken.as_deref() {
        None => {}
        Some("lossy-disk") => config.lossy_disk = true,
        Some("answer-before-commit") => config.answer_before_commit = true,
        Some("erase-keys-early") => config.erase_keys_early = true,
        Some("erase-keys-for-one-peer") => config.erase_keys_for_one_peer = true,
        Some(other) => {
            return Err(format!(
                "--break {other:?}: the choices are lossy-disk, answer-before-commit, \
                 erase-keys-early and erase-keys-for-one-peer"
            ));
        }
    }
    Ok(config)
}

/// A first seed for the continuous mode, from the time and the process id.
fn random_seed() -> u64 {
    let mut hasher = DefaultHasher::new();
    std::time::SystemTime::now().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    // Leave room above it, so that `from + n` never wraps.
    hasher.finish() >> 8
}

/// Runs seeds on `jobs` threads until the limit or the first failure; every seed handed out
/// runs to its end.
fn run_seeds(
    config: &SimConfig,
    from: u64,
    limit: &Limit,
    jobs: usize,
) -> (Totals, Option<(SimFailure, u64)>) {
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (results, received) = mpsc::channel::<Result<SimReport, SimFailure>>();
    let mut totals = Totals::default();
    let mut failure: Option<SimFailure> = None;
    let mut failed = 0;
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let results = results.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                // A seed handed out always runs, so the seeds run are one range from `from`.
                while !stop.load(Ordering::Relaxed) {
                    if let Limit::Until(at) = limit
                        && Instant::now() >= *at
                    {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if let Limit::Seeds(count) = limit
                        && index >= *count
                    {
                        break;
                    }
                    if results.send(run(from + index, config)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(results);
        let mut progress = Progress::new(limit);
        for result in received {
            match result {
                Ok(report) => totals.add(&report),
                Err(failing) => {
                    stop.store(true, Ordering::Relaxed);
                    failed += 1;
                    // The lowest failing seed is the one to replay.
                    if failure.as_ref().is_none_or(|f| failing.seed < f.seed) {
                        failure = Some(failing);
                    }
                }
            }
            progress.show(&totals);
        }
        progress.finish();
    });
    (totals, failure.map(|f| (f, failed)))
}

/// The progress line: redrawn in place on a terminal, a line now and then otherwise.
struct Progress<'a> {
    limit: &'a Limit,
    started: Instant,
    shown: Instant,
    terminal: bool,
}

impl<'a> Progress<'a> {
    fn new(limit: &'a Limit) -> Self {
        let now = Instant::now();
        Self {
            limit,
            started: now,
            shown: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, totals: &Totals) {
        let every = if self.terminal {
            PROGRESS_TERMINAL_MS
        } else {
            PROGRESS_PLAIN_MS
        };
        if self.shown.elapsed() < Duration::from_millis(every) {
            return;
        }
        self.shown = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = totals.seeds as f64 / elapsed.max(f64::EPSILON);
        let left = match self.limit {
            Limit::Seeds(count) => {
                let remaining = count.saturating_sub(totals.seeds) as f64 / rate.max(f64::EPSILON);
                format!(
                    "{}/{count} seeds ({:.0}%)  {rate:.1} seeds/s  ETA {}",
                    totals.seeds,
                    totals.seeds as f64 * 100.0 / (*count).max(1) as f64,
                    clock(remaining)
                )
            }
            Limit::Until(at) => format!(
                "{} seeds  {rate:.1} seeds/s  {} left",
                totals.seeds,
                clock(at.saturating_duration_since(Instant::now()).as_secs_f64())
            ),
        };
        if self.terminal {
            eprint!("\r\x1b[2K{left}");
        } else {
            eprintln!("{left}");
        }
    }

    fn finish(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Seconds as `1h02m03s`, `2m03s` or `3s`.
fn clock(seconds: f64) -> String {
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3_600, total / 60 % 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// The command that runs `seed` alone with the same faults.
fn replay_command(args: &Args, seed: u64) -> String {
    let mut command = format!("cargo run --release -p parley-sim -- --from {seed} --seeds 1");
    if let Some(faults) = &args.faults {
        command.push_str(&format!(" --faults {}", faults.join(",")));
    }
    if args.swarm {
        command.push_str(" --swarm");
    }
    if let Some(broken) = &args.broken {
        command.push_str(&format!(" --break {broken}"));
    }
    command
}

fn print_summary(totals: &Totals, jobs: usize, seconds: f64) {
    let rate = totals.seeds as f64 / seconds.max(f64::EPSILON);
    let range = totals.range.map_or_else(
        || "none".to_owned(),
        |(low, high)| format!("{low}..={high}"),
    );
    println!(
        "seeds {range} ({} passed), {jobs} at once, {seconds:.1} s: {rate:.1} seeds/s, {:.1} per job",
        totals.seeds,
        rate / jobs as f64
    );
    println!("faults on (seeds):");
    for (name, seeds) in FAULTS.iter().zip(totals.fault_seeds) {
        println!("  {name:<34} {seeds:>14}");
    }
    println!("exercised (totals over every seed):");
    for (name, count) in &totals.counters {
        println!("  {name:<34} {count:>14}");
    }
    println!("invariants checked at every seed:");
    for invariant in INVARIANTS {
        println!("  {invariant}");
    }
    println!("trace digest {:016x}", totals.trace_digest);
}

fn print_json(
    totals: &Totals,
    (failure, failures): (Option<&SimFailure>, u64),
    replay: Option<&str>,
    jobs: usize,
    seconds: f64,
) {
    let counters: serde_json::Map<String, serde_json::Value> = totals
        .counters
        .iter()
        .map(|(name, count)| ((*name).to_owned(), (*count).into()))
        .collect();
    let faults: serde_json::Map<String, serde_json::Value> = FAULTS
        .iter()
        .zip(totals.fault_seeds)
        .map(|(name, seeds)| ((*name).to_owned(), seeds.into()))
        .collect();
    let summary = serde_json::json!({
        "faults_on": faults,
        "seeds": totals.seeds,
        "first_seed": totals.range.map(|(low, _)| low),
        "last_seed": totals.range.map(|(_, high)| high),
        "jobs": jobs,
        "seconds": seconds,
        "seeds_per_s": totals.seeds as f64 / seconds.max(f64::EPSILON),
        "exercised": counters,
        "invariants": INVARIANTS,
        "trace_digest": format!("{:016x}", totals.trace_digest),
        "failed": failures,
        "failure": failure.map(|f| serde_json::json!({
            "seed": f.seed,
            "simulated_ms": f.simulated_ms,
            "reason": f.reason,
            "replay": replay,
        })),
    });
    println!("{summary}");
}
