//! `scan`: the whole pipeline over a set of inputs, written to one output directory.

pub mod streaming;

use crate::detect::off_hours::{OffHours, OffHoursConfig};
use crate::detect::rate::{RateConfig, RateSpike};
use crate::detect::rotation::{Rotation, RotationConfig};
use crate::detect::unfamiliar::{UnfamiliarConfig, UnfamiliarSource};
use crate::detect::{Detection, Detector, Severity};
use crate::enrich::geoip::{GeoDatabases, Sources};
use crate::enrich::{self, Events, GeoStats, Places};
use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, Progress};
use crate::report::{self, summary, Content, Output, OutputDir};
use crate::timestamp::format_rfc3339;
use chrono_tz::Tz;
use polars::prelude::*;
use rayon::prelude::*;
use std::path::PathBuf;

/// What `scan` reads, how, and where it writes.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files, directories, globs or `-`.
    pub inputs: Vec<String>,
    pub out_dir: PathBuf,
    pub ingest: IngestOptions,
    /// The organisation's time zone (working hours).
    pub timezone: Tz,
    /// Where to find GeoIP databases.
    pub geoip: Sources,
    pub unfamiliar: UnfamiliarConfig,
    pub rate: RateConfig,
    pub off_hours: OffHoursConfig,
    pub rotation: RotationConfig,
    /// Whether the events are held in memory or judged one bucket of keys at a time.
    pub streaming: Streaming,
}

/// Whether a scan holds every event in memory, or reads them to disk grouped by key and
/// judges one bucket of keys at a time ([`streaming`]): memory then grows with the largest
/// key's events instead of with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    /// In memory while the events fit in `max_memory` bytes (estimated: [`BYTES_PER_EVENT`]
    /// each; `None`: half of the memory available when the scan starts), else streaming:
    /// from the start when the inputs' size says they will not fit, or as soon as the events
    /// read so far do not.
    Auto {
        max_memory: Option<u64>,
    },
    Never,
    /// Streaming from the start, with this many buckets of keys ([`streaming::BUCKETS`]
    /// unless testing).
    Buckets(usize),
}

impl Default for Streaming {
    fn default() -> Self {
        Streaming::Auto { max_memory: None }
    }
}

impl ScanOutcome {
    /// The outcome of a scan that read `ingested` and came to `verdict`.
    fn of(ingested: ingest::Ingested, verdict: Verdict, timings: Timings, streamed: bool) -> Self {
        let totals = summary::Totals::of(&ingested.files);
        ScanOutcome { errors: ingested.errors, totals, text: verdict.text, worst: verdict.worst, timings, streamed }
    }
}

/// Memory a scan in memory needs per event at its peak, about (measured: 125 bytes at ten
/// million generated events of 174 bytes of CSV each, 240 before text was held as codes; real
/// logs with longer paths and user agents hold more, hence the room).
pub const BYTES_PER_EVENT: u64 = 400;

/// The result of a scan that ran to the end (some inputs may still have failed).
pub struct ScanOutcome {
    /// Inputs that could not be read or were left out; the run went on without them.
    pub errors: Vec<Error>,
    pub totals: summary::Totals,
    /// The terminal summary.
    pub text: String,
    /// The most severe incident, if any.
    pub worst: Option<Severity>,
    pub timings: Timings,
    /// Whether the events were judged one bucket of keys at a time.
    pub streamed: bool,
}

/// Where a scan spent its time (wall clock; not part of any output file, which stay
/// byte-identical between runs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Reading, parsing and normalising the inputs.
    pub read: std::time::Duration,
    /// GeoIP lookups.
    pub enrich: std::time::Duration,
    /// Detectors and incidents.
    pub detect: std::time::Duration,
    /// Charts, the report and writing every output.
    pub report: std::time::Duration,
    /// An audit's state: loading it, and folding the new events in and writing it.
    pub state: std::time::Duration,
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read {:.2} s, geolocate {:.2} s, detect {:.2} s, report {:.2} s",
            self.read.as_secs_f64(),
            self.enrich.as_secs_f64(),
            self.detect.as_secs_f64(),
            self.report.as_secs_f64()
        )?;
        if !self.state.is_zero() {
            write!(f, ", state {:.2} s", self.state.as_secs_f64())?;
        }
        Ok(())
    }
}

/// Output files of a scan, in the order they are listed.
pub const OUTPUTS: [&str; 10] = [
    "events.parquet",
    "rejects.csv",
    "summary.json",
    "flagged_events.csv",
    "flagged_events.jsonl",
    "findings.json",
    "incidents.json",
    "report.html",
    "summary.md",
    "baseline.parquet",
];

