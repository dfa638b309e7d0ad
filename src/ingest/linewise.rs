//! Parsing line-oriented logs in parallel chunks straight into text columns.

use super::table::{is_blank, Problem, RawTable, TextColumn, MAX_LINE_BYTES};
use crate::schema::Field;
use rayon::prelude::*;
use std::borrow::Cow;

/// Cells of one row, one slot per field in the order the parser declared.
pub type Row<'a> = [Option<Cow<'a, str>>];

/// Lines per parallel chunk (enough to amortise the task, small enough to balance two cores).
const CHUNK_BYTES: usize = 4 << 20;

/// The rows a parallel task parsed: line numbers, one column of cells per field, and the lines
/// it rejected.
pub struct Chunk<'a> {
    pub lines: Vec<u64>,
    pub cells: Vec<Vec<Option<Cow<'a, str>>>>,
    pub rejected: Vec<(u64, Problem)>,
}

impl Chunk<'_> {
    pub fn new(fields: usize, capacity: usize) -> Self {
        Self {
            lines: Vec::with_capacity(capacity),
            cells: (0..fields).map(|_| Vec::with_capacity(capacity)).collect(),
            rejected: Vec::new(),
        }
    }
}

/// Joins the chunks, in order, into one table.
pub fn merge<'a>(chunks: Vec<Chunk<'a>>, fields: &[Field]) -> RawTable<'a> {
    let total: usize = chunks.iter().map(|c| c.lines.len()).sum();
    let mut lines = Vec::with_capacity(total);
    let mut cells: Vec<Vec<Option<Cow<'a, str>>>> = (0..fields.len()).map(|_| Vec::with_capacity(total)).collect();
    let mut rejected = Vec::new();
    for chunk in chunks {
        lines.extend(chunk.lines);
        for (all, part) in cells.iter_mut().zip(chunk.cells) {
            all.extend(part);
        }
        rejected.extend(chunk.rejected);
    }
    let columns = fields.iter().zip(cells).map(|(f, c)| (*f, Box::new(c) as Box<dyn TextColumn + 'a>)).collect();
    RawTable { lines, columns, rejected, newlines: None }
}

/// Parses every non-blank line of `bytes` with `parse`, which fills one slot per entry of
/// `fields` or explains why the line is not a record.
pub fn parse<'a, F>(bytes: &'a [u8], fields: &[Field], parse: F) -> RawTable<'a>
where
    F: Fn(&'a [u8], &mut Row<'a>) -> Result<(), Problem> + Sync,
{
    // Chunk boundaries at line ends, and the line number each chunk starts on.
    let mut bounds = vec![0usize];
    while let Some(&last) = bounds.last() {
        if last >= bytes.len() {
            break;
        }
        let target = (last + CHUNK_BYTES).min(bytes.len());
        let end = memchr::memchr(b'\n', &bytes[target..]).map_or(bytes.len(), |i| target + i + 1);
        bounds.push(end);
    }
    let ranges: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let newlines: Vec<u64> =
        ranges.par_iter().map(|&(s, e)| memchr::memchr_iter(b'\n', &bytes[s..e]).count() as u64).collect();
    let first_lines: Vec<u64> = newlines
        .iter()
        .scan(1u64, |line, n| {
            let first = *line;
            *line += n;
            Some(first)
        })
        .collect();

    let chunks: Vec<Chunk<'a>> = ranges
        .par_iter()
        .zip(first_lines.par_iter())
        .map(|(&(s, e), &first)| {
            let mut chunk = Chunk::new(fields.len(), 0);
            let mut row: Vec<Option<Cow<'a, str>>> = vec![None; fields.len()];
            for (i, line) in bytes[s..e].split(|&b| b == b'\n').enumerate() {
                let number = first + i as u64;
                if is_blank(line) {
                    continue;
                }
                if line.len() > MAX_LINE_BYTES {
                    chunk.rejected.push((
                        number,
                        Problem::new(
                            "line_too_long",
                            format!("line of {} bytes, longer than the {} allowed", line.len(), MAX_LINE_BYTES),
                        ),
                    ));
                    continue;
                }
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                row.iter_mut().for_each(|c| *c = None);
                match parse(line, &mut row) {
                    Ok(()) => {
                        chunk.lines.push(number);
                        for (col, cell) in chunk.cells.iter_mut().zip(row.iter_mut()) {
                            col.push(cell.take());
                        }
                    }
                    Err(p) => chunk.rejected.push((number, p)),
                }
            }
            chunk
        })
        .collect();

    let mut table = merge(chunks, fields);
    table.newlines = Some(newlines.iter().sum());
    table
}

/// Where the last complete record of `bytes` ends (just after its newline), 0 when there is
/// none: a line, or for CSV a record whose quoted fields may hold newlines (`bytes` starts at
/// a record boundary).
pub fn last_record_end(bytes: &[u8], csv: bool) -> usize {
    if !csv {
        return memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1);
    }
    csv_record_end(bytes, CHUNK_BYTES)
}

/// [`last_record_end`] of CSV: the last newline with an even number of quotes before it.
///
/// The quotes of the whole text are counted first, its pieces of `piece_len` bytes in parallel
/// (counting does not stop at each quote); then the text is walked back from its end, quote by
/// quote, to the first newline with an even count before it: the last line's, unless a quoted
/// field holds it.
fn csv_record_end(bytes: &[u8], piece_len: usize) -> usize {
    let quotes: usize = bytes.par_chunks(piece_len.max(1)).map(|piece| memchr::memchr_iter(b'"', piece).count()).sum();
    let mut after = 0;
    for i in memchr::memrchr2_iter(b'"', b'\n', bytes) {
        if bytes[i] == b'"' {
            after += 1;
        } else if (quotes - after).is_multiple_of(2) {
            return i + 1;
        }
    }
    0
}

#[cfg(test)]
mod record_end_tests {
    use super::last_record_end;

    #[test]
    fn records_end_at_newlines_outside_quotes() {
        assert_eq!(last_record_end(b"a\nb\nc", false), 4);
        assert_eq!(last_record_end(b"abc", false), 0);
        assert_eq!(last_record_end(b"x,\"1\n2\"\ny,\"3\n", true), 8, "the open quote holds the last newline");
        assert_eq!(last_record_end(b"x,\"1\n2\"\n", true), 8);
        assert_eq!(last_record_end(b"\"open\n", true), 0);
    }

    /// Pieces of any size find the record end one scan from the start finds, also where quoted
    /// newlines and quotes fall across the pieces' ends.
    #[test]
    fn pieces_in_parallel_agree_with_one_scan() {
        let serial = |bytes: &[u8]| {
            let (mut in_quotes, mut end) = (false, 0);
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'"' {
                    in_quotes = !in_quotes;
                } else if b == b'\n' && !in_quotes {
                    end = i + 1;
                }
            }
            end
        };
        let texts: [&[u8]; 5] = [
            b"a,b\nc,\"d\ne\"\nf,\"\"\"g\"\"\"\nh,\"open\n",
            b"\"\n\"\n\"\n\"\n",
            b"x,\"1\n2\"\ny,\"3\n",
            b"no newline at all",
            b"",
        ];
        for text in texts {
            for piece_len in 1..=text.len().max(1) + 1 {
                assert_eq!(super::csv_record_end(text, piece_len), serial(text), "{text:?} in pieces of {piece_len}");
            }
        }
    }
}
