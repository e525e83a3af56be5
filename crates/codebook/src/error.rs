//! The two kinds of error: a codebook file that breaks the format ([`CodebookError`], with the
//! line and the field), and values that break a codebook's schema ([`UseError`], with the
//! field). Both are closed sets of classes so that callers and tests match on the class, not on
//! the wording.

use std::fmt;

use parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES;
use parley_proto::names::escaped;

/// Why a codebook was refused: the 1-based line, the field path (`code[2].text.ru`,
/// `form[missile_launch].field[planned_launch].type`) and the class of the problem.
///
/// Displays as `line 14, code[2].text.ru: missing text for language "ru"`. A missing key is
/// reported on the line of the table it is missing from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CodebookError {
    /// The 1-based line of the source the problem is on.
    pub line: usize,
    /// The field path; empty only for a problem before the first key (a syntax error at the
    /// very top, or a source too large to read).
    pub path: String,
    /// What is wrong.
    pub kind: CodebookErrorKind,
}

/// Shown with every character that could drive a display escaped: the path and the class
/// name keys and values the codebook's author chose (a peer, for a proposal).
impl fmt::Display for CodebookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = escaped(&self.kind.to_string());
        if self.path.is_empty() {
            write!(f, "line {}: {kind}", self.line)
        } else {
            write!(f, "line {}, {}: {kind}", self.line, escaped(&self.path))
        }
    }
}

impl std::error::Error for CodebookError {}

/// The class of a [`CodebookError`], with what its message needs.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodebookErrorKind {
    /// The source is larger than `CODEBOOK_SIZE_MAX_BYTES`; it was not parsed.
    #[error(
        "the codebook is {size_bytes} bytes, over the limit of {CODEBOOK_SIZE_MAX_BYTES}; nothing was read"
    )]
    TooLarge {
        /// The source's size.
        size_bytes: usize,
    },
    /// The source is not valid TOML.
    #[error("TOML syntax: {0}")]
    Syntax(String),
    /// A key the format does not define (every table refuses unknown keys).
    #[error("unknown key `{0}`")]
    UnknownKey(String),
    /// A required key is absent.
    #[error("missing key `{0}`")]
    MissingKey(String),
    /// A value of the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the format requires.
        expected: &'static str,
        /// The type in the source.
        found: &'static str,
    },
    /// `format` is not 1.
    #[error("format {0} is not supported; this version of parley reads format 1")]
    UnsupportedFormat(i64),
    /// A number outside its bounds.
    #[error("{value} is out of range ({min} to {max})")]
    OutOfRange {
        /// The number in the source.
        value: i128,
        /// Smallest allowed.
        min: i128,
        /// Largest allowed.
        max: i128,
    },
    /// More entries in a list than its limit allows.
    #[error("more than {max} {what}")]
    TooMany {
        /// What the list holds (`codes`, `languages`, …).
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Fewer entries in a list than it needs.
    #[error("too few {what}: at least {min} needed")]
    TooFew {
        /// What the list holds.
        what: &'static str,
        /// The least allowed.
        min: usize,
    },
    /// An empty (or blank) text where one is needed.
    #[error("is empty")]
    EmptyText,
    /// A text longer than its limit.
    #[error("{chars} characters, over the limit of {max}")]
    TextTooLong {
        /// The text's length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A text holding a control or text-direction character.
    #[error("holds a control or text-direction character")]
    ControlCharacter,
    /// A name (form, field, parameter, choice key) that is not a parameter name.
    #[error("{0:?} is not a name: 1 to 32 of a-z, 0-9 and _, starting with a letter")]
    BadName(String),
    /// A language tag that is not of BCP 47 shape.
    #[error(
        "{0:?} is not a language tag (letters, digits and hyphens, e.g. \"en\", \"zh-Hant\", at most 16 bytes)"
    )]
    BadLanguageTag(String),
    /// A language listed twice (compared without case).
    #[error("language {0:?} is listed twice")]
    DuplicateLanguage(String),
    /// A code number used twice.
    #[error("code {number} is already defined on line {first_line}")]
    DuplicateCode {
        /// The number.
        number: u64,
        /// Where it was first defined.
        first_line: usize,
    },
    /// A form, field, parameter or choice key used twice in its scope.
    #[error("{name:?} is already defined on line {first_line}")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where it was first defined.
        first_line: usize,
    },
    /// Two values of one choice that read the same in a language (compared without case or
    /// surrounding white space): an operator reading it could not tell which was sent.
    #[error(
        "the label in {lang:?} reads the same as value {other:?}'s; each value must read differently in every language"
    )]
    DuplicateLabel {
        /// The language.
        lang: String,
        /// The key of the earlier value with that label.
        other: String,
    },
    /// A text, title or label lacks one of the codebook's languages.
    #[error("missing text for language {lang:?}")]
    MissingText {
        /// The language.
        lang: String,
    },
    /// A text, title or label in a language the codebook does not list.
    #[error("{lang:?} is not one of the codebook's languages")]
    ExtraLanguage {
        /// The language.
        lang: String,
    },
    /// A field type the format does not define.
    #[error(
        "unknown field type {0:?}; expected text, integer, choice, datetime, duration, coordinates or area"
    )]
    UnknownType(String),
    /// A lower bound above its upper bound.
    #[error("min {min} is above max {max}")]
    MinAboveMax {
        /// The lower bound.
        min: i128,
        /// The upper bound.
        max: i128,
    },
    /// A `{placeholder}` that names no parameter of the code.
    #[error("placeholder {{{0}}} names no parameter of this code")]
    UnknownPlaceholder(String),
    /// A text that does not insert one of the code's parameters.
    #[error(
        "the text does not insert parameter `{0}`; every language's text must insert every parameter"
    )]
    MissingPlaceholder(String),
    /// A lone or unclosed brace, or a placeholder that is not a name.
    #[error("{0}; write {{{{ and }}}} for literal braces")]
    BadPlaceholder(&'static str),
    /// A rule naming a field the form does not have.
    #[error("the form has no field `{0}`")]
    RuleUnknownField(String),
    /// A rule naming a field that is not a datetime.
    #[error("field `{field}` is {found}; a rule needs a datetime field")]
    RuleNotDatetime {
        /// The field.
        field: String,
        /// Its type.
        found: &'static str,
    },
    /// A rule with both or neither of `lead_time_min_h` and `after`.
    #[error("a rule needs exactly one of `lead_time_min_h` and `after`")]
    RuleShape,
    /// A rule requiring a field to be after itself.
    #[error("a field cannot be after itself")]
    RuleSelf,
}

