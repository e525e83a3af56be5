//! The reading rules of docs/formats.md §8.1, both sides of each.

use super::*;

fn header(fields: &str) -> String {
    format!("{{{fields}}}")
}

/// A standard export with line 1 replaced.
fn with_header(line_1: &str) -> Lines {
    History::standard()
        .alpha_export()
        .replace(1, line_1.to_owned())
}

#[test]
fn lines_end_at_newlines_and_a_final_newline_starts_none() {
    let file = History::standard().alpha_export();
    let text = file.text();
    assert!(verify(text.as_bytes()).is_ok());
    // No final newline: the same lines.
    assert!(verify(text.trim_end_matches('\n').as_bytes()).is_ok());
    // A second newline at the end is an empty line.
    let doubled = format!("{text}\n");
    let error = verify(doubled.as_bytes()).unwrap_err();
    assert_eq!(error.line, file.count() + 1);
    assert!(matches!(error.fault, Fault::NotLine(_)), "{error}");
    // CRLF line endings: `\r` is JSON white space.
    let crlf = text.replace('\n', "\r\n");
    assert!(verify(crlf.as_bytes()).is_ok());
    assert_eq!(verify(b"").unwrap_err().fault, Fault::Empty);
    assert!(matches!(
        verify(b"\n").unwrap_err().fault,
        Fault::NotHeader(_)
    ));
}

#[test]
fn the_line_limit_counts_every_byte_before_the_newline_the_header_included() {
    let file = History::standard().alpha_export();
    // Pad a card line with white space up to the limit, a `\r` included.
    let card = &file.0[1];
    let pad = TRANSCRIPT_LINE_SIZE_MAX_BYTES - card.len() - 1;
    let at_limit = format!("{card}{}\r", " ".repeat(pad));
    assert_eq!(at_limit.len(), TRANSCRIPT_LINE_SIZE_MAX_BYTES);
    assert!(file.clone().replace(2, at_limit.clone()).verify().is_ok());
    let over = format!("{at_limit} ");
    check(
        "card line over",
        &file.clone().replace(2, over),
        Err((2, "line is too long")),
    );
    let header = &file.0[0];
    let pad = TRANSCRIPT_LINE_SIZE_MAX_BYTES - header.len();
    let at_limit = format!("{header}{}", " ".repeat(pad));
    assert!(file.clone().replace(1, at_limit.clone()).verify().is_ok());
    check(
        "header over",
        &file.replace(1, format!("{at_limit} ")),
        Err((1, "line is too long")),
    );
}

#[test]
fn a_line_that_is_not_utf8_is_named_and_later_lines_are_not_read() {
    let file = History::standard().alpha_export();
    let mut bytes = Vec::new();
    for (i, line) in file.0.iter().enumerate() {
        bytes.extend(line.as_bytes());
        if i == 2 {
            bytes.extend([b' ', 0xff]);
        }
        bytes.push(b'\n');
    }
    let error = verify(&bytes).unwrap_err();
    assert_eq!((error.line, error.fault), (3, Fault::NotUtf8));
    // Invalid UTF-8 after an earlier fault is never reached.
    let mut early = b"{}\n".to_vec();
    early.extend([0xff, b'\n']);
    assert!(matches!(
        verify(&early).unwrap_err().fault,
        Fault::NotHeader(_)
    ));
}

