use std::os::unix::net::UnixListener;

use super::*;

/// A folder seen as a mount point counts as present only while something is mounted
/// there; one never seen so is a plain folder. Real file systems: `/proc` is a mount point
/// on every Linux system, a temporary folder is not.
#[test]
fn a_mount_point_left_empty_is_absent() {
    let plain = tempfile::tempdir().expect("a directory");
    assert!(!is_mount_point(plain.path()).expect("reads"));
    assert!(is_mount_point(Path::new("/proc")).expect("reads"));
    assert!(!check_mounted(plain.path(), false).expect("a plain folder"));
    assert!(check_mounted(Path::new("/proc"), false).expect("mounted"));
    assert!(check_mounted(Path::new("/proc"), true).expect("still mounted"));
    let error = check_mounted(plain.path(), true).expect_err("was mounted, is no more");
    assert!(error.to_string().contains("nothing is mounted"), "{error}");
}

/// Reports of a folder, until `enough` says so or 10 s pass; the station's side answers
/// each bundle with `import`, given the bundle's name and bytes (all of it held).
fn watch(
    reports: &mut tokio::sync::mpsc::Receiver<Report>,
    mut import: impl FnMut(&str, &[u8]),
    enough: impl FnMut(&[Report]) -> bool,
) -> Vec<Report> {
    let import = |name: &str, bytes: &[u8]| {
        import(name, bytes);
        Disposal::Delete
    };
    watch_disposing(reports, import, enough)
}

