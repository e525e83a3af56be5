//! Both sides of every bound a codebook keeps (the bounds on values are in `values`).

use parley_proto::limits::{
    CODEBOOK_SIZE_MAX_BYTES, LANG_SIZE_MAX_BYTES, PARAM_NAME_SIZE_MAX_BYTES,
};

use super::{HEAD, code, form, with};
use crate::limits::*;
use crate::{Codebook, CodebookErrorKind};

/// `source` parses (`None`) or is refused with `expect`.
fn check(source: &str, expect: Option<CodebookErrorKind>) {
    let got = Codebook::parse(source).err().map(|error| error.kind);
    assert_eq!(
        got,
        expect,
        "source starts {:?}",
        &source[..source.len().min(300)]
    );
}

fn too_many(what: &'static str, max: usize) -> Option<CodebookErrorKind> {
    Some(CodebookErrorKind::TooMany { what, max })
}

fn out_of_range(
    value: impl Into<i128>,
    min: impl Into<i128>,
    max: impl Into<i128>,
) -> Option<CodebookErrorKind> {
    Some(CodebookErrorKind::OutOfRange {
        value: value.into(),
        min: min.into(),
        max: max.into(),
    })
}

fn too_long(chars: usize, max: usize) -> Option<CodebookErrorKind> {
    Some(CodebookErrorKind::TextTooLong { chars, max })
}

#[test]
fn source_size() {
    let base = with(&code(1));
    let padded = |size: usize| {
        let mut source = base.clone();
        source.push('#');
        while source.len() < size - 1 {
            source.push('x');
        }
        source.push('\n');
        source
    };
    check(&padded(CODEBOOK_SIZE_MAX_BYTES), None);
    let size_bytes = CODEBOOK_SIZE_MAX_BYTES + 1;
    check(
        &padded(size_bytes),
        Some(CodebookErrorKind::TooLarge { size_bytes }),
    );
}

#[test]
fn name_and_version() {
    let named = |chars: usize| HEAD.replace("\"Test\"", &format!("\"{}\"", "я".repeat(chars)));
    check(&named(NAME_CHARS_MAX), None);
    check(
        &named(NAME_CHARS_MAX + 1),
        too_long(NAME_CHARS_MAX + 1, NAME_CHARS_MAX),
    );
    check(&named(1), None);
    let version = |v: u64| HEAD.replace("version = 1", &format!("version = {v}"));
    check(&version(1), None);
    check(&version(u32::MAX.into()), None);
    check(&version(0), out_of_range(0, 1, u32::MAX));
    check(
        &version(u64::from(u32::MAX) + 1),
        out_of_range(u64::from(u32::MAX) + 1, 1, u32::MAX),
    );
}

#[test]
fn languages() {
    let list = |count: usize| {
        let tags: Vec<String> = (0..count)
            .map(|i| format!("\"l{}\"", (b'a' + i as u8) as char))
            .collect();
        HEAD.replace("[\"en\", \"ru\"]", &format!("[{}]", tags.join(", ")))
    };
    check(&list(LANGUAGES_MAX), None);
    check(
        &list(LANGUAGES_MAX + 1),
        too_many("languages", LANGUAGES_MAX),
    );
    check(&list(1), None);
    check(
        &list(0),
        Some(CodebookErrorKind::TooFew {
            what: "languages",
            min: 1,
        }),
    );
    let tag = |tag: &str| HEAD.replace("[\"en\", \"ru\"]", &format!("[\"{tag}\"]"));
    let longest = format!("abcdefgh-{}", "x".repeat(LANG_SIZE_MAX_BYTES - 9));
    assert_eq!(longest.len(), LANG_SIZE_MAX_BYTES);
    check(&tag(&longest), None);
    let over = format!("{longest}x");
    check(
        &tag(&over),
        Some(CodebookErrorKind::BadLanguageTag(over.clone())),
    );
}

#[test]
fn codes() {
    let codes = |count: u64| with(&(1..=count).map(code).collect::<String>());
    check(&codes(CODES_MAX as u64), None);
    check(&codes(CODES_MAX as u64 + 1), too_many("codes", CODES_MAX));
    check(&with(&code(CODE_NUMBER_MAX)), None);
    check(
        &with(&code(CODE_NUMBER_MAX + 1)),
        out_of_range(CODE_NUMBER_MAX + 1, 1, CODE_NUMBER_MAX),
    );
    check(&with(&code(1)), None);
    check(&with(&code(0)), out_of_range(0, 1, CODE_NUMBER_MAX));
    let text = |chars: usize| {
        with(&code(1).replace(
            "text.en = \"x\"",
            &format!("text.en = \"{}\"", "ж".repeat(chars)),
        ))
    };
    check(&text(CODE_TEXT_CHARS_MAX), None);
    check(
        &text(CODE_TEXT_CHARS_MAX + 1),
        too_long(CODE_TEXT_CHARS_MAX + 1, CODE_TEXT_CHARS_MAX),
    );
}

