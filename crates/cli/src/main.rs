//! `parley`: the command-line interface of a parley station.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[cfg(feature = "tools")]
mod bench;
mod codebook;
mod commands;
#[cfg(feature = "tools")]
mod demo;
pub mod exit;
mod operator;
mod output;
mod relay;
mod render;

/// parley, a crisis hotline: signed, end-to-end encrypted, durable messages between stations
/// that do not trust each other.
///
/// Plain, without colours: a usage error quotes an argument as typed and is printed escaped
/// (`output::report_usage`), which colours' escape sequences would not survive.
#[derive(Parser, Debug)]
#[command(name = "parley", version, about, long_about = None)]
#[command(styles = clap::builder::Styles::plain())]
pub struct Cli {
    /// Station home directory (default: $PARLEY_HOME, else the platform data directory).
    #[arg(long, global = true, env = "PARLEY_HOME")]
    pub home: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Who at this station writes an entry whose body names no operator.
#[derive(Args, Debug)]
pub struct Writer {
    /// Who writes it, named in the signed entry (default: $PARLEY_OPERATOR; with neither,
    /// the entry names no operator, as a script's does).
    #[arg(long, env = "PARLEY_OPERATOR")]
    pub operator: Option<String>,
}

/// Commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a station: identity key, epoch key, store and configuration.
    Init {
        /// Station name shown to peers.
        #[arg(long)]
        name: String,
        /// Working language of the operators (BCP 47 tag).
        #[arg(long, default_value = "en")]
        lang: String,
        /// UDP address for the direct channel, also advertised in the card.
        #[arg(long, default_value = parley_station::home::DEFAULT_LISTEN)]
        listen: String,
    },
    /// Print this station's fingerprint, one line.
    Fingerprint,
    /// Print this station's signed contact card as pasteable text.
    Card,
    /// Pair with peers and list them.
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Run the station daemon in the foreground (logs to stderr; SIGINT/SIGTERM stop it).
    Run,
    /// Send a message, or a pre-agreed one of the agreed codebook by its number (`--code`);
    /// prints its id once it is durable.
    Send {
        /// Peer name or fingerprint.
        peer: String,
        /// Handling precedence.
        #[arg(long, value_enum, default_value = "routine")]
        precedence: PrecedenceArg,
        /// Mark the message EXERCISE (practice, not real traffic) in every display.
        #[arg(long)]
        exercise: bool,
        /// The text (not with --code).
        #[arg(required_unless_present = "code", conflicts_with = "code")]
        text: Option<String>,
        /// Send the agreed codebook's code N instead of a text: each side reads it in its own
        /// language.
        #[arg(long, value_name = "N")]
        code: Option<u64>,
        /// A parameter of the code, NAME=VALUE (repeat for each; docs/codebook.md gives the
        /// syntax of each type).
        #[arg(long = "param", value_name = "NAME=VALUE", requires = "code")]
        params: Vec<String>,
        /// Your own translation of the text, LANG=TEXT (repeat for each language); signed
        /// with the message.
        #[arg(
            long = "translation",
            value_name = "LANG=TEXT",
            conflicts_with = "code"
        )]
        translations: Vec<String>,
        #[command(flatten)]
        writer: Writer,
    },
    /// Send a formatted notice of the agreed codebook; every field and rule is checked
    /// before anything is stored. Prints its id once it is durable.
    Notice {
        /// Peer name or fingerprint.
        peer: String,
        /// The form's name, as `codebook show` lists it.
        form: String,
        /// A field, NAME=VALUE (repeat for each).
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        /// Handling precedence.
        #[arg(long, value_enum, default_value = "routine")]
        precedence: PrecedenceArg,
        /// Mark the notice EXERCISE.
        #[arg(long)]
        exercise: bool,
        #[command(flatten)]
        writer: Writer,
    },
    /// Agree a codebook with a peer: propose, accept, show.
    #[command(subcommand)]
    Codebook(CodebookCommand),
    /// Add your translation of a message (either side's); signed, shown beside the original.
    Translate {
        /// The message's id, or a unique prefix of it.
        id: String,
        /// The translation's language (BCP 47 tag).
        lang: String,
        /// The translation.
        text: String,
        /// Who translated it (default: $PARLEY_OPERATOR, else the login name).
        #[arg(long, env = "PARLEY_OPERATOR")]
        operator: Option<String>,
    },
    /// Answer a peer's message (or operator test): understood, optionally restated in your
    /// own words. Prints the answer's id once it is durable.
    Understood {
        /// The message's id, or a unique prefix of it.
        id: String,
        /// The message as you understood it, in your own words.
        #[arg(long = "restate")]
        restatement: Option<String>,
        /// Who answers (default: $PARLEY_OPERATOR, else the login name).
        #[arg(long, env = "PARLEY_OPERATOR")]
        operator: Option<String>,
    },
    /// Answer a peer's message with a question: answered, not understood.
    Clarify {
        /// The message's id, or a unique prefix of it.
        id: String,
        /// The question.
        question: String,
        /// Who asks (default: $PARLEY_OPERATOR, else the login name).
        #[arg(long, env = "PARLEY_OPERATOR")]
        operator: Option<String>,
    },
    /// Withdraw one of this station's messages with a signed cancellation (the original is
    /// kept and shown as cancelled). A FLASH is cancelled at FLASH.
    Cancel {
        /// The message's id, or a unique prefix of it.
        id: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        writer: Writer,
    },
    /// Send an end-to-end test to PEER now.
    Test {
        /// Peer name or fingerprint.
        peer: String,
        #[command(flatten)]
        writer: Writer,
    },
    /// Received messages and tests, per sender in seq order.
    Inbox {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
        /// Only those waiting for this station's answer, the most urgent first.
        #[arg(long)]
        pending: bool,
    },
    /// Sent messages and tests with their state: queued, sent, delivered, understood or
    /// clarify.
    Outbox {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Alarms not cleared, newest first.
    Alarms {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
        /// Every alarm, cleared ones included.
        #[arg(long)]
        all: bool,
    },
    /// Act on an alarm.
    #[command(subcommand)]
    Alarm(AlarmCommand),
    /// Signed checkpoints of a link's two logs, cosigned by the other side: show them, or
    /// sign one now.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// This station's keys: make a new one.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Speed of service per precedence: receipt and understood times, overdue counts.
    Stats {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
        /// Only messages sent since this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
    },
    /// Peers, channels, health and queue depths.
    Status {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Follow a running daemon's events (messages stored, receipts, channel changes, alarms)
    /// until interrupted.
    Watch {
        /// One JSON object per line (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Add and list the channels of each link (direct, relay, courier).
    #[command(subcommand)]
    Channel(ChannelCommand),
    /// Carry traffic on removable media: write and read signed bundles.
    #[command(subcommand)]
    Courier(CourierCommand),
    /// Export and verify transcripts.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
    /// Operator accounts of the web console: add, list, remove (in console.sqlite; with or
    /// without a running daemon).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// The audit log of what each operator did (console and account changes), oldest first.
    Audit {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
        /// Only rows from this time on (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only rows of this operator.
        #[arg(long)]
        operator: Option<String>,
    },
    /// Run a relay: the neutral store-and-forward mailbox service a facilitator operates.
    #[command(subcommand)]
    Relay(relay::RelayCommand),
    /// Run two stations on loopback and show every guarantee at work.
    #[cfg(feature = "tools")]
    Demo,
    /// Measure durable end-to-end latency and throughput between two stations on loopback
    /// (`bench idle`: what an idle link costs).
    #[cfg(feature = "tools")]
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        /// Another measurement than latency and throughput.
        #[command(subcommand)]
        mode: Option<BenchMode>,
        /// Messages for the throughput run.
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
        /// Text size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Messages for the latency run (one at a time).
        #[arg(long, default_value_t = 2_000)]
        latency_messages: u64,
        /// Channels of the link, comma-separated: direct, relay, courier. Each envelope goes
        /// out on all of them; a relay process and a shared drop folder are set up as needed.
        #[arg(long, value_delimiter = ',', default_value = "direct")]
        channels: Vec<bench::ChannelChoice>,
        /// Cut the direct path (a UDP blackhole, both ways) once every channel is up, and
        /// measure what the other channels deliver (the same as `--blackhole direct`).
        #[arg(long)]
        blackhole_direct: bool,
        /// Channels to cut once every channel is up, comma-separated: direct (a UDP blackhole,
        /// waited until both stations see it down), relay (a TCP blackhole in front of the
        /// relay: connections stay open, nothing gets through; measured at once, while the
        /// stations still believe it up).
        #[arg(long, value_delimiter = ',')]
        blackhole: Vec<bench::BlackholeChoice>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `bench` measurements besides latency and throughput.
#[cfg(feature = "tools")]
#[derive(Subcommand, Clone, Debug)]
pub enum BenchMode {
    /// Two stations and a relay as processes, the link up on direct, relay and courier, and
    /// nothing sent: each process's CPU and memory, and the loopback traffic, over a window.
    Idle {
        /// How long to measure, in seconds, once every channel is up (1–86,400).
        #[arg(
            long,
            default_value_t = 60,
            value_parser = clap::value_parser!(u64)
                .range(bench::idle::IDLE_SECONDS_MIN..=bench::idle::IDLE_SECONDS_MAX)
        )]
        seconds: u64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// A relay process and many admitted stations (their clients in this process), every
    /// station long-polling its mailbox and depositing signed envelopes to the others at an
    /// offered total rate: durable deposits a second, deposit and delivery latency, the
    /// relay's CPU and memory, idle and under load.
    Relay {
        /// Admitted stations, all depositing and polling (2–2,000).
        #[arg(
            long,
            default_value_t = 1_000,
            value_parser = clap::value_parser!(u64)
                .range(bench::relay::RELAY_STATIONS_MIN..=bench::relay::RELAY_STATIONS_MAX)
        )]
        stations: u64,
        /// How long to deposit, in seconds (1–3,600), after a 10 s idle window.
        #[arg(
            long,
            default_value_t = 20,
            value_parser = clap::value_parser!(u64)
                .range(bench::relay::RELAY_SECONDS_MIN..=bench::relay::RELAY_SECONDS_MAX)
        )]
        seconds: u64,
        /// Frames offered a second, all stations together (1–1,000,000).
        #[arg(
            long,
            default_value_t = 20_000,
            value_parser = clap::value_parser!(u64)
                .range(bench::relay::RELAY_RATE_MIN..=bench::relay::RELAY_RATE_MAX)
        )]
        rate: u64,
        /// Ciphertext bytes per frame (1–16,384).
        #[arg(
            long,
            default_value_t = 1_024,
            value_parser = clap::value_parser!(u64)
                .range(bench::relay::RELAY_SIZE_MIN..=bench::relay::RELAY_SIZE_MAX)
        )]
        size: u64,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `codebook` subcommands.
