//! Unfamiliar sources: use of a key from an address, network, AS or country it has not been
//! used from before, judged against the key's own history; and impossible travel between
//! consecutive requests of one key.
//!
//! Novelty is scored by level (a new address inside a familiar network is weak evidence, a
//! new AS or country strong), scaled by how surprising novelty is for this key: the
//! Good–Turing probability of an unseen category over the key's "source-days" (each value
//! counted once per day it was seen). A key used from one server for weeks makes a new AS
//! very surprising; a key used by browsers on dozens of home networks does not.

use super::{
    haversine_km, timestamps_ref, unseen_probability, AddressCodes, Detection, Detector, Events, Finding, KeyRows,
    Note, Numbers, Severity, Strings,
};
use crate::enrich::GeoColumns;
use crate::error::{Error, Result};
use crate::factor::{self, factorize_text, Factor};
use crate::schema::col;
use crate::text::{duration, thousands};
use crate::timestamp::Micros;
use ipnet::IpNet;
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::hash::Hash;
use std::net::IpAddr;

const NAME: &str = "unfamiliar_source";
const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// What history an event is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Baseline {
    /// Everything before the event, within the input.
    #[default]
    Rolling,
    /// Events before this time (UTC µs) are the baseline; later ones are judged against it.
    Until(Micros),
    /// The first N days of the input are the baseline.
    Days(u32),
}

impl Baseline {
    /// When the baseline ends, for an input whose first event is at `input_start`; `None` for
    /// a rolling baseline.
    pub fn cutoff(self, input_start: Option<Micros>) -> Option<Micros> {
        match self {
            Baseline::Rolling => None,
            Baseline::Until(t) => Some(t),
            Baseline::Days(d) => input_start.map(|s| s + i64::from(d) * MICROS_PER_DAY),
        }
    }
}

/// Settings of the unfamiliar-source detector.
#[derive(Debug, Clone, PartialEq)]
pub struct UnfamiliarConfig {
    pub baseline: Baseline,
    /// A key needs this many requests of history before anything is judged…
    pub min_history_events: u64,
    /// …spread over at least this many days.
    pub min_history_days: f64,
    /// A new source stops being reported once seen on this many distinct days.
    pub familiar_after_days: u32,
    /// Known partners: never reported.
    pub allow_cidrs: Vec<IpNet>,
    pub allow_asns: Vec<u32>,
    /// Faster than this between two places is impossible travel (an airliner: ~900 km/h).
    pub max_speed_kmh: f64,
}

impl Default for UnfamiliarConfig {
    fn default() -> Self {
        Self {
            baseline: Baseline::Rolling,
            min_history_events: 30,
            min_history_days: 2.0,
            familiar_after_days: 7,
            allow_cidrs: Vec::new(),
            allow_asns: Vec::new(),
            max_speed_kmh: 900.0,
        }
    }
}

/// The unfamiliar-source detector.
#[derive(Debug, Clone, Default)]
pub struct UnfamiliarSource {
    pub config: UnfamiliarConfig,
}

/// Base score of a first use at each level, before scaling by the key's history.
const BASE_IP: f64 = 10.0;
const BASE_PREFIX: f64 = 20.0;
const BASE_ASN: f64 = 50.0;
const BASE_COUNTRY: f64 = 70.0;
/// Added when a key that never came through an anonymiser (Tor, VPN, proxy) does.
const BONUS_ANONYMOUS: f64 = 25.0;
/// Added when a key that never ran from a hosting provider does.
const BONUS_HOSTING: f64 = 10.0;
/// Impossible travel on its own.
const BASE_TRAVEL: f64 = 60.0;
/// A key with more impossible hops than this in its baseline is used from several places at
/// once (many users, several sites): travel is not judged for it.
const MULTI_SITE_HOP_RATE: f64 = 0.05;
/// Scales a new source whose user agent the key already uses (and that is no hosting or
/// anonymising network).
const KNOWN_CLIENT_FACTOR: f64 = 0.5;
/// A key that already used this many networks inside one AS moves within a pool there.
const POOL_NETWORKS: u32 = 3;
/// Distances below this (after the accuracy radii) are not travel.
const MIN_TRAVEL_KM: f64 = 100.0;

/// Distinct values seen at one level, with the Good–Turing counts over source-days.
struct Level<K> {
    /// value → (distinct days seen, last day seen)
    seen: PlHashMap<K, (u32, i64)>,
    /// observations (value-days) and values seen on exactly one day
    n: u64,
    n1: u64,
}

impl<K: Hash + Eq + Clone> Level<K> {
    fn new() -> Self {
        Self { seen: PlHashMap::default(), n: 0, n1: 0 }
    }

    fn contains(&self, k: &K) -> bool {
        self.seen.contains_key(k)
    }

    fn days(&self, k: &K) -> u32 {
        self.seen.get(k).map_or(0, |s| s.0)
    }

    /// Whether `k` was observed on `day` already.
    fn seen_on(&self, k: &K, day: i64) -> bool {
        self.seen.get(k).is_some_and(|s| s.1 == day)
    }

