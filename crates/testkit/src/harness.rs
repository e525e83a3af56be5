//! Real stations as child processes: init, pair, run, kill -9, restart, query.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Longest a station may take to answer on its API after start, in milliseconds.
pub const START_TIMEOUT_MS: u64 = 20_000;

/// Lowest port handed out for listeners; below it are well-known and registered services.
const LISTEN_PORT_MIN: u16 = 10_000;

/// Tries before giving up on finding a free port.
const FREE_PORT_TRIES: u32 = 1_000;

/// Ports this process handed out: a station stopped for a while leaves its port unbound, and
/// another test of the same binary, running alongside, must not take it before it starts again.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A free UDP port on 127.0.0.1, for a listener a child process binds later.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`): a port the kernel
/// picked for us would be free now but could be handed to any outgoing socket (another
/// station's QUIC client, say) before the listener binds it. Ports below that range are only
/// ever taken by explicit binds, so the one race left is with another test choosing the same
/// port at random, and each choice is checked free for UDP and TCP alike, and not handed out
/// by this process before (its station may be stopped for a moment).
pub fn free_udp_port() -> anyhow::Result<u16> {
    free_listen_port()
}

/// A free TCP port on 127.0.0.1, chosen as [`free_udp_port`] does.
pub fn free_tcp_port() -> anyhow::Result<u16> {
    free_listen_port()
}

fn free_listen_port() -> anyhow::Result<u16> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let ephemeral_min = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .filter(|min| *min > LISTEN_PORT_MIN + 1_000)
        .unwrap_or(32_768);
    let span = u64::from(ephemeral_min - LISTEN_PORT_MIN);
    // Randomly seeded per call, so parallel tests spread over the whole range.
    let random = std::collections::hash_map::RandomState::new();
    for attempt in 0..FREE_PORT_TRIES {
        let mut hasher = random.build_hasher();
        hasher.write_u32(attempt);
        hasher.write_u32(std::process::id());
        let port = LISTEN_PORT_MIN + (hasher.finish() % span) as u16;
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.contains(&port) {
            continue;
        }
        let udp = UdpSocket::bind(("127.0.0.1", port));
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        if udp.is_ok() && tcp.is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    bail!(
        "no free port on 127.0.0.1 in {LISTEN_PORT_MIN}..{ephemeral_min} after {FREE_PORT_TRIES} tries"
    )
}

/// Runs `exe --home HOME args…` and returns its output, whatever the exit code.
fn run_parley(exe: &Path, home: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(exe)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("PARLEY_HOME")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running parley {}", args.join(" ")))
}

