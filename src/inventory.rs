//! Which clients use each key, grouped by network and user agent, with first and last seen,
//! volume, typical hours and endpoints: the services that break when a key is rotated, and a
//! quick way to spot a client nobody recognises.

use crate::detect::calendar::WorkCalendar;
use crate::detect::{rows_by_key, timestamps, Strings};
use crate::enrich::geoip::{GeoDatabases, Sources};
use crate::enrich::{self, Events};
use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions, Progress};
use crate::report::csv_field;
use crate::schema::col;
use crate::text::thousands;
use crate::timestamp::format_rfc3339;
use serde_json::json;
use std::collections::BTreeMap;

/// One client of a key.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub credential: String,
    /// How explanations name the key.
    pub key: String,
    /// The matched GeoIP network, or the /24 (/48) of the addresses.
    pub network: String,
    pub as_org: Option<String>,
    pub country: Option<String>,
    pub user_agent: Option<String>,
    /// Distinct addresses in the network.
    pub addresses: usize,
    pub first_seen: i64,
    pub last_seen: i64,
    pub requests: i64,
    /// Local hours that carry most (80%) of the requests, e.g. `08–17`, and whether weekends.
    pub hours: String,
    /// The most requested endpoints (ids folded).
    pub endpoints: Vec<String>,
}

/// Groups a key's events into clients. Keys sorted; clients by requests, most first.
pub fn clients(events: Events<'_>, calendar: &WorkCalendar) -> Result<Vec<Client>> {
    let err = |source| Error::Frame { context: "building the inventory", source };
    let ts = timestamps(&events).map_err(err)?;
    let text = |n: &str| events.column(n).and_then(Strings::of).map_err(err);
    let (ip, ua, path) = (text(col::SOURCE_IP)?, text(col::USER_AGENT)?, text(col::PATH)?);
    let count = events.column(col::COUNT).and_then(|c| c.i64().cloned()).map_err(err)?;
    let geo = events.geo();
    let mut out = Vec::new();
    for k in rows_by_key(&events).map_err(err)? {
        struct Acc {
            first: i64,
            last: i64,
            requests: i64,
            addresses: BTreeMap<String, ()>,
            hours: [i64; 24],
            weekend: i64,
            endpoints: BTreeMap<String, i64>,
            as_org: Option<String>,
            country: Option<String>,
        }
        let mut groups: BTreeMap<(String, Option<String>), Acc> = BTreeMap::new();
        for &i in &k.rows {
            let Some(t) = ts.get(i) else { continue };
            let addr = ip.get(i);
            let net = geo.network(i).map(str::to_string).unwrap_or_else(|| {
                addr.and_then(|a| a.parse().ok())
                    .map_or_else(|| "no address".to_string(), crate::detect::unfamiliar::prefix_of)
            });
            let n = count.get(i).unwrap_or(1);
            let acc = groups.entry((net, ua.get(i).map(str::to_string))).or_insert_with(|| Acc {
                first: t,
                last: t,
                requests: 0,
                addresses: BTreeMap::new(),
                hours: [0; 24],
                weekend: 0,
                endpoints: BTreeMap::new(),
                as_org: geo.as_org(i).map(str::to_string),
                country: geo.country(i).map(str::to_string),
            });
            acc.first = acc.first.min(t);
            acc.last = acc.last.max(t);
            acc.requests += n;
            if let Some(a) = addr {
                acc.addresses.entry(a.to_string()).or_insert(());
            }
            let local = calendar.local(t);
            acc.hours[local.hour as usize] += n;
            if !calendar.is_working_day(&local) {
                acc.weekend += n;
            }
            if let Some(p) = path.get(i) {
                *acc.endpoints.entry(crate::detect::incident::endpoint(p)).or_default() += n;
            }
        }
        let mut clients: Vec<Client> = groups
            .into_iter()
            .map(|((network, user_agent), a)| {
                let mut endpoints: Vec<(String, i64)> = a.endpoints.into_iter().collect();
                endpoints.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
                let weekend = if a.weekend * 20 < a.requests { ", working days" } else { "" };
                Client {
                    credential: k.key.to_string(),
                    key: k.name.clone(),
                    network,
                    as_org: a.as_org,
                    country: a.country,
                    user_agent,
                    addresses: a.addresses.len(),
                    first_seen: a.first,
                    last_seen: a.last,
                    requests: a.requests,
                    hours: format!("{}{weekend}", busy_hours(&a.hours)),
                    endpoints: endpoints.into_iter().take(3).map(|(e, _)| e).collect(),
                }
            })
            .collect();
        clients.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.network.cmp(&b.network)));
        out.extend(clients);
    }
    Ok(out)
}

/// The fewest hours that carry 80% of the requests, as ranges: `02, 08–17`.
fn busy_hours(hours: &[i64; 24]) -> String {
    let total: i64 = hours.iter().sum();
    if total == 0 {
        return String::new();
    }
    let mut order: Vec<usize> = (0..24).collect();
    order.sort_by(|a, b| hours[*b].cmp(&hours[*a]).then(a.cmp(b)));
    let mut chosen = [false; 24];
    let mut covered = 0;
    for h in order {
        if covered * 5 >= total * 4 {
            break;
        }
        chosen[h] = true;
        covered += hours[h];
    }
    let mut ranges = Vec::new();
    let mut h = 0;
    while h < 24 {
        if chosen[h] {
            let start = h;
            while h + 1 < 24 && chosen[h + 1] {
                h += 1;
            }
            ranges.push(if start == h { format!("{start:02}") } else { format!("{start:02}–{h:02}") });
        }
        h += 1;
    }
    ranges.join(", ")
}

