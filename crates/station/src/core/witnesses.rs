//! Witnesses of this station's logs (docs/formats.md §3.5, docs/relay-api.md "Witness"): each
//! checkpoint of its log of a link is submitted to every relay the link uses as a channel, and
//! to every stock `c2sp.org/tlog-witness` witness the station is configured with, with a
//! consistency proof from the size the witness last cosigned. The cosignature is checked under
//! the key pinned for the relay channel, or configured for the stock witness, and appended as a
//! `witnessed` entry, so it travels to the peer and into transcripts. A `409` names the size
//! the witness holds and the checkpoint is submitted again from it; a relay that shows it holds
//! more of this log than this station wrote, or a history not consistent with it, raises a
//! `split_view` alarm. A stock witness has no way to show what it holds: its `409` is followed
//! when the size it names is within the checkpoint (the witness checks the proof against what
//! it holds), and is its error otherwise.
//!
//! A submission goes out only after the commit that holds its checkpoint (it waits with the
//! other outputs), so no witness ever holds a checkpoint a crash could take back.

use parley_channels::WitnessAt;
use parley_proto::tlog::Hash;
use parley_proto::tlog::head::{SignedHead, Witness, WitnessCosignature, origin};
use parley_proto::tlog::note::{self, Checkpoint};
use parley_proto::{Body, Precedence, StationId};
use parley_relay_wire::witness::{AddCheckpoint, WitnessAnswer};
use parley_store::AlarmKind;
use serde::{Deserialize, Serialize};

use super::{Output, Station};
use crate::limits::{WITNESS_CONFLICTS_MAX, WITNESS_RETRY_MS};

/// Why a witness took no checkpoint when it answered 404.
const NOT_WITNESSING: &str =
    "it does not witness this log (404): not a witness, or this station is not admitted there";

/// A checkpoint for a witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessSubmit {
    /// The witness: a relay channel, or a stock witness.
    pub at: WitnessAt,
    /// The link's peer.
    pub peer: StationId,
    /// The checkpoint's size.
    pub size: u64,
    /// The request.
    pub submission: AddCheckpoint,
}

/// One witness of this station's log of one link.
#[derive(Clone, Debug, Default)]
pub(super) struct WitnessLog {
    /// The size of the log the witness holds, as far as this station knows: 0 until it
    /// answers, then the size it cosigned or named in a `409`.
    holds: u64,
    /// The checkpoint submitted and not answered yet.
    out: Option<SignedHead>,
    /// The witness's largest cosignature appended.
    latest: Option<WitnessCosignature>,
    /// Why the last submission got no cosignature, if it did not.
    error: Option<String>,
    /// `409`s answered in a row for one checkpoint.
    conflicts: u32,
    /// A `409` named the size of the checkpoint out, as held: it goes again from that size
    /// with no proof, for the witness to cosign if it holds the same root, until a cosignature
    /// of it is recorded or another `409` says otherwise.
    again_at_size: bool,
    /// When to submit again after a failure, UTC ms.
    retry_ms: Option<u64>,
}

/// The size and root of `note` if it is a checkpoint of `author`'s log of its link with `peer`
/// that `author`'s key signed.
fn own_checkpoint(note: &str, author: &StationId, peer: &StationId) -> Option<(u64, Hash)> {
    let origin = origin(author, peer);
    let key = author.verifying_key().ok()?;
    let checkpoint = Checkpoint::parse(note::open(note, &origin, &key).ok()?).ok()?;
    (checkpoint.origin == origin).then_some((checkpoint.size, checkpoint.root))
}

impl WitnessLog {
    /// Its cosignature `by` was appended.
    pub(super) fn witnessed(&mut self, by: &WitnessCosignature) {
        self.holds = self.holds.max(by.head.size);
        if self
            .latest
            .as_ref()
            .is_none_or(|latest| latest.head.size < by.head.size)
        {
            self.latest = Some(by.clone());
        }
    }
}

