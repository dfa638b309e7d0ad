//! The report a reviewer attaches: report.html, summary.md and the charts.

use crate::common::*;

/// The README's demo command, which must succeed.
fn demo() -> (tempfile::TempDir, std::path::PathBuf, Run) {
    let (tmp, out, run) = demo_scan(&[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    (tmp, out, run)
}

#[test]
fn demo_report_summary_and_charts() {
    let (_tmp, out, run) = demo();
    assert!(run.stdout.contains("/report.html"), "{}", run.stdout);

    // summary.md: the verdict and tables, compared with the golden copy.
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_golden("demo-summary.md", &md);

    // report.html: self-contained, the verdict first, one section per incident.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    for forbidden in ["<script", "<link", "src=\"http", "src='http", "@import", "url(http"] {
        assert!(!html.contains(forbidden), "report.html must not fetch or run anything: {forbidden}");
    }
    let verdict = html.find("<section id=\"verdict\">").unwrap();
    let incidents = read_json(&out.join("incidents.json"));
    let ids: Vec<&str> = incidents["incidents"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 6, "five leaks (two on prod-bot) and the service that kept the rotated key");
    // Regression: the service that kept the rotated key is a client to update, not abuse, and
    // the report must not say that abuse began when it first used the old key.
    let known: Vec<&str> = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["known_client"] == true)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(known.len(), 1, "one known client after the rotation: {known:?}");
    let known_section = &html[html.find(&format!("<section id=\"{}\">", known[0])).unwrap()..];
    let known_section = &known_section[..known_section.find("</section>").unwrap()];
    assert!(!known_section.contains("abuse began"), "{known_section}");
    assert!(known_section.contains("known client, still in use after the rotation since"), "{known_section}");
    for id in &ids {
        let section = html.find(&format!("<section id=\"{id}\">")).unwrap_or_else(|| panic!("no section for {id}"));
        assert!(section > verdict, "the verdict comes first");
        assert!(html.contains(&format!("<a href=\"#{id}\">{id}</a>")), "the verdict links {id}");
    }
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        6 * 2 + 4 * 2,
        "timeline and sources per incident, heatmap and world per key"
    );
    assert!(html.contains("users (contact details)") && html.contains("outbound messages sent in your name"));
    // The clients that still used prod-bot's key after its rotation: the forgotten export job
    // (known, to update) and the attacker (a copy of the key).
    let late = &html[html.find("<section id=\"after-rotation\">").expect("an after-rotation section")..];
    let late = &late[..late.find("</section>").unwrap()];
    assert!(late.contains("18.192.0.0/15") && late.contains("a known client"), "{late}");
    assert!(late.contains("172.104.0.0/15") && late.contains("someone else holds a copy"), "{late}");

    // baseline.parquet: every key's series, with the incidents' spikes among its buckets.
    use polars::prelude::SerReader;
    let baseline = polars::prelude::ParquetReader::new(std::fs::File::open(out.join("baseline.parquet")).unwrap())
        .finish()
        .unwrap();
    let names: Vec<String> = baseline.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names,
        ["credential", "bucket_start", "width_minutes", "requests", "expected", "expected_upper", "p_value", "spike"]
    );
    let spikes = baseline.column("spike").unwrap().bool().unwrap().sum().unwrap_or(0);
    assert!(spikes >= 3, "the demo's bulk export, enumeration and spam are spikes: {spikes}");

    // Charts: both formats, real images, for every incident and its key.
    let charts = list_files(&out.join("charts"));
    for id in &ids {
        for kind in ["timeline", "sources"] {
            for ext in ["png", "svg"] {
                assert!(charts.contains(&format!("{id}-{kind}.{ext}")), "{id}-{kind}.{ext} in {charts:?}");
            }
        }
    }
    for name in &charts {
        let bytes = std::fs::read(out.join("charts").join(name)).unwrap();
        assert!(bytes.len() > 5_000, "{name} is only {} bytes", bytes.len());
        if name.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        } else {
            assert!(String::from_utf8_lossy(&bytes).contains("<svg"), "{name} is an SVG");
        }
    }
}

