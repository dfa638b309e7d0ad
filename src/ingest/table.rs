//! The common shape every format parser produces: text cells per canonical field, with line
//! numbers; and cells that are spans of the text they were read from (CSV, flat JSON Lines).

use crate::schema::Field;
use polars::prelude::StringChunked;
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

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

/// The text that [`SpanColumn`]s are slices of: a block of an input itself, or a copy with
/// invalid UTF-8 replaced.
#[derive(Clone)]
pub enum SpanText<'a> {
    Borrowed(&'a str),
    Converted(Arc<str>),
}

impl<'a> SpanText<'a> {
    /// `bytes` as text: checked once (about 20 GB/s a core, in parallel pieces), copied only
    /// when not UTF-8, with the invalid bytes replaced as a lossy reader would.
    pub fn of(bytes: &'a [u8]) -> Self {
        match utf8(bytes, 4 << 20) {
            Some(text) => SpanText::Borrowed(text),
            None => SpanText::Converted(Arc::from(String::from_utf8_lossy(bytes).into_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SpanText::Borrowed(s) => s,
            SpanText::Converted(s) => s,
        }
    }
}

/// `bytes` as a `str` if they are UTF-8, checked in pieces of about `piece_len` bytes in
/// parallel. The pieces are cut before ASCII bytes, which are whole characters in UTF-8 and
/// never part of another's encoding: text whose pieces are all UTF-8 is UTF-8.
fn utf8(bytes: &[u8], piece_len: usize) -> Option<&str> {
    use rayon::prelude::*;
    let mut cuts = vec![0];
    let mut at = piece_len.max(1);
    while at < bytes.len() {
        match bytes[at..].iter().position(u8::is_ascii) {
            Some(p) => cuts.push(at + p),
            None => break,
        }
        at = cuts[cuts.len() - 1] + piece_len.max(1);
    }
    cuts.push(bytes.len());
    let valid = cuts.par_windows(2).all(|w| std::str::from_utf8(&bytes[w[0]..w[1]]).is_ok());
    // SAFETY: every piece is UTF-8 and each cut is before an ASCII byte, a character boundary
    // of UTF-8 text (see above), so the whole is UTF-8.
    valid.then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// One cell: the bytes `start..end` of the text, or no value, or a string of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// `start` of no value.
    const NO_VALUE: u32 = u32::MAX;
    /// `start` of a cell kept as a string of its own (`end` is its index).
    const OWNED: u32 = u32::MAX - 1;
    pub const NONE: Span = Span { start: Self::NO_VALUE, end: 0 };
    /// Text at or beyond this offset cannot be spanned.
    pub const MAX_OFFSET: usize = Self::OWNED as usize;

    /// The bytes `range` of the text (below [`Span::MAX_OFFSET`]).
    pub fn of(range: Range<usize>) -> Self {
        Span { start: range.start as u32, end: range.end as u32 }
    }
}

/// Cells of one column being split: spans, and the strings of cells that needed unquoting
/// or unescaping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanCells {
    pub(super) spans: Vec<Span>,
    owned: Vec<String>,
}

impl SpanCells {
    pub fn with_capacity(rows: usize) -> Self {
        Self { spans: Vec::with_capacity(rows), owned: Vec::new() }
    }

    pub fn push(&mut self, span: Span) {
        self.spans.push(span);
    }

    /// Keeps `text` as a string of its own; returns the cell that names it.
    pub fn own(&mut self, text: String) -> Span {
        self.owned.push(text);
        Span { start: Span::OWNED, end: self.owned.len() as u32 - 1 }
    }

    /// Appends the cells of the rows after this one's.
    pub fn append(&mut self, other: SpanCells) {
        if other.owned.is_empty() {
            self.spans.extend_from_slice(&other.spans);
            return;
        }
        let base = self.owned.len() as u32;
        self.spans.extend(other.spans.iter().map(|s| match s.start {
            Span::OWNED => Span { start: Span::OWNED, end: s.end + base },
            _ => *s,
        }));
        self.owned.extend(other.owned);
    }
}

/// A column of cells that are spans of a text (no copy).
pub struct SpanColumn<'a> {
    text: SpanText<'a>,
    cells: SpanCells,
}

