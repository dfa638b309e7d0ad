//! CSV and TSV exports: header row, delimiter detected, records split into cells in parallel.
//!
//! A record ends at a newline outside quotes; a `"` opens or closes quoting wherever it stands,
//! and inside quotes `""` is one literal quote. A record with another number of fields than the
//! header is rejected with its line number, never padded or cut.
//!
//! The cells are spans of the block (no copy); only a quoted cell that is not simply `"…"`
//! (escaped quotes, text beside the quotes) gets a string of its own. The block is cut into
//! pieces at newlines, and the pieces are split in parallel, each on the assumption that it
//! starts between two records. A piece that ends inside quotes proves that assumption wrong
//! for the next one (a quoted field holds the newline it was cut at), and the block is then
//! split again in one piece.

use super::fields;
use super::table::{Problem, RawTable, Span, SpanCells, SpanColumn, SpanText, TextColumn};
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use rayon::prelude::*;
use std::ops::Range;
use std::path::Path;

/// Bytes per piece split by one parallel task.
const PIECE_BYTES: usize = 4 << 20;

/// Reads a CSV/TSV block: its header record, then its data records, numbered from the block's
/// first line (1). `delimiter` is sniffed from the header when not given. `lines_before` turns
/// the block's line numbers into the input's in messages.
pub fn read<'a>(
    path: &Path,
    bytes: &'a [u8],
    delimiter: Option<u8>,
    mapping: &Mapping,
    lines_before: u64,
) -> Result<RawTable<'a>> {
    let empty = || RawTable {
        lines: Vec::new(),
        columns: Vec::new(),
        rejected: Vec::new(),
        newlines: Some(memchr::memchr_iter(b'\n', bytes).count() as u64),
    };
    let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&bytes[..header_end]));
    let header_len = header_len(bytes);
    let header = &bytes[..header_len];
    if super::table::is_blank(header.strip_suffix(b"\n").unwrap_or(header)) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(empty());
        }
        return Err(malformed(
            path,
            "the first line is empty, where the header row belongs",
            "Remove the leading blank lines.",
        ));
    }
    let names = split_record(header.strip_suffix(b"\n").unwrap_or(header), delimiter);
    let resolved = fields::resolve(path, &names, mapping)?;
    let data = &bytes[header_len..];
    if data.is_empty() {
        return Ok(empty());
    }
    if data.len() >= Span::MAX_OFFSET {
        return Err(malformed(
            path,
            "a record of more than 4 GiB",
            "Check that every opening quote is closed: an open quote makes the rest of the file one record.",
        ));
    }
    let layout = Layout::new(names.len(), resolved.iter().map(|(_, index)| *index));
    // Line number of the first data line, in the block.
    let first = memchr::memchr_iter(b'\n', header).count() as u64 + 1;

    // Cells are slices of the text; a block that is not UTF-8 is read with the invalid bytes
    // replaced.
    let text = SpanText::of(data);
    let split = split(text.as_str().as_bytes(), delimiter, &layout, PIECE_BYTES);
    if let Some(open) = split.open {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            format: "CSV",
            detail: format!("the quoted field opened on line {} is never closed", lines_before + first + open),
            hint: "Close the quote, or double a quote that belongs to the text (\"\").",
        });
    }
    let lines = split.lines.into_iter().map(|l| l + first).collect();
    let rejected = split
        .rejected
        .into_iter()
        .map(|(line, fields)| {
            let expected = layout.width;
            let problem = Problem::new("wrong_field_count", format!("{fields} fields where the header has {expected}"));
            (line + first, problem)
        })
        .collect();
    let columns = resolved
        .into_iter()
        .zip(split.columns)
        .map(|((field, _), cells)| (field, Box::new(SpanColumn::new(text.clone(), cells)) as Box<dyn TextColumn + 'a>))
        .collect();
    // The header's newlines and the records' (which splitting counted).
    Ok(RawTable { lines, columns, rejected, newlines: Some(first - 1 + split.newlines) })
}

fn malformed(path: &Path, detail: &str, hint: &'static str) -> Error {
    Error::Malformed { path: path.to_path_buf(), format: "CSV", detail: detail.into(), hint }
}

/// Which fields of a record become columns.
struct Layout {
    /// Fields in the header.
    width: u32,
    /// For each field of the header, the column it fills, if any.
    slots: Vec<Option<usize>>,
    columns: usize,
}

impl Layout {
    /// `wanted` lists, in column order, the field each column is read from.
    fn new(width: usize, wanted: impl Iterator<Item = usize>) -> Self {
        let mut slots = vec![None; width];
        let mut columns = 0;
        for (column, field) in wanted.enumerate() {
            // One field fills at most one column (`fields::resolve`).
            if let Some(slot) = slots.get_mut(field) {
                *slot = Some(column);
            }
            columns = column + 1;
        }
        Self { width: width as u32, slots, columns }
    }
}

/// The records of some text: one column of cells per wanted field.
#[derive(Debug, Default, PartialEq)]
struct Split {
    /// Line of each kept record (0-based, from the start of the text).
    lines: Vec<u64>,
    /// Each wanted field's cells.
    columns: Vec<SpanCells>,
    /// Records with another number of fields than the header (line, fields).
    rejected: Vec<(u64, u32)>,
    /// Newlines in the text.
    newlines: u64,
    /// The line of the record still inside quotes where the text ends.
    open: Option<u64>,
}

/// Byte ranges of `text`, each about `piece_bytes` long and ending after a newline (the last
/// at the end of the text).
fn pieces(text: &[u8], piece_bytes: usize) -> Vec<Range<usize>> {
    let mut ranges = Vec::with_capacity(text.len() / piece_bytes.max(1) + 1);
    let mut start = 0;
    while start < text.len() {
        let target = (start + piece_bytes.max(1)).min(text.len());
        let end = memchr::memchr(b'\n', &text[target..]).map_or(text.len(), |i| target + i + 1);
        ranges.push(start..end);
        start = end;
    }
    ranges
}

/// Splits `text` (the records after the header) into cells: the pieces in parallel, or the
/// whole at once when a piece was cut inside quotes.
fn split(text: &[u8], delimiter: u8, layout: &Layout, piece_bytes: usize) -> Split {
    let ranges = pieces(text, piece_bytes);
    let parts: Vec<Split> = ranges.par_iter().map(|r| split_piece(text, r.clone(), delimiter, layout)).collect();
    // Only the last piece may end inside quotes (an open quote at the end of the text).
    if parts.iter().rev().skip(1).any(|p| p.open.is_some()) {
        return split_piece(text, 0..text.len(), delimiter, layout);
    }
    join(parts, layout.columns)
}

/// Joins the splits of consecutive pieces into the split of their text: the lines in order,
/// beside the columns, each column's cells on its own.
fn join(parts: Vec<Split>, columns: usize) -> Split {
    let rows: usize = parts.iter().map(|p| p.lines.len()).sum();
    let mut all = Split { lines: Vec::with_capacity(rows), ..Split::default() };
    let mut cells: Vec<Vec<SpanCells>> = (0..columns).map(|_| Vec::with_capacity(parts.len())).collect();
    let mut lines = Vec::with_capacity(parts.len());
    for part in parts {
        let first = all.newlines;
        all.rejected.extend(part.rejected.iter().map(|&(l, f)| (l + first, f)));
        all.open = part.open.map(|l| l + first);
        all.newlines += part.newlines;
        lines.push((first, part.lines));
        for (column, part_cells) in cells.iter_mut().zip(part.columns) {
            column.push(part_cells);
        }
    }
    let join_column = |parts: Vec<SpanCells>| {
        let mut column = SpanCells::with_capacity(rows);
        parts.into_iter().for_each(|p| column.append(p));
        column
    };
    let ((), columns) = rayon::join(
        || lines.iter().for_each(|(first, l)| all.lines.extend(l.iter().map(|l| l + first))),
        || cells.into_par_iter().map(join_column).collect(),
    );
    all.columns = columns;
    all
}

/// Splits the records of `text[range]`, which is assumed to start between two records.
/// Offsets in the cells are from the start of `text`; lines from the start of the range.
fn split_piece(text: &[u8], range: Range<usize>, delimiter: u8, layout: &Layout) -> Split {
    let mut out = Split {
        columns: (0..layout.columns).map(|_| SpanCells::with_capacity(range.len() / 128)).collect(),
        lines: Vec::with_capacity(range.len() / 128),
        ..Split::default()
    };
    let end = range.end;
    let mut record = Record::new(range.start, layout.columns);
    // Where the bytes not yet looked at begin (past an escaped quote's second byte).
    let mut pos = range.start;
    for at in Specials::new(text, range, delimiter) {
        if at < pos {
            continue;
        }
        let byte = text[at];
        if record.in_quotes && byte == delimiter {
            continue;
        }
        // Only the bytes before a record's first special byte can leave it blank.
        if record.blank && !super::table::is_blank(&text[pos..at]) {
            record.blank = false;
        }
        match byte {
            b'"' => {
                record.blank = false;
                record.quotes += 1;
                if record.in_quotes && text.get(at + 1) == Some(&b'"') && at + 1 < end {
                    record.quotes += 1;
                    record.escaped = true;
                    pos = at + 2;
                    continue;
                }
                record.in_quotes = !record.in_quotes;
            }
            b'\n' if record.in_quotes => out.newlines += 1,
            b'\n' => {
                if !record.blank {
                    record.end_record(text, at, layout, &mut out);
                }
                out.newlines += 1;
                record.restart(at + 1, out.newlines);
            }
            _ => {
                record.blank = false;
                record.end_field(text, at, layout, &mut out);
                record.field += 1;
                record.field_start = at + 1;
            }
        }
        pos = at + 1;
    }
    let pos = pos.min(end);
    if record.blank && !super::table::is_blank(&text[pos..end]) {
        record.blank = false;
    }
    if record.in_quotes {
        out.open = Some(record.line);
    } else if !record.blank {
        record.end_record(text, end, layout, &mut out);
    }
    out
}

/// The positions of the bytes a CSV splitter stops at (quotes, newlines and delimiters) in
/// `text[range]`, in order. Found 64 bytes at a time as a bit mask, instead of one search per
/// field: fields are short, and a search costs more to start than to run over them.
struct Specials<'a> {
    text: &'a [u8],
    /// Start of the 64 bytes `mask` is of.
    base: usize,
    end: usize,
    /// Bit `i`: `text[base + i]` is special and not yet returned.
    mask: u64,
    delimiter: u8,
}

