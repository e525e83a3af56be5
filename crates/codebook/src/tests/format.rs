//! Every class of format error, with its line and field path asserted through the message.

use super::{HEAD, code, form, parsed, with};
use crate::{Codebook, CodebookErrorKind};

/// `source` is refused with exactly `expect` (`line N, path: message`).
fn check(source: &str, expect: &str) {
    match Codebook::parse(source) {
        Ok(_) => panic!("parsed, expected {expect:?}\n--- source:\n{source}"),
        Err(error) => assert_eq!(error.to_string(), expect, "\n--- source:\n{source}"),
    }
}

const NAME_RULE: &str = "is not a name: 1 to 32 of a-z, 0-9 and _, starting with a letter";

#[test]
fn top_level() {
    check(
        "name = \"T\"\nversion = 1\nlanguages = [\"en\"]\n",
        "line 1, format: missing key `format`",
    );
    check(
        &HEAD.replace("format = 1", "format = 2"),
        "line 1, format: format 2 is not supported; this version of parley reads format 1",
    );
    check(
        &HEAD.replace("format = 1", "format = \"1\""),
        "line 1, format: expected integer, found string",
    );
    check(
        &HEAD.replace("version = 1", "version = 0"),
        "line 3, version: 0 is out of range (1 to 4294967295)",
    );
    check(
        &HEAD.replace("version = 1", "version = 4294967296"),
        "line 3, version: 4294967296 is out of range (1 to 4294967295)",
    );
    check(
        &HEAD.replace("version = 1", "version = 3.0"),
        "line 3, version: expected integer, found float",
    );
    check(
        &HEAD.replace("version = 1\n", ""),
        "line 1, version: missing key `version`",
    );
    check(
        &with("colour = 1\n"),
        "line 5, colour: unknown key `colour`",
    );
    check(
        &with("[extra]\nkey = 1\n"),
        "line 5, extra: unknown key `extra`",
    );
    // A key is the author's text (a peer's, for a proposal): shown escaped, it cannot start a
    // line of its own where the error is printed.
    check(
        &with("\"x\\nerror: forged\\u001b[31m\" = 1\n"),
        "line 5, x\\u{a}error: forged\\u{1b}[31m: unknown key `x\\u{a}error: forged\\u{1b}[31m`",
    );
    check(&HEAD.replace("\"Test\"", "\" \""), "line 2, name: is empty");
    check(
        &HEAD.replace("\"Test\"", "\"\\u200B \""),
        "line 2, name: is empty",
    );
    check(
        &HEAD.replace("\"Test\"", "\"Te\\u2028st\""),
        "line 2, name: holds a control or text-direction character",
    );
    check(
        &HEAD.replace("\"Test\"", "\"Te\\u0007st\""),
        "line 2, name: holds a control or text-direction character",
    );
    check(
        &HEAD.replace("\"Test\"", "\"Te\\u202Est\""),
        "line 2, name: holds a control or text-direction character",
    );
}

#[test]
fn languages() {
    let with_languages = |list: &str| HEAD.replace("[\"en\", \"ru\"]", list);
    check(
        &with_languages("[]"),
        "line 4, languages: too few languages: at least 1 needed",
    );
    check(
        &with_languages("\"en\""),
        "line 4, languages: expected array, found string",
    );
    check(
        &with_languages("[\"en\", 7]"),
        "line 4, languages[#2]: expected string, found integer",
    );
    check(
        &with_languages("[\"en\", \"EN\"]"),
        "line 4, languages[#2]: language \"EN\" is listed twice",
    );
    for tag in [
        "e",
        "en_US",
        "en-",
        "en--x",
        "-en",
        "1a",
        "en-abcdefghi",
        "ру",
        "",
    ] {
        check(
            &with_languages(&format!("[\"{tag}\"]")),
            &format!(
                "line 4, languages[#1]: {tag:?} is not a language tag (letters, digits and \
                 hyphens, e.g. \"en\", \"zh-Hant\", at most 16 bytes)"
            ),
        );
    }
    for tag in ["en", "zh-Hant", "sr-Latn-RS", "de-CH-1996", "abcdefgh"] {
        parsed(&with_languages(&format!("[\"{tag}\"]")));
    }
}