impl<'a> SpanColumn<'a> {
    pub fn new(text: SpanText<'a>, cells: SpanCells) -> Self {
        Self { text, cells }
    }
}

impl TextColumn for SpanColumn<'_> {
    fn cell(&self, row: usize) -> Option<&str> {
        let span = self.cells.spans.get(row)?;
        match span.start {
            Span::NO_VALUE => None,
            Span::OWNED => self.cells.owned.get(span.end as usize).map(String::as_str),
            start => self.text.as_str().get(start as usize..span.end as usize),
        }
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
    /// Newlines in the text read, when the reader counted them (the caller numbers the next
    /// block's lines from them); `None`: not counted.
    pub newlines: Option<u64>,
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
    let mut start = 0;
    memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())).enumerate().filter_map(move |(i, end)| {
        let line = &bytes[start..end];
        start = end + 1;
        (!is_blank(line)).then_some((i as u64 + 1, line))
    })
}

/// The newlines of `bytes`, given its non-blank lines (as [`non_blank_lines`] gives them): those
/// before the last line's start, then those after it (blank lines at the end), without
/// counting the lines between again.
pub fn newlines_of(bytes: &[u8], lines: &[(u64, &[u8])]) -> u64 {
    let count = |b: &[u8]| memchr::memchr_iter(b'\n', b).count() as u64;
    match lines.last() {
        Some(&(line, text)) => {
            // `text` is a slice of `bytes`: where it ends.
            let end = (text.as_ptr() as usize - bytes.as_ptr() as usize) + text.len();
            line - 1 + count(&bytes[end.min(bytes.len())..])
        }
        None => count(bytes),
    }
}

pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// Longest line a line-oriented parser accepts; longer lines are rejected, not read.
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    /// The newlines counted from the non-blank lines are every newline of the text: blank
    /// lines first, between and last, `\r\n`, with and without a last newline, none at all.
    #[test]
    fn newlines_of_text_from_its_lines() {
        let texts: [&[u8]; 7] = [b"", b"\n\n", b"a", b"a\nb\n", b"\n \na\r\n\n\tb\n\n \n", b"a\n\nb", b"\r\n{}\r\n"];
        for text in texts {
            let lines: Vec<(u64, &[u8])> = non_blank_lines(text).collect();
            let expected = memchr::memchr_iter(b'\n', text).count() as u64;
            assert_eq!(newlines_of(text, &lines), expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    /// In pieces of any size, text is taken as UTF-8 exactly when it is: multi-byte
    /// characters, text without ASCII, truncated, overlong and surrogate encodings, bytes that
    /// are never UTF-8.
    #[test]
    fn utf8_in_pieces_agrees_with_the_whole() {
        let texts: [&[u8]; 9] = [
            "a,é,€,𝄞\nβγδ,x\n".as_bytes(),
            "ééééé€€€".as_bytes(),
            b"ab\xE2\x82",
            b"ab\xE2\x82xy",
            b"\xC0\xAFabc",
            b"abc\xED\xA0\x80",
            b"\xFF\n\xFE",
            b"",
            b"plain ascii, nothing else\n",
        ];
        for text in texts {
            for piece_len in 1..=text.len() + 1 {
                assert_eq!(utf8(text, piece_len), std::str::from_utf8(text).ok(), "{text:?} in pieces of {piece_len}");
            }
        }
    }

    #[test]
    fn non_blank_lines_are_numbered_as_the_file_counts_them() {
        let got: Vec<_> = non_blank_lines(b"a\n\n  \r\nb\r\n\nc").collect();
        assert_eq!(got, vec![(1, &b"a"[..]), (4, &b"b\r"[..]), (6, &b"c"[..])]);
        assert_eq!(non_blank_lines(b"").count(), 0);
        assert_eq!(non_blank_lines(b"\n\n").count(), 0);
        assert_eq!(non_blank_lines(b"x\n").collect::<Vec<_>>(), vec![(1, &b"x"[..])]);
    }
}
