//! `parley relay serve --witness` and `parley relay witness` as real processes: a checkpoint
//! cosigned over TLS, a conflicting one refused and kept, and both shown to the operator with
//! the text from the checkpoints escaped (`--json` exact).

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::exe;
use parley_proto::seal::EpochSecret;
use parley_proto::tlog::head::{self, SignedHead};
use parley_proto::tlog::{self, note};
use parley_proto::{ContactCard, Identity, StationId};
use parley_relay::RelayHome;
use parley_relay::server::now_ms;
use parley_testkit::harness::{free_tcp_port, wait_until};
use rand_core::SeedableRng as _;
use serde_json::Value;

fn relay(home: &Path, args: &[&str]) -> Output {
    Command::new(exe())
        .arg("--home")
        .arg(home)
        .arg("relay")
        .args(args)
        .env_remove("PARLEY_HOME")
        .output()
        .expect("runs parley")
}

fn ok(home: &Path, args: &[&str]) -> String {
    let output = relay(home, args);
    assert!(
        output.status.success(),
        "relay {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `parley relay serve`, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `parley relay serve --listen ADDR` with `extra` arguments; waits until it accepts.
fn serve(home: &Path, extra: &[&str]) -> (Serving, SocketAddr) {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port().expect("a port"))
        .parse()
        .expect("an address");
    let log = std::fs::File::create(home.join("serve.log")).expect("a log file");
    let child = Command::new(exe())
        .arg("--home")
        .arg(home)
        .args(["relay", "serve", "--listen", &listen.to_string()])
        .args(extra)
        .env_remove("PARLEY_HOME")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starts parley relay serve");
    let serving = Serving(child);
    let up = wait_until(Duration::from_secs(20), || {
        TcpStream::connect(listen).is_ok()
    });
    assert!(up, "the relay did not start listening on {listen}");
    (serving, listen)
}

/// One HTTP/1.1 request over TLS pinned to `relay`; the status and the body.
fn request(
    addr: SocketAddr,
    relay: StationId,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let config = parley_channels::tls::pinned_client_config(relay.0, &[b"http/1.1"])
        .expect("client config builds");
    let name = rustls::pki_types::ServerName::try_from("relay").expect("a name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let tcp = TcpStream::connect(addr).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout");
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).expect("writes the head");
    tls.write_all(body.as_bytes()).expect("writes the body");
    let mut answer = Vec::new();
    // A connection closed without close_notify after the answer is fine here.
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8(answer).expect("UTF-8");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a whole answer");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

fn card_text(identity: &Identity, name: &str) -> String {
    let epoch = EpochSecret::generate(&mut rand_chacha::ChaCha20Rng::from_seed([7; 32]));
    let card = ContactCard {
        name: name.to_owned(),
        identity: identity.id(),
        epoch_key_id: epoch.id(),
        epoch_public: epoch.public_bytes().to_vec(),
        addresses: Vec::new(),
        lang: "en".into(),
        created_ms: now_ms(),
        pq_key: Some(identity.pq().public().clone()),
    };
    card.to_text(&card.sign(identity))
}

fn add_checkpoint(old_size: u64, note: &str) -> String {
    format!("old {old_size}\n\n{note}")
}

#[test]
fn the_operator_reads_what_the_witness_cosigned_and_the_conflicts_it_kept_escaped() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = dir.path().join("relay");
    ok(&home, &["init", "--name", "Relay"]);
    let relay_id = RelayHome::new(&home).identity().expect("identity").id();
    let alpha = Identity::from_secret(&[1; 32]);
    let card = dir.path().join("alpha.card");
    std::fs::write(&card, card_text(&alpha, "Alpha")).expect("writes the card");
    let fingerprint = alpha.fingerprint().to_string();
    ok(
        &home,
        &[
            "admit",
            card.to_str().expect("UTF-8"),
            "--fingerprint",
            &fingerprint,
        ],
    );
    let empty = ok(&home, &["witness"]);
    assert!(empty.contains("no logs witnessed"), "{empty}");
    assert!(empty.contains("no conflicts kept"), "{empty}");

    let (_serving, addr) = serve(&home, &["--witness"]);
    let peer = Identity::from_secret(&[2; 32]).id();
    let origin = head::origin(&alpha.id(), &peer);
    let leaves: Vec<_> = (0..3u64)
        .map(|i| tlog::leaf_hash(&i.to_be_bytes()))
        .collect();
    let first = SignedHead::sign(&alpha, &peer, 3, tlog::root(&leaves)).note(&alpha.id(), &peer);
    let (status, cosignature) = request(
        addr,
        relay_id,
        "POST",
        "/witness/add-checkpoint",
        &add_checkpoint(0, &first),
    );
    assert_eq!(status, 200, "{cosignature}");
    // Another tree of size 3, signed by Alpha, with an extension line meant for a terminal:
    // a text-direction override and a C1 control sequence introducer.
    let hostile = format!(
        "{origin}\n3\n{}\n\u{202e}gnirts\u{9b}31m\n",
        parley_relay::witness::encode_hash(&[7; 32])
    );
    let forked = note::sign(&hostile, &origin, alpha.signing_key()).expect("signs");
    let (status, refusal) = request(
        addr,
        relay_id,
        "POST",
        "/witness/add-checkpoint",
        &add_checkpoint(3, &forked),
    );
    // Answered as c2sp.org/tlog-witness says: 409, the size held.
    assert_eq!((status, refusal.as_str()), (409, "3\n"));

    let shown = ok(&home, &["witness"]);
    assert!(
        shown.contains(&format!("witness parley.witness/{relay_id}")),
        "{shown}"
    );
    assert!(shown.contains("logs witnessed: 1"), "{shown}");
    assert!(shown.contains(&origin), "{shown}");
    assert!(shown.contains("author \"Alpha\""), "{shown}");
    assert!(shown.contains("size 3"), "{shown}");
    assert!(shown.contains("conflicts seen: 1"), "{shown}");
    assert!(shown.contains("conflicts kept: 1"), "{shown}");
    assert!(
        shown.contains("same size, different root: evidence of a fork"),
        "{shown}"
    );
    assert!(shown.contains("\\u{202e}gnirts\\u{9b}31m"), "{shown}");
    assert!(
        !shown.contains('\u{202e}') && !shown.contains('\u{9b}'),
        "raw controls reached the terminal: {shown:?}"
    );
    assert!(
        shown.contains(&cosignature.trim_end().to_owned()),
        "{shown}"
    );

    let json: Value = serde_json::from_str(&ok(&home, &["witness", "--json"])).expect("JSON");
    assert_eq!(json["witness"], format!("parley.witness/{relay_id}"));
    let log = &json["logs"][0];
    assert_eq!(log["origin"], origin);
    assert_eq!(log["author"], alpha.id().to_string());
    assert_eq!(log["author_name"], "Alpha");
    assert_eq!(log["peer"], peer.to_string());
    assert_eq!(log["size"], 3);
    assert_eq!(log["conflicts_seen"], 1);
    assert_eq!(log["note"], format!("{first}{cosignature}"));
    let conflict = &json["conflicts"][0];
    assert_eq!(conflict["origin"], origin);
    assert_eq!(conflict["reason"], "same_size_different_root");
    assert_eq!(conflict["old_size"], 3);
    assert_eq!(conflict["held_note"], log["note"]);
    assert_eq!(conflict["new_note"], forked, "exact, controls and all");
    assert!(conflict["seen_ms"].as_u64().is_some_and(|ms| ms > 0));
}

#[test]
fn a_relay_served_without_the_witness_flag_does_not_witness() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let home = dir.path().join("relay");
    ok(&home, &["init", "--name", "Relay"]);
    let relay_id = RelayHome::new(&home).identity().expect("identity").id();
    let (_serving, addr) = serve(&home, &[]);
    let (status, body) = request(
        addr,
        relay_id,
        "POST",
        "/witness/add-checkpoint",
        "old 0\n\n",
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no such endpoint"), "{body}");
}