#[test]
fn syntax_errors_name_the_nearest_key_or_table() {
    check(
        &HEAD.replace("\"Test\"", "\"Test"),
        "line 2, name: TOML syntax: invalid basic string, expected `\"`",
    );
    check(
        &with(&format!(
            "{}[[code]]\nnumber = 3\ntext.en = = \"x\"\n",
            code(2)
        )),
        "line 11, code[3].text.en: TOML syntax: extra `=`, expected nothing",
    );
    check(
        "= 1\n",
        "line 1: TOML syntax: unquoted keys cannot be empty, expected letters, numbers, `-`, `_`",
    );
    check(
        &with("name = \"again\"\n"),
        "line 5, name: TOML syntax: duplicate key",
    );
    check(
        &with("[[code]]\nnumber = 1\nnumber = 2\n"),
        "line 7, code[1].number: TOML syntax: duplicate key",
    );
    check(
        &with("[[code]]\nnumber = 1\n[[code\n"),
        "line 7, code[#2]: TOML syntax: unclosed array table, expected `]]`",
    );
    check(
        &with("x = [1,\n"),
        "line 5, x: TOML syntax: unclosed array, expected `]`",
    );
}

#[test]
fn codes() {
    let code_1 = code(1);
    check(
        &with(&format!("{code_1}{code_1}")),
        "line 10, code[#2].number: code 1 is already defined on line 6",
    );
    check(
        &with("[[code]]\nnumber = 2\ntext.en = \"a\"\n"),
        "line 7, code[2].text.ru: missing text for language \"ru\"",
    );
    check(
        &with("[[code]]\nnumber = 2\n"),
        "line 5, code[2].text: missing key `text`",
    );
    check(
        &with("[[code]]\ntext.en = \"a\"\ntext.ru = \"б\"\n"),
        "line 5, code[#1].number: missing key `number`",
    );
    check(
        &with("[[code]]\nnumber = 2\ntext.en = \"a\"\ntext.ru = \"б\"\ntext.de = \"c\"\n"),
        "line 9, code[2].text.de: \"de\" is not one of the codebook's languages",
    );
    check(
        &with("[[code]]\nnumber = 2\ntext.en = \"a\"\ntext.RU = \"б\"\n"),
        "line 8, code[2].text.RU: \"RU\" is not one of the codebook's languages",
    );
    check(
        &with("[[code]]\nnumber = 2\ntext = \"a\"\n"),
        "line 7, code[2].text: expected table, found string",
    );
    check(
        &with("[[code]]\nnumber = 2\ntext.en = \"a\"\ntext.ru = \"\"\n"),
        "line 8, code[2].text.ru: is empty",
    );
    check(
        &with("[[code]]\nnumber = 0\n"),
        "line 6, code[#1].number: 0 is out of range (1 to 9999)",
    );
    check(
        &with("[[code]]\nnumber = -3\n"),
        "line 6, code[#1].number: -3 is out of range (1 to 9999)",
    );
    check(
        &with(&format!("{}colour = \"red\"\n", code(4))),
        "line 9, code[4].colour: unknown key `colour`",
    );
    check(
        &with("code = 5\n"),
        "line 5, code: expected array, found integer",
    );
    check(
        &with("code = [1]\n"),
        "line 5, code[#1]: expected table, found integer",
    );
    check(
        &with("[code]\nnumber = 1\n"),
        "line 5, code: expected array, found table",
    );
    // Inline tables are tables like any other.
    let inline = "code = [{ number = 7, text = { en = \"a\", ru = \"б\" } }]\n";
    assert!(parsed(&with(inline)).code(7).is_some());
}

const TIME_PARAM: &str = "[[code.param]]\nname = \"time\"\ntype = \"datetime\"\nlabel.en = \"Time\"\nlabel.ru = \"Время\"\n";

