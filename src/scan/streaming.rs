//! Streaming scans: inputs larger than memory, read to disk grouped by key and judged one
//! bucket of keys at a time, so that memory grows with the largest bucket, not the input.
//!
//! Every detector judges each key on its own, so a bucket's findings are the findings a scan
//! in memory makes for its keys. One pass over the buckets finds the findings, groups them
//! into incidents, picks the flagged events, computes the charts of the incidents that may be
//! among the run's most prominent, and writes the events. Incident ids are given in time order
//! across all keys, so they are known only once every bucket is judged: then the charts get
//! them and are drawn, and everything is put in the order one frame over all keys gives. The
//! outputs are those of a scan in memory, except that `events.parquet` holds the events
//! bucket by bucket (each in time order).

use super::{detect, ScanOptions, ScanOutcome, Timings, OUTPUTS};
use crate::detect::incident::{report_order, Incident};
use crate::detect::rotation::LateClient;
use crate::detect::unfamiliar::Baseline;
use crate::detect::Strings;
use crate::detect::{rows_by_key, Detection, Finding, Note};
use crate::enrich::geoip::GeoDatabases;
use crate::enrich::{self, Events, GeoCache};
use crate::error::{Error, Result};
use crate::ingest::{self, Progress, Spilled};
use crate::report::charts::data::{Prepared, MAX_INCIDENTS};
use crate::report::flagged::Flag;
use crate::report::{self, summary, Content, OutputDir};
use crate::schema::col;
use crate::timestamp::format_rfc3339;
use polars::prelude::*;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Buckets of keys a streaming scan uses: with no more keys than this, each key is judged on
/// its own.
pub const BUCKETS: usize = 64;

/// Memory a scan in memory needs per byte of input (measured at ten million events: 0.76 for
/// CSV, 0.48 for NDJSON; 1.45 and 0.86 before text was held as codes, 2.2 and 1.4 before the
/// GeoIP answers were kept per address), with room to spare.
const MEMORY_PER_INPUT_BYTE: f64 = 2.5;

/// How much larger a gzipped input is once decompressed, about (access logs compress 8–12×).
const GZIP_RATIO: u64 = 10;

/// Whether inputs of `bytes` (decompressed) are too large to judge in `budget` bytes of
/// memory.
pub fn too_large(bytes: u64, budget: u64) -> bool {
    bytes as f64 * MEMORY_PER_INPUT_BYTE > budget as f64
}

/// An input's size once decompressed, about.
pub fn expected_bytes(input: &ingest::Input) -> u64 {
    let gzipped = input.name().ends_with(".gz");
    input.size().saturating_mul(if gzipped { GZIP_RATIO } else { 1 })
}

/// The memory available to new processes (`MemAvailable` of `/proc/meminfo`), if known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What was found in one bucket.
struct Part {
    detection: Detection,
    /// Incidents of the bucket's findings (rows, ids and finding indices local to the bucket).
    incidents: Vec<Incident>,
    /// The flagged events, with their flags (rows of `flagged`, incident ids local).
    flagged: DataFrame,
    flags: Vec<Flag>,
    /// Charts of the incidents that may get charts (incident ids local).
    charts: Vec<Prepared>,
}

/// The most prominent incidents judged so far (at most [`MAX_INCIDENTS`], in report order, as
/// (part, incident) indices): an incident behind all of them cannot be among the run's first
/// [`MAX_INCIDENTS`], whose incidents get charts.
#[derive(Default)]
struct Leaders(Vec<(usize, usize)>);

impl Leaders {
    /// Whether `incident` may still be among the first [`MAX_INCIDENTS`] of the run.
    fn may_lead(&self, parts: &[Part], incident: &Incident) -> bool {
        match self.0.get(MAX_INCIDENTS - 1) {
            Some(&(p, i)) => report_order(&parts[p].incidents[i], incident).is_ge(),
            None => true,
        }
    }

