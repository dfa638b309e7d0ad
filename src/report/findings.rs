//! `findings.json`: every detector finding, most severe first, with its explanation.

use crate::detect::{Detection, Finding};
use crate::timestamp::format_rfc3339;
use serde_json::{json, Value};

/// Findings most severe first, then by score, time and key (deterministic).
pub fn ranked(findings: &[Finding]) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = findings.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.score.total_cmp(&a.score))
            .then(a.start.cmp(&b.start))
            .then(a.credential.cmp(&b.credential))
            .then(a.kind.cmp(b.kind))
    });
    v
}

pub fn finding_json(f: &Finding) -> Value {
    json!({
        "detector": f.detector,
        "kind": f.kind,
        "credential": f.credential,
        "start": format_rfc3339(f.start),
        "end": format_rfc3339(f.end),
        "events": f.rows.len(),
        "score": (f.score * 10.0).round() / 10.0,
        "severity": f.severity.name(),
        "explanation": f.explanation,
    })
}

pub fn to_json(detection: &Detection) -> Vec<u8> {
    let findings: Vec<Value> = ranked(&detection.findings).into_iter().map(finding_json).collect();
    let notes: Vec<Value> = detection
        .notes
        .iter()
        .map(|n| json!({"detector": n.detector, "credential": n.credential, "message": n.message}))
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&json!({"findings": findings, "notes": notes})).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
