//! Off-hours use: requests outside the organisation's working time at an hour of the week when
//! the key has never or rarely been active (in the spirit of Elastic's `time_of_week` rarity).
//! A key's own nightly job is normal for that key; only rare hours are reported.

use super::calendar::{WorkCalendar, WEEK_HOURS};
use super::{timestamps, Detection, Detector, Events, Finding, KeyRows, Note, Severity};
use crate::error::{Error, Result};
use crate::schema::col;
use crate::text::thousands;

const NAME: &str = "off_hours";
const MICROS_PER_DAY: f64 = 86_400_000_000.0;
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// Settings of the off-hours detector.
#[derive(Debug, Clone, PartialEq)]
pub struct OffHoursConfig {
    pub calendar: WorkCalendar,
    /// A key needs this much history (days and requests) before its hours are judged.
    pub min_history_days: f64,
    pub min_history_events: u64,
    /// Fewer requests than this, on average, in the same three-hour window of the week (or of
    /// days of the same kind) make the hour rare for the key.
    pub rare_below: f64,
    /// Flagged requests closer than this (minutes) form one finding.
    pub gap_minutes: i64,
}

impl Default for OffHoursConfig {
    fn default() -> Self {
        Self {
            calendar: WorkCalendar::default(),
            min_history_days: 7.0,
            min_history_events: 30,
            rare_below: 0.5,
            gap_minutes: 60,
        }
    }
}

/// The off-hours detector.
#[derive(Debug, Clone, Default)]
pub struct OffHours {
    pub config: OffHoursConfig,
}

/// Off-hours alone is a weak signal: at most `low`, whatever the volume.
const MAX_SCORE: f64 = 50.0;

/// A key's time-of-week habits.
struct Profile {
    /// Requests per hour of the week.
    week: [f64; WEEK_HOURS],
    /// Requests per hour of the day, on working days [1] and other days [0].
    day: [[f64; 24]; 2],
    /// Distinct local days of each kind seen.
    days_seen: [u32; 2],
    last_day: [Option<chrono::NaiveDate>; 2],
    first: Option<i64>,
    events: u64,
}

impl Profile {
    fn new() -> Self {
        Self {
            week: [0.0; WEEK_HOURS],
            day: [[0.0; 24]; 2],
            days_seen: [0; 2],
            last_day: [None; 2],
            first: None,
            events: 0,
        }
    }

    /// Average requests per occurrence of the three-hour window around `slot` (same weekday),
    /// or around the same hour on days of the same kind, whichever is larger.
    fn familiarity(&self, slot: usize, hour: usize, kind: usize, weeks: f64) -> f64 {
        let around = |n: usize, i: usize| [(i + n - 1) % n, i, (i + 1) % n];
        let weekly: f64 = around(WEEK_HOURS, slot).iter().map(|&s| self.week[s]).sum::<f64>() / weeks.max(1.0);
        let daily: f64 =
            around(24, hour).iter().map(|&h| self.day[kind][h]).sum::<f64>() / f64::from(self.days_seen[kind].max(1));
        weekly.max(daily)
    }
}

