//! Use of a key after its rotation: every request with the old key after the time it was
//! rotated is a finding, `critical` when it comes from a network the key was never used from
//! before the rotation (someone else holds a copy), `high` otherwise (a service that still has
//! the old key and will break, or was itself compromised).

use super::incident::KNOWN_CLIENT_AFTER_ROTATION;
use super::{
    timestamps, AddressCodes, Detection, Detector, Events, Finding, KeyRows, Networks, Numbers, Severity, Strings,
};
use crate::error::{Error, Result};
use crate::factor::{factorize_text, NULL};
use crate::schema::col;
use crate::text::{duration, thousands};
use crate::timestamp::format_rfc3339;
use polars::prelude::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

const NAME: &str = "rotation";

/// When keys were rotated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RotationConfig {
    /// Key (credential, fingerprint or label) → rotation time (UTC µs).
    pub rotated: BTreeMap<String, i64>,
    /// A rotation time for every key.
    pub all_rotated_at: Option<i64>,
}

/// The rotation detector.
#[derive(Debug, Clone, Default)]
pub struct Rotation {
    pub config: RotationConfig,
}

impl Detector for Rotation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn detect_keys(&self, events: &Events<'_>, keys: &[KeyRows<'_>]) -> Result<Detection> {
        let mut out = Detection::default();
        if self.config.rotated.is_empty() && self.config.all_rotated_at.is_none() {
            return Ok(out);
        }
        let err = |source| Error::Frame { context: "reading events for the rotation check", source };
        let ts = timestamps(events).map_err(err)?;
        let ts = Numbers::of(&ts);
        let label = events.column(col::CREDENTIAL_LABEL).and_then(Strings::of).map_err(err)?;
        let count = Numbers::of(events.column(col::COUNT).and_then(|c| c.i64()).map_err(err)?);
        let ua = events.column(col::USER_AGENT).and_then(Strings::of).map_err(err)?;
        let addresses = AddressCodes::of(events).map_err(err)?;
        let ip = events.column(col::SOURCE_IP).and_then(Strings::of).map_err(err)?;
        let networks = Networks::of(&addresses, ip);
        // Per row: its network's id, or `no_address` (one more than the last id).
        let no_address = networks.names.len();
        let network_of =
            |i: usize| addresses.get(i).and_then(|a| networks.of_address(a)).map_or(no_address, |n| n as usize);
        let name = |net: usize| networks.names.get(net).map_or("no address", String::as_str);
        for k in keys {
            let key_label = k.rows.first().and_then(|&i| label.get(i));
            let rotated = self
                .config
                .rotated
                .get(k.key)
                .or_else(|| key_label.and_then(|l| self.config.rotated.get(l)))
                .copied()
                .or(self.config.all_rotated_at);
            let Some(at) = rotated else { continue };
            // The networks used before the rotation; after it, one finding per network, in
            // order of first use.
            let mut before = vec![false; no_address + 1];
            let mut first_use: Vec<Option<i64>> = vec![None; no_address + 1];
            let mut after: BTreeMap<(i64, &str), (usize, Vec<usize>)> = BTreeMap::new();
            for &i in &k.rows {
                let Some(t) = ts.get(i) else { continue };
                let net = network_of(i);
                if t < at {
                    if net != no_address {
                        before[net] = true;
                    }
                } else {
                    let first = *first_use[net].get_or_insert(t);
                    after.entry((first, name(net))).or_insert_with(|| (net, Vec::new())).1.push(i);
                }
            }
            for ((_, net), (id, rows)) in after {
                let known = before[id];
                let requests: i64 = rows.iter().map(|&i| count.get(i).unwrap_or(1)).sum();
                let (start, end) = (ts.get(rows[0]).unwrap_or(at), ts.get(rows[rows.len() - 1]).unwrap_or(at));
                let client = ua.get(rows[0]).map(|u| format!(" ({})", crate::text::clip(u, 60))).unwrap_or_default();
                let (severity, score, what) = if known {
                    (Severity::High, 85.0, "a client the key had before, which still holds the old key")
                } else {
                    (
                        Severity::Critical,
                        100.0,
                        "a network the key was never used from before: someone else holds a copy",
                    )
                };
                out.findings.push(Finding {
                    detector: NAME,
                    kind: if known { KNOWN_CLIENT_AFTER_ROTATION } else { "new_source_after_rotation" },
                    credential: k.key.to_string(),
                    start,
                    end,
                    rows: rows.iter().map(|&i| i as u32).collect(),
                    score,
                    severity,
                    explanation: format!(
                        "key {} was rotated at {} but used {} time{} afterwards from {net}{client} over {}: {what}",
                        k.name,
                        format_rfc3339(at),
                        thousands(requests as f64),
                        if requests == 1 { "" } else { "s" },
                        duration(end - start),
                    ),
                });
            }
        }
        out.findings.sort_by(Finding::order);
        Ok(out)
    }
}

