//! The demo data set: a deterministic generator of three weeks of API traffic of one
//! organisation, in every input format, with planted leaks and the truth about them.
//!
//! `leakhound generate-demo --out data` writes `data/logs/` (the inputs), `data/networks.csv`
//! (the networks the traffic comes from), `data/geoip/` (GeoIP databases built from that
//! table), `data/truth.json`
//! (what was planted) and `data/demo-mapping.toml` (labels for the demo keys). Same code, same bytes: a test regenerates the set and
//! compares it with the committed copy.

use crate::error::{Error, Result};
use crate::report::{Output, OutputDir};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use flate2::{Compression, GzBuilder};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// splitmix64: a tiny, fixed PRNG so that generated data never changes with a dependency
/// (also used by the test scenarios).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// Poisson draw (Knuth; λ is small here).
    fn poisson(&mut self, lambda: f64) -> u32 {
        let l = (-lambda).exp();
        let (mut k, mut p) = (0, 1.0);
        loop {
            p *= self.unit();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0')).collect()
    }
}

/// A network the demo traffic comes from.
struct Network {
    cidr: &'static str,
    country: &'static str,
    city: &'static str,
    lat: f64,
    lon: f64,
    asn: u32,
    org: &'static str,
    /// `hosting`, `tor`, `vpn` or empty.
    flags: &'static str,
}

const NETWORKS: &[Network] = &[
    net("3.120.0.0/14", "DE", "Frankfurt am Main", 50.1109, 8.6821, 16509, "Amazon.com, Inc.", "hosting"),
    net("18.192.0.0/15", "DE", "Frankfurt am Main", 50.1109, 8.6821, 16509, "Amazon.com, Inc.", "hosting"),
    net("34.89.128.0/17", "DE", "Frankfurt am Main", 50.1109, 8.6821, 396982, "Google LLC", "hosting"),
    net("88.198.0.0/16", "DE", "Falkenstein", 50.4779, 12.3713, 24940, "Hetzner Online GmbH", "hosting"),
    net("79.192.0.0/10", "DE", "Berlin", 52.5200, 13.4050, 3320, "Deutsche Telekom AG", ""),
    net("91.64.0.0/14", "DE", "Hamburg", 53.5511, 9.9937, 3209, "Vodafone GmbH", ""),
    net("84.128.0.0/10", "DE", "Munich", 48.1351, 11.5820, 3320, "Deutsche Telekom AG", ""),
    net("62.178.0.0/15", "AT", "Vienna", 48.2082, 16.3738, 8412, "T-Mobile Austria GmbH", ""),
    net("178.197.128.0/17", "CH", "Zurich", 47.3769, 8.5417, 3303, "Swisscom (Schweiz) AG", ""),
    net("128.199.0.0/16", "SG", "Singapore", 1.3521, 103.8198, 14061, "DigitalOcean, LLC", "hosting"),
    net("185.220.101.0/24", "DE", "", 51.2993, 9.4910, 60729, "Zwiebelfreunde e.V.", "tor"),
    net("51.68.0.0/16", "FR", "Gravelines", 50.9871, 2.1255, 16276, "OVH SAS", "hosting"),
    net("172.104.0.0/15", "US", "Newark", 40.7357, -74.1724, 63949, "Akamai Connected Cloud", "hosting"),
];

#[allow(clippy::too_many_arguments)]
const fn net(
    cidr: &'static str,
    country: &'static str,
    city: &'static str,
    lat: f64,
    lon: f64,
    asn: u32,
    org: &'static str,
    flags: &'static str,
) -> Network {
    Network { cidr, country, city, lat, lon, asn, org, flags }
}

