//! parley's codebooks: pre-agreed coded messages and formatted notices.
//!
//! A codebook is a TOML file two stations agree on (docs/codebook.md). It holds numbered
//! *codes* — pre-agreed messages with a text in every language of the codebook and optional
//! typed parameters — and *forms* — formatted notices with a title, typed fields and rules.
//! Only a code number or a form name and typed values ([`parley_proto::Value`]) travel; each
//! side renders the text in its own language, so no translation can change what was said.
//!
//! This crate is pure: no I/O, no clock (the time a notice is sent comes in as `sent_ms`). It
//! parses and checks a codebook with errors that name the line and the field
//! ([`Codebook::parse`], [`CodebookError`]), turns operator input into typed values and checks
//! received values with the same code ([`Codebook::coded_params`],
//! [`Codebook::check_coded`], …; [`UseError`]), renders codes and notices in any of the
//! codebook's languages, and gives values as JSON ([`value_json`]).
//!
//! Modules, bottom up: [`limits`], [`error`], `schema` (what a codebook holds), `template`,
//! `format` (the TOML source read and checked), `values` (parse, check, show one value),
//! `params` (a set of values against fields and rules), `render`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
mod format;
pub mod limits;
mod params;
mod render;
mod schema;
mod template;
mod text;
mod values;

#[cfg(test)]
mod tests;

use parley_proto::{CodebookHash, Params};

pub use error::{CodebookError, CodebookErrorKind, UseError, UseErrorKind};
pub use schema::{ChoiceValue, Code, Field, FieldType, Form, Rule};
pub use values::{input_text, value_json};

/// A parsed and checked codebook. Its source is kept verbatim: the hash both stations agree on
/// is over those bytes.
#[derive(Clone, Debug)]
pub struct Codebook {
    source: String,
    name: String,
    version: u32,
    languages: Vec<String>,
    /// Sorted by number.
    codes: Vec<Code>,
    /// In the source's order.
    forms: Vec<Form>,
}

/// Two codebooks are the same when their sources are: everything else is parsed from it.
impl PartialEq for Codebook {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Codebook {}

impl Codebook {
    /// Parses and checks a new codebook's TOML source, one to propose or accept. A source
    /// over `parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES` is refused before parsing.
    pub fn parse(source: &str) -> Result<Codebook, CodebookError> {
        Self::parse_with(source, true)
    }

    /// Parses and checks a stored codebook's source: one proposed, and perhaps agreed, under
    /// the rules of an earlier version. The rules added since for new codebooks (texts of
    /// invisible characters alone count as blank; line and paragraph separators refused; no
    /// two values of a choice reading the same) are not applied, so a codebook agreed before
    /// them stays agreed, and its messages readable, on both sides.
    pub fn parse_stored(source: &str) -> Result<Codebook, CodebookError> {
        Self::parse_with(source, false)
    }

    fn parse_with(source: &str, strict: bool) -> Result<Codebook, CodebookError> {
        let parsed = format::parse(source, strict)?;
        Ok(Codebook {
            source: source.to_owned(),
            name: parsed.name,
            version: parsed.version,
            languages: parsed.languages,
            codes: parsed.codes,
            forms: parsed.forms,
        })
    }

    /// The source, exactly as parsed.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The codebook's hash: SHA-256 of its source bytes.
    pub fn hash(&self) -> CodebookHash {
        CodebookHash::of(self.source.as_bytes())
    }

    /// The codebook's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The codebook's version; a newer agreed version supersedes an older one.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The languages, in the codebook's order.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Whether `lang` is one of the codebook's languages (compared without case).
    pub fn has_language(&self, lang: &str) -> bool {
        self.languages
            .iter()
            .any(|tag| tag.eq_ignore_ascii_case(lang))
    }

    /// The codes, by increasing number.
    pub fn codes(&self) -> impl Iterator<Item = &Code> {
        self.codes.iter()
    }

    /// The code numbered `number`.
    pub fn code(&self, number: u64) -> Option<&Code> {
        let index = self
            .codes
            .binary_search_by_key(&number, |code| code.number)
            .ok()?;
        self.codes.get(index)
    }

    /// The forms, in the codebook's order.
    pub fn forms(&self) -> impl Iterator<Item = &Form> {
        self.forms.iter()
    }

    /// The form called `name`.
    pub fn form(&self, name: &str) -> Option<&Form> {
        self.forms.iter().find(|form| form.name == name)
    }

    fn known_code(&self, number: u64) -> Result<&Code, UseError> {
        self.code(number)
            .ok_or_else(|| UseError::new(None, UseErrorKind::UnknownCode(number)))
    }

    fn known_form(&self, name: &str) -> Result<&Form, UseError> {
        self.form(name)
            .ok_or_else(|| UseError::new(None, UseErrorKind::UnknownForm(name.to_owned())))
    }

    /// Operator input `NAME=VALUE` pairs for code `number` into canonical (sorted) params,
    /// every check done: an unknown code, an unknown, duplicate or missing parameter, each
    /// value parsed (docs/codebook.md, "Values") and within its parameter's bounds.
    pub fn coded_params(&self, number: u64, args: &[(String, String)]) -> Result<Params, UseError> {
        let code = self.known_code(number)?;
        params::params_from_input(&code.params, &format!("code {number}"), args)
    }

    /// Operator input for a notice of `form` into canonical fields, checked like
    /// [`Codebook::coded_params`] and against the form's rules; `sent_ms` is the UTC
    /// millisecond the notice is sent.
    pub fn notice_fields(
        &self,
        form: &str,
        args: &[(String, String)],
        sent_ms: u64,
    ) -> Result<Params, UseError> {
        let form = self.known_form(form)?;
        let fields = params::params_from_input(&form.fields, &of_form(form), args)?;
        params::check_rules(form, &fields, sent_ms)?;
        Ok(fields)
    }

    /// Checks received params of code `number` exactly as [`Codebook::coded_params`] checks
    /// operator input, and also that the names are strictly increasing.
    pub fn check_coded(&self, number: u64, params: &Params) -> Result<(), UseError> {
        let code = self.known_code(number)?;
        params::check_params(&code.params, &format!("code {number}"), params)
    }

    /// Checks a received notice's fields exactly as [`Codebook::notice_fields`] checks
    /// operator input; `sent_ms` is the time the notice was sent.
    pub fn check_notice(&self, form: &str, fields: &Params, sent_ms: u64) -> Result<(), UseError> {
        let form = self.known_form(form)?;
        params::check_params(&form.fields, &of_form(form), fields)?;
        params::check_rules(form, fields, sent_ms)
    }

    /// Code `number`'s text in `lang` with `params` inserted; `None` if there is no such code
    /// or `lang` is not one of the codebook's languages. Never fails on the params: a missing
    /// or ill-typed one shows as `{name?}`, an absent optional one as `—`.
    pub fn render_coded(&self, number: u64, params: &Params, lang: &str) -> Option<String> {
        render::render_code(self.code(number)?, params, lang)
    }

    /// A notice of `form` in `lang`: the title line, then `Label: value` lines in the form's
    /// field order, absent optional fields left out, a missing or ill-typed required one as
    /// `{name?}`; `None` if there is no such form or `lang` is not one of the codebook's.
    pub fn render_notice(&self, form: &str, fields: &Params, lang: &str) -> Option<String> {
        render::render_form(self.form(form)?, fields, lang)
    }
}

fn of_form(form: &Form) -> String {
    format!("form `{}`", form.name)
}
