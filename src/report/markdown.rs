//! `summary.md`: the verdict and the tables in Markdown, with relative links to the PNG charts,
//! for tickets and pull requests. Text from logs is escaped so that it cannot format or link.

use super::charts::Rendered;
use super::summary::SummaryInput;
use super::{exposure, key_label};
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
        let counts: Vec<String> = crate::detect::Severity::ALL
            .iter()
            .rev()
            .filter_map(|sv| {
                let n = incidents.iter().filter(|i| i.severity == *sv).count();
                (n > 0).then(|| format!("{n} {sv}"))
            })
            .collect();
        let _ = writeln!(
            out,
            "**{} incident{}:** {}.\n",
            incidents.len(),
            if incidents.len() == 1 { "" } else { "s" },
            counts.join(", ")
        );
        out.push_str("| incident | severity | key | abuse began (estimate) | until | requests | main source | detectors |\n|---|---|---|---|---|---:|---|---|\n");
        for i in incidents {
            let source = i
                .sources
                .first()
                .map(|s| format!("{} {}", s.ip, s.country.as_deref().unwrap_or("")))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| [{}](#{}) | **{}** | {} | {} | {} | {} | {} | {} |",
                i.id,
                i.id.to_ascii_lowercase(),
                i.severity,
                escape(&key_label(i)),
                format_rfc3339(i.abuse_started),
                format_rfc3339(i.end),
                thousands(i.requests as f64),
                escape(source.trim()),
                i.detectors.join(", ")
            );
        }
    }
    for i in incidents {
        let _ = writeln!(
            out,
            "\n## {}\n\n**{}** · {} · {} requests, {} bytes · abuse began (estimate) {}\n",
            i.id,
            i.severity,
            escape(&key_label(i)),
            thousands(i.requests as f64),
            thousands(i.bytes as f64),
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
        out.push_str("\n| IP | country | AS | client | first seen | last seen | requests | bytes |\n|---|---|---|---|---|---|---:|---:|\n");
        for src in i.sources.iter().take(20) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                escape(&src.ip),
                escape(src.country.as_deref().unwrap_or("")),
                escape(&src.asn.map(|a| format!("AS{a} {}", src.as_org.as_deref().unwrap_or(""))).unwrap_or_default()),
                escape(src.user_agent.as_deref().unwrap_or("")),
                format_rfc3339(src.first),
                format_rfc3339(src.last),
                thousands(src.requests as f64),
                thousands(src.bytes as f64)
            );
        }
        out.push_str("\n| endpoint | data exposed | requests |\n|---|---|---:|\n");
        for (e, n) in i.endpoints.iter().take(20) {
            let _ = writeln!(out, "| {} | {} | {} |", escape(e), exposure(e), thousands(*n as f64));
        }
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
