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

use crate::{
    ChannelCommand, Command, CourierCommand, PeerCommand, PrecedenceArg, TranscriptCommand,
};

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
        Command::Channel(ChannelCommand::Add {
            peer,
            kind,
            target,
            card,
            fingerprint,
        }) => channel_add(home, peer, kind, target, card, fingerprint),
        Command::Channel(ChannelCommand::List { json }) => channel_list(home, json),
        Command::Courier(CourierCommand::Export { peer, out }) => courier_export(home, peer, &out),
        Command::Courier(CourierCommand::Import { file, salvage }) => {
            courier_import(home, &file, salvage)
        }
        Command::Transcript(TranscriptCommand::Export { peer, out }) => {
            transcript_export(home, &peer, &out)
        }
        Command::Transcript(TranscriptCommand::Verify { file }) => transcript_verify(&file),
        Command::Demo | Command::Bench { .. } | Command::Relay(_) => {
            unreachable!("handled before a home is needed")
        }
    }
}

fn init(home: &Home, name: String, lang: String, listen: String) -> anyhow::Result<()> {
    let config = Config::new(name, lang, listen);
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

fn channel_add(
    home: &Home,
    peer: String,
    kind: String,
    target: String,
    card: Option<std::path::PathBuf>,
    fingerprint: Option<String>,
) -> anyhow::Result<()> {
    let card = card.map(|file| read_input(&file)).transpose()?;
    let target = match kind.as_str() {
        "courier" => absolute(Path::new(&target))?.display().to_string(),
        _ => target,
    };
    let request = Request::ChannelAdd {
        peer: peer.clone(),
        kind: kind.clone(),
        target: target.clone(),
        card: card.clone(),
        fingerprint: fingerprint.clone(),
    };
    mutate(
        home,
        request,
        |node| {
            let now = utc_now_ms();
            match (kind.as_str(), card, fingerprint) {
                ("relay", Some(card), Some(fingerprint)) => {
                    node.add_relay_channel(now, &peer, &target, &card, &fingerprint)?;
                }
                ("relay", _, _) => bail!(
                    "a relay channel needs the relay's card (--card FILE) and fingerprint (--fingerprint FP)"
                ),
                ("courier", None, None) => {
                    node.add_courier_channel(now, &peer, &target)?;
                }
                _ => bail!(
                    "a courier channel takes only a folder; --card and --fingerprint are for relays"
                ),
            }
            Ok(())
        },
        |_| Ok(()),
    )?;
    println!("{kind} channel {target} added to the link with {peer}");
    Ok(())
}

fn channel_list(home: &Home, json_output: bool) -> anyhow::Result<()> {
    let status = station_status(home)?;
    let mut rows = Vec::new();
    for peer in status["peers"].as_array().into_iter().flatten() {
        for channel in peer["channels"].as_array().into_iter().flatten() {
            let mut row = channel.clone();
            row["peer"] = peer["name"].clone();
            rows.push(row);
        }
    }
    if json_output {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no channels (pair with a peer first)");
    }
    for row in &rows {
        let rtt = row["rtt_ms"]
            .as_f64()
            .map(|ms| format!("{ms:.1} ms"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<12} {:<8} {:<9} rtt {:<9} {}",
            row["peer"].as_str().unwrap_or("?"),
            row["kind"].as_str().unwrap_or("?"),
            row["state"].as_str().unwrap_or("?"),
            rtt,
            row["target"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

fn courier_export(home: &Home, peer: String, out: &Path) -> anyhow::Result<()> {
    let out = absolute(out)?;
    let request = Request::CourierExport {
        peer: peer.clone(),
        out: out.clone(),
    };
    let exported = mutate(
        home,
        request,
        |node| {
            let (bytes, exported) = node.export_bundle(utc_now_ms(), &peer)?;
            parley_station::courier::write_bundle_file(&out, &bytes)?;
            Ok(serde_json::to_value(exported)?)
        },
        Ok,
    )?;
    println!(
        "wrote {} envelope(s){} for {} to {} ({} bytes)",
        exported["envelopes"],
        if exported["receipt"] == json!(true) {
            " and a receipt"
        } else {
            ""
        },
        exported["peer"].as_str().unwrap_or("?"),
        out.display(),
        exported["bytes"],
    );
    if exported["left_out"].as_u64().unwrap_or(0) > 0 {
        println!(
            "{} envelope(s) did not fit; export again once this bundle is receipted",
            exported["left_out"]
        );
    }
    Ok(())
}

fn courier_import(home: &Home, file: &Path, salvage: bool) -> anyhow::Result<()> {
    let path = absolute(file)?;
    let request = Request::CourierImport {
        path: path.clone(),
        salvage,
    };
    let imported = mutate(
        home,
        request,
        |node| {
            let bytes = parley_station::courier::read_bundle_file(&path)?;
            let imported = node.import_bundle_uncommitted(utc_now_ms(), &bytes, salvage)?;
            node.commit()?;
            Ok(serde_json::to_value(imported)?)
        },
        Ok,
    )?;
    println!(
        "from {}: {} new envelope(s), {} already held, {} receipt(s), {} refused{}",
        imported["peer"].as_str().unwrap_or("?"),
        imported["envelopes_new"],
        imported["duplicates"],
        imported["receipts"],
        imported["rejected"].as_array().map_or(0, Vec::len),
        if imported["salvaged"] == json!(true) {
            " (bundle signature failed; frames verified one by one)"
        } else {
            ""
        }
    );
    for reason in imported["rejected"].as_array().into_iter().flatten() {
        println!("  refused {}", reason.as_str().unwrap_or("?"));
    }
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
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

/// Live status from the daemon, or status read from the store when none runs.
fn station_status(home: &Home) -> anyhow::Result<Value> {
    Ok(match home.try_lock()? {
        Some(_lock) => status::offline(home)?,
        None => api::call(home, Request::Status)?,
    })
}

fn show_status(home: &Home, json: bool) -> anyhow::Result<()> {
    let value = station_status(home)?;
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
            let counters = &channel["counters"];
            println!(
                "    {:<8} {:<9}{} {}{}",
                channel["kind"].as_str().unwrap_or_default(),
                channel["state"].as_str().unwrap_or_default(),
                channel["since_ms"]
                    .as_u64()
                    .map(|ms| format!(" since {}", format_time(ms)))
                    .unwrap_or_default(),
                channel["target"].as_str().unwrap_or("-"),
                channel["rtt_ms"]
                    .as_f64()
                    .map(|r| format!(" rtt {r:.2} ms"))
                    .unwrap_or_default()
            );
            if counters.is_object() {
                println!(
                    "             sent {} env / {} rcpt, received {} env / {} rcpt, duplicates {}, rejected {}",
                    counters["envelopes_sent"],
                    counters["receipts_sent"],
                    counters["envelopes_received"],
                    counters["receipts_received"],
                    counters["duplicates_dropped"],
                    counters["rejected"],
                );
            }
            for change in channel["transitions"].as_array().into_iter().flatten() {
                println!(
                    "             {} {} -> {}: {}",
                    change["at_ms"]
                        .as_u64()
                        .map(format_time)
                        .unwrap_or_default(),
                    change["from"].as_str().unwrap_or_default(),
                    change["to"].as_str().unwrap_or_default(),
                    change["reason"].as_str().unwrap_or_default(),
                );
            }
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
