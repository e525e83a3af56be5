//! What a text in a codebook, or a text value an operator types, must not be: blank to its
//! reader, or able to drive the display it is shown on.

use parley_proto::names::{is_display_control, is_invisible};

/// Whether `text` shows nothing: white space and invisible characters only (a zero-width space
/// passes `trim` and renders as nothing).
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || is_invisible(c))
}

/// Whether `c` drives a display rather than being shown: a control or text-direction character,
/// or a line or paragraph separator, which breaks a line where a terminal or a browser honours
/// it (a forged line, as a newline would be).
pub(crate) fn drives_display(c: char) -> bool {
    is_display_control(c) || matches!(c, '\u{2028}' | '\u{2029}')
}
