//! The benchmark's two stations, paired, with the chosen channels: the direct path (through
//! UDP forwarders only when it is to be cut), a real relay process, a shared drop folder.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use parley_proto::ChannelKind;
use parley_station::api::status::StatusReport;
use parley_station::api::{Reply, Request, edge};
use parley_station::clock::utc_now_ms;
use parley_station::home::Config;
use parley_station::{Daemon, Home, Node};
use parley_testkit::harness::{RelayProcess, free_udp_port, wait_until};
use parley_testkit::proxy::{TcpProxy, UdpProxy};

use super::ChannelChoice;

/// Longest the benchmark waits for the chosen channels to come up (or the cut one to go
/// down), in seconds.
const BENCH_CHANNELS_TIMEOUT_S: u64 = 30;

/// Everything the two daemons need around them; dropping it stops the relay and the proxies.
pub(super) struct Setup {
    pub(super) alpha: Home,
    pub(super) bravo: Home,
    /// In front of each station's direct listener, when the direct path is to be cut (not
    /// chosen, or blackholed): a forwarder is a thread on the path, one more wake-up for each
    /// datagram, so a measured path has none.
    pub(super) proxies: Option<[UdpProxy; 2]>,
    /// In front of the relay, when it is to be cut.
    pub(super) relay_proxy: Option<TcpProxy>,
    _relay: Option<RelayProcess>,
}

/// Runs `request` on a stopped station, as `parley` would.
fn execute(node: &mut Node, request: Request) -> anyhow::Result<Reply> {
    Ok(edge::perform(request, |command| node.execute(command))?)
}

fn card_of(node: &Node) -> (String, String) {
    let (card, bytes) = node.station().card();
    let fingerprint = node.station().identity().fingerprint();
    (card.to_text(&bytes), fingerprint.to_string())
}

/// Two stations paired with each other, their direct channels through UDP forwarders when
/// `direct_proxied` (cut at once when direct is not chosen), plus the chosen relay and
/// courier channels; the relay behind a TCP forwarder that can cut it when `relay_proxied`.
pub(super) fn set_up(
    root: &Path,
    channels: &[ChannelChoice],
    (direct_proxied, relay_proxied): (bool, bool),
) -> anyhow::Result<Setup> {
    let alpha = Home::new(root.join("alpha"));
    let bravo = Home::new(root.join("bravo"));
    let mut listens = Vec::new();
    for (home, name) in [(&alpha, "Alpha"), (&bravo, "Bravo")] {
        let listen = format!("127.0.0.1:{}", free_udp_port()?);
        let mut config = Config::new(name.into(), "en".into(), listen.clone());
        config.relay.heartbeat_interval_ms = 500;
        config.courier.scan_interval_ms = 100;
        // The bench measures the pipe, not the limit a station puts on a peer's traffic.
        config.intake.burst_mib = parley_station::limits::INTAKE_BURST_MIB_MAX;
        config.intake.per_day_mib = parley_station::limits::INTAKE_PER_DAY_MIB_MAX;
        Node::init(home, config, utc_now_ms())?;
        listens.push(listen.parse()?);
    }
    let direct_proxied = direct_proxied || !channels.contains(&ChannelChoice::Direct);
    let proxies = if direct_proxied {
        let proxies = [UdpProxy::start(listens[1])?, UdpProxy::start(listens[0])?];
        if !channels.contains(&ChannelChoice::Direct) {
            for proxy in &proxies {
                proxy.set_blackhole(true);
            }
        }
        Some(proxies)
    } else {
        None
    };
    let mut nodes = [Node::open(&alpha)?, Node::open(&bravo)?];
    let cards = [card_of(&nodes[0]), card_of(&nodes[1])];
    let names = ["Alpha", "Bravo"];
    for side in 0..2 {
        let (card, fingerprint) = cards[1 - side].clone();
        let request = Request::PeerAdd {
            card,
            fingerprint,
            address: Some(match &proxies {
                Some(proxies) => proxies[side].addr().to_string(),
                None => listens[1 - side].to_string(),
            }),
        };
        execute(&mut nodes[side], request)?;
    }
    let mut relay_proxy = None;
    let relay = if channels.contains(&ChannelChoice::Relay) {
        let exe = std::env::current_exe().context("finding the parley executable")?;
        let mut relay = RelayProcess::init(&exe, root, "Relay")?;
        let mut target = relay.url();
        if relay_proxied {
            let listen = target
                .strip_prefix("https://")
                .and_then(|address| address.parse().ok())
                .context("the relay's address")?;
            let proxy = TcpProxy::start(listen)?;
            target = format!("https://{}", proxy.addr());
            relay_proxy = Some(proxy);
        }
        let (relay_card, relay_fp) = (relay.ok(&["card"])?, relay.fingerprint()?);
        for side in 0..2 {
            let (card, fingerprint) = &cards[side];
            let file = root.join("station.card");
            std::fs::write(&file, card)?;
            relay.ok(&[
                "admit",
                file.to_str().context("UTF-8 path")?,
                "--fingerprint",
                fingerprint,
            ])?;
            let request = Request::ChannelAdd {
                peer: names[1 - side].into(),
                kind: ChannelKind::Relay,
                target: target.clone(),
                card: Some(relay_card.clone()),
                fingerprint: Some(relay_fp.clone()),
            };
            execute(&mut nodes[side], request)?;
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
        for side in 0..2 {
            let request = Request::ChannelAdd {
                peer: names[1 - side].into(),
                kind: ChannelKind::Courier,
                target: drop.into(),
                card: None,
                fingerprint: None,
            };
            execute(&mut nodes[side], request)?;
        }
    }
    Ok(Setup {
        alpha,
        bravo,
        proxies,
        relay_proxy,
        _relay: relay,
    })
}

/// A daemon's status.
pub(super) fn status(daemon: &Daemon) -> anyhow::Result<StatusReport> {
    match daemon.request(Request::Status)? {
        Reply::Status(report) => Ok(*report),
        other => bail!("status answered {other:?}"),
    }
}

/// Waits until both daemons show each (kind, state).
pub(super) fn await_channels(
    alpha: &Daemon,
    bravo: &Daemon,
    expected: &[(&str, &str)],
) -> anyhow::Result<()> {
    let state = |daemon: &Daemon, kind: &str| -> Option<String> {
        let report = status(daemon).ok()?;
        let peer = report.peers.first()?;
        peer.channels
            .iter()
            .find(|c| c.kind.name() == kind)
            .map(|c| c.state.name().to_owned())
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
