//! Rendering in English and Russian, exact strings; values in operator syntax and JSON.

use parley_proto::{Params, Point, Value};
use serde_json::json;

use super::{EXAMPLE, parsed, with};
use crate::{Codebook, input_text, value_json};

const DEC_3_10H_MS: u64 = 1_796_292_000_000;

fn example() -> Codebook {
    parsed(EXAMPLE)
}

fn params(pairs: &[(&str, Value)]) -> Params {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect()
}

/// Code `number` of the example rendered in `lang` with `values` is `expect`.
fn check(number: u64, values: &[(&str, Value)], lang: &str, expect: Option<&str>) {
    let got = example().render_coded(number, &params(values), lang);
    assert_eq!(got.as_deref(), expect, "code {number} in {lang}");
}

fn point(lat_e6: i32, lon_e6: i32) -> Point {
    Point { lat_e6, lon_e6 }
}

#[test]
fn codes_in_both_languages() {
    check(1, &[], "en", Some("Your message has been received."));
    check(1, &[], "ru", Some("Ваше сообщение получено."));
    check(
        3,
        &[],
        "en",
        Some("An incident is under investigation. It is not a hostile act."),
    );
    let talk = [
        ("channel", Value::Choice("voice".into())),
        ("time", Value::Time(DEC_3_10H_MS)),
    ];
    check(
        4,
        &talk,
        "en",
        Some("Request to talk at 2026-12-03 10:00 UTC. Channel: voice."),
    );
    check(
        4,
        &talk,
        "ru",
        Some("Просим провести переговоры в 2026-12-03 10:00 UTC. Канал связи: голосовая связь."),
    );
    check(
        7,
        &[("delay", Value::Duration(5_400))],
        "en",
        Some("We are preparing a reply. Expected within: 1 h 30 min."),
    );
    check(
        7,
        &[("delay", Value::Duration(5_400))],
        "ru",
        Some("Мы готовим ответ. Ожидаемый срок: 1 h 30 min."),
    );
    let sighting = [
        ("place", Value::Point(point(55_755_800, -37_617_300))),
        ("time", Value::Time(DEC_3_10H_MS + 5_000)),
    ];
    check(
        11,
        &sighting,
        "en",
        Some(
            "We have detected an unidentified object near 55.755800°N 37.617300°W at 2026-12-03 10:00:05 UTC. Please clarify.",
        ),
    );
    check(
        11,
        &sighting,
        "ru",
        Some(
            "Нами обнаружен неопознанный объект в районе 55.755800°N 37.617300°W в 2026-12-03 10:00:05 UTC. Просим дать разъяснения.",
        ),
    );
    // Language tags compare without case; a language not in the codebook renders nothing.
    check(1, &[], "RU", Some("Ваше сообщение получено."));
    check(1, &[], "de", None);
    check(99, &[], "en", None);
}

#[test]
fn bad_values_render_visibly() {
    check(
        4,
        &[("time", Value::Time(DEC_3_10H_MS))],
        "en",
        Some("Request to talk at 2026-12-03 10:00 UTC. Channel: {channel?}."),
    );
    check(
        4,
        &[
            ("time", Value::Integer(5)),
            ("channel", Value::Choice("smoke".into())),
        ],
        "en",
        Some("Request to talk at {time?}. Channel: {channel?}."),
    );
    check(
        4,
        &[("time", Value::Time(u64::MAX)), ("x", Value::Integer(1))],
        "en",
        Some("Request to talk at {time?}. Channel: {channel?}."),
    );
    // Values out of the field's bounds still render as what they are: the check flags them.
    check(
        7,
        &[("delay", Value::Duration(1))],
        "en",
        Some("We are preparing a reply. Expected within: 1 s."),
    );
    // Text is inserted as it is; escaping for a display is the station's.
    let codebook = parsed(&with(
        "[[code]]\nnumber = 1\ntext.en = \"{{Note}}: {note} / {when}\"\ntext.ru = \"{note} {when}\"\n\
         [[code.param]]\nname = \"note\"\ntype = \"text\"\nmax_chars = 50\nlabel.en = \"N\"\nlabel.ru = \"Н\"\n\
         [[code.param]]\nname = \"when\"\ntype = \"datetime\"\noptional = true\nlabel.en = \"W\"\nlabel.ru = \"К\"\n",
    ));
    let note = params(&[("note", Value::Text("\u{1b}[31m<b>".into()))]);
    assert_eq!(
        codebook.render_coded(1, &note, "en").as_deref(),
        Some("{Note}: \u{1b}[31m<b> / —")
    );
    assert_eq!(
        codebook.render_coded(1, &vec![], "en").as_deref(),
        Some("{Note}: {note?} / —")
    );
}

