//! A key's activity by hour of the week (7 days × 24 hours, the organisation's time zone),
//! its normal traffic shaded by volume, the hours of its incidents outlined and marked.

use super::{err, header, legend, text, ChartError, Draw, PALETTE};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The key's name.
    pub key: String,
    /// The time zone of the hours.
    pub zone: String,
    /// Weeks the normal traffic is averaged over.
    pub weeks: f64,
    /// Ids of the key's incidents.
    pub incidents: Vec<String>,
    /// The working time, described.
    pub working: String,
    /// Average requests per week, per hour of the week (Monday 00:00 first), normal traffic.
    pub normal: Vec<f64>,
    /// Hours of the week with flagged events.
    pub flagged: Vec<bool>,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// A light-to-dark blue ramp: distinguishable in greyscale by lightness alone.
fn shade(v: f64, max: f64) -> RGBColor {
    if v <= 0.0 || max <= 0.0 {
        return RGBColor(248, 248, 248);
    }
    let t = ((1.0 + v).ln() / (1.0 + max).ln()).clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(222.0, 8.0), lerp(235.0, 48.0), lerp(247.0, 107.0))
}

impl Heatmap {
    pub fn title(&self) -> String {
        format!("{}: activity by hour of the week ({})", self.key, self.zone)
    }

    fn subtitle(&self) -> String {
        format!(
            "normal traffic over {:.1} weeks shaded by volume; hours with flagged requests ({}) outlined; working time {}",
            self.weeks,
            self.incidents.join(", "),
            self.working
        )
    }
}

impl Draw for Heatmap {
    fn size(&self) -> (u32, u32) {
        (1200, 440)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        let area = header(root, &self.title(), &self.subtitle(), 20)?;
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..24.0, -0.5..6.5)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(25)
            .y_labels(7)
            .x_label_formatter(&|x| format!("{:02}", *x as u32))
            .y_label_formatter(&|y: &f64| {
                // Rows are centred on whole numbers: Monday at 6, Sunday at 0.
                if (*y - y.round()).abs() < 0.01 && (0.0..=6.0).contains(&y.round()) {
                    DAYS[6 - y.round() as usize].to_string()
                } else {
                    String::new()
                }
            })
            .x_desc("hour of the day (local time)")
            .label_style(text(13))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        let max = self.normal.iter().copied().fold(0.0, f64::max);
        let cell = |slot: usize| {
            let (d, h) = (slot / 24, slot % 24);
            let y = 6.0 - d as f64;
            [(h as f64, y - 0.5), (h as f64 + 1.0, y + 0.5)]
        };
        chart
            .draw_series(
                (0..168)
                    .map(|s| Rectangle::new(cell(s), shade(self.normal.get(s).copied().unwrap_or(0.0), max).filled())),
            )
            .map_err(err)?;
        chart.draw_series((0..168).map(|s| Rectangle::new(cell(s), WHITE.stroke_width(1)))).map_err(err)?;
        let flagged: Vec<usize> = (0..168).filter(|&s| self.flagged.get(s).copied().unwrap_or(false)).collect();
        chart
            .draw_series(flagged.iter().map(|&s| Rectangle::new(cell(s), PALETTE[0].stroke_width(3))))
            .map_err(err)?
            .label("hours with flagged requests")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], PALETTE[0].stroke_width(3)));
        chart
            .draw_series(flagged.iter().map(|&s| {
                let [(x0, y0), _] = cell(s);
                Cross::new((x0 + 0.5, y0 + 0.5), 6, PALETTE[0].stroke_width(2))
            }))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Rectangle::new([(0.0, -0.5), (0.0, -0.5)], shade(max, max).filled())))
            .map_err(err)?
            .label(format!("normal traffic: up to {max:.0} requests per week in an hour (darker = more)"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], shade(max, max).filled()));
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}
