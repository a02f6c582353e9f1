//! Pictures of a report, as hand-written SVG: the propagation latency CDF (on a logarithmic
//! time axis, since latencies span milliseconds to seconds) and the bandwidth each node sent,
//! by class. Axes have round ticks (1, 2, 5 × 10ⁿ); legends sit in a framed box.

use crate::histogram::Histogram;
use crate::report::Report;
use crate::tap::TrafficClass;
use std::fmt::Write as _;

const W: f64 = 800.0;
const H: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

fn header(title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(s, r##"<rect width="{W}" height="{H}" fill="white"/>"##);
    let _ =
        writeln!(s, r##"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"##, W / 2.0, escape(title));
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A round step for an axis from 0 to `max` with about `target` intervals: 1, 2 or 5 × 10ⁿ.
pub fn nice_step(max: f64, target: f64) -> f64 {
    if max.is_nan() || max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / target.max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Round ticks from 0 to at least `max`: (the axis end, the tick values).
pub fn nice_ticks(max: f64) -> (f64, Vec<f64>) {
    let step = nice_step(max, 5.0);
    let n = (max / step).ceil().max(1.0) as usize;
    let ticks: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
    (n as f64 * step, ticks)
}

/// A tick label without needless decimals.
fn label(v: f64) -> String {
    if v == v.round() { format!("{v:.0}") } else { format!("{v}") }
}

fn frame(s: &mut String, x_label: &str, y_label: &str, x1: f64) {
    let (x0, y0, y1) = (LEFT, H - BOTTOM, TOP);
    let _ = writeln!(s, r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>"##);
    let _ = writeln!(s, r##"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        (x0 + x1) / 2.0,
        H - 15.0,
        escape(x_label)
    );
    let _ = writeln!(
        s,
        r##"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"##,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

fn y_ticks(s: &mut String, ticks: &[f64], y_max: f64, fmt: &dyn Fn(f64) -> String, x1: f64) {
    let (x0, y0, y1) = (LEFT, H - BOTTOM, TOP);
    for v in ticks {
        let y = y0 - v / y_max * (y0 - y1);
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e4e4e4"/>"##);
        let _ = writeln!(s, r##"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"##, x0 - 6.0, y + 4.0, fmt(*v));
    }
}

/// A framed legend at (`x`, `y`) (top-left corner): colour swatches and labels.
fn legend(s: &mut String, x: f64, y: f64, entries: &[(String, &str)]) {
    if entries.is_empty() {
        return;
    }
    let width = 24.0 + 7.0 * entries.iter().map(|(t, _)| t.chars().count()).max().unwrap_or(0) as f64;
    let height = 8.0 + 17.0 * entries.len() as f64;
    let _ = writeln!(
        s,
        r##"<rect x="{x}" y="{y}" width="{width:.0}" height="{height:.0}" fill="white" fill-opacity="0.9" stroke="#999"/>"##
    );
    for (k, (text, color)) in entries.iter().enumerate() {
        let ly = y + 17.0 * (k as f64 + 1.0);
        let _ = writeln!(s, r##"<rect x="{}" y="{}" width="12" height="10" fill="{color}"/>"##, x + 6.0, ly - 9.0);
        let _ = writeln!(s, r##"<text x="{}" y="{ly}">{}</text>"##, x + 22.0, escape(text));
    }
}

/// "0.5 ms", "20 ms", "1.5 s".
fn ms_label(ms: f64) -> String {
    if ms >= 1000.0 { format!("{} s", label(ms / 1000.0)) } else { format!("{} ms", label(ms)) }
}

/// The CDF of propagation latency, one curve per histogram, on a logarithmic time axis from
/// the decade below the fastest receipt to the decade above the slowest.
pub fn latency_cdf_svg(curves: &[(&str, &str, &Histogram)]) -> String {
    let points: Vec<Vec<(f64, f64)>> = curves.iter().map(|(_, _, h)| h.cdf_ms()).collect();
    let all = points.iter().flatten().map(|p| p.0).filter(|v| *v > 0.0);
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(0.0f64, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > 0.0 { (lo, hi) } else { (1.0, 1000.0) };
    let (d0, d1) = (lo.log10().floor().max(-1.0), hi.log10().ceil().max(lo.log10().floor() + 1.0));
    let mut s = header("Propagation latency (CDF)");
    frame(&mut s, "latency from broadcast to receipt (logarithmic)", "fraction of receipts", W - RIGHT);
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let x_of = |ms: f64| x0 + (ms.max(10f64.powf(d0)).log10() - d0) / (d1 - d0) * (x1 - x0);
    for decade in (d0 as i32)..=(d1 as i32) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(decade);
            if v.log10() > d1 + 1e-9 {
                continue;
            }
            let x = x_of(v);
            let major = m == 1.0;
            let stroke = if major { "#cfcfcf" } else { "#eeeeee" };
            let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="{stroke}"/>"##);
            let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" stroke="black"/>"##, y0 + 4.0);
            let _ = writeln!(
                s,
                r##"<text x="{x:.1}" y="{}" text-anchor="middle" fill="{}">{}</text>"##,
                y0 + 18.0,
                if major { "black" } else { "#666" },
                ms_label(v)
            );
        }
    }
    let ticks: Vec<f64> = (0..=10).map(|i| f64::from(i) / 10.0).collect();
    y_ticks(&mut s, &ticks, 1.0, &|v| format!("{:.0} %", v * 100.0), W - RIGHT);
    let mut entries = Vec::new();
    for ((name, color, h), pts) in curves.iter().zip(&points) {
        if pts.is_empty() {
            continue;
        }
        let mut path = format!("M {x0:.1} {y0:.1}");
        let mut prev_y = y0;
        for (xms, frac) in pts {
            let x = x_of(*xms);
            let y = y0 - frac * (y0 - y1);
            let _ = write!(path, " L {x:.1} {prev_y:.1} L {x:.1} {y:.1}");
            prev_y = y;
        }
        let _ = writeln!(s, r##"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"##);
        entries.push((format!("{name} (n = {})", h.count()), *color));
    }
    // Top left: a CDF rises to the right, so that corner stays empty.
    legend(&mut s, x0 + 10.0, y1 + 6.0, &entries);
    s.push_str("</svg>\n");
    s
}

const CLASS_COLORS: [&str; 11] =
    ["#888", "#c00", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/// Bytes each node sent per second, stacked by class, nodes sorted by total.
pub fn bandwidth_svg(report: &Report) -> String {
    let rows = &report.bandwidth.per_node_bytes_per_s;
    let mut order: Vec<(usize, f64)> = rows.iter().enumerate().map(|(i, r)| (i, r.values().sum())).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let max = order.first().map_or(1.0, |o| o.1).max(1.0);
    let (unit, div) = if max >= 1e6 {
        ("MB/s", 1e6)
    } else if max >= 1e3 {
        ("kB/s", 1e3)
    } else {
        ("B/s", 1.0)
    };
    let (top, ticks) = nice_ticks(max / div);
    let y_max = top * div;
    let entries: Vec<(String, &str)> = TrafficClass::ALL
        .iter()
        .enumerate()
        .filter(|(_, c)| report.bandwidth.sent_bytes_total.get(c.name()).copied().unwrap_or(0) > 0)
        .map(|(k, c)| (c.name().to_string(), CLASS_COLORS[k]))
        .collect();
    // The legend goes right of the plot: bars may reach any height anywhere.
    let legend_w = 24.0 + 7.0 * entries.iter().map(|(t, _)| t.len()).max().unwrap_or(0) as f64;
    let x1 = W - RIGHT - legend_w - 12.0;
    let mut s = header("Bandwidth sent per node, by message class");
    frame(&mut s, "nodes, busiest first", &format!("sent ({unit})"), x1);
    y_ticks(&mut s, &ticks.iter().map(|t| t * div).collect::<Vec<_>>(), y_max, &|v| label(v / div), x1);
    let (x0, y0, y1) = (LEFT, H - BOTTOM, TOP);
    let n = order.len().max(1);
    let bar = (x1 - x0) / n as f64;
    let (_, node_ticks) = nice_ticks(n as f64);
    for t in node_ticks.iter().filter(|t| **t <= n as f64) {
        let x = x0 + t * bar;
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" stroke="black"/>"##, y0 + 4.0);
        let _ = writeln!(s, r##"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##, y0 + 18.0, label(*t));
    }
    for (pos, (i, _)) in order.iter().enumerate() {
        let mut y = y0;
        for (k, class) in TrafficClass::ALL.iter().enumerate() {
            let v = rows[*i].get(class.name()).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / y_max * (y0 - y1);
            y -= h;
            let _ = writeln!(
                s,
                r##"<rect x="{:.2}" y="{y:.2}" width="{:.2}" height="{h:.2}" fill="{}"><title>node {i} {}: {v:.0} B/s</title></rect>"##,
                x0 + pos as f64 * bar,
                (bar * 0.9).max(0.5),
                CLASS_COLORS[k],
                class.name()
            );
        }
    }
    legend(&mut s, x1 + 12.0, y1, &entries);
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_svg_is_well_formed_and_has_a_curve_on_a_log_axis() {
        let mut h = Histogram::default();
        for v in [1_000, 2_000, 50_000] {
            h.record_us(v);
        }
        let svg = latency_cdf_svg(&[("transactions", "#1f77b4", &h)]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<path d=\"M"));
        assert!(svg.contains("transactions (n = 3)"));
        // Decades from 1 ms to 100 ms, with 2 and 5 between.
        for t in [">1 ms<", ">2 ms<", ">5 ms<", ">10 ms<", ">100 ms<"] {
            assert!(svg.contains(t), "{t}");
        }
        assert!(svg.contains(">50 %<"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(7.3), (8.0, vec![0.0, 2.0, 4.0, 6.0, 8.0]));
        assert_eq!(nice_ticks(0.42).0, 0.5);
        assert_eq!(nice_ticks(1234.0), (1500.0, vec![0.0, 500.0, 1000.0, 1500.0]));
        assert_eq!(nice_step(0.0, 5.0), 1.0);
    }
}
