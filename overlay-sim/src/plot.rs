//! Pictures of a report, as hand-written SVG: the propagation latency CDF and the bandwidth
//! each node sent, by class.

use crate::histogram::Histogram;
use crate::report::Report;
use crate::tap::TrafficClass;
use std::fmt::Write as _;

const W: f64 = 800.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
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

fn axes(s: &mut String, x_label: &str, y_label: &str, x_max: f64, y_max: f64, y_fmt: &dyn Fn(f64) -> String) {
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let _ = writeln!(s, r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>"##);
    let _ = writeln!(s, r##"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"##);
    for i in 0..=5 {
        let f = f64::from(i) / 5.0;
        let x = x0 + f * (x1 - x0);
        let y = y0 - f * (y0 - y1);
        let _ = writeln!(s, r##"<line x1="{x}" y1="{y0}" x2="{x}" y2="{}" stroke="black"/>"##, y0 + 4.0);
        let _ = writeln!(s, r##"<text x="{x}" y="{}" text-anchor="middle">{:.0}</text>"##, y0 + 18.0, f * x_max);
        let _ = writeln!(s, r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/>"##);
        let _ =
            writeln!(s, r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##, x0 - 6.0, y + 4.0, y_fmt(f * y_max));
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        (x0 + x1) / 2.0,
        H - 15.0,
        escape(x_label)
    );
    let _ = writeln!(
        s,
        r##"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"##,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

/// The CDF of propagation latency, one curve per histogram.
pub fn latency_cdf_svg(curves: &[(&str, &str, &Histogram)]) -> String {
    let x_max = curves.iter().filter_map(|(_, _, h)| h.cdf_ms().last().map(|p| p.0)).fold(1.0f64, f64::max).ceil();
    let mut s = header("Propagation latency (CDF)");
    axes(&mut s, "latency from broadcast to receipt (ms)", "fraction of receipts", x_max, 1.0, &|v| format!("{v:.1}"));
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    for (k, (name, color, h)) in curves.iter().enumerate() {
        let pts = h.cdf_ms();
        if pts.is_empty() {
            continue;
        }
        let mut path = format!("M {x0:.1} {y0:.1}");
        let mut prev_y = y0;
        for (xms, frac) in pts {
            let x = x0 + xms / x_max * (x1 - x0);
            let y = y0 - frac * (y0 - y1);
            let _ = write!(path, " L {x:.1} {prev_y:.1} L {x:.1} {y:.1}");
            prev_y = y;
        }
        let _ = writeln!(s, r##"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"##);
        let ly = TOP + 16.0 + 18.0 * k as f64;
        let _ = writeln!(s, r##"<rect x="{}" y="{}" width="14" height="4" fill="{color}"/>"##, x1 - 190.0, ly - 4.0);
        let _ = writeln!(s, r##"<text x="{}" y="{ly}">{} (n = {})</text>"##, x1 - 170.0, escape(name), h.count());
    }
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
    let mut s = header("Bandwidth sent per node, by message class");
    let x_max = order.len() as f64;
    axes(&mut s, "nodes, busiest first", &format!("sent ({unit})"), x_max, max, &|v| format!("{:.1}", v / div));
    let (x0, y0, x1, y1) = (LEFT, H - BOTTOM, W - RIGHT, TOP);
    let bar = (x1 - x0) / x_max.max(1.0);
    for (pos, (i, _)) in order.iter().enumerate() {
        let mut y = y0;
        for (k, class) in TrafficClass::ALL.iter().enumerate() {
            let v = rows[*i].get(class.name()).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / max * (y0 - y1);
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
    for (k, class) in TrafficClass::ALL.iter().enumerate() {
        let present = report.bandwidth.sent_bytes_total.get(class.name()).copied().unwrap_or(0) > 0;
        if !present {
            continue;
        }
        let ly = TOP + 12.0 + 15.0 * k as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="10" height="10" fill="{}"/>"##,
            x1 - 120.0,
            ly - 9.0,
            CLASS_COLORS[k]
        );
        let _ = writeln!(s, r##"<text x="{}" y="{ly}">{}</text>"##, x1 - 105.0, class.name());
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_svg_is_well_formed_and_has_a_curve() {
        let mut h = Histogram::default();
        for v in [1_000, 2_000, 50_000] {
            h.record_us(v);
        }
        let svg = latency_cdf_svg(&[("transactions", "#1f77b4", &h)]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<path d=\"M"));
        assert!(svg.contains("(n = 3)"));
    }
}
