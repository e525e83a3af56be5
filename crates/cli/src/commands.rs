//! The station commands. A command that changes the station runs one request: through the
//! running daemon's API when a daemon holds the station lock, else on the station itself under
//! the lock, through the same core and the same code ([`request`]). Reading commands open the
//! store read-only, beside a daemon or not.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parley_channels::courier::{self, ExportKind};
use parley_proto::transcript::{self, CompareError, TranscriptError, VerifiedTranscript};
use parley_proto::{ChannelKind, Fingerprint, Precedence};
use parley_station::api::status::StatusReport;
use parley_station::api::{ApiError, ErrorClass, Reply, Request, client, edge, records};
use parley_station::clock::utc_now_ms;
use parley_station::home::Config;
use parley_station::limits::LOCK_WAIT_MS_MAX;
use parley_station::{Home, Node};
use parley_store::Store;

use crate::{
    AddedChannel, AlarmCommand, ChannelCommand, CheckpointCommand, Command, CourierCommand,
    KeyCommand, PeerCommand, PrecedenceArg, TranscriptCommand,
};
use crate::{codebook, operator, render};

/// Largest card accepted from a file, in bytes of its text armour.
const CARD_TEXT_SIZE_MAX_BYTES: usize = 64 * 1024;

impl PrecedenceArg {
    pub fn precedence(self) -> Precedence {
        match self {
            PrecedenceArg::Flash => Precedence::Flash,
            PrecedenceArg::Immediate => Precedence::Immediate,
            PrecedenceArg::Priority => Precedence::Priority,
            PrecedenceArg::Routine => Precedence::Routine,
        }
    }
}

