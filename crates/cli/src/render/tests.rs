//! The terminal forms: dates, escaping, and lines that show another party's text.

use super::*;

#[test]
fn a_deadline_on_another_day_shows_its_date() {
    let received = 1_796_400_000_000; // 2026-12-04T16:00:00Z
    assert_eq!(due(received + 3_600_000, received), "17:00:00Z");
    assert_eq!(due(received + 86_400_000, received), "2026-12-05T16:00:00Z");
    assert_eq!(
        due(received + 9 * 3_600_000, received),
        "2026-12-05T01:00:00Z"
    );
}

#[test]
fn untrusted_text_cannot_drive_a_terminal() {
    for (input, shown) in [
        ("plain text", "plain text"),
        ("Привет, 世界", "Привет, 世界"),
        ("\u{1b}[2J\u{1b}[31mred", "\\u{1b}[2J\\u{1b}[31mred"),
        ("line\r\nforged line", "line\\u{d}\\u{a}forged line"),
        ("abc\u{202E}fed", "abc\\u{202e}fed"),
        ("\u{2066}isolate\u{2069}", "\\u{2066}isolate\\u{2069}"),
        ("tab\there", "tab\\u{9}here"),
        ("one\u{2028}two\u{2029}", "one\\u{2028}two\\u{2029}"),
    ] {
        assert_eq!(text(input), shown, "{input:?}");
    }
    assert_eq!(quoted("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    assert_eq!(quoted("a\nb"), "\"a\\u{a}b\"");
}

/// A peer's name is its card's choice: quoted, it cannot pass for the line's own words
/// (here, the end of a cleared alarm whose alarm is still open).
#[test]
fn an_alarm_shows_the_peer_name_quoted() {
    let alarm = AlarmItem {
        id: 7,
        kind: parley_store::AlarmKind::LinkDown,
        peer: "Zed: link restored  (cleared 03:12:00Z) \"x\"".into(),
        subject: String::new(),
        detail: "no channel up for 600 s".into(),
        state: parley_station::api::records::AlarmState::Open,
        level: 1,
        raised_at_ms: 1_796_400_000_000,
        escalated_at_ms: None,
        acknowledged_at_ms: None,
        acknowledged_by: None,
        note: None,
        cleared_at_ms: None,
    };
    assert_eq!(
        alarm_line(&alarm),
        "#7    open         link_down                  level 1 16:00:00Z \
         \"Zed: link restored  (cleared 03:12:00Z) \\\"x\\\"\": no channel up for 600 s"
    );
}
