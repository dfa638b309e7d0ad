//! End-to-end tests: the real `leakhound` binary in a temporary directory.

#[path = "suite/audit.rs"]
mod audit;
mod common;
#[path = "suite/demo.rs"]
mod demo;
#[path = "suite/geo.rs"]
mod geo;
#[path = "suite/report.rs"]
mod report;
#[path = "suite/scenarios.rs"]
mod scenarios;
#[path = "suite/streaming.rs"]
mod streaming;

use common::*;
use std::path::Path;

/// Every format on fixtures with the odd lines real logs carry: counts and rejects.csv
/// compared with golden files (set UPDATE_GOLDEN=1 to rewrite them after a deliberate change).
#[test]
fn each_format_fixture_is_accounted_for() {
    let cases: &[(&str, [u64; 3])] = &[
        ("gateway.jsonl", [11, 4, 7]),
        ("export.json", [4, 2, 2]),
        ("export.csv", [6, 2, 4]),
        ("usage.tsv", [3, 2, 1]),
        ("access.log", [8, 5, 3]),
        ("alb.log", [3, 2, 1]),
    ];
    for (fixture, counts) in cases {
        let input = fixture_path(fixture);
        let scan = scan(&[&input], &["--assume-tz", "Europe/Berlin", "--max-reject-ratio", "1"]);
        assert_eq!(scan.run.status, 0, "{fixture}: {}", scan.run.stderr);
        assert_eq!(scan.totals(), *counts, "{fixture}: read, accepted, rejected");
        assert_golden(&format!("{fixture}.rejects.csv"), &scan.rejects().replace(input.to_str().unwrap(), fixture));
        assert_eq!(scan.rows().len() as u64, counts[1], "{fixture}");
    }
}

