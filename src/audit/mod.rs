//! `audit`: the nightly run. Reads only the inputs it has not seen, judges them against the
//! history kept in a state directory, writes the same outputs as `scan` for the new events,
//! then folds them into the state.
//!
//! The detectors run over the retained history and the new events together and only what
//! concerns the new events is reported, so an audit over nightly slices reaches the findings of
//! one scan over all of them, as far as the retention keeps the history they need.

pub mod ledger;
pub mod state;

use crate::detect::incident::{endpoint, Incident};
use crate::detect::unfamiliar::prefix_of;
use crate::detect::{KeyRows, Severity, Strings};
use crate::enrich::geo_col;
use crate::error::{Error, Result};
use crate::ingest::{self, Progress};
use crate::report::{summary, Output, OutputDir};
use crate::scan::{self, Run, ScanOptions, Timings};
use crate::schema::col;
use crate::text::thousands;
use crate::timestamp::format_rfc3339;
use ledger::{Plan, Planned};
use polars::prelude::*;
use rayon::prelude::*;
use serde_json::json;
use state::{CredentialDigest, StateDir};
use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// What `audit` reads, where it keeps its state, and how long it remembers.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Inputs, output directory and detector settings, as for `scan`.
    pub scan: ScanOptions,
    pub state_dir: PathBuf,
    /// History older than this many days before the latest event is forgotten.
    pub retain_days: u32,
}

/// How an audit ended (some inputs may still have failed).
pub struct AuditOutcome {
    pub errors: Vec<Error>,
    pub totals: summary::Totals,
    /// Inputs read (new or grown) and inputs skipped because they were audited before.
    pub files_read: usize,
    pub files_skipped: usize,
    /// Incidents among the new events, in id order.
    pub incidents: Vec<IncidentBrief>,
    pub report: PathBuf,
    pub timings: Timings,
}

/// An incident in one line.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentBrief {
    pub id: String,
    pub severity: Severity,
    pub key: String,
}

impl AuditOutcome {
    /// The most severe incident, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.incidents.iter().map(|i| i.severity).max()
    }

    /// One line for a scheduler's mail or a chat hook: verdict, incidents at or above
    /// `fail_on`, what was read, where the report is.
    pub fn one_line(&self, fail_on: Severity) -> String {
        let alarming: Vec<&IncidentBrief> = self.incidents.iter().filter(|i| i.severity >= fail_on).collect();
        let verdict = if !self.errors.is_empty() {
            "ERROR"
        } else if alarming.is_empty() {
            "OK"
        } else {
            "ALERT"
        };
        let incidents = if alarming.is_empty() {
            let below = if self.incidents.is_empty() {
                String::new()
            } else {
                format!(" ({} below)", plural(self.incidents.len(), "incident"))
            };
            format!("no incidents at {fail_on} or above{below}")
        } else {
            let list: Vec<String> =
                alarming.iter().take(3).map(|i| format!("{} {} {}", i.id, i.severity, i.key)).collect();
            let more = if alarming.len() > 3 { format!(", {} more", alarming.len() - 3) } else { String::new() };
            let below = self.incidents.len() - alarming.len();
            let below = if below > 0 { format!(" ({below} more below {fail_on})") } else { String::new() };
            format!("{} at {fail_on} or above: {}{more}{below}", plural(alarming.len(), "incident"), list.join(", "))
        };
        let read = if self.files_read == 0 {
            "nothing new".to_string()
        } else {
            format!("{} from {}", counted(self.totals.rows_accepted, "new event"), plural(self.files_read, "file"))
        };
        let mut parts = vec![format!("{verdict}: {incidents}"), read];
        if self.totals.rows_rejected > 0 {
            parts.push(format!("{} rejected", counted(self.totals.rows_rejected, "row")));
        }
        if self.files_skipped > 0 {
            parts.push(format!("{} already audited", plural(self.files_skipped, "file")));
        }
        if !self.errors.is_empty() {
            parts.push(format!("{} failed (see the messages above)", plural(self.errors.len(), "input")));
        }
        parts.push(format!("report {}", self.report.join("report.html").display()));
        format!("leakhound audit {}", parts.join("; "))
    }
}

fn plural(n: usize, what: &str) -> String {
    counted(n as u64, what)
}

