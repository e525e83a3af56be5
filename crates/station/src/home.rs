//! A station's home directory: its configuration, identity key, store and the files through
//! which a running daemon is found.
//!
//! ```text
//! parley.toml     configuration (name, language, listen address, channel timing)
//! identity.key    Ed25519 identity secret, mode 0600
//! store.sqlite    everything durable (WAL mode, full sync)
//! console.sqlite  operator accounts and the audit log (WAL mode, full sync), mode 0600
//! daemon.lock     held (flock) by the running daemon, or by a CLI command working offline
//! api.sock        operator API socket of the running daemon, mode 0600
//! api.token       operator API token, mode 0600
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use parley_channels::courier::FileError;
use parley_channels::private::{PrivateDirError, check_own, create_private_dir};
use parley_proto::Identity;
use parley_proto::limits::NAME_SIZE_MAX_BYTES;
use parley_proto::tlog::head::Witness;
use serde::{Deserialize, Serialize};

use crate::error::StationError;
use crate::limits::CONFIG_SIZE_MAX_BYTES;
use crate::watch_config::{AlarmsConfig, Objectives, TestConfig};

/// Default UDP address of the direct channel.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7300";

/// Timing of the direct channel, from `[direct]` in `parley.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DirectTiming {
    /// QUIC keep-alive (heartbeat) interval, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// The connection is declared dead after this long without a reply, in milliseconds.
    pub idle_timeout_ms: u64,
    /// First delay before redialling a lost peer, in milliseconds; doubles up to the max.
    pub redial_delay_ms_min: u64,
    /// Longest delay between redials, in milliseconds.
    pub redial_delay_ms_max: u64,
}

impl Default for DirectTiming {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 1_000,
            idle_timeout_ms: 3_000,
            redial_delay_ms_min: 100,
            redial_delay_ms_max: 2_000,
        }
    }
}

/// Relay channel timing, from `[relay]` in `parley.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RelayTiming {
    /// Interval between heartbeats (signed pings) to each relay, in milliseconds. A relay that
    /// misses three in a row is down.
    pub heartbeat_interval_ms: u64,
    /// Longest a mailbox fetch waits at the relay for something to arrive, in milliseconds.
    pub poll_wait_ms: u64,
}

impl Default for RelayTiming {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 2_000,
            poll_wait_ms: 10_000,
        }
    }
}

/// Courier drop-folder timing, from `[courier]` in `parley.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CourierTiming {
    /// Interval between scans of each drop folder (bundles in, bundles out), in milliseconds.
    pub scan_interval_ms: u64,
}

impl Default for CourierTiming {
    fn default() -> Self {
        Self {
            scan_interval_ms: 1_000,
        }
    }
}

/// Channel health thresholds, from `[health]` in `parley.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// A channel whose round-trip time exceeds this is degraded, in milliseconds.
    pub degraded_rtt_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            degraded_rtt_ms: 1_000,
        }
    }
}

/// `[checkpoints]` in `parley.toml`: how often the station signs a checkpoint of its log of
/// each link (besides `parley checkpoint issue`). Checkpoints and cosignatures do not count as
/// new entries, so two idle stations do not checkpoint each other's cosignatures for ever.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointsConfig {
    /// After this many new entries.
    pub every_entries: u64,
    /// Or once this many seconds have passed since the last checkpoint with any new entry.
    pub every_s: u64,
}

impl Default for CheckpointsConfig {
    fn default() -> Self {
        Self {
            every_entries: 64,
            every_s: 3_600,
        }
    }
}

impl CheckpointsConfig {
    fn check(&self) -> Result<(), String> {
        use crate::limits::{CHECKPOINT_EVERY_ENTRIES_MAX, CHECKPOINT_EVERY_S_MAX};
        if !(1..=CHECKPOINT_EVERY_ENTRIES_MAX).contains(&self.every_entries) {
            return Err(format!(
                "checkpoints.every_entries = {} is outside 1..={CHECKPOINT_EVERY_ENTRIES_MAX}",
                self.every_entries
            ));
        }
        if !(1..=CHECKPOINT_EVERY_S_MAX).contains(&self.every_s) {
            return Err(format!(
                "checkpoints.every_s = {} is outside 1..={CHECKPOINT_EVERY_S_MAX} seconds",
                self.every_s
            ));
        }
        Ok(())
    }
}

