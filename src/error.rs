//! The library's error type: every failure names the file involved and what to do about it.

use std::path::PathBuf;

/// Errors that stop a whole input file or the whole run.
///
/// Row-level problems are not errors: they become [`crate::ingest::Reject`]s and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: cannot read: {source}. Check that the path exists and is readable.")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: corrupt gzip data ({source}). The file is damaged or truncated: fetch it again, or check it with `gzip -t`.")]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot tell the log format from its name or content. Name it with --format (jsonl, json, csv, tsv, clf, alb).")]
    UnknownFormat { path: PathBuf },

    #[error("{path}: not a valid {format} file: {detail}. {hint}")]
    Malformed { path: PathBuf, format: &'static str, detail: String, hint: &'static str },

    #[error("{path}: no timestamp field. Columns found: {found}. Name the timestamp column in a mapping file (`[columns] timestamp = \"...\"`, see --mapping).")]
    NoTimestamp { path: PathBuf, found: String },

    #[error("{path}: the mapping names column `{column}` for `{field}`, but the input has no such column. Columns found: {found}.")]
    MappedColumnMissing { path: PathBuf, field: &'static str, column: String, found: String },

    #[error("{path}: {rejected} of {read} rows rejected ({percent:.0}%), more than --max-reject-ratio {ratio} allows; the file is left out. First problem, line {first_line}: {first_reason}. Is it really {format}? Use --format, or a --mapping file for its columns.")]
    TooManyRejects {
        path: PathBuf,
        format: &'static str,
        read: u64,
        rejected: u64,
        percent: f64,
        ratio: f64,
        first_line: u64,
        first_reason: String,
    },

    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("{0}")]
    Usage(String),

    #[error("GeoIP databases: {}", problems.join("; "))]
    Databases { problems: Vec<String> },

    #[error(
        "{path}: cannot write output: {source}. Check that the output directory is writable and the disk is not full."
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot use the spill of a streaming scan: {source}. It is kept in the output directory while the scan runs (about 70 bytes per event): check that the disk has room.")]
    Spill {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: another audit is using this state ({holder}). Wait until it has finished; the lock goes away by itself when that process ends, even if it is killed.")]
    StateLocked { path: PathBuf, holder: String },

    #[error("{path}: {message}")]
    State { path: PathBuf, message: String },

    #[error("drawing chart {chart} failed: {source}. This is a bug in leakhound: please report it, with the chart's name and the leakhound version.")]
    Chart {
        chart: String,
        #[source]
        source: crate::report::charts::ChartError,
    },

    #[error("internal data-frame error while {context}: {source}")]
    Frame {
        context: &'static str,
        #[source]
        source: polars::error::PolarsError,
    },
}

impl Error {
    /// The file an error is about, when it is about one input file (the run goes on without it).
    pub fn input_path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Read { path, .. }
            | Error::Gzip { path, .. }
            | Error::UnknownFormat { path }
            | Error::Malformed { path, .. }
            | Error::NoTimestamp { path, .. }
            | Error::MappedColumnMissing { path, .. }
            | Error::TooManyRejects { path, .. } => Some(path),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
