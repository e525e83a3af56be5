//! The rule every station and relay name obeys, checked where a name is chosen (`init`) and
//! wherever one is read from a card: 1 to [`NAME_SIZE_MAX_BYTES`] bytes of UTF-8, not blank
//! after trimming white space, and none of the characters that could drive a terminal or
//! reorder what is displayed around the name ([`is_display_control`]). A name is shown to
//! operators beside fingerprints and message texts; it must not be able to forge them.

use crate::id::Fingerprint;
use crate::limits::NAME_SIZE_MAX_BYTES;

/// Whether `c` controls a display rather than being shown: a control character (Unicode
/// general category Cc: C0, DEL, C1) or a bidirectional formatting character (U+061C ARABIC
/// LETTER MARK, U+200E/U+200F LEFT-TO-RIGHT/RIGHT-TO-LEFT MARK, U+202A–U+202E embeddings and
/// overrides, U+2066–U+2069 isolates).
pub fn is_display_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Whether `c` drives a display rather than being shown: an [`is_display_control`] character,
/// or a line or paragraph separator (U+2028, U+2029), which breaks a line where a terminal, a
/// pager or a browser honours it (a forged line, as a newline would be).
pub fn drives_display(c: char) -> bool {
    is_display_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Appends `text` to `out` with every character that could drive a display
/// ([`drives_display`]) shown as `\u{…}`. With `quote`, `"` and `\` are escaped too, for text
/// shown between double quotes. For text
/// someone else chose (a peer's name or message, a file name from removable media) put where a
/// person reads it.
pub fn escape_into(out: &mut String, text: &str, quote: bool) {
    use std::fmt::Write as _;
    for c in text.chars() {
        match c {
            '"' | '\\' if quote => {
                out.push('\\');
                out.push(c);
            }
            c if drives_display(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `text` escaped as [`escape_into`] does, unquoted.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, false);
    out
}

/// Whether `c` is shown as nothing at all: a Unicode default-ignorable code point
/// (DerivedCoreProperties.txt, `Default_Ignorable_Code_Point`, Unicode 15.1): the soft hyphen,
/// zero-width spaces and joiners, the word joiner and invisible operators, fillers, variation
/// selectors, the byte order mark, tags. Two names that differ only by such characters look
/// the same, so one could pass for the other.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Why a name given now breaks the rule for new names, if it does: [`check_name`], and no
/// invisible character ([`is_invisible`]) or odd space, so that no new name can pass for
/// another. A station's name also obeys [`check_new_station_name`]. Checked
/// where a station is named (`init`) and where a peer is paired; names read from cards and
/// stores made before the rule follow [`check_name`] alone, so they still load and verify.
pub fn check_new_name(name: &str) -> Result<(), &'static str> {
    check_name(name)?;
    if name.chars().any(is_invisible) {
        return Err(
            "holds an invisible character (zero-width, joiner, filler, soft hyphen, variation selector or tag)",
        );
    }
    // Spaces that would tell two names apart unseen: at either end, or of another kind than
    // the plain one (no-break, ideographic, thin…), and the blank Braille pattern.
    if name.trim() != name {
        return Err("begins or ends with a space");
    }
    if name
        .chars()
        .any(|c| (c.is_whitespace() && c != ' ') || c == '\u{2800}')
    {
        return Err("holds a blank character other than the plain space");
    }
    Ok(())
}

/// Why a station's name given now (`init`, a card at `peer add`) breaks the rule, if it
/// does: [`check_new_name`], and not readable as a fingerprint, since commands name a peer by
/// name or fingerprint and such a name could pass for another station's.
pub fn check_new_station_name(name: &str) -> Result<(), &'static str> {
    check_new_name(name)?;
    if Fingerprint::parse(name).is_some() {
        return Err("reads as a fingerprint");
    }
    Ok(())
}

/// Why a name breaks the rule, if it does.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("is blank");
    }
    if name.len() > NAME_SIZE_MAX_BYTES {
        return Err("is over 64 bytes");
    }
    if name.chars().any(is_display_control) {
        return Err("holds a control or text-direction character");
    }
    Ok(())
}

