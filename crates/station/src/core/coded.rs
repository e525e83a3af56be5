//! Codebook commands: proposing and accepting a link's codebook, coded messages and formatted
//! notices checked against the agreed one before anything is stored, and translations.

use std::collections::BTreeMap;

use parley_codebook::Codebook;
use parley_proto::entry::is_lang_tag;
use parley_proto::limits::{CODEBOOK_SIZE_MAX_BYTES, TEXT_SIZE_MAX_BYTES, TRANSLATIONS_MAX};
use parley_proto::{Body, CodebookHash, Precedence, StationId, Translation};

use super::Station;
use crate::api::{CodebookSent, Sent};
use crate::codebooks::LinkCodebooks;
use crate::error::StationError;

/// A coded message or notice to send: what the operator gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// `send PEER --code N --param NAME=VALUE…`.
    Coded {
        /// The code's number.
        code: u64,
        /// Its parameters as the operator wrote them.
        params: BTreeMap<String, String>,
    },
    /// `notice PEER FORM --field NAME=VALUE…`.
    Notice {
        /// The form's name.
        form: String,
        /// Its fields as the operator wrote them.
        fields: BTreeMap<String, String>,
    },
}

impl Station {
    /// The codebooks of the link with `peer`, as this core holds them.
    pub fn codebooks(&self, peer: &StationId) -> &LinkCodebooks {
        static EMPTY: LinkCodebooks = LinkCodebooks::EMPTY;
        self.codebooks.get(peer).unwrap_or(&EMPTY)
    }

    /// `codebook propose`: sends a whole codebook, checked first.
    pub(super) fn propose_codebook(
        &mut self,
        now_ms: u64,
        peer: &str,
        source: &str,
        operator: Option<&str>,
    ) -> Result<CodebookSent, StationError> {
        let peer = self.resolve_peer(peer)?;
        if source.len() > CODEBOOK_SIZE_MAX_BYTES {
            return Err(StationError::Invalid(format!(
                "the codebook is {} bytes, over the limit of {CODEBOOK_SIZE_MAX_BYTES} bytes; nothing was sent",
                source.len()
            )));
        }
        let codebook = Codebook::parse(source).map_err(|error| {
            StationError::Invalid(format!(
                "the codebook is not valid: {error}; nothing was sent"
            ))
        })?;
        let hash = codebook.hash();
        self.check_newer(&peer, &codebook, "propose")?;
        self.check_speaks(&codebook)?;
        if self.codebooks(&peer).get(&hash).is_some() {
            return Err(StationError::Invalid(format!(
                "codebook {hash} was proposed on this link already; nothing was sent"
            )));
        }
        let body = Body::CodebookProposal {
            source: source.to_owned(),
        };
        let sent = self.write(now_ms, peer, Precedence::Routine, body, operator)?;
        Ok(CodebookSent::new(sent, hash, &codebook))
    }

    /// `codebook accept`: accepts the peer's proposal `hash`, or the one waiting.
    pub(super) fn accept_codebook(
        &mut self,
        now_ms: u64,
        peer: &str,
        hash: Option<CodebookHash>,
        operator: &str,
    ) -> Result<CodebookSent, StationError> {
        super::watching::check_operator(operator)?;
        let peer = self.resolve_peer(peer)?;
        let books = self.codebooks(&peer);
        let (hash, proposal) = match hash {
            Some(hash) => books.get(&hash).map(|p| (hash, p)).ok_or_else(|| {
                StationError::Invalid(format!(
                    "no codebook {hash} was proposed on this link; see `parley codebook show`; nothing was stored"
                ))
            })?,
            None => {
                let waiting: Vec<_> = books
                    .proposals()
                    .filter(|(_, p)| p.accepted_by_us.is_none())
                    .collect();
                match waiting.as_slice() {
                    [] => {
                        return Err(StationError::Invalid(
                            "no proposed codebook waits for this station's acceptance; nothing was stored"
                                .into(),
                        ));
                    }
                    [(hash, proposal)] => (**hash, *proposal),
                    several => {
                        let hashes: Vec<String> =
                            several.iter().map(|(hash, _)| hash.to_string()).collect();
                        return Err(StationError::Invalid(format!(
                            "{} proposals wait ({}); name the one reviewed by its hash; nothing was stored",
                            several.len(),
                            hashes.join(", ")
                        )));
                    }
                }
            }
        };
        if proposal.accepted_by_us.is_some() {
            return Err(StationError::Invalid(format!(
                "codebook {hash} is accepted by this station already; nothing was stored"
            )));
        }
        let codebook = proposal.codebook.as_ref().map_err(|why| {
            StationError::Invalid(format!(
                "codebook {hash} is not valid ({why}); it cannot be accepted; nothing was stored"
            ))
        })?;
        // Read as stored; accepted, it is new here, so the rules for a new codebook hold.
        Codebook::parse(codebook.source()).map_err(|why| {
            StationError::Invalid(format!(
                "codebook {hash} is not valid ({why}); it cannot be accepted; nothing was stored"
            ))
        })?;
        let codebook = codebook.clone();
        self.check_newer(&peer, &codebook, "accept")?;
        self.check_speaks(&codebook)?;
        let body = Body::CodebookAccept {
            codebook: hash,
            operator: operator.to_owned(),
        };
        let sent = self.write(now_ms, peer, Precedence::Routine, body, None)?;
        Ok(CodebookSent::new(sent, hash, &codebook))
    }

