//! Operator commands, each implemented once: checked, applied in memory and queued for the next
//! commit, which must complete before the answer is released.

use parley_proto::limits::ADDRESS_SIZE_MAX_BYTES;
use parley_proto::{Body, ChannelKind, ContactCard, Fingerprint};
use parley_store::{AdminOp, ChannelKindRow, ChannelRow, PeerRecord};

use super::{Command, Mode, Output, Peer, Station};
use crate::api::{ChannelAdded, Paired, Reply};
use crate::error::StationError;

impl Station {
    /// Runs one command.
    pub(super) fn execute(&mut self, now_ms: u64, command: Command) -> Result<Reply, StationError> {
        match command {
            Command::Send {
                peer,
                precedence,
                text,
                exercise,
                translations,
                operator,
            } => {
                let peer_id = self.resolve_peer(&peer)?;
                let lang = self.settings.lang.clone();
                parley_proto::check_message_text(&text, &lang)?;
                let translations = super::coded::translations(&lang, translations)?;
                let body = Body::Message {
                    text,
                    lang,
                    exercise,
                    translations,
                };
                self.write(now_ms, peer_id, precedence, body, operator.as_deref())
                    .map(Reply::Sent)
            }
            Command::SendContent {
                peer,
                precedence,
                content,
                exercise,
                operator,
            } => self
                .send_content(
                    now_ms,
                    &peer,
                    (precedence, exercise),
                    content,
                    operator.as_deref(),
                )
                .map(Reply::Sent),
            Command::CodebookPropose {
                peer,
                source,
                operator,
            } => self
                .propose_codebook(now_ms, &peer, &source, operator.as_deref())
                .map(Reply::CodebookProposed),
            Command::CodebookAccept {
                peer,
                hash,
                operator,
            } => self
                .accept_codebook(now_ms, &peer, hash, &operator)
                .map(Reply::CodebookAccepted),
            Command::Translate {
                id,
                lang,
                text,
                operator,
            } => self
                .translate(now_ms, &id, &lang, &text, &operator)
                .map(Reply::Translated),
            Command::Understood {
                id,
                restatement,
                operator,
            } => self
                .answer(now_ms, &id, &operator, restatement.as_deref(), true)
                .map(Reply::Answered),
            Command::Clarify {
                id,
                question,
                operator,
            } => self
                .answer(now_ms, &id, &operator, Some(&question), false)
                .map(Reply::Answered),
            Command::Cancel {
                id,
                reason,
                operator,
            } => self
                .cancel(now_ms, &id, &reason, operator.as_deref())
                .map(Reply::Cancelled),
            Command::Test { peer, operator } => self
                .send_test(now_ms, &peer, operator.as_deref())
                .map(Reply::TestSent),
            Command::AlarmAck { id, note, operator } => self
                .acknowledge(now_ms, id, &operator, note)
                .map(Reply::AlarmAcknowledged),
            Command::PeerAdd {
                card,
                fingerprint,
                address,
            } => {
                let result = self.pair(now_ms, &card, &fingerprint, address);
                if matches!(
                    result,
                    Err(StationError::Card(_)
                        | StationError::Pairing(_)
                        | StationError::FingerprintMismatch { .. })
                ) {
                    self.cards_rejected += 1;
                }
                result.map(Reply::Paired)
            }
            Command::ChannelAdd {
                peer,
                kind,
                target,
                card,
                fingerprint,
            } => self
                .add_channel(now_ms, &peer, kind, target, card.zip(fingerprint))
                .map(Reply::ChannelAdded),
            Command::Export { peer } => self.export(now_ms, &peer).map(Reply::Exported),
            Command::Import { bytes, salvage } => self
                .import(now_ms, &bytes, salvage, None)
                .map(Reply::Imported),
            Command::CheckpointIssue { peer, operator } => self
                .issue_checkpoint(now_ms, &peer, operator.as_deref())
                .map(Reply::CheckpointIssued),
            Command::CheckpointShow { peer } => self
                .checkpoint_report(&peer)
                .map(|report| Reply::Checkpoints(Box::new(report))),
            Command::KeyRotate => Ok(Reply::KeyRotated(self.rotate_key_now(now_ms))),
            Command::TranscriptCheck { file, transcript } => self
                .check_transcript(now_ms, &file, &transcript)
                .map(Reply::TranscriptChecked),
            Command::TranscriptRecover { file, transcript } => self
                .recover_from_transcript(now_ms, &file, &transcript)
                .map(Reply::TranscriptRecovered),
            Command::Status => Ok(Reply::Status(Box::new(self.status(now_ms)))),
        }
    }