#[test]
fn fields_are_normalised_per_format() {
    let fixtures: Vec<_> = ["access.log", "alb.log", "gateway.jsonl", "export.csv"].map(fixture_path).into();
    let inputs: Vec<&Path> = fixtures.iter().map(|p| p.as_path()).collect();
    let scan = scan(&inputs, &["--max-reject-ratio", "1", "--assume-tz", "UTC"]);
    assert_eq!(scan.run.status, 0, "{}", scan.run.stderr);
    let rows = scan.rows();
    let find = |file: &str, line: u64| {
        rows.iter()
            .find(|r| r.source_file.ends_with(file) && r.source_line == line)
            .unwrap_or_else(|| panic!("no event for {file}:{line}"))
    };
    // CLF: key in the query string becomes the credential and is scrubbed from the path.
    let r = find("access.log", 1);
    let fp = fingerprint("fixture_key_clf_1234567890abcdef");
    assert_eq!(r.credential, fp);
    assert_eq!(r.credential_hint.as_deref(), Some("…cdef"));
    assert_eq!(r.path.as_deref(), Some(format!("/v2/users?api_key={fp}&page=2").as_str()));
    assert_eq!(r.timestamp, "2026-03-02T11:00:00.000Z");
    // CLF behind a private balancer: the right-most public X-Forwarded-For address.
    assert_eq!(find("access.log", 2).source_ip.as_deref(), Some("203.0.113.51"));
    // Escaped quotes inside quoted fields.
    assert_eq!(find("access.log", 5).user_agent.as_deref(), Some("agent with \"quotes\""));
    assert_eq!(find("access.log", 3).bytes, None);
    // ALB: origin stripped from the URL, port from the client, IPv6 in brackets.
    let a = find("alb.log", 1);
    assert_eq!(a.source_ip.as_deref(), Some("203.0.113.60"));
    assert_eq!(
        a.path.as_deref(),
        Some(format!("/v2/users?api_key={}", fingerprint("fixture_key_alb_fedcba9876543210")).as_str())
    );
    assert_eq!(a.status, Some(200));
    assert_eq!(a.bytes, Some(1024));
    assert_eq!(find("alb.log", 2).source_ip.as_deref(), Some("2001:db8::60"));
    // NDJSON: nested and flat keys, numbers as text, IPv4-mapped IPv6, epoch seconds, count.
    let g = find("gateway.jsonl", 1);
    assert_eq!(g.credential, fingerprint("fixture_key_prod_7f3a9c2e51d04b8a"));
    assert_eq!((g.method.as_deref(), g.status, g.bytes), (Some("GET"), Some(200), Some(512)));
    let g = find("gateway.jsonl", 3);
    assert_eq!(
        (g.source_ip.as_deref(), g.method.as_deref(), g.path.as_deref()),
        (Some("203.0.113.11"), Some("POST"), Some("/v2/conversations"))
    );
    let g = find("gateway.jsonl", 4);
    assert_eq!(
        (g.source_ip.as_deref(), g.credential.as_str(), g.timestamp.as_str()),
        (Some("198.51.100.7"), "partner-sync", "2026-03-02T09:00:02.000Z")
    );
    let g = find("gateway.jsonl", 11);
    assert_eq!((g.source_ip.as_deref(), g.count), (None, 3));
    // CSV: header line 1, a quoted field spanning two lines, count column, key id.
    let c = find("export.csv", 3);
    assert_eq!((c.count, c.credential.as_str(), c.timestamp.as_str()), (5, "reporting", "2026-03-02T10:01:00.000Z"));
    assert_eq!(c.user_agent.as_deref(), Some("multi\r\nline agent"));
    // Sorted by time, then file and line.
    let times: Vec<_> = rows.iter().map(|r| r.timestamp.clone()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}

/// The real Apache combined log from ../shared: every line accounted for.
#[test]
fn real_apache_combined_log() {
    let Some(log) = shared("logs/apache_combined.log") else { return };
    let scan = scan(&[&log], &[]);
    assert_eq!(scan.run.status, 0, "{}", scan.run.stderr);
    let summary = scan.summary();
    let file = &summary["files"][0];
    assert_eq!(file["format"], "clf");
    assert_eq!(file["rows_read"], 10_000);
    assert_eq!(file["rows_accepted"], 9_999);
    assert_eq!(file["rows_rejected"], 1);
    assert_eq!(file["rejects_by_reason"]["malformed_line"], 1);
    let rejects = scan.rejects();
    let lines: Vec<_> = rejects.lines().collect();
    assert_eq!(lines.len(), 2, "{rejects}");
    assert!(lines[1].contains(",8899,malformed_line,"), "line 8899 is the truncated one: {rejects}");
    assert_eq!(scan.rows().len(), 9_999);
    assert_eq!(summary["time_range"]["first"], "2015-05-17T10:05:00.000Z");
    assert_eq!(summary["unknown_credential_rows"], 9_999);
    assert!(scan.run.stdout.contains("9,999 rows carry no credential"), "{}", scan.run.stdout);
}

/// Hostile inputs: each has an exact outcome, and none makes the program panic.
#[test]
fn hostile_inputs() {
    struct Case {
        name: &'static str,
        file: &'static str,
        bytes: Vec<u8>,
        args: &'static [&'static str],
        status: i32,
        /// rows read, accepted, rejected
        rows: [u64; 3],
        stderr: &'static str,
    }
    let mut big_line = b"203.0.113.1 - - [02/Mar/2026:12:00:00 +0100] \"GET /".to_vec();
    big_line.extend(std::iter::repeat_n(b'a', 10 << 20));
    big_line.extend_from_slice(b" HTTP/1.1\" 200 1 \"-\" \"-\"\n203.0.113.1 - - [02/Mar/2026:12:00:01 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n");
    let mut big_json = b"{\"ts\":\"2026-03-02T12:00:00Z\",\"ua\":\"".to_vec();
    big_json.extend(std::iter::repeat_n(b'b', 10 << 20));
    big_json.extend_from_slice(b"\"}\n");
    let cases = vec![
        Case { name: "binary junk", file: "junk.bin", bytes: (0..=255u8).cycle().take(4096).collect(), args: &[], status: 2, rows: [0, 0, 0], stderr: "cannot tell the log format" },
        Case { name: "binary junk named .log", file: "junk.log", bytes: [b"\x00\x01\xff\xfe garbage\n".repeat(50)].concat(), args: &["--format", "clf"], status: 2, rows: [50, 0, 50], stderr: "50 of 50 rows rejected" },
        Case { name: "empty file", file: "empty.log", bytes: vec![], args: &[], status: 0, rows: [0, 0, 0], stderr: "" },
        Case { name: "only blank lines", file: "blank.jsonl", bytes: b"\n  \n\r\n".to_vec(), args: &[], status: 0, rows: [0, 0, 0], stderr: "" },
        Case { name: "10 MB line in CLF", file: "big.log", bytes: big_line, args: &[], status: 0, rows: [2, 1, 1], stderr: "" },
        Case { name: "10 MB value in JSON Lines", file: "big.jsonl", bytes: big_json, args: &[], status: 0, rows: [1, 1, 0], stderr: "" },
        Case { name: "invalid UTF-8 in CLF user agent", file: "utf8.log", bytes: b"203.0.113.1 - - [02/Mar/2026:12:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"caf\xe9\"\n".to_vec(), args: &[], status: 0, rows: [1, 1, 0], stderr: "" },
        Case { name: "invalid UTF-8 in JSON Lines", file: "utf8.jsonl", bytes: b"{\"ts\":\"2026-03-02T12:00:00Z\"}\n{\"ts\":\"2026-03-02T12:00:01Z\",\"ua\":\"caf\xe9\"}\n{\"ts\":\"2026-03-02T12:00:02Z\"}\n".to_vec(), args: &[], status: 0, rows: [3, 2, 1], stderr: "" },
        Case { name: "invalid UTF-8 in CSV", file: "utf8.csv", bytes: b"time,ip,ua\n2026-03-02T12:00:00Z,203.0.113.1,caf\xe9\n".to_vec(), args: &[], status: 0, rows: [1, 1, 0], stderr: "" },
        Case { name: "CSV without a timestamp column", file: "nots.csv", bytes: b"ip,status\n203.0.113.1,200\n".to_vec(), args: &[], status: 2, rows: [0, 0, 0], stderr: "no timestamp field. Columns found: `ip`, `status`" },
        Case { name: "CSV with a missing column in rows", file: "short.csv", bytes: b"time,ip,status\n2026-03-02T12:00:00Z,203.0.113.1,200\n2026-03-02T12:00:01Z,203.0.113.1\n2026-03-02T12:00:02Z,203.0.113.1,200\n".to_vec(), args: &[], status: 0, rows: [3, 2, 1], stderr: "" },
        Case { name: "CSV quote never closed", file: "open.csv", bytes: b"time,ip,ua\n2026-03-02T12:00:00Z,203.0.113.1,ok\n2026-03-02T12:00:01Z,203.0.113.1,\"open\n2026-03-02T12:00:02Z,203.0.113.1,ok\n".to_vec(), args: &[], status: 2, rows: [0, 0, 0], stderr: "the quoted field opened on line 3 is never closed" },
        Case { name: "CSV header only", file: "header.csv", bytes: b"time,ip\n".to_vec(), args: &[], status: 0, rows: [0, 0, 0], stderr: "" },
        Case { name: "JSON of the wrong types", file: "types.jsonl", bytes: b"{\"ts\":\"2026-03-02T12:00:00Z\",\"status\":200,\"bytes\":5}\n{\"ts\":\"2026-03-02T12:00:01Z\",\"status\":true,\"bytes\":5}\n{\"ts\":\"2026-03-02T12:00:02Z\",\"status\":200,\"bytes\":{\"n\":1}}\n{\"ts\":12.5e3,\"status\":[200]}\n{\"ts\":\"2026-03-02T12:00:04Z\",\"status\":\"404\",\"bytes\":\"7\"}\n".to_vec(), args: &["--max-reject-ratio", "1"], status: 0, rows: [5, 2, 3], stderr: "" },
        Case { name: "JSON array not closed", file: "open.json", bytes: b"[{\"ts\":\"2026-03-02T12:00:00Z\"},\n{\"ts\":".to_vec(), args: &[], status: 2, rows: [0, 0, 0], stderr: "not a valid JSON file" },
        Case { name: "JSON scalar document", file: "scalar.json", bytes: b"42".to_vec(), args: &[], status: 2, rows: [0, 0, 0], stderr: "neither an array nor an object" },
        Case { name: "broken gzip", file: "broken.log.gz", bytes: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5], args: &[], status: 2, rows: [0, 0, 0], stderr: "corrupt gzip data" },
        Case { name: "naive timestamps without a zone", file: "naive.csv", bytes: b"time,ip\n2026-03-02 12:00:00,203.0.113.1\n".to_vec(), args: &[], status: 2, rows: [1, 0, 1], stderr: "no UTC offset and no time zone is declared" },
        Case { name: "naive timestamps with --assume-tz", file: "naive2.csv", bytes: b"time,ip\n2026-03-02 12:00:00,203.0.113.1\n".to_vec(), args: &["--assume-tz", "America/New_York"], status: 0, rows: [1, 1, 0], stderr: "" },
    ];
    for case in cases {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join(case.file);
        std::fs::write(&input, &case.bytes).unwrap();
        let out = tmp.path().join("out");
        let mut args = vec!["scan", input.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(case.args);
        let run = leakhound(&args);
        assert_eq!(run.status, case.status, "{}: stderr {}", case.name, run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}: {}", case.name, run.stderr);
        if case.stderr.is_empty() {
            assert!(run.stderr.is_empty(), "{}: unexpected stderr {}", case.name, run.stderr);
        } else {
            assert!(run.stderr.contains(case.stderr), "{}: stderr {}", case.name, run.stderr);
            assert!(run.stderr.contains(case.file), "{}: the message names the file: {}", case.name, run.stderr);
        }
        let summary = read_json(&out.join("summary.json"));
        let t = &summary["totals"];
        assert_eq!(
            [
                t["rows_read"].as_u64().unwrap(),
                t["rows_accepted"].as_u64().unwrap(),
                t["rows_rejected"].as_u64().unwrap()
            ],
            case.rows,
            "{}",
            case.name
        );
        assert_no_temporaries(&out);
    }
}