#[test]
fn the_header_has_exactly_its_four_keys_with_plain_integers() {
    let link = hex::encode(History::standard().link.0);
    let ok = format!(
        "\"exported_ms\":{EXPORTED_MS},\"link\":\"{link}\",\"version\":1,\"format\":\"parley-transcript\""
    );
    // Keys in any order, white space between tokens, escapes decoded.
    assert!(with_header(&header(&ok)).verify().is_ok());
    let spaced = format!(
        "{{ \"format\" : \"parley-\\u0074ranscript\" ,\t\"version\":1,\"link\":\"{link}\",\"exported_ms\":{EXPORTED_MS} }}"
    );
    assert!(with_header(&spaced).verify().is_ok());
    let base = format!("\"format\":\"parley-transcript\",\"link\":\"{link}\"");
    for (fields, expect) in [
        (
            format!("{base},\"version\":1"),
            "missing field `exported_ms`",
        ),
        (
            format!("{base},\"version\":1,\"exported_ms\":1,\"extra\":1"),
            "unknown field `extra`",
        ),
        (
            format!("{base},\"version\":1,\"version\":1,\"exported_ms\":1"),
            "duplicate field `version`",
        ),
        (
            format!("{base},\"version\":1.0,\"exported_ms\":1"),
            "floating point",
        ),
        (
            format!("{base},\"version\":1e0,\"exported_ms\":1"),
            "floating point",
        ),
        (
            format!("{base},\"version\":-0,\"exported_ms\":1"),
            "floating point",
        ),
        (
            format!("{base},\"version\":-1,\"exported_ms\":1"),
            "integer `-1`",
        ),
        (
            format!("{base},\"version\":01,\"exported_ms\":1"),
            "invalid number",
        ),
        (
            format!("{base},\"version\":\"1\",\"exported_ms\":1"),
            "invalid type",
        ),
        (
            format!("{base},\"version\":1,\"exported_ms\":18446744073709551616"),
            "floating point",
        ),
    ] {
        let error = with_header(&header(&fields)).verify().unwrap_err();
        assert_eq!(error.line, 1, "{fields}");
        assert!(
            matches!(&error.fault, Fault::NotHeader(detail) if detail.contains(expect)),
            "{fields}: {error}"
        );
    }
    // The largest integer is read (and then found not to be the receipt's time).
    let largest = format!("{base},\"version\":1,\"exported_ms\":18446744073709551615");
    check(
        "u64::MAX",
        &with_header(&header(&largest)),
        Err((11, "the header says 18446744073709551615")),
    );
    for (fields, expect) in [
        (
            format!(
                "\"format\":\"parley-transcript\",\"version\":2,\"link\":\"{link}\",\"exported_ms\":1"
            ),
            "unknown format or version",
        ),
        (
            format!("\"format\":\"parley\",\"version\":1,\"link\":\"{link}\",\"exported_ms\":1"),
            "unknown format or version",
        ),
        (
            format!(
                "\"format\":\"parley-transcript\",\"version\":1,\"link\":\"{}\",\"exported_ms\":1",
                link.to_uppercase()
            ),
            "the header's link is not 32 lowercase hex digits",
        ),
        (
            format!(
                "\"format\":\"parley-transcript\",\"version\":1,\"link\":\"{}\",\"exported_ms\":1",
                &link[..30]
            ),
            "the header's link is not 32 lowercase hex digits",
        ),
    ] {
        check(&fields, &with_header(&header(&fields)), Err((1, expect)));
    }
}

#[test]
fn a_later_line_has_exactly_one_key_with_a_string() {
    let file = History::standard().alpha_export();
    let card = file.0[1].clone();
    let value = card.trim_start_matches("{\"card\":").trim_end_matches('}');
    for (line, expect) in [
        (String::new(), "EOF while parsing"),
        ("   ".to_owned(), "EOF while parsing"),
        (format!("{{\"card\":{value},\"card\":{value}}}"), "expected"),
        (
            format!("{{\"card\":{value},\"entry\":{value}}}"),
            "expected",
        ),
        (format!("{{\"cards\":{value}}}"), "unknown variant `cards`"),
        ("{\"card\":1}".to_owned(), "invalid type"),
        (format!("[{value}]"), "expected value"),
        (format!("{card} x"), "trailing characters"),
    ] {
        check(
            &line,
            &file.clone().replace(2, line.clone()),
            Err((2, &format!("not a transcript line: {expect}"))),
        );
    }
    // White space and escapes are JSON's.
    let spaced = format!("  {{ \"card\" :\t{} }} ", value.replace('/', "\\/"));
    assert!(file.replace(2, spaced).verify().is_ok());
}

#[test]
fn base64_is_standard_with_canonical_padding() {
    let file = History::standard().alpha_export();
    // A line whose base64 ends in padding.
    let number = 1
        + (1..file.count())
            .find(|i| file.0[*i].ends_with("=\"}"))
            .expect("a padded line");
    let (key, rest) = file.0[number - 1][2..].split_once('"').expect("a key");
    let value = rest.trim_start_matches(":\"").trim_end_matches("\"}");
    let unpadded = value.trim_end_matches('=');
    let mut trailing_bits = value.trim_end_matches('=').to_owned();
    let last = trailing_bits.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let next = alphabet.as_bytes()[alphabet.find(last).unwrap() ^ 1] as char;
    trailing_bits.push(next);
    let padding = &value[unpadded.len()..];
    for (name, forged) in [
        ("no padding", unpadded.to_owned()),
        ("extra padding", format!("{value}=")),
        (
            "a line break",
            format!("{}\\n{}", &value[..10], &value[10..]),
        ),
        ("URL alphabet", value.replace('+', "-").replace('/', "_")),
        ("unused bits set", format!("{trailing_bits}{padding}")),
    ] {
        if forged == value {
            continue;
        }
        let line = format!("{{\"{key}\":\"{forged}\"}}");
        check(
            name,
            &file.clone().replace(number, line),
            Err((number, "not valid base64")),
        );
    }
}

