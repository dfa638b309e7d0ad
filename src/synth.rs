//! Synthetic benchmark inputs: any number of API-gateway events, as CSV or NDJSON, the same
//! bytes for the same arguments.
//!
//! Thirty days of traffic of a few keys, each key with its own clients: backend servers in
//! cloud networks, staff browsers on home networks, and mobile apps on many addresses, with a
//! daily and weekly rhythm; the raw key in each row (so that fingerprinting is measured too);
//! real routed address blocks (so that the full GeoIP databases find them); and three planted
//! incidents, so that the detectors and the report have work to do.

use crate::demo::Rng;
use std::io::Write;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub events: u64,
    pub keys: usize,
    /// Distinct client addresses (about).
    pub addresses: usize,
    pub format: SynthFormat,
}

/// Output format of [`write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthFormat {
    Csv,
    Jsonl,
}

/// Networks the clients come from: large, long-allocated blocks of well-known operators, so
/// that the 2018 City and the 2026 ASN databases both know them.
const BLOCKS: &[(&str, [u8; 2])] = &[
    ("cloud", [3, 120]),
    ("cloud", [18, 192]),
    ("cloud", [34, 89]),
    ("cloud", [35, 156]),
    ("cloud", [52, 28]),
    ("cloud", [13, 69]),
    ("cloud", [104, 40]),
    ("cloud", [138, 68]),
    ("home", [79, 192]),
    ("home", [84, 128]),
    ("home", [91, 64]),
    ("home", [62, 178]),
    ("home", [81, 56]),
    ("home", [86, 192]),
    ("home", [24, 5]),
    ("home", [73, 92]),
    ("home", [98, 207]),
    ("home", [109, 40]),
    ("home", [151, 24]),
    ("home", [176, 0]),
    ("home", [2, 200]),
    ("home", [90, 0]),
];

const AGENTS: &[&str] = &[
    "acme-bot/2.3 python-requests/2.31.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "AcmeApp/4.2.1 (iPhone; iOS 18.1; Scale/3.00)",
    "AcmeApp/4.2.0 (Linux; Android 14; Pixel 8) okhttp/4.12.0",
    "Acme-Campaigns/1.8 (+https://acme.example/bot)",
];

