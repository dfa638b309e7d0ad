//! Detectors: pure functions of the events (the frame and its addresses' GeoIP answers,
//! [`Events`]) and their configuration, each finding explained with its numbers. One file per
//! detector, all behind [`Detector`].

pub mod calendar;
pub mod incident;
pub mod off_hours;
pub mod rate;
pub mod rotation;
pub mod stats;
pub mod unfamiliar;

pub use crate::enrich::Events;
use crate::error::Result;
use crate::schema::col;
use polars::prelude::*;
use std::fmt;
use std::str::FromStr;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] =
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity one detector's score (0–100) earns on its own: 85+ high, 55+ medium,
    /// 20+ low, else info. `critical` needs agreeing evidence from several detectors.
    pub fn of_score(score: f64) -> Severity {
        if score >= 85.0 {
            Severity::High
        } else if score >= 55.0 {
            Severity::Medium
        } else if score >= 20.0 {
            Severity::Low
        } else {
            Severity::Info
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown severity `{s}`: use info, low, medium, high or critical"))
    }
}

/// Something a detector found: which key, when, which events, how bad, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub detector: &'static str,
    /// What kind of finding within the detector, e.g. `new_asn`, `impossible_travel`.
    pub kind: &'static str,
    pub credential: String,
    /// First and last event time (UTC µs).
    pub start: i64,
    pub end: i64,
    /// Rows of the events frame this finding covers, ascending.
    pub rows: Vec<u32>,
    /// 0–100.
    pub score: f64,
    pub severity: Severity,
    /// One sentence with the observed and expected numbers.
    pub explanation: String,
}

impl Finding {
    /// The order a detector returns its findings in: by start, then key, then kind (a stable
    /// sort, so findings equal in these stay in the order the detector made them, key by key).
    /// A streaming scan relies on it to put the findings of its buckets of keys back in order.
    pub fn order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
        a.start.cmp(&b.start).then(a.credential.cmp(&b.credential)).then(a.kind.cmp(b.kind))
    }
}

/// A remark about a key that is not a finding (e.g. too little history to judge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub detector: &'static str,
    pub credential: String,
    pub message: String,
}

/// What a detector returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    pub findings: Vec<Finding>,
    pub notes: Vec<Note>,
}

impl Detection {
    /// Several detections in order, as one.
    pub fn merge(parts: impl IntoIterator<Item = Detection>) -> Detection {
        let mut all = Detection::default();
        for Detection { findings, notes } in parts {
            all.findings.extend(findings);
            all.notes.extend(notes);
        }
        all
    }
}

/// A detector: deterministic, no I/O, no globals. It judges each key on its own, and returns
/// its findings in [`Finding::order`] and its notes key by key, keys in order. Detectors are
/// independent of each other, so a scan runs them side by side.
pub trait Detector: Sync {
    fn name(&self) -> &'static str;

    /// Judges the events, given already grouped by key ([`rows_by_key`]): several detectors
    /// over one frame group it once.
    fn detect_keys(&self, events: &Events<'_>, keys: &[KeyRows<'_>]) -> Result<Detection>;

    /// Judges the events of a frame (with its GeoIP columns, if any).
    fn detect(&self, events: &DataFrame) -> Result<Detection> {
        let keys = rows_by_key(events)
            .map_err(|source| crate::error::Error::Frame { context: "grouping events by key", source })?;
        self.detect_keys(&Events::from(events), &keys)
    }
}

/// The findings as far as they concern the rows marked in `keep` (an audit's new events):
/// each finding keeps only those rows, its span shrinks to them, and a finding left without
/// rows is dropped (an earlier run reported it). Explanations keep the finding's full numbers.
pub fn restrict(findings: Vec<Finding>, keep: &[bool], ts: &Int64Chunked) -> Vec<Finding> {
    findings
        .into_iter()
        .filter_map(|mut f| {
            f.rows.retain(|&r| keep.get(r as usize).copied().unwrap_or(false));
            let times = || f.rows.iter().filter_map(|&r| ts.get(r as usize));
            let (start, end) = (times().min()?, times().max()?);
            f.start = start;
            f.end = end;
            Some(f)
        })
        .collect()
}

