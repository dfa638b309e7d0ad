//! `audit`: nightly slices against one scan, files taken in once, the state's lock, and
//! crashes at any point of a state write.

use crate::common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The demo data cut into one directory of logs per UTC day, generated once per test run.
fn daily_demo() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let run = leakhound(&["generate-demo", "--daily", "--out", dir.to_str().unwrap()]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        dir
    })
}

fn days() -> Vec<PathBuf> {
    let mut days: Vec<PathBuf> =
        std::fs::read_dir(daily_demo().join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    days
}

/// The options every demo run shares.
fn demo_options() -> Vec<String> {
    let d = daily_demo();
    vec![
        "--mapping".into(),
        d.join("demo-mapping.toml").display().to_string(),
        "--geoip-dir".into(),
        d.join("geoip").display().to_string(),
        "--tz".into(),
        "Europe/Berlin".into(),
    ]
}

fn audit(inputs: &[&Path], state: &Path, out: &Path) -> Run {
    let mut args: Vec<String> = vec!["audit".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(["--state".into(), state.display().to_string(), "--out".into(), out.display().to_string()]);
    args.extend(demo_options());
    leakhound(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Flagged events as (file, line, severity, detectors, score).
fn flagged(out: &Path) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(out.join("flagged_events.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = leakhound::ingest::split_csv_record(lines.next().unwrap().as_bytes(), b',');
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let cols = [at("source_file"), at("source_line"), at("severity"), at("detectors"), at("score")];
    lines
        .map(|l| {
            let cells = leakhound::ingest::split_csv_record(l.as_bytes(), b',');
            cols.iter().map(|&c| cells[c].clone()).collect()
        })
        .collect()
}

/// Findings as (detector, kind, credential, severity).
fn findings(out: &Path) -> BTreeSet<[String; 4]> {
    let v = read_json(&out.join("findings.json"));
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| ["detector", "kind", "credential", "severity"].map(|k| f[k].as_str().unwrap().to_string()))
        .collect()
}

fn history_rows(state: &Path) -> u64 {
    read_json(&state.join("state.json"))["history"]["rows"].as_u64().unwrap()
}

#[test]
fn an_audit_over_daily_slices_finds_what_one_scan_over_all_of_them_finds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["scan".into(), daily_demo().join("logs").display().to_string()];
    args.extend(["--out".into(), tmp.path().join("scan").display().to_string(), "-q".into()]);
    args.extend(demo_options());
    let scan = leakhound(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(scan.status, 0, "{}", scan.stderr);
    let scanned = read_json(&tmp.path().join("scan/summary.json"));

    let state = tmp.path().join("state");
    let (mut audited, mut audited_findings) = (BTreeSet::new(), BTreeSet::new());
    let mut alerts = Vec::new();
    for day in days() {
        let out = tmp.path().join("audits").join(day.file_name().unwrap());
        let run = audit(&[&day], &state, &out);
        assert!(run.status == 0 || run.status == 1, "{}: {}", day.display(), run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "one line: {}", run.stdout);
        assert!(run.stdout.starts_with("leakhound audit "), "{}", run.stdout);
        if run.status == 1 {
            assert!(run.stdout.contains("ALERT"), "{}", run.stdout);
            alerts.push(day.file_name().unwrap().to_string_lossy().into_owned());
        }
        audited.extend(flagged(&out));
        audited_findings.extend(findings(&out));
    }
    let scan_flagged = flagged(&tmp.path().join("scan"));
    assert!(scan_flagged.len() > 5000, "the demo's leaks are flagged");
    let only_scan: Vec<_> = scan_flagged.difference(&audited).take(5).collect();
    let only_audit: Vec<_> = audited.difference(&scan_flagged).take(5).collect();
    assert!(
        only_scan.is_empty() && only_audit.is_empty(),
        "only in the scan: {only_scan:?}\nonly in the audits: {only_audit:?}"
    );
    assert_eq!(findings(&tmp.path().join("scan")), audited_findings);
    // The nights that alert are those with events the scan flags at high or above: the bulk
    // export (it crosses midnight UTC), the forgotten service's nightly use of the rotated key,
    // the attacker after the rotation, the enumeration and the spam burst.
    let high_days: BTreeSet<String> = scan_flagged
        .iter()
        .filter(|f| f[2] == "high" || f[2] == "critical")
        .map(|f| f[0].trim_start_matches(&format!("{}/logs/", daily_demo().display()))[..10].to_string())
        .collect();
    assert_eq!(alerts, high_days.into_iter().collect::<Vec<_>>());
    assert!(alerts.len() >= 5 && alerts.len() < days().len(), "{alerts:?}");
    assert_eq!(history_rows(&state), scanned["totals"]["rows_accepted"].as_u64().unwrap());

    // Tonight's files again: nothing new, nothing counted twice.
    let last = days().pop().unwrap();
    let again = audit(&[&last], &state, &tmp.path().join("again"));
    assert_eq!(again.status, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("OK: no incidents at high or above; nothing new; 4 files already audited"),
        "{}",
        again.stdout
    );
    assert_eq!(history_rows(&state), scanned["totals"]["rows_accepted"].as_u64().unwrap());
}

#[test]
fn a_file_is_audited_once_and_a_grown_log_from_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let line = |i: u32| {
        format!(
            "203.0.113.{i} - - [05/Oct/2026:10:{:02}:00 +0200] \"GET /v2/users/{i}?api_key=fcsk_live_0123456789abcdef HTTP/1.1\" 200 512 \"-\" \"svc/1\"\n",
            i % 60
        )
    };
    let access = logs.join("access.log");
    std::fs::write(&access, (1..=3).map(line).collect::<String>()).unwrap();
    let state = tmp.path().join("state");
    let first = audit(&[&logs], &state, &tmp.path().join("out1"));
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(first.stdout.contains("3 new events from 1 file"), "{}", first.stdout);

    // The log grows by two lines, one of them broken; a copy of the old log turns up.
    let mut grown = std::fs::read_to_string(&access).unwrap();
    grown.push_str(&line(4));
    grown.push_str("not a log line\n");
    std::fs::write(&access, grown).unwrap();
    std::fs::write(logs.join("access.log.1"), (1..=3).map(line).collect::<String>()).unwrap();
    let second = audit(&[&logs], &state, &tmp.path().join("out2"));
    assert_eq!(second.status, 0, "{}", second.stderr);
    assert!(
        second.stdout.contains("1 new event from 1 file; 1 row rejected; 1 file already audited"),
        "{}",
        second.stdout
    );
    let summary = read_json(&tmp.path().join("out2/summary.json"));
    assert_eq!(summary["totals"]["rows_read"], 2);
    assert_eq!(summary["totals"]["rows_accepted"], 1);
    let rejects = std::fs::read_to_string(tmp.path().join("out2/rejects.csv")).unwrap();
    assert!(rejects.contains(",5,"), "the broken line is rejected with its line number: {rejects}");
    let files = read_json(&tmp.path().join("out2/audit.json"))["files"].clone();
    let status: Vec<&str> = files.as_array().unwrap().iter().map(|f| f["status"].as_str().unwrap()).collect();
    assert_eq!(status, ["grown", "already_audited"]);
    assert_eq!(history_rows(&state), 4);
    // The raw key is in the logs, never in the state.
    for entry in std::fs::read_dir(&state).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!contains(&bytes, b"fcsk_live_0123456789abcdef"));
    }
}

#[test]
fn a_line_still_being_written_is_audited_once_it_is_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("access.log");
    let line = |i: u32| {
        format!(
            "203.0.113.{i} - - [05/Oct/2026:10:0{i}:00 +0200] \"GET /v2/users/{i} HTTP/1.1\" 200 512 \"-\" \"svc/1\"\n"
        )
    };
    let complete: String = (1..=3).map(line).collect();
    let fourth = line(4);
    let (head, tail) = fourth.split_at(30);
    std::fs::write(&log, format!("{complete}{head}")).unwrap();
    let state = tmp.path().join("state");
    let first = audit(&[&log], &state, &tmp.path().join("out1"));
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(first.stdout.contains("3 new events from 1 file; report"), "nothing rejected: {}", first.stdout);
    std::fs::write(&log, format!("{complete}{head}{tail}")).unwrap();
    let second = audit(&[&log], &state, &tmp.path().join("out2"));
    assert!(second.stdout.contains("1 new event from 1 file; report"), "{}", second.stdout);
    assert_eq!(history_rows(&state), 4);
}

