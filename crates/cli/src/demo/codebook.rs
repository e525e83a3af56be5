//! The demo's codebook section: the example codebook agreed, a coded message and a launch
//! notice sent by Alpha (English) and read at Bravo (Russian) in both languages, and a notice
//! that breaks its form's rule refused at Alpha before anything is stored.

use anyhow::{Context as _, ensure};
use parley_testkit::harness::StationProcess;
use serde_json::Value;

use super::{DEMO_WATCH_TIMEOUT_S, Timeline};

/// The example codebook shipped with parley (English and Russian).
const EXAMPLE_CODEBOOK: &str = include_str!("../../../../examples/codebook.toml");

/// Lead time of the demo's launch notice, in hours (the form requires at least 24).
const DEMO_LAUNCH_LEAD_H: i64 = 48;

pub(super) fn run(
    t: &Timeline,
    dir: &std::path::Path,
    alpha: &StationProcess,
    bravo: &StationProcess,
) -> anyhow::Result<()> {
    let file = dir.join("codebook.toml");
    std::fs::write(&file, EXAMPLE_CODEBOOK)?;
    let proposed = alpha.ok(&[
        "codebook",
        "propose",
        "Bravo",
        file.to_str().context("path")?,
    ])?;
    t.say(format!("Alpha {}", proposed.trim()));
    let hash = proposed
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    await_json(bravo, &["codebook", "show", "Alpha"], |report| {
        report["codebooks"]
            .as_array()
            .is_some_and(|books| books.iter().any(|book| book["hash"] == hash))
    })?;
    let accepted = bravo.ok(&["codebook", "accept", "Alpha", "--operator", "Boris"])?;
    t.say(format!(
        "Bravo's operator reviews it (codebook show) and {}",
        accepted.trim()
    ));
    await_json(alpha, &["codebook", "show", "Bravo"], |report| {
        report["current"] == hash
    })?;
    t.say("agreed on both sides: only a code number or a form and typed values travel from now on");

    let coded = alpha.ok(&["send", "Bravo", "--precedence", "immediate", "--code", "3"])?;
    let launch = time::OffsetDateTime::now_utc() + time::Duration::hours(DEMO_LAUNCH_LEAD_H);
    let launch = launch
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let notice = alpha.ok(&[
        "notice",
        "Bravo",
        "missile_launch",
        "--field",
        &format!("planned_launch={launch}"),
        "--field",
        "missile_class=icbm",
        "--field",
        "launch_area=62.9,40.5/30",
        "--field",
        "impact_area=53.0,158.0;54.0,158.0;54.0,160.0",
    ])?;
    t.say("Alpha (en) sends code 3 and a ballistic missile launch notice; Bravo (ru) reads both in Russian, with the English beside:");
    for id in [coded.trim(), notice.trim()] {
        let item = await_json(bravo, &["inbox"], |inbox| {
            inbox
                .as_array()
                .is_some_and(|items| items.iter().any(|item| item["id"] == id))
        })?;
        let item = item
            .as_array()
            .and_then(|items| items.iter().find(|item| item["id"] == id))
            .context("the item")?;
        ensure!(
            item["invalid"].is_null() && item["codebook"]["standing"] == "current",
            "Bravo must render {id} from the agreed codebook: {item}"
        );
        for lang in ["ru", "en"] {
            let rendered = item["rendered"][lang].as_str().context("rendered")?;
            for (i, line) in rendered.lines().enumerate() {
                let tag = if i == 0 {
                    format!("{lang}:")
                } else {
                    "   ".into()
                };
                println!("            {tag} {}", crate::render::text(line));
            }
        }
    }
    let typed = bravo.json(&["inbox"])?;
    let fields = typed
        .as_array()
        .and_then(|items| items.iter().find(|item| item["id"] == notice.trim()))
        .map(|item| item["fields"].clone())
        .context("the notice")?;
    t.say(format!(
        "the notice's fields are typed in inbox --json, never free text: {fields}"
    ));

    let early = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    let early = early
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let refused = alpha.cli(&[
        "notice",
        "Bravo",
        "missile_launch",
        "--field",
        &format!("planned_launch={early}"),
        "--field",
        "missile_class=icbm",
        "--field",
        "launch_area=62.9,40.5/30",
        "--field",
        "impact_area=53.0,158.0/50",
    ])?;
    ensure!(
        !refused.status.success(),
        "a launch notice 2 h ahead must be refused"
    );
    t.say(format!(
        "a launch notice only 2 h ahead is refused at Alpha, nothing stored: {}",
        String::from_utf8_lossy(&refused.stderr).trim()
    ));
    Ok(())
}

/// Waits until `station`'s `args --json` passes `check`; returns it.
fn await_json(
    station: &StationProcess,
    args: &[&str],
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let mut last = None;
    parley_testkit::harness::wait_until(
        std::time::Duration::from_secs(DEMO_WATCH_TIMEOUT_S),
        || {
            last = station.json(args).ok().filter(|value| check(value));
            last.is_some()
        },
    );
    last.with_context(|| format!("{}'s {args:?} did not change as expected", station.name))
}