/// The outputs written straight to their staging files (too large to hold in memory), removed
/// again when a run fails.
pub(crate) const STAGED: [&str; 3] = [OUTPUTS[0], OUTPUTS[3], OUTPUTS[4]];

/// Reads the inputs, runs the detectors and writes the outputs ([`OUTPUTS`]).
pub fn scan(opts: &ScanOptions, progress: &dyn Progress) -> Result<ScanOutcome> {
    let dbs = open_databases(&opts.geoip)?;
    let out = OutputDir::create(&opts.out_dir)?;
    let mut timings = Timings::default();
    let clock = std::time::Instant::now();
    let plan = spill_plan(opts, out.path());
    let (mut ingested, spilled) = ingest::ingest_planned(&opts.inputs, &ingest_options(opts), plan, progress)?;
    timings.read = clock.elapsed();
    if let Some(spilled) = spilled {
        return streaming::judge_and_write(opts, &dbs, &out, ingested, spilled, timings, progress);
    }
    progress.stage("geolocating");
    let (geo, places) = geolocate(&mut ingested.events, &dbs, ingested.addresses.take().as_ref())?;
    timings.enrich = clock.elapsed() - timings.read;
    let events = Events::new(&ingested.events, places.as_ref());
    let run = Run { all: events, new: None, ingested: &ingested, geo: &geo };
    let verdict = judge_and_write(&run, events, opts, &out, Vec::new(), progress, &mut timings)?;
    Ok(ScanOutcome::of(ingested, verdict, timings, false))
}

/// When the scan starts to move the events to disk (see [`Streaming`]); in the output
/// directory `dir`.
fn spill_plan(opts: &ScanOptions, dir: &std::path::Path) -> ingest::SpillPlan {
    let plan = |buckets, beyond_rows| ingest::SpillPlan { dir: dir.to_path_buf(), buckets, beyond_rows };
    match opts.streaming {
        Streaming::Buckets(n) => plan(n, 0),
        Streaming::Never => plan(streaming::BUCKETS, usize::MAX),
        Streaming::Auto { max_memory } => {
            let Some(budget) = max_memory.or_else(|| streaming::available_memory().map(|m| m / 2)) else {
                return plan(streaming::BUCKETS, usize::MAX);
            };
            let (inputs, _) = ingest::expand(&opts.inputs, &ingest_options(opts).skip_dirs);
            let bytes = inputs.iter().map(streaming::expected_bytes).sum();
            let rows = if streaming::too_large(bytes, budget) {
                0
            } else {
                usize::try_from(budget / BYTES_PER_EVENT).unwrap_or(usize::MAX)
            };
            plan(streaming::BUCKETS, rows)
        }
    }
}

/// The GeoIP databases, every one checked before any log is read, all problems reported at once.
pub(crate) fn open_databases(sources: &Sources) -> Result<GeoDatabases> {
    let (dbs, problems) = GeoDatabases::discover(sources);
    if !problems.is_empty() {
        return Err(Error::Databases { problems: problems.iter().map(ToString::to_string).collect() });
    }
    Ok(dbs)
}

/// The ingest options of a run: an output directory inside an input directory is not read back
/// as input.
pub(crate) fn ingest_options(opts: &ScanOptions) -> IngestOptions {
    let mut ingest_opts = opts.ingest.clone();
    ingest_opts.skip_dirs.push(opts.out_dir.clone());
    ingest_opts
}

/// Geolocates the events (when there are databases: their address ids are added to the frame,
/// the answers returned) and describes how it went.
pub(crate) fn geolocate(
    events: &mut DataFrame,
    dbs: &GeoDatabases,
    addresses: Option<&ingest::Addresses>,
) -> Result<(summary::GeoSummary, Option<Places>)> {
    let (stats, places): (Option<GeoStats>, _) = if dbs.is_empty() {
        (None, None)
    } else {
        let (stats, places) = enrich::geolocate(events, dbs, addresses)?;
        (Some(stats), Some(places))
    };
    Ok((summary::GeoSummary::new(dbs, stats), places))
}

/// What one run judges: all events the detectors see, and which of them are this run's.
pub(crate) struct Run<'a> {
    /// Events sorted by time: in an audit, the retained history and the new events together.
    pub all: Events<'a>,
    /// Which rows of `all` this run reports on (an audit's new events); `None`: every row.
    pub new: Option<&'a [bool]>,
    /// The files, rejects and credentials of this run's inputs.
    pub ingested: &'a ingest::Ingested,
    pub geo: &'a summary::GeoSummary,
}

/// What a run found, for the caller's exit status and summary line.
pub(crate) struct Verdict {
    /// The terminal summary.
    pub text: String,
    pub worst: Option<Severity>,
    pub incidents: Vec<crate::detect::incident::Incident>,
}

