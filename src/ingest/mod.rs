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
mod spill;
mod table;
mod tokens;

pub(crate) use builder::{dictionary, gather};
pub use builder::{parse_ip, Credential, CredentialKind, SpillPlan};
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
    /// How much of an input is read and normalised at a time (whole records), so that memory
    /// does not grow with the size of an input.
    pub block_bytes: usize,
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
            block_bytes: BLOCK_BYTES,
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
    /// The events' distinct source addresses and which one each row has, for geolocation
    /// without hashing every row's text again. `None` once rows were dropped from `events`, and
    /// taken by geolocation (its memory is freed before the detectors run).
    pub addresses: Option<Addresses>,
    /// Per credential id, while reading: rows and requests.
    usage: Vec<(u64, i64)>,
}

impl Ingested {
    fn credentials_usage(&mut self) -> Vec<(u64, i64)> {
        std::mem::take(&mut self.usage)
    }
}

/// Distinct source addresses and, per row of the events (in order), the index of its address
/// ([`NO_ADDRESS`] for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Addresses {
    pub distinct: Vec<std::net::IpAddr>,
    pub rows: Vec<u32>,
}

/// The address index of a row without an address.
pub const NO_ADDRESS: u32 = u32::MAX;

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
    errors: Vec<Error>,
    opts: &IngestOptions,
    progress: &dyn Progress,
) -> Result<Ingested> {
    let (builder, ingested) = read_inputs(inputs, errors, opts, EventBuilder::default(), progress)?;
    in_memory(builder, ingested, opts)
}

/// The read's events as one frame, with its credentials and addresses.
fn in_memory(builder: EventBuilder, mut ingested: Ingested, opts: &IngestOptions) -> Result<Ingested> {
    let (events, credentials, addresses) = builder
        .finish(&labels(opts))
        .map_err(|source| Error::Frame { context: "building the events frame", source })?;
    ingested.credentials = credential_usage(credentials, ingested.credentials_usage());
    ingested.events = events;
    ingested.addresses = Some(addresses);
    Ok(ingested)
}

/// Reads all inputs named by `args`, moving the events to disk block by block, grouped by key,
/// once `plan` says so (a streaming scan). Without that, the events are in the returned
/// [`Ingested`]; with it, they are in the [`Spilled`], read back one bucket of keys at a time,
/// and the frame of [`Ingested`] is empty.
pub fn ingest_planned(
    args: &[String],
    opts: &IngestOptions,
    plan: SpillPlan,
    progress: &dyn Progress,
) -> Result<(Ingested, Option<Spilled>)> {
    let (inputs, errors) = source::expand(args, &opts.skip_dirs);
    let mut builder = EventBuilder::default();
    builder.plan_spill(plan);
    let (builder, mut ingested) = read_inputs(&inputs, errors, opts, builder, progress)?;
    if !builder.is_spilling() {
        return Ok((in_memory(builder, ingested, opts)?, None));
    }
    let usage = ingested.credentials_usage();
    let (mut dictionaries, spill, scrubber) = builder.finish_spilled(&labels(opts))?;
    ingested.credentials = credential_usage(dictionaries.credentials().to_vec(), usage);
    let (events, _) = dictionaries
        .frame(builder::Rows::default())
        .map_err(|source| Error::Frame { context: "building the events frame", source })?;
    ingested.events = events;
    Ok((ingested, Some(Spilled { dictionaries, spill, scrubber })))
}

/// Events of a streaming scan on disk, grouped by key into buckets.
pub struct Spilled {
    /// The builder that read them, without rows: its dictionaries give the rows' text.
    dictionaries: EventBuilder,
    spill: spill::Spill,
    scrubber: Option<builder::Scrubber>,
}

impl Spilled {
    pub fn buckets(&self) -> usize {
        self.spill.buckets()
    }

    /// The buckets that hold events, in order.
    pub fn filled_buckets(&self) -> Vec<usize> {
        (0..self.buckets()).filter(|&b| self.spill.bucket_rows(b) > 0).collect()
    }

