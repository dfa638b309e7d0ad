//! NDJSON (JSON Lines): one object per line, flat dotted keys or nested objects, read by polars.
//!
//! Keys are discovered on a sample of lines; polars' NDJSON parser then reads only the fields
//! leakhound needs, every value as text. When polars refuses the input, each line is checked on
//! its own so that the bad ones are rejected with their line number and the rest still read.
//! Records with nested objects are read line by line in parallel instead (see `read_nested`).
//! Blocks of flat records, the common case, are split straight into cells ([`flat`]).

mod flat;

use super::fields;
use super::linewise::{merge, Chunk};
use super::table::{Problem, RawTable, TextColumn};
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use polars::prelude::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// How many lines are sampled to discover the keys.
const SAMPLE_LINES: usize = 1000;

/// Reads NDJSON where every non-blank line is a record. `keys` are the keys found in an
/// earlier block of the same input, which a later block reads with (found here when `None`).
pub fn read<'a>(
    path: &Path,
    bytes: &'a [u8],
    mapping: &Mapping,
    keys: &mut Option<Vec<Vec<String>>>,
) -> Result<RawTable<'a>> {
    let lines: Vec<(u64, &[u8])> = super::table::non_blank_lines(bytes).collect();
    let keys = keys.get_or_insert_with(|| discover_keys(&lines));
    let mut table = match flat::read(path, bytes, &lines, mapping, keys)? {
        Some(table) => table,
        // polars skips the same blank lines, so the file's bytes can be parsed as they are.
        None => read_lines(path, &lines, Some(bytes), mapping, "JSON Lines", keys)?,
    };
    table.newlines = Some(super::table::newlines_of(bytes, &lines));
    Ok(table)
}

/// Whether `bytes` hold enough lines to find an input's keys (see [`read`]).
pub fn enough_for_keys(bytes: &[u8]) -> bool {
    let complete = &bytes[..memchr::memrchr(b'\n', bytes).map_or(0, |i| i + 1)];
    super::table::non_blank_lines(complete).nth(SAMPLE_LINES).is_some()
}

/// Reads records given as `(physical line, one-line JSON object)`; `joined`, when given, is
/// the same records as one buffer (saves a copy).
pub(super) fn read_lines(
    path: &Path,
    lines: &[(u64, &[u8])],
    joined: Option<&[u8]>,
    mapping: &Mapping,
    format: &'static str,
    keys: &[Vec<String>],
) -> Result<RawTable<'static>> {
    if keys.is_empty() {
        // Nothing in the sample is a JSON object with fields: every line is rejected with its
        // own reason (and the reject ratio then decides whether the file is in another format).
        let rejected = lines
            .iter()
            .map(|(n, l)| {
                (*n, check_line(l, &[]).err().unwrap_or_else(|| Problem::new("no_fields", "the object has no fields")))
            })
            .collect();
        return Ok(RawTable { lines: Vec::new(), columns: Vec::new(), rejected, newlines: None });
    }
    let (resolved, chosen) = choose(path, keys, mapping)?;
    if chosen.iter().any(|(_, p)| p.len() > 1) {
        return Ok(read_nested(lines, &resolved.iter().map(|(f, _)| *f).collect::<Vec<_>>(), &chosen));
    }
    let schema = schema_for(chosen.iter().map(|(_, p)| p.as_slice()));

    let owned;
    let joined = match joined {
        Some(j) => j,
        None => {
            owned = join_lines(lines.iter().map(|(_, l)| *l));
            &owned
        }
    };
    let (df, line_numbers, rejected) =
        match polars::io::ndjson::core::parse_ndjson(joined, Some(lines.len()), &schema, false) {
            Ok(df) => (df, lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(), Vec::new()),
            Err(_) => {
                // Find the lines polars cannot take, reject them with a reason, read the rest.
                let mut good = Vec::with_capacity(lines.len());
                let mut rejected = Vec::new();
                for (n, line) in lines {
                    match check_line(line, &chosen) {
                        Ok(()) => good.push((*n, *line)),
                        Err(p) => rejected.push((*n, p)),
                    }
                }
                let joined = join_lines(good.iter().map(|(_, l)| *l));
                let df =
                    polars::io::ndjson::core::parse_ndjson(&joined, Some(good.len()), &schema, false).map_err(|e| {
                        Error::Malformed {
                            path: path.to_path_buf(),
                            format,
                            detail: super::polars_message(&e),
                            hint: "Check that each record is a JSON object with consistent field types.",
                        }
                    })?;
                (df, good.into_iter().map(|(n, _)| n).collect(), rejected)
            }
        };
    if df.height() != line_numbers.len() {
        return Err(Error::Malformed {
            path: path.to_path_buf(),
            format,
            detail: format!("{} records but {} rows were read", line_numbers.len(), df.height()),
            hint: "Put exactly one JSON object on each line.",
        });
    }
    let mut columns: Vec<(crate::schema::Field, Box<dyn TextColumn>)> = Vec::new();
    for (field, _) in &resolved {
        let leaves = chosen
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, key_path)| leaf(&df, key_path))
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(|source| Error::Frame { context: "selecting JSON fields", source })?;
        columns.push((*field, Box::new(Coalesce(leaves))));
    }
    Ok(RawTable { lines: line_numbers, columns, rejected, newlines: None })
}