/// An address inside network `i` (host part from the generator).
fn ip_in(rng: &mut Rng, i: usize) -> String {
    let (base, bits) = NETWORKS[i].cidr.split_once('/').unwrap_or(("0.0.0.0", "32"));
    let octets: Vec<u32> = base.split('.').filter_map(|o| o.parse().ok()).collect();
    let base = octets.iter().fold(0u32, |a, o| (a << 8) | o);
    let host_bits = 32 - bits.parse::<u32>().unwrap_or(32);
    let host = (rng.next_u64() as u32) & ((1u32 << host_bits) - 1);
    let ip = base | host.clamp(1, ((1u64 << host_bits) - 2) as u32);
    format!("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255)
}

/// Where an event is logged.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// The API gateway's NDJSON log (ECS, nested), with the `Authorization` header.
    Gateway,
    /// nginx in front of the marketing integration (key in the query string).
    Nginx,
    /// The public API's load balancer (ALB), key in the query string.
    Alb,
    /// The vendor's per-minute usage export (CSV, key name, pre-aggregated).
    Usage,
}

struct Event {
    at: DateTime<Utc>,
    sink: Sink,
    key: usize,
    ip: String,
    method: &'static str,
    path: String,
    status: u16,
    bytes: u32,
    agent: &'static str,
    count: u32,
    /// Index into the planted leaks, for the truth file.
    leak: Option<usize>,
}

struct Key {
    label: &'static str,
    secret: String,
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
];
const APP: &[&str] = &[
    "AcmeApp/4.2.1 (iPhone; iOS 18.1)",
    "AcmeApp/4.2.0 (Android 14; Pixel 8)",
    "AcmeApp/4.1.9 (Android 13; SM-G991B)",
];