/// `[[witnesses]]` in `parley.toml`: a stock `c2sp.org/tlog-witness` witness that every
/// checkpoint of every link also goes to, besides the link's relays (docs/cli.md,
/// "Witnesses").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Its submission prefix: `add-checkpoint` is posted to `<url>/add-checkpoint`
    /// (`http://` or `https://`).
    pub url: String,
    /// Its verifier key as it publishes it, `<name>+<key id>+<base64(0x04 ‖ Ed25519 key)>`.
    pub vkey: String,
    /// For `https://`: an absolute path to a PEM file of the certificate authorities to
    /// verify it against; absent, the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl WitnessConfig {
    /// The witness its verifier key names.
    pub fn witness(&self) -> Result<Witness, String> {
        Witness::from_verifier_key(&self.vkey).map_err(|error| format!("{error}"))
    }

    /// Its client, reading its certificate authorities (the daemon's, at start).
    pub fn client(&self) -> Result<parley_channels::witness::WitnessClient, String> {
        let ca = self.ca.as_deref().map(Path::new);
        parley_channels::witness::WitnessClient::new(&self.url, ca).map_err(|e| e.to_string())
    }

    /// Every configured witness, checked: at most [`STOCK_WITNESSES_MAX`], each with a usable
    /// URL and verifier key, no name or key twice (its certificate authorities are read when
    /// the daemon starts, [`Self::client`]).
    pub fn all(witnesses: &[Self]) -> Result<Vec<Witness>, String> {
        use crate::limits::STOCK_WITNESSES_MAX;
        if witnesses.len() > STOCK_WITNESSES_MAX {
            return Err(format!(
                "{} witnesses are configured; at most {STOCK_WITNESSES_MAX}",
                witnesses.len()
            ));
        }
        let mut all: Vec<Witness> = Vec::with_capacity(witnesses.len());
        for (index, config) in witnesses.iter().enumerate() {
            let at = |error: String| format!("witnesses[{index}]: {error}");
            let uri = parley_channels::witness::add_checkpoint_uri(&config.url)
                .map_err(|error| at(format!("url: {error}")))?;
            if let Some(ca) = &config.ca {
                if uri.scheme_str() != Some("https") {
                    return Err(at(
                        "ca: certificate authorities are for a witness over https://".into(),
                    ));
                }
                if !Path::new(ca).is_absolute() {
                    return Err(at(format!("ca: {ca:?} is not an absolute path")));
                }
            }
            let witness = config
                .witness()
                .map_err(|error| at(format!("vkey: {error}")))?;
            if all
                .iter()
                .any(|other| other.name == witness.name || other.key == witness.key)
            {
                return Err(at(
                    "vkey: another witness has this name or this key".to_owned()
                ));
            }
            all.push(witness);
        }
        Ok(all)
    }
}

/// `[keys]` in `parley.toml`: when the station makes a new epoch key, and how long it keeps
/// the old ones at least (docs/formats.md §3.6).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// A new epoch key this many days after the current one was made; 0: only on
    /// `parley key rotate`.
    pub epoch_rotate_days: u64,
    /// A superseded epoch key is kept at least this many days, and after that until no peer
    /// may still send anything sealed to it. Longer than the slowest channel takes.
    pub epoch_retain_days: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            epoch_rotate_days: 30,
            epoch_retain_days: 14,
        }
    }
}

impl KeysConfig {
    fn check(&self) -> Result<(), String> {
        use crate::limits::{EPOCH_RETAIN_DAYS_MAX, EPOCH_RETAIN_DAYS_MIN, EPOCH_ROTATE_DAYS_MAX};
        if self.epoch_rotate_days > EPOCH_ROTATE_DAYS_MAX {
            return Err(format!(
                "keys.epoch_rotate_days = {} is outside 0..={EPOCH_ROTATE_DAYS_MAX} (0: only on `parley key rotate`)",
                self.epoch_rotate_days
            ));
        }
        if !(EPOCH_RETAIN_DAYS_MIN..=EPOCH_RETAIN_DAYS_MAX).contains(&self.epoch_retain_days) {
            return Err(format!(
                "keys.epoch_retain_days = {} is outside {EPOCH_RETAIN_DAYS_MIN}..={EPOCH_RETAIN_DAYS_MAX}",
                self.epoch_retain_days
            ));
        }
        Ok(())
    }