/// What a station knows of one witness of its log, for `parley checkpoint show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessItem {
    /// The witness's key name: `parley.witness/<relay key hex>` for a relay, its own for a
    /// stock witness.
    pub witness: String,
    /// Its verifier key (`<name>+<key id>+<base64 key>`), to compare with what the witness
    /// publishes.
    pub verifier_key: String,
    /// Whether it is a stock witness from the configuration rather than a relay channel.
    pub stock: bool,
    /// The size of this station's log the witness holds, as far as this station knows.
    pub holds: u64,
    /// The largest checkpoint it cosigned: its size, when, and the cosigned note.
    pub cosigned: Option<WitnessCosigned>,
    /// Why the last submission got no cosignature, if it did not (untrusted text in part:
    /// the relay's answer).
    pub error: Option<String>,
}

/// A witness's cosignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessCosigned {
    /// Entries it covers.
    pub size: u64,
    /// When it was cosigned, seconds since the epoch.
    pub time_s: u64,
    /// The C2SP note signed by this station and cosigned by the witness.
    pub note: String,
}

impl Station {
    /// The witnesses of `peer`'s link: the relays it uses, then the stock witnesses whose key
    /// is not one of theirs.
    fn witnesses_of(&self, peer: &StationId) -> Vec<(WitnessAt, Witness)> {
        let mut all: Vec<(WitnessAt, Witness)> = (self.table.relays_of(peer).into_iter())
            .map(|(via, relay)| (WitnessAt::Relay(via), Witness::relay(&relay)))
            .collect();
        for stock in &self.settings.checkpoints.witnesses {
            // By key: a cosignature does not sign its name, so a relay's key is that relay.
            if !all.iter().any(|(_, witness)| witness.key == stock.key) {
                all.push((WitnessAt::Stock(stock.clone()), stock.clone()));
            }
        }
        all
    }

    /// The witness a submission went to, if it is still one of this station's.
    fn witness_at(&self, at: &WitnessAt) -> Option<Witness> {
        match at {
            WitnessAt::Relay(via) => self
                .table
                .relay_of(*via)
                .map(|relay| Witness::relay(&relay)),
            WitnessAt::Stock(stock) => (self.settings.checkpoints.witnesses.iter())
                .find(|configured| *configured == stock)
                .cloned(),
        }
    }

    /// Submits this station's latest checkpoint of its log of the link with `peer` to every
    /// witness of the link that holds less of it and has nothing out.
    pub(super) fn submit_to_witnesses(&mut self, now_ms: u64, peer: StationId) {
        for (at, witness) in self.witnesses_of(&peer) {
            self.submit(now_ms, peer, (at, witness));
        }
    }

    fn submit(&mut self, now_ms: u64, peer: StationId, (at, witness): (WitnessAt, Witness)) {
        let own_id = self.identity.id();
        let Some(logs) = self.logs.get_mut(&peer) else {
            return;
        };
        let Some(head) = logs.own_latest.as_ref().map(|latest| latest.head) else {
            return;
        };
        let w = logs.witnesses.entry(witness).or_default();
        let again = w.again_at_size && w.holds == head.size;
        if w.out.is_some()
            || (w.holds >= head.size && !again)
            || w.retry_ms.is_some_and(|at| at > now_ms)
        {
            return;
        }
        let proof = match w.holds {
            0 => Vec::new(),
            old if old == head.size => Vec::new(),
            old => logs
                .own
                .consistency_proof(old, head.size)
                .expect("a size held below the checkpoint's, within the tree"),
        };
        w.out = Some(head);
        w.retry_ms = None;
        let submission = AddCheckpoint {
            old_size: w.holds,
            proof,
            checkpoint: head.note(&own_id, &peer),
        };
        self.pending.outputs.push(Output::Witness(WitnessSubmit {
            at,
            peer,
            size: head.size,
            submission,
        }));
    }

    /// The transport took the submission, or could not (its queue is full, it is not
    /// running): then it is tried again later.
    pub fn submitted(&mut self, now_ms: u64, submit: &WitnessSubmit, handed_over: bool) {
        if !handed_over {
            let answer = Err("its transport did not take it".to_owned());
            let at = (submit.at.clone(), submit.peer, submit.size);
            self.witness_answer(now_ms, at, answer, None);
        }
    }

