//! [`Histogram`]: latencies in bounded memory, with percentiles to within 1 %.
//!
//! Values (microseconds) fall into buckets whose bounds grow by 1 % each, from 1 µs to about
//! 2.6 hours: about 2,300 buckets whatever the number of samples. A percentile is the upper
//! bound of the bucket that holds it, capped at the exact maximum.

use serde::Serialize;

/// Ratio between consecutive bucket bounds.
const GROWTH: f64 = 1.01;
/// Number of buckets; the last one takes everything above ~2.6 hours.
const BUCKETS: usize = 2_300;

/// A log-bucketed histogram of microsecond values.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max_us: u64,
    sum_us: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, max_us: 0, sum_us: 0 }
    }
}

fn bucket_of(us: u64) -> usize {
    if us <= 1 {
        return 0;
    }
    let b = ((us as f64).ln() / GROWTH.ln()).ceil() as usize;
    b.min(BUCKETS - 1)
}

fn upper_bound_us(bucket: usize) -> f64 {
    GROWTH.powi(bucket as i32)
}

/// p50, p90, p99 and max of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum (exact).
    pub max_ms: f64,
}

impl Histogram {
    /// Add a sample.
    pub fn record_us(&mut self, us: u64) {
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.max_us = self.max_us.max(us);
        self.sum_us += u128::from(us);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0 to 1), in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_bound_us(b).min(self.max_us as f64);
            }
        }
        self.max_us as f64
    }

    /// The summary of the report, rounded to microseconds.
    pub fn percentiles(&self) -> Percentiles {
        let ms = |us: f64| (us.round()) / 1_000.0;
        Percentiles {
            count: self.total,
            mean_ms: if self.total == 0 { 0.0 } else { ms((self.sum_us / u128::from(self.total)) as f64) },
            p50_ms: ms(self.quantile_us(0.50)),
            p90_ms: ms(self.quantile_us(0.90)),
            p99_ms: ms(self.quantile_us(0.99)),
            max_ms: ms(self.max_us as f64),
        }
    }

    /// The cumulative distribution as `(upper bound in ms, fraction of samples ≤ it)`, one
    /// point per non-empty bucket.
    pub fn cdf_ms(&self) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            if *c == 0 {
                continue;
            }
            seen += c;
            let x = upper_bound_us(b).min(self.max_us as f64) / 1_000.0;
            out.push((x, seen as f64 / self.total as f64));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_one_percent() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record_us(v * 100);
        }
        let p = h.percentiles();
        assert_eq!(p.count, 10_000);
        assert!((p.p50_ms - 500.0).abs() <= 5.1, "{p:?}");
        assert!((p.p99_ms - 990.0).abs() <= 10.0, "{p:?}");
        assert_eq!(p.max_ms, 1_000.0);
        assert!((p.mean_ms - 500.05).abs() < 0.01);
        let cdf = h.cdf_ms();
        assert_eq!(cdf.last().unwrap().1, 1.0);
        assert!(cdf.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn empty_and_tiny_values() {
        let mut h = Histogram::default();
        assert_eq!(h.percentiles(), Percentiles::default());
        h.record_us(0);
        h.record_us(1);
        assert_eq!(h.quantile_us(1.0), 1.0);
    }
}