/// [`watch`], the station's side answering each bundle as `import` says.
fn watch_disposing(
    reports: &mut tokio::sync::mpsc::Receiver<Report>,
    mut import: impl FnMut(&str, &[u8]) -> Disposal,
    mut enough: impl FnMut(&[Report]) -> bool,
) -> Vec<Report> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !enough(&seen) && Instant::now() < deadline {
        match reports.try_recv() {
            Ok(Report::Bundle {
                via,
                name,
                bytes,
                done,
            }) => {
                let _ = done.send(Ok(import(&name, &bytes)));
                let (done, _) = oneshot::channel();
                seen.push(Report::Bundle {
                    via,
                    name,
                    bytes,
                    done,
                });
            }
            Ok(report) => seen.push(report),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    seen
}

fn imported(seen: &[Report]) -> Vec<Vec<u8>> {
    seen.iter()
        .filter_map(|report| match report {
            Report::Bundle { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// The name of the peer's bundle `n` to this station.
fn name(n: u64) -> String {
    let (me, peer) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
    );
    bundle_file_name(&peer.id(), &me.id(), 7, n)
}

/// A bundle from the peer to this station carrying `text` as its one frame.
fn bundle(text: &str) -> Vec<u8> {
    let (me, peer) = (
        Identity::from_secret(&[1; 32]),
        Identity::from_secret(&[2; 32]),
    );
    Bundle {
        link: LinkId::between(&peer.id(), &me.id()),
        from: peer.id(),
        to: me.id(),
        created_ms: 7,
        frames: vec![text.as_bytes().to_vec()],
    }
    .sign(&peer)
}

/// This station's folder thread on `dir`, scanning every 20 ms: its queue's sending side
/// (the thread runs while it is kept) and the reports it sends the station.
fn started(dir: &Path) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
    started_settling(dir, Duration::from_millis(FOLDER_SETTLE_MS))
}

/// [`started`], with files that are no whole bundle handed over once unchanged for
/// `settle`.
fn started_settling(
    dir: &Path,
    settle: Duration,
) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
    let read_again = Duration::from_millis(FOLDER_READ_AGAIN_MS);
    started_timed(dir, (settle, read_again))
}

/// [`started`], with its waits as given.
fn started_timed(
    dir: &Path,
    (settle, read_again): (Duration, Duration),
) -> (FolderSender, tokio::sync::mpsc::Receiver<Report>) {
    let (inbound, reports) = Inbound::new(64, 1 << 20);
    let me = Identity::from_secret(&[1; 32]);
    let scan = Duration::from_millis(20);
    let timing = Timing {
        scan,
        settle,
        read_again,
    };
    let sender = start_timed(Via::Folder(0), (dir.into(), me), timing, inbound).unwrap();
    (sender, reports)
}

fn scans(seen: &[Report]) -> usize {
    seen.iter()
        .filter(|report| matches!(report, Report::Health { .. }))
        .count()
}

#[test]
fn a_bundle_not_deleted_or_not_read_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let [first, second, third] = ["first", "second", "third"].map(bundle);
    for (n, bytes) in [(1, &first), (2, &second), (3, &third)] {
        fs::write(dir.path().join(name(n)), bytes).unwrap();
    }
    let (_sender, mut reports) = started(dir.path());
    let seen = watch(
        &mut reports,
        |_, bytes| {
            if bytes == first {
                // Imported, then cannot be deleted: a directory now stands in its place.
                let path = dir.path().join(name(1));
                fs::remove_file(&path).unwrap();
                fs::create_dir(&path).unwrap();
                fs::write(path.join("kept"), "").unwrap();
                // And the second is gone before it is read (a drive pulled, a file
                // replaced): the operating system's failure, not the file's.
                fs::remove_file(dir.path().join(name(2))).unwrap();
            }
        },
        |seen| scans(seen) >= 10,
    );
    assert_eq!(imported(&seen), [first, third]);
    for report in &seen {
        assert!(
            !matches!(
                report,
                Report::FileRefused { .. }
                    | Report::Health {
                        signal: Signal::Unavailable { .. },
                        ..
                    }
            ),
            "{report:?}"
        );
    }
    assert!(dir.path().join(name(1)).is_dir(), "nothing set aside");
    assert!(!dir.path().join(name(3)).exists(), "imported and deleted");
}

/// A scan takes the first [`FOLDER_SCAN_NAMES_MAX`] names addressed to this station, in
/// name order, and leaves the rest to the next: one name more than that waits a scan.
#[test]
fn a_scan_takes_a_bounded_number_of_names_the_rest_the_next() {
    let dir = tempfile::tempdir().unwrap();
    // Refused unread (not a regular file) and set aside at once: each scan's share shows
    // as the refusals before its health report.
    for n in 0..=FOLDER_SCAN_NAMES_MAX as u64 {
        fs::create_dir(dir.path().join(name(n))).unwrap();
    }
    let (_sender, mut reports) = started(dir.path());
    let seen = watch(&mut reports, |_, _| {}, |seen| scans(seen) >= 3);
    let mut per_scan = vec![0];
    for report in &seen {
        match report {
            Report::FileRefused { .. } => *per_scan.last_mut().unwrap() += 1,
            Report::Health { .. } => per_scan.push(0),
            _ => panic!("{report:?}"),
        }
    }
    assert_eq!(per_scan[..3], [FOLDER_SCAN_NAMES_MAX, 1, 0]);
    let last = (0..=FOLDER_SCAN_NAMES_MAX as u64).map(name).max().unwrap();
    let mut aside = dir.path().join(last).into_os_string();
    aside.push(REJECTED_SUFFIX);
    assert!(
        Path::new(&aside).is_dir(),
        "the last name, set aside in the second scan"
    );
}

/// Files that are no bundle, as many as a scan takes and sorting before every bundle, do
/// not keep the bundles out: each settles, is set aside, and the bundle after them is read.
#[test]
fn junk_that_fills_a_scan_is_set_aside_and_the_bundles_after_it_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let me = Identity::from_secret(&[1; 32]);
    let addressed = format!("-to-{}-", compact_fingerprint(&me.id()));
    for n in 0..FOLDER_SCAN_NAMES_MAX {
        let junk = format!("0{n:05}{addressed}x{BUNDLE_SUFFIX}");
        fs::write(dir.path().join(junk), b"junk").unwrap();
    }
    let whole = bundle("after the junk");
    fs::write(dir.path().join(name(1)), &whole).unwrap();
    let (_sender, mut reports) = started_settling(dir.path(), Duration::from_millis(50));
    // The station refuses the junk (not a bundle) and takes the bundle.
    let (mut refused, mut taken) = (0, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while taken.is_none() && Instant::now() < deadline {
        match reports.try_recv() {
            Ok(Report::Bundle { bytes, done, .. }) if bytes == b"junk" => {
                refused += 1;
                let _ = done.send(Err("not a bundle".into()));
            }
            Ok(Report::Bundle { bytes, done, .. }) => {
                taken = Some(bytes);
                let _ = done.send(Ok(Disposal::Delete));
            }
            Ok(_) => {}
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(taken, Some(whole), "the bundle after the junk is read");
    assert_eq!(
        refused, FOLDER_SCAN_NAMES_MAX,
        "every junk file refused once"
    );
    let aside = fs::read_dir(dir.path())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(REJECTED_SUFFIX)
        })
        .count();
    assert_eq!(aside, FOLDER_SCAN_NAMES_MAX, "and set aside");
}

/// A bundle still being copied in (written under its final name, as `cp` or a file manager
/// does) is left in place while it keeps changing, and read once whole; nothing is set
/// aside.
#[test]
fn a_bundle_being_copied_in_is_read_once_whole() {
    const SETTLE: Duration = Duration::from_secs(2);
    let dir = tempfile::tempdir().unwrap();
    let whole = bundle(&"x".repeat(4096));
    let path = dir.path().join(name(1));
    let (_sender, mut reports) = started_settling(dir.path(), SETTLE);
    // Copied in slowly: a part every two scans, for three times the settle time.
    let mut copied = 1;
    let began = Instant::now();
    let mut seen = Vec::new();
    while began.elapsed() < 3 * SETTLE {
        fs::write(&path, &whole[..copied]).unwrap();
        copied += 1;
        seen.extend(watch(&mut reports, |_, _| {}, |seen| scans(seen) >= 2));
    }
    assert!(imported(&seen).is_empty(), "{seen:?}");
    fs::write(&path, &whole).unwrap();
    let seen = watch(&mut reports, |_, _| {}, |seen| !imported(seen).is_empty());
    assert_eq!(imported(&seen), [whole]);
    // Deleted once imported, and nothing set aside.
    let emptied = (0..500).any(|_| {
        thread::sleep(Duration::from_millis(10));
        fs::read_dir(dir.path()).unwrap().count() == 0
    });
    assert!(emptied, "imported, deleted, nothing set aside");
}

/// A file that is no bundle is handed to the station (which refuses it) only once the
/// folder's thread has seen it unchanged for the settle time.
#[test]
fn a_file_that_stays_no_bundle_is_handed_over_once_settled() {
    const SETTLE: Duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    fs::write(dir.path().join(name(1)), b"not a bundle").unwrap();
    let (_sender, mut reports) = started_settling(dir.path(), SETTLE);
    let seen = watch(&mut reports, |_, _| {}, |seen| !imported(seen).is_empty());
    assert_eq!(imported(&seen), [b"not a bundle".to_vec()]);
    let waited = began.elapsed();
    assert!(waited >= SETTLE, "{waited:?}");
}

/// A bundle some of whose frames were refused for now is kept and read again once its
/// wait is over, not at every scan; once all of it is held, it is deleted.
#[test]
fn a_bundle_with_frames_refused_for_now_is_read_again_later() {
    const READ_AGAIN: Duration = Duration::from_millis(500);
    let dir = tempfile::tempdir().unwrap();
    let whole = bundle("over the intake allowance, for now");
    fs::write(dir.path().join(name(1)), &whole).unwrap();
    let settle = Duration::from_millis(FOLDER_SETTLE_MS);
    let (_sender, mut reports) = started_timed(dir.path(), (settle, READ_AGAIN));
    let mut reads = Vec::new();
    let mut disposal = |_: &str, _: &[u8]| {
        reads.push(Instant::now());
        match reads.len() {
            1 => Disposal::ReadAgainLater,
            _ => Disposal::Delete,
        }
    };
    let seen = watch_disposing(&mut reports, &mut disposal, |seen| {
        imported(seen).len() >= 2
    });
    assert_eq!(imported(&seen), [whole.clone(), whole]);
    let waited = reads[1] - reads[0];
    assert!(waited >= READ_AGAIN, "read again after {waited:?}");
    let emptied = (0..500).any(|_| {
        thread::sleep(Duration::from_millis(10));
        fs::read_dir(dir.path()).unwrap().count() == 0
    });
    assert!(emptied, "deleted once all of it is held");
}

#[test]
fn a_socket_is_set_aside_as_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let name = name(1);
    let _socket = UnixListener::bind(dir.path().join(&name)).unwrap();
    let (_sender, mut reports) = started(dir.path());
    let refused = |report: &Report| matches!(report, Report::FileRefused { .. });
    let seen = watch(&mut reports, |_, _| {}, |seen| seen.iter().any(refused));
    let reason = seen.iter().find_map(|report| match report {
        Report::FileRefused { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("is a socket")),
        "{reason:?}"
    );
    assert!(dir.path().join(format!("{name}{REJECTED_SUFFIX}")).exists());
}