    fn observe(&mut self, k: &K, day: i64) {
        // Look up first: most observations are of values already seen (no key to clone).
        let entry = match self.seen.get_mut(k) {
            Some(e) => e,
            None => self.seen.entry(k.clone()).or_insert((0, i64::MIN)),
        };
        if entry.1 != day {
            entry.1 = day;
            entry.0 += 1;
            self.n += 1;
            match entry.0 {
                1 => self.n1 += 1,
                2 => self.n1 -= 1,
                _ => {}
            }
        }
    }

    fn p_unseen(&self) -> f64 {
        unseen_probability(self.n1, self.n)
    }
}

/// What the detector knows of one distinct source address. GeoIP answers are a property of
/// the address: [`crate::enrich`] looks each distinct address up once, and the detector takes
/// them from the first row with the address.
struct Address {
    ip: IpAddr,
    /// Codes into [`Columns::prefixes`], [`Columns::countries`] and [`Columns::places`].
    prefix: u32,
    country: Option<u32>,
    asn: Option<i64>,
    anonymiser: Option<&'static str>,
    hosting: bool,
    position: Option<Position>,
    /// The first row with this address, for its AS name in explanations.
    row: usize,
}

/// The columns the detector reads, with per-row work done once per distinct address.
struct Columns<'a> {
    ts: Numbers<'a, Int64Type>,
    /// The first event's time.
    start: Option<Micros>,
    count: Numbers<'a, Int64Type>,
    /// Per row: the address (a code into `addresses`, which holds `None` for text that is no
    /// address).
    ips: AddressCodes<'a>,
    ip_text: Strings<'a>,
    addresses: Vec<Option<Address>>,
    user_agents: Factor<'a>,
    prefixes: Vec<String>,
    countries: Vec<String>,
    places: Vec<String>,
    geo: GeoColumns<'a>,
}

impl<'a> Columns<'a> {
    fn read(events: &Events<'a>) -> PolarsResult<Self> {
        let df = events.frame();
        let ips = AddressCodes::of(events)?;
        let ip_text = Strings::of(df.column(col::SOURCE_IP)?)?;
        let user_agents = factorize_text(df.column(col::USER_AGENT)?)?;
        let geo = events.geo();
        let mut first_row = vec![usize::MAX; ips.count];
        for row in 0..df.height() {
            if let Some(code) = ips.get(row) {
                let first = &mut first_row[code as usize];
                *first = (*first).min(row);
            }
        }
        let (mut prefixes, mut countries, mut places) = (Interned::default(), Interned::default(), Interned::default());
        let mut points: PlHashMap<(u64, u64), u32> = PlHashMap::default();
        let addresses = first_row
            .iter()
            .map(|&row| {
                // An address no row has (a streaming scan's bucket holds some of the run's).
                let ip = ip_text.get(row)?.parse::<IpAddr>().ok()?;
                let country = geo.country(row);
                let position = geo.position(row).map(|(lon, lat)| {
                    let place = match (geo.city(row), country) {
                        (_, None) => format!("{lat:.1},{lon:.1}"),
                        (Some(c), Some(k)) => format!("{c} ({k})"),
                        (None, Some(k)) => k.to_string(),
                    };
                    let next = points.len() as u32;
                    let point = *points.entry((lat.to_bits(), lon.to_bits())).or_insert(next);
                    Position {
                        lat,
                        lon,
                        accuracy: geo.accuracy_km(row).unwrap_or(0) as f64,
                        place: places.code(place),
                        point,
                    }
                });
                Some(Address {
                    ip,
                    prefix: prefixes.code(prefix_of(ip)),
                    country: country.map(|c| countries.code(c.to_string())),
                    asn: geo.asn(row),
                    anonymiser: geo.anonymiser(row),
                    hosting: geo.is_hosting(row),
                    position,
                    row,
                })
            })
            .collect();
        let ts = timestamps_ref(df)?;
        Ok(Columns {
            ts: Numbers::of(ts),
            start: ts.min(),
            count: Numbers::of(df.column(col::COUNT)?.i64()?),
            ips,
            ip_text,
            addresses,
            user_agents,
            prefixes: prefixes.values,
            countries: countries.values,
            places: places.values,
            geo,
        })
    }
}

/// Distinct strings, each with a code.
#[derive(Default)]
struct Interned {
    codes: PlHashMap<String, u32>,
    values: Vec<String>,
}

impl Interned {
    fn code(&mut self, value: String) -> u32 {
        if let Some(&c) = self.codes.get(&value) {
            return c;
        }
        self.values.push(value.clone());
        let c = (self.values.len() - 1) as u32;
        self.codes.insert(value, c);
        c
    }
}

/// The /24 (IPv4) or /48 (IPv6) network of an address.
pub fn prefix_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The level at which a source is new.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    /// Codes into the detector's countries, prefixes and addresses.
    Country(u32),
    Asn(i64),
    Prefix(u32),
    Ip(u32),
}

impl Source {
    fn kind(&self) -> &'static str {
        match self {
            Source::Country(_) => "new_country",
            Source::Asn(_) => "new_asn",
            Source::Prefix(_) => "new_network",
            Source::Ip(_) => "new_ip",
        }
    }
}

/// A finding still collecting the events of its source.
struct Open {
    finding: Finding,
    source: Source,
    days: u32,
    last_day: i64,
    /// Address codes.
    ips: PlHashSet<u32>,
    requests: i64,
}

