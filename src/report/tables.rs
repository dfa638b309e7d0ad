//! The cells of the tables that `report.html` and `summary.md` share, as plain text: each
//! format escapes and lays them out its own way.

use super::{exposure, key_label};
use crate::detect::incident::{Incident, Source};
use crate::detect::rotation::LateClient;
use crate::detect::Severity;
use crate::text::thousands;
use crate::timestamp::format_rfc3339;

/// Rows shown per table; the rest is counted.
pub const MAX_ROWS: usize = 20;

/// Incidents per severity, most severe first, only severities that occur.
pub fn severity_counts(incidents: &[Incident]) -> Vec<(Severity, usize)> {
    Severity::ALL
        .iter()
        .rev()
        .map(|s| (*s, incidents.iter().filter(|i| i.severity == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

pub const VERDICT_HEADER: [&str; 8] =
    ["incident", "severity", "key", "abuse began (estimate)", "until", "requests", "main source", "detectors"];

/// A verdict row: id, severity, key, abuse start, end, requests, main source, detectors.
pub fn verdict_row(i: &Incident) -> [String; 8] {
    let source =
        i.sources.first().map(|s| format!("{} {}", s.ip, s.country.as_deref().unwrap_or(""))).unwrap_or_default();
    [
        i.id.clone(),
        i.severity.name().to_string(),
        key_label(i),
        if i.known_client {
            format!("none: known client, since {}", format_rfc3339(i.abuse_started))
        } else {
            format_rfc3339(i.abuse_started)
        },
        format_rfc3339(i.end),
        thousands(i.requests as f64),
        source.trim().to_string(),
        i.detectors.join(", "),
    ]
}

pub const SOURCE_HEADER: [&str; 8] =
    ["IP", "country", "AS", "client (user agent)", "first seen", "last seen", "requests", "bytes"];

pub fn source_row(s: &Source) -> [String; 8] {
    [
        s.ip.clone(),
        s.country.clone().unwrap_or_default(),
        s.asn.map(|a| format!("AS{a} {}", s.as_org.as_deref().unwrap_or(""))).unwrap_or_default(),
        s.user_agent.clone().unwrap_or_default(),
        format_rfc3339(s.first),
        format_rfc3339(s.last),
        thousands(s.requests as f64),
        thousands(s.bytes as f64),
    ]
}

pub const ENDPOINT_HEADER: [&str; 3] = ["endpoint", "data exposed", "requests"];

pub fn endpoint_row((endpoint, requests): &(String, i64)) -> [String; 3] {
    [endpoint.clone(), exposure(endpoint).to_string(), thousands(*requests as f64)]
}

pub const AFTER_ROTATION_HEADER: [&str; 8] = [
    "key",
    "network",
    "client (user agent)",
    "addresses",
    "requests",
    "first use after rotation",
    "last",
    "what it means",
];

/// A client that used a key after its rotation, and what that means.
pub fn after_rotation_row(c: &LateClient) -> [String; 8] {
    [
        c.key.clone(),
        c.network.clone(),
        c.user_agent.clone().unwrap_or_default(),
        c.addresses.to_string(),
        thousands(c.requests as f64),
        format_rfc3339(c.first),
        format_rfc3339(c.last),
        if c.known {
            "a known client: it breaks when the old key is revoked; give it the new key".into()
        } else {
            "never used this key before the rotation: someone else holds a copy".into()
        },
    ]
}
