//! Where an incident's requests came from, against where the key's requests normally come
//! from: share of requests per network owner (AS) or country, new ones marked.

use super::{err, header, legend, text, ChartError, Draw, PALETTE, USUAL};
use plotters::coord::Shift;
use plotters::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct Sources {
    /// The key's name and the incident's id, for the title.
    pub key: String,
    pub incident: String,
    pub subtitle: String,
    /// (source, share of the key's normal requests in %, share of the incident's in %, new?)
    pub rows: Vec<(String, f64, f64, bool)>,
}

impl Sources {
    pub fn title(&self) -> String {
        format!("{}: sources of {} against the key's normal traffic", self.key, self.incident)
    }
}

impl Draw for Sources {
    fn size(&self) -> (u32, u32) {
        (1200, (150 + 46 * self.rows.len().max(1)) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
        let area = header(root, &self.title(), &self.subtitle, 30)?;
        let n = self.rows.len().max(1);
        let mut chart = ChartBuilder::on(&area)
            .x_label_area_size(45)
            .y_label_area_size(380)
            // Room right of 100% for the legend, so that it never covers a bar.
            .build_cartesian_2d(0.0..185.0, 0.0..n as f64)
            .map_err(err)?;
        let rows = &self.rows;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y: &f64| {
                let i = (y - 0.5).round();
                if (y - 0.5 - i).abs() < 0.01 && i >= 0.0 && (i as usize) < rows.len() {
                    let r = &rows[rows.len() - 1 - i as usize];
                    let mut name = r.0.clone();
                    if name.chars().count() > 42 {
                        name = name.chars().take(41).collect::<String>() + "…";
                    }
                    if r.3 {
                        format!("NEW  {name}")
                    } else {
                        name
                    }
                } else {
                    String::new()
                }
            })
            .x_labels(20)
            .x_label_formatter(&|x| if *x <= 100.0 { format!("{x:.0}%") } else { String::new() })
            .x_desc("share of requests")
            .label_style(text(13))
            .axis_desc_style(text(15))
            .draw()
            .map_err(err)?;
        let y = |i: usize| (rows.len() - 1 - i) as f64;
        chart
            .draw_series(
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| Rectangle::new([(0.0, y(i) + 0.52), (r.1, y(i) + 0.88)], USUAL.filled())),
            )
            .map_err(err)?
            .label("the key's normal traffic (before the incident)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], USUAL.filled()));
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| {
                let color = if r.3 { PALETTE[0] } else { PALETTE[1] };
                Rectangle::new([(0.0, y(i) + 0.12), (r.2, y(i) + 0.48)], color.filled())
            }))
            .map_err(err)?
            .label("the incident (vermillion: never seen before)")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], PALETTE[0].filled()));
        chart
            .draw_series(rows.iter().enumerate().flat_map(|(i, r)| {
                [(r.1, y(i) + 0.80), (r.2, y(i) + 0.40)]
                    .into_iter()
                    .filter(|(share, _)| *share > 0.0)
                    .map(|(share, at)| Text::new(format!("{share:.1}%"), (share + 0.8, at), text(12)))
                    .collect::<Vec<_>>()
            }))
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}
