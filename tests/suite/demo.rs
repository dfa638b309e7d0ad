//! The demo data end to end: every planted leak found, legitimate traffic left alone.

use crate::common::*;
use std::collections::{BTreeMap, HashSet};

const ORDER: [&str; 5] = ["info", "low", "medium", "high", "critical"];

fn rank(severity: &str) -> usize {
    ORDER.iter().position(|s| *s == severity).unwrap()
}

/// Every leak and every planted event as `(file, line) → leak id`.
fn planted_events() -> BTreeMap<(String, u64), String> {
    let truth = read_json(&project_root().join("data/truth.json"));
    let mut planted = BTreeMap::new();
    for leak in truth["leaks"].as_array().unwrap() {
        for (file, lines) in leak["lines"].as_object().unwrap() {
            for l in lines.as_array().unwrap() {
                planted.insert((format!("data/{file}"), l.as_u64().unwrap()), leak["id"].as_str().unwrap().to_string());
            }
        }
    }
    planted
}

/// The forgotten service's use of prod-bot's old key after its rotation: an expected finding
/// (`high`, a client to update), not a leak.
fn expected_after_rotation() -> HashSet<(String, u64)> {
    let truth = read_json(&project_root().join("data/truth.json"));
    let mut expected = HashSet::new();
    for r in truth["rotations"].as_array().unwrap() {
        for (file, lines) in r["still_using_old_key"]["lines"].as_object().unwrap() {
            for l in lines.as_array().unwrap() {
                expected.insert((format!("data/{file}"), l.as_u64().unwrap()));
            }
        }
    }
    expected
}

/// All inputs read, geolocated, labelled, and every planted leak's lines present as events.
#[test]
fn demo_scan_reads_and_locates_everything() {
    let (_tmp, out, run) = demo_scan(&[]);
    assert_eq!(run.status, 0, "without --fail-on, findings do not change the status: {}", run.stderr);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["geoip"]["enabled"], true);
    assert_eq!(
        summary["geoip"]["located_ips"], summary["geoip"]["distinct_ips"],
        "the demo database covers every address"
    );
    assert_eq!(summary["totals"]["rows_rejected"], 0);
    assert_eq!(summary["totals"]["files"], 4);
    let labels: Vec<_> = summary["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        labels,
        vec!["marketing-sync", "prod-bot", "support-desk", "prod-bot-v2", "mobile-app", ""],
        "{summary}"
    );
    // The key that replaced the rotated one is used by the same servers: not flagged, only
    // noted as too new to judge.
    let findings = read_json(&out.join("findings.json"));
    let v2 = summary["credentials"].as_array().unwrap().iter().find(|c| c["label"] == "prod-bot-v2").unwrap()
        ["credential"]
        .clone();
    assert!(findings["findings"].as_array().unwrap().iter().all(|f| f["credential"] != v2), "prod-bot-v2 is flagged");
    assert!(
        findings["notes"].as_array().unwrap().iter().any(|n| n["credential"] == v2
            && n["message"].as_str().unwrap().starts_with("insufficient baseline for prod-bot-v2")),
        "{findings}"
    );
    let index: HashSet<(String, u64)> = event_rows(&out).into_iter().map(|r| (r.source_file, r.source_line)).collect();
    for (event, leak) in planted_events() {
        assert!(index.contains(&event), "{leak}: {event:?} was not read");
    }
}

#[test]
fn planted_leaks_are_found_and_legitimate_traffic_is_not_flagged_above_low() {
    let (_tmp, out, run) = demo_scan(&["--fail-on", "medium"]);
    assert_eq!(run.status, 1, "findings at medium exit with 1: {}", run.stderr);
    // The demo logs carry the raw keys (`fcsk_live_…`); no output does.
    for rel in list_files(&out) {
        let bytes = std::fs::read(out.join(&rel)).unwrap();
        assert!(!contains(&bytes, b"fcsk_live_"), "{rel} holds a raw demo key");
    }
    assert!(!run.stdout.contains("fcsk_live_") && !run.stderr.contains("fcsk_live_"));

    let planted = planted_events();
    let truth = read_json(&project_root().join("data/truth.json"));
    let text = std::fs::read_to_string(out.join("flagged_events.csv")).unwrap();
    let mut reader = text.lines();
    let header: Vec<&str> = reader.next().unwrap().split(',').collect();
    assert_eq!(header, leakhound::report::flagged::COLUMNS);
    let rows = flagged_rows(&text);
    let medium: HashSet<(String, u64)> =
        rows.iter().filter(|r| rank(&r.severity) >= rank("medium")).map(|r| (r.file.clone(), r.line)).collect();

    // Every leak is found at medium or above.
    for leak in truth["leaks"].as_array().unwrap() {
        let id = leak["id"].as_str().unwrap();
        let found = planted.iter().filter(|(k, v)| *v == id && medium.contains(k)).count();
        assert!(found > 0, "{id} was not found at medium or above");
    }
    // The service that kept the rotated key: every one of its later requests is flagged `high`
    // (rotation), as a client to update, not merged into the attacker's incident.
    let late = expected_after_rotation();
    assert!(late.len() > 100, "the demo has a forgotten service");
    let late_rows: Vec<&Flagged> = rows.iter().filter(|r| late.contains(&(r.file.clone(), r.line))).collect();
    assert_eq!(late_rows.len(), late.len(), "every use of the old key after the rotation is flagged");
    assert!(
        late_rows.iter().all(|r| r.severity == "high"),
        "{:?}",
        late_rows.iter().map(|r| &r.severity).collect::<HashSet<_>>()
    );
    // Legitimate traffic: nothing above low.
    let legit_above_low: Vec<_> = rows
        .iter()
        .filter(|r| rank(&r.severity) > rank("low") && !planted.contains_key(&(r.file.clone(), r.line)))
        .filter(|r| !late.contains(&(r.file.clone(), r.line)))
        .map(|r| format!("{}:{} {}", r.file, r.line, r.severity))
        .take(5)
        .collect();
    assert!(legit_above_low.is_empty(), "legitimate events flagged above low: {legit_above_low:?}");

    // Precision and recall on the events, at medium and above.
    let medium: HashSet<(String, u64)> = medium.into_iter().filter(|k| !late.contains(k)).collect();
    let true_positives = medium.iter().filter(|k| planted.contains_key(*k)).count();
    let precision = true_positives as f64 / medium.len().max(1) as f64;
    let recall = true_positives as f64 / planted.len() as f64;
    eprintln!("demo: {} flagged at medium+, precision {precision:.4}, recall {recall:.4}", medium.len());
    assert!(precision >= 0.99, "precision {precision:.4}");
    assert!(recall >= 0.99, "recall {recall:.4}");
}

struct Flagged {
    file: String,
    line: u64,
    severity: String,
}

/// The file, line and severity of each flagged row (the CSV's reason may hold commas).
fn flagged_rows(csv: &str) -> Vec<Flagged> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let fields = split_csv(l);
            Flagged { file: fields[14].clone(), line: fields[15].parse().unwrap(), severity: fields[18].clone() }
        })
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    leakhound::ingest::split_csv_record(line.as_bytes(), b',')
}
