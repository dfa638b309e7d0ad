//! Timestamps: every format leakhound reads (RFC 3339/ISO 8601, epoch, CLF, strftime) to UTC µs.
//!
//! Times without an offset are read in a declared IANA zone and never silently as UTC. A local
//! time that does not exist (DST gap) is rejected; an ambiguous one (DST fold) is settled by the
//! input order: the earliest candidate not more than five minutes before the previous row of
//! the same file wins (logs run forward in time, with a little disorder).

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

/// How a timestamp field is written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TimestampFormat {
    /// RFC 3339 / ISO 8601, epoch (unit by digit count) or CLF, recognised per value.
    #[default]
    Auto,
    Rfc3339,
    EpochS,
    EpochMs,
    EpochUs,
    EpochNs,
    Clf,
    /// A chrono strftime pattern, e.g. `%d.%m.%Y %H:%M:%S`.
    Strftime(String),
}

impl FromStr for TimestampFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "rfc3339" | "iso8601" => Self::Rfc3339,
            "epoch_s" => Self::EpochS,
            "epoch_ms" => Self::EpochMs,
            "epoch_us" => Self::EpochUs,
            "epoch_ns" => Self::EpochNs,
            "clf" => Self::Clf,
            _ if s.contains('%') => {
                // Validate the pattern once, up front, rather than failing on every row.
                let items = chrono::format::StrftimeItems::new(s);
                if items.clone().any(|i| matches!(i, chrono::format::Item::Error)) {
                    return Err(format!("`{s}` is not a valid strftime pattern"));
                }
                Self::Strftime(s.to_string())
            }
            _ => {
                return Err(format!(
                    "unknown timestamp format `{s}`: use rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns, clf, or a strftime pattern such as `%Y-%m-%d %H:%M:%S`"
                ))
            }
        })
    }
}

/// Why a timestamp value was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampError {
    Unrecognised,
    /// A local time with no offset and no declared zone.
    NoZone,
    /// A local time skipped by a DST change.
    Nonexistent(Tz),
    /// A local time that occurs twice at a DST change, with nothing to settle it.
    Ambiguous(Tz),
    OutOfRange,
}

impl TimestampError {
    /// Stable short code for counting (`summary.json`, `rejects.csv`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unrecognised => "bad_timestamp",
            Self::NoZone => "timestamp_without_zone",
            Self::Nonexistent(_) => "nonexistent_local_time",
            Self::Ambiguous(_) => "ambiguous_local_time",
            Self::OutOfRange => "timestamp_out_of_range",
        }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unrecognised => write!(f, "not a recognised timestamp (RFC 3339, epoch, CLF, or the mapping's format)"),
            Self::NoZone => write!(f, "timestamp has no UTC offset and no time zone is declared: pass --assume-tz ZONE or set `timezone` in the mapping"),
            Self::Nonexistent(tz) => write!(f, "local time does not exist in {tz} (skipped by a daylight-saving change)"),
            Self::Ambiguous(tz) => write!(f, "local time occurs twice in {tz} (daylight-saving change) and the input order does not settle which"),
            Self::OutOfRange => write!(f, "timestamp outside the years 1970-2261"),
        }
    }
}

enum Parsed {
    Instant(Micros),
    Local(NaiveDateTime),
}

/// Parses the timestamps of one input file, in file order.
#[derive(Debug, Clone)]
pub struct TimestampParser {
    format: TimestampFormat,
    zone: Option<Tz>,
    previous: Option<Micros>,
}

const MICROS_PER_SEC: i64 = 1_000_000;
/// How far a row may run behind the previous one and still count as "in order" when settling
/// an ambiguous local time.
const DISORDER_TOLERANCE: i64 = 5 * 60 * MICROS_PER_SEC;
/// 2262-01-01, the end of what a nanosecond timestamp can hold, which analysts' tools expect.
const MAX_MICROS: i64 = 9_214_646_400 * MICROS_PER_SEC;

impl TimestampParser {
    pub fn new(format: TimestampFormat, zone: Option<Tz>) -> Self {
        Self { format, zone, previous: None }
    }

    /// Parses one value to UTC microseconds.
    pub fn parse(&mut self, value: &str) -> Result<Micros, TimestampError> {
        let micros = match self.parse_value(value)? {
            Parsed::Instant(m) => m,
            Parsed::Local(naive) => self.resolve_local(naive)?,
        };
        if !(0..MAX_MICROS).contains(&micros) {
            return Err(TimestampError::OutOfRange);
        }
        self.previous = Some(micros);
        Ok(micros)
    }