#[test]
fn templates() {
    let code_with = |en: &str, ru: &str, params: &str| {
        with(&format!(
            "[[code]]\nnumber = 4\ntext.en = \"{en}\"\ntext.ru = \"{ru}\"\n{params}"
        ))
    };
    parsed(&code_with("at {time}", "в {time}", TIME_PARAM));
    parsed(&code_with(
        "{{literal}} at {time}",
        "в {time} }}",
        TIME_PARAM,
    ));
    check(
        &code_with("at {time}", "в", TIME_PARAM),
        "line 8, code[4].text.ru: the text does not insert parameter `time`; every language's \
         text must insert every parameter",
    );
    check(
        &code_with("at {time}", "в {time}", ""),
        "line 7, code[4].text.en: placeholder {time} names no parameter of this code",
    );
    check(
        &code_with("at {time} {place}", "в {time}", TIME_PARAM),
        "line 7, code[4].text.en: placeholder {place} names no parameter of this code",
    );
    check(
        &code_with("a } b {time}", "в {time}", TIME_PARAM),
        "line 7, code[4].text.en: a lone `}`; write {{ and }} for literal braces",
    );
    check(
        &code_with("a {time", "в {time}", TIME_PARAM),
        "line 7, code[4].text.en: a `{` is never closed; write {{ and }} for literal braces",
    );
    check(
        &code_with("a {Time}", "в {time}", TIME_PARAM),
        "line 7, code[4].text.en: a placeholder must be a parameter name, like {time}; write \
         {{ and }} for literal braces",
    );
    // A parameter may be inserted more than once (what it renders to is bounded).
    parsed(&code_with(
        "at {time}; confirm {time}",
        "в {time} ({time})",
        TIME_PARAM,
    ));
    // An optional parameter must be inserted too: a value not in the text is never shown.
    let optional = TIME_PARAM.replace("type", "optional = true\ntype");
    check(
        &code_with("now", "сейчас", &optional),
        "line 7, code[4].text.en: the text does not insert parameter `time`; every language's \
         text must insert every parameter",
    );
}

/// `form[f]` with one field `x` whose body (type and bounds) is `field`; the body starts on
/// line 13.
fn field_check(field: &str, expect: &str) {
    check(&with(&form("f", "x", field)), expect);
}

#[test]
fn fields() {
    field_check(
        "type = \"colour\"\n",
        "line 13, form[f].field[x].type: unknown field type \"colour\"; expected text, integer, \
         choice, datetime, duration, coordinates or area",
    );
    field_check("", "line 9, form[f].field[x].type: missing key `type`");
    field_check(
        "type = 5\n",
        "line 13, form[f].field[x].type: expected string, found integer",
    );
    field_check(
        "type = \"integer\"\nmin = 5\nmax = 4\n",
        "line 15, form[f].field[x].max: min 5 is above max 4",
    );
    field_check(
        "type = \"integer\"\nmin = 5\n",
        "line 9, form[f].field[x].max: missing key `max`",
    );
    field_check(
        "type = \"duration\"\nmin_s = 60\nmax_s = 59\n",
        "line 15, form[f].field[x].max_s: min 60 is above max 59",
    );
    field_check(
        "type = \"text\"\n",
        "line 9, form[f].field[x].max_chars: missing key `max_chars`",
    );
    field_check(
        "type = \"text\"\nmax_chars = 10\nmin = 1\n",
        "line 15, form[f].field[x].min: unknown key `min`",
    );
    field_check(
        "type = \"datetime\"\nmax_chars = 10\n",
        "line 14, form[f].field[x].max_chars: unknown key `max_chars`",
    );
    field_check(
        "type = \"datetime\"\noptional = \"yes\"\n",
        "line 14, form[f].field[x].optional: expected boolean, found string",
    );
    field_check(
        "type = \"choice\"\n",
        "line 9, form[f].field[x].value: missing key `value`",
    );
    field_check(
        "type = \"choice\"\nvalue = []\n",
        "line 14, form[f].field[x].value: too few choice values: at least 1 needed",
    );
    let value = |key: &str| {
        format!("[[form.field.value]]\nkey = \"{key}\"\nlabel.en = \"A\"\nlabel.ru = \"А\"\n")
    };
    field_check(
        &format!("type = \"choice\"\n{}{}", value("a"), value("a")),
        "line 19, form[f].field[x].value[#2].key: \"a\" is already defined on line 15",
    );
    // Two values that read the same in one language, whatever the case and surrounding white
    // space, are refused: the other language is no help to a reader of that one.
    let labelled = |key: &str, en: &str, ru: &str| {
        format!("[[form.field.value]]\nkey = \"{key}\"\nlabel.en = \"{en}\"\nlabel.ru = \"{ru}\"\n")
    };
    field_check(
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Tactical", "тактический"),
            labelled("b", " tactical", "стратегический")
        ),
        "line 20, form[f].field[x].value[b].label.en: the label in \"en\" reads the same as value \
         \"a\"'s; each value must read differently in every language",
    );
    field_check(
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Tactical", "тактический"),
            labelled("b", "Strategic", "Тактический")
        ),
        "line 21, form[f].field[x].value[b].label.ru: the label in \"ru\" reads the same as value \
         \"a\"'s; each value must read differently in every language",
    );
    // Invisible characters and other white space do not tell two labels apart either.
    field_check(
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Tactical  missile", "тактический"),
            labelled("b", "Tac\\u200Btical\\u00A0missile", "стратегический")
        ),
        "line 20, form[f].field[x].value[b].label.en: the label in \"en\" reads the same as value \
         \"a\"'s; each value must read differently in every language",
    );
    field_check(
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Tactical", "тактический"),
            labelled("b", "Tactical", "стратегический")
        ),
        "line 20, form[f].field[x].value[b].label.en: the label in \"en\" reads the same as value \
         \"a\"'s; each value must read differently in every language",
    );
    parsed(&with(&form(
        "f",
        "x",
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Tactical", "тактический"),
            labelled("b", "Strategic", "стратегический")
        ),
    )));
    field_check(
        &format!("type = \"choice\"\n{}", value("A")),
        &format!("line 15, form[f].field[x].value[#1].key: \"A\" {NAME_RULE}"),
    );
    field_check(
        "type = \"choice\"\n[[form.field.value]]\nkey = \"a\"\nlabel.en = \"A\"\n",
        "line 16, form[f].field[x].value[a].label.ru: missing text for language \"ru\"",
    );
    check(
        &with(&form("f", "X", "type = \"datetime\"\n")),
        &format!("line 10, form[f].field[#1].name: \"X\" {NAME_RULE}"),
    );
    let second =
        "[[form.field]]\nname = \"x\"\ntype = \"datetime\"\nlabel.en = \"L\"\nlabel.ru = \"Л\"\n";
    check(
        &with(&format!(
            "{}{second}",
            form("f", "x", "type = \"datetime\"\n")
        )),
        "line 15, form[f].field[#2].name: \"x\" is already defined on line 10",
    );
    check(
        &with(
            &form("f", "x", "type = \"datetime\"\nlabel.de = \"L\"\n")
                .replace("label.ru = \"Л\"\n", ""),
        ),
        "line 13, form[f].field[x].label.de: \"de\" is not one of the codebook's languages",
    );
}

