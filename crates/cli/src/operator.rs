//! `operator add|list|remove` and `audit`: the web console's operator accounts and its audit
//! log, kept in `console.sqlite` in the station's home. They work the same whether or not the
//! daemon runs: `console.sqlite` is not the station's store, and SQLite's locking lets this
//! command and the console in the daemon write it at once.
//!
//! What is audited: every attempt to add or remove an account that reaches the accounts, with
//! its outcome (`ok`, or the refusal: a name taken, no such account, too many accounts). Input
//! refused before that (a bad name, a short password, an unreadable password file) changes
//! nothing and is not recorded.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::path::Path;

use parley_station::Home;
use parley_station::accounts::{self, AccountError, OPERATOR_LANGS};
use parley_station::api::ApiError;
use parley_station::clock::utc_now_ms;
use parley_station::limits::PASSWORD_SIZE_MAX_BYTES;
use parley_store::{
    AUDIT_OUTCOME_OK, AUDIT_PAGE_ROWS_MAX, AuditAction, AuditQuery, AuditRecord, AuditRow,
    AuditSource, ConsoleDb, StoreError,
};
use serde_json::json;

use crate::OperatorCommand;
use crate::commands::{operator_name, parse_time, read_input};
use crate::render::{instant, json, quoted, text};

/// Largest password file read, in bytes: the longest password and a line ending (`\r\n`).
const PASSWORD_FILE_SIZE_MAX_BYTES: usize = PASSWORD_SIZE_MAX_BYTES + 2;
/// Largest line read at the password prompt, in bytes. A terminal in canonical mode passes
/// at most 4,096 bytes a line, so a whole line is always read: nothing typed is left over for
/// the shell to run after the command.
const PASSWORD_LINE_SIZE_MAX_BYTES: u64 = 8 * 1024;

/// Runs an `operator` subcommand.
pub fn dispatch(home: &Home, command: OperatorCommand) -> anyhow::Result<()> {
    match command {
        OperatorCommand::Add {
            name,
            password_file,
            lang,
        } => add(home, &name, password_file.as_deref(), lang),
        OperatorCommand::List { json: as_json } => list(home, as_json),
        OperatorCommand::Remove { name } => remove(home, &name),
    }
}

/// The error the operator sees for an account rule broken, with its class.
fn refused(error: AccountError) -> anyhow::Error {
    ApiError::new(error.class(), error.to_string()).into()
}

/// `console.sqlite` for writing, created if needed, after checking that the home is the
/// station's and private.
fn console_write(home: &Home) -> anyhow::Result<ConsoleDb> {
    home.config()?;
    home.check_private()?;
    Ok(ConsoleDb::open(&home.console_path())?)
}

/// `console.sqlite` for reading, or `None` while no account was ever added.
fn console_read(home: &Home) -> anyhow::Result<Option<ConsoleDb>> {
    home.config()?;
    let path = home.console_path();
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(ConsoleDb::open_read_only(&path)?))
}

/// Who runs this command, for the audit log: `$PARLEY_OPERATOR`, else the login name.
fn acting_operator() -> anyhow::Result<String> {
    let who = operator_name(std::env::var("PARLEY_OPERATOR").ok());
    accounts::check_operator_name(&who).map_err(|error| {
        ApiError::operator(format!(
            "who runs this command is recorded in the audit log, and {}: set $PARLEY_OPERATOR \
             to your name",
            text(&error.to_string())
        ))
    })?;
    Ok(who)
}

fn audit_record(who: &str, action: AuditAction, detail: serde_json::Value) -> AuditRecord {
    AuditRecord {
        at_ms: utc_now_ms(),
        operator: who.to_owned(),
        source: AuditSource::Cli,
        action,
        detail,
        outcome: AUDIT_OUTCOME_OK.to_owned(),
    }
}