/// Raw keys written into inputs of every format never reach an output, stdout or stderr.
#[test]
fn no_raw_secret_in_any_output() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    for f in ["gateway.jsonl", "export.json", "export.csv", "usage.tsv", "access.log", "alb.log"] {
        std::fs::copy(fixture_path(f), inputs.join(f)).unwrap();
    }
    // Secrets in places beyond the credential fields: a path segment, a user agent, a bad row.
    std::fs::write(
        inputs.join("extra.jsonl"),
        "{\"ts\":\"2026-03-02T12:00:00Z\",\"token\":\"fixture_key_extra_a1b2c3d4e5f6a7b8\",\"path\":\"/v2/keys/fixture_key_extra_a1b2c3d4e5f6a7b8/usage\",\"ua\":\"bot key=fixture_key_extra_a1b2c3d4e5f6a7b8\"}\n{\"ts\":\"fixture_key_extra_a1b2c3d4e5f6a7b8\",\"token\":\"x\"}\n{\"ts\":\"2026-03-02T12:00:01Z\",\"ip\":\"fixture_key_extra_a1b2c3d4e5f6a7b8\"}\n",
    )
    .unwrap();
    let scan = scan(&[&inputs], &["--assume-tz", "UTC", "--max-reject-ratio", "1"]);
    let (run, out) = (&scan.run, &scan.out);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let secrets = [
        "fixture_key_prod_7f3a9c2e51d04b8a",
        "fixture_key_json_c0ffee00deadbeef",
        "fixture_key_csv_0a1b2c3d4e5f6a7b",
        "fixture_key_tsv_99aa88bb77cc66dd",
        "fixture_key_clf_1234567890abcdef",
        "fixture_key_alb_fedcba9876543210",
        "fixture_key_extra_a1b2c3d4e5f6a7b8",
    ];
    let mut outputs = vec![
        ("stdout".to_string(), run.stdout.clone().into_bytes()),
        ("stderr".to_string(), run.stderr.clone().into_bytes()),
    ];
    for entry in std::fs::read_dir(out).unwrap() {
        let p = entry.unwrap().path();
        outputs.push((p.display().to_string(), std::fs::read(&p).unwrap()));
    }
    // Parquet pages are compressed: check the decoded text too.
    let rows = event_rows(out);
    outputs.push(("events.parquet (decoded)".into(), format!("{rows:?}").into_bytes()));
    for (name, bytes) in &outputs {
        for s in secrets {
            assert!(!contains(bytes, s.as_bytes()), "{name} contains the raw key {s}");
            // Not even the secret without its prefix (a hint shows only 4 characters).
            let tail = &s[s.len() - 12..];
            assert!(!contains(bytes, tail.as_bytes()), "{name} contains a long piece of {s}");
        }
    }
    assert!(rows.iter().any(|r| r.path.as_deref()
        == Some(format!("/v2/keys/{}/usage", fingerprint("fixture_key_extra_a1b2c3d4e5f6a7b8")).as_str())));
}

