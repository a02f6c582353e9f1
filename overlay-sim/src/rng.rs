//! The run's one seeded generator and the seeds derived from it.
//!
//! The run seed feeds one [`ChaCha8Rng`] that every simulator decision draws from, in event
//! order. Nodes get their own seeds, derived from the run seed by a pure function of
//! `(run seed, domain, index)`, so that adding a draw in the simulator does not change what a
//! node does with its own generator.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// What a derived seed is for; keeps the derived streams apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedDomain {
    /// The generator handed to `Node::new` (nonces, random peer choices, hash map seeds).
    Node,
    /// Link properties that are fixed per pair of nodes (base latency).
    Link,
    /// The simulator's own generator.
    World,
}

impl SeedDomain {
    fn tag(self) -> u64 {
        match self {
            SeedDomain::Node => 0x6e6f_6465,
            SeedDomain::Link => 0x6c69_6e6b,
            SeedDomain::World => 0x776f_726c,
        }
    }
}

/// One round of splitmix64: a bijective mix of 64 bits.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed derived from the run seed, for `domain` and `index` (a node, a pair of nodes, an
/// incarnation...): a pure function, independent of any generator's state.
pub fn derive_seed(run_seed: u64, domain: SeedDomain, index: u64) -> u64 {
    mix64(mix64(run_seed ^ domain.tag()) ^ mix64(index.wrapping_add(1)))
}

/// The simulator's generator with the few draws it needs.
#[derive(Debug, Clone)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The generator of a run with seed `run_seed`.
    pub fn new(run_seed: u64) -> Self {
        SimRng { inner: ChaCha8Rng::seed_from_u64(derive_seed(run_seed, SeedDomain::World, 0)) }
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform value in `0..n` (0 when `n` is 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-and-reject.
        loop {
            let x = self.inner.next_u64();
            let m = u128::from(x) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform index into a slice of length `len` (0 when empty).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`). Draws nothing when `p` is 0, so a
    /// fault that is off does not shift the stream of the others.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.unit() < p
    }

    /// An exponentially distributed delay with mean `mean_ns`, in nanoseconds (for Poisson
    /// arrivals), capped at 100 means.
    pub fn exponential_ns(&mut self, mean_ns: u64) -> u64 {
        let u = 1.0 - self.unit(); // (0, 1]
        let x = -u.ln() * mean_ns as f64;
        x.min(mean_ns as f64 * 100.0) as u64
    }

    /// Shuffle `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let (mut a, mut b, mut c) = (SimRng::new(1), SimRng::new(1), SimRng::new(2));
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn derived_seeds_differ_by_domain_and_index() {
        let s = |d, i| derive_seed(7, d, i);
        assert_ne!(s(SeedDomain::Node, 0), s(SeedDomain::Node, 1));
        assert_ne!(s(SeedDomain::Node, 0), s(SeedDomain::Link, 0));
        assert_eq!(s(SeedDomain::Node, 3), s(SeedDomain::Node, 3));
        assert_ne!(derive_seed(7, SeedDomain::Node, 0), derive_seed(8, SeedDomain::Node, 0));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(3);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn chance_extremes_and_mean() {
        let mut r = SimRng::new(4);
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
        let mean = (0..10_000).map(|_| r.exponential_ns(1_000)).sum::<u64>() / 10_000;
        assert!((900..1_100).contains(&mean), "{mean}");
    }
}