#[test]
fn notices_in_both_languages() {
    let launch = params(&[
        (
            "impact_area",
            Value::Polygon(vec![
                point(60_000_000, 170_000_000),
                point(61_000_000, 171_000_000),
                point(60_500_000, -172_500_000),
            ]),
        ),
        (
            "launch_area",
            Value::Circle {
                centre: point(62_900_000, 40_600_000),
                radius_m: 30_000,
            },
        ),
        ("missile_class", Value::Choice("icbm".into())),
        ("planned_launch", Value::Time(DEC_3_10H_MS)),
    ]);
    let codebook = example();
    assert_eq!(
        codebook
            .render_notice("missile_launch", &launch, "en")
            .as_deref(),
        Some(
            "Notification of a planned ballistic missile launch\n\
             Planned date and time of launch: 2026-12-03 10:00 UTC\n\
             Missile type: intercontinental ballistic missile (ICBM)\n\
             Launch area: 62.900000°N 40.600000°E r = 30 km\n\
             Impact area: 60.000000°N 170.000000°E – 61.000000°N 171.000000°E – 60.500000°N 172.500000°W"
        )
    );
    let mut with_count = launch.clone();
    with_count.insert(3, ("missile_count".into(), Value::Integer(2)));
    assert_eq!(
        codebook
            .render_notice("missile_launch", &with_count, "ru")
            .as_deref(),
        Some(
            "Уведомление о планируемом пуске баллистической ракеты\n\
             Планируемые дата и время пуска: 2026-12-03 10:00 UTC\n\
             Тип ракеты: межконтинентальная баллистическая ракета (МБР)\n\
             Район пуска: 62.900000°N 40.600000°E r = 30 km\n\
             Район падения: 60.000000°N 170.000000°E – 61.000000°N 171.000000°E – 60.500000°N 172.500000°W\n\
             Количество ракет: 2"
        )
    );
    let partial = params(&[("missile_class", Value::Text("icbm".into()))]);
    assert_eq!(
        codebook
            .render_notice("missile_launch", &partial, "en")
            .as_deref(),
        Some(
            "Notification of a planned ballistic missile launch\n\
             Planned date and time of launch: {planned_launch?}\n\
             Missile type: {missile_class?}\n\
             Launch area: {launch_area?}\n\
             Impact area: {impact_area?}"
        )
    );
    assert_eq!(
        codebook.render_notice("missile_launch", &launch, "de"),
        None
    );
    assert_eq!(codebook.render_notice("nope", &launch, "en"), None);
}

