//! Each field type's bounds on both sides, through operator input and through the check of
//! typed values. The schema and helpers here serve `uses` too.

use parley_proto::limits::{AREA_RADIUS_M_MAX, POLYGON_POINTS_MAX, POLYGON_POINTS_MIN};
use parley_proto::value::{LAT_E6_MAX, LON_E6_MAX};
use parley_proto::{Point, Value};

use super::{parsed, with};
use crate::Codebook;
use crate::limits::DATETIME_MS_MAX;

/// A form `v` with one optional field of each type, and a form `r` with rules.
pub(super) fn schema() -> Codebook {
    let field = |name: &str, body: &str| {
        format!(
            "[[form.field]]\nname = \"{name}\"\nlabel.en = \"L\"\nlabel.ru = \"Л\"\noptional = true\n{body}"
        )
    };
    let required =
        |name: &str| field(name, "type = \"datetime\"\n").replace("optional = true\n", "");
    let choice = "type = \"choice\"\n[[form.field.value]]\nkey = \"a\"\nlabel.en = \"A\"\n\
        label.ru = \"А\"\n[[form.field.value]]\nkey = \"b\"\nlabel.en = \"B\"\nlabel.ru = \"Б\"\n";
    let fields = [
        field("text", "type = \"text\"\nmax_chars = 5\n"),
        field("count", "type = \"integer\"\nmin = -10\nmax = 10\n"),
        field("pick", choice),
        field("at", "type = \"datetime\"\n"),
        field("wait", "type = \"duration\"\nmin_s = 60\nmax_s = 7200\n"),
        field("spot", "type = \"coordinates\"\n"),
        field("zone", "type = \"area\"\n"),
    ];
    let rules = "[[form.rule]]\nfield = \"end\"\nafter = \"start\"\n\
                 [[form.rule]]\nfield = \"launch\"\nlead_time_min_h = 24\n";
    parsed(&with(&format!(
        "[[form]]\nname = \"v\"\ntitle.en = \"V\"\ntitle.ru = \"В\"\n{}\
         [[form]]\nname = \"r\"\ntitle.en = \"R\"\ntitle.ru = \"Р\"\n{}{}{}{rules}",
        fields.concat(),
        required("start"),
        required("end"),
        field("launch", "type = \"datetime\"\n"),
    )))
}

