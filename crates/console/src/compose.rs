//! The compose page (free text, the agreed codebooks' codes and forms) and the codebooks page.

use std::sync::Arc;

use askama::Template;
use axum::extract::State as Shared;
use axum::http::HeaderMap;
use axum::response::Response;
use parley_proto::Precedence;
use parley_station::api::records;
use parley_store::Store;
use serde::Deserialize;

use crate::State;
use crate::pages::{Frame, Tr, html, read, session, unauthenticated, unreadable};

use crate::session::Session;

/// A field of a code or form, in the compose page.
pub(crate) struct FieldInput {
    pub(crate) name: String,
    pub(crate) label: String,
    pub(crate) kind: String,
    pub(crate) optional: bool,
    /// What the operator wrote in it last, when that was refused.
    pub(crate) value: String,
    /// An integer's bounds, which the browser checks too (`type="number"`, `min`, `max`):
    /// the only type whose bounds HTML states exactly (a text's `maxlength` counts UTF-16
    /// units, not characters; a datetime's rules depend on when it is sent).
    pub(crate) integer: Option<(i64, i64)>,
    /// The id of the element beside the field that shows why the codebook refuses it.
    pub(crate) error_id: String,
}

/// A compose form as the operator filled it, shown again when it was refused.
pub(crate) type Refill = std::collections::BTreeMap<String, String>;

/// A form's precedence and exercise mark: ROUTINE and real on a new form, as the operator set
/// them on a form refused (so that a corrected form goes out as meant, not as ROUTINE or as
/// real traffic). Read as the actions read them (`Precedence::parse`, the mark present).
pub(crate) struct Urgency {
    /// Each precedence, most urgent first, and whether it is the one selected.
    pub(crate) precedences: Vec<(&'static str, bool)>,
    /// Whether the exercise mark is set.
    pub(crate) exercise: bool,
}

impl Urgency {
    /// As `refilled` holds them (`None`: a new form).
    fn of(refilled: Option<&Refill>) -> Self {
        let chosen = (refilled.and_then(|r| r.get("precedence")))
            .and_then(|name| Precedence::parse(name))
            .unwrap_or(Precedence::Routine);
        Self {
            precedences: (Precedence::ALL.iter())
                .map(|p| (p.name(), *p == chosen))
                .collect(),
            exercise: refilled.is_some_and(crate::actions::exercise_marked),
        }
    }
}

/// A code in the compose page, with its text in every language.
pub(crate) struct CodeInput {
    pub(crate) number: u64,
    pub(crate) button: String,
    pub(crate) texts: Vec<(String, String)>,
    pub(crate) fields: Vec<FieldInput>,
    pub(crate) urgency: Urgency,
}

/// A form in the compose page.
pub(crate) struct FormInput {
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) fields: Vec<FieldInput>,
    pub(crate) urgency: Urgency,
}

/// The current codebook with one peer.
pub(crate) struct BookInput {
    pub(crate) peer: String,
    pub(crate) heading: String,
    pub(crate) codes: Vec<CodeInput>,
    pub(crate) forms: Vec<FormInput>,
}

#[derive(Template)]
#[template(path = "compose.html")]
pub(crate) struct ComposePage {
    pub(crate) frame: Frame,
    pub(crate) peers: Vec<String>,
    pub(crate) codebooks: Vec<BookInput>,
    pub(crate) error: Option<String>,
    pub(crate) sent: Option<String>,
    /// The free-text form as last filled, when it was refused.
    pub(crate) message: Refill,
    /// The free-text form's precedence and exercise mark.
    pub(crate) message_urgency: Urgency,
}

impl ComposePage {
    /// What the free-text form's `field` held when it was refused.
    fn message_value(&self, field: &str) -> &str {
        self.message.get(field).map_or("", String::as_str)
    }
}

/// The compose page, with the outcome of the last action and, when it was refused, the form
/// as the operator filled it.
pub(crate) async fn compose_page(
    state: &Arc<State>,
    session: &Session,
    (error, sent): (Option<String>, Option<String>),
    refill: Refill,
) -> Response {
    let lang = session.lang.clone();
    let refill_books = refill.clone();
    let read = read(state, move |store, _| {
        let peers: Vec<String> = records::peers(store)
            .map_err(unreadable)?
            .into_iter()
            .map(|peer| peer.name)
            .collect();
        let mut books = Vec::new();
        for peer in &peers {
            let report = records::codebooks(store, peer).map_err(unreadable)?;
            if let Some(current) = report
                .codebooks
                .iter()
                .find(|book| Some(book.hash) == report.current)
            {
                let index = books.len();
                books.push(book_input((index, peer), current, &lang, &refill_books));
            }
        }
        Ok((peers, books))
    });
    let (peers, codebooks) = match read.await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let mut frame = match Frame::load(state, session).await {
        Ok(frame) => frame,
        Err(response) => return response,
    };
    // With an error, the page answers a form the station refused, at the form's URL.
    if error.is_some() {
        frame.refresh = Some("/compose");
    }
    let message = if refill.contains_key("code") || refill.contains_key("form") {
        Refill::new()
    } else {
        refill
    };
    html(&ComposePage {
        frame,
        peers,
        codebooks,
        error,
        sent: sent.map(|what| Tr::new(&session.lang).ta("sent", &[("what", &what)])),
        message_urgency: Urgency::of(Some(&message)),
        message,
    })
}

