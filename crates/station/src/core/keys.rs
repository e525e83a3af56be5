//! The station's epoch keys over time (docs/formats.md §3.6): a new key on the schedule or
//! when an operator asks, announced on every link, and a superseded key erased once it can
//! no longer be needed.
//!
//! A peer seals to the key it last read announced, in the order of this station's log; what
//! it sealed before stays sealed to the older key, and is sent again unchanged until it is
//! receipted. So a superseded key is erased only when both hold: it has been retained for
//! `retain_ms` since it was superseded, and on every link the peer has shown, in an entry
//! delivered here in order, that it read an announcement of a newer key (the entry's `seen`
//! is at or past it). Every entry before that one is delivered here already, and every entry
//! after it is sealed to the newer key: nothing still on its way can need the old one. A
//! peer that has not written since keeps the key held, however long: no message is ever
//! undecryptable because its key was erased.

use std::collections::BTreeMap;

use parley_proto::{Body, EntryId, EpochKeyId, SignedEntry, StationId, StoreOp};
use parley_store::{AdminOp, EpochKeyRow, KeptEntry};
use serde::{Deserialize, Serialize};

use super::Station;
use crate::api::KeyRotated;
use crate::limits::{KEY_DELIVERY_RECHECK_MS, KEY_RECHECK_MS};

/// When the station makes a new epoch key and how long it keeps the old ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySettings {
    /// A new key this long after the current one was made, in ms; `None`: only when asked.
    pub rotate_every_ms: Option<u64>,
    /// A superseded key is kept at least this long after it was superseded, in ms.
    pub retain_ms: u64,
}

/// One epoch key as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochKeyStatus {
    /// The key's id (hex).
    pub key_id: String,
    /// When it was made, UTC ms.
    pub created_ms: u64,
    /// Whether peers are told to seal to it now.
    pub current: bool,
    /// When a newer key replaced it, UTC ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_ms: Option<u64>,
    /// Peers that may still send entries sealed to it (they have not yet shown that they read
    /// a newer key), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needed_by: Vec<String>,
}

/// A key's dates.
#[derive(Clone, Copy, Debug)]
struct KeyLife {
    id: EpochKeyId,
    created_ms: u64,
}

/// One link as key erasure sees it.
#[derive(Clone, Debug, Default)]
struct LinkKeys {
    /// Own key announcements on the link: (seq, key), ascending seq.
    announced: Vec<(u64, EpochKeyId)>,
    /// The `seen` of the peer's entries stored above its in-head, by seq.
    held_seen: BTreeMap<u64, EntryId>,
    /// The `seen` of the peer's latest entry delivered in order (after a restart, of the
    /// latest that is not a key announcement: an entry at or before it, never after).
    head_seen: EntryId,
}

/// The station's keys and what each link has read of them.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    pub(super) settings: KeySettings,
    /// The current key first, then the retained ones, newest first.
    lives: Vec<KeyLife>,
    links: BTreeMap<StationId, LinkKeys>,
    /// When to look again at keys held past their retention.
    recheck_ms: Option<u64>,
    /// Whether a superseded key past its retention is held for a peer: a delivery from a
    /// peer may free it, so deliveries ask for a look.
    waiting: bool,
    /// When the keys were last looked at, UTC ms.
    checked_ms: u64,
}

impl Keys {
    /// From the stored keys, current first.
    pub(super) fn new(settings: KeySettings, stored: &[EpochKeyRow]) -> Self {
        assert!(
            stored.first().is_some_and(|row| row.current),
            "the current epoch key comes first"
        );
        let lives = stored
            .iter()
            .map(|row| KeyLife {
                id: row.key.id(),
                created_ms: row.created_ms,
            })
            .collect();
        Self {
            settings,
            lives,
            links: BTreeMap::new(),
            recheck_ms: None,
            waiting: false,
            checked_ms: 0,
        }
    }

    /// Adds a link from its record: the own key announcements (seq, key) and the entries
    /// (none of them an announcement), with the peer's in-head.
    pub(super) fn load_link(
        &mut self,
        peer: StationId,
        announced: &[(u64, EpochKeyId)],
        entries: &[KeptEntry],
        in_head: u64,
    ) {
        let peer_entries = entries
            .iter()
            .map(|kept| kept.entry.entry())
            .filter(|e| e.author == peer);
        let (delivered, held): (Vec<_>, Vec<_>) = peer_entries.partition(|e| e.seq <= in_head);
        let head_seen = delivered
            .iter()
            .max_by_key(|e| e.seq)
            .map_or(EntryId::NONE, |e| e.seen);
        let keys = LinkKeys {
            announced: announced.to_vec(),
            held_seen: held.iter().map(|e| (e.seq, e.seen)).collect(),
            head_seen,
        };
        self.links.insert(peer, keys);
    }

    /// Looks at the keys at `now_ms` (once loaded): announcements to repeat, keys to erase.
    pub(super) fn recheck_at(&mut self, now_ms: u64) {
        self.recheck_ms = Some(now_ms);
    }