    /// Pins a peer from its card after checking the fingerprint the operator confirmed out of
    /// band, writes the link's first entry and starts its direct channel. All or nothing.
    fn pair(
        &mut self,
        now_ms: u64,
        card_text: &str,
        fingerprint: &str,
        address: Option<String>,
    ) -> Result<Paired, StationError> {
        let given = parse_fingerprint(fingerprint, "nothing was pinned")?;
        let (card, card_bytes) =
            ContactCard::from_text(card_text).map_err(|e| StationError::Card(e.to_string()))?;
        if card.identity == self.identity.id() {
            check_fingerprint(&card, given)?;
            return Err(StationError::Pairing(
                "this is this station's own card".into(),
            ));
        }
        if self.peers.contains_key(&card.identity) {
            return self.upgrade_pin(card, card_bytes, (given, address));
        }
        check_fingerprint(&card, given)?;
        if let Err(why) = parley_proto::names::check_new_station_name(&card.name) {
            return Err(StationError::Pairing(format!(
                "the card's name {:?} {why}, so it could pass for another name; ask the peer to \
                 name its station without it",
                card.name
            )));
        }
        // Names differing only in case would be told apart by nobody reading them aloud.
        let folded = card.name.to_lowercase();
        if let Some(other) = self
            .peers
            .values()
            .find(|p| p.name.to_lowercase() == folded)
        {
            return Err(StationError::Pairing(format!(
                "another peer is already named {:?}",
                other.name
            )));
        }
        // The operator's address is checked as `init` checks one; a card's may be anything
        // its peer wrote, and a bad one only leaves the direct channel off (logged).
        if let Some(given) = &address
            && let Err(error) = crate::node::parse_listen(given)
        {
            return Err(StationError::Invalid(format!(
                "the address given: {error}; nothing was pinned"
            )));
        }
        let address = address.or_else(|| card.addresses.first().cloned());
        self.endpoint
            .pair(now_ms, card.identity, card.epoch_public.clone())
            .map_err(|e| StationError::Card(e.to_string()))?;
        let peer = card.identity;
        self.limit_intake(&peer);
        let paired = Paired {
            name: card.name.clone(),
            fingerprint: card.fingerprint(),
            replaced: None,
        };
        self.peers.insert(peer, Peer::of(&card, address.clone()));
        self.pending.admin.push(AdminOp::AddPeer(PeerRecord {
            name: card.name.clone(),
            card,
            card_bytes,
            address,
            added_ms: now_ms,
        }));
        let start = self.add_direct(now_ms, peer);
        self.pending.outputs.push(Output::Start(start));
        Ok(paired)
    }

    /// Adds a relay or courier channel to the link with `peer` and starts it (unless a channel
    /// on the same transport already runs).
    fn add_channel(
        &mut self,
        now_ms: u64,
        peer: &str,
        kind: ChannelKind,
        target: String,
        relay_card: Option<(String, String)>,
    ) -> Result<ChannelAdded, StationError> {
        let peer = self.resolve_peer(peer)?;
        let row_kind = match (kind, relay_card) {
            (ChannelKind::Relay, Some((card, fingerprint))) => {
                self.check_relay(&target, &card, &fingerprint)?
            }
            (ChannelKind::Relay, None) => {
                return Err(StationError::Invalid(
                    "a relay channel needs the relay's card (--card FILE) and fingerprint (--fingerprint FP)".into(),
                ));
            }
            (ChannelKind::Courier, None) => {
                if !std::path::Path::new(&target).is_absolute() {
                    return Err(StationError::Invalid(format!(
                        "{target:?} is not an absolute path; a drop folder is named absolutely so the daemon finds it from anywhere"
                    )));
                }
                ChannelKindRow::Courier
            }
            (ChannelKind::Courier, Some(_)) => {
                return Err(StationError::Invalid(
                    "a courier channel takes only a folder; --card and --fingerprint are for relays".into(),
                ));
            }
            (ChannelKind::Direct, _) => {
                return Err(StationError::Invalid(
                    "unknown channel kind \"direct\"; every link has its direct channel already; add relay or courier".into(),
                ));
            }
        };
        if self.table.has(&peer, kind, &target) {
            return Err(StationError::Invalid(format!(
                "the link already has the {} channel {target}; nothing was added",
                kind.name()
            )));
        }
        let row = ChannelRow {
            id: self.table.next_row(),
            peer,
            kind: row_kind,
            target: target.clone(),
            added_ms: now_ms,
        };
        let id = row.id;
        if let Some(start) = self.add_stored(now_ms, &row) {
            self.pending.outputs.push(Output::Start(start));
        }
        self.pending.admin.push(AdminOp::AddChannel(row));
        Ok(ChannelAdded { id, kind, target })
    }

