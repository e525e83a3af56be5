//! What `transcript verify` prints: what a verified file proves and cannot, what each
//! checkpoint obtained apart proves, and whether two exports agree; and what `transcript
//! check` found comparing a file with the station's own record.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `transcript verify FILE`'s report: the file's logs, then what it proves and what it cannot
/// (docs/formats.md §8.4).
pub fn verified(transcript: &VerifiedTranscript, pins: &[Fingerprint]) {
    println!("transcript OK: link {}", hex::encode(transcript.link.0));
    for station in &transcript.stations {
        println!(
            "  {} ({}): {} entries, head {}, receipted by the other side up to {}",
            quoted(&station.name),
            station.fingerprint(),
            station.entries(),
            &station.head().to_hex()[..16],
            station
                .receipted_upto
                .map_or_else(|| "-".to_owned(), |upto| upto.to_string())
        );
        let kinds: Vec<String> = station
            .kinds
            .present()
            .map(|(kind, count)| format!("{count} {}", kind.name()))
            .collect();
        if !kinds.is_empty() {
            println!("    by kind: {}", kinds.join(", "));
        }
    }
    let exporter = quoted(&transcript.exporter().name);
    let peer = quoted(&transcript.peer().name);
    let acknowledged = transcript.exporter_acknowledged();
    println!(
        "  exported by {exporter} at {} UTC ms: the first card and the first receipt are {exporter}'s",
        transcript.exported_ms
    );
    println!(
        "  proven: {peer}'s log is complete as {exporter} held it at export ({} entries); {peer} acknowledged {exporter}'s entries up to {acknowledged}",
        transcript.peer().entries()
    );
    let exporter_log = transcript.exporter();
    for (station, other) in [
        (exporter_log, transcript.peer()),
        (transcript.peer(), exporter_log),
    ] {
        if let Some(proven) = station.proven {
            // Said when only Ed25519 signs it: a quantum adversary could forge that cosignature.
            let classical = match proven.post_quantum {
                true => "",
                false => " (Ed25519 alone: no post-quantum signature)",
            };
            println!(
                "  proven: {}'s log holds at least entries 1 to {} as {} cosigned its checkpoint at {}{classical}",
                quoted(&station.name),
                proven.size,
                quoted(&other.name),
                instant(proven.time_s.saturating_mul(1_000))
            );
        }
        for witnessed in &station.witnessed {
            let (witness, compare) = match witnessed.witness.is_relay() {
                true => (
                    text(&witnessed.witness.name),
                    "the key the file names: compare it with the relay's card".to_owned(),
                ),
                false => (
                    quoted(&witnessed.witness.name),
                    format!(
                        "a stock witness, by the name the file gives it: compare its verifier key {} with the one the witness publishes",
                        text(&witnessed.witness.verifier_key())
                    ),
                ),
            };
            println!(
                "  proven: {}'s log holds at least entries 1 to {} as witness {witness} cosigned its checkpoint at {} ({compare})",
                quoted(&station.name),
                witnessed.size,
                instant(witnessed.time_s.saturating_mul(1_000))
            );
        }
    }
    println!(
        "  not proven by this file alone: that {exporter} wrote nothing after entry {acknowledged}; a copy cut there, with {peer}'s later receipt, verifies too. Verify it with {peer}'s export (parley transcript verify FILE OTHER --expect FP), or against a checkpoint obtained apart (--checkpoint NOTE)"
    );
    pinned(&transcript.stations, pins, |s| {
        ([s.fingerprint(), s.identity.key_fingerprint()], &s.name)
    });
}

/// `transcript verify --checkpoint`: what each checkpoint proved of a verified file.
pub fn checkpoint_proofs(transcript: &VerifiedTranscript, proofs: &[(String, CheckpointProof)]) {
    for (file, proof) in proofs {
        let author = quoted(&transcript.stations[proof.station].name);
        let other = quoted(&transcript.stations[1 - proof.station].name);
        let cosigned = proof.cosigned_s.map_or_else(
            || format!(", not cosigned by {other}"),
            |s| {
                format!(
                    ", cosigned by {other} at {}",
                    instant(s.saturating_mul(1_000))
                )
            },
        );
        println!(
            "  checkpoint {file}: {author}'s log is in the file up to entry {} with the root {author} signed{cosigned}",
            proof.size
        );
    }
}

