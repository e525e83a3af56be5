//! Tests of the crate through its public API, one `check` helper per area: the format's
//! errors (`format`), both sides of every limit (`limits`), each type's values (`values`),
//! sets of values and rules (`uses`), rendering and JSON (`render`), properties (`props`)
//! and the shipped example (`example`).

mod example;
mod format;
mod limits;
mod props;
mod render;
mod uses;
mod values;

use crate::Codebook;

/// The example shipped at the repository's root.
pub(crate) const EXAMPLE: &str = include_str!("../../../../examples/codebook.toml");

/// The four top lines every test codebook starts with; a body starts on line 5.
pub(crate) const HEAD: &str =
    "format = 1\nname = \"Test\"\nversion = 1\nlanguages = [\"en\", \"ru\"]\n";

/// A codebook of [`HEAD`] and `body`.
pub(crate) fn with(body: &str) -> String {
    format!("{HEAD}{body}")
}

/// Parses what must parse.
pub(crate) fn parsed(source: &str) -> Codebook {
    match Codebook::parse(source) {
        Ok(codebook) => codebook,
        Err(error) => panic!("{error}\n--- source:\n{source}"),
    }
}

/// A code numbered `number` without parameters.
pub(crate) fn code(number: u64) -> String {
    format!("[[code]]\nnumber = {number}\ntext.en = \"x\"\ntext.ru = \"x\"\n")
}

/// A form called `name` whose single field is `field` (a `[[form.field]]` body without its
/// header, name or labels).
pub(crate) fn form(name: &str, field_name: &str, field: &str) -> String {
    format!(
        "[[form]]\nname = \"{name}\"\ntitle.en = \"T\"\ntitle.ru = \"Т\"\n\
         [[form.field]]\nname = \"{field_name}\"\nlabel.en = \"L\"\nlabel.ru = \"Л\"\n{field}"
    )
}