/// One key's history.
struct History {
    events: u64,
    first: Option<Micros>,
    /// Codes of addresses, prefixes, countries and places.
    ips: Level<u32>,
    prefixes: Level<u32>,
    asns: Level<i64>,
    countries: Level<u32>,
    places: Level<u32>,
    /// User agents (codes) the key was used with.
    user_agents: PlHashSet<u32>,
    /// Distinct networks (/24, /48) the key used inside each AS.
    networks_per_asn: PlHashMap<i64, u32>,
    anonymous_seen: bool,
    hosting_seen: bool,
    hops: u64,
    impossible_hops: u64,
}

impl History {
    fn new() -> Self {
        Self {
            events: 0,
            first: None,
            ips: Level::new(),
            prefixes: Level::new(),
            asns: Level::new(),
            countries: Level::new(),
            places: Level::new(),
            networks_per_asn: PlHashMap::default(),
            user_agents: PlHashSet::default(),
            anonymous_seen: false,
            hosting_seen: false,
            hops: 0,
            impossible_hops: 0,
        }
    }

    fn span_days(&self, now: Micros) -> f64 {
        self.first.map_or(0.0, |f| (now - f) as f64 / MICROS_PER_DAY as f64)
    }

    /// "12 days on 1 AS in DE"
    fn describe(&self, now: Micros, names: &[String]) -> String {
        let mut countries: Vec<(&String, u32)> =
            self.countries.seen.iter().map(|(k, v)| (&names[*k as usize], v.0)).collect();
        countries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let names: Vec<&str> = countries.iter().take(3).map(|(c, _)| c.as_str()).collect();
        let more = if countries.len() > 3 { format!(" and {} more", countries.len() - 3) } else { String::new() };
        let asns = self.asns.seen.len();
        let scope = if asns > 0 {
            format!("{asns} AS{} in {}{more}", if asns == 1 { "" } else { "es" }, names.join(", "))
        } else {
            let n = self.prefixes.seen.len();
            format!("{n} network{}", if n == 1 { "" } else { "s" })
        };
        format!("{:.0} days on {scope}", self.span_days(now).max(1.0).floor())
    }
}

/// Where an address is, as the GeoIP database places it.
#[derive(Clone, Copy)]
struct Position {
    lat: f64,
    lon: f64,
    /// Accuracy radius (km).
    accuracy: f64,
    /// A code into the detector's places.
    place: u32,
    /// A code per distinct latitude and longitude.
    point: u32,
}

/// Where the previous located request of a key came from.
struct Location {
    row: usize,
    ts: Micros,
    at: Position,
    asn: Option<i64>,
    /// Part of a finding: its hops do not teach the key's travel habits.
    suspicious: bool,
}

impl Detector for UnfamiliarSource {
    fn name(&self) -> &'static str {
        NAME
    }

    fn detect_keys(&self, events: &Events<'_>, keys: &[KeyRows<'_>]) -> Result<Detection> {
        let cols = Columns::read(events)
            .map_err(|source| Error::Frame { context: "reading events for the unfamiliar-source detector", source })?;
        let cutoff = self.config.baseline.cutoff(cols.start);
        // Keys are independent: judged in parallel, merged in key order.
        let per_key: Vec<Detection> = keys
            .par_iter()
            .map(|k| {
                let mut out = Detection::default();
                self.detect_key(&cols, k, cutoff, &mut out);
                out
            })
            .collect();
        let mut detection = Detection::merge(per_key);
        detection.findings.sort_by(Finding::order);
        Ok(detection)
    }
}

impl UnfamiliarSource {
    fn allowed(&self, ip: IpAddr, asn: Option<i64>) -> bool {
        self.config.allow_cidrs.iter().any(|n| n.contains(&ip))
            || asn.is_some_and(|a| self.config.allow_asns.iter().any(|x| i64::from(*x) == a))
    }

