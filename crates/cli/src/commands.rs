//! The station commands: each works on a stopped station directly (under the station lock)
//! and on a running one through its operator API.

use std::io::Read as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use parley_proto::receipt::Receipt;
use parley_proto::transcript::{self, TranscriptParts};
use parley_proto::{EntryId, LinkId, Precedence};
use parley_station::api::{self, Request};
use parley_station::clock::utc_now_ms;
use parley_station::home::Config;
use parley_station::{Home, Node, status};
use parley_store::Store;
use serde_json::{Value, json};

use crate::{Command, PeerCommand, PrecedenceArg, TranscriptCommand};

impl PrecedenceArg {
    fn precedence(self) -> Precedence {
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
            println!("{}", home.identity()?.id().fingerprint());
            Ok(())
        }
        Command::Card => {
            let node = open_read(home)?;
            print!("{}", card_text(&node));
            Ok(())
        }
        Command::Peer(PeerCommand::Add {
            file,
            fingerprint,
            address,
        }) => peer_add(home, &file, fingerprint, address),
        Command::Peer(PeerCommand::List { json }) => peer_list(home, json),
        Command::Run => {
            home.config()?;
            let daemon = parley_station::Daemon::start(home, None)?;
            daemon.run_until_signal()?;
            Ok(())
        }
        Command::Send {
            peer,
            precedence,
            text,
        } => send(home, peer, precedence.precedence(), text),
        Command::Inbox { json } => inbox(home, json),
        Command::Outbox { json } => outbox(home, json),
        Command::Status { json } => show_status(home, json),
        Command::Transcript(TranscriptCommand::Export { peer, out }) => {
            transcript_export(home, &peer, &out)
        }
        Command::Transcript(TranscriptCommand::Verify { file }) => transcript_verify(&file),
        Command::Demo | Command::Bench { .. } => unreachable!("handled before a home is needed"),
    }
}

fn init(home: &Home, name: String, lang: String, listen: String) -> anyhow::Result<()> {
    let config = Config {
        name,
        lang,
        listen,
        direct: Default::default(),
    };
    let identity = Node::init(home, config, utc_now_ms())?;
    println!("station created in {}", home.root().display());
    println!("fingerprint: {}", identity.id().fingerprint());
    Ok(())
}

/// Opens the node for reading. Reading needs no lock: the store is in WAL mode.
fn open_read(home: &Home) -> anyhow::Result<Node> {
    Ok(Node::open(home)?)
}

fn card_text(node: &Node) -> String {
    let (card, bytes) = node.card();
    card.to_text(&bytes)
}

/// Runs `offline` under the station lock when no daemon runs, else sends `request` to it.
fn mutate<T>(
    home: &Home,
    request: Request,
    offline: impl FnOnce(&mut Node) -> anyhow::Result<T>,
    online: impl FnOnce(Value) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    match home.try_lock()? {
        Some(_lock) => {
            let mut node = Node::open(home)?;
            offline(&mut node)
        }
        None => online(api::call(home, request)?),
    }
}

fn peer_add(
    home: &Home,
    file: &Path,
    fingerprint: String,
    address: Option<String>,
) -> anyhow::Result<()> {
    let card = read_input(file)?;
    let request = Request::PeerAdd {
        card: card.clone(),
        fingerprint: fingerprint.clone(),
        address: address.clone(),
    };
    let name = mutate(
        home,
        request,
        |node| Ok(node.add_peer(utc_now_ms(), &card, &fingerprint, address)?.1),
        |result| Ok(result["name"].as_str().unwrap_or_default().to_owned()),
    )?;
    println!("paired with {name}");
    Ok(())
}

fn read_input(file: &Path) -> anyhow::Result<String> {
    const INPUT_SIZE_MAX_BYTES: u64 = 64 * 1024;
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin()
            .take(INPUT_SIZE_MAX_BYTES)
            .read_to_string(&mut text)
            .context("reading the card from standard input")?;
    } else {
        std::fs::File::open(file)
            .with_context(|| format!("opening {}", file.display()))?
            .take(INPUT_SIZE_MAX_BYTES)
            .read_to_string(&mut text)
            .with_context(|| format!("reading {} (is it a card?)", file.display()))?;
    }
    Ok(text)
}

fn send(home: &Home, peer: String, precedence: Precedence, text: String) -> anyhow::Result<()> {
    let request = Request::Send {
        peer: peer.clone(),
        precedence: precedence.name().into(),
        text: text.clone(),
    };
    let id = mutate(
        home,
        request,
        |node| Ok(node.send(utc_now_ms(), &peer, precedence, &text)?.id),
        |result| Ok(result["id"].as_str().unwrap_or_default().to_owned()),
    )?;
    println!("{id}");
    Ok(())
}

fn store_read(home: &Home) -> anyhow::Result<Store> {
    home.config()?;
    Ok(Store::open_read_only(&home.store_path())?)
}

