//! The operator API: what an operator (the CLI, a script, the console) may ask of a station,
//! what it answers, and the events it streams. These types are the API; `docs/cli.md`
//! documents them field by field, and the JSON on the socket is their serde form.
//!
//! A running daemon serves them as newline-delimited JSON on the Unix socket `api.sock` in the
//! station's home (mode 0600 in a 0700 home), every request carrying the token from `api.token`
//! (mode 0600): see [`client`] and the daemon's server. With no daemon, the CLI runs the same
//! requests itself through [`crate::node::Node::execute`] under the station lock: one
//! implementation, two callers.
//!
//! On the socket, one request per line:
//! `{"token":"…","op":"send","peer":"Bravo","precedence":"flash","text":"…"}`; one answer per
//! line: `{"ok":true,"kind":"sent","result":{…}}` or
//! `{"ok":false,"class":"operator","error":"…","result":null}`. A `subscribe` request is
//! answered `{"ok":true,"kind":"subscribed","result":null}`, then one [`Event`] per line
//! until the client hangs up.

pub mod client;
pub mod content;
pub mod edge;
pub mod records;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use parley_proto::{ChannelKind, CodebookHash, EntryId, Fingerprint, Objective, Precedence};
use serde::{Deserialize, Serialize};

use crate::core::health::Health;
pub use crate::core::watch::alarms::AlarmEvent;
pub use crate::core::{
    CheckpointItem, CheckpointReport, CosignedItem, LogCheckpoints, WitnessCosigned, WitnessItem,
};
pub use crate::error::ErrorClass;
use crate::limits::API_LINE_SIZE_MAX_BYTES;
pub use records::AlarmItem;
pub use status::StatusReport;

