//! Entry bodies: what each kind says, and its CBOR encoding (docs/formats.md §3, the kinds
//! table) with every bound its decoder checks.

use ciborium::Value;

use crate::cbor::{self, Fields};
use crate::error::DecodeError;
use crate::id::{CodebookHash, EntryId, EpochKeyId, StationId};
use crate::limits::{
    CODEBOOK_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES, NAME_SIZE_MAX_BYTES, PARAM_NAME_SIZE_MAX_BYTES,
    TEST_ANSWER_WITHIN_MS_MAX, TEXT_SIZE_MAX_BYTES, TRANSLATIONS_MAX,
};
use crate::names::check_name;
use crate::pq::PQ_SIGNATURE_BYTES;
use crate::seal::{EPOCH_PUBLIC_KEY_BYTES, PeerEpochKey};
use crate::tlog::head::{
    Cosignature, PqHeadSignature, SignedHead, Witness, WitnessCosignature, valid_witness_name,
};
use crate::tlog::note::KEY_NAME_SIZE_MAX_BYTES;
use crate::value::{self, Params};

use super::watch::{Objective, TestAnswer, TestSchedule, schedule};

/// What an entry says.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Body {
    /// An operator's message in the sender's language.
    Message {
        /// The text, at most [`TEXT_SIZE_MAX_BYTES`].
        text: String,
        /// BCP 47 language tag of the text.
        lang: String,
        /// Marked EXERCISE: practice, not real traffic.
        exercise: bool,
        /// The sender's own translations of the text, signed with it; languages distinct and
        /// none the text's own.
        translations: Vec<Translation>,
    },
    /// A pre-agreed message: only its number and typed parameters travel, and each side
    /// renders the text in its own language from the agreed codebook.
    Coded {
        /// The codebook the number refers to.
        codebook: CodebookHash,
        /// The code's number in it.
        code: u64,
        /// The code's parameters, names strictly increasing.
        params: Params,
        /// Marked EXERCISE.
        exercise: bool,
    },
    /// A formatted notice: a form of the agreed codebook with typed fields.
    Notice {
        /// The codebook the form belongs to.
        codebook: CodebookHash,
        /// The form's name.
        form: String,
        /// The fields, names strictly increasing.
        fields: Params,
        /// Marked EXERCISE.
        exercise: bool,
    },
    /// The author proposes a codebook for the link: its whole TOML source.
    CodebookProposal {
        /// The source, at most [`CODEBOOK_SIZE_MAX_BYTES`]; its hash names it.
        source: String,
    },
    /// The author's operator accepts a codebook proposed by either side.
    CodebookAccept {
        /// The codebook accepted.
        codebook: CodebookHash,
        /// Who accepted it.
        operator: String,
    },
    /// An operator's translation of a message (either side's).
    Translate {
        /// The message translated.
        of: EntryId,
        /// The translation's language.
        lang: String,
        /// The translation.
        text: String,
        /// Who translated it.
        operator: String,
    },
    /// The author's current epoch (KEM) key for receiving.
    KeyAnnouncement {
        /// Id of the key.
        key_id: EpochKeyId,
        /// Encoded X-Wing public key.
        public: Vec<u8>,
    },
    /// An operator (or, for a machine test, the station) answers a peer's message or test:
    /// understood.
    Understood {
        /// The peer's entry answered.
        of: EntryId,
        /// Who answered; empty when the station answered a machine test by itself.
        operator: String,
        /// The message restated in the operator's own words; may be empty.
        restatement: String,
    },
    /// An operator answers a peer's message with a question: answered, not understood.
    Clarify {
        /// The peer's entry answered.
        of: EntryId,
        /// Who asked.
        operator: String,
        /// The question.
        question: String,
    },
    /// The author's own entry missed a time objective: signed evidence of the silence.
    Overdue {
        /// The author's own entry (a message or a test).
        of: EntryId,
        /// Which objective was missed.
        objective: Objective,
        /// When it was due, UTC ms.
        due_ms: u64,
        /// When the peer's receipt covered the entry, UTC ms; `None` if it has not.
        receipted_ms: Option<u64>,
    },
    /// The author withdraws one of its own messages; the original stays in the record.
    Cancel {
        /// The author's own message withdrawn.
        of: EntryId,
        /// Why.
        reason: String,
    },
    /// An end-to-end test, to be answered with [`Body::Understood`].
    Test {
        /// Who must answer.
        answer: TestAnswer,
        /// Within how long, in milliseconds.
        answer_within_ms: u64,
    },
    /// The author's schedule of tests on the link, so the peer knows when one is due.
    Schedule(TestSchedule),
    /// The author's signed checkpoint of its own log of the link: its first `size` entries
    /// (all before this one) and their Merkle root, with the author's ML-DSA-44 signature of
    /// it when the author has that key (its card is version 2).
    Checkpoint(SignedHead, Option<PqHeadSignature>),
    /// The author's cosignature of a checkpoint of the peer's log, after checking it against
    /// the peer's entries the author holds.
    Cosigned(Cosignature),
    /// A witness's cosignature of a checkpoint of the author's own log, as the witness (a
    /// relay) answered the author's submission.
    Witnessed(WitnessCosignature),
}

