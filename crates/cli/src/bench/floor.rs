//! The floor under the latency figure, measured in the same run on the same machine: what one
//! durable message one at a time cannot go below. Its critical path is three commits, each
//! ending in an fsync (the sender's, before the envelope may leave; the receiver's, before its
//! receipt may; the sender's of that receipt, before the receipt is reported), one loopback
//! round trip (envelope out, receipt back), and the crypto of the path: the entry and the
//! envelope signed and sealed at the sender, the envelope verified, opened and the entry
//! verified at the receiver, its receipt signed there and verified back. The encapsulation and
//! decapsulation are reused across messages (formats.md §4.1), so the path pays only the
//! AEAD; their cost is measured and shown apart.
//!
//! Figures from different days become comparable through the ratio of the measured p50 to the
//! floor measured beside it.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::UdpSocket;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use parley_proto::seal::{EpochSecret, Keyring, Opener, PeerEpochKey, SealParties, Sealer};
use parley_proto::tlog::head::{Cosignature, PqHeadSignature, SignedHead, WitnessCosignature};
use parley_proto::tlog::{Tree, leaf_hash};
use parley_proto::{Body, Entry, EntryId, Identity, LinkId, Precedence, SignedEntry};
use parley_station::home::CheckpointsConfig;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;
use serde::Serialize;

/// fsyncs measured.
const FLOOR_FSYNC_SAMPLES: usize = 200;
/// Bytes written before each fsync: one page, as a commit of one small entry writes.
const FLOOR_FSYNC_BYTES: usize = 4_096;
/// Loopback round trips measured.
const FLOOR_RTT_SAMPLES: usize = 1_000;
/// Times each crypto operation is timed (the median counts).
const FLOOR_CRYPTO_ROUNDS: usize = 300;
/// Signatures verified together in the batch-verification measurement.
const FLOOR_BATCH_SIGNATURES: usize = 64;
/// Commits, each ending in an fsync, on the critical path of one message.
const PATH_FSYNCS: u32 = 3;
/// Signatures made on the critical path of one message: entry, envelope, receipt.
const PATH_SIGNS: u32 = 3;
/// Signatures verified on it: envelope, entry, receipt.
const PATH_VERIFIES: u32 = 3;
/// Merkle leaves hashed and added to a tree on it: the entry in its author's tree of its own
/// log, and in the receiver's of the peer's.
const PATH_LEAVES: u32 = 2;

/// Median and 99th percentile of some durations, in microseconds.
#[derive(Serialize)]
pub(super) struct Spread {
    samples: usize,
    p50_us: f64,
    p99_us: f64,
}

impl Spread {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |p: f64| {
            let index = ((samples.len() as f64 * p) as usize).min(samples.len() - 1);
            samples[index].as_secs_f64() * 1e6
        };
        Self {
            samples: samples.len(),
            p50_us: at(0.50),
            p99_us: at(0.99),
        }
    }
}

/// The median cost of one crypto operation, and how often one message's path does it.
#[derive(Serialize)]
pub(super) struct OpCost {
    op: &'static str,
    us: f64,
    per_message: u32,
}

/// `bench`'s floor.
#[derive(Serialize)]
pub(super) struct Floor {
    fsync: Spread,
    loopback_round_trip: Spread,
    crypto: Vec<OpCost>,
    /// fsyncs × fsync p50 + round trip p50 + the path's crypto, in microseconds.
    floor_us: f64,
}

impl Floor {
    /// Measures the floor for `size`-byte messages, with fsyncs on the file system of `dir`.
    pub(super) fn measure(dir: &Path, size: usize) -> anyhow::Result<Self> {
        let fsync = fsyncs(dir)?;
        let loopback_round_trip = round_trips(size)?;
        let crypto = crypto(size)?;
        let floor_us = f64::from(PATH_FSYNCS) * fsync.p50_us
            + loopback_round_trip.p50_us
            + crypto
                .iter()
                .map(|op| op.us * f64::from(op.per_message))
                .sum::<f64>();
        Ok(Self {
            fsync,
            loopback_round_trip,
            crypto,
            floor_us,
        })
    }

    /// The floor, in microseconds.
    pub(super) fn us(&self) -> f64 {
        self.floor_us
    }

    /// The median cost of crypto operation `op`, in microseconds.
    pub(super) fn op_us(&self, op: &str) -> f64 {
        self.crypto
            .iter()
            .find(|cost| cost.op == op)
            .map_or(0.0, |cost| cost.us)
    }