/// What an operator asks of a station.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Send a message; answered once it is durable.
    Send {
        /// Peer name or fingerprint.
        peer: String,
        /// Handling precedence (`flash`, `immediate`, `priority`, `routine`; any case).
        precedence: Precedence,
        /// The text.
        text: String,
        /// Mark it EXERCISE.
        #[serde(default)]
        exercise: bool,
        /// The sender's own translations of the text, by language tag.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        translations: BTreeMap<String, String>,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Send a pre-agreed message of the agreed codebook by its number; answered once durable.
    SendCode {
        /// Peer name or fingerprint.
        peer: String,
        /// Handling precedence.
        precedence: Precedence,
        /// The code's number.
        code: u64,
        /// Its parameters, by name, as the operator writes them (docs/codebook.md).
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Mark it EXERCISE.
        #[serde(default)]
        exercise: bool,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Send a formatted notice of the agreed codebook; answered once durable.
    Notice {
        /// Peer name or fingerprint.
        peer: String,
        /// Handling precedence.
        precedence: Precedence,
        /// The form's name.
        form: String,
        /// Its fields, by name, as the operator writes them (docs/codebook.md).
        #[serde(default)]
        fields: BTreeMap<String, String>,
        /// Mark it EXERCISE.
        #[serde(default)]
        exercise: bool,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Propose a codebook to a peer (its whole TOML source).
    CodebookPropose {
        /// Peer name or fingerprint.
        peer: String,
        /// The codebook's TOML source.
        source: String,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Accept a codebook the peer proposed.
    CodebookAccept {
        /// Peer name or fingerprint.
        peer: String,
        /// The codebook's hash; when absent, the one proposal waiting (refused when none or
        /// several wait).
        #[serde(default)]
        hash: Option<CodebookHash>,
        /// Who accepts.
        operator: String,
    },
    /// Add this station's operator's translation of a message.
    Translate {
        /// The message's id, or a unique prefix of it (hex).
        id: String,
        /// The translation's language tag.
        lang: String,
        /// The translation.
        text: String,
        /// Who translated it.
        operator: String,
    },
    /// Answer a peer's message (or operator test): understood, optionally restated.
    Understood {
        /// The message's id, or a unique prefix of it (hex).
        id: String,
        /// The message in the operator's own words.
        #[serde(default)]
        restatement: Option<String>,
        /// Who answers.
        operator: String,
    },
    /// Answer a peer's message with a question: answered, not understood.
    Clarify {
        /// The message's id, or a unique prefix of it (hex).
        id: String,
        /// The question.
        question: String,
        /// Who asks.
        operator: String,
    },
    /// Withdraw one of this station's messages; the original stays in the record.
    Cancel {
        /// The message's id, or a unique prefix of it (hex).
        id: String,
        /// Why.
        #[serde(default)]
        reason: String,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Send an end-to-end test now.
    Test {
        /// Peer name or fingerprint.
        peer: String,
        /// Who at this station writes it; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// Acknowledge an alarm.
    AlarmAck {
        /// The alarm's number.
        id: u64,
        /// A note.
        #[serde(default)]
        note: Option<String>,
        /// Who acknowledges.
        operator: String,
    },
    /// Pin a peer from its card, after its fingerprint was confirmed out of band.
    PeerAdd {
        /// Armoured card text.
        card: String,
        /// Fingerprint confirmed out of band.
        fingerprint: String,
        /// Direct address overriding the card's.
        #[serde(default)]
        address: Option<String>,
    },
    /// Add a relay or courier channel to the link with a peer.
    ChannelAdd {
        /// Peer name or fingerprint.
        peer: String,
        /// `relay` or `courier`.
        kind: ChannelKind,
        /// Relay URL, or drop folder (absolute).
        target: String,
        /// The relay's armoured card (relay only).
        #[serde(default)]
        card: Option<String>,
        /// The relay's fingerprint, confirmed out of band (relay only).
        #[serde(default)]
        fingerprint: Option<String>,
    },
    /// Write a courier bundle for a peer.
    CourierExport {
        /// Peer name or fingerprint.
        peer: String,
        /// Output file (absolute).
        out: PathBuf,
    },
    /// Import a courier bundle.
    CourierImport {
        /// The bundle file (absolute).
        path: PathBuf,
        /// Keep frames that verify on their own when the bundle's signature fails.
        #[serde(default)]
        salvage: bool,
    },
    /// Sign a checkpoint of this station's log of the link now, instead of waiting for the
    /// cadence.
    CheckpointIssue {
        /// Peer name or fingerprint.
        peer: String,
        /// Who at this station asks; in the signed entry (docs/formats.md §3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    /// The latest checkpoints of both logs of the link, and their cosignatures.
    CheckpointShow {
        /// Peer name or fingerprint.
        peer: String,
    },
    /// Make a new epoch key current and announce it on every link (docs/formats.md §3.6).
    KeyRotate {
        /// The identity key instead: not available yet, refused.
        #[serde(default)]
        identity: bool,
    },
    /// Check a transcript (either side's export, or a copy a third party holds) against this
    /// station's own record of the link: a log in the file that contradicts the entries this
    /// station holds raises an alarm with the file's entry as evidence.
    TranscriptCheck {
        /// The transcript file (absolute).
        path: PathBuf,
    },
    /// Take back this station's own entries of a link that its store lost (put back to an
    /// older copy) from a transcript of the link that holds them, as `transcript check`
    /// reads and compares it first.
    TranscriptRecover {
        /// The transcript file (absolute).
        path: PathBuf,
    },
    /// The station's status.
    Status,
    /// Stream events until the client hangs up (daemon only).
    Subscribe,
}

/// What a station answered.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "result", rename_all = "snake_case")]
pub enum Reply {
    /// `send`: the message is durable.
    Sent(Sent),
    /// `understood` or `clarify`: the answer is durable.
    Answered(Sent),
    /// `cancel`: the cancellation is durable.
    Cancelled(Sent),
    /// `codebook_propose`: the proposal is durable.
    CodebookProposed(CodebookSent),
    /// `codebook_accept`: the acceptance is durable.
    CodebookAccepted(CodebookSent),
    /// `translate`: the translation is durable.
    Translated(Sent),
    /// `test`: the test is durable.
    TestSent(Sent),
    /// `alarm_ack`: the acknowledgement is durable.
    AlarmAcknowledged(AlarmItem),
    /// `peer_add`: the peer is pinned.
    Paired(Paired),
    /// `channel_add`: the channel is stored and started.
    ChannelAdded(ChannelAdded),
    /// `courier_export`: the bundle is written.
    Exported(Exported),
    /// `courier_import`: the bundle's frames are committed.
    Imported(Imported),
    /// `checkpoint_issue`: the checkpoint is durable.
    CheckpointIssued(Sent),
    /// `checkpoint_show`.
    Checkpoints(Box<CheckpointReport>),
    /// `key_rotate`: the new key and its announcements are durable.
    KeyRotated(KeyRotated),
    /// `transcript_check`: the comparison, and the alarms it raised, durable.
    TranscriptChecked(TranscriptChecked),
    /// `transcript_recover`: the entries taken back are durable.
    TranscriptRecovered(TranscriptRecovered),
    /// `status`.
    Status(Box<StatusReport>),
    /// `subscribe`: events follow.
    Subscribed,
}

/// A new epoch key, durable and announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotated {
    /// The new key's id (hex).
    pub key_id: String,
    /// Peers it was announced to, by name.
    pub announced_to: Vec<String>,
    /// Peers whose outbox is full: announced at the next look at the keys, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announce_later: Vec<String>,
    /// Peers to which nothing more is written (this store was put back to an older copy;
    /// `log_closed` in `status`): never announced, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_announced: Vec<String>,
}

/// A transcript compared with this station's own record of the link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptChecked {
    /// The peer of the link, by name.
    pub peer: String,
    /// Who exported the file.
    pub exporter: TranscriptExporter,
    /// This station's log.
    pub own: LogChecked,
    /// The peer's log.
    pub peer_log: LogChecked,
}

impl TranscriptChecked {
    /// Whether both logs in the file agree with this station's record.
    pub fn agrees(&self) -> bool {
        self.own.differs_at.is_none() && self.peer_log.differs_at.is_none()
    }
}

/// Own entries of a link taken back from a transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptRecovered {
    /// The peer of the link, by name.
    pub peer: String,
    /// Who exported the file.
    pub exporter: TranscriptExporter,
    /// Own entries taken back (0: the file holds none beyond this store's log that the
    /// peer's receipt in it covers).
    pub recovered: u64,
    /// The peer's entries taken from the file (those beyond what this store had delivered).
    pub peer_entries: u64,
    /// The own log's last seq before.
    pub from_seq: u64,
    /// The own log's last seq now.
    pub written: u64,
    /// How far the peer's receipts now cover the own log.
    pub receipted_upto: u64,
    /// Why nothing more is written to the peer still, if so (the file did not hold every
    /// entry the peer holds, or the log forked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_closed: Option<status::LogClosed>,
}

/// Who exported a checked transcript (the file's first card).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptExporter {
    /// This station (an earlier export of its own).
    ThisStation,
    /// The peer.
    Peer,
}

impl TranscriptExporter {
    /// Who exported a transcript whose station at `slot` (0: the exporter, 1: the other) is
    /// this one.
    pub fn of_own_slot(slot: usize) -> Self {
        if slot == 0 {
            TranscriptExporter::ThisStation
        } else {
            TranscriptExporter::Peer
        }
    }

    /// The exporter as an account names it: "this station", or `peer` (already quoted).
    pub fn named(self, peer: &str) -> String {
        match self {
            TranscriptExporter::Peer => peer.to_owned(),
            TranscriptExporter::ThisStation => "this station".to_owned(),
        }
    }
}

/// One log of a checked transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChecked {
    /// Entries of the log the file holds (seq 1 to this).
    pub in_file: u64,
    /// Entries of the log this station holds: its own log whole; of the peer's, every entry
    /// stored (delivered, or held beyond a gap).
    pub held: u64,
    /// Entries both hold with the same signed bytes: every seq both hold, when they agree.
    pub agreed: u64,
    /// The first seq both hold with different entries, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differs_at: Option<u64>,
    /// The alarm raised for it (or already open for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<u64>,
}

/// A refusal, with who or what it is down to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Who or what it is down to.
    pub class: ErrorClass,
    /// What went wrong, what was not changed, what to try.
    pub message: String,
}