/// `1 row`, `1,200 rows`.
fn counted(n: u64, what: &str) -> String {
    format!("{} {what}{}", thousands(n as f64), if n == 1 { "" } else { "s" })
}

/// Runs one audit: see the module documentation.
pub fn audit(opts: &AuditOptions, progress: &dyn Progress) -> Result<AuditOutcome> {
    let dbs = scan::open_databases(&opts.scan.geoip)?;
    let state_dir = StateDir::open(&opts.state_dir)?;
    let clock = std::time::Instant::now();
    let stored = state_dir.load()?;
    let loading = clock.elapsed();
    let has_geo = |f: &DataFrame| f.column(geo_col::IP_CLASS).is_ok();
    if dbs.is_empty() && has_geo(&stored.history) {
        return Err(Error::Usage(format!(
            "{}: this state was built with GeoIP databases and this audit has none: pass the same --geoip-dir (or --geoip-city/--geoip-asn/--geoip-anon) as before, so that new sources are judged like the old ones",
            opts.state_dir.display()
        )));
    }
    let out = OutputDir::create(&opts.scan.out_dir)?;
    let mut ingest_opts = scan::ingest_options(&opts.scan);
    ingest_opts.skip_dirs.push(opts.state_dir.clone());

    let mut timings = Timings::default();
    let clock = std::time::Instant::now();
    let (inputs, expand_errors) = ingest::expand(&opts.scan.inputs, &ingest_opts.skip_dirs);
    let (planned, read_errors) = ledger::plan(&inputs, &stored.manifest.files)?;
    let to_read: Vec<&Planned> = planned.iter().filter(|p| !matches!(p.plan, Plan::Seen { .. })).collect();
    let inputs: Vec<ingest::Input> = to_read.iter().map(|p| p.input.clone()).collect();
    let errors = expand_errors.into_iter().chain(read_errors).collect();
    let mut ingested = ingest::ingest_inputs(&inputs, errors, &ingest_opts, progress)?;
    for p in &to_read {
        let after = match p.plan {
            Plan::Grown { after_line } => after_line,
            _ => 0,
        };
        let upto = if p.partial { p.lines.unwrap_or(u64::MAX) } else { u64::MAX };
        if after > 0 || upto < u64::MAX {
            keep_lines(&mut ingested, &p.input.name(), after, upto)?;
        }
    }
    timings.read = clock.elapsed();
    progress.stage("geolocating");
    let (geo, places) = scan::geolocate(&mut ingested.events, &dbs, ingested.addresses.take().as_ref())?;
    // The history keeps each event's answers as columns: the answers it had when it was new.
    if let Some(places) = places {
        ingested.events = places.expander().expand(&ingested.events).map_err(frame_err("adding GeoIP columns"))?;
    }
    timings.enrich = clock.elapsed() - timings.read;

    let (all, new) = combine(&stored.history, &ingested.events)?;
    let extra = Output::new("audit.json", audit_json(opts, &planned, &stored.manifest, &ingested));
    let run = Run { all: (&all).into(), new: Some(&new), ingested: &ingested, geo: &geo };
    let verdict =
        scan::judge_and_write(&run, (&ingested.events).into(), &opts.scan, &out, vec![extra], progress, &mut timings)?;

    // The report is written before the state: if the state cannot be written, the next audit
    // reads these inputs again rather than losing their findings.
    // With nothing taken in, the state stays as it is.
    if !to_read.is_empty() {
        let clock = std::time::Instant::now();
        let history = retained(&all, &new, opts.retain_days)?;
        let lines = last_lines(&ingested)?;
        let read: Vec<(&Planned, u64)> = to_read
            .iter()
            .filter(|p| ingested.files.iter().any(|f| f.file == p.input.name() && f.error.is_none()))
            .map(|p| {
                // What the next audit starts after: the lines counted, else the last one read.
                let after = if let Plan::Grown { after_line } = p.plan { after_line } else { 0 };
                let read = lines.get(&p.input.name()).copied().unwrap_or(after).max(after);
                (*p, p.lines.unwrap_or(read))
            })
            .collect();
        let mut manifest = stored.manifest;
        manifest.files = ledger::updated(std::mem::take(&mut manifest.files), &read, manifest.generation + 1);
        manifest.retain_days = opts.retain_days;
        let ts = crate::detect::timestamps(&history).map_err(frame_err("reading event times"))?;
        manifest.latest_event = ts.max().map(format_rfc3339);
        manifest.credentials = digests(&history)?;
        state_dir.commit(&mut manifest, &history)?;
        timings.state = clock.elapsed();
    }
    timings.state += loading;

    Ok(AuditOutcome {
        errors: ingested.errors,
        totals: summary::Totals::of(&ingested.files),
        files_read: to_read.len(),
        files_skipped: planned.len() - to_read.len(),
        incidents: verdict.incidents.iter().map(brief).collect(),
        report: opts.scan.out_dir.clone(),
        timings,
    })
}