/// The timestamps of the events frame as UTC microseconds.
pub fn timestamps(events: &DataFrame) -> PolarsResult<Int64Chunked> {
    Ok(timestamps_ref(events)?.clone())
}

/// The event times (UTC µs) as stored in the frame (a datetime column, or plain integers),
/// without a copy.
pub fn timestamps_ref(events: &DataFrame) -> PolarsResult<&Int64Chunked> {
    let column = events.column(col::TIMESTAMP)?;
    match column.dtype() {
        DataType::Datetime(..) => Ok(column.datetime()?.physical()),
        _ => column.i64(),
    }
}

/// A numeric column read row by row: one slice when it is a single chunk without missing
/// values (the events frame's usually are), else through polars' indexing.
pub enum Numbers<'a, T: PolarsNumericType> {
    Dense(&'a [T::Native]),
    Chunked(&'a ChunkedArray<T>),
}

impl<T: PolarsNumericType> Clone for Numbers<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: PolarsNumericType> Copy for Numbers<'_, T> {}

impl<'a, T: PolarsNumericType> Numbers<'a, T> {
    pub fn of(column: &'a ChunkedArray<T>) -> Self {
        match column.cont_slice() {
            Ok(values) => Numbers::Dense(values),
            Err(_) => Numbers::Chunked(column),
        }
    }

    /// The value of row `i`; `None` when it is missing or past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            Numbers::Dense(values) => values.get(i).copied(),
            Numbers::Chunked(column) => (i < column.len()).then(|| column.get(i)).flatten(),
        }
    }
}

/// Each row's source address as a code that the rows of one address share: the frame's
/// address ids where the GeoIP answers are kept per address, else codes of the address text.
/// Per-address work (parsing, labels, places) is then done once per code.
pub struct AddressCodes<'a> {
    /// Per row: a code below `count`, or [`crate::factor::NULL`] for a row without an address.
    pub codes: std::borrow::Cow<'a, [u32]>,
    pub count: usize,
}

impl<'a> AddressCodes<'a> {
    pub fn of(events: &Events<'a>) -> PolarsResult<Self> {
        let frame = events.frame();
        let ids = frame.column(crate::enrich::geo_col::ADDRESS_ID).ok().and_then(|c| c.u32().ok()?.cont_slice().ok());
        Ok(match (ids, events.places()) {
            (Some(ids), Some(places)) => AddressCodes { codes: ids.into(), count: places.len() },
            _ => {
                let f = crate::factor::factorize_text(frame.column(col::SOURCE_IP)?)?;
                AddressCodes { count: f.values.len(), codes: f.codes.into() }
            }
        })
    }

    /// No addresses: every row without one.
    pub fn none() -> AddressCodes<'static> {
        AddressCodes { codes: std::borrow::Cow::Borrowed(&[]), count: 0 }
    }

    /// Row `i`'s address code; `None` for a row without an address.
    #[inline]
    pub fn get(&self, i: usize) -> Option<u32> {
        self.codes.get(i).copied().filter(|&c| (c as usize) < self.count)
    }
}

/// The /24 (IPv4) or /48 (IPv6) network of each address code ([`AddressCodes`]), worked out
/// once per address from the text of its first row ([`unfamiliar::prefix_of`]); networks are
/// numbered in order of first appearance.
pub struct Networks {
    /// Network names by id, e.g. `192.0.2.0/24`.
    pub names: Vec<String>,
    /// Per address code: its network's id, or [`crate::factor::NULL`] for text that is no
    /// address.
    by_address: Vec<u32>,
}