    fn note_own(&mut self, peer: StationId, entry: &SignedEntry) {
        if let Body::KeyAnnouncement { key_id, .. } = &entry.entry().body {
            let link = self.links.entry(peer).or_default();
            link.announced.push((entry.entry().seq, *key_id));
        }
    }

    fn note_peer(&mut self, peer: StationId, entry: &SignedEntry) {
        let link = self.links.entry(peer).or_default();
        link.held_seen.insert(entry.entry().seq, entry.entry().seen);
    }

    fn note_delivered(&mut self, peer: StationId, upto: u64) {
        let link = self.links.entry(peer).or_default();
        if let Some((_, seen)) = link.held_seen.range(..=upto).next_back() {
            link.head_seen = *seen;
        }
        link.held_seen = link.held_seen.split_off(&(upto + 1));
        // A delivery may free a key held for this peer: look again, but at most once per
        // KEY_DELIVERY_RECHECK_MS, so a busy link does not pay for a look per message.
        if self.waiting {
            let at_ms = self.checked_ms.saturating_add(KEY_DELIVERY_RECHECK_MS);
            self.recheck_ms = Some(self.recheck_ms.map_or(at_ms, |due| due.min(at_ms)));
        }
    }
}

impl Station {
    /// Follows what a batch wrote: own key announcements, and how far the peer has read.
    pub(super) fn key_writes(&mut self, writes: &[StoreOp]) {
        for op in writes {
            match op {
                StoreOp::AppendOwn { peer, entry, .. } => self.keys.note_own(*peer, entry),
                StoreOp::StorePeerEntry { peer, entry, .. } => self.keys.note_peer(*peer, entry),
                StoreOp::AdvanceInHead { peer, upto } => self.keys.note_delivered(*peer, *upto),
                _ => {}
            }
        }
    }

    /// `key rotate`.
    pub(super) fn rotate_key_now(&mut self, now_ms: u64) -> KeyRotated {
        let (id, full, closed) = self.rotate_key(now_ms);
        let names = |peers: &mut dyn Iterator<Item = &StationId>| -> Vec<String> {
            peers.map(|peer| self.peer_name(peer)).collect()
        };
        KeyRotated {
            key_id: id.to_string(),
            announced_to: names(
                &mut (self.peers.keys())
                    .filter(|peer| !full.contains(peer) && !closed.contains(peer)),
            ),
            announce_later: names(&mut full.iter()),
            not_announced: names(&mut closed.iter()),
        }
    }

    /// Makes a new epoch key current, announced on every link; returns its id, the peers
    /// whose outbox was full (announced at the next look), and those whose link takes no more
    /// entries (never announced: this store was put back to an older copy).
    fn rotate_key(&mut self, now_ms: u64) -> (EpochKeyId, Vec<StationId>, Vec<StationId>) {
        let (key, refused) = self.endpoint.rotate_epoch(now_ms);
        let (closed, full): (Vec<_>, Vec<_>) = refused
            .into_iter()
            .partition(|(_, error)| error.closes_link());
        let closed: Vec<StationId> = closed.into_iter().map(|(peer, _)| peer).collect();
        let full: Vec<StationId> = full.into_iter().map(|(peer, _)| peer).collect();
        let id = key.id();
        self.keys.lives.insert(
            0,
            KeyLife {
                id,
                created_ms: now_ms,
            },
        );
        self.pending.admin.push(AdminOp::AddEpochKey {
            key: Box::new(key),
            created_ms: now_ms,
        });
        tracing::info!(key = %id, held = self.keys.lives.len(), "new epoch key");
        for peer in &full {
            tracing::warn!(peer = %self.peer_name(peer), key = %id, "the outbox is full: the new epoch key is announced to this peer at the next look");
        }
        for peer in &closed {
            tracing::warn!(peer = %self.peer_name(peer), key = %id, "nothing more is written to this peer (this store was put back to an older copy): the new epoch key is not announced to it");
        }
        // The announcements just written are noted when the batch is collected: the next
        // look (to announce where the outbox was full, and to erase) comes later.
        let retain_ms = self.keys.settings.retain_ms;
        self.schedule_recheck(now_ms.saturating_add(retain_ms));
        if !full.is_empty() {
            self.schedule_recheck(now_ms.saturating_add(KEY_RECHECK_MS));
        }
        (id, full, closed)
    }

    /// Rotates on the schedule, announces the current key where an announcement could not be
    /// written, and erases superseded keys no longer needed.
    pub(super) fn key_timers(&mut self, now_ms: u64) {
        if self.mode != super::Mode::Daemon {
            return;
        }
        if self.next_rotation_ms().is_some_and(|due| due <= now_ms) {
            self.rotate_key(now_ms);
            return;
        }
        if self.keys.recheck_ms.is_some_and(|due| due <= now_ms) {
            self.keys.recheck_ms = None;
            self.keys.checked_ms = now_ms;
            self.announce_missing(now_ms);
            self.erase_unneeded(now_ms);
        }
    }

