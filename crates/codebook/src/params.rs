//! A set of named values against a code's parameters or a form's fields and rules. Operator
//! input is parsed into typed values and then checked by exactly the code that checks values
//! received from the peer ([`check_params`], [`check_rules`]).

use std::collections::BTreeMap;

use parley_proto::{Params, Value};

use crate::error::{UseError, UseErrorKind};
use crate::schema::{Field, Form, Rule};
use crate::values::{check_value, parse_input, render_time};

/// Parses `NAME=VALUE` pairs typed by an operator into canonical params and checks them.
/// `of` names the code or form in messages (`code 5`, ``form `incident` ``).
pub(crate) fn params_from_input(
    fields: &[Field],
    of: &str,
    args: &[(String, String)],
) -> Result<Params, UseError> {
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for (name, text) in args {
        let Some(field) = fields.iter().find(|field| field.name == *name) else {
            let kind = UseErrorKind::UnknownField { of: of.to_owned() };
            return Err(UseError::new(Some(name), kind));
        };
        if values.contains_key(name.as_str()) {
            return Err(UseError::new(Some(name), UseErrorKind::Duplicate));
        }
        let value =
            parse_input(&field.kind, text).map_err(|kind| UseError::new(Some(name), kind))?;
        values.insert(name, value);
    }
    let params: Params = values
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    check_params(fields, of, &params)?;
    Ok(params)
}

/// Checks typed values: names strictly increasing, each a field of `fields` with a value of
/// its type within its bounds, and every required field present.
pub(crate) fn check_params(fields: &[Field], of: &str, params: &Params) -> Result<(), UseError> {
    let mut previous: Option<&str> = None;
    for (name, value) in params {
        if let Some(previous) = previous
            && previous >= name.as_str()
        {
            let kind = if previous == name {
                UseErrorKind::Duplicate
            } else {
                UseErrorKind::NotCanonical
            };
            return Err(UseError::new(Some(name), kind));
        }
        previous = Some(name);
        let Some(field) = fields.iter().find(|field| field.name == *name) else {
            let kind = UseErrorKind::UnknownField { of: of.to_owned() };
            return Err(UseError::new(Some(name), kind));
        };
        check_value(&field.kind, value).map_err(|kind| UseError::new(Some(name), kind))?;
    }
    let present = |field: &&Field| params.iter().any(|(name, _)| *name == field.name);
    match fields
        .iter()
        .find(|field| !field.optional && !present(field))
    {
        Some(missing) => Err(UseError::new(Some(&missing.name), UseErrorKind::Missing)),
        None => Ok(()),
    }
}

/// The time value of `name`, if present.
fn time_of(params: &Params, name: &str) -> Option<u64> {
    params.iter().find_map(|(field, value)| match value {
        Value::Time(ms) if field == name => Some(*ms),
        _ => None,
    })
}

fn shown(ms: u64) -> String {
    render_time(ms).unwrap_or_else(|| format!("{ms} ms"))
}

/// Checks a form's rules on values that passed [`check_params`]; `sent_ms` is when the
/// notice is sent (UTC milliseconds). A rule about an absent field does not apply.
pub(crate) fn check_rules(form: &Form, params: &Params, sent_ms: u64) -> Result<(), UseError> {
    for rule in &form.rules {
        match rule {
            Rule::LeadTime { field, min_h } => {
                let Some(at) = time_of(params, field) else {
                    continue;
                };
                let earliest = sent_ms.saturating_add(min_h.saturating_mul(3_600_000));
                // Times are whole seconds: the earliest acceptable one is the next whole second.
                let earliest = earliest.div_ceil(1000).saturating_mul(1000);
                if at < earliest {
                    let message = format!(
                        "{} is less than {min_h} h after the notice is sent ({}); \
                         the form's rule is lead_time_min_h = {min_h}, so the earliest is {}",
                        shown(at),
                        shown(sent_ms),
                        shown(earliest),
                    );
                    return Err(UseError::new(Some(field), UseErrorKind::Rule(message)));
                }
            }
            Rule::After { field, other } => {
                let (Some(at), Some(other_at)) = (time_of(params, field), time_of(params, other))
                else {
                    continue;
                };
                if at <= other_at {
                    let message = format!(
                        "{} is not after `{other}` ({}); the form's rule is after = \"{other}\"",
                        shown(at),
                        shown(other_at),
                    );
                    return Err(UseError::new(Some(field), UseErrorKind::Rule(message)));
                }
            }
        }
    }
    Ok(())
}
