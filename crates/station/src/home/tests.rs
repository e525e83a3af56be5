use super::*;

/// A home's own files are written whole under their mode, past anything planted at a
/// temporary name (a link to elsewhere, a FIFO that would block a writer).
#[test]
fn a_file_of_the_home_is_written_past_what_is_planted_beside_it() {
    let dir = tempfile::tempdir().expect("a directory");
    let elsewhere = dir.path().join("elsewhere");
    fs::write(&elsewhere, b"untouched").expect("writes");
    let home = dir.path().join("home");
    fs::create_dir(&home).expect("creates");
    std::os::unix::fs::symlink(&elsewhere, home.join("identity.tmp")).expect("links");
    // mkfifo(1) keeps this crate free of unsafe code.
    let made = std::process::Command::new("mkfifo")
        .arg(home.join("parley.tmp"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    write_private(&home.join("identity.key"), b"secret", 0o600).expect("writes");
    write_private(&home.join("parley.toml"), b"name = 1", 0o644).expect("writes");
    assert_eq!(fs::read(&elsewhere).expect("reads"), b"untouched");
    assert_eq!(
        fs::read(home.join("identity.key")).expect("reads"),
        b"secret"
    );
    let mode = |name: &str| {
        fs::metadata(home.join(name))
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("identity.key"), 0o600);
    assert_eq!(mode("parley.toml") & 0o600, 0o600);
    assert_eq!(mode("parley.toml") & 0o022, 0, "never writable by others");
    let left: Vec<String> = fs::read_dir(&home)
        .expect("lists")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .filter(|name| name.starts_with(".parley-"))
        .collect();
    assert!(left.is_empty(), "no temporary file is left: {left:?}");
}

#[test]
fn timing_limits_hold_on_both_sides() {
    let base = Config::new("A".into(), "en".into(), DEFAULT_LISTEN.into());
    assert_eq!(base.check_timing(), Ok(()));
    let with = |change: fn(&mut Config)| {
        let mut config = base.clone();
        change(&mut config);
        config.check_timing()
    };
    assert!(with(|c| c.relay.heartbeat_interval_ms = INTERVAL_MS_MIN).is_ok());
    assert!(with(|c| c.relay.heartbeat_interval_ms = INTERVAL_MS_MIN - 1).is_err());
    assert!(with(|c| c.courier.scan_interval_ms = INTERVAL_MS_MAX).is_ok());
    assert!(with(|c| c.courier.scan_interval_ms = INTERVAL_MS_MAX + 1).is_err());
    // Down within three heartbeats: the idle timeout may be three intervals, not more.
    assert!(with(|c| c.direct.idle_timeout_ms = 3 * c.direct.heartbeat_interval_ms).is_ok());
    let error = with(|c| c.direct.idle_timeout_ms = 3 * c.direct.heartbeat_interval_ms + 1);
    assert!(
        error
            .unwrap_err()
            .contains("at most three heartbeat intervals")
    );
    assert!(with(|c| c.direct.idle_timeout_ms = c.direct.heartbeat_interval_ms).is_err());
    assert!(with(|c| c.relay.poll_wait_ms = parley_relay_wire::limits::FETCH_WAIT_MS_MAX).is_ok());
    assert!(
        with(|c| c.relay.poll_wait_ms = parley_relay_wire::limits::FETCH_WAIT_MS_MAX + 1).is_err()
    );
}

#[test]
fn the_metrics_address_is_checked() {
    let text = "name = \"A\"\nlang = \"en\"\nlisten = \"127.0.0.1:7300\"\n";
    let base: Config = toml::from_str(text).expect("no [metrics]");
    assert_eq!(base.metrics, None);
    let with = |section: &str| toml::from_str::<Config>(&format!("{text}{section}"));
    let config = with("[metrics]\nlisten = \"0.0.0.0:9464\"\n").expect("parses");
    assert_eq!(config.check(), Ok(()));
    let config = with("[metrics]\nlisten = \"localhost:9464\"\n").expect("parses");
    let error = config.check().expect_err("not IP:PORT");
    assert!(error.contains("metrics.listen = \"localhost:9464\" is not IP:PORT"));
    assert!(with("[metrics]\nlisten = \"127.0.0.1:1\"\nport = 2\n").is_err());
    assert!(with("[metrics]\n").is_err(), "listen is required");
}

/// `[checkpoints]` and `[keys]`: both sides of each bound, and the key settings in ms.
#[test]
fn checkpoint_and_key_limits_hold_on_both_sides() {
    use crate::limits::{
        CHECKPOINT_EVERY_ENTRIES_MAX, CHECKPOINT_EVERY_S_MAX, EPOCH_RETAIN_DAYS_MAX,
        EPOCH_RETAIN_DAYS_MIN, EPOCH_ROTATE_DAYS_MAX,
    };
    let base = Config::new("A".into(), "en".into(), DEFAULT_LISTEN.into());
    assert_eq!(base.check(), Ok(()));
    let with = |change: &dyn Fn(&mut Config)| {
        let mut config = base.clone();
        change(&mut config);
        config.check()
    };
    type Case<'a> = (&'a dyn Fn(&mut Config), Option<&'a str>);
    let cases: [Case; 10] = [
        (&|c| c.checkpoints.every_entries = 1, None),
        (
            &|c| c.checkpoints.every_entries = 0,
            Some("checkpoints.every_entries = 0"),
        ),
        (
            &|c| c.checkpoints.every_entries = CHECKPOINT_EVERY_ENTRIES_MAX,
            None,
        ),
        (
            &|c| c.checkpoints.every_s = CHECKPOINT_EVERY_S_MAX + 1,
            Some("checkpoints.every_s"),
        ),
        (&|c| c.keys.epoch_rotate_days = 0, None),
        (&|c| c.keys.epoch_rotate_days = EPOCH_ROTATE_DAYS_MAX, None),
        (
            &|c| c.keys.epoch_rotate_days = EPOCH_ROTATE_DAYS_MAX + 1,
            Some("keys.epoch_rotate_days = 3651 is outside 0..=3650"),
        ),
        (&|c| c.keys.epoch_retain_days = EPOCH_RETAIN_DAYS_MIN, None),
        (
            &|c| c.keys.epoch_retain_days = EPOCH_RETAIN_DAYS_MIN - 1,
            Some("keys.epoch_retain_days = 0 is outside 1..=3650"),
        ),
        (
            &|c| c.keys.epoch_retain_days = EPOCH_RETAIN_DAYS_MAX + 1,
            Some("keys.epoch_retain_days = 3651"),
        ),
    ];
    for (index, (change, refused)) in cases.into_iter().enumerate() {
        match (with(change), refused) {
            (Ok(()), None) => {}
            (Err(error), Some(expected)) => {
                assert!(error.contains(expected), "{index}: {error}")
            }
            (got, _) => panic!("case {index}: {got:?}"),
        }
    }
    const DAY_MS: u64 = 86_400_000;
    let keys = KeysConfig {
        epoch_rotate_days: 0,
        epoch_retain_days: 2,
    };
    let settings = keys.settings();
    assert_eq!(
        (settings.rotate_every_ms, settings.retain_ms),
        (None, 2 * DAY_MS)
    );
    let settings = KeysConfig::default().settings();
    assert_eq!(settings.rotate_every_ms, Some(30 * DAY_MS));
    let text =
        "name = \"A\"\nlang = \"en\"\nlisten = \"127.0.0.1:7300\"\n[keys]\nepoch_rotate_days = 7\n";
    let config: Config = toml::from_str(text).expect("parses");
    assert_eq!(
        (config.keys.epoch_rotate_days, config.keys.epoch_retain_days),
        (7, 14)
    );
}

#[test]
fn unknown_keys_in_parley_toml_are_refused() {
    let text =
        "name = \"A\"\nlang = \"en\"\nlisten = \"127.0.0.1:7300\"\n[relay]\nheartbeat_ms = 5\n";
    assert!(toml::from_str::<Config>(text).is_err());
    let text = "name = \"A\"\nlang = \"en\"\nlisten = \"127.0.0.1:7300\"\n[relay]\nheartbeat_interval_ms = 500\n";
    let config: Config = toml::from_str(text).expect("partial tables take defaults");
    assert_eq!(config.relay.heartbeat_interval_ms, 500);
    assert_eq!(config.courier, CourierTiming::default());
}
