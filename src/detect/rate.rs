//! Rate spikes: more requests (or more error responses) in a time bucket than the key's own
//! seasonal baseline allows, and slow rises over days.
//!
//! Requests are counted per key in buckets (weighted by `count`). The expected level of a
//! bucket is the median of earlier buckets at the same place in the week and at the same time
//! on days of the same kind (working day or not), in the organisation's time zone, whichever is
//! higher: a nightly export at 02:00 or a Tuesday campaign is expected at its time. The
//! decision is a tail probability (Poisson, or negative binomial when the history is
//! over-dispersed), Bonferroni-corrected for the number of buckets tested, plus a minimum
//! effect (so that 3 requests instead of 1 do not alarm). Besides the main bucket width
//! (15 minutes for busy keys, an hour for quiet ones, or `--bucket`), five-minute buckets
//! catch short bursts that a coarse count hides.

use super::calendar::WorkCalendar;
use super::stats::{self, bonferroni, format_p, mad, median, upper_tail};
use super::{
    timestamps_ref, AddressCodes, Detection, Detector, Events, Finding, KeyRows, Networks, Note, Numbers, Severity,
    Strings,
};
use crate::error::{Error, Result};
use crate::schema::col;
use crate::text::{duration, thousands};
use chrono::Datelike;
use polars::prelude::*;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::ops::Range;

const NAME: &str = "rate_spike";
const MINUTE: i64 = 60_000_000;
const DAY: i64 = 24 * 60 * MINUTE;

/// Settings of the rate-spike detector.
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    pub calendar: WorkCalendar,
    /// Bucket width in minutes; chosen per key when `None`.
    pub bucket_minutes: Option<i64>,
    /// Width of the extra short-burst buckets, in minutes.
    pub burst_minutes: i64,
    /// Family-wise false-alarm rate per key and bucket width (Bonferroni).
    pub alpha: f64,
    /// A spike must exceed the expected level by at least this many requests…
    pub min_excess: f64,
    /// …and be at least this many times the expected level.
    pub min_ratio: f64,
    /// History a key needs before its buckets are judged.
    pub min_history_days: f64,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            calendar: WorkCalendar::default(),
            bucket_minutes: None,
            burst_minutes: 5,
            alpha: 0.01,
            min_excess: 10.0,
            min_ratio: 2.0,
            min_history_days: 7.0,
        }
    }
}

impl RateConfig {
    /// The main bucket width of a key: `bucket_minutes`, else 15 minutes for busy keys and an
    /// hour for quiet ones.
    fn main_width(&self, cols: &Cols, k: &KeyRows, first: i64, last: i64) -> i64 {
        let total: f64 = k.rows.iter().map(|&i| cols.count.get(i).unwrap_or(1) as f64).sum();
        let per_hour = total / ((last - first) as f64 / (60.0 * MINUTE as f64)).max(1.0);
        self.bucket_minutes.unwrap_or(if per_hour >= BUSY_PER_HOUR { 15 } else { 60 })
    }

    /// Whether a bucket is a spike: significant after Bonferroni and big enough.
    fn is_spike(&self, x: f64, expected: f64, p: f64, threshold: f64, min_excess: f64) -> bool {
        p < threshold && self.is_large(x, expected, min_excess)
    }

    /// Whether a count is far enough above its expected level to be a spike if it is also
    /// significant (checked first: the tail probability costs far more).
    fn is_large(&self, x: f64, expected: f64, min_excess: f64) -> bool {
        x - expected >= min_excess && x >= self.min_ratio * expected
    }
}

/// Every key's request series at its main bucket width with the expected level, its band
/// (+3σ), the tail probability and whether the bucket is a spike: `baseline.parquet`, for
/// analysts tuning thresholds.
pub fn baseline_frame(events: &DataFrame, keys: &[KeyRows<'_>], config: &RateConfig) -> Result<DataFrame> {
    let err = |source| Error::Frame { context: "building the baseline table", source };
    let no_addresses = AddressCodes::none();
    let cols = Cols::read(events, &no_addresses, Networks::none()).map_err(err)?;
    // Each key's series and tail probabilities in parallel; the rows in key order.
    let per_key: Vec<(&str, i64, RateSeries, Vec<Option<f64>>)> = keys
        .par_iter()
        .filter_map(|k| {
            let (first, last) = cols.first_last(&k.rows)?;
            let w = config.main_width(&cols, k, first, last);
            let series = RateSeries::compute(&cols, &k.rows, (first, last), w, Measure::Requests, config);
            let p = series
                .observed
                .iter()
                .zip(&series.expected)
                .map(|(&x, e)| e.map(|(m, var)| upper_tail(x.round() as u64, m, var)))
                .collect();
            Some((k.key, w, series, p))
        })
        .collect();
    let (mut key, mut start, mut width, mut observed, mut expected, mut upper, mut pv, mut flagged) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, w, series, p) in per_key {
        let threshold = bonferroni(config.alpha, series.expected.iter().filter(|e| e.is_some()).count());
        for (b, ((&x, e), p)) in series.observed.iter().zip(&series.expected).zip(p).enumerate() {
            key.push(k);
            start.push(series.start + b as i64 * w * MINUTE);
            width.push(w);
            observed.push(x);
            expected.push(e.map(|(m, _)| m));
            upper.push(e.map(|(m, var)| m + 3.0 * var.sqrt()));
            pv.push(p);
            flagged.push(
                matches!((e, p), (Some((m, _)), Some(p)) if config.is_spike(x, *m, p, threshold, config.min_excess)),
            );
        }
    }
    let n = key.len();
    DataFrame::new(
        n,
        vec![
            StringChunked::from_iter_values(col::CREDENTIAL.into(), key.into_iter()).into_series().into_column(),
            Int64Chunked::from_vec("bucket_start".into(), start)
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_series()
                .into_column(),
            Int64Chunked::from_vec("width_minutes".into(), width).into_series().into_column(),
            Float64Chunked::from_vec("requests".into(), observed).into_series().into_column(),
            Float64Chunked::from_iter_options("expected".into(), expected.into_iter()).into_series().into_column(),
            Float64Chunked::from_iter_options("expected_upper".into(), upper.into_iter()).into_series().into_column(),
            Float64Chunked::from_iter_options("p_value".into(), pv.into_iter()).into_series().into_column(),
            BooleanChunked::from_iter_values("spike".into(), flagged.into_iter()).into_series().into_column(),
        ],
    )
    .map_err(err)
}

