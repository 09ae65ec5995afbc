//! Stacked panels of line curves over one shared x axis, rendered with `plotters` into PNG or
//! SVG bytes and written atomically. The callers ([`super::metrics`], [`super::forecast`])
//! decide what goes in which panel; this file only draws.
//!
//! A panel whose values are all positive and span 20x or more gets a log y axis (a loss
//! falling from 1 to 1e-4 stays readable); a percent panel shows `%` on its ticks.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::Format;
use crate::error::{Error, Result};

/// DejaVu Sans cut down to ASCII and Latin-1 (16 KB); its licence is in `assets/`.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");

/// Ten distinguishable colours (matplotlib's default cycle), taken in turn by the curves.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// How a curve is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A 2 px line.
    Line,
    /// A 2 px line with a dot on every point: for a few evaluations.
    LineDots,
    /// A 5 px line, for a reference (the true series) that thinner curves are drawn over.
    Wide,
}

#[derive(Clone, Debug)]
pub struct Curve {
    pub label: String,
    pub color: (u8, u8, u8),
    pub style: Style,
    /// (x, y); non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub y_desc: String,
    /// Values are percentages: ticks get a `%`.
    pub percent: bool,
    /// A log y axis is allowed (used when the values are positive and span 20x or more).
    pub allow_log: bool,
    /// Empty space above the curves for the legend, as a fraction of their y range (0: the
    /// legend goes to whichever right corner the curves end farther from).
    pub headroom: f64,
    pub curves: Vec<Curve>,
}

/// What to draw: panels stacked top to bottom, sharing the x axis.
#[derive(Clone, Debug)]
pub struct Chart {
    pub x_desc: String,
    /// x values are counts (epochs, steps, rows): ticks without decimals.
    pub x_integer: bool,
    pub panels: Vec<Panel>,
}

impl Chart {
    /// Renders to `out` (PNG or SVG by its extension), `size` = (width, height) in pixels.
    /// The file is replaced atomically; on error it is left as it was.
    pub fn write(&self, out: &Path, size: (u32, u32)) -> Result<()> {
        let bytes = self.render(Format::from_path(out)?, size)?;
        crate::io::atomic::write_atomic(out, &bytes)
    }

    /// The picture's bytes: a PNG file or SVG text.
    pub fn render(&self, format: Format, size: (u32, u32)) -> Result<Vec<u8>> {
        register_font()?;
        if !self.panels.iter().any(|p| p.curves.iter().any(|c| c.points.iter().any(finite))) {
            return Err(Error::Input("nothing to draw: no curve has a finite point".into()));
        }
        match format {
            Format::Png => {
                let (w, h) = size;
                let len = (w as usize).checked_mul(h as usize).and_then(|n| n.checked_mul(3));
                let mut buf = vec![255u8; len.ok_or_else(|| Error::Input("picture too large".into()))?];
                {
                    let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
                    self.draw(&root)?;
                    root.present().map_err(drawing)?;
                }
                encode_png(&buf, size)
            }
            Format::Svg => {
                let mut s = String::new();
                {
                    let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
                    self.draw(&root)?;
                    root.present().map_err(drawing)?;
                }
                Ok(s.into_bytes())
            }
        }
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(drawing)?;
        let panels: Vec<&Panel> =
            self.panels.iter().filter(|p| p.curves.iter().any(|c| c.points.iter().any(finite))).collect();
        let xs = span(panels.iter().flat_map(|p| p.curves.iter().flat_map(|c| c.points.iter())).map(|p| p.0));
        let areas = root.split_evenly((panels.len(), 1));
        for (area, panel) in areas.iter().zip(panels) {
            let ys =
                span(panel.curves.iter().flat_map(|c| c.points.iter().filter(|p| finite(p)).map(|p| p.1)));
            if panel.allow_log && log_worthy(&ys) {
                let y = (ys.start / 1.25..ys.end * 1.25).log_scale();
                self.draw_panel(area, panel, pad(xs.clone(), 0.02), y)?;
            } else {
                let y = pad(ys, 0.08);
                let y = y.start..y.end + (y.end - y.start) * panel.headroom;
                self.draw_panel(area, panel, pad(xs.clone(), 0.02), y)?;
            }
        }
        Ok(())
    }

