//! `scan`: the whole pipeline over a set of inputs, written to one output directory.

use crate::detect::off_hours::{OffHours, OffHoursConfig};
use crate::detect::rate::{RateConfig, RateSpike};
use crate::detect::rotation::{Rotation, RotationConfig};
use crate::detect::unfamiliar::{UnfamiliarConfig, UnfamiliarSource};
use crate::detect::{Detection, Detector, Severity};
use crate::enrich::geoip::{GeoDatabases, Sources};
use crate::enrich::{self, GeoStats};
use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, Progress};
use crate::report::{self, summary, Output, OutputDir};
use crate::timestamp::format_rfc3339;
use chrono_tz::Tz;
use polars::prelude::*;
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
}

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
        )
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

/// Reads the inputs, runs the detectors and writes the outputs ([`OUTPUTS`]).
pub fn scan(opts: &ScanOptions, progress: &dyn Progress) -> Result<ScanOutcome> {
    // Every database is checked before any log is read, and all problems are reported at once.
    let (dbs, problems) = GeoDatabases::discover(&opts.geoip);
    if !problems.is_empty() {
        return Err(Error::Databases { problems: problems.iter().map(ToString::to_string).collect() });
    }
    let out = OutputDir::create(&opts.out_dir)?;
    // An output directory inside an input directory is not read back as input.
    let mut ingest_opts = opts.ingest.clone();
    ingest_opts.skip_dirs.push(opts.out_dir.clone());
    let mut timings = Timings::default();
    let clock = std::time::Instant::now();
    let mut ingested = ingest::ingest(&opts.inputs, &ingest_opts, progress)?;
    timings.read = clock.elapsed();
    progress.stage("geolocating");
    let time_range =
        time_range(&ingested.events).map_err(|source| Error::Frame { context: "finding the time range", source })?;
    let geo_stats: Option<GeoStats> =
        if dbs.is_empty() { None } else { Some(enrich::geolocate(&mut ingested.events, &dbs)?) };
    let geo = summary::GeoSummary::new(&dbs, geo_stats);
    timings.enrich = clock.elapsed() - timings.read;
    progress.stage("detecting");
    let keys = crate::detect::rows_by_key(&ingested.events)
        .map_err(|source| Error::Frame { context: "grouping events by key", source })?;
    let detection = detect(&ingested.events, &keys, opts)?;
    let incidents = crate::detect::incident::build(&ingested.events, &detection.findings)?;
    let flags = report::flagged::flags(&detection.findings, &incidents);
    timings.detect = clock.elapsed() - timings.read - timings.enrich;
    progress.stage("drawing charts and writing the report");
    let charts = report::charts::data::charts(&ingested.events, &keys, &incidents, &opts.rate)?;
    let mut baseline = crate::detect::rate::baseline_frame(&ingested.events, &keys, &opts.rate)?;
    let timezone = opts.timezone.name();
    let summary_input = summary::SummaryInput {
        files: &ingested.files,
        credentials: &ingested.credentials,
        time_range,
        timezone,
        outputs: &OUTPUTS,
        geo: &geo,
        detection: &detection,
        incidents: &incidents,
    };
    let summary_json = summary::to_json(&summary_input);
    let text = summary::to_text(&summary_input, &out.path().display().to_string());
    let totals = summary::Totals::of(&ingested.files);
    let flagged_csv = report::flagged::to_csv(&ingested.events, &flags)?;
    let flagged_jsonl = report::flagged::to_jsonl(&ingested.events, &flags)?;
    let outputs = [
        Output { name: OUTPUTS[0].into(), bytes: report::parquet::to_bytes(&mut ingested.events)? },
        Output { name: OUTPUTS[1].into(), bytes: report::rejects::to_bytes(&ingested.rejects) },
        Output { name: OUTPUTS[2].into(), bytes: summary_json },
        Output { name: OUTPUTS[3].into(), bytes: flagged_csv },
        Output { name: OUTPUTS[4].into(), bytes: flagged_jsonl },
        Output { name: OUTPUTS[5].into(), bytes: report::findings::to_json(&detection) },
        Output { name: OUTPUTS[6].into(), bytes: report::incidents::to_json(&incidents, &detection.findings) },
        Output::new(OUTPUTS[7], report::html::to_html(&summary_input, &incidents, &detection.findings, &charts)),
        Output::new(
            OUTPUTS[8],
            report::markdown::to_markdown(&summary_input, &incidents, &detection.findings, &charts),
        ),
        Output::new(OUTPUTS[9], report::parquet::to_bytes(&mut baseline)?),
    ];
    let mut outputs = Vec::from(outputs);
    for c in charts {
        outputs.push(Output::new(format!("charts/{}.png", c.name), c.png));
        outputs.push(Output::new(format!("charts/{}.svg", c.name), c.svg));
    }
    out.commit(&outputs)?;
    timings.report = clock.elapsed() - timings.read - timings.enrich - timings.detect;
    progress.finish();
    out.remove_stale("charts", &outputs);
    let worst = incidents.iter().map(|i| i.severity).max();
    Ok(ScanOutcome { errors: ingested.errors, totals, text, worst, timings })
}

/// Every detector over the events.
fn detect(events: &DataFrame, keys: &[crate::detect::KeyRows<'_>], opts: &ScanOptions) -> Result<Detection> {
    let detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(UnfamiliarSource { config: opts.unfamiliar.clone() }),
        Box::new(RateSpike { config: opts.rate.clone() }),
        Box::new(OffHours { config: opts.off_hours.clone() }),
        Box::new(Rotation { config: opts.rotation.clone() }),
    ];
    let detections = detectors.iter().map(|d| d.detect_keys(events, keys)).collect::<Result<Vec<_>>>()?;
    Ok(Detection::merge(detections))
}

/// First and last event time, RFC 3339.
fn time_range(events: &DataFrame) -> PolarsResult<Option<(String, String)>> {
    let ts = crate::detect::timestamps(events)?;
    Ok(ts.min().zip(ts.max()).map(|(a, b)| (format_rfc3339(a), format_rfc3339(b))))
}