impl<'a> Specials<'a> {
    fn new(text: &'a [u8], range: Range<usize>, delimiter: u8) -> Self {
        let mut specials = Specials { text, base: range.start, end: range.end.min(text.len()), mask: 0, delimiter };
        specials.mask = specials.mask_at(range.start);
        specials
    }

    /// The special bytes of the (up to) 64 bytes from `base`.
    fn mask_at(&self, base: usize) -> u64 {
        let chunk = &self.text[base.min(self.end)..(base + 64).min(self.end)];
        let d = self.delimiter;
        match <&[u8; 64]>::try_from(chunk) {
            Ok(whole) => special_mask(whole, d),
            Err(_) => {
                chunk.iter().enumerate().fold(0, |m, (i, &b)| m | u64::from(b == b'"' || b == b'\n' || b == d) << i)
            }
        }
    }
}

impl Iterator for Specials<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.end {
                return None;
            }
            self.mask = self.mask_at(self.base);
        }
        let i = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + i)
    }
}

/// Bit `i` set where `chunk[i]` is a quote, a newline or `delimiter`: 16 bytes compared at a
/// time (SSE2, which every x86-64 processor has).
#[cfg(target_arch = "x86_64")]
fn special_mask(chunk: &[u8; 64], delimiter: u8) -> u64 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8};
    // SAFETY: SSE2 is part of x86-64; each load reads 16 bytes inside the 64 of `chunk`.
    unsafe {
        let (quote, newline, delimiter) =
            (_mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\n' as i8), _mm_set1_epi8(delimiter as i8));
        let mut mask = 0u64;
        for k in 0..4 {
            let v = _mm_loadu_si128(chunk.as_ptr().add(16 * k).cast());
            let hits = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, newline)),
                _mm_cmpeq_epi8(v, delimiter),
            );
            mask |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
        }
        mask
    }
}