    fn detect_key(&self, cols: &Columns, k: &KeyRows<'_>, cutoff: Option<Micros>, out: &mut Detection) {
        let cfg = &self.config;
        let (key, name, rows) = (k.key, &k.name, &k.rows);
        let mut history = History::new();
        let mut open: Vec<Open> = Vec::new();
        let mut closed: Vec<Open> = Vec::new();
        let mut travel: BTreeMap<(String, String), Finding> = BTreeMap::new();
        let mut last_location: Option<Location> = None;
        let mut distances: PlHashMap<u64, f64> = PlHashMap::default();
        let mut judged_any = false;
        let mut multi_site_noted = false;

        for &i in rows {
            let Some(ts) = cols.ts.get(i) else { continue };
            let day = ts.div_euclid(MICROS_PER_DAY);
            let Some(ip_code) = cols.ips.get(i) else { continue };
            let Some(Some(address)) = cols.addresses.get(ip_code as usize) else { continue };
            let (ip, prefix, asn, country) = (address.ip, address.prefix, address.asn, address.country);
            let (anonymiser, hosting) = (address.anonymiser, address.hosting);
            let requests = cols.count.get(i).unwrap_or(1);
            let user_agent = Some(cols.user_agents.codes[i]).filter(|&c| c != factor::NULL);
            let learning = cutoff.is_none_or(|c| ts < c);
            let enough = history.events >= cfg.min_history_events && history.span_days(ts) >= cfg.min_history_days;
            let judged = enough && cutoff.is_none_or(|c| ts >= c);
            judged_any |= judged;
            let allowed = self.allowed(ip, asn);

            // Events of a source that is already being reported join its finding.
            let matches = |s: &Source| match s {
                Source::Country(c) => country == Some(*c),
                Source::Asn(a) => asn == Some(*a),
                Source::Prefix(p) => *p == prefix,
                Source::Ip(x) => *x == ip_code,
            };
            let mut joined = false;
            if let Some(o) = open.iter_mut().find(|o| matches(&o.source)) {
                o.finding.rows.push(i as u32);
                o.finding.end = ts;
                o.requests += requests;
                o.ips.insert(ip_code);
                if o.last_day != day {
                    o.last_day = day;
                    o.days += 1;
                }
                joined = true;
            }
            // A source seen on enough days has become familiar: its finding is complete.
            if open.iter().any(|o| o.days >= cfg.familiar_after_days) {
                let (done, still_open): (Vec<Open>, Vec<Open>) =
                    open.drain(..).partition(|o| o.days >= cfg.familiar_after_days);
                open = still_open;
                closed.extend(done);
            }

            if judged && !allowed && !joined {
                // A known address's network, AS and country were learnt with it (below).
                let new_source = if history.ips.contains(&ip_code) {
                    None
                } else if country.is_some_and(|c| !history.countries.contains(&c)) {
                    country.map(Source::Country)
                } else if asn.is_some_and(|a| !history.asns.contains(&a)) {
                    asn.map(Source::Asn)
                } else if !history.prefixes.contains(&prefix) {
                    Some(Source::Prefix(prefix))
                } else {
                    Some(Source::Ip(ip_code))
                };
                if let Some(source) = new_source {
                    let opened_before = open.len();
                    let (base, level) = match &source {
                        Source::Country(_) => (BASE_COUNTRY, &history.countries.p_unseen()),
                        Source::Asn(_) => (BASE_ASN, &history.asns.p_unseen()),
                        Source::Prefix(_) => (BASE_PREFIX, &history.prefixes.p_unseen()),
                        Source::Ip(_) => (BASE_IP, &history.ips.p_unseen()),
                    };
                    let p = *level;
                    let mut factor = (1.0 / p).log10().clamp(0.3, 1.0);
                    // A new network inside an AS where the key already moves between several
                    // (a cloud's address pool, an ISP's customers) is expected.
                    let pool = asn.and_then(|a| history.networks_per_asn.get(&a)).copied().unwrap_or(0);
                    if matches!(source, Source::Prefix(_) | Source::Ip(_)) && pool >= POOL_NETWORKS {
                        factor = 0.3;
                    }
                    let mut bonus = 0.0;
                    let mut extra = String::new();
                    if let Some(a) = anonymiser {
                        bonus += if history.anonymous_seen { 5.0 } else { BONUS_ANONYMOUS };
                        extra.push_str(&format!("; the address is {a}"));
                    }
                    if hosting && !history.hosting_seen {
                        bonus += BONUS_HOSTING;
                        extra.push_str("; a hosting provider, where the key never ran before");
                    }
                    // A client the key knows, from an ordinary network in a new place: staff
                    // travelling, a new office. Attackers rarely bring the key's own client.
                    let known_client = user_agent.is_some_and(|ua| history.user_agents.contains(&ua));
                    if known_client && bonus == 0.0 && !hosting {
                        factor *= KNOWN_CLIENT_FACTOR;
                        extra.push_str("; with a user agent the key already uses");
                    }
                    let score = (base * factor + bonus).min(100.0);
                    let severity = Severity::of_score(score);
                    if severity >= Severity::Low {
                        let what = describe_source(&source, cols, address);
                        let explanation = format!(
                            "first use {what} for key {name} after {}; a new {} is {} for this key (p ≈ {}){extra}",
                            history.describe(ts, &cols.countries),
                            level_name(&source),
                            if p <= 0.1 { "unlikely" } else { "not unusual" },
                            format_p(p),
                        );
                        open.push(Open {
                            finding: Finding {
                                detector: NAME,
                                kind: source.kind(),
                                credential: key.to_string(),
                                start: ts,
                                end: ts,
                                rows: vec![i as u32],
                                score: (score * 10.0).round() / 10.0,
                                severity,
                                explanation,
                            },
                            source,
                            days: 1,
                            last_day: day,
                            ips: [ip_code].into_iter().collect(),
                            requests,
                        });
                    }
                    joined |= open.len() > opened_before;
                }
            }

            // Impossible travel between this request and the key's previous located one.
            let location = address.position.map(|at| Location { row: i, ts, at, asn, suspicious: joined });
            if let (Some(prev), Some(cur)) = (&last_location, &location) {
                let same_provider = prev.asn.is_some() && prev.asn == cur.asn;
                // The distance only of hops between places (most hops stay in one).
                let km = (!same_provider && prev.at.place != cur.at.place)
                    .then(|| {
                        // Addresses share a few points (a city's): each hop's distance once.
                        let hop = (u64::from(prev.at.point) << 32) | u64::from(cur.at.point);
                        let km = *distances
                            .entry(hop)
                            .or_insert_with(|| haversine_km(prev.at.lat, prev.at.lon, cur.at.lat, cur.at.lon));
                        km - prev.at.accuracy - cur.at.accuracy
                    })
                    .filter(|km| *km > MIN_TRAVEL_KM);
                if let Some(km) = km {
                    let hours = (cur.ts - prev.ts) as f64 / MICROS_PER_HOUR;
                    let impossible = km > cfg.max_speed_kmh * hours;
                    // The key's habit, from the hops before this one.
                    let rate = history.impossible_hops as f64 / history.hops.max(1) as f64;
                    if learning && !prev.suspicious && !cur.suspicious {
                        history.hops += 1;
                        history.impossible_hops += u64::from(impossible);
                    }
                    if judged && impossible && !allowed {
                        if rate > MULTI_SITE_HOP_RATE {
                            if !multi_site_noted {
                                multi_site_noted = true;
                                out.notes.push(Note {
                                    detector: NAME,
                                    credential: key.to_string(),
                                    message: format!(
                                        "impossible travel is not judged for {name}: {:.0}% of its hops between places are faster than {:.0} km/h, so it is used from several places at once",
                                        rate * 100.0,
                                        cfg.max_speed_kmh
                                    ),
                                });
                            }
                        } else {
                            // Flag the end of the hop whose place is less familiar to the key.
                            let (from, to) =
                                (&cols.places[prev.at.place as usize], &cols.places[cur.at.place as usize]);
                            let flagged = if history.places.days(&prev.at.place) < history.places.days(&cur.at.place) {
                                prev.row
                            } else {
                                cur.row
                            };
                            let pair = if from <= to { (from.clone(), to.clone()) } else { (to.clone(), from.clone()) };
                            let new_place =
                                history.places.days(&prev.at.place).min(history.places.days(&cur.at.place)) == 0;
                            let score = if new_place { BASE_TRAVEL } else { BASE_TRAVEL * 0.6 };
                            let speed = if hours > 0.0 {
                                format!("{} km/h", thousands(km / hours))
                            } else {
                                "no time at all".into()
                            };
                            let distance = thousands(km);
                            let f = travel.entry(pair).or_insert_with(|| Finding {
                                detector: NAME,
                                kind: "impossible_travel",
                                credential: key.to_string(),
                                start: ts,
                                end: ts,
                                rows: Vec::new(),
                                score,
                                severity: Severity::of_score(score),
                                explanation: format!(
                                    "impossible travel for key {name}: from {from} to {to}, {distance} km (beyond the locations' accuracy) in {}, i.e. {speed}, between two different networks",
                                    duration(cur.ts - prev.ts),
                                ),
                            });
                            f.end = ts;
                            if f.rows.last() != Some(&(flagged as u32)) && !f.rows.contains(&(flagged as u32)) {
                                f.rows.push(flagged as u32);
                            }
                        }
                    }
                }
            }
            if location.is_some() {
                last_location = location;
            }

            if learning {
                history.events += 1;
                history.first.get_or_insert(ts);
                // An address learnt earlier today had its network, AS, country and place learnt with it.
                if !history.ips.seen_on(&ip_code, day) {
                    history.ips.observe(&ip_code, day);
                    if let (Some(a), false) = (asn, history.prefixes.contains(&prefix)) {
                        *history.networks_per_asn.entry(a).or_default() += 1;
                    }
                    history.prefixes.observe(&prefix, day);
                    if let Some(a) = asn {
                        history.asns.observe(&a, day);
                    }
                    if let Some(c) = &country {
                        history.countries.observe(c, day);
                    }
                    if let Some(l) = &last_location {
                        if l.row == i {
                            history.places.observe(&l.at.place, day);
                        }
                    }
                }
                if let Some(ua) = user_agent {
                    history.user_agents.insert(ua);
                }
                history.anonymous_seen |= anonymiser.is_some();
                history.hosting_seen |= hosting;
            }
        }

        // Close every finding: totals go into the explanation.
        let mut findings: Vec<Finding> = Vec::new();
        closed.extend(open);
        closed.sort_by_key(|o| o.finding.start);
        for o in closed {
            let mut f = o.finding;
            f.explanation.push_str(&format!(
                "; {} request{} from {} address{} over {}",
                thousands(o.requests as f64),
                if o.requests == 1 { "" } else { "s" },
                o.ips.len(),
                if o.ips.len() == 1 { "" } else { "es" },
                duration(f.end - f.start)
            ));
            findings.push(f);
        }
        findings.extend(travel.into_values().map(|mut f| {
            f.rows.sort_unstable();
            f
        }));
        out.findings.extend(findings);
        if !judged_any {
            out.notes.push(Note {
                detector: NAME,
                credential: key.to_string(),
                message: format!(
                    "insufficient baseline for {name}: {} requests over {:.1} days, where {} over {} days are needed before new sources are judged",
                    history.events,
                    history.first.map_or(0.0, |_| history.span_days(cols.ts.get(*rows.last().unwrap_or(&0)).unwrap_or(0))),
                    cfg.min_history_events,
                    cfg.min_history_days
                ),
            });
        }
    }
}

