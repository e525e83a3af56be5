//! Reading typed fields (a form's `field`, a code's `param`), choice values, forms and rules.

use super::read::Node;
use super::{checked_name, elements, read_texts, read_texts_at};
use crate::error::{CodebookError, CodebookErrorKind};
use crate::limits::{
    CHOICE_VALUES_MAX, DURATION_S_MAX, FIELDS_MAX, FORMS_MAX, LABEL_CHARS_MAX, LEAD_TIME_H_MAX,
    RULES_MAX, TEXT_FIELD_CHARS_MAX,
};
use crate::schema::{ChoiceValue, Field, FieldType, Form, Rule};

/// Refuses `name` if an earlier element of the same scope took it.
fn unique(
    seen: &mut Vec<(String, usize)>,
    name: &str,
    name_node_line: usize,
    path: String,
) -> Result<(), CodebookError> {
    if let Some((_, first_line)) = seen.iter().find(|(seen, _)| seen == name) {
        return Err(CodebookError {
            line: name_node_line,
            path,
            kind: CodebookErrorKind::DuplicateName {
                name: name.to_owned(),
                first_line: *first_line,
            },
        });
    }
    seen.push((name.to_owned(), name_node_line));
    Ok(())
}

/// The list `key` of typed fields: `min` to `FIELDS_MAX` of them, names unique.
pub(super) fn read_fields(
    list: &Node<'_, '_>,
    key: &str,
    what: &'static str,
    min: usize,
    languages: &[String],
) -> Result<Vec<Field>, CodebookError> {
    let items = elements(list, key, what, FIELDS_MAX)?;
    if items.len() < min {
        return Err(list.error(CodebookErrorKind::TooFew { what, min }));
    }
    let mut seen = Vec::new();
    let mut fields = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let (field, name_line) = read_field(item, languages)?;
        let path = format!("{}[#{}].name", list.path, index + 1);
        unique(&mut seen, &field.name, name_line, path)?;
        fields.push(field);
    }
    Ok(fields)
}

/// A field and the line of its name.
fn read_field(node: Node<'_, '_>, languages: &[String]) -> Result<(Field, usize), CodebookError> {
    let mut table = node.table()?;
    let name_node = table.require("name")?;
    let name = checked_name(&name_node)?;
    let type_node = table.require("type")?;
    let type_name = type_node.string()?;
    let labels = read_texts(table.require("label")?, languages, LABEL_CHARS_MAX)?;
    let optional = match table.take("optional") {
        Some(flag) => flag.boolean()?,
        None => false,
    };
    let kind = match type_name {
        "text" => {
            let max = TEXT_FIELD_CHARS_MAX as i128;
            let max_chars = table.require("max_chars")?.integer(1, max)?;
            FieldType::Text { max_chars }
        }
        "integer" => {
            let min: i64 = table
                .require("min")?
                .integer(i64::MIN.into(), i64::MAX.into())?;
            let max_node = table.require("max")?;
            let max: i64 = max_node.integer(i64::MIN.into(), i64::MAX.into())?;
            if min > max {
                let kind = CodebookErrorKind::MinAboveMax {
                    min: min.into(),
                    max: max.into(),
                };
                return Err(max_node.error(kind));
            }
            FieldType::Integer { min, max }
        }
        "choice" => FieldType::Choice {
            values: read_choice_values(&table.require("value")?, languages)?,
        },
        "datetime" => FieldType::Datetime,
        "duration" => read_duration(table.take("min_s"), table.take("max_s"))?,
        "coordinates" => FieldType::Coordinates,
        "area" => FieldType::Area,
        other => return Err(type_node.error(CodebookErrorKind::UnknownType(other.to_owned()))),
    };
    table.finish()?;
    let field = Field {
        name,
        labels,
        optional,
        kind,
    };
    Ok((field, name_node.line))
}

fn read_duration(
    min_node: Option<Node<'_, '_>>,
    max_node: Option<Node<'_, '_>>,
) -> Result<FieldType, CodebookError> {
    let bound = |node: &Option<Node<'_, '_>>, default: u64| match node {
        Some(node) => node.integer(0, DURATION_S_MAX.into()),
        None => Ok(default),
    };
    let min_s: u64 = bound(&min_node, 0)?;
    let max_s: u64 = bound(&max_node, DURATION_S_MAX)?;
    // Only given bounds can cross: the defaults span every duration.
    if let Some(blame) = max_node.as_ref().or(min_node.as_ref())
        && min_s > max_s
    {
        let kind = CodebookErrorKind::MinAboveMax {
            min: min_s.into(),
            max: max_s.into(),
        };
        return Err(blame.error(kind));
    }
    Ok(FieldType::Duration { min_s, max_s })
}

