//! `parley transcript verify A B --expect FP` with real stations: one export from each side,
//! keys pinned by fingerprint. Two exports prove what one cannot (that a tail was not cut),
//! and name a disagreement precisely; the exit codes are those of docs/cli.md.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{await_all_delivered, exe, outcome, paired, path};
use parley_proto::transcript::{self, VerifiedTranscript};

fn verify(args: &[&str]) -> Output {
    let mut all = vec!["transcript", "verify"];
    all.extend_from_slice(args);
    Command::new(exe())
        .args(&all)
        .env_remove("PARLEY_HOME")
        .output()
        .expect("runs")
}

/// Runs `transcript verify args…`; returns its exit code, stdout and stderr.
fn run(args: &[&str]) -> (i32, String, String) {
    outcome(verify(args))
}

fn verified(file: &Path) -> VerifiedTranscript {
    transcript::verify(&std::fs::read(file).expect("read")).expect("verifies")
}

/// `file` without Alpha's last entry and Bravo's receipt (the last line): what someone who
/// wants Alpha's last message forgotten would hand on.
fn cut_alpha_tail(file: &Path, out: PathBuf) -> PathBuf {
    let record = verified(file);
    let (alpha, bravo) = (record.exporter(), record.peer());
    let alpha_first = alpha.identity < bravo.identity;
    let last_alpha_line = 3
        + alpha.entries() as usize
        + if alpha_first {
            0
        } else {
            bravo.entries() as usize
        };
    let text = std::fs::read_to_string(file).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.last().expect("lines").starts_with("{\"receipt\""));
    lines.pop();
    lines.remove(last_alpha_line - 1);
    std::fs::write(&out, lines.join("\n") + "\n").expect("write");
    out
}

