//! Streaming scans (`--streaming`): the same outputs as a scan in memory, whatever the number
//! of key buckets, with nothing left behind in the output directory.

use crate::common::*;
use std::path::Path;

/// Sorts the events of `events.parquet` the way a scan in memory orders them.
fn sorted_events(out: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    read_events(out).sort(["timestamp", "source_file", "source_line"], SortMultipleOptions::default()).unwrap()
}

/// Every output of the two runs is byte for byte the same, but `events.parquet`, whose events
/// come bucket by bucket in a streaming scan: the same events and columns.
fn assert_same_outputs(memory: &Path, streamed: &Path, what: &str) {
    let files = list_files(memory);
    assert_eq!(files, list_files(streamed), "{what}: the same files");
    for f in files.iter().filter(|f| *f != "events.parquet") {
        let (a, b) = (std::fs::read(memory.join(f)).unwrap(), std::fs::read(streamed.join(f)).unwrap());
        if a != b {
            panic!("{what}: {f} differs:\n{}", line_diff(&String::from_utf8_lossy(&a), &String::from_utf8_lossy(&b)));
        }
    }
    let (a, b) = (sorted_events(memory), sorted_events(streamed));
    assert_eq!(a.schema(), b.schema(), "{what}: events.parquet columns");
    assert!(a.equals_missing(&b), "{what}: events.parquet rows");
    assert_no_temporaries(streamed);
    let leftovers: Vec<String> = std::fs::read_dir(streamed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{what}: left in the output directory: {leftovers:?}");
}

/// The demo, with every detector finding something: one bucket per key, several keys per
/// bucket, all keys in one; with a rolling baseline and with `--baseline-days` (whose
/// "first days of the input" are those of all keys together, not of a bucket's).
#[test]
fn streaming_demo_scan_writes_what_a_scan_in_memory_writes() {
    let cases: [(&[&str], &[Option<&str>]); 2] =
        [(&[], &[None, Some("3"), Some("1")]), (&["--baseline-days", "3"], &[Some("3")])];
    for (extra, bucket_counts) in cases {
        let (_m, memory, run) = demo_scan(&[&["--no-streaming"], extra].concat());
        assert_eq!(run.status, 0, "{}", run.stderr);
        for &buckets in bucket_counts {
            let args: Vec<&str> = match buckets {
                None => vec!["--streaming"],
                Some(n) => vec!["--streaming-buckets", n],
            };
            let (_s, streamed, run) = demo_scan(&[&args[..], extra].concat());
            assert_eq!(run.status, 0, "{}", run.stderr);
            assert_same_outputs(&memory, &streamed, &format!("{args:?} {extra:?}"));
        }
    }
}

/// Rejected rows, a file left out for too many of them (after some of its rows were already
/// on disk), files of every format: accounted for as in memory.
#[test]
fn streaming_accounts_for_rejects_and_files_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = String::from("timestamp,ip,api_key\n");
    for i in 0..3000 {
        let ts = if i % 4 == 0 { format!("2026-03-02T10:{:02}:00Z", i % 60) } else { "not a time".into() };
        bad.push_str(&format!("{ts},198.51.100.{},sk_live_0123456789abcdef{}\n", i % 250, i % 3));
    }
    let bad_path = tmp.path().join("mostly-bad.csv");
    std::fs::write(&bad_path, bad).unwrap();
    let mut inputs: Vec<std::path::PathBuf> =
        ["gateway.jsonl", "export.json", "export.csv", "usage.tsv", "access.log", "alb.log"]
            .iter()
            .map(|f| fixture_path(f))
            .collect();
    inputs.insert(3, bad_path);
    let inputs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let common = ["--tz", "Europe/Berlin"];
    let memory = scan(&inputs, &[&common[..], &["--no-streaming"]].concat());
    let streamed = scan(&inputs, &[&common[..], &["--streaming-buckets", "2"]].concat());
    assert_eq!(memory.run.status, streamed.run.status);
    assert_eq!(memory.run.stderr, streamed.run.stderr);
    assert!(memory.run.stderr.contains("mostly-bad.csv"), "{}", memory.run.stderr);
    assert!(memory.rejects().contains("file_left_out"));
    assert_same_outputs(&memory.out, &streamed.out, "fixtures");
}

/// Standard input has no size to judge by: the scan starts in memory and streams as soon as
/// the events read outgrow `--max-memory`, with the same outputs as in memory.
#[test]
fn streaming_starts_when_the_events_outgrow_max_memory() {
    let gz = std::fs::read(project_root().join("data/logs/gateway/api-gateway-2026-10.jsonl.gz")).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.as_slice()), &mut text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run_with = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let out_arg = out.display().to_string();
        let mut args = vec!["scan", "-", "--tz", "Europe/Berlin", "--out", &out_arg];
        args.extend_from_slice(extra);
        let run = leakhound_stdin(&args, &text);
        (out, run)
    };
    let (memory, run) = run_with("memory", &["--no-streaming"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("judged one group of keys at a time"), "{}", run.stderr);
    let (streamed, run) = run_with("streamed", &["--max-memory", "1M"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.contains("judged one group of keys at a time"), "{}", run.stderr);
    assert_same_outputs(&memory, &streamed, "--max-memory 1M");
    // Within the limit: in memory, no note.
    let (_, run) = run_with("roomy", &["--max-memory", "4G"]);
    assert!(!run.stderr.contains("judged one group of keys at a time"), "{}", run.stderr);
}

/// More incidents than get charts (the first 20 in report order), on many keys: the charts a
/// streaming scan computes bucket by bucket, before the incidents have the run's ids, are those
/// of a scan in memory, with the same names and titles.
#[test]
fn streaming_charts_the_same_incidents_when_there_are_more_than_get_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("many-keys.csv");
    let input_arg = input.display().to_string();
    let run = leakhound(&["generate-bench", "--events", "20000", "--keys", "30", "--out", &input_arg]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let memory = scan(&[input.as_path()], &["--no-streaming"]);
    let incidents = read_json(&memory.out.join("incidents.json"))["incidents"].as_array().unwrap().clone();
    let keys: std::collections::BTreeSet<&str> =
        incidents[..20].iter().map(|i| i["credential"].as_str().unwrap()).collect();
    assert!(
        incidents.len() > 60 && keys.len() > 5,
        "{} incidents, the first 20 on {} keys",
        incidents.len(),
        keys.len()
    );
    for buckets in ["3", "64"] {
        let streamed = scan(&[input.as_path()], &["--streaming-buckets", buckets]);
        assert_eq!(streamed.run.status, memory.run.status, "{}", streamed.run.stderr);
        assert_same_outputs(&memory.out, &streamed.out, &format!("{buckets} buckets"));
    }
}

#[test]
fn max_memory_must_be_a_size() {
    for bad in ["lots", "4Q", "0", "-1G"] {
        let run = leakhound(&["scan", "x.log", "--out", "/nonexistent/out", &format!("--max-memory={bad}")]);
        assert_eq!(run.status, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("use a size"), "{bad}: {}", run.stderr);
    }
}