/// What the inventory reads and how.
pub struct InventoryOptions<'a> {
    pub inputs: &'a [String],
    pub ingest: &'a IngestOptions,
    pub geoip: &'a Sources,
    pub calendar: &'a WorkCalendar,
}

/// The inventory of the given inputs, and the inputs that could not be read.
pub fn inventory(opts: &InventoryOptions<'_>, progress: &dyn Progress) -> Result<(Vec<Client>, Vec<Error>)> {
    let (dbs, problems) = GeoDatabases::discover(opts.geoip);
    if !problems.is_empty() {
        return Err(Error::Databases { problems: problems.iter().map(ToString::to_string).collect() });
    }
    let mut ingested = ingest::ingest(opts.inputs, opts.ingest, progress)?;
    progress.stage("grouping clients");
    let places = if dbs.is_empty() {
        None
    } else {
        Some(enrich::geolocate(&mut ingested.events, &dbs, ingested.addresses.take().as_ref())?.1)
    };
    let clients = clients(Events::new(&ingested.events, places.as_ref()), opts.calendar)?;
    progress.finish();
    Ok((clients, ingested.errors))
}

/// The inventory of the history kept in an audit's state directory (see
/// [`crate::audit::state`]): the clients of the last `--retain-days`.
pub fn inventory_of_state(dir: &std::path::Path, calendar: &WorkCalendar) -> Result<Vec<Client>> {
    let state = crate::audit::state::read_state(dir)?;
    if state.history.height() == 0 {
        return Ok(Vec::new());
    }
    clients((&state.history).into(), calendar)
}

const COLUMNS: [&str; 13] = [
    "credential",
    "key",
    "network",
    "as_org",
    "country",
    "user_agent",
    "addresses",
    "first_seen",
    "last_seen",
    "requests",
    "hours",
    "endpoints",
    "",
];

fn cells(c: &Client) -> [String; 12] {
    [
        c.credential.clone(),
        c.key.clone(),
        c.network.clone(),
        c.as_org.clone().unwrap_or_default(),
        c.country.clone().unwrap_or_default(),
        c.user_agent.clone().unwrap_or_default(),
        c.addresses.to_string(),
        format_rfc3339(c.first_seen),
        format_rfc3339(c.last_seen),
        c.requests.to_string(),
        c.hours.clone(),
        c.endpoints.join(" "),
    ]
}

/// `inventory.csv`.
pub fn to_csv(clients: &[Client]) -> Vec<u8> {
    let mut out = COLUMNS[..12].join(",");
    out.push('\n');
    for c in clients {
        out.push_str(&cells(c).iter().map(|v| csv_field(v).into_owned()).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// `inventory.json`.
pub fn to_json(clients: &[Client]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = clients
        .iter()
        .map(|c| {
            json!({
                "credential": c.credential, "key": c.key, "network": c.network, "as_org": c.as_org,
                "country": c.country, "user_agent": c.user_agent, "addresses": c.addresses,
                "first_seen": format_rfc3339(c.first_seen), "last_seen": format_rfc3339(c.last_seen),
                "requests": c.requests, "hours": c.hours, "endpoints": c.endpoints,
            })
        })
        .collect();
    let mut bytes = serde_json::to_vec_pretty(&json!({ "clients": list })).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The table printed on the terminal: per key, its clients one per line.
pub fn to_text(clients: &[Client]) -> String {
    let mut out = String::new();
    let mut current = "";
    for c in clients {
        if c.credential != current {
            current = &c.credential;
            let n = clients.iter().filter(|x| x.credential == c.credential).count();
            out.push_str(&format!("{} — {n} client{}\n", c.key, if n == 1 { "" } else { "s" }));
        }
        let owner = [c.as_org.clone(), c.country.clone()].into_iter().flatten().collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "  {:>10} req  {}{}  {}  [{} address{}]  {} – {}  hours {}  {}\n",
            thousands(c.requests as f64),
            c.network,
            if owner.is_empty() { String::new() } else { format!(" ({owner})") },
            crate::text::clip(c.user_agent.as_deref().unwrap_or("-"), 40),
            c.addresses,
            if c.addresses == 1 { "" } else { "es" },
            day(c.first_seen),
            day(c.last_seen),
            c.hours,
            c.endpoints.join(" ")
        ));
    }
    out
}

/// The date part of a time, `2026-10-20`.
fn day(micros: i64) -> String {
    let t = format_rfc3339(micros);
    t.get(..10).unwrap_or(&t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_hour_ranges() {
        let mut h = [0i64; 24];
        h[8..18].fill(10);
        h[2] = 50;
        assert_eq!(busy_hours(&h), "02, 08–14", "50 + 7 × 10 of 150 requests is 80%");
        assert_eq!(busy_hours(&[0; 24]), "");
        let mut one = [0i64; 24];
        one[23] = 1;
        assert_eq!(busy_hours(&one), "23");
    }
}