/// The rate-spike detector.
#[derive(Debug, Clone, Default)]
pub struct RateSpike {
    pub config: RateConfig,
}

/// Keys with at least this many requests per hour get 15-minute buckets, others hourly ones.
const BUSY_PER_HOUR: f64 = 4.0;
/// Spikes from the key's usual sources only are capped at `low`.
const KNOWN_SOURCES_MAX_SCORE: f64 = 50.0;
/// A network is one of the key's usual ones when first used at least this long (µs) before a
/// spike (an attacker who started a little earlier is still new).
const USUAL_AFTER: i64 = DAY;
/// A bytes spike must exceed the expected volume by at least this many bytes.
const MIN_BYTES_EXCESS: f64 = 10e6;
/// Lowest expected level, so that an idle hour still has a finite surprise.
const FLOOR: f64 = 0.2;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Requests,
    Errors,
    /// Response bytes, in units of the key's median response size, so that the count model
    /// applies (a request-equivalent).
    Bytes,
}

impl Measure {
    fn kind(self) -> &'static str {
        match self {
            Measure::Requests => "volume_spike",
            Measure::Errors => "error_spike",
            Measure::Bytes => "bytes_spike",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Errors => "error responses (401, 403, 404, 429)",
            Measure::Bytes => "sent",
        }
    }

    /// What one event adds to this measure.
    fn value(self, cols: &Cols, i: usize) -> f64 {
        match self {
            Measure::Requests => cols.count.get(i).unwrap_or(1) as f64,
            Measure::Errors if matches!(cols.status.get(i), Some(401 | 403 | 404 | 429)) => {
                cols.count.get(i).unwrap_or(1) as f64
            }
            Measure::Errors => 0.0,
            Measure::Bytes => cols.bytes.get(i).unwrap_or(0).max(0) as f64 / cols.byte_unit,
        }
    }
}

#[derive(Clone, Copy)]
struct Cols<'a> {
    ts: Numbers<'a, Int64Type>,
    count: Numbers<'a, Int64Type>,
    status: Numbers<'a, Int32Type>,
    address: &'a AddressCodes<'a>,
    /// The network of each address.
    networks: &'a Networks,
    bytes: Numbers<'a, Int64Type>,
    /// The current key's median response size (bytes per request-equivalent).
    byte_unit: f64,
}

impl<'a> Cols<'a> {
    fn read(events: &'a DataFrame, address: &'a AddressCodes<'a>, networks: &'a Networks) -> PolarsResult<Self> {
        Ok(Cols {
            ts: Numbers::of(timestamps_ref(events)?),
            count: Numbers::of(events.column(col::COUNT)?.i64()?),
            status: Numbers::of(events.column(col::STATUS)?.i32()?),
            address,
            networks,
            bytes: Numbers::of(events.column(col::BYTES)?.i64()?),
            byte_unit: 1.0,
        })
    }

    /// The first and last time of rows in time order.
    fn first_last(&self, rows: &[usize]) -> Option<(i64, i64)> {
        let first = rows.iter().find_map(|&i| self.ts.get(i))?;
        Some((first, rows.iter().rev().find_map(|&i| self.ts.get(i))?))
    }
}

/// A run of flagged buckets.
struct Spike {
    measure: Measure,
    width: i64,
    first: usize,
    last: usize,
    observed: f64,
    expected: f64,
    p: f64,
    /// Local description of the first bucket, e.g. "Sat 00:45".
    when: String,
}

/// A key's counts per bucket with the expected level of each bucket: what the detector tests
/// and what the incident charts draw.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSeries {
    /// Start of the first bucket (UTC µs).
    pub start: i64,
    pub width_minutes: i64,
    pub observed: Vec<f64>,
    /// Expected level and variance of each bucket that has enough history (`None` before).
    pub expected: Vec<Option<(f64, f64)>>,
}

impl RateSeries {
    /// Counts `measure` in buckets of `width` minutes from `first` to `last`; the expected level
    /// of a bucket is the median of earlier buckets at the same place in the week or at the same
    /// time on days of the same kind (the higher), its variance the larger of that median and
    /// the squared MAD of those samples.
    fn compute(
        cols: &Cols,
        rows: &[usize],
        (first, last): (i64, i64),
        width: i64,
        measure: Measure,
        cfg: &RateConfig,
    ) -> Self {
        let mut all = Self::compute_all(cols, rows, (first, last), &[width], [measure], cfg, ALL_TIME);
        let [series] = all.remove(0);
        series
    }