impl ApiError {
    /// An error of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// An operator error.
    pub fn operator(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Operator, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<&crate::error::StationError> for ApiError {
    fn from(error: &crate::error::StationError) -> Self {
        match error {
            crate::error::StationError::Api(api) => api.clone(),
            other => Self::new(other.class(), other.to_string()),
        }
    }
}

/// What a command that writes an entry wrote (`send`, `understood`, `clarify`, `cancel`,
/// `test`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sent {
    /// The entry's id, 64 hex digits (for `send`, the message id).
    pub id: EntryId,
    /// Seq in this station's log for the link.
    pub seq: u64,
    /// Peer name.
    pub peer: String,
}

/// What `codebook propose` and `codebook accept` wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodebookSent {
    /// The entry's id.
    pub id: EntryId,
    /// Seq in this station's log for the link.
    pub seq: u64,
    /// Peer name.
    pub peer: String,
    /// The codebook's hash (SHA-256 of its source).
    pub hash: CodebookHash,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: u32,
}

impl CodebookSent {
    /// What writing `sent` about `codebook` did.
    pub fn new(sent: Sent, hash: CodebookHash, codebook: &parley_codebook::Codebook) -> Self {
        Self {
            id: sent.id,
            seq: sent.seq,
            peer: sent.peer,
            hash,
            name: codebook.name().to_owned(),
            version: codebook.version(),
        }
    }
}

