//! Properties: nothing panics on any input; the check accepts exactly what the schema allows;
//! every valid value survives operator syntax (`parse(input_text(value)) == value`).

use parley_proto::limits::{AREA_RADIUS_M_MAX, POLYGON_POINTS_MAX, POLYGON_POINTS_MIN};
use parley_proto::value::{LAT_E6_MAX, LON_E6_MAX};
use parley_proto::{Params, Point, Value};
use proptest::prelude::*;

use super::{EXAMPLE, form, parsed, with};
use crate::limits::{DATETIME_MS_MAX, DURATION_S_MAX, TEXT_FIELD_CHARS_MAX};
use crate::{Codebook, input_text, value_json};

/// Points anywhere in i32, but often on and around the bounds.
fn any_point() -> impl Strategy<Value = Point> {
    let lat = prop_oneof![any::<i32>(), (-LAT_E6_MAX - 2..=LAT_E6_MAX + 2)];
    let lon = prop_oneof![any::<i32>(), (-LON_E6_MAX - 2..=LON_E6_MAX + 2)];
    (lat, lon).prop_map(|(lat_e6, lon_e6)| Point { lat_e6, lon_e6 })
}

fn valid_point() -> impl Strategy<Value = Point> {
    (-LAT_E6_MAX..=LAT_E6_MAX, -LON_E6_MAX..=LON_E6_MAX)
        .prop_map(|(lat_e6, lon_e6)| Point { lat_e6, lon_e6 })
}

/// Any value at all, in range or not.
fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{0,20}".prop_map(Value::Text),
        any::<i64>().prop_map(Value::Integer),
        "[a-z_]{0,8}".prop_map(Value::Choice),
        any::<u64>().prop_map(Value::Time),
        any::<u64>().prop_map(Value::Duration),
        any_point().prop_map(Value::Point),
        (any_point(), any::<u64>())
            .prop_map(|(centre, radius_m)| Value::Circle { centre, radius_m }),
        prop::collection::vec(any_point(), 0..70).prop_map(Value::Polygon),
    ]
}

/// Any params: names the example uses and others, in any order, repeated or not.
fn any_params() -> impl Strategy<Value = Params> {
    let name = prop_oneof![
        Just("time".to_owned()),
        Just("channel".to_owned()),
        Just("place".to_owned()),
        Just("delay".to_owned()),
        Just("planned_launch".to_owned()),
        Just("launch_area".to_owned()),
        Just("missile_class".to_owned()),
        Just("start".to_owned()),
        Just("end".to_owned()),
        "[a-z]{1,6}",
    ];
    prop::collection::vec((name, any_value()), 0..12)
}

/// A codebook with one form `v` whose single field `x` has the type and bounds `body`.
fn one_field(body: &str) -> Codebook {
    parsed(&with(&form("v", "x", body)))
}

fn accepts(codebook: &Codebook, value: Value) -> bool {
    codebook
        .check_notice("v", &vec![("x".to_owned(), value)], 0)
        .is_ok()
}

fn from_input(codebook: &Codebook, input: &str) -> Option<Value> {
    let args = [("x".to_owned(), input.to_owned())];
    let mut params = codebook.notice_fields("v", &args, 0).ok()?;
    params.pop().map(|(_, value)| value)
}