/// `transcript verify FILE OTHER --expect FP`'s report: the two exports as one record, then
/// what they prove and what they cannot (docs/formats.md §8.5).
pub fn agreed(agreement: &Agreement, files: [&Path; 2], pins: &[Fingerprint]) {
    let [first, second] = files.map(|f| text(&f.display().to_string()));
    println!("transcripts agree: link {}", hex::encode(agreement.link.0));
    for (station, other) in agreement
        .stations
        .iter()
        .zip(agreement.stations.iter().rev())
    {
        println!(
            "  {} ({}): {} entries, head {}; {} in {first}, {} in {second}; held by {} up to {}",
            quoted(&station.name),
            station.fingerprint(),
            station.ids.len(),
            &station.head().to_hex()[..16],
            station.held[0],
            station.held[1],
            quoted(&other.name),
            station.acknowledged,
        );
    }
    let [a, b] = &agreement.stations;
    println!(
        "  proven: the two exports hold the same entries wherever both hold one, and every entry either station held of the other's log when it exported"
    );
    println!(
        "  not proven: entries the other side had not received when it exported ({}'s after {}, {}'s after {}): only their author's export shows them, and it could have been cut there",
        quoted(&a.name),
        a.acknowledged,
        quoted(&b.name),
        b.acknowledged
    );
    pinned(&agreement.stations, pins, |s| {
        ([s.fingerprint(), s.identity.key_fingerprint()], &s.name)
    });
}

/// One `pinned:` line per fingerprint given, in the order given: a station's fingerprints are
/// its card's and its key's (docs/formats.md §2).
fn pinned<S>(
    stations: &[S; 2],
    pins: &[Fingerprint],
    key: impl Fn(&S) -> ([Fingerprint; 2], &String),
) {
    for pin in pins {
        if let Some((_, name)) = stations.iter().map(&key).find(|(f, _)| f.contains(pin)) {
            println!("  pinned: {} ({pin})", quoted(name));
        }
    }
}

/// `transcript check`'s report; an error of the peer's class (exit 4) after it when the file
/// contradicts the station's record.
pub fn transcript_checked(checked: &TranscriptChecked, as_json: bool) -> anyhow::Result<()> {
    let peer = quoted(&checked.peer);
    if as_json {
        json(checked)?;
    } else {
        let exporter = checked.exporter.named(&peer);
        let verdict = if checked.agrees() {
            "agrees with"
        } else {
            "CONTRADICTS"
        };
        println!(
            "transcript {verdict} this station's record of the link with {peer} (exported by {exporter})"
        );
        for (whose, log) in [
            ("this station's log".to_owned(), &checked.own),
            (format!("{peer}'s log"), &checked.peer_log),
        ] {
            let found = match (log.differs_at, log.alarm) {
                (None, _) => "the same entries wherever both hold one".to_owned(),
                (Some(seq), Some(alarm)) => {
                    format!("another entry at seq {seq}: alarm {alarm}")
                }
                (Some(seq), None) => format!("another entry at seq {seq}"),
            };
            println!(
                "  {whose}: {} entries in the file, {} held here, {} alike; {found}",
                log.in_file, log.held, log.agreed
            );
        }
    }
    if checked.agrees() {
        return Ok(());
    }
    let seqs: Vec<String> = [
        ("this station's", &checked.own),
        ("the peer's", &checked.peer_log),
    ]
    .into_iter()
    .filter_map(|(whose, log)| {
        let seq = log.differs_at?;
        let alarm = log
            .alarm
            .map_or_else(String::new, |id| format!(" (alarm {id})"));
        Some(format!("{whose} log at seq {seq}{alarm}"))
    })
    .collect();
    Err(ApiError::new(
        ErrorClass::Peer,
        format!(
            "transcript check FAILED: the file contradicts this station's record of the link \
             with {peer}: {}; the file's entry at each is kept as evidence",
            seqs.join(", ")
        ),
    )
    .into())
}

/// `transcript recover`'s report: what was taken back, and whether the link takes new entries.
pub fn transcript_recovered(recovered: &TranscriptRecovered, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(recovered);
    }
    let peer = quoted(&recovered.peer);
    let exporter = recovered.exporter.named(&peer);
    if recovered.recovered == 0 {
        println!(
            "recovered no entry of this station's log of the link with {peer}: the transcript \
             (exported by {exporter}) holds none that {peer} receipted beyond this store's, \
             which ends at seq {}",
            recovered.written
        );
    } else {
        println!(
            "recovered {} entries of this station's log of the link with {peer} (seq {} to {}) \
             from a transcript exported by {exporter}; {peer} has receipted up to seq {}",
            recovered.recovered,
            recovered.from_seq + 1,
            recovered.written,
            recovered.receipted_upto
        );
    }
    if recovered.peer_entries > 0 {
        println!(
            "  took {} entries of {peer}'s log that this store lacked",
            recovered.peer_entries
        );
    }
    match &recovered.log_closed {
        None => println!("  the link with {peer} takes new entries"),
        Some(closed) => println!(
            "  still no more is written to {peer}: {}",
            parley_proto::names::escaped(&closed.reason)
        ),
    }
    Ok(())
}