    /// Counts in the incidents of `parts[p]`.
    fn add(&mut self, parts: &[Part], p: usize) {
        let n = parts[p].incidents.len().min(MAX_INCIDENTS);
        self.0.extend((0..n).map(|i| (p, i)));
        self.0.sort_by(|&(pa, a), &(pb, b)| report_order(&parts[pa].incidents[a], &parts[pb].incidents[b]));
        self.0.truncate(MAX_INCIDENTS);
    }
}

/// Judges events read to disk ([`Spilled`]) one bucket of keys at a time and writes the
/// outputs of [`super::scan`]. `ingested` has everything of the read but the events.
pub(super) fn judge_and_write(
    opts: &ScanOptions,
    dbs: &GeoDatabases,
    out: &OutputDir,
    ingested: ingest::Ingested,
    mut spilled: Spilled,
    mut timings: Timings,
    progress: &dyn Progress,
) -> Result<ScanOutcome> {
    let clock = std::time::Instant::now();
    // "The first N days of the input" are the first N days of all keys' events together.
    let mut opts = opts.clone();
    if let (Baseline::Days(_), Some(cutoff)) =
        (opts.unfamiliar.baseline, opts.unfamiliar.baseline.cutoff(spilled.first_time()))
    {
        opts.unfamiliar.baseline = Baseline::Until(cutoff);
    }
    let opts = &opts;
    let distinct: Vec<IpAddr> = spilled.addresses().to_vec();
    let mut geo = Geo { dbs, cache: GeoCache::new(&distinct), time: std::time::Duration::ZERO };
    let staged = out.staging_path(OUTPUTS[0]);
    let result = judge_buckets(&mut spilled, &ingested, &mut geo, opts, out, &staged, &mut timings, progress);
    if result.is_err() {
        out.discard_staged(&super::STAGED);
    }
    let verdict = result?;
    timings.enrich = geo.time;
    timings.report = clock.elapsed().saturating_sub(timings.enrich + timings.detect);
    progress.finish();
    Ok(ScanOutcome::of(ingested, verdict, timings, true))
}