fn frame_err(context: &'static str) -> impl Fn(PolarsError) -> Error {
    move |source| Error::Frame { context, source }
}

fn brief(i: &Incident) -> IncidentBrief {
    IncidentBrief {
        id: i.id.clone(),
        severity: i.severity,
        key: crate::detect::key_name(&i.credential, i.label.as_deref(), None),
    }
}

/// Keeps of a file's rows those on lines `after + 1 ..= upto`: a grown file's rows that an
/// earlier audit read, and a last line still being written, are dropped from the events, the
/// rejects and the file's counts.
fn keep_lines(ingested: &mut ingest::Ingested, file: &str, after: u64, upto: u64) -> Result<()> {
    let wanted = |line: u64| line > after && line <= upto;
    let events = &ingested.events;
    let files = events.column(col::SOURCE_FILE).and_then(Strings::of).map_err(frame_err("skipping lines"))?;
    let lines = events.column(col::SOURCE_LINE).and_then(|c| c.u64().cloned()).map_err(frame_err("skipping lines"))?;
    let keep: BooleanChunked =
        lines.iter().enumerate().map(|(i, l)| files.get(i) != Some(file) || l.is_some_and(wanted)).collect();
    let dropped = keep.iter().filter(|k| *k == Some(false)).count() as u64;
    ingested.events = events.filter(&keep).map_err(frame_err("skipping lines"))?;
    ingested.addresses = None;
    ingested.rejects.retain(|r| r.file != file || wanted(r.line));
    if let Some(report) = ingested.files.iter_mut().find(|f| f.file == file) {
        report.rows_accepted = report.rows_accepted.saturating_sub(dropped);
        report.rejects_by_reason.clear();
        for r in ingested.rejects.iter().filter(|r| r.file == file) {
            *report.rejects_by_reason.entry(r.code.to_string()).or_default() += 1;
        }
        report.rows_rejected = report.rejects_by_reason.values().sum();
        report.rows_read = report.rows_accepted + report.rows_rejected;
    }
    ingested.credentials = usage(&ingested.events, &ingested.credentials)?;
    Ok(())
}

/// Credential usage recounted over `events` (after rows were dropped), keeping the
/// credentials that still have rows.
fn usage(events: &DataFrame, before: &[ingest::CredentialUsage]) -> Result<Vec<ingest::CredentialUsage>> {
    let keys = crate::detect::rows_by_key(events).map_err(frame_err("counting credentials"))?;
    let count = events.column(col::COUNT).and_then(|c| c.i64().cloned()).map_err(frame_err("counting credentials"))?;
    Ok(before
        .iter()
        .filter_map(|u| {
            let k = keys.iter().find(|k| k.key == u.credential.id)?;
            let requests = k.rows.iter().map(|&i| count.get(i).unwrap_or(1)).sum();
            Some(ingest::CredentialUsage { credential: u.credential.clone(), rows: k.rows.len() as u64, requests })
        })
        .collect())
}

/// The last line read of each input file (accepted or rejected).
fn last_lines(ingested: &ingest::Ingested) -> Result<std::collections::HashMap<String, u64>> {
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    let events = &ingested.events;
    let files = events.column(col::SOURCE_FILE).and_then(Strings::of).map_err(frame_err("counting lines"))?;
    let lines = events.column(col::SOURCE_LINE).and_then(|c| c.u64().cloned()).map_err(frame_err("counting lines"))?;
    for (i, l) in lines.iter().enumerate() {
        let f = files.get(i);
        if let (Some(f), Some(l)) = (f, l) {
            let e = last.entry(f.to_string()).or_default();
            *e = (*e).max(l);
        }
    }
    for r in &ingested.rejects {
        let e = last.entry(r.file.clone()).or_default();
        *e = (*e).max(r.line);
    }
    Ok(last)
}

