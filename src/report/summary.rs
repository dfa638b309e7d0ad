//! `summary.json` and the terminal summary: what was read, accepted and rejected, per file and
//! in total, and which credentials were seen.

use crate::detect::incident::Incident;
use crate::detect::rotation::LateClient;
use crate::detect::{Detection, Severity};
use crate::enrich::geoip::GeoDatabases;
use crate::enrich::GeoStats;
use crate::ingest::{CredentialKind, CredentialUsage, FileReport};
use crate::schema::UNKNOWN_CREDENTIAL;
use serde_json::{json, Value};

/// Row counts that always add up: `rows_read = rows_accepted + rows_rejected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: u64,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
}

impl Totals {
    pub fn of(files: &[FileReport]) -> Self {
        files.iter().fold(Totals::default(), |t, f| Totals {
            files: t.files + 1,
            rows_read: t.rows_read + f.rows_read,
            rows_accepted: t.rows_accepted + f.rows_accepted,
            rows_rejected: t.rows_rejected + f.rows_rejected,
        })
    }
}

/// What the summary describes.
pub struct SummaryInput<'a> {
    pub files: &'a [FileReport],
    pub credentials: &'a [CredentialUsage],
    /// First and last event time (RFC 3339), if any event was accepted.
    pub time_range: Option<(String, String)>,
    /// The organisation's time zone for working hours.
    pub timezone: &'a str,
    pub outputs: &'a [&'a str],
    pub geo: &'a GeoSummary,
    pub detection: &'a Detection,
    pub incidents: &'a [Incident],
    /// Clients that used a key after its rotation.
    pub after_rotation: &'a [LateClient],
}

fn severity_counts(severities: impl Iterator<Item = Severity> + Clone) -> Vec<(Severity, usize)> {
    Severity::ALL.iter().rev().map(|s| (*s, severities.clone().filter(|x| x == s).count())).collect()
}

fn counts_json(counts: &[(Severity, usize)]) -> Value {
    Value::Object(counts.iter().map(|(k, n)| (k.name().to_string(), json!(n))).collect())
}

/// Which GeoIP databases were used, and what they found.
pub struct GeoSummary {
    /// (kind, file, database type, build date)
    pub databases: Vec<(&'static str, String, String, String)>,
    pub stats: Option<GeoStats>,
}

impl GeoSummary {
    pub fn new(dbs: &GeoDatabases, stats: Option<GeoStats>) -> Self {
        let databases = dbs
            .databases
            .iter()
            .map(|d| {
                let built = chrono::DateTime::from_timestamp(d.build_epoch as i64, 0)
                    .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
                (d.kind.name(), d.path.display().to_string(), d.database_type.clone(), built)
            })
            .collect();
        Self { databases, stats }
    }

    fn to_json(&self) -> Value {
        let databases: Vec<Value> = self
            .databases
            .iter()
            .map(|(kind, file, t, built)| json!({"kind": kind, "file": file, "database_type": t, "built": built}))
            .collect();
        match self.stats {
            Some(s) if !databases.is_empty() => json!({
                "enabled": true,
                "databases": databases,
                "distinct_ips": s.distinct_ips,
                "located_ips": s.located,
            }),
            _ => json!({"enabled": false, "reason": NO_GEO}),
        }
    }
}

const NO_GEO: &str = "no GeoIP database found: pass --geoip-dir DIR (or --geoip-city/--geoip-asn/--geoip-anon FILE, or set LEAKHOUND_GEOIP_DIR); new sources are judged by address and network only, without countries, ASes, anonymity or travel";

fn kind_name(k: CredentialKind) -> &'static str {
    match k {
        CredentialKind::Fingerprint => "fingerprint",
        CredentialKind::Id => "id",
        CredentialKind::Assigned => "assigned",
        CredentialKind::Unknown => "unknown",
    }
}

fn unknown_rows(credentials: &[CredentialUsage]) -> u64 {
    credentials
        .iter()
        .filter(|c| c.credential.kind == CredentialKind::Unknown && c.credential.id == UNKNOWN_CREDENTIAL)
        .map(|c| c.rows)
        .sum()
}

