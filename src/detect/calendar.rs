//! The organisation's working time: time zone, working hours and days, holidays; and the
//! local hour-of-week of an instant (correct across daylight-saving changes).

use chrono::{DateTime, Datelike, NaiveDate, Offset, Timelike, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeSet;
use std::str::FromStr;

/// Hours in a week: the number of hour-of-week slots.
pub const WEEK_HOURS: usize = 168;

/// Converts instants to local time like [`WorkCalendar::local`], reusing the zone's UTC offset
/// within a quarter of an hour: a zone changes its offset at most once in a quarter hour, so
/// when the offsets at a quarter's first and last microsecond agree, they hold for all of it
/// (a quarter with a change inside is converted instant by instant). The last local minute
/// is kept too: events in time order share it.
pub struct LocalClock<'c> {
    calendar: &'c WorkCalendar,
    slot: i64,
    /// Seconds east of UTC throughout the current quarter hour, if constant.
    offset: Option<i64>,
    /// The UTC minute last converted with a whole-minute offset, and its local time.
    minute: Option<(i64, Local)>,
    /// The local day (days since 1970-01-01) last converted, its date and weekday.
    day: Option<(i64, NaiveDate, Weekday)>,
}

const QUARTER_HOUR: i64 = 15 * 60 * 1_000_000;
const MINUTE: i64 = 60 * 1_000_000;

impl LocalClock<'_> {
    pub fn local(&mut self, micros: i64) -> Local {
        let minute = micros.div_euclid(MINUTE);
        if let Some((m, local)) = self.minute {
            if m == minute {
                return local;
            }
        }
        let slot = micros.div_euclid(QUARTER_HOUR);
        if slot != self.slot {
            self.slot = slot;
            let offset = |t: i64| {
                DateTime::from_timestamp_micros(t)
                    .map(|d| d.with_timezone(&self.calendar.tz).offset().fix().local_minus_utc() as i64)
            };
            let (a, b) = (offset(slot * QUARTER_HOUR), offset((slot + 1) * QUARTER_HOUR - 1));
            self.offset = a.filter(|a| Some(*a) == b);
        }
        let local = match self.offset {
            Some(o) => {
                // Local seconds since 1970-01-01 local midnight: the day's date is looked up
                // once a day, the time of day is arithmetic.
                let secs = micros.div_euclid(1_000_000) + o;
                let (day, second) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
                let date = match self.day {
                    Some((d, date, weekday)) if d == day => Some((date, weekday)),
                    _ => DateTime::from_timestamp(day * 86_400, 0).map(|t| {
                        let date = t.date_naive();
                        self.day = Some((day, date, date.weekday()));
                        (date, date.weekday())
                    }),
                };
                match date {
                    Some((date, weekday)) => {
                        Local { date, weekday, hour: (second / 3_600) as u32, minute: (second % 3_600 / 60) as u32 }
                    }
                    None => self.calendar.local(micros),
                }
            }
            None => self.calendar.local(micros),
        };
        // A whole-minute offset, constant through the quarter, maps this UTC minute onto one
        // local minute (a quarter starts on a minute).
        self.minute = self.offset.filter(|o| o % 60 == 0).map(|_| (minute, local));
        local
    }

    /// Whether an instant falls in working time.
    pub fn is_working(&mut self, micros: i64) -> bool {
        let l = self.local(micros);
        self.calendar.is_working_at(&l)
    }
}

/// When the organisation works.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkCalendar {
    pub tz: Tz,
    /// Start and end of the working day, minutes after local midnight (end exclusive).
    pub start_minute: u32,
    pub end_minute: u32,
    /// Working days, Monday first.
    pub days: [bool; 7],
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for WorkCalendar {
    fn default() -> Self {
        Self {
            tz: chrono_tz::UTC,
            start_minute: 8 * 60,
            end_minute: 18 * 60,
            days: [true, true, true, true, true, false, false],
            holidays: BTreeSet::new(),
        }
    }
}

/// An instant in the organisation's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub date: NaiveDate,
    pub weekday: Weekday,
    pub hour: u32,
    pub minute: u32,
}

impl Local {
    /// 0 (Monday 00:00) to 167 (Sunday 23:00).
    pub fn hour_of_week(&self) -> usize {
        self.weekday.num_days_from_monday() as usize * 24 + self.hour as usize
    }
}

impl WorkCalendar {
    pub fn local(&self, micros: i64) -> Local {
        let t = DateTime::from_timestamp_micros(micros).unwrap_or_default().with_timezone(&self.tz);
        Local { date: t.date_naive(), weekday: t.weekday(), hour: t.hour(), minute: t.minute() }
    }

    /// Whether an instant falls in working time.
    pub fn is_working(&self, micros: i64) -> bool {
        self.is_working_at(&self.local(micros))
    }

    /// Whether a local instant falls in working time.
    pub fn is_working_at(&self, l: &Local) -> bool {
        let minute = l.hour * 60 + l.minute;
        self.days[l.weekday.num_days_from_monday() as usize]
            && !self.holidays.contains(&l.date)
            && minute >= self.start_minute
            && minute < self.end_minute
    }

    /// A converter for many instants in a row (see [`LocalClock`]).
    pub fn clock(&self) -> LocalClock<'_> {
        LocalClock { calendar: self, slot: i64::MIN, offset: None, minute: None, day: None }
    }

    /// Whether a local day is a working day (for day-type seasonality).
    pub fn is_working_day(&self, l: &Local) -> bool {
        self.days[l.weekday.num_days_from_monday() as usize] && !self.holidays.contains(&l.date)
    }

    /// "Mon–Fri 08:00–18:00 Europe/Berlin"
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days: Vec<&str> = NAMES.iter().zip(self.days).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        let days = if days == NAMES[..5] { "Mon–Fri".to_string() } else { days.join(",") };
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        format!("{days} {}–{} {}", hm(self.start_minute), hm(self.end_minute), self.tz.name())
    }
}

