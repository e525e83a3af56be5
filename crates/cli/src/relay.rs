//! The `parley relay …` commands, for the operator of a relay (the facilitator): they act on a
//! relay home through `parley_relay`'s administration API and print for humans (and `--json`
//! for scripts).

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use parley_proto::card::CARD_TEXT_SIZE_MAX_BYTES;
use serde_json::json;

use parley_relay::server::{self, now_ms};
use parley_relay::store::StationRow;
use parley_relay::{HomeError, RelayHome};
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
            println!("fingerprint: {}", identity.id().fingerprint());
        }
        RelayCommand::Fingerprint => println!("{}", home.identity()?.id().fingerprint()),
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
                station.id.fingerprint()
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
        RelayCommand::Serve { listen, metrics } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(server::serve_until_signal(&home, listen, metrics))?;
        }
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

fn read_card(file: &Path) -> anyhow::Result<String> {
    let limit = CARD_TEXT_SIZE_MAX_BYTES as u64 + 1;
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_string(&mut text)
            .context("reading the card from standard input")?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(limit).read_to_string(&mut text))
            .with_context(|| format!("reading the card from {}", file.display()))?;
    }
    Ok(text)
}

fn station_json(station: &StationRow) -> serde_json::Value {
    json!({
        "name": station.name,
        "fingerprint": station.id.fingerprint().to_string(),
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
    for station in &stations {
        let state = match station.revoked_ms {
            None => "admitted".to_owned(),
            Some(ms) => format!("revoked at {ms}"),
        };
        println!(
            "{:<22}  {}  {state}",
            crate::render::quoted(&station.name),
            station.id.fingerprint()
        );
    }
    Ok(())
}
