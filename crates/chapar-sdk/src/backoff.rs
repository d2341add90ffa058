//! Exponential backoff with full jitter: the delay before retry number `attempt` is uniform in
//! `[0, min(max, base * 2^attempt)]`, so a crowd of clients that lost the same server spreads out
//! instead of stampeding back at once. A server's retry hint takes precedence.

use rand::Rng;
use std::time::Duration;

/// Backoff parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max }
    }

    /// The upper bound of the delay for retry number `attempt` (0-based): `min(max, base*2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay for retry number `attempt` given a uniform random fraction `unit` in `[0, 1]`.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// A random full-jitter delay for retry number `attempt`.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::thread_rng().r#gen::<f64>())
    }

    /// The delay to wait: the server's hint when it gave one (capped at ten times `max`, so a
    /// wild hint cannot park the client forever), else a full-jitter delay.
    pub fn delay_or_hint(&self, attempt: u32, retry_after_ms: Option<u64>) -> Duration {
        match retry_after_ms {
            Some(ms) => Duration::from_millis(ms).min(self.max.saturating_mul(10)),
            None => self.delay(attempt),
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(2));
        assert_eq!(b.ceiling(1000), Duration::from_secs(2));
    }

    #[test]
    fn full_jitter_spans_zero_to_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(b.delay_with(2, 0.0), Duration::ZERO);
        assert_eq!(b.delay_with(2, 1.0), Duration::from_millis(400));
        assert_eq!(b.delay_with(2, 0.5), Duration::from_millis(200));
        assert_eq!(b.delay_with(2, 7.0), Duration::from_millis(400));
        for attempt in 0..40 {
            let d = b.delay(attempt);
            assert!(d <= b.ceiling(attempt));
        }
    }

    #[test]
    fn server_hint_wins() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.delay_or_hint(0, Some(3000)), Duration::from_secs(3));
        assert_eq!(b.delay_or_hint(0, Some(3_600_000)), Duration::from_secs(10));
        assert!(b.delay_or_hint(0, None) <= Duration::from_millis(100));
    }
}