/// `peer_add`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Paired {
    /// The peer's name, from its card.
    pub name: String,
    /// The peer's fingerprint.
    pub fingerprint: Fingerprint,
    /// When the card replaced a version 1 pin of the same station in place: the fingerprint
    /// of that pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Fingerprint>,
}

/// `channel_add`'s answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChannelAdded {
    /// The channel's id in the store.
    pub id: i64,
    /// `relay` or `courier`.
    pub kind: ChannelKind,
    /// The relay URL or drop folder.
    pub target: String,
}

/// What `courier export` wrote.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exported {
    /// Peer name.
    pub peer: String,
    /// Envelopes in the bundle.
    pub envelopes: usize,
    /// Whether a receipt is in it: always (of nothing, when nothing is held from the peer).
    pub receipt: bool,
    /// Unreceipted envelopes left out because the bundle was full (export again later).
    pub left_out: usize,
    /// Bundle size in bytes.
    pub bytes: usize,
    /// The bundle itself, between the station and the edge that writes it; never on the wire.
    #[serde(skip)]
    pub bundle: Vec<u8>,
}

/// What `courier import` did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Imported {
    /// The peer that wrote the bundle.
    pub peer: String,
    /// Frames in the bundle.
    pub frames: usize,
    /// Envelopes accepted that were new.
    pub envelopes_new: u64,
    /// Envelopes already held (dropped).
    pub duplicates: u64,
    /// Receipts accepted.
    pub receipts: u64,
    /// The reasons of the first [`IMPORT_REASONS_MAX`] frames refused (a bundle holds up to
    /// 20,000 frames: an answer must stay within the API's line).
    pub rejected: Vec<String>,
    /// Frames refused, all of them (absent from a daemon older than this field: as many as
    /// the reasons).
    #[serde(default)]
    pub rejected_total: u64,
    /// Of those, frames refused for now, for what mends with time: over the peer's intake
    /// allowance, or written by a clock ahead of this station's. The same bundle imported
    /// later takes them (absent from a daemon older than this field: 0).
    #[serde(default)]
    pub refused_for_now: u64,
    /// Whether the bundle's own signature failed and the frames were salvaged one by one.
    pub salvaged: bool,
}