/// Runs the detectors over `run.all`, keeps what concerns the run's own events, builds
/// incidents and writes every output ([`OUTPUTS`], then `extra`) atomically. `events` (this
/// run's events) becomes `events.parquet`. Shared by `scan` and `audit`.
pub(crate) fn judge_and_write(
    run: &Run<'_>,
    events: Events<'_>,
    opts: &ScanOptions,
    out: &OutputDir,
    extra: Vec<Output>,
    progress: &dyn Progress,
    timings: &mut Timings,
) -> Result<Verdict> {
    let clock = std::time::Instant::now();
    // `events.parquet` is encoded while the detectors run, the charts are drawn and the other
    // outputs are made (they share the cores), straight to its staging file; every output is
    // committed once it is written.
    let staged = out.staging_path(OUTPUTS[0]);
    let (made, written) = std::thread::scope(|scope| {
        let parquet = scope.spawn(|| report::parquet::write_file(events, &staged));
        let made = judge(run, opts, progress, timings, clock).and_then(|judged| {
            let results = results(run, events, judged)?;
            make_outputs(results, run.ingested, run.geo, opts, out, extra)
        });
        (made, crate::ingest::joined(parquet))
    });
    let verdict = written.and(made).and_then(|made| commit_outputs(made, out));
    if verdict.is_err() {
        out.discard_staged(&STAGED);
    }
    timings.report = clock.elapsed() - timings.detect;
    progress.finish();
    verdict
}

/// The outputs of a run in memory, from what the detectors made of it.
fn results<'a>(run: &Run<'a>, events: Events<'_>, judged: Judged) -> Result<Results<'a>> {
    let Judged { detection, incidents, flags, charts, baseline } = judged;
    Ok(Results {
        baseline,
        time_range: time_range(&events).map_err(|source| Error::Frame { context: "finding the time range", source })?,
        after_rotation: crate::detect::rotation::late_clients(&run.all, &detection.findings)?,
        flagged: run.all,
        flags,
        detection,
        incidents,
        charts,
        events_parquet: Content::Staged,
    })
}

/// Everything a run's outputs are made of.
pub(crate) struct Results<'a> {
    pub detection: Detection,
    pub incidents: Vec<crate::detect::incident::Incident>,
    /// The events the flags' rows are rows of.
    pub flagged: Events<'a>,
    /// In the order of `flagged_events.csv`.
    pub flags: Vec<report::flagged::Flag>,
    pub charts: Vec<report::charts::Rendered>,
    pub baseline: DataFrame,
    /// First and last event time, RFC 3339.
    pub time_range: Option<(String, String)>,
    pub after_rotation: Vec<crate::detect::rotation::LateClient>,
    pub events_parquet: Content,
}

/// Every output of a run in memory ([`OUTPUTS`], then `extra`, then the charts), and its
/// verdict.
pub(crate) struct Made {
    outputs: Vec<Output>,
    verdict: Verdict,
}

/// Writes the outputs atomically (removing charts of an earlier run that this one has not).
pub(crate) fn commit_outputs(made: Made, out: &OutputDir) -> Result<Verdict> {
    out.commit(&made.outputs)?;
    out.remove_stale("charts", &made.outputs);
    Ok(made.verdict)
}

