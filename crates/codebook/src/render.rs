//! Codes and notices rendered in one of the codebook's languages. Rendering never fails and
//! never panics, whatever the values: a missing or ill-typed value shows as `{name?}` (the
//! station flags values that fail the check anyway), an absent optional parameter of a code
//! as `—`. Values are inserted as they are; escaping for a terminal or a page is the caller's.

use parley_proto::{Params, Value};

use crate::limits::RENDERED_SIZE_MAX_BYTES;
use crate::schema::{Code, Field, Form, Piece};
use crate::values::render_value;

/// What stands for an absent optional parameter in a code's text.
const ABSENT: &str = "—";

/// One field's value, as rendering sees it.
enum Shown {
    /// No value, and the field is optional.
    Absent,
    /// The value, rendered.
    Value(String),
    /// A required value missing, or a value of the wrong type.
    Flagged,
}

fn shown(field: &Field, params: &Params, lang: &str) -> Shown {
    let value: Option<&Value> = params
        .iter()
        .find(|(name, _)| *name == field.name)
        .map(|(_, value)| value);
    match value {
        None if field.optional => Shown::Absent,
        None => Shown::Flagged,
        Some(value) => match render_value(&field.kind, value, lang) {
            Some(text) => Shown::Value(text),
            None => Shown::Flagged,
        },
    }
}

fn flag(name: &str) -> String {
    format!("{{{name}?}}")
}

/// A code's text in `lang` with its parameters inserted, or `None` if `lang` is not one of
/// the codebook's languages. A rendering past [`RENDERED_SIZE_MAX_BYTES`] is cut there and
/// ends saying so.
pub(crate) fn render_code(code: &Code, params: &Params, lang: &str) -> Option<String> {
    let template = code.template(lang)?;
    let mut text = String::new();
    for piece in &template.pieces {
        match piece {
            Piece::Literal(literal) => text.push_str(literal),
            Piece::Param(name) => match code.param(name) {
                Some(field) => match shown(field, params, lang) {
                    Shown::Absent => text.push_str(ABSENT),
                    Shown::Value(value) => text.push_str(&value),
                    Shown::Flagged => text.push_str(&flag(name)),
                },
                // Never: the format refuses placeholders naming no parameter.
                None => text.push_str(&flag(name)),
            },
        }
        if text.len() > RENDERED_SIZE_MAX_BYTES {
            let mut end = RENDERED_SIZE_MAX_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(&format!(" [cut: over {RENDERED_SIZE_MAX_BYTES} bytes]"));
            break;
        }
    }
    Some(text)
}

/// A notice in `lang`: the form's title, then `Label: value` per field in the form's order,
/// absent optional fields left out; `None` if `lang` is not one of the codebook's languages.
pub(crate) fn render_form(form: &Form, fields: &Params, lang: &str) -> Option<String> {
    let mut lines = vec![form.title(lang)?.to_owned()];
    for field in &form.fields {
        let label = field.label(lang).unwrap_or(&field.name);
        match shown(field, fields, lang) {
            Shown::Absent => {}
            Shown::Value(value) => lines.push(format!("{label}: {value}")),
            Shown::Flagged => lines.push(format!("{label}: {}", flag(&field.name))),
        }
    }
    Some(lines.join("\n"))
}