pub(super) fn args(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// Operator input `input` for field `field` of form `v` gives `expect` (a value, or the
/// error's message); a value it gives also passes the check of typed values.
fn check(field: &str, input: &str, expect: Result<Value, &str>) {
    let codebook = schema();
    let got = codebook.notice_fields("v", &args(&[(field, input)]), 0);
    let got = got.map_err(|error| error.to_string());
    let expect = expect
        .map(|value| vec![(field.to_owned(), value)])
        .map_err(|message| format!("field `{field}`: {message}"));
    assert_eq!(got, expect, "{field} = {input:?}");
    if let Ok(params) = got {
        assert_eq!(codebook.check_notice("v", &params, 0), Ok(()));
    }
}

/// The typed `value` for field `field` of form `v` passes the check, or fails with `expect`.
fn check_typed(field: &str, value: Value, expect: Result<(), &str>) {
    let params = vec![(field.to_owned(), value)];
    let got = schema()
        .check_notice("v", &params, 0)
        .map_err(|error| error.to_string());
    let expect = expect.map_err(|message| format!("field `{field}`: {message}"));
    assert_eq!(got, expect, "{params:?}");
}

#[test]
fn text() {
    check("text", "hello", Ok(Value::Text("hello".into())));
    check("text", "héllo", Ok(Value::Text("héllo".into())));
    check("text", "a", Ok(Value::Text("a".into())));
    check("text", "hello!", Err("6 characters, over the limit of 5"));
    check("text", "", Err("the text is empty"));
    check("text", "  ", Err("the text is empty"));
    // Invisible characters alone show nothing either.
    check("text", "\u{200B}", Err("the text is empty"));
    check("text", " \u{2060}\u{FEFF} ", Err("the text is empty"));
    check("text", "a\u{200B}", Ok(Value::Text("a\u{200B}".into())));
    check("text", " a ", Ok(Value::Text(" a ".into())));
    let control = "the text holds a control or text-direction character";
    check("text", "a\nb", Err(control));
    check("text", "a\u{202E}b", Err(control));
    // A line or paragraph separator forges a line as a newline does.
    check("text", "a\u{2028}b", Err(control));
    check("text", "a\u{2029}b", Err(control));
    check_typed("text", Value::Text("12345".into()), Ok(()));
    check_typed(
        "text",
        Value::Text("123456".into()),
        Err("6 characters, over the limit of 5"),
    );
    check_typed("text", Value::Text(String::new()), Err("the text is empty"));
    check_typed("text", Value::Integer(1), Err("expected text, got integer"));
}

#[test]
fn integer() {
    check("count", "10", Ok(Value::Integer(10)));
    check("count", "-10", Ok(Value::Integer(-10)));
    check("count", "+7", Ok(Value::Integer(7)));
    check("count", "11", Err("11 is out of range (-10 to 10)"));
    check("count", "-11", Err("-11 is out of range (-10 to 10)"));
    let huge = "99999999999999999999";
    check(
        "count",
        huge,
        Err(&format!("{huge} is out of range (-10 to 10)")),
    );
    let malformed =
        |text: &str| format!("{text:?} is not an integer (decimal digits, e.g. -12 or 40)");
    for text in ["abc", "1.5", "", "-", "- 1", "1_000", "0x10", " 1"] {
        check("count", text, Err(&malformed(text)));
    }
    check_typed("count", Value::Integer(10), Ok(()));
    check_typed("count", Value::Integer(-10), Ok(()));
    check_typed(
        "count",
        Value::Integer(11),
        Err("11 is out of range (-10 to 10)"),
    );
    check_typed(
        "count",
        Value::Integer(i64::MIN),
        Err("-9223372036854775808 is out of range (-10 to 10)"),
    );
    check_typed(
        "count",
        Value::Text("1".into()),
        Err("expected integer, got text"),
    );
}

#[test]
fn choice() {
    check("pick", "a", Ok(Value::Choice("a".into())));
    check("pick", "b", Ok(Value::Choice("b".into())));
    check("pick", "c", Err("\"c\" is not one of: a, b"));
    check("pick", "A", Err("\"A\" is not one of: a, b"));
    check_typed("pick", Value::Choice("b".into()), Ok(()));
    check_typed(
        "pick",
        Value::Choice("z".into()),
        Err("\"z\" is not one of: a, b"),
    );
    check_typed(
        "pick",
        Value::Text("a".into()),
        Err("expected choice, got text"),
    );
}

pub(super) const DEC_3_10H_MS: u64 = 1_796_292_000_000;

#[test]
fn datetime() {
    check("at", "2026-12-03T10:00:00Z", Ok(Value::Time(DEC_3_10H_MS)));
    check(
        "at",
        "2026-12-03T13:00:00+03:00",
        Ok(Value::Time(DEC_3_10H_MS)),
    );
    check(
        "at",
        "2026-12-03T05:30:00-04:30",
        Ok(Value::Time(DEC_3_10H_MS)),
    );
    check(
        "at",
        "2026-12-03T10:00:00.000Z",
        Ok(Value::Time(DEC_3_10H_MS)),
    );
    check("at", "1970-01-01T00:00:00Z", Ok(Value::Time(0)));
    check(
        "at",
        "9999-12-31T23:59:59Z",
        Ok(Value::Time(DATETIME_MS_MAX)),
    );
    check(
        "at",
        "1969-12-31T23:59:59Z",
        Err("\"1969-12-31T23:59:59Z\" is before 1970-01-01T00:00:00Z"),
    );
    check(
        "at",
        "2026-12-03T10:00:00.5Z",
        Err("\"2026-12-03T10:00:00.5Z\" has a fraction of a second; give whole seconds"),
    );
    let malformed = |text: &str| {
        format!(
            "{text:?} is not an RFC 3339 time (e.g. 2026-12-03T10:00:00Z or \
             2026-12-03T13:00:00+03:00)"
        )
    };
    for text in [
        "2026-12-03 10:00",
        "2026-12-03T10:00Z",
        "2026-12-03T10:00:00",
        "2026-13-03T10:00:00Z",
        "now",
        "",
    ] {
        check("at", text, Err(&malformed(text)));
    }
    check_typed("at", Value::Time(DATETIME_MS_MAX), Ok(()));
    check_typed(
        "at",
        Value::Time(DATETIME_MS_MAX + 1000),
        Err("253402300800000 ms is after 9999-12-31T23:59:59Z, the latest time"),
    );
    check_typed("at", Value::Time(0), Ok(()));
    check_typed(
        "at",
        Value::Time(1_500),
        Err("1500 ms is not a whole second; times are in whole seconds"),
    );
    check_typed(
        "at",
        Value::Duration(1),
        Err("expected datetime, got duration"),
    );
}

#[test]
fn duration() {
    check("wait", "1m", Ok(Value::Duration(60)));
    check("wait", "60s", Ok(Value::Duration(60)));
    check("wait", "2h", Ok(Value::Duration(7200)));
    check("wait", "1h30m", Ok(Value::Duration(5400)));
    check("wait", "90m", Ok(Value::Duration(5400)));
    check("wait", "0d1h59m60s", Ok(Value::Duration(7200)));
    check("wait", "59s", Err("59s is out of range (1m to 2h)"));
    check("wait", "2h1s", Err("2h1s is out of range (1m to 2h)"));
    check("wait", "1d", Err("1d is out of range (1m to 2h)"));
    let huge = "99999999999999999999999999999999999999999d";
    check(
        "wait",
        huge,
        Err(&format!("{huge} is out of range (1m to 2h)")),
    );
    let malformed =
        |text: &str| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h, 1d or 1h30m)");
    for text in [
        "", "5", "h", "1h1h", "30m1h", "1.5h", "1 h", "-1h", "1H", "1w", "1h30",
    ] {
        check("wait", text, Err(&malformed(text)));
    }
    check_typed("wait", Value::Duration(60), Ok(()));
    check_typed("wait", Value::Duration(7200), Ok(()));
    check_typed(
        "wait",
        Value::Duration(59),
        Err("59s is out of range (1m to 2h)"),
    );
    check_typed(
        "wait",
        Value::Duration(7201),
        Err("2h1s is out of range (1m to 2h)"),
    );
    check_typed(
        "wait",
        Value::Duration(u64::MAX),
        Err("213503982334601d7h15s is out of range (1m to 2h)"),
    );
}