impl Networks {
    /// No networks (for rows read without addresses).
    pub fn none() -> &'static Networks {
        static NONE: Networks = Networks { names: Vec::new(), by_address: Vec::new() };
        &NONE
    }

    /// The networks of the addresses of rows with `addresses`, whose text is `ip`.
    pub fn of(addresses: &AddressCodes<'_>, ip: Strings<'_>) -> Self {
        let null = crate::factor::NULL;
        let mut by_address = vec![null; addresses.count];
        let mut seen = vec![false; addresses.count];
        let mut ids: PlHashMap<String, u32> = PlHashMap::default();
        let mut names = Vec::new();
        for i in 0..addresses.codes.len() {
            // A code is below the count (`AddressCodes::get`).
            let Some(code) = addresses.get(i).map(|c| c as usize) else { continue };
            if std::mem::replace(&mut seen[code], true) {
                continue;
            }
            if let Some(address) = ip.get(i).and_then(|text| text.parse::<std::net::IpAddr>().ok()) {
                by_address[code] = *ids.entry(unfamiliar::prefix_of(address)).or_insert_with_key(|name| {
                    names.push(name.clone());
                    (names.len() - 1) as u32
                });
            }
        }
        Networks { names, by_address }
    }

    /// The network of the address with `code`; `None` for text that is no address.
    pub fn of_address(&self, code: u32) -> Option<u32> {
        self.by_address.get(code as usize).copied().filter(|&n| n != crate::factor::NULL)
    }
}

/// A text column read row by row: of strings, or of codes into its values (the events
/// frame's, see [`crate::factor::coded`]). A constant column (one value for every row: the file
/// of a single input, a label no key has) is kept as that value ([`Column::new_scalar`]) and
/// read without being made whole.
#[derive(Clone, Copy)]
pub enum Strings<'a> {
    Column(&'a StringChunked),
    Coded(&'a Categorical32Chunked, &'a CategoricalMapping),
    Constant(Option<&'a str>),
}

impl<'a> Strings<'a> {
    /// A column of text; an error for other types.
    pub fn of(column: &'a Column) -> PolarsResult<Self> {
        match column.as_scalar_column() {
            Some(c) if c.dtype() == &DataType::String => Ok(Strings::Constant(c.scalar().value().get_str())),
            _ => Strings::of_series(column.as_materialized_series()),
        }
    }

    /// [`Strings::of`] a series.
    pub fn of_series(column: &'a Series) -> PolarsResult<Self> {
        match column.dtype() {
            DataType::Categorical(..) => {
                let c = column.cat32()?;
                Ok(Strings::Coded(c, c.get_mapping()))
            }
            _ => Ok(Strings::Column(column.str()?)),
        }
    }

    /// The column `name` of `frame`, if it has one.
    pub fn of_frame(frame: &'a DataFrame, name: &str) -> PolarsResult<Option<Self>> {
        frame.column(name).ok().map(Strings::of).transpose()
    }

    /// The value of row `i`; `None` when it is missing or past the end of a column.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Strings::Column(c) => (i < c.len()).then(|| c.get(i)).flatten(),
            Strings::Coded(c, mapping) => mapping.cat_to_str((i < c.len()).then(|| c.physical().get(i)).flatten()?),
            Strings::Constant(v) => *v,
        }
    }
}

/// How explanations name a key: its label and hint (`prod-bot (…9f3c)`), or the credential.
pub fn key_name(key: &str, label: Option<&str>, hint: Option<&str>) -> String {
    let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
    format!("{}{hint}", label.unwrap_or(key))
}

/// One key's events.
pub struct KeyRows<'a> {
    pub key: &'a str,
    /// As explanations name it, see [`key_name`].
    pub name: String,
    /// Rows of the events frame, in time order.
    pub rows: Vec<usize>,
}

