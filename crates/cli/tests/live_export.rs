//! Transcripts exported while two daemons exchange messages are each one consistent state of
//! the store: every export verifies, and the exporter's own receipt covers exactly the peer's
//! entries it holds.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{await_all_delivered, paired};
use parley_proto::transcript;
use parley_testkit::harness::StationProcess;

/// Messages each station sends while the exports run.
const MESSAGES_EACH: usize = 500;

/// Exports `station`'s transcript of the link with `peer` again and again until `done`,
/// verifying each; returns how many verified.
fn export_until(
    station: &StationProcess,
    peer: &str,
    dir: &std::path::Path,
    done: &AtomicBool,
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
    let exporters: Vec<_> = [(alpha.clone(), "Bravo"), (bravo.clone(), "Alpha")]
        .into_iter()
        .map(|(station, peer)| {
            let (done, dir) = (done.clone(), root.path().to_owned());
            thread::spawn(move || export_until(&station, peer, &dir, &done))
        })
        .collect();
    let senders: Vec<_> = [(alpha.clone(), "Bravo"), (bravo.clone(), "Alpha")]
        .into_iter()
        .map(|(station, peer)| {
            thread::spawn(move || {
                for i in 0..MESSAGES_EACH {
                    station
                        .ok(&["send", peer, &format!("live {i}")])
                        .expect("send");
                }
            })
        })
        .collect();
    for sender in senders {
        sender.join().unwrap();
    }
    await_all_delivered(&alpha, &bravo);
    done.store(true, Ordering::SeqCst);
    let exports: u64 = exporters.into_iter().map(|e| e.join().unwrap()).sum();
    eprintln!("{exports} exports under live traffic, all verified");
    assert!(exports >= 20, "only {exports} exports ran");
    let (mut alpha, mut bravo) = (
        Arc::try_unwrap(alpha).ok().unwrap(),
        Arc::try_unwrap(bravo).ok().unwrap(),
    );
    alpha.stop().unwrap();
    bravo.stop().unwrap();
}
