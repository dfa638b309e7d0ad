//! Ingest throughput per format on the demo data set (MB/s and events/s).
//!
//! `cargo bench --bench ingest`. A plain timing loop (median of several runs) rather than a
//! statistics harness: each run reads a whole file, long enough to time with `Instant`.

use leakhound::ingest::{ingest, IngestOptions, NoProgress};
use std::time::{Duration, Instant};

fn main() {
    let tmp = std::env::temp_dir().join(format!("leakhound-bench-{}", std::process::id()));
    if let Err(e) = leakhound::demo::generate(&tmp) {
        eprintln!("cannot write the demo data: {e}");
        std::process::exit(1);
    }
    let runs = 7;
    println!("{:<58} {:>10} {:>12} {:>12}", "input", "events", "MB/s", "events/s");
    let mut inputs: Vec<_> = walk(&tmp.join("logs"));
    inputs.sort();
    for path in inputs {
        let name = path.strip_prefix(&tmp).unwrap_or(&path).display().to_string();
        let size = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64;
        let args = [path.display().to_string()];
        let mut times: Vec<Duration> = Vec::new();
        let mut events = 0;
        for _ in 0..runs {
            let start = Instant::now();
            match ingest(&args, &IngestOptions::default(), &NoProgress) {
                Ok(r) => events = r.events.height(),
                Err(e) => {
                    eprintln!("{name}: {e}");
                    break;
                }
            }
            times.push(start.elapsed());
        }
        times.sort();
        let Some(median) = times.get(times.len() / 2).map(Duration::as_secs_f64) else { continue };
        println!("{name:<58} {events:>10} {:>12.1} {:>12.0}", size / median / 1e6, events as f64 / median);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