/// Flag bit of a message marked EXERCISE.
const MESSAGE_FLAG_EXERCISE: u64 = 1;

/// A message's text in another language, as its sender wrote it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Translation {
    /// BCP 47 language tag.
    pub lang: String,
    /// The text in that language, at most [`TEXT_SIZE_MAX_BYTES`].
    pub text: String,
}

/// The kind code of a body.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Kind {
    /// [`Body::Message`].
    Message = 1,
    /// [`Body::KeyAnnouncement`].
    KeyAnnouncement = 2,
    /// [`Body::Understood`].
    Understood = 3,
    /// [`Body::Clarify`].
    Clarify = 4,
    /// [`Body::Overdue`].
    Overdue = 5,
    /// [`Body::Cancel`].
    Cancel = 6,
    /// [`Body::Test`].
    Test = 7,
    /// [`Body::Schedule`].
    Schedule = 8,
    /// [`Body::Coded`].
    Coded = 9,
    /// [`Body::Notice`].
    Notice = 10,
    /// [`Body::CodebookProposal`].
    CodebookProposal = 11,
    /// [`Body::CodebookAccept`].
    CodebookAccept = 12,
    /// [`Body::Translate`].
    Translate = 13,
    /// [`Body::Checkpoint`].
    Checkpoint = 14,
    /// [`Body::Cosigned`].
    Cosigned = 15,
    /// [`Body::Witnessed`].
    Witnessed = 16,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 16] = [
        Kind::Message,
        Kind::KeyAnnouncement,
        Kind::Understood,
        Kind::Clarify,
        Kind::Overdue,
        Kind::Cancel,
        Kind::Test,
        Kind::Schedule,
        Kind::Coded,
        Kind::Notice,
        Kind::CodebookProposal,
        Kind::CodebookAccept,
        Kind::Translate,
        Kind::Checkpoint,
        Kind::Cosigned,
        Kind::Witnessed,
    ];

    /// Lower-case name for JSON and the timeline.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::KeyAnnouncement => "key_announcement",
            Kind::Understood => "understood",
            Kind::Clarify => "clarify",
            Kind::Overdue => "overdue",
            Kind::Cancel => "cancel",
            Kind::Test => "test",
            Kind::Schedule => "schedule",
            Kind::Coded => "coded",
            Kind::Notice => "notice",
            Kind::CodebookProposal => "codebook_proposal",
            Kind::CodebookAccept => "codebook_accept",
            Kind::Translate => "translate",
            Kind::Checkpoint => "checkpoint",
            Kind::Cosigned => "cosigned",
            Kind::Witnessed => "witnessed",
        }
    }

    /// From the wire code.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| *kind as u64 == code)
    }
}

