//! The report's charts, drawn by `plotters` as inline SVG (text as SVG text: no font files and no
//! bitmaps). Four shapes serve every section: horizontal bars (one panel or several side by
//! side, as Splink draws m and u), stacked shares, a histogram with thresholds drawn, and a
//! small trend of lines.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;

use super::ReportError;

/// The palette, in the order series take it.
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xe0, 0x8a, 0x1e),
    RGBColor(0x3a, 0x9a, 0x5b),
    RGBColor(0xc0, 0x39, 0x2b),
    RGBColor(0x8e, 0x5e, 0xa2),
    RGBColor(0x7f, 0x8c, 0x8d),
    RGBColor(0x16, 0xa0, 0x85),
];

const FONT: &str = "sans-serif";
/// The mesh's fine lines, barely there.
const FAINT: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
const WIDTH: u32 = 760;
const ROW_PX: u32 = 22;

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Draws on an SVG canvas of `size`; the SVG's text.
fn draw(title: &str, size: (u32, u32), paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn) -> Result<String, ReportError> {
    let mut svg = String::new();
    let failed = |e: &dyn std::fmt::Display| ReportError::Chart { chart: title.to_string(), message: e.to_string() };
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        paint(&root).map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

/// The labels of a chart of categories: at least two rows, as plotters labels no single segment.
fn rows(labels: &[String]) -> Vec<String> {
    let mut rows = if labels.is_empty() { vec![String::from("(none)")] } else { labels.to_vec() };
    if rows.len() == 1 {
        rows.push(String::new());
    }
    rows
}

/// Room for the longest label, in pixels (CJK characters count twice).
fn label_room(labels: &[String]) -> u32 {
    let widest = labels.iter().map(|l| l.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum::<u32>()).max().unwrap_or(4);
    (widest * 7 + 12).clamp(40, 260)
}

/// `1234567` → `1.2M`: axis labels stay short.
fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 10.0 || x == x.round() {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

/// A chart of categories (one row per label, the first at the top) over an x axis of values.
type CategoryChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

/// The mesh of a chart of categories: the labels at the left, the values below.
fn category_mesh(chart: &mut CategoryChart, labels: &[String], x_label: &dyn Fn(&f64) -> String) -> Drawn {
    let n = labels.len();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(FAINT)
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(k) => labels.get(n - 1 - k).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_labels(5)
        .x_label_formatter(x_label)
        .label_style((FONT, 11))
        .draw()?;
    Ok(())
}

/// One panel of horizontal bars: a value per label.
pub struct Panel<'a> {
    /// The panel's caption, e.g. `m probability`.
    pub caption: &'a str,
    /// One value per label.
    pub values: Vec<f64>,
    /// The bars' colour.
    pub color: RGBColor,
    /// The axis's end when the values are all smaller (1.0 for probabilities).
    pub at_least: f64,
}

/// Horizontal bars, the first label at the top, in one or more panels side by side that share
/// the labels.
pub fn bars(title: &str, labels: &[String], panels: &[Panel]) -> Result<String, ReportError> {
    let empty = labels.is_empty();
    let labels = &rows(labels)[..];
    let n = labels.len();
    let room = label_room(labels);
    draw(title, (WIDTH, 70 + ROW_PX * n as u32), |root| {
        let root = root.titled(title, (FONT, 16))?;
        // The first panel carries the labels; every panel's plot is as wide.
        let plot = (WIDTH - room) / panels.len().max(1) as u32;
        let mut rest = root;
        for (i, panel) in panels.iter().enumerate() {
            let (area, right) = rest.split_horizontally(if i == 0 { room + plot } else { plot });
            rest = right;
            let max = panel.values.iter().copied().fold(panel.at_least, f64::max).max(1e-9);
            let mut builder = ChartBuilder::on(&area);
            builder.margin(8).x_label_area_size(28).y_label_area_size(if i == 0 { room } else { 0 });
            builder.caption(panel.caption, (FONT, 13));
            let mut chart = builder.build_cartesian_2d(0f64..max * 1.05, (0..n - 1).into_segmented())?;
            category_mesh(&mut chart, labels, &|x| short(*x))?;
            if !empty {
                let bars = panel.values.iter().enumerate().map(|(k, v)| (n - 1 - k, *v));
                chart.draw_series(Histogram::horizontal(&chart).style(panel.color.filled()).margin(3).data(bars))?;
            }
        }
        Ok(())
    })
}

/// Stacked horizontal bars of shares: per label, its parts (`parts[i]` is `(name, colour)`,
/// `values[label][i]` its count), each bar filling to 100%.
pub fn shares(title: &str, labels: &[String], parts: &[(&str, RGBColor)], values: &[Vec<f64>]) -> Result<String, ReportError> {
    let labels = &rows(labels)[..];
    let n = labels.len();
    draw(title, (WIDTH, 100 + ROW_PX * n as u32), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(label_room(labels))
            // Beyond 100% is the legend's room.
            .build_cartesian_2d(0f64..135f64, (0..n - 1).into_segmented())?;
        category_mesh(&mut chart, labels, &|x| if *x <= 100.0 { format!("{x:.0}%") } else { String::new() })?;
        for (i, (name, color)) in parts.iter().enumerate() {
            let spans: Vec<Rectangle<(f64, SegmentValue<usize>)>> = values
                .iter()
                .enumerate()
                .filter_map(|(k, row)| {
                    let total: f64 = row.iter().sum();
                    (total > 0.0 && row[i] > 0.0).then(|| {
                        let start = row[..i].iter().sum::<f64>() / total * 100.0;
                        let end = start + row[i] / total * 100.0;
                        let y = n - 1 - k;
                        Rectangle::new([(start, SegmentValue::Exact(y)), (end, SegmentValue::Exact(y + 1))], color.filled())
                    })
                })
                .collect();
            let color = *color;
            chart.draw_series(spans)?.label(*name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperRight).background_style(WHITE).label_font((FONT, 11)).draw()?;
        Ok(())
    })
}

/// One bin of a histogram: its lower bound and a count per stacked part.
pub struct Bin {
    /// The bin's lower bound.
    pub from: f64,
    /// A count per part, in the order of the parts.
    pub counts: Vec<f64>,
}

/// A histogram of bins `width` wide, parts stacked, with vertical lines at the thresholds.
pub fn histogram(title: &str, x_desc: &str, bins: &[Bin], width: f64, parts: &[(&str, RGBColor)], thresholds: &[(&str, f64, RGBColor)]) -> Result<String, ReportError> {
    let low = bins.iter().map(|b| b.from).chain(thresholds.iter().map(|t| t.1)).fold(f64::INFINITY, f64::min);
    let high = bins.iter().map(|b| b.from + width).chain(thresholds.iter().map(|t| t.1)).fold(f64::NEG_INFINITY, f64::max);
    let (low, high) = if low.is_finite() && high > low { (low - width, high + width) } else { (0.0, 1.0) };
    let top = bins.iter().map(|b| b.counts.iter().sum::<f64>()).fold(1.0, f64::max) * 1.1;
    draw(title, (WIDTH, 320), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(low..high, 0f64..top)?;
        chart.configure_mesh().light_line_style(FAINT).x_desc(x_desc).y_desc("mentions").y_label_formatter(&|y| short(*y)).label_style((FONT, 11)).draw()?;
        for (i, (name, color)) in parts.iter().enumerate() {
            let color = *color;
            let rects: Vec<Rectangle<(f64, f64)>> = bins
                .iter()
                .filter(|b| b.counts[i] > 0.0)
                .map(|b| {
                    let base: f64 = b.counts[..i].iter().sum();
                    Rectangle::new([(b.from, base), (b.from + width, base + b.counts[i])], color.filled())
                })
                .collect();
            chart.draw_series(rects)?.label(*name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        }
        for (name, at, color) in thresholds {
            let color = *color;
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(*at, 0.0), (*at, top)], color.stroke_width(2))))?
                .label(format!("{name} = {at}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).background_style(WHITE.mix(0.9)).border_style(BLACK).label_font((FONT, 11)).draw()?;
        Ok(())
    })
}