/// Bit `i` set where `chunk[i]` is a quote, a newline or `delimiter`.
#[cfg(not(target_arch = "x86_64"))]
fn special_mask(chunk: &[u8; 64], delimiter: u8) -> u64 {
    special_mask_words(chunk, delimiter)
}

/// [`special_mask`] eight bytes at a time in a `u64` (for processors without SSE2): a byte
/// equal to a wanted one is a zero byte of their XOR, found exactly by one addition that
/// cannot carry between bytes (Hacker's Delight, 6-1), and the eight zero-byte flags are
/// gathered into eight bits by one multiplication (each flag lands on its own bit of the top
/// byte).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn special_mask_words(chunk: &[u8; 64], delimiter: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // 0x80 in each byte of `x` that is zero, 0 elsewhere.
    let zero_bytes = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    let (quote, newline, delimiter) = (ONES * u64::from(b'"'), ONES * u64::from(b'\n'), ONES * u64::from(delimiter));
    let mut mask = 0u64;
    for (k, word) in chunk.chunks_exact(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let hits = zero_bytes(w ^ quote) | zero_bytes(w ^ newline) | zero_bytes(w ^ delimiter);
        let bits = ((hits >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) & 0xff;
        mask |= bits << (8 * k);
    }
    mask
}

/// The state of the record being split.
struct Record {
    /// Line it starts on.
    line: u64,
    /// Index of the current field, and where it starts.
    field: u32,
    field_start: usize,
    /// Quote bytes in the current field, and whether any was an escaped `""`.
    quotes: u32,
    escaped: bool,
    in_quotes: bool,
    /// Only spaces, tabs and `\r` so far.
    blank: bool,
    /// The cells of its wanted fields.
    cells: Vec<Span>,
}

