//! The rule every station and relay name obeys, checked where a name is chosen (`init`) and
//! wherever one is read from a card: 1 to [`NAME_SIZE_MAX_BYTES`] bytes of UTF-8, not blank
//! after trimming white space, and none of the characters that could drive a terminal or
//! reorder what is displayed around the name ([`is_display_control`]). A name is shown to
//! operators beside fingerprints and message texts; it must not be able to forge them.

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
        }
    }
}
