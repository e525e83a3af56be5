//! Transcripts exported while two daemons exchange messages are each one consistent state of
//! the store: every export verifies, and the exporter's own receipt covers exactly the peer's
//! entries it holds. Hundreds of exports run while at least 1,000 messages flow.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use common::{await_all_delivered, paired};
use parley_proto::transcript;
use parley_testkit::harness::StationProcess;

/// Messages each station sends at least while the exports run.
const MESSAGES_EACH: usize = 500;
/// Exports that must run while messages flow; the stations keep sending until they have.
const EXPORTS_MIN: u64 = 200;
/// Most messages each station sends, however slow the exports.
const MESSAGES_EACH_MAX: usize = 5_000;

/// Exports `station`'s transcript of the link with `peer` again and again until `done`,
/// verifying each and counting it in `exported`; returns how many verified.
fn export_until(
    station: &StationProcess,
    peer: &str,
    dir: &std::path::Path,
    (done, exported): (&AtomicBool, &AtomicU64),
) -> u64 {
    let mut verified = 0;
    let file = dir.join(format!("{}-live.txt", station.name));
    while !done.load(Ordering::SeqCst) {
        station.export_transcript(peer, &file).expect("export");
        let bytes = std::fs::read(&file).expect("read");
        let summary = transcript::verify(&bytes)
            .unwrap_or_else(|error| panic!("export {verified} does not verify: {error}"));
        let peer_log = summary.peer();
        assert_eq!(
            peer_log.receipted_upto,
            Some(peer_log.entries()),
            "the exporter's receipt covers exactly the peer entries in the file"
        );
        verified += 1;
        exported.fetch_add(1, Ordering::SeqCst);
    }
    verified
}

#[test]
fn every_transcript_exported_under_live_traffic_verifies() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    let (alpha, bravo) = (Arc::new(alpha), Arc::new(bravo));
    let done = Arc::new(AtomicBool::new(false));
    let exported = Arc::new(AtomicU64::new(0));
    let exporters: Vec<_> = [(alpha.clone(), "Bravo"), (bravo.clone(), "Alpha")]
        .into_iter()
        .map(|(station, peer)| {
            let (done, exported) = (done.clone(), exported.clone());
            let dir = root.path().to_owned();
            thread::spawn(move || export_until(&station, peer, &dir, (&done, &exported)))
        })
        .collect();
    let senders: Vec<_> = [(alpha.clone(), "Bravo"), (bravo.clone(), "Alpha")]
        .into_iter()
        .map(|(station, peer)| {
            let exported = exported.clone();
            thread::spawn(move || {
                let mut sent = 0;
                while sent < MESSAGES_EACH
                    || (exported.load(Ordering::SeqCst) < EXPORTS_MIN && sent < MESSAGES_EACH_MAX)
                {
                    station
                        .ok(&["send", peer, &format!("live {sent}")])
                        .expect("send");
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    let during_traffic = exported.load(Ordering::SeqCst);
    await_all_delivered(&alpha, &bravo);
    done.store(true, Ordering::SeqCst);
    let exports: u64 = exporters.into_iter().map(|e| e.join().unwrap()).sum();
    eprintln!(
        "{exports} exports, {during_traffic} of them while {sent} messages were sent, all verified"
    );
    assert!(
        during_traffic >= EXPORTS_MIN,
        "only {during_traffic} exports ran while messages were sent"
    );
    let (mut alpha, mut bravo) = (
        Arc::try_unwrap(alpha).ok().unwrap(),
        Arc::try_unwrap(bravo).ok().unwrap(),
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