    /// The value's time when it does not depend on the rows before it (everything but a local
    /// time that occurs twice), without changing the parser.
    pub fn parse_alone(&self, value: &str) -> Option<Micros> {
        let micros = match self.parse_value(value).ok()? {
            Parsed::Instant(m) => m,
            Parsed::Local(naive) => match self.zone?.from_local_datetime(&naive) {
                LocalResult::Single(dt) => dt.timestamp_micros(),
                _ => return None,
            },
        };
        (0..MAX_MICROS).contains(&micros).then_some(micros)
    }

    /// Sets the parser to the state it has after a row at `previous` (to parse a file from
    /// its middle, as an earlier part was parsed elsewhere).
    pub fn resume_after(&mut self, previous: Option<Micros>) {
        self.previous = previous;
    }

    fn parse_value(&self, value: &str) -> Result<Parsed, TimestampError> {
        let value = value.trim();
        let value = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(value);
        match &self.format {
            TimestampFormat::Auto => parse_auto(value),
            TimestampFormat::Rfc3339 => parse_iso(value.as_bytes()),
            TimestampFormat::EpochS => parse_epoch(value, Some(0)),
            TimestampFormat::EpochMs => parse_epoch(value, Some(1)),
            TimestampFormat::EpochUs => parse_epoch(value, Some(2)),
            TimestampFormat::EpochNs => parse_epoch(value, Some(3)),
            TimestampFormat::Clf => parse_clf(value.as_bytes()),
            TimestampFormat::Strftime(pattern) => parse_strftime(value, pattern),
        }
        .ok_or(TimestampError::Unrecognised)
    }

    fn resolve_local(&self, naive: NaiveDateTime) -> Result<Micros, TimestampError> {
        let zone = self.zone.ok_or(TimestampError::NoZone)?;
        match zone.from_local_datetime(&naive) {
            LocalResult::Single(dt) => Ok(dt.timestamp_micros()),
            LocalResult::None => Err(TimestampError::Nonexistent(zone)),
            LocalResult::Ambiguous(a, b) => {
                // Logs run forward in time, give or take a little disorder: take the earliest
                // candidate that is not clearly before the previous row.
                let previous = self.previous.ok_or(TimestampError::Ambiguous(zone))?;
                let (a, b) =
                    (a.timestamp_micros().min(b.timestamp_micros()), a.timestamp_micros().max(b.timestamp_micros()));
                [a, b].into_iter().find(|c| *c >= previous - DISORDER_TOLERANCE).ok_or(TimestampError::Ambiguous(zone))
            }
        }
    }
}

