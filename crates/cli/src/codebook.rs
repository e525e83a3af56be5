//! `codebook propose|accept|show`, `send --code`, `notice` and `translate`, and how a
//! codebook shows on a terminal.

use std::collections::BTreeMap;

use parley_proto::CodebookHash;
use parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES;
use parley_station::Home;
use parley_station::api::{ApiError, Reply, Request, records};
use parley_station::codebooks::{CodebookItem, CodebookReport, FieldItem};

use crate::commands::{operator_name, read_input, request_of, store_read, unexpected, written};
use crate::render::{json, quoted, text, time};
use crate::{CodebookCommand, PrecedenceArg};

/// Runs a `codebook` subcommand.
pub fn dispatch(home: &Home, command: CodebookCommand) -> anyhow::Result<()> {
    match command {
        CodebookCommand::Propose { peer, file, writer } => {
            let source = read_input(&file, CODEBOOK_SIZE_MAX_BYTES, "the codebook")?;
            let operator = writer.operator;
            let request = Request::CodebookPropose {
                peer,
                source,
                operator,
            };
            match request_of(home, request)? {
                Reply::CodebookProposed(sent) => {
                    println!(
                        "proposed {} version {} to {}: {}",
                        quoted(&sent.name),
                        sent.version,
                        quoted(&sent.peer),
                        sent.hash
                    );
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
        CodebookCommand::Accept {
            peer,
            hash,
            operator,
        } => {
            let hash = hash
                .map(|hash| {
                    CodebookHash::from_hex(&hash).ok_or_else(|| {
                        ApiError::operator(format!(
                            "{hash:?} is not a codebook hash (64 hex digits, as `codebook show` prints it); nothing was stored"
                        ))
                    })
                })
                .transpose()?;
            let request = Request::CodebookAccept {
                peer,
                hash,
                operator: operator_name(operator),
            };
            match request_of(home, request)? {
                Reply::CodebookAccepted(sent) => {
                    println!(
                        "accepted {} version {}: {}",
                        quoted(&sent.name),
                        sent.version,
                        sent.hash
                    );
                    Ok(())
                }
                other => Err(unexpected(other)),
            }
        }
        CodebookCommand::Show {
            peer,
            json: as_json,
        } => {
            let report = records::codebooks(&store_read(home)?, &peer)?;
            if as_json {
                return json(&report);
            }
            show(&report);
            Ok(())
        }
    }
}

/// Who sends what to whom: peer, precedence, EXERCISE, and the operator named in the entry.
pub type Sending = (String, PrecedenceArg, bool, Option<String>);

/// `send PEER --code N --param NAME=VALUE…`.
pub fn send_code(
    home: &Home,
    (peer, precedence, exercise, operator): Sending,
    code: u64,
    params: &[String],
) -> anyhow::Result<()> {
    let request = Request::SendCode {
        peer,
        precedence: precedence.precedence(),
        code,
        params: pairs(params, "--param", "NAME=VALUE")?,
        exercise,
        operator,
    };
    written(request_of(home, request)?)
}

/// `notice PEER FORM --field NAME=VALUE…`.
pub fn notice(
    home: &Home,
    (peer, precedence, exercise, operator): Sending,
    form: String,
    fields: &[String],
) -> anyhow::Result<()> {
    let request = Request::Notice {
        peer,
        precedence: precedence.precedence(),
        form,
        fields: pairs(fields, "--field", "NAME=VALUE")?,
        exercise,
        operator,
    };
    written(request_of(home, request)?)
}

/// `translate ID LANG TEXT`.
pub fn translate(
    home: &Home,
    id: String,
    lang: String,
    text: String,
    operator: Option<String>,
) -> anyhow::Result<()> {
    let request = Request::Translate {
        id,
        lang,
        text,
        operator: operator_name(operator),
    };
    written(request_of(home, request)?)
}

/// `NAME=VALUE` arguments as a map; a malformed or repeated name is refused.
pub fn pairs(
    given: &[String],
    flag: &str,
    shape: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut map = BTreeMap::new();
    for arg in given {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(ApiError::operator(format!(
                "{flag} {} is not {shape}; nothing was sent",
                quoted(arg)
            )));
        };
        if map.insert(name.to_owned(), value.to_owned()).is_some() {
            return Err(ApiError::operator(format!(
                "{flag} {} is given twice; nothing was sent",
                quoted(name)
            )));
        }
    }
    Ok(map)
}

/// `codebook show` on a terminal.
fn show(report: &CodebookReport) {
    if report.codebooks.is_empty() {
        println!(
            "no codebook proposed with {}; propose one with `parley codebook propose {} FILE`",
            quoted(&report.peer),
            quoted(&report.peer)
        );
        return;
    }
    for item in &report.codebooks {
        show_item(item);
    }
}

fn show_item(item: &CodebookItem) {
    let standing = match item.standing {
        parley_station::codebooks::Standing::Current => "AGREED, current",
        parley_station::codebooks::Standing::Superseded => "agreed, superseded",
        _ => "PENDING",
    };
    let accepted = |who: &Option<String>| match who.as_deref() {
        None => "not yet".to_owned(),
        Some("") => "by proposing".to_owned(),
        Some(name) => format!("by {}", quoted(name)),
    };
    println!("{} {standing}", item.hash);
    println!(
        "  proposed by {} {}; accepted here {}, by the peer {}",
        if item.proposed_by == "us" {
            "this station"
        } else {
            "the peer"
        },
        time(item.proposed_at_ms),
        accepted(&item.accepted_by_us),
        accepted(&item.accepted_by_peer)
    );
    if let Some(error) = &item.error {
        println!("  NOT A VALID CODEBOOK: {}", text(error));
        return;
    }
    println!(
        "  {} version {}, languages {}",
        quoted(&item.name),
        item.version,
        text(&item.languages.join(", "))
    );
    for code in &item.codes {
        println!("  code {}{}", code.number, field_list(&code.params));
        for (lang, said) in &code.text {
            println!("    {}: {}", text(lang), quoted(said));
        }
        show_fields("param", &code.params);
    }
    for form in &item.forms {
        println!("  form {}{}", text(&form.name), field_list(&form.fields));
        for (lang, title) in &form.title {
            println!("    {}: {}", text(lang), quoted(title));
        }
        show_fields("field", &form.fields);
        for rule in &form.rules {
            match (rule.lead_time_min_h, &rule.after) {
                (Some(hours), _) => println!(
                    "    rule: {} at least {hours} h after the notice is sent",
                    text(&rule.field)
                ),
                (None, Some(other)) => {
                    println!("    rule: {} after {}", text(&rule.field), text(other));
                }
                (None, None) => {}
            }
        }
    }
}

/// Everything a receiver is shown of each field, labels and choice values in every language:
/// what an operator accepting the codebook agrees to.
fn show_fields(what: &str, fields: &[FieldItem]) {
    for field in fields {
        let mut line = format!("    {what} {}: {}", text(&field.name), field.kind);
        if field.optional {
            line.push_str(", optional");
        }
        if let Some(bounds) = field.bounds() {
            line.push_str(", ");
            line.push_str(&bounds);
        }
        println!("{line}");
        for (lang, label) in &field.label {
            println!("      {}: {}", text(lang), quoted(label));
        }
        for value in &field.values {
            println!("      value {}", text(&value.key));
            for (lang, label) in &value.label {
                println!("        {}: {}", text(lang), quoted(label));
            }
        }
    }
}

fn field_list(fields: &[FieldItem]) -> String {
    if fields.is_empty() {
        return String::new();
    }
    let names: Vec<String> = fields
        .iter()
        .map(|field| {
            let optional = if field.optional { "?" } else { "" };
            format!("{}{optional}: {}", text(&field.name), field.kind)
        })
        .collect();
    format!(" ({})", names.join(", "))
}
