//! JSON Lines of flat objects split straight into cells, in parallel: the common case, read
//! without polars' NDJSON parser building string columns first.
//!
//! It takes what it can read exactly as polars would, and nothing else: each line one object,
//! the wanted keys at the top level with a string, a whole number or `null`, keys without
//! escapes, each wanted key at most once. Anything else in a block (other values for wanted
//! keys, broken lines, invalid UTF-8) leaves the whole block to the general reader, which
//! rejects bad lines with their reasons. Other keys may hold any valid JSON value.

use super::super::table::{RawTable, Span, SpanCells, SpanColumn, SpanText, TextColumn};
use crate::error::Result;
use crate::mapping::Mapping;
use crate::schema::Field;
use rayon::prelude::*;
use serde::de::IgnoredAny;
use std::path::Path;

/// Lines per parallel task.
const CHUNK_LINES: usize = 8192;

/// The table of a block of flat records (`lines`, slices of `bytes`), or `None` when the
/// block is not one this reader takes.
pub fn read<'a>(
    path: &Path,
    bytes: &'a [u8],
    lines: &[(u64, &'a [u8])],
    mapping: &Mapping,
    keys: &[Vec<String>],
) -> Result<Option<RawTable<'a>>> {
    if keys.is_empty() || bytes.len() >= Span::MAX_OFFSET {
        return Ok(None);
    }
    let (resolved, chosen) = super::choose(path, keys, mapping)?;
    // Wanted keys nested in objects are read by the general reader.
    if chosen.len() > 64 || chosen.iter().any(|(_, key)| key.len() != 1) {
        return Ok(None);
    }
    let Ok(text) = std::str::from_utf8(bytes) else { return Ok(None) };
    let names: Vec<&[u8]> = chosen.iter().map(|(_, key)| key[0].as_bytes()).collect();
    let Some(cells) = split(bytes, lines, &names) else { return Ok(None) };
    let columns = chosen
        .iter()
        .zip(cells)
        .map(|((field, _), cells)| {
            (*field, Box::new(SpanColumn::new(SpanText::Borrowed(text), cells)) as Box<dyn TextColumn + 'a>)
        })
        .collect::<Vec<(Field, _)>>();
    debug_assert_eq!(columns.len(), resolved.len(), "one key per field");
    let line_numbers = lines.iter().map(|(n, _)| *n).collect();
    Ok(Some(RawTable { lines: line_numbers, columns, rejected: Vec::new(), newlines: None }))
}

/// The cells of the keys `names` on every line, or `None` if a line is not one this reader
/// takes.
fn split(bytes: &[u8], lines: &[(u64, &[u8])], names: &[&[u8]]) -> Option<Vec<SpanCells>> {
    let parts: Vec<Vec<SpanCells>> = lines
        .par_chunks(CHUNK_LINES)
        .map(|part| {
            let mut columns: Vec<SpanCells> = names.iter().map(|_| SpanCells::with_capacity(part.len())).collect();
            let mut row = vec![Span::NONE; names.len()];
            for (_, line) in part {
                // Where the line starts in the block (lines are slices of it).
                let base = line.as_ptr() as usize - bytes.as_ptr() as usize;
                row.fill(Span::NONE);
                split_line(line, base, names, &mut row, &mut columns)?;
                for (cells, span) in columns.iter_mut().zip(&row) {
                    cells.push(*span);
                }
            }
            Some(columns)
        })
        .collect::<Option<_>>()?;
    let mut all: Vec<SpanCells> = names.iter().map(|_| SpanCells::with_capacity(lines.len())).collect();
    for part in parts {
        for (cells, part_cells) in all.iter_mut().zip(part) {
            cells.append(part_cells);
        }
    }
    Some(all)
}

/// Fills `row` with the cells of one line (`base`: its offset in the block); strings that
/// needed unescaping are kept by `columns`.
fn split_line(line: &[u8], base: usize, names: &[&[u8]], row: &mut [Span], columns: &mut [SpanCells]) -> Option<()> {
    // Which wanted keys the line has given.
    let mut seen = 0u64;
    let mut i = skip_space(line, 0);
    if line.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_space(line, i + 1);
    if line.get(i) == Some(&b'}') {
        return (skip_space(line, i + 1) == line.len()).then_some(());
    }
    loop {
        // A key, without escapes.
        if line.get(i) != Some(&b'"') {
            return None;
        }
        let end = i + 1 + memchr::memchr2(b'"', b'\\', &line[i + 1..])?;
        if line[end] != b'"' {
            return None;
        }
        let key = &line[i + 1..end];
        if key.iter().any(|&b| b < 0x20) {
            return None;
        }
        i = skip_space(line, end + 1);
        if line.get(i) != Some(&b':') {
            return None;
        }
        i = skip_space(line, i + 1);
        let column = names.iter().position(|n| *n == key);
        let (cell, next) = match line.get(i)? {
            b'"' => string(line, i, base, column.map(|c| &mut columns[c]))?,
            b'n' if line[i..].starts_with(b"null") => (Span::NONE, i + 4),
            // A number: whole numbers of up to 18 digits for wanted keys (polars writes them as
            // they are); any number, `true` or `false` for others.
            b'-' | b'0'..=b'9' => {
                let (end, whole) = number(line, i)?;
                match column {
                    Some(_) if !whole || end - i > 18 || &line[i..end] == b"-0" => return None,
                    Some(_) => (Span::of(base + i..base + end), end),
                    None => (Span::NONE, end),
                }
            }
            b't' if column.is_none() && line[i..].starts_with(b"true") => (Span::NONE, i + 4),
            b'f' if column.is_none() && line[i..].starts_with(b"false") => (Span::NONE, i + 5),
            // An object or array under a key not read: skipped, as long as it is valid JSON.
            b'{' | b'[' if column.is_none() => {
                let mut values = serde_json::Deserializer::from_slice(&line[i..]).into_iter::<IgnoredAny>();
                values.next()?.ok()?;
                (Span::NONE, i + values.byte_offset())
            }
            _ => return None,
        };
        if let Some(c) = column {
            // The same key twice: left to the general reader.
            if seen & (1 << c) != 0 {
                return None;
            }
            seen |= 1 << c;
            row[c] = cell;
        }
        i = skip_space(line, next);
        match line.get(i) {
            Some(b',') => i = skip_space(line, i + 1),
            Some(b'}') => return (skip_space(line, i + 1) == line.len()).then_some(()),
            _ => return None,
        }
    }
}

/// A string value starting at `line[i]` (its quote): its cell (a span when it has no escapes,
/// else unescaped into `owner`; nothing when not wanted) and the offset after it.
fn string(line: &[u8], i: usize, base: usize, owner: Option<&mut SpanCells>) -> Option<(Span, usize)> {
    let start = i + 1;
    let mut end = start + memchr::memchr2(b'"', b'\\', &line[start..])?;
    let escaped = line[end] == b'\\';
    if escaped {
        // Find the closing quote: the first one not escaped.
        let mut j = end;
        loop {
            match line.get(j)? {
                b'\\' => j += 2,
                b'"' => break,
                _ => j += 1,
            }
        }
        end = j;
    }
    let raw = &line[start..end];
    // Control characters must be escaped in JSON.
    if raw.iter().any(|&b| b < 0x20) {
        return None;
    }
    let cell = match owner {
        // Escapes are checked even in text not read: a line polars cannot read is not taken.
        None if escaped => {
            unescape(raw)?;
            Span::NONE
        }
        None => Span::NONE,
        Some(owner) if escaped => owner.own(unescape(raw)?),
        Some(_) => Span::of(base + start..base + end),
    };
    Some((cell, end + 1))
}

/// The text of a JSON string's contents with escapes (`raw` is UTF-8: the block was checked).
fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = match raw.get(i + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = hex4(raw.get(i + 2..i + 6)?)?;
                let (code, used) = if (0xD800..0xDC00).contains(&high) {
                    // A surrogate pair: `\uD83D\uDE00`.
                    if raw.get(i + 6..i + 8)? != b"\\u" {
                        return None;
                    }
                    let low = hex4(raw.get(i + 8..i + 12)?)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 12)
                } else {
                    (high, 6)
                };
                let c = char::from_u32(code)?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += used;
                continue;
            }
            _ => return None,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        i += 2;
    }
    String::from_utf8(out).ok()
}

