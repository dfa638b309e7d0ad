//! JSON exports: a top-level array of objects, or an object holding one array of objects.
//!
//! A small scanner (strings and nesting only, no values) finds the array and the line each
//! element starts on; the elements are then read as JSON Lines by polars.

use super::table::RawTable;
use crate::error::{Error, Result};
use crate::mapping::Mapping;
use std::path::Path;

/// Reads a JSON document holding an array of records.
pub fn read(path: &Path, bytes: &[u8], mapping: &Mapping) -> Result<RawTable<'static>> {
    let malformed = |detail: String| {
        Error::Malformed {
        path: path.to_path_buf(),
        format: "JSON",
        detail,
        hint: "Expected an array of objects, or an object holding one array of objects; for one object per line use --format jsonl.",
    }
    };
    let elements = find_records(bytes).map_err(malformed)?;
    // One record per line: newlines outside strings are whitespace, and inside strings they
    // are invalid JSON anyway, so replacing them keeps valid records valid.
    let flattened: Vec<(u64, Vec<u8>)> = elements
        .into_iter()
        .map(|(line, slice)| {
            let one_line = slice.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect();
            (line, one_line)
        })
        .collect();
    let lines: Vec<(u64, &[u8])> = flattened.iter().map(|(n, l)| (*n, l.as_slice())).collect();
    let keys = super::jsonl::discover_keys(&lines);
    super::jsonl::read_lines(path, &lines, None, mapping, "JSON", &keys)
}

/// Scanner state over the bytes of a JSON document.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Skips one value (string, number, literal, object or array); returns its extent.
    fn skip_value(&mut self) -> std::result::Result<(usize, usize), String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut in_string = false;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if in_string {
                match b {
                    b'\\' => self.pos += 1,
                    b'"' => {
                        in_string = false;
                        if depth == 0 {
                            return Ok((start, self.pos));
                        }
                    }
                    b'\n' => self.line += 1,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    if depth == 0 {
                        self.pos -= 1;
                        return Ok((start, self.pos));
                    }
                    depth -= 1;
                    if depth == 0 {
                        return Ok((start, self.pos));
                    }
                }
                b',' if depth == 0 => {
                    self.pos -= 1;
                    return Ok((start, self.pos));
                }
                b'\n' => self.line += 1,
                _ => {}
            }
        }
        if depth == 0 && !in_string {
            Ok((start, self.pos))
        } else {
            Err(format!("unterminated value starting on line {}", self.line))
        }
    }

    /// At a `[`: the elements of the array, each with the line it starts on.
    fn array_elements(&mut self) -> std::result::Result<Vec<(u64, &'a [u8])>, String> {
        self.pos += 1; // '['
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(out);
                }
                None => return Err(format!("the array is not closed (end of input on line {})", self.line)),
                _ => {}
            }
            let line = self.line;
            let (s, e) = self.skip_value()?;
            out.push((line, &self.bytes[s..e]));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {}
                Some(_) => return Err(format!("expected `,` or `]` on line {}", self.line)),
                None => return Err(format!("the array is not closed (end of input on line {})", self.line)),
            }
        }
    }
}

/// The records of a JSON document with their starting lines.
fn find_records(bytes: &[u8]) -> std::result::Result<Vec<(u64, &[u8])>, String> {
    let mut s = Scanner { bytes, pos: 0, line: 1 };
    s.skip_ws();
    match s.peek() {
        Some(b'[') => s.array_elements(),
        Some(b'{') => {
            // An object: take its array-valued member whose elements are objects (the largest
            // one if there are several).
            s.pos += 1;
            let mut best: Option<Vec<(u64, &[u8])>> = None;
            loop {
                s.skip_ws();
                match s.peek() {
                    Some(b'}') => break,
                    Some(b'"') => {}
                    _ => return Err(format!("expected a key on line {}", s.line)),
                }
                s.skip_value()?;
                s.skip_ws();
                if s.peek() != Some(b':') {
                    return Err(format!("expected `:` on line {}", s.line));
                }
                s.pos += 1;
                s.skip_ws();
                if s.peek() == Some(b'[') {
                    let elements = s.array_elements()?;
                    let objects = elements.first().is_some_and(|(_, e)| e.first() == Some(&b'{'));
                    if objects && best.as_ref().is_none_or(|b| elements.len() > b.len()) {
                        best = Some(elements);
                    }
                } else {
                    s.skip_value()?;
                }
                s.skip_ws();
                match s.peek() {
                    Some(b',') => s.pos += 1,
                    Some(b'}') => {}
                    _ => return Err(format!("expected `,` or `}}` on line {}", s.line)),
                }
            }
            best.ok_or_else(|| "the object holds no array of objects".to_string())
        }
        Some(_) => Err("the document is neither an array nor an object".into()),
        None => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_array_elements_with_lines() {
        let doc = b"[\n {\"a\": \"x,]}\"},\n {\"a\":\n 2}\n]";
        let r = find_records(doc).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0], (2, &b"{\"a\": \"x,]}\"}"[..]));
        assert_eq!(r[1].0, 3);
    }

    #[test]
    fn wrapped_array_is_found() {
        let doc = br#"{"meta": {"n": [1,2]}, "tags": ["a"], "data": [{"t":1},{"t":2}], "next": null}"#;
        let r = find_records(doc).unwrap();
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(find_records(b"[{\"a\":1}").is_err());
        assert!(find_records(b"{\"a\": 1}").is_err());
        assert!(find_records(b"42").is_err());
        assert!(find_records(b"[{\"a\":\"unterminated").is_err());
        assert_eq!(find_records(b"  ").unwrap().len(), 0);
        assert_eq!(find_records(b"[]").unwrap().len(), 0);
    }
}
