//! Every bound a codebook and the values it describes must keep, with its unit last. Both sides
//! of each are tested (`tests/limits.rs`). The bounds the wire format itself enforces live in
//! `parley_proto::limits` and are used from there: `CODEBOOK_SIZE_MAX_BYTES`, `PARAMS_MAX`,
//! `PARAM_NAME_SIZE_MAX_BYTES`, `LANG_SIZE_MAX_BYTES`, `POLYGON_POINTS_MIN`/`MAX`,
//! `AREA_RADIUS_M_MAX`, `TEXT_SIZE_MAX_BYTES`.

use parley_proto::limits::{PARAMS_MAX, TEXT_SIZE_MAX_BYTES};

/// The only codebook format this crate reads (`format = 1`).
pub const FORMAT_VERSION: i64 = 1;
/// Longest codebook name, in characters.
pub const NAME_CHARS_MAX: usize = 100;
/// Most languages one codebook is written in.
pub const LANGUAGES_MAX: usize = 8;
/// Most coded messages in one codebook.
pub const CODES_MAX: usize = 500;
/// Largest code number (numbers start at 1).
pub const CODE_NUMBER_MAX: u64 = 9_999;
/// Longest text of a coded message in one language, in characters (placeholders included).
pub const CODE_TEXT_CHARS_MAX: usize = 1_000;
/// Most forms in one codebook.
pub const FORMS_MAX: usize = 32;
/// Most parameters of a code, or fields of a form: what one message can carry.
pub const FIELDS_MAX: usize = PARAMS_MAX;
/// Longest title of a form, label of a field or label of a choice value, in characters.
pub const LABEL_CHARS_MAX: usize = 100;
/// Most values one choice field offers.
pub const CHOICE_VALUES_MAX: usize = 64;
/// Most rules one form states.
pub const RULES_MAX: usize = 16;
/// Largest `max_chars` of a text field, in characters. At four UTF-8 bytes per character at
/// most, a full field still fits in `TEXT_SIZE_MAX_BYTES`.
pub const TEXT_FIELD_CHARS_MAX: usize = 4_096;
/// Largest duration a duration field can hold, in seconds (a leap year).
pub const DURATION_S_MAX: u64 = 366 * 86_400;
/// Latest time a datetime field can hold, in UTC milliseconds: 9999-12-31T23:59:59Z, the last
/// second RFC 3339 can write.
pub const DATETIME_MS_MAX: u64 = 253_402_300_799_000;
/// Longest lead time a rule may require, in hours (a leap year).
pub const LEAD_TIME_H_MAX: u64 = 366 * 24;
/// Most decimals of a latitude or longitude typed by an operator (one microdegree).
pub const DEGREE_DECIMALS_MAX: usize = 6;
/// Most decimals of a circle's radius typed by an operator, in kilometres (one metre).
pub const RADIUS_KM_DECIMALS_MAX: usize = 3;

/// Longest rendering of a coded message in one language, in bytes. A code's text may insert a
/// parameter more than once, so a text of a few hundred placeholders and a long value would
/// render into megabytes; a rendering is cut here, and says so. Every text inserting each of
/// its values once fits: at most `CODE_TEXT_CHARS_MAX` characters of template, and values no
/// larger than the envelope that carried them (a choice shown by a label of up to
/// `LABEL_CHARS_MAX` characters for each of `FIELDS_MAX` parameters included).
pub const RENDERED_SIZE_MAX_BYTES: usize = 128 * 1024;

const _: () = assert!(
    CODE_TEXT_CHARS_MAX * 4
        + parley_proto::limits::ENVELOPE_SIZE_MAX_BYTES
        + FIELDS_MAX * LABEL_CHARS_MAX * 4
        <= RENDERED_SIZE_MAX_BYTES
);
const _: () = assert!(TEXT_FIELD_CHARS_MAX * 4 <= TEXT_SIZE_MAX_BYTES);
const _: () = assert!(DURATION_S_MAX <= u64::MAX / 1000);