fn hex4(digits: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The end of the JSON number at `line[i]`, and whether it is whole (no fraction, no
/// exponent): `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn number(line: &[u8], i: usize) -> Option<(usize, bool)> {
    let digits = |from: usize| from + line[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut j = i + usize::from(line.get(i) == Some(&b'-'));
    match line.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits(j),
        _ => return None,
    }
    let mut whole = true;
    if line.get(j) == Some(&b'.') {
        let end = digits(j + 1);
        if end == j + 1 {
            return None;
        }
        (j, whole) = (end, false);
    }
    if matches!(line.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(line.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let end = digits(j);
        if end == j {
            return None;
        }
        (j, whole) = (end, false);
    }
    Some((j, whole))
}

fn skip_space(line: &[u8], mut i: usize) -> usize {
    while matches!(line.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cell of a table, by field, row by row.
    fn cells(table: &RawTable<'_>) -> Vec<(Field, Vec<Option<String>>)> {
        let mut out: Vec<_> = table
            .columns
            .iter()
            .map(|(f, c)| (*f, (0..table.rows()).map(|r| c.cell(r).map(str::to_string)).collect()))
            .collect();
        out.sort_by_key(|(f, _)| *f as usize);
        out
    }

    /// Lines this reader takes give the table polars' reader gives.
    #[test]
    fn the_same_table_as_polars() {
        let text = concat!(
            r#"{"ts":"2026-03-02T12:00:00Z","ip":"203.0.113.7","status":200,"bytes":-5,"ua":"a \"quoted\" \u00e9\ud83d\ude00 \\ \/ \t"}"#,
            "\n",
            r#"  { "ts" : "2026-03-02T12:00:01Z" , "status" : null , "extra" : 1.5e3, "flag": true, "other": false, "ua": "" }  "#,
            "\n\n",
            r#"{"ua":"café ☕","ts":"2026-03-02T12:00:02Z","bytes":0,"status":"404"}"#,
            "\r\n",
            r#"{"ts":"2026-03-02T12:00:03Z","bytes":123456789012345678}"#,
            "\n",
            r#"{"meta":{"a":[1,{"b":"}]"}],"c":null},"ts":"2026-03-02T12:00:04Z","list":[],"ua":"x"}"#,
            "\n",
        );
        let bytes = text.as_bytes();
        let lines: Vec<(u64, &[u8])> = crate::ingest::table::non_blank_lines(bytes).collect();
        let keys = super::super::discover_keys(&lines);
        let path = Path::new("x.jsonl");
        let fast = read(path, bytes, &lines, &Mapping::default(), &keys).unwrap().expect("taken");
        let general =
            super::super::read_lines(path, &lines, Some(bytes), &Mapping::default(), "JSON Lines", &keys).unwrap();
        assert_eq!(fast.lines, vec![1, 2, 4, 5, 6]);
        assert_eq!(fast.lines, general.lines);
        assert_eq!(cells(&fast), cells(&general));
        let ua = fast.columns.iter().find(|(f, _)| *f == Field::UserAgent).map(|(_, c)| c.cell(0));
        assert_eq!(ua, Some(Some("a \"quoted\" \u{e9}\u{1f600} \\ / \t")));
    }

    #[test]
    fn other_lines_are_left_to_the_general_reader() {
        let keys = vec![vec!["ts".to_string()], vec!["status".to_string()]];
        for line in [
            r#"{"ts":"x","status":2.5}"#,
            r#"{"ts":"x","status":true}"#,
            r#"{"ts":"x","status":[200]}"#,
            r#"{"ts":"x","status":{"a":1}}"#,
            r#"{"ts":"x","ts":"y"}"#,
            r#"{"ts":null,"ts":"y"}"#,
            r#"{"t\u0073":"x"}"#,
            r#"{"ts":"x"} trailing"#,
            r#"{"ts":"x","status":007}"#,
            r#"{"ts":"x","status":-0}"#,
            r#"{"ts":"x","status":1234567890123456789}"#,
            r#"{"ts":"x","other":1-2}"#,
            r#"{"ts":"x","other":01}"#,
            r#"{"ts":"x","other":1.}"#,
            r#"{"ts":"x","other":1e}"#,
            r#"{"ts":"x","other":truex}"#,
            r#"{"ts":"x","other":nul}"#,
            r#"{"ts":"x","other":{"a":}}"#,
            r#"{"ts":"x","other":[1,]}"#,
            r#"{"ts":"x","other":{"a":1}"#,
            r#"{"ts":"x","other":"bad \x escape"}"#,
            "{\"ts\":\"x\",\"o\tther\":1}",
            "{\"ts\":\"tab\tinside\"}",
            r#"{"ts":"\ud83d alone"}"#,
            r#"{"ts":"x""#,
            r#"[1]"#,
            "not json",
        ] {
            let lines = vec![(1, line.as_bytes())];
            let read = read(Path::new("x.jsonl"), line.as_bytes(), &lines, &Mapping::default(), &keys).unwrap();
            assert!(read.is_none(), "{line}");
        }
        let invalid = b"{\"ts\":\"caf\xe9\"}";
        let lines = vec![(1, &invalid[..])];
        assert!(read(Path::new("x.jsonl"), invalid, &lines, &Mapping::default(), &keys).unwrap().is_none());
    }
}
