//! `incidents.json`: the incidents, most severe first, with their span, the estimated start of
//! the abuse, detectors, sources, endpoints and the findings that make them.

use crate::detect::incident::Incident;
use crate::detect::Finding;
use crate::timestamp::format_rfc3339;
use serde_json::{json, Value};

/// Sources and endpoints listed per incident.
const TOP: usize = 20;

pub fn incident_json(inc: &Incident, findings: &[Finding]) -> Value {
    json!({
        "id": inc.id,
        "credential": inc.credential,
        "credential_label": inc.label,
        "credential_hint": inc.hint,
        "severity": inc.severity.name(),
        "score": inc.score,
        "start": format_rfc3339(inc.start),
        "end": format_rfc3339(inc.end),
        "abuse_started": format_rfc3339(inc.abuse_started),
        "known_client": inc.known_client,
        "detectors": inc.detectors,
        "events": inc.rows.len(),
        "requests": inc.requests,
        "bytes": inc.bytes,
        "sources": inc.sources.iter().take(TOP).map(|s| json!({
            "ip": s.ip,
            "country": s.country,
            "asn": s.asn,
            "as_org": s.as_org,
            "user_agent": s.user_agent,
            "first_seen": format_rfc3339(s.first),
            "last_seen": format_rfc3339(s.last),
            "requests": s.requests,
            "bytes": s.bytes,
        })).collect::<Vec<_>>(),
        "more_sources": inc.sources.len().saturating_sub(TOP),
        "endpoints": inc.endpoints.iter().take(TOP).map(|(e, n)| json!({"endpoint": e, "requests": n})).collect::<Vec<_>>(),
        "findings": inc.findings.iter().filter_map(|&i| findings.get(i)).map(super::findings::finding_json).collect::<Vec<_>>(),
    })
}

pub fn to_json(incidents: &[Incident], findings: &[Finding]) -> Vec<u8> {
    let list: Vec<Value> = incidents.iter().map(|i| incident_json(i, findings)).collect();
    let mut bytes = serde_json::to_vec_pretty(&json!({ "incidents": list })).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
