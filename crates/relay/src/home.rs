//! A relay's home directory, and the operator's administration of it: admitting, listing and
//! revoking stations.
//!
//! ```text
//! relay.toml      configuration: name, optional urls, [limits]   (mode 0644)
//! identity.key    Ed25519 identity secret seed, 32 bytes          (mode 0600)
//! relay.sqlite    stations, mailboxes, nonces, witnessed checkpoints (WAL, full sync)
//! ```
//!
//! The home directory is mode 0700. The relay's public card is a [`ContactCard`] signed by its
//! identity, so stations pin a relay exactly as they pin a peer: by its fingerprint, read out of
//! band. A card must carry an epoch (X-Wing) key; the relay generates one at `init`, keeps only
//! its public half in the store, and never uses it: nothing is ever encrypted to a relay.
//!
//! Guarantees: `init` refuses to touch a directory that already holds a relay identity or
//! configuration; `admit` stores nothing unless the card's signature verifies and its
//! fingerprint equals the one the operator was given out of band.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use parley_channels::courier::FileError;
use parley_channels::private::{PrivateDirError, create_private_dir};
use parley_proto::limits::{ADDRESS_SIZE_MAX_BYTES, CARD_ADDRESSES_MAX, NAME_SIZE_MAX_BYTES};
use parley_proto::seal::EpochSecret;
use parley_proto::{ContactCard, DecodeError, Fingerprint, Identity};
use rand_core::SeedableRng as _;
use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::store::{StationRow, Store, StoreError, WitnessConflict, WitnessedLog};

/// Configuration file name.
pub const CONFIG_FILE: &str = "relay.toml";
/// Identity key file name.
pub const IDENTITY_FILE: &str = "identity.key";
/// Store file name.
pub const STORE_FILE: &str = "relay.sqlite";
/// Language of the relay's card.
pub const CARD_LANG: &str = "en";

/// `relay.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Name shown in the relay's card.
    pub name: String,
    /// URLs the relay is reachable at (e.g. `https://relay.example:7400`), listed in its card.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Configurable bounds.
    #[serde(default)]
    pub limits: Limits,
}

impl RelayConfig {
    /// Checks the name, the urls and the limits.
    pub fn validate(&self) -> Result<(), String> {
        check_name(&self.name)?;
        if self.urls.len() > CARD_ADDRESSES_MAX {
            return Err(format!(
                "{} urls listed, the card holds at most {CARD_ADDRESSES_MAX}",
                self.urls.len()
            ));
        }
        if let Some(url) = self
            .urls
            .iter()
            .find(|url| url.len() > ADDRESS_SIZE_MAX_BYTES || !url.starts_with("https://"))
        {
            return Err(format!(
                "url {url:?} must start with https:// and be at most {ADDRESS_SIZE_MAX_BYTES} bytes"
            ));
        }
        self.limits.validate()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    parley_proto::names::check_name(name).map_err(|why| {
        format!(
            "the name {why}: it must be 1 to {NAME_SIZE_MAX_BYTES} bytes, not blank, without control or text-direction characters"
        )
    })
}

/// Why an operation on the relay home failed. Nothing was changed unless the text says so.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// No relay here.
    #[error("{0} is not a relay home (no relay.toml or identity.key); run `parley relay init`")]
    NotInitialised(PathBuf),
    /// `init` found relay files already.
    #[error("{0} already holds a relay identity or configuration; nothing was changed")]
    AlreadyInitialised(PathBuf),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's account.
        source: std::io::Error,
    },
    /// `relay.toml` or the name given is invalid.
    #[error("invalid relay configuration: {0}")]
    Config(String),
    /// `identity.key` is unusable.
    #[error("identity.key is unusable: {0}; restore it from backup")]
    Identity(String),
    /// The card text does not verify.
    #[error("card refused: {0}; nothing was admitted; ask the station for its card again")]
    Card(#[from] DecodeError),
    /// The fingerprint given is not in the displayed form.
    #[error("{0:?} is not a fingerprint (32 hex digits, separators allowed); nothing was admitted")]
    FingerprintSyntax(String),
    /// The card belongs to another station than the fingerprint given.
    #[error(
        "fingerprint mismatch: the card's fingerprint is {card}, not {expected}; nothing was \
         admitted; check the card file and re-read the fingerprint with the station's operator"
    )]
    FingerprintMismatch {
        /// The card's fingerprint.
        card: Fingerprint,
        /// The fingerprint the operator gave.
        expected: Fingerprint,
    },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Most bytes of `relay.toml` read.
