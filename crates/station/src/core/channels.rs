//! The channel table: every channel of every link, indexed by its protocol [`ChannelId`], with
//! the transport it runs on, its health and its counters; and the transports behind them (a
//! direct connection per peer; relays and drop folders, each shared by every link using it).

use parley_channels::Via;
use parley_proto::{ChannelId, ChannelKind, Endpoint, StationId};

use super::Start;
use super::health::ChannelHealth;
use crate::api::status::ChannelCounters;

/// One channel of one link.
pub struct Channel {
    /// Its protocol id: its index in the table.
    pub id: ChannelId,
    /// The peer of the link.
    pub peer: StationId,
    /// What kind of channel.
    pub kind: ChannelKind,
    /// The transport it runs on.
    pub via: Via,
    /// The direct address, relay URL or drop folder.
    pub target: Option<String>,
    /// Up, degraded or down, and its history.
    pub health: ChannelHealth,
    /// Frames counted on it.
    pub counters: ChannelCounters,
    /// The last file its drop folder refused unread, and why.
    pub last_refused_file: Option<String>,
}

/// Every channel, and the shared transports.
#[derive(Default)]
pub struct ChannelTable {
    channels: Vec<Channel>,
    /// Relays by number: URL and pinned identity.
    relays: Vec<(String, StationId)>,
    /// Drop folders by number.
    folders: Vec<String>,
    /// The highest stored channel id: new ones take the next.
    last_row: i64,
}

impl ChannelTable {
    /// Adds a channel and registers it with its link (down until its transport reports).
    pub fn add(
        &mut self,
        now_ms: u64,
        endpoint: &mut Endpoint,
        (peer, kind, via): (StationId, ChannelKind, Via),
        target: Option<String>,
    ) -> ChannelId {
        let id = ChannelId(u16::try_from(self.channels.len()).expect("fewer than 65,536 channels"));
        if let Some(link) = endpoint.link_mut(&peer) {
            link.add_channel(id, kind);
        }
        self.channels.push(Channel {
            id,
            peer,
            kind,
            via,
            target,
            health: ChannelHealth::new(now_ms),
            counters: ChannelCounters::default(),
            last_refused_file: None,
        });
        id
    }

    /// The transport of the relay at `url` pinned to `relay`, and the start of its tasks if it
    /// is new.
    pub fn relay(&mut self, url: &str, relay: StationId) -> (Via, Option<Start>) {
        if let Some(index) = self
            .relays
            .iter()
            .position(|(known, id)| known == url && *id == relay)
        {
            return (Via::Relay(index as u16), None);
        }
        let via = Via::Relay(u16::try_from(self.relays.len()).expect("fewer than 65,536 relays"));
        self.relays.push((url.to_owned(), relay));
        let start = Start::Relay {
            via,
            url: url.to_owned(),
            relay,
        };
        (via, Some(start))
    }

    /// The transport of the drop folder `dir`, and the start of its thread if it is new.
    pub fn folder(&mut self, dir: &str) -> (Via, Option<Start>) {
        if let Some(index) = self.folders.iter().position(|known| known == dir) {
            return (Via::Folder(index as u16), None);
        }
        let via =
            Via::Folder(u16::try_from(self.folders.len()).expect("fewer than 65,536 folders"));
        self.folders.push(dir.to_owned());
        let start = Start::Folder {
            via,
            dir: dir.to_owned(),
        };
        (via, Some(start))
    }

    /// Notes a stored channel id, so new ones are higher.
    pub fn note_row(&mut self, id: i64) {
        self.last_row = self.last_row.max(id);
    }

    /// The id the next stored channel gets.
    pub fn next_row(&self) -> i64 {
        self.last_row + 1
    }

    /// The identity of relay `via`.
    pub fn relay_of(&self, via: Via) -> Option<StationId> {
        match via {
            Via::Relay(index) => self.relays.get(usize::from(index)).map(|(_, id)| *id),
            _ => None,
        }
    }

    /// The relays `peer`'s link has channels on, each once (by the first channel on it), with
    /// their identities.
    pub fn relays_of(&self, peer: &StationId) -> Vec<(Via, StationId)> {
        let mut relays: Vec<(Via, StationId)> = Vec::new();
        for channel in self.channels.iter().filter(|channel| channel.peer == *peer) {
            if let Some(relay) = self.relay_of(channel.via)
                && !relays.iter().any(|(_, known)| *known == relay)
            {
                relays.push((channel.via, relay));
            }
        }
        relays
    }

    /// The channel with `id`.
    pub fn get(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.get(usize::from(id.0))
    }

    /// The channel with `id`, mutably.
    pub fn get_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels.get_mut(usize::from(id.0))
    }

    /// The channel of `peer`'s link on transport `via`.
    pub fn find_mut(&mut self, peer: &StationId, via: Via) -> Option<&mut Channel> {
        self.channels
            .iter_mut()
            .find(|channel| channel.via == via && channel.peer == *peer)
    }

    /// Every channel on transport `via`.
    pub fn on_transport(&mut self, via: Via) -> impl Iterator<Item = &mut Channel> {
        self.channels
            .iter_mut()
            .filter(move |channel| channel.via == via)
    }

    /// Whether `peer`'s link already has a channel of `kind` to `target`.
    pub fn has(&self, peer: &StationId, kind: ChannelKind, target: &str) -> bool {
        self.channels.iter().any(|channel| {
            channel.peer == *peer
                && channel.kind == kind
                && channel.target.as_deref() == Some(target)
        })
    }

    /// The channels of `peer`'s link, in the order they were added.
    pub fn of_peer(&self, peer: &StationId) -> impl Iterator<Item = &Channel> {
        self.channels
            .iter()
            .filter(move |channel| channel.peer == *peer)
    }
}
