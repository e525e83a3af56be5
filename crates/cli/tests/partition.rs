//! A real partition: each station runs in its own Linux network namespace, the direct path is
//! a veth pair between them, and each reaches the relay (in the root namespace) over its own
//! veth pair. Taking the direct veth down cuts the path in the kernel; delivery continues over
//! the relay and the direct channel returns when the link does.
//!
//! Needs root and iproute2 (`.ci/run` installs it). Elsewhere the test says so and passes,
//! except under `CI=true`, where it must run.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{await_all_delivered, await_channel, await_inbox, exe, send_all, texts};
use parley_testkit::harness::{RelayProcess, StationProcess, free_tcp_port};

/// Network namespaces and veth pairs, removed on drop.
struct Topology {
    namespaces: Vec<String>,
    direct: [(String, String); 2],
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    assert!(ip(args), "ip {} failed", args.join(" "));
}

impl Topology {
    fn build() -> Self {
        let tag = std::process::id() % 100_000;
        let (a, b) = (format!("parley-a-{tag}"), format!("parley-b-{tag}"));
        let topology = Topology {
            namespaces: vec![a.clone(), b.clone()],
            direct: [
                (a.clone(), format!("pda{tag}")),
                (b.clone(), format!("pdb{tag}")),
            ],
        };
        for ns in &topology.namespaces {
            must(&["netns", "add", ns]);
            must(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // The direct path: one veth pair between the two namespaces.
        let (da, db) = (&topology.direct[0].1, &topology.direct[1].1);
        must(&[
            "link", "add", da, "netns", &a, "type", "veth", "peer", "name", db, "netns", &b,
        ]);
        must(&["-n", &a, "addr", "add", "10.77.0.1/24", "dev", da]);
        must(&["-n", &b, "addr", "add", "10.77.0.2/24", "dev", db]);
        must(&["-n", &a, "link", "set", da, "up"]);
        must(&["-n", &b, "link", "set", db, "up"]);
        // Each namespace's own way to the relay in the root namespace.
        for (index, ns) in topology.namespaces.iter().enumerate() {
            let (inner, outer) = (format!("pr{index}i{tag}"), format!("pr{index}o{tag}"));
            let net = 78 + index;
            must(&[
                "link", "add", &inner, "netns", ns, "type", "veth", "peer", "name", &outer,
            ]);
            must(&["addr", "add", &format!("10.{net}.0.1/24"), "dev", &outer]);
            must(&["link", "set", &outer, "up"]);
            must(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.{net}.0.2/24"),
                "dev",
                &inner,
            ]);
            must(&["-n", ns, "link", "set", &inner, "up"]);
        }
        topology
    }

    fn set_direct(&self, up: bool) {
        for (ns, dev) in &self.direct {
            must(&["-n", ns, "link", "set", dev, if up { "up" } else { "down" }]);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth ends, and with them their peers.
        for ns in &self.namespaces {
            ip(&["netns", "del", ns]);
        }
    }
}

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    root && ip(&["netns", "list"])
}

#[test]
fn a_kernel_partition_of_the_direct_path_fails_over_to_the_relay() {
    if !can_run() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the partition test: it needs root and iproute2"
        );
        eprintln!("skipped: needs root and iproute2 (ip netns)");
        return;
    }
    let topology = Topology::build();
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let alpha_listen: SocketAddr = "10.77.0.1:7300".parse().expect("address");
    let bravo_listen: SocketAddr = "10.77.0.2:7300".parse().expect("address");
    let mut alpha = StationProcess::init_at(exe(), dir, "Alpha", "en", alpha_listen).expect("init");
    let mut bravo = StationProcess::init_at(exe(), dir, "Bravo", "fr", bravo_listen).expect("init");
    alpha.netns = Some(topology.namespaces[0].clone());
    bravo.netns = Some(topology.namespaces[1].clone());
    alpha.pin(&bravo, dir).expect("pin");
    bravo.pin(&alpha, dir).expect("pin");
    let port = free_tcp_port().expect("port");
    let mut relay = RelayProcess::init_at(
        exe(),
        dir,
        "Relay",
        format!("0.0.0.0:{port}").parse().expect("address"),
    )
    .expect("relay");
    let relay_card = relay.card_file(dir).expect("relay card");
    let relay_fp = relay.fingerprint().expect("relay fingerprint");
    for (index, (station, peer)) in [(&alpha, "Bravo"), (&bravo, "Alpha")]
        .into_iter()
        .enumerate()
    {
        relay.admit(station, dir).expect("admit");
        station.fast_heartbeats().expect("configure");
        let url = format!("https://10.{}.0.1:{port}", 78 + index);
        station
            .ok(&[
                "channel",
                "add",
                peer,
                "relay",
                &url,
                "--card",
                relay_card.to_str().expect("UTF-8"),
                "--fingerprint",
                &relay_fp,
            ])
            .expect("add relay");
    }
    relay.start().expect("start relay");
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    for (station, peer) in [(&alpha, "Bravo"), (&bravo, "Alpha")] {
        await_channel(station, peer, "direct", "up");
        await_channel(station, peer, "relay", "up");
    }
    let all = texts("netns", 0..120);
    send_all(&alpha, "Bravo", &all[..40]);
    topology.set_direct(false);
    send_all(&alpha, "Bravo", &all[40..100]);
    await_channel(&alpha, "Bravo", "direct", "down");
    await_inbox(&bravo, "Alpha", &all[..100]);
    topology.set_direct(true);
    await_channel(&alpha, "Bravo", "direct", "up");
    send_all(&alpha, "Bravo", &all[100..]);
    await_inbox(&bravo, "Alpha", &all);
    await_all_delivered(&alpha, &bravo);
    alpha.stop().expect("stop");
    bravo.stop().expect("stop");
}
