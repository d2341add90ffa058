//! Line charts drawn as SVG text: axes with round ticks (linear, or logarithmic for latencies),
//! one polyline with point markers per series, an optional horizontal reference line (a floor),
//! and a legend. Enough for the two charts of docs/benchmarks.md, with no plotting library.

use std::fmt::Write as _;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// A horizontal line at this y, with a label (e.g. a floor of the issue).
    pub reference: Option<(f64, String)>,
}

/// Colours that stay apart for readers with the common colour-vision deficiencies.
pub const PALETTE: [&str; 6] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
];

const W: f64 = 760.0;
const H: f64 = 440.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 56.0;

fn nice_step(range: f64, target: f64) -> f64 {
    let raw = (range / target).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Chart {
    pub fn svg(&self) -> String {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
            .collect();
        let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max).max(1.0);
        let mut ymax = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let mut ymin = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        if let Some((r, _)) = self.reference {
            ymax = ymax.max(r);
            ymin = ymin.min(r);
        }
        let xstep = nice_step(xmax, 6.0);
        let xtop = (xmax / xstep).ceil() * xstep;
        let (y0, y1, yticks): (f64, f64, Vec<f64>) = if self.log_y {
            let lo = ymin.max(1e-3).log10().floor();
            let hi = ymax.max(1e-3).log10().ceil().max(lo + 1.0);
            let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
            (lo, hi, ticks)
        } else {
            let ystep = nice_step(ymax.max(1e-9), 5.0);
            let top = (ymax / ystep).ceil().max(1.0) * ystep;
            let ticks = (0..=((top / ystep).round() as usize))
                .map(|i| i as f64 * ystep)
                .collect();
            (0.0, top, ticks)
        };
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let sx = |x: f64| LEFT + x / xtop * pw;
        let sy = |y: f64| {
            let v = if self.log_y { y.max(1e-9).log10() } else { y };
            TOP + ph - (v - y0) / (y1 - y0) * ph
        };

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="24" font-size="15" font-weight="bold">{}</text>"#,
            LEFT,
            esc(&self.title)
        );
        // Grid and ticks.
        for t in &yticks {
            let y = sy(*t);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT - 6.0,
                y + 4.0,
                label(*t)
            );
        }
        let mut x = 0.0;
        while x <= xtop + xstep * 0.01 {
            let px = sx(x);
            let _ = writeln!(
                s,
                r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP + ph,
                TOP + ph + 18.0,
                label(x)
            );
            x += xstep;
        }
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + pw / 2.0,
            H - 14.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + ph / 2.0,
            esc(&self.y_label)
        );
        if let Some((r, name)) = &self.reference {
            let y = sy(*r);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#b00020" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" fill="#b00020" text-anchor="end">{}</text>"##,
                LEFT + pw,
                LEFT + pw - 4.0,
                y - 4.0,
                esc(name)
            );
        }
        // Series and legend.
        for (i, series) in self.series.iter().enumerate() {
            let points: Vec<String> = series
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"/>"#,
                series.color,
                points.join(" ")
            );
            for p in &points {
                let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(
                    s,
                    r#"<circle cx="{px}" cy="{py}" r="2.5" fill="{}"/>"#,
                    series.color
                );
            }
            let ly = TOP + 10.0 + i as f64 * 20.0;
            let lx = W - RIGHT + 14.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 24.0,
                series.color,
                lx + 30.0,
                ly + 4.0,
                esc(&series.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_series_and_escapes_text() {
        let c = Chart {
            title: "latency <ms> & rate".into(),
            x_label: "offered msg/s".into(),
            y_label: "ms".into(),
            log_y: true,
            series: vec![
                Series {
                    name: "p99".into(),
                    color: PALETTE[0],
                    dashed: false,
                    points: vec![(5000.0, 2.0), (10000.0, 4.0), (20000.0, 150.0)],
                },
                Series {
                    name: "relay p99".into(),
                    color: PALETTE[1],
                    dashed: true,
                    points: vec![(5000.0, 0.5), (10000.0, 0.0)],
                },
            ],
            reference: Some((100.0, "floor".into())),
        };
        let svg = c.svg();
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("latency &lt;ms&gt; &amp; rate"));
        assert!(svg.contains(">10k<"));
        assert!(!svg.contains("NaN"));
    }
}
