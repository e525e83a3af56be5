//! A station opened from its home without a daemon: identity, configuration, store and the
//! station core. CLI commands that change a stopped station open one under the station lock
//! and run their request through [`Node::execute`], exactly as the daemon runs it; reading
//! commands open one read-only beside a running daemon.

use std::collections::BTreeMap;
use std::fs;

use parley_proto::receipt::Receipt;
use parley_proto::seal::EpochSecret;
use parley_proto::tlog::head::Witness;
use parley_proto::transcript::{self, TranscriptParts};
use parley_proto::{EntryId, Identity, LinkId, LinkSnapshot};
use parley_store::{PeerRow, Store};
use rand_core::SeedableRng as _;

use crate::api::{ApiError, Reply};
use crate::clock::Clock;
use crate::core::watch::WatchSettings;
use crate::core::{
    CheckpointSettings, Command, Input, Loaded, Mode, Output, RequestId, Settings, Station,
};
use crate::error::StationError;
use crate::home::{Config, Home, WitnessConfig};

/// A station opened for one command.
pub struct Node {
    config: Config,
    store: Store,
    station: Station,
    clock: Clock,
    next_request: u64,
}

/// Fresh randomness from the operating system.
pub fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the OS random source is available");
    seed
}

impl Node {
    /// Creates a station in `home`: identity key, first epoch key, store and configuration.
    pub fn init(home: &Home, config: Config, now_ms: u64) -> Result<Identity, StationError> {
        if home.is_initialised() {
            return Err(StationError::AlreadyInitialised(home.root().to_path_buf()));
        }
        validate_config(&config)?;
        // What an earlier `init` left when it stopped part way (a crash, a full disk) is never
        // taken over or replaced: it may be a station whose configuration was removed.
        let left = ["store.sqlite", "identity.key", "parley.toml"]
            .into_iter()
            .filter(|name| fs::symlink_metadata(home.path(name)).is_ok())
            .collect::<Vec<_>>();
        if !left.is_empty() {
            return Err(StationError::Invalid(format!(
                "{} holds {} but no whole station: an earlier `parley init` stopped part way, \
                 or a file was removed. If no station was ever used here, remove {} and run \
                 `parley init` again; nothing was changed",
                home.root().display(),
                left.join(" and "),
                left.join(" and ")
            )));
        }
        home.create()?;
        let identity = Identity::from_secret(&os_seed());
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed(os_seed()));
        home.create_store_file()?;
        let mut store = Store::open(&home.store_path())?;
        store.init_station(&config.name, &config.lang, identity.id().0, &epoch, now_ms)?;
        home.write_identity(&identity)?;
        home.write_config(&config)?;
        Ok(identity)
    }

    /// Opens an initialised station for changing it (the caller holds the station lock).
    /// Refuses a home whose secrets other users can reach.
    pub fn open(home: &Home) -> Result<Self, StationError> {
        let config = home.config()?;
        home.check_private()?;
        let store = Store::open_existing(&home.store_path())?;
        Self::with_store(home, config, store)
    }

    /// Opens a station for reading beside a running daemon.
    pub fn open_read_only(home: &Home) -> Result<Self, StationError> {
        let config = home.config()?;
        let store = Store::open_read_only(&home.store_path())?;
        Self::with_store(home, config, store)
    }

    fn with_store(home: &Home, config: Config, store: Store) -> Result<Self, StationError> {
        config.check().map_err(StationError::Config)?;
        let identity = home.identity()?;
        let clock = Clock::starting_after(store.latest_time_ms()?);
        let loaded = load(&store, identity, &config, os_seed())?;
        let station = Station::new(clock.now_ms(), loaded, Mode::Offline)?;
        Ok(Self {
            config,
            store,
            station,
            clock,
            next_request: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The station core.
    pub fn station(&self) -> &Station {
        &self.station
    }

    /// Now, by the station's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The transcript of the link with `peer` (name or fingerprint), as docs/formats.md
    /// specifies it: both cards, every entry held of both logs, the peer's latest receipt and
    /// a receipt this station signs now for what it holds. Returns the peer's name and the text.
    pub fn export_transcript(&self, peer: &str) -> Result<(String, String), StationError> {
        let peer_id = self.station.resolve_peer(peer)?;
        let record = self.store.transcript(&peer_id)?;
        let me = self.station.identity().id();
        let link = LinkId::between(&me, &peer_id);
        let (_, own_card) = self.station.card();
        let now = self.now_ms();
        let in_ids = &record.snapshot.in_ids;
        let own_receipt = Receipt {
            link,
            from: me,
            to: peer_id,
            upto: in_ids.len() as u64,
            head: in_ids.last().copied().unwrap_or(EntryId::NONE),
            extra: Vec::new(),
            time_ms: now,
        }
        .sign(self.station.identity());
        let mut receipts = vec![own_receipt];
        receipts.extend(record.latest_receipt);
        let text = transcript::export(&TranscriptParts {
            link,
            exported_ms: now,
            cards: [&own_card, &record.peer.card_bytes],
            entries: record
                .entries
                .into_iter()
                .map(|stored| stored.signed)
                .collect(),
            receipts,
        });
        Ok((record.peer.name, text))
    }

    /// Runs one command as the daemon would, and commits it before answering.
    pub fn execute(&mut self, command: Command) -> Result<Reply, ApiError> {
        let now_ms = self.clock.now_ms();
        self.next_request += 1;
        let id = RequestId(self.next_request);
        self.station.handle(now_ms, Input::Command { id, command });
        // A failed commit is reported in the answer the core then gives.
        let _ = commit_all(&mut self.station, &mut self.store);
        let mut answer = None;
        while let Some(output) = self.station.poll_output() {
            match output {
                Output::Reply {
                    id: answered,
                    result,
                } if answered == id => answer = Some(result),
                // A receipt in an imported bundle showed the peer lost own entries, or a key
                // announcement in it changed the peer's key: sealed again now, so that the
                // next export carries them.
                Output::Reseal { peer, seqs, lost } => match self.store.own_entries(&peer, &seqs) {
                    Ok(entries) => {
                        self.station.reseal(now_ms, &peer, &entries, lost);
                        let _ = commit_all(&mut self.station, &mut self.store);
                    }
                    // Answered with none, nothing changes: asked again later.
                    Err(error) => {
                        tracing::error!(%error, "could not read own entries to seal again");
                        self.station.reseal(now_ms, &peer, &[], lost);
                    }
                },
                _ => {}
            }
        }
        answer.unwrap_or_else(|| {
            Err(ApiError::new(
                crate::api::ErrorClass::Local,
                "the station core gave no answer; nothing was changed",
            ))
        })
    }
}

/// Commits every batch the core has waiting into `store`, each in one transaction, and tells
/// the core how each went; stops at the first failure and returns it (the core then answers
/// everything that waited on it with the failure, and stops).
pub fn commit_all(
    station: &mut Station,
    store: &mut Store,
) -> Result<(), parley_store::StoreError> {
    while let Some(commit) = station.poll_commit() {
        if commit.is_empty() {
            station.commit_done(Ok(()));
            continue;
        }
        if let Err(error) = store.commit_batch(&commit.admin, &commit.ops) {
            station.commit_done(Err(error.to_string()));
            return Err(error);
        }
        station.commit_done(Ok(()));
    }
    Ok(())
}

/// Reads everything a station core is built from out of `store`.
pub fn load(
    store: &Store,
    identity: Identity,
    config: &Config,
    seed: [u8; 32],
) -> Result<Loaded, StationError> {
    let station = store
        .station()?
        .ok_or_else(|| StationError::Config("the store holds no station".into()))?;
    if station.identity != identity.id() {
        return Err(StationError::Config(
            "identity.key does not belong to this store; restore the matching pair".into(),
        ));
    }
    let epochs = store.epoch_keys()?;
    if !epochs.first().is_some_and(|row| row.current) {
        return Err(StationError::Store(parley_store::StoreError::Corrupt(
            "the store holds no current epoch key".into(),
        )));
    }
    let mut peers = Vec::new();
    for row in store.peers()? {
        let snapshot = store.link_snapshot(&row.id)?;
        peers.push((row, snapshot));
    }
    let mut records = Vec::new();
    let mut leaves = Vec::new();
    for (row, _) in &peers {
        records.push((row.id, store.link_record(&row.id)?));
        leaves.push((row.id, store.link_leaves(&row.id)?));
    }
    let watch = watch_settings(config, &peers)?;
    let witnesses = stock_witnesses(config, &identity)?;
    Ok(Loaded {
        identity,
        settings: Settings {
            name: config.name.clone(),
            lang: config.lang.clone(),
            listen: config.listen.clone(),
            degraded_rtt_ms: config.health.degraded_rtt_ms,
            watch,
            checkpoints: CheckpointSettings {
                every_entries: config.checkpoints.every_entries,
                every_ms: config.checkpoints.every_s * 1_000,
                witnesses,
            },
            keys: config.keys.settings(),
            intake: config.intake.limit(),
        },
        created_ms: station.created_ms,
        epochs,
        peers,
        channels: store.channels()?,
        records,
        leaves,
        alarms: store.alarms(false)?,
        alarm_id_max: store.alarm_id_max()?,
        stored_until_ms: store.latest_time_ms()?,
        stopped_ms: station.stopped_ms,
        seed,
    })
}

/// The stock witnesses of the configuration, none with this station's own key.
fn stock_witnesses(config: &Config, identity: &Identity) -> Result<Vec<Witness>, StationError> {
    let witnesses = WitnessConfig::all(&config.witnesses).map_err(StationError::Config)?;
    match witnesses.iter().position(|w| w.key == identity.id()) {
        Some(index) => Err(StationError::Config(format!(
            "witnesses[{index}]: vkey: the witness's key is this station's own identity key"
        ))),
        None => Ok(witnesses),
    }
}

/// The watch's settings from the configuration; a test schedule must name a paired peer.
fn watch_settings(
    config: &Config,
    peers: &[(PeerRow, LinkSnapshot)],
) -> Result<WatchSettings, StationError> {
    let mut tests = BTreeMap::new();
    for (index, test) in config.tests.iter().enumerate() {
        let peer = peers
            .iter()
            .find(|(row, _)| row.name == test.peer)
            .ok_or_else(|| {
                StationError::Config(format!(
                    "tests[{index}].peer = {:?} is not a paired peer; `parley peer list` names them",
                    test.peer
                ))
            })?;
        let schedule = test.schedule(index).map_err(StationError::Config)?;
        tests.insert(peer.0.id, schedule);
    }
    Ok(WatchSettings {
        objectives: config.objectives.clone(),
        escalate_after_ms: config.alarms.escalate_after_s * 1_000,
        channel_down_after_ms: config.alarms.channel_down_after_s * 1_000,
        tests,
    })
}

/// Checks an operator-given configuration against the card limits.
pub fn validate_config(config: &Config) -> Result<(), StationError> {
    use parley_proto::limits::{LANG_SIZE_MAX_BYTES, NAME_SIZE_MAX_BYTES};
    if let Err(why) = parley_proto::names::check_new_station_name(&config.name) {
        return Err(StationError::Invalid(format!(
            "the station name {why}: it must be 1 to {NAME_SIZE_MAX_BYTES} bytes, not blank, without control, text-direction or invisible characters, and not readable as a fingerprint; nothing was created"
        )));
    }
    let lang_ok = !config.lang.is_empty()
        && config.lang.len() <= LANG_SIZE_MAX_BYTES
        && config
            .lang
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !lang_ok {
        return Err(StationError::Invalid(format!(
            "the language must be a BCP 47 tag such as en, ru or zh-Hant (at most {LANG_SIZE_MAX_BYTES} bytes)"
        )));
    }
    parse_listen(&config.listen)?;
    config.check().map_err(StationError::Config)?;
    Ok(())
}

/// Parses a listen or peer address (`HOST:PORT`, optionally prefixed `quic://`).
pub fn parse_listen(text: &str) -> Result<std::net::SocketAddr, StationError> {
    let bare = text.strip_prefix("quic://").unwrap_or(text);
    bare.parse().map_err(|_| {
        StationError::Invalid(format!(
            "{text:?} is not an address of the form IP:PORT (e.g. 127.0.0.1:7300)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A home where an earlier `init` stopped part way is refused with what to do, changing
    /// nothing; once the leftover is removed, `init` works.
    #[test]
    fn init_over_what_an_earlier_init_left_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("a directory");
        let home = Home::new(dir.path().join("home"));
        home.create().expect("creates");
        home.create_store_file().expect("creates");
        let config = || Config::new("Alpha".into(), "en".into(), "127.0.0.1:0".into());
        let error = Node::init(&home, config(), 1_000).expect_err("refused");
        let expected = format!(
            "{} holds store.sqlite but no whole station: an earlier `parley init` stopped part \
             way, or a file was removed. If no station was ever used here, remove store.sqlite \
             and run `parley init` again; nothing was changed",
            home.root().display()
        );
        assert_eq!(error.to_string(), expected);
        assert_eq!(fs::metadata(home.store_path()).expect("kept").len(), 0);
        assert!(!home.path("identity.key").exists());
        fs::remove_file(home.store_path()).expect("removes");
        Node::init(&home, config(), 1_000).expect("a fresh home initialises");
        assert!(home.is_initialised());
    }
}