/// The history and the new events as one frame sorted by time (history first among equal
/// times), and which of its rows are new. Columns missing on one side are null there.
fn combine(history: &DataFrame, new: &DataFrame) -> Result<(DataFrame, Vec<bool>)> {
    let err = frame_err("joining the history and the new events");
    if history.width() == 0 {
        return Ok((new.clone(), vec![true; new.height()]));
    }
    let mut names: Vec<PlSmallStr> = new.get_column_names_owned();
    for c in history.get_column_names_owned() {
        if !names.contains(&c) {
            names.push(c);
        }
    }
    let align = |frame: &DataFrame, other: &DataFrame, is_new: bool| -> PolarsResult<DataFrame> {
        let mut columns = Vec::with_capacity(names.len() + 1);
        for name in &names {
            let column = match frame.column(name) {
                Ok(c) => c.clone(),
                Err(_) => Column::full_null(name.clone(), frame.height(), other.column(name)?.dtype()),
            };
            columns.push(column);
        }
        columns.push(Column::new("__new".into(), vec![is_new; frame.height()]));
        DataFrame::new(frame.height(), columns)
    };
    // Same dtypes on both sides: a history written by this version has the canonical types,
    // with text as text (the new events' codes are the run's own).
    let new = crate::factor::decoded(new).map_err(&err)?;
    let mut all = align(history, &new, false).map_err(&err)?;
    let aligned_new = align(&new, history, true).map_err(&err)?;
    all.vstack_mut(&aligned_new).map_err(&err)?;
    let all = all.sort([col::TIMESTAMP], SortMultipleOptions::default().with_maintain_order(true)).map_err(&err)?;
    let mask: Vec<bool> =
        all.column("__new").and_then(|c| c.bool().cloned()).map_err(&err)?.iter().map(|b| b == Some(true)).collect();
    let all = all.drop("__new").map_err(&err)?;
    Ok((all, mask))
}

/// What the state keeps of the events: the history columns (endpoints instead of full paths)
/// and the GeoIP columns, for the days within `retain_days` of the latest event.
fn retained(all: &DataFrame, new: &[bool], retain_days: u32) -> Result<DataFrame> {
    let err = frame_err("building the audit history");
    if all.height() == 0 {
        return Ok(DataFrame::empty());
    }
    let ts = crate::detect::timestamps(all).map_err(&err)?;
    let cutoff = ts.max().unwrap_or(i64::MIN).saturating_sub(i64::from(retain_days) * DAY);
    let keep: BooleanChunked = ts.iter().map(|t| t.is_some_and(|t| t >= cutoff)).collect();
    let geo: Vec<&str> = [
        geo_col::IP_CLASS,
        geo_col::COUNTRY,
        geo_col::COUNTRY_NAME,
        geo_col::CITY,
        geo_col::LATITUDE,
        geo_col::LONGITUDE,
        geo_col::ACCURACY_KM,
        geo_col::ASN,
        geo_col::AS_ORG,
        geo_col::NETWORK,
        geo_col::IS_ANONYMOUS,
        geo_col::IS_ANONYMOUS_VPN,
        geo_col::IS_HOSTING_PROVIDER,
        geo_col::IS_PUBLIC_PROXY,
        geo_col::IS_RESIDENTIAL_PROXY,
        geo_col::IS_TOR_EXIT_NODE,
    ]
    .into_iter()
    .filter(|c| all.column(c).is_ok())
    .collect();
    let names: Vec<&str> = state::HISTORY_COLUMNS.iter().copied().chain(geo).collect();
    // The history's paths are endpoints already; the new events' are folded now.
    let mut kept = all.select(names).map_err(&err)?;
    let paths = kept.column(col::PATH).and_then(|c| c.str().cloned()).map_err(&err)?;
    let endpoints: StringChunked = paths
        .iter()
        .zip(new)
        .map(|(p, &is_new)| p.map(|p| if is_new { Cow::Owned(endpoint(p)) } else { Cow::Borrowed(p) }))
        .collect();
    kept.with_column(endpoints.with_name(col::PATH.into()).into_series().into_column()).map_err(&err)?;
    kept.filter(&keep).map_err(&err)
}

