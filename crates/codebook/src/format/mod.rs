//! Reading a codebook's TOML source into the schema, checking every rule of the format
//! (docs/codebook.md) on the way: the top level and the codes here, fields and forms in
//! [`fields`]. Each error names the line and the field path.
//!
//! A list element is named in paths by what identifies it — a code by its number, a form,
//! field or parameter by its name, a choice value by its key — or, when that is missing or
//! itself wrong, by its 1-based position: `code[5]`, `form[incident]`, `code[#3]`.

mod fields;
mod read;

use parley_proto::limits::{CODEBOOK_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES};
use parley_proto::value::is_param_name;
use toml::de::{DeTable, DeValue};

use crate::error::{CodebookError, CodebookErrorKind};
use crate::limits::{
    CODE_NUMBER_MAX, CODE_TEXT_CHARS_MAX, CODES_MAX, FORMAT_VERSION, LANGUAGES_MAX, NAME_CHARS_MAX,
};
use crate::schema::{Code, Field, Form, Piece, Template, Texts};
use crate::template;
use crate::text::{drives_display, is_blank};
use parley_proto::names::is_display_control;
use read::{Lines, Node, join};

/// Deepest table nesting walked to name the place of a syntax error.
const SYNTAX_PATH_DEPTH_MAX: usize = 8;

/// A codebook's content, every rule checked.
pub(crate) struct Parsed {
    pub(crate) name: String,
    pub(crate) version: u32,
    pub(crate) languages: Vec<String>,
    pub(crate) codes: Vec<Code>,
    pub(crate) forms: Vec<Form>,
}

/// Reads and checks a codebook source; `strict`, under the rules for a new codebook too
/// ([`crate::Codebook::parse`]).
pub(crate) fn parse(source: &str, strict: bool) -> Result<Parsed, CodebookError> {
    if source.len() > CODEBOOK_SIZE_MAX_BYTES {
        return Err(CodebookError {
            line: 1,
            path: String::new(),
            kind: CodebookErrorKind::TooLarge {
                size_bytes: source.len(),
            },
        });
    }
    let lines = Lines::new(source, strict);
    let document = DeTable::parse(source).map_err(|error| syntax_error(source, &lines, &error))?;
    let mut root = Node::root(&document, &lines);
    let format = root.require("format")?;
    let format_number: i64 = format.integer(i64::MIN.into(), i64::MAX.into())?;
    if format_number != FORMAT_VERSION {
        let kind = CodebookErrorKind::UnsupportedFormat(format_number);
        return Err(format.error(kind));
    }
    let name = root.require("name")?;
    let name = checked_text(&name, NAME_CHARS_MAX)?;
    let version: u32 = root.require("version")?.integer(1, u32::MAX.into())?;
    let languages = read_languages(root.require("languages")?)?;
    let codes = match root.take("code") {
        Some(list) => read_codes(list, &languages)?,
        None => Vec::new(),
    };
    let forms = match root.take("form") {
        Some(list) => fields::read_forms(list, &languages)?,
        None => Vec::new(),
    };
    root.finish()?;
    Ok(Parsed {
        name,
        version,
        languages,
        codes,
        forms,
    })
}

/// A syntax error, placed at the key or table header nearest before it; a duplicate key at
/// that key in the table it is repeated in.
fn syntax_error(source: &str, lines: &Lines, error: &toml::de::Error) -> CodebookError {
    let span = error.span().unwrap_or(0..0);
    let (recovered, _) = DeTable::parse_recoverable(source);
    let mut nearest = Nearest::default();
    nearest.walk(recovered.get_ref(), "", span.start, 0);
    let message = error
        .message()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let repeated = source.get(span.clone()).filter(|key| is_bare_key(key));
    let path = match repeated {
        Some(key) if message.starts_with("duplicate key") => join(&nearest.table.1, key),
        _ => nearest.any.1,
    };
    CodebookError {
        line: lines.line(span.start),
        path,
        kind: CodebookErrorKind::Syntax(message),
    }
}

