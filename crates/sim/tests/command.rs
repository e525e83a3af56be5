//! The `parley-sim` command: the same runs whatever the number of jobs, the first failure with
//! a replay command that reproduces it, the fault list, and the continuous mode.

use std::process::{Command, Output};

use serde_json::Value;

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parley-sim"))
        .args(args)
        .output()
        .expect("parley-sim runs")
}

/// Runs `args` with `--json`; returns the exit code and the summary.
fn summary(args: &[&str]) -> (Option<i32>, Value) {
    let mut all = args.to_vec();
    all.push("--json");
    let output = sim(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {stdout} / {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), summary)
}

#[test]
fn one_job_or_two_run_the_same_seeds_the_same_way() {
    let (code, one) = summary(&["--seeds", "8", "--from", "100", "--jobs", "1"]);
    assert_eq!(code, Some(0), "{one}");
    let (code, two) = summary(&["--seeds", "8", "--from", "100", "--jobs", "2"]);
    assert_eq!(code, Some(0), "{two}");
    assert_eq!(one["seeds"], 8);
    assert_eq!(
        (one["first_seed"].clone(), one["last_seed"].clone()),
        (100.into(), 107.into())
    );
    assert_eq!(one["trace_digest"], two["trace_digest"]);
    assert_eq!(one["exercised"], two["exercised"]);
    // A different range is a different trace.
    let (_, other) = summary(&["--seeds", "8", "--from", "108", "--jobs", "2"]);
    assert_ne!(one["trace_digest"], other["trace_digest"]);
}

#[test]
fn a_broken_world_is_caught_and_its_replay_fails_the_same_way() {
    for broken in [
        "lossy-disk",
        "answer-before-commit",
        "erase-keys-early",
        "erase-keys-for-one-peer",
    ] {
        let (code, caught) = summary(&["--seeds", "20", "--break", broken]);
        assert_eq!(
            code,
            Some(1),
            "{broken} must be caught within 20 seeds: {caught}"
        );
        let failure = &caught["failure"];
        let replay = failure["replay"].as_str().expect("a replay command");
        let seed = failure["seed"].as_u64().expect("seed").to_string();
        let expected = format!(
            "cargo run --release -p parley-sim -- --from {seed} --seeds 1 --break {broken}"
        );
        assert_eq!(replay, expected);
        let args: Vec<&str> = replay
            .split(' ')
            .skip_while(|a| *a != "--")
            .skip(1)
            .collect();
        let (code, again) = summary(&args);
        assert_eq!(code, Some(1));
        assert_eq!(again["failure"]["reason"], failure["reason"], "{broken}");
    }
}

#[test]
fn faults_are_chosen_by_name() {
    let output = sim(&["--faults", "loss,typo"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no fault is called \"typo\""), "{stderr}");
    assert!(stderr.contains("loss, duplicate, late"), "{stderr}");
    let (code, quiet) = summary(&["--seeds", "3", "--faults", "loss,duplicate"]);
    assert_eq!(code, Some(0), "{quiet}");
    let exercised = &quiet["exercised"];
    assert!(exercised["frames dropped"].as_u64() > Some(0));
    assert_eq!(exercised["crashes"], 0);
    assert_eq!(exercised["attacks"], 0);
    assert_eq!(exercised["operators' answers"], 0);
    assert_eq!(exercised["messages cancelled"], 0);
    assert_eq!(exercised["codebooks proposed"], 0);
    assert_eq!(exercised["schedules of tests changed"], 0);
    assert_eq!(exercised["relay store losses"], 0);
    assert_eq!(exercised["courier bundles carried"], 0);
    assert_eq!(exercised["reboots with a wrong clock"], 0);
    let (code, carried) = summary(&["--seeds", "3", "--faults", "relay-loss,courier"]);
    assert_eq!(code, Some(0), "{carried}");
    let exercised = &carried["exercised"];
    assert!(
        exercised["relay store losses"].as_u64() > Some(0),
        "{carried}"
    );
    assert!(
        exercised["courier bundles carried"].as_u64() > Some(0),
        "{carried}"
    );
    assert_eq!(
        carried["faults_on"]["relay"], 3,
        "relay-loss needs the relay"
    );
}

#[test]
fn the_continuous_mode_runs_consecutive_seeds_until_time_runs_out() {
    let (code, ran) = summary(&["--duration", "2s", "--from", "500"]);
    assert_eq!(code, Some(0), "{ran}");
    let seeds = ran["seeds"].as_u64().expect("seeds");
    assert!(seeds >= 1, "{ran}");
    assert_eq!(ran["first_seed"], 500);
    assert_eq!(ran["last_seed"].as_u64(), Some(500 + seeds - 1));
    for bad in [
        &["--duration", "soon"][..],
        &["--duration", "8761h"],
        &["--from", "18446744073709551615", "--seeds", "2"],
    ] {
        let output = sim(bad);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
}