    pub(super) fn print(&self, p50_us: u64) {
        let ms = |us: f64| us / 1000.0;
        println!("the floor on this machine, measured in this run:");
        println!(
            "  fsync after a {FLOOR_FSYNC_BYTES}-byte write, on the stores' file system: p50 {:.3} ms   p99 {:.3} ms",
            ms(self.fsync.p50_us),
            ms(self.fsync.p99_us)
        );
        println!(
            "  loopback UDP round trip of one message: p50 {:.3} ms   p99 {:.3} ms",
            ms(self.loopback_round_trip.p50_us),
            ms(self.loopback_round_trip.p99_us)
        );
        let ops: Vec<String> = self
            .crypto
            .iter()
            .map(|op| format!("{} {:.1} µs ×{}", op.op, op.us, op.per_message))
            .collect();
        println!("  crypto per operation (× per message): {}", ops.join(", "));
        println!(
            "  floor = {PATH_FSYNCS} fsyncs + 1 round trip + the path's crypto = {:.3} ms; measured p50 ÷ floor = {:.2}",
            ms(self.floor_us),
            p50_us as f64 / self.floor_us
        );
    }
}

/// fsync (fdatasync) after rewriting one page of a file in `dir`.
fn fsyncs(dir: &Path) -> anyhow::Result<Spread> {
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let page = vec![0x5a; FLOOR_FSYNC_BYTES];
    file.write_all(&page)?;
    file.sync_all()?;
    let mut samples = Vec::with_capacity(FLOOR_FSYNC_SAMPLES);
    for _ in 0..FLOOR_FSYNC_SAMPLES {
        let started = Instant::now();
        file.write_all_at(&page, 0)?;
        file.sync_data()?;
        samples.push(started.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Spread::of(samples))
}

/// A `size`-byte datagram to an echo on 127.0.0.1 and back.
fn round_trips(size: usize) -> anyhow::Result<Spread> {
    let echo = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(echo.local_addr()?)?;
    for socket in [&echo, &client] {
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    }
    let size = size.min(parley_proto::limits::FRAME_SIZE_MAX_BYTES);
    let echoing = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buffer = vec![0; 65_536];
        for _ in 0..FLOOR_RTT_SAMPLES {
            let (n, from) = echo.recv_from(&mut buffer)?;
            echo.send_to(&buffer[..n], from)?;
        }
        Ok(())
    });
    let datagram = vec![0x5a; size];
    let mut buffer = vec![0; 65_536];
    let mut samples = Vec::with_capacity(FLOOR_RTT_SAMPLES);
    for _ in 0..FLOOR_RTT_SAMPLES {
        let started = Instant::now();
        client.send(&datagram)?;
        client.recv(&mut buffer)?;
        samples.push(started.elapsed());
    }
    echoing
        .join()
        .map_err(|_| anyhow::anyhow!("the echo thread panicked"))??;
    Ok(Spread::of(samples))
}

/// The median time of `op` over [`FLOOR_CRYPTO_ROUNDS`] runs, in microseconds.
fn median_us(mut op: impl FnMut()) -> f64 {
    median_of(|| {
        let started = Instant::now();
        op();
        started.elapsed()
    })
}

