//! `parley bench`: two stations in this process, on loopback QUIC with real SQLite stores,
//! measuring durable end-to-end latency (send → stored at the peer → verified receipt stored
//! back) one message at a time, then sustained throughput with many in flight.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use parley::harness::{free_udp_port, wait_until};
use parley_proto::{Event, Precedence};
use parley_station::api::Request;
use parley_station::clock::utc_now_ms;
use parley_station::home::Config;
use parley_station::{Daemon, Home, Node};
use serde_json::json;

/// Longest the benchmark waits for one message's receipt, in seconds.
const BENCH_RECEIPT_TIMEOUT_S: u64 = 30;

pub fn run(
    messages: u64,
    size: usize,
    latency_messages: u64,
    json_out: bool,
) -> anyhow::Result<()> {
    if size == 0 || size > parley_proto::limits::TEXT_SIZE_MAX_BYTES {
        bail!(
            "--size must be 1 to {} bytes",
            parley_proto::limits::TEXT_SIZE_MAX_BYTES
        );
    }
    let root = tempfile::tempdir()?;
    let (alpha_home, bravo_home) = pair_homes(root.path())?;
    let (observer, events) = mpsc::channel();
    let alpha = Daemon::start(&alpha_home, Some(observer))?;
    let bravo = Daemon::start(&bravo_home, None)?;
    let up = wait_until(Duration::from_secs(10), || {
        [&alpha, &bravo].iter().all(|d| {
            let status = d.request(Request::Status);
            status.result["peers"][0]["channels"][0]["state"] == "up"
        })
    });
    if !up {
        bail!("the direct channel did not come up");
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
    let report = json!({
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

fn pair_homes(root: &std::path::Path) -> anyhow::Result<(Home, Home)> {
    let alpha = Home::new(root.join("alpha"));
    let bravo = Home::new(root.join("bravo"));
    for (home, name) in [(&alpha, "Alpha"), (&bravo, "Bravo")] {
        let config = Config {
            name: name.into(),
            lang: "en".into(),
            listen: format!("127.0.0.1:{}", free_udp_port()?),
            direct: Default::default(),
        };
        Node::init(home, config, utc_now_ms())?;
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
    a.add_peer(utc_now_ms(), &b_card, &b_fp, None)?;
    b.add_peer(utc_now_ms(), &a_card, &a_fp, None)?;
    Ok((alpha, bravo))
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
