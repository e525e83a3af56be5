//! The station's synchronous core: identity, store and protocol endpoint. The daemon drives
//! one; CLI commands that change state while no daemon runs open one under the station lock,
//! so both paths run the same code.

use std::collections::BTreeMap;

use parley_proto::seal::EpochSecret;
use parley_proto::{
    ContactCard, Endpoint, EntryId, Fingerprint, Identity, Keyring, Precedence, StationId, StoreOp,
};
use parley_store::{NewPeer, PeerRow, Store};
use rand_core::SeedableRng as _;

use crate::error::StationError;
use crate::home::{Config, Home};

/// A paired peer as the node knows it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    /// Name from its card.
    pub name: String,
    /// Direct-channel address, if any.
    pub address: Option<String>,
}

/// What `send` returns once the message is durable.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Sent {
    /// Message id: the entry id, hex.
    pub id: String,
    /// Seq in this station's log for the link.
    pub seq: u64,
    /// Peer name.
    pub peer: String,
}

/// The core.
pub struct Node {
    home: Home,
    config: Config,
    identity: Identity,
    created_ms: u64,
    store: Store,
    endpoint: Endpoint,
    peers: BTreeMap<StationId, PeerInfo>,
}

fn os_seed() -> [u8; 32] {
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
        home.create()?;
        let identity = Identity::from_secret(&os_seed());
        let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed(os_seed()));
        let mut store = Store::open(&home.store_path())?;
        store.init_station(&config.name, &config.lang, identity.id().0, &epoch, now_ms)?;
        home.write_identity(&identity)?;
        home.write_config(&config)?;
        Ok(identity)
    }

    /// Opens an initialised station and restores every link from the store.
    pub fn open(home: &Home) -> Result<Self, StationError> {
        let config = home.config()?;
        config.check_timing().map_err(StationError::Config)?;
        let identity = home.identity()?;
        let store = Store::open(&home.store_path())?;
        let station = store
            .station()?
            .ok_or(StationError::NotInitialised(home.root().into()))?;
        if station.identity != identity.id() {
            return Err(StationError::Config(
                "identity.key does not belong to this store; restore the matching pair".into(),
            ));
        }
        let (endpoint, peers) = Self::load_endpoint(&store, &identity)?;
        Ok(Self {
            home: home.clone(),
            config,
            identity,
            created_ms: station.created_ms,
            store,
            endpoint,
            peers,
        })
    }

    /// The home.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This station's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The protocol endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The protocol endpoint, mutably.
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutably (channels are added straight to it).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Paired peers.
    pub fn peers(&self) -> &BTreeMap<StationId, PeerInfo> {
        &self.peers
    }

    /// This station's contact card: its fields and signed bytes.
    pub fn card(&self) -> (ContactCard, Vec<u8>) {
        own_card(
            &self.identity,
            &self.config,
            self.endpoint.keyring().current(),
            self.created_ms,
        )
    }

    /// Commits everything the endpoint wrote since the last commit.
    pub fn commit(&mut self) -> Result<usize, StationError> {
        let writes = self.endpoint.take_writes();
        if !writes.is_empty() {
            self.store.commit(&writes)?;
        }
        Ok(writes.len())
    }

    /// Finds a peer by name or fingerprint.
    pub fn resolve_peer(&self, name_or_fingerprint: &str) -> Result<StationId, StationError> {
        let fingerprint = Fingerprint::parse(name_or_fingerprint);
        self.peers
            .iter()
            .find(|(id, info)| {
                info.name == name_or_fingerprint || Some(id.fingerprint()) == fingerprint
            })
            .map(|(id, _)| *id)
            .ok_or_else(|| StationError::UnknownPeer(name_or_fingerprint.to_owned()))
    }

    /// Appends a message to the link with `peer` and makes it durable. The returned id is
    /// only given once the entry and its envelope are on disk.
    pub fn send(
        &mut self,
        now_ms: u64,
        peer: &str,
        precedence: Precedence,
        text: &str,
    ) -> Result<Sent, StationError> {
        let (id, seq, name) = self.send_uncommitted(now_ms, peer, precedence, text)?;
        self.commit()?;
        Ok(Sent {
            id: id.to_hex(),
            seq,
            peer: name,
        })
    }

    /// Appends a message without committing: the daemon batches commits and answers after.
    pub fn send_uncommitted(
        &mut self,
        now_ms: u64,
        peer: &str,
        precedence: Precedence,
        text: &str,
    ) -> Result<(EntryId, u64, String), StationError> {
        let peer_id = self.resolve_peer(peer)?;
        let lang = self.config.lang.clone();
        let (seq, id) = self
            .endpoint
            .send_message(now_ms, &peer_id, precedence, text, &lang)?;
        Ok((id, seq, self.peers[&peer_id].name.clone()))
    }

    /// Pins a peer from its card after checking the fingerprint the operator confirmed out of
    /// band, and writes the link's first entry. All or nothing.
    pub fn add_peer(
        &mut self,
        now_ms: u64,
        card_text: &str,
        fingerprint: &str,
        address: Option<String>,
    ) -> Result<(StationId, String), StationError> {
        let given = Fingerprint::parse(fingerprint).ok_or_else(|| {
            StationError::Invalid(format!(
                "{fingerprint:?} is not a fingerprint (32 hex digits, e.g. as `parley fingerprint` prints it); nothing was pinned"
            ))
        })?;
        let (card, card_bytes) =
            ContactCard::from_text(card_text).map_err(|e| StationError::Card(e.to_string()))?;
        let card_fingerprint = card.identity.fingerprint();
        if card_fingerprint != given {
            return Err(StationError::FingerprintMismatch {
                card: card_fingerprint.to_string(),
                given: given.to_string(),
            });
        }
        if card.identity == self.identity.id() {
            return Err(StationError::Card("this is this station's own card".into()));
        }
        if self.peers.contains_key(&card.identity) {
            return Err(StationError::Card(format!(
                "{} is already paired",
                card.name
            )));
        }
        if self.peers.values().any(|p| p.name == card.name) {
            return Err(StationError::Card(format!(
                "another peer is already named {:?}",
                card.name
            )));
        }
        let address = address.or_else(|| card.addresses.first().cloned());
        self.endpoint
            .pair(now_ms, card.identity, card.epoch_public.clone())
            .map_err(|e| StationError::Card(e.to_string()))?;
        let writes: Vec<StoreOp> = self.endpoint.take_writes();
        let new_peer = NewPeer {
            card: &card,
            card_bytes: &card_bytes,
            name: &card.name,
            address: address.clone(),
            added_ms: now_ms,
        };
        if let Err(error) = self.store.commit_with_peer(Some(new_peer), &writes) {
            // Undo the in-memory pairing: nothing was stored.
            self.endpoint = Self::load_endpoint(&self.store, &self.identity)?.0;
            return Err(error.into());
        }
        self.peers.insert(
            card.identity,
            PeerInfo {
                name: card.name.clone(),
                address,
            },
        );
        Ok((card.identity, card.name))
    }

    /// Builds the endpoint and peer list from the store: every link from its snapshot.
    fn load_endpoint(
        store: &Store,
        identity: &Identity,
    ) -> Result<(Endpoint, BTreeMap<StationId, PeerInfo>), StationError> {
        let current = store
            .epoch_secrets()?
            .into_iter()
            .next()
            .ok_or_else(|| StationError::Config("the store holds no epoch key".into()))?;
        let mut endpoint = Endpoint::new(identity.clone(), Keyring::new(current), os_seed());
        let mut peers = BTreeMap::new();
        for row in store.peers()? {
            let snapshot = store.link_snapshot(&row.id)?;
            endpoint
                .load_link(row.id, snapshot)
                .map_err(|e| StationError::Config(format!("peer {}: {e}", row.name)))?;
            peers.insert(row.id, peer_info(&row));
        }
        Ok((endpoint, peers))
    }
}