/// Judges the spilled events bucket by bucket and writes every output; `events.parquet` is
/// written to `staged` on the way.
#[allow(clippy::too_many_arguments)]
fn judge_buckets(
    spilled: &mut Spilled,
    ingested: &ingest::Ingested,
    geo: &mut Geo<'_>,
    opts: &ScanOptions,
    out: &OutputDir,
    staged: &std::path::Path,
    timings: &mut Timings,
    progress: &dyn Progress,
) -> Result<super::Verdict> {
    let clock = std::time::Instant::now();
    let write_err = |source| Error::Write { path: out.path().join(OUTPUTS[0]), source };
    let parquet_err = |source| Error::Frame { context: "writing events.parquet", source };
    let mut writer: Option<report::parquet::Writer<std::io::BufWriter<std::fs::File>>> = None;
    let (mut parts, mut baselines, mut after_rotation) = (Vec::new(), Vec::new(), Vec::<LateClient>::new());
    let mut time_range: Option<(i64, i64)> = None;
    let mut leaders = Leaders::default();
    // Findings, incidents, flags and charts, bucket by bucket, and the events file.
    let filled = spilled.filled_buckets();
    for (n, &bucket) in filled.iter().enumerate() {
        progress.stage(&format!("detecting (key group {} of {})", n + 1, filled.len()));
        let Some(frame) = load(spilled, bucket, geo)? else { continue };
        let events = Events::new(&frame, Some(geo.cache.places()));
        if writer.is_none() {
            let file = std::fs::File::create(staged).map_err(write_err)?;
            let w = std::io::BufWriter::with_capacity(1 << 20, file);
            let schema = report::parquet::schema(events).map_err(parquet_err)?;
            writer = Some(report::parquet::Writer::new(w, &schema).map_err(parquet_err)?);
        }
        // The bucket's events are encoded while the detectors run: they share the cores.
        let (judged, written) = std::thread::scope(|scope| {
            let encoder = scope.spawn(|| writer.as_mut().map_or(Ok(()), |w| w.write(events)));
            let judged = judge(&events, &|i| leaders.may_lead(&parts, i), opts);
            (judged, crate::ingest::joined(encoder))
        });
        written.map_err(parquet_err)?;
        let (part, baseline, late) = judged?;
        parts.push(part);
        leaders.add(&parts, parts.len() - 1);
        baselines.push(baseline);
        after_rotation.extend(late);
        let ts = crate::detect::timestamps_ref(&events)
            .map_err(|source| Error::Frame { context: "finding the time range", source })?;
        if let (Some(first), Some(last)) = (ts.min(), ts.max()) {
            time_range = Some(time_range.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
        }
    }
    let order: Vec<&str> = super::detectors(opts).iter().map(|d| d.name()).collect();
    let (detection, incidents, owners) = merge(&parts, &order);
    // Geolocation is counted on its own.
    timings.detect = clock.elapsed().saturating_sub(geo.time);

    // The charts of the incidents that got them, with the run's ids.
    progress.stage("drawing charts");
    let ids = run_ids(&parts, &incidents, &owners);
    let chart_order = report::charts::data::chart_order(&incidents);
    let mut prepared: Vec<(usize, Prepared)> = Vec::new();
    for (part, ids) in parts.iter_mut().zip(&ids) {
        for mut chart in std::mem::take(&mut part.charts) {
            chart.relabel(|id| ids.get(id).cloned().unwrap_or_else(|| id.to_string()));
            if let Some(at) = chart_order.iter().position(|name| *name == chart.name()) {
                prepared.push((at, chart));
            }
        }
    }
    prepared.sort_by_key(|(at, _)| *at);
    let charts = report::charts::data::render_all(prepared.into_iter().map(|(_, c)| c).collect())?;

    let events_parquet = match writer {
        Some(w) => {
            let mut file = w.finish().map_err(parquet_err)?;
            std::io::Write::flush(&mut file).map_err(write_err)?;
            Content::Staged
        }
        // No events at all: the empty frame, with the GeoIP columns a run with events has.
        None => {
            let mut empty = ingested.events.clone();
            let places = if geo.dbs.is_empty() { None } else { Some(enrich::geolocate(&mut empty, geo.dbs, None)?.1) };
            Content::Bytes(report::parquet::to_bytes(Events::new(&empty, places.as_ref()))?)
        }
    };
    let geo_summary = summary::GeoSummary::new(geo.dbs, (!geo.dbs.is_empty()).then(|| geo.cache.stats()));
    let (flagged, flags) = flagged_events(&mut parts, &ids, &ingested.events, &ingested.files)?;
    // Keys in order, as one frame over all keys lists them.
    let no_baseline = crate::detect::rate::baseline_frame(&ingested.events, &[], &opts.rate)?;
    let baseline = concat(&baselines, &no_baseline)?
        .sort([col::CREDENTIAL], SortMultipleOptions::default().with_maintain_order(true))
        .map_err(|source| Error::Frame { context: "building the baseline table", source })?;
    after_rotation.sort_by(|a, b| (&a.credential, a.first, &a.network).cmp(&(&b.credential, b.first, &b.network)));
    let results = super::Results {
        detection,
        incidents,
        flagged: Events::new(&flagged, Some(geo.cache.places())),
        flags,
        charts,
        baseline,
        time_range: time_range.map(|(a, b)| (format_rfc3339(a), format_rfc3339(b))),
        after_rotation,
        events_parquet,
    };
    super::commit_outputs(super::make_outputs(results, ingested, &geo_summary, opts, out, Vec::new())?, out)
}

/// One bucket's findings, incidents, flagged events and the charts of those of its incidents
/// that `may_lead` (see [`Leaders`]); its baseline table and its clients after a rotation.
fn judge(
    events: &Events<'_>,
    may_lead: &(dyn Fn(&Incident) -> bool + Sync),
    opts: &ScanOptions,
) -> Result<(Part, DataFrame, Vec<LateClient>)> {
    let keys = rows_by_key(events).map_err(|source| Error::Frame { context: "grouping events by key", source })?;
    let detection = detect(events, &keys, opts)?;
    let incidents = crate::detect::incident::build(events, &detection.findings)?;
    // In report order, so those that may lead come first.
    let leading = incidents.iter().take_while(|i| may_lead(i)).take(MAX_INCIDENTS);
    let charted = leading.map(|i| i.id.as_str()).collect();
    let charts = report::charts::data::prepare(events, &keys, &incidents, &charted, &opts.rate)?;
    let mut flags = report::flagged::flags(&detection.findings, &incidents);
    let rows = IdxCa::from_vec("rows".into(), flags.iter().map(|f| f.row as IdxSize).collect());
    let flagged = events.take(&rows).map_err(|source| Error::Frame { context: "picking flagged events", source })?;
    for (n, flag) in flags.iter_mut().enumerate() {
        flag.row = n as u32;
    }
    let baseline = crate::detect::rate::baseline_frame(events, &keys, &opts.rate)?;
    let late = crate::detect::rotation::late_clients(events, &detection.findings)?;
    Ok((Part { detection, incidents, flagged, flags, charts }, baseline, late))
}

/// Per part, its incidents' ids (local to the part) to the run's.
fn run_ids(parts: &[Part], incidents: &[Incident], owners: &[(usize, usize)]) -> Vec<HashMap<String, String>> {
    let mut ids = vec![HashMap::new(); parts.len()];
    for (global, &(p, i)) in incidents.iter().zip(owners) {
        ids[p].insert(parts[p].incidents[i].id.clone(), global.id.clone());
    }
    ids
}

/// The flagged events of all buckets as one frame, and their flags (incident ids now the
/// run's, `ids` from [`run_ids`]) in the order of their events in one frame over all keys: by
/// time, then input file (in the order read), then line.
fn flagged_events(
    parts: &mut [Part],
    ids: &[HashMap<String, String>],
    empty: &DataFrame,
    files: &[ingest::FileReport],
) -> Result<(DataFrame, Vec<Flag>)> {
    let mut flags = Vec::new();
    for (part, ids) in parts.iter().zip(ids) {
        let offset = flags.len() as u32;
        flags.extend(part.flags.iter().map(|f| Flag {
            row: f.row + offset,
            incident_id: f.incident_id.as_deref().and_then(|id| ids.get(id)).map(|id| Arc::from(id.as_str())),
            ..f.clone()
        }));
    }
    let frames: Vec<DataFrame> = parts.iter_mut().map(|p| std::mem::take(&mut p.flagged)).collect();
    let flagged = concat(&frames, empty)?;
    let err = |source| Error::Frame { context: "ordering flagged events", source };
    let ts = crate::detect::timestamps_ref(&flagged).map_err(err)?;
    let file = flagged.column(col::SOURCE_FILE).and_then(Strings::of).map_err(err)?;
    let line = flagged.column(col::SOURCE_LINE).and_then(|c| c.u64()).map_err(err)?;
    let mut rank: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, f) in files.iter().enumerate() {
        rank.entry(f.file.as_str()).or_insert(i);
    }
    let order = |name: Option<&str>| name.and_then(|n| rank.get(n).copied());
    flags.sort_by_cached_key(|f| {
        let i = f.row as usize;
        (ts.get(i), order(file.get(i)), line.get(i))
    });
    Ok((flagged, flags))
}