impl Record {
    fn new(start: usize, columns: usize) -> Self {
        Self {
            line: 0,
            field: 0,
            field_start: start,
            quotes: 0,
            escaped: false,
            in_quotes: false,
            blank: true,
            cells: vec![Span::NONE; columns],
        }
    }

    fn restart(&mut self, start: usize, line: u64) {
        self.line = line;
        self.field = 0;
        self.field_start = start;
        self.quotes = 0;
        self.escaped = false;
        self.blank = true;
        self.cells.fill(Span::NONE);
    }

    /// Ends the current field at `end`: its cell, if its column is wanted.
    fn end_field(&mut self, text: &[u8], end: usize, layout: &Layout, out: &mut Split) {
        let start = self.field_start;
        let (quotes, escaped) = (self.quotes, self.escaped);
        self.quotes = 0;
        self.escaped = false;
        let Some(&Some(column)) = layout.slots.get(self.field as usize) else { return };
        let value = &text[start..end];
        self.cells[column] = match quotes {
            0 if value.is_empty() => Span::NONE,
            0 => Span::of(start..end),
            2 if !escaped && value.len() >= 2 && value[0] == b'"' && value[value.len() - 1] == b'"' => {
                if value.len() == 2 {
                    Span::NONE
                } else {
                    Span::of(start + 1..end - 1)
                }
            }
            _ => out.columns[column].own(unquote(value)),
        };
    }

    /// Ends the record at `end` (its line end, or the end of the text; a `\r` before it is
    /// not part of the last field).
    fn end_record(&mut self, text: &[u8], end: usize, layout: &Layout, out: &mut Split) {
        let value_end = if end > self.field_start && text[end - 1] == b'\r' { end - 1 } else { end };
        self.end_field(text, value_end, layout, out);
        self.finish(layout, out);
    }

    /// Ends the record: kept when it has the header's number of fields, else rejected.
    fn finish(&mut self, layout: &Layout, out: &mut Split) {
        let fields = self.field + 1;
        if fields == layout.width {
            out.lines.push(self.line);
            for (cells, cell) in out.columns.iter_mut().zip(&self.cells) {
                cells.push(*cell);
            }
        } else {
            out.rejected.push((self.line, fields));
        }
    }
}

/// The text of a field without its quoting: quotes removed, `""` inside quotes one quote.
fn unquote(field: &[u8]) -> String {
    let mut out = Vec::with_capacity(field.len());
    let mut in_quotes = false;
    let mut i = 0;
    while i < field.len() {
        match field[i] {
            b'"' if in_quotes && field.get(i + 1) == Some(&b'"') => {
                out.push(b'"');
                i += 1;
            }
            b'"' => in_quotes = !in_quotes,
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits one record into its fields (for the header row), unquoted and trimmed.
pub fn split_record(record: &[u8], delimiter: u8) -> Vec<String> {
    let record = record.strip_suffix(b"\r").unwrap_or(record);
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, &b) in record.iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            out.push(unquote(&record[start..i]).trim().to_string());
            start = i + 1;
        }
    }
    out.push(unquote(&record[start..]).trim().to_string());
    out
}

