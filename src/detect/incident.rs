//! Incidents: the findings of one key that overlap or follow each other closely, as one
//! abuse episode with its severity, span, sources and endpoints.
//!
//! Severity combines the evidence (documented rule, see [`combine`]): one detector on its own
//! keeps its severity, whose scale already caps weak signals at `low`; agreeing detectors raise
//! it.

use super::{Events, Finding, Severity, Strings};
use crate::error::{Error, Result};
use crate::schema::col;
use std::collections::{BTreeMap, BTreeSet};

/// Findings of one key closer than this (µs) belong to one incident.
const GAP: i64 = 60 * 60_000_000;

/// Where an incident's requests came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub ip: String,
    pub country: Option<String>,
    pub asn: Option<i64>,
    pub as_org: Option<String>,
    /// The user agent of most of the source's requests.
    pub user_agent: Option<String>,
    pub first: i64,
    pub last: i64,
    pub requests: i64,
    pub bytes: i64,
}

/// One abuse episode of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `INC-001`, … in order of start time.
    pub id: String,
    pub credential: String,
    pub label: Option<String>,
    pub hint: Option<String>,
    pub severity: Severity,
    pub score: f64,
    pub start: i64,
    pub end: i64,
    /// The first anomalous event: when the abuse is estimated to have begun (for a known
    /// client, its first use of the key after the rotation).
    pub abuse_started: i64,
    /// A client the key had before, still using it after its rotation: a service to update,
    /// not abuse.
    pub known_client: bool,
    pub detectors: Vec<&'static str>,
    /// Indices into the findings.
    pub findings: Vec<usize>,
    /// Rows of the events frame, ascending.
    pub rows: Vec<u32>,
    pub requests: i64,
    pub bytes: i64,
    /// Sources by requests, most first.
    pub sources: Vec<Source>,
    /// Endpoints (paths with ids folded to `{id}`) by requests, most first.
    pub endpoints: Vec<(String, i64)>,
}

impl Incident {
    /// How reports name `abuse_started`.
    pub fn start_phrase(&self) -> &'static str {
        if self.known_client {
            "known client, still in use after the rotation since"
        } else {
            "abuse began (estimate)"
        }
    }
}

/// The severity of agreeing evidence: the strongest finding's severity, raised one level when
/// a second detector agrees and the strongest is at least `medium`, to `critical` when three
/// detectors agree and the strongest is at least `medium`; two detectors that each found only
/// something `low` make `medium`.
pub fn combine(severities: &[(&str, Severity)]) -> Severity {
    let Some(base) = severities.iter().map(|(_, s)| *s).max() else { return Severity::Info };
    let detectors: BTreeSet<&str> = severities.iter().filter(|(_, s)| *s >= Severity::Low).map(|(d, _)| *d).collect();
    let up = |s: Severity| match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    };
    match detectors.len() {
        n if n >= 3 && base >= Severity::Medium => Severity::Critical,
        n if n >= 2 && base >= Severity::Medium => up(base),
        n if n >= 2 => Severity::Medium,
        _ => base,
    }
}

