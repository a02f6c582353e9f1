//! The items a node serves to its peers, filled by the application and by fetching:
//! transactions for FLOOD_DEMAND (§9.4), tx sets for GET_TX_SET and quorum sets for
//! GET_SCP_QUORUMSET (§8.2), and the SCP state for GET_SCP_STATE (§8.5). Every store is
//! bounded; the oldest entry goes first.

use super::tx_store::TxStore;
use crate::config::ItemLimits;
use hashbrown::HashTable;
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NodeId, SeededState};
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;

/// A map that forgets its oldest entries past a count and a byte bound.
///
/// Entries sit in one insertion-ordered queue; a hash table of 8-byte positions finds them by
/// key, so a key is stored once. A removed entry leaves an empty slot until it reaches the
/// front or the queue is compacted; the front slot is always full.
#[derive(Debug)]
pub(crate) struct Fifo<V> {
    /// Positions of the entries in `slots` (absolute: `base` + offset), by key. Bound:
    /// `count_max` entries and `bytes_max` bytes (summed sizes).
    index: HashTable<u64>,
    hasher: SeededState,
    /// Insertion order. Bound: 2 × `count_max` + 16 slots, compacted past it.
    slots: VecDeque<Slot<V>>,
    /// Position of `slots[0]`.
    base: u64,
    bytes: usize,
    count_max: usize,
    bytes_max: usize,
}

/// One entry of a [`Fifo`]; `value` is `None` once removed.
#[derive(Debug)]
struct Slot<V> {
    key: Hash256,
    value: Option<V>,
    size: u32,
}

impl<V> Fifo<V> {
    pub fn new(count_max: usize, bytes_max: usize, seed: u64) -> Self {
        Fifo {
            index: HashTable::new(),
            hasher: SeededState::new(seed),
            slots: VecDeque::new(),
            base: 0,
            bytes: 0,
            count_max: count_max.max(1),
            bytes_max,
        }
    }

    /// Insert or replace; an entry larger than the byte bound is not kept.
    pub fn insert(&mut self, key: Hash256, value: V, size: usize) {
        self.remove(&key);
        let Ok(size32) = u32::try_from(size) else { return };
        if size > self.bytes_max {
            return;
        }
        while self.index.len() >= self.count_max || self.bytes + size > self.bytes_max {
            if !self.pop_oldest() {
                break;
            }
        }
        if self.slots.len() >= 2 * self.count_max + 16 {
            self.compact();
        }
        let pos = self.base + self.slots.len() as u64;
        self.slots.push_back(Slot { key, value: Some(value), size: size32 });
        self.bytes += size;
        let (slots, base, hasher) = (&self.slots, self.base, &self.hasher);
        self.index.insert_unique(hasher.hash_one(key), pos, |&p| {
            slots.get((p - base) as usize).map_or(0, |s| hasher.hash_one(s.key))
        });
    }

    fn find(&self, key: &Hash256) -> Option<&Slot<V>> {
        let (slots, base) = (&self.slots, self.base);
        let pos = *self
            .index
            .find(self.hasher.hash_one(key), |&p| slots.get((p - base) as usize).is_some_and(|s| s.key == *key))?;
        slots.get((pos - base) as usize)
    }

    pub fn get(&self, key: &Hash256) -> Option<&V> {
        self.find(key)?.value.as_ref()
    }

    pub fn contains(&self, key: &Hash256) -> bool {
        self.find(key).is_some()
    }

    pub fn remove(&mut self, key: &Hash256) -> Option<V> {
        let (slots, base) = (&self.slots, self.base);
        let found = self
            .index
            .find_entry(self.hasher.hash_one(key), |&p| slots.get((p - base) as usize).is_some_and(|s| s.key == *key));
        let (pos, _) = found.ok()?.remove();
        let slot = self.slots.get_mut((pos - self.base) as usize)?;
        let value = slot.value.take();
        self.bytes -= slot.size as usize;
        self.trim_front();
        value
    }