fn get<'a>(c: &Option<Strings<'a>>, i: usize) -> Option<&'a str> {
    c.as_ref().and_then(|c| c.get(i))
}

/// The distinct values of a text column on some rows.
fn distinct<'a>(c: &Option<Strings<'a>>, rows: &[usize]) -> HashSet<&'a str> {
    rows.iter().filter_map(|&i| get(c, i)).collect()
}

/// Each credential as the state summarises it.
fn digests(history: &DataFrame) -> Result<Vec<CredentialDigest>> {
    if history.height() == 0 {
        return Ok(Vec::new());
    }
    let err = frame_err("summarising the audit history");
    let keys: Vec<KeyRows<'_>> = crate::detect::rows_by_key(history).map_err(&err)?;
    let ts = crate::detect::timestamps(history).map_err(&err)?;
    let text = |name: &str| Strings::of_frame(history, name).ok().flatten();
    let (ip, label, hint) = (text(col::SOURCE_IP), text(col::CREDENTIAL_LABEL), text(col::CREDENTIAL_HINT));
    let (network, country) = (text(geo_col::NETWORK), text(geo_col::COUNTRY));
    let asn = history.column(geo_col::ASN).ok().and_then(|c| c.i64().ok().cloned());
    let count = history.column(col::COUNT).and_then(|c| c.i64().cloned()).map_err(&err)?;
    Ok(keys
        .par_iter()
        .map(|k| {
            let times = || k.rows.iter().filter_map(|&i| ts.get(i));
            let networks: HashSet<Cow<'_, str>> = k
                .rows
                .iter()
                .filter_map(|&i| match get(&network, i) {
                    Some(n) => Some(Cow::Borrowed(n)),
                    None => get(&ip, i).and_then(|s| s.parse().ok()).map(|a| Cow::Owned(prefix_of(a))),
                })
                .collect();
            let mut countries: Vec<String> = distinct(&country, &k.rows).into_iter().map(str::to_string).collect();
            countries.sort();
            let first = k.rows[0];
            let mut hour_of_week = vec![0i64; 168];
            for &i in &k.rows {
                if let Some(t) = ts.get(i) {
                    // 1970-01-01 was a Thursday: shift by three days to start on Monday.
                    hour_of_week[(t.div_euclid(HOUR) + 72).rem_euclid(168) as usize] += count.get(i).unwrap_or(1);
                }
            }
            CredentialDigest {
                credential: k.key.to_string(),
                label: get(&label, first).map(str::to_string),
                hint: get(&hint, first).map(str::to_string),
                first_seen: times().min().map(format_rfc3339).unwrap_or_default(),
                last_seen: times().max().map(format_rfc3339).unwrap_or_default(),
                requests: k.rows.iter().map(|&i| count.get(i).unwrap_or(1)).sum(),
                addresses: distinct(&ip, &k.rows).len(),
                networks: networks.len(),
                asns: k
                    .rows
                    .iter()
                    .filter_map(|&i| asn.as_ref().and_then(|a| a.get(i)))
                    .collect::<HashSet<i64>>()
                    .len(),
                countries,
                hour_of_week,
            }
        })
        .collect())
}