/// The median in µs of the times `op` reports over [`FLOOR_CRYPTO_ROUNDS`] runs, for an
/// operation timed in parts.
fn median_of(mut op: impl FnMut() -> Duration) -> f64 {
    let mut samples: Vec<Duration> = (0..FLOOR_CRYPTO_ROUNDS).map(|_| op()).collect();
    samples.sort_unstable();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// The median time of `op` over [`FLOOR_CRYPTO_ROUNDS`] runs, each on the next of `inputs`
/// (at least as many): what a signature check costs when it is new, as each message's is,
/// and not one `ed25519` remembers as accepted.
fn median_us_each<T>(inputs: &[T], mut op: impl FnMut(&T)) -> f64 {
    assert!(inputs.len() >= FLOOR_CRYPTO_ROUNDS);
    let mut next = inputs.iter();
    median_us(|| op(next.next().expect("one input per round")))
}

/// Each crypto operation of a message's path, called as parley calls it, on a `size`-byte
/// message.
fn crypto(size: usize) -> anyhow::Result<Vec<OpCost>> {
    let (alice, bob) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
    );
    let link = LinkId::between(&alice.id(), &bob.id());
    let entry = Entry {
        link,
        author: alice.id(),
        seq: 1,
        prev: EntryId::NONE,
        seen: EntryId::NONE,
        time_ms: 1,
        precedence: Precedence::Flash,
        body: Body::Message {
            text: "x".repeat(size),
            lang: "en".into(),
            exercise: false,
            translations: Vec::new(),
        },
        operator: None,
    };
    let signed = entry.clone().sign(&alice);
    let sign_us = median_us(|| drop(std::hint::black_box(entry.clone().sign(&alice))));
    let entries: Vec<SignedEntry> = (1..=FLOOR_CRYPTO_ROUNDS as u64)
        .map(|time_ms| {
            Entry {
                time_ms,
                ..entry.clone()
            }
            .sign(&alice)
        })
        .collect();
    let verify_us = median_us_each(&entries, |signed| {
        SignedEntry::decode_verified(std::hint::black_box(signed.bytes()), &alice.id())
            .expect("verifies");
    });

    let epoch = EpochSecret::from_secret_bytes(&[3; 32]).context("an X-Wing key")?;
    let peer_key = PeerEpochKey::from_bytes(epoch.public_bytes()).context("its public key")?;
    let keyring = Keyring::new(epoch);
    let parties = SealParties {
        link,
        from: alice.id(),
        to: bob.id(),
    };
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut slot = None;
    let seal = |slot: &mut Option<Sealer>, rng: &mut ChaCha20Rng| {
        Sealer::seal(
            slot,
            rng,
            1,
            &parties,
            &peer_key,
            1,
            &signed.id(),
            signed.bytes(),
        )
    };
    let sealed = seal(&mut slot, &mut rng);
    let seal_us = median_us(|| drop(std::hint::black_box(seal(&mut slot, &mut rng))));
    let encapsulate_us = median_us(|| {
        let mut fresh = None;
        drop(std::hint::black_box(seal(&mut fresh, &mut rng)));
    });
    let open = |opener: &mut Opener| {
        opener
            .open(
                &keyring,
                &parties,
                &sealed.key_id,
                &sealed.encapsulated,
                1,
                &signed.id(),
                &sealed.ciphertext,
            )
            .expect("opens")
    };
    let mut opener = Opener::default();
    open(&mut opener);
    let open_us = median_us(|| drop(std::hint::black_box(open(&mut opener))));
    let decapsulate_us = median_us(|| {
        let mut fresh = Opener::default();
        drop(std::hint::black_box(open(&mut fresh)));
    });
    let (raw_us, batch_us) = raw_verification(&alice, size);
    let (leaf_us, checkpoint_us, pq_us) = checkpointing(&(alice.clone(), bob.clone()), &signed);
    Ok(vec![
        OpCost {
            op: "sign",
            us: sign_us,
            per_message: PATH_SIGNS,
        },
        OpCost {
            op: "verify",
            us: verify_us,
            per_message: PATH_VERIFIES,
        },
        OpCost {
            op: "seal",
            us: seal_us,
            per_message: 1,
        },
        OpCost {
            op: "open",
            us: open_us,
            per_message: 1,
        },
        OpCost {
            op: "seal with a new encapsulation",
            us: encapsulate_us,
            per_message: 0,
        },
        OpCost {
            op: "open with a new decapsulation",
            us: decapsulate_us,
            per_message: 0,
        },
        OpCost {
            op: "Merkle leaf hashed and added to a log's tree",
            us: leaf_us,
            per_message: PATH_LEAVES,
        },
        OpCost {
            op: "checkpoint at the default cadence (signed, checked, cosigned, the cosignature and a witness's checked), per entry",
            us: checkpoint_us,
            per_message: 0,
        },
        OpCost {
            op: "of which the ML-DSA-44 signature (signed, checked), per entry",
            us: pq_us,
            per_message: 0,
        },
        OpCost {
            op: "Ed25519 verify alone",
            us: raw_us,
            per_message: 0,
        },
        OpCost {
            op: "Ed25519 batch verify per signature",
            us: batch_us,
            per_message: 0,
        },
    ])
}