#[derive(Subcommand, Debug)]
pub enum CodebookCommand {
    /// Propose a codebook (a TOML file, docs/codebook.md) to a peer: it is checked, then sent
    /// whole as a signed entry. Prints its hash once it is durable.
    Propose {
        /// Peer name or fingerprint.
        peer: String,
        /// The codebook file (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        writer: Writer,
    },
    /// Accept a codebook the peer proposed; once both sides have, it is agreed.
    Accept {
        /// Peer name or fingerprint.
        peer: String,
        /// The codebook's hash (default: the one proposal waiting for this station; refused when
        /// none or several wait).
        hash: Option<String>,
        /// Who accepts (default: $PARLEY_OPERATOR, else the login name).
        #[arg(long, env = "PARLEY_OPERATOR")]
        operator: Option<String>,
    },
    /// Show the link's codebooks, agreed and pending, with their hashes, codes and forms.
    Show {
        /// Peer name or fingerprint.
        peer: String,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `operator` subcommands.
#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Create an account for the web console. The password is read from FILE (a trailing
    /// newline is not part of it), else asked for twice on the terminal without echo.
    Add {
        /// The login name (1 to 64 bytes, no control or text-direction characters).
        name: String,
        /// A file holding the password (12 to 1,024 bytes); `-` for standard input.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The console's interface language for this operator (default: the station's
        /// language if the console has it, else en).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            parley_station::accounts::OPERATOR_LANGS.iter().copied()
        ))]
        lang: Option<String>,
    },
    /// List the accounts: name, language, when created (never the password hash).
    List {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Remove an account. What the operator did stays in the audit log.
    Remove {
        /// The login name.
        name: String,
    },
}