    /// Checks a relay's URL, card and fingerprint.
    fn check_relay(
        &self,
        url: &str,
        card_text: &str,
        fingerprint: &str,
    ) -> Result<ChannelKindRow, StationError> {
        check_relay_url(url)?;
        let given = parse_fingerprint(fingerprint, "nothing was added")?;
        let (card, card_bytes) =
            ContactCard::from_text(card_text).map_err(|e| StationError::Card(e.to_string()))?;
        check_fingerprint(&card, given)?;
        if card.identity == self.identity.id() || self.peers.contains_key(&card.identity) {
            return Err(StationError::Invalid(
                "this is a station's card, not a relay's".into(),
            ));
        }
        Ok(ChannelKindRow::Relay {
            relay: card.identity,
            card_bytes,
        })
    }

    /// Whether this core runs channels (a daemon) or only answers commands.
    pub(super) fn live(&self) -> bool {
        self.mode == Mode::Daemon
    }
}

fn parse_fingerprint(text: &str, not_done: &str) -> Result<Fingerprint, StationError> {
    Fingerprint::parse(text).ok_or_else(|| {
        StationError::Invalid(format!(
            "{text:?} is not a fingerprint (32 hex digits, e.g. as `parley fingerprint` prints it); {not_done}"
        ))
    })
}

impl Station {
    /// `peer add` of a peer already paired: its version 2 card replaces a version 1 pin in
    /// place (formats.md §6, migration). The card is signed by the identity key already
    /// pinned, so `given` may be the fingerprint checked when it was paired as well as the
    /// new card's. Anything else is refused as before: the peer is already paired.
    fn upgrade_pin(
        &mut self,
        card: ContactCard,
        card_bytes: Vec<u8>,
        (given, address): (Fingerprint, Option<String>),
    ) -> Result<Paired, StationError> {
        let peer = card.identity;
        let pinned = &self.peers[&peer];
        if given != pinned.fingerprint {
            check_fingerprint(&card, given)?;
        }
        if pinned.pq_key.is_some() || card.pq_key.is_none() {
            return Err(StationError::Pairing(format!(
                "{:?} is already paired",
                card.name
            )));
        }
        if address.is_some() {
            return Err(StationError::Pairing(format!(
                "--address is not taken when a card replaces the pin of {:?}: the pin keeps its \
                 address; nothing was changed",
                card.name
            )));
        }
        if card.name != pinned.name {
            return Err(StationError::Pairing(format!(
                "the card names the station {:?}, pinned as {:?}: a card that replaces a pin \
                 keeps its name; nothing was changed",
                card.name, pinned.name
            )));
        }
        let announced = self
            .endpoint
            .link(&peer)
            .is_some_and(|link| link.peer_epoch_announced());
        // By the key's bytes, as the store compares them (two keys can share an id).
        let sealing = (self.endpoint.link(&peer)).map(|link| link.peer_epoch_public());
        if !announced && sealing != Some(card.epoch_public.as_slice()) {
            return Err(StationError::Pairing(format!(
                "the card's epoch key is not the one {:?} was paired with, and it has announced \
                 none in its log yet: wait for its first entry, then add the card again; \
                 nothing was changed",
                card.name
            )));
        }
        let was = pinned.fingerprint;
        let fingerprint = card.fingerprint();
        let replaced = Peer {
            fingerprint,
            pq_key: card.pq_key.clone(),
            ..pinned.clone()
        };
        self.peers.insert(peer, replaced);
        self.pending.admin.push(AdminOp::UpgradePeerCard {
            card: Box::new(card.clone()),
            card_bytes,
        });
        tracing::info!(peer = ?card.name, %fingerprint, %was, "version 2 card pinned in place of version 1");
        Ok(Paired {
            name: card.name,
            fingerprint,
            replaced: Some(was),
        })
    }
}

fn check_fingerprint(card: &ContactCard, given: Fingerprint) -> Result<(), StationError> {
    let card_fingerprint = card.fingerprint();
    if card_fingerprint != given {
        return Err(StationError::FingerprintMismatch {
            card: card_fingerprint.to_string(),
            given: given.to_string(),
        });
    }
    Ok(())
}

/// Checks a relay URL: `https://HOST:PORT`.
pub fn check_relay_url(url: &str) -> Result<(), StationError> {
    let rest = url.strip_prefix("https://").ok_or_else(|| {
        StationError::Invalid(format!(
            "{url:?} is not a relay URL; use https://HOST:PORT (e.g. https://relay.example:7400)"
        ))
    })?;
    let host_port = rest.trim_end_matches('/');
    let valid = !host_port.is_empty()
        && !host_port.contains(['/', '?', '#', '@', ' '])
        && host_port.len() <= ADDRESS_SIZE_MAX_BYTES;
    if !valid {
        return Err(StationError::Invalid(format!(
            "{url:?} is not a relay URL; use https://HOST:PORT with no path"
        )));
    }
    Ok(())
}