#[test]
fn standard_input_cannot_be_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let run = leakhound_stdin(
        &[
            "audit",
            "-",
            "--state",
            tmp.path().join("s").to_str().unwrap(),
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("audit cannot read standard input"), "{}", run.stderr);
}

#[test]
fn a_locked_state_is_refused_with_exit_2_and_the_lock_dies_with_its_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let day = &days()[0];
    let holder = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(state.join("lock")).unwrap();
    holder.try_lock().unwrap();
    let refused = audit(&[day], &state, &tmp.path().join("out"));
    assert_eq!(refused.status, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("another audit is using this state"), "{}", refused.stderr);
    assert!(!state.join("state.json").exists());
    drop(holder);
    let after = audit(&[day], &state, &tmp.path().join("out"));
    assert_eq!(after.status, 0, "{}", after.stderr);
}

#[test]
fn two_audits_started_together_never_take_a_file_in_twice() {
    let days = days();
    let inputs: Vec<&Path> = days[..3].iter().map(PathBuf::as_path).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut expected = None;
    for round in 0..3 {
        let state = tmp.path().join(format!("state{round}"));
        let spawn = |n: u32| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakhound"));
            cmd.arg("audit").args(&inputs).arg("--state").arg(&state).arg("--out");
            cmd.arg(tmp.path().join(format!("out{round}-{n}"))).args(demo_options());
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        };
        let (a, b) = (spawn(1), spawn(2));
        let outcomes: Vec<_> = [a, b].into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let mut succeeded = 0;
        for o in &outcomes {
            let stderr = String::from_utf8_lossy(&o.stderr);
            match o.status.code() {
                Some(0 | 1) => succeeded += 1,
                Some(2) => assert!(stderr.contains("another audit is using this state"), "{stderr}"),
                other => panic!("unexpected exit {other:?}: {stderr}"),
            }
        }
        assert!(succeeded >= 1);
        let rows = history_rows(&state);
        assert_eq!(*expected.get_or_insert(rows), rows, "the same events, once");
    }
}

