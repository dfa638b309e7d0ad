//! `flagged_events.csv` and `flagged_events.jsonl`: one row per event a detector flagged,
//! sorted by time, with the detectors, score, severity and reason (a stable contract).

use super::csv_field;
use crate::detect::incident::Incident;
use crate::detect::{Finding, Severity, Strings};
use crate::enrich::Events;
use crate::error::{Error, Result};
use crate::schema::col;
use crate::timestamp::format_rfc3339;
use polars::prelude::*;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// Column names, in order.
pub const COLUMNS: [&str; 21] = [
    "timestamp",
    "credential",
    "credential_hint",
    "credential_label",
    "source_ip",
    "country",
    "city",
    "asn",
    "as_org",
    "method",
    "path",
    "status",
    "bytes",
    "user_agent",
    "source_file",
    "source_line",
    "detectors",
    "score",
    "severity",
    "incident_id",
    "reason",
];

/// What the findings say about one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub row: u32,
    pub detectors: Vec<&'static str>,
    pub score: f64,
    pub severity: Severity,
    /// Shared by the rows of a finding.
    pub reason: Arc<str>,
    pub incident_id: Option<Arc<str>>,
}

/// One flag per event covered by any finding: every detector and the reason of the strongest
/// finding; the severity, score and id of the event's incident (or of the finding itself
/// without incidents). Sorted by row (the frame is in time order).
pub fn flags(findings: &[Finding], incidents: &[Incident]) -> Vec<Flag> {
    let mut by_row: BTreeMap<u32, Flag> = BTreeMap::new();
    for f in findings {
        let why: Arc<str> = Arc::from(f.explanation.as_str());
        for &row in &f.rows {
            let flag = by_row.entry(row).or_insert_with(|| Flag {
                row,
                detectors: Vec::new(),
                score: f.score,
                severity: f.severity,
                reason: why.clone(),
                incident_id: None,
            });
            if !flag.detectors.contains(&f.detector) {
                flag.detectors.push(f.detector);
                flag.detectors.sort_unstable();
            }
            if (f.severity, f.score) > (flag.severity, flag.score) {
                flag.score = f.score;
                flag.severity = f.severity;
                flag.reason = why.clone();
            }
        }
    }
    for inc in incidents {
        let id: Arc<str> = Arc::from(inc.id.as_str());
        for row in &inc.rows {
            if let Some(flag) = by_row.get_mut(row) {
                flag.incident_id = Some(id.clone());
                flag.severity = inc.severity;
                flag.score = inc.score;
            }
        }
    }
    by_row.into_values().collect()
}

/// One cell of a flagged event: text (missing or not), a whole number, a score.
enum Cell<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Float(f64),
}

/// The columns of the events that flagged events are rows of, read once.
pub struct Columns<'a> {
    ts: Int64Chunked,
    /// Credential, its hint and label, source address.
    texts: Vec<Option<Strings<'a>>>,
    geo: crate::enrich::GeoColumns<'a>,
    method: Option<Strings<'a>>,
    path: Option<Strings<'a>>,
    status: Int32Chunked,
    bytes: Int64Chunked,
    user_agent: Option<Strings<'a>>,
    file: Option<Strings<'a>>,
    line: UInt64Chunked,
}

/// Bytes gathered before they go to the output.
const CHUNK: usize = 1 << 20;

impl<'a> Columns<'a> {
    pub fn read(events: &Events<'a>) -> Result<Self> {
        Self::of(events).map_err(|source| Error::Frame { context: "writing flagged events", source })
    }

    fn of(events: &Events<'a>) -> PolarsResult<Self> {
        let frame = events.frame();
        let text = |name: &str| Strings::of_frame(frame, name);
        Ok(Columns {
            ts: crate::detect::timestamps(frame)?,
            texts: [col::CREDENTIAL, col::CREDENTIAL_HINT, col::CREDENTIAL_LABEL, col::SOURCE_IP]
                .iter()
                .map(|n| text(n))
                .collect::<PolarsResult<_>>()?,
            geo: events.geo(),
            method: text(col::METHOD)?,
            path: text(col::PATH)?,
            status: frame.column(col::STATUS)?.i32()?.clone(),
            bytes: frame.column(col::BYTES)?.i64()?.clone(),
            user_agent: text(col::USER_AGENT)?,
            file: text(col::SOURCE_FILE)?,
            line: frame.column(col::SOURCE_LINE)?.u64()?.clone(),
        })
    }