/// A bad input is reported, and the others are still read; the run ends with status 2.
#[test]
fn one_bad_file_does_not_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(fixture_path("access.log"), dir.join("sub/a.log")).unwrap();
    std::fs::write(dir.join("b.log.gz"), b"\x1f\x8bnot really gzip").unwrap();
    std::fs::write(dir.join(".hidden.log"), b"ignored").unwrap();
    let out = tmp.path().join("out");
    let missing = tmp.path().join("missing.log");
    let run = leakhound(&["scan", dir.to_str().unwrap(), missing.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(run.stderr.contains("b.log.gz: corrupt gzip data"), "{}", run.stderr);
    assert!(run.stderr.contains("missing.log: cannot read"), "{}", run.stderr);
    let summary = read_json(&out.join("summary.json"));
    let files = summary["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{summary}");
    assert_eq!(summary["totals"]["rows_accepted"], 5);
    assert!(files.iter().any(|f| f["file"].as_str().unwrap().ends_with("a.log") && f["error"].is_null()));
    assert_eq!(files.iter().filter(|f| !f["error"].is_null()).count(), 2);
}

#[test]
fn standard_input_and_globs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = std::fs::read(fixture_path("access.log")).unwrap();
    let run = leakhound_stdin(&["scan", "-", "--out", out.to_str().unwrap()], &log);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["files"][0]["file"], "<stdin>");
    assert_eq!(summary["files"][0]["rows_accepted"], 5);

    let pattern = fixture_path("*.tsv");
    let run = leakhound(&["scan", pattern.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(read_json(&out.join("summary.json"))["totals"]["rows_read"], 3);

    let none = fixture_path("*.nothing");
    let run = leakhound(&["scan", none.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("no file matches this pattern"), "{}", run.stderr);
}

/// A mapping file for an export with its own column names, local times and key labels.
#[test]
fn mapping_file_with_zone_labels_and_dst_fold() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("export.csv");
    std::fs::write(
        &input,
        "when;client;auth_header;key_name;verb;uri;code;resp_bytes;agent;n\n\
         25.10.2026 01:59:00;203.0.113.9;Bearer fixture_key_map_0123456789abcdef;prod;GET;/a;200;1;ua;1\n\
         25.10.2026 02:30:00;203.0.113.9;Bearer fixture_key_map_0123456789abcdef;prod;GET;/a;200;1;ua;2\n\
         25.10.2026 02:10:00;203.0.113.9;;partner;GET;/b;200;1;ua;1\n\
         29.03.2026 02:30:00;203.0.113.9;;partner;GET;/b;200;1;ua;1\n",
    )
    .unwrap();
    let mapping = tmp.path().join("mapping.toml");
    let fp = fingerprint("fixture_key_map_0123456789abcdef");
    std::fs::write(
        &mapping,
        format!(
            "[columns]\ntimestamp = \"when\"\nsource_ip = \"client\"\ncredential = \"auth_header\"\ncredential_id = \"key_name\"\nmethod = \"verb\"\npath = \"uri\"\nstatus = \"code\"\nbytes = \"resp_bytes\"\nuser_agent = \"agent\"\ncount = \"n\"\n[timestamp]\nformat = \"%d.%m.%Y %H:%M:%S\"\ntimezone = \"Europe/Berlin\"\n[labels]\n\"{fp}\" = \"prod-bot\"\n"
        ),
    )
    .unwrap();
    let with_mapping = || scan(&[&input], &["--mapping", mapping.to_str().unwrap()]);
    let mapped = with_mapping();
    assert_eq!(mapped.run.status, 0, "{}", mapped.run.stderr);
    let rows = mapped.rows();
    let times: Vec<_> = rows
        .iter()
        .map(|r| (r.source_line, r.timestamp.as_str(), r.credential.as_str(), r.credential_label.as_deref(), r.count))
        .collect();
    assert_eq!(
        times,
        vec![
            (2, "2026-10-24T23:59:00.000Z", fp.as_str(), Some("prod-bot"), 1),
            (3, "2026-10-25T00:30:00.000Z", fp.as_str(), Some("prod-bot"), 2),
            // 02:10 after 02:30 (first occurrence) is the second 02:10: the clock went back.
            (4, "2026-10-25T01:10:00.000Z", "partner", None, 1),
        ]
    );
    let rejects = mapped.rejects();
    assert!(rejects.contains(",5,nonexistent_local_time,"), "{rejects}");
    assert!(mapped.run.stdout.contains(&format!("{fp} …cdef (prod-bot)")), "{}", mapped.run.stdout);

    // A column the mapping names but the file lacks is an error naming both.
    std::fs::write(&mapping, "[columns]\ntimestamp = \"zeit\"\n").unwrap();
    let run = with_mapping().run;
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("the mapping names column `zeit` for `timestamp`"), "{}", run.stderr);
    // A broken mapping file is an error before anything is read.
    std::fs::write(&mapping, "[columns]\ntime = \"when\"\n").unwrap();
    let run = with_mapping().run;
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("mapping.toml: unknown field `time` in [columns]"), "{}", run.stderr);
}

