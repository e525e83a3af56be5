//! What a parsed codebook holds: codes, forms, their fields and rules. Built only by
//! `format` after every check, so a value of these types always keeps the format's rules
//! (a field's `min` is never above its `max`, a template only names parameters of its code).

/// Texts keyed by language, in the order of the codebook's `languages`, one per language.
pub(crate) type Texts = Vec<(String, String)>;

/// The text for `lang` (compared without case, as language tags are).
pub(crate) fn text_in<'a>(texts: &'a Texts, lang: &str) -> Option<&'a str> {
    texts
        .iter()
        .find(|(tag, _)| tag.eq_ignore_ascii_case(lang))
        .map(|(_, text)| text.as_str())
}

/// A pre-agreed message: its number travels, each side shows its own language's text.
#[derive(Clone, Debug)]
pub struct Code {
    pub(crate) number: u64,
    pub(crate) texts: Vec<(String, Template)>,
    pub(crate) params: Vec<Field>,
}

impl Code {
    /// The code's number (1 to `CODE_NUMBER_MAX`).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The text template in `lang` as written in the codebook (`{name}` marks a parameter).
    pub fn text(&self, lang: &str) -> Option<&str> {
        self.template(lang).map(|template| template.source.as_str())
    }

    /// The typed parameters, in the codebook's order.
    pub fn params(&self) -> &[Field] {
        &self.params
    }

    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&Field> {
        self.params.iter().find(|field| field.name == name)
    }

    pub(crate) fn template(&self, lang: &str) -> Option<&Template> {
        self.texts
            .iter()
            .find(|(tag, _)| tag.eq_ignore_ascii_case(lang))
            .map(|(_, template)| template)
    }
}

/// A formatted notice: a title and typed fields, plus rules between them.
#[derive(Clone, Debug)]
pub struct Form {
    pub(crate) name: String,
    pub(crate) titles: Texts,
    pub(crate) fields: Vec<Field>,
    pub(crate) rules: Vec<Rule>,
}

impl Form {
    /// The form's name (a parameter name, e.g. `missile_launch`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The title in `lang`.
    pub fn title(&self, lang: &str) -> Option<&str> {
        text_in(&self.titles, lang)
    }

    /// The fields, in the codebook's order (the order a notice is rendered in).
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The rules, in the codebook's order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// A typed field of a form, or parameter of a code.
#[derive(Clone, Debug)]
pub struct Field {
    pub(crate) name: String,
    pub(crate) labels: Texts,
    pub(crate) optional: bool,
    pub(crate) kind: FieldType,
}

impl Field {
    /// The field's name (a parameter name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The label in `lang`.
    pub fn label(&self, lang: &str) -> Option<&str> {
        text_in(&self.labels, lang)
    }

    /// Whether the field may be left out.
    pub fn optional(&self) -> bool {
        self.optional
    }

    /// The field's type and bounds.
    pub fn kind(&self) -> &FieldType {
        &self.kind
    }
}

/// A field's type, with its bounds.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum FieldType {
    /// Free text of 1 to `max_chars` characters, no control characters.
    Text {
        /// Longest text, in characters.
        max_chars: usize,
    },
    /// An integer in `min..=max`.
    Integer {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// One of a fixed set of values, by key.
    Choice {
        /// The values offered, in the codebook's order.
        values: Vec<ChoiceValue>,
    },
    /// A UTC instant, whole seconds.
    Datetime,
    /// A duration in `min_s..=max_s` seconds.
    Duration {
        /// Shortest, in seconds.
        min_s: u64,
        /// Longest, in seconds.
        max_s: u64,
    },
    /// A point (latitude, longitude).
    Coordinates,
    /// A circle or a polygon.
    Area,
}

impl FieldType {
    /// The type's name as written in a codebook (`text`, `integer`, …), which is also
    /// `parley_proto::Value::type_name` of the values it takes.
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::Text { .. } => "text",
            FieldType::Integer { .. } => "integer",
            FieldType::Choice { .. } => "choice",
            FieldType::Datetime => "datetime",
            FieldType::Duration { .. } => "duration",
            FieldType::Coordinates => "coordinates",
            FieldType::Area => "area",
        }
    }
}

/// One value a choice field offers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChoiceValue {
    pub(crate) key: String,
    pub(crate) labels: Texts,
}

impl ChoiceValue {
    /// The key that travels (a parameter name).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The label shown in `lang`.
    pub fn label(&self, lang: &str) -> Option<&str> {
        text_in(&self.labels, lang)
    }
}

/// A rule a form's values must keep besides each field's own bounds. A rule about an absent
/// (optional) field does not apply.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Rule {
    /// The datetime `field` is at least `min_h` hours after the notice is sent.
    LeadTime {
        /// The datetime field.
        field: String,
        /// The least lead time, in hours.
        min_h: u64,
    },
    /// The datetime `field` is strictly after the datetime field `other`.
    After {
        /// The later field.
        field: String,
        /// The earlier field.
        other: String,
    },
}

/// A code's text in one language: literal pieces and parameters to insert.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    pub(crate) source: String,
    pub(crate) pieces: Vec<Piece>,
}

/// One piece of a [`Template`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Piece {
    /// Text shown as it is (with `{{`/`}}` already turned into braces).
    Literal(String),
    /// The parameter of that name.
    Param(String),
}
