//! `parley bench`: two stations in this process with real SQLite stores, on loopback, over the
//! chosen channels (direct QUIC through a UDP forwarder that can be cut, a real relay process,
//! a shared drop folder), measuring durable end-to-end latency (send → stored at the peer →
//! verified receipt stored back) one message at a time, then sustained throughput with many in
//! flight.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use parley_proto::{Event, Precedence};
use parley_station::api::Request;
use parley_station::clock::utc_now_ms;
use parley_station::home::Config;
use parley_station::{Daemon, Home, Node};
use parley_testkit::harness::{RelayProcess, free_udp_port, wait_until};
use parley_testkit::proxy::UdpProxy;
use serde_json::{Value, json};

/// Longest the benchmark waits for one message's receipt, in seconds.
const BENCH_RECEIPT_TIMEOUT_S: u64 = 60;
/// Longest the benchmark waits for the chosen channels to come up (or the cut one to go
/// down), in seconds.
const BENCH_CHANNELS_TIMEOUT_S: u64 = 30;

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
    fn name(self) -> &'static str {
        match self {
            ChannelChoice::Direct => "direct",
            ChannelChoice::Relay => "relay",
            ChannelChoice::Courier => "courier",
        }
    }
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
    /// JSON output.
    pub json: bool,
}

/// Everything the two daemons need around them; dropping it stops the relay and the proxies.
struct Setup {
    alpha: Home,
    bravo: Home,
    proxies: [UdpProxy; 2],
    _relay: Option<RelayProcess>,
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
    if options.blackhole_direct && options.channels == [ChannelChoice::Direct] {
        bail!("--blackhole-direct needs another channel to measure (e.g. --channels direct,relay)");
    }
    if size == 0 || size > parley_proto::limits::TEXT_SIZE_MAX_BYTES {
        bail!(
            "--size must be 1 to {} bytes",
            parley_proto::limits::TEXT_SIZE_MAX_BYTES
        );
    }
    let root = tempfile::tempdir()?;
    let setup = set_up(root.path(), &options.channels)?;
    let (observer, events) = mpsc::channel();
    let alpha = Daemon::start(&setup.alpha, Some(observer))?;
    let bravo = Daemon::start(&setup.bravo, None)?;
    let mut expected: Vec<(&str, &str)> =
        options.channels.iter().map(|c| (c.name(), "up")).collect();
    if !options.channels.contains(&ChannelChoice::Direct) {
        expected.push(("direct", "down"));
    }
    await_channels(&alpha, &bravo, &expected)?;
    if options.blackhole_direct {
        for proxy in &setup.proxies {
            proxy.set_blackhole(true);
        }
        let mut cut = expected.clone();
        cut.retain(|(kind, _)| *kind != "direct");
        cut.push(("direct", "down"));
        await_channels(&alpha, &bravo, &cut)?;
    }
    // The pairing's key announcements must be receipted before measuring.
    wait_receipted(&events, 1)?;
    let text = "x".repeat(size);
    let mut seq = 1;
    let mut latencies_us = Vec::with_capacity(latency_messages as usize);
    for _ in 0..latency_messages {
        let started = Instant::now();
        seq = send(&alpha, &text)?;
        wait_receipted(&events, seq)?;
        latencies_us.push(started.elapsed().as_micros() as u64);
    }
    latencies_us.sort_unstable();

    let started = Instant::now();
    let inputs = alpha.inputs();
    let mut replies = Vec::with_capacity(messages as usize);
    for _ in 0..messages {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = Request::Send {
            peer: "Bravo".into(),
            precedence: Precedence::Routine.name().into(),
            text: text.clone(),
        };
        inputs
            .send(parley_station::daemon::Input::Api(request, reply))
            .context("the driver stopped")?;
        replies.push(answer);
    }
    for answer in replies {
        let response = answer.blocking_recv().context("the driver stopped")?;
        if !response.ok {
            bail!("send failed: {:?}", response.error);
        }
    }
    let last = seq + messages;
    wait_receipted(&events, last)?;
    let elapsed = started.elapsed();
    let rate = messages as f64 / elapsed.as_secs_f64();
    alpha.shutdown()?;
    bravo.shutdown()?;