    /// A codebook must supersede the current one to be proposed or accepted.
    fn check_newer(
        &self,
        peer: &StationId,
        codebook: &Codebook,
        verb: &str,
    ) -> Result<(), StationError> {
        match self.codebooks(peer).current() {
            Some((current, agreed)) if agreed.version() >= codebook.version() => {
                Err(StationError::Invalid(format!(
                    "the codebook is version {}, and version {} ({current}) is agreed already; {verb} a higher version to supersede it; nothing was stored",
                    codebook.version(),
                    agreed.version()
                )))
            }
            _ => Ok(()),
        }
    }

    /// A codebook must have this station's language: its operators read it.
    fn check_speaks(&self, codebook: &Codebook) -> Result<(), StationError> {
        let lang = &self.settings.lang;
        if codebook.has_language(lang) {
            return Ok(());
        }
        Err(StationError::Invalid(format!(
            "the codebook's languages ({}) do not include this station's, {lang:?}; nothing was stored",
            codebook.languages().join(", ")
        )))
    }

    /// `send --code` and `notice`: checked against the link's current codebook, then sent.
    pub(super) fn send_content(
        &mut self,
        now_ms: u64,
        peer: &str,
        (precedence, exercise): (Precedence, bool),
        content: Content,
        operator: Option<&str>,
    ) -> Result<Sent, StationError> {
        let peer = self.resolve_peer(peer)?;
        // What the peer's acceptance must be among for the entry to name an agreed codebook
        // (its `seen`): the peer's entries held in order.
        let peer_head = self.endpoint.link(&peer).map_or(0, |link| link.in_head());
        let Some((hash, codebook)) = self.codebooks(&peer).current_for_new_entry(peer_head) else {
            return Err(StationError::Invalid(format!(
                "no codebook is agreed with \"{}\"; propose one with `parley codebook propose` and wait for its acceptance; nothing was sent",
                self.peer_name(&peer)
            )));
        };
        let refused = |error: parley_codebook::UseError| {
            StationError::Invalid(format!("{error}; nothing was sent"))
        };
        let args = |map: BTreeMap<String, String>| map.into_iter().collect::<Vec<_>>();
        let body = match content {
            Content::Coded { code, params } => Body::Coded {
                codebook: *hash,
                code,
                params: codebook
                    .coded_params(code, &args(params))
                    .map_err(refused)?,
                exercise,
            },
            Content::Notice { form, fields } => Body::Notice {
                codebook: *hash,
                fields: codebook
                    .notice_fields(&form, &args(fields), now_ms)
                    .map_err(refused)?,
                form,
                exercise,
            },
        };
        self.write(now_ms, peer, precedence, body, operator)
    }

    /// `translate`: this station's operator's translation of a message on either side.
    pub(super) fn translate(
        &mut self,
        now_ms: u64,
        prefix: &str,
        lang: &str,
        text: &str,
        operator: &str,
    ) -> Result<Sent, StationError> {
        super::watching::check_operator(operator)?;
        check_lang(lang)?;
        check_translation_text(lang, text)?;
        let (of, known) = self.resolve_entry(prefix)?;
        if known.awaited != super::watch::Awaited::Message {
            return Err(StationError::Invalid(format!(
                "{of} is a test; only messages are translated; nothing was stored"
            )));
        }
        let body = Body::Translate {
            of,
            lang: lang.to_owned(),
            text: text.to_owned(),
            operator: operator.to_owned(),
        };
        self.write(now_ms, known.peer, known.precedence, body, None)
    }
}

/// The sender's translations of a message, checked: at most [`TRANSLATIONS_MAX`], languages
/// well-formed, distinct and not the text's own, texts not empty and within bounds. Sorted by
/// language, as the entry carries them.
pub(super) fn translations(
    own_lang: &str,
    given: BTreeMap<String, String>,
) -> Result<Vec<Translation>, StationError> {
    if given.len() > TRANSLATIONS_MAX {
        return Err(StationError::Invalid(format!(
            "{} translations given, over the limit of {TRANSLATIONS_MAX}; nothing was sent",
            given.len()
        )));
    }
    given
        .into_iter()
        .map(|(lang, text)| {
            check_lang(&lang)?;
            if lang == own_lang {
                return Err(StationError::Invalid(format!(
                    "{lang:?} is the message's own language; a translation is into another; nothing was sent"
                )));
            }
            check_translation_text(&lang, &text)?;
            Ok(Translation { lang, text })
        })
        .collect()
}

fn check_lang(lang: &str) -> Result<(), StationError> {
    if is_lang_tag(lang) {
        return Ok(());
    }
    Err(StationError::Invalid(format!(
        "{lang:?} is not a language tag (BCP 47, e.g. en, ru, zh-Hant); nothing was stored"
    )))
}

fn check_translation_text(lang: &str, text: &str) -> Result<(), StationError> {
    if text.trim().is_empty() {
        return Err(StationError::Invalid(format!(
            "the {lang} translation is empty; nothing was stored"
        )));
    }
    if text.len() > TEXT_SIZE_MAX_BYTES {
        return Err(StationError::Invalid(format!(
            "the {lang} translation is {} bytes, over the limit of {TEXT_SIZE_MAX_BYTES} bytes; nothing was stored",
            text.len()
        )));
    }
    Ok(())
}