#[test]
fn forms() {
    let datetime = "type = \"datetime\"\n";
    check(
        &with(&form("Missile", "x", datetime)),
        &format!("line 6, form[#1].name: \"Missile\" {NAME_RULE}"),
    );
    check(
        &with(&format!(
            "{}{}",
            form("f", "x", datetime),
            form("f", "y", datetime)
        )),
        "line 15, form[#2].name: \"f\" is already defined on line 6",
    );
    check(
        &with("[[form]]\nname = \"f\"\ntitle.en = \"T\"\ntitle.ru = \"Т\"\n"),
        "line 5, form[f].field: missing key `field`",
    );
    check(
        &with("[[form]]\nname = \"f\"\ntitle.en = \"T\"\nfield = []\n"),
        "line 7, form[f].title.ru: missing text for language \"ru\"",
    );
    check(
        &with("[[form]]\nname = \"f\"\ntitle.en = \"T\"\ntitle.ru = \"Т\"\nfield = []\n"),
        "line 9, form[f].field: too few fields: at least 1 needed",
    );
}

/// A form `f` with datetime fields `start` and `end` and a text field `note`, then `rule`
/// (which starts on line 25).
fn rule_check(rule: &str, expect: Result<(), &str>) {
    let field = |name: &str, body: &str| {
        format!("[[form.field]]\nname = \"{name}\"\nlabel.en = \"L\"\nlabel.ru = \"Л\"\n{body}")
    };
    let source = with(&format!(
        "[[form]]\nname = \"f\"\ntitle.en = \"T\"\ntitle.ru = \"Т\"\n{}{}{}{rule}",
        field("start", "type = \"datetime\"\n"),
        field("end", "type = \"datetime\"\n"),
        field("note", "type = \"text\"\nmax_chars = 5\n"),
    ));
    match expect {
        Ok(()) => {
            parsed(&source);
        }
        Err(expect) => check(&source, expect),
    }
}