/// Runs an audit of `day` that is killed by `LEAKHOUND_FAILPOINT` or after `kill_after`.
fn interrupted_audit(day: &Path, state: &Path, out: &Path, failpoint: Option<&str>, kill_after: Option<u64>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leakhound"));
    cmd.arg("audit").arg(day).arg("--state").arg(state).arg("--out").arg(out).args(demo_options());
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(f) = failpoint {
        cmd.env("LEAKHOUND_FAILPOINT", f);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(ms) = kill_after {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    if failpoint.is_some() {
        assert!(!status.success(), "the failpoint stopped the process");
    }
}

/// The state loads (or does not exist yet), and holds the events of one of `allowed` totals.
fn assert_state_is_whole(state: &Path, allowed: &[u64]) {
    if !state.join("state.json").exists() {
        assert!(allowed.contains(&0), "only a state that never committed may be missing");
        return;
    }
    let run = leakhound(&["inventory", "--state", state.to_str().unwrap(), "-q"]);
    assert_eq!(run.status, 0, "the state loads: {}", run.stderr);
    let rows = history_rows(state);
    assert!(allowed.contains(&rows), "{rows} events, expected one of {allowed:?}");
}

#[test]
fn a_crash_at_any_point_of_a_state_write_leaves_the_old_or_the_new_state() {
    let days = days();
    let tmp = tempfile::tempdir().unwrap();
    // Event counts of the first two days, from audits that were not interrupted.
    let reference = tmp.path().join("reference");
    audit(&[&days[0]], &reference, &tmp.path().join("r"));
    let one = history_rows(&reference);
    audit(&[&days[1]], &reference, &tmp.path().join("r"));
    let two = history_rows(&reference);
    assert!(two > one && one > 0);

    for (i, failpoint) in ["writing-history", "after-history", "writing-manifest", "after-manifest"].iter().enumerate()
    {
        let state = tmp.path().join(format!("state-{i}"));
        let out = tmp.path().join(format!("out-{i}"));
        assert_eq!(audit(&[&days[0]], &state, &out).status, 0);
        interrupted_audit(&days[1], &state, &out, Some(failpoint), None);
        let committed = *failpoint == "after-manifest";
        assert_state_is_whole(&state, &[if committed { two } else { one }]);
        // The next audit cleans up and takes the day in exactly once.
        let rerun = audit(&[&days[1]], &state, &out);
        assert_eq!(rerun.status, 0, "{failpoint}: {}", rerun.stderr);
        assert_eq!(history_rows(&state), two, "{failpoint}");
        assert_no_temporaries(&state);
        let files: Vec<String> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("history-"))
            .collect();
        assert_eq!(files.len(), 1, "{failpoint}: one generation left: {files:?}");
    }

    // kill -9 at arbitrary moments (a fixed sequence, so that a failure can be replayed).
    let state = tmp.path().join("state-killed");
    let out = tmp.path().join("out-killed");
    let mut rng = leakhound::demo::Rng(7);
    for _ in 0..8 {
        let _ = std::fs::remove_dir_all(&state);
        interrupted_audit(&days[0], &state, &out, None, Some(rng.next_u64() % 400));
        assert_state_is_whole(&state, &[0, one]);
        assert_eq!(audit(&[&days[0]], &state, &out).status, 0);
        assert_eq!(history_rows(&state), one);
        interrupted_audit(&days[1], &state, &out, None, Some(rng.next_u64() % 700));
        assert_state_is_whole(&state, &[one, two]);
        let finish = audit(&[&days[0], &days[1]], &state, &out);
        assert_eq!(finish.status, 0, "{}", finish.stderr);
        assert_eq!(history_rows(&state), two);
    }
}

#[test]
fn a_state_built_with_geoip_needs_geoip() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    assert_eq!(audit(&[&days()[0]], &state, &tmp.path().join("out")).status, 0);
    let run = leakhound(&[
        "audit",
        days()[1].to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("built with GeoIP databases"), "{}", run.stderr);
}

#[test]
fn a_state_of_another_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    assert_eq!(audit(&[&days()[0]], &state, &tmp.path().join("out")).status, 0);
    let manifest = state.join("state.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("\"version\": 1,", "\"version\": 99,");
    std::fs::write(&manifest, text).unwrap();
    let run = audit(&[&days()[1]], &state, &tmp.path().join("out"));
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("state format 99") && run.stderr.contains("reads format 1 only"), "{}", run.stderr);
}
