//! Sets of values: unknown, duplicate and missing fields, canonical order, the forms' rules,
//! and what the brief names about the example's forms and codes.

use parley_proto::{Params, Value};

use super::values::{DEC_3_10H_MS, args, schema};
use super::{EXAMPLE, parsed};
use crate::UseErrorKind;

#[test]
fn names_and_presence() {
    let codebook = schema();
    let refused = |form: &str, pairs: &[(&str, &str)]| {
        let error = codebook
            .notice_fields(form, &args(pairs), 0)
            .expect_err("refused");
        error.to_string()
    };
    assert_eq!(
        refused("v", &[("nope", "1")]),
        "field `nope`: not a field of form `v`"
    );
    assert_eq!(
        refused("v", &[("count", "1"), ("count", "2")]),
        "field `count`: given more than once"
    );
    assert_eq!(
        refused("nope", &[]),
        "there is no form `nope` in this codebook"
    );
    assert_eq!(
        refused("r", &[("end", "2026-12-03T10:00:00Z")]),
        "field `start`: required, and missing"
    );
    // Operator input in any order comes out canonical.
    let params = codebook
        .notice_fields("v", &args(&[("text", "a"), ("count", "1")]), 0)
        .expect("valid");
    let names: Vec<&str> = params.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["count", "text"]);
    assert_eq!(codebook.notice_fields("v", &[], 0), Ok(vec![]));

    let typed = |params: Params| {
        codebook
            .check_notice("v", &params, 0)
            .map_err(|e| e.kind().clone())
    };
    let one = |name: &str| (name.to_owned(), Value::Integer(1));
    assert_eq!(
        typed(vec![one("count"), one("count")]),
        Err(UseErrorKind::Duplicate)
    );
    let text = ("text".to_owned(), Value::Text("a".into()));
    assert_eq!(
        typed(vec![text.clone(), one("count")]),
        Err(UseErrorKind::NotCanonical)
    );
    assert_eq!(typed(vec![one("count"), text]), Ok(()));
    assert_eq!(
        typed(vec![one("nope")]),
        Err(UseErrorKind::UnknownField {
            of: "form `v`".into()
        })
    );
    let error = codebook.check_notice("r", &vec![], 0).expect_err("missing");
    assert_eq!(
        (error.field(), error.kind()),
        (Some("start"), &UseErrorKind::Missing)
    );
}

const DEC_2_10H_MS: u64 = 1_796_205_600_000;

#[test]
fn rules() {
    let codebook = schema();
    let notice = |pairs: &[(&str, &str)], sent_ms: u64| {
        let mut all = vec![
            ("start", "2026-12-03T10:00:00Z"),
            ("end", "2026-12-03T11:00:00Z"),
        ];
        all.extend_from_slice(pairs);
        let input = codebook.notice_fields("r", &args(&all), sent_ms);
        // Received values are judged as operator input is.
        if let Ok(params) = &input {
            assert_eq!(codebook.check_notice("r", params, sent_ms), Ok(()));
        }
        input.map(|_| ()).map_err(|error| error.to_string())
    };
    assert_eq!(
        notice(&[("launch", "2026-12-03T10:00:00Z")], DEC_2_10H_MS),
        Ok(())
    );
    assert_eq!(
        notice(&[("launch", "2026-12-03T09:59:59Z")], DEC_2_10H_MS),
        Err(
            "field `launch`: 2026-12-03 09:59:59 UTC is less than 24 h after the notice is sent \
             (2026-12-02 10:00 UTC); the form's rule is lead_time_min_h = 24, so the earliest \
             is 2026-12-03 10:00 UTC"
                .into()
        )
    );
    // A sending time within a second: the earliest is the next whole second.
    assert_eq!(
        notice(&[("launch", "2026-12-03T10:00:01Z")], DEC_2_10H_MS + 1),
        Ok(())
    );
    assert!(notice(&[("launch", "2026-12-03T10:00:00Z")], DEC_2_10H_MS + 1).is_err());
    // An absent optional field: its rule does not apply.
    assert_eq!(notice(&[], u64::MAX), Ok(()));
    let ends = |end: &str| {
        let input = args(&[("start", "2026-12-03T10:00:00Z"), ("end", end)]);
        codebook
            .notice_fields("r", &input, 0)
            .map(|_| ())
            .map_err(|error| error.to_string())
    };
    assert_eq!(ends("2026-12-03T10:00:01Z"), Ok(()));
    assert_eq!(
        ends("2026-12-03T10:00:00Z"),
        Err(
            "field `end`: 2026-12-03 10:00 UTC is not after `start` (2026-12-03 10:00 UTC); the \
             form's rule is after = \"start\""
                .into()
        )
    );
    // The same rules on typed values.
    let typed = |launch_ms: u64| {
        let params = vec![
            ("end".to_owned(), Value::Time(DEC_3_10H_MS + 3_600_000)),
            ("launch".to_owned(), Value::Time(launch_ms)),
            ("start".to_owned(), Value::Time(DEC_3_10H_MS)),
        ];
        codebook
            .check_notice("r", &params, DEC_2_10H_MS)
            .map_err(|error| error.field().map(str::to_owned))
    };
    assert_eq!(typed(DEC_3_10H_MS), Ok(()));
    assert_eq!(typed(DEC_3_10H_MS - 1000), Err(Some("launch".into())));
}