/// Serialises a closed set as its lower-case name (`name()`) and parses it back (`parse()`),
/// refusing any other name with `hint`. The crate using it depends on `serde`.
#[doc(hidden)]
#[macro_export]
macro_rules! serde_by_name {
    ($type:ty, $what:literal, $hint:literal) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::parse(&name).ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        concat!("unknown ", $what, " {:?}; ", $hint),
                        name
                    ))
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_forge_a_display_are_refused() {
        let longest = "n".repeat(NAME_SIZE_MAX_BYTES);
        let over = "n".repeat(NAME_SIZE_MAX_BYTES + 1);
        for (name, expect) in [
            ("Alpha", Ok(())),
            ("Москва 2", Ok(())),
            ("北京", Ok(())),
            (longest.as_str(), Ok(())),
            (over.as_str(), Err("is over 64 bytes")),
            ("", Err("is blank")),
            ("  \t", Err("is blank")),
            (
                "Alpha\u{1b}[31m",
                Err("holds a control or text-direction character"),
            ),
            (
                "Al\rpha",
                Err("holds a control or text-direction character"),
            ),
            (
                "Alpha\nBravo",
                Err("holds a control or text-direction character"),
            ),
            (
                "ahplA\u{202e}",
                Err("holds a control or text-direction character"),
            ),
            (
                "\u{2067}Alpha",
                Err("holds a control or text-direction character"),
            ),
            (
                "Alpha\u{85}",
                Err("holds a control or text-direction character"),
            ),
        ] {
            assert_eq!(check_name(name), expect, "{name:?}");
            assert_eq!(check_new_name(name), expect, "{name:?}");
        }
    }

    #[test]
    fn a_new_name_holds_no_invisible_character() {
        const INVISIBLE: &str = "holds an invisible character (zero-width, joiner, filler, soft hyphen, variation selector or tag)";
        for c in [
            '\u{00AD}',
            '\u{034F}',
            '\u{115F}',
            '\u{180E}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{2064}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FEFF}',
            '\u{FFA0}',
            '\u{1D173}',
            '\u{E0041}',
            '\u{E0FFF}',
        ] {
            let name = format!("Bravo{c}");
            assert_eq!(
                check_name(&name),
                Ok(()),
                "{c:?}: an existing name still loads"
            );
            assert_eq!(check_new_name(&name), Err(INVISIBLE), "{c:?}");
        }
        // Neighbours of the ranges are ordinary characters.
        for name in [
            "Bravo\u{00AC}",
            "Bravo\u{2070}",
            "Bravo\u{FE10}",
            "Bravo\u{E1000}",
            "Bravo\u{1D172}",
        ] {
            assert_eq!(check_new_name(name), Ok(()), "{name:?}");
        }
    }

    /// A station's new name does not read as a fingerprint, however written; an operator's
    /// may, and a name already stored still loads.
    #[test]
    fn a_new_station_name_is_no_fingerprint() {
        let fingerprint = crate::Fingerprint([0xa5; 16]);
        for dressed in [fingerprint.to_string(), hex::encode_upper(fingerprint.0)] {
            assert_eq!(check_name(&dressed), Ok(()), "an existing name still loads");
            assert_eq!(check_new_name(&dressed), Ok(()), "an operator's name");
            assert_eq!(
                check_new_station_name(&dressed),
                Err("reads as a fingerprint")
            );
        }
        assert_eq!(check_new_station_name("Alpha 1a2b"), Ok(()));
    }

    /// Blanks that tell two new names apart unseen: spaces at either end, spaces of another
    /// kind than the plain one, the blank Braille pattern. A name read from a card or a
    /// store still loads with them.
    #[test]
    fn a_new_name_has_plain_spaces_inside_only() {
        for (name, why) in [
            ("Ana ", "begins or ends with a space"),
            (" Ana", "begins or ends with a space"),
            ("Ana\u{00A0}", "begins or ends with a space"),
            (
                "Ana\u{00A0}B",
                "holds a blank character other than the plain space",
            ),
            (
                "Ana\u{3000}B",
                "holds a blank character other than the plain space",
            ),
            (
                "Ana\u{2009}B",
                "holds a blank character other than the plain space",
            ),
            (
                "\u{2800}",
                "holds a blank character other than the plain space",
            ),
            (
                "Ana\u{2800}",
                "holds a blank character other than the plain space",
            ),
        ] {
            assert_eq!(
                check_name(name),
                Ok(()),
                "{name:?}: an existing name still loads"
            );
            assert_eq!(check_new_name(name), Err(why), "{name:?}");
        }
        assert_eq!(check_new_name("Olga Petrova"), Ok(()));
        assert_eq!(check_new_name("Москва 2"), Ok(()));
    }
}
