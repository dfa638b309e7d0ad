//! Ingest: reading every input format into one canonical events frame, accounting for every row.
//!
//! Each input is read, its format chosen ([`detect`]), parsed by the format's module into text
//! cells ([`table::RawTable`]), then normalised into events ([`builder`]). A bad row is
//! rejected with a reason; a bad file is reported and the other files are still read.

mod alb;
mod builder;
mod clf;
mod csv;
mod detect;
mod fields;
mod json;
mod jsonl;
mod linewise;
mod source;
mod table;
mod tokens;

pub(crate) use builder::{dictionary, gather};
pub use builder::{parse_ip, Credential, CredentialKind};
pub use csv::split_record as split_csv_record;
pub use detect::Format;
pub use source::{expand, Input};

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use builder::EventBuilder;
use chrono_tz::Tz;
use detect::Detected;
use polars::prelude::DataFrame;
use std::collections::BTreeMap;
use table::{Problem, RawTable};

/// How inputs are read.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Force one format for every input instead of detecting it.
    pub format: Option<Format>,
    pub mapping: Mapping,
    /// Credential for rows that carry none.
    pub credential: Option<String>,
    /// Zone for timestamps without an offset (overrides the mapping's `timezone`).
    pub assume_tz: Option<Tz>,
    /// A file with a larger share of rejected rows is left out as "not in the expected format".
    pub max_reject_ratio: f64,
    /// Labels for credentials (fingerprint or id → name), on top of the mapping's `[labels]`.
    pub key_labels: BTreeMap<String, String>,
    /// Directories never read when walking an input directory (the output directory).
    pub skip_dirs: Vec<std::path::PathBuf>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            format: None,
            mapping: Mapping::default(),
            credential: None,
            assume_tz: None,
            max_reject_ratio: 0.5,
            key_labels: BTreeMap::new(),
            skip_dirs: Vec::new(),
        }
    }
}

/// A rejected row: where it was and why. Never holds the raw line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub file: String,
    pub line: u64,
    pub code: &'static str,
    pub reason: String,
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub file: String,
    pub format: Option<Format>,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Rejected rows by reason code.
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Why the file was left out, if it was.
    pub error: Option<String>,
}

/// A credential and how much it was used.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialUsage {
    pub credential: Credential,
    pub rows: u64,
    /// Requests, weighted by the `count` column.
    pub requests: i64,
}

/// Everything ingest produced.
pub struct Ingested {
    /// Canonical events, sorted by time (columns in [`crate::schema::col`]).
    pub events: DataFrame,
    pub files: Vec<FileReport>,
    pub rejects: Vec<Reject>,
    /// Credentials sorted by id.
    pub credentials: Vec<CredentialUsage>,
    /// Files that could not be read or were left out.
    pub errors: Vec<Error>,
}

/// Receives progress while inputs are read and analysed (the binary draws a bar; tests ignore
/// it). Whoever drives the run calls `finish` at the end.
pub trait Progress {
    fn start(&self, _total_bytes: u64) {}
    fn file(&self, _name: &str) {}
    fn advance(&self, _bytes: u64) {}
    /// A stage after reading, e.g. "detecting".
    fn stage(&self, _what: &str) {}
    fn finish(&self) {}
}

/// No progress display.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Reads all inputs named by `args` (files, directories, globs, `-`).
pub fn ingest(args: &[String], opts: &IngestOptions, progress: &dyn Progress) -> Result<Ingested> {
    let (inputs, errors) = source::expand(args, &opts.skip_dirs);
    ingest_inputs(&inputs, errors, opts, progress)
}