/// Start of the demo period (Monday 5 October 2026, 00:00 Berlin) and its length.
fn period() -> (DateTime<Utc>, i64) {
    let start =
        Berlin.with_ymd_and_hms(2026, 10, 5, 0, 0, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or_default();
    (start, 21 * 24 * 60)
}

fn berlin_local(t: DateTime<Utc>) -> (Weekday, u32, u32) {
    let l = t.with_timezone(&Berlin);
    (l.weekday(), l.hour(), l.minute())
}

fn is_workday(d: Weekday) -> bool {
    !matches!(d, Weekday::Sat | Weekday::Sun)
}

/// The key index of the usage export's rows, which name their key by id (no secret).
const REPORTING: usize = usize::MAX;
/// prod-bot's key index, and its successor's after the rotation.
const PROD_BOT: usize = 0;
const PROD_BOT_V2: usize = 4;

/// prod-bot's key is rotated on Monday 19 October at 10:00 Berlin, after the bulk export of the
/// weekend: the backend servers move to the new key, the nightly export job is forgotten and
/// keeps the old one, and someone with a copy of the old key uses it on Wednesday night.
fn rotation_time() -> DateTime<Utc> {
    Berlin.with_ymd_and_hms(2026, 10, 19, 10, 0, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or_default()
}

/// The planted leaks: (id, key, description).
const LEAKS: &[(&str, usize, &str)] = &[
    ("L1-bulk-export", 0, "prod-bot's key, leaked in a public repository, used from DigitalOcean Singapore on Saturday night to page through users and conversations"),
    ("L2-low-and-slow", 2, "marketing-sync's key used through Tor exits, a few requests an hour in office hours, reading user records"),
    ("L3-enumeration", 1, "support-desk's key used from OVH France to enumerate user ids: mostly 404s, then rate limited"),
    ("L4-spam-burst", 3, "mobile-app's key used from a US cloud host for a burst of outbound messages on Saturday evening"),
    ("L5-after-rotation", 0, "prod-bot's old key, rotated on Monday but still accepted, used from a US cloud host on Wednesday night to page through conversations"),
];

fn generate_events(rng: &mut Rng) -> (Vec<Key>, Vec<Event>) {
    let mut keys: Vec<Key> = ["prod-bot", "support-desk", "marketing-sync", "mobile-app"]
        .iter()
        .map(|label| Key { label, secret: format!("fcsk_live_{}", rng.hex(32)) })
        .collect();
    let (start, minutes) = period();
    let mut events = Vec::new();
    let at_minute = |m: i64, rng: &mut Rng| {
        start + Duration::seconds(m * 60 + rng.below(60) as i64) + Duration::milliseconds(rng.below(1000) as i64)
    };

    // prod-bot: backend servers in AWS Frankfurt; replaced by autoscaling on day 8 (new
    // addresses, another AWS prefix); a nightly export at 02:00 Berlin.
    let servers_a: Vec<String> = (0..3).map(|_| ip_in(rng, 0)).collect();
    let servers_b: Vec<String> = (0..3).map(|_| ip_in(rng, 1)).collect();
    // support-desk: six agents working from home (Telekom/Vodafone), one gets a new address
    // from her ISP mid-way.
    let mut agents: Vec<(String, &str)> =
        (0..6).map(|i| (ip_in(rng, if i % 2 == 0 { 4 } else { 5 }), *rng.pick(BROWSERS))).collect();
    let agent_new_ip = ip_in(rng, 4);
    // marketing-sync: one server at Hetzner; weekly campaign on Tuesdays at 10:00.
    let marketing = ip_in(rng, 3);
    // mobile-app: users' phones from many home and mobile networks.
    let phones: Vec<String> = (0..400).map(|i| ip_in(rng, [4, 5, 6, 7, 8][i % 5])).collect();
    // reporting (usage export): an hourly job in Google Cloud.
    let reporting = ip_in(rng, 2);

    for m in 0..minutes {
        let t = start + Duration::minutes(m);
        let (day, hour, minute) = berlin_local(t);
        let work = is_workday(day) && (8..18).contains(&hour);
        let day_index = m / (24 * 60);

        let servers = if day_index < 8 { &servers_a } else { &servers_b };
        let lambda = if work { 0.5 } else { 0.06 };
        for _ in 0..rng.poisson(lambda) {
            let path = if rng.unit() < 0.6 {
                format!("/v2/conversations/{}/messages", rng.hex(8))
            } else {
                format!("/v2/users/{}", 100_000 + rng.below(900_000))
            };
            let method = if rng.unit() < 0.2 { "POST" } else { "GET" };
            let ip = rng.pick(servers).clone();
            events.push(Event {
                at: at_minute(m, rng),
                sink: Sink::Gateway,
                key: 0,
                ip,
                method,
                path,
                status: if rng.unit() < 0.01 { 404 } else { 200 },
                bytes: 300 + rng.below(4000) as u32,
                agent: "acme-bot/2.3 python-requests/2.31.0",
                count: 1,
                leak: None,
            });
        }
        if hour == 2 && minute < 15 {
            for _ in 0..rng.poisson(6.0) {
                let ip = rng.pick(servers).clone();
                let path = format!("/v2/users?page={}&items_per_page=100", 1 + rng.below(90));
                events.push(Event {
                    at: at_minute(m, rng),
                    sink: Sink::Gateway,
                    key: 0,
                    ip,
                    method: "GET",
                    path,
                    status: 200,
                    bytes: 40_000 + rng.below(20_000) as u32,
                    agent: "acme-bot/2.3 python-requests/2.31.0",
                    count: 1,
                    leak: None,
                });
            }
        }

        if day_index == 10 {
            agents[0].0 = agent_new_ip.clone();
        }
        if is_workday(day) && (8..17).contains(&hour) {
            for (ip, agent) in &agents {
                for _ in 0..rng.poisson(0.08) {
                    let (method, path) = match rng.below(3) {
                        0 => ("GET", "/v2/conversations?status=open".to_string()),
                        1 => ("POST", format!("/v2/conversations/{}/messages", rng.hex(8))),
                        _ => ("GET", format!("/v2/users/{}", 100_000 + rng.below(900_000))),
                    };
                    events.push(Event {
                        at: at_minute(m, rng),
                        sink: Sink::Gateway,
                        key: 1,
                        ip: ip.clone(),
                        method,
                        path,
                        status: 200,
                        bytes: 500 + rng.below(3000) as u32,
                        agent,
                        count: 1,
                        leak: None,
                    });
                }
            }
        }

        let campaign = day == Weekday::Tue && hour == 10 && minute < 30;
        for _ in 0..rng.poisson(if campaign { 12.0 } else { 0.01 }) {
            let (method, path) = if campaign {
                ("POST", "/v2/outbound-messages/whatsapp".to_string())
            } else {
                ("GET", format!("/v2/users/{}", 100_000 + rng.below(900_000)))
            };
            events.push(Event {
                at: at_minute(m, rng),
                sink: Sink::Nginx,
                key: 2,
                ip: marketing.clone(),
                method,
                path,
                status: 202,
                bytes: 180 + rng.below(200) as u32,
                agent: "Acme-Campaigns/1.8 (+https://acme.example/bot)",
                count: 1,
                leak: None,
            });
        }

        let awake = (7..23).contains(&hour);
        for _ in 0..rng.poisson(if awake { 0.35 } else { 0.03 }) {
            let (method, path) = match rng.below(4) {
                0 => ("POST", format!("/v2/conversations/{}/messages", rng.hex(8))),
                _ => ("GET", format!("/v2/conversations/{}", rng.hex(8))),
            };
            let ip = rng.pick(&phones).clone();
            let agent = *rng.pick(APP);
            events.push(Event {
                at: at_minute(m, rng),
                sink: Sink::Alb,
                key: 3,
                ip,
                method,
                path,
                status: 200,
                bytes: 200 + rng.below(2000) as u32,
                agent,
                count: 1,
                leak: None,
            });
        }

        if (15..20).contains(&minute) {
            let count = 20 + rng.below(20) as u32;
            events.push(Event {
                at: start + Duration::minutes(m),
                sink: Sink::Usage,
                key: REPORTING,
                ip: reporting.clone(),
                method: "GET",
                path: "/v2/reports/raw".into(),
                status: 200,
                bytes: count * 2_000,
                agent: "",
                count,
                leak: None,
            });
        }
    }

    // L1: Saturday 17 October, 00:40-02:10 Berlin, DigitalOcean Singapore, bulk paging.
    let l1_ip = ip_in(rng, 9);
    let l1_start =
        Berlin.with_ymd_and_hms(2026, 10, 17, 0, 40, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or(start);
    for s in 0..(90 * 60 / 2) {
        let at = l1_start + Duration::seconds(s * 2) + Duration::milliseconds(rng.below(1000) as i64);
        let what = if s % 2 == 0 { "users" } else { "conversations" };
        let path = format!("/v2/{what}?page={}&items_per_page=100", s / 2 + 1);
        events.push(Event {
            at,
            sink: Sink::Gateway,
            key: 0,
            ip: l1_ip.clone(),
            method: "GET",
            path,
            status: 200,
            bytes: 45_000 + rng.below(15_000) as u32,
            agent: "python-requests/2.32.3",
            count: 1,
            leak: Some(0),
        });
    }
    // L2: from Tuesday 20 October, office hours, a request every 20-40 minutes via Tor.
    let l2_start =
        Berlin.with_ymd_and_hms(2026, 10, 20, 9, 0, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or(start);
    let mut at = l2_start;
    while at < start + Duration::minutes(minutes) {
        let (day, hour, _) = berlin_local(at);
        if is_workday(day) && (9..17).contains(&hour) {
            let ip = format!("185.220.101.{}", 1 + rng.below(250));
            let path = format!("/v2/users/{}", 100_000 + rng.below(900_000));
            events.push(Event {
                at,
                sink: Sink::Nginx,
                key: 2,
                ip,
                method: "GET",
                path,
                status: 200,
                bytes: 900 + rng.below(400) as u32,
                agent: "curl/8.5.0",
                count: 1,
                leak: Some(1),
            });
        }
        at += Duration::minutes(20 + rng.below(20) as i64);
    }
    // L3: Thursday 22 October 14:00-14:25, OVH France, user-id enumeration.
    let l3_ip = ip_in(rng, 11);
    let l3_start =
        Berlin.with_ymd_and_hms(2026, 10, 22, 14, 0, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or(start);
    for s in 0..(25 * 40) {
        let at = l3_start + Duration::milliseconds(s * 1500 + rng.below(500) as i64);
        let status = if s > 850 {
            429
        } else if rng.unit() < 0.85 {
            404
        } else {
            200
        };
        let path = format!("/v2/users/{}", 200_000 + s);
        events.push(Event {
            at,
            sink: Sink::Gateway,
            key: 1,
            ip: l3_ip.clone(),
            method: "GET",
            path,
            status,
            bytes: if status == 200 { 1100 } else { 90 },
            agent: "Go-http-client/1.1",
            count: 1,
            leak: Some(2),
        });
    }
    // L4: Saturday 24 October 21:00-21:40, a US cloud host, outbound-message spam.
    let l4_ip = ip_in(rng, 12);
    let l4_start =
        Berlin.with_ymd_and_hms(2026, 10, 24, 21, 0, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or(start);
    for s in 0..(40 * 50) {
        let at = l4_start + Duration::milliseconds(s * 1200 + rng.below(400) as i64);
        events.push(Event {
            at,
            sink: Sink::Alb,
            key: 3,
            ip: l4_ip.clone(),
            method: "POST",
            path: "/v2/outbound-messages/whatsapp".into(),
            status: 202,
            bytes: 150,
            agent: "okhttp/4.12.0",
            count: 1,
            leak: Some(3),
        });
    }
    rotate(&mut keys, &mut events);
    events.sort_by(|a, b| a.at.cmp(&b.at).then(a.ip.cmp(&b.ip)));
    (keys, events)
}

/// The rotation of prod-bot's key (see [`rotation_time`]). Its own generator, so that the
/// traffic before it is the same as without it.
fn rotate(keys: &mut Vec<Key>, events: &mut Vec<Event>) {
    let mut rng = Rng(0x2026_1019_1000_0001);
    keys.push(Key { label: "prod-bot-v2", secret: format!("fcsk_live_{}", rng.hex(32)) });
    let at = rotation_time();
    for e in events.iter_mut().filter(|e| e.key == PROD_BOT && e.leak.is_none() && e.at >= at) {
        // The nightly export (paged user lists) was forgotten and keeps the old key.
        if !e.path.starts_with("/v2/users?page=") {
            e.key = PROD_BOT_V2;
        }
    }
    // L5: Wednesday 21 October 03:05-03:35 Berlin, a US cloud host, paging conversations.
    let ip = ip_in(&mut rng, 12);
    let start = Berlin.with_ymd_and_hms(2026, 10, 21, 3, 5, 0).single().map(|d| d.with_timezone(&Utc)).unwrap_or(at);
    for s in 0..(30 * 60 / 4) {
        events.push(Event {
            at: start + Duration::seconds(s * 4) + Duration::milliseconds(rng.below(1000) as i64),
            sink: Sink::Gateway,
            key: PROD_BOT,
            ip: ip.clone(),
            method: "GET",
            path: format!("/v2/conversations?page={}&items_per_page=100", s + 1),
            status: 200,
            bytes: 40_000 + rng.below(20_000) as u32,
            agent: "python-requests/2.32.3",
            count: 1,
            leak: Some(4),
        });
    }
}

/// A mapping with labels for the demo keys (the logs carry the keys, the mapping their names).
fn demo_mapping(keys: &[Key]) -> String {
    let mut s = String::from(
        "# Labels for the demo keys: the fingerprints are what leakhound shows instead of the keys.\n[labels]\n",
    );
    for k in keys {
        s.push_str(&format!("\"{}\" = \"{}\"\n", crate::secret::fingerprint(&k.secret).id, k.label));
    }
    s.push_str(&format!(
        "\n# prod-bot's key was replaced by prod-bot-v2 after the leak: any later use of the old key is a finding.\n[rotated]\n\"{}\" = \"{}\"\n",
        keys[PROD_BOT].label,
        rotation_time().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    s
}

fn gzip(name: &str, data: &[u8]) -> Vec<u8> {
    // No modification time in the header: the same data gives the same bytes.
    let mut enc = GzBuilder::new().filename(name).mtime(0).write(Vec::new(), Compression::new(9));
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

fn with_query_key(path: &str, secret: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api_key={secret}")
}

/// The English name of the demo's countries.
fn country_name(code: &str) -> &'static str {
    match code {
        "DE" => "Germany",
        "AT" => "Austria",
        "CH" => "Switzerland",
        "SG" => "Singapore",
        "FR" => "France",
        "US" => "United States",
        _ => "",
    }
}

/// How the demo's logs are cut into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One file per log, as a month's export (`data/logs/`).
    Whole,
    /// One directory per UTC day (`logs/2026-10-05/…`), as a nightly audit receives them.
    Daily,
}

/// The file an event of `sink` at `at` goes to.
fn file_of(sink: Sink, at: DateTime<Utc>, split: Split) -> String {
    let (dir, name) = match sink {
        Sink::Gateway => ("gateway", "api-gateway-2026-10.jsonl.gz"),
        Sink::Nginx => ("nginx", "marketing-access.log"),
        Sink::Alb => ("alb", "123456789012_elasticloadbalancing_eu-central-1_app.acme-public-api.log.gz"),
        Sink::Usage => ("exports", "usage-by-minute.csv"),
    };
    match split {
        Split::Whole => format!("logs/{dir}/{name}"),
        Split::Daily => format!("logs/{}/{dir}/{name}", at.format("%Y-%m-%d")),
    }
}

const USAGE_HEADER: &str = "timestamp,key_id,client_ip,method,endpoint,status,response_bytes,count\n";

/// Writes the demo data set into `dir`: `logs/`, `networks.csv`, `geoip/` (databases built
/// from `networks.csv`), `truth.json` and `demo-mapping.toml`.
pub fn generate(dir: &Path) -> Result<()> {
    generate_split(dir, Split::Whole)
}

/// [`generate`], with the logs cut into files as `split` says.
pub fn generate_split(dir: &Path, split: Split) -> Result<()> {
    let mut rng = Rng(0x1EA4_4007_D0C5_2026);
    let (keys, events) = generate_events(&mut rng);
    // File name → (its text, lines so far).
    let mut files: std::collections::BTreeMap<String, (String, u64)> = Default::default();
    let mut leak_lines: Vec<Vec<(String, u64)>> = vec![Vec::new(); LEAKS.len()];
    // The forgotten nightly export's use of prod-bot's old key after the rotation.
    let mut late_lines: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for e in &events {
        let local = e.at.with_timezone(&Berlin);
        let file = file_of(e.sink, e.at, split);
        let (text, lines) = files.entry(file.clone()).or_insert_with(|| match e.sink {
            // The CSV's header is line 1.
            Sink::Usage => (USAGE_HEADER.to_string(), 1),
            _ => (String::new(), 0),
        });
        match e.sink {
            Sink::Gateway => {
                let v = json!({
                    "@timestamp": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "source": {"ip": e.ip},
                    "http": {"request": {"method": e.method}, "response": {"status_code": e.status, "bytes": e.bytes}},
                    "url": {"original": e.path},
                    "user_agent": {"original": e.agent},
                    "authorization": format!("Bearer {}", keys[e.key].secret),
                    "service": {"name": "api-gateway"},
                });
                text.push_str(&v.to_string());
                text.push('\n');
            }
            Sink::Nginx => {
                text.push_str(&format!(
                    "{} - - [{}] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\"\n",
                    e.ip,
                    local.format("%d/%b/%Y:%H:%M:%S %z"),
                    e.method,
                    with_query_key(&e.path, &keys[e.key].secret),
                    e.status,
                    e.bytes,
                    e.agent
                ));
            }
            Sink::Alb => {
                let trace = rng.hex(24);
                text.push_str(&format!(
                    "https {} app/acme-public-api/50dc6c495c0c9188 {}:{} 10.0.1.23:8080 0.001 0.0{} 0.000 {} {} {} {} \"{} https://api.acme.example:443{} HTTP/1.1\" \"{}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/acme-api/73e2d6bc24d8a067 \"Root=1-{}\" \"api.acme.example\" \"arn:aws:acm:eu-central-1:123456789012:certificate/12345678-1234-1234-1234-123456789012\" 0 {} \"forward\" \"-\" \"-\" \"10.0.1.23:8080\" \"{}\" \"-\" \"-\"\n",
                    e.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                    e.ip,
                    1024 + rng.below(60000),
                    10 + rng.below(80),
                    e.status,
                    e.status,
                    200 + rng.below(300),
                    e.bytes,
                    e.method,
                    with_query_key(&e.path, &keys[e.key].secret),
                    e.agent,
                    trace,
                    e.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                    e.status
                ));
            }
            Sink::Usage => {
                text.push_str(&format!(
                    "{},reporting-etl,{},{},{},{},{},{}\n",
                    local.format("%Y-%m-%dT%H:%M:%S%:z"),
                    e.ip,
                    e.method,
                    e.path,
                    e.status,
                    e.bytes,
                    e.count
                ));
            }
        };
        *lines += 1;
        if let Some(l) = e.leak {
            leak_lines[l].push((file, *lines));
        } else if e.key == PROD_BOT && e.at >= rotation_time() {
            late_lines.entry(file).or_default().push(*lines);
        }
    }

    let mut networks =
        String::from("network,country,country_name,city,latitude,longitude,accuracy_km,asn,as_org,flags\n");
    for n in NETWORKS {
        networks.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            n.cidr,
            n.country,
            country_name(n.country),
            crate::report::csv_field(n.city),
            n.lat,
            n.lon,
            if n.city.is_empty() { 200 } else { 20 },
            n.asn,
            crate::report::csv_field(n.org),
            n.flags
        ));
    }
    // The demo's GeoIP databases, built from the table above; a fixed build time keeps the
    // bytes stable.
    let built = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_790_812_800); // 2026-10-01
    let dbs = crate::enrich::table_db::build(&networks, "Leakhound-Demo", built)
        .map_err(|message| Error::Config { path: dir.join("networks.csv"), message })?;
    let truth = json!({
        "description": "Leaks planted by `leakhound generate-demo`. Each leak lists the input lines of its events.",
        "keys": keys.iter().map(|k| json!({"label": k.label, "fingerprint": crate::secret::fingerprint(&k.secret).id})).chain(std::iter::once(json!({"label": "reporting-etl", "fingerprint": null, "note": "named by key id in the usage export"}))).collect::<Vec<_>>(),
        "leaks": LEAKS.iter().zip(&leak_lines).map(|((id, key, what), lines)| {
            let mut by_file: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
            for (f, l) in lines {
                by_file.entry(f.as_str()).or_default().push(*l);
            }
            json!({"id": id, "key": keys[*key].label, "fingerprint": crate::secret::fingerprint(&keys[*key].secret).id, "description": what, "events": lines.len(), "lines": by_file})
        }).collect::<Vec<_>>(),
        "rotations": [{
            "key": keys[PROD_BOT].label,
            "fingerprint": crate::secret::fingerprint(&keys[PROD_BOT].secret).id,
            "rotated_at": rotation_time().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "new_key": {"label": keys[PROD_BOT_V2].label, "fingerprint": crate::secret::fingerprint(&keys[PROD_BOT_V2].secret).id},
            "still_using_old_key": {
                "description": "the nightly export job on the backend servers, forgotten at the rotation: a known client that breaks when the old key is revoked (expected finding: use after rotation, not a leak)",
                "events": late_lines.values().map(Vec::len).sum::<usize>(),
                "lines": late_lines,
            },
            "attacker": "L5-after-rotation",
        }],
    });

    let out = OutputDir::create(dir)?;
    let mut truth_bytes = serde_json::to_vec_pretty(&truth).unwrap_or_default();
    truth_bytes.push(b'\n');
    let mut outputs: Vec<Output> = files
        .into_iter()
        .map(|(name, (text, _))| {
            let bytes = match name.strip_suffix(".gz") {
                // The name inside the gzip header, as the systems that wrote them set it.
                Some(inner) => {
                    let inner = inner.rsplit('/').next().unwrap_or(inner);
                    gzip(
                        inner.strip_prefix("123456789012_elasticloadbalancing_eu-central-1_").unwrap_or(inner),
                        text.as_bytes(),
                    )
                }
                None => text.into_bytes(),
            };
            Output::new(name, bytes)
        })
        .collect();
    outputs.extend([
        Output::new("networks.csv", networks.into_bytes()),
        Output::new("geoip/Leakhound-Demo-City.mmdb", dbs.city),
        Output::new("geoip/Leakhound-Demo-ASN.mmdb", dbs.asn),
        Output::new("geoip/Leakhound-Demo-Anonymous-IP.mmdb", dbs.anonymous),
        Output::new("truth.json", truth_bytes),
        Output::new("demo-mapping.toml", demo_mapping(&keys).into_bytes()),
    ]);
    out.commit(&outputs)
}