/// Something that happened at a station, streamed to subscribers once it is durable.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A peer's message is stored (it is delivered to the inbox once every earlier entry is).
    MessageStored {
        /// Peer name.
        peer: String,
        /// Seq in the peer's log.
        seq: u64,
        /// Entry id.
        id: EntryId,
        /// Precedence.
        precedence: Precedence,
        /// Marked EXERCISE.
        exercise: bool,
        /// When it was stored, UTC ms.
        at_ms: u64,
    },
    /// The peer's entries up to `upto` are delivered in order.
    Delivered {
        /// Peer name.
        peer: String,
        /// The new contiguous head.
        upto: u64,
    },
    /// The peer receipted this station's entries up to `upto`.
    Receipted {
        /// Peer name.
        peer: String,
        /// Cumulative bound.
        upto: u64,
        /// Entries this receipt newly covered.
        newly: u64,
    },
    /// A channel changed state.
    ChannelState {
        /// Peer name.
        peer: String,
        /// `direct`, `relay` or `courier`.
        kind: ChannelKind,
        /// Address, URL or folder.
        target: Option<String>,
        /// Previous state.
        from: Health,
        /// New state.
        to: Health,
        /// Why.
        reason: String,
        /// When, UTC ms.
        at_ms: u64,
    },
    /// An alarm was raised, escalated, acknowledged or cleared.
    Alarm {
        /// What happened to it.
        change: AlarmEvent,
        /// The alarm as it now is.
        alarm: AlarmItem,
    },
    /// Half of a deadline passed.
    DeadlineWarning {
        /// Peer name.
        peer: String,
        /// The message or test.
        id: EntryId,
        /// `receipt`, `understood` or `test_answer`.
        objective: Objective,
        /// Whether this station sent it (else it must answer it).
        own: bool,
        /// When it is due, UTC ms.
        due_ms: u64,
    },
    /// A message or test was answered, by the peer or by this station.
    Answered {
        /// Peer name.
        peer: String,
        /// The message or test answered.
        of: EntryId,
        /// Understood, or a question back (clarify).
        understood: bool,
        /// Who answered (empty: the station itself, for a machine test).
        operator: String,
        /// Whether this station answered.
        by_us: bool,
        /// When, by the answering station's clock, UTC ms.
        at_ms: u64,
    },
    /// This subscriber fell behind and missed events (read the state with `status`).
    Lagged {
        /// How many.
        missed: u64,
    },
}

/// Encodes an answer as one line of the socket protocol (with its `\n`), at most
/// [`API_LINE_SIZE_MAX_BYTES`] long: an answer that would be longer (a `status` of a station
/// with very many peers and channels) is replaced with a `stopping` error saying so, since the
/// client would read only its beginning: as for any answer that cannot be read, the request
/// may have been carried out.
pub fn encode_answer(answer: &Result<Reply, ApiError>) -> Vec<u8> {
    let line = encode_line(answer);
    if line.len() <= API_LINE_SIZE_MAX_BYTES {
        return line;
    }
    encode_line(&Err(ApiError::new(
        ErrorClass::Stopping,
        format!(
            "the answer is {} bytes, over the API's limit of {API_LINE_SIZE_MAX_BYTES}, and was \
             not sent: the request may have been carried out; check with `status`, `outbox` or \
             `alarms` before repeating it",
            line.len()
        ),
    )))
}

