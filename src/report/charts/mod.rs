//! Charts for incidents and keys, drawn with plotters as PNG (documents, tickets) and SVG (the
//! web). Text uses the embedded DejaVu Sans, so charts render the same on a machine without
//! fonts; colours are the Okabe–Ito palette (safe for colour blindness) with markers and
//! lightness that survive greyscale printing.

pub mod data;
pub mod heatmap;
pub mod sources;
pub mod timeline;
pub mod world;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::io::Write;
use std::sync::Once;

/// Font family name under which the embedded font is registered.
pub const FONT: &str = "sans-serif";

/// Okabe–Ito colours (Okabe & Ito 2008), distinguishable with every common colour-vision
/// deficiency; ordered so that neighbours differ in lightness too.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
];
/// The key's usual traffic.
pub const USUAL: RGBColor = RGBColor(110, 110, 110);
pub const LIGHT: RGBColor = RGBColor(225, 225, 225);
pub const INK: RGBColor = RGBColor(30, 30, 30);

static FONTS: Once = Once::new();

fn ensure_fonts() {
    FONTS.call_once(|| {
        // The bytes are DejaVu's own: registering cannot fail on them, and a failure would only
        // leave text undrawn.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The drawing backend failed. plotters' errors are generic over the backend, and its
    /// error type need not be `'static`: what it said is kept as text.
    #[error("{0}")]
    Draw(String),
    #[error("encoding the PNG failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// A chart drawn on any plotters backend.
pub trait Draw {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError>;
}

/// One chart in both formats.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// File name without extension, e.g. `INC-001-timeline`.
    pub name: String,
    /// What the chart shows, for alt text and captions.
    pub title: String,
    pub png: Vec<u8>,
    pub svg: Vec<u8>,
}

/// Draws a chart as PNG and SVG.
pub fn render(name: String, title: String, chart: &impl Draw) -> Result<Rendered, ChartError> {
    ensure_fonts();
    let (w, h) = chart.size();
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(err)?;
    }
    let png = encode_png(&rgb, w, h)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(Rendered { name, title, png, svg: svg.into_bytes() })
}

/// An RGB bitmap of `w` × `h` pixels as PNG.
///
/// Each row is stored as its difference from the row above (the PNG filter "Up"): a chart's
/// rows mostly repeat the one above (background, bars, axes), so most bytes become zeros that
/// deflate finds at once. Against the default filter ("Sub", the difference from the pixel to
/// the left), the 24 charts of a 1M-event scan take 16% fewer bytes.
///
/// The rows are filtered here and deflated at level [`PNG_LEVEL`] into one `IDAT` chunk,
/// rather than by the `png` encoder, whose only levels are 6 (its default) or a much weaker
/// one: the 24 charts of a 1M-event scan took 88 ms at level 6 and take about 30 ms here, for 6%
/// more bytes (3.1× more with its fast level).
fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, ChartError> {
    let stride = w as usize * 3;
    if rgb.len() != stride * h as usize {
        let want = stride * h as usize;
        return Err(ChartError::Draw(format!("the bitmap of a {w} × {h} chart holds {} bytes, not {want}", rgb.len())));
    }
    let mut deflate =
        flate2::write::ZlibEncoder::new(Vec::with_capacity(rgb.len() / 16), flate2::Compression::new(PNG_LEVEL));
    let mut line = vec![0u8; stride + 1];
    line[0] = 2; // the filter type "Up"
    let mut above: &[u8] = &[];
    for row in rgb.chunks_exact(stride.max(1)) {
        if above.is_empty() {
            line[1..].copy_from_slice(row);
        } else {
            for ((out, &now), &up) in line[1..].iter_mut().zip(row).zip(above) {
                *out = now.wrapping_sub(up);
            }
        }
        deflate.write_all(&line).map_err(png::EncodingError::from)?;
        above = row;
    }
    let idat = deflate.finish().map_err(png::EncodingError::from)?;
    let mut png = Vec::with_capacity(idat.len() + 64);
    let mut encoder = png::Encoder::new(&mut png, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_chunk(png::chunk::IDAT, &idat)?;
    writer.finish()?;
    Ok(png)
}

/// The deflate level of the charts' PNGs (see [`encode_png`]).
const PNG_LEVEL: u32 = 2;

/// A plotters error as a [`ChartError`].
pub fn err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// A text style of the embedded font.
pub fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&INK)
}

/// A bold title style.
pub fn title(size: u32) -> TextStyle<'static> {
    (FONT, size, FontStyle::Bold).into_font().color(&INK)
}

/// Paints the background, the title and the subtitle; returns the area below them (with
/// `right` pixels kept free on the right).
pub fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    heading: &str,
    subtitle: &str,
    right: u32,
) -> Result<DrawingArea<DB, Shift>, ChartError> {
    root.fill(&WHITE).map_err(err)?;
    root.draw(&Text::new(heading.to_string(), (20, 12), title(22))).map_err(err)?;
    root.draw(&Text::new(subtitle.to_string(), (20, 42), text(15))).map_err(err)?;
    Ok(root.margin(70, 10, 10, right))
}

/// Draws the series legend in a corner, on a light background.
pub fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(INK)
        .label_font(text(13))
        .draw()
        .map_err(err)
}

/// A file-name-safe version of a credential or label.
pub fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    out.truncate(48);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG decodes to the bitmap it was made of: flat areas, lines, gradients and noise, at
    /// a width whose rows do not end on a word.
    #[test]
    fn png_decodes_to_its_bitmap() {
        let (w, h) = (67u32, 41u32);
        let mut state = 7u32;
        let rgb: Vec<u8> = (0..w * h * 3)
            .map(|i| {
                let (x, y) = ((i / 3) % w, (i / 3) / w);
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                match (x / 20, y / 10) {
                    (0, _) => 255,
                    (1, _) if y % 5 == 0 => 30,
                    (1, _) => (x * 3 + y) as u8,
                    _ => (state >> 24) as u8,
                }
            })
            .collect();
        let png = encode_png(&rgb, w, h).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
        let mut back = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut back).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (w, h, png::ColorType::Rgb));
        assert_eq!(&back[..info.buffer_size()], &rgb[..]);
        // A bitmap of the wrong size is an error, not a panic or a short image.
        assert!(matches!(encode_png(&rgb[3..], w, h), Err(ChartError::Draw(_))));
    }

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(slug("fc1:57d423eed1b4"), "fc1-57d423eed1b4");
        assert_eq!(slug("../../etc/passwd"), "------etc-passwd");
        assert_eq!(slug("Prod Bot"), "prod-bot");
    }

    /// A chart that draws its background, then fails.
    struct Failing;

    impl Draw for Failing {
        fn size(&self) -> (u32, u32) {
            (40, 30)
        }

        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), ChartError> {
            root.fill(&WHITE).map_err(err)?;
            Err(err("no room for the legend"))
        }
    }

    /// A chart that cannot be drawn is an error saying what the backend said, not a panic or
    /// an empty file.
    #[test]
    fn a_failing_chart_is_an_error() {
        match render("x".into(), "X".into(), &Failing) {
            Err(ChartError::Draw(message)) => assert_eq!(message, "no room for the legend"),
            other => panic!("expected a drawing error, got {other:?}"),
        }
    }
}