fn parse_auto(value: &str) -> Option<Parsed> {
    let b = value.as_bytes();
    if b.len() >= 10 && b[4] == b'-' {
        parse_iso(b)
    } else if b.len() >= 11 && b[2] == b'/' {
        parse_clf(b)
    } else {
        parse_epoch(value, None)
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Parses `.123456789` style fractions (up to 9 digits) to microseconds; returns the rest.
fn fraction_micros(b: &[u8]) -> (u32, &[u8]) {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut micros = 0u32;
    for i in 0..6 {
        micros = micros * 10 + b.get(i).filter(|_| i < n).map_or(0, |d| u32::from(d - b'0'));
    }
    (micros, &b[n..])
}

/// `YYYY-MM-DD[T ]hh:mm[:ss[.frac]][ ][Z|±hh[:]mm|±hh|UTC]`.
fn parse_iso(b: &[u8]) -> Option<Parsed> {
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(&b[0..4])? as i32, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let (hour, minute) = (digits(&b[11..13])?, digits(&b[14..16])?);
    let mut rest = &b[16..];
    let mut second = 0;
    let mut micros = 0;
    if let Some(r) = rest.strip_prefix(b":") {
        second = digits(r.get(..2)?)?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix(b".").or_else(|| rest.strip_prefix(b",")) {
            let (m, r) = fraction_micros(r);
            micros = m;
            rest = r;
        }
    }
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    let naive = date.and_time(time);
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let offset = parse_offset(rest)?;
    Some(match offset {
        None => Parsed::Local(naive),
        Some(secs) => Parsed::Instant(naive.and_utc().timestamp_micros() - i64::from(secs) * MICROS_PER_SEC),
    })
}

/// `Z`, `UTC`, `±hh:mm`, `±hhmm`, `±hh`, or nothing (`Ok(None)`); `None` if malformed.
fn parse_offset(b: &[u8]) -> Option<Option<i32>> {
    match b {
        [] => Some(None),
        b"Z" | b"z" | b"UTC" | b"GMT" => Some(Some(0)),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some(Some(if *sign == b'-' { -secs } else { secs }))
        }
        _ => None,
    }
}

/// `10/Oct/2000:13:55:36 -0700` (Apache/nginx `%t`, brackets already stripped).
fn parse_clf(b: &[u8]) -> Option<Parsed> {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' {
        return None;
    }
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(&b[3..6]))? as u32 + 1;
    let date = NaiveDate::from_ymd_opt(digits(&b[7..11])? as i32, month, digits(&b[0..2])?)?;
    let mut rest = &b[20..];
    let mut micros = 0;
    if let Some(r) = rest.strip_prefix(b".") {
        let (m, r) = fraction_micros(r);
        micros = m;
        rest = r;
    }
    let time = NaiveTime::from_hms_micro_opt(digits(&b[12..14])?, digits(&b[15..17])?, digits(&b[18..20])?, micros)?;
    let naive = date.and_time(time);
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    Some(match parse_offset(rest)? {
        None => Parsed::Local(naive),
        Some(secs) => Parsed::Instant(naive.and_utc().timestamp_micros() - i64::from(secs) * MICROS_PER_SEC),
    })
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds. `unit` is 0..=3 (s, ms, µs, ns);
/// `None` picks it by the number of integer digits (≤ 11 s, ≤ 14 ms, ≤ 17 µs, else ns). A
/// fractional part is read in the same unit.
fn parse_epoch(value: &str, unit: Option<u32>) -> Option<Parsed> {
    let (int, frac) = match value.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (value, None),
    };
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let unit = match unit {
        Some(u) => u,
        // Fewer than 9 digits is before 1973, or a date like 20240101: not an epoch.
        None if int.len() < 9 => return None,
        None if int.len() <= 11 => 0,
        None if int.len() <= 14 => 1,
        None if int.len() <= 17 => 2,
        None => 3,
    };
    let whole: i64 = int.parse().ok()?;
    let frac_units = match frac {
        None => 0.0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => format!("0.{f}").parse::<f64>().ok()?,
        Some(_) => return None,
    };
    // Saturate on overflow: the range check then reports it as out of range.
    let micros = match unit {
        0 => whole.saturating_mul(MICROS_PER_SEC).saturating_add((frac_units * 1e6) as i64),
        1 => whole.saturating_mul(1000).saturating_add((frac_units * 1e3) as i64),
        2 => whole,
        _ => whole / 1000,
    };
    Some(Parsed::Instant(micros))
}