    /// A witness answered the submission of this station's checkpoint at `size` of its log of
    /// the link with `peer` (with its own checkpoint of the log, `held`, if it disagreed), or
    /// could not be reached about it.
    ///
    /// What the witness says is taken only as far as it proves it: a relay's `409` moves the
    /// submission to the size it names only when that is 0, or when the relay shows its
    /// checkpoint of that size signed with this station's key and with this log's root; a
    /// stock witness's, which cannot show one, when the size is within the checkpoint out (the
    /// witness checks the proof from it against what it holds). At the checkpoint's own size
    /// it goes again with no proof. A `split_view` alarm needs a signed checkpoint that
    /// contradicts this log (beyond its end, or another root), which only a relay can show.
    /// Anything else is that witness's error, shown and tried again.
    pub(super) fn witness_answer(
        &mut self,
        now_ms: u64,
        (at, peer, size): (WitnessAt, StationId, u64),
        answer: Result<WitnessAnswer, String>,
        held: Option<String>,
    ) {
        let Some(witness) = self.witness_at(&at) else {
            return;
        };
        let stock = matches!(at, WitnessAt::Stock(_));
        let own_id = self.identity.id();
        let Some(logs) = self.logs.get_mut(&peer) else {
            return;
        };
        let w = logs.witnesses.entry(witness.clone()).or_default();
        let Some(head) = w.out.filter(|head| head.size == size) else {
            return;
        };
        w.out = None;
        let name = witness.name.clone();
        // The witness's checkpoint, if it showed one this station's key signed, and how it
        // contradicts this log, if it does.
        let shown = (held.as_deref()).and_then(|note| own_checkpoint(note, &own_id, &peer));
        let contradiction = shown.and_then(|(held_size, root)| {
            let len = logs.own.len();
            match logs.own.root_at(held_size) {
                None => Some(format!(
                    "witness {name} holds a checkpoint of this station's log at size \
                     {held_size}, signed with this station's key, but the log is only {len} long"
                )),
                Some(own) if own != root => Some(format!(
                    "witness {name} holds a checkpoint of this station's log at size \
                     {held_size}, signed with this station's key, whose root is not this log's"
                )),
                Some(_) => None,
            }
        });
        let mut cosigned = None;
        let failed = match answer {
            Err(error) => Some(format!("not reached: {error}")),
            Ok(WitnessAnswer::Cosigned(lines)) => {
                let read = lines.iter().find_map(|line| {
                    WitnessCosignature::from_line((&own_id, &peer), head, &witness, line).ok()
                });
                match read {
                    Some(by) => {
                        cosigned = Some(by);
                        None
                    }
                    None => Some(format!("no cosignature by {name} verifies in its answer")),
                }
            }
            Ok(WitnessAnswer::Conflict(_) | WitnessAnswer::Refused { status: 422, .. })
                if contradiction.is_some() =>
            {
                Some("it holds another history of this log: see the split_view alarm".to_owned())
            }
            Ok(WitnessAnswer::Conflict(holds)) if w.conflicts >= WITNESS_CONFLICTS_MAX => {
                Some(format!(
                    "it answered 409 (it holds size {holds}) {WITNESS_CONFLICTS_MAX} times in a row"
                ))
            }
            Ok(WitnessAnswer::Conflict(holds))
                if holds == 0
                    || shown.is_some_and(|(held_size, _)| held_size == holds)
                    || (stock && holds <= head.size) =>
            {
                w.holds = holds;
                w.again_at_size = holds == head.size;
                w.conflicts += 1;
                None
            }
            Ok(WitnessAnswer::Conflict(holds)) if stock => Some(format!(
                "it answered 409 naming size {holds}, beyond this checkpoint ({}): it holds a \
                 checkpoint of this log this station did not write, or says so falsely (a \
                 stock witness cannot show it)",
                head.size
            )),
            Ok(WitnessAnswer::Conflict(holds)) => Some(format!(
                "it answered 409 naming size {holds}, and showed no checkpoint of that size \
                 signed with this station's key"
            )),
            Ok(WitnessAnswer::NotWitnessing) => Some(NOT_WITNESSING.to_owned()),
            Ok(WitnessAnswer::Refused { status, text }) => {
                Some(format!("{status}: {}", text.trim_end()))
            }
        };
        let succeeded = failed.is_none();
        match failed {
            Some(error) => {
                tracing::warn!(peer = %self.peer_name(&peer), witness = %name, size, %error, "a witness did not cosign a checkpoint");
                let w = self.witness_mut(peer, &witness);
                // One that does not witness the log is asked again with the next checkpoint.
                if error != NOT_WITNESSING {
                    w.retry_ms = Some(now_ms.saturating_add(WITNESS_RETRY_MS));
                }
                w.error = Some(error);
                w.conflicts = 0;
            }
            None => self.witness_mut(peer, &witness).error = None,
        }
        if let (Some(detail), Some(held)) = (contradiction, held) {
            // One alarm per witness while it is open, however many checkpoints it refuses.
            let subject = format!("witness {name}");
            tracing::error!(peer = %self.peer_name(&peer), %subject, "ALARM: a witness holds another history of this station's log");
            let note = head.note(&own_id, &peer);
            self.watch.misbehaviour(
                now_ms,
                peer,
                AlarmKind::SplitView,
                subject,
                format!(
                    "{detail}: someone signed another history of this log with this station's \
                     key.\nThis station's checkpoint:\n{note}The witness's checkpoint:\n{held}"
                ),
            );
        }
        if let Some(by) = cosigned {
            let appended =
                self.endpoint
                    .append(now_ms, &peer, Precedence::Routine, Body::Witnessed(by));
            let w = self.witness_mut(peer, &witness);
            if let Err(error) = appended {
                tracing::error!(%error, "could not record a witness's cosignature");
                w.error = Some(format!("its cosignature could not be recorded: {error}"));
                w.retry_ms = Some(now_ms.saturating_add(WITNESS_RETRY_MS));
                return;
            }
            w.holds = w.holds.max(size);
            w.conflicts = 0;
            w.again_at_size = false;
        }
        if succeeded {
            self.submit(now_ms, peer, (at, witness));
        }
    }