    let pct = |p: f64| {
        latencies_us
            .get(
                ((latencies_us.len() as f64 * p) as usize)
                    .min(latencies_us.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or(0)
    };
    let channels: Vec<&str> = options.channels.iter().map(|c| c.name()).collect();
    let report = json!({
        "channels": channels,
        "direct_blackholed": options.blackhole_direct,
        "size_bytes": size,
        "latency": {
            "messages": latency_messages,
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": latencies_us.last().copied().unwrap_or(0),
        },
        "throughput": {
            "messages": messages,
            "seconds": elapsed.as_secs_f64(),
            "messages_per_second": rate,
        },
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "channels: {}{}",
            channels.join(","),
            if options.blackhole_direct {
                " (direct path blackholed)"
            } else {
                ""
            }
        );
        println!(
            "durable end-to-end latency, {size}-byte messages, one at a time ({latency_messages} messages):"
        );
        println!(
            "  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            pct(0.50) as f64 / 1000.0,
            pct(0.99) as f64 / 1000.0,
            latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0
        );
        println!("sustained throughput, {messages} messages in flight:");
        println!("  {rate:.0} messages/s ({:.2} s)", elapsed.as_secs_f64());
    }
    Ok(())
}

/// Two stations paired with each other, their direct channels through UDP forwarders (cut at
/// once when direct is not chosen), plus the chosen relay and courier channels.
fn set_up(root: &Path, channels: &[ChannelChoice]) -> anyhow::Result<Setup> {
    let alpha = Home::new(root.join("alpha"));
    let bravo = Home::new(root.join("bravo"));
    let mut listens = Vec::new();
    for (home, name) in [(&alpha, "Alpha"), (&bravo, "Bravo")] {
        let listen = format!("127.0.0.1:{}", free_udp_port()?);
        let mut config = Config::new(name.into(), "en".into(), listen.clone());
        config.relay.heartbeat_interval_ms = 500;
        config.courier.scan_interval_ms = 100;
        Node::init(home, config, utc_now_ms())?;
        listens.push(listen.parse()?);
    }
    let proxies = [UdpProxy::start(listens[1])?, UdpProxy::start(listens[0])?];
    if !channels.contains(&ChannelChoice::Direct) {
        for proxy in &proxies {
            proxy.set_blackhole(true);
        }
    }
    let mut a = Node::open(&alpha)?;
    let mut b = Node::open(&bravo)?;
    let card = |node: &Node| {
        let (card, bytes) = node.card();
        (
            card.to_text(&bytes),
            node.identity().id().fingerprint().to_string(),
        )
    };
    let (a_card, a_fp) = card(&a);
    let (b_card, b_fp) = card(&b);
    a.add_peer(
        utc_now_ms(),
        &b_card,
        &b_fp,
        Some(proxies[0].addr().to_string()),
    )?;
    b.add_peer(
        utc_now_ms(),
        &a_card,
        &a_fp,
        Some(proxies[1].addr().to_string()),
    )?;
    let relay = if channels.contains(&ChannelChoice::Relay) {
        let exe = std::env::current_exe().context("finding the parley executable")?;
        let mut relay = RelayProcess::init(&exe, root, "Relay")?;
        let (relay_card, relay_fp) = (relay.ok(&["card"])?, relay.fingerprint()?);
        for (node, card, fingerprint) in [(&mut a, &a_card, &a_fp), (&mut b, &b_card, &b_fp)] {
            let file = root.join("station.card");
            std::fs::write(&file, card)?;
            relay.ok(&[
                "admit",
                file.to_str().context("UTF-8 path")?,
                "--fingerprint",
                fingerprint,
            ])?;
            let peer = if node.config().name == "Alpha" {
                "Bravo"
            } else {
                "Alpha"
            };
            node.add_relay_channel(utc_now_ms(), peer, &relay.url(), &relay_card, &relay_fp)?;
        }
        // The benchmark measures parley, not the relay's per-station rate limit.
        relay.configure(|config| {
            config.limits.request_rate_per_second_max = 10_000;
            config.limits.request_burst_max = 10_000;
        })?;
        relay.start()?;
        Some(relay)
    } else {
        None
    };
    if channels.contains(&ChannelChoice::Courier) {
        let drop = root.join("drop");
        std::fs::create_dir_all(&drop)?;
        let drop = drop.to_str().context("UTF-8 path")?;
        a.add_courier_channel(utc_now_ms(), "Bravo", drop)?;
        b.add_courier_channel(utc_now_ms(), "Alpha", drop)?;
    }
    Ok(Setup {
        alpha,
        bravo,
        proxies,
        _relay: relay,
    })
}

/// Waits until both daemons show each (kind, state).
fn await_channels(alpha: &Daemon, bravo: &Daemon, expected: &[(&str, &str)]) -> anyhow::Result<()> {
    let state = |daemon: &Daemon, kind: &str| -> Option<String> {
        let status = daemon.request(Request::Status);
        let channels: &Vec<Value> = status.result["peers"][0]["channels"].as_array()?;
        channels
            .iter()
            .find(|c| c["kind"] == kind)
            .and_then(|c| c["state"].as_str().map(str::to_owned))
    };
    let reached = wait_until(Duration::from_secs(BENCH_CHANNELS_TIMEOUT_S), || {
        expected.iter().all(|(kind, want)| {
            [alpha, bravo].iter().all(|d| {
                let got = state(d, kind);
                // Degraded still carries traffic: as good as up here.
                got.as_deref() == Some(want)
                    || (*want == "up" && got.as_deref() == Some("degraded"))
            })
        })
    });
    if !reached {
        bail!("the channels did not reach {expected:?} within {BENCH_CHANNELS_TIMEOUT_S} s");
    }
    Ok(())
}

fn send(daemon: &Daemon, text: &str) -> anyhow::Result<u64> {
    let response = daemon.request(Request::Send {
        peer: "Bravo".into(),
        precedence: Precedence::Flash.name().into(),
        text: text.into(),
    });
    if !response.ok {
        bail!("send failed: {:?}", response.error);
    }
    response.result["seq"]
        .as_u64()
        .context("send returned no seq")
}

fn wait_receipted(events: &mpsc::Receiver<(u64, Event)>, seq: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(BENCH_RECEIPT_TIMEOUT_S);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok((_, Event::Receipted { upto, .. })) if upto >= seq => return Ok(()),
            Ok(_) => {}
            Err(_) => bail!("no receipt for seq {seq} within {BENCH_RECEIPT_TIMEOUT_S} s"),
        }
    }
}
