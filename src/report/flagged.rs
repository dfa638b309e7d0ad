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
use std::collections::BTreeMap;

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
    pub reason: String,
    pub incident_id: Option<String>,
}

/// One flag per event covered by any finding: every detector and the reason of the strongest
/// finding; the severity, score and id of the event's incident (or of the finding itself
/// without incidents). Sorted by row (the frame is in time order).
pub fn flags(findings: &[Finding], incidents: &[Incident]) -> Vec<Flag> {
    let mut by_row: BTreeMap<u32, Flag> = BTreeMap::new();
    for f in findings {
        for &row in &f.rows {
            let flag = by_row.entry(row).or_insert_with(|| Flag {
                row,
                detectors: Vec::new(),
                score: f.score,
                severity: f.severity,
                reason: f.explanation.clone(),
                incident_id: None,
            });
            if !flag.detectors.contains(&f.detector) {
                flag.detectors.push(f.detector);
                flag.detectors.sort_unstable();
            }
            if (f.severity, f.score) > (flag.severity, flag.score) {
                flag.score = f.score;
                flag.severity = f.severity;
                flag.reason = f.explanation.clone();
            }
        }
    }
    for inc in incidents {
        for row in &inc.rows {
            if let Some(flag) = by_row.get_mut(row) {
                flag.incident_id = Some(inc.id.clone());
                flag.severity = inc.severity;
                flag.score = inc.score;
            }
        }
    }
    by_row.into_values().collect()
}

enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Float(f64),
}

fn records(events: &Events<'_>, flags: &[Flag]) -> PolarsResult<Vec<Vec<Cell>>> {
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
    let get = |c: &Option<Strings>, i: usize| Cell::Text(c.as_ref().and_then(|c| c.get(i)).map(str::to_string));
    Ok(flags
        .iter()
        .map(|f| {
            let i = f.row as usize;
            let mut row = vec![Cell::Text(ts.get(i).map(format_rfc3339))];
            row.extend(texts.iter().map(|c| get(c, i)));
            row.push(Cell::Text(geo.country(i).map(str::to_string)));
            row.push(Cell::Text(geo.city(i).map(str::to_string)));
            row.push(Cell::Int(geo.asn(i)));
            row.push(Cell::Text(geo.as_org(i).map(str::to_string)));
            row.push(get(&method, i));
            row.push(get(&path, i));
            row.push(Cell::Int(status.get(i).map(i64::from)));
            row.push(Cell::Int(bytes.get(i)));
            row.push(get(&ua, i));
            row.push(get(&file, i));
            row.push(Cell::Int(line.get(i).map(|l| l as i64)));
            row.push(Cell::Text(Some(f.detectors.join(";"))));
            row.push(Cell::Float(f.score));
            row.push(Cell::Text(Some(f.severity.name().to_string())));
            row.push(Cell::Text(f.incident_id.clone()));
            row.push(Cell::Text(Some(f.reason.clone())));
            row
        })
        .collect())
}

fn frame_err(source: PolarsError) -> Error {
    Error::Frame { context: "writing flagged events", source }
}

/// `flagged_events.csv`.
pub fn to_csv(events: &Events<'_>, flags: &[Flag]) -> Result<Vec<u8>> {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    for record in records(events, flags).map_err(frame_err)? {
        let cells: Vec<String> = record
            .iter()
            .map(|c| match c {
                Cell::Text(v) => csv_field(v.as_deref().unwrap_or("")).into_owned(),
                Cell::Int(v) => v.map(|v| v.to_string()).unwrap_or_default(),
                Cell::Float(v) => format!("{v:.1}"),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// `flagged_events.jsonl`: the same columns, one JSON object per line, keys in column order.
pub fn to_jsonl(events: &Events<'_>, flags: &[Flag]) -> Result<Vec<u8>> {
    let mut out = String::new();
    for record in records(events, flags).map_err(frame_err)? {
        out.push('{');
        for (k, (name, cell)) in COLUMNS.iter().zip(&record).enumerate() {
            if k > 0 {
                out.push(',');
            }
            let value = match cell {
                Cell::Text(v) => serde_json::to_string(v),
                Cell::Int(v) => serde_json::to_string(v),
                Cell::Float(v) => serde_json::to_string(&((v * 10.0).round() / 10.0)),
            }
            .unwrap_or_else(|_| "null".into());
            out.push_str(&format!("\"{name}\":{value}"));
        }
        out.push_str("}\n");
    }
    Ok(out.into_bytes())
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
        assert_eq!((f[1].severity, f[1].reason.as_str()), (Severity::High, "strong"));
        assert_eq!(f[0].reason, "weak");
        assert!(flags(&[], &[]).is_empty());
    }
}