    /// [`RateSeries::compute`] for several measures at several bucket widths (minutes), all
    /// counted in one pass over the rows, with expected levels only for the buckets that
    /// overlap `levels` (UTC µs, inclusive). One series per measure, for each width in turn.
    fn compute_all<const M: usize>(
        cols: &Cols,
        rows: &[usize],
        (first, last): (i64, i64),
        widths: &[i64],
        measures: [Measure; M],
        cfg: &RateConfig,
        levels: (i64, i64),
    ) -> Vec<[Self; M]> {
        // Per width: bucket length (µs), start of the first bucket, and the buckets.
        let grids: Vec<(i64, i64, usize)> = widths
            .iter()
            .map(|&width| {
                let w = width * MINUTE;
                let t0 = first.div_euclid(w) * w;
                (w, t0, ((last - t0) / w + 1) as usize)
            })
            .collect();
        let mut observed: Vec<[Vec<f64>; M]> =
            grids.iter().map(|&(_, _, n)| std::array::from_fn(|_| vec![0f64; n])).collect();
        for &i in rows {
            let Some(t) = cols.ts.get(i) else { continue };
            if t > last {
                continue;
            }
            let values = measures.map(|m| m.value(cols, i));
            for (counts, &(w, t0, _)) in observed.iter_mut().zip(&grids) {
                if t >= t0 {
                    let b = ((t - t0) / w) as usize;
                    for (counts, value) in counts.iter_mut().zip(values) {
                        counts[b] += value;
                    }
                }
            }
        }
        let judged_from = first + (cfg.min_history_days * DAY as f64) as i64;
        observed
            .into_iter()
            .zip(widths.iter().zip(grids))
            .map(|(observed, (&width, (w, t0, n)))| {
                // The measures' buckets share their places in the week and the day.
                let seasons = Seasons::of(t0, n, width, cfg);
                // Buckets with history enough that overlap `levels`: a range, as bucket
                // starts grow.
                let start = |b: usize| t0 + b as i64 * w;
                let judged_start = (0..n).find(|&b| start(b) >= judged_from && start(b) + w > levels.0).unwrap_or(n);
                let judged = judged_start..(judged_start..n).find(|&b| start(b) > levels.1).unwrap_or(n);
                observed.map(|observed| Self::expecting(observed, t0, width, &seasons, judged.clone()))
            })
            .collect()
    }

    /// The series of counts `observed` (in buckets of `width` minutes from `t0`, whose places
    /// in the week and the day are `seasons`) with the expected level of the buckets `judged`
    /// (`None` for the others).
    fn expecting(observed: Vec<f64>, t0: i64, width: i64, seasons: &Seasons, judged: Range<usize>) -> Self {
        // Earlier buckets by place in the week (hour of the week, part of the hour), and by
        // time on days of one kind (working or not, hour, part of the hour), each kept sorted.
        let mut weekly: Vec<Vec<f64>> = vec![Vec::new(); seasons.weekly];
        let mut daily: Vec<Vec<f64>> = vec![Vec::new(); seasons.daily];
        let mut expected = vec![None; observed.len()];
        for (b, (&x, &(wk, dk))) in observed.iter().zip(&seasons.of_bucket).enumerate() {
            let (w_samples, d_samples) = (&weekly[wk as usize], &daily[dk as usize]);
            if judged.contains(&b) {
                let mw = stats::sorted_median(w_samples).unwrap_or(0.0);
                let md = if d_samples.len() >= 3 { stats::sorted_median(d_samples).unwrap_or(0.0) } else { 0.0 };
                // The spread of the samples whose median is the level.
                let (level, samples) = if mw >= md { (mw, w_samples) } else { (md, d_samples) };
                let spread = stats::sorted_mad_about(samples, level).unwrap_or(0.0);
                let level = level.max(FLOOR);
                expected[b] = Some((level, (spread * spread).max(level)));
            }
            stats::insert_sorted(&mut weekly[wk as usize], x);
            stats::insert_sorted(&mut daily[dk as usize], x);
        }
        RateSeries { start: t0, width_minutes: width, observed, expected }
    }
}

/// Each bucket's place in the week (hour of the week and part of the hour) and in the day
/// (working day or not, hour, part of the hour), in the calendar's time zone.
struct Seasons {
    /// Per bucket: (place in the week, place in the day).
    of_bucket: Vec<(u16, u16)>,
    /// How many places in the week and in the day there are.
    weekly: usize,
    daily: usize,
}

impl Seasons {
    /// The places of `n` buckets of `width` minutes from `t0`.
    fn of(t0: i64, n: usize, width: i64, cfg: &RateConfig) -> Self {
        let w = width * MINUTE;
        let cal = &cfg.calendar;
        let per_hour = (60 / width).max(1) as usize;
        let (weekly, daily) = (7 * 24 * per_hour, 2 * 24 * per_hour);
        let mut clock = cal.clock();
        let of_bucket = (0..n)
            .map(|b| {
                let local = clock.local(t0 + b as i64 * w);
                let sub = (local.minute as usize / width.max(1) as usize).min(per_hour.saturating_sub(1));
                let wk = (local.hour_of_week() * per_hour + sub).min(weekly - 1);
                let dk = ((usize::from(cal.is_working_day(&local)) * 24 + local.hour as usize) * per_hour + sub)
                    .min(daily - 1);
                (wk as u16, dk as u16)
            })
            .collect();
        Seasons { of_bucket, weekly, daily }
    }
}

/// All time: expected levels for every bucket ([`RateSeries::compute_all`]).
const ALL_TIME: (i64, i64) = (i64::MIN, i64::MAX);

