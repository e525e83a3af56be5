//! A span-aware reader over toml's parsed document (`toml::de::DeTable`): every value comes
//! with its field path and line, every table refuses the keys nobody asked for, and a missing
//! key is reported on the line of the table it is missing from. It knows TOML, not codebooks.

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::error::{CodebookError, CodebookErrorKind};

/// Byte offsets of the source's line starts, to turn a span into a 1-based line; and whether
/// the source is read under the rules for a new codebook (`strict`) or for one stored.
pub(crate) struct Lines {
    starts: Vec<usize>,
    strict: bool,
}

impl Lines {
    pub(crate) fn new(source: &str, strict: bool) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Lines { starts, strict }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset).max(1)
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// One value of the document, where it is and what it is called.
pub(crate) struct Node<'a, 's> {
    pub(crate) path: String,
    pub(crate) line: usize,
    pub(crate) value: &'a DeValue<'s>,
    lines: &'a Lines,
}

impl<'a, 's> Node<'a, 's> {
    /// The document's root table.
    pub(crate) fn root(root: &'a Spanned<DeTable<'s>>, lines: &'a Lines) -> Table<'a, 's> {
        Table::new(String::new(), 1, root.get_ref(), lines)
    }

    /// Whether the source is read under the rules for a new codebook, not a stored one.
    pub(crate) fn strict(&self) -> bool {
        self.lines.strict
    }

    pub(crate) fn error(&self, kind: CodebookErrorKind) -> CodebookError {
        CodebookError {
            line: self.line,
            path: self.path.clone(),
            kind,
        }
    }

    fn wrong_type(&self, expected: &'static str) -> CodebookError {
        self.error(CodebookErrorKind::WrongType {
            expected,
            found: self.value.type_str(),
        })
    }

    /// The same value under another path (once its id is known).
    pub(crate) fn renamed(self, path: String) -> Self {
        Node { path, ..self }
    }

    pub(crate) fn table(self) -> Result<Table<'a, 's>, CodebookError> {
        match self.value {
            DeValue::Table(table) => Ok(Table::new(self.path, self.line, table, self.lines)),
            _ => Err(self.wrong_type("table")),
        }
    }

    pub(crate) fn string(&self) -> Result<&'a str, CodebookError> {
        match self.value {
            DeValue::String(text) => Ok(text),
            _ => Err(self.wrong_type("string")),
        }
    }

    pub(crate) fn boolean(&self) -> Result<bool, CodebookError> {
        match self.value {
            DeValue::Boolean(flag) => Ok(*flag),
            _ => Err(self.wrong_type("boolean")),
        }
    }

    /// An integer within `min..=max`, as a `T` (which holds all of that range).
    pub(crate) fn integer<T: TryFrom<i128>>(
        &self,
        min: i128,
        max: i128,
    ) -> Result<T, CodebookError> {
        let DeValue::Integer(integer) = self.value else {
            return Err(self.wrong_type("integer"));
        };
        let digits: String = integer.as_str().chars().filter(|&c| c != '_').collect();
        // TOML integers are 64-bit; i128 holds any of them in any radix.
        let value = i128::from_str_radix(&digits, integer.radix())
            .map_err(|_| self.error(CodebookErrorKind::Syntax("not an integer".into())))?;
        let out_of_range = || self.error(CodebookErrorKind::OutOfRange { value, min, max });
        if !(min..=max).contains(&value) {
            return Err(out_of_range());
        }
        T::try_from(value).map_err(|_| out_of_range())
    }

    /// The items of an array, at most `max`, each named `path[#n]` (n 1-based).
    pub(crate) fn items(
        &self,
        what: &'static str,
        max: usize,
    ) -> Result<Vec<Node<'a, 's>>, CodebookError> {
        let DeValue::Array(array) = self.value else {
            return Err(self.wrong_type("array"));
        };
        let array: &'a DeArray<'s> = array;
        if let Some(beyond) = array.get(max) {
            return Err(CodebookError {
                line: self.lines.line(beyond.span().start),
                path: self.path.clone(),
                kind: CodebookErrorKind::TooMany { what, max },
            });
        }
        let nodes = array.iter().enumerate().map(|(index, item)| Node {
            path: format!("{}[#{}]", self.path, index + 1),
            line: self.lines.line(item.span().start),
            value: item.get_ref(),
            lines: self.lines,
        });
        Ok(nodes.collect())
    }
}

/// A table being read: keys are taken one by one, and [`Table::finish`] refuses the rest.
pub(crate) struct Table<'a, 's> {
    pub(crate) path: String,
    pub(crate) line: usize,
    entries: Vec<Entry<'a, 's>>,
    lines: &'a Lines,
}

struct Entry<'a, 's> {
    key: &'a str,
    key_line: usize,
    value: &'a Spanned<DeValue<'s>>,
    taken: bool,
}

impl<'a, 's> Table<'a, 's> {
    fn new(path: String, line: usize, table: &'a DeTable<'s>, lines: &'a Lines) -> Self {
        let mut entries: Vec<Entry<'a, 's>> = table
            .iter()
            .map(|(key, value)| Entry {
                key: key.get_ref(),
                key_line: lines.line(key.span().start),
                value,
                taken: false,
            })
            .collect();
        entries.sort_by_key(|entry| entry.value.span().start);
        Table {
            path,
            line,
            entries,
            lines,
        }
    }

    pub(crate) fn error(&self, kind: CodebookErrorKind) -> CodebookError {
        CodebookError {
            line: self.line,
            path: self.path.clone(),
            kind,
        }
    }

    /// The keys in source order (for tables keyed by language).
    pub(crate) fn keys(&self) -> Vec<(&'a str, usize)> {
        let keys = self.entries.iter().map(|entry| (entry.key, entry.key_line));
        keys.collect()
    }

    /// The value under `key`, if there is one.
    pub(crate) fn take(&mut self, key: &str) -> Option<Node<'a, 's>> {
        let entry = self.entries.iter_mut().find(|entry| entry.key == key)?;
        entry.taken = true;
        Some(Node {
            path: join(&self.path, key),
            line: self.lines.line(entry.value.span().start),
            value: entry.value.get_ref(),
            lines: self.lines,
        })
    }

    /// The value under `key`; its absence is reported on the table's line.
    pub(crate) fn require(&mut self, key: &str) -> Result<Node<'a, 's>, CodebookError> {
        self.take(key).ok_or_else(|| CodebookError {
            line: self.line,
            path: join(&self.path, key),
            kind: CodebookErrorKind::MissingKey(key.to_owned()),
        })
    }

    /// Refuses the first key (in source order) that nobody took.
    pub(crate) fn finish(self) -> Result<(), CodebookError> {
        match self.entries.iter().find(|entry| !entry.taken) {
            Some(entry) => Err(CodebookError {
                line: entry.key_line,
                path: join(&self.path, entry.key),
                kind: CodebookErrorKind::UnknownKey(entry.key.to_owned()),
            }),
            None => Ok(()),
        }
    }
}