/// Why values were refused against a codebook: the field (when one is to blame) and the class.
///
/// Displays as ``field `position`: latitude 91 is out of range (-90 to 90)``.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UseError {
    field: Option<String>,
    kind: UseErrorKind,
}

impl UseError {
    pub(crate) fn new(field: Option<&str>, kind: UseErrorKind) -> Self {
        UseError {
            field: field.map(str::to_owned),
            kind,
        }
    }

    /// The field or parameter to blame, if one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The class of the problem.
    pub fn kind(&self) -> &UseErrorKind {
        &self.kind
    }
}

impl fmt::Display for UseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for UseError {}

/// The class of a [`UseError`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UseErrorKind {
    /// No code of that number in the codebook.
    #[error("there is no code {0} in this codebook")]
    UnknownCode(u64),
    /// No form of that name in the codebook.
    #[error("there is no form `{0}` in this codebook")]
    UnknownForm(String),
    /// A name that is not a parameter of the code, or a field of the form.
    #[error("not a field of {of}")]
    UnknownField {
        /// `code 5` or ``form `incident` ``.
        of: String,
    },
    /// A name given twice.
    #[error("given more than once")]
    Duplicate,
    /// Received values whose names are not strictly increasing.
    #[error("the values are not in canonical order (names strictly increasing)")]
    NotCanonical,
    /// A required field without a value.
    #[error("required, and missing")]
    Missing,
    /// A value of another type than its field's.
    #[error("expected {expected}, got {found}")]
    WrongType {
        /// The field's type.
        expected: &'static str,
        /// The value's type.
        found: &'static str,
    },
    /// Operator input that is not a value of the field's type, or a value the type never
    /// holds (an empty text, a choice key not offered, a time with milliseconds).
    #[error("{0}")]
    Malformed(String),
    /// A value of the right shape outside the field's bounds.
    #[error("{0}")]
    OutOfRange(String),
    /// A value breaking one of the form's rules.
    #[error("{0}")]
    Rule(String),
}