fn point(lat_e6: i32, lon_e6: i32) -> Point {
    Point { lat_e6, lon_e6 }
}

#[test]
fn coordinates() {
    check(
        "spot",
        "55.7558,37.6173",
        Ok(Value::Point(point(55_755_800, 37_617_300))),
    );
    check(
        "spot",
        "55.7558, 37.6173",
        Ok(Value::Point(point(55_755_800, 37_617_300))),
    );
    check(
        "spot",
        "+90,180",
        Ok(Value::Point(point(LAT_E6_MAX, LON_E6_MAX))),
    );
    check(
        "spot",
        "-90,-180",
        Ok(Value::Point(point(-LAT_E6_MAX, -LON_E6_MAX))),
    );
    check(
        "spot",
        "-0.000001,0.123456",
        Ok(Value::Point(point(-1, 123_456))),
    );
    check(
        "spot",
        "91,0",
        Err("latitude 91 is out of range (-90 to 90)"),
    );
    check(
        "spot",
        "-90.000001,0",
        Err("latitude -90.000001 is out of range (-90 to 90)"),
    );
    check(
        "spot",
        "0,180.000001",
        Err("longitude 180.000001 is out of range (-180 to 180)"),
    );
    check(
        "spot",
        "0,-181",
        Err("longitude -181 is out of range (-180 to 180)"),
    );
    check(
        "spot",
        "99999999999999999999999,0",
        Err("latitude 99999999999999999999999 is out of range (-90 to 90)"),
    );
    check(
        "spot",
        "1.1234567,0",
        Err("\"1.1234567\" has 7 decimals; at most 6 (a microdegree)"),
    );
    let malformed = |text: &str| {
        format!("{text:?} is not coordinates: LAT,LON in decimal degrees, e.g. 55.7558,37.6173")
    };
    for text in [
        "",
        "55.7558",
        "1,2,3",
        "1e5,0",
        "N55,E37",
        "1.,2",
        ".5,2",
        "1;2",
        "55°,37°",
    ] {
        check("spot", text, Err(&malformed(text)));
    }
    check_typed("spot", Value::Point(point(LAT_E6_MAX, -LON_E6_MAX)), Ok(()));
    check_typed(
        "spot",
        Value::Point(point(LAT_E6_MAX + 1, 0)),
        Err("latitude 90.000001 is out of range (-90 to 90)"),
    );
    check_typed(
        "spot",
        Value::Point(point(0, i32::MIN)),
        Err("longitude -2147.483648 is out of range (-180 to 180)"),
    );
    check_typed(
        "spot",
        Value::Polygon(vec![]),
        Err("expected coordinates, got area"),
    );
}