/// A refusal by the accounts (a name taken, no such account, too many): recorded in the
/// audit log with its outcome, then returned as the operator's error.
fn refused_audited(
    db: &mut ConsoleDb,
    mut record: AuditRecord,
    error: StoreError,
) -> anyhow::Error {
    let message = error.to_string();
    let refusal = matches!(
        error,
        StoreError::OperatorExists(_)
            | StoreError::UnknownOperator(_)
            | StoreError::OperatorsFull { .. }
    );
    if !refusal {
        return error.into();
    }
    record.outcome = message.clone();
    if let Err(audit) = db.append_audit(&record) {
        return anyhow::Error::from(audit).context(format!(
            "{message}; recording the refusal in the audit log failed too"
        ));
    }
    ApiError::operator(text(&message)).into()
}

fn add(
    home: &Home,
    name: &str,
    password_file: Option<&Path>,
    lang: Option<String>,
) -> anyhow::Result<()> {
    accounts::check_operator_name(name).map_err(refused)?;
    let lang = match lang {
        Some(lang) => lang,
        None => default_lang(home)?,
    };
    accounts::check_lang(&lang).map_err(refused)?;
    let who = acting_operator()?;
    let record = audit_record(
        &who,
        AuditAction::OperatorAdd,
        json!({ "name": name, "lang": lang }),
    );
    home.check_private()?;
    // Refused before the password is asked for, and again (atomically) when it is written;
    // a database not yet at this version (read-only, it cannot be brought to it) is left to
    // that second check.
    let taken = match console_read(home) {
        Ok(Some(db)) => db.operator(name)?.is_some(),
        Ok(None) => false,
        Err(error)
            if matches!(
                error.downcast_ref::<StoreError>(),
                Some(StoreError::SchemaTooOld { .. })
            ) =>
        {
            false
        }
        Err(error) => return Err(error),
    };
    if taken {
        return Err(refused_audited(
            &mut console_write(home)?,
            record,
            StoreError::OperatorExists(name.to_owned()),
        ));
    }
    let password = match password_file {
        Some(file) => password_from_file(file)?,
        None => password_from_terminal(name)?,
    };
    let row = accounts::new_operator(name, &password, &lang, utc_now_ms()).map_err(refused)?;
    // Opened (created, or brought to this version) only once nothing is left to refuse.
    let mut db = console_write(home)?;
    if let Err(error) = db.add_operator(&row, &record) {
        return Err(refused_audited(&mut db, record, error));
    }
    println!(
        "operator {} added (interface language {lang})",
        quoted(name)
    );
    Ok(())
}

/// The station's language when the console has an interface in it, else English.
fn default_lang(home: &Home) -> anyhow::Result<String> {
    let lang = home.config()?.lang;
    Ok(if OPERATOR_LANGS.contains(&lang.as_str()) {
        lang
    } else {
        "en".to_owned()
    })
}

/// The password in `file`, without the line ending that closes it; read as any operator's
/// input file is (a regular file only, bounded), and checked against the password rules.
fn password_from_file(file: &Path) -> anyhow::Result<String> {
    let mut password = read_input(file, PASSWORD_FILE_SIZE_MAX_BYTES, "the password file")?;
    strip_line_ending(&mut password);
    accounts::check_password(&password).map_err(refused)?;
    Ok(password)
}

fn strip_line_ending(line: &mut String) {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
}

/// Asks for the password twice on the terminal, without echo.
fn password_from_terminal(name: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        return Err(ApiError::operator(
            "no --password-file, and standard input is not a terminal to ask for the password \
             on; nothing was changed. Give the password in a file (mode 0600) with \
             --password-file FILE, or run the command in a terminal",
        )
        .into());
    }
    let first = read_hidden(&format!("password for {}: ", quoted(name)))?;
    accounts::check_password(&first).map_err(refused)?;
    let second = read_hidden("the same password again: ")?;
    if first != second {
        return Err(ApiError::operator(
            "the two passwords differ; nothing was changed. Run the command again",
        )
        .into());
    }
    Ok(first)
}

