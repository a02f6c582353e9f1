//! [`HeldItems`]: the item hashes a relay knows the node holds, with the highest slot that
//! referenced each.

use overlay_proto::{Hash256, SeededState};
use std::collections::{BTreeSet, HashMap};

/// Item hashes with the latest slot that needed them. Bound: `max` entries; the one whose
/// latest slot is lowest goes first. Entries of slots below the window are cleared.
#[derive(Debug)]
pub(crate) struct HeldItems {
    by_hash: HashMap<Hash256, u64, SeededState>,
    /// The same entries ordered by slot, for eviction and cleanup.
    by_slot: BTreeSet<(u64, Hash256)>,
    max: usize,
}

impl HeldItems {
    pub fn new(max: usize, seed: u64) -> Self {
        HeldItems { by_hash: HashMap::with_hasher(SeededState::new(seed)), by_slot: BTreeSet::new(), max: max.max(1) }
    }

    pub fn contains(&self, h: &Hash256) -> bool {
        self.by_hash.contains_key(h)
    }

    /// Hold `h`, needed at `slot` (a later slot refreshes it).
    pub fn insert(&mut self, h: Hash256, slot: u64) {
        if let Some(old) = self.by_hash.get(&h).copied() {
            if old >= slot {
                return;
            }
            self.by_slot.remove(&(old, h));
        } else if self.by_hash.len() >= self.max {
            if let Some((s, k)) = self.by_slot.pop_first() {
                let _ = s;
                self.by_hash.remove(&k);
            }
        }
        self.by_hash.insert(h, slot);
        self.by_slot.insert((slot, h));
    }

    /// Note that `slot` needs `h`, if held.
    pub fn touch(&mut self, h: &Hash256, slot: u64) {
        if self.contains(h) {
            self.insert(*h, slot);
        }
    }

    /// Forget items whose latest slot is below `min_slot`.
    pub fn clear_below(&mut self, min_slot: u64) {
        while let Some(&(s, h)) = self.by_slot.first() {
            if s >= min_slot {
                break;
            }
            self.by_slot.pop_first();
            self.by_hash.remove(&h);
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.len()
    }
}