    /// The events of one bucket of keys: the frame a scan in memory builds, restricted to
    /// those keys (sorted by time, then file and line), and each row's address (ids into
    /// [`Spilled::addresses`]).
    pub fn bucket(&mut self, bucket: usize) -> Result<(DataFrame, Vec<u32>)> {
        let mut rows = self.spill.read_bucket(bucket)?;
        if let Some(s) = &self.scrubber {
            s.scrub_arena(&mut rows.paths);
        }
        self.dictionaries
            .frame(rows)
            .map_err(|source| Error::Frame { context: "building the events frame of a bucket", source })
    }

    /// The time of the first event (UTC µs).
    pub fn first_time(&self) -> Option<i64> {
        self.spill.first_time()
    }

    /// The distinct source addresses of all events.
    pub fn addresses(&self) -> &[std::net::IpAddr] {
        self.dictionaries.addresses()
    }
}

/// The credential labels of a run: the mapping's, then `--key-label`'s.
fn labels(opts: &IngestOptions) -> BTreeMap<String, String> {
    let mut labels = opts.mapping.labels.clone();
    labels.extend(opts.key_labels.clone());
    labels
}

/// The credentials that have events, with their usage, sorted by id.
fn credential_usage(credentials: Vec<Credential>, usage: Vec<(u64, i64)>) -> Vec<CredentialUsage> {
    let mut credentials: Vec<CredentialUsage> = credentials
        .into_iter()
        .zip(usage)
        .filter(|(_, (rows, _))| *rows > 0)
        .map(|(credential, (rows, requests))| CredentialUsage { credential, rows, requests })
        .collect();
    credentials.sort_by(|a, b| a.credential.id.cmp(&b.credential.id));
    credentials
}

/// Reads every input into `builder`; the result has no events and no credentials yet (the
/// builder has them). Stops at the first error writing a spill.
fn read_inputs(
    inputs: &[Input],
    mut errors: Vec<Error>,
    opts: &IngestOptions,
    mut builder: EventBuilder,
    progress: &dyn Progress,
) -> Result<(EventBuilder, Ingested)> {
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
    let mut rejects = Vec::new();
    progress.start(inputs.iter().map(Input::size).sum());
    for input in inputs {
        progress.file(&input.name());
        let (report, file_rejects, error) = ingest_one(input, opts, &mut builder, progress);
        if let Some(e) = builder.take_spill_error() {
            return Err(e);
        }
        progress.advance(input.size());
        rejects.extend(file_rejects);
        files.push(report);
        errors.extend(error);
    }
    let usage = builder.usage();
    let ingested = Ingested {
        events: DataFrame::empty(),
        files,
        rejects,
        credentials: Vec::new(),
        errors,
        addresses: None,
        usage,
    };
    Ok((builder, ingested))
}