impl Body {
    /// This body's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Message { .. } => Kind::Message,
            Body::KeyAnnouncement { .. } => Kind::KeyAnnouncement,
            Body::Understood { .. } => Kind::Understood,
            Body::Clarify { .. } => Kind::Clarify,
            Body::Overdue { .. } => Kind::Overdue,
            Body::Cancel { .. } => Kind::Cancel,
            Body::Test { .. } => Kind::Test,
            Body::Schedule(_) => Kind::Schedule,
            Body::Coded { .. } => Kind::Coded,
            Body::Notice { .. } => Kind::Notice,
            Body::CodebookProposal { .. } => Kind::CodebookProposal,
            Body::CodebookAccept { .. } => Kind::CodebookAccept,
            Body::Translate { .. } => Kind::Translate,
            Body::Checkpoint(..) => Kind::Checkpoint,
            Body::Cosigned(_) => Kind::Cosigned,
            Body::Witnessed(_) => Kind::Witnessed,
        }
    }

    /// Whether this is a message an operator must answer (free text, coded or a notice), and
    /// if so whether it is marked EXERCISE.
    pub fn message_exercise(&self) -> Option<bool> {
        match self {
            Body::Message { exercise, .. }
            | Body::Coded { exercise, .. }
            | Body::Notice { exercise, .. } => Some(*exercise),
            _ => None,
        }
    }

    /// The codebook a coded message or notice uses.
    pub fn codebook(&self) -> Option<CodebookHash> {
        match self {
            Body::Coded { codebook, .. } | Body::Notice { codebook, .. } => Some(*codebook),
            _ => None,
        }
    }

    /// The operator the body itself names (possibly empty, for a machine test's answer), for
    /// the kinds that name one.
    pub fn operator(&self) -> Option<&str> {
        match self {
            Body::Understood { operator, .. }
            | Body::Clarify { operator, .. }
            | Body::CodebookAccept { operator, .. }
            | Body::Translate { operator, .. } => Some(operator),
            _ => None,
        }
    }

    /// The entry this body answers, withdraws or reports on, if any.
    pub fn subject(&self) -> Option<EntryId> {
        match self {
            Body::Understood { of, .. }
            | Body::Clarify { of, .. }
            | Body::Overdue { of, .. }
            | Body::Cancel { of, .. }
            | Body::Translate { of, .. } => Some(*of),
            _ => None,
        }
    }

    /// Whether the body is within every bound of its kind: decodes as itself.
    pub fn check(&self) -> Result<(), DecodeError> {
        Self::from_value(self.kind(), self.to_value()).map(drop)
    }

    pub(super) fn to_value(&self) -> Value {
        let items = match self {
            Body::Message {
                text,
                lang,
                exercise,
                translations,
            } => {
                let mut items = vec![cbor::text(text), cbor::text(lang)];
                if *exercise || !translations.is_empty() {
                    items.push(flags(*exercise));
                }
                if !translations.is_empty() {
                    items.push(Value::Array(
                        translations
                            .iter()
                            .map(|t| Value::Array(vec![cbor::text(&t.lang), cbor::text(&t.text)]))
                            .collect(),
                    ));
                }
                items
            }
            Body::Coded {
                codebook,
                code,
                params,
                exercise,
            } => {
                let mut items = vec![
                    cbor::bytes(&codebook.0),
                    cbor::uint(*code),
                    value::params_to_cbor(params),
                ];
                if *exercise {
                    items.push(flags(true));
                }
                items
            }
            Body::Notice {
                codebook,
                form,
                fields,
                exercise,
            } => {
                let mut items = vec![
                    cbor::bytes(&codebook.0),
                    cbor::text(form),
                    value::params_to_cbor(fields),
                ];
                if *exercise {
                    items.push(flags(true));
                }
                items
            }
            Body::CodebookProposal { source } => vec![cbor::text(source)],
            Body::CodebookAccept { codebook, operator } => {
                vec![cbor::bytes(&codebook.0), cbor::text(operator)]
            }
            Body::Translate {
                of,
                lang,
                text,
                operator,
            } => vec![
                cbor::bytes(&of.0),
                cbor::text(lang),
                cbor::text(text),
                cbor::text(operator),
            ],
            Body::KeyAnnouncement { key_id, public } => {
                vec![cbor::bytes(&key_id.0), cbor::bytes(public)]
            }
            Body::Understood {
                of,
                operator,
                restatement,
            } => vec![
                cbor::bytes(&of.0),
                cbor::text(operator),
                cbor::text(restatement),
            ],
            Body::Clarify {
                of,
                operator,
                question,
            } => vec![
                cbor::bytes(&of.0),
                cbor::text(operator),
                cbor::text(question),
            ],
            Body::Overdue {
                of,
                objective,
                due_ms,
                receipted_ms,
            } => vec![
                cbor::bytes(&of.0),
                cbor::uint(*objective as u64),
                cbor::uint(*due_ms),
                cbor::uint(receipted_ms.unwrap_or(0)),
            ],
            Body::Cancel { of, reason } => vec![cbor::bytes(&of.0), cbor::text(reason)],
            Body::Test {
                answer,
                answer_within_ms,
            } => vec![cbor::uint(*answer as u64), cbor::uint(*answer_within_ms)],
            Body::Schedule(schedule) => vec![
                Value::Array(
                    schedule
                        .times_min
                        .iter()
                        .map(|minute| cbor::uint(u64::from(*minute)))
                        .collect(),
                ),
                cbor::uint(schedule.every_ms),
                cbor::uint(schedule.answer.map_or(0, |answer| answer as u64)),
                cbor::uint(schedule.answer_within_ms),
            ],
            Body::Checkpoint(head, pq) => {
                let mut items = vec![
                    cbor::uint(head.size),
                    cbor::bytes(&head.root),
                    cbor::bytes(&head.signature),
                ];
                items.extend(pq.iter().map(|pq| cbor::bytes(&pq.0[..])));
                items
            }
            Body::Cosigned(cosignature) => {
                let mut items = vec![
                    cbor::uint(cosignature.head.size),
                    cbor::bytes(&cosignature.head.root),
                    cbor::bytes(&cosignature.head.signature),
                    cbor::uint(cosignature.time_s),
                    cbor::bytes(&cosignature.signature),
                ];
                items.extend(cosignature.pq.iter().map(|pq| cbor::bytes(&pq.0[..])));
                items
            }
            Body::Witnessed(witnessed) => {
                let mut items = vec![
                    cbor::uint(witnessed.head.size),
                    cbor::bytes(&witnessed.head.root),
                    cbor::bytes(&witnessed.head.signature),
                    cbor::bytes(&witnessed.witness.key.0),
                    cbor::uint(witnessed.time_s),
                    cbor::bytes(&witnessed.signature),
                ];
                if !witnessed.witness.is_relay() {
                    items.push(cbor::text(&witnessed.witness.name));
                }
                items
            }
        };
        Value::Array(items)
    }

    pub(super) fn from_value(kind: Kind, value: Value) -> Result<Self, DecodeError> {
        let malformed = |field| DecodeError::Field {
            what: "entry",
            field,
        };
        let arity = match (&value, kind) {
            // A message's flags, and its translations after them, are present only when set.
            (Value::Array(items), Kind::Message) if (3..=4).contains(&items.len()) => items.len(),
            (Value::Array(items), Kind::Coded | Kind::Notice) if items.len() == 4 => 4,
            // A checkpoint's post-quantum signature is present when its author has that key.
            (Value::Array(items), Kind::Checkpoint) if items.len() == 4 => 4,
            // A cosigner's post-quantum signature is present when it has that key.
            (Value::Array(items), Kind::Cosigned) if items.len() == 6 => 6,
            // A witness's name is present when it is not the one a relay witnesses under.
            (Value::Array(items), Kind::Witnessed) if items.len() == 7 => 7,
            (_, Kind::CodebookProposal) => 1,
            (
                _,
                Kind::Message
                | Kind::KeyAnnouncement
                | Kind::Cancel
                | Kind::Test
                | Kind::CodebookAccept,
            ) => 2,
            (
                _,
                Kind::Understood | Kind::Clarify | Kind::Coded | Kind::Notice | Kind::Checkpoint,
            ) => 3,
            (_, Kind::Overdue | Kind::Schedule | Kind::Translate) => 4,
            (_, Kind::Cosigned) => 5,
            (_, Kind::Witnessed) => 6,
        };
        let mut fields = Fields::array(value, "entry", arity, "body")?;
        let body = match kind {
            Kind::Message => {
                let text = fields.text("body.text", TEXT_SIZE_MAX_BYTES)?;
                let lang = fields.text("body.lang", LANG_SIZE_MAX_BYTES)?;
                // Present only when set, so each message has one encoding: flags of 0 only
                // before translations.
                let exercise = arity >= 3 && read_flags(&mut fields, arity == 3)?;
                let translations = if arity == 4 {
                    translations(&mut fields, &lang)?
                } else {
                    Vec::new()
                };
                Body::Message {
                    text,
                    lang,
                    exercise,
                    translations,
                }
            }
            Kind::Coded => Body::Coded {
                codebook: CodebookHash(fields.fixed("body.codebook")?),
                code: fields.uint("body.code")?,
                params: value::params_from_cbor(&mut fields, "body.params")?,
                exercise: arity == 4 && read_flags(&mut fields, true)?,
            },
            Kind::Notice => {
                let codebook = CodebookHash(fields.fixed("body.codebook")?);
                let form = fields.text("body.form", PARAM_NAME_SIZE_MAX_BYTES)?;
                if !value::is_param_name(&form) {
                    return Err(malformed("body.form"));
                }
                Body::Notice {
                    codebook,
                    form,
                    fields: value::params_from_cbor(&mut fields, "body.fields")?,
                    exercise: arity == 4 && read_flags(&mut fields, true)?,
                }
            }
            Kind::CodebookProposal => Body::CodebookProposal {
                source: fields.text("body.source", CODEBOOK_SIZE_MAX_BYTES)?,
            },
            Kind::CodebookAccept => Body::CodebookAccept {
                codebook: CodebookHash(fields.fixed("body.codebook")?),
                operator: operator(&mut fields, false)?,
            },
            Kind::Translate => {
                let of = EntryId(fields.fixed("body.of")?);
                let lang = lang_tag(&mut fields, "body.lang")?;
                let text = fields.text("body.text", TEXT_SIZE_MAX_BYTES)?;
                if text.trim().is_empty() {
                    return Err(malformed("body.text"));
                }
                Body::Translate {
                    of,
                    lang,
                    text,
                    operator: operator(&mut fields, false)?,
                }
            }
            Kind::KeyAnnouncement => {
                let key_id = EpochKeyId(fields.fixed("body.key_id")?);
                let public = fields.bytes("body.public", EPOCH_PUBLIC_KEY_BYTES)?;
                // The same check as a card's key (FIPS 203 §7.2 for the ML-KEM part): an
                // announced key is the one the peer will seal to.
                let valid = public.len() == EPOCH_PUBLIC_KEY_BYTES
                    && EpochKeyId::of(&public) == key_id
                    && PeerEpochKey::from_bytes(&public).is_ok();
                if !valid {
                    return Err(malformed("body.public"));
                }
                Body::KeyAnnouncement { key_id, public }
            }
            Kind::Understood => Body::Understood {
                of: EntryId(fields.fixed("body.of")?),
                operator: operator(&mut fields, true)?,
                restatement: fields.text("body.restatement", TEXT_SIZE_MAX_BYTES)?,
            },
            Kind::Clarify => {
                let of = EntryId(fields.fixed("body.of")?);
                let operator = operator(&mut fields, false)?;
                let question = fields.text("body.question", TEXT_SIZE_MAX_BYTES)?;
                if question.is_empty() {
                    return Err(malformed("body.question"));
                }
                Body::Clarify {
                    of,
                    operator,
                    question,
                }
            }
            Kind::Overdue => {
                let of = EntryId(fields.fixed("body.of")?);
                // A missed receipt raises an alarm; only missed answers are signed evidence.
                let objective = Objective::from_code(fields.uint("body.objective")?)
                    .filter(|objective| *objective != Objective::Receipt)
                    .ok_or(malformed("body.objective"))?;
                let due_ms = fields.uint("body.due_ms")?;
                let receipted_ms = fields.uint("body.receipted_ms")?;
                Body::Overdue {
                    of,
                    objective,
                    due_ms,
                    receipted_ms: (receipted_ms != 0).then_some(receipted_ms),
                }
            }
            Kind::Cancel => Body::Cancel {
                of: EntryId(fields.fixed("body.of")?),
                reason: fields.text("body.reason", TEXT_SIZE_MAX_BYTES)?,
            },
            Kind::Test => {
                let answer = TestAnswer::from_code(fields.uint("body.answer")?)
                    .ok_or(malformed("body.answer"))?;
                let answer_within_ms = fields.uint("body.answer_within_ms")?;
                if !(1..=TEST_ANSWER_WITHIN_MS_MAX).contains(&answer_within_ms) {
                    return Err(malformed("body.answer_within_ms"));
                }
                Body::Test {
                    answer,
                    answer_within_ms,
                }
            }
            Kind::Schedule => Body::Schedule(schedule(&mut fields)?),
            Kind::Checkpoint => {
                let head = signed_head(&mut fields)?;
                let pq = if arity == 4 {
                    let signature = fields.fixed::<PQ_SIGNATURE_BYTES>("body.pq_signature")?;
                    Some(PqHeadSignature(std::sync::Arc::new(signature)))
                } else {
                    None
                };
                Body::Checkpoint(head, pq)
            }
            Kind::Cosigned => {
                let head = signed_head(&mut fields)?;
                let time_s = fields.uint("body.time_s")?;
                if time_s > i64::MAX as u64 {
                    return Err(malformed("body.time_s"));
                }
                let signature = fields.fixed("body.cosignature")?;
                let pq = if arity == 6 {
                    let signature = fields.fixed::<PQ_SIGNATURE_BYTES>("body.pq_cosignature")?;
                    Some(PqHeadSignature(std::sync::Arc::new(signature)))
                } else {
                    None
                };
                Body::Cosigned(Cosignature {
                    head,
                    time_s,
                    signature,
                    pq,
                })
            }
            Kind::Witnessed => {
                let head = signed_head(&mut fields)?;
                let key = StationId(fields.fixed("body.witness")?);
                let time_s = fields.uint("body.time_s")?;
                if time_s == 0 || time_s > i64::MAX as u64 {
                    return Err(malformed("body.time_s"));
                }
                let signature = fields.fixed("body.cosignature")?;
                let witness = if arity == 7 {
                    let name = fields.text("body.witness_name", KEY_NAME_SIZE_MAX_BYTES)?;
                    let witness = Witness {
                        name: name.into(),
                        key,
                    };
                    // One encoding: a relay's name is left out, and any name is one a
                    // station may sign under.
                    if witness.is_relay() || !valid_witness_name(&witness.name) {
                        return Err(malformed("body.witness_name"));
                    }
                    witness
                } else {
                    Witness::relay(&key)
                };
                Body::Witnessed(WitnessCosignature {
                    head,
                    witness,
                    time_s,
                    signature,
                })
            }
        };
        Ok(body)
    }
}

