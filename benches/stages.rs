//! Criterion benches of each stage: every parser (MB/s), the spill of a streaming scan (the
//! generated CSV read to disk by key and every bucket read back, MB/s), geolocation (per
//! distinct address, with the share of rows an earlier lookup serves), every detector
//! (events/s), the events written as Parquet and the data of the charts (events/s).
//!
//! `cargo bench --bench stages`. Inputs: a generated gateway log (`leakhound::synth`, CSV and
//! NDJSON, `STAGES_EVENTS` events, 100,000 by default) and the demo's access logs (CLF, ALB).
//! Geolocation uses the full databases in `../shared/geoip/full` when they exist, else the
//! demo's.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use leakhound::detect::off_hours::OffHours;
use leakhound::detect::rate::{RateConfig, RateSpike};
use leakhound::detect::rotation::{Rotation, RotationConfig};
use leakhound::detect::unfamiliar::UnfamiliarSource;
use leakhound::detect::{rows_by_key, Detector, Events};
use leakhound::enrich::geoip::{GeoDatabases, Sources};
use leakhound::ingest::{ingest, ingest_planned, IngestOptions, Ingested, NoProgress, SpillPlan};
use leakhound::report::charts::data as charts;
use leakhound::synth::{write, Spec, SynthFormat};
use std::hint::black_box;
use std::path::{Path, PathBuf};

/// The bench inputs, written once into a temporary directory.
struct Inputs {
    _dir: tempfile::TempDir,
    files: Vec<(&'static str, PathBuf)>,
    geoip: PathBuf,
}

fn inputs() -> Inputs {
    let events = std::env::var("STAGES_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut files = Vec::new();
    for (format, name) in [(SynthFormat::Csv, "csv"), (SynthFormat::Jsonl, "jsonl")] {
        let path = dir.path().join(format!("events.{name}"));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("bench input"));
        write(&Spec { events, keys: 8, addresses: 5000, format }, &mut out).expect("bench input");
        drop(out);
        files.push((name, path));
    }
    let demo = dir.path().join("demo");
    leakhound::demo::generate(&demo).expect("the demo data");
    files.push(("clf", demo.join("logs/nginx/marketing-access.log")));
    files
        .push(("alb", demo.join("logs/alb/123456789012_elasticloadbalancing_eu-central-1_app.acme-public-api.log.gz")));
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/geoip/full");
    let geoip = if full.is_dir() { full } else { demo.join("geoip") };
    Inputs { _dir: dir, files, geoip }
}

fn read(path: &Path) -> Ingested {
    ingest(&[path.display().to_string()], &IngestOptions::default(), &NoProgress).expect("the bench input reads")
}

fn stages(c: &mut Criterion) {
    let inputs = inputs();

    let mut parsers = c.benchmark_group("parse");
    parsers.sample_size(10);
    for (name, path) in &inputs.files {
        // Bytes on disk (the ALB log is gzipped).
        let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
        parsers.throughput(Throughput::Bytes(bytes));
        parsers.bench_function(*name, |b| b.iter(|| black_box(read(path))));
    }
    parsers.finish();

    // The same CSV as a streaming scan reads it: to disk by key, then each bucket back as a
    // frame (against `parse/csv`, which builds one frame in memory).
    let (_, csv) = &inputs.files[0];
    let spill_dir = tempfile::tempdir().expect("a spill directory");
    let mut spill = c.benchmark_group("spill");
    spill.sample_size(10);
    spill.throughput(Throughput::Bytes(std::fs::metadata(csv).map_or(0, |m| m.len())));
    spill.bench_function("csv_to_disk_and_back", |b| {
        b.iter(|| {
            let plan = SpillPlan { dir: spill_dir.path().to_path_buf(), buckets: 64, beyond_rows: 0 };
            let (_, spilled) =
                ingest_planned(&[csv.display().to_string()], &IngestOptions::default(), plan, &NoProgress)
                    .expect("the bench input reads");
            let mut spilled = spilled.expect("spilled");
            for bucket in spilled.filled_buckets() {
                black_box(spilled.bucket(bucket).expect("a bucket reads back"));
            }
        })
    });
    spill.finish();

    let ingested = read(&inputs.files[0].1);
    let (dbs, problems) = GeoDatabases::discover(&Sources { dirs: vec![inputs.geoip.clone()], ..Default::default() });
    assert!(problems.is_empty(), "{problems:?}");
    let mut located = ingested.events.clone();
    let (stats, places) =
        leakhound::enrich::geolocate(&mut located, &dbs, ingested.addresses.as_ref()).expect("geolocate");
    let located = Events::new(&located, Some(&places));
    let rows = ingested.events.height() as f64;
    eprintln!(
        "geolocate: {} distinct addresses among {rows} events: an earlier lookup serves {:.1}% of the rows",
        stats.distinct_ips,
        100.0 * (1.0 - stats.distinct_ips as f64 / rows)
    );
    let mut geo = c.benchmark_group("geolocate");
    geo.sample_size(10);
    geo.throughput(Throughput::Elements(stats.distinct_ips as u64));
    geo.bench_function("distinct_addresses", |b| {
        b.iter(|| {
            let mut events = ingested.events.clone();
            black_box(leakhound::enrich::geolocate(&mut events, &dbs, ingested.addresses.as_ref()).expect("geolocate"))
        })
    });
    geo.finish();

    let keys = rows_by_key(located.frame()).expect("keys");
    let detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(UnfamiliarSource::default()),
        Box::new(RateSpike::default()),
        Box::new(OffHours::default()),
        Box::new(Rotation {
            config: RotationConfig { all_rotated_at: Some(1_793_000_000_000_000), ..Default::default() },
        }),
    ];
    let mut detect = c.benchmark_group("detect");
    detect.sample_size(10);
    detect.throughput(Throughput::Elements(located.height() as u64));
    for d in &detectors {
        detect.bench_function(d.name(), |b| b.iter(|| black_box(d.detect_keys(&located, &keys).expect("detect"))));
    }
    detect.finish();

    // The largest output: every event, enriched, as Parquet.
    let mut report = c.benchmark_group("report");
    report.sample_size(10);
    report.throughput(Throughput::Elements(located.height() as u64));
    report.bench_function("events_parquet", |b| {
        b.iter(|| black_box(leakhound::report::parquet::to_bytes(located).expect("events as Parquet")))
    });
    // What the charts of the most prominent incidents show, computed from the events (drawing
    // them does not depend on the number of events).
    let findings: Vec<_> =
        detectors.iter().flat_map(|d| d.detect_keys(&located, &keys).expect("detect").findings).collect();
    let incidents = leakhound::detect::incident::build(&located, &findings).expect("incidents");
    let charted = charts::charted(&incidents);
    eprintln!("charts: {} incidents, {} with charts", incidents.len(), charted.len());
    report.bench_function("chart_data", |b| {
        b.iter(|| {
            black_box(charts::prepare(&located, &keys, &incidents, &charted, &RateConfig::default()).expect("charts"))
        })
    });
    report.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