/// A client that used a key after its rotation: it breaks when the old key is revoked, or it
/// holds a copy of the leaked key.
#[derive(Debug, Clone, PartialEq)]
pub struct LateClient {
    pub credential: String,
    /// How explanations name the key.
    pub key: String,
    /// The GeoIP network of its addresses, else their /24 (/48).
    pub network: String,
    pub user_agent: Option<String>,
    pub addresses: usize,
    pub requests: i64,
    pub first: i64,
    pub last: i64,
    /// Whether the key was used from this network before its rotation (a known service).
    pub known: bool,
}

/// The clients behind the rotation findings, grouped by key, network and user agent, in
/// order of first use after the rotation.
pub fn late_clients(events: &Events<'_>, findings: &[Finding]) -> Result<Vec<LateClient>> {
    let err = |source| Error::Frame { context: "listing clients after rotation", source };
    let rotation: Vec<&Finding> = findings.iter().filter(|f| f.detector == NAME).collect();
    if rotation.is_empty() {
        return Ok(Vec::new());
    }
    let ts = timestamps(events).map_err(err)?;
    let ts = Numbers::of(&ts);
    let ip = events.column(col::SOURCE_IP).and_then(Strings::of).map_err(err)?;
    let ua_column = events.column(col::USER_AGENT).map_err(err)?;
    let ua = Strings::of(ua_column).map_err(err)?;
    let count = Numbers::of(events.column(col::COUNT).and_then(|c| c.i64()).map_err(err)?);
    let label = events.column(col::CREDENTIAL_LABEL).and_then(Strings::of).map_err(err)?;
    let hint = events.column(col::CREDENTIAL_HINT).and_then(Strings::of).map_err(err)?;
    let (addresses, agents) = (AddressCodes::of(events).map_err(err)?, factorize_text(ua_column).map_err(err)?);
    let geo = events.geo();
    type Group = (LateClient, std::collections::BTreeSet<String>);
    let mut groups: BTreeMap<(String, String, Option<String>), Group> = BTreeMap::new();
    for f in rotation {
        // The finding's rows by address and user agent first: text is made once per pair.
        let mut pairs: PlHashMap<(u32, u32), (usize, i64, i64, i64)> = PlHashMap::default();
        let mut order = Vec::new();
        for &r in &f.rows {
            let i = r as usize;
            let t = ts.get(i).unwrap_or(f.start);
            let pair = (addresses.get(i).unwrap_or(NULL), agents.codes.get(i).copied().unwrap_or(NULL));
            let (_, requests, first, last) = pairs.entry(pair).or_insert_with(|| {
                order.push(pair);
                (i, 0, t, t)
            });
            *requests += count.get(i).unwrap_or(1);
            *first = (*first).min(t);
            *last = (*last).max(t);
        }
        for pair in order {
            let (i, requests, first, last) = pairs[&pair];
            let address = ip.get(i).unwrap_or("");
            let network = match geo.network(i) {
                Some(n) => n.to_string(),
                None => address.parse::<IpAddr>().map_or_else(|_| "no address".into(), super::unfamiliar::prefix_of),
            };
            let agent = ua.get(i).map(str::to_string);
            let (client, addresses) =
                groups.entry((f.credential.clone(), network.clone(), agent.clone())).or_insert_with(|| {
                    let key = super::key_name(&f.credential, label.get(i), hint.get(i));
                    let client = LateClient {
                        credential: f.credential.clone(),
                        key,
                        network,
                        user_agent: agent,
                        addresses: 0,
                        requests: 0,
                        first,
                        last,
                        known: f.kind == KNOWN_CLIENT_AFTER_ROTATION,
                    };
                    (client, Default::default())
                });
            addresses.insert(address.to_string());
            client.addresses = addresses.len();
            client.requests += requests;
            client.first = client.first.min(first);
            client.last = client.last.max(last);
        }
    }
    let mut clients: Vec<LateClient> = groups.into_values().map(|(c, _)| c).collect();
    clients.sort_by(|a, b| (&a.credential, a.first, &a.network).cmp(&(&b.credential, b.first, &b.network)));
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        let ev: [(i64, Option<&str>, &str); 10] = [
            (1, Some("198.51.100.1"), "svc/1"),
            (2, Some("198.51.100.2"), "svc/1"),
            (3, Some("203.0.113.9"), "svc/1"),
            (4, None, "svc/1"),
            (10, Some("198.51.100.1"), "svc/1"),
            (11, Some("203.0.113.9"), "svc/1"),
            (12, Some("192.0.2.7"), "svc/1"),
            (13, Some("198.51.100.2"), "svc/1"),
            (14, Some("192.0.2.7"), "curl/8"),
            (15, None, "svc/1"),
        ];
        let n = ev.len();
        DataFrame::new(
            n,
            vec![
                Column::new(col::TIMESTAMP.into(), ev.iter().map(|e| e.0 * 3_600_000_000).collect::<Vec<_>>()),
                Column::new(col::CREDENTIAL.into(), vec!["k"; n]),
                Column::new(col::CREDENTIAL_LABEL.into(), vec![Some("prod-bot"); n]),
                Column::new(col::CREDENTIAL_HINT.into(), vec![None::<&str>; n]),
                Column::new(col::SOURCE_IP.into(), ev.iter().map(|e| e.1).collect::<Vec<_>>()),
                Column::new(col::USER_AGENT.into(), ev.iter().map(|e| e.2).collect::<Vec<_>>()),
                Column::new(col::COUNT.into(), vec![1i64; n]),
            ],
        )
        .unwrap()
    }

    fn rotated() -> Rotation {
        Rotation {
            config: RotationConfig {
                rotated: [("prod-bot".to_string(), 5 * 3_600_000_000)].into(),
                all_rotated_at: None,
            },
        }
    }

    #[test]
    fn use_after_rotation_known_and_new() {
        assert!(Rotation::default().detect(&frame()).unwrap().findings.is_empty(), "no rotation, nothing to judge");
        let d = rotated().detect(&frame()).unwrap();
        let got: Vec<_> = d.findings.iter().map(|f| (f.kind, f.severity, f.rows.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("used_after_rotation", Severity::High, vec![4, 7]),
                ("used_after_rotation", Severity::High, vec![5]),
                ("new_source_after_rotation", Severity::Critical, vec![6, 8]),
                // Use without an address is never a known client's.
                ("new_source_after_rotation", Severity::Critical, vec![9]),
            ]
        );
        assert!(d.findings[2].explanation.contains("from 192.0.2.0/24 (svc/1)"), "{}", d.findings[2].explanation);
        assert!(d.findings[3].explanation.contains("from no address"), "{}", d.findings[3].explanation);
    }

    /// Clients are grouped by key, network and user agent, counting their addresses.
    #[test]
    fn late_clients_by_network_and_agent() {
        let frame = frame();
        let d = rotated().detect(&frame).unwrap();
        let clients = late_clients(&(&frame).into(), &d.findings).unwrap();
        let got: Vec<_> = clients
            .iter()
            .map(|c| (c.network.as_str(), c.user_agent.as_deref(), c.addresses, c.requests, c.known))
            .collect();
        assert_eq!(
            got,
            vec![
                ("198.51.100.0/24", Some("svc/1"), 2, 2, true),
                ("203.0.113.0/24", Some("svc/1"), 1, 1, true),
                ("192.0.2.0/24", Some("svc/1"), 1, 1, false),
                ("192.0.2.0/24", Some("curl/8"), 1, 1, false),
                ("no address", Some("svc/1"), 1, 1, false),
            ]
        );
        let hour = 3_600_000_000;
        assert_eq!((clients[0].first, clients[0].last), (10 * hour, 13 * hour));
        assert_eq!(clients[0].key, "prod-bot");
    }
}