fn peer_info(row: &PeerRow) -> PeerInfo {
    PeerInfo {
        name: row.name.clone(),
        address: row.address.clone(),
    }
}

/// Builds this station's signed contact card. Deterministic for a given key set and config.
pub fn own_card(
    identity: &Identity,
    config: &Config,
    epoch: &EpochSecret,
    created_ms: u64,
) -> (ContactCard, Vec<u8>) {
    let card = ContactCard {
        name: config.name.clone(),
        identity: identity.id(),
        epoch_key_id: epoch.id(),
        epoch_public: epoch.public_bytes().to_vec(),
        addresses: vec![format!(
            "quic://{}",
            config
                .listen
                .strip_prefix("quic://")
                .unwrap_or(&config.listen)
        )],
        lang: config.lang.clone(),
        created_ms,
    };
    let bytes = card.sign(identity);
    (card, bytes)
}

/// Checks an operator-given configuration against the card limits.
pub fn validate_config(config: &Config) -> Result<(), StationError> {
    use parley_proto::limits::{LANG_SIZE_MAX_BYTES, NAME_SIZE_MAX_BYTES};
    if config.name.trim().is_empty() || config.name.len() > NAME_SIZE_MAX_BYTES {
        return Err(StationError::Invalid(format!(
            "the station name must be 1 to {NAME_SIZE_MAX_BYTES} bytes"
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
    config.check_timing().map_err(StationError::Config)?;
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