/// The GeoIP databases, the answers so far, and the time spent on them.
struct Geo<'a> {
    dbs: &'a GeoDatabases,
    cache: GeoCache<'a>,
    time: std::time::Duration,
}

/// The events of a bucket, geolocated; `None` when it has none.
fn load(spilled: &mut Spilled, bucket: usize, geo: &mut Geo<'_>) -> Result<Option<DataFrame>> {
    let (mut events, addresses) = spilled.bucket(bucket)?;
    if events.height() == 0 {
        return Ok(None);
    }
    let clock = std::time::Instant::now();
    if !geo.dbs.is_empty() {
        enrich::geolocate_rows(&mut events, &addresses, geo.dbs, &mut geo.cache)?;
    }
    geo.time += clock.elapsed();
    Ok(Some(events))
}

/// The findings and notes of all buckets in the order one frame over all keys gives them
/// (detector by detector, keys in order), and the incidents with their ids, in report order,
/// with the (part, index) each came from.
fn merge(parts: &[Part], detectors: &[&str]) -> (Detection, Vec<Incident>, Vec<(usize, usize)>) {
    let rank = |name: &str| detectors.iter().position(|d| *d == name).unwrap_or(usize::MAX);
    let mut findings: Vec<(usize, usize)> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        findings.extend((0..part.detection.findings.len()).map(|i| (p, i)));
    }
    let finding = |&(p, i): &(usize, usize)| -> &Finding { &parts[p].detection.findings[i] };
    findings.sort_by(|a, b| {
        let (fa, fb) = (finding(a), finding(b));
        rank(fa.detector).cmp(&rank(fb.detector)).then_with(|| Finding::order(fa, fb))
    });
    let mut global = vec![Vec::new(); parts.len()];
    for (g, &(p, i)) in findings.iter().enumerate() {
        global[p].resize(parts[p].detection.findings.len(), 0);
        global[p][i] = g;
    }
    let mut notes: Vec<&Note> = parts.iter().flat_map(|p| &p.detection.notes).collect();
    notes.sort_by(|a, b| (rank(a.detector), &a.credential).cmp(&(rank(b.detector), &b.credential)));
    let detection = Detection {
        findings: findings.iter().map(|f| finding(f).clone()).collect(),
        notes: notes.into_iter().cloned().collect(),
    };
    // Incident ids in order of time, then most severe first: as `incident::build` orders them.
    let mut incidents: Vec<(Incident, (usize, usize))> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        for (i, inc) in part.incidents.iter().enumerate() {
            let mut inc = inc.clone();
            inc.findings = inc.findings.iter().map(|&f| global[p][f]).collect();
            incidents.push((inc, (p, i)));
        }
    }
    incidents.sort_by(|(a, _), (b, _)| a.start.cmp(&b.start).then(a.credential.cmp(&b.credential)));
    for (n, (inc, _)) in incidents.iter_mut().enumerate() {
        inc.id = crate::detect::incident::id(n);
    }
    incidents.sort_by(|(a, _), (b, _)| crate::detect::incident::report_order(a, b));
    let (incidents, owners) = incidents.into_iter().unzip();
    (detection, incidents, owners)
}

