//! From events and incidents to what the charts draw.

use super::heatmap::Heatmap;
use super::sources::Sources;
use super::timeline::Timeline;
use super::world::World;
use super::{render, slug, Rendered};
use crate::detect::calendar::WorkCalendar;
use crate::detect::incident::Incident;
use crate::detect::rate::{request_series, RateConfig};
use crate::detect::{timestamps, AddressCodes, KeyRows, Numbers, Strings};
use crate::enrich::{Events, GeoColumns};
use crate::error::{Error, Result};
use crate::schema::col;
use crate::text::thousands;
use chrono::DateTime;
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Incidents that get charts (the most severe first); the rest are in the tables only.
pub const MAX_INCIDENTS: usize = 20;
const HOUR: i64 = 3_600_000_000;

/// The columns the charts read.
struct Cols<'a> {
    ts: Numbers<'a, Int64Type>,
    count: Numbers<'a, Int64Type>,
    ip: Strings<'a>,
    /// A row's GeoIP answers, and so its source label and place, are its address's.
    address: AddressCodes<'a>,
    geo: GeoColumns<'a>,
}

impl<'a> Cols<'a> {
    /// `ts`: the events' times ([`timestamps`]).
    fn read(events: &Events<'a>, ts: &'a Int64Chunked) -> PolarsResult<Self> {
        let frame = events.frame();
        let ip = Strings::of(frame.column(col::SOURCE_IP)?)?;
        Ok(Cols {
            ts: Numbers::of(ts),
            count: Numbers::of(frame.column(col::COUNT)?.i64()?),
            ip,
            address: AddressCodes::of(events)?,
            geo: events.geo(),
        })
    }

    fn requests(&self, i: usize) -> f64 {
        self.count.get(i).unwrap_or(1) as f64
    }

    /// "AS14061 DigitalOcean, LLC (SG)", else the country, else the /24 network.
    fn source_label(&self, i: usize) -> String {
        let country = self.geo.country(i);
        match (self.geo.asn(i), self.geo.as_org(i)) {
            (Some(a), Some(o)) => format!("AS{a} {o}{}", country.map(|c| format!(" ({c})")).unwrap_or_default()),
            (Some(a), None) => format!("AS{a}{}", country.map(|c| format!(" ({c})")).unwrap_or_default()),
            _ => match (country, self.ip.get(i).and_then(|s| s.parse().ok())) {
                (Some(c), _) => c.to_string(),
                (None, Some(ip)) => crate::detect::unfamiliar::prefix_of(ip),
                (None, None) => "no address".into(),
            },
        }
    }

    /// Row `i`'s address code, one past the last for rows without one.
    fn address_of(&self, i: usize) -> usize {
        self.address.get(i).map_or(self.address.count, |c| c as usize)
    }

    /// The distinct addresses of `rows` in order of first appearance, each as its first row
    /// and the requests of all its rows: labels and places are made once per address instead
    /// of once per row.
    fn by_address(&self, rows: impl IntoIterator<Item = usize>) -> Vec<(usize, f64)> {
        let mut index = vec![u32::MAX; self.address.count + 1];
        let mut addresses: Vec<(usize, f64)> = Vec::new();
        for i in rows {
            let at = &mut index[self.address_of(i)];
            if *at == u32::MAX {
                *at = addresses.len() as u32;
                addresses.push((i, 0.0));
            }
            addresses[*at as usize].1 += self.requests(i);
        }
        addresses
    }

    /// Requests of `rows` per source label ([`Cols::source_label`]).
    fn requests_by_label(&self, rows: impl IntoIterator<Item = usize>) -> BTreeMap<String, f64> {
        let mut by_label: BTreeMap<String, f64> = BTreeMap::new();
        for (i, n) in self.by_address(rows) {
            *by_label.entry(self.source_label(i)).or_default() += n;
        }
        by_label
    }

    fn place(&self, i: usize) -> Option<(f64, f64, String)> {
        let (lon, lat) = self.geo.position(i)?;
        let country = self.geo.country(i).unwrap_or("");
        let label = match self.geo.city(i) {
            Some(city) => format!("{city}, {country}"),
            None => country.to_string(),
        };
        Some((lon, lat, label))
    }
}

/// The kinds of chart: two per incident, two per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Timeline,
    Sources,
    Heatmap,
    World,
}

