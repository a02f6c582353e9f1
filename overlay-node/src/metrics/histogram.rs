//! [`Histogram`]: durations counted in fixed buckets, as a driver exports them (Prometheus
//! histograms, stellar-core's medida timers).

use core::time::Duration;

/// Upper bounds of the buckets, in microseconds: from 100 µs to 10 s, then everything
/// above. One set for every latency the node measures, so histograms add up.
pub const BUCKET_BOUNDS_US: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

/// Counts of durations per bucket of [`BUCKET_BOUNDS_US`] (the last bucket is everything
/// above the last bound), with their sum. Fixed size: no allocation.
///
/// ```
/// use overlay_node::metrics::Histogram;
/// use core::time::Duration;
/// let mut h = Histogram::default();
/// h.observe(Duration::from_micros(300));
/// h.observe(Duration::from_secs(20));
/// assert_eq!(h.count(), 2);
/// assert_eq!(h.cumulative().last().unwrap().1, 1, "≤ 10 s: one");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last is above every bound.
    counts: [u64; BUCKET_BOUNDS_US.len() + 1],
    sum_ns: u64,
}

impl Histogram {
    /// Count one duration.
    pub fn observe(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_US.iter().position(|b| us <= *b).unwrap_or(BUCKET_BOUNDS_US.len());
        self.counts[i] += 1;
        self.sum_ns = self.sum_ns.saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Count `n` durations of `d` each.
    pub fn observe_n(&mut self, d: Duration, n: u64) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_US.iter().position(|b| us <= *b).unwrap_or(BUCKET_BOUNDS_US.len());
        self.counts[i] += n;
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns = self.sum_ns.saturating_add(ns.saturating_mul(n));
    }

    /// Add another histogram's counts.
    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
    }

    /// Durations counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Their sum.
    pub fn sum(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// (upper bound in seconds, durations at or below it) for every bound: the cumulative
    /// buckets of a Prometheus histogram, without the `+Inf` one (which is [`count`](Self::count)).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        BUCKET_BOUNDS_US
            .iter()
            .zip(self.counts)
            .map(|(b, c)| {
                total += c;
                (*b as f64 / 1e6, total)
            })
            .collect()
    }

    /// (upper bound in seconds or `f64::INFINITY`, durations in that bucket alone).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        BUCKET_BOUNDS_US.iter().map(|b| *b as f64 / 1e6).chain([f64::INFINITY]).zip(self.counts).collect()
    }

    /// An estimate of the `q` quantile (0 to 1): the upper bound of the bucket holding it.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let us = BUCKET_BOUNDS_US.get(i).copied().unwrap_or(u64::MAX / 1000);
                return Some(Duration::from_micros(us));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_and_quantiles() {
        let mut h = Histogram::default();
        for ms in [1, 2, 3, 40, 900] {
            h.observe(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 5);
        assert_eq!(h.sum(), Duration::from_millis(946));
        assert_eq!(h.quantile(0.5), Some(Duration::from_micros(5_000)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_secs(1)));
        let mut g = h;
        g.add(&h);
        assert_eq!(g.count(), 10);
        assert_eq!(g.cumulative().last().unwrap().1, 10);
        assert_eq!(h.buckets().iter().map(|(_, c)| c).sum::<u64>(), 5);
    }
}