/// The delimiter of a header line: the most frequent of `,` `\t` `;` `|` outside quotes
/// (`,` on a tie or when there is none).
pub fn sniff_delimiter(header: &[u8]) -> u8 {
    let candidates = [b',', b'\t', b';', b'|'];
    let mut counts = [0usize; 4];
    let mut in_quotes = false;
    for &b in header {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            if let Some(i) = candidates.iter().position(|&c| c == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..4).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    candidates[best]
}

/// Length of the header record, with its line end (quotes may hold newlines).
pub fn header_len(bytes: &[u8]) -> usize {
    let mut in_quotes = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => return i + 1,
            _ => {}
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of finding a chunk's special bytes agree with a byte-by-byte scan, whatever
    /// the bytes (every byte value at every position, here).
    #[test]
    fn special_masks_agree() {
        for delimiter in [b',', b'\t', b';'] {
            for shift in 0..=255u8 {
                let chunk: [u8; 64] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(shift));
                let expected = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &b)| m | u64::from(b == b'"' || b == b'\n' || b == delimiter) << i);
                assert_eq!(special_mask(&chunk, delimiter), expected, "shift {shift}");
                assert_eq!(special_mask_words(&chunk, delimiter), expected, "shift {shift}");
            }
        }
    }

    /// The special bytes found 64 at a time are those a byte-by-byte scan finds, for ranges of
    /// any start and length (shorter than 64, across several masks, ending inside one), with
    /// commas and tabs as delimiters.
    #[test]
    fn special_bytes_are_found_64_at_a_time() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let text: Vec<u8> = (0..700)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"ab,\t\"\n x\r\xc3\xa9"[(seed % 11) as usize]
            })
            .collect();
        for delimiter in [b',', b'\t'] {
            for start in [0, 1, 5, 63, 64, 65, 130] {
                for end in [start, start + 1, start + 17, start + 64, start + 200, 699, 700] {
                    if end < start || end > text.len() {
                        continue;
                    }
                    let found: Vec<usize> = Specials::new(&text, start..end, delimiter).collect();
                    let expected: Vec<usize> =
                        (start..end).filter(|&i| matches!(text[i], b'"' | b'\n') || text[i] == delimiter).collect();
                    assert_eq!(found, expected, "{start}..{end}, delimiter {delimiter}");
                }
            }
        }
    }

    /// Every kept record's cells (as text) and line, and the rejected (line, fields).
    type Table = (Vec<(u64, Vec<Option<String>>)>, Vec<(u64, u32)>);

    fn table(text: &[u8], width: usize, piece_bytes: usize) -> Table {
        let layout = Layout::new(width, 0..width);
        let split = split(text, b',', &layout, piece_bytes);
        assert_eq!(split.open, None);
        let text = std::str::from_utf8(text).expect("test text is UTF-8");
        let rows = split
            .lines
            .iter()
            .enumerate()
            .map(|(row, &line)| {
                let cells = split
                    .columns
                    .iter()
                    .map(|cells| SpanColumn::new(SpanText::Borrowed(text), cells.clone()).cell(row).map(str::to_string))
                    .collect();
                (line, cells)
            })
            .collect();
        (rows, split.rejected)
    }

    fn cells(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| (!v.is_empty()).then(|| v.to_string())).collect()
    }

    #[test]
    fn records_follow_quotes_across_lines() {
        let (rows, rejected) = table(b"1,2\n\n\"x\ny\",3\n4,5,6\n  \r\n7", 2, PIECE_BYTES);
        assert_eq!(rows, vec![(0, cells(&["1", "2"])), (2, cells(&["x\ny", "3"]))]);
        assert_eq!(rejected, vec![(4, 3), (6, 1)], "wrong field counts are rejected with their line");
        assert_eq!(table(b"", 2, PIECE_BYTES), (vec![], vec![]));
    }

    #[test]
    fn quoted_cells_are_unquoted() {
        let text = b"\"a,b\",\"say \"\"hi\"\"\",\"\",x\"y\"z,\"q\" \r\n";
        let (rows, _) = table(text, 5, PIECE_BYTES);
        assert_eq!(rows, vec![(0, cells(&["a,b", "say \"hi\"", "", "xyz", "q "]))]);
    }

    #[test]
    fn crlf_line_ends_are_not_part_of_the_last_cell() {
        let (rows, _) = table(b"a,b\r\nc,\"d\"\r\ne,f\r", 2, PIECE_BYTES);
        assert_eq!(rows, vec![(0, cells(&["a", "b"])), (1, cells(&["c", "d"])), (2, cells(&["e", "f"]))]);
    }

    /// Pieces cut anywhere, inside quotes too, give the table of one piece.
    #[test]
    fn any_piece_size_gives_the_same_table() {
        let text = b"1,\"a\nb\"\n2,\"c,\"\"d\"\"\"\n\n3,e\n4,\"f\n\ng\"\n5,6,7\n8,h\n9,\"\"\n";
        let whole = table(text, 2, usize::MAX);
        assert_eq!(whole.0.len(), 6);
        assert_eq!(whole.1, vec![(8, 3)]);
        for piece_bytes in 1..text.len() {
            assert_eq!(table(text, 2, piece_bytes), whole, "pieces of {piece_bytes} bytes");
        }
    }

    #[test]
    fn an_open_quote_at_the_end_is_reported_with_its_line() {
        let layout = Layout::new(2, 0..2);
        for piece_bytes in [1, 4, PIECE_BYTES] {
            let split = split(b"1,2\n3,\"4\n5,6\n", b',', &layout, piece_bytes);
            assert_eq!(split.open, Some(1), "pieces of {piece_bytes} bytes");
        }
        let Err(err) = read(Path::new("x.csv"), b"timestamp,b\n1,2\n3,\"4\n5,6\n", None, &Mapping::default(), 10)
        else {
            panic!("an open quote is an error")
        };
        assert!(err.to_string().contains("opened on line 13 is never closed"), "{err}");
    }

    /// A block's newlines, which the caller numbers the next block's lines from, are counted
    /// while splitting: every newline of the text, the header's, quoted ones, blank lines and
    /// rejected records' too, with or without a last newline, whatever the pieces.
    #[test]
    fn newlines_are_counted_while_splitting() {
        let texts: [&[u8]; 6] = [
            b"timestamp,b\n",
            b"timestamp,b\n\n \n",
            b"timestamp,b\r\n1,2\r\n3,\"x\ny\"\r\n",
            b"timestamp,b\n1,2\n\n1,2,3\n4,\"a\n\nb\"\n5,6",
            b"timestamp,\"b\nc\"\n1,2\n",
            b"timestamp,b\n1,\xff\n2,3\n",
        ];
        for text in texts {
            let expected = memchr::memchr_iter(b'\n', text).count() as u64;
            let table = read(Path::new("x.csv"), text, None, &Mapping::default(), 0).unwrap();
            assert_eq!(table.newlines, Some(expected), "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn only_the_wanted_fields_become_columns() {
        let layout = Layout::new(3, [2, 0].into_iter());
        let split = split(b"a,b,c\n", b',', &layout, PIECE_BYTES);
        let starts: Vec<Span> = split.columns.iter().map(|cells| cells.spans[0]).collect();
        assert_eq!(starts, vec![Span::of(4..5), Span::of(0..1)]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let table =
            read(Path::new("x.csv"), b"timestamp,api_key\n2026-01-01T00:00:00Z,k\xff\n", None, &Mapping::default(), 1)
                .expect("reads");
        let key = table.columns.iter().map(|(_, c)| c.cell(0)).find(|c| c.is_some_and(|c| c.starts_with('k')));
        assert_eq!(key, Some(Some("k\u{fffd}")));
        assert_eq!(table.lines, vec![2]);
    }

    #[test]
    fn header_fields_are_unquoted() {
        assert_eq!(split_record(b"a,\"b,c\",\"d\"\"e\" \r", b','), vec!["a", "b,c", "d\"e"]);
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter(b"a,b,c"), b',');
        assert_eq!(sniff_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter(b"a;b;\"c,d,e,f\""), b';');
        assert_eq!(sniff_delimiter(b"abc"), b',');
    }
}