#[test]
fn the_example_refuses_what_the_brief_names() {
    let codebook = parsed(EXAMPLE);
    let launch = |planned: &str, impact: &str| {
        let input = args(&[
            ("planned_launch", planned),
            ("missile_class", "icbm"),
            ("launch_area", "62.9,40.6/30"),
            ("impact_area", impact),
        ]);
        codebook
            .notice_fields("missile_launch", &input, DEC_2_10H_MS)
            .map_err(|error| error.to_string())
    };
    assert!(launch("2026-12-03T10:00:00Z", "60,170/50").is_ok());
    let error = launch("2026-12-03T09:00:00Z", "60,170/50").expect_err("too soon");
    assert!(error.starts_with("field `planned_launch`: "), "{error}");
    assert!(error.contains("lead_time_min_h = 24"), "{error}");
    assert_eq!(
        launch("2026-12-03T10:00:00Z", "60,170/-5"),
        Err("field `impact_area`: radius -5 km is out of range (above 0, up to 20000 km)".into())
    );
    let input = args(&[
        ("time", "2026-12-03T10:00:00Z"),
        ("place", "91,0"),
        ("description", "x"),
    ]);
    let error = codebook
        .notice_fields("incident", &input, 0)
        .expect_err("latitude");
    assert_eq!(
        error.to_string(),
        "field `place`: latitude 91 is out of range (-90 to 90)"
    );
    assert_eq!(error.field(), Some("place"));
    let input = args(&[("time", "2026-12-03T10:00:00Z"), ("description", "x")]);
    let error = codebook
        .notice_fields("incident", &input, 0)
        .expect_err("missing");
    assert_eq!(error.to_string(), "field `place`: required, and missing");
    // Codes: the same checks, by number.
    let input = args(&[("time", "2026-12-03T10:00:00Z"), ("channel", "voice")]);
    let params = codebook.coded_params(4, &input).expect("valid");
    assert_eq!(codebook.check_coded(4, &params), Ok(()));
    let error = codebook.coded_params(4, &input[..1]).expect_err("missing");
    assert_eq!(error.to_string(), "field `channel`: required, and missing");
    let error = codebook.coded_params(99, &[]).expect_err("unknown");
    assert_eq!(error.to_string(), "there is no code 99 in this codebook");
    assert_eq!(error.field(), None);
    assert!(codebook.check_coded(99, &vec![]).is_err());
    let error = codebook
        .coded_params(3, &input[..1])
        .expect_err("no params");
    assert_eq!(error.to_string(), "field `time`: not a field of code 3");
    assert_eq!(codebook.coded_params(3, &[]), Ok(vec![]));
}