/// A small chart of lines over the nights (`x_labels`, oldest first), a series per `(name,
/// colour, values)`; small multiples share one legend, which the page draws.
pub fn trend(title: &str, x_labels: &[String], series: &[(&str, RGBColor, Vec<f64>)]) -> Result<String, ReportError> {
    let n = x_labels.len().max(1);
    let top = series.iter().flat_map(|s| s.2.iter().copied()).fold(1.0, f64::max) * 1.15;
    draw(title, (300, 150), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT, 12))
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(FAINT)
            .x_labels(n.min(8))
            .x_label_formatter(&|x| {
                let k = x.round();
                if (x - k).abs() < 1e-6 && k >= 0.0 { x_labels.get(k as usize).cloned().unwrap_or_default() } else { String::new() }
            })
            .y_labels(3)
            .y_label_formatter(&|y| short(*y))
            .label_style((FONT, 9))
            .draw()?;
        for (_, color, values) in series {
            let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(k, v)| (k as f64, *v)).collect();
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_labels_and_no_link_out() {
        let svg = bars("links per rule", &["id_exact".into(), "register".into()], &[Panel { caption: "", values: vec![10.0, 3.0], color: PALETTE[0], at_least: 0.0 }]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("id_exact") && svg.contains("<rect"), "{svg}");
        let empty = bars("nothing", &[], &[Panel { caption: "", values: vec![], color: PALETTE[0], at_least: 0.0 }]).unwrap();
        assert!(empty.contains("(none)"));
        let h = histogram("weights", "match weight", &[Bin { from: 3.0, counts: vec![5.0, 1.0] }], 1.0, &[("linked", PALETTE[0]), ("not", PALETTE[5])], &[("match_weight", 6.0, PALETTE[3])]).unwrap();
        assert!(h.contains("match_weight = 6"), "{h}");
        let t = trend("household_register", &["1".into()], &[("read", PALETTE[0], vec![100.0])]).unwrap();
        assert!(t.contains("<circle"), "{t}");
        let one = bars("one rule", &["register".into()], &[Panel { caption: "", values: vec![4.0], color: PALETTE[0], at_least: 0.0 }]).unwrap();
        assert!(one.contains("\nregister\n"), "{one}");
        let s = shares("ID quality", &["a".into()], &[("valid", PALETTE[2]), ("missing", PALETTE[3])], &[vec![9.0, 1.0]]).unwrap();
        assert!(s.contains("valid") && s.contains("missing"));
    }
}
