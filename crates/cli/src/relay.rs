//! The `parley relay …` commands, for the operator of a relay (the facilitator): they act on a
//! relay home through `parley_relay`'s administration API and print for humans (and `--json`
//! for scripts). Text that came from others (station names, checkpoints submitted to the
//! witness) is escaped before it reaches the terminal; `--json` stays exact.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use parley_proto::Fingerprint;
use parley_proto::card::CARD_TEXT_SIZE_MAX_BYTES;
use serde_json::json;

use crate::render::instant;
use parley_relay::server::{self, now_ms};
use parley_relay::store::{StationRow, WitnessConflict, WitnessedLog};
use parley_relay::witness::ConflictReason;
use parley_relay::{HomeError, RelayHome, ServeOptions};
use parley_station::ErrorClass;

/// Default relay home directory under the platform data directory.
pub const DEFAULT_HOME_DIR: &str = "parley-relay";

/// `parley relay` subcommands.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum RelayCommand {
    /// Create a relay: identity key, store and relay.toml.
    Init {
        /// Relay name shown in its card.
        #[arg(long)]
        name: String,
    },
    /// Print this relay's fingerprint, one line.
    Fingerprint,
    /// Print this relay's signed contact card as pasteable text.
    Card,
    /// Admit a station from its card after checking its fingerprint out of band.
    Admit {
        /// File holding the station's card (`-` for standard input).
        file: PathBuf,
        /// The fingerprint the station's operator read to you out of band.
        #[arg(long)]
        fingerprint: String,
    },
    /// List admitted and revoked stations.
    List {
        /// JSON output: an array of {name, fingerprint, station_id, admitted_ms, revoked_ms}.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a station: its requests are refused at once and its mailbox is deleted.
    Revoke {
        /// The station's name, as listed.
        name: String,
    },
    /// Serve the relay API over TLS until SIGINT/SIGTERM (logs to stderr).
    Serve {
        /// TCP address to listen on, e.g. 127.0.0.1:7400.
        #[arg(long)]
        listen: SocketAddr,
        /// Also serve Prometheus metrics at http://ADDR/metrics (plain HTTP), e.g.
        /// 127.0.0.1:9465.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
        /// Also serve as a C2SP transparency-log witness (c2sp.org/tlog-witness) of the
        /// admitted stations' link logs: POST /witness/add-checkpoint, GET
        /// /witness/<origin hash>/checkpoint.
        #[arg(long)]
        witness: bool,
    },
    /// List what this relay holds as a witness: the last checkpoint it cosigned of each log,
    /// and the conflicts it kept (checkpoints signed by a log's author that it could not
    /// reconcile with it: a fork, or a bad consistency proof).
    Witness {
        /// JSON output: {witness, logs: [{origin, author, author_name, peer, size, root,
        /// cosigned_ms, conflicts_seen, note}], conflicts: [{origin, reason, seen_ms, old_size,
        /// proof, held_note, new_note}]}.
        #[arg(long)]
        json: bool,
    },
}

impl RelayCommand {
    /// Whether the command runs the server (whose logs should be shown at `info`).
    pub fn is_server(&self) -> bool {
        matches!(self, RelayCommand::Serve { .. })
    }
}

/// The relay home to use: `home` if given, else `<platform data directory>/parley-relay`.
pub fn home_or_default(home: Option<&Path>) -> anyhow::Result<PathBuf> {
    match home {
        Some(home) => Ok(home.to_path_buf()),
        None => dirs::data_dir()
            .map(|dir| dir.join(DEFAULT_HOME_DIR))
            .context("no --home, no PARLEY_HOME and no platform data directory; pass --home DIR"),
    }
}