/// The frames one after another (`empty` when there are none).
fn concat(frames: &[DataFrame], empty: &DataFrame) -> Result<DataFrame> {
    let err = |source| Error::Frame { context: "putting buckets together", source };
    let mut frames = frames.iter();
    let Some(first) = frames.next() else { return Ok(empty.clone()) };
    let mut all = first.clone();
    for f in frames {
        all.vstack_mut(f).map_err(err)?;
    }
    all.rechunk_mut();
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn streaming_when_a_scan_in_memory_would_need_more_than_the_budget() {
        // Ten million events (1.7 GB of CSV) fit in half of 24 GB; fifty million (8.7 GB) do not.
        assert!(!too_large(17 * GB / 10, 12 * GB));
        assert!(too_large(87 * GB / 10, 12 * GB));
        // The boundary: 2.5 × input.
        assert!(!too_large(2 * GB, 5 * GB));
        assert!(too_large(2 * GB + 1, 5 * GB));
        assert!(!too_large(0, 0), "nothing to read");
        assert!(too_large(1, 0), "no memory at all");
    }

    #[test]
    fn gzipped_inputs_count_decompressed() {
        let dir = tempfile::tempdir().unwrap();
        let (plain, gz) = (dir.path().join("a.log"), dir.path().join("b.log.gz"));
        std::fs::write(&plain, vec![b'x'; 100]).unwrap();
        std::fs::write(&gz, vec![b'x'; 100]).unwrap();
        let (inputs, errors) = ingest::expand(&[plain.display().to_string(), gz.display().to_string()], &[]);
        assert!(errors.is_empty());
        let sizes: Vec<u64> = inputs.iter().map(expected_bytes).collect();
        assert_eq!(sizes, vec![100, 100 * GZIP_RATIO]);
    }

    #[test]
    fn available_memory_is_read_where_the_system_tells() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(available_memory().is_some_and(|m| m > 0));
        }
    }
}
