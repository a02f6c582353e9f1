//! Uniform choices from a caller-supplied generator: the crates of the overlay take their
//! randomness as an argument and never from a global source, so a seeded simulation replays
//! exactly.
//!
//! ```
//! use overlay_proto::random::{index_below, shuffle};
//! # struct Counter(u64);
//! # impl rand_core::TryRng for Counter {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(self.try_next_u64()? as u32) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
//! #         self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
//! #         Ok(self.0)
//! #     }
//! #     fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
//! #         dst.fill(0);
//! #         Ok(())
//! #     }
//! # }
//! let mut rng = Counter(1); // any rand_core generator, for example a seeded ChaCha8Rng
//! assert!(index_below(&mut rng, 10) < 10);
//! let mut peers = vec!["a", "b", "c"];
//! shuffle(&mut rng, &mut peers);
//! peers.sort();
//! assert_eq!(peers, ["a", "b", "c"]);
//! ```

use rand_core::Rng;

/// A number in `0..bound` (0 when `bound` is 0) from one 64-bit draw, by multiply-shift.
/// The bias is below `bound / 2^64`, and there is no rejection loop, so a degenerate
/// generator (one that always returns the same word) cannot make it spin.
pub fn below<R: Rng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    let wide = u128::from(rng.next_u64()) * u128::from(bound);
    // The high half of the product is below `bound`, so it fits.
    (wide >> 64) as u64
}

/// An index in `0..n` (0 when `n` is 0).
pub fn index_below<R: Rng + ?Sized>(rng: &mut R, n: usize) -> usize {
    // `below(_, n)` is less than `n`, so it fits in a usize.
    below(rng, n as u64) as usize
}

/// A number in `0..=max`.
pub fn up_to<R: Rng + ?Sized>(rng: &mut R, max: u64) -> u64 {
    match max.checked_add(1) {
        Some(bound) => below(rng, bound),
        None => rng.next_u64(),
    }
}

/// Shuffle in place (Fisher–Yates): every order equally likely, up to the bias of [`below`].
pub fn shuffle<T, R: Rng + ?Sized>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, index_below(rng, i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: enough of a generator for these tests, without a dependency.
    struct SplitMix(u64);

    impl rand_core::TryRng for SplitMix {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(8) {
                let w = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&w[..chunk.len()]);
            }
            Ok(())
        }
    }

    #[test]
    fn draws_stay_in_range_and_cover_it() {
        let mut rng = SplitMix(1);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[index_below(&mut rng, 7)] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
        assert_eq!(index_below(&mut rng, 0), 0);
        assert_eq!(index_below(&mut rng, 1), 0);
        assert_eq!(up_to(&mut rng, 0), 0);
        assert!(up_to(&mut rng, 3) <= 3);
    }

    #[test]
    fn shuffle_is_a_permutation_and_moves_things() {
        let mut rng = SplitMix(2);
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_constant_generator_does_not_spin() {
        struct Stuck;
        impl rand_core::TryRng for Stuck {
            type Error = core::convert::Infallible;
            fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
                Ok(0)
            }
            fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
                Ok(0)
            }
            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
                dst.fill(0);
                Ok(())
            }
        }
        let mut v = [1, 2, 3];
        shuffle(&mut Stuck, &mut v);
        assert_eq!(index_below(&mut Stuck, 3), 0);
    }
}