/// The events of each key, keys sorted (the frame is sorted by time, so rows are in time order).
pub fn rows_by_key(events: &DataFrame) -> PolarsResult<Vec<KeyRows<'_>>> {
    let cred = crate::factor::factorize_text(events.column(col::CREDENTIAL)?)?;
    let label = Strings::of_frame(events, col::CREDENTIAL_LABEL).ok().flatten();
    let hint = Strings::of_frame(events, col::CREDENTIAL_HINT).ok().flatten();
    // Each key's rows get their room at once (ten million rows: 80 MB, not grown by doubling).
    let mut sizes = vec![0usize; cred.values.len()];
    for &c in &cred.codes {
        if let Some(size) = sizes.get_mut(c as usize) {
            *size += 1;
        }
    }
    let mut rows: Vec<Vec<usize>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for (i, &c) in cred.codes.iter().enumerate() {
        if c != crate::factor::NULL {
            rows[c as usize].push(i);
        }
    }
    let mut keys: Vec<KeyRows<'_>> = cred
        .values
        .iter()
        .zip(rows)
        .map(|(&key, rows)| {
            // Named as the key's first row names it.
            let first = rows[0];
            KeyRows {
                key,
                name: key_name(key, label.and_then(|l| l.get(first)), hint.and_then(|h| h.get(first))),
                rows,
            }
        })
        .collect();
    keys.sort_unstable_by(|a, b| a.key.cmp(b.key));
    Ok(keys)
}

/// Great-circle distance in km (haversine, mean Earth radius 6371.0088 km).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

/// Good–Turing estimate of the probability that the next observation is of a category never
/// seen before (Good 1953, "The population frequencies of species"): `n1 / N`, with add-one
/// smoothing, `(n1 + 1) / (N + 1)`, so that a history with no singletons still leaves room
/// for a new category. `n1` is the number of categories seen exactly once, `N` the number of
/// observations. Empty history gives 1.
pub fn unseen_probability(n1: u64, n: u64) -> f64 {
    ((n1 + 1) as f64 / (n + 1) as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_dense_and_chunked_columns_alike() {
        let dense = Int64Chunked::from_slice("x".into(), &[3, 1, 4]);
        assert!(matches!(Numbers::of(&dense), Numbers::Dense(_)));
        let with_missing = Int64Chunked::from_iter_options("x".into(), [Some(3), None, Some(4)].into_iter());
        let mut chunked = Int64Chunked::from_slice("x".into(), &[3, 1]);
        chunked.append(&Int64Chunked::from_slice("x".into(), &[4])).unwrap();
        for (column, expected) in [
            (&dense, [Some(3), Some(1), Some(4)]),
            (&with_missing, [Some(3), None, Some(4)]),
            (&chunked, [Some(3), Some(1), Some(4)]),
        ] {
            let n = Numbers::of(column);
            assert_eq!([n.get(0), n.get(1), n.get(2)], expected);
            assert_eq!(n.get(3), None, "past the end");
        }
    }

    #[test]
    fn severity_names_and_scores() {
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(Severity::of_score(0.0), Severity::Info);
        assert_eq!(Severity::of_score(20.0), Severity::Low);
        assert_eq!(Severity::of_score(55.0), Severity::Medium);
        assert_eq!(Severity::of_score(100.0), Severity::High);
        assert!(Severity::Critical > Severity::High);
    }

    #[test]
    fn haversine_known_distances() {
        // Frankfurt to Singapore is about 10,260 km.
        let d = haversine_km(50.1109, 8.6821, 1.3521, 103.8198);
        assert!((d - 10_260.0).abs() < 60.0, "{d}");
        assert_eq!(haversine_km(10.0, 10.0, 10.0, 10.0), 0.0);
        // Antipodes: half the circumference.
        assert!((haversine_km(0.0, 0.0, 0.0, 180.0) - 20_015.1).abs() < 1.0);
    }

    #[test]
    fn unseen_probability_edges() {
        assert_eq!(unseen_probability(0, 0), 1.0, "empty history");
        assert!((unseen_probability(0, 99) - 0.01).abs() < 1e-12, "one category seen 99 times");
        assert_eq!(unseen_probability(50, 50), 1.0, "every observation a new category");
    }
}
