//! CSV and TSV exports: header row, delimiter detected, read by polars' CSV reader.
//!
//! polars parses the fields; a quote-aware pass over the bytes beforehand finds each record's
//! physical line and field count, so that rows with the wrong number of fields are rejected with
//! their line number instead of being silently padded or cut.

use super::fields;
use super::table::{Problem, RawTable};
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

/// One CSV record as found by the pre-pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    /// Physical line the record starts on (1-based).
    line: u64,
    /// Number of fields (delimiters outside quotes + 1).
    fields: u32,
    /// Only whitespace: not a row.
    blank: bool,
}

/// Finds record boundaries, honouring `"`-quoted fields that contain delimiters or newlines.
fn scan_records(bytes: &[u8], delimiter: u8) -> Vec<Record> {
    let mut records = Vec::with_capacity(memchr::memchr_iter(b'\n', bytes).count() + 1);
    let mut line = 1u64;
    let mut start_line = 1u64;
    let mut fields = 1u32;
    let mut in_quotes = false;
    let mut blank = true;
    let mut pos = 0;
    // Jump from one special byte to the next (quote, newline, and outside quotes the
    // delimiter); the bytes between only matter for telling blank records.
    while pos <= bytes.len() {
        let rest = &bytes[pos..];
        let next =
            if in_quotes { memchr::memchr2(b'"', b'\n', rest) } else { memchr::memchr3(b'"', b'\n', delimiter, rest) };
        let segment = &rest[..next.unwrap_or(rest.len())];
        if blank && segment.iter().any(|b| !matches!(b, b' ' | b'\t' | b'\r')) {
            blank = false;
        }
        let Some(offset) = next else { break };
        match rest[offset] {
            b'"' => {
                in_quotes = !in_quotes;
                blank = false;
            }
            b'\n' => {
                line += 1;
                if !in_quotes {
                    records.push(Record { line: start_line, fields, blank });
                    start_line = line;
                    fields = 1;
                    blank = true;
                }
            }
            _ => {
                fields += 1;
                blank = false;
            }
        }
        pos += offset + 1;
    }
    if !blank || fields > 1 {
        records.push(Record { line: start_line, fields, blank });
    }
    records
}

/// Splits one record into its fields (for the header row), unquoting `"…"` and `""`.
pub fn split_record(record: &[u8], delimiter: u8) -> Vec<String> {
    let record = record.strip_suffix(b"\r").unwrap_or(record);
    let mut out = Vec::new();
    let mut field = Vec::new();
    let mut in_quotes = false;
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        if in_quotes {
            if b == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    field.push(b'"');
                    i += 1;
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(b);
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == delimiter {
            out.push(String::from_utf8_lossy(&field).trim().to_string());
            field.clear();
        } else {
            field.push(b);
        }
        i += 1;
    }
    out.push(String::from_utf8_lossy(&field).trim().to_string());
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

/// Reads a CSV/TSV file. `delimiter` is sniffed from the header when not given.
pub fn read(path: &Path, bytes: &[u8], delimiter: Option<u8>, mapping: &Mapping) -> Result<RawTable<'static>> {
    let header_end = memchr::memchr(b'\n', bytes).unwrap_or(bytes.len());
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&bytes[..header_end]));
    let records = scan_records(bytes, delimiter);
    let Some(header) = records.first() else {
        return Ok(RawTable { lines: Vec::new(), columns: Vec::new(), rejected: Vec::new() });
    };
    if header.blank {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            format: "CSV",
            detail: "the first line is empty, where the header row belongs".into(),
            hint: "Remove the leading blank lines.",
        });
    }
    let header_bytes = match records.get(1) {
        // The header may span lines when a quoted name holds a newline.
        Some(next) => nth_line_offset(bytes, next.line).map_or(bytes, |end| &bytes[..end]),
        None => bytes,
    };
    let header_bytes = header_bytes.strip_suffix(b"\n").unwrap_or(header_bytes);
    let names = split_record(header_bytes, delimiter);
    let resolved = fields::resolve(path, &names, mapping)?;
    let data = &records[1..];
    if data.is_empty() {
        return Ok(RawTable { lines: Vec::new(), columns: Vec::new(), rejected: Vec::new() });
    }

    let schema: Schema = (0..names.len()).map(|i| Field::new(format!("c{i}").into(), DataType::String)).collect();
    let mut projection: Vec<usize> = resolved.iter().map(|(_, i)| *i).collect();
    projection.sort_unstable();
    projection.dedup();
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_skip_rows(1)
        .with_schema(Some(Arc::new(schema)))
        .with_projection(Some(Arc::new(projection)))
        .with_rechunk(true)
        .map_parse_options(|p| {
            p.with_separator(delimiter)
                .with_quote_char(Some(b'"'))
                .with_truncate_ragged_lines(true)
                .with_missing_is_null(true)
                .with_encoding(CsvEncoding::LossyUtf8)
        })
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            format: "CSV",
            detail: crate::ingest::polars_message(&e),
            hint: "Check the quoting, or name another format with --format.",
        })?;
    if df.height() != data.len() {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            format: "CSV",
            detail: format!(
                "{} records found but the CSV reader produced {} rows (unbalanced quotes?)",
                data.len(),
                df.height()
            ),
            hint: "Check that every opening quote is closed.",
        });
    }

    let expected = names.len() as u32;
    let mut keep = Vec::with_capacity(data.len());
    let mut lines = Vec::with_capacity(data.len());
    let mut rejected = Vec::new();
    for r in data {
        let ok = !r.blank && r.fields == expected;
        keep.push(ok);
        if ok {
            lines.push(r.line);
        } else if !r.blank {
            rejected.push((
                r.line,
                Problem::new("wrong_field_count", format!("{} fields where the header has {expected}", r.fields)),
            ));
        }
    }
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    let mut columns: Vec<(crate::schema::Field, Box<dyn super::table::TextColumn>)> = Vec::new();
    for (field, index) in resolved {
        let column = df
            .column(&format!("c{index}"))
            .and_then(|c| c.str().cloned())
            .and_then(|c| c.filter(&mask))
            .map_err(|source| Error::Frame { context: "selecting CSV columns", source })?;
        columns.push((field, Box::new(column.rechunk().into_owned())));
    }
    Ok(RawTable { lines, columns, rejected })
}

/// Byte offset where physical line `line` (1-based) starts.
fn nth_line_offset(bytes: &[u8], line: u64) -> Option<usize> {
    if line <= 1 {
        return Some(0);
    }
    memchr::memchr_iter(b'\n', bytes).nth((line - 2) as usize).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_follow_quotes_across_lines() {
        let r = scan_records(b"a,b\n1,2\n\n\"x\ny\",3\n4,5,6\n7", b',');
        let got: Vec<_> = r.iter().map(|r| (r.line, r.fields, r.blank)).collect();
        assert_eq!(got, vec![(1, 2, false), (2, 2, false), (3, 1, true), (4, 2, false), (6, 3, false), (7, 1, false)]);
        assert!(scan_records(b"", b',').is_empty());
        assert_eq!(scan_records(b"a\n", b',').len(), 1);
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