/// The compose page's forms for the current codebook with `peer`, the `index`th shown.
fn book_input(
    (index, peer): (usize, &str),
    book: &parley_station::codebooks::CodebookItem,
    lang: &str,
    refill: &Refill,
) -> BookInput {
    let tr = Tr::new(lang);
    // The refused form's values, for the code or form it was.
    let matches = |key: &str, which: &str| {
        refill.get("peer").is_some_and(|p| p == peer) && refill.get(key).is_some_and(|v| v == which)
    };
    let urgency = |key: &str, which: &str| Urgency::of(matches(key, which).then_some(refill));
    let refilled = |key: &str, which: &str| {
        let matches = matches(key, which);
        move |field: &str| {
            if matches {
                refill
                    .get(&format!("f_{field}"))
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            }
        }
    };
    let pick = |texts: &std::collections::BTreeMap<String, String>| {
        texts
            .get(lang)
            .or_else(|| texts.values().next())
            .cloned()
            .unwrap_or_default()
    };
    // `which` tells the code or form apart in the error's id (`c4`, `fincident`): names are
    // a-z, 0-9 and _, so ids never clash.
    let fields = |fields: &[parley_station::codebooks::FieldItem],
                  which: &str,
                  value: &dyn Fn(&str) -> String| {
        fields
            .iter()
            .map(|field| FieldInput {
                name: field.name.clone(),
                label: pick(&field.label),
                kind: field.kind.clone(),
                optional: field.optional,
                value: value(&field.name),
                integer: match (field.kind.as_str(), field.min, field.max) {
                    ("integer", Some(min), Some(max)) => Some((min, max)),
                    _ => None,
                },
                error_id: format!("check-{index}-{which}-{}", field.name),
            })
            .collect()
    };
    BookInput {
        peer: peer.to_owned(),
        heading: tr.ta("codes-with", &[("peer", peer)]),
        codes: book
            .codes
            .iter()
            .map(|code| CodeInput {
                number: code.number,
                button: tr.ta("send-code", &[("code", &code.number.to_string())]),
                texts: code
                    .text
                    .iter()
                    .map(|(lang, text)| (lang.clone(), text.clone()))
                    .collect(),
                fields: fields(
                    &code.params,
                    &format!("c{}", code.number),
                    &refilled("code", &code.number.to_string()),
                ),
                urgency: urgency("code", &code.number.to_string()),
            })
            .collect(),
        forms: book
            .forms
            .iter()
            .map(|form| FormInput {
                name: form.name.clone(),
                title: pick(&form.title),
                fields: fields(
                    &form.fields,
                    &format!("f{}", form.name),
                    &refilled("form", &form.name),
                ),
                urgency: urgency("form", &form.name),
            })
            .collect(),
    }
}

/// What was just sent, after the redirect that follows sending: the entry's id, its seq and
/// the peer. Shown only once found in the store as this station's entry: a link crafted to
/// show any other text shows nothing.
#[derive(Deserialize)]
pub(crate) struct ComposeQuery {
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    to: Option<String>,
}

impl ComposeQuery {
    /// "<id> to <peer>", if this station's entry `seq` on the link with `to` has that id.
    fn confirmed(&self, store: &Store) -> Option<String> {
        let (id, seq, to) = (self.sent.as_deref()?, self.seq?, self.to.as_deref()?);
        let own = store.station().ok()??.identity;
        let peer = (store.peers().ok()?)
            .into_iter()
            .find(|peer| peer.name == to)?;
        let stored = store.entry_id_at(&peer.id, &own, seq).ok()??;
        (stored.to_string() == id).then(|| format!("{stored} to {}", peer.name))
    }
}

pub(crate) async fn compose(
    Shared(state): Shared<Arc<State>>,
    headers: HeaderMap,
    query: crate::form::Query<ComposeQuery>,
) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let query = match query.parsed() {
        Ok(query) => query,
        Err(refused) => return refused,
    };
    let sent = match read(&state, move |store, _| Ok(query.confirmed(store))).await {
        Ok(sent) => sent,
        Err(response) => return response,
    };
    compose_page(&state, &session, (None, sent), Refill::new()).await
}