    /// Drop the empty slots at the front.
    fn trim_front(&mut self) {
        while self.slots.front().is_some_and(|s| s.value.is_none()) {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    fn pop_oldest(&mut self) -> bool {
        let Some(front) = self.slots.pop_front() else { return false };
        let pos = self.base;
        self.base += 1;
        if let Ok(entry) = self.index.find_entry(self.hasher.hash_one(front.key), |&p| p == pos) {
            entry.remove();
        }
        self.bytes -= front.size as usize;
        self.trim_front();
        true
    }

    /// Drop the empty slots and index the entries again.
    fn compact(&mut self) {
        self.slots.retain(|s| s.value.is_some());
        self.index.clear();
        let (slots, base, hasher) = (&self.slots, self.base, &self.hasher);
        for (i, s) in slots.iter().enumerate() {
            self.index.insert_unique(hasher.hash_one(s.key), base + i as u64, |&p| {
                slots.get((p - base) as usize).map_or(0, |s| hasher.hash_one(s.key))
            });
        }
    }

    /// Forget the oldest entries while `old` says so (entries are visited oldest first).
    pub fn drop_oldest_while(&mut self, mut old: impl FnMut(&V) -> bool) {
        while self.slots.front().and_then(|s| s.value.as_ref()).is_some_and(&mut old) {
            self.pop_oldest();
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A served item with the tracking ledger at which it was stored.
#[derive(Debug, Clone)]
pub(crate) struct Held<T> {
    pub item: T,
    pub ledger: u32,
}

/// Everything the node serves.
#[derive(Debug)]
pub(crate) struct ItemStore {
    /// TRANSACTION message XDR by pull-mode hash.
    pub txs: TxStore,
    /// TX_SET / GENERALIZED_TX_SET messages by contents hash.
    pub tx_sets: Fifo<Held<Arc<StellarMessage>>>,
    pub quorum_sets: Fifo<Arc<ScpQuorumSet>>,
    /// The latest envelope of each node for each slot. Bound: `scp_envelopes_max`; the
    /// lowest slot goes first.
    scp: BTreeMap<(u64, NodeId), Arc<ScpEnvelope>>,
    scp_max: usize,
}

impl ItemStore {
    pub fn new(limits: &ItemLimits, seed: u64) -> Self {
        ItemStore {
            txs: TxStore::new(limits.transactions_max, limits.transaction_bytes_max, seed),
            tx_sets: Fifo::new(limits.tx_sets_max, limits.tx_set_bytes_max, seed ^ 1),
            quorum_sets: Fifo::new(limits.quorum_sets_max, usize::MAX, seed ^ 2),
            scp: BTreeMap::new(),
            scp_max: limits.scp_envelopes_max.max(1),
        }
    }

    /// Keep `env` as the latest of its node for its slot.
    pub fn hold_envelope(&mut self, env: Arc<ScpEnvelope>) {
        let key = (env.statement.slot_index, NodeId::from_xdr(&env.statement.node_id));
        self.scp.insert(key, env);
        while self.scp.len() > self.scp_max {
            self.scp.pop_first();
        }
    }

    /// The SCP state from `from_slot` on, ascending by slot, over at most `slots_max` slots
    /// with data (§8.5).
    pub fn scp_state(&self, from_slot: u64, slots_max: usize) -> Vec<Arc<ScpEnvelope>> {
        let mut out = Vec::new();
        let mut slots = 0;
        let mut last = None;
        for ((slot, _), env) in self.scp.range((from_slot, NodeId([0; 32]))..) {
            if last != Some(*slot) {
                slots += 1;
                if slots > slots_max {
                    break;
                }
                last = Some(*slot);
            }
            out.push(env.clone());
        }
        out
    }

    /// A ledger closed: forget what is older than the window (transactions and tx sets
    /// stored before `min_ledger`, envelopes of slots before it).
    pub fn clear_below(&mut self, min_ledger: u32) {
        self.txs.drop_below(min_ledger);
        self.tx_sets.drop_oldest_while(|h| h.ledger < min_ledger);
        let keep = self.scp.split_off(&(u64::from(min_ledger), NodeId([0; 32])));
        self.scp = keep;
    }

    pub fn scp_len(&self) -> usize {
        self.scp.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(i: u8) -> Hash256 {
        Hash256([i; 32])
    }

    #[test]
    fn fifo_keeps_both_bounds() {
        let mut f = Fifo::new(3, 100, 1);
        for i in 0..5 {
            f.insert(h(i), i, 10);
        }
        assert_eq!(f.len(), 3);
        assert!(!f.contains(&h(1)) && f.contains(&h(2)));
        f.insert(h(9), 9, 95);
        assert_eq!((f.len(), f.bytes()), (1, 95), "the byte bound evicts the oldest");
        f.insert(h(8), 8, 101);
        assert!(!f.contains(&h(8)), "larger than the whole bound: not kept");
        f.drop_oldest_while(|v| *v < 10);
        assert_eq!(f.len(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8),
        Remove(u8),
        DropBelow(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..24u8, 0..40u8).prop_map(|(k, size)| Op::Insert(k, size)),
            2 => (0..24u8).prop_map(Op::Remove),
            1 => any::<u8>().prop_map(Op::DropBelow),
        ]
    }

    proptest! {
        /// The Fifo holds what a plain queue of (key, value, size) holds: the same entries, in
        /// the same order of eviction, within both bounds, its queue compacted.
        #[test]
        fn fifo_matches_a_model(ops in prop::collection::vec(op(), 1..400), count_max in 1..12usize, bytes_max in 0..200usize) {
            let mut f = Fifo::new(count_max, bytes_max, 3);
            let mut model: VecDeque<(u8, u32, usize)> = VecDeque::new();
            for (n, op) in ops.into_iter().enumerate() {
                let n = n as u32;
                match op {
                    Op::Insert(k, size) => {
                        let size = usize::from(size);
                        f.insert(h(k), n, size);
                        model.retain(|e| e.0 != k);
                        if size <= bytes_max {
                            while model.len() >= count_max.max(1) || model.iter().map(|e| e.2).sum::<usize>() + size > bytes_max {
                                model.pop_front();
                            }
                            model.push_back((k, n, size));
                        }
                    }
                    Op::Remove(k) => {
                        let expected = model.iter().position(|e| e.0 == k).and_then(|i| model.remove(i)).map(|e| e.1);
                        prop_assert_eq!(f.remove(&h(k)), expected);
                    }
                    Op::DropBelow(limit) => {
                        f.drop_oldest_while(|v| *v < u32::from(limit));
                        while model.front().is_some_and(|e| e.1 < u32::from(limit)) {
                            model.pop_front();
                        }
                    }
                }
                prop_assert_eq!(f.len(), model.len());
                prop_assert_eq!(f.bytes(), model.iter().map(|e| e.2).sum::<usize>());
                for k in 0..24u8 {
                    prop_assert_eq!(f.get(&h(k)).copied(), model.iter().find(|e| e.0 == k).map(|e| e.1));
                }
                prop_assert!(f.slots.len() <= 2 * count_max.max(1) + 16);
            }
        }
    }
}