impl Detector for OffHours {
    fn name(&self) -> &'static str {
        NAME
    }

    fn detect_keys(&self, events: &Events<'_>, keys: &[KeyRows<'_>]) -> Result<Detection> {
        let frame_err = |source| Error::Frame { context: "reading events for the off-hours detector", source };
        let ts = timestamps(events).map_err(frame_err)?;
        let count = events.column(col::COUNT).and_then(|c| c.i64().cloned()).map_err(frame_err)?;
        let cfg = &self.config;
        let cal = &cfg.calendar;
        let mut out = Detection::default();
        for KeyRows { key, name, rows } in keys {
            let (key, name) = (*key, name.clone());
            let mut profile = Profile::new();
            let mut current: Option<(Finding, i64, f64)> = None; // finding, requests, familiarity
            let mut judged_any = false;
            let close = |f: Option<(Finding, i64, f64)>, out: &mut Detection| {
                if let Some((mut f, requests, familiarity)) = f {
                    let (a, b) = (cal.local(f.start), cal.local(f.end));
                    f.score = (30.0 + 5.0 * (requests as f64).log2()).min(MAX_SCORE).round();
                    f.severity = Severity::of_score(f.score);
                    f.explanation = format!(
                        "{} request{} on {} {:02}:{:02}–{:02}:{:02} ({}), outside working hours ({}), at a time of the week when key {name} averages {familiarity:.1} requests",
                        thousands(requests as f64),
                        if requests == 1 { "" } else { "s" },
                        a.weekday,
                        a.hour,
                        a.minute,
                        b.hour,
                        b.minute,
                        a.date,
                        cal.describe(),
                    );
                    out.findings.push(f);
                }
            };
            let mut clock = cal.clock();
            for &i in rows {
                let Some(t) = ts.get(i) else { continue };
                let requests = count.get(i).unwrap_or(1);
                let local = clock.local(t);
                let kind = usize::from(cal.is_working_day(&local));
                let span_days = profile.first.map_or(0.0, |f| (t - f) as f64 / MICROS_PER_DAY);
                let judged = span_days >= cfg.min_history_days && profile.events >= cfg.min_history_events;
                judged_any |= judged;
                let mut flagged = false;
                if judged && !cal.is_working_at(&local) {
                    // Within an episode every off-hours request belongs to it; otherwise only
                    // requests at an hour that is rare for the key start one.
                    let continues =
                        current.as_ref().is_some_and(|(f, _, _)| t - f.end <= cfg.gap_minutes * MICROS_PER_MINUTE);
                    let familiarity =
                        profile.familiarity(local.hour_of_week(), local.hour as usize, kind, span_days / 7.0);
                    if continues || familiarity < cfg.rare_below {
                        if !continues {
                            close(current.take(), &mut out);
                            current = Some((
                                Finding {
                                    detector: NAME,
                                    kind: "rare_hour",
                                    credential: key.to_string(),
                                    start: t,
                                    end: t,
                                    rows: Vec::new(),
                                    score: 0.0,
                                    severity: Severity::Info,
                                    explanation: String::new(),
                                },
                                0,
                                familiarity,
                            ));
                        }
                        if let Some((f, n, _)) = current.as_mut() {
                            f.rows.push(i as u32);
                            f.end = t;
                            *n += requests;
                        }
                        flagged = true;
                    }
                }
                if flagged {
                    // Reported requests do not teach the key's habits.
                    continue;
                }
                // Learn the hour.
                profile.events += 1;
                profile.first.get_or_insert(t);
                profile.week[local.hour_of_week()] += requests as f64;
                profile.day[kind][local.hour as usize] += requests as f64;
                if profile.last_day[kind] != Some(local.date) {
                    profile.last_day[kind] = Some(local.date);
                    profile.days_seen[kind] += 1;
                }
            }
            close(current.take(), &mut out);
            if !judged_any {
                out.notes.push(Note {
                    detector: NAME,
                    credential: key.to_string(),
                    message: format!(
                        "insufficient baseline for {name}'s hours: {} requests, where {} over {} days are needed",
                        profile.events, cfg.min_history_events, cfg.min_history_days
                    ),
                });
            }
        }
        out.findings.sort_by(Finding::order);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;
    /// Monday 2026-10-05 00:00 UTC.
    const MONDAY: i64 = 1_791_158_400_000_000;

    fn frame(times: &[i64]) -> DataFrame {
        let mut times = times.to_vec();
        times.sort();
        let n = times.len();
        DataFrame::new(
            n,
            vec![
                Column::new(col::TIMESTAMP.into(), times),
                Column::new(col::CREDENTIAL.into(), vec!["k"; n]),
                Column::new(col::CREDENTIAL_LABEL.into(), vec![None::<&str>; n]),
                Column::new(col::COUNT.into(), vec![1i64; n]),
            ],
        )
        .unwrap()
    }

    /// Every working day 09:00–17:00 UTC, one request per hour, for two weeks.
    fn office_hours() -> Vec<i64> {
        (0..14).filter(|d| d % 7 < 5).flat_map(|d| (9..17).map(move |h| MONDAY + d * DAY + h * HOUR)).collect()
    }

    fn detect(times: &[i64]) -> Detection {
        OffHours::default().detect(&frame(times)).unwrap()
    }

    #[test]
    fn empty_one_row_and_constant_series() {
        assert_eq!(detect(&[]), Detection::default());
        let d = detect(&[MONDAY]);
        assert!(d.findings.is_empty() && d.notes.len() == 1);
        assert!(detect(&office_hours()).findings.is_empty(), "office hours are never off-hours");
    }

    #[test]
    fn a_night_visit_by_an_office_hours_key_is_reported() {
        let mut t = office_hours();
        let night = MONDAY + 14 * DAY + 3 * HOUR; // Monday 03:00
        t.extend((0..40).map(|m| night + m * 60_000_000));
        let d = detect(&t);
        assert_eq!(d.findings.len(), 1, "{:?}", d.findings);
        let f = &d.findings[0];
        assert_eq!(f.rows.len(), 40);
        assert_eq!(f.severity, Severity::Low, "off-hours alone is weak evidence");
        assert_eq!(
            f.explanation,
            "40 requests on Mon 03:00–03:39 (2026-10-19), outside working hours (Mon–Fri 08:00–18:00 UTC), at a time of the week when key k averages 0.0 requests"
        );
    }

    #[test]
    fn a_nightly_job_is_normal_for_its_key() {
        let mut t = office_hours();
        t.extend((0..21).map(|d| MONDAY + d * DAY + 2 * HOUR)); // 02:00 every day
        assert!(detect(&t).findings.is_empty(), "{:?}", detect(&t).findings);
    }

    #[test]
    fn dst_change_keeps_a_local_job_at_its_local_hour() {
        // A job at 09:00 Berlin, every day across the end of summer time (25 October 2026):
        // 07:00 UTC before, 08:00 UTC after. Weekend mornings are outside working hours.
        let berlin = WorkCalendar { tz: chrono_tz::Europe::Berlin, ..Default::default() };
        let cfg = OffHoursConfig { calendar: berlin, ..Default::default() };
        let start = MONDAY; // 5 October
        let t: Vec<i64> = (0..35)
            .flat_map(|d| {
                let utc_hour = if d < 20 { 7 } else { 8 };
                (0..5).map(move |m| start + d * DAY + utc_hour * HOUR + m * 60_000_000)
            })
            .collect();
        let d = OffHours { config: cfg }.detect(&frame(&t)).unwrap();
        assert!(d.findings.is_empty(), "{:?}", d.findings);
    }
}