    fn witness_mut(&mut self, peer: StationId, witness: &Witness) -> &mut WitnessLog {
        self.logs
            .entry(peer)
            .or_default()
            .witnesses
            .entry(witness.clone())
            .or_default()
    }

    /// Submits again where a failure's wait is over.
    pub(super) fn witness_timers(&mut self, now_ms: u64) {
        let due: Vec<StationId> = self
            .logs
            .iter()
            .filter(|(_, logs)| {
                (logs.witnesses.values()).any(|w| w.retry_ms.is_some_and(|at| at <= now_ms))
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            let logs = self.logs.get_mut(&peer).expect("listed");
            for w in logs.witnesses.values_mut() {
                w.retry_ms = w.retry_ms.filter(|at| *at > now_ms);
            }
            self.submit_to_witnesses(now_ms, peer);
        }
    }

    /// When a failed submission is next tried again.
    pub(super) fn next_witness_ms(&self) -> Option<u64> {
        (self.logs.values())
            .flat_map(|logs| logs.witnesses.values())
            .filter_map(|w| w.retry_ms)
            .min()
    }

    /// The witnesses of this station's log of the link with `peer` (every relay the link
    /// uses, every stock witness), for `checkpoint show`.
    pub(super) fn witness_report(&self, peer: &StationId) -> Vec<WitnessItem> {
        let own_id = self.identity.id();
        let none = WitnessLog::default();
        (self.witnesses_of(peer).into_iter())
            .map(|(at, witness)| {
                let w = (self.logs.get(peer))
                    .and_then(|logs| logs.witnesses.get(&witness))
                    .unwrap_or(&none);
                WitnessItem {
                    witness: witness.name.to_string(),
                    verifier_key: witness.verifier_key(),
                    stock: matches!(at, WitnessAt::Stock(_)),
                    holds: w.holds,
                    cosigned: w.latest.as_ref().map(|by| WitnessCosigned {
                        size: by.head.size,
                        time_s: by.time_s,
                        note: by.note(&own_id, peer),
                    }),
                    error: w.error.clone(),
                }
            })
            .collect()
    }
}
