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

/// Calls `write` with the cells of each flagged event, in column order.
fn for_each_record(events: &Events<'_>, flags: &[Flag], mut write: impl FnMut(&[Cell<'_>])) -> PolarsResult<()> {
    let text = |name: &str| Strings::of_frame(events, name);
    let ts = crate::detect::timestamps(events)?;
    let texts: Vec<Option<Strings>> = [col::CREDENTIAL, col::CREDENTIAL_HINT, col::CREDENTIAL_LABEL, col::SOURCE_IP]
        .iter()
        .map(|n| text(n))
        .collect::<PolarsResult<_>>()?;
    let geo = events.geo();
    let (method, path) = (text(col::METHOD)?, text(col::PATH)?);
    let status = events.column(col::STATUS)?.i32()?.clone();
    let bytes = events.column(col::BYTES)?.i64()?.clone();
    let (ua, file) = (text(col::USER_AGENT)?, text(col::SOURCE_FILE)?);
    let line = events.column(col::SOURCE_LINE)?.u64()?.clone();
    fn get<'a>(c: &Option<Strings<'a>>, i: usize) -> Cell<'a> {
        Cell::Text(c.as_ref().and_then(|c| c.get(i)).map(Cow::Borrowed))
    }
    let mut row: Vec<Cell<'_>> = Vec::with_capacity(COLUMNS.len());
    for f in flags {
        let i = f.row as usize;
        row.clear();
        row.push(Cell::Text(ts.get(i).map(|t| format_rfc3339(t).into())));
        row.extend(texts.iter().map(|c| get(c, i)));
        row.push(Cell::Text(geo.country(i).map(Cow::Borrowed)));
        row.push(Cell::Text(geo.city(i).map(Cow::Borrowed)));
        row.push(Cell::Int(geo.asn(i)));
        row.push(Cell::Text(geo.as_org(i).map(Cow::Borrowed)));
        row.push(get(&method, i));
        row.push(get(&path, i));
        row.push(Cell::Int(status.get(i).map(i64::from)));
        row.push(Cell::Int(bytes.get(i)));
        row.push(get(&ua, i));
        row.push(get(&file, i));
        row.push(Cell::Int(line.get(i).map(|l| l as i64)));
        row.push(Cell::Text(Some(f.detectors.join(";").into())));
        row.push(Cell::Float(f.score));
        row.push(Cell::Text(Some(f.severity.name().into())));
        row.push(Cell::Text(f.incident_id.as_deref().map(Cow::Borrowed)));
        row.push(Cell::Text(Some(Cow::Borrowed(&f.reason))));
        write(&row);
    }
    Ok(())
}

fn frame_err(source: PolarsError) -> Error {
    Error::Frame { context: "writing flagged events", source }
}

/// `flagged_events.csv`.
pub fn to_csv(events: &Events<'_>, flags: &[Flag]) -> Result<Vec<u8>> {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for_each_record(events, flags, |cells| {
        for (k, cell) in cells.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            // Writing to a string cannot fail.
            let _ = match cell {
                Cell::Text(v) => {
                    out.push_str(&csv_field(v.as_deref().unwrap_or("")));
                    Ok(())
                }
                Cell::Int(Some(v)) => write!(out, "{v}"),
                Cell::Int(None) => Ok(()),
                Cell::Float(v) => write!(out, "{v:.1}"),
            };
        }
        out.push('\n');
    })
    .map_err(frame_err)?;
    Ok(out.into_bytes())
}

/// `flagged_events.jsonl`: the same columns, one JSON object per line, keys in column order.
pub fn to_jsonl(events: &Events<'_>, flags: &[Flag]) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    for_each_record(events, flags, |cells| {
        out.push(b'{');
        for (k, (name, cell)) in COLUMNS.iter().zip(cells).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            // Text, numbers and `null` serialise without error.
            let _ = match cell {
                Cell::Text(v) => serde_json::to_writer(&mut out, v),
                Cell::Int(v) => serde_json::to_writer(&mut out, v),
                Cell::Float(v) => serde_json::to_writer(&mut out, &((v * 10.0).round() / 10.0)),
            };
        }
        out.extend_from_slice(b"}\n");
    })
    .map_err(frame_err)?;
    Ok(out)
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
