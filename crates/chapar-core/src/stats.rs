//! Counters a store keeps about its write path, read by the server's `/metrics`.
//! Lock-free atomics only: updating them never blocks the writer.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed-bucket histogram (cumulative on export, like Prometheus).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum of observed values, in millionths.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// (upper bound, cumulative count) per bucket, then the sum and the total count.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, f64, u64) {
        let mut acc = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(b, c)| {
                acc += c.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, sum, self.count.load(Ordering::Relaxed))
    }
}

const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];
const SECONDS_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// What a store's write path reports.
pub struct StoreStats {
    /// Writes waiting for the writer right now.
    pub queue_depth: AtomicU64,
    /// Writes refused because the queue was full.
    pub refused: AtomicU64,
    /// Batches run again whole after a conflict with another node's transaction.
    pub batch_retries: AtomicU64,
    /// Batches that could not be committed (every write in them answered `Unavailable`).
    pub batch_failures: AtomicU64,
    /// Writes per committed transaction (group commit).
    pub batch_size: Histogram,
    /// Time from BEGIN to the end of COMMIT of one batch, seconds.
    pub commit_seconds: Histogram,
}

impl Default for StoreStats {
    fn default() -> Self {
        StoreStats {
            queue_depth: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            batch_retries: AtomicU64::new(0),
            batch_failures: AtomicU64::new(0),
            batch_size: Histogram::new(BATCH_BOUNDS),
            commit_seconds: Histogram::new(SECONDS_BOUNDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 2.0, 3.0, 50.0] {
            h.observe(v);
        }
        let (buckets, sum, count) = h.snapshot();
        assert_eq!(buckets, vec![(1.0, 1), (10.0, 3)]);
        assert_eq!(count, 4);
        assert!((sum - 55.5).abs() < 1e-6);
    }
}