/// How much of an input is read and normalised at a time, by default. 16, 32 and 64 MiB take
/// the same time at 1M and 10M events (interleaved runs, 2 cores, once a block's rows are
/// normalised in even parts, see `builder::blocks`); at 1M, 32 MiB needs 60 MB less memory than
/// 64 (the two buffers and their cells are smaller).
pub const BLOCK_BYTES: usize = 32 << 20;
/// The most of an input read before parsing begins.
const FIRST_BLOCK_BYTES: usize = 4 << 20;

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
    let path = input.path();
    let mut reader = match source::Reader::open(input) {
        Ok(r) => r,
        Err(e) => return fail(report, e),
    };
    // Enough of the input to tell its format: its first two lines (within a mebibyte).
    let mut buf = Vec::new();
    let mut more = true;
    while more && buf.len() < 1 << 20 && memchr::memchr_iter(b'\n', &buf).nth(1).is_none() {
        match reader.fill(&mut buf, 1 << 16) {
            Ok(m) => more = m,
            Err(e) => return fail(report, e),
        }
    }
    if buf.starts_with(b"\xEF\xBB\xBF") {
        buf.drain(..3);
    }
    let format = loop {
        match opts.format {
            Some(f) => break f,
            None => match detect::detect(&source::logical_name(input), &buf) {
                Detected::Format(f) => break f,
                // Blank or unclear so far (a first line longer than a mebibyte): look at the rest.
                Detected::Empty | Detected::Unknown if more => {
                    if let Err(e) = reader.read_rest(&mut buf) {
                        return fail(report, e);
                    }
                    more = false;
                }
                Detected::Empty => return (report, Vec::new(), None),
                Detected::Unknown => return fail(report, Error::UnknownFormat { path }),
            },
        }
    };
    report.format = Some(format);
    progress.file(&format!("{name} ({format})"));
    let before = builder.len();
    let file = builder.begin_file(&name);
    let zone = opts.assume_tz.or(opts.mapping.timezone);
    let mut problems: Vec<(u64, Problem)> = Vec::new();
    // Record formats are read block by block, so that the memory an input needs does not grow
    // with its size. A JSON document is read whole. JSON Lines find their keys on the first
    // lines, so the first block holds them all.
    while format == Format::Jsonl && more && !jsonl::enough_for_keys(&buf) {
        let want = opts.block_bytes.max(1 << 16);
        match reader.fill(&mut buf, want) {
            Ok(m) => more = m,
            Err(e) => return fail(report, e),
        }
    }
    if format == Format::Json && more {
        if let Err(e) = reader.read_rest(&mut buf) {
            return fail(report, e);
        }
        more = false;
    }
    // The first block is small, so that parsing starts while the next (whole) block is read.
    let first_block = opts.block_bytes.min(FIRST_BLOCK_BYTES);
    if more && buf.len() < first_block {
        let want = first_block - buf.len();
        match reader.fill(&mut buf, want) {
            Ok(m) => more = m,
            Err(e) => return fail(report, e),
        }
    }
    let csv = matches!(format, Format::Csv | Format::Tsv);
    // The CSV header, put in front of every later block as it is read (`skip` bytes of the
    // buffer are that copy).
    let mut header: Vec<u8> = Vec::new();
    let mut header_lines = 0u64;
    let mut skip = 0;
    let mut lines_before = 0u64;
    let mut first = true;
    let mut jsonl_keys = None;
    // Blocks alternate between two buffers: one is parsed while the next is read into the other.
    let mut spare: Vec<u8> = Vec::new();
    loop {
        let end = if more { linewise::last_record_end(&buf, csv) } else { buf.len() };
        let no_record_before = if first && csv { csv::header_len(&buf) } else { skip };
        if more && (end == 0 || end <= no_record_before) {
            // No complete record in the buffer yet (a very long one): read on.
            match reader.fill(&mut buf, opts.block_bytes.max(1)) {
                Ok(m) => more = m,
                Err(e) => {
                    builder.drop_since(before);
                    return fail(report, e);
                }
            }
            continue;
        }
        if first && csv {
            header = buf[..csv::header_len(&buf)].to_vec();
            header_lines = memchr::memchr_iter(b'\n', &header).count() as u64;
        }
        // While this block is parsed and normalised, the next one is read (and decompressed).
        let block_bytes = opts.block_bytes.max(1);
        let (parsed, next) = std::thread::scope(|scope| {
            let (rest, reader, header) = (&buf[end..], &mut reader, &header);
            let mut next = std::mem::take(&mut spare);
            let prefetch = more.then(|| {
                scope.spawn(move || {
                    // The buffer of the block before last: its pages are already in memory.
                    next.clear();
                    next.reserve(header.len() + rest.len() + block_bytes.min(BLOCK_BYTES));
                    next.extend_from_slice(header);
                    next.extend_from_slice(rest);
                    reader.fill(&mut next, block_bytes).map(|more| (next, more))
                })
            });
            let text = &buf[..end];
            let offset = if csv && !first { lines_before - header_lines } else { lines_before };
            let parsed = parse_block(format, &path, text, &opts.mapping, &mut jsonl_keys, offset).map(|mut table| {
                for line in table.lines.iter_mut().chain(table.rejected.iter_mut().map(|(l, _)| l)) {
                    *line += offset;
                }
                progress.file(&format!("{name} (checking {} rows)", crate::text::thousands(table.rows() as f64)));
                problems.extend(table.rejected.iter().cloned());
                problems.extend(builder.append(file, &table, opts, zone));
                table.newlines
            });
            (parsed, prefetch.map(joined))
        });
        let newlines = match parsed {
            Ok(newlines) => newlines,
            Err(e) => {
                builder.drop_since(before);
                return fail(report, e);
            }
        };
        // The block's lines, for numbering the next block's: the readers of records count them
        // as they find the records (a JSON document, read whole, is counted here). The text
        // parsed began with the copy of the header (`skip` bytes) after the first block.
        let block_lines = match newlines {
            Some(n) => n.saturating_sub(if skip > 0 { header_lines } else { 0 }),
            None => memchr::memchr_iter(b'\n', &buf[skip..end]).count() as u64,
        };
        // The rest of a large input will need room like the first block's rows, times what is
        // left to read: made once, instead of growing the rows again and again.
        let size = input.size();
        if first && more && !reader.is_gzip() && size > end as u64 {
            builder.reserve_like(builder.len() - before, size as f64 / end as f64 - 1.0);
        }
        // A streaming scan moves the block's rows to disk.
        builder.spill_block();
        lines_before += block_lines;
        first = false;
        skip = header.len();
        match next {
            None => break,
            Some(Ok((next, m))) => {
                spare = std::mem::replace(&mut buf, next);
                more = m;
            }
            Some(Err(e)) => {
                builder.drop_since(before);
                return fail(report, e);
            }
        }
    }
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
        for line in builder.drop_since(before) {
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

/// Parses a block of an input (whole records) in its format.
fn parse_block<'a>(
    format: Format,
    path: &std::path::Path,
    text: &'a [u8],
    mapping: &Mapping,
    jsonl_keys: &mut Option<Vec<Vec<String>>>,
    lines_before: u64,
) -> Result<RawTable<'a>> {
    match format {
        Format::Jsonl => jsonl::read(path, text, mapping, jsonl_keys),
        Format::Json => json::read(path, text, mapping),
        Format::Csv => csv::read(path, text, None, mapping, lines_before),
        Format::Tsv => csv::read(path, text, Some(b'\t'), mapping, lines_before),
        Format::Clf => Ok(clf::read(text)),
        Format::Alb => Ok(alb::read(text)),
    }
}