/// The request series of one key (rows of the events frame, in time order) in buckets of
/// `width_minutes`, from its first event to its last or to the end of `shown`, whichever is
/// earlier, with the expected level the rate detector uses for the buckets that overlap `shown`
/// (UTC µs, inclusive; a chart's span). The levels of other buckets are `None`: each costs two
/// medians, and a chart shows a few of a month's buckets. Later rows are not looked at.
pub fn request_series(
    events: &DataFrame,
    rows: &[usize],
    width_minutes: i64,
    config: &RateConfig,
    shown: (i64, i64),
) -> Result<RateSeries> {
    let no_addresses = AddressCodes::none();
    let cols = Cols::read(events, &no_addresses, Networks::none())
        .map_err(|source| Error::Frame { context: "computing a request series", source })?;
    let Some((first, last)) = cols.first_last(rows) else {
        return Ok(RateSeries { start: 0, width_minutes, observed: Vec::new(), expected: Vec::new() });
    };
    // To the end of the bucket that the window ends in, whose rows all count.
    let w = width_minutes * MINUTE;
    let t0 = first.div_euclid(w) * w;
    let bucket_end = (shown.1.max(first).saturating_sub(t0) / w).saturating_add(1).saturating_mul(w);
    let end = last.min(t0.saturating_add(bucket_end) - 1);
    let rows = &rows[..rows.partition_point(|&i| cols.ts.get(i).is_none_or(|t| t <= end))];
    let mut all =
        RateSeries::compute_all(&cols, rows, (first, end), &[width_minutes], [Measure::Requests], config, shown);
    let [series] = all.remove(0);
    Ok(series)
}

impl Spike {
    /// First and end instant (UTC µs) of the spike's buckets, for a key whose first event is
    /// at `first`.
    fn span(&self, first: i64) -> (i64, i64) {
        let w = self.width * MINUTE;
        let t0 = first.div_euclid(w) * w;
        (t0 + self.first as i64 * w, t0 + (self.last as i64 + 1) * w)
    }
}

impl Detector for RateSpike {
    fn name(&self) -> &'static str {
        NAME
    }

    fn detect_keys(&self, events: &Events<'_>, keys: &[KeyRows<'_>]) -> Result<Detection> {
        let err = |source| Error::Frame { context: "reading events for the rate-spike detector", source };
        let addresses = AddressCodes::of(events).map_err(err)?;
        let networks = Networks::of(&addresses, events.column(col::SOURCE_IP).and_then(Strings::of).map_err(err)?);
        let cols = Cols::read(events, &addresses, &networks).map_err(err)?;
        // Keys are independent: judged in parallel, merged in key order.
        let per_key: Vec<Detection> = keys
            .par_iter()
            .map(|k| {
                let sizes: Vec<f64> = k
                    .rows
                    .iter()
                    .filter_map(|&i| Some(cols.bytes.get(i)? as f64 / cols.count.get(i).unwrap_or(1).max(1) as f64))
                    .collect();
                let cols = Cols { byte_unit: median(&sizes).unwrap_or(1.0).max(1.0), ..cols };
                let mut out = Detection::default();
                self.detect_key(&cols, k, &mut out);
                out
            })
            .collect();
        let mut out = Detection::merge(per_key);
        out.findings.sort_by(Finding::order);
        Ok(out)
    }
}

/// For each address of a key's `rows` (in time order), when the key first used the address's
/// network (/24, /48).
fn network_first_used(cols: &Cols, rows: &[usize]) -> PlHashMap<u32, i64> {
    let mut network_first = vec![None; cols.networks.names.len()];
    let mut seen = vec![false; cols.address.count];
    let mut addresses: Vec<(u32, u32)> = Vec::new();
    for &i in rows {
        let (Some(address), Some(t)) = (cols.address.get(i), cols.ts.get(i)) else { continue };
        // A code is below the count (`AddressCodes::get`).
        if !std::mem::replace(&mut seen[address as usize], true) {
            if let Some(network) = cols.networks.of_address(address) {
                network_first[network as usize].get_or_insert(t);
                addresses.push((address, network));
            }
        }
    }
    addresses.into_iter().filter_map(|(address, network)| Some((address, network_first[network as usize]?))).collect()
}

impl RateSpike {
    fn detect_key(&self, cols: &Cols, k: &KeyRows, out: &mut Detection) {
        let cfg = &self.config;
        let Some((first, last)) = cols.first_last(&k.rows) else { return };
        if ((last - first) as f64) < cfg.min_history_days * DAY as f64 {
            out.notes.push(Note {
                detector: NAME,
                credential: k.key.to_string(),
                message: format!(
                    "insufficient baseline for {}'s request rate: {:.1} days of traffic, where more than {} are needed",
                    k.name,
                    (last - first) as f64 / DAY as f64,
                    cfg.min_history_days
                ),
            });
            return;
        }
        let main = cfg.main_width(cols, k, first, last);
        let mut widths = vec![main];
        if cfg.burst_minutes < main {
            widths.push(cfg.burst_minutes);
        }
        let first_seen = network_first_used(cols, &k.rows);

        let mut spikes: Vec<Spike> = Vec::new();
        let measures = [Measure::Requests, Measure::Errors, Measure::Bytes];
        let all = RateSeries::compute_all(cols, &k.rows, (first, last), &widths, measures, cfg, ALL_TIME);
        for (&width, all) in widths.iter().zip(all) {
            for (measure, series) in measures.into_iter().zip(all) {
                let found = self.spikes(cols, &series, width, measure);
                // A burst already inside a spike of the main width adds nothing.
                for s in found {
                    let (start, _) = s.span(first);
                    let covered = spikes.iter().any(|o| {
                        let (o0, o1) = o.span(first);
                        o.measure == s.measure && start >= o0 && start < o1
                    });
                    if !covered {
                        spikes.push(s);
                    }
                }
            }
        }
        for s in spikes {
            out.findings.push(self.finding(cols, k, first, &first_seen, s));
        }
        out.findings.extend(self.sustained_rise(cols, k, &first_seen));
    }