fn encode_line(answer: &Result<Reply, ApiError>) -> Vec<u8> {
    let value = match answer {
        Ok(reply) => {
            let mut object = match serde_json::to_value(reply).expect("replies serialise") {
                serde_json::Value::Object(object) => object,
                serde_json::Value::String(kind) => {
                    let mut object = serde_json::Map::new();
                    object.insert("kind".into(), kind.into());
                    object
                }
                other => unreachable!("a reply serialises to an object or a string: {other}"),
            };
            object.insert("ok".into(), true.into());
            object.entry("result").or_insert(serde_json::Value::Null);
            serde_json::Value::Object(object)
        }
        Err(error) => serde_json::json!({
            "ok": false,
            "class": error.class,
            "error": error.message,
            "result": null,
        }),
    };
    let mut line = serde_json::to_vec(&value).expect("answers serialise");
    line.push(b'\n');
    line
}

/// The socket protocol's answer line, as read.
#[derive(Deserialize)]
struct AnswerLine {
    ok: bool,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    class: Option<ErrorClass>,
    #[serde(default)]
    error: Option<String>,
}

/// Decodes one answer line; the outer error says the line is not an answer at all.
pub fn decode_answer(line: &str) -> Result<Result<Reply, ApiError>, String> {
    let answer: AnswerLine =
        serde_json::from_str(line).map_err(|error| format!("unreadable answer: {error}"))?;
    if !answer.ok {
        return Ok(Err(ApiError::new(
            answer.class.unwrap_or(ErrorClass::Local),
            answer.error.unwrap_or_else(|| "unknown error".into()),
        )));
    }
    let kind = answer.kind.ok_or("an answer without a kind")?;
    let reply = match answer.result {
        serde_json::Value::Null => serde_json::json!({ "kind": kind }),
        result => serde_json::json!({ "kind": kind, "result": result }),
    };
    serde_json::from_value(reply)
        .map(Ok)
        .map_err(|error| format!("unreadable {kind} answer: {error}"))
}

/// Parses a request line: a JSON object with the API token and one [`Request`]. Unknown
/// fields are refused. Returns the token and the request.
pub fn decode_request(line: &[u8]) -> Result<(String, Request), ApiError> {
    let malformed = |error: &dyn fmt::Display| {
        ApiError::operator(format!("malformed request: {error}; nothing was done"))
    };
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(line).map_err(|error| malformed(&error))?;
    let token = match object.remove("token") {
        Some(serde_json::Value::String(token)) => token,
        _ => return Err(malformed(&"the token is missing or not a string")),
    };
    let request: Request = serde_json::from_value(serde_json::Value::Object(object.clone()))
        .map_err(|error| malformed(&error))?;
    // serde refuses unknown fields of struct variants only (and takes `null` or `{}` for a
    // field whose default is that): a variant without fields takes none.
    if matches!(request, Request::Status | Request::Subscribe)
        && let Some(unknown) = object.keys().find(|key| *key != "op")
    {
        return Err(malformed(&format!("unknown field `{unknown}`")));
    }
    Ok((token, request))
}

/// Encodes a request line for `token` (with its `\n`). A request naming a file whose path is
/// not UTF-8 cannot travel as JSON: refused, as the operator's to fix.
pub fn encode_request(token: &str, request: &Request) -> Result<Vec<u8>, ApiError> {
    let mut value = serde_json::to_value(request).map_err(|error| {
        ApiError::operator(format!(
            "the request cannot be sent to the daemon ({error}): a file path must be UTF-8 \
             text; rename the file or give another path; nothing was done"
        ))
    })?;
    if let serde_json::Value::Object(object) = &mut value {
        object.insert("token".into(), token.into());
    }
    let mut line = serde_json::to_vec(&value).expect("a JSON value serialises");
    line.push(b'\n');
    if line.len() > API_LINE_SIZE_MAX_BYTES {
        return Err(ApiError::operator(format!(
            "the request is {} bytes, over the API's limit of {API_LINE_SIZE_MAX_BYTES}; \
             nothing was done",
            line.len()
        )));
    }
    Ok(line)
}

#[cfg(test)]
mod tests;