fn level_name(s: &Source) -> &'static str {
    match s {
        Source::Country(_) => "country",
        Source::Asn(_) => "AS",
        Source::Prefix(_) => "network",
        Source::Ip(_) => "address",
    }
}

fn describe_source(source: &Source, cols: &Columns<'_>, address: &Address) -> String {
    let i = address.row;
    let org = cols.geo.as_org(i).unwrap_or("");
    let asn = address.asn;
    let country = address.country.map_or("", |c| cols.countries[c as usize].as_str());
    let ip = cols.ip_text.get(i).unwrap_or("");
    let as_text = match asn {
        Some(a) if org.is_empty() => format!("AS{a}"),
        Some(a) => format!("AS{a} {org}"),
        None => String::new(),
    };
    match source {
        Source::Country(c) => format!("from {} via {ip}{}", cols.countries[*c as usize], parenthesised(&[&as_text])),
        Source::Asn(a) => format!("of AS{a}{}", parenthesised(&[org, country])),
        Source::Prefix(p) => {
            format!("from network {}{}", cols.prefixes[*p as usize], parenthesised(&[&as_text, country]))
        }
        Source::Ip(_) => format!("from {ip}{}", parenthesised(&[&as_text, country])),
    }
}

/// " (a, b)" of the non-empty parts, or nothing.
fn parenthesised(parts: &[&str]) -> String {
    let parts: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn format_p(p: f64) -> String {
    if p >= 0.01 {
        format!("{p:.2}")
    } else {
        format!("{p:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::geo_col;

    const MIN: i64 = 60_000_000;
    const DAY_MIN: i64 = 24 * 60;

    /// One event for a hand-built frame.
    #[derive(Clone)]
    struct Ev {
        minute: i64,
        key: &'static str,
        ip: &'static str,
        country: &'static str,
        city: &'static str,
        lat: f64,
        lon: f64,
        asn: i64,
        org: &'static str,
        tor: bool,
        hosting: bool,
        ua: &'static str,
    }

    fn frankfurt(minute: i64, key: &'static str, ip: &'static str) -> Ev {
        Ev {
            minute,
            key,
            ip,
            country: "DE",
            city: "Frankfurt",
            lat: 50.11,
            lon: 8.68,
            asn: 16509,
            org: "Amazon",
            tor: false,
            hosting: true,
            ua: "bot/1",
        }
    }

    fn singapore(minute: i64, key: &'static str, ip: &'static str) -> Ev {
        Ev {
            minute,
            key,
            ip,
            country: "SG",
            city: "Singapore",
            lat: 1.35,
            lon: 103.82,
            asn: 14061,
            org: "DigitalOcean",
            tor: false,
            hosting: true,
            ua: "curl/8",
        }
    }

    fn frame(evs: &[Ev], with_geo: bool) -> DataFrame {
        let mut evs = evs.to_vec();
        evs.sort_by_key(|e| e.minute);
        let n = evs.len();
        let mut cols = vec![
            Column::new(col::TIMESTAMP.into(), evs.iter().map(|e| e.minute * MIN).collect::<Vec<i64>>()),
            Column::new(col::CREDENTIAL.into(), evs.iter().map(|e| e.key).collect::<Vec<_>>()),
            Column::new(col::CREDENTIAL_LABEL.into(), vec![None::<&str>; n]),
            Column::new(col::CREDENTIAL_HINT.into(), vec![None::<&str>; n]),
            Column::new(col::SOURCE_IP.into(), evs.iter().map(|e| e.ip).collect::<Vec<_>>()),
            Column::new(col::USER_AGENT.into(), evs.iter().map(|e| e.ua).collect::<Vec<_>>()),
            Column::new(col::COUNT.into(), vec![1i64; n]),
        ];
        if with_geo {
            cols.extend([
                Column::new(geo_col::COUNTRY.into(), evs.iter().map(|e| e.country).collect::<Vec<_>>()),
                Column::new(geo_col::CITY.into(), evs.iter().map(|e| e.city).collect::<Vec<_>>()),
                Column::new(geo_col::LATITUDE.into(), evs.iter().map(|e| e.lat).collect::<Vec<_>>()),
                Column::new(geo_col::LONGITUDE.into(), evs.iter().map(|e| e.lon).collect::<Vec<_>>()),
                Column::new(geo_col::ACCURACY_KM.into(), vec![20i64; n]),
                Column::new(geo_col::ASN.into(), evs.iter().map(|e| e.asn).collect::<Vec<_>>()),
                Column::new(geo_col::AS_ORG.into(), evs.iter().map(|e| e.org).collect::<Vec<_>>()),
                Column::new(geo_col::IS_TOR_EXIT_NODE.into(), evs.iter().map(|e| e.tor).collect::<Vec<_>>()),
                Column::new(geo_col::IS_HOSTING_PROVIDER.into(), evs.iter().map(|e| e.hosting).collect::<Vec<_>>()),
            ]);
        }
        DataFrame::new(n, cols).unwrap()
    }

    fn run(evs: &[Ev], config: UnfamiliarConfig) -> Detection {
        UnfamiliarSource { config }.detect(&frame(evs, true)).unwrap()
    }

    /// A server key used every 30 minutes for `days` days from one Frankfurt address.
    fn steady(key: &'static str, days: i64) -> Vec<Ev> {
        (0..days * DAY_MIN / 30).map(|i| frankfurt(i * 30, key, "3.120.0.10")).collect()
    }

    #[test]
    fn empty_and_single_row() {
        let d = run(&[], UnfamiliarConfig::default());
        assert_eq!(d, Detection::default());
        let d = run(&[frankfurt(0, "k", "3.120.0.10")], UnfamiliarConfig::default());
        assert!(d.findings.is_empty());
        assert_eq!(d.notes.len(), 1);
        assert!(
            d.notes[0].message.starts_with("insufficient baseline for k: 1 requests over 0.0 days"),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn a_new_country_after_a_steady_history_is_medium_and_explained() {
        let mut evs = steady("k", 10);
        let first_new = evs.len() as u32;
        evs.extend((0..20).map(|i| singapore(10 * DAY_MIN + i, "k", "128.199.1.1")));
        let d = run(&evs, UnfamiliarConfig::default());
        let new: Vec<_> = d.findings.iter().filter(|f| f.kind == "new_country").collect();
        assert_eq!(new.len(), 1, "{:?}", d.findings);
        let f = new[0];
        assert_eq!(f.severity, Severity::Medium);
        assert_eq!(f.rows, (first_new..first_new + 20).collect::<Vec<_>>());
        assert_eq!(
            f.explanation,
            "first use from SG via 128.199.1.1 (AS14061 DigitalOcean) for key k after 10 days on 1 AS in DE; \
             a new country is unlikely for this key (p ≈ 0.09); 20 requests from 1 address over 19 min"
        );
    }

    /// GeoIP answers kept per address give the findings of answers in columns, also when the
    /// run knows addresses these events do not have (a streaming scan's bucket of keys).
    /// Regression: an address without rows was read at row `usize::MAX`, a panic.
    #[test]
    fn answers_per_address_equal_answers_in_columns() {
        use crate::enrich::geoip::GeoRecord;
        use crate::enrich::Places;
        let mut evs = steady("k", 10);
        evs.extend((0..20).map(|i| singapore(10 * DAY_MIN + i, "k", "128.199.1.1")));
        let in_columns = run(&evs, UnfamiliarConfig::default());
        assert!(!in_columns.findings.is_empty());
        let record = |e: &Ev| GeoRecord {
            country: Some(e.country.into()),
            city: Some(e.city.into()),
            latitude: Some(e.lat),
            longitude: Some(e.lon),
            accuracy_km: Some(20),
            asn: Some(e.asn as u32),
            as_org: Some(e.org.into()),
            anonymous: Some(crate::enrich::geoip::Anonymity { hosting: e.hosting, ..Default::default() }),
            ..Default::default()
        };
        // Address 0 has no rows; 1 is Frankfurt's, 2 Singapore's.
        let unused = singapore(0, "k", "203.0.113.7");
        let places =
            Places::from_records(vec![Some(record(&unused)), Some(record(&evs[0])), Some(record(&evs[evs.len() - 1]))]);
        let mut df = frame(&evs, false);
        let ids: Vec<u32> = df
            .column(col::SOURCE_IP)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|ip| if ip == Some("3.120.0.10") { 1 } else { 2 })
            .collect();
        df.with_column(Column::new(crate::enrich::geo_col::ADDRESS_ID.into(), ids)).unwrap();
        let keys = crate::detect::rows_by_key(&df).unwrap();
        let per_address = UnfamiliarSource::default().detect_keys(&Events::new(&df, Some(&places)), &keys).unwrap();
        assert_eq!(per_address, in_columns);
    }

    #[test]
    fn allow_lists_silence_known_partners() {
        let mut evs = steady("k", 10);
        evs.extend((0..5).map(|i| singapore(10 * DAY_MIN + i, "k", "128.199.1.1")));
        let by_asn = UnfamiliarConfig { allow_asns: vec![14061], ..Default::default() };
        assert!(run(&evs, by_asn).findings.is_empty());
        let by_cidr = UnfamiliarConfig { allow_cidrs: vec!["128.199.0.0/16".parse().unwrap()], ..Default::default() };
        assert!(run(&evs, by_cidr).findings.is_empty());
    }

    #[test]
    fn keys_are_judged_on_their_own_history() {
        // Key b has always run in Singapore; key a never has.
        let mut evs = steady("a", 10);
        evs.extend((0..10 * DAY_MIN / 30).map(|i| singapore(i * 30 + 1, "b", "128.199.1.1")));
        evs.push(singapore(10 * DAY_MIN + 5, "a", "128.199.1.1"));
        let d = run(&evs, UnfamiliarConfig::default());
        let keys: Vec<_> = d.findings.iter().map(|f| (f.credential.as_str(), f.kind)).collect();
        assert_eq!(keys, vec![("a", "impossible_travel"), ("a", "new_country")]);
    }

    #[test]
    fn new_networks_inside_a_familiar_pool_and_new_addresses_are_not_reported() {
        // Autoscaling: the key moves between networks of one cloud.
        const IPS: [&str; 6] = ["3.120.1.1", "3.120.2.1", "3.120.3.1", "3.120.4.1", "3.120.5.1", "3.120.6.1"];
        let mut evs: Vec<Ev> =
            (0..10 * DAY_MIN / 30).map(|i| frankfurt(i * 30, "k", IPS[(i as usize / 100) % 4])).collect();
        evs.push(frankfurt(10 * DAY_MIN, "k", IPS[5]));
        evs.push(frankfurt(10 * DAY_MIN + 1, "k", "3.120.1.2"));
        let d = run(&evs, UnfamiliarConfig::default());
        assert!(d.findings.is_empty(), "{:?}", d.findings);
    }

    #[test]
    fn a_known_client_in_a_new_country_is_low() {
        let mut evs = steady("k", 10);
        let mut travel = frankfurt(10 * DAY_MIN, "k", "81.2.69.142");
        (travel.country, travel.city, travel.lat, travel.lon, travel.asn, travel.org, travel.hosting) =
            ("GB", "London", 51.5, -0.09, 5089, "Virgin Media", false);
        evs.push(travel);
        let d = run(&evs, UnfamiliarConfig::default());
        let new: Vec<_> = d.findings.iter().filter(|f| f.kind == "new_country").collect();
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].severity, Severity::Low, "{}", new[0].explanation);
        assert!(new[0].explanation.contains("with a user agent the key already uses"));
    }

    #[test]
    fn tor_on_top_of_a_new_country_is_high() {
        let mut evs = steady("k", 10);
        let mut tor = singapore(10 * DAY_MIN, "k", "185.220.101.7");
        (tor.country, tor.tor, tor.hosting) = ("NL", true, false);
        evs.push(tor);
        let d = run(&evs, UnfamiliarConfig::default());
        let f = d.findings.iter().find(|f| f.kind == "new_country").unwrap();
        assert_eq!(f.severity, Severity::High, "{:?}", d.findings);
        assert!(f.explanation.contains("the address is a Tor exit"));
    }

    #[test]
    fn fixed_baseline_judges_only_later_events_against_earlier_ones() {
        let mut evs = steady("k", 10);
        // Singapore appears on day 3: part of the baseline when it ends on day 5.
        evs.push(singapore(3 * DAY_MIN + 7, "k", "128.199.1.1"));
        evs.push(singapore(11 * DAY_MIN, "k", "128.199.1.1"));
        let until = UnfamiliarConfig { baseline: Baseline::Until(5 * DAY_MIN * MIN), ..Default::default() };
        assert!(run(&evs, until).findings.iter().all(|f| f.kind == "impossible_travel"));
        let days = UnfamiliarConfig { baseline: Baseline::Days(2), ..Default::default() };
        let d = run(&evs, days);
        assert!(d.findings.iter().any(|f| f.kind == "new_country"), "{:?}", d.findings);
        // Rolling: the day-3 visit is itself judged (3 days of history) and reported.
        let d = run(&evs, UnfamiliarConfig::default());
        let f = d.findings.iter().find(|f| f.kind == "new_country").unwrap();
        assert_eq!(f.start, (3 * DAY_MIN + 7) * MIN);
    }

    #[test]
    fn impossible_travel_between_familiar_places() {
        // Frankfurt on most days; Singapore for half an hour at noon on some days, with enough
        // time on either side to fly (no impossible hop in the history).
        let sg_days = [2, 4, 6, 8];
        let mut evs: Vec<Ev> = (0..10 * DAY_MIN / 30)
            .filter(|i| !sg_days.contains(&(i * 30 / DAY_MIN)))
            .map(|i| frankfurt(i * 30, "k", "3.120.0.10"))
            .collect();
        for d in sg_days {
            evs.push(singapore(d * DAY_MIN + 720, "k", "128.199.1.1"));
            evs.push(singapore(d * DAY_MIN + 750, "k", "128.199.1.1"));
        }
        // Then Singapore five minutes after Frankfurt.
        evs.push(singapore(10 * DAY_MIN + 5, "k", "128.199.1.1"));
        let d = run(&evs, UnfamiliarConfig::default());
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let travel: Vec<_> = d.findings.iter().filter(|f| f.kind == "impossible_travel").collect();
        assert_eq!(travel.len(), 1, "{:?}", d.findings);
        let f = travel[0];
        assert!(f.explanation.contains("from Frankfurt (DE) to Singapore (SG)"), "{}", f.explanation);
        assert!(f.explanation.contains("in 35 min"), "{}", f.explanation);
        assert_eq!(f.severity, Severity::Low, "both places are familiar");
        assert_eq!(f.rows, vec![evs.len() as u32 - 1], "the less familiar end (Singapore) is flagged");
    }

    #[test]
    fn keys_used_from_several_places_at_once_skip_travel() {
        let mut evs = Vec::new();
        for i in 0..(10 * DAY_MIN / 10) {
            evs.push(if i % 2 == 0 {
                frankfurt(i * 10, "k", "3.120.0.10")
            } else {
                singapore(i * 10, "k", "128.199.1.1")
            });
        }
        let d = run(&evs, UnfamiliarConfig::default());
        assert!(d.findings.iter().all(|f| f.kind != "impossible_travel"), "{:?}", d.findings);
        assert!(d.notes.iter().any(|n| n.message.contains("used from several places at once")));
    }

    #[test]
    fn without_geo_new_networks_are_still_seen() {
        let mut evs = steady("k", 10);
        let mut other = frankfurt(10 * DAY_MIN, "k", "198.51.100.1");
        other.ua = "curl/8";
        evs.push(other);
        let d = UnfamiliarSource::default().detect(&frame(&evs, false)).unwrap();
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].kind, "new_network");
        assert_eq!(d.findings[0].severity, Severity::Low);
    }

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of("81.2.69.142".parse().unwrap()), "81.2.69.0/24");
        assert_eq!(prefix_of("2001:db8:abcd:1::1".parse().unwrap()), "2001:db8:abcd::/48");
    }
}