    /// A rise over days that no single bucket shows: daily totals (local days) against the
    /// median of up to 14 earlier days of the same kind, two or more days in a row.
    fn sustained_rise(&self, cols: &Cols, k: &KeyRows, first_seen: &PlHashMap<u32, i64>) -> Option<Finding> {
        let cfg = &self.config;
        let cal = &cfg.calendar;
        // Per local day: requests, whether a working day, first time. Rows in time order come
        // day after day: a day's requests are summed, then added to the map once.
        let mut days: BTreeMap<chrono::NaiveDate, (f64, bool, i64)> = BTreeMap::new();
        let mut add = |(date, day): (chrono::NaiveDate, (f64, bool, i64))| {
            days.entry(date).or_insert((0.0, day.1, day.2)).0 += day.0;
        };
        let mut clock = cal.clock();
        let mut today: Option<(chrono::NaiveDate, (f64, bool, i64))> = None;
        for &i in &k.rows {
            let Some(t) = cols.ts.get(i) else { continue };
            let l = clock.local(t);
            let requests = cols.count.get(i).unwrap_or(1) as f64;
            match &mut today {
                Some((date, day)) if *date == l.date => day.0 += requests,
                _ => {
                    if let Some(day) = today.take() {
                        add(day);
                    }
                    today = Some((l.date, (requests, cal.is_working_day(&l), t)));
                }
            }
        }
        if let Some(day) = today {
            add(day);
        }
        // Every day from the first to the last, quiet ones as zero.
        let (&d0, &d1) = (days.keys().next()?, days.keys().next_back()?);
        let all: Vec<(chrono::NaiveDate, f64, bool)> = d0
            .iter_days()
            .take_while(|d| *d <= d1)
            .map(|d| {
                let (n, working, _) = days.get(&d).copied().unwrap_or((
                    0.0,
                    cal.days[d.weekday().num_days_from_monday() as usize] && !cal.holidays.contains(&d),
                    0,
                ));
                (d, n, working)
            })
            .collect();
        let judged_from = cfg.min_history_days.ceil() as usize;
        let tested = all.len().saturating_sub(judged_from);
        if tested == 0 {
            return None;
        }
        let threshold = bonferroni(cfg.alpha, tested);
        let mut run: Vec<(usize, f64, f64)> = Vec::new();
        let mut best: Option<Vec<(usize, f64, f64)>> = None;
        for (idx, &(_, x, working)) in all.iter().enumerate().skip(judged_from) {
            let samples: Vec<f64> =
                all[..idx].iter().rev().filter(|(_, _, w)| *w == working).take(14).map(|(_, n, _)| *n).collect();
            let flagged = samples.len() >= 4 && {
                let expected = median(&samples).unwrap_or(0.0).max(FLOOR);
                let spread = mad(&samples).unwrap_or(0.0);
                let p = upper_tail(x.round() as u64, expected, (spread * spread).max(expected));
                let ok = p < threshold && x >= 1.5 * expected && x - expected >= cfg.min_excess.max(0.2 * expected);
                if ok {
                    run.push((idx, x, expected));
                }
                ok
            };
            if !flagged {
                if run.len() >= 2 && best.as_ref().is_none_or(|b| run.len() > b.len()) {
                    best = Some(run.clone());
                }
                run.clear();
            }
        }
        if run.len() >= 2 && best.as_ref().is_none_or(|b| run.len() > b.len()) {
            best = Some(run);
        }
        let run = best?;
        let (from_day, to_day) = (all[run[0].0].0, all[run[run.len() - 1].0].0);
        let observed: f64 = run.iter().map(|r| r.1).sum();
        let expected: f64 = run.iter().map(|r| r.2).sum();
        let ratio = observed / expected.max(FLOOR);
        // The rise's own events: requests from networks first used during it.
        let mut clock = cal.clock();
        let mut in_run = |t: i64| {
            let d = clock.local(t).date;
            d >= from_day && d <= to_day
        };
        let run_start = k.rows.iter().filter_map(|&i| cols.ts.get(i)).find(|&t| in_run(t)).unwrap_or(0);
        let rows: Vec<u32> = k
            .rows
            .iter()
            .copied()
            .filter(|&i| cols.ts.get(i).is_some_and(&mut in_run))
            .filter(|&i| cols.address.get(i).and_then(|a| first_seen.get(&a)).is_some_and(|seen| *seen >= run_start))
            .map(|i| i as u32)
            .collect();
        let new_requests: f64 = rows.iter().map(|&i| cols.count.get(i as usize).unwrap_or(1) as f64).sum();
        let excess = observed - expected;
        let from_new = new_requests >= 0.5 * excess;
        let score: f64 = if from_new { 60.0 } else { 40.0 };
        let (start, end) = match (rows.first(), rows.last()) {
            (Some(&a), Some(&b)) => {
                (cols.ts.get(a as usize).unwrap_or(run_start), cols.ts.get(b as usize).unwrap_or(run_start))
            }
            _ => (run_start, run_start),
        };
        Some(Finding {
            detector: NAME,
            kind: "sustained_rise",
            credential: k.key.to_string(),
            start,
            end,
            rows,
            score,
            severity: Severity::of_score(score),
            explanation: format!(
                "{} requests over {} days ({} to {}) for key {} vs an expected {}; {:.1}× the baseline, day after day{}",
                thousands(observed),
                run.len(),
                from_day,
                to_day,
                k.name,
                thousands(expected),
                ratio,
                if from_new {
                    format!("; {} of them from networks the key never used before", thousands(new_requests))
                } else {
                    "; from the key's usual networks".to_string()
                }
            ),
        })
    }

