//! Choosing the format of an input: the one place that decides, from `--format`, the file's
//! extension and its content.

use super::{alb, clf};
use std::fmt;
use std::str::FromStr;

/// An input format leakhound reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Jsonl,
    Json,
    Csv,
    Tsv,
    Clf,
    Alb,
}

impl Format {
    pub const ALL: [Format; 6] = [Format::Jsonl, Format::Json, Format::Csv, Format::Tsv, Format::Clf, Format::Alb];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Clf => "clf",
            Format::Alb => "alb",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" => Ok(Format::Jsonl),
            "combined" | "nginx" | "apache" => Ok(Format::Clf),
            other => Format::ALL
                .into_iter()
                .find(|f| f.name() == other)
                .ok_or_else(|| format!("unknown format `{s}`: use one of jsonl, json, csv, tsv, clf, alb")),
        }
    }
}

/// What the content of an input looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Format(Format),
    /// Nothing but whitespace.
    Empty,
    Unknown,
}

/// The format of an input: its extension when that names one (`.jsonl`, `.ndjson`, `.csv`,
/// `.tsv`; `.json` is checked for one-object-per-line content), otherwise its content.
/// `logical_name` is the lower-cased file name without `.gz`.
pub fn detect(logical_name: &str, bytes: &[u8]) -> Detected {
    let bytes = strip_bom(bytes);
    let Some(first) = super::table::non_blank_lines(bytes).next().map(|(_, l)| l) else {
        return Detected::Empty;
    };
    let ext = logical_name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let by_ext = match ext {
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        "csv" => Some(Format::Csv),
        "tsv" | "tab" => Some(Format::Tsv),
        _ => None,
    };
    if let Some(f) = by_ext {
        return Detected::Format(f);
    }
    let first_trimmed = trim_ascii(first);
    match first_trimmed.first() {
        Some(b'{') => {
            // A complete object on the first line means one object per line.
            let one_per_line = serde_json::from_slice::<serde::de::IgnoredAny>(first_trimmed).is_ok();
            let second_is_object =
                super::table::non_blank_lines(bytes).nth(1).is_none_or(|(_, l)| trim_ascii(l).first() == Some(&b'{'));
            return Detected::Format(if one_per_line && second_is_object { Format::Jsonl } else { Format::Json });
        }
        Some(b'[') => return Detected::Format(Format::Json),
        _ => {}
    }
    if alb::looks_like(first_trimmed) {
        Detected::Format(Format::Alb)
    } else if clf::looks_like(first_trimmed) {
        Detected::Format(Format::Clf)
    } else if ext == "json" {
        Detected::Format(Format::Json)
    } else if looks_like_csv_header(first_trimmed) {
        Detected::Format(if super::csv::sniff_delimiter(first_trimmed) == b'\t' { Format::Tsv } else { Format::Csv })
    } else {
        Detected::Unknown
    }
}

/// A header row: printable text with at least one delimiter.
fn looks_like_csv_header(line: &[u8]) -> bool {
    let printable =
        std::str::from_utf8(line).is_ok_and(|s| !s.chars().any(|c| c.is_control() && c != '\t' && c != '\r'));
    printable && line.iter().any(|b| matches!(b, b',' | b'\t' | b';' | b'|'))
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// Input without a UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_extension_and_content() {
        let clf = br#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "ua""#;
        assert_eq!(detect("access.log", clf), Detected::Format(Format::Clf));
        assert_eq!(detect("x", b"{\"a\":1}\n{\"a\":2}\n"), Detected::Format(Format::Jsonl));
        assert_eq!(detect("x.json", b"{\"a\":1}\n{\"a\":2}\n"), Detected::Format(Format::Jsonl));
        assert_eq!(detect("x.json", b"{\n\"data\": []}"), Detected::Format(Format::Json));
        assert_eq!(detect("x", b"[{\"a\":1}]"), Detected::Format(Format::Json));
        assert_eq!(detect("x.csv", b"whatever"), Detected::Format(Format::Csv));
        assert_eq!(detect("x.txt", b"a\tb\n1\t2"), Detected::Format(Format::Tsv));
        assert_eq!(detect("x.txt", b"time,ip\n1,2"), Detected::Format(Format::Csv));
        assert_eq!(detect("x", b"  \n\n"), Detected::Empty);
        assert_eq!(detect("x", b"\x00\x01\x02binary"), Detected::Unknown);
        assert_eq!(detect("x", b"\xEF\xBB\xBF{\"a\":1}"), Detected::Format(Format::Jsonl));
    }

    #[test]
    fn format_names() {
        assert_eq!("NDJSON".parse::<Format>(), Ok(Format::Jsonl));
        assert_eq!("alb".parse::<Format>(), Ok(Format::Alb));
        assert!("xml".parse::<Format>().is_err());
    }
}
