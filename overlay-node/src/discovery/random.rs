//! Small random helpers over a caller-supplied `rand_core::Rng` (no global randomness).

use rand_core::Rng;

/// An integer in `[0, bound)` (0 when `bound` is 0), by multiply-shift of one 64-bit draw.
/// The bias is below `bound / 2^64`, and there is no rejection loop, so a degenerate
/// generator cannot make it spin.
pub(crate) fn below<R: Rng + ?Sized>(rng: &mut R, bound: u64) -> u64 {
    let wide = u128::from(rng.next_u64()) * u128::from(bound);
    // The high half of a 64x64 product is below `bound`, so it fits in a u64.
    u64::try_from(wide >> 64).unwrap_or(0)
}

/// An integer in `[0, max]`, inclusive.
pub(crate) fn up_to<R: Rng + ?Sized>(rng: &mut R, max: u64) -> u64 {
    match max.checked_add(1) {
        Some(bound) => below(rng, bound),
        None => rng.next_u64(),
    }
}

/// Fisher-Yates shuffle in place.
pub(crate) fn shuffle<T, R: Rng + ?Sized>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let j = usize::try_from(below(rng, bound)).unwrap_or(i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = [false; 7];
        for _ in 0..1_000 {
            let x = below(&mut rng, 7);
            assert!(x < 7);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(below(&mut rng, 0), 0);
        assert!(up_to(&mut rng, 0) == 0);
    }

    #[test]
    fn shuffle_is_a_permutation_and_moves_things() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut v: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