fn field(name: &str) -> String {
    format!(
        "[[form.field]]\nname = \"{name}\"\ntype = \"datetime\"\nlabel.en = \"L\"\nlabel.ru = \"Л\"\n"
    )
}

#[test]
fn forms_and_fields() {
    let forms = |count: usize| {
        let forms: String = (0..count)
            .map(|i| form(&format!("f{i}"), "x", "type = \"datetime\"\n"))
            .collect();
        with(&forms)
    };
    check(&forms(FORMS_MAX), None);
    check(&forms(FORMS_MAX + 1), too_many("forms", FORMS_MAX));
    let fields = |count: usize| {
        let fields: String = (1..count).map(|i| field(&format!("f{i}"))).collect();
        with(&format!(
            "{}{fields}",
            form("f", "f0", "type = \"datetime\"\n")
        ))
    };
    check(&fields(FIELDS_MAX), None);
    check(&fields(FIELDS_MAX + 1), too_many("fields", FIELDS_MAX));
    let params = |count: usize| {
        let names: Vec<String> = (0..count).map(|i| format!("p{i}")).collect();
        let text: String = names.iter().map(|name| format!("{{{name}}}")).collect();
        let params: String = names
            .iter()
            .map(|name| field(name).replace("form.field", "code.param"))
            .collect();
        with(&format!(
            "[[code]]\nnumber = 1\ntext.en = \"{text}\"\ntext.ru = \"{text}\"\n{params}"
        ))
    };
    check(&params(FIELDS_MAX), None);
    check(&params(FIELDS_MAX + 1), too_many("parameters", FIELDS_MAX));
    let named = |name: &str| with(&form("f", name, "type = \"datetime\"\n"));
    check(&named(&"a".repeat(PARAM_NAME_SIZE_MAX_BYTES)), None);
    let long = "a".repeat(PARAM_NAME_SIZE_MAX_BYTES + 1);
    check(
        &named(&long),
        Some(CodebookErrorKind::BadName(long.clone())),
    );
    let labelled = |chars: usize| {
        let label = "л".repeat(chars);
        with(
            &form("f", "x", "type = \"datetime\"\n")
                .replace("label.ru = \"Л\"", &format!("label.ru = \"{label}\"")),
        )
    };
    check(&labelled(LABEL_CHARS_MAX), None);
    check(
        &labelled(LABEL_CHARS_MAX + 1),
        too_long(LABEL_CHARS_MAX + 1, LABEL_CHARS_MAX),
    );
}

#[test]
fn choice_values() {
    let choice = |count: usize| {
        let values: String = (0..count)
            .map(|i| {
                format!(
                    "[[form.field.value]]\nkey = \"v{i}\"\nlabel.en = \"V{i}\"\nlabel.ru = \"В{i}\"\n"
                )
            })
            .collect();
        with(&form("f", "x", &format!("type = \"choice\"\n{values}")))
    };
    check(&choice(CHOICE_VALUES_MAX), None);
    check(
        &choice(CHOICE_VALUES_MAX + 1),
        too_many("choice values", CHOICE_VALUES_MAX),
    );
    check(&choice(1), None);
    check(
        &choice(0).replace("type = \"choice\"\n", "type = \"choice\"\nvalue = []\n"),
        Some(CodebookErrorKind::TooFew {
            what: "choice values",
            min: 1,
        }),
    );
}

#[test]
fn rules() {
    let rules = |count: usize| {
        let rules = "[[form.rule]]\nfield = \"x\"\nlead_time_min_h = 1\n".repeat(count);
        with(&format!(
            "{}{rules}",
            form("f", "x", "type = \"datetime\"\n")
        ))
    };
    check(&rules(RULES_MAX), None);
    check(&rules(RULES_MAX + 1), too_many("rules", RULES_MAX));
    let lead = |hours: u64| {
        let rule = format!("[[form.rule]]\nfield = \"x\"\nlead_time_min_h = {hours}\n");
        with(&format!(
            "{}{rule}",
            form("f", "x", "type = \"datetime\"\n")
        ))
    };
    check(&lead(LEAD_TIME_H_MAX), None);
    check(
        &lead(LEAD_TIME_H_MAX + 1),
        out_of_range(LEAD_TIME_H_MAX + 1, 0, LEAD_TIME_H_MAX),
    );
}

