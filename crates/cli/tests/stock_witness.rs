//! A stock `c2sp.org/tlog-witness` witness configured at a station (`[[witnesses]]` in
//! `parley.toml`), with real processes: the witness is `tests/reference/witness.go`, written
//! apart from parley from the specifications with Go's `sumdb/note` and `sumdb/tlog`, holding
//! its state in memory. It cosigns each checkpoint of Alpha's log under its own name and key;
//! restarted empty, its `409` brings Alpha back to size 0; the peer takes the cosignatures in
//! without an alarm, and a transcript proves them by the witness's verifier key. A verifier
//! key or URL that cannot be used stops the station from starting, with the reason.
//!
//! The Go witness needs Debian's `golang-go` and `golang-golang-x-mod-dev` (`.ci/go-deps`
//! installs them): without them the test skips, except under `CI`, where it fails.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{await_all_delivered, await_channel, exe, paired};
use parley_proto::tlog::head::{Witness, origin};
use parley_proto::tlog::note;
use parley_station::home::WitnessConfig;
use parley_testkit::go::{go, go_is_there};
use parley_testkit::harness::{StationProcess, wait_until};
use serde_json::Value;

/// The witness's name, as it publishes it in its verifier key.
const WITNESS_NAME: &str = "witness.example/go";
/// A checkpoint after every few entries, so a handful of messages makes several.
const EVERY_ENTRIES: u64 = 3;
/// Longest `parley run` may take to refuse a configuration.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The Go witness, built once into `dir`.
fn build_witness(dir: &Path) -> PathBuf {
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/witness.go");
    let binary = dir.join("witness");
    let output = go(&dir.join("gocache"))
        .arg("build")
        .arg("-o")
        .arg(&binary)
        .arg(&program)
        .output()
        .expect("go runs");
    assert!(
        output.status.success(),
        "go build: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    binary
}

/// A running Go witness: its process, verifier key, address and request log.
struct GoWitness {
    child: Child,
    vkey: String,
    address: String,
    log: PathBuf,
}

impl GoWitness {
    /// Starts `binary` on `listen`, witnessing the log `log_vkey`; its requests are logged
    /// to `log`.
    fn start(binary: &Path, listen: &str, log_vkey: &str, log: PathBuf) -> Self {
        Self::start_serving(binary, listen, log_vkey, log, None)
    }

    /// As [`Self::start`], over HTTPS with the certificate and key files `tls` when given.
    fn start_serving(
        binary: &Path,
        listen: &str,
        log_vkey: &str,
        log: PathBuf,
        tls: Option<(&Path, &Path)>,
    ) -> Self {
        let mut command = Command::new(binary);
        if let Some((cert, key)) = tls {
            command
                .env("WITNESS_TLS_CERT", cert)
                .env("WITNESS_TLS_KEY", key);
        }
        let mut child = command
            .args([listen, WITNESS_NAME, &hex::encode([0x5a; 32]), log_vkey])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("the witness starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut next = |prefix: &str| {
            let line = lines.next().expect("a line").expect("text");
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{line:?} does not begin with {prefix:?}"))
                .to_owned()
        };
        let vkey = next("vkey ");
        let address = next("listening ");
        Self {
            child,
            vkey,
            address,
            log,
        }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GoWitness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the stock witness of `station`'s log has cosigned `size` or more; returns it.
fn await_witnessed(station: &StationProcess, size: u64) -> Value {
    let mut report = Value::Null;
    let done = wait_until(Duration::from_secs(30), || {
        report = station
            .json(&["checkpoint", "show", "Bravo"])
            .expect("checkpoint show");
        report["witnesses"][0]["cosigned"]["size"].as_u64() >= Some(size)
    });
    assert!(done, "not witnessed up to {size}: {report:#}");
    report["witnesses"][0].clone()
}

fn send(station: &StationProcess, texts: std::ops::Range<u32>) {
    for i in texts {
        station
            .ok(&["send", "Bravo", &format!("alpha {i}")])
            .unwrap();
    }
}

/// Two paired stations (not started) and the Go witness built, with what the witness is
/// told of Alpha's log of the link: its origin and verifier key.
struct World {
    binary: PathBuf,
    alpha: StationProcess,
    bravo: StationProcess,
    alpha_id: parley_proto::StationId,
    origin: String,
    log_vkey: String,
}

impl World {
    fn new(root: &Path) -> Self {
        let binary = build_witness(root);
        let (alpha, bravo) = paired(root);
        let id = |station: &StationProcess| {
            parley_station::home::Home::new(&station.home)
                .identity()
                .expect("an identity")
                .id()
        };
        let (alpha_id, bravo_id) = (id(&alpha), id(&bravo));
        let origin = origin(&alpha_id, &bravo_id);
        let log_vkey = note::verifier_key(&origin, &alpha_id.verifying_key().unwrap());
        Self {
            binary,
            alpha,
            bravo,
            alpha_id,
            origin,
            log_vkey,
        }
    }
}

#[test]
fn a_stock_go_witness_cosigns_every_checkpoint_and_a_transcript_proves_it() {
    if !go_is_there() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let World {
        binary,
        mut alpha,
        mut bravo,
        alpha_id,
        origin,
        log_vkey,
    } = World::new(root.path());
    let witness = GoWitness::start(
        &binary,
        "127.0.0.1:0",
        &log_vkey,
        root.path().join("witness-1.log"),
    );
    let stock = Witness::from_verifier_key(&witness.vkey).expect("the Go witness's key reads");
    assert_eq!(&*stock.name, WITNESS_NAME);
    alpha
        .configure(|config| {
            config.checkpoints.every_entries = EVERY_ENTRIES;
            config.witnesses = vec![WitnessConfig {
                url: format!("http://{}", witness.address),
                vkey: witness.vkey.clone(),
                ca: None,
            }];
        })
        .unwrap();
    alpha.start().unwrap();
    bravo.start().unwrap();
    await_channel(&alpha, "Bravo", "direct", "up");

    // The first checkpoint, cosigned under the witness's own name, by its key.
    send(&alpha, 0..4);
    let first = await_witnessed(&alpha, EVERY_ENTRIES);
    assert_eq!(first["witness"], WITNESS_NAME, "{first:#}");
    assert_eq!(first["stock"], true, "{first:#}");
    assert_eq!(first["verifier_key"], witness.vkey.as_str(), "{first:#}");
    assert!(first["error"].is_null(), "{first:#}");
    let cosigned = first["cosigned"]["note"].as_str().unwrap();
    let key = stock.key.verifying_key().unwrap();
    let (text, time_s) = note::open_cosigned(cosigned, WITNESS_NAME, &key).expect("it verifies");
    assert!(time_s > 0);
    let alpha_key = alpha_id.verifying_key().unwrap();
    assert_eq!(note::open(cosigned, &origin, &alpha_key), Ok(text));
    let held = first["cosigned"]["size"].as_u64().unwrap();
    assert!(
        witness
            .requests()
            .contains(&format!("cosigned {origin} at {held}")),
        "{}",
        witness.requests()
    );

    // Restarted with nothing held, at the same address: its 409 names size 0, and Alpha
    // submits again from there.
    let address = witness.address.clone();
    drop(witness);
    let witness = GoWitness::start(
        &binary,
        &address,
        &log_vkey,
        root.path().join("witness-2.log"),
    );
    send(&alpha, 4..10);
    let later = await_witnessed(&alpha, 9);
    assert!(later["holds"].as_u64() >= Some(9), "{later:#}");
    let requests = witness.requests();
    assert!(requests.contains("409 old "), "{requests}");
    assert!(requests.contains("(old 0)"), "{requests}");

    // The peer checks each cosignature against Alpha's log as it holds it: no alarm.
    await_all_delivered(&alpha, &bravo);
    let alarms = bravo.json(&["alarms", "--all"]).unwrap();
    assert_eq!(alarms.as_array().map(Vec::len), Some(0), "{alarms:#}");

    // The cosignatures are entries of Alpha's log: a transcript proves them, naming the
    // witness and the verifier key to compare with the one it publishes.
    let file = root.path().join("alpha.transcript");
    alpha.export_transcript("Bravo", &file).unwrap();
    let stdout = alpha
        .ok(&["transcript", "verify", file.to_str().unwrap()])
        .expect("the transcript verifies");
    let proven = format!("as witness \"{WITNESS_NAME}\" cosigned its checkpoint");
    assert!(stdout.contains(&proven), "{stdout}");
    assert!(stdout.contains(&witness.vkey), "{stdout}");
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}

/// `der` in PEM form under `label`.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = (encoded.as_bytes().chunks(64))
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A certificate authority, written as PEM to `dir/<name>-ca.pem`, and a certificate it issued
/// for `subject` (a DNS name or an IP address) with its key (`<name>-cert.pem`,
/// `<name>-key.pem`).
fn authority(dir: &Path, name: &str, subject: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    (ca_params.distinguished_name).push(rcgen::DnType::CommonName, format!("{name} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![subject.to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = ["ca", "cert", "key"].map(|part| dir.join(format!("{name}-{part}.pem")));
    std::fs::write(&paths[0], pem("CERTIFICATE", ca.der())).unwrap();
    std::fs::write(&paths[1], pem("CERTIFICATE", leaf.der())).unwrap();
    std::fs::write(&paths[2], pem("PRIVATE KEY", &key.serialize_der())).unwrap();
    let [ca, cert, key] = paths;
    (ca, cert, key)
}

/// Over `https://` a stock witness is verified against the certificate authorities configured
/// for it, by the Web PKI rules: a certificate for another name, or under another authority,
/// is not reached, and the reason is shown; under its own authority, for its address, it
/// cosigns.
#[test]
fn a_stock_witness_over_https_is_reached_only_under_its_certificate_authority() {
    if !go_is_there() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let World {
        binary,
        mut alpha,
        mut bravo,
        log_vkey,
        ..
    } = World::new(root.path());
    let (ca, cert, key) = authority(root.path(), "witness", "127.0.0.1");
    let (other_ca, _, _) = authority(root.path(), "other", "127.0.0.1");
    let (named_ca, named_cert, named_key) = authority(root.path(), "named", "localhost");
    let serving = |log: &str, (cert, key): (&Path, &Path)| {
        let log = root.path().join(log);
        GoWitness::start_serving(&binary, "127.0.0.1:0", &log_vkey, log, Some((cert, key)))
    };
    let witness = serving("witness.log", (&cert, &key));
    let misnamed = serving("misnamed.log", (&named_cert, &named_key));
    bravo.start().unwrap();
    let phases = [
        (&misnamed, &named_ca, Some("certificate not valid for name")),
        (&witness, &other_ca, Some("UnknownIssuer")),
        (&witness, &ca, None),
    ];
    for (phase, (server, ca, refusal)) in phases.into_iter().enumerate() {
        alpha
            .configure(|config| {
                config.checkpoints.every_entries = EVERY_ENTRIES;
                config.witnesses = vec![WitnessConfig {
                    url: format!("https://{}/", server.address),
                    vkey: server.vkey.clone(),
                    ca: Some(ca.to_str().unwrap().to_owned()),
                }];
            })
            .unwrap();
        alpha.start().unwrap();
        await_channel(&alpha, "Bravo", "direct", "up");
        let first = 4 * phase as u32;
        send(&alpha, first..first + 4);
        match refusal {
            Some(reason) => {
                let mut report = Value::Null;
                let refused = wait_until(Duration::from_secs(30), || {
                    report = alpha.json(&["checkpoint", "show", "Bravo"]).unwrap();
                    report["witnesses"][0]["error"]
                        .as_str()
                        .is_some_and(|error| {
                            error.starts_with("not reached") && error.contains(reason)
                        })
                });
                assert!(refused, "phase {phase}: {report:#}");
                assert!(report["witnesses"][0]["cosigned"].is_null(), "{report:#}");
                assert!(!server.requests().contains("200"), "{}", server.requests());
            }
            None => {
                let witnessed = await_witnessed(&alpha, EVERY_ENTRIES * (phase as u64 + 1));
                assert!(witnessed["error"].is_null(), "{witnessed:#}");
            }
        }
        alpha.stop().unwrap();
    }
    bravo.stop().unwrap();
}

/// What `parley run` says on standard error when it refuses to start; it must exit within
/// [`REFUSAL_TIMEOUT`].
fn refused(station: &StationProcess) -> String {
    let mut child = Command::new(exe())
        .arg("--home")
        .arg(&station.home)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parley runs");
    let exited = wait_until(REFUSAL_TIMEOUT, || {
        child.try_wait().expect("waits").is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("parley run started with a witness it cannot use");
    }
    let output = child.wait_with_output().expect("its output");
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A station whose `[[witnesses]]` cannot be used does not start, and says which and why.
#[test]
fn a_station_with_an_unusable_witness_does_not_start_and_says_why() {
    let root = tempfile::tempdir().unwrap();
    let (alpha, _bravo) = paired(root.path());
    let key = parley_proto::Identity::from_secret(&[5; 32]);
    let vkey = note::cosigner_verifier_key(WITNESS_NAME, &key.signing_key().verifying_key());
    let dir = root.path().display();
    let empty = root.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for (url, vkey, ca, reason) in [
        (
            "ftp://127.0.0.1:9",
            vkey.clone(),
            None,
            "witnesses[0]: url: a witness's URL does not begin with http:// or https://",
        ),
        (
            "http://127.0.0.1:9",
            vkey.clone(),
            Some(format!("{dir}/empty.pem")),
            "witnesses[0]: ca: certificate authorities are for a witness over https://",
        ),
        (
            "https://127.0.0.1:9",
            vkey.clone(),
            Some("relative.pem".to_owned()),
            "witnesses[0]: ca: \"relative.pem\" is not an absolute path",
        ),
        (
            "https://127.0.0.1:9",
            vkey.clone(),
            Some(format!("{dir}/missing.pem")),
            "missing.pem\": No such file",
        ),
        (
            "https://127.0.0.1:9",
            vkey.clone(),
            Some(dir.to_string()),
            "not a regular file",
        ),
        (
            "https://127.0.0.1:9",
            vkey.clone(),
            Some(format!("{dir}/empty.pem")),
            "no certificate authority in it",
        ),
        (
            "http://127.0.0.1:9",
            format!("{vkey}x"),
            None,
            "witnesses[0]: vkey: not a signed note: a verifier key's key is not base64",
        ),
        (
            "http://127.0.0.1:9",
            note::verifier_key(WITNESS_NAME, &key.signing_key().verifying_key()),
            None,
            "not of a cosignature/v1 (type 0x04) Ed25519 key",
        ),
    ] {
        alpha
            .configure(|config| {
                config.witnesses = vec![WitnessConfig {
                    url: url.into(),
                    vkey: vkey.clone(),
                    ca: ca.clone(),
                }];
            })
            .unwrap();
        let error = refused(&alpha);
        assert!(error.contains(reason), "{url} {vkey} {ca:?}: {error}");
    }
    // Two witnesses with one key, under two names; a witness with this station's key.
    let own = parley_station::home::Home::new(&alpha.home)
        .identity()
        .unwrap();
    let own_vkey =
        note::cosigner_verifier_key("witness.example/own", &own.signing_key().verifying_key());
    let renamed =
        note::cosigner_verifier_key("witness.example/other", &key.signing_key().verifying_key());
    for (vkeys, reason) in [
        (
            [vkey.clone(), renamed],
            "witnesses[1]: vkey: another witness has this name or this key",
        ),
        (
            [vkey.clone(), own_vkey],
            "witnesses[1]: vkey: the witness's key is this station's own identity key",
        ),
    ] {
        alpha
            .configure(|config| {
                config.witnesses = (vkeys.iter())
                    .map(|vkey| WitnessConfig {
                        url: "http://127.0.0.1:9".into(),
                        vkey: vkey.clone(),
                        ca: None,
                    })
                    .collect();
            })
            .unwrap();
        let error = refused(&alpha);
        let written = std::fs::read_to_string(alpha.home.join("parley.toml")).unwrap();
        assert!(error.contains(reason), "{error}\n{written}");
    }
}