/// Runs a relay command against the relay home `home`.
pub fn run(home: &Path, command: RelayCommand) -> anyhow::Result<()> {
    let home = RelayHome::new(home);
    match command {
        RelayCommand::Init { name } => {
            let identity = home.init(&name, now_ms())?;
            println!("relay created in {}", home.root().display());
            println!("fingerprint: {}", identity.fingerprint());
        }
        RelayCommand::Fingerprint => println!("{}", home.identity()?.fingerprint()),
        RelayCommand::Card => {
            let (card, signed) = home.card()?;
            print!("{}", card.to_text(&signed));
        }
        RelayCommand::Admit { file, fingerprint } => {
            let card = read_card(&file)?;
            let station = home.admit(&card, &fingerprint, now_ms())?;
            println!(
                "admitted {} ({})",
                crate::render::quoted(&station.name),
                station.fingerprint()?
            );
        }
        RelayCommand::List { json } => list(&home, json)?,
        RelayCommand::Revoke { name } => {
            let deleted = home.revoke(&name, now_ms())?;
            println!(
                "revoked {}; {deleted} items of its mailbox deleted",
                crate::render::text(&name)
            );
        }
        RelayCommand::Serve {
            listen,
            metrics,
            witness,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let options = ServeOptions { metrics, witness };
            runtime.block_on(server::serve_until_signal(&home, listen, options))?;
        }
        RelayCommand::Witness { json } => witness(&home, json)?,
    }
    Ok(())
}

/// The class of a relay administration error, for the exit code.
pub fn class_of(error: &HomeError) -> ErrorClass {
    match error {
        HomeError::NotInitialised(_)
        | HomeError::AlreadyInitialised(_)
        | HomeError::Config(_)
        | HomeError::FingerprintSyntax(_) => ErrorClass::Operator,
        HomeError::Card(_) | HomeError::FingerprintMismatch { .. } => ErrorClass::Peer,
        HomeError::Store(store) if store.is_refusal() => ErrorClass::Operator,
        _ => ErrorClass::Local,
    }
}

/// The card in `file` (`-`: standard input), read as any file from outside is: a regular file
/// within the card limit, never blocking on a FIFO or a device.
fn read_card(file: &Path) -> anyhow::Result<String> {
    crate::commands::read_input(file, CARD_TEXT_SIZE_MAX_BYTES, "the card")
}

fn station_json((station, fingerprint): &(StationRow, Fingerprint)) -> serde_json::Value {
    json!({
        "name": station.name,
        "fingerprint": fingerprint.to_string(),
        "station_id": station.id.to_string(),
        "admitted_ms": station.admitted_ms,
        "revoked_ms": station.revoked_ms,
    })
}