/// Runs a station command.
pub fn dispatch(home: &Home, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init { name, lang, listen } => init(home, name, lang, listen),
        Command::Fingerprint => {
            println!("{}", home.identity()?.fingerprint());
            Ok(())
        }
        Command::Card => {
            let node = Node::open_read_only(home)?;
            let (card, bytes) = node.station().card();
            print!("{}", card.to_text(&bytes));
            Ok(())
        }
        Command::Peer(PeerCommand::Add {
            file,
            fingerprint,
            address,
        }) => {
            let card = read_input(&file, CARD_TEXT_SIZE_MAX_BYTES, "the card")?;
            let request = Request::PeerAdd {
                card,
                fingerprint,
                address,
            };
            match request_of(home, request)? {
                Reply::Paired(paired) => match paired.replaced {
                    None => println!("paired with {}", render::quoted(&paired.name)),
                    Some(was) => println!(
                        "{}: its version 2 card (with its post-quantum key) replaces the version 1 \
                         card pinned; fingerprint {} (was {was})",
                        render::quoted(&paired.name),
                        paired.fingerprint
                    ),
                },
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
        Command::Peer(PeerCommand::List { json }) => {
            let peers = records::peers(&store_read(home)?)?;
            render::peers(&peers, json)
        }
        Command::Run => {
            let config = home.config()?;
            if let Some(console) = &config.console {
                parley_console::check(console)?;
            }
            let daemon = parley_station::Daemon::start(home)?;
            // Kept until the daemon stops; dropping it stops the console.
            let _console = match &config.console {
                Some(console) => Some(parley_console::Console::start(
                    home,
                    daemon.handle(),
                    console,
                )?),
                None => None,
            };
            daemon.run_until_signal()?;
            Ok(())
        }
        Command::Send {
            peer,
            precedence,
            exercise,
            text,
            code: Some(code),
            params,
            writer,
            ..
        } => {
            debug_assert!(text.is_none(), "clap refuses a text with --code");
            let sending = (peer, precedence, exercise, writer.operator);
            codebook::send_code(home, sending, code, &params)
        }
        Command::Send {
            peer,
            precedence,
            exercise,
            text,
            translations,
            writer,
            ..
        } => {
            let request = Request::Send {
                peer,
                precedence: precedence.precedence(),
                text: text.unwrap_or_default(),
                exercise,
                translations: codebook::pairs(&translations, "--translation", "LANG=TEXT")?,
                operator: writer.operator,
            };
            written(request_of(home, request)?)
        }
        Command::Notice {
            peer,
            form,
            fields,
            precedence,
            exercise,
            writer,
        } => {
            let sending = (peer, precedence, exercise, writer.operator);
            codebook::notice(home, sending, form, &fields)
        }
        Command::Codebook(command) => codebook::dispatch(home, command),
        Command::Translate {
            id,
            lang,
            text,
            operator,
        } => codebook::translate(home, id, lang, text, operator),
        Command::Understood {
            id,
            restatement,
            operator,
        } => {
            let request = Request::Understood {
                id,
                restatement,
                operator: operator_name(operator),
            };
            written(request_of(home, request)?)
        }
        Command::Clarify {
            id,
            question,
            operator,
        } => {
            let request = Request::Clarify {
                id,
                question,
                operator: operator_name(operator),
            };
            written(request_of(home, request)?)
        }
        Command::Cancel { id, reason, writer } => {
            let operator = writer.operator;
            written(request_of(
                home,
                Request::Cancel {
                    id,
                    reason,
                    operator,
                },
            )?)
        }
        Command::Test { peer, writer } => {
            let operator = writer.operator;
            written(request_of(home, Request::Test { peer, operator })?)
        }
        Command::Inbox { json, pending } => {
            let config = home.config()?;
            let items = records::inbox(
                &store_read(home)?,
                &config.objectives,
                &config.lang,
                pending,
            )?;
            render::inbox(&items, json)
        }
        Command::Outbox { json } => {
            let config = home.config()?;
            render::outbox(
                &records::outbox(&store_read(home)?, &config.objectives, &config.lang)?,
                json,
            )
        }
        Command::Alarms { json, all } => {
            render::alarms(&records::alarms(&store_read(home)?, all)?, json)
        }
        Command::Alarm(AlarmCommand::Ack { id, note, operator }) => {
            let request = Request::AlarmAck {
                id,
                note,
                operator: operator_name(operator),
            };
            match request_of(home, request)? {
                Reply::AlarmAcknowledged(alarm) => render::acknowledged(&alarm),
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
        Command::Checkpoint(CheckpointCommand::Show { peer, json }) => {
            let command = parley_station::core::Command::CheckpointShow { peer: peer.clone() };
            let reply = match lock_or_call(home, &Request::CheckpointShow { peer })? {
                Ok(_lock) => Node::open_read_only(home)?.execute(command)?,
                Err(answer) => answer,
            };
            match reply {
                Reply::Checkpoints(report) => render::checkpoints(&report, json),
                other => Err(unexpected(other)),
            }
        }
        Command::Checkpoint(CheckpointCommand::Issue { peer, writer }) => {
            let operator = writer.operator;
            written(request_of(
                home,
                Request::CheckpointIssue { peer, operator },
            )?)
        }
        Command::Key(KeyCommand::Rotate { identity, json }) => {
            match request_of(home, Request::KeyRotate { identity })? {
                Reply::KeyRotated(rotated) => render::key_rotated(&rotated, json),
                other => Err(unexpected(other)),
            }
        }
        Command::Stats { json, since } => {
            let since_ms = since.as_deref().map(parse_time).transpose()?;
            let config = home.config()?;
            let stats = records::stats(&store_read(home)?, &config.objectives, since_ms)?;
            render::stats(&stats, json)
        }
        Command::Status { json } => render::status(&status(home)?, json),
        Command::Watch { json } => watch(home, json),
        Command::Channel(ChannelCommand::Add {
            peer,
            kind,
            target,
            card,
            fingerprint,
        }) => channel_add(home, peer, kind, target, card, fingerprint),
        Command::Channel(ChannelCommand::List { json }) => {
            render::channel_list(&status(home)?, json)
        }
        Command::Courier(CourierCommand::Export { peer, out }) => {
            let out = absolute(&out)?;
            let request = Request::CourierExport {
                peer,
                out: out.clone(),
            };
            match request_of(home, request)? {
                Reply::Exported(exported) => render::exported(&exported, &out),
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
        Command::Courier(CourierCommand::Import { file, salvage }) => {
            let path = absolute(&file)?;
            let request = Request::CourierImport { path, salvage };
            match request_of(home, request)? {
                Reply::Imported(imported) => render::imported(&imported),
                other => return Err(unexpected(other)),
            }
            Ok(())
        }
        Command::Operator(command) => operator::dispatch(home, command),
        Command::Audit {
            json,
            since,
            operator,
        } => operator::audit(home, json, since, operator),
        Command::Transcript(TranscriptCommand::Export { peer, out }) => {
            transcript_export(home, &peer, &out)
        }
        Command::Transcript(TranscriptCommand::Verify {
            files,
            expect,
            checkpoint,
        }) => transcript_verify(&files, &expect, &checkpoint),
        Command::Transcript(TranscriptCommand::Check { file, json }) => {
            let path = absolute(&file)?;
            match request_of(home, Request::TranscriptCheck { path })? {
                Reply::TranscriptChecked(checked) => render::transcript_checked(&checked, json),
                other => Err(unexpected(other)),
            }
        }
        Command::Transcript(TranscriptCommand::Recover { file, json }) => {
            let path = absolute(&file)?;
            match request_of(home, Request::TranscriptRecover { path })? {
                Reply::TranscriptRecovered(recovered) => {
                    render::transcript_recovered(&recovered, json)
                }
                other => Err(unexpected(other)),
            }
        }
        #[cfg(feature = "tools")]
        Command::Demo | Command::Bench { .. } => unreachable!("handled before a home is needed"),
        Command::Relay(_) => unreachable!("handled before a home is needed"),
    }
}

fn init(home: &Home, name: String, lang: String, listen: String) -> anyhow::Result<()> {
    let config = Config::new(name, lang, listen);
    let identity = Node::init(home, config, utc_now_ms())?;
    println!("station created in {}", home.root().display());
    println!("fingerprint: {}", identity.fingerprint());
    Ok(())
}

/// Runs `request` on the station of `home`: on the station itself under the station lock when
/// no daemon runs, else through the daemon's API. The same core runs it either way.
pub fn request_of(home: &Home, request: Request) -> Result<Reply, ApiError> {
    match lock_or_call(home, &request)? {
        Ok(_lock) => {
            let mut node = Node::open(home).map_err(|error| ApiError::from(&error))?;
            edge::perform(request, |command| node.execute(command))
        }
        Err(answer) => Ok(answer),
    }
}

/// How long a command waits before trying the station lock again, in milliseconds.
const LOCK_RETRY_MS: u64 = 20;

/// The station lock (`Ok`), or the daemon's answer to `request` when a daemon holds it
/// (`Err`). The lock may be held for a moment by another command on a stopped station, with
/// no daemon to answer: while the daemon's API cannot be reached (nothing was sent), the lock
/// is tried again, for up to [`LOCK_WAIT_MS_MAX`], as `parley run` waits for it.
fn lock_or_call(home: &Home, request: &Request) -> Result<Result<std::fs::File, Reply>, ApiError> {
    let deadline = Instant::now() + Duration::from_millis(LOCK_WAIT_MS_MAX);
    loop {
        if let Some(lock) = home.try_lock().map_err(|error| ApiError::from(&error))? {
            return Ok(Ok(lock));
        }
        match client::call(home, request) {
            Err(error) if error.class == ErrorClass::Unreachable && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(LOCK_RETRY_MS));
            }
            answer => return answer.map(Err),
        }
    }
}

/// Prints the id of the entry a command wrote (`send`, `understood`, `clarify`, `cancel`,
/// `test`): one line, for scripts.
pub fn written(reply: Reply) -> anyhow::Result<()> {
    match reply {
        Reply::Sent(sent)
        | Reply::Answered(sent)
        | Reply::Cancelled(sent)
        | Reply::Translated(sent)
        | Reply::TestSent(sent)
        | Reply::CheckpointIssued(sent) => {
            println!("{}", sent.id);
            Ok(())
        }
        other => Err(unexpected(other)),
    }
}

/// Who the operator is: `--operator` (or `$PARLEY_OPERATOR`) as given, a blank one refused
/// by the station; when neither is given, the first of `$USER` and `$LOGNAME` that is not
/// blank, else `operator`.
pub fn operator_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        [std::env::var("USER").ok(), std::env::var("LOGNAME").ok()]
            .into_iter()
            .flatten()
            .find(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "operator".to_owned())
    })
}