#[test]
fn value_shapes() {
    let codebook = parsed(&with(
        "[[code]]\nnumber = 1\ntext.en = \"{d}|{p}|{a}\"\ntext.ru = \"{d}|{p}|{a}\"\n\
         [[code.param]]\nname = \"d\"\ntype = \"duration\"\nlabel.en = \"D\"\nlabel.ru = \"Д\"\n\
         [[code.param]]\nname = \"p\"\ntype = \"coordinates\"\nlabel.en = \"P\"\nlabel.ru = \"П\"\n\
         [[code.param]]\nname = \"a\"\ntype = \"area\"\nlabel.en = \"A\"\nlabel.ru = \"О\"\n",
    ));
    let render = |d: u64, p: Point, a: Value| {
        let values = params(&[("a", a), ("d", Value::Duration(d)), ("p", Value::Point(p))]);
        codebook.render_coded(1, &values, "en").expect("en")
    };
    let circle = |radius_m| Value::Circle {
        centre: point(-1, 0),
        radius_m,
    };
    assert_eq!(
        render(0, point(0, 0), circle(1)),
        "0 s|0.000000°N 0.000000°E|0.000001°S 0.000000°E r = 0.001 km"
    );
    assert_eq!(
        render(90_061, point(-90_000_000, -180_000_000), circle(12_500)),
        "1 d 1 h 1 min 1 s|90.000000°S 180.000000°W|0.000001°S 0.000000°E r = 12.5 km"
    );
    assert_eq!(
        render(u64::MAX, point(i32::MIN, i32::MAX), circle(u64::MAX)),
        "213503982334601 d 7 h 15 s|2147.483648°S 2147.483647°E|0.000001°S 0.000000°E r = 18446744073709551.615 km"
    );
}

#[test]
fn operator_syntax() {
    for (value, expect) in [
        (Value::Text("a b".into()), "a b"),
        (Value::Integer(-12), "-12"),
        (Value::Choice("icbm".into()), "icbm"),
        (Value::Time(DEC_3_10H_MS), "2026-12-03T10:00:00Z"),
        (Value::Time(u64::MAX), "18446744073709551615"),
        (Value::Duration(0), "0s"),
        (Value::Duration(90_061), "1d1h1m1s"),
        (Value::Duration(5_400), "1h30m"),
        (
            Value::Point(point(55_755_800, -37_617_300)),
            "55.7558,-37.6173",
        ),
        (
            Value::Circle {
                centre: point(0, 0),
                radius_m: 12_500,
            },
            "0,0/12.5",
        ),
        (
            Value::Polygon(vec![point(1, 2), point(3, 4), point(5, 6)]),
            "0.000001,0.000002;0.000003,0.000004;0.000005,0.000006",
        ),
    ] {
        assert_eq!(input_text(&value), expect);
    }
}

#[test]
fn json() {
    for (value, expect) in [
        (Value::Text("a".into()), json!("a")),
        (Value::Integer(-12), json!(-12)),
        (Value::Choice("icbm".into()), json!("icbm")),
        (Value::Time(DEC_3_10H_MS), json!("2026-12-03T10:00:00Z")),
        (Value::Time(0), json!("1970-01-01T00:00:00Z")),
        (Value::Time(u64::MAX), json!(null)),
        (Value::Duration(5_400), json!({"seconds": 5400})),
        (
            Value::Point(point(55_755_800, -37_617_300)),
            json!({"lat": 55.7558, "lon": -37.6173}),
        ),
        (
            Value::Circle {
                centre: point(1, 0),
                radius_m: 50_000,
            },
            json!({"centre": {"lat": 0.000001, "lon": 0.0}, "radius_km": 50.0}),
        ),
        (
            Value::Polygon(vec![point(0, 0), point(1_000_000, 0), point(0, 1_000_000)]),
            json!({"polygon": [{"lat": 0.0, "lon": 0.0}, {"lat": 1.0, "lon": 0.0}, {"lat": 0.0, "lon": 1.0}]}),
        ),
    ] {
        assert_eq!(value_json(&value), expect, "{value:?}");
    }
    assert_eq!(
        value_json(&Value::Time(DEC_3_10H_MS)).to_string(),
        "\"2026-12-03T10:00:00Z\""
    );
    assert_eq!(
        value_json(&Value::Point(point(55_755_800, 37_617_300))).to_string(),
        "{\"lat\":55.7558,\"lon\":37.6173}"
    );
}