/// Parses `08:00-18:00`.
pub fn parse_hours(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}` is not working hours such as 08:00-18:00");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let minute = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    let (start, end) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
    if start >= end {
        return Err(format!("`{s}`: the working day must end after it starts"));
    }
    Ok((start, end))
}

/// Parses `Mon-Fri` or `Mon,Tue,Thu` (English day names, three letters or full).
pub fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let day = |t: &str| Weekday::from_str(t.trim()).map(|d| d.num_days_from_monday() as usize);
    let bad = || format!("`{s}` is not working days such as Mon-Fri or Mon,Wed,Fri");
    let mut days = [false; 7];
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a).map_err(|_| bad())?, day(b).map_err(|_| bad())?);
                let mut d = a;
                loop {
                    days[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part).map_err(|_| bad())?] = true,
        }
    }
    Ok(days)
}

/// Reads holidays: one `YYYY-MM-DD` date per line; `#` starts a comment.
pub fn parse_holidays(text: &str) -> Result<BTreeSet<NaiveDate>, String> {
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let date = line.split([',', ' ', '\t']).next().unwrap_or(line);
        out.insert(
            NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("line {}: `{date}` is not a date such as 2026-12-25", i + 1))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock agrees with the zone everywhere, also around daylight-saving changes and in
    /// zones with half- and quarter-hour offsets.
    #[test]
    fn the_clock_agrees_with_the_zone() {
        for tz in [
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::UTC,
        ] {
            let cal = WorkCalendar { tz, ..WorkCalendar::default() };
            let mut clock = cal.clock();
            // Every 7 minutes 13 seconds through 2026, both ways.
            let (start, end) = (1_767_225_600_000_000i64, 1_798_761_600_000_000i64);
            let step = 433_000_000;
            for t in (start..end).step_by(step as usize).chain((start..end).rev().step_by(step as usize)) {
                assert_eq!(clock.local(t), cal.local(t), "{tz} at {t}");
                assert_eq!(clock.is_working(t), cal.is_working(t));
            }
        }
    }

    /// Instants close together (events in time order), in zones whose offset is not a whole
    /// number of minutes too (Monrovia's −00:44:30 until 1972).
    #[test]
    fn the_clock_agrees_with_the_zone_second_by_second() {
        for (tz, from) in [
            (chrono_tz::Europe::Berlin, "2026-03-29T00:30:00Z"),
            (chrono_tz::Europe::Berlin, "2026-10-25T00:30:00Z"),
            (chrono_tz::Asia::Kathmandu, "2026-03-29T00:30:00Z"),
            (chrono_tz::Africa::Monrovia, "1970-06-01T00:00:00Z"),
        ] {
            let cal = WorkCalendar { tz, ..WorkCalendar::default() };
            let mut clock = cal.clock();
            let start = utc(from);
            for t in (start..start + 3 * 3_600_000_000).step_by(7_000_000) {
                assert_eq!(clock.local(t), cal.local(t), "{tz} at {t}");
            }
        }
    }

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    #[test]
    fn working_time_follows_local_time_across_dst() {
        let cal = WorkCalendar { tz: chrono_tz::Europe::Berlin, ..Default::default() };
        // 06:30 UTC is 08:30 in Berlin in summer (working) and 07:30 in winter (not yet).
        assert!(cal.is_working(utc("2026-10-23T06:30:00Z")));
        assert!(!cal.is_working(utc("2026-10-26T06:30:00Z")));
        // A job at 09:00 local time stays in the 09:00 hour-of-week slot after the change.
        assert_eq!(cal.local(utc("2026-10-23T07:00:00Z")).hour, 9);
        assert_eq!(cal.local(utc("2026-10-26T08:00:00Z")).hour, 9);
    }

    #[test]
    fn hour_of_week_and_weekends() {
        let cal = WorkCalendar { tz: chrono_tz::Europe::Berlin, ..Default::default() };
        let l = cal.local(utc("2026-10-17T00:40:00Z")); // Saturday 02:40 CEST
        assert_eq!((l.weekday, l.hour, l.hour_of_week()), (Weekday::Sat, 2, 5 * 24 + 2));
        assert!(!cal.is_working(utc("2026-10-17T10:00:00Z")));
        let holiday = WorkCalendar { holidays: parse_holidays("2026-10-22 # closed\n").unwrap(), ..cal.clone() };
        assert!(cal.is_working(utc("2026-10-22T10:00:00Z")));
        assert!(!holiday.is_working(utc("2026-10-22T10:00:00Z")));
        assert_eq!(cal.describe(), "Mon–Fri 08:00–18:00 Europe/Berlin");
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_hours("08:00-18:00"), Ok((480, 1080)));
        assert_eq!(parse_hours("00:00-24:00"), Ok((0, 1440)));
        assert!(parse_hours("18:00-08:00").is_err());
        assert!(parse_hours("8-18").is_err());
        assert_eq!(parse_days("Mon-Fri"), Ok([true, true, true, true, true, false, false]));
        assert_eq!(parse_days("Sat-Mon"), Ok([true, false, false, false, false, true, true]));
        assert_eq!(parse_days("Mon,wed, Friday"), Ok([true, false, true, false, true, false, false]));
        assert!(parse_days("Funday").is_err());
        assert!(parse_holidays("2026-02-30").is_err());
    }
}