/// An RFC 3339 time as UTC milliseconds.
pub fn parse_time(text: &str) -> anyhow::Result<u64> {
    let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|error| {
            ApiError::operator(format!(
                "{text:?} is not an RFC 3339 time such as 2026-12-01T09:00:00Z: {error}"
            ))
        })?;
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::operator(format!("{text:?} is before 1970")).into())
}

/// An answer of the wrong kind: the daemon and this command disagree.
pub fn unexpected(reply: Reply) -> anyhow::Error {
    ApiError::new(ErrorClass::Local, format!("unexpected answer: {reply:?}")).into()
}

/// Live status from the daemon, or status read from the store when none runs.
fn status(home: &Home) -> anyhow::Result<StatusReport> {
    let reply = match lock_or_call(home, &Request::Status)? {
        Ok(_lock) => {
            let mut node = Node::open_read_only(home)?;
            node.execute(parley_station::core::Command::Status)?
        }
        Err(answer) => answer,
    };
    match reply {
        Reply::Status(report) => Ok(*report),
        other => Err(unexpected(other)),
    }
}

fn watch(home: &Home, json: bool) -> anyhow::Result<()> {
    for event in client::subscribe(home)? {
        render::event(&event?, json)?;
    }
    Ok(())
}

fn channel_add(
    home: &Home,
    peer: String,
    kind: AddedChannel,
    target: String,
    card: Option<PathBuf>,
    fingerprint: Option<String>,
) -> anyhow::Result<()> {
    let kind = match kind {
        AddedChannel::Relay => ChannelKind::Relay,
        AddedChannel::Courier => ChannelKind::Courier,
    };
    let card = card
        .map(|file| read_input(&file, CARD_TEXT_SIZE_MAX_BYTES, "the card"))
        .transpose()?;
    let target = match kind {
        ChannelKind::Courier => absolute(Path::new(&target))?.display().to_string(),
        _ => target,
    };
    let request = Request::ChannelAdd {
        peer: peer.clone(),
        kind,
        target: target.clone(),
        card,
        fingerprint,
    };
    match request_of(home, request)? {
        Reply::ChannelAdded(added) => println!(
            "{} channel {} added to the link with {}",
            added.kind.name(),
            render::text(&added.target),
            render::quoted(&peer)
        ),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Reads an operator's input file (`-`: standard input) holding `what`, as UTF-8 text of at
/// most `max` bytes. A symbolic link is followed (the operator named it), but the file it
/// leads to is read as courier bundles are: anything but a regular file (a FIFO, a device, a
/// directory) is refused before a byte is read, and so is anything over `max`, never cut
/// short.
pub fn read_input(file: &Path, max: usize, what: &str) -> anyhow::Result<String> {
    let refused = |why: String| -> anyhow::Error {
        ApiError::operator(format!("{why}; nothing was changed")).into()
    };
    let bytes = if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| refused(format!("reading {what} from standard input: {error}")))?;
        if bytes.len() > max {
            return Err(refused(format!(
                "{what} on standard input is over the limit of {max} bytes"
            )));
        }
        bytes
    } else {
        let resolved = std::fs::canonicalize(file).map_err(|error| {
            let file = render::text(&file.display().to_string());
            refused(format!("cannot open {file}: {error}"))
        })?;
        courier::read_bounded(&resolved, max)
            .map_err(|error| refused(format!("{what}: {error}")))?
    };
    String::from_utf8(bytes).map_err(|_| {
        let file = render::text(&file.display().to_string());
        refused(format!("{what} in {file} is not UTF-8 text"))
    })
}