/// The terminal's settings, put back when dropped.
struct EchoOff {
    saved: rustix::termios::Termios,
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = rustix::termios::tcsetattr(
            stdin.as_fd(),
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// Shows `prompt` on standard error and reads one line from the terminal with echo off (the
/// newline still shows), as `getpass` does.
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let failed = |error: std::io::Error| {
        ApiError::operator(format!(
            "cannot read the password from the terminal: {error}; nothing was changed"
        ))
    };
    let stdin = std::io::stdin();
    let saved = tcgetattr(stdin.as_fd()).map_err(|error| failed(error.into()))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    // Flush: what was typed before the prompt (and so echoed) is not taken as the password.
    tcsetattr(stdin.as_fd(), OptionalActions::Flush, &quiet)
        .map_err(|error| failed(error.into()))?;
    let _restore = EchoOff { saved };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .take(PASSWORD_LINE_SIZE_MAX_BYTES)
        .read_line(&mut line)
        .map_err(failed)?;
    if line.is_empty() {
        return Err(
            ApiError::operator("no password typed (end of input); nothing was changed").into(),
        );
    }
    strip_line_ending(&mut line);
    Ok(line)
}

fn list(home: &Home, as_json: bool) -> anyhow::Result<()> {
    let operators = match console_read(home)? {
        Some(db) => db.operators()?,
        None => Vec::new(),
    };
    if as_json {
        return json(&operators);
    }
    if operators.is_empty() {
        println!("no operator accounts; add one with `parley operator add NAME`");
    }
    for operator in &operators {
        println!(
            "{}  {}  created {}",
            quoted(&operator.name),
            text(&operator.lang),
            instant(operator.created_ms)
        );
    }
    Ok(())
}

fn remove(home: &Home, name: &str) -> anyhow::Result<()> {
    accounts::check_operator_name(name).map_err(refused)?;
    let who = acting_operator()?;
    let mut db = console_write(home)?;
    let record = audit_record(&who, AuditAction::OperatorRemove, json!({ "name": name }));
    if let Err(error) = db.remove_operator(name, &record) {
        return Err(refused_audited(&mut db, record, error));
    }
    println!(
        "operator {} removed (what it did stays in the audit log)",
        quoted(name)
    );
    Ok(())
}

/// `audit [--json] [--since TIME] [--operator NAME]`: the rows oldest first, read a page at a
/// time and printed as they are read.
pub fn audit(
    home: &Home,
    as_json: bool,
    since: Option<String>,
    operator: Option<String>,
) -> anyhow::Result<()> {
    let since_ms = since.as_deref().map(parse_time).transpose()?;
    let db = console_read(home)?;
    let mut out = std::io::stdout().lock();
    let mut printed = 0_usize;
    if as_json {
        write!(out, "[")?;
    }
    let mut query = AuditQuery {
        after_id: 0,
        since_ms,
        operator: operator.as_deref(),
        limit: AUDIT_PAGE_ROWS_MAX,
    };
    while let Some(db) = &db {
        let page = db.audit(&query)?;
        for row in &page {
            if as_json {
                let separator = if printed == 0 { "" } else { "," };
                write!(out, "{separator}\n  {}", serde_json::to_string(row)?)?;
            } else {
                writeln!(out, "{}", audit_line(row))?;
            }
            printed += 1;
        }
        match page.last() {
            Some(last) if page.len() == AUDIT_PAGE_ROWS_MAX => query.after_id = last.id,
            _ => break,
        }
    }
    if as_json {
        writeln!(out, "{}]", if printed == 0 { "" } else { "\n" })?;
    } else if printed == 0 {
        writeln!(out, "no audit rows")?;
    }
    Ok(())
}

/// `#<id> <time> <operator> <source> <action> <outcome> <detail>`: every text from the log
/// escaped; an outcome other than `ok` quoted.
fn audit_line(row: &AuditRow) -> String {
    let record = &row.record;
    let outcome = if record.outcome == AUDIT_OUTCOME_OK {
        AUDIT_OUTCOME_OK.to_owned()
    } else {
        quoted(&record.outcome)
    };
    format!(
        "#{} {} {} {} {} {} {}",
        row.id,
        instant(record.at_ms),
        quoted(&record.operator),
        record.source.name(),
        record.action.name(),
        outcome,
        text(&record.detail.to_string())
    )
}