fn list(home: &RelayHome, as_json: bool) -> anyhow::Result<()> {
    let stations = home.list()?;
    if as_json {
        let list: Vec<_> = stations.iter().map(station_json).collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    if stations.is_empty() {
        println!("no stations admitted");
    }
    for (station, fingerprint) in &stations {
        let state = match station.revoked_ms {
            None => "admitted".to_owned(),
            Some(ms) => format!("revoked at {ms}"),
        };
        println!(
            "{:<22}  {fingerprint}  {state}",
            crate::render::quoted(&station.name),
        );
    }
    Ok(())
}

/// What the witness holds, with the names of the logs' authors.
struct WitnessReport {
    name: String,
    logs: Vec<WitnessedLog>,
    conflicts: Vec<WitnessConflict>,
    stations: Vec<(StationRow, Fingerprint)>,
}

impl WitnessReport {
    /// The name `author` was admitted under, if it was.
    fn author_name(&self, author: &parley_proto::StationId) -> Option<&str> {
        self.admitted(author)
            .map(|(station, _)| station.name.as_str())
    }

    /// `author`'s fingerprint: its admitted card's, or its key's if it was never admitted.
    fn author_fingerprint(&self, author: &parley_proto::StationId) -> Fingerprint {
        self.admitted(author)
            .map_or_else(|| author.key_fingerprint(), |(_, fingerprint)| *fingerprint)
    }

    fn admitted(&self, author: &parley_proto::StationId) -> Option<&(StationRow, Fingerprint)> {
        self.stations
            .iter()
            .find(|(station, _)| station.id == *author)
    }
}

fn witness(home: &RelayHome, as_json: bool) -> anyhow::Result<()> {
    let (logs, conflicts) = home.witnessed()?;
    let report = WitnessReport {
        name: parley_relay::witness::name(&home.identity()?.id()),
        logs,
        conflicts,
        stations: home.list()?,
    };
    if as_json {
        println!("{}", witness_json(&report));
        return Ok(());
    }
    print!("{}", witness_text(&report));
    Ok(())
}

fn witness_json(report: &WitnessReport) -> serde_json::Value {
    let logs: Vec<_> = report
        .logs
        .iter()
        .map(|log| {
            let peer = parley_relay::witness::link_of(&log.origin).map(|(_, peer)| peer);
            json!({
                "origin": log.origin,
                "author": log.author.to_string(),
                "author_name": report.author_name(&log.author),
                "peer": peer.map(|peer| peer.to_string()),
                "size": log.size,
                "root": parley_relay::witness::encode_hash(&log.root),
                "cosigned_ms": log.cosigned_ms,
                "conflicts_seen": log.conflicts_seen,
                "note": log.note,
            })
        })
        .collect();
    let conflicts: Vec<_> = report
        .conflicts
        .iter()
        .map(|conflict| {
            let proof: Vec<String> = conflict
                .proof
                .iter()
                .map(parley_relay::witness::encode_hash)
                .collect();
            json!({
                "origin": conflict.origin,
                "reason": conflict.reason.name(),
                "seen_ms": conflict.seen_ms,
                "old_size": conflict.old_size,
                "proof": proof,
                "held_note": conflict.held_note,
                "new_note": conflict.new_note,
            })
        })
        .collect();
    json!({ "witness": report.name, "logs": logs, "conflicts": conflicts })
}

/// The report for a terminal: every text from a checkpoint escaped, line by line.
fn witness_text(report: &WitnessReport) -> String {
    use std::fmt::Write as _;
    let text = crate::render::text;
    let mut out = format!("witness {}\n", text(&report.name));
    match report.logs.len() {
        0 => out.push_str("no logs witnessed\n"),
        n => {
            let _ = writeln!(out, "logs witnessed: {n}");
        }
    }
    for log in &report.logs {
        let author = report
            .author_name(&log.author)
            .map_or_else(|| "(not admitted)".to_owned(), crate::render::quoted);
        let _ = writeln!(
            out,
            "  {}\n    author {author} ({}), size {}, cosigned {}, conflicts seen: {}",
            text(&log.origin),
            report.author_fingerprint(&log.author),
            log.size,
            instant(log.cosigned_ms),
            log.conflicts_seen,
        );
    }
    match report.conflicts.len() {
        0 => {
            out.push_str("no conflicts kept\n");
            return out;
        }
        n => {
            let _ = writeln!(out, "conflicts kept: {n}");
        }
    }
    for conflict in &report.conflicts {
        let why = match conflict.reason {
            ConflictReason::SameSizeDifferentRoot => {
                "same size, different root: evidence of a fork".to_owned()
            }
            ConflictReason::InconsistentProof => format!(
                "the consistency proof from size {} ({} hashes) did not verify: a fork, or a bad \
                 proof",
                conflict.old_size,
                conflict.proof.len()
            ),
        };
        let _ = writeln!(
            out,
            "  {} at {}: {why}",
            text(&conflict.origin),
            instant(conflict.seen_ms)
        );
        for (label, note) in [
            ("held", &conflict.held_note),
            ("submitted", &conflict.new_note),
        ] {
            let _ = writeln!(out, "    {label}:");
            for line in note.lines() {
                match line {
                    "" => out.push('\n'),
                    line => {
                        let _ = writeln!(out, "      {}", text(line));
                    }
                }
            }
        }
    }
    out
}