/// A codebook proposed on a link, as the codebooks page shows it.
struct BookRow {
    peer: String,
    hash: String,
    /// The stable name (a CSS class).
    standing: String,
    /// The standing as the operator reads it.
    standing_shown: String,
    name: String,
    version: u32,
    line: String,
    error: Option<String>,
    can_accept: bool,
    /// Each code: its number, its text by language, its parameters.
    codes: Vec<(u64, ByLang, Vec<FieldRow>)>,
    /// Each form: its name, its title by language, its fields.
    forms: Vec<(String, ByLang, Vec<FieldRow>)>,
}

/// Texts, each with its language tag.
type ByLang = Vec<(String, String)>;

/// A code's parameter or a form's field, as the codebooks page shows it: everything a receiver
/// reads of it (its labels and choice values in every language), which an operator accepting
/// the codebook agrees to.
struct FieldRow {
    name: String,
    /// Its type, whether it is optional, and its bounds, in the operator's language.
    kind: String,
    labels: ByLang,
    /// A choice's values: the key that travels, and its labels.
    values: Vec<(String, ByLang)>,
}

impl FieldRow {
    fn of(tr: &Tr, field: &parley_station::codebooks::FieldItem) -> Self {
        let pairs = |texts: &std::collections::BTreeMap<String, String>| {
            texts.iter().map(|(l, t)| (l.clone(), t.clone())).collect()
        };
        let mut kind = field.kind.clone();
        if field.optional {
            kind.push_str(", ");
            kind.push_str(&tr.t("field-optional"));
        }
        let (min, max) = (
            field.min.map(|n| n.to_string()),
            field.max.map(|n| n.to_string()),
        );
        let bounds = match (field.kind.as_str(), min, max) {
            ("text", _, Some(max)) => Some(tr.ta("field-bounds-text", &[("max", &max)])),
            ("integer", Some(min), Some(max)) => {
                Some(tr.ta("field-bounds-integer", &[("min", &min), ("max", &max)]))
            }
            ("duration", Some(min), Some(max)) => {
                Some(tr.ta("field-bounds-duration", &[("min", &min), ("max", &max)]))
            }
            _ => None,
        };
        if let Some(bounds) = bounds {
            kind.push_str(", ");
            kind.push_str(&bounds);
        }
        Self {
            name: field.name.clone(),
            kind,
            labels: pairs(&field.label),
            values: (field.values.iter())
                .map(|value| (value.key.clone(), pairs(&value.label)))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "codebooks.html")]
struct CodebooksPage {
    frame: Frame,
    books: Vec<BookRow>,
}

pub(crate) async fn codebooks(Shared(state): Shared<Arc<State>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return unauthenticated(true);
    };
    let tr = Tr::new(&session.lang);
    let read = read(&state, move |store, _| {
        let mut rows = Vec::new();
        for peer in records::peers(store).map_err(unreadable)? {
            let report = records::codebooks(store, &peer.name).map_err(unreadable)?;
            for book in report.codebooks {
                let pairs = |texts: &std::collections::BTreeMap<String, String>| {
                    texts.iter().map(|(l, t)| (l.clone(), t.clone())).collect()
                };
                let fields = |fields: &[parley_station::codebooks::FieldItem]| {
                    fields
                        .iter()
                        .map(|field| FieldRow::of(&tr, field))
                        .collect()
                };
                rows.push(BookRow {
                    peer: peer.name.clone(),
                    hash: book.hash.to_string(),
                    standing: book.standing.name().to_owned(),
                    standing_shown: tr.t(&format!("codebook-standing-{}", book.standing.name())),
                    name: book.name.clone(),
                    version: book.version,
                    line: tr.ta(
                        "codebook-with",
                        &[("peer", &peer.name), ("by", &book.proposed_by)],
                    ),
                    can_accept: book.accepted_by_us.is_none() && book.error.is_none(),
                    error: (book.error.as_ref())
                        .map(|why| tr.ta("codebook-invalid", &[("why", why)])),
                    codes: book
                        .codes
                        .iter()
                        .map(|c| (c.number, pairs(&c.text), fields(&c.params)))
                        .collect(),
                    forms: book
                        .forms
                        .iter()
                        .map(|f| (f.name.clone(), pairs(&f.title), fields(&f.fields)))
                        .collect(),
                });
            }
        }
        Ok(rows)
    });
    let books = match read.await {
        Ok(books) => books,
        Err(response) => return response,
    };
    let frame = match Frame::load(&state, &session).await {
        Ok(frame) => frame,
        Err(response) => return response,
    };
    html(&CodebooksPage { frame, books })
}