/// `/v2/users/123456?page=2` → `/v2/users/{id}`: numbers, hex ids and UUIDs folded.
pub fn endpoint(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            let hexish = seg.len() >= 8 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            let numeric = !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit());
            if numeric || hexish {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The kind of the rotation finding for a client the key had before its rotation.
pub const KNOWN_CLIENT_AFTER_ROTATION: &str = "used_after_rotation";

/// The id of the `n`th incident in order of time (from 0): `INC-001`, …
pub fn id(n: usize) -> String {
    format!("INC-{:03}", n + 1)
}

/// Groups findings into incidents, most severe first (ties by start time).
pub fn build(events: &Events<'_>, findings: &[Finding]) -> Result<Vec<Incident>> {
    let err = |source| Error::Frame { context: "building incidents", source };
    let text = |n: &str| Strings::of_frame(events, n).ok().flatten();
    let ts = super::timestamps(events).map_err(err)?;
    let count = events.column(col::COUNT).and_then(|c| c.i64().cloned()).map_err(err)?;
    let bytes = events.column(col::BYTES).and_then(|c| c.i64().cloned()).map_err(err)?;
    let (ip, path, label, hint) =
        (text(col::SOURCE_IP), text(col::PATH), text(col::CREDENTIAL_LABEL), text(col::CREDENTIAL_HINT));
    let user_agent = text(col::USER_AGENT);
    let geo = events.geo();
    let get = |c: &Option<Strings>, i: usize| c.as_ref().and_then(|c| c.get(i)).map(str::to_string);

    // Group per key: findings sorted by start, merged while they overlap or follow within GAP.
    // A known client's use of a rotated key is an incident of its own (a service to update),
    // never merged into an attacker's: it would move the estimated start of the abuse.
    let mut by_key: BTreeMap<(&str, bool), Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        by_key.entry((f.credential.as_str(), f.kind == KNOWN_CLIENT_AFTER_ROTATION)).or_default().push(i);
    }
    let mut groups: Vec<(bool, Vec<usize>)> = Vec::new();
    for ((_, known_client), mut idx) in by_key {
        idx.sort_by_key(|&i| (findings[i].start, findings[i].end));
        let mut current: Vec<usize> = Vec::new();
        let mut end = i64::MIN;
        for i in idx {
            let f = &findings[i];
            if !current.is_empty() && f.start > end.saturating_add(GAP) {
                groups.push((known_client, std::mem::take(&mut current)));
            }
            end = if current.is_empty() { f.end } else { end.max(f.end) };
            current.push(i);
        }
        groups.push((known_client, current));
    }

    let mut incidents: Vec<Incident> = groups
        .into_iter()
        .map(|(known_client, g)| {
            let fs: Vec<&Finding> = g.iter().map(|&i| &findings[i]).collect();
            let rows: Vec<u32> =
                fs.iter().flat_map(|f| f.rows.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
            let first_row = rows.first().map(|&r| r as usize);
            let severity = combine(&fs.iter().map(|f| (f.detector, f.severity)).collect::<Vec<_>>());
            let detectors: Vec<&'static str> =
                fs.iter().map(|f| f.detector).collect::<BTreeSet<_>>().into_iter().collect();
            let score =
                (fs.iter().map(|f| f.score).fold(0.0, f64::max) + 10.0 * (detectors.len() as f64 - 1.0)).min(100.0);
            let mut sources: BTreeMap<String, Source> = BTreeMap::new();
            // Requests per (source, user agent), to name each source's main client.
            let mut agents: BTreeMap<(String, String), i64> = BTreeMap::new();
            let mut endpoints: BTreeMap<String, i64> = BTreeMap::new();
            let (mut requests, mut total_bytes) = (0i64, 0i64);
            for &r in &rows {
                let i = r as usize;
                let (n, b, t) = (count.get(i).unwrap_or(1), bytes.get(i).unwrap_or(0), ts.get(i).unwrap_or(0));
                requests += n;
                total_bytes += b;
                if let Some(addr) = get(&ip, i) {
                    let s = sources.entry(addr.clone()).or_insert_with(|| Source {
                        ip: addr,
                        country: geo.country(i).map(str::to_string),
                        asn: geo.asn(i),
                        as_org: geo.as_org(i).map(str::to_string),
                        user_agent: None,
                        first: t,
                        last: t,
                        requests: 0,
                        bytes: 0,
                    });
                    s.first = s.first.min(t);
                    s.last = s.last.max(t);
                    s.requests += n;
                    s.bytes += b;
                    if let Some(ua) = get(&user_agent, i) {
                        *agents.entry((s.ip.clone(), ua)).or_default() += n;
                    }
                }
                if let Some(p) = get(&path, i) {
                    *endpoints.entry(endpoint(&p)).or_default() += n;
                }
            }
            let mut best: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
            for ((ip, ua), n) in &agents {
                let e = best.entry(ip.as_str()).or_insert((0, ua.as_str()));
                if *n > e.0 {
                    *e = (*n, ua.as_str());
                }
            }
            for (ip, (_, ua)) in best {
                if let Some(s) = sources.get_mut(ip) {
                    s.user_agent = Some(ua.to_string());
                }
            }
            let mut sources: Vec<Source> = sources.into_values().collect();
            sources.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.ip.cmp(&b.ip)));
            let mut endpoints: Vec<(String, i64)> = endpoints.into_iter().collect();
            endpoints.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            Incident {
                id: String::new(),
                credential: fs[0].credential.clone(),
                label: first_row.and_then(|i| get(&label, i)),
                hint: first_row.and_then(|i| get(&hint, i)),
                severity,
                score: score.round(),
                start: fs.iter().map(|f| f.start).min().unwrap_or(0),
                end: fs.iter().map(|f| f.end).max().unwrap_or(0),
                abuse_started: first_row
                    .and_then(|i| ts.get(i))
                    .unwrap_or_else(|| fs.iter().map(|f| f.start).min().unwrap_or(0)),
                known_client,
                detectors,
                findings: g,
                rows,
                requests,
                bytes: total_bytes,
                sources,
                endpoints,
            }
        })
        .collect();
    // Ids in order of time, then most severe first.
    incidents.sort_by(|a, b| a.start.cmp(&b.start).then(a.credential.cmp(&b.credential)));
    for (n, inc) in incidents.iter_mut().enumerate() {
        inc.id = id(n);
    }
    incidents.sort_by(report_order);
    Ok(incidents)
}