/// A checkpoint's size, root and signature; a checkpoint holds at least one entry.
fn signed_head(fields: &mut Fields) -> Result<SignedHead, DecodeError> {
    let size = fields.uint("body.size")?;
    if size == 0 {
        return Err(DecodeError::Field {
            what: "entry",
            field: "body.size",
        });
    }
    Ok(SignedHead {
        size,
        root: fields.fixed("body.root")?,
        signature: fields.fixed("body.signature")?,
    })
}

/// A message's flags: the EXERCISE bit, or 0 where `must_be_set` is false (flags present
/// only to place the translations after them).
fn read_flags(fields: &mut Fields, must_be_set: bool) -> Result<bool, DecodeError> {
    match fields.uint("body.flags")? {
        MESSAGE_FLAG_EXERCISE => Ok(true),
        0 if !must_be_set => Ok(false),
        _ => Err(DecodeError::Field {
            what: "entry",
            field: "body.flags",
        }),
    }
}

fn flags(exercise: bool) -> Value {
    cbor::uint(if exercise { MESSAGE_FLAG_EXERCISE } else { 0 })
}

/// A language tag: 1 to [`LANG_SIZE_MAX_BYTES`] of ASCII letters, digits and hyphens.
fn lang_tag(fields: &mut Fields, field: &'static str) -> Result<String, DecodeError> {
    let lang = fields.text(field, LANG_SIZE_MAX_BYTES)?;
    if is_lang_tag(&lang) {
        Ok(lang)
    } else {
        Err(DecodeError::Field {
            what: "entry",
            field,
        })
    }
}