    /// The core's settings.
    pub fn settings(&self) -> crate::core::KeySettings {
        const DAY_MS: u64 = 24 * 3_600 * 1_000;
        crate::core::KeySettings {
            rotate_every_ms: (self.epoch_rotate_days > 0).then(|| self.epoch_rotate_days * DAY_MS),
            retain_ms: self.epoch_retain_days * DAY_MS,
        }
    }
}

/// `parley.toml`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Station name shown to peers.
    pub name: String,
    /// Working language (BCP 47) of this station's operators.
    pub lang: String,
    /// UDP address the direct channel listens on, also advertised in the contact card.
    pub listen: String,
    /// Direct channel timing.
    #[serde(default)]
    pub direct: DirectTiming,
    /// Relay channel timing.
    #[serde(default)]
    pub relay: RelayTiming,
    /// Courier drop-folder timing.
    #[serde(default)]
    pub courier: CourierTiming,
    /// Channel health thresholds.
    #[serde(default)]
    pub health: HealthConfig,
    /// Time objectives per precedence.
    #[serde(default)]
    pub objectives: Objectives,
    /// Alarm handling.
    #[serde(default)]
    pub alarms: AlarmsConfig,
    /// Scheduled tests, one table per peer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestConfig>,
    /// Checkpoint cadence.
    #[serde(default)]
    pub checkpoints: CheckpointsConfig,
    /// Epoch key rotation and retention.
    #[serde(default)]
    pub keys: KeysConfig,
    /// What each peer may make this station store.
    #[serde(default)]
    pub intake: crate::intake_config::IntakeConfig,
    /// Stock witnesses every checkpoint also goes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<WitnessConfig>,
    /// Prometheus metrics, served by the daemon; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsConfig>,
    /// The operators' web console, served by the daemon; absent: no console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfig>,
}

/// `[console]`: where the daemon serves the operators' web console.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// `HOST:PORT` to listen on. A loopback address may serve plain HTTP; any other address
    /// serves HTTPS only, with `cert` and `key`.
    pub listen: String,
    /// PEM certificate chain for HTTPS.
    #[serde(default)]
    pub cert: Option<String>,
    /// PEM private key for HTTPS (mode 0600).
    #[serde(default)]
    pub key: Option<String>,
    /// A session unused this long is logged out, in seconds.
    #[serde(default = "default_session_idle_s")]
    pub session_idle_s: u64,
}

/// Default idle timeout of a console session, in seconds (15 minutes).
pub const CONSOLE_SESSION_IDLE_S_DEFAULT: u64 = 15 * 60;

fn default_session_idle_s() -> u64 {
    CONSOLE_SESSION_IDLE_S_DEFAULT
}

/// `[metrics]`: where the daemon serves Prometheus metrics (`GET /metrics`, plain HTTP).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `IP:PORT` to listen on. Any address may be used: metrics carry counts, states and
    /// peer names, no secret and no message text.
    pub listen: String,
}

/// Shortest heartbeat or scan interval a configuration may set, in milliseconds.
pub const INTERVAL_MS_MIN: u64 = 50;
/// Longest heartbeat or scan interval a configuration may set, in milliseconds.
pub const INTERVAL_MS_MAX: u64 = 10 * 60_000;