/// The order reports list incidents in: most severe first, then highest score, earliest,
/// and by key.
pub fn report_order(a: &Incident, b: &Incident) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then(b.score.total_cmp(&a.score))
        .then(a.start.cmp(&b.start))
        .then(a.credential.cmp(&b.credential))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn severity_rule() {
        use Severity::*;
        assert_eq!(combine(&[]), Info);
        assert_eq!(combine(&[("a", Low)]), Low, "one weak signal stays low");
        assert_eq!(combine(&[("a", Low), ("a", Low)]), Low, "one detector twice is still one signal");
        assert_eq!(combine(&[("a", Low), ("b", Low)]), Medium, "two agreeing weak signals");
        assert_eq!(combine(&[("a", Medium), ("b", Low)]), High);
        assert_eq!(combine(&[("a", High), ("b", Low)]), Critical);
        assert_eq!(combine(&[("a", Medium), ("b", Low), ("c", Low)]), Critical);
        assert_eq!(combine(&[("a", Medium), ("b", Info)]), Medium, "info does not corroborate");
    }

    #[test]
    fn endpoints_fold_ids() {
        assert_eq!(endpoint("/v2/users/123456?page=2"), "/v2/users/{id}");
        assert_eq!(endpoint("/v2/conversations/9f3c2a1b/messages"), "/v2/conversations/{id}/messages");
        assert_eq!(endpoint("/v2/users"), "/v2/users");
        assert_eq!(endpoint("/v2/a1b2c3d4-e5f6-1234-9abc-def012345678"), "/v2/{id}");
    }

    fn finding(
        detector: &'static str,
        credential: &str,
        start: i64,
        end: i64,
        rows: Vec<u32>,
        severity: Severity,
    ) -> Finding {
        Finding {
            detector,
            kind: "k",
            credential: credential.into(),
            start,
            end,
            rows,
            score: 50.0,
            severity,
            explanation: String::new(),
        }
    }

    #[test]
    fn findings_of_one_key_close_in_time_are_one_incident() {
        let h = 3_600_000_000i64;
        let n = 6;
        let df = DataFrame::new(
            n,
            vec![
                Column::new(col::TIMESTAMP.into(), (0..n as i64).map(|i| i * h).collect::<Vec<_>>()),
                Column::new(col::COUNT.into(), vec![1i64; n]),
                Column::new(col::BYTES.into(), vec![100i64; n]),
                Column::new(col::SOURCE_IP.into(), vec!["203.0.113.1"; n]),
                Column::new(col::PATH.into(), vec!["/v2/users/1"; n]),
                Column::new(col::CREDENTIAL_LABEL.into(), vec![None::<&str>; n]),
                Column::new(col::CREDENTIAL_HINT.into(), vec![None::<&str>; n]),
            ],
        )
        .unwrap();
        let findings = vec![
            finding("a", "k", 0, h, vec![0, 1], Severity::Medium),
            finding("b", "k", h + h / 2, 2 * h, vec![1, 2], Severity::Low),
            finding("a", "k", 5 * h, 5 * h, vec![5], Severity::Low),
            finding("a", "other", 0, 0, vec![3], Severity::Low),
        ];
        let incidents = build(&(&df).into(), &findings).unwrap();
        assert_eq!(incidents.len(), 3);
        let first = &incidents[0];
        assert_eq!((first.id.as_str(), first.severity, first.rows.clone()), ("INC-001", Severity::High, vec![0, 1, 2]));
        assert_eq!((first.requests, first.bytes, first.abuse_started), (3, 300, 0));
        assert_eq!(first.endpoints, vec![("/v2/users/{id}".to_string(), 3)]);
        assert_eq!(first.sources[0].requests, 3);
        assert!(build(&(&df).into(), &[]).unwrap().is_empty());
    }
}