#[test]
fn credential_flag_and_unknown_rows() {
    let log = fixture_path("access.log");
    let scan_with = scan(&[&log], &["--credential", "marketing", "--key-label", "marketing=Marketing sync"]);
    assert_eq!(scan_with.run.status, 0, "{}", scan_with.run.stderr);
    let summary = scan_with.summary();
    assert_eq!(summary["unknown_credential_rows"], 0);
    let creds = summary["credentials"].as_array().unwrap();
    let marketing = creds.iter().find(|c| c["credential"] == "marketing").unwrap();
    assert_eq!(marketing["rows"], 4);
    assert_eq!(marketing["kind"], "assigned");
    assert_eq!(marketing["label"], "Marketing sync");

    let scan_without = scan(&[&log], &[]);
    assert_eq!(scan_without.summary()["unknown_credential_rows"], 4);
    assert!(scan_without.run.stdout.contains("4 rows carry no credential"), "{}", scan_without.run.stdout);
}

#[test]
fn usage_errors_exit_with_status_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let log = fixture_path("access.log");
    for (args, message) in [
        (vec!["scan", log.to_str().unwrap()], "--out"),
        (
            vec!["scan", log.to_str().unwrap(), "--out", out.to_str().unwrap(), "--tz", "Mars/Base"],
            "unknown time zone `Mars/Base`",
        ),
        (
            vec!["scan", log.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "xml"],
            "unknown format `xml`",
        ),
        (
            vec!["scan", log.to_str().unwrap(), "--out", out.to_str().unwrap(), "--max-reject-ratio", "2"],
            "not a ratio between 0 and 1",
        ),
        (vec!["scan", log.to_str().unwrap(), "--out", log.to_str().unwrap()], "--out must be a directory"),
    ] {
        let run = leakhound(&args);
        assert_eq!(run.status, 2, "{args:?}");
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

/// The same input gives byte-identical outputs, and no temporary file is left behind.
#[test]
fn outputs_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = project_root();
    let path = |rel: &str| root.join(rel).to_str().unwrap().to_string();
    let (data, mapping, geo) = (path("data/logs"), path("data/demo-mapping.toml"), path("data/geoip"));
    let mut previous: Option<Vec<(String, Vec<u8>)>> = None;
    for run_no in 0..2 {
        let out = tmp.path().join(format!("out{run_no}"));
        let run = leakhound(&[
            "scan",
            &data,
            "--mapping",
            &mapping,
            "--geoip-dir",
            &geo,
            "--tz",
            "Europe/Berlin",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(run.stdout, "", "--quiet prints nothing");
        assert_no_temporaries(&out);
        let files: Vec<(String, Vec<u8>)> =
            list_files(&out).into_iter().map(|rel| (rel.clone(), std::fs::read(out.join(&rel)).unwrap())).collect();
        assert!(files.iter().any(|(name, _)| name.starts_with("charts/")), "charts are among the outputs");
        if let Some(prev) = &previous {
            assert_eq!(prev.len(), files.len());
            for ((name, a), (_, b)) in prev.iter().zip(&files) {
                assert!(a == b, "{name} differs between two runs on the same input");
            }
        }
        previous = Some(files);
    }
}

/// `data/` is exactly what the generator writes.
#[test]
fn demo_data_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let run = leakhound(&["generate-demo", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let committed = project_root().join("data");
    for rel in list_files(tmp.path()) {
        let fresh = std::fs::read(tmp.path().join(&rel)).unwrap();
        let kept = std::fs::read(committed.join(&rel)).unwrap_or_default();
        assert!(
            fresh == kept,
            "data/{rel} differs from the generator's output: run `cargo run -- generate-demo --out data`"
        );
    }
}

/// Regression: an output directory inside the input directory was read back as input.
#[test]
fn output_directory_inside_the_input_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_path("access.log"), tmp.path().join("access.log")).unwrap();
    let out = tmp.path().join("report");
    for _ in 0..2 {
        let run = leakhound(&["scan", tmp.path().to_str().unwrap(), "--out", out.to_str().unwrap()]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        assert_eq!(read_json(&out.join("summary.json"))["totals"]["files"], 1);
    }
}