fn peer_list(home: &Home, json: bool) -> anyhow::Result<()> {
    let store = store_read(home)?;
    let peers: Vec<Value> = store
        .peers()?
        .into_iter()
        .map(|p| {
            json!({
                "name": p.name,
                "fingerprint": p.id.fingerprint().to_string(),
                "address": p.address,
                "lang": p.card.lang,
                "added_ms": p.added_ms,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&peers)?);
        return Ok(());
    }
    if peers.is_empty() {
        println!("no peers; pair with `parley peer add CARD --fingerprint FP`");
    }
    for p in &peers {
        println!(
            "{:<20} {}  {}",
            p["name"].as_str().unwrap_or_default(),
            p["fingerprint"].as_str().unwrap_or_default(),
            p["address"].as_str().unwrap_or("(no address)")
        );
    }
    Ok(())
}

fn inbox(home: &Home, json: bool) -> anyhow::Result<()> {
    let store = store_read(home)?;
    let rows = store.inbox(None)?;
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.entry_id.to_hex(),
                "from": r.peer_name,
                "from_fingerprint": r.from.fingerprint().to_string(),
                "seq": r.seq,
                "precedence": r.precedence.name(),
                "lang": r.lang,
                "text": r.text,
                "sent_at": r.sent_at_ms,
                "received_at": r.received_at_ms,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(());
    }
    for r in &rows {
        println!(
            "{} #{:<5} {:<9} {:<12} {}",
            r.peer_name,
            r.seq,
            r.precedence.name().to_uppercase(),
            format_time(r.received_at_ms),
            r.text
        );
    }
    Ok(())
}

fn outbox(home: &Home, json: bool) -> anyhow::Result<()> {
    let store = store_read(home)?;
    let rows = store.outbox(None)?;
    let values: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.entry_id.to_hex(),
                "to": r.peer_name,
                "to_fingerprint": r.to.fingerprint().to_string(),
                "seq": r.seq,
                "precedence": r.precedence.name(),
                "text": r.text,
                "created_at": r.created_ms,
                "state": r.state.name(),
                "delivered_at": r.delivered_ms,
            })
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&values)?);
        return Ok(());
    }
    for r in &rows {
        println!(
            "{} #{:<5} {:<9} {:<9} {}",
            r.peer_name,
            r.seq,
            r.precedence.name().to_uppercase(),
            r.state.name(),
            r.text
        );
    }
    Ok(())
}

fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}Z",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn show_status(home: &Home, json: bool) -> anyhow::Result<()> {
    let value = match home.try_lock()? {
        Some(_lock) => status::offline(home)?,
        None => api::call(home, Request::Status)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let station = &value["station"];
    println!(
        "station {} ({}) — daemon {}",
        station["name"].as_str().unwrap_or_default(),
        station["fingerprint"].as_str().unwrap_or_default(),
        value["daemon"].as_str().unwrap_or_default()
    );
    for peer in value["peers"].as_array().into_iter().flatten() {
        println!(
            "  peer {}: sent {} (unreceipted {}), received {}",
            peer["name"].as_str().unwrap_or_default(),
            peer["out_seq"],
            peer["outbox_depth"],
            peer["in_head"]
        );
        for channel in peer["channels"].as_array().into_iter().flatten() {
            println!(
                "    {} {} {}{}",
                channel["kind"].as_str().unwrap_or_default(),
                channel["address"].as_str().unwrap_or("-"),
                channel["state"].as_str().unwrap_or_default(),
                channel["rtt_ms"]
                    .as_f64()
                    .map(|r| format!(" rtt {r:.2} ms"))
                    .unwrap_or_default()
            );
        }
    }
    let alarms = value["alarms"]["total"].as_u64().unwrap_or(0);
    if alarms > 0 {
        println!("  ALARMS: {alarms}");
        for alarm in value["alarms"]["recent"].as_array().into_iter().flatten() {
            println!(
                "    {} from {} at seq {}: {}",
                alarm["kind"].as_str().unwrap_or_default(),
                alarm["peer"].as_str().unwrap_or_default(),
                alarm["seq"],
                alarm["detail"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn transcript_export(home: &Home, peer: &str, out: &Path) -> anyhow::Result<()> {
    let node = open_read(home)?;
    let peer_id = node.resolve_peer(peer)?;
    let store = node.store();
    let row = store
        .peer_by_id(&peer_id)?
        .context("peer vanished from the store")?;
    let me = node.identity().id();
    let link = LinkId::between(&me, &peer_id);
    let snapshot = store.link_snapshot(&peer_id)?;
    let (_, own_card) = node.card();
    let entries: Vec<Vec<u8>> = store
        .entries(&peer_id)?
        .into_iter()
        .map(|stored| stored.signed)
        .collect();
    let own_receipt = Receipt {
        link,
        from: me,
        to: peer_id,
        upto: snapshot.in_ids.len() as u64,
        head: snapshot.in_ids.last().copied().unwrap_or(EntryId::NONE),
        extra: Vec::new(),
        time_ms: utc_now_ms(),
    }
    .sign(node.identity());
    let mut receipts = vec![own_receipt];
    receipts.extend(store.latest_receipts(&peer_id)?);
    let text = transcript::export(&TranscriptParts {
        link,
        exported_ms: utc_now_ms(),
        cards: [&own_card, &row.card_bytes],
        entries,
        receipts,
    });
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "transcript of the link with {} written to {}",
        row.name,
        out.display()
    );
    Ok(())
}

/// `transcript verify`.
pub fn transcript_verify(file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match transcript::verify(&text) {
        Ok(summary) => {
            println!("transcript OK: link {}", hex_id(&summary.link.0));
            for s in &summary.stations {
                println!(
                    "  {} ({}): {} entries, head {}, receipted by the other side up to {}",
                    s.name,
                    s.fingerprint,
                    s.entries,
                    &s.head.to_hex()[..16],
                    s.receipted_upto
                        .map(|u| u.to_string())
                        .unwrap_or_else(|| "-".into())
                );
            }
            Ok(())
        }
        Err(error) => bail!("transcript verification FAILED at {error}"),
    }
}

fn hex_id(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