#[test]
fn rules() {
    rule_check(
        "[[form.rule]]\nfield = \"start\"\nlead_time_min_h = 24\n",
        Ok(()),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\nafter = \"start\"\n",
        Ok(()),
    );
    rule_check(
        "[[form.rule]]\nfield = \"start\"\nlead_time_min_h = 0\n",
        Ok(()),
    );
    rule_check(
        "[[form.rule]]\nfield = \"nope\"\nlead_time_min_h = 24\n",
        Err("line 26, form[f].rule[#1].field: the form has no field `nope`"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"note\"\nlead_time_min_h = 24\n",
        Err("line 26, form[f].rule[#1].field: field `note` is text; a rule needs a datetime field"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\nafter = \"note\"\n",
        Err("line 27, form[f].rule[#1].after: field `note` is text; a rule needs a datetime field"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\nafter = \"nope\"\n",
        Err("line 27, form[f].rule[#1].after: the form has no field `nope`"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\nafter = \"end\"\n",
        Err("line 27, form[f].rule[#1].after: a field cannot be after itself"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\nafter = \"start\"\nlead_time_min_h = 1\n",
        Err("line 25, form[f].rule[#1]: a rule needs exactly one of `lead_time_min_h` and `after`"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"end\"\n",
        Err("line 25, form[f].rule[#1]: a rule needs exactly one of `lead_time_min_h` and `after`"),
    );
    rule_check(
        "[[form.rule]]\nlead_time_min_h = 1\n",
        Err("line 25, form[f].rule[#1].field: missing key `field`"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"start\"\nlead_time_min_h = -1\n",
        Err("line 27, form[f].rule[#1].lead_time_min_h: -1 is out of range (0 to 8784)"),
    );
    rule_check(
        "[[form.rule]]\nfield = \"start\"\nlead_time_min_h = 24\nwhy = \"x\"\n",
        Err("line 28, form[f].rule[#1].why: unknown key `why`"),
    );
}

#[test]
fn errors_expose_their_parts() {
    let error = Codebook::parse(&with("[[code]]\nnumber = 2\ntext.en = \"a\"\n")).expect_err("ru");
    assert_eq!(error.line, 7);
    assert_eq!(error.path, "code[2].text.ru");
    assert_eq!(
        error.kind,
        CodebookErrorKind::MissingText { lang: "ru".into() }
    );
}

#[test]
fn deep_nesting_is_refused_without_overflow() {
    let room = parley_proto::limits::CODEBOOK_SIZE_MAX_BYTES - HEAD.len() - 10;
    for (open, close) in [("[", "]"), ("{a=", "}")] {
        let depth = room / (open.len() + close.len());
        let source = with(&format!(
            "x = {}{}\n",
            open.repeat(depth),
            close.repeat(depth)
        ));
        let error = Codebook::parse(&source).expect_err("refused");
        assert_eq!(error.line, 5, "{error}");
    }
}

/// A codebook stored (proposed, perhaps agreed, under an earlier version's rules) is read as
/// it was agreed: the rules added since for new codebooks refuse it only as a new one.
#[test]
fn stored_codebooks_are_read_under_the_rules_they_were_agreed_under() {
    let labelled = |key: &str, en: &str| {
        format!(
            "[[form.field.value]]\nkey = \"{key}\"\nlabel.en = \"{en}\"\nlabel.ru = \"{key}\"\n"
        )
    };
    let same_labels = with(&form(
        "f",
        "x",
        &format!(
            "type = \"choice\"\n{}{}",
            labelled("a", "Same"),
            labelled("b", "same")
        ),
    ));
    let invisible_title = with(&form("f", "x", "type = \"datetime\"\n"))
        .replace("title.en = \"T\"", "title.en = \"\\u200B\"");
    let separator = HEAD.replace("\"Test\"", "\"Te\\u2028st\"");
    for source in [&same_labels, &invisible_title, &separator] {
        assert!(Codebook::parse(source).is_err(), "new: {source}");
        assert!(
            Codebook::parse_stored(source).is_ok(),
            "stored: {source}: {:?}",
            Codebook::parse_stored(source).err()
        );
    }
    // What was refused before is refused either way.
    let control = HEAD.replace("\"Test\"", "\"Te\\u0007st\"");
    assert!(Codebook::parse_stored(&control).is_err());
    assert!(Codebook::parse_stored(&HEAD.replace("\"Test\"", "\" \"")).is_err());
}