#[test]
fn a_damaged_file_is_refused_and_never_panics() {
    // Every cut and many single-byte changes of a real export: each is refused (or, for the
    // few that change nothing that matters, verified), none panics.
    let text = History::standard().alpha_export().text().into_bytes();
    const CUT_STEP_BYTES: usize = 5;
    const FLIP_STEP_BYTES: usize = 11;
    for len in (0..text.len()).step_by(CUT_STEP_BYTES) {
        let _ = verify(&text[..len]);
    }
    for at in (0..text.len()).step_by(FLIP_STEP_BYTES) {
        for flip in [0x01, 0x80, 0xff] {
            let mut damaged = text.clone();
            damaged[at] ^= flip;
            let _ = verify(&damaged);
        }
    }
}

#[test]
fn an_entry_is_found_by_its_author_and_seq() {
    let history = History::standard();
    let text = history.alpha_export().text();
    let verified = verify(text.as_bytes()).expect("verifies");
    for who in [Who::Alpha, Who::Bravo] {
        let author = history.author(who);
        let log = verified
            .stations
            .iter()
            .find(|s| s.identity == author.identity.id())
            .expect("in the file");
        for (index, entry) in author.log.iter().enumerate() {
            let seq = index as u64 + 1;
            assert_eq!(
                signed_entry(text.as_bytes(), log, seq).as_deref(),
                Some(entry.bytes()),
                "{who:?} seq {seq}"
            );
        }
        let past = author.log.len() as u64 + 1;
        assert_eq!(signed_entry(text.as_bytes(), log, past), None);
        assert_eq!(signed_entry(text.as_bytes(), log, 0), None);
        // Another file (here: one more byte at the top) gives nothing, not another entry.
        let shifted = format!(" {text}");
        assert_eq!(signed_entry(shifted.as_bytes(), log, 1), None);
        assert_eq!(signed_entry(&text.as_bytes()[..10], log, 1), None);
    }
}

/// Who exported a transcript is read from its header and both cards alone, within the bytes
/// that can hold them; a file that does not begin so tells nothing.
#[test]
fn the_exporter_is_read_from_the_first_three_lines() {
    let history = History::standard();
    let (alpha, bravo) = (history.alpha.identity.id(), history.bravo.identity.id());
    let file = history.alpha_export();
    let text = file.text();
    assert_eq!(exported_by(text.as_bytes()), Some((alpha, bravo)));
    assert_eq!(
        exported_by(history.export(Who::Bravo, 4, None).text().as_bytes()),
        Some((bravo, alpha))
    );
    // The three lines alone, without their last newline, as a copy cut short leaves them.
    let three = file.0[..3].join("\n");
    assert_eq!(exported_by(three.as_bytes()), Some((alpha, bravo)));
    // Lines at the size limit (white space before their JSON), read from the most bytes that
    // can hold them; a byte fewer cuts the second card's JSON short.
    let padded = |line: &str| {
        let pad = TRANSCRIPT_LINE_SIZE_MAX_BYTES - line.len();
        format!("{}{line}", " ".repeat(pad))
    };
    let wide = (1..=3)
        .fold(file.clone(), |wide, n| {
            wide.replace(n, padded(&file.0[n - 1]))
        })
        .text();
    assert!(wide.len() > TRANSCRIPT_ENDS_BYTES_MAX);
    let first = |len: usize| exported_by(&wide.as_bytes()[..len]);
    assert_eq!(first(TRANSCRIPT_ENDS_BYTES_MAX), Some((alpha, bravo)));
    assert_eq!(first(TRANSCRIPT_ENDS_BYTES_MAX - 1), Some((alpha, bravo)));
    assert_eq!(first(TRANSCRIPT_ENDS_BYTES_MAX - 2), None);
    for (what, lines) in [
        (
            "second card cut",
            vec![file.0[0].clone(), file.0[1].clone()],
        ),
        ("no header", file.0[1..3].to_vec()),
        (
            "an entry for a card",
            vec![file.0[0].clone(), file.0[1].clone(), file.0[3].clone()],
        ),
        (
            "a card altered",
            vec![
                file.0[0].clone(),
                file.0[1].clone(),
                file.0[2].replacen('A', "B", 1),
            ],
        ),
    ] {
        assert_eq!(exported_by(lines.join("\n").as_bytes()), None, "{what}");
    }
}