impl Config {
    /// Checks everything: the channel timing ([`Self::check_timing`]) and the watch's
    /// objectives, alarms and tests ([`crate::watch_config::check`]), naming the field at fault.
    pub fn check(&self) -> Result<(), String> {
        self.check_timing()?;
        self.checkpoints.check()?;
        self.keys.check()?;
        self.intake.check()?;
        WitnessConfig::all(&self.witnesses)?;
        if let Some(metrics) = &self.metrics
            && metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(format!(
                "metrics.listen = {:?} is not IP:PORT (e.g. 127.0.0.1:9464)",
                metrics.listen
            ));
        }
        crate::watch_config::check(&self.objectives, &self.alarms, &self.tests)
    }

    /// Checks the channel timing: intervals within [`INTERVAL_MS_MIN`]..=[`INTERVAL_MS_MAX`],
    /// and a direct idle timeout of more than one and at most three heartbeat intervals, so a
    /// dead direct channel is reported down within three heartbeats.
    pub fn check_timing(&self) -> Result<(), String> {
        let intervals = [
            (
                "direct.heartbeat_interval_ms",
                self.direct.heartbeat_interval_ms,
            ),
            (
                "direct.redial_delay_ms_min",
                self.direct.redial_delay_ms_min,
            ),
            (
                "direct.redial_delay_ms_max",
                self.direct.redial_delay_ms_max,
            ),
            (
                "relay.heartbeat_interval_ms",
                self.relay.heartbeat_interval_ms,
            ),
            ("relay.poll_wait_ms", self.relay.poll_wait_ms),
            ("courier.scan_interval_ms", self.courier.scan_interval_ms),
            ("health.degraded_rtt_ms", self.health.degraded_rtt_ms),
        ];
        for (name, value) in intervals {
            if !(INTERVAL_MS_MIN..=INTERVAL_MS_MAX).contains(&value) {
                return Err(format!(
                    "{name} = {value} is outside {INTERVAL_MS_MIN}..={INTERVAL_MS_MAX} ms"
                ));
            }
        }
        let heartbeat = self.direct.heartbeat_interval_ms;
        if self.direct.idle_timeout_ms <= heartbeat || self.direct.idle_timeout_ms > 3 * heartbeat {
            return Err(format!(
                "direct.idle_timeout_ms = {} must be more than one and at most three heartbeat intervals ({heartbeat} ms)",
                self.direct.idle_timeout_ms
            ));
        }
        if self.direct.redial_delay_ms_min > self.direct.redial_delay_ms_max {
            return Err("direct.redial_delay_ms_min is above direct.redial_delay_ms_max".into());
        }
        if self.relay.poll_wait_ms > parley_relay_wire::limits::FETCH_WAIT_MS_MAX {
            return Err(format!(
                "relay.poll_wait_ms = {} is above what relays allow by default ({} ms)",
                self.relay.poll_wait_ms,
                parley_relay_wire::limits::FETCH_WAIT_MS_MAX
            ));
        }
        Ok(())
    }

    /// A configuration with default channel timing.
    pub fn new(name: String, lang: String, listen: String) -> Self {
        Self {
            name,
            lang,
            listen,
            direct: DirectTiming::default(),
            relay: RelayTiming::default(),
            courier: CourierTiming::default(),
            health: HealthConfig::default(),
            objectives: Objectives::default(),
            alarms: AlarmsConfig::default(),
            tests: Vec::new(),
            checkpoints: CheckpointsConfig::default(),
            keys: KeysConfig::default(),
            intake: Default::default(),
            witnesses: Vec::new(),
            metrics: None,
            console: None,
        }
    }
}