    /// Calls `write` with the cells of each flagged event, in column order; stops at its first
    /// error.
    fn for_each_record(
        &self,
        flags: &[Flag],
        mut write: impl FnMut(&[Cell<'_>]) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        fn get<'a>(c: &Option<Strings<'a>>, i: usize) -> Cell<'a> {
            Cell::Text(c.as_ref().and_then(|c| c.get(i)).map(Cow::Borrowed))
        }
        let geo = &self.geo;
        let mut row: Vec<Cell<'_>> = Vec::with_capacity(COLUMNS.len());
        for f in flags {
            let i = f.row as usize;
            row.clear();
            row.push(Cell::Text(self.ts.get(i).map(|t| format_rfc3339(t).into())));
            row.extend(self.texts.iter().map(|c| get(c, i)));
            row.push(Cell::Text(geo.country(i).map(Cow::Borrowed)));
            row.push(Cell::Text(geo.city(i).map(Cow::Borrowed)));
            row.push(Cell::Int(geo.asn(i)));
            row.push(Cell::Text(geo.as_org(i).map(Cow::Borrowed)));
            row.push(get(&self.method, i));
            row.push(get(&self.path, i));
            row.push(Cell::Int(self.status.get(i).map(i64::from)));
            row.push(Cell::Int(self.bytes.get(i)));
            row.push(get(&self.user_agent, i));
            row.push(get(&self.file, i));
            row.push(Cell::Int(self.line.get(i).map(|l| l as i64)));
            row.push(Cell::Text(Some(f.detectors.join(";").into())));
            row.push(Cell::Float(f.score));
            row.push(Cell::Text(Some(f.severity.name().into())));
            row.push(Cell::Text(f.incident_id.as_deref().map(Cow::Borrowed)));
            row.push(Cell::Text(Some(Cow::Borrowed(&f.reason))));
            write(&row)?;
        }
        Ok(())
    }

    /// `flagged_events.csv` to `out`, a megabyte at a time.
    pub fn write_csv(&self, flags: &[Flag], out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut chunk = COLUMNS.join(",");
        chunk.push('\n');
        self.for_each_record(flags, |cells| {
            for (k, cell) in cells.iter().enumerate() {
                if k > 0 {
                    chunk.push(',');
                }
                // Writing to a string cannot fail.
                let _ = match cell {
                    Cell::Text(v) => {
                        chunk.push_str(&csv_field(v.as_deref().unwrap_or("")));
                        Ok(())
                    }
                    Cell::Int(Some(v)) => write!(chunk, "{v}"),
                    Cell::Int(None) => Ok(()),
                    Cell::Float(v) => write!(chunk, "{v:.1}"),
                };
            }
            chunk.push('\n');
            if chunk.len() >= CHUNK {
                out.write_all(chunk.as_bytes())?;
                chunk.clear();
            }
            Ok(())
        })?;
        out.write_all(chunk.as_bytes())
    }

    /// `flagged_events.jsonl` to `out`: the same columns, one JSON object per line, keys in
    /// column order.
    pub fn write_jsonl(&self, flags: &[Flag], out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK + (CHUNK >> 2));
        self.for_each_record(flags, |cells| {
            chunk.push(b'{');
            for (k, (name, cell)) in COLUMNS.iter().zip(cells).enumerate() {
                if k > 0 {
                    chunk.push(b',');
                }
                chunk.push(b'"');
                chunk.extend_from_slice(name.as_bytes());
                chunk.extend_from_slice(b"\":");
                // Text, numbers and `null` serialise without error.
                let _ = match cell {
                    Cell::Text(v) => serde_json::to_writer(&mut chunk, v),
                    Cell::Int(v) => serde_json::to_writer(&mut chunk, v),
                    Cell::Float(v) => serde_json::to_writer(&mut chunk, &((v * 10.0).round() / 10.0)),
                };
            }
            chunk.extend_from_slice(b"}\n");
            if chunk.len() >= CHUNK {
                out.write_all(&chunk)?;
                chunk.clear();
            }
            Ok(())
        })?;
        out.write_all(&chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(detector: &'static str, rows: Vec<u32>, score: f64, why: &str) -> Finding {
        Finding {
            detector,
            kind: "k",
            credential: "c".into(),
            start: 0,
            end: 0,
            rows,
            score,
            severity: Severity::of_score(score),
            explanation: why.into(),
        }
    }

    #[test]
    fn strongest_finding_gives_the_reason_and_detectors_are_merged() {
        let f = flags(&[finding("b", vec![1, 2], 30.0, "weak"), finding("a", vec![2, 3], 90.0, "strong")], &[]);
        assert_eq!(f.iter().map(|f| f.row).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(f[1].detectors, vec!["a", "b"]);
        assert_eq!((f[1].severity, &*f[1].reason), (Severity::High, "strong"));
        assert_eq!(&*f[0].reason, "weak");
        assert!(flags(&[], &[]).is_empty());
    }
}