/// The fields found among `keys`, and the key paths each is read from.
#[allow(clippy::type_complexity)]
fn choose(
    path: &Path,
    keys: &[Vec<String>],
    mapping: &Mapping,
) -> Result<(Vec<(crate::schema::Field, usize)>, Vec<(crate::schema::Field, Vec<String>)>)> {
    // `{"source.ip": …}` and `{"source": {"ip": …}}` both name `source.ip`; a file may mix them.
    let mut unique = Vec::new();
    for n in keys.iter().map(|k| k.join(".")) {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    let resolved = fields::resolve(path, &unique, mapping)?;
    let chosen = resolved
        .iter()
        .flat_map(|(f, i)| keys.iter().filter(|k| k.join(".") == unique[*i]).map(|k| (*f, k.clone())))
        .collect();
    Ok((resolved, chosen))
}

fn join_lines<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// Leaf key paths (object nesting) seen in a sample of the lines, in first-seen order.
pub(super) fn discover_keys(lines: &[(u64, &[u8])]) -> Vec<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut ordered = Vec::new();
    fn walk(
        prefix: &mut Vec<String>,
        v: &serde_json::Map<String, Value>,
        seen: &mut BTreeSet<Vec<String>>,
        out: &mut Vec<Vec<String>>,
    ) {
        for (k, v) in v {
            prefix.push(k.clone());
            match v {
                Value::Object(inner) if !inner.is_empty() && prefix.len() < 8 => walk(prefix, inner, seen, out),
                _ => {
                    if seen.insert(prefix.clone()) {
                        out.push(prefix.clone());
                    }
                }
            }
            prefix.pop();
        }
    }
    for (_, line) in lines.iter().take(SAMPLE_LINES) {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) {
            walk(&mut Vec::new(), &map, &mut seen, &mut ordered);
        }
    }
    ordered
}

/// A polars schema that reads the given top-level keys as text.
fn schema_for<'a>(keys: impl Iterator<Item = &'a [String]>) -> Schema {
    let mut schema = Schema::default();
    for k in keys {
        if let Some(name) = k.first() {
            schema.with_column(name.as_str().into(), DataType::String);
        }
    }
    schema
}

/// The first non-null of several columns that hold the same field (flat and nested keys).
struct Coalesce(Vec<StringChunked>);

impl TextColumn for Coalesce {
    fn cell(&self, row: usize) -> Option<&str> {
        self.0.iter().find_map(|c| c.get(row))
    }
}

/// The text column of a top-level key of the parsed frame.
fn leaf(df: &DataFrame, path: &[String]) -> PolarsResult<StringChunked> {
    Ok(df.column(&path[0])?.str()?.rechunk().into_owned())
}

