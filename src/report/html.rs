//! `report.html`: one self-contained page (charts inline, no scripts, no fetches): the verdict
//! first, then each incident with its chart, explanation, sources and endpoints. Everything
//! that comes from a log is escaped: a log line is attacker-controlled.

use super::charts::Rendered;
use super::key_label;
use super::summary::SummaryInput;
use super::tables::{
    after_rotation_row, endpoint_row, severity_counts, source_row, verdict_row, AFTER_ROTATION_HEADER, ENDPOINT_HEADER,
    MAX_ROWS, SOURCE_HEADER, VERDICT_HEADER,
};
use crate::detect::incident::Incident;
use crate::detect::Finding;
use crate::text::thousands;
use crate::timestamp::format_rfc3339;
use std::fmt::Write as _;

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648), for inline images.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1250px;padding:0 1rem;color:#1e1e1e;line-height:1.45}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}th,td{border:1px solid #ccc;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{font-weight:bold;padding:.05rem .45rem;border-radius:.25rem;border:1px solid #1e1e1e}
.critical{background:#d55e00;color:#fff}.high{background:#e69f00}.medium{background:#f0e442}.low{background:#e8e8e8}.info{background:#fff}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9rem;color:#444}
.muted{color:#555}code{background:#f5f5f5;padding:0 .2rem}";

fn sev(s: crate::detect::Severity) -> String {
    format!("<span class=\"sev {0}\">{0}</span>", s.name())
}

fn figure(out: &mut String, chart: Option<&Rendered>) {
    if let Some(c) = chart {
        let _ = writeln!(
            out,
            "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0} (<a href=\"charts/{2}.svg\">SVG</a>, <a href=\"charts/{2}.png\">PNG</a>)</figcaption></figure>",
            escape(&c.title),
            base64(&c.png),
            escape(&c.name)
        );
    }
}

/// A table of already escaped cells; `numeric` columns align right; `more` rows left out.
fn table(out: &mut String, header: &[&str], numeric: &[usize], rows: Vec<Vec<String>>, more: usize) {
    out.push_str("<table>\n<tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (k, cell) in row.iter().enumerate() {
            let class = if numeric.contains(&k) { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    if more > 0 {
        let _ = writeln!(out, "<tr><td colspan=\"{}\">… and {more} more</td></tr>", header.len());
    }
    out.push_str("</table>\n");
}

/// The report page.
pub fn to_html(s: &SummaryInput<'_>, incidents: &[Incident], findings: &[Finding], charts: &[Rendered]) -> Vec<u8> {
    let chart = |name: &str| charts.iter().find(|c| c.name == name);
    let totals = super::summary::Totals::of(s.files);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>leakhound report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>leakhound report</h1>\n<p class=\"muted\">{} events from {} input{}{}; times in UTC unless marked; leakhound {}</p>\n",
        thousands(totals.rows_accepted as f64),
        totals.files,
        if totals.files == 1 { "" } else { "s" },
        s.time_range.as_ref().map(|(a, b)| format!(", {} to {}", escape(a), escape(b))).unwrap_or_default(),
        env!("CARGO_PKG_VERSION")
    );

    out.push_str("<section id=\"verdict\">\n<h2>Verdict</h2>\n");
    if incidents.is_empty() {
        out.push_str("<p><strong>No incidents.</strong> Nothing in these logs suggests that a key is used by someone else.</p>\n");
    } else {
        let counts: Vec<String> =
            severity_counts(incidents).iter().map(|(sv, n)| format!("{n} {}", sev(*sv))).collect();
        let _ = writeln!(
            out,
            "<p><strong>{} incident{}:</strong> {}</p>",
            incidents.len(),
            if incidents.len() == 1 { "" } else { "s" },
            counts.join(", ")
        );
        let rows: Vec<Vec<String>> = incidents
            .iter()
            .map(|i| {
                let mut cells: Vec<String> = verdict_row(i).iter().map(|c| escape(c)).collect();
                cells[0] = format!("<a href=\"#{0}\">{0}</a>", cells[0]);
                cells[1] = sev(i.severity);
                cells
            })
            .collect();
        table(&mut out, &VERDICT_HEADER, &[5], rows, 0);
        out.push_str("<p class=\"muted\">The estimated start of the abuse is the first anomalous event: search the vendor's audit logs from there, and rotate the key.</p>\n");
    }
    out.push_str("</section>\n");
    if !s.after_rotation.is_empty() {
        out.push_str("<section id=\"after-rotation\">\n<h2>Still using a key after its rotation</h2>\n<p>Revoke the old key only once the known clients have the new one; the others hold a copy of the leaked key.</p>\n");
        let rows = s.after_rotation.iter().map(|c| after_rotation_row(c).iter().map(|v| escape(v)).collect()).collect();
        table(&mut out, &AFTER_ROTATION_HEADER, &[3, 4], rows, 0);
        out.push_str("</section>\n");
    }

    for i in incidents {
        let _ = write!(
            out,
            "<section id=\"{}\">\n<h2>{} · {} · {}</h2>\n",
            escape(&i.id),
            escape(&i.id),
            sev(i.severity),
            escape(&key_label(i))
        );
        let _ = writeln!(
            out,
            "<p>From {} to {}; {} <strong>{}</strong>; {} requests, {} bytes.</p>",
            escape(&format_rfc3339(i.start)),
            escape(&format_rfc3339(i.end)),
            i.start_phrase(),
            escape(&format_rfc3339(i.abuse_started)),
            thousands(i.requests as f64),
            thousands(i.bytes as f64)
        );
        figure(&mut out, chart(&format!("{}-timeline", i.id)));
        out.push_str("<h3>Why</h3>\n<ul>\n");
        for f in i.findings.iter().filter_map(|&k| findings.get(k)) {
            let _ = writeln!(
                out,
                "<li>{} <code>{}/{}</code> score {:.0}: {}</li>",
                sev(f.severity),
                f.detector,
                f.kind,
                f.score,
                escape(&f.explanation)
            );
        }
        out.push_str("</ul>\n<h3>Sources</h3>\n");
        let sources =
            i.sources.iter().take(MAX_ROWS).map(|src| source_row(src).iter().map(|c| escape(c)).collect()).collect();
        table(&mut out, &SOURCE_HEADER, &[6, 7], sources, i.sources.len().saturating_sub(MAX_ROWS));
        out.push_str("<h3>Endpoints touched</h3>\n");
        let endpoints = i
            .endpoints
            .iter()
            .take(MAX_ROWS)
            .map(|e| {
                let mut cells: Vec<String> = endpoint_row(e).iter().map(|c| escape(c)).collect();
                cells[0] = format!("<code>{}</code>", cells[0]);
                cells
            })
            .collect();
        table(&mut out, &ENDPOINT_HEADER, &[2], endpoints, i.endpoints.len().saturating_sub(MAX_ROWS));
        figure(&mut out, chart(&format!("{}-sources", i.id)));
        out.push_str("</section>\n");
    }

    let keyed: Vec<&Rendered> = charts.iter().filter(|c| c.name.starts_with("key-")).collect();
    if !keyed.is_empty() {
        out.push_str("<section id=\"keys\">\n<h2>Keys with incidents</h2>\n");
        for c in keyed {
            figure(&mut out, Some(c));
        }
        out.push_str("</section>\n");
    }

    out.push_str("<section id=\"inputs\">\n<h2>Inputs</h2>\n<table>\n<tr><th>file</th><th>format</th><th>rows read</th><th>accepted</th><th>rejected</th><th>problem</th></tr>\n");
    for f in s.files {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&f.file),
            f.format.map_or("", |f| f.name()),
            thousands(f.rows_read as f64),
            thousands(f.rows_accepted as f64),
            thousands(f.rows_rejected as f64),
            escape(f.error.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>\n");
    for n in &s.detection.notes {
        let _ = writeln!(out, "<p class=\"muted\">Note: {}</p>", escape(&n.message));
    }
    out.push_str("</section>\n</body>\n</html>\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 test vectors.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