fn parse_strftime(value: &str, pattern: &str) -> Option<Parsed> {
    if let Ok(dt) = DateTime::parse_from_str(value, pattern) {
        return Some(Parsed::Instant(dt.timestamp_micros()));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(value, pattern) {
        return Some(Parsed::Local(naive));
    }
    NaiveDate::parse_from_str(value, pattern).ok().map(|d| Parsed::Local(d.and_time(NaiveTime::MIN)))
}

/// Formats UTC microseconds as RFC 3339 with millisecond precision, e.g. `2024-03-01T12:00:00.000Z`.
pub fn format_rfc3339(micros: Micros) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(dt) => dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Micros {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    fn parse(format: TimestampFormat, zone: Option<Tz>, v: &str) -> Result<Micros, TimestampError> {
        TimestampParser::new(format, zone).parse(v)
    }

    #[test]
    fn rfc3339_variants() {
        let want = utc("2024-03-01T12:00:00Z");
        for v in [
            "2024-03-01T12:00:00Z",
            "2024-03-01T12:00:00.000Z",
            "2024-03-01 12:00:00Z",
            "2024-03-01T13:00:00+01:00",
            "2024-03-01T13:00:00+0100",
            "2024-03-01T13:00:00 +01",
            "2024-03-01T07:00:00-05:00",
            "2024-03-01T12:00Z",
            "2024-03-01T12:00:00 UTC",
        ] {
            assert_eq!(parse(TimestampFormat::Auto, None, v), Ok(want), "{v}");
        }
        assert_eq!(parse(TimestampFormat::Auto, None, "2024-03-01T12:00:00.123456789Z"), Ok(want + 123_456));
    }

    #[test]
    fn epochs_by_digit_count_and_declared() {
        let want = utc("2023-11-14T22:13:20Z");
        for v in ["1700000000", "1700000000000", "1700000000000000", "1700000000000000000"] {
            assert_eq!(parse(TimestampFormat::Auto, None, v), Ok(want), "{v}");
        }
        assert_eq!(parse(TimestampFormat::Auto, None, "1700000000.5"), Ok(want + 500_000));
        assert_eq!(parse(TimestampFormat::EpochMs, None, "1700000000000"), Ok(want));
        assert_eq!(parse(TimestampFormat::EpochS, None, "0"), Ok(0));
        assert_eq!(parse(TimestampFormat::Auto, None, "20240101"), Err(TimestampError::Unrecognised));
        assert_eq!(parse(TimestampFormat::Auto, None, "-5"), Err(TimestampError::Unrecognised));
        assert_eq!(parse(TimestampFormat::EpochS, None, "99999999999999"), Err(TimestampError::OutOfRange));
    }

    #[test]
    fn clf() {
        assert_eq!(parse(TimestampFormat::Auto, None, "[10/Oct/2000:13:55:36 -0700]"), Ok(utc("2000-10-10T20:55:36Z")));
        assert_eq!(parse(TimestampFormat::Clf, None, "10/oct/2000:13:55:36 +0000"), Ok(utc("2000-10-10T13:55:36Z")));
        assert_eq!(parse(TimestampFormat::Clf, None, "10/Foo/2000:13:55:36 +0000"), Err(TimestampError::Unrecognised));
        assert_eq!(parse(TimestampFormat::Clf, None, "31/Feb/2000:13:55:36 +0000"), Err(TimestampError::Unrecognised));
    }

    #[test]
    fn naive_times_need_a_zone() {
        assert_eq!(parse(TimestampFormat::Auto, None, "2024-03-01 12:00:00"), Err(TimestampError::NoZone));
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(parse(TimestampFormat::Auto, Some(berlin), "2024-03-01 12:00:00"), Ok(utc("2024-03-01T11:00:00Z")));
        assert_eq!(parse(TimestampFormat::Auto, Some(berlin), "2024-07-01 12:00:00"), Ok(utc("2024-07-01T10:00:00Z")));
    }

    #[test]
    fn dst_gap_is_rejected_and_fold_is_settled_by_order() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2024-03-31 02:30 does not exist in Berlin.
        assert_eq!(
            parse(TimestampFormat::Auto, Some(berlin), "2024-03-31 02:30:00"),
            Err(TimestampError::Nonexistent(berlin))
        );
        // 2024-10-27 02:30 happens twice; alone it is ambiguous.
        assert_eq!(
            parse(TimestampFormat::Auto, Some(berlin), "2024-10-27 02:30:00"),
            Err(TimestampError::Ambiguous(berlin))
        );
        let mut p = TimestampParser::new(TimestampFormat::Auto, Some(berlin));
        let seq: Vec<_> = [
            "2024-10-27 01:55:00",
            "2024-10-27 02:10:00",
            "2024-10-27 02:50:00",
            "2024-10-27 02:05:00",
            "2024-10-27 02:55:00",
            "2024-10-27 03:05:00",
        ]
        .iter()
        .map(|v| p.parse(v).unwrap())
        .collect();
        assert_eq!(
            seq,
            vec![
                utc("2024-10-26T23:55:00Z"),
                utc("2024-10-27T00:10:00Z"), // first 02:10 (CEST)
                utc("2024-10-27T00:50:00Z"),
                utc("2024-10-27T01:05:00Z"), // second 02:05 (CET): the first would go back in time
                utc("2024-10-27T01:55:00Z"),
                utc("2024-10-27T02:05:00Z"),
            ]
        );
    }

    #[test]
    fn strftime_patterns() {
        let f: TimestampFormat = "%d.%m.%Y %H:%M:%S".parse().unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(parse(f.clone(), Some(berlin), "01.03.2024 12:00:00"), Ok(utc("2024-03-01T11:00:00Z")));
        assert_eq!(parse(f, None, "01.03.2024 12:00:00"), Err(TimestampError::NoZone));
        let z: TimestampFormat = "%d.%m.%Y %H:%M:%S %z".parse().unwrap();
        assert_eq!(parse(z, None, "01.03.2024 12:00:00 +0000"), Ok(utc("2024-03-01T12:00:00Z")));
        assert!("nonsense".parse::<TimestampFormat>().is_err());
        assert!("%Q".parse::<TimestampFormat>().is_err());
    }

    #[test]
    fn junk_is_unrecognised() {
        for v in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+99:00",
            "2024-01-01",
            "\u{0}\u{1}",
        ] {
            assert!(parse(TimestampFormat::Auto, None, v).is_err(), "{v:?}");
        }
    }
}