/// A station's home directory.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// The home at `root` (not necessarily initialised).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of a file in the home.
    pub fn path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// The store's path.
    pub fn store_path(&self) -> PathBuf {
        self.path("store.sqlite")
    }

    /// The console database's path (operator accounts and the audit log).
    pub fn console_path(&self) -> PathBuf {
        self.path("console.sqlite")
    }

    /// The API socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.path("api.sock")
    }

    /// Whether `parley init` has run here.
    pub fn is_initialised(&self) -> bool {
        self.path("parley.toml").exists() && self.path("identity.key").exists()
    }

    /// Reads `parley.toml`.
    pub fn config(&self) -> Result<Config, StationError> {
        if !self.is_initialised() {
            return Err(StationError::NotInitialised(self.root.clone()));
        }
        let bytes = read_home_file(
            &self.path("parley.toml"),
            "reading parley.toml",
            CONFIG_SIZE_MAX_BYTES,
        )?;
        let text = String::from_utf8(bytes)
            .map_err(|_| StationError::Config("parley.toml is not UTF-8".into()))?;
        let config: Config =
            toml::from_str(&text).map_err(|e| StationError::Config(e.to_string()))?;
        // The name is signed into every card: one edited in by hand is held to the rule too.
        if let Err(why) = parley_proto::names::check_name(&config.name) {
            return Err(StationError::Config(format!(
                "parley.toml: the station name {why}; give `name` 1 to {NAME_SIZE_MAX_BYTES} \
                 bytes, not blank, without control or text-direction characters"
            )));
        }
        Ok(config)
    }

    /// Writes `parley.toml`.
    pub fn write_config(&self, config: &Config) -> Result<(), StationError> {
        let text = toml::to_string(config).map_err(|e| StationError::Config(e.to_string()))?;
        write_private(&self.path("parley.toml"), text.as_bytes(), 0o644)
    }

    /// Reads the identity key.
    pub fn identity(&self) -> Result<Identity, StationError> {
        if !self.is_initialised() {
            return Err(StationError::NotInitialised(self.root.clone()));
        }
        let path = self.path("identity.key");
        let bytes = match read_home_file(&path, "reading identity.key", IDENTITY_KEY_BYTES) {
            Err(StationError::Config(_)) if fs::metadata(&path).is_ok_and(|m| m.is_file()) => {
                return Err(not_a_key());
            }
            read => read?,
        };
        let seed: [u8; IDENTITY_KEY_BYTES] = bytes.try_into().map_err(|_| not_a_key())?;
        Ok(Identity::from_secret(&seed))
    }

    /// Writes the identity key, readable by the owner only.
    pub fn write_identity(&self, identity: &Identity) -> Result<(), StationError> {
        write_private(&self.path("identity.key"), &identity.secret_bytes(), 0o600)
    }

    /// Creates the home directory (mode 0700): a new one, or an empty one of the running
    /// user's own ([`parley_channels::private`]).
    pub fn create(&self) -> Result<(), StationError> {
        create_private_dir(&self.root).map_err(|error| match error {
            PrivateDirError::Io { what, source, .. } => StationError::io(what, source),
            refused @ PrivateDirError::NotOwn { .. } => StationError::Invalid(format!(
                "{refused}; give the path of a new directory, or of an empty one of your own; \
                 nothing was created"
            )),
            refused => StationError::Invalid(format!("{refused}; nothing was created")),
        })
    }

    /// Creates the store file, empty and readable by the owner only, so the SQLite database
    /// (and the journal files SQLite gives the same mode) never exists readable by others.
    pub fn create_store_file(&self) -> Result<(), StationError> {
        OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(self.store_path())
            .map(drop)
            .map_err(|e| StationError::io("creating store.sqlite", e))
    }

    /// Refuses a home that other users can enter or change, or whose secrets they can read:
    /// the home directory, `identity.key`, the store (which holds the epoch secret and every
    /// message in clear) and the console database (password hashes, the audit log) must be
    /// the running user's own and closed to others, and `parley.toml` (which names the
    /// programs alarms run) the running user's own and writable by no one else but the user's
    /// own group. Files that do not exist are not checked.
    pub fn check_private(&self) -> Result<(), StationError> {
        let mut files = vec![
            (self.root.clone(), 0o700),
            (self.path("identity.key"), 0o600),
            (self.path("parley.toml"), 0o644),
        ];
        for database in [self.store_path(), self.console_path()] {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = database.clone().into_os_string();
                path.push(suffix);
                files.push((PathBuf::from(path), 0o600));
            }
        }
        for (path, wanted) in files {
            let metadata = match fs::symlink_metadata(&path) {
                Ok(metadata) => metadata,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => {
                    return Err(StationError::io("checking the home's permissions", error));
                }
            };
            check_own(&path, &metadata).map_err(|refused| {
                StationError::Config(format!(
                    "{refused}: this station's secrets, and the programs its alarms run; \
                     nothing was done. Run the command as the station's own user (such as \
                     `sudo -u` that user); if the station is this user's, give its home back \
                     to it (`chown -R`)"
                ))
            })?;
            let mode = metadata.permissions().mode() & 0o777;
            // The configuration may be writable by its owner's own group (a umask of 002 gives
            // new files that), never by another group or by everyone.
            let own_group = metadata.gid() == rustix::process::getegid().as_raw();
            let allowed = if wanted == 0o644 && own_group {
                0o664
            } else {
                wanted
            };
            if mode & !allowed & 0o077 != 0 {
                let reach = if wanted == 0o644 {
                    "change this station's configuration (the programs its alarms run)"
                } else {
                    "reach this station's secrets (its identity key, its epoch secret, every \
                     message in clear)"
                };
                return Err(StationError::Config(format!(
                    "{} has mode {mode:03o}: other users can {reach}; nothing was done. \
                     Run `chmod {wanted:o} {}` and try again",
                    path.display(),
                    path.display()
                )));
            }
        }
        Ok(())
    }

    /// Takes the station lock without waiting. `Ok(None)` means a daemon holds it. A directory
    /// that holds no station is refused as such, and nothing is created in it.
    pub fn try_lock(&self) -> Result<Option<File>, StationError> {
        if !self.is_initialised() {
            return Err(StationError::NotInitialised(self.root.clone()));
        }
        // As hostile files are opened: no symbolic link followed, never blocking (a FIFO put
        // in its place would hold every command), and a regular file only.
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let path = self.path("daemon.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(flags.bits() as i32)
            .open(&path)
            .map_err(|error| match error.raw_os_error() {
                // A symbolic link (`O_NOFOLLOW`), a FIFO with no reader (`O_NONBLOCK`), a
                // directory.
                Some(code)
                    if [
                        rustix::io::Errno::LOOP,
                        rustix::io::Errno::NXIO,
                        rustix::io::Errno::ISDIR,
                    ]
                    .iter()
                    .any(|errno| errno.raw_os_error() == code) =>
                {
                    lock_refused(&path, error)
                }
                _ => StationError::io("opening daemon.lock", error),
            })?;
        let regular = file.metadata().is_ok_and(|metadata| metadata.is_file());
        if !regular {
            return Err(lock_refused(
                &path,
                std::io::Error::other("it is not a regular file"),
            ));
        }
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(StationError::io("locking daemon.lock", e)),
        }
    }
}

