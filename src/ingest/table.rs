//! The common shape every format parser produces: text cells per canonical field, with line numbers.

use crate::schema::Field;
use polars::prelude::StringChunked;
use std::borrow::Cow;

/// Read access to one column of text cells.
pub trait TextColumn: Sync {
    fn cell(&self, row: usize) -> Option<&str>;
}

impl TextColumn for StringChunked {
    fn cell(&self, row: usize) -> Option<&str> {
        self.get(row)
    }
}

impl TextColumn for Vec<Option<Cow<'_, str>>> {
    fn cell(&self, row: usize) -> Option<&str> {
        self.get(row).and_then(|c| c.as_deref())
    }
}

/// Why a row was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable code for counting, e.g. `bad_timestamp`.
    pub code: &'static str,
    /// One sentence for a human; never holds a raw log line, only secret-safe excerpts.
    pub detail: String,
}

impl Problem {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }
}

/// One input file's rows as text cells, before normalisation.
pub struct RawTable<'a> {
    /// Physical line (1-based) of each row that parsed.
    pub lines: Vec<u64>,
    /// The cells of each recognised field; a missing field has no column.
    pub columns: Vec<(Field, Box<dyn TextColumn + 'a>)>,
    /// Rows that could not be parsed at all, with their line.
    pub rejected: Vec<(u64, Problem)>,
}

impl<'a> RawTable<'a> {
    pub fn column(&self, field: Field) -> Option<&(dyn TextColumn + 'a)> {
        self.columns.iter().find(|(f, _)| *f == field).map(|(_, c)| c.as_ref())
    }

    pub fn rows(&self) -> usize {
        self.lines.len()
    }
}

/// Physical line numbers of the starts of `\n`-separated lines, skipping blank ones
/// (only spaces, tabs or `\r`), with each line's bytes (without the `\n`).
pub fn non_blank_lines(bytes: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    bytes.split(|&b| b == b'\n').enumerate().filter(|(_, l)| !is_blank(l)).map(|(i, l)| (i as u64 + 1, l))
}

pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Longest line a line-oriented parser accepts; longer lines are rejected, not read.
pub const MAX_LINE_BYTES: usize = 1 << 20;
