//! What a text in a codebook, or a text value an operator types, must not be: blank to its
//! reader, or able to drive the display it is shown on.

pub(crate) use parley_proto::names::drives_display;
use parley_proto::names::is_invisible;

/// Whether `text` shows nothing: white space and invisible characters only (a zero-width space
/// passes `trim` and renders as nothing).
pub(crate) fn is_blank(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || is_invisible(c))
}