    fn draw_panel<DB: DrawingBackend, Y>(
        &self,
        area: &DrawingArea<DB, Shift>,
        panel: &Panel,
        x: Range<f64>,
        y: Y,
    ) -> Result<()>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let font = |px: u32| (FontFamily::SansSerif, px);
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, font(18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(drawing)?;
        let x_fmt = |v: &f64| if self.x_integer { format!("{}", v.round()) } else { short(*v) };
        let y_fmt = |v: &f64| if panel.percent { format!("{}%", short(*v)) } else { short(*v) };
        chart
            .configure_mesh()
            .x_desc(&self.x_desc)
            .y_desc(&panel.y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .y_labels(8)
            .label_style(font(13))
            .axis_desc_style(font(14))
            .light_line_style(WHITE)
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(drawing)?;
        for c in &panel.curves {
            let color = RGBColor(c.color.0, c.color.1, c.color.2);
            let pts: Vec<(f64, f64)> = c.points.iter().copied().filter(finite).collect();
            let width = if c.style == Style::Wide { 5 } else { 2 };
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(width)))
                .map_err(drawing)?
                .label(&c.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(width)));
            if c.style == Style::LineDots {
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(drawing)?;
            }
        }
        // The legend goes where the curves end up least: below them if they end high.
        let ends_high = {
            let ys =
                span(panel.curves.iter().flat_map(|c| c.points.iter().filter(|p| finite(p)).map(|p| p.1)));
            let last: Vec<f64> = panel
                .curves
                .iter()
                .filter_map(|c| c.points.iter().rfind(|p| finite(p)).map(|p| p.1))
                .collect();
            let mid = (ys.start + ys.end) / 2.0;
            panel.headroom == 0.0 && last.iter().filter(|&&v| v > mid).count() * 2 > last.len()
        };
        chart
            .configure_series_labels()
            .position(if ends_high {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .label_font(font(13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(drawing)?;
        Ok(())
    }
}

/// Registers the built-in font as plotters' `sans-serif` (once per process).
fn register_font() -> Result<()> {
    static OK: OnceLock<bool> = OnceLock::new();
    let ok =
        *OK.get_or_init(|| plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(Error::Input("the built-in font could not be read".into())) }
}

fn drawing<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    Error::Input(format!("drawing the plot: {e}"))
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: png::EncodingError| Error::Input(format!("encoding the PNG: {e}"));
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// min..max of the finite values (0..1 if there are none).
/// Whether values spanning `ys` want a log axis: all positive and 20x or more apart, but not
/// so far apart that the ratio overflows (plotters then never finishes its tick marks).
fn log_worthy(ys: &Range<f64>) -> bool {
    let ratio = ys.end / ys.start;
    ys.start > 0.0 && ratio >= 20.0 && ratio.is_finite()
}

fn span(v: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| (l.min(x), h.max(x)));
    if lo > hi { 0.0..1.0 } else { lo..hi }
}

/// Widens a range by `frac` of its length on each side (by 1, or 10% of the value, if it is a
/// single value).
fn pad(r: Range<f64>, frac: f64) -> Range<f64> {
    let len = r.end - r.start;
    if len > 0.0 {
        r.start - len * frac..r.end + len * frac
    } else {
        let d = if r.start == 0.0 { 1.0 } else { r.start.abs() * 0.1 };
        r.start - d..r.end + d
    }
}

/// A tick label: about 4 significant digits, no trailing zeros, `1e-5` style when tiny or huge.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { v.to_string() };
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.0e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_axis_only_for_a_finite_positive_span_of_20x_or_more() {
        assert!(log_worthy(&(0.01..1.0)));
        assert!(!log_worthy(&(0.1..1.0)));
        assert!(!log_worthy(&(0.0..1.0)));
        // A loss of 1e-310 (subnormal) against 1: the ratio is inf; this hung `recur plot`.
        assert!(!log_worthy(&(1e-310..1.0)));
        assert!(!log_worthy(&(1e-300..1e300)));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(99.16666), "99.17");
        assert_eq!(short(0.5), "0.5");
        assert_eq!(short(1234.0), "1234");
        assert_eq!(short(0.0002), "2e-4");
        assert_eq!(short(-0.25), "-0.25");
        assert_eq!(short(2.0e6), "2e6");
    }

    #[test]
    fn ranges_are_padded_and_never_empty() {
        assert_eq!(span([3.0, f64::NAN, 1.0].into_iter()), 1.0..3.0);
        assert_eq!(span(std::iter::empty()), 0.0..1.0);
        assert_eq!(pad(1.0..3.0, 0.5), 0.0..4.0);
        assert_eq!(pad(5.0..5.0, 0.1), 4.5..5.5);
        assert_eq!(pad(0.0..0.0, 0.1), -1.0..1.0);
    }

    fn one_curve(points: Vec<(f64, f64)>) -> Chart {
        let curve = Curve { label: "c".into(), color: PALETTE[0], style: Style::Line, points };
        let panel = Panel {
            title: "t".into(),
            y_desc: "y".into(),
            percent: false,
            allow_log: true,
            headroom: 0.0,
            curves: vec![curve],
        };
        Chart { x_desc: "x".into(), x_integer: true, panels: vec![panel] }
    }

    #[test]
    fn svg_has_the_text_and_the_curve() {
        let chart = one_curve(vec![(0.0, 1.0), (1.0, 0.01), (2.0, 0.001)]);
        let svg = String::from_utf8(chart.render(Format::Svg, (400, 300)).unwrap()).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains(r#"width="400""#), "{}", &svg[..100]);
        assert!(svg.contains("<text") && svg.contains(">\nt\n</text>"), "caption missing");
        assert!(svg.contains("#1F77B4") || svg.contains("#1f77b4"), "curve colour missing");
    }

    #[test]
    fn nothing_finite_is_an_error() {
        let e = one_curve(vec![(0.0, f64::NAN)]).render(Format::Png, (200, 200)).unwrap_err();
        assert!(e.to_string().contains("nothing to draw"), "{e}");
    }
}
