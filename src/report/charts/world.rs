//! Where a key was used from, on a plain longitude/latitude grid (no map tiles): its usual
//! places in grey, the places new in its incidents in vermillion, labelled.

use super::{err, header, legend, text, ChartError, Draw, LIGHT, PALETTE, USUAL};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct World {
    pub title: String,
    pub subtitle: String,
    /// (longitude, latitude, requests, label, new?)
    pub places: Vec<(f64, f64, f64, String, bool)>,
}

impl Draw for World {
    fn size(&self) -> (u32, u32) {
        (1200, 680)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        let area = header(root, &self.title, &self.subtitle, 20)?;
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(-180.0..180.0, -90.0..90.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(13)
            .y_labels(7)
            .light_line_style(WHITE)
            .bold_line_style(LIGHT)
            .x_label_formatter(&|x: &f64| {
                format!(
                    "{:.0}°{}",
                    x.abs(),
                    if *x < 0.0 {
                        "W"
                    } else if *x > 0.0 {
                        "E"
                    } else {
                        ""
                    }
                )
            })
            .y_label_formatter(&|y: &f64| {
                format!(
                    "{:.0}°{}",
                    y.abs(),
                    if *y < 0.0 {
                        "S"
                    } else if *y > 0.0 {
                        "N"
                    } else {
                        ""
                    }
                )
            })
            .x_desc("longitude")
            .y_desc("latitude")
            .label_style(text(13))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        let max = self.places.iter().map(|p| p.2).fold(1.0, f64::max);
        let radius = |r: f64| (4.0 + 10.0 * (1.0 + r).ln() / (1.0 + max).ln()).round() as i32;
        chart
            .draw_series(
                self.places
                    .iter()
                    .filter(|p| !p.4)
                    .map(|p| Circle::new((p.0, p.1), radius(p.2), USUAL.mix(0.7).filled())),
            )
            .map_err(err)?
            .label("usual places (size: requests)")
            .legend(|(x, y)| Circle::new((x + 7, y), 6, USUAL.filled()));
        chart
            .draw_series(
                self.places
                    .iter()
                    .filter(|p| p.4)
                    .map(|p| TriangleMarker::new((p.0, p.1), radius(p.2) + 2, PALETTE[0].filled())),
            )
            .map_err(err)?
            .label("new places in incidents")
            .legend(|(x, y)| TriangleMarker::new((x + 7, y), 7, PALETTE[0].filled()));
        chart
            .draw_series(
                self.places.iter().filter(|p| p.4).map(|p| Text::new(p.3.clone(), (p.0 + 3.0, p.1 - 3.0), text(14))),
            )
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        Ok(())
    }
}