/// How a choice's label reads, to tell two apart: without case, invisible characters or
/// differences of white space (`Tactical`, ` tactical`, `Tac\u{200B}tical` and
/// `tactical\u{00A0}` read the same). Letters that merely look alike are not compared.
fn reads_as(label: &str) -> String {
    let visible: String = (label.chars())
        .filter(|&c| !parley_proto::names::is_invisible(c))
        .collect();
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn read_choice_values(
    list: &Node<'_, '_>,
    languages: &[String],
) -> Result<Vec<ChoiceValue>, CodebookError> {
    let what = "choice values";
    let items = elements(list, "value", what, CHOICE_VALUES_MAX)?;
    if items.is_empty() {
        return Err(list.error(CodebookErrorKind::TooFew { what, min: 1 }));
    }
    let mut seen = Vec::new();
    let mut values = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let mut table = item.table()?;
        let key_node = table.require("key")?;
        let key = checked_name(&key_node)?;
        let path = format!("{}[#{}].key", list.path, index + 1);
        unique(&mut seen, &key, key_node.line, path)?;
        let labels = read_texts_at(table.require("label")?, languages, LABEL_CHARS_MAX)?;
        for (lang, label, line) in labels.iter().filter(|_| list.strict()) {
            let other = values.iter().find(|other: &&ChoiceValue| {
                (other.labels.iter()).any(|(l, o)| l == lang && reads_as(o) == reads_as(label))
            });
            if let Some(other) = other {
                return Err(CodebookError {
                    line: *line,
                    path: format!("{}[{key}].label.{lang}", list.path),
                    kind: CodebookErrorKind::DuplicateLabel {
                        lang: lang.clone(),
                        other: other.key.clone(),
                    },
                });
            }
        }
        table.finish()?;
        let labels = (labels.into_iter())
            .map(|(lang, label, _)| (lang, label))
            .collect();
        values.push(ChoiceValue { key, labels });
    }
    Ok(values)
}

/// The list of forms: at most `FORMS_MAX`, names unique.
pub(super) fn read_forms(
    list: Node<'_, '_>,
    languages: &[String],
) -> Result<Vec<Form>, CodebookError> {
    let mut seen = Vec::new();
    let mut forms = Vec::new();
    for (index, node) in elements(&list, "form", "forms", FORMS_MAX)?
        .into_iter()
        .enumerate()
    {
        let mut table = node.table()?;
        let name_node = table.require("name")?;
        let name = checked_name(&name_node)?;
        let path = format!("{}[#{}].name", list.path, index + 1);
        unique(&mut seen, &name, name_node.line, path)?;
        let titles = read_texts(table.require("title")?, languages, LABEL_CHARS_MAX)?;
        let field_list = table.require("field")?;
        let fields = read_fields(&field_list, "field", "fields", 1, languages)?;
        let rules = match table.take("rule") {
            Some(list) => read_rules(&list, &fields)?,
            None => Vec::new(),
        };
        table.finish()?;
        forms.push(Form {
            name,
            titles,
            fields,
            rules,
        });
    }
    Ok(forms)
}

fn read_rules(list: &Node<'_, '_>, fields: &[Field]) -> Result<Vec<Rule>, CodebookError> {
    let items = elements(list, "rule", "rules", RULES_MAX)?;
    items
        .into_iter()
        .map(|item| read_rule(item, fields))
        .collect()
}

fn read_rule(node: Node<'_, '_>, fields: &[Field]) -> Result<Rule, CodebookError> {
    let mut table = node.table()?;
    let field_node = table.require("field")?;
    let field = datetime_field(&field_node, fields)?;
    let lead = table.take("lead_time_min_h");
    let after = table.take("after");
    let rule = match (lead, after) {
        (Some(lead), None) => Rule::LeadTime {
            field,
            min_h: lead.integer(0, LEAD_TIME_H_MAX.into())?,
        },
        (None, Some(after)) => {
            let other = datetime_field(&after, fields)?;
            if other == field {
                return Err(after.error(CodebookErrorKind::RuleSelf));
            }
            Rule::After { field, other }
        }
        _ => return Err(table.error(CodebookErrorKind::RuleShape)),
    };
    table.finish()?;
    Ok(rule)
}

/// The name in `node`, which must be a datetime field of the form.
fn datetime_field(node: &Node<'_, '_>, fields: &[Field]) -> Result<String, CodebookError> {
    let name = node.string()?;
    let Some(field) = fields.iter().find(|field| field.name == name) else {
        return Err(node.error(CodebookErrorKind::RuleUnknownField(name.to_owned())));
    };
    if field.kind != FieldType::Datetime {
        return Err(node.error(CodebookErrorKind::RuleNotDatetime {
            field: name.to_owned(),
            found: field.kind.name(),
        }));
    }
    Ok(name.to_owned())
}
