//! Throughput of each stage on a synthetic input: parsing per format (MB/s), GeoIP lookups
//! (ns per distinct address), and each detector (events/s).
//!
//! `cargo bench --bench stages [-- EVENTS]` (default 200,000 events). Plain timing loops,
//! median of several runs. Uses the full GeoIP databases in `../shared/geoip/full` when they
//! exist, else the demo's.

use leakhound::detect::off_hours::OffHours;
use leakhound::detect::rate::RateSpike;
use leakhound::detect::rotation::{Rotation, RotationConfig};
use leakhound::detect::unfamiliar::UnfamiliarSource;
use leakhound::detect::{rows_by_key, Detector};
use leakhound::enrich::geoip::{GeoDatabases, Sources};
use leakhound::ingest::{ingest, IngestOptions, NoProgress};
use leakhound::synth::{write, Spec, SynthFormat};
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// Median wall time of `RUNS` runs of `f`.
fn median(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2].as_secs_f64()
}

fn main() {
    let events: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("leakhound-stages-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        std::process::exit(1);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let full = root.join("../shared/geoip/full");
    let geoip = if full.is_dir() { full } else { root.join("data/geoip") };

    println!("parsing ({events} events)");
    let mut frame = None;
    for (format, name) in [(SynthFormat::Csv, "events.csv"), (SynthFormat::Jsonl, "events.jsonl")] {
        let path = dir.join(name);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("temporary file"));
        write(&Spec { events, keys: 8, addresses: 5000, format }, &mut file).expect("benchmark input");
        drop(file);
        let size = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64;
        let args = [path.display().to_string()];
        let t = median(|| {
            let ingested = ingest(&args, &IngestOptions::default(), &NoProgress).expect("ingest");
            frame = Some(ingested.events);
        });
        println!("  {name:<14} {:>8.1} MB/s {:>12.0} events/s", size / t / 1e6, events as f64 / t);
    }
    let Some(mut frame) = frame else { return };

    let (dbs, problems) = GeoDatabases::discover(&Sources { dirs: vec![geoip.clone()], ..Default::default() });
    if let Some(p) = problems.first() {
        eprintln!("{p}");
        std::process::exit(1);
    }
    let mut stats = None;
    let t = median(|| {
        let mut f = frame.clone();
        stats = Some(leakhound::enrich::geolocate(&mut f, &dbs, None).expect("geolocate"));
    });
    let distinct = stats.map_or(1, |s| s.distinct_ips).max(1);
    println!("geolocation ({}): {distinct} distinct addresses among {events} events", geoip.display());
    println!(
        "  {:.0} ns per distinct address (each looked up once: {:.1}% of rows hit an earlier lookup), {:.0} events/s",
        t * 1e9 / distinct as f64,
        100.0 * (1.0 - distinct as f64 / events as f64),
        events as f64 / t
    );
    leakhound::enrich::geolocate(&mut frame, &dbs, None).expect("geolocate");

    println!("detectors");
    let keys = rows_by_key(&frame).expect("keys");
    let detectors: Vec<Box<dyn Detector>> = vec![
        Box::new(UnfamiliarSource::default()),
        Box::new(RateSpike::default()),
        Box::new(OffHours::default()),
        Box::new(Rotation {
            config: RotationConfig { all_rotated_at: Some(1_793_000_000_000_000), ..Default::default() },
        }),
    ];
    for d in &detectors {
        let t = median(|| {
            d.detect_keys(&frame, &keys).expect("detect");
        });
        println!("  {:<18} {:>12.0} events/s", d.name(), events as f64 / t);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
