//! The request rate of a key around an incident: stacked by source (the key's usual networks
//! and each new one), with the expected level and its band from the baseline, flagged buckets
//! marked and the incident's span shaded.

use super::{err, header, legend, text, ChartError, Draw, INK, LIGHT, PALETTE, USUAL};
use chrono::DateTime;
use chrono_tz::Tz;
use plotters::coord::Shift;
use plotters::prelude::*;

/// What the timeline shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The key's name, the incident's id and its severity, for the title.
    pub key: String,
    pub incident: String,
    pub severity: crate::detect::Severity,
    pub subtitle: String,
    pub tz: Tz,
    /// Start of the first bucket (UTC µs).
    pub start: i64,
    pub width_minutes: i64,
    /// Group names; group 0 is the key's usual traffic.
    pub groups: Vec<String>,
    /// Per bucket, requests per group.
    pub counts: Vec<Vec<f64>>,
    /// Per bucket, the expected level and the top of its band.
    pub expected: Vec<Option<(f64, f64)>>,
    pub flagged: Vec<bool>,
    /// The incident's span (UTC µs).
    pub span: (i64, i64),
}

const HOUR: f64 = 3_600_000_000.0;

impl Timeline {
    pub fn title(&self) -> String {
        format!("{}: requests per {} min around {} ({})", self.key, self.width_minutes, self.incident, self.severity)
    }

    fn x(&self, micros: i64) -> f64 {
        (micros - self.start) as f64 / HOUR
    }

    fn local_label(&self, x: f64) -> String {
        let t = self.start + (x * HOUR) as i64;
        DateTime::from_timestamp_micros(t)
            .map(|d| d.with_timezone(&self.tz).format("%a %d %b %H:%M").to_string())
            .unwrap_or_default()
    }
}

impl Draw for Timeline {
    fn size(&self) -> (u32, u32) {
        (1200, 560)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        let area = header(root, &self.title(), &self.subtitle, 20)?;
        let w = self.width_minutes as f64 / 60.0;
        let n = self.counts.len();
        let x_max = (n as f64 * w).max(w);
        let stack_max = self.counts.iter().map(|g| g.iter().sum::<f64>()).fold(0.0, f64::max);
        let band_max = self.expected.iter().flatten().map(|(_, hi)| *hi).fold(0.0, f64::max);
        let y_max = (stack_max.max(band_max) * 1.15).max(5.0);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(err)?;
        let tz = self.tz.name();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(LIGHT)
            .x_labels(8)
            .x_label_formatter(&|x| self.local_label(*x))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc(format!("local time ({tz})"))
            .y_desc(format!("requests per {} min", self.width_minutes))
            .label_style(text(13))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;

        // The incident's span.
        let (s0, s1) = (self.x(self.span.0).max(0.0), self.x(self.span.1).min(x_max));
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(s0, 0.0), (s1.max(s0 + w / 4.0), y_max)],
                PALETTE[0].mix(0.10).filled(),
            )))
            .map_err(err)?
            .label("incident")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], PALETTE[0].mix(0.25).filled()));

        // The expected band (median to median + 3σ) and the median.
        let mid = |i: usize| (i as f64 + 0.5) * w;
        let band: Vec<(usize, f64, f64)> =
            self.expected.iter().enumerate().filter_map(|(i, e)| e.map(|(m, hi)| (i, m, hi))).collect();
        if !band.is_empty() {
            let mut polygon: Vec<(f64, f64)> = band.iter().map(|(i, _, hi)| (mid(*i), *hi)).collect();
            polygon.extend(band.iter().rev().map(|(i, m, _)| (mid(*i), *m)));
            chart
                .draw_series(std::iter::once(Polygon::new(polygon, LIGHT.mix(0.9).filled())))
                .map_err(err)?
                .label("expected range (median of earlier weeks + 3σ)")
                .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], LIGHT.filled()));
        }

        // Requests, stacked by source group.
        let mut base = vec![0.0; n];
        for (g, name) in self.groups.iter().enumerate() {
            let color = if g == 0 { USUAL } else { PALETTE[(g - 1) % PALETTE.len()] };
            let bars: Vec<Rectangle<(f64, f64)>> = (0..n)
                .filter(|&i| self.counts[i].get(g).copied().unwrap_or(0.0) > 0.0)
                .map(|i| {
                    let v = self.counts[i][g];
                    let r = Rectangle::new(
                        [(i as f64 * w + w * 0.08, base[i]), ((i + 1) as f64 * w - w * 0.08, base[i] + v)],
                        color.filled(),
                    );
                    base[i] += v;
                    r
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        }
        if !band.is_empty() {
            chart
                .draw_series(LineSeries::new(band.iter().map(|(i, m, _)| (mid(*i), *m)), INK.stroke_width(2)))
                .map_err(err)?
                .label("expected (median)")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], INK.stroke_width(2)));
        }
        // Flagged buckets: a marker above the bar.
        let marks: Vec<TriangleMarker<(f64, f64), i32>> = (0..n)
            .filter(|&i| self.flagged.get(i).copied().unwrap_or(false))
            .map(|i| TriangleMarker::new((mid(i), base[i] + y_max * 0.03), 7, PALETTE[0].filled()))
            .collect();
        if !marks.is_empty() {
            chart
                .draw_series(marks)
                .map_err(err)?
                .label("flagged bucket")
                .legend(|(x, y)| TriangleMarker::new((x + 7, y), 6, PALETTE[0].filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}