/// Stale charts of an earlier run into the same directory are removed.
#[test]
fn charts_of_an_earlier_run_do_not_linger() {
    let (_tmp, out, _) = demo();
    std::fs::write(out.join("charts/INC-999-timeline.png"), b"old").unwrap();
    let log = fixture_path("access.log");
    let run = leakhound(&["scan", log.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(list_files(&out.join("charts")).is_empty(), "{:?}", list_files(&out.join("charts")));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("No incidents."));
}

/// Log text is attacker-controlled: HTML, JavaScript and Markdown in user agents, paths and
/// key names come out escaped in every output.
#[test]
fn hostile_text_is_escaped_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("api.jsonl");
    let key = "ops](javascript:alert(1)) <b>key</b> | *x*";
    let ua = "<script>alert('ua')</script> [click](http://evil.example) `code`";
    let path = "/v2/users/<img src=x onerror=alert(1)>?q=\"><svg onload=alert(2)>";
    let mut lines = String::new();
    let start = 1_791_158_400i64; // Monday 2026-10-05 00:00 UTC
    let line = |t: i64, ip: &str, ua: &str, path: &str| {
        format!("{}\n", serde_json::json!({"ts": t, "ip": ip, "key_id": key, "ua": ua, "path": path, "status": 200}))
    };
    for m in 0..(10 * 24 * 30) {
        lines.push_str(&line(start + m * 120, "198.51.100.1", "acme/1.0", "/v2/conversations"));
    }
    for i in 0..600 {
        lines.push_str(&line(start + 10 * 86_400 + 3 * 3600 + i * 2, "203.0.113.66", ua, path));
    }
    std::fs::write(&log, lines).unwrap();
    let s = scan(&[&log], &[]);
    assert_eq!(s.run.status, 0, "{}", s.run.stderr);
    let incidents = read_json(&s.out.join("incidents.json"));
    assert!(!incidents["incidents"].as_array().unwrap().is_empty(), "the burst is an incident");

    let html = std::fs::read_to_string(s.out.join("report.html")).unwrap();
    for raw in ["<script>", "<img src=x", "<svg onload", "<b>key</b>", "\"><svg"] {
        assert!(!html.contains(raw), "report.html contains raw {raw}");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;"), "the user agent is shown, escaped");
    assert!(html.contains("&lt;b&gt;key&lt;/b&gt;"), "the key name is shown, escaped");

    let md = std::fs::read_to_string(s.out.join("summary.md")).unwrap();
    for raw in ["](javascript:", "<script>", "<img", "[click](http", "| *x*"] {
        assert!(!md.contains(raw), "summary.md contains raw {raw}");
    }
    assert!(md.contains("\\[click\\]\\(http://evil.example\\)"), "{md}");

    // Machine-readable outputs keep the text, properly encoded.
    let jsonl = std::fs::read_to_string(s.out.join("flagged_events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["user_agent"], ua);
    // Every chart is still drawn (titles carry the key name as text, not markup).
    assert!(!list_files(&s.out.join("charts")).is_empty());
}

/// `inventory`: the clients of each key, the attacker among them.
#[test]
fn inventory_lists_the_clients_of_each_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("inv");
    let mut args = vec!["inventory"];
    args.extend(DEMO_INPUT);
    args.extend(["--out", out.to_str().unwrap()]);
    let run = leakhound_in(&project_root(), &args);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // Two generations of backend servers, the bulk export's attacker, the one after the rotation.
    assert!(run.stdout.contains("prod-bot (…d019) — 4 clients"), "{}", run.stdout);
    let csv = std::fs::read_to_string(out.join("inventory.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "credential,key,network,as_org,country,user_agent,addresses,first_seen,last_seen,requests,hours,endpoints"
    );
    let attacker = csv.lines().find(|l| l.contains("128.199.0.0/16")).expect("the DigitalOcean client of prod-bot");
    assert!(attacker.contains("python-requests/2.32.3") && attacker.contains(",2700,"), "{attacker}");
    let json = read_json(&out.join("inventory.json"));
    assert_eq!(json["clients"].as_array().unwrap().len(), csv.lines().count() - 1);
    assert!(!csv.contains("fcsk_live_") && !run.stdout.contains("fcsk_live_"), "no raw key");
}