fn is_bare_key(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The paths starting nearest before an offset: of any key or table, and of a table.
#[derive(Default)]
struct Nearest {
    any: (usize, String),
    table: (usize, String),
}

impl Nearest {
    fn walk(&mut self, table: &DeTable<'_>, path: &str, offset: usize, depth: usize) {
        if depth > SYNTAX_PATH_DEPTH_MAX {
            return;
        }
        for (key, value) in table.iter() {
            let key_path = join(path, key.get_ref());
            match value.get_ref() {
                DeValue::Table(inner) => {
                    consider(&mut self.any, key.span().start, offset, &key_path);
                    consider(&mut self.table, value.span().start, offset, &key_path);
                    self.walk(inner, &key_path, offset, depth + 1);
                }
                // A list of tables is placed by its elements' headers, not by its key (which
                // sits inside the first header).
                DeValue::Array(items) if items.iter().any(|item| item.get_ref().is_table()) => {
                    for (index, item) in items.iter().enumerate() {
                        if let DeValue::Table(inner) = item.get_ref() {
                            let id = element_id(key.get_ref(), item.get_ref(), index + 1);
                            let item_path = format!("{key_path}[{id}]");
                            consider(&mut self.any, item.span().start, offset, &item_path);
                            consider(&mut self.table, item.span().start, offset, &item_path);
                            self.walk(inner, &item_path, offset, depth + 1);
                        }
                    }
                }
                _ => consider(&mut self.any, key.span().start, offset, &key_path),
            }
        }
    }
}

/// Keeps `path` if it starts at or before `offset`, and after the nearest kept so far.
fn consider(nearest: &mut (usize, String), start: usize, offset: usize, path: &str) {
    if start <= offset && start >= nearest.0 {
        *nearest = (start, path.to_owned());
    }
}

/// What names the `position`th (1-based) element of the list `list_key` in paths.
fn element_id(list_key: &str, value: &DeValue<'_>, position: usize) -> String {
    let by_position = || format!("#{position}");
    let id_key = match list_key {
        "code" => "number",
        "form" | "field" | "param" => "name",
        "value" => "key",
        _ => return by_position(),
    };
    let DeValue::Table(table) = value else {
        return by_position();
    };
    match table.get(id_key).map(|id| id.get_ref()) {
        Some(DeValue::Integer(number)) => u64::from_str_radix(number.as_str(), number.radix())
            .ok()
            .filter(|number| (1..=CODE_NUMBER_MAX).contains(number))
            .map_or_else(by_position, |number| number.to_string()),
        Some(DeValue::String(name)) if is_param_name(name) => name.to_string(),
        _ => by_position(),
    }
}

/// The elements of the list `key` (an array of tables), each named by [`element_id`].
fn elements<'a, 's>(
    list: &Node<'a, 's>,
    key: &str,
    what: &'static str,
    max: usize,
) -> Result<Vec<Node<'a, 's>>, CodebookError> {
    let items = list.items(what, max)?;
    let named = items.into_iter().enumerate().map(|(index, item)| {
        let id = element_id(key, item.value, index + 1);
        let path = format!("{}[{id}]", list.path);
        item.renamed(path)
    });
    Ok(named.collect())
}

/// A text of 1 to `max_chars` characters, not blank, without control or text-direction
/// characters. For a new codebook, invisible characters alone are blank too, and line and
/// paragraph separators are refused as newlines are; a stored one was agreed under the rules
/// before these, and is read as it was agreed.
fn checked_text(node: &Node<'_, '_>, max_chars: usize) -> Result<String, CodebookError> {
    let text = node.string()?;
    let blank = match node.strict() {
        true => is_blank(text),
        false => text.trim().is_empty(),
    };
    if blank {
        return Err(node.error(CodebookErrorKind::EmptyText));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        let max = max_chars;
        return Err(node.error(CodebookErrorKind::TextTooLong { chars, max }));
    }
    let forbidden = match node.strict() {
        true => drives_display,
        false => is_display_control,
    };
    if text.chars().any(forbidden) {
        return Err(node.error(CodebookErrorKind::ControlCharacter));
    }
    Ok(text.to_owned())
}

/// A name: a parameter name (`is_param_name`).
fn checked_name(node: &Node<'_, '_>) -> Result<String, CodebookError> {
    let name = node.string()?;
    if !is_param_name(name) {
        return Err(node.error(CodebookErrorKind::BadName(name.to_owned())));
    }
    Ok(name.to_owned())
}

/// Whether `tag` has the shape of a BCP 47 language tag: a primary subtag of 2 to 8 letters,
/// then subtags of 1 to 8 letters or digits, joined by hyphens.
fn is_language_tag(tag: &str) -> bool {
    let mut subtags = tag.split('-');
    let primary = subtags.next().unwrap_or_default();
    tag.len() <= LANG_SIZE_MAX_BYTES
        && (2..=8).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && subtags.all(|sub| {
            (1..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

fn read_languages(list: Node<'_, '_>) -> Result<Vec<String>, CodebookError> {
    let items = list.items("languages", LANGUAGES_MAX)?;
    if items.is_empty() {
        return Err(list.error(CodebookErrorKind::TooFew {
            what: "languages",
            min: 1,
        }));
    }
    let mut languages: Vec<String> = Vec::new();
    for item in items {
        let tag = item.string()?;
        if !is_language_tag(tag) {
            return Err(item.error(CodebookErrorKind::BadLanguageTag(tag.to_owned())));
        }
        if languages.iter().any(|seen| seen.eq_ignore_ascii_case(tag)) {
            return Err(item.error(CodebookErrorKind::DuplicateLanguage(tag.to_owned())));
        }
        languages.push(tag.to_owned());
    }
    Ok(languages)
}

/// One text per language of the codebook, keyed exactly as `languages` spells them, each with
/// its line.
fn read_texts_at(
    node: Node<'_, '_>,
    languages: &[String],
    max_chars: usize,
) -> Result<Vec<(String, String, usize)>, CodebookError> {
    let mut table = node.table()?;
    for (key, line) in table.keys() {
        if !languages.iter().any(|lang| lang == key) {
            let lang = key.to_owned();
            let path = join(&table.path, key);
            let kind = CodebookErrorKind::ExtraLanguage { lang };
            return Err(CodebookError { line, path, kind });
        }
    }
    let mut texts = Vec::with_capacity(languages.len());
    for lang in languages {
        let Some(text) = table.take(lang) else {
            let path = join(&table.path, lang);
            let kind = CodebookErrorKind::MissingText { lang: lang.clone() };
            let line = table.line;
            return Err(CodebookError { line, path, kind });
        };
        texts.push((lang.clone(), checked_text(&text, max_chars)?, text.line));
    }
    table.finish()?;
    Ok(texts)
}

/// One text per language of the codebook.
fn read_texts(
    node: Node<'_, '_>,
    languages: &[String],
    max_chars: usize,
) -> Result<Texts, CodebookError> {
    let texts = read_texts_at(node, languages, max_chars)?;
    Ok(texts
        .into_iter()
        .map(|(lang, text, _)| (lang, text))
        .collect())
}

fn read_codes(list: Node<'_, '_>, languages: &[String]) -> Result<Vec<Code>, CodebookError> {
    let mut codes: Vec<(Code, usize)> = Vec::new();
    for node in elements(&list, "code", "codes", CODES_MAX)? {
        let (code, number_line) = read_code(node, languages)?;
        if let Some((_, first_line)) = codes.iter().find(|(seen, _)| seen.number == code.number) {
            let kind = CodebookErrorKind::DuplicateCode {
                number: code.number,
                first_line: *first_line,
            };
            let path = format!("{}[#{}].number", list.path, codes.len() + 1);
            return Err(CodebookError {
                line: number_line,
                path,
                kind,
            });
        }
        codes.push((code, number_line));
    }
    let mut codes: Vec<Code> = codes.into_iter().map(|(code, _)| code).collect();
    codes.sort_by_key(|code| code.number);
    Ok(codes)
}

/// A code and the line of its number.
fn read_code(node: Node<'_, '_>, languages: &[String]) -> Result<(Code, usize), CodebookError> {
    let mut table = node.table()?;
    let number_node = table.require("number")?;
    let number: u64 = number_node.integer(1, CODE_NUMBER_MAX.into())?;
    let params = match table.take("param") {
        Some(list) => fields::read_fields(&list, "param", "parameters", 0, languages)?,
        None => Vec::new(),
    };
    let text_node = table.require("text")?;
    let text_path = text_node.path.clone();
    let mut texts = Vec::with_capacity(languages.len());
    for (lang, text, line) in read_texts_at(text_node, languages, CODE_TEXT_CHARS_MAX)? {
        let at = |kind| CodebookError {
            line,
            path: join(&text_path, &lang),
            kind,
        };
        let pieces = template::parse(&text).map_err(at)?;
        check_placeholders(&pieces, &params).map_err(at)?;
        let template = Template {
            source: text,
            pieces,
        };
        texts.push((lang, template));
    }
    table.finish()?;
    let code = Code {
        number,
        texts,
        params,
    };
    Ok((code, number_node.line))
}

/// Every placeholder names a parameter, and every parameter is inserted. A parameter may be
/// inserted more than once (`Switch to {channel}; confirm on {channel}.`); what that may cost
/// is bounded where it is rendered (`RENDERED_SIZE_MAX_BYTES`).
fn check_placeholders(pieces: &[Piece], params: &[Field]) -> Result<(), CodebookErrorKind> {
    let inserted = |name: &str| {
        pieces
            .iter()
            .any(|piece| *piece == Piece::Param(name.into()))
    };
    for piece in pieces {
        if let Piece::Param(name) = piece
            && !params.iter().any(|param| param.name == *name)
        {
            return Err(CodebookErrorKind::UnknownPlaceholder(name.clone()));
        }
    }
    match params.iter().find(|param| !inserted(&param.name)) {
        Some(param) => Err(CodebookErrorKind::MissingPlaceholder(param.name.clone())),
        None => Ok(()),
    }
}