impl Kind {
    /// The file name (without extension) of the chart of this kind of `of`: an incident's id
    /// (timeline, sources) or a key's credential (heatmap, map).
    fn file_name(self, of: &str) -> String {
        match self {
            Kind::Timeline => format!("{of}-timeline"),
            Kind::Sources => format!("{of}-sources"),
            Kind::Heatmap => format!("key-{}-heatmap", slug(of)),
            Kind::World => format!("key-{}-world", slug(of)),
        }
    }

    fn of_key(self) -> bool {
        matches!(self, Kind::Heatmap | Kind::World)
    }
}

/// One chart to draw: of an incident, or of the key of an incident.
struct Job<'i> {
    kind: Kind,
    incident: &'i Incident,
}

impl Job<'_> {
    fn of(&self) -> &str {
        if self.kind.of_key() {
            &self.incident.credential
        } else {
            &self.incident.id
        }
    }

    fn name(&self) -> String {
        self.kind.file_name(self.of())
    }
}

/// The ids of the incidents that get charts: the first [`MAX_INCIDENTS`] of `ranked` (in
/// report order).
pub fn charted(ranked: &[Incident]) -> BTreeSet<&str> {
    ranked.iter().take(MAX_INCIDENTS).map(|i| i.id.as_str()).collect()
}

/// The charts of the `charted` ones of `incidents` (in report order), in the order reports
/// show them: each incident's timeline and sources, and the heatmap and map of its key with
/// the key's first incident. Incidents whose key `drawable` refuses (no events to draw) get
/// none.
fn jobs<'i>(incidents: &'i [Incident], charted: &BTreeSet<&str>, drawable: impl Fn(&Incident) -> bool) -> Vec<Job<'i>> {
    let mut jobs = Vec::new();
    let mut keys_done = BTreeSet::new();
    for inc in incidents.iter().filter(|i| charted.contains(i.id.as_str()) && drawable(i)) {
        jobs.extend([Kind::Timeline, Kind::Sources].map(|kind| Job { kind, incident: inc }));
        if keys_done.insert(inc.credential.as_str()) {
            jobs.extend([Kind::Heatmap, Kind::World].map(|kind| Job { kind, incident: inc }));
        }
    }
    jobs
}

/// The names of the charts of `incidents` (all of a run's, in report order), in the order
/// reports show them: for putting charts drawn in parts back in order.
pub fn chart_order(incidents: &[Incident]) -> Vec<String> {
    jobs(incidents, &charted(incidents), |_| true).iter().map(Job::name).collect()
}

/// Renders the charts of the incidents (at most [`MAX_INCIDENTS`]) and of their keys.
pub fn charts(
    events: &Events<'_>,
    keys: &[KeyRows<'_>],
    incidents: &[Incident],
    rate: &RateConfig,
) -> Result<Vec<Rendered>> {
    render_all(prepare(events, keys, incidents, &charted(incidents), rate)?)
}

/// What one chart shows, computed from the events and ready to draw.
#[derive(Debug, Clone, PartialEq)]
enum Drawing {
    Timeline(Timeline),
    Sources(Sources),
    Heatmap(Heatmap),
    World(World),
}

/// A chart computed but not drawn yet, with the incident or key it is of. A streaming scan
/// prepares the charts of each bucket of keys while it has its events, before the incidents
/// have the run's ids, and gives them those ids ([`Prepared::relabel`]) before drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The incident's id (timeline, sources) or the key's credential (heatmap, map).
    of: String,
    drawing: Drawing,
}

impl Prepared {
    fn kind(&self) -> Kind {
        match self.drawing {
            Drawing::Timeline(_) => Kind::Timeline,
            Drawing::Sources(_) => Kind::Sources,
            Drawing::Heatmap(_) => Kind::Heatmap,
            Drawing::World(_) => Kind::World,
        }
    }

    /// The chart's file name, without extension (as [`chart_order`] lists it).
    pub fn name(&self) -> String {
        self.kind().file_name(&self.of)
    }

    /// Gives the incidents named in the chart (its own, or its key's) new ids.
    pub fn relabel(&mut self, id: impl Fn(&str) -> String) {
        match &mut self.drawing {
            Drawing::Timeline(c) => {
                c.incident = id(&c.incident);
                self.of = id(&self.of);
            }
            Drawing::Sources(c) => {
                c.incident = id(&c.incident);
                self.of = id(&self.of);
            }
            Drawing::Heatmap(c) => c.incidents = c.incidents.iter().map(|i| id(i)).collect(),
            Drawing::World(_) => {}
        }
    }

