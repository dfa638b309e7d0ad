//! Helpers for the end-to-end tests: running the binary, reading outputs, golden files.

#![allow(dead_code)]

use polars::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_path(name: &str) -> PathBuf {
    project_root().join("tests/fixtures").join(name)
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the leakhound binary runs");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn leakhound(args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_leakhound")).args(args), None)
}

pub fn leakhound_in(dir: &Path, args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_leakhound")).current_dir(dir).args(args), None)
}

pub fn leakhound_stdin(args: &[&str], input: &[u8]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_leakhound")).args(args), Some(input))
}

/// A file from `../shared`. Under CI a missing file fails the test; elsewhere the test is
/// skipped with a note.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = project_root().join("../shared").join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} is missing: tests need ../shared under CI", path.display());
    }
    eprintln!("note: skipping, {} is not available", path.display());
    None
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn read_events(out: &Path) -> DataFrame {
    let file = std::fs::File::open(out.join("events.parquet")).unwrap();
    ParquetReader::new(file).finish().unwrap()
}

/// One row of `events.parquet`, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub timestamp: String,
    pub credential: String,
    pub credential_hint: Option<String>,
    pub credential_label: Option<String>,
    pub source_ip: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i32>,
    pub bytes: Option<i64>,
    pub user_agent: Option<String>,
    pub count: i64,
    pub source_file: String,
    pub source_line: u64,
}

pub fn event_rows(out: &Path) -> Vec<EventRow> {
    let df = read_events(out);
    let s = |name: &str| df.column(name).unwrap().str().unwrap().clone();
    let ts = df.column("timestamp").unwrap();
    assert_eq!(
        ts.dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        "timestamps are UTC microseconds"
    );
    let ts = ts.as_materialized_series().to_physical_repr().i64().unwrap().clone();
    let (cred, hint, label, ip, method, path, ua, file) = (
        s("credential"),
        s("credential_hint"),
        s("credential_label"),
        s("source_ip"),
        s("method"),
        s("path"),
        s("user_agent"),
        s("source_file"),
    );
    let status = df.column("status").unwrap().i32().unwrap().clone();
    let bytes = df.column("bytes").unwrap().i64().unwrap().clone();
    let count = df.column("count").unwrap().i64().unwrap().clone();
    let line = df.column("source_line").unwrap().u64().unwrap().clone();
    let o = |v: Option<&str>| v.map(str::to_string);
    (0..df.height())
        .map(|i| EventRow {
            timestamp: leakhound::timestamp::format_rfc3339(ts.get(i).unwrap()),
            credential: cred.get(i).unwrap().to_string(),
            credential_hint: o(hint.get(i)),
            credential_label: o(label.get(i)),
            source_ip: o(ip.get(i)),
            method: o(method.get(i)),
            path: o(path.get(i)),
            status: status.get(i),
            bytes: bytes.get(i),
            user_agent: o(ua.get(i)),
            count: count.get(i).unwrap(),
            source_file: file.get(i).unwrap().to_string(),
            source_line: line.get(i).unwrap(),
        })
        .collect()
}

pub fn fingerprint(secret: &str) -> String {
    leakhound::secret::fingerprint(secret).id
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn assert_no_temporaries(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "temporary file left behind: {name}");
    }
}

/// Compares `actual` with `tests/golden/NAME`, printing a line diff on mismatch.
/// With UPDATE_GOLDEN=1 the golden file is rewritten instead.
pub fn assert_golden(name: &str, actual: &str) {
    let path = project_root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        panic!("{} differs (UPDATE_GOLDEN=1 rewrites it):\n{}", path.display(), line_diff(&expected, actual));
    }
}

/// A minimal line diff: `-` expected, `+` actual, for lines that differ in place.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("  {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("- {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("+ {y}\n"));
                }
            }
        }
    }
    out
}

/// A `scan` run into a fresh temporary output directory.
pub struct Scan {
    _tmp: tempfile::TempDir,
    pub out: PathBuf,
    pub run: Run,
}

impl Scan {
    pub fn summary(&self) -> serde_json::Value {
        read_json(&self.out.join("summary.json"))
    }

    pub fn rejects(&self) -> String {
        std::fs::read_to_string(self.out.join("rejects.csv")).unwrap()
    }

    pub fn rows(&self) -> Vec<EventRow> {
        event_rows(&self.out)
    }

    /// `[rows_read, rows_accepted, rows_rejected]` in total.
    pub fn totals(&self) -> [u64; 3] {
        let s = self.summary();
        let t = &s["totals"];
        ["rows_read", "rows_accepted", "rows_rejected"].map(|k| t[k].as_u64().unwrap())
    }
}

/// Runs `leakhound scan INPUTS... --out TMP/out EXTRA...`.
pub fn scan(inputs: &[&Path], extra: &[&str]) -> Scan {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args: Vec<&str> = vec!["scan"];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let run = leakhound(&args);
    Scan { _tmp: tmp, out, run }
}

/// Files below `dir`, as sorted relative paths.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            out.extend(list_files(&p).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// The demo's inputs and options, relative to the project root.
pub const DEMO_INPUT: [&str; 7] =
    ["data/logs", "--mapping", "data/demo-mapping.toml", "--geoip-dir", "data/geoip", "--tz", "Europe/Berlin"];

/// The README's demo command (run from the project root, so that `source_file` is
/// `data/logs/…` as in `data/truth.json`), with `extra` arguments.
pub fn demo_scan(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Run) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut args = vec!["scan"];
    args.extend(DEMO_INPUT);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let run = leakhound_in(&project_root(), &args);
    (tmp, out, run)
}
