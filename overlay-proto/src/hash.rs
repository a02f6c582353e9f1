//! [`Hash256`], the 32-byte digest used as a key all over the overlay, and [`SeededState`], a
//! fast hasher whose seed comes from the caller's generator.
//!
//! Maps keyed by digests sit on the per-message path, so they use hashing rather than
//! ordered trees. The hasher is seeded from the node's generator: a simulation with a fixed
//! seed iterates its maps in the same order on every run, while a real node gets a seed an
//! attacker cannot predict.

use core::fmt;
use core::hash::{BuildHasher, Hash, Hasher};
use sha2::{Digest, Sha256};

/// A SHA-256 digest (or any 32-byte hash: tx hashes, tx-set hashes, quorum-set hashes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// SHA-256 of `data`.
    pub fn sha256(data: &[u8]) -> Self {
        Hash256(Sha256::digest(data).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Hash for Hash256 {
    /// Digests are already uniform, so eight bytes of them are a good hash input.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (head, _) = self.0.split_first_chunk::<8>().expect("32 bytes");
        state.write_u64(u64::from_le_bytes(*head));
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash256({})", &self.to_string()[..16])
    }
}

impl From<stellar_xdr::Hash> for Hash256 {
    fn from(h: stellar_xdr::Hash) -> Self {
        Hash256(h.0)
    }
}

impl From<stellar_xdr::Uint256> for Hash256 {
    fn from(h: stellar_xdr::Uint256) -> Self {
        Hash256(h.0)
    }
}

impl From<Hash256> for stellar_xdr::Hash {
    fn from(h: Hash256) -> Self {
        stellar_xdr::Hash(h.0)
    }
}

impl From<Hash256> for stellar_xdr::Uint256 {
    fn from(h: Hash256) -> Self {
        stellar_xdr::Uint256(h.0)
    }
}

/// A [`BuildHasher`] with an explicit seed, for deterministic and unpredictable hash maps.
///
/// ```
/// use std::collections::HashMap;
/// use overlay_proto::{Hash256, SeededState};
///
/// let mut m: HashMap<Hash256, u32, SeededState> = HashMap::with_hasher(SeededState::new(42));
/// m.insert(Hash256::sha256(b"tx"), 1);
/// assert_eq!(m[&Hash256::sha256(b"tx")], 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeededState {
    seed: u64,
}

impl SeededState {
    /// A state with this seed.
    pub const fn new(seed: u64) -> Self {
        SeededState { seed }
    }
}

impl BuildHasher for SeededState {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher { state: self.seed ^ 0x9e37_79b9_7f4a_7c15 }
    }
}

/// The hasher of [`SeededState`]: a multiply-xorshift mix, one round per word.
#[derive(Clone, Debug)]
pub struct SeededHasher {
    state: u64,
}

impl SeededHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let x = (self.state ^ word).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.state = (x ^ (x >> 31)).wrapping_mul(0x94d0_49bb_1331_11eb);
    }
}

impl Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn finish(&self) -> u64 {
        self.state ^ (self.state >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_change_hashes_and_equal_seeds_agree() {
        let h = Hash256::sha256(b"x");
        let a = SeededState::new(1).hash_one(h);
        let b = SeededState::new(1).hash_one(h);
        let c = SeededState::new(2).hash_one(h);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(SeededState::new(1).hash_one([1u8; 3]), SeededState::new(1).hash_one([1u8; 4]));
    }
}