/// `peer` subcommands.
#[derive(Subcommand, Debug)]
pub enum PeerCommand {
    /// Pin a peer from its card after checking its fingerprint out of band.
    Add {
        /// File holding the peer's card (`-` for standard input).
        file: PathBuf,
        /// The fingerprint the peer read to you out of band.
        #[arg(long)]
        fingerprint: String,
        /// Direct-channel address to use instead of the card's (IP:PORT).
        #[arg(long)]
        address: Option<String>,
    },
    /// List paired peers.
    List {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
}

/// `channel` subcommands.
#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Add a relay or courier channel to the link with PEER.
    ///
    /// `parley channel add PEER relay URL --card FILE --fingerprint FP` pins a relay by its
    /// card, checked against the fingerprint its operator gave you out of band.
    /// `parley channel add PEER courier DIR` adds a watched drop folder (a shared mount or a
    /// removable drive).
    Add {
        /// Peer name or fingerprint.
        peer: String,
        /// `relay` or `courier`.
        #[arg(value_enum)]
        kind: AddedChannel,
        /// The relay's URL (https://HOST:PORT) or the drop folder.
        target: String,
        /// File holding the relay's card (`-` for standard input); relay only.
        #[arg(long)]
        card: Option<PathBuf>,
        /// The relay's fingerprint, confirmed out of band; relay only.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// List every channel of every link with its state and counters.
    List {
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
}

/// `courier` subcommands.
#[derive(Subcommand, Debug)]
pub enum CourierCommand {
    /// Write a signed bundle of everything PEER has not receipted, plus a fresh receipt.
    Export {
        /// Peer name or fingerprint.
        peer: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a bundle written by a peer. Importing twice changes nothing.
    Import {
        /// The bundle file.
        file: PathBuf,
        /// If the bundle's own signature fails (damaged or altered), still keep each frame
        /// inside that verifies on its own. Without it such a bundle is refused whole.
        #[arg(long)]
        salvage: bool,
    },
}

/// `alarm` subcommands.
#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// Acknowledge an alarm: you have seen it and act on it. It stays open until its
    /// condition ends, and no longer escalates.
    Ack {
        /// The alarm's number, as `parley alarms` shows it.
        id: u64,
        /// A note for the record.
        #[arg(long)]
        note: Option<String>,
        /// Who acknowledges (default: $PARLEY_OPERATOR, else the login name).
        #[arg(long, env = "PARLEY_OPERATOR")]
        operator: Option<String>,
    },
}

/// `checkpoint` subcommands.
#[derive(Subcommand, Debug)]
pub enum CheckpointCommand {
    /// The latest checkpoints of this station's log and of PEER's, who cosigned them, and the
    /// sizes held.
    Show {
        /// Peer name or fingerprint.
        peer: String,
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of this station's log of the link with PEER now, instead of waiting
    /// for the cadence (`[checkpoints]` in parley.toml); prints the entry's id.
    Issue {
        /// Peer name or fingerprint.
        peer: String,
        #[command(flatten)]
        writer: Writer,
    },
}

/// `key` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Make a new epoch key current and announce it on every link (signed entries). Peers
    /// seal to it once they read the announcement; the old key is kept for what is still on
    /// its way (`[keys]` in parley.toml). Prints the new key's id.
    Rotate {
        /// Rotate the identity key instead (not available in this version; refused).
        #[arg(long)]
        identity: bool,
        /// JSON output (documented in docs/cli.md).
        #[arg(long)]
        json: bool,
    },
}

/// `transcript` subcommands.
#[derive(Subcommand, Debug)]
pub enum TranscriptCommand {
    /// Write the full signed record of the link with PEER to a file.
    Export {
        /// Peer name or fingerprint.
        peer: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check every signature, chain link, `seen` and receipt of a transcript, and say what it
    /// proves; exit 0 only if all hold.
    ///
    /// `parley transcript verify FILE` checks one export. `parley transcript verify FILE OTHER
    /// --expect FP [--expect FP]` checks one export from each side of a link and that the two
    /// agree, which proves what one file cannot: that neither was cut.
    Verify {
        /// The transcript file; a second file is the other side's export of the same link.
        #[arg(num_args = 1..=TRANSCRIPT_FILES_MAX, required = true)]
        files: Vec<PathBuf>,
        /// A station's fingerprint, as `parley fingerprint` prints it: the transcript must be
        /// of this station's key. At most two; at least one with two files.
        #[arg(long, value_name = "FP")]
        expect: Vec<String>,
        /// A signed checkpoint note obtained apart from the transcript (from `parley checkpoint
        /// show`, the peer, a witness): the log it names must be in the file up to its size,
        /// with its root (of two files, in either: the other may hold less). At most eight.
        #[arg(long, value_name = "NOTE")]
        checkpoint: Vec<PathBuf>,
    },
    /// Compare a transcript (the peer's export, or a copy someone else holds) with this
    /// station's own record of the link; exit 0 only if they agree.
    ///
    /// The file is verified as `transcript verify` does, then each of its two logs is compared
    /// entry by entry with the entries this station holds. An entry of the peer's log that
    /// differs from the one held here raises an `equivocation` alarm, one of this station's
    /// own log a `split_view` alarm; either keeps the file's entry as evidence, and the
    /// command then exits 4.
    Check {
        /// The transcript file.
        file: PathBuf,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take back this station's own entries that its store lost (put back to an older copy)
    /// from a transcript of the link that holds them: the peer's export, or an earlier one of
    /// this station's own.
    ///
    /// The file is verified and compared as `transcript check` does; it must agree with this
    /// station's record. The entries of this station's log it holds beyond this store's, up
    /// to where the peer's receipt in the file covers them, are appended as they were signed,
    /// and that receipt is applied. Once the log reaches as far as the peer's receipts
    /// covered it, new entries to the peer are written again.
    Recover {
        /// The transcript file.
        file: PathBuf,
        /// Print what was taken back as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Most checkpoint notes `transcript verify` checks against.
pub const TRANSCRIPT_CHECKPOINTS_MAX: usize = 8;
/// Most transcript files `transcript verify` compares: one export from each side.
pub const TRANSCRIPT_FILES_MAX: usize = 2;
/// Most fingerprints `transcript verify` pins: the link's two stations.
pub const TRANSCRIPT_PINS_MAX: usize = 2;

impl Cli {
    /// What the argument parser cannot say: `transcript verify` with two files needs a pinned
    /// key, and pins at most the link's two stations. A usage error, like the parser's own.
    fn checked(self) -> Result<Self, clap::Error> {
        use clap::CommandFactory as _;
        use clap::error::ErrorKind;
        if let Command::Transcript(TranscriptCommand::Verify {
            files,
            expect,
            checkpoint,
        }) = &self.command
        {
            let problem = if files.len() == TRANSCRIPT_FILES_MAX && expect.is_empty() {
                Some("two transcripts are compared only with a pinned key: add --expect FP")
            } else if expect.len() > TRANSCRIPT_PINS_MAX {
                Some("--expect is given at most twice, once for each station of the link")
            } else if let [one, other] = &expect[..]
                && parley_proto::Fingerprint::parse(one).is_some()
                && parley_proto::Fingerprint::parse(one) == parley_proto::Fingerprint::parse(other)
            {
                Some("--expect names the same fingerprint twice: give each station's once")
            } else if checkpoint.len() > TRANSCRIPT_CHECKPOINTS_MAX {
                Some("--checkpoint is given at most eight times")
            } else {
                None
            };
            if let Some(problem) = problem {
                let mut command = Cli::command();
                command.build();
                let verify = command
                    .find_subcommand_mut("transcript")
                    .and_then(|transcript| transcript.find_subcommand_mut("verify"))
                    .expect("the command tree has transcript verify");
                return Err(verify.error(ErrorKind::ArgumentConflict, problem));
            }
        }
        Ok(self)
    }
}

/// The channels a link can be given (every link has its direct channel).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum AddedChannel {
    /// A neutral relay's mailbox.
    Relay,
    /// A drop folder.
    Courier,
}

/// Precedence levels.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PrecedenceArg {
    /// Handle within 10 minutes.
    Flash,
    /// Handle within 30 minutes.
    Immediate,
    /// Handle within 3 hours.
    Priority,
    /// Handle within 6 hours.
    Routine,
}

fn main() -> ExitCode {
    output::quiet_when_output_closes();
    let cli = match Cli::try_parse().and_then(Cli::checked) {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version print and succeed.
            let _ = error.print();
            return ExitCode::from(exit::OK);
        }
        Err(error) => {
            // Plain styles: the text holds no escape sequence but those typed.
            output::report_usage(&error.render().ansi().to_string());
            return ExitCode::from(exit::USAGE);
        }
    };
    let daemon = match &cli.command {
        Command::Run => true,
        Command::Relay(relay) => relay.is_server(),
        _ => false,
    };
    output::init_logging(daemon);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A command writing to standard output itself (not through `println!`) meets the
        // reader going away as an error: the same quiet end.
        Err(error) if output::is_output_closed(&error) => ExitCode::from(exit::OUTPUT_CLOSED),
        Err(error) => {
            output::report(&error);
            ExitCode::from(exit::of(commands::class_of(&error)))
        }
    }
}

fn home_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.home {
        Some(home) => Ok(home.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("parley"))
            .context("no --home, no PARLEY_HOME and no platform data directory; pass --home DIR"),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        #[cfg(feature = "tools")]
        Command::Demo => return demo::run(),
        #[cfg(feature = "tools")]
        Command::Bench {
            mode: Some(BenchMode::Idle { seconds, json }),
            ..
        } => return bench::idle::run(*seconds, *json),
        #[cfg(feature = "tools")]
        Command::Bench {
            mode:
                Some(BenchMode::Relay {
                    stations,
                    seconds,
                    rate,
                    size,
                    json,
                }),
            ..
        } => {
            return bench::relay::run(&bench::relay::Options {
                stations: *stations,
                seconds: *seconds,
                rate: *rate,
                size: *size,
                json: *json,
            });
        }
        #[cfg(feature = "tools")]
        Command::Bench {
            mode: None,
            messages,
            size,
            latency_messages,
            channels,
            blackhole_direct,
            blackhole,
            json,
        } => {
            return bench::run(&bench::Options {
                messages: *messages,
                size: *size,
                latency_messages: *latency_messages,
                channels: channels.clone(),
                blackhole_direct: *blackhole_direct
                    || blackhole.contains(&bench::BlackholeChoice::Direct),
                blackhole_relay: blackhole.contains(&bench::BlackholeChoice::Relay),
                json: *json,
            });
        }
        Command::Transcript(TranscriptCommand::Verify {
            files,
            expect,
            checkpoint,
        }) => {
            return commands::transcript_verify(files, expect, checkpoint);
        }
        Command::Relay(command) => {
            let home = relay::home_or_default(cli.home.as_deref())?;
            return relay::run(&home, command.clone());
        }
        _ => {}
    }
    let home = parley_station::Home::new(home_dir(&cli)?);
    commands::dispatch(&home, cli.command)
}