pub fn store_read(home: &Home) -> anyhow::Result<Store> {
    home.config()?;
    Ok(Store::open_read_only(&home.store_path())?)
}

fn transcript_export(home: &Home, peer: &str, out: &Path) -> anyhow::Result<()> {
    let kind = ExportKind::TRANSCRIPT;
    let target = courier::check_export_target(out, kind).map_err(edge::export_refused)?;
    let node = Node::open_read_only(home)?;
    if target == courier::ExportTarget::Earlier {
        // Before the export is made: a transcript may be large.
        let ends = (
            node.station().identity().id(),
            node.station().resolve_peer(peer)?,
        );
        courier::check_same_ends(out, kind, Some(ends)).map_err(edge::export_refused)?;
    }
    let (name, text) = node.export_transcript(peer)?;
    courier::write_export_file(out, kind, text.as_bytes()).map_err(edge::export_refused)?;
    println!(
        "transcript of the link with {} written to {}",
        render::quoted(&name),
        render::text(&out.display().to_string())
    );
    Ok(())
}

pub fn transcript_verify(
    files: &[PathBuf],
    expect: &[String],
    checkpoints: &[PathBuf],
) -> anyhow::Result<()> {
    let pins = expect
        .iter()
        .map(|text| {
            Fingerprint::parse(text).ok_or_else(|| {
                ApiError::operator(format!(
                    "--expect {}: not a fingerprint; give the 32 hex digits `parley fingerprint` \
                     prints (separators and case do not matter); nothing was verified",
                    render::quoted(text)
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Untrusted text (names from cards, the JSON parser's account of a line) is escaped.
    let failed = |place: String, fault: String| {
        let message = format!("transcript verification FAILED{place}: {fault}");
        ApiError::new(ErrorClass::Peer, render::text(&message))
    };
    match files {
        [file] => {
            let verified = read_transcript(file)?.map_err(|error| {
                failed(
                    format!(" at line {}", located(&error)),
                    error.fault.to_string(),
                )
            })?;
            transcript::check_pins(&verified, &pins)
                .map_err(|error| failed(String::new(), error.to_string()))?;
            let mut proofs = Vec::new();
            for (shown, text) in read_notes(checkpoints, &failed)? {
                let proof = transcript::check_checkpoint(&verified, &text).map_err(|error| {
                    failed(String::new(), format!("checkpoint {shown}: {error}"))
                })?;
                proofs.push((shown, proof));
            }
            render::verified(&verified, &pins);
            render::checkpoint_proofs(&verified, &proofs);
        }
        [first, second] => {
            let mut verified = Vec::new();
            for file in [first, second] {
                let shown = render::text(&file.display().to_string());
                verified.push(read_transcript(file)?.map_err(|error| {
                    failed(
                        format!(" in {shown} at line {}", located(&error)),
                        error.fault.to_string(),
                    )
                })?);
            }
            let agreement = transcript::compare(&verified[0], &verified[1], &pins).map_err(
                |error| match error {
                    CompareError::Disagree(disagreement) => failed(
                        String::new(),
                        format!("the two transcripts disagree: {disagreement}"),
                    ),
                    other => failed(String::new(), other.to_string()),
                },
            )?;
            // A note vouches for the pair when it vouches for either export (formats.md §8.8).
            let mut proofs = [Vec::new(), Vec::new()];
            for (shown, text) in read_notes(checkpoints, &failed)? {
                let checked =
                    transcript::check_checkpoint_pair([&verified[0], &verified[1]], &text)
                        .map_err(|error| {
                            failed(String::new(), format!("checkpoint {shown}: {error}"))
                        })?;
                for (file, proof) in checked.into_iter().enumerate() {
                    if let Some(proof) = proof {
                        proofs[file].push((shown.clone(), proof));
                    }
                }
            }
            render::agreed(&agreement, [first.as_path(), second.as_path()], &pins);
            for (transcript, proofs) in verified.iter().zip(&proofs) {
                render::checkpoint_proofs(transcript, proofs);
            }
        }
        _ => unreachable!("the argument parser takes one or two files"),
    }
    Ok(())
}

/// `<n>[ (<entry>)]` of a verification error.
fn located(error: &TranscriptError) -> String {
    match &error.entry {
        Some(entry) => format!("{} ({entry})", error.line),
        None => error.line.to_string(),
    }
}

/// The checkpoint notes in `files`, each with its name as shown, read as hostile input.
fn read_notes(
    files: &[PathBuf],
    failed: &dyn Fn(String, String) -> ApiError,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut notes = Vec::new();
    for file in files {
        let shown = render::text(&file.display().to_string());
        let bytes = courier::read_bounded(file, parley_proto::tlog::note::NOTE_SIZE_MAX_BYTES)
            .map_err(|error| {
                ApiError::operator(format!(
                    "cannot read the checkpoint {shown}: {}; nothing was verified",
                    render::text(&error.to_string())
                ))
            })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            failed(
                String::new(),
                format!("the checkpoint {shown} is not UTF-8 text"),
            )
        })?;
        notes.push((shown, text));
    }
    Ok(notes)
}

/// Reads a transcript file as hostile input (a bounded regular file, no link followed) and
/// verifies it. A file that cannot be read is the operator's error; one that does not verify
/// is the inner error.
fn read_transcript(file: &Path) -> anyhow::Result<Result<VerifiedTranscript, TranscriptError>> {
    let bytes =
        courier::read_bounded(file, transcript::TRANSCRIPT_SIZE_MAX_BYTES).map_err(|error| {
            ApiError::operator(format!(
                "cannot read the transcript: {}; nothing was verified",
                render::text(&error.to_string())
            ))
        })?;
    Ok(transcript::verify(&bytes))
}

/// The class of an error, from the first cause in its chain that knows it: what the exit
/// code says.
pub fn class_of(error: &anyhow::Error) -> ErrorClass {
    for cause in error.chain() {
        if let Some(api) = cause.downcast_ref::<ApiError>() {
            return api.class;
        }
        if let Some(station) = cause.downcast_ref::<parley_station::StationError>() {
            return station.class();
        }
        if let Some(relay) = cause.downcast_ref::<parley_relay::HomeError>() {
            return crate::relay::class_of(relay);
        }
    }
    ErrorClass::Local
}