#[test]
fn area() {
    let origin = point(0, 0);
    let circle = |radius_m| Value::Circle {
        centre: origin,
        radius_m,
    };
    check(
        "zone",
        "55.7558,37.6173/50",
        Ok(Value::Circle {
            centre: point(55_755_800, 37_617_300),
            radius_m: 50_000,
        }),
    );
    check("zone", "0,0/0.001", Ok(circle(1)));
    check("zone", "0,0 / 12.5", Ok(circle(12_500)));
    check("zone", "0,0/20000", Ok(circle(AREA_RADIUS_M_MAX)));
    let out = |km: &str| format!("radius {km} km is out of range (above 0, up to 20000 km)");
    check("zone", "0,0/0", Err(&out("0")));
    check("zone", "0,0/-5", Err(&out("-5")));
    check("zone", "0,0/20000.001", Err(&out("20000.001")));
    check(
        "zone",
        "0,0/1.0001",
        Err("radius \"1.0001\" has 4 decimals; at most 3 (a metre)"),
    );
    check(
        "zone",
        "0,0/km",
        Err("\"km\" is not a radius in kilometres, e.g. 50 or 12.5"),
    );
    check(
        "zone",
        "91,0/5",
        Err("latitude 91 is out of range (-90 to 90)"),
    );
    let polygon = |count: usize| {
        let vertices: Vec<String> = (0..count).map(|i| format!("{i},1")).collect();
        vertices.join(";")
    };
    let polygon_value = |count: usize| {
        Value::Polygon(
            (0..count)
                .map(|i| point(i as i32 * 1_000_000, 1_000_000))
                .collect(),
        )
    };
    check(
        "zone",
        &polygon(POLYGON_POINTS_MIN),
        Ok(polygon_value(POLYGON_POINTS_MIN)),
    );
    check(
        "zone",
        &polygon(POLYGON_POINTS_MAX),
        Ok(polygon_value(POLYGON_POINTS_MAX)),
    );
    let vertices = |count: usize| format!("a polygon of {count} vertices; a polygon has 3 to 64");
    check("zone", &polygon(POLYGON_POINTS_MIN - 1), Err(&vertices(2)));
    check("zone", &polygon(POLYGON_POINTS_MAX + 1), Err(&vertices(65)));
    check(
        "zone",
        "0,0;0,1;91,1",
        Err("vertex 3: latitude 91 is out of range (-90 to 90)"),
    );
    check(
        "zone",
        "0,0;0,1;",
        Err("vertex 3: \"\" is not coordinates: LAT,LON in decimal degrees, e.g. 55.7558,37.6173"),
    );
    check(
        "zone",
        "0,0",
        Err(
            "\"0,0\" is not an area: a circle LAT,LON/RADIUS_KM or a polygon LAT,LON;LAT,LON;LAT,LON",
        ),
    );
    check_typed("zone", circle(1), Ok(()));
    check_typed("zone", circle(AREA_RADIUS_M_MAX), Ok(()));
    check_typed("zone", circle(0), Err(&out("0")));
    check_typed(
        "zone",
        circle(AREA_RADIUS_M_MAX + 1),
        Err(&out("20000.001")),
    );
    check_typed("zone", polygon_value(POLYGON_POINTS_MIN), Ok(()));
    check_typed(
        "zone",
        Value::Polygon(vec![origin; POLYGON_POINTS_MAX]),
        Ok(()),
    );
    check_typed(
        "zone",
        Value::Polygon(vec![origin; POLYGON_POINTS_MIN - 1]),
        Err(&vertices(2)),
    );
    check_typed(
        "zone",
        Value::Polygon(vec![origin; POLYGON_POINTS_MAX + 1]),
        Err(&vertices(65)),
    );
    check_typed(
        "zone",
        Value::Polygon(vec![origin, origin, point(0, LON_E6_MAX + 1)]),
        Err("vertex 3: longitude 180.000001 is out of range (-180 to 180)"),
    );
    check_typed(
        "zone",
        Value::Point(origin),
        Err("expected area, got coordinates"),
    );
}