/// Whether `lang` has the shape of a BCP 47 tag: 1 to [`LANG_SIZE_MAX_BYTES`] ASCII letters,
/// digits and hyphens, starting with a letter.
pub fn is_lang_tag(lang: &str) -> bool {
    (1..=LANG_SIZE_MAX_BYTES).contains(&lang.len())
        && lang.starts_with(|c: char| c.is_ascii_alphabetic())
        && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A message's translations: 1 to [`TRANSLATIONS_MAX`], languages distinct and increasing,
/// none the text's own, none empty.
fn translations(fields: &mut Fields, own: &str) -> Result<Vec<Translation>, DecodeError> {
    let malformed = DecodeError::Field {
        what: "entry",
        field: "body.translations",
    };
    let items = fields.list("body.translations", TRANSLATIONS_MAX)?;
    if items.is_empty() {
        return Err(malformed);
    }
    let mut out: Vec<Translation> = Vec::with_capacity(items.len());
    for item in items {
        let mut pair = Fields::array(item, "entry", 2, "body.translations")?;
        let lang = lang_tag(&mut pair, "body.translations")?;
        let text = pair.text("body.translations", TEXT_SIZE_MAX_BYTES)?;
        let increasing = out.last().is_none_or(|last| last.lang < lang);
        if text.trim().is_empty() || lang == own || !increasing {
            return Err(malformed);
        }
        out.push(Translation { lang, text });
    }
    Ok(out)
}

/// An operator's name: the name rule (docs/formats.md), or empty where `may_be_empty`.
fn operator(fields: &mut Fields, may_be_empty: bool) -> Result<String, DecodeError> {
    let operator = fields.text("body.operator", NAME_SIZE_MAX_BYTES)?;
    if (operator.is_empty() && may_be_empty) || check_name(&operator).is_ok() {
        Ok(operator)
    } else {
        Err(DecodeError::Field {
            what: "entry",
            field: "body.operator",
        })
    }
}