/// `daemon.lock` cannot be opened or is not a lock: a symbolic link, a FIFO, a directory.
fn lock_refused(path: &Path, error: std::io::Error) -> StationError {
    StationError::Config(format!(
        "{} cannot be used as the station's lock ({error}): it must be a regular file, not a \
         symbolic link, a FIFO or a directory; stop any daemon of this station, remove it, and \
         try again (it is made anew); nothing was changed",
        path.display()
    ))
}

/// Bytes of `identity.key`: the Ed25519 secret seed.
const IDENTITY_KEY_BYTES: usize = 32;

/// `identity.key` holds something else than a key.
fn not_a_key() -> StationError {
    StationError::Config(format!(
        "identity.key is not {IDENTITY_KEY_BYTES} bytes; restore it from the backup taken with \
         the store"
    ))
}

/// Reads a file of the home, of at most `max` bytes, as hostile files are read: a regular file
/// only, no symbolic link followed, never blocking (a FIFO or device put in its place is
/// refused before a byte is read).
fn read_home_file(path: &Path, what: &'static str, max: usize) -> Result<Vec<u8>, StationError> {
    parley_channels::courier::read_bounded(path, max).map_err(|error| match error {
        FileError::Io { source, .. } => StationError::io(what, source),
        other => StationError::Config(other.to_string()),
    })
}

/// Writes a file atomically with the given mode: a temporary file under a fresh random name,
/// created exclusively (never through a link or FIFO planted at a known name), written,
/// synced, renamed into place, and the directory synced (so a crash after this returns keeps
/// the file).
pub fn write_private(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StationError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".parley-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| StationError::io("creating a file in the home", e))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| StationError::io("writing a file in the home", e))?;
    file.persist(path)
        .map_err(|e| StationError::io("renaming a file in the home", e.error))?;
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| StationError::io("syncing the home", e))
}

#[cfg(test)]
mod tests;