#[test]
fn two_exports_agree_and_show_the_tail_one_of_them_lost() {
    let root = tempfile::tempdir().unwrap();
    let (mut alpha, mut bravo) = paired(root.path());
    alpha.start().unwrap();
    bravo.start().unwrap();
    for i in 0..3 {
        alpha.ok(&["send", "Bravo", &format!("alpha {i}")]).unwrap();
        bravo.ok(&["send", "Alpha", &format!("bravo {i}")]).unwrap();
    }
    await_all_delivered(&alpha, &bravo);
    // Alpha's last word is written after all of Bravo's entries, so none names it as seen:
    // only Bravo's receipt covers it.
    alpha.ok(&["send", "Bravo", "last word"]).unwrap();
    await_all_delivered(&alpha, &bravo);
    alpha.stop().unwrap();
    bravo.stop().unwrap();
    let (a, b) = (root.path().join("a.txt"), root.path().join("b.txt"));
    alpha.export_transcript("Bravo", &a).unwrap();
    bravo.export_transcript("Alpha", &b).unwrap();
    let (fp_a, fp_b) = (alpha.fingerprint().unwrap(), bravo.fingerprint().unwrap());

    // One file: what it proves and what it cannot.
    let (code, out, _) = run(&[path(&a), "--expect", &fp_a]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("transcript OK: link "), "{out}");
    assert!(out.contains("  exported by \"Alpha\" at "), "{out}");
    assert!(
        out.contains("  proven: \"Bravo\"'s log is complete as \"Alpha\" held it at export (4 entries); \"Bravo\" acknowledged \"Alpha\"'s entries up to 5"),
        "{out}"
    );
    assert!(
        out.contains("  not proven by this file alone: that \"Alpha\" wrote nothing after entry 5"),
        "{out}"
    );
    assert!(
        out.contains(&format!("  pinned: \"Alpha\" ({fp_a})")),
        "{out}"
    );

    // Both files, both keys pinned.
    let (code, out, err) = run(&[path(&a), path(&b), "--expect", &fp_a, "--expect", &fp_b]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("transcripts agree: link "), "{out}");
    assert!(out.contains("; 5 in "), "{out}");
    assert!(out.contains("held by \"Bravo\" up to 5"), "{out}");
    assert!(out.contains("held by \"Alpha\" up to 4"), "{out}");
    assert!(
        out.contains(&format!("  pinned: \"Bravo\" ({fp_b})")),
        "{out}"
    );

    // Alpha's last entry cut with Bravo's receipt: the file alone still verifies (and
    // claims nothing of Alpha's log); with Bravo's export the cut entry is back.
    let cut = cut_alpha_tail(&a, root.path().join("cut.txt"));
    let (code, out, _) = run(&[path(&cut)]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"Bravo\" acknowledged \"Alpha\"'s entries up to 0"),
        "{out}"
    );
    assert!(
        out.contains("that \"Alpha\" wrote nothing after entry 0"),
        "{out}"
    );
    let (code, out, err) = run(&[path(&cut), path(&b), "--expect", &fp_b]);
    assert_eq!(code, 0, "{err}");
    let alpha_line = out
        .lines()
        .find(|l| l.starts_with("  \"Alpha\" ("))
        .expect("Alpha's line");
    assert!(
        alpha_line.contains(": 5 entries, head ")
            && alpha_line.contains(&format!("; 4 in {}, 5 in {};", path(&cut), path(&b)))
            && alpha_line.ends_with("held by \"Bravo\" up to 5"),
        "{alpha_line}"
    );

    // Disagreements and refusals, each named, with their exit codes.
    let failed = |args: &[&str], code: i32, want: &str| {
        let (got, out, err) = run(args);
        assert_eq!(got, code, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err} lacks {want}");
        assert!(
            out.is_empty(),
            "nothing printed on success's channel: {out}"
        );
    };
    failed(
        &[path(&a), path(&a), "--expect", &fp_a],
        4,
        "error: transcript verification FAILED: the two transcripts disagree: both were exported by Alpha; verify one export from each side",
    );
    failed(
        &[
            path(&a),
            path(&b),
            "--expect",
            "0000-0000-0000-0000-0000-0000-0000-0000",
        ],
        4,
        "error: transcript verification FAILED: no station of the transcript has the expected fingerprint 0000-0000-0000-0000-0000-0000-0000-0000",
    );
    failed(&[path(&a), path(&b)], 2, "add --expect FP");
    failed(
        &[path(&a), "--expect", "x", "--expect", "y", "--expect", "z"],
        2,
        "at most twice",
    );
    // The same station pinned twice pins one of them: refused, however it is written.
    let fp_a_plain = fp_a.replace('-', "").to_uppercase();
    failed(
        &[
            path(&a),
            path(&b),
            "--expect",
            &fp_a,
            "--expect",
            &fp_a_plain,
        ],
        2,
        "names the same fingerprint twice",
    );
    failed(
        &[path(&a), path(&b), "--expect", "not hex"],
        3,
        "not a fingerprint",
    );
    // A forged file of the pair is named with its line.
    let swapped = root.path().join("swapped.txt");
    let text = std::fs::read_to_string(&a).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    std::fs::write(&swapped, lines.join("\n") + "\n").unwrap();
    let receipt_line = lines
        .iter()
        .position(|l| l.starts_with("{\"receipt\""))
        .unwrap()
        + 1;
    failed(
        &[path(&swapped), path(&b), "--expect", &fp_a],
        4,
        &format!(
            "error: transcript verification FAILED in {} at line {receipt_line}: the first receipt must be the exporter's (Bravo), it is signed by Alpha",
            path(&swapped)
        ),
    );
    failed(
        &[path(&swapped)],
        4,
        &format!(
            "error: transcript verification FAILED at line {receipt_line}: the first receipt must be the exporter's (Bravo)"
        ),
    );
    // Bravo's card changes with its language: the exports no longer hold the same card.
    bravo.configure(|config| config.lang = "de".into()).unwrap();
    let b2 = root.path().join("b2.txt");
    bravo.export_transcript("Alpha", &b2).unwrap();
    failed(
        &[path(&a), path(&b2), "--expect", &fp_a],
        4,
        &format!("the two transcripts disagree: they hold different cards for Bravo ({fp_b})"),
    );
}