/// A polars error as one line for a message.
pub(crate) fn polars_message(e: &polars::error::PolarsError) -> String {
    let s = e.to_string();
    let line = s.lines().next().unwrap_or("").trim();
    crate::secret::excerpt(line).trim_matches('"').to_string()
}

/// What a scoped thread returned; its panic, if it panicked.
pub(crate) fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::factor::decoded;
    use crate::schema::col;
    use polars::prelude::*;

    /// Reading in blocks gives the same events and rejects as reading whole, whatever the
    /// block size: the fixtures' odd lines (quoted newlines in CSV, broken lines, blank
    /// lines) fall on and across block boundaries.
    #[test]
    fn blocks_of_any_size_read_like_the_whole_input() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let tmp = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for name in ["access.log", "alb.log", "export.csv", "gateway.jsonl", "usage.tsv"] {
            let bytes = std::fs::read(fixtures.join(name)).unwrap();
            // Longer than what is read first to tell the format (64 KiB), so that every format
            // is read in many blocks (JSON Lines: past the lines its keys are found on).
            let text: Vec<u8> = bytes.repeat(100_000 / bytes.len() + 1);
            let path = tmp.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let gz = tmp.path().join(format!("{name}.gz"));
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &text).unwrap();
            std::fs::write(&gz, enc.finish().unwrap()).unwrap();
            inputs.push(path.display().to_string());
            inputs.push(gz.display().to_string());
        }
        let read = |block_bytes: usize| {
            let opts = IngestOptions {
                assume_tz: Some(chrono_tz::Europe::Berlin),
                max_reject_ratio: 1.0,
                block_bytes,
                ..IngestOptions::default()
            };
            ingest(&inputs, &opts, &NoProgress).unwrap()
        };
        let whole = read(usize::MAX / 2);
        assert!(whole.events.height() > 50);
        for block_bytes in [1, 7, 64, 333] {
            let blocks = read(block_bytes);
            let (got, want) = (decoded(&blocks.events).unwrap(), decoded(&whole.events).unwrap());
            assert!(got.equals_missing(&want), "events differ with {block_bytes}-byte blocks");
            let key = |r: &Reject| (r.file.clone(), r.line, r.code, r.reason.clone());
            assert_eq!(
                blocks.rejects.iter().map(key).collect::<Vec<_>>(),
                whole.rejects.iter().map(key).collect::<Vec<_>>(),
                "rejects differ with {block_bytes}-byte blocks"
            );
            assert_eq!(blocks.files, whole.files);
        }
    }

    /// Each block of a CSV file after the first is read behind a copy of the header: the
    /// events' lines count the file's lines, not the copies.
    #[test]
    fn csv_lines_are_counted_across_blocks() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("many.csv");
        let mut text = String::from("timestamp,ip\n");
        // Longer than what is read first to tell the format (64 KiB): several blocks.
        for i in 0..6000 {
            text.push_str(&format!("2026-03-02T10:{:02}:{:02}Z,198.51.100.{}\n", i / 60 % 60, i % 60, i % 250));
        }
        text.push_str("not a time,198.51.100.1\n");
        std::fs::write(&path, text).unwrap();
        let opts = IngestOptions { block_bytes: 500, ..IngestOptions::default() };
        let ingested = ingest(&[path.display().to_string()], &opts, &NoProgress).unwrap();
        let lines = ingested.events.column(col::SOURCE_LINE).unwrap().u64().unwrap().clone();
        assert!(std::fs::metadata(&path).unwrap().len() > 2 << 16);
        assert_eq!(lines.len(), 6000);
        assert_eq!((lines.min(), lines.max()), (Some(2), Some(6001)));
        assert_eq!(ingested.rejects.iter().map(|r| r.line).collect::<Vec<_>>(), vec![6002]);
    }

    /// A key pasted into a path is not written to disk by a streaming read.
    #[test]
    fn spilled_paths_hold_no_known_secret() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("keys.csv");
        let secret = "sk_live_9f3c0123456789abcdef";
        let mut text = String::from("timestamp,ip,api_key,path\n");
        for i in 0..50 {
            text.push_str(&format!("2026-03-02T10:00:{:02}Z,198.51.100.7,{secret},/v2/users/{secret}/x{i}\n", i % 60));
        }
        std::fs::write(&path, text).unwrap();
        let spill_dir = tmp.path().join("out");
        std::fs::create_dir(&spill_dir).unwrap();
        let plan = SpillPlan { dir: spill_dir.clone(), buckets: 2, beyond_rows: 0 };
        let (_, spilled) =
            ingest_planned(&[path.display().to_string()], &IngestOptions::default(), plan, &NoProgress).unwrap();
        let mut spilled = spilled.expect("spilled");
        // Reading a bucket back writes out what is buffered.
        let (frame, _) = spilled.bucket(spilled.filled_buckets()[0]).unwrap();
        let mut files = 0;
        for dir in std::fs::read_dir(&spill_dir).unwrap() {
            for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let bytes = std::fs::read(f.unwrap().path()).unwrap();
                files += usize::from(!bytes.is_empty());
                assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a raw key on disk");
            }
        }
        assert!(files > 0);
        let first = frame.column(col::PATH).unwrap().str().unwrap().get(0).unwrap().to_string();
        assert!(first.starts_with("/v2/users/fc1:") && !first.contains(secret), "{first}");
    }

    /// A streaming read gives, bucket by bucket, the frame a read in memory gives restricted
    /// to the bucket's keys; the same files, rejects and credentials; and a file left out
    /// after some of its blocks were spilled is dropped from the spill too.
    #[test]
    fn spilled_buckets_are_the_events_of_their_keys() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let tmp = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for name in ["access.log", "export.csv", "gateway.jsonl", "usage.tsv"] {
            let path = tmp.path().join(name);
            std::fs::copy(fixtures.join(name), &path).unwrap();
            inputs.push(path.display().to_string());
        }
        // Mostly bad rows, read in many blocks: left out after its good rows were spilled.
        let mut bad = String::from("timestamp,ip,api_key\n");
        for i in 0..200 {
            let ts = if i % 4 == 0 { "2026-03-02T10:00:00Z" } else { "not a time" };
            bad.push_str(&format!("{ts},198.51.100.{},sk_live_0123456789abcdef{}\n", i % 250, i % 3));
        }
        let bad_path = tmp.path().join("bad.csv");
        std::fs::write(&bad_path, bad).unwrap();
        inputs.insert(2, bad_path.display().to_string());
        let opts =
            IngestOptions { assume_tz: Some(chrono_tz::Europe::Berlin), block_bytes: 300, ..IngestOptions::default() };
        let whole = ingest(&inputs, &opts, &NoProgress).unwrap();
        let spill_dir = tmp.path().join("out");
        std::fs::create_dir(&spill_dir).unwrap();
        // Spilling from the start, or once some files are read (the rows held so far go first).
        for (buckets, beyond_rows) in [(1, 0), (2, 0), (5, 0), (3, 20)] {
            let plan = SpillPlan { dir: spill_dir.clone(), buckets, beyond_rows };
            let (ingested, spilled) = ingest_planned(&inputs, &opts, plan, &NoProgress).unwrap();
            let mut spilled = spilled.expect("spilled");
            assert_eq!(ingested.files, whole.files);
            assert!(ingested.files.iter().any(|f| f.error.is_some() && f.file.ends_with("bad.csv")));
            assert_eq!(ingested.rejects, whole.rejects);
            assert_eq!(ingested.credentials, whole.credentials);
            assert_eq!(decoded(&ingested.events).unwrap().schema(), decoded(&whole.events).unwrap().schema());
            let mut rows = 0;
            for b in 0..spilled.buckets() {
                let (frame, addresses) = spilled.bucket(b).unwrap();
                // One schema for every bucket (their flagged events are stacked), text coded
                // with the same dictionaries.
                assert_eq!(frame.schema(), ingested.events.schema(), "bucket {b} of {buckets}");
                ingested.events.clone().vstack_mut(&frame).unwrap();
                let frame = decoded(&frame).unwrap();
                rows += frame.height();
                let keys: std::collections::HashSet<String> =
                    frame.column(col::CREDENTIAL).unwrap().str().unwrap().iter().flatten().map(String::from).collect();
                let all = decoded(&whole.events).unwrap();
                let mine: BooleanChunked = all
                    .column(col::CREDENTIAL)
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter()
                    .map(|c| c.is_some_and(|c| keys.contains(c)))
                    .collect();
                let expected = all.filter(&mine).unwrap();
                assert!(frame.equals_missing(&expected), "bucket {b} of {buckets}");
                let text: Vec<Option<String>> =
                    addresses.iter().map(|&a| spilled.addresses().get(a as usize).map(ToString::to_string)).collect();
                let column: Vec<Option<String>> = frame
                    .column(col::SOURCE_IP)
                    .unwrap()
                    .str()
                    .unwrap()
                    .iter()
                    .map(|s| s.map(str::to_string))
                    .collect();
                assert_eq!(text, column);
            }
            assert_eq!(rows, whole.events.height());
        }
        assert_eq!(std::fs::read_dir(&spill_dir).unwrap().count(), 0, "spills are removed");
    }
}