/// Nested objects: polars' NDJSON reader builds them as generic structs row by row, which
/// measured 4× slower and 5× larger than flat keys (1M rows: 15.5 s and 3.3 GB against 3.8 s
/// and 0.6 GB). For nested records the needed paths are taken straight from each parsed line,
/// in parallel chunks, into text columns.
fn read_nested(
    lines: &[(u64, &[u8])],
    fields: &[crate::schema::Field],
    chosen: &[(crate::schema::Field, Vec<String>)],
) -> RawTable<'static> {
    use rayon::prelude::*;
    let chunks: Vec<Chunk<'static>> = lines
        .par_chunks(8192)
        .map(|part| {
            let mut chunk = Chunk::new(fields.len(), part.len());
            for (n, line) in part {
                match parse_record(line, chosen) {
                    Ok(map) => {
                        chunk.lines.push(*n);
                        for (column, field) in chunk.cells.iter_mut().zip(fields) {
                            let cell = chosen
                                .iter()
                                .filter(|(f, _)| f == field)
                                .find_map(|(_, path)| text_at(&map, path))
                                .map(std::borrow::Cow::Owned);
                            column.push(cell);
                        }
                    }
                    Err(p) => chunk.rejected.push((*n, p)),
                }
            }
            chunk
        })
        .collect();
    merge(chunks, fields)
}

/// The text of the value at a key path: strings as they are, numbers and booleans as written,
/// objects and arrays as JSON, null or missing as nothing.
fn text_at(map: &serde_json::Map<String, Value>, path: &[String]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let mut current = map;
    for key in parents {
        current = current.get(key)?.as_object()?;
    }
    match current.get(last)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Why polars cannot take a line: not JSON, not an object, or a scalar where the chosen
/// fields need an object.
fn check_line(line: &[u8], chosen: &[(crate::schema::Field, Vec<String>)]) -> std::result::Result<(), Problem> {
    parse_record(line, chosen).map(|_| ())
}

/// A line as a JSON object whose chosen key paths are objects where they need to be.
fn parse_record(
    line: &[u8],
    chosen: &[(crate::schema::Field, Vec<String>)],
) -> std::result::Result<serde_json::Map<String, Value>, Problem> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        let what = if e.is_eof() { "unterminated JSON" } else { "invalid JSON" };
        Problem::new("invalid_json", format!("{what} at column {}", e.column()))
    })?;
    let Value::Object(map) = value else {
        return Err(Problem::new("not_an_object", "the line is JSON but not an object"));
    };
    for (_, path) in chosen {
        let mut current = &map;
        for (depth, key) in path[..path.len() - 1].iter().enumerate() {
            match current.get(key) {
                Some(Value::Object(inner)) => current = inner,
                None | Some(Value::Null) => break,
                Some(_) => {
                    return Err(Problem::new(
                        "wrong_type",
                        format!("`{}` is not an object, unlike in the other records", path[..=depth].join(".")),
                    ))
                }
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_keys_are_discovered() {
        let lines: Vec<(u64, &[u8])> = vec![
            (1, br#"{"@timestamp":"x","source":{"ip":"1.2.3.4","geo":{}},"a.b":1}"#),
            (2, b"not json"),
            (3, br#"{"late":true}"#),
        ];
        let keys = discover_keys(&lines);
        let joined: Vec<_> = keys.iter().map(|k| k.join(".")).collect();
        assert_eq!(joined, vec!["@timestamp", "a.b", "source.geo", "source.ip", "late"]);
    }

    #[test]
    fn bad_lines_are_explained() {
        let chosen = vec![(crate::schema::Field::SourceIp, vec!["source".to_string(), "ip".to_string()])];
        assert_eq!(check_line(b"{\"a\":", &chosen).unwrap_err().code, "invalid_json");
        assert_eq!(check_line(b"[1]", &chosen).unwrap_err().code, "not_an_object");
        assert_eq!(check_line(br#"{"source":"x"}"#, &chosen).unwrap_err().code, "wrong_type");
        assert!(check_line(br#"{"source":null}"#, &chosen).is_ok());
    }
}
