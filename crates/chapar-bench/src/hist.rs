//! Latency histograms: log-linear buckets over microseconds (64 sub-buckets per power of two, so
//! a percentile is within about 1.6% of the true value), recorded lock-free from any task, with
//! constant memory however long a run lasts.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two.
const SUB: u64 = 64;
/// Values at or above this many microseconds (about 12.7 days) are clamped.
const MAX_VALUE: u64 = (1 << 40) - 1;
const BUCKETS: usize = (2 * SUB + 34 * SUB) as usize;

fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < 2 * SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() as u64; // floor(log2 v) >= 7
    let shift = exp - 6; // mantissa in [64, 128)
    let mantissa = v >> shift;
    (2 * SUB + (shift - 1) * SUB + (mantissa - SUB)) as usize
}

/// The largest value that falls in bucket `i` (percentiles report the bucket's upper edge).
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < 2 * SUB {
        return i;
    }
    let shift = (i - 2 * SUB) / SUB + 1;
    let mantissa = (i - 2 * SUB) % SUB + SUB;
    ((mantissa + 1) << shift) - 1
}

/// A histogram many tasks record into at once.
pub struct AtomicHist {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for AtomicHist {
    fn default() -> Self {
        AtomicHist {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl AtomicHist {
    pub fn record(&self, micros: u64) {
        self.counts[index(micros)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(micros, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Hist {
        Hist {
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            max: self.max.load(Ordering::Relaxed),
        }
    }
}

/// A histogram owned by one task (or a snapshot of an [`AtomicHist`]).
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    max: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            counts: vec![0; BUCKETS],
            max: 0,
        }
    }
}

impl Hist {
    #[cfg(test)]
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The value at quantile `q` (0..=1), in microseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    /// Percentiles in milliseconds, for reports.
    pub fn summary(&self) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        Summary {
            count: self.count(),
            p50_ms: ms(self.quantile(0.50)),
            p90_ms: ms(self.quantile(0.90)),
            p95_ms: ms(self.quantile(0.95)),
            p99_ms: ms(self.quantile(0.99)),
            p999_ms: ms(self.quantile(0.999)),
            max_ms: ms(self.max),
        }
    }
}

/// Latency percentiles of one measurement, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in [0u64, 1, 5, 127, 128, 129, 1000, 65_535, 1 << 30, MAX_VALUE] {
            let i = index(v);
            assert!(i >= last, "index must not decrease");
            last = i;
            let up = upper(i);
            assert!(up >= v, "{v} above its bucket's upper edge {up}");
            assert!(
                (up - v) as f64 <= v as f64 / 60.0 + 1.0,
                "bucket of {v} too wide: {up}"
            );
        }
        assert!(index(MAX_VALUE) < BUCKETS);
    }

    #[test]
    fn quantiles_of_a_uniform_run() {
        let mut h = Hist::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let close = |got: u64, want: f64| (got as f64 - want).abs() <= want * 0.02 + 1.0;
        assert!(close(h.quantile(0.5), 5000.0), "{}", h.quantile(0.5));
        assert!(close(h.quantile(0.99), 9900.0), "{}", h.quantile(0.99));
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.count(), 10_000);
        let a = AtomicHist::default();
        a.record(7);
        a.record(70_000);
        let s = a.snapshot().summary();
        assert_eq!(s.count, 2);
        assert_eq!(s.max_ms, 70.0);
        assert!(Hist::default().summary().p99_ms == 0.0);
    }
}
