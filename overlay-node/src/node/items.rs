//! The items a node serves to its peers, filled by the application and by fetching:
//! transactions for FLOOD_DEMAND (§9.4), tx sets for GET_TX_SET and quorum sets for
//! GET_SCP_QUORUMSET (§8.2), and the SCP state for GET_SCP_STATE (§8.5). Every store is
//! bounded; the oldest entry goes first.

use crate::config::ItemLimits;
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NodeId, SeededState};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// A map that forgets its oldest entries past a count and a byte bound.
#[derive(Debug)]
pub(crate) struct Fifo<V> {
    /// Bound: `count_max` entries and `bytes_max` bytes (summed sizes).
    map: HashMap<Hash256, (u64, V, usize), SeededState>,
    /// Insertion order: (sequence, key). An entry whose key was removed or inserted again
    /// (another sequence) is stale and skipped. Bound: 2 × `count_max` + 16, compacted past it.
    order: VecDeque<(u64, Hash256)>,
    next: u64,
    bytes: usize,
    count_max: usize,
    bytes_max: usize,
}

impl<V> Fifo<V> {
    pub fn new(count_max: usize, bytes_max: usize, seed: u64) -> Self {
        Fifo {
            map: HashMap::with_hasher(SeededState::new(seed)),
            order: VecDeque::new(),
            next: 0,
            bytes: 0,
            count_max: count_max.max(1),
            bytes_max,
        }
    }

    /// Insert or replace; an entry larger than the byte bound is not kept.
    pub fn insert(&mut self, key: Hash256, value: V, size: usize) {
        self.remove(&key);
        if size > self.bytes_max {
            return;
        }
        while self.map.len() >= self.count_max || self.bytes + size > self.bytes_max {
            if !self.pop_oldest() {
                break;
            }
        }
        let seq = self.next;
        self.next += 1;
        self.order.push_back((seq, key));
        self.bytes += size;
        self.map.insert(key, (seq, value, size));
        if self.order.len() > 2 * self.count_max + 16 {
            let map = &self.map;
            self.order.retain(|(s, k)| map.get(k).is_some_and(|(live, _, _)| live == s));
        }
    }

    pub fn get(&self, key: &Hash256) -> Option<&V> {
        self.map.get(key).map(|(_, v, _)| v)
    }

    pub fn contains(&self, key: &Hash256) -> bool {
        self.map.contains_key(key)
    }

    pub fn remove(&mut self, key: &Hash256) -> Option<V> {
        let (_, v, size) = self.map.remove(key)?;
        self.bytes -= size;
        Some(v)
    }

    /// Drop stale entries at the front of the order; the live oldest entry's key, if any.
    fn oldest(&mut self) -> Option<Hash256> {
        while let Some(&(seq, key)) = self.order.front() {
            if self.map.get(&key).is_some_and(|(live, _, _)| *live == seq) {
                return Some(key);
            }
            self.order.pop_front();
        }
        None
    }

    fn pop_oldest(&mut self) -> bool {
        let Some(key) = self.oldest() else { return false };
        self.order.pop_front();
        if let Some((_, _, size)) = self.map.remove(&key) {
            self.bytes -= size;
        }
        true
    }

    /// Forget the oldest entries while `old` says so (entries are visited oldest first).
    pub fn drop_oldest_while(&mut self, mut old: impl FnMut(&V) -> bool) {
        while let Some(key) = self.oldest() {
            match self.map.get(&key) {
                Some((_, v, _)) if old(v) => {
                    self.pop_oldest();
                }
                _ => return,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

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
    pub txs: Fifo<Held<Arc<[u8]>>>,
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
            txs: Fifo::new(limits.transactions_max, limits.transaction_bytes_max, seed),
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
        self.txs.drop_oldest_while(|h| h.ledger < min_ledger);
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
}