/// `summary.json`, pretty-printed, keys sorted.
pub fn to_json(s: &SummaryInput<'_>) -> Vec<u8> {
    let totals = Totals::of(s.files);
    let files: Vec<Value> = s
        .files
        .iter()
        .map(|f| {
            json!({
                "file": f.file,
                "format": f.format.map(|f| f.name()),
                "rows_read": f.rows_read,
                "rows_accepted": f.rows_accepted,
                "rows_rejected": f.rows_rejected,
                "rejects_by_reason": f.rejects_by_reason,
                "error": f.error,
            })
        })
        .collect();
    let credentials: Vec<Value> = s
        .credentials
        .iter()
        .map(|c| {
            json!({
                "credential": c.credential.id,
                "hint": c.credential.hint,
                "label": c.credential.label,
                "kind": kind_name(c.credential.kind),
                "rows": c.rows,
                "requests": c.requests,
            })
        })
        .collect();
    let value = json!({
        "leakhound_version": env!("CARGO_PKG_VERSION"),
        "totals": {
            "files": totals.files,
            "rows_read": totals.rows_read,
            "rows_accepted": totals.rows_accepted,
            "rows_rejected": totals.rows_rejected,
        },
        "files": files,
        "credentials": credentials,
        "unknown_credential_rows": unknown_rows(s.credentials),
        "time_range": s.time_range.as_ref().map(|(a, b)| json!({"first": a, "last": b})),
        "timezone": s.timezone,
        "outputs": s.outputs,
        "geoip": s.geo.to_json(),
        "findings": {
            "by_severity": counts_json(&severity_counts(s.detection.findings.iter().map(|f| f.severity))),
        },
        "incidents": {
            "by_severity": counts_json(&severity_counts(s.incidents.iter().map(|i| i.severity))),
            "top": s.incidents.iter().take(10).map(|i| json!({
                "id": i.id,
                "credential": i.credential,
                "credential_label": i.label,
                "severity": i.severity.name(),
                "start": crate::timestamp::format_rfc3339(i.start),
                "end": crate::timestamp::format_rfc3339(i.end),
                "abuse_started": crate::timestamp::format_rfc3339(i.abuse_started),
                "known_client": i.known_client,
                "detectors": i.detectors,
                "requests": i.requests,
            })).collect::<Vec<_>>(),
        },
        "after_rotation": s.after_rotation.iter().map(|c| json!({
            "credential": c.credential,
            "key": c.key,
            "network": c.network,
            "user_agent": c.user_agent,
            "addresses": c.addresses,
            "requests": c.requests,
            "first": crate::timestamp::format_rfc3339(c.first),
            "last": crate::timestamp::format_rfc3339(c.last),
            "known_before_rotation": c.known,
        })).collect::<Vec<_>>(),
        "notes": s.detection.notes.iter().map(|n| format!("{}: {}", n.detector, n.message)).collect::<Vec<_>>(),
    });
    let mut bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// One line for an incident: id, severity, key, span, detectors, volume and main source.
pub fn incident_line(i: &Incident) -> String {
    let key = match (&i.label, &i.hint) {
        (Some(l), Some(h)) => format!("{l} ({h})"),
        (Some(l), None) => l.clone(),
        (None, Some(h)) => format!("{} ({h})", i.credential),
        (None, None) => i.credential.clone(),
    };
    let source = i
        .sources
        .first()
        .map(|s| {
            let place = [s.country.clone(), s.asn.map(|a| format!("AS{a}")), s.as_org.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let more = if i.sources.len() > 1 { format!(" and {} more", i.sources.len() - 1) } else { String::new() };
            format!(" from {}{}{more}", s.ip, if place.is_empty() { String::new() } else { format!(" ({place})") })
        })
        .unwrap_or_default();
    format!(
        "{} [{}] {key}: {} requests{source}, {} – {}; {} {}; {}",
        i.id,
        i.severity,
        thousands(i.requests as f64),
        crate::timestamp::format_rfc3339(i.start),
        crate::timestamp::format_rfc3339(i.end),
        if i.known_client { i.start_phrase() } else { "abuse began" },
        crate::timestamp::format_rfc3339(i.abuse_started),
        i.detectors.join(" + ")
    )
}

pub use crate::text::thousands;

/// Credentials listed in the terminal summary.
const MAX_LISTED: usize = 20;
/// Incidents listed in the terminal summary.
const MAX_LISTED_FINDINGS: usize = 5;

/// The summary printed at the end of a run.
pub fn to_text(s: &SummaryInput<'_>, out_dir: &str) -> String {
    let t = Totals::of(s.files);
    let mut text = format!(
        "{} input{}: {} rows read, {} accepted, {} rejected\n",
        t.files,
        if t.files == 1 { "" } else { "s" },
        thousands(t.rows_read as f64),
        thousands(t.rows_accepted as f64),
        thousands(t.rows_rejected as f64)
    );
    for f in s.files {
        let format = f.format.map_or("-", |f| f.name());
        text.push_str(&format!(
            "  {}  [{}]  {} read, {} accepted, {} rejected",
            f.file,
            format,
            thousands(f.rows_read as f64),
            thousands(f.rows_accepted as f64),
            thousands(f.rows_rejected as f64)
        ));
        if !f.rejects_by_reason.is_empty() {
            let reasons: Vec<String> =
                f.rejects_by_reason.iter().map(|(k, v)| format!("{k} {}", thousands(*v as f64))).collect();
            text.push_str(&format!(" ({})", reasons.join(", ")));
        }
        if f.error.is_some() {
            text.push_str("  LEFT OUT");
        }
        text.push('\n');
    }
    if let Some((first, last)) = &s.time_range {
        text.push_str(&format!("events from {first} to {last}\n"));
    }
    text.push_str(&format!("{} credential{}:\n", s.credentials.len(), if s.credentials.len() == 1 { "" } else { "s" }));
    // Most used first; a long tail (per-user tokens) is left to summary.json.
    let mut by_use: Vec<&CredentialUsage> = s.credentials.iter().collect();
    by_use.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.credential.id.cmp(&b.credential.id)));
    for c in by_use.iter().take(MAX_LISTED) {
        let label = c.credential.label.as_deref().map(|l| format!(" ({l})")).unwrap_or_default();
        let hint = c.credential.hint.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
        text.push_str(&format!("  {}{hint}{label}: {} requests\n", c.credential.id, thousands(c.requests as f64)));
    }
    if by_use.len() > MAX_LISTED {
        text.push_str(&format!("  … and {} more (see summary.json)\n", by_use.len() - MAX_LISTED));
    }
    let unknown = unknown_rows(s.credentials);
    if unknown > 0 {
        text.push_str(&format!(
            "{} rows carry no credential (shown as `unknown`); name one with --credential or a mapping\n",
            thousands(unknown as f64)
        ));
    }
    match s.geo.stats {
        Some(g) => {
            let dbs: Vec<String> = s.geo.databases.iter().map(|(k, f, _, _)| format!("{k}: {f}")).collect();
            text.push_str(&format!(
                "geolocation: {} of {} distinct addresses located ({})\n",
                thousands(g.located as f64),
                thousands(g.distinct_ips as f64),
                dbs.join(", ")
            ));
        }
        None => text.push_str(&format!("geolocation is off: {NO_GEO}\n")),
    }
    for n in &s.detection.notes {
        text.push_str(&format!("note: {}\n", n.message));
    }
    let counts: Vec<String> = severity_counts(s.incidents.iter().map(|i| i.severity))
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    if counts.is_empty() {
        text.push_str("incidents: none\n");
    } else {
        text.push_str(&format!(
            "incidents: {} (from {} finding{})\n",
            counts.join(", "),
            s.detection.findings.len(),
            if s.detection.findings.len() == 1 { "" } else { "s" }
        ));
        for inc in s.incidents.iter().take(MAX_LISTED_FINDINGS) {
            text.push_str(&format!("  {}\n", incident_line(inc)));
        }
        if s.incidents.len() > MAX_LISTED_FINDINGS {
            let more = s.incidents.len() - MAX_LISTED_FINDINGS;
            text.push_str(&format!("  … and {more} more (see incidents.json)\n"));
        }
    }
    if !s.after_rotation.is_empty() {
        text.push_str("still using a key after its rotation:\n");
        for row in s.after_rotation.iter().map(super::tables::after_rotation_row) {
            text.push_str(&format!(
                "  {}  {}  {}  {} requests  {} to {}  {}\n",
                row[0], row[1], row[2], row[4], row[5], row[6], row[7]
            ));
        }
    }
    text.push_str(&format!("outputs in {out_dir}: {}\n", s.outputs.join(", ")));
    text.push_str(&format!("report: {out_dir}/report.html (summary.md for tickets, charts/ for documents)\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up() {
        let f = |r, a, j| FileReport {
            file: "f".into(),
            format: None,
            rows_read: r,
            rows_accepted: a,
            rows_rejected: j,
            rejects_by_reason: Default::default(),
            error: None,
        };
        let t = Totals::of(&[f(10, 7, 3), f(5, 5, 0)]);
        assert_eq!((t.files, t.rows_read, t.rows_accepted, t.rows_rejected), (2, 15, 12, 3));
    }
}
