//! How a message shows: a free-text message with its translations, or a coded message or
//! notice rendered from the codebook it names in every language of that codebook — flagged,
//! never silently shown as valid, when the codebook was not agreed on the link or the content
//! does not check against it.

use std::collections::BTreeMap;

use parley_codebook::{Codebook, value_json};
use parley_proto::{Body, CodebookHash, Entry, Params};
use serde::{Deserialize, Serialize};

use crate::codebooks::{AsOf, LinkCodebooks, Standing};

/// A translation of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslationItem {
    /// Language tag.
    pub lang: String,
    /// The translation.
    pub text: String,
    /// The operator who translated it; empty for the sender's own, carried in the message.
    pub by: String,
    /// Whether the message's sender made it (else its recipient did).
    pub from_sender: bool,
}

/// The codebook a coded message or notice names, and where it stands on the link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodebookRef {
    /// Its hash.
    pub hash: CodebookHash,
    /// `current`, `superseded`, `not_agreed` or `unknown`.
    pub standing: Standing,
    /// Its version, when it was proposed and is a valid codebook.
    pub version: Option<u32>,
}

/// What a message holds beyond its text: its code or form with typed values, its renderings
/// and its translations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    /// A coded message's number.
    pub code: Option<u64>,
    /// Its parameters, typed (docs/cli.md).
    pub params: Option<BTreeMap<String, serde_json::Value>>,
    /// A notice's form.
    pub form: Option<String>,
    /// Its fields, typed.
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
    /// The message by language: a free-text message in its own language; a coded message or
    /// notice rendered in every language of its codebook (none when that was not agreed).
    pub rendered: BTreeMap<String, String>,
    /// Translations, the sender's first.
    pub translations: Vec<TranslationItem>,
    /// The codebook named, for a coded message or notice.
    pub codebook: Option<CodebookRef>,
    /// Why it does not check: its codebook was not agreed, or a code, parameter or field is
    /// not as the codebook says. Shown beside it, never hidden.
    pub invalid: Option<String>,
}

/// A message's text and language as this station shows it by default, and the rest of it.
/// A coded message or notice shows in `own_lang` when its codebook has it, else in the
/// codebook's first language. `received_ms` is when this station stored a peer's entry: a
/// notice's rules hold from when it was sent by the sender's clock, and from when it arrived.
/// `as_of` places the entry in its link: its codebook must have been agreed as its author knew
/// the link when writing it.
pub fn show(
    entry: &Entry,
    (books, as_of): (&LinkCodebooks, AsOf),
    own_lang: &str,
    received_ms: Option<u64>,
) -> (String, String, Shown) {
    let mut shown = Shown::default();
    let (codebook, params) = match &entry.body {
        Body::Message {
            text,
            lang,
            translations,
            ..
        } => {
            shown.rendered.insert(lang.clone(), text.clone());
            shown.translations = translations
                .iter()
                .map(|t| TranslationItem {
                    lang: t.lang.clone(),
                    text: t.text.clone(),
                    by: String::new(),
                    from_sender: true,
                })
                .collect();
            return (text.clone(), lang.clone(), shown);
        }
        Body::Coded {
            codebook,
            code,
            params,
            ..
        } => {
            shown.code = Some(*code);
            (codebook, params)
        }
        Body::Notice {
            codebook,
            form,
            fields,
            ..
        } => {
            shown.form = Some(form.clone());
            (codebook, fields)
        }
        _ => return (String::new(), String::new(), shown),
    };
    let typed = Some(
        params
            .iter()
            .map(|(name, value)| (name.clone(), value_json(value)))
            .collect(),
    );
    if shown.code.is_some() {
        shown.params = typed;
    } else {
        shown.fields = typed;
    }
    let standing = books.standing(codebook);
    let proposal = books.get(codebook);
    shown.codebook = Some(CodebookRef {
        hash: *codebook,
        standing,
        version: proposal.and_then(|p| p.codebook.as_ref().ok().map(Codebook::version)),
    });
    let what = if shown.code.is_some() {
        "coded message"
    } else {
        "notice"
    };
    let Some(book) = books.agreed(codebook) else {
        let why = match standing {
            Standing::NotAgreed => "was proposed but never agreed by both sides",
            _ => "was never proposed on this link",
        };
        shown.invalid = Some(format!(
            "this {what} names codebook {codebook}, which {why}: it is not rendered"
        ));
        let placeholder = format!("[{what} from a codebook not agreed on this link]");
        return (placeholder, String::new(), shown);
    };
    let agreed_later = proposal.is_some_and(|p| !p.agreed_as_of(as_of));
    let checked = render(entry, book, params, &mut shown).and_then(|()| {
        // Agreed now, but not as its author could know it when writing: a station never
        // sends such a message, so it is flagged (rendered, as the codebook is agreed).
        if agreed_later {
            return Err(format!(
                "this {what} names codebook {codebook}, which was agreed by both sides only after it was written"
            ));
        }
        // A notice sent in time by the sender's clock may still arrive too late for its rule
        // (a clock set back, a courier's delay): what counts for the receiver is its arrival.
        match (&shown.form, received_ms) {
            (Some(form), Some(received_ms)) if received_ms > entry.time_ms => book
                .check_notice(form, params, received_ms)
                .map_err(|error| {
                    format!("arrived too late for its form's rules (on arrival: {error})")
                }),
            _ => Ok(()),
        }
    });
    shown.invalid = checked.err();
    // The codebook's own spelling of the station's language (tags are case-insensitive).
    let lang = book
        .languages()
        .iter()
        .find(|lang| lang.eq_ignore_ascii_case(own_lang))
        .or_else(|| book.languages().first())
        .cloned()
        .unwrap_or_default();
    let text = shown.rendered.get(&lang).cloned().unwrap_or_default();
    (text, lang, shown)
}

/// Renders a coded message or notice in every language of `book`, and checks it.
fn render(
    entry: &Entry,
    book: &Codebook,
    params: &Params,
    shown: &mut Shown,
) -> Result<(), String> {
    for lang in book.languages() {
        let text = match (&shown.code, &shown.form) {
            (Some(code), _) => book.render_coded(*code, params, lang),
            (_, Some(form)) => book.render_notice(form, params, lang),
            _ => None,
        };
        if let Some(text) = text {
            shown.rendered.insert(lang.clone(), text);
        }
    }
    let checked = match (&shown.code, &shown.form) {
        (Some(code), _) => book.check_coded(*code, params),
        (_, Some(form)) => book.check_notice(form, params, entry.time_ms),
        _ => Ok(()),
    };
    checked.map_err(|error| format!("does not check against its codebook: {error}"))
}