    fn render(&self) -> std::result::Result<Rendered, super::ChartError> {
        let name = self.name();
        match &self.drawing {
            Drawing::Timeline(c) => render(name, c.title(), c),
            Drawing::Sources(c) => render(name, c.title(), c),
            Drawing::Heatmap(c) => render(name, c.title(), c),
            Drawing::World(c) => render(name, c.title.clone(), c),
        }
    }
}

/// Draws prepared charts (in parallel), in the order given.
pub fn render_all(prepared: Vec<Prepared>) -> Result<Vec<Rendered>> {
    prepared.par_iter().map(|p| p.render().map_err(|source| Error::Chart { chart: p.name(), source })).collect()
}

/// Computes the charts of the `charted` ones of `incidents` (those of the keys of `events`,
/// in report order; see [`charted`]), in the order reports show them.
pub fn prepare(
    events: &Events<'_>,
    keys: &[KeyRows<'_>],
    incidents: &[Incident],
    charted: &BTreeSet<&str>,
    rate: &RateConfig,
) -> Result<Vec<Prepared>> {
    let frame_err = |source| Error::Frame { context: "preparing charts", source };
    let ts = timestamps(events).map_err(frame_err)?;
    let cols = Cols::read(events, &ts).map_err(frame_err)?;
    let key_rows: BTreeMap<&str, (&str, &[usize])> =
        keys.iter().map(|k| (k.key, (k.name.as_str(), k.rows.as_slice()))).collect();
    let in_incident = RowSet::of(incidents.iter().flat_map(|i| i.rows.iter().copied()));
    let jobs = jobs(incidents, charted, |i| key_rows.contains_key(i.credential.as_str()));
    let prepared: Vec<Option<Prepared>> = jobs
        .par_iter()
        .map(|job| {
            let inc = job.incident;
            let Some(&(name, rows)) = key_rows.get(inc.credential.as_str()) else { return Ok(None) };
            let key_incidents = || incidents.iter().filter(|i| i.credential == inc.credential).collect::<Vec<_>>();
            let drawing = match job.kind {
                Kind::Timeline => Drawing::Timeline(timeline(&cols, events, inc, name, rows, &rate.calendar, rate)?),
                Kind::Sources => Drawing::Sources(sources(&cols, inc, name, rows, &in_incident)),
                Kind::Heatmap => {
                    Drawing::Heatmap(heatmap(&cols, name, rows, &key_incidents(), &in_incident, &rate.calendar))
                }
                Kind::World => match world(&cols, name, rows, &key_incidents()) {
                    Some(c) => Drawing::World(c),
                    None => return Ok(None),
                },
            };
            Ok(Some(Prepared { of: job.of().to_string(), drawing }))
        })
        .collect::<Result<_>>()?;
    Ok(prepared.into_iter().flatten().collect())
}

/// Rows of the events, a bit each: membership without hashing.
struct RowSet(Vec<u64>);

impl RowSet {
    fn of(rows: impl IntoIterator<Item = u32>) -> Self {
        let mut words = Vec::new();
        for r in rows {
            let w = r as usize / 64;
            if w >= words.len() {
                words.resize(w + 1, 0);
            }
            words[w] |= 1 << (r % 64);
        }
        RowSet(words)
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

fn local(cal: &WorkCalendar, t: i64, fmt: &str) -> String {
    DateTime::from_timestamp_micros(t).map(|d| d.with_timezone(&cal.tz).format(fmt).to_string()).unwrap_or_default()
}

fn timeline(
    cols: &Cols,
    events: &DataFrame,
    inc: &Incident,
    name: &str,
    rows: &[usize],
    cal: &WorkCalendar,
    rate: &RateConfig,
) -> Result<Timeline> {
    let pad = (inc.end - inc.start).max(6 * HOUR);
    let (from, to) = (inc.start - pad, inc.end + pad);
    let width = [5i64, 15, 60, 180, 360].into_iter().find(|w| (to - from) / (w * 60_000_000) <= 160).unwrap_or(720);
    let series = request_series(events, rows, width, rate, (from, to))?;
    let w = width * 60_000_000;
    let first = ((from - series.start).max(0) / w) as usize;
    let last = (((to - series.start) / w).max(0) as usize).min(series.observed.len().saturating_sub(1));
    let incident_rows = RowSet::of(inc.rows.iter().copied());
    // Source groups: the usual traffic, then the incident's sources by requests.
    let incident_addresses = cols.by_address(inc.rows.iter().map(|&r| r as usize));
    let mut by_label: BTreeMap<String, f64> = BTreeMap::new();
    for &(i, n) in &incident_addresses {
        *by_label.entry(cols.source_label(i)).or_default() += n;
    }
    let mut labels: Vec<(String, f64)> = by_label.into_iter().collect();
    labels.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut groups = vec!["the key's usual traffic".to_string()];
    groups.extend(labels.iter().take(4).map(|(l, _)| format!("incident: {l}")));
    if labels.len() > 4 {
        groups.push(format!("incident: {} other sources", labels.len() - 4));
    }
    let group_of = |label: &str| labels.iter().position(|(l, _)| l == label).map_or(0, |p| 1 + p.min(4));
    let group_by_address: PlHashMap<usize, usize> =
        incident_addresses.iter().map(|&(i, _)| (cols.address_of(i), group_of(&cols.source_label(i)))).collect();
    let n = if series.observed.is_empty() { 0 } else { last.saturating_sub(first) + 1 };
    let mut counts = vec![vec![0.0; groups.len()]; n];
    let mut flagged = vec![false; n];
    // The rows are in time order: only those from the first bucket shown on are looked at,
    // until the last.
    let shown_from = series.start + first as i64 * w;
    let from_row = rows.partition_point(|&i| cols.ts.get(i).is_none_or(|t| t < shown_from));
    for &i in &rows[from_row..] {
        let Some(t) = cols.ts.get(i) else { continue };
        if n == 0 {
            break;
        }
        let b = ((t - series.start) / w) as usize - first;
        if b >= n {
            break;
        }
        let g = if incident_rows.contains(i) {
            flagged[b] = true;
            group_by_address.get(&cols.address_of(i)).copied().unwrap_or(0)
        } else {
            0
        };
        counts[b][g] += cols.requests(i);
    }
    let expected = (first..first + n)
        .map(|b| series.expected.get(b).copied().flatten().map(|(m, var)| (m, m + 3.0 * var.sqrt())))
        .collect();
    let top = labels.first().map(|(l, n)| format!("{} from {l}", thousands(*n))).unwrap_or_default();
    Ok(Timeline {
        key: name.to_string(),
        incident: inc.id.clone(),
        severity: inc.severity,
        subtitle: format!(
            "{} – {} ({}); incident: {} requests, {top}",
            local(cal, inc.start, "%a %d %b %Y %H:%M"),
            local(cal, inc.end, "%a %d %b %H:%M"),
            cal.tz.name(),
            thousands(inc.requests as f64),
        ),
        tz: cal.tz,
        start: series.start + first as i64 * w,
        width_minutes: width,
        groups,
        counts,
        expected,
        flagged,
        span: (inc.start, inc.end),
    })
}

fn sources(cols: &Cols, inc: &Incident, name: &str, rows: &[usize], in_incident: &RowSet) -> Sources {
    let before = rows.iter().copied().filter(|&i| cols.ts.get(i).is_some_and(|t| t < inc.start));
    let normal = cols.requests_by_label(before.filter(|&i| !in_incident.contains(i)));
    let abuse = cols.requests_by_label(inc.rows.iter().map(|&r| r as usize));
    let (nt, at) = (normal.values().sum::<f64>().max(1.0), abuse.values().sum::<f64>().max(1.0));
    let top = |m: &BTreeMap<String, f64>, k: usize| {
        let mut v: Vec<(&String, &f64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter().take(k).map(|(l, _)| l.clone()).collect::<Vec<_>>()
    };
    let mut labels = top(&abuse, 6);
    for l in top(&normal, 4) {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    let rows = labels
        .into_iter()
        .map(|l| {
            let (n, a) = (normal.get(&l).copied().unwrap_or(0.0), abuse.get(&l).copied().unwrap_or(0.0));
            let new = n == 0.0;
            (l, 100.0 * n / nt, 100.0 * a / at, new)
        })
        .collect();
    Sources {
        key: name.to_string(),
        incident: inc.id.clone(),
        subtitle: format!(
            "{} requests in the incident, {} before it (excluding incidents); share of requests per network owner",
            thousands(at),
            thousands(nt)
        ),
        rows,
    }
}

fn heatmap(
    cols: &Cols,
    name: &str,
    rows: &[usize],
    incidents: &[&Incident],
    in_incident: &RowSet,
    cal: &WorkCalendar,
) -> Heatmap {
    let mut normal = vec![0.0; 168];
    let mut flagged = vec![false; 168];
    let (first, last) = (rows.iter().find_map(|&i| cols.ts.get(i)), rows.iter().rev().find_map(|&i| cols.ts.get(i)));
    let weeks = match (first, last) {
        (Some(a), Some(b)) => ((b - a) as f64 / (7.0 * 24.0 * HOUR as f64)).max(1.0),
        _ => 1.0,
    };
    let key_incident_rows = RowSet::of(incidents.iter().flat_map(|i| i.rows.iter().copied()));
    let mut clock = cal.clock();
    for &i in rows {
        let Some(t) = cols.ts.get(i) else { continue };
        let slot = clock.local(t).hour_of_week();
        if key_incident_rows.contains(i) {
            flagged[slot] = true;
        } else if !in_incident.contains(i) {
            normal[slot] += cols.requests(i) / weeks;
        }
    }
    Heatmap {
        key: name.to_string(),
        zone: cal.tz.name().to_string(),
        weeks,
        incidents: incidents.iter().map(|i| i.id.clone()).collect(),
        working: cal.describe(),
        normal,
        flagged,
    }
}

fn world(cols: &Cols, name: &str, rows: &[usize], incidents: &[&Incident]) -> Option<World> {
    let incident_rows = RowSet::of(incidents.iter().flat_map(|i| i.rows.iter().copied()));
    // Per place, the position of the first address found there and the requests.
    let places_of = |rows: Vec<usize>| {
        let mut places: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
        for (i, n) in cols.by_address(rows) {
            let Some((lon, lat, label)) = cols.place(i) else { continue };
            places.entry(label).or_insert((lon, lat, 0.0)).2 += n;
        }
        places
    };
    let (in_incidents, others): (Vec<usize>, Vec<usize>) = rows.iter().partition(|&&i| incident_rows.contains(i));
    let (flagged, usual) = (places_of(in_incidents), places_of(others));
    if usual.is_empty() && flagged.is_empty() {
        return None;
    }
    let mut places: Vec<(f64, f64, f64, String, bool)> =
        usual.iter().map(|(l, (x, y, n))| (*x, *y, *n, l.clone(), false)).collect();
    places.extend(
        flagged.iter().filter(|(l, _)| !usual.contains_key(*l)).map(|(l, (x, y, n))| (*x, *y, *n, l.clone(), true)),
    );
    let new = places.iter().filter(|p| p.4).count();
    Some(World {
        title: format!("{name}: where the key was used from"),
        subtitle: format!(
            "{} usual places, {new} new in its incidents; positions from the GeoIP database",
            usual.len()
        ),
        places,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::geo_col;

    /// Labels are made per address: the same sums, in the same places, as row by row.
    #[test]
    fn rows_are_summed_per_address_in_order_of_first_appearance() {
        let df = df!(
            col::TIMESTAMP => [1i64, 2, 3, 4, 5, 6],
            col::COUNT => [1i64, 2, 3, 4, 5, 6],
            col::SOURCE_IP => [Some("192.0.2.1"), Some("198.51.100.7"), None, Some("192.0.2.1"), None, Some("198.51.100.7")],
            geo_col::COUNTRY => [Some("DE"), Some("US"), None, Some("DE"), None, Some("US")],
            geo_col::ASN => [Some(3320i64), None, None, Some(3320), None, None],
            geo_col::AS_ORG => [Some("Deutsche Telekom AG"), None, None, Some("Deutsche Telekom AG"), None, None],
        )
        .unwrap();
        let ts = timestamps(&df).unwrap();
        let cols = Cols::read(&(&df).into(), &ts).unwrap();
        assert_eq!(cols.by_address([5, 0, 1, 2, 3, 4]), vec![(5, 8.0), (0, 5.0), (2, 8.0)]);
        let by_label = cols.requests_by_label(0..6);
        let expected: BTreeMap<String, f64> = [
            ("AS3320 Deutsche Telekom AG (DE)".to_string(), 5.0),
            ("US".to_string(), 8.0),
            ("no address".to_string(), 8.0),
        ]
        .into();
        assert_eq!(by_label, expected);
        let rows: BTreeMap<String, f64> = (0..6).fold(BTreeMap::new(), |mut m, i| {
            *m.entry(cols.source_label(i)).or_default() += cols.requests(i);
            m
        });
        assert_eq!(by_label, rows, "the same as row by row");
    }
}