const CONFIG_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// Bytes of the identity key file: the Ed25519 secret seed.
const IDENTITY_KEY_BYTES: usize = 32;

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HomeError {
    let what = what.into();
    move |source| HomeError::Io { what, source }
}

/// A relay's home directory.
#[derive(Clone, Debug)]
pub struct RelayHome {
    root: PathBuf,
}

impl RelayHome {
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

    /// Whether `init` has completed here.
    pub fn is_initialised(&self) -> bool {
        self.path(CONFIG_FILE).exists() && self.path(IDENTITY_FILE).exists()
    }

    /// Creates a relay: home (0700), store with the relay's creation time and card epoch key,
    /// identity key (0600), then `relay.toml`. Returns the new identity.
    pub fn init(&self, name: &str, now_ms: u64) -> Result<Identity, HomeError> {
        check_name(name).map_err(HomeError::Config)?;
        if self.is_initialised() {
            return Err(HomeError::AlreadyInitialised(self.root.clone()));
        }
        // What an earlier `init` left when it stopped part way (a crash, a full disk) is never
        // taken over or replaced: it may be a relay whose configuration was removed.
        let left = [STORE_FILE, IDENTITY_FILE, CONFIG_FILE]
            .into_iter()
            .filter(|file| fs::symlink_metadata(self.path(file)).is_ok())
            .collect::<Vec<_>>();
        if !left.is_empty() {
            let left = left.join(" and ");
            return Err(HomeError::Config(format!(
                "{} holds {left} but no whole relay: an earlier `parley relay init` stopped part \
                 way, or a file was removed. If no relay was ever used here, remove {left} and \
                 run `parley relay init` again; nothing was changed",
                self.root.display()
            )));
        }
        // A new directory, or an empty one of the running user's own: whoever owns the home
        // could replace the relay's key, store and configuration.
        create_private_dir(&self.root).map_err(|error| match error {
            PrivateDirError::Io { what, source, .. } => io_error(what)(source),
            refused @ PrivateDirError::NotOwn { .. } => HomeError::Config(format!(
                "{refused}; give the path of a new directory, or of an empty one of your own; \
                 nothing was created"
            )),
            refused => HomeError::Config(format!("{refused}; nothing was created")),
        })?;
        let identity = Identity::from_secret(&os_random());
        // The card needs an epoch key; the relay never decrypts anything, so the secret half
        // is dropped here and only the public half is kept.
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed(os_random()));
        // Created readable by the owner only, so the database (and the journal files SQLite
        // gives the same mode) never exists readable by others.
        OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(self.path(STORE_FILE))
            .map(drop)
            .map_err(io_error(format!("creating {STORE_FILE}")))?;
        let mut store = Store::open(&self.path(STORE_FILE))?;
        store.init_relay(now_ms, epoch.public_bytes())?;
        write_file(&self.path(IDENTITY_FILE), &identity.secret_bytes(), 0o600)?;
        let config = RelayConfig {
            name: name.to_owned(),
            urls: Vec::new(),
            limits: Limits::default(),
        };
        let text = toml::to_string(&config).map_err(|e| HomeError::Config(e.to_string()))?;
        write_file(&self.path(CONFIG_FILE), text.as_bytes(), 0o644)?;
        Ok(identity)
    }

    /// Reads `file` of the home, of at most `max` bytes, as hostile files are read: a regular
    /// file only, no symbolic link followed, never blocking on a FIFO or a device.
    fn read(&self, file: &str, max: usize) -> Result<Vec<u8>, HomeError> {
        parley_channels::courier::read_bounded(&self.path(file), max).map_err(|error| match error {
            FileError::Io { source, .. } => io_error(format!("reading {file}"))(source),
            other => HomeError::Config(other.to_string()),
        })
    }

    fn require_initialised(&self) -> Result<(), HomeError> {
        if self.is_initialised() {
            Ok(())
        } else {
            Err(HomeError::NotInitialised(self.root.clone()))
        }
    }

    /// Reads and validates `relay.toml`.
    pub fn config(&self) -> Result<RelayConfig, HomeError> {
        self.require_initialised()?;
        let bytes = self.read(CONFIG_FILE, CONFIG_SIZE_MAX_BYTES)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| HomeError::Config(format!("{CONFIG_FILE} is not UTF-8")))?;
        let config: RelayConfig =
            toml::from_str(&text).map_err(|e| HomeError::Config(format!("{CONFIG_FILE}: {e}")))?;
        config
            .validate()
            .map_err(|e| HomeError::Config(format!("{CONFIG_FILE}: {e}")))?;
        Ok(config)
    }

    /// Reads the identity key.
    pub fn identity(&self) -> Result<Identity, HomeError> {
        self.require_initialised()?;
        let bytes = self
            .read(IDENTITY_FILE, IDENTITY_KEY_BYTES)
            .map_err(|error| match error {
                HomeError::Config(why) => HomeError::Identity(why),
                other => other,
            })?;
        let seed: [u8; IDENTITY_KEY_BYTES] = bytes
            .try_into()
            .map_err(|_| HomeError::Identity("it is not 32 bytes".into()))?;
        Ok(Identity::from_secret(&seed))
    }

    /// Opens the store.
    pub fn store(&self) -> Result<Store, HomeError> {
        self.require_initialised()?;
        Ok(Store::open(&self.path(STORE_FILE))?)
    }

    /// The relay's card and its signed bytes.
    pub fn card(&self) -> Result<(ContactCard, Vec<u8>), HomeError> {
        let config = self.config()?;
        let identity = self.identity()?;
        let (created_ms, epoch_public) = self
            .store()?
            .relay()?
            .ok_or_else(|| HomeError::NotInitialised(self.root.clone()))?;
        let epoch_key_id = parley_proto::seal::PeerEpochKey::from_bytes(&epoch_public)
            .map_err(|e| StoreError::Corrupt(format!("card epoch key: {e}")))?
            .id();
        let card = ContactCard {
            name: config.name,
            identity: identity.id(),
            epoch_key_id,
            epoch_public,
            addresses: config.urls,
            lang: CARD_LANG.to_owned(),
            created_ms,
            pq_key: Some(identity.pq().public().clone()),
        };
        let signed = card.sign(&identity);
        Ok((card, signed))
    }

    /// Admits the station whose armoured card is `card_text`, after checking that the card
    /// verifies and that its fingerprint is `fingerprint` (as read out of band).
    pub fn admit(
        &self,
        card_text: &str,
        fingerprint: &str,
        now_ms: u64,
    ) -> Result<StationRow, HomeError> {
        let expected = Fingerprint::parse(fingerprint)
            .ok_or_else(|| HomeError::FingerprintSyntax(fingerprint.to_owned()))?;
        let (card, bytes) = ContactCard::from_text(card_text)?;
        let presented = card.fingerprint();
        if presented != expected {
            return Err(HomeError::FingerprintMismatch {
                card: presented,
                expected,
            });
        }
        let station = StationRow {
            id: card.identity,
            name: card.name,
            card: bytes,
            admitted_ms: now_ms,
            revoked_ms: None,
        };
        self.store()?.admit(&station)?;
        Ok(station)
    }

    /// Every station ever admitted (revoked ones included), by name, with its fingerprint.
    /// Each card was verified when it was admitted; one that no longer verifies is store
    /// damage, refused here rather than shown under another fingerprint.
    pub fn list(&self) -> Result<Vec<(StationRow, Fingerprint)>, HomeError> {
        let stations = self.store()?.stations()?;
        stations
            .into_iter()
            .map(|station| match station.fingerprint() {
                Ok(fingerprint) => Ok((station, fingerprint)),
                Err(error) => {
                    let name = &station.name;
                    let damage = format!("the card of the station admitted as {name:?}: {error}");
                    Err(StoreError::Corrupt(damage).into())
                }
            })
            .collect()
    }

    /// What the relay holds as a witness: the latest checkpoint it cosigned of each log, and
    /// the conflicts it kept, oldest first.
    pub fn witnessed(&self) -> Result<(Vec<WitnessedLog>, Vec<WitnessConflict>), HomeError> {
        let store = self.store()?;
        Ok((store.witnessed_logs()?, store.witness_conflicts()?))
    }

    /// Revokes the station named `name`: its requests are refused from now on and its mailbox
    /// is deleted. Returns how many items were deleted.
    pub fn revoke(&self, name: &str, now_ms: u64) -> Result<u64, HomeError> {
        Ok(self.store()?.revoke(name, now_ms)?.1)
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn os_random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes
}

/// Writes a file atomically and durably (temporary file, fsync, rename, fsync of the
/// directory: the rename, and the store's creation before it, outlive a power loss) with
/// `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let what = format!("writing {}", path.display());
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_error(what.clone()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_error(what.clone()))?;
    fs::rename(&tmp, path).map_err(io_error(what.clone()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(what))
}