/// Reads inputs already expanded by [`source::expand`]; `errors` are its errors about
/// arguments that named nothing, reported with the files.
pub fn ingest_inputs(
    inputs: &[Input],
    mut errors: Vec<Error>,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<Ingested> {
    let mut files: Vec<FileReport> = errors
        .iter()
        .map(|e| FileReport {
            file: e.input_path().map_or_else(String::new, |p| p.display().to_string()),
            format: None,
            rows_read: 0,
            rows_accepted: 0,
            rows_rejected: 0,
            rejects_by_reason: BTreeMap::new(),
            error: Some(e.to_string()),
        })
        .collect();
    let mut builder = EventBuilder::default();
    let mut rejects = Vec::new();
    progress.start(inputs.iter().map(Input::size).sum());
    for input in inputs {
        progress.file(&input.name());
        let (report, file_rejects, error) = ingest_one(input, opts, &mut builder, progress);
        progress.advance(input.size());
        rejects.extend(file_rejects);
        files.push(report);
        errors.extend(error);
    }

    let usage = builder.usage();
    let mut labels = opts.mapping.labels.clone();
    labels.extend(opts.key_labels.clone());
    let (events, credentials) =
        builder.finish(&labels).map_err(|source| Error::Frame { context: "building the events frame", source })?;
    let mut credentials: Vec<CredentialUsage> = credentials
        .into_iter()
        .zip(usage)
        .filter(|(_, (rows, _))| *rows > 0)
        .map(|(credential, (rows, requests))| CredentialUsage { credential, rows, requests })
        .collect();
    credentials.sort_by(|a, b| a.credential.id.cmp(&b.credential.id));
    Ok(Ingested { events, files, rejects, credentials, errors })
}

/// Reads one input into the builder. On a file-level problem the file's events are removed
/// again and its rows are reported as rejected.
fn ingest_one(
    input: &Input,
    opts: &IngestOptions,
    builder: &mut EventBuilder,
    progress: &dyn Progress,
) -> (FileReport, Vec<Reject>, Option<Error>) {
    let name = input.name();
    let mut report = FileReport {
        file: name.clone(),
        format: None,
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        rejects_by_reason: BTreeMap::new(),
        error: None,
    };
    let fail = |mut report: FileReport, e: Error| {
        report.error = Some(e.to_string());
        (report, Vec::new(), Some(e))
    };
    let bytes = match source::read(input) {
        Ok(b) => b,
        Err(e) => return fail(report, e),
    };
    let bytes = detect::strip_bom(&bytes);
    let format = match opts.format {
        Some(f) => f,
        None => match detect::detect(&source::logical_name(input), bytes) {
            Detected::Format(f) => f,
            Detected::Empty => return (report, Vec::new(), None),
            Detected::Unknown => return fail(report, Error::UnknownFormat { path: input.path() }),
        },
    };
    report.format = Some(format);
    let path = input.path();
    progress.file(&format!("{name} ({format})"));
    let table: Result<RawTable<'_>> = match format {
        Format::Jsonl => jsonl::read(&path, bytes, &opts.mapping),
        Format::Json => json::read(&path, bytes, &opts.mapping),
        Format::Csv => csv::read(&path, bytes, None, &opts.mapping),
        Format::Tsv => csv::read(&path, bytes, Some(b'\t'), &opts.mapping),
        Format::Clf => Ok(clf::read(bytes)),
        Format::Alb => Ok(alb::read(bytes)),
    };
    let table = match table {
        Ok(t) => t,
        Err(e) => return fail(report, e),
    };

    progress.file(&format!("{name} (checking {} rows)", crate::text::thousands(table.rows() as f64)));
    let before = builder.len();
    let zone = opts.assume_tz.or(opts.mapping.timezone);
    let mut problems: Vec<(u64, Problem)> = table.rejected.clone();
    problems.extend(builder.append(&name, &table, opts, zone));
    problems.sort_by_key(|(line, _)| *line);
    let accepted = (builder.len() - before) as u64;
    let read = accepted + problems.len() as u64;
    report.rows_read = read;

    let too_many = read > 0 && problems.len() as f64 / read as f64 > opts.max_reject_ratio;
    let mut error = None;
    if too_many {
        let (first_line, first) = problems[0].clone();
        let e = Error::TooManyRejects {
            path: path.clone(),
            format: format.name(),
            read,
            rejected: problems.len() as u64,
            percent: 100.0 * problems.len() as f64 / read as f64,
            ratio: opts.max_reject_ratio,
            first_line,
            first_reason: first.detail,
        };
        // The file's good rows are dropped with it, and accounted for as such.
        let kept: Vec<u64> = accepted_lines(&table, &problems);
        builder.truncate(before);
        for line in kept {
            problems.push((
                line,
                Problem::new("file_left_out", "the file was left out because too many of its rows were rejected"),
            ));
        }
        problems.sort_by_key(|(line, _)| *line);
        report.error = Some(e.to_string());
        error = Some(e);
    }
    report.rows_accepted = if too_many { 0 } else { accepted };
    report.rows_rejected = problems.len() as u64;
    for (_, p) in &problems {
        *report.rejects_by_reason.entry(p.code.to_string()).or_default() += 1;
    }
    let rejects = problems
        .into_iter()
        .map(|(line, p)| Reject { file: name.clone(), line, code: p.code, reason: p.detail })
        .collect();
    (report, rejects, error)
}

/// Lines of the table's rows that were not rejected.
fn accepted_lines(table: &RawTable<'_>, problems: &[(u64, Problem)]) -> Vec<u64> {
    let rejected: std::collections::HashSet<u64> = problems.iter().map(|(l, _)| *l).collect();
    table.lines.iter().copied().filter(|l| !rejected.contains(l)).collect()
}

/// A polars error as one line for a message.
pub(crate) fn polars_message(e: &polars::error::PolarsError) -> String {
    let s = e.to_string();
    let line = s.lines().next().unwrap_or("").trim();
    crate::secret::excerpt(line).trim_matches('"').to_string()
}