/// The checkpoints' share of a message: a Merkle leaf hashed and added to a tree (each station
/// adds each entry of the link to one of its two trees), and a checkpoint at the default
/// cadence (`[checkpoints] every_entries`, 64 entries; the author signs it and checks the
/// peer's cosignature and a witness's; the peer checks it, recomputes the root and cosigns)
/// divided among its entries, and of that the ML-DSA-44 signatures' share (the author signs
/// and the peer verifies the checkpoint; the peer signs and the author verifies the
/// cosignature); in microseconds.
fn checkpointing((alice, bob): &(Identity, Identity), signed: &SignedEntry) -> (f64, f64, f64) {
    let mut tree = Tree::default();
    let leaf_us = median_us(|| tree.push(std::hint::black_box(leaf_hash(signed.bytes()))));
    let cadence = CheckpointsConfig::default().every_entries;
    let tree = Tree::of(&vec![leaf_hash(signed.bytes()); cadence as usize]);
    let relay = Identity::from_secret(&[5; 32]);
    let (a, b) = (alice.id(), bob.id());
    let pq_key = alice.pq().public().clone();
    let cosigner_pq_key = bob.pq().public().clone();
    // ML-DSA-44 signing repeats its attempt a number of times that depends on the message:
    // each round signs another root at another time, so the median is a typical message's.
    let round = std::cell::Cell::new(0u64);
    let next_head = || {
        round.set(round.get() + 1);
        let mut root = tree.root();
        root[..8].copy_from_slice(&round.get().to_be_bytes());
        (SignedHead::sign(alice, &b, tree.len(), root), round.get())
    };
    let pq_us = median_us(|| {
        let (head, time_s) = next_head();
        let pq = PqHeadSignature::sign(alice, &b, &head);
        pq.verify(&head, (&a, &b), &pq_key)
            .expect("the peer checks it");
        let cosigned = Cosignature::sign(bob, &a, head, time_s);
        cosigned
            .verify_pq((&a, &b), &cosigner_pq_key)
            .expect("the author checks the cosigner's");
    });
    let checkpoint_us = median_of(|| {
        let started = Instant::now();
        let (head, time_s) = next_head();
        let pq = PqHeadSignature::sign(alice, &b, &head);
        head.verify_both((&a, &b), Some(&pq), (Some(&pq_key), true))
            .expect("the peer checks both signatures");
        std::hint::black_box(tree.root_at(head.size));
        let cosigned = Cosignature::sign(bob, &a, head, time_s);
        let peer = started.elapsed();
        // The author checks the head's signature again in its own process, where it is new.
        parley_proto::ed25519::forget_remembered();
        let started = Instant::now();
        cosigned
            .verify_both((&a, &b), (Some(&cosigner_pq_key), true))
            .expect("the author checks both signatures of the cosignature");
        let witnessed = WitnessCosignature::sign(&relay, (&a, &b), head, time_s);
        witnessed
            .verify(&a, &b)
            .expect("the author checks the witness's");
        peer + started.elapsed()
    });
    let per_entry = |us: f64| us / cadence as f64;
    (leaf_us, per_entry(checkpoint_us), per_entry(pq_us))
}

/// Ed25519 alone, without parley's encoding around it (parley's rule, `ed25519`): one
/// signature checked by itself, and one signature's share of checking
/// [`FLOOR_BATCH_SIGNATURES`] of `size`-byte messages by one key as a batch (gathering
/// included).
fn raw_verification(signer: &Identity, size: usize) -> (f64, f64) {
    use ed25519_dalek::Signer as _;
    use parley_proto::ed25519;
    let key = signer.id().verifying_key().expect("a valid key");
    let messages: Vec<Vec<u8>> = (0..FLOOR_BATCH_SIGNATURES)
        .map(|n| vec![n as u8; size])
        .collect();
    let signatures: Vec<ed25519_dalek::Signature> = messages
        .iter()
        .map(|message| signer.signing_key().sign(message))
        .collect();
    let alone: Vec<(Vec<u8>, ed25519_dalek::Signature)> = (0..FLOOR_CRYPTO_ROUNDS)
        .map(|n| {
            let message = format!("{n:0size$}").into_bytes();
            let signature = signer.signing_key().sign(&message);
            (message, signature)
        })
        .collect();
    let alone_us = median_us_each(&alone, |(message, signature)| {
        ed25519::verify(&key, std::hint::black_box(message), signature).expect("verifies");
    });
    let batch_us = median_us(|| {
        let mut batch = ed25519::Batch::new();
        for (message, signature) in std::hint::black_box(&messages).iter().zip(&signatures) {
            batch.push(&key, message, signature).expect("well formed");
        }
        batch.verify().expect("verifies");
    });
    (alone_us, batch_us / FLOOR_BATCH_SIGNATURES as f64)
}
