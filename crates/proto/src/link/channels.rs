//! The channels a link sends on: their ids, kinds and whether each is usable now.

use crate::limits::{
    COURIER_RETRANSMIT_MS_MAX, COURIER_RETRANSMIT_MS_MIN, DIRECT_RETRANSMIT_MS_MAX,
    DIRECT_RETRANSMIT_MS_MIN, RELAY_RETRANSMIT_MS_MAX, RELAY_RETRANSMIT_MS_MIN,
};

/// A channel's id, assigned by the driver, unique within an endpoint.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ChannelId(pub u16);

/// What kind of path a channel is; sets its retransmission pace.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ChannelKind {
    /// QUIC between the stations: seconds.
    Direct,
    /// A neutral relay's mailbox: minutes.
    Relay,
    /// Bundle files carried by hand: days.
    Courier,
}

impl ChannelKind {
    /// Its bit in a set of kinds (1, 2, 4), as the store keeps such a set.
    pub fn bit(self) -> u8 {
        match self {
            ChannelKind::Direct => 1,
            ChannelKind::Relay => 2,
            ChannelKind::Courier => 4,
        }
    }

    /// Every kind.
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::Direct,
        ChannelKind::Relay,
        ChannelKind::Courier,
    ];

    /// First and longest retransmission interval, in milliseconds.
    pub fn retransmit_ms(self) -> (u64, u64) {
        match self {
            ChannelKind::Direct => (DIRECT_RETRANSMIT_MS_MIN, DIRECT_RETRANSMIT_MS_MAX),
            ChannelKind::Relay => (RELAY_RETRANSMIT_MS_MIN, RELAY_RETRANSMIT_MS_MAX),
            ChannelKind::Courier => (COURIER_RETRANSMIT_MS_MIN, COURIER_RETRANSMIT_MS_MAX),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::Direct => "direct",
            ChannelKind::Relay => "relay",
            ChannelKind::Courier => "courier",
        }
    }

    /// The kind with this lower-case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

impl serde::Serialize for ChannelKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ChannelKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown channel kind {name:?}; use direct, relay or courier"
            ))
        })
    }
}

/// One channel of the link.
struct ChannelState {
    id: ChannelId,
    kind: ChannelKind,
    up: bool,
}

/// The channels of one link, in the order they were added.
#[derive(Default)]
pub(super) struct Channels {
    list: Vec<ChannelState>,
}

impl Channels {
    /// Registers a channel, down.
    pub(super) fn add(&mut self, id: ChannelId, kind: ChannelKind) {
        assert!(
            self.list.iter().all(|c| c.id != id),
            "channel ids are unique"
        );
        self.list.push(ChannelState {
            id,
            kind,
            up: false,
        });
    }

    /// Sets whether a channel is usable. Returns whether it just came up; `None` when the
    /// channel is not one of this link's.
    pub(super) fn set_up(&mut self, id: ChannelId, up: bool) -> Option<bool> {
        let channel = self.list.iter_mut().find(|c| c.id == id)?;
        let came_up = up && !channel.up;
        channel.up = up;
        Some(came_up)
    }

    /// The kind of a channel and whether it is up.
    pub(super) fn get(&self, id: ChannelId) -> Option<(ChannelKind, bool)> {
        self.list
            .iter()
            .find(|c| c.id == id)
            .map(|c| (c.kind, c.up))
    }

    /// The channels that are up, in order.
    pub(super) fn up(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.list.iter().filter(|c| c.up).map(|c| c.id)
    }
}