proptest! {
    #[test]
    fn nothing_panics_on_any_params(params in any_params(), sent_ms in any::<u64>()) {
        let codebook = parsed(EXAMPLE);
        for lang in ["en", "ru", "xx"] {
            for code in codebook.codes() {
                let rendered = codebook.render_coded(code.number(), &params, lang);
                prop_assert_eq!(rendered.is_some(), lang != "xx");
            }
            for form in codebook.forms() {
                let rendered = codebook.render_notice(form.name(), &params, lang);
                prop_assert_eq!(rendered.is_some(), lang != "xx");
            }
        }
        for code in codebook.codes() {
            let _ = codebook.check_coded(code.number(), &params);
        }
        for form in codebook.forms() {
            let _ = codebook.check_notice(form.name(), &params, sent_ms);
        }
        for (_, value) in &params {
            let _ = value_json(value);
            let _ = input_text(value);
        }
    }

    #[test]
    fn nothing_panics_on_any_input(pairs in prop::collection::vec(("[a-z_]{1,14}", ".{0,30}"), 0..6)) {
        let codebook = parsed(EXAMPLE);
        let args: Vec<(String, String)> = pairs;
        for code in 0..15 {
            let _ = codebook.coded_params(code, &args);
        }
        for form in ["missile_launch", "military_exercise", "incident", "nope"] {
            let _ = codebook.notice_fields(form, &args, 0);
        }
    }

    #[test]
    fn parsing_never_panics_on_damaged_codebooks(cut in 0..EXAMPLE.len(), len in 0usize..40, insert in ".{0,8}") {
        let mut source = EXAMPLE.to_owned();
        let start = (0..=cut).rev().find(|&at| source.is_char_boundary(at)).unwrap_or(0);
        let end = (start + len).min(source.len());
        let end = (end..=source.len()).find(|&at| source.is_char_boundary(at)).unwrap_or(source.len());
        source.replace_range(start..end, &insert);
        if let Err(error) = Codebook::parse(&source) {
            prop_assert!(error.line >= 1 && error.line <= source.lines().count().max(1) + 1, "{}", error);
        }
    }

    #[test]
    fn parsing_never_panics_on_any_text(source in "[\\[\\]a-z0-9=\"{}., \n#_-]{0,200}") {
        let _ = Codebook::parse(&source);
        let _ = Codebook::parse(&with(&source));
    }

    #[test]
    fn integers_are_accepted_iff_within_bounds(a in any::<i64>(), b in any::<i64>(), near in -3i64..=3, far in any::<i64>(), pick in 0..3) {
        let (min, max) = (a.min(b), a.max(b));
        let codebook = one_field(&format!("type = \"integer\"\nmin = {min}\nmax = {max}\n"));
        let v = match pick {
            0 => min.saturating_add(near),
            1 => max.saturating_add(near),
            _ => far,
        };
        let expect = (min..=max).contains(&v);
        prop_assert_eq!(accepts(&codebook, Value::Integer(v)), expect);
        prop_assert_eq!(from_input(&codebook, &v.to_string()), expect.then_some(Value::Integer(v)));
    }

    #[test]
    fn durations_are_accepted_iff_within_bounds(a in 0..=DURATION_S_MAX, b in 0..=DURATION_S_MAX, s in prop_oneof![0..=DURATION_S_MAX + 10, any::<u64>()]) {
        let (min_s, max_s) = (a.min(b), a.max(b));
        let codebook = one_field(&format!("type = \"duration\"\nmin_s = {min_s}\nmax_s = {max_s}\n"));
        let expect = (min_s..=max_s).contains(&s);
        prop_assert_eq!(accepts(&codebook, Value::Duration(s)), expect);
        let value = Value::Duration(s);
        prop_assert_eq!(from_input(&codebook, &input_text(&value)), expect.then_some(value));
    }

    #[test]
    fn coordinates_are_accepted_iff_in_range(point in any_point()) {
        let codebook = one_field("type = \"coordinates\"\n");
        let expect = point.lat_e6.abs() <= LAT_E6_MAX && point.lon_e6.abs() <= LON_E6_MAX;
        prop_assert_eq!(accepts(&codebook, Value::Point(point)), expect);
        let value = Value::Point(point);
        prop_assert_eq!(from_input(&codebook, &input_text(&value)), expect.then_some(value));
    }

    #[test]
    fn circles_are_accepted_iff_in_range(centre in any_point(), radius_m in prop_oneof![0..=AREA_RADIUS_M_MAX + 2, any::<u64>()]) {
        let codebook = one_field("type = \"area\"\n");
        let expect = centre.is_valid() && (1..=AREA_RADIUS_M_MAX).contains(&radius_m);
        let value = Value::Circle { centre, radius_m };
        prop_assert_eq!(accepts(&codebook, value.clone()), expect);
        prop_assert_eq!(from_input(&codebook, &input_text(&value)), expect.then_some(value));
    }

    #[test]
    fn polygons_are_accepted_iff_in_range(points in prop::collection::vec(prop_oneof![3 => valid_point(), 1 => any_point()], 0..70)) {
        let codebook = one_field("type = \"area\"\n");
        let expect = (POLYGON_POINTS_MIN..=POLYGON_POINTS_MAX).contains(&points.len())
            && points.iter().all(Point::is_valid);
        let value = Value::Polygon(points);
        prop_assert_eq!(accepts(&codebook, value.clone()), expect);
        prop_assert_eq!(from_input(&codebook, &input_text(&value)), expect.then_some(value));
    }

    #[test]
    fn texts_are_accepted_iff_within_bounds(max_chars in 1..=64usize, text in "(.|\n|\u{202E}|\u{2028}|\u{FE00}|\u{200B}){0,70}") {
        use parley_proto::names::{drives_display, is_invisible};
        let codebook = one_field(&format!("type = \"text\"\nmax_chars = {max_chars}\n"));
        let chars = text.chars().count();
        // Controls, text-direction characters and the line and paragraph separators are refused;
        // a text of white space and invisible characters alone is blank.
        let clean = !text.chars().any(drives_display);
        let shown = text.chars().any(|c| !c.is_whitespace() && !is_invisible(c));
        let expect = (1..=max_chars).contains(&chars) && clean && shown;
        let value = Value::Text(text.clone());
        prop_assert_eq!(accepts(&codebook, value.clone()), expect);
        prop_assert_eq!(from_input(&codebook, &text), expect.then_some(value));
    }

    #[test]
    fn times_are_accepted_iff_whole_seconds_in_range(ms in prop_oneof![0..=DATETIME_MS_MAX + 2_000, any::<u64>()]) {
        let codebook = one_field("type = \"datetime\"\n");
        let expect = ms % 1000 == 0 && ms <= DATETIME_MS_MAX;
        let value = Value::Time(ms);
        prop_assert_eq!(accepts(&codebook, value.clone()), expect);
        prop_assert_eq!(from_input(&codebook, &input_text(&value)), expect.then_some(value));
    }

    #[test]
    fn longest_texts_round_trip(text in "[^\\p{C}\\p{Zl}\\p{Zp}]{1,8}", repeat in 1..=TEXT_FIELD_CHARS_MAX / 8) {
        let codebook = one_field(&format!("type = \"text\"\nmax_chars = {TEXT_FIELD_CHARS_MAX}\n"));
        let text = text.repeat(repeat);
        prop_assume!(!text.chars().any(crate::text::drives_display));
        // Blank text (white space and invisible characters alone) is refused: a field must say
        // something. See the text bounds test.
        prop_assume!(!crate::text::is_blank(&text));
        prop_assert_eq!(from_input(&codebook, &text), Some(Value::Text(text)));
    }
}