    /// Runs of anomalous buckets of one width and measure.
    fn spikes(&self, cols: &Cols, series: &RateSeries, width: i64, measure: Measure) -> Vec<Spike> {
        let cfg = &self.config;
        if series.observed.iter().all(|v| *v == 0.0) {
            return Vec::new();
        }
        let tested = series.expected.iter().filter(|e| e.is_some()).count();
        // Response sizes vary far more than counts: a bytes spike must also be large in bytes.
        let min_excess = match measure {
            Measure::Bytes => cfg.min_excess.max(MIN_BYTES_EXCESS / cols.byte_unit),
            _ => cfg.min_excess,
        };
        let threshold = bonferroni(cfg.alpha, tested);
        let mut flagged: Vec<(usize, f64, f64, String)> = Vec::new();
        for (b, (&x, expected)) in series.observed.iter().zip(&series.expected).enumerate() {
            let Some((expected, variance)) = *expected else { continue };
            if !cfg.is_large(x, expected, min_excess) {
                continue;
            }
            let p = upper_tail(x.round() as u64, expected, variance);
            if p < threshold {
                let local = cfg.calendar.local(series.start + b as i64 * width * MINUTE);
                let when = format!("{} {:02}:{:02}", local.weekday, local.hour, local.minute);
                flagged.push((b, expected, p, when));
            }
        }
        // Adjacent flagged buckets (one quiet bucket between them at most) are one spike.
        let values = &series.observed;
        let mut out: Vec<Spike> = Vec::new();
        for (b, expected, p, when) in flagged {
            match out.last_mut() {
                Some(s) if b <= s.last + 2 => {
                    s.observed += values[s.last + 1..=b].iter().sum::<f64>();
                    s.last = b;
                    s.expected += expected;
                    s.p = s.p.min(p);
                }
                _ => out.push(Spike { measure, width, first: b, last: b, observed: values[b], expected, p, when }),
            }
        }
        out
    }