#[test]
fn field_bounds() {
    let text = |max: usize| {
        with(&form(
            "f",
            "x",
            &format!("type = \"text\"\nmax_chars = {max}\n"),
        ))
    };
    check(&text(TEXT_FIELD_CHARS_MAX), None);
    check(
        &text(TEXT_FIELD_CHARS_MAX + 1),
        out_of_range(
            TEXT_FIELD_CHARS_MAX as i128 + 1,
            1,
            TEXT_FIELD_CHARS_MAX as i128,
        ),
    );
    check(&text(1), None);
    check(&text(0), out_of_range(0, 1, TEXT_FIELD_CHARS_MAX as i128));
    let duration = |bounds: &str| with(&form("f", "x", &format!("type = \"duration\"\n{bounds}")));
    check(&duration(&format!("max_s = {DURATION_S_MAX}\n")), None);
    check(
        &duration(&format!("max_s = {}\n", DURATION_S_MAX + 1)),
        out_of_range(DURATION_S_MAX + 1, 0, DURATION_S_MAX),
    );
    check(&duration("min_s = 0\n"), None);
    check(
        &duration("min_s = -1\n"),
        out_of_range(-1, 0, DURATION_S_MAX),
    );
    check(&duration("min_s = 5\nmax_s = 5\n"), None);
    check(
        &duration("min_s = 6\nmax_s = 5\n"),
        Some(CodebookErrorKind::MinAboveMax { min: 6, max: 5 }),
    );
    let integer = |min: i64, max: i64| {
        with(&form(
            "f",
            "x",
            &format!("type = \"integer\"\nmin = {min}\nmax = {max}\n"),
        ))
    };
    check(&integer(i64::MIN, i64::MAX), None);
    check(&integer(7, 7), None);
    check(
        &integer(8, 7),
        Some(CodebookErrorKind::MinAboveMax { min: 8, max: 7 }),
    );
}

#[test]
fn format_and_default_duration_bounds() {
    check(HEAD, None);
    for format in [0, 2, -1] {
        let source = HEAD.replace("format = 1", &format!("format = {format}"));
        check(&source, Some(CodebookErrorKind::UnsupportedFormat(format)));
    }
    let codebook = super::parsed(&with(&form("f", "x", "type = \"duration\"\n")));
    let duration = |s: u64| {
        let params = vec![("x".to_owned(), parley_proto::Value::Duration(s))];
        codebook.check_notice("f", &params, 0).is_ok()
    };
    assert!(duration(0) && duration(DURATION_S_MAX) && !duration(DURATION_S_MAX + 1));
}

#[test]
fn every_limit_is_documented() {
    let docs = include_str!("../../../../docs/codebook.md");
    let limits = include_str!("../limits.rs");
    let names = limits
        .lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split(':').next());
    let mut count = 0;
    for name in names {
        count += 1;
        if name != "FORMAT_VERSION" {
            assert!(
                docs.contains(&format!("`{name}`")),
                "docs/codebook.md §8 lacks {name}"
            );
        }
    }
    assert_eq!(count, 18);
}

/// A code's text may insert a parameter many times: its rendering is cut at
/// `RENDERED_SIZE_MAX_BYTES` and says so, where it would have been megabytes; a rendering
/// within the bound is whole.
#[test]
fn rendering_is_bounded() {
    // A one-byte literal first, so the cut falls inside a four-byte character.
    let text = format!("x{}", "{a}".repeat(333));
    let source = with(&format!(
        "[[code]]\nnumber = 1\ntext.en = \"{text}\"\ntext.ru = \"{text}\"\n\
         [[code.param]]\nname = \"a\"\ntype = \"text\"\nlabel.en = \"A\"\nlabel.ru = \"А\"\n\
         max_chars = {TEXT_FIELD_CHARS_MAX}\n"
    ));
    let book = Codebook::parse(&source).expect("a parameter may be inserted many times");
    let long = vec![("a".to_owned(), parley_proto::Value::Text("𝄞".repeat(4096)))];
    let rendered = book.render_coded(1, &long, "en").expect("renders");
    let cut = format!(" [cut: over {RENDERED_SIZE_MAX_BYTES} bytes]");
    assert!(
        rendered.ends_with(&cut),
        "{}",
        &rendered[rendered.len() - 40..]
    );
    assert!(rendered.len() <= RENDERED_SIZE_MAX_BYTES + cut.len());
    assert!(rendered.starts_with('x'));
    // 333 values of 99 four-byte characters: 131,869 bytes, just over; of 98, just under.
    for (chars, whole) in [(98, true), (99, false)] {
        let value = vec![("a".to_owned(), parley_proto::Value::Text("𝄞".repeat(chars)))];
        let rendered = book.render_coded(1, &value, "ru").expect("renders");
        assert_eq!(
            !rendered.ends_with(&cut),
            whole,
            "{chars}: {}",
            rendered.len()
        );
    }
}
