//! Results: medians over several runs, ratios of chapar to the relay of the same run, floors,
//! and the JSON document `--out` writes.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The median of several runs' results, field by field: numbers become their median, objects
/// and arrays recurse (arrays index by index, over the runs that have that index), anything
/// else is taken from the first run.
pub fn median(values: &[&Value]) -> Value {
    let Some(first) = values.first() else {
        return Value::Null;
    };
    match first {
        Value::Number(_) => {
            let mut nums: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
            if nums.is_empty() {
                return (*first).clone();
            }
            nums.sort_by(|a, b| a.total_cmp(b));
            let n = nums.len();
            let m = if n % 2 == 1 {
                nums[n / 2]
            } else {
                (nums[n / 2 - 1] + nums[n / 2]) / 2.0
            };
            if values.iter().all(|v| v.is_u64() || v.is_i64()) && m.fract() == 0.0 {
                json!(m as i64)
            } else {
                json!(round(m, 3))
            }
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, _) in map {
                let vs: Vec<&Value> = values.iter().filter_map(|v| v.get(k)).collect();
                out.insert(k.clone(), median(&vs));
            }
            Value::Object(out)
        }
        Value::Array(_) => {
            let len = values
                .iter()
                .filter_map(|v| v.as_array().map(|a| a.len()))
                .max()
                .unwrap_or(0);
            let out = (0..len)
                .map(|i| {
                    let vs: Vec<&Value> = values
                        .iter()
                        .filter_map(|v| v.as_array().and_then(|a| a.get(i)))
                        .collect();
                    median(&vs)
                })
                .collect();
            Value::Array(out)
        }
        other => (*other).clone(),
    }
}

pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A number at a JSON pointer.
pub fn num(v: &Value, pointer: &str) -> Option<f64> {
    v.pointer(pointer).and_then(|x| x.as_f64())
}

/// One comparison with the baseline: chapar's figure over the relay's.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub figure: String,
    pub chapar: Option<f64>,
    pub relay: Option<f64>,
    pub ratio: Option<f64>,
}

pub fn ratios(chapar: &Value, relay: &Value, figures: &[(&str, &str)]) -> Vec<Ratio> {
    figures
        .iter()
        .map(|(name, pointer)| {
            let c = num(chapar, pointer);
            let r = num(relay, pointer);
            let ratio = match (c, r) {
                (Some(c), Some(r)) if r != 0.0 => Some(round(c / r, 3)),
                _ => None,
            };
            Ratio {
                figure: name.to_string(),
                chapar: c,
                relay: r,
                ratio,
            }
        })
        .collect()
}

/// A floor of the issue, checked against chapar's median figures.
#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    pub floor: String,
    pub value: Option<f64>,
    pub met: bool,
}

impl Floor {
    pub fn at_least(floor: &str, value: Option<f64>, min: f64) -> Floor {
        Floor {
            floor: floor.to_string(),
            value,
            met: value.is_some_and(|v| v >= min),
        }
    }

    pub fn at_most(floor: &str, value: Option<f64>, max: f64) -> Floor {
        Floor {
            floor: floor.to_string(),
            value,
            met: value.is_some_and(|v| v <= max),
        }
    }
}

/// A number for the human summary: thousands separated, a few significant decimals.
pub fn fmt(x: Option<f64>) -> String {
    let Some(x) = x else {
        return "-".into();
    };
    if x.abs() >= 1000.0 {
        let s = format!("{:.0}", x.round());
        let (sign, digits) = s.split_at(if s.starts_with('-') { 1 } else { 0 });
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A simple text table (first row is the header).
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str("  ");
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols.max(1) - 1)));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_recurse() {
        let a = json!({"x": 1, "s": "a", "l": [1.0, 10.0], "o": {"p": 3}});
        let b = json!({"x": 5, "s": "b", "l": [3.0], "o": {"p": 1}});
        let c = json!({"x": 2, "s": "c", "l": [2.0, 30.0, 7.0], "o": {"p": 2}});
        let m = median(&[&a, &b, &c]);
        assert_eq!(m["x"], json!(2));
        assert_eq!(m["s"], json!("a"));
        assert_eq!(m["l"], json!([2.0, 20.0, 7.0]));
        assert_eq!(m["o"]["p"], json!(2));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(fmt(Some(25_123.4)), "25,123");
        assert_eq!(fmt(Some(-1234.0)), "-1,234");
        assert_eq!(fmt(Some(12.34)), "12.3");
        assert_eq!(fmt(Some(0.5)), "0.50");
        assert_eq!(fmt(None), "-");
    }
}