/// Makes every output, in memory or staged to its file ([`STAGED`]), to be committed by
/// [`commit_outputs`].
pub(crate) fn make_outputs(
    results: Results<'_>,
    ingested: &ingest::Ingested,
    geo: &summary::GeoSummary,
    opts: &ScanOptions,
    out: &OutputDir,
    extra: Vec<Output>,
) -> Result<Made> {
    let Results { detection, incidents, flagged, flags, charts, baseline, time_range, after_rotation, events_parquet } =
        results;
    let summary_input = summary::SummaryInput {
        files: &ingested.files,
        credentials: &ingested.credentials,
        time_range,
        timezone: opts.timezone.name(),
        outputs: &OUTPUTS,
        geo,
        detection: &detection,
        incidents: &incidents,
        after_rotation: &after_rotation,
    };
    let summary_json = summary::to_json(&summary_input);
    let text = summary::to_text(&summary_input, &out.path().display().to_string());
    // The largest of the other outputs, made side by side; the flagged events (as many rows
    // as a detector flags, every one after a rotation) straight to their files.
    let columns = report::flagged::Columns::read(&flagged)?;
    let ((flagged_csv, flagged_jsonl), baseline_parquet) = rayon::join(
        || {
            rayon::join(
                || out.stage(OUTPUTS[3], |w| columns.write_csv(&flags, w)),
                || out.stage(OUTPUTS[4], |w| columns.write_jsonl(&flags, w)),
            )
        },
        || report::parquet::to_bytes(&baseline),
    );
    let (flagged_csv, flagged_jsonl, baseline_parquet) = (flagged_csv?, flagged_jsonl?, baseline_parquet?);
    let outputs = [
        Output { name: OUTPUTS[0].into(), content: events_parquet },
        Output::new(OUTPUTS[1], report::rejects::to_bytes(&ingested.rejects)),
        Output::new(OUTPUTS[2], summary_json),
        flagged_csv,
        flagged_jsonl,
        Output::new(OUTPUTS[5], report::findings::to_json(&detection)),
        Output::new(OUTPUTS[6], report::incidents::to_json(&incidents, &detection.findings)),
        Output::new(OUTPUTS[7], report::html::to_html(&summary_input, &incidents, &detection.findings, &charts)),
        Output::new(
            OUTPUTS[8],
            report::markdown::to_markdown(&summary_input, &incidents, &detection.findings, &charts),
        ),
        Output::new(OUTPUTS[9], baseline_parquet),
    ];
    let mut outputs = Vec::from(outputs);
    outputs.extend(extra);
    for c in charts {
        outputs.push(Output::new(format!("charts/{}.png", c.name), c.png));
        outputs.push(Output::new(format!("charts/{}.svg", c.name), c.svg));
    }
    let worst = incidents.iter().map(|i| i.severity).max();
    Ok(Made { outputs, verdict: Verdict { text, worst, incidents } })
}

/// What the detectors made of a run, with the charts and the baseline table.
struct Judged {
    detection: Detection,
    incidents: Vec<crate::detect::incident::Incident>,
    flags: Vec<report::flagged::Flag>,
    charts: Vec<report::charts::Rendered>,
    baseline: DataFrame,
}

/// Runs the detectors over `run.all` (findings cut down to the run's own events), builds the
/// incidents and flags, and draws the charts; makes the baseline table beside them.
fn judge(
    run: &Run<'_>,
    opts: &ScanOptions,
    progress: &dyn Progress,
    timings: &mut Timings,
    clock: std::time::Instant,
) -> Result<Judged> {
    progress.stage("detecting");
    let keys = crate::detect::rows_by_key(run.all.frame())
        .map_err(|source| Error::Frame { context: "grouping events by key", source })?;
    // Nothing new in an audit: nothing to judge.
    let nothing_new = run.new.is_some_and(|new| !new.contains(&true));
    let mut detection = if nothing_new { Detection::default() } else { detect(&run.all, &keys, opts)? };
    if let Some(new) = run.new {
        let ts = crate::detect::timestamps(&run.all)
            .map_err(|source| Error::Frame { context: "reading event times", source })?;
        detection.findings = crate::detect::restrict(detection.findings, new, &ts);
    }
    let incidents = crate::detect::incident::build(&run.all, &detection.findings)?;
    let flags = report::flagged::flags(&detection.findings, &incidents);
    timings.detect = clock.elapsed();
    progress.stage("drawing charts and writing the report");
    // The baseline table needs the keys only: made while the charts are drawn (both in
    // parallel inside), so that neither waits alone at the end.
    let (charts, baseline) = rayon::join(
        || report::charts::data::charts(&run.all, &keys, &incidents, &opts.rate),
        || crate::detect::rate::baseline_frame(&run.all, &keys, &opts.rate),
    );
    Ok(Judged { detection, incidents, flags, charts: charts?, baseline: baseline? })
}

/// Every detector, in the order their findings are listed.
fn detectors(opts: &ScanOptions) -> Vec<Box<dyn Detector>> {
    vec![
        Box::new(UnfamiliarSource { config: opts.unfamiliar.clone() }),
        Box::new(RateSpike { config: opts.rate.clone() }),
        Box::new(OffHours { config: opts.off_hours.clone() }),
        Box::new(Rotation { config: opts.rotation.clone() }),
    ]
}

/// Every detector over the events.
fn detect(events: &Events<'_>, keys: &[crate::detect::KeyRows<'_>], opts: &ScanOptions) -> Result<Detection> {
    // Side by side: each also judges its keys in parallel, and the two levels balance the
    // cores between detectors of unequal cost. Collected in the detectors' order.
    let detections = detectors(opts).par_iter().map(|d| d.detect_keys(events, keys)).collect::<Result<Vec<_>>>()?;
    Ok(Detection::merge(detections))
}

/// First and last event time, RFC 3339.
fn time_range(events: &DataFrame) -> PolarsResult<Option<(String, String)>> {
    let ts = crate::detect::timestamps(events)?;
    Ok(ts.min().zip(ts.max()).map(|(a, b)| (format_rfc3339(a), format_rfc3339(b))))
}
