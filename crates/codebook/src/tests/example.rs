//! The example at the repository's root parses, keeps its hash, and holds what the demo and
//! docs/codebook.md rely on.

use parley_proto::CodebookHash;

use super::{EXAMPLE, parsed};
use crate::{FieldType, Rule};

/// SHA-256 of examples/codebook.toml. Changing the file changes its hash; update this only
/// together with a deliberate change of the example.
const EXAMPLE_HASH: &str = "0c06833e9f569bbb52c0e30c04d2a16b194728b6885e63ffd42e029729168f76";

#[test]
fn example_parses_and_keeps_its_hash() {
    let codebook = parsed(EXAMPLE);
    assert_eq!(codebook.hash().to_hex(), EXAMPLE_HASH);
    assert_eq!(codebook.hash(), CodebookHash::of(EXAMPLE.as_bytes()));
    assert_eq!(codebook.source(), EXAMPLE);
    assert_eq!(codebook.name(), "Alpha–Bravo hotline");
    assert_eq!(codebook.version(), 1);
    assert_eq!(codebook.languages(), ["en", "ru"]);
    assert!(codebook.has_language("RU") && !codebook.has_language("de"));
}

#[test]
fn example_holds_what_the_demo_uses() {
    let codebook = parsed(EXAMPLE);
    let numbers: Vec<u64> = codebook.codes().map(|code| code.number()).collect();
    assert_eq!(numbers, (1..=13).collect::<Vec<_>>());
    // The demo sends code 3 without parameters.
    let three = codebook.code(3).expect("code 3");
    assert!(three.params().is_empty());
    assert_eq!(
        three.text("ru"),
        Some("Проводится расследование инцидента. Он не является враждебным действием.")
    );
    assert_eq!(codebook.coded_params(3, &[]), Ok(vec![]));
    assert!(codebook.code(14).is_none() && codebook.code(0).is_none());
    let forms: Vec<&str> = codebook.forms().map(|form| form.name()).collect();
    assert_eq!(forms, ["missile_launch", "military_exercise", "incident"]);
    let launch = codebook.form("missile_launch").expect("form");
    assert_eq!(
        launch.rules(),
        [Rule::LeadTime {
            field: "planned_launch".into(),
            min_h: 24
        }]
    );
    assert_eq!(
        launch.field("impact_area").map(|field| field.kind()),
        Some(&FieldType::Area)
    );
    assert_eq!(
        launch.title("en"),
        Some("Notification of a planned ballistic missile launch")
    );
    let exercise = codebook.form("military_exercise").expect("form");
    assert_eq!(
        exercise.rules(),
        [Rule::After {
            field: "end".into(),
            other: "start".into()
        }]
    );
    let personnel = exercise.field("personnel").expect("field");
    assert_eq!(
        personnel.kind(),
        &FieldType::Integer {
            min: 1,
            max: 1_000_000
        }
    );
    assert_eq!(personnel.label("ru"), Some("Численность личного состава"));
    assert!(!personnel.optional());
    let Some(FieldType::Choice { values }) = exercise.field("scale").map(|field| field.kind())
    else {
        panic!("scale is a choice");
    };
    let keys: Vec<&str> = values.iter().map(|value| value.key()).collect();
    assert_eq!(keys, ["tactical", "operational", "strategic"]);
    assert_eq!(values[2].label("ru"), Some("стратегический"));
    assert!(codebook.form("nope").is_none());
}