    /// When the key timers next need to run.
    pub(super) fn next_key_ms(&self) -> Option<u64> {
        if self.mode != super::Mode::Daemon {
            return None;
        }
        [self.next_rotation_ms(), self.keys.recheck_ms]
            .into_iter()
            .flatten()
            .min()
    }

    fn next_rotation_ms(&self) -> Option<u64> {
        let every = self.keys.settings.rotate_every_ms?;
        Some(self.keys.lives[0].created_ms.saturating_add(every))
    }

    /// Announces the current key on links whose latest own announcement is of an older key
    /// (the outbox was full when it was made).
    pub(super) fn announce_missing(&mut self, now_ms: u64) {
        let current = self.keys.lives[0].id;
        // A link that takes no more entries never will: it is not tried again and again.
        let behind: Vec<StationId> = self
            .peers
            .keys()
            .filter(|peer| {
                self.endpoint
                    .link(peer)
                    .is_some_and(|link| link.closed().is_none())
            })
            .filter(|peer| {
                self.keys
                    .links
                    .get(peer)
                    .and_then(|link| link.announced.last())
                    .is_none_or(|(_, key)| *key != current)
            })
            .copied()
            .collect();
        for peer in behind {
            if self.endpoint.announce_epoch(now_ms, &peer).is_err() {
                self.keys.recheck_ms = Some(now_ms + KEY_RECHECK_MS);
            }
        }
    }

    /// Erases every superseded key past its retention that no peer may still seal to;
    /// schedules the next look at those still held.
    fn erase_unneeded(&mut self, now_ms: u64) {
        let retain_ms = self.keys.settings.retain_ms;
        let mut erase = Vec::new();
        self.keys.waiting = false;
        for index in 1..self.keys.lives.len() {
            let life = self.keys.lives[index];
            let superseded_ms = self.keys.lives[index - 1].created_ms;
            let until_ms = superseded_ms.saturating_add(retain_ms);
            if until_ms > now_ms {
                self.schedule_recheck(until_ms);
            } else if self.needed_by(&life.id).is_empty() {
                erase.push(life.id);
            } else {
                self.keys.waiting = true;
                self.schedule_recheck(now_ms + KEY_RECHECK_MS);
            }
        }
        for id in erase {
            self.endpoint.erase_epoch(&id);
            self.keys.lives.retain(|life| life.id != id);
            self.pending.admin.push(AdminOp::EraseEpochKey(id));
            tracing::info!(key = %id, "superseded epoch key erased");
        }
    }

    fn schedule_recheck(&mut self, at_ms: u64) {
        let due = &mut self.keys.recheck_ms;
        *due = Some(due.map_or(at_ms, |due| due.min(at_ms)));
    }

    /// The peers that may still send entries sealed to the retained key `id`: every peer that
    /// has not shown it read an announcement of a newer key. A peer paired after the key was
    /// superseded counts too: it may have pinned a card printed before (cards carry the key
    /// current when printed) and seal its first entries to it.
    fn needed_by(&self, id: &EpochKeyId) -> Vec<StationId> {
        if self.fault == Some(super::Fault::EraseKeysEarly) {
            return Vec::new();
        }
        let Some(age) = self.keys.lives.iter().position(|life| life.id == *id) else {
            return Vec::new();
        };
        let newer: Vec<EpochKeyId> = self.keys.lives[..age].iter().map(|l| l.id).collect();
        let needed: Vec<StationId> = self
            .keys
            .links
            .iter()
            .filter(|(peer, link)| {
                if !self.peers.contains_key(peer) {
                    return false;
                }
                let first_newer = link
                    .announced
                    .iter()
                    .find(|(_, key)| newer.contains(key))
                    .map(|(seq, _)| *seq);
                let read = self
                    .endpoint
                    .link(peer)
                    .and_then(|l| l.own_seq_of(&link.head_seen))
                    .unwrap_or(0);
                first_newer.is_none_or(|seq| read < seq)
            })
            .map(|(peer, _)| *peer)
            .collect();
        let paired = self
            .keys
            .links
            .keys()
            .filter(|peer| self.peers.contains_key(peer));
        if self.fault == Some(super::Fault::EraseKeysForOnePeer) && needed.len() < paired.count() {
            return Vec::new();
        }
        needed
    }

    /// The keys for `status`.
    pub(super) fn key_status(&self) -> Vec<EpochKeyStatus> {
        self.keys
            .lives
            .iter()
            .enumerate()
            .map(|(index, life)| {
                let superseded_ms = index
                    .checked_sub(1)
                    .map(|newer| self.keys.lives[newer].created_ms);
                let needed_by = if index == 0 {
                    Vec::new()
                } else {
                    self.needed_by(&life.id)
                        .iter()
                        .map(|peer| self.peer_name(peer))
                        .collect()
                };
                EpochKeyStatus {
                    key_id: life.id.to_string(),
                    created_ms: life.created_ms,
                    current: index == 0,
                    superseded_ms,
                    needed_by,
                }
            })
            .collect()
    }
}