/// One key's clients.
struct KeyPlan {
    secret: String,
    /// Addresses and the user agent they use.
    clients: Vec<(String, &'static str)>,
    /// Share of the traffic at night (0 = office hours only).
    night: f64,
}

fn address(rng: &mut Rng, kind: &str) -> String {
    let blocks: Vec<&[u8; 2]> = BLOCKS.iter().filter(|(k, _)| *k == kind).map(|(_, b)| b).collect();
    let b = blocks[(rng.next_u64() % blocks.len() as u64) as usize];
    format!(
        "{}.{}.{}.{}",
        b[0],
        b[1].wrapping_add((rng.next_u64() % 4) as u8),
        rng.next_u64() % 256,
        1 + rng.next_u64() % 254
    )
}

fn plans(rng: &mut Rng, spec: &Spec) -> Vec<KeyPlan> {
    let keys = spec.keys.max(1);
    let per_key = (spec.addresses / keys).max(1);
    (0..keys)
        .map(|k| {
            let secret = format!("fcsk_live_{:016x}{:016x}", rng.next_u64(), rng.next_u64());
            // Key 0..: servers, staff, apps in turn.
            let (kind, agent, night, n) = match k % 3 {
                0 => ("cloud", AGENTS[0], 0.3, per_key.min(12)),
                1 => ("home", AGENTS[1 + k % 2], 0.02, per_key.min(200)),
                _ => ("home", AGENTS[3 + k % 2], 0.15, per_key),
            };
            let clients = (0..n).map(|_| (address(rng, kind), agent)).collect();
            KeyPlan { secret, clients, night }
        })
        .collect()
}

const START: i64 = 1_791_158_400; // 2026-10-05T00:00:00Z, a Monday
const DAYS: i64 = 30;

/// Writes `spec.events` events to `out`, in time order.
pub fn write(spec: &Spec, out: &mut dyn Write) -> std::io::Result<()> {
    let mut rng = Rng(0x000B_E7C4_2026 ^ spec.events);
    let keys = plans(&mut rng, spec);
    let span_ms = DAYS * 86_400_000;
    // Planted: a bulk export from an unknown network on day 20, an enumeration on day 24,
    // and a key used at night from a new network on day 27, each 0.1% of the events in a row.
    let planted = (spec.events / 1000).max(1);
    let first_event = |day: u64, hour: u64| (day * 24 + hour) * spec.events / (DAYS as u64 * 24);
    let incidents = [
        (first_event(20, 1), 0usize, "203.0.113.", "python-requests/2.32.3"),
        (first_event(24, 14), 1 % keys.len(), "198.51.100.", "Go-http-client/1.1"),
        (first_event(27, 3), 2 % keys.len(), "192.0.2.", "curl/8.5.0"),
    ];
    if spec.format == SynthFormat::Csv {
        out.write_all(b"timestamp,client_ip,api_key,method,path,status,bytes,user_agent\n")?;
    }
    let mut line = String::with_capacity(512);
    for i in 0..spec.events {
        let t = START * 1000 + (i as i128 * span_ms as i128 / spec.events.max(1) as i128) as i64;
        line.clear();
        let planted_here = incidents.iter().find(|inc| (inc.0..inc.0 + planted).contains(&i));
        let (key, ip, agent, status, path): (usize, String, &str, u16, String) = match planted_here {
            Some(&(_, key, prefix, agent)) => {
                let status = if agent.starts_with("Go") { 404 } else { 200 };
                (key, format!("{prefix}{}", 1 + i % 3), agent, status, format!("/v2/users?page={}", i % 5000))
            }
            None => {
                let hour = (t / 3_600_000) % 24;
                let weekday = ((t / 86_400_000) % 7) as u8;
                let office = (8..18).contains(&hour) && weekday < 5;
                // Pick a key that is awake at this hour.
                let mut key = (rng.next_u64() % keys.len() as u64) as usize;
                for _ in 0..keys.len() {
                    if office || rng.unit() < keys[key].night * 3.0 {
                        break;
                    }
                    key = (key + 1) % keys.len();
                }
                let plan = &keys[key];
                let (ip, agent) = &plan.clients[(rng.next_u64() % plan.clients.len() as u64) as usize];
                let path = match rng.next_u64() % 4 {
                    0 => format!("/v2/users/{}", 100_000 + rng.next_u64() % 900_000),
                    1 => format!("/v2/conversations/{:08x}/messages", rng.next_u64() as u32),
                    2 => format!("/v2/conversations?status=open&page={}", 1 + rng.next_u64() % 20),
                    _ => format!("/v2/agents/{:08x}", rng.next_u64() as u32),
                };
                let status = if rng.next_u64().is_multiple_of(100) { 404 } else { 200 };
                (key, ip.clone(), *agent, status, path)
            }
        };
        let bytes = 300 + rng.next_u64() % 4000;
        let method = if rng.next_u64().is_multiple_of(5) { "POST" } else { "GET" };
        let ts = chrono::DateTime::from_timestamp_millis(t).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let secret = &keys[key].secret;
        match spec.format {
            SynthFormat::Csv => {
                use std::fmt::Write as _;
                let _ = writeln!(line, "{ts},{ip},{secret},{method},{path},{status},{bytes},\"{agent}\"");
            }
            SynthFormat::Jsonl => {
                use std::fmt::Write as _;
                let _ = writeln!(
                    line,
                    "{{\"@timestamp\":\"{ts}\",\"client_ip\":\"{ip}\",\"api_key\":\"{secret}\",\"method\":\"{method}\",\"path\":\"{path}\",\"status\":{status},\"bytes\":{bytes},\"user_agent\":\"{agent}\"}}"
                );
            }
        }
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_spec_gives_the_same_bytes_and_both_formats_hold_every_event() {
        let spec = Spec { events: 5000, keys: 4, addresses: 300, format: SynthFormat::Csv };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write(&spec, &mut a).unwrap();
        write(&spec, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 5001, "a header and every event");
        assert!(text.contains("203.0.113."), "the planted bulk export is there");
        let mut j = Vec::new();
        write(&Spec { format: SynthFormat::Jsonl, ..spec }, &mut j).unwrap();
        let j = String::from_utf8(j).unwrap();
        assert_eq!(j.lines().count(), 5000);
        for l in j.lines().take(100) {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }
}
