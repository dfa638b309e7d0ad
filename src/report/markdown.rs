//! `summary.md`: the verdict and the tables in Markdown, with relative links to the PNG charts,
//! for tickets and pull requests. Text from logs is escaped so that it cannot format or link.

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

/// Escapes Markdown control characters (and HTML, which Markdown passes through).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '!' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A table of already escaped cells; `numeric` columns align right; `more` rows left out.
fn table(out: &mut String, header: &[&str], numeric: &[usize], rows: Vec<Vec<String>>, more: usize) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = (0..header.len()).map(|k| if numeric.contains(&k) { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    if more > 0 {
        let _ = writeln!(out, "\n… and {more} more");
    }
}

pub fn to_markdown(s: &SummaryInput<'_>, incidents: &[Incident], findings: &[Finding], charts: &[Rendered]) -> Vec<u8> {
    let has_chart = |name: &str| charts.iter().find(|c| c.name == name);
    let totals = super::summary::Totals::of(s.files);
    let mut out = String::from("# leakhound report\n\n");
    let _ = writeln!(
        out,
        "{} events from {} input{}{}. Times are UTC.\n",
        thousands(totals.rows_accepted as f64),
        totals.files,
        if totals.files == 1 { "" } else { "s" },
        s.time_range.as_ref().map(|(a, b)| format!(", {a} to {b}")).unwrap_or_default()
    );
    out.push_str("## Verdict\n\n");
    if incidents.is_empty() {
        out.push_str("**No incidents.** Nothing in these logs suggests that a key is used by someone else.\n");
    } else {
        let counts: Vec<String> = severity_counts(incidents).iter().map(|(sv, n)| format!("{n} {sv}")).collect();
        let _ = writeln!(
            out,
            "**{} incident{}:** {}.\n",
            incidents.len(),
            if incidents.len() == 1 { "" } else { "s" },
            counts.join(", ")
        );
        let rows = incidents
            .iter()
            .map(|i| {
                let mut cells: Vec<String> = verdict_row(i).iter().map(|c| escape(c)).collect();
                cells[0] = format!("[{}](#{})", i.id, i.id.to_ascii_lowercase());
                cells[1] = format!("**{}**", i.severity);
                cells
            })
            .collect();
        table(&mut out, &VERDICT_HEADER, &[5], rows, 0);
    }
    if !s.after_rotation.is_empty() {
        out.push_str("\n## Still using a key after its rotation\n\nRevoke the old key only once the known clients have the new one; the others hold a copy of the leaked key.\n\n");
        let rows = s.after_rotation.iter().map(|c| after_rotation_row(c).iter().map(|v| escape(v)).collect()).collect();
        table(&mut out, &AFTER_ROTATION_HEADER, &[3, 4], rows, 0);
    }
    for i in incidents {
        let _ = writeln!(
            out,
            "\n## {}\n\n**{}** · {} · {} requests, {} bytes · {} {}\n",
            i.id,
            i.severity,
            escape(&key_label(i)),
            thousands(i.requests as f64),
            thousands(i.bytes as f64),
            i.start_phrase(),
            format_rfc3339(i.abuse_started)
        );
        if let Some(c) = has_chart(&format!("{}-timeline", i.id)) {
            let _ = writeln!(out, "![{}](charts/{}.png)\n", escape(&c.title), c.name);
        }
        for f in i.findings.iter().filter_map(|&k| findings.get(k)) {
            let _ = writeln!(
                out,
                "- **{}** `{}/{}` (score {:.0}): {}",
                f.severity,
                f.detector,
                f.kind,
                f.score,
                escape(&f.explanation)
            );
        }
        out.push('\n');
        let sources =
            i.sources.iter().take(MAX_ROWS).map(|src| source_row(src).iter().map(|c| escape(c)).collect()).collect();
        table(&mut out, &SOURCE_HEADER, &[6, 7], sources, i.sources.len().saturating_sub(MAX_ROWS));
        out.push('\n');
        let endpoints =
            i.endpoints.iter().take(MAX_ROWS).map(|e| endpoint_row(e).iter().map(|c| escape(c)).collect()).collect();
        table(&mut out, &ENDPOINT_HEADER, &[2], endpoints, i.endpoints.len().saturating_sub(MAX_ROWS));
        if let Some(c) = has_chart(&format!("{}-sources", i.id)) {
            let _ = writeln!(out, "\n![{}](charts/{}.png)", escape(&c.title), c.name);
        }
    }
    let keyed: Vec<&Rendered> = charts.iter().filter(|c| c.name.starts_with("key-")).collect();
    if !keyed.is_empty() {
        out.push_str("\n## Keys with incidents\n\n");
        for c in keyed {
            let _ = writeln!(out, "![{}](charts/{}.png)\n", escape(&c.title), c.name);
        }
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_control_characters_are_escaped() {
        assert_eq!(
            escape("[click](http://x) *b* | `c` <img>"),
            "\\[click\\]\\(http://x\\) \\*b\\* \\| \\`c\\` &lt;img&gt;"
        );
        assert_eq!(escape("a\nb"), "a b");
    }
}