/// `audit.json`: what this audit read and skipped, and the state it judged against.
fn audit_json(
    opts: &AuditOptions,
    planned: &[Planned],
    before: &state::Manifest,
    ingested: &ingest::Ingested,
) -> Vec<u8> {
    let files: Vec<serde_json::Value> = planned
        .iter()
        .map(|p| {
            let report = ingested.files.iter().find(|f| f.file == p.input.name());
            match &p.plan {
                Plan::New => json!({"file": p.input.name(), "status": "new", "rows_read": report.map(|r| r.rows_read)}),
                Plan::Grown { after_line } => json!({"file": p.input.name(), "status": "grown", "read_after_line": after_line, "rows_read": report.map(|r| r.rows_read)}),
                Plan::Seen { path } => json!({"file": p.input.name(), "status": "already_audited", "audited_as": path}),
            }
        })
        .collect();
    let value = json!({
        "state": opts.state_dir.display().to_string(),
        "generation_before": before.generation,
        "retain_days": opts.retain_days,
        "history_before": {
            "rows": before.history.as_ref().map_or(0, |h| h.rows),
            "latest_event": before.latest_event,
        },
        "files": files,
    });
    let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(days: &[i64]) -> DataFrame {
        let n = days.len();
        df!(
            col::TIMESTAMP => days.iter().map(|d| d * DAY).collect::<Vec<i64>>(),
            col::CREDENTIAL => vec!["k"; n],
            col::CREDENTIAL_HINT => vec![Some("…abcd"); n],
            col::CREDENTIAL_LABEL => vec![None::<&str>; n],
            col::SOURCE_IP => vec!["203.0.113.7"; n],
            col::METHOD => vec!["GET"; n],
            col::PATH => vec!["/v2/users/123456?page=2"; n],
            col::STATUS => vec![200i32; n],
            col::BYTES => vec![100i64; n],
            col::USER_AGENT => vec!["svc/1"; n],
            col::COUNT => vec![1i64; n],
            col::SOURCE_FILE => vec!["a.log"; n],
            col::SOURCE_LINE => (1..=n as u64).collect::<Vec<u64>>(),
        )
        .unwrap()
    }

    #[test]
    fn the_history_keeps_the_retained_days_and_endpoints_only() {
        let history = retained(&events(&[0, 10, 89, 100]), &[true; 4], 90).unwrap();
        assert_eq!(history.height(), 3, "day 0 is more than 90 days before day 100");
        let names: Vec<String> = history.get_column_names().iter().map(|n| n.to_string()).collect();
        assert_eq!(names, state::HISTORY_COLUMNS.to_vec());
        let path = history.column(col::PATH).unwrap().str().unwrap().get(0).unwrap().to_string();
        assert_eq!(path, "/v2/users/{id}");
        assert_eq!(retained(&events(&[]), &[], 90).unwrap().height(), 0);
    }

    #[test]
    fn new_events_are_merged_in_time_order_and_marked() {
        let history = retained(&events(&[1, 3]), &[true; 2], 90).unwrap();
        let (all, new) = combine(&history, &events(&[2, 4])).unwrap();
        let ts = crate::detect::timestamps(&all).unwrap();
        assert_eq!(ts.into_no_null_iter().collect::<Vec<_>>(), vec![DAY, 2 * DAY, 3 * DAY, 4 * DAY]);
        assert_eq!(new, vec![false, true, false, true]);
        // History rows have no file or line; new rows keep theirs.
        let lines = all.column(col::SOURCE_LINE).unwrap().u64().unwrap().clone();
        assert_eq!(lines.iter().collect::<Vec<_>>(), vec![None, Some(1), None, Some(2)]);
        let (all, new) = combine(&DataFrame::empty(), &events(&[5])).unwrap();
        assert_eq!((all.height(), new), (1, vec![true]));
    }

    #[test]
    fn the_one_line_summary() {
        let mut outcome = AuditOutcome {
            errors: Vec::new(),
            totals: summary::Totals { files: 2, rows_read: 1201, rows_accepted: 1200, rows_rejected: 1 },
            files_read: 2,
            files_skipped: 0,
            incidents: vec![
                IncidentBrief { id: "INC-001".into(), severity: Severity::Critical, key: "prod-bot".into() },
                IncidentBrief { id: "INC-002".into(), severity: Severity::Low, key: "mobile-app".into() },
            ],
            report: PathBuf::from("out"),
            timings: Timings::default(),
        };
        assert_eq!(
            outcome.one_line(Severity::High),
            "leakhound audit ALERT: 1 incident at high or above: INC-001 critical prod-bot (1 more below high); 1,200 new events from 2 files; 1 row rejected; report out/report.html"
        );
        outcome.incidents.remove(0);
        assert!(outcome
            .one_line(Severity::High)
            .starts_with("leakhound audit OK: no incidents at high or above (1 incident below);"));
        outcome.files_read = 0;
        outcome.files_skipped = 2;
        outcome.totals = summary::Totals::default();
        outcome.incidents.clear();
        assert_eq!(
            outcome.one_line(Severity::High),
            "leakhound audit OK: no incidents at high or above; nothing new; 2 files already audited; report out/report.html"
        );
    }
}