    fn finding(&self, cols: &Cols, k: &KeyRows, first: i64, first_seen: &PlHashMap<u32, i64>, s: Spike) -> Finding {
        let (from, to) = s.span(first);
        let in_spike: Vec<usize> = k
            .rows
            .iter()
            .copied()
            .filter(|&i| cols.ts.get(i).is_some_and(|t| t >= from && t < to))
            .filter(|&i| s.measure.value(cols, i) > 0.0)
            .collect();
        // Which of those requests came from networks the key had used well before the spike?
        let known = |i: usize| {
            cols.address.get(i).and_then(|a| first_seen.get(&a)).is_some_and(|seen| *seen < from - USUAL_AFTER)
        };
        let weight = |i: usize| s.measure.value(cols, i);
        let known_requests: f64 = in_spike.iter().filter(|&&i| known(i)).map(|&i| weight(i)).sum();
        let new_requests: f64 = in_spike.iter().filter(|&&i| !known(i)).map(|&i| weight(i)).sum();
        let excess = s.observed - s.expected;
        // Amounts as people read them: requests, or bytes.
        let quantity = |v: f64| match s.measure {
            Measure::Bytes => crate::text::bytes(v * cols.byte_unit),
            _ => thousands(v),
        };
        // Known sources that would not make a spike on their own: the excess is the new
        // sources', and only their requests are flagged. Otherwise the whole bucket is.
        let cfg = &self.config;
        let known_normal = known_requests < cfg.min_ratio * s.expected || known_requests - s.expected < cfg.min_excess;
        let (rows, source_note, from_known_only) = if known_normal && new_requests > 0.0 {
            (
                in_spike.iter().copied().filter(|&i| !known(i)).collect::<Vec<_>>(),
                format!("; {} of them from networks the key never used before", quantity(new_requests)),
                false,
            )
        } else if new_requests < 0.1 * excess {
            (in_spike.clone(), "; from the key's usual networks".to_string(), true)
        } else {
            (in_spike.clone(), String::new(), false)
        };
        let ratio = s.observed / s.expected.max(FLOOR);
        let mut score = (15.0 + 20.0 * ratio.log2()).clamp(20.0, 85.0);
        if from_known_only {
            score = score.min(KNOWN_SOURCES_MAX_SCORE);
        }
        let score = score.round();
        let tz = self.config.calendar.tz.name();
        let expected_amount =
            |v: f64| if v < 10.0 && s.measure != Measure::Bytes { format!("{v:.1}") } else { quantity(v) };
        let explanation = format!(
            "{} {} in {} for key {} vs an expected {} for {}–{} ({tz}) ({}); {}× the baseline{source_note}",
            quantity(s.observed),
            s.measure.noun(),
            duration(to - from),
            k.name,
            expected_amount(s.expected),
            s.when,
            {
                let end = cfg.calendar.local(to);
                format!("{:02}:{:02}", end.hour, end.minute)
            },
            format_p(s.p),
            if ratio >= 10.0 { format!("{ratio:.0}") } else { format!("{ratio:.1}") },
        );
        let mut rows: Vec<u32> = rows.into_iter().map(|i| i as u32).collect();
        rows.sort_unstable();
        let start = rows.first().and_then(|&i| cols.ts.get(i as usize)).unwrap_or(from);
        let end = rows.last().and_then(|&i| cols.ts.get(i as usize)).unwrap_or(to);
        Finding {
            detector: NAME,
            kind: s.measure.kind(),
            credential: k.key.to_string(),
            start,
            end,
            rows,
            score,
            severity: Severity::of_score(score),
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONDAY: i64 = 1_791_158_400_000_000; // 2026-10-05 00:00 UTC

    /// (minute since MONDAY, source ip, status)
    fn frame(events: &[(i64, &str, i32)]) -> DataFrame {
        let mut events = events.to_vec();
        events.sort();
        let n = events.len();
        DataFrame::new(
            n,
            vec![
                Column::new(col::TIMESTAMP.into(), events.iter().map(|e| MONDAY + e.0 * MINUTE).collect::<Vec<_>>()),
                Column::new(col::CREDENTIAL.into(), vec!["k"; n]),
                Column::new(col::CREDENTIAL_LABEL.into(), vec![None::<&str>; n]),
                Column::new(col::CREDENTIAL_HINT.into(), vec![None::<&str>; n]),
                Column::new(col::SOURCE_IP.into(), events.iter().map(|e| e.1).collect::<Vec<_>>()),
                Column::new(col::STATUS.into(), events.iter().map(|e| e.2).collect::<Vec<_>>()),
                Column::new(col::COUNT.into(), vec![1i64; n]),
                // Small responses, except from the 192.0.2.0/24 "bulk" client: 2 MB each.
                Column::new(
                    col::BYTES.into(),
                    events
                        .iter()
                        .map(|e| if e.1.starts_with("192.0.2.") { 2_000_000i64 } else { 1_000 })
                        .collect::<Vec<_>>(),
                ),
            ],
        )
        .unwrap()
    }

    fn detect(events: &[(i64, &str, i32)]) -> Detection {
        RateSpike::default().detect(&frame(events)).unwrap()
    }

    /// A steady key: one request every 2 minutes from one server, for `days` days.
    fn steady(days: i64) -> Vec<(i64, &'static str, i32)> {
        (0..days * 24 * 30).map(|i| (i * 2, "198.51.100.1", 200)).collect()
    }

    /// A chart's series (levels only where it is shown, rows after it not looked at) is the
    /// whole series where it is shown, for windows at the start, in the middle, reaching past
    /// the key's last event, and before its first.
    #[test]
    fn a_shown_window_gives_the_whole_series_levels_there() {
        let mut e = steady(12);
        // An irregular day, so that levels differ from bucket to bucket.
        e.extend((0..300).map(|i| (9 * 24 * 60 + 600 + i * 3 + i % 7, "203.0.113.5", 404)));
        let frame = frame(&e);
        let rows: Vec<usize> = (0..frame.height()).collect();
        let cfg = RateConfig::default();
        let whole = request_series(&frame, &rows, 15, &cfg, ALL_TIME).unwrap();
        assert!(whole.expected.iter().filter(|e| e.is_some()).count() > 400);
        let day = 24 * 60 * MINUTE;
        for (from, to) in [(0, day), (8 * day, 10 * day + 1), (11 * day, 20 * day), (-5 * day, -day)] {
            let shown = (MONDAY + from, MONDAY + to);
            let part = request_series(&frame, &rows, 15, &cfg, shown).unwrap();
            assert_eq!((part.start, part.width_minutes), (whole.start, whole.width_minutes));
            assert!(part.observed.len() <= whole.observed.len());
            let w = 15 * MINUTE;
            for (b, (x, e)) in part.observed.iter().zip(&part.expected).enumerate() {
                assert_eq!(*x, whole.observed[b], "bucket {b}");
                let start = part.start + b as i64 * w;
                let in_window = start + w > shown.0 && start <= shown.1;
                assert_eq!(*e, if in_window { whole.expected[b] } else { None }, "bucket {b} of {shown:?}");
            }
            // The series reaches the end of the window (or the key's last event).
            let end = part.start + part.observed.len() as i64 * w;
            assert!(end > shown.1.min(MONDAY + 12 * day - 2 * MINUTE).max(MONDAY), "{shown:?}");
        }
    }

    #[test]
    fn empty_one_row_and_too_little_history() {
        assert_eq!(detect(&[]), Detection::default());
        let d = detect(&[(0, "198.51.100.1", 200)]);
        assert!(d.findings.is_empty());
        assert!(d.notes[0].message.starts_with("insufficient baseline"), "{:?}", d.notes);
    }

    #[test]
    fn a_constant_series_has_no_spike_even_with_mad_zero() {
        let d = detect(&steady(14));
        assert!(d.findings.is_empty(), "{:?}", d.findings);
        assert!(d.notes.is_empty());
    }

    #[test]
    fn a_bulk_export_from_a_new_network_is_high_and_only_its_requests_are_flagged() {
        let mut e = steady(10);
        let n = e.len() as u32;
        let at = 10 * 24 * 60 + 3 * 60; // day 10, 03:00
        e.extend((0..600).map(|i| (at + i / 20, "203.0.113.50", 200)));
        let d = detect(&e);
        assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
        let f = &d.findings[0];
        assert_eq!((f.kind, f.severity), ("volume_spike", Severity::High));
        assert_eq!(f.rows.len(), 600, "the server's own requests in the same buckets are not flagged");
        assert!(f.rows.iter().all(|&r| r >= n));
        assert_eq!(
            f.explanation,
            "600 requests in 30 min for key k vs an expected 15 for Thu 03:00–03:30 (UTC) (p < 1e-12); 40× the baseline; 600 of them from networks the key never used before"
        );
    }

    #[test]
    fn a_nightly_job_and_a_weekly_campaign_are_expected_at_their_time() {
        let mut e = steady(21);
        for day in 0..21 {
            // Every night at 02:00, 300 requests.
            e.extend((0..300).map(|i| (day * 1440 + 120 + i / 30, "198.51.100.1", 200)));
        }
        for week in 0..3 {
            // Tuesdays at 10:00, 400 requests.
            e.extend((0..400).map(|i| (week * 7 * 1440 + 1440 + 600 + i / 20, "198.51.100.1", 200)));
        }
        let d = detect(&e);
        assert!(d.findings.is_empty(), "{:?}", d.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
    }

    #[test]
    fn an_unscheduled_burst_from_the_usual_source_is_at_most_low() {
        let mut e = steady(14);
        e.extend((0..400).map(|i| (13 * 1440 + 15 * 60 + i / 20, "198.51.100.1", 200)));
        let d = detect(&e);
        assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
        assert_eq!(d.findings[0].severity, Severity::Low);
        assert!(d.findings[0].explanation.ends_with("from the key's usual networks"), "{}", d.findings[0].explanation);
    }

    #[test]
    fn a_short_burst_that_a_coarse_bucket_hides_is_caught() {
        // A busy key (15-minute buckets): 4 requests a minute. 50 more in five minutes are
        // under 2× in their 15-minute bucket, but 3.5× in five minutes.
        let mut e: Vec<_> = (0..14 * 1440 * 4).map(|i| (i / 4, "198.51.100.1", 200)).collect();
        e.extend((0..50).map(|i| (13 * 1440 + 600 + i / 10, "203.0.113.9", 200)));
        let d = detect(&e);
        assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
        assert!(d.findings[0].explanation.starts_with("70 requests in 5 min"), "{}", d.findings[0].explanation);
        assert_eq!(d.findings[0].rows.len(), 50);
    }

    #[test]
    fn a_slow_rise_over_days_is_found_where_no_bucket_is() {
        // 1 request every 2 minutes for 14 days, then 1.8× for four days from a new network:
        // no 15-minute bucket doubles, but the days do.
        let mut e = steady(18);
        e.extend((14 * 720..18 * 720).map(|i| (i * 2 + 1, "203.0.113.77", 200)).filter(|(m, _, _)| m % 5 != 0));
        let df = frame(&e);
        let d = RateSpike::default().detect(&df).unwrap();
        let kinds: Vec<_> = d.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec!["sustained_rise"],
            "{:?}",
            d.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>()
        );
        let f = &d.findings[0];
        assert_eq!(f.severity, Severity::Medium, "{}", f.explanation);
        assert!(
            f.explanation.contains("over 4 days") && f.explanation.contains("never used before"),
            "{}",
            f.explanation
        );
        let ip = df.column(col::SOURCE_IP).unwrap().str().unwrap().clone();
        assert!(!f.rows.is_empty());
        assert!(
            f.rows.iter().all(|&r| ip.get(r as usize) == Some("203.0.113.77")),
            "only the new network's requests are flagged"
        );
    }

    #[test]
    fn null_addresses_and_statuses_do_not_break_detection() {
        let n = 100;
        let df = DataFrame::new(
            n,
            vec![
                Column::new(col::TIMESTAMP.into(), (0..n as i64).map(|i| MONDAY + i * MINUTE).collect::<Vec<_>>()),
                Column::new(col::CREDENTIAL.into(), vec!["k"; n]),
                Column::new(col::CREDENTIAL_LABEL.into(), vec![None::<&str>; n]),
                Column::new(col::CREDENTIAL_HINT.into(), vec![None::<&str>; n]),
                Column::new(col::SOURCE_IP.into(), vec![None::<&str>; n]),
                Column::new(col::STATUS.into(), vec![None::<i32>; n]),
                Column::new(col::COUNT.into(), vec![1i64; n]),
                Column::new(col::BYTES.into(), vec![None::<i64>; n]),
            ],
        )
        .unwrap();
        let d = RateSpike::default().detect(&df).unwrap();
        assert!(d.findings.is_empty());
    }

    #[test]
    fn large_responses_at_an_ordinary_rate_are_a_bytes_spike() {
        // Six requests in 15 minutes, fewer than usual, but each fetches a 2 MB page.
        let mut e = steady(10);
        e.extend((0..6).map(|i| (10 * 1440 + 600 + i * 2, "192.0.2.10", 200)));
        let d = detect(&e);
        let kinds: Vec<_> = d.findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec!["bytes_spike"], "{:?}", d.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
        let f = &d.findings[0];
        assert!(
            f.explanation.starts_with("12.0 MB sent in 15 min")
                && f.explanation.contains("12.0 MB of them from networks the key never used before"),
            "{}",
            f.explanation
        );
        assert_eq!(f.rows.len(), 6);
    }

    #[test]
    fn enumeration_is_an_error_spike() {
        let mut e = steady(10);
        e.extend((0..300).map(|i| (10 * 1440 + 600 + i / 30, "203.0.113.7", if i % 10 == 0 { 200 } else { 404 })));
        let d = detect(&e);
        let kinds: Vec<_> = d.findings.iter().map(|f| f.kind).collect();
        assert!(kinds.contains(&"error_spike") && kinds.contains(&"volume_spike"), "{kinds:?}");
        let errors = d.findings.iter().find(|f| f.kind == "error_spike").unwrap();
        assert_eq!(errors.rows.len(), 270);
    }

    #[test]
    fn a_local_daily_job_across_the_dst_change_is_not_a_spike() {
        // 300 requests at 02:00 Berlin every day: 00:00 UTC in summer, 01:00 UTC in winter
        // (summer time ends on 25 October 2026, day 20).
        let berlin = WorkCalendar { tz: chrono_tz::Europe::Berlin, ..Default::default() };
        let mut e = steady(28);
        for day in 0..28 {
            let utc_minute = if day < 20 { 0 } else { 60 };
            e.extend((0..300).map(|i| (day * 1440 + utc_minute + i / 30, "198.51.100.1", 200)));
        }
        let d = RateSpike { config: RateConfig { calendar: berlin, ..Default::default() } }.detect(&frame(&e)).unwrap();
        assert!(d.findings.is_empty(), "{:?}", d.findings.iter().map(|f| &f.explanation).collect::<Vec<_>>());
        // In UTC the same job looks like it moved an hour: the first winter night is a spike.
        let utc = detect(&e);
        assert!(!utc.findings.is_empty());
    }
}
