//! What the transports report to the core — frames received, health signals, a relay's
//! deposit outcomes, files a drop folder set aside — and the channels they run: registered,
//! and their changes of state announced.

use parley_channels::{Signal, Via};
use parley_proto::endpoint::FrameKind;
use parley_proto::{Accepted, ChannelId, ChannelKind, Refused, Rejection, StationId};
use parley_store::{AlarmKind, ChannelRow};

use super::channels::Channel;
use super::health::Transition;
use super::watch::UNOPENED_FROM;
use super::{Output, Start, Station};
use crate::api::Event;

impl Station {
    /// Counts a file a drop folder set aside, on every channel of that folder.
    pub(super) fn file_refused(&mut self, via: Via, name: &str, reason: &str) {
        for channel in self.table.on_transport(via) {
            channel.counters.files_refused += 1;
            channel.last_refused_file = Some(format!("{name}: {reason}"));
        }
    }

    pub(super) fn log_refusal(
        &mut self,
        now_ms: u64,
        reason: &'static str,
        what: &dyn std::fmt::Display,
    ) {
        if let Some(held) = self.refusal_log.admit(now_ms, reason) {
            tracing::warn!(reason, %what, held_back = held, "frame refused");
        }
    }

    /// Checks the envelope signatures among `frames`, about to be received, as one batch
    /// (`Endpoint::preverify`): each is then taken as if checked alone.
    pub fn preverify<'a>(&mut self, frames: impl IntoIterator<Item = &'a [u8]>) {
        self.endpoint.preverify(frames);
    }

    /// Hands a frame to the endpoint, counting it on its channel.
    pub(super) fn receive(
        &mut self,
        now_ms: u64,
        via: Option<Via>,
        bytes: &[u8],
    ) -> Result<Accepted, Refused> {
        let result = self.endpoint.handle_frame(now_ms, bytes);
        match &result {
            Ok(accepted) => {
                // Only a new entry shows the peer's clock is fine now: a copy of one held
                // already (another channel, a replay) was never read.
                if accepted.kind == FrameKind::Envelope && !accepted.duplicate {
                    if let Some(link) = self.endpoint.link(&accepted.peer) {
                        let stored = |seq| link.holds_peer_entry(seq);
                        self.watch.accepted(now_ms, accepted.peer, stored);
                    }
                    self.intake_taken(now_ms, accepted.peer);
                }
                let channel = via.and_then(|via| self.table.find_mut(&accepted.peer, via));
                if let Some(channel) = channel {
                    let counters = &mut channel.counters;
                    match accepted.kind {
                        FrameKind::Envelope => counters.envelopes_received += 1,
                        FrameKind::Receipt => counters.receipts_received += 1,
                    }
                    counters.duplicates_dropped += u64::from(accepted.duplicate);
                }
            }
            Err(refused) => {
                let claimed = match via {
                    Some(Via::Direct(peer)) => Some(peer),
                    _ => refused.claimed,
                };
                let channel = via
                    .zip(claimed)
                    .and_then(|(via, peer)| self.table.find_mut(&peer, via));
                if let Some(channel) = channel {
                    channel.counters.rejected += 1;
                }
                // These refusals come after the envelope's signature verified: the pinned
                // peer wrote it, and its entries are not taken until the cause is mended.
                let alarm = match &refused.rejection {
                    Rejection::ClockSkew { .. } => Some((
                        AlarmKind::ClockSkew,
                        "clock".to_owned(),
                        format!(
                            "the peer's entries are refused: {}. One of the two clocks is \
                             wrong: if this station's is behind and its system clock is right, \
                             restart the daemon (it does not follow the system clock while it \
                             runs)",
                            refused.rejection
                        ),
                    )),
                    // One alarm open per peer, naming the first key and entry, until every
                    // entry so refused is stored (`Watch::unopened`): the key an envelope
                    // names is any 8 bytes the peer signs, and an alarm per key would let it
                    // fill the alarm table at one seq.
                    // The seq is the signer's, named by the envelope it verified under
                    // (not, over a direct connection, the station at the other end).
                    Rejection::UnknownEpochKey { key, seq } => {
                        if let Some(peer) = refused.claimed
                            && self.peers.contains_key(&peer)
                        {
                            let detail = format!(
                                "the peer seals its entries to epoch key {key}, which this \
                                 station does not hold (erased, or never held: the peer pinned a \
                                 card older than the keys held, or this store was put back to an \
                                 older copy); they cannot be read, {UNOPENED_FROM}{seq} of its log. \
                                 If this store was put back to an older copy, restore the latest \
                                 copy, which holds the key; failing that, take the log back from \
                                 the peer's transcript (`parley transcript recover`), which \
                                 announces the current key again, and the peer seals what is \
                                 outstanding again to it. A card given to the peer is never used \
                                 in its place (docs/formats.md §3.6)"
                            );
                            self.watch.unopened(now_ms, peer, *seq, detail);
                        }
                        None
                    }
                    Rejection::OverIntake { .. } => Some(super::intake::alarm(&refused.rejection)),
                    _ => None,
                };
                if let (Some((kind, subject, detail)), Some(peer)) = (alarm, claimed)
                    && self.peers.contains_key(&peer)
                {
                    self.watch.misbehaviour(now_ms, peer, kind, subject, detail);
                }
                self.log_refusal(now_ms, refused.rejection.counter_name(), refused);
            }
        }
        result
    }

    /// Applies a transport's health signal to every channel on it.
    pub(super) fn health(&mut self, now_ms: u64, via: Via, signal: &Signal) {
        let degraded_rtt_ms = self.settings.degraded_rtt_ms;
        let changes: Vec<ChannelChange> = self
            .table
            .on_transport(via)
            .filter_map(|channel| {
                let transition = channel.health.apply(now_ms, signal, degraded_rtt_ms)?;
                Some(ChannelChange::new(channel, transition))
            })
            .collect();
        for change in changes {
            self.announce(now_ms, change);
        }
    }

    /// A relay refused to store frames for `peer`, or stored some: the relay channel to that
    /// peer is degraded with the relay's reason while it refuses, and up again once it stores.
    pub(super) fn deposit_outcome(
        &mut self,
        now_ms: u64,
        via: Via,
        peer: StationId,
        refusal: Option<&str>,
    ) {
        let degraded_rtt_ms = self.settings.degraded_rtt_ms;
        let Some(channel) = self.table.find_mut(&peer, via) else {
            return;
        };
        let relay = channel.target.clone().unwrap_or_default();
        let transition = match refusal {
            Some(reason) => {
                channel.counters.deposits_refused += 1;
                if channel.health.deposit_refusal.is_none() {
                    tracing::error!(peer = %peer.short(), target = channel.target.as_deref().unwrap_or("-"), %reason, "ALARM: the relay refuses deposits for this peer; messages to it cannot go through this relay");
                }
                channel.health.deposit_refused(now_ms, reason)
            }
            None => channel.health.deposit_stored(now_ms, degraded_rtt_ms),
        };
        if let Some(transition) = transition.cloned() {
            let change = ChannelChange::new(channel, transition);
            self.announce(now_ms, change);
        }
        self.watch.deposits(now_ms, peer, relay, refusal);
    }

    /// Logs a channel's change of state, tells the protocol whether it is usable, and
    /// announces it.
    fn announce(&mut self, now_ms: u64, change: ChannelChange) {
        let ChannelChange {
            id,
            peer,
            kind,
            target,
            usable,
            transition,
        } = change;
        let name = self.peer_name(&peer);
        tracing::info!(
            peer = %name,
            channel = kind.name(),
            target = target.as_deref().unwrap_or("-"),
            from = transition.from.name(),
            to = transition.to.name(),
            reason = %transition.reason,
            "channel state"
        );
        if let Some(link) = self.endpoint.link_mut(&peer) {
            link.set_channel_up(now_ms, id, usable);
        }
        if let Some(target) = &target {
            let label = format!("{} {target}", kind.name());
            self.watch.channel(now_ms, peer, id.0.into(), label, usable);
        }
        self.pending
            .outputs
            .push(Output::Event(Event::ChannelState {
                peer: name,
                kind,
                target,
                from: transition.from,
                to: transition.to,
                reason: transition.reason,
                at_ms: transition.at_ms,
            }));
    }

    /// Registers a peer's direct channel; returns the transport to start for it.
    pub(super) fn add_direct(&mut self, now_ms: u64, peer: StationId) -> Start {
        let address = self.peers.get(&peer).and_then(|p| p.address.clone());
        let id = self.table.add(
            now_ms,
            &mut self.endpoint,
            (peer, ChannelKind::Direct, Via::Direct(peer)),
            address.clone(),
        );
        if let Some(address) = &address {
            let label = format!("direct {address}");
            self.watch.channel(now_ms, peer, id.0.into(), label, false);
        }
        Start::Direct { peer, address }
    }

    /// Registers a stored relay or courier channel; returns its transport when it is the first
    /// channel on it.
    pub(super) fn add_stored(&mut self, now_ms: u64, row: &ChannelRow) -> Option<Start> {
        let (kind, (via, start)) = match &row.kind {
            parley_store::ChannelKindRow::Relay { relay, .. } => {
                (ChannelKind::Relay, self.table.relay(&row.target, *relay))
            }
            parley_store::ChannelKindRow::Courier => {
                (ChannelKind::Courier, self.table.folder(&row.target))
            }
        };
        let id = self.table.add(
            now_ms,
            &mut self.endpoint,
            (row.peer, kind, via),
            Some(row.target.clone()),
        );
        let label = format!("{} {}", kind.name(), row.target);
        self.watch
            .channel(now_ms, row.peer, id.0.into(), label, false);
        self.table.note_row(row.id);
        start
    }
}

/// A channel's change of state, to announce.
struct ChannelChange {
    id: ChannelId,
    peer: StationId,
    kind: ChannelKind,
    target: Option<String>,
    usable: bool,
    transition: Transition,
}

impl ChannelChange {
    fn new(channel: &Channel, transition: Transition) -> Self {
        Self {
            id: channel.id,
            peer: channel.peer,
            kind: channel.kind,
            target: channel.target.clone(),
            usable: channel.health.usable(),
            transition,
        }
    }
}