/// Starts a long-running `parley` process with its log (stderr) going to `log`, at level
/// `$PARLEY_LOG` or `info`.
fn spawn_logged(mut command: Command, log: std::fs::File) -> std::io::Result<Child> {
    command
        .env_remove("PARLEY_HOME")
        .env(
            "PARLEY_LOG",
            std::env::var("PARLEY_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

/// The standard output of a command that must have succeeded, else its standard error.
fn succeeded(who: &str, args: &[&str], output: Output) -> anyhow::Result<String> {
    if !output.status.success() {
        bail!(
            "{who}: parley {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One station: a home directory and, while running, its daemon process.
pub struct StationProcess {
    /// Station name.
    pub name: String,
    /// Home directory.
    pub home: PathBuf,
    /// Direct-channel address.
    pub listen: SocketAddr,
    exe: PathBuf,
    daemon: Option<Child>,
    starts: u32,
    /// Network namespace the daemon runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
}

impl StationProcess {
    /// Creates a station with `parley init` in `root/name`.
    pub fn init(exe: &Path, root: &Path, name: &str, lang: &str) -> anyhow::Result<Self> {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_udp_port()?).parse()?;
        Self::init_at(exe, root, name, lang, listen)
    }

    /// Creates a station listening on `listen`.
    pub fn init_at(
        exe: &Path,
        root: &Path,
        name: &str,
        lang: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let station = Self {
            name: name.to_owned(),
            home: root.join(name.to_lowercase()),
            listen,
            exe: exe.to_owned(),
            daemon: None,
            starts: 0,
            netns: None,
        };
        station.ok(&[
            "init",
            "--name",
            name,
            "--lang",
            lang,
            "--listen",
            &listen.to_string(),
        ])?;
        Ok(station)
    }

    /// Runs `parley --home HOME args…` and returns its output, whatever the exit code.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        run_parley(&self.exe, &self.home, args)
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        succeeded(&self.name, args, self.cli(args)?)
    }

    /// Runs a `--json` command and parses its output.
    pub fn json(&self, args: &[&str]) -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all)?;
        serde_json::from_str(&text).with_context(|| format!("parsing output of {args:?}"))
    }

    /// Exports the transcript of the link with `peer` to `out`.
    pub fn export_transcript(&self, peer: &str, out: &Path) -> anyhow::Result<()> {
        let out = out.to_str().context("transcript path is UTF-8")?;
        self.ok(&["transcript", "export", peer, "--out", out])?;
        Ok(())
    }

    /// This station's fingerprint.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        Ok(self.ok(&["fingerprint"])?.trim().to_owned())
    }

    /// The station's key fingerprint (`status --json`), which names it in courier bundles.
    pub fn key_fingerprint(&self) -> anyhow::Result<String> {
        let status = self.json(&["status"])?;
        status["station"]["key_fingerprint"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no key fingerprint in status: {status}"))
    }

    /// Writes this station's card to `dir/NAME.card` and returns the path.
    pub fn card_file(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join(format!("{}.card", self.name.to_lowercase()));
        std::fs::write(&path, self.ok(&["card"])?)?;
        Ok(path)
    }

    /// Pins `other` here, as an operator would after reading its fingerprint aloud.
    pub fn pin(&self, other: &StationProcess, dir: &Path) -> anyhow::Result<()> {
        self.pin_with(other, dir, &[])
    }

    /// Pins `other` with its direct channel at `address` instead of its card's.
    pub fn pin_at(&self, other: &StationProcess, address: &str, dir: &Path) -> anyhow::Result<()> {
        self.pin_with(other, dir, &["--address", address])
    }

    fn pin_with(&self, other: &StationProcess, dir: &Path, extra: &[&str]) -> anyhow::Result<()> {
        let card = other.card_file(dir)?;
        let fingerprint = other.fingerprint()?;
        let mut args = vec![
            "peer",
            "add",
            card.to_str().context("card path is UTF-8")?,
            "--fingerprint",
            &fingerprint,
        ];
        args.extend_from_slice(extra);
        self.ok(&args)?;
        Ok(())
    }

    /// A copy of this station's home at `home` (its files, modes kept), as a station of its
    /// own with the same identity and address: for damaging files without touching the
    /// original. Copy a stopped station.
    pub fn copy_to(&self, home: &Path) -> anyhow::Result<StationProcess> {
        std::fs::create_dir(home)?;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700))?;
        for file in std::fs::read_dir(&self.home)? {
            let file = file?;
            if file.file_type()?.is_file() {
                std::fs::copy(file.path(), home.join(file.file_name()))?;
            }
        }
        Ok(StationProcess {
            name: self.name.clone(),
            home: home.to_owned(),
            listen: self.listen,
            exe: self.exe.clone(),
            daemon: None,
            starts: 0,
            netns: None,
        })
    }

    /// Starts the daemon (stderr to `daemon-N.log` in the home) and waits until it answers.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.daemon.is_some() {
            bail!("{} is already running", self.name);
        }
        self.starts += 1;
        let log_path = self.home.join(format!("daemon-{}.log", self.starts));
        let log = std::fs::File::create(&log_path)?;
        let mut command = match &self.netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(&self.exe);
                command
            }
            None => Command::new(&self.exe),
        };
        command.arg("--home").arg(&self.home).arg("run");
        let child = spawn_logged(command, log).context("starting parley run")?;
        self.daemon = Some(child);
        let ready = wait_until(Duration::from_millis(START_TIMEOUT_MS), || {
            self.json(&["status"])
                .map(|s| s["daemon"] == "running")
                .unwrap_or(false)
        });
        if !ready {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            let status = self
                .cli(&["status", "--json"])
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            bail!(
                "{} did not start (status: {:?}); daemon log ends:\n{}",
                self.name,
                status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// Changes `parley.toml` (the daemon reads it when it starts).
    pub fn configure(
        &self,
        change: impl FnOnce(&mut parley_station::home::Config),
    ) -> anyhow::Result<()> {
        let home = parley_station::Home::new(&self.home);
        let mut config = home.config()?;
        change(&mut config);
        home.write_config(&config)?;
        Ok(())
    }

    /// Fast heartbeats for tests: a dead channel is down within a second or so.
    pub fn fast_heartbeats(&self) -> anyhow::Result<()> {
        self.configure(|config| {
            config.direct.heartbeat_interval_ms = 200;
            config.direct.idle_timeout_ms = 600;
            config.relay.heartbeat_interval_ms = 250;
            config.relay.poll_wait_ms = 2_000;
            config.courier.scan_interval_ms = 200;
        })
    }

    /// Adds a relay channel to the link with `peer`.
    pub fn add_relay(&self, peer: &str, relay: &RelayProcess, dir: &Path) -> anyhow::Result<()> {
        let card = relay.card_file(dir)?;
        self.ok(&[
            "channel",
            "add",
            peer,
            "relay",
            &relay.url(),
            "--card",
            card.to_str().context("card path is UTF-8")?,
            "--fingerprint",
            &relay.fingerprint()?,
        ])?;
        Ok(())
    }

    /// The state of this station's channel of `kind` to `peer`, from live status.
    pub fn channel_state(&self, peer: &str, kind: &str) -> Option<String> {
        self.channel(peer, kind)
            .and_then(|c| c["state"].as_str().map(str::to_owned))
    }

    /// When the channel of `kind` to `peer` last changed state, by the daemon's clock (UTC
    /// ms), per `status`.
    pub fn channel_since_ms(&self, peer: &str, kind: &str) -> Option<u64> {
        self.channel(peer, kind)
            .and_then(|c| c["since_ms"].as_u64())
    }

    /// The channel of `kind` to `peer` as `status --json` shows it.
    fn channel(&self, peer: &str, kind: &str) -> Option<serde_json::Value> {
        let status = self.json(&["status"]).ok()?;
        let peer = status["peers"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == peer)?
            .clone();
        peer["channels"]
            .as_array()?
            .iter()
            .find(|c| c["kind"] == kind)
            .cloned()
    }

    /// The daemon's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.daemon.as_ref().map(Child::id)
    }

    /// Whether the daemon process is alive.
    pub fn is_running(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the daemon with SIGKILL: no shutdown, no final commit.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.daemon.take() {
            child.kill().context("kill -9")?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stops the daemon with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.daemon.take() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()?;
            if !status.success() {
                bail!("kill -TERM failed");
            }
            let exited = wait_until(Duration::from_secs(10), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !exited {
                child.kill()?;
                bail!("{} did not stop on SIGTERM", self.name);
            }
            let status = child.wait()?;
            if !status.success() {
                bail!("{} exited with {status} on SIGTERM", self.name);
            }
        }
        Ok(())
    }

    /// `outbox --json`.
    pub fn outbox(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .json(&["outbox"])?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `inbox --json`.
    pub fn inbox(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .json(&["inbox"])?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Whether the peer receipted every entry this station wrote, on every link.
    pub fn all_delivered(&self) -> bool {
        self.json(&["status"])
            .ok()
            .and_then(|status| {
                let peers = status["peers"].as_array()?.clone();
                Some(peers.iter().all(|peer| peer["outbox_depth"] == 0))
            })
            .unwrap_or(false)
    }
}

/// A relay: a home directory and, while serving, its process.
pub struct RelayProcess {
    /// Home directory.
    pub home: PathBuf,
    /// TCP address it serves on.
    pub listen: SocketAddr,
    /// Address it serves metrics on (`relay serve --metrics`), if set before it starts.
    pub metrics: Option<SocketAddr>,
    /// Whether it serves as a witness (`relay serve --witness`), if set before it starts.
    pub witness: bool,
    exe: PathBuf,
    server: Option<Child>,
    starts: u32,
}

impl RelayProcess {
    /// Creates a relay with `parley relay init` in `root/name`, to serve on a free port.
    pub fn init(exe: &Path, root: &Path, name: &str) -> anyhow::Result<Self> {
        let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port()?).parse()?;
        Self::init_at(exe, root, name, listen)
    }

    /// Creates a relay to serve on `listen`.
    pub fn init_at(
        exe: &Path,
        root: &Path,
        name: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<Self> {
        let relay = Self {
            home: root.join(name.to_lowercase()),
            listen,
            metrics: None,
            witness: false,
            exe: exe.to_owned(),
            server: None,
            starts: 0,
        };
        relay.ok(&["init", "--name", name])?;
        Ok(relay)
    }

    /// Runs `parley --home HOME relay args…`, whatever the exit code.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<Output> {
        let all: Vec<&str> = std::iter::once("relay")
            .chain(args.iter().copied())
            .collect();
        run_parley(&self.exe, &self.home, &all)
    }

    /// Runs a relay command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> anyhow::Result<String> {
        succeeded("relay", args, self.cli(args)?)
    }

    /// The URL stations use.
    pub fn url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// The relay's fingerprint.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        Ok(self.ok(&["fingerprint"])?.trim().to_owned())
    }

    /// Writes the relay's card to `dir/relay-NAME.card` and returns the path.
    pub fn card_file(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let name = self
            .home
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("relay");
        let path = dir.join(format!("relay-{name}.card"));
        std::fs::write(&path, self.ok(&["card"])?)?;
        Ok(path)
    }

    /// Changes `relay.toml` (read when `serve` starts).
    pub fn configure(
        &self,
        change: impl FnOnce(&mut parley_relay::RelayConfig),
    ) -> anyhow::Result<()> {
        let mut config = parley_relay::RelayHome::new(&self.home).config()?;
        change(&mut config);
        std::fs::write(self.home.join("relay.toml"), toml::to_string(&config)?)?;
        Ok(())
    }

    /// Admits a station by its card and fingerprint.
    pub fn admit(&self, station: &StationProcess, dir: &Path) -> anyhow::Result<()> {
        let card = station.card_file(dir)?;
        self.ok(&[
            "admit",
            card.to_str().context("card path is UTF-8")?,
            "--fingerprint",
            &station.fingerprint()?,
        ])?;
        Ok(())
    }

    /// Starts `relay serve` (stderr to `serve-N.log` in the home) and waits until it accepts
    /// TCP connections.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.server.is_some() {
            bail!("the relay is already running");
        }
        self.starts += 1;
        let log = std::fs::File::create(self.home.join(format!("serve-{}.log", self.starts)))?;
        let mut command = Command::new(&self.exe);
        command.arg("--home").arg(&self.home).args([
            "relay",
            "serve",
            "--listen",
            &self.listen.to_string(),
        ]);
        if let Some(metrics) = self.metrics {
            command.args(["--metrics", &metrics.to_string()]);
        }
        if self.witness {
            command.arg("--witness");
        }
        let child = spawn_logged(command, log).context("starting parley relay serve")?;
        self.server = Some(child);
        let listen = self.listen;
        if !wait_until(Duration::from_millis(START_TIMEOUT_MS), || {
            std::net::TcpStream::connect(listen).is_ok()
        }) {
            bail!("the relay did not start listening on {listen}");
        }
        Ok(())
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Kills the relay with SIGKILL.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.server.take() {
            child.kill().context("kill -9")?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}

impl Drop for StationProcess {
    fn drop(&mut self) {
        let _ = self.kill9();
    }
}
