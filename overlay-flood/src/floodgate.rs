//! [`Floodgate`]: which peers know which flooded message (PROTOCOL.md §8.1).
//!
//! A record per message identity ([`flood_message_id`](crate::identity::flood_message_id)):
//! the tracking ledger at insert time and the set of peers that sent us the message or that
//! we told. Receiving marks the sender; broadcasting returns every given peer not yet in the
//! set and adds it, so a message is never sent back to a peer that sent it to us.
//!
//! # Bound and eviction
//!
//! stellar-core keeps every record until `clearBelow` (12 ledgers); between two ledgers its
//! map is unbounded. Ours holds at most [`FloodConfig::floodgate_entries_max`] records. A new
//! record at the limit evicts the record of the **oldest ledger**, and within that ledger the
//! **oldest insertion**. Losing a record only means a message may be sent once more to a
//! peer that has it (the peer drops the duplicate) or accepted once more from a peer.
//!
//! # Peers
//!
//! Peers get one of [`PEERS_MAX`] slots on first use; a record stores its peers as a 256-bit
//! set, so its size does not depend on the peer handle type. `remove_peer` frees the slot and
//! erases the peer from every record (a new peer reusing the slot must not inherit what the old
//! one knew). stellar-core keeps a dropped peer's NodeID in the records, so a peer that
//! reconnects is not sent messages again; ours may be (a local difference, not visible on the wire).

use crate::config::{FloodConfig, PEERS_MAX};
use crate::error::FloodError;
use crate::tracker::EnvelopeKnowers;
use overlay_proto::{Hash256, SeededState};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;

/// Number of 64-bit words in a [`PeerBits`].
const PEER_WORDS: usize = PEERS_MAX / 64;

/// A set of peer slots.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct PeerBits([u64; PEER_WORDS]);

impl PeerBits {
    fn single(slot: u16) -> Self {
        let mut b = PeerBits::default();
        b.insert(slot);
        b
    }

    /// Insert; true if it was not there.
    fn insert(&mut self, slot: u16) -> bool {
        let (w, m) = (usize::from(slot) / 64, 1u64 << (slot % 64));
        let word = &mut self.0[w];
        let new = *word & m == 0;
        *word |= m;
        new
    }

    fn contains(&self, slot: u16) -> bool {
        self.0[usize::from(slot) / 64] & (1u64 << (slot % 64)) != 0
    }

    fn remove(&mut self, slot: u16) {
        self.0[usize::from(slot) / 64] &= !(1u64 << (slot % 64));
    }

    fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            core::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as u16;
                bits &= bits - 1;
                Some(w as u16 * 64 + b)
            })
        })
    }
}

/// Peer handle ↔ slot index, at most [`PEERS_MAX`] slots.
#[derive(Debug, Clone)]
struct PeerSlots<P> {
    by_peer: HashMap<P, u16, SeededState>,
    /// Bound: `PEERS_MAX` entries; a full table refuses new peers.
    slots: Vec<Option<P>>,
}

impl<P: Copy + Eq + Hash> PeerSlots<P> {
    fn new(seed: u64) -> Self {
        PeerSlots { by_peer: HashMap::with_hasher(SeededState::new(seed)), slots: Vec::new() }
    }

    fn get(&self, peer: &P) -> Option<u16> {
        self.by_peer.get(peer).copied()
    }

    /// The slot of `peer`, assigning the lowest free one if it has none.
    fn get_or_assign(&mut self, peer: P) -> Result<u16, FloodError> {
        if let Some(&s) = self.by_peer.get(&peer) {
            return Ok(s);
        }
        let idx = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < PEERS_MAX => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(FloodError::PeerSlotsExhausted(PEERS_MAX)),
        };
        let slot = idx as u16;
        self.slots[idx] = Some(peer);
        self.by_peer.insert(peer, slot);
        Ok(slot)
    }

    fn release(&mut self, peer: &P) -> Option<u16> {
        let slot = self.by_peer.remove(peer)?;
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = None;
        }
        Some(slot)
    }

    fn peer(&self, slot: u16) -> Option<P> {
        self.slots.get(usize::from(slot)).copied().flatten()
    }

    fn len(&self) -> usize {
        self.by_peer.len()
    }
}

/// One message's record.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Peers that sent us the message or that we told.
    told: PeerBits,
    /// Insertion number, to tell a live entry of `order` from a stale one.
    seq: u64,
    /// Tracking ledger when the record was created.
    ledger_seq: u32,
}

/// Counters of a [`Floodgate`]; the names in brackets are stellar-core's metrics (§14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodgateMetrics {
    /// Messages received for the first time (a new record).
    pub received_unique: u64,
    /// Messages received again (the sender was added to an existing record).
    pub received_duplicate: u64,
    /// Broadcast calls.
    pub broadcasts: u64,
    /// Peers returned by broadcasts, that is peers newly told. The node adds the SCP and
    /// survey ones to `overlay.flood.broadcast`; transaction recipients become adverts,
    /// counted by pull mode as `overlay.flood.advertised`.
    pub broadcast_recipients: u64,
    /// Records dropped by `forget`.
    pub forgotten: u64,
    /// Records dropped by `clear_below`.
    pub cleared: u64,
    /// Records evicted because the map was full (ours).
    pub evicted: u64,
}

/// Sizes of a [`Floodgate`], for `overlay.memory.flood-known` and memory accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodgateStats {
    /// Records held (`overlay.memory.flood-known`).
    pub entries: usize,
    /// The configured maximum of records.
    pub entries_max: usize,
    /// Entries of the eviction order, live and stale.
    pub order_entries: usize,
    /// Registered peers.
    pub peers: usize,
    /// Heap bytes in use, estimated from the capacities of the containers.
    pub heap_bytes: usize,
}

/// Which peers know which flooded message (§8.1). Generic over the node's peer handle `P`.
///
/// Plain data structure: no timers, no output queue. Calls and their results:
///
/// * [`record_received`](Self::record_received) when a flooded message (SCP_MESSAGE,
///   TRANSACTION, survey) arrives from a peer; `true` if it is new.
/// * [`broadcast`](Self::broadcast) with the authenticated peers: returns those to send to
///   (SCP, surveys) or to advertise to (transactions, see [`PullMode`](crate::PullMode)).
/// * [`forget`](Self::forget) when the Herder rejects a message, [`clear_below`](Self::clear_below)
///   after every externalized ledger, [`remove_peer`](Self::remove_peer) when a peer is dropped.
/// * [`peers_knowing`](Self::peers_knowing) for the fetcher (it implements
///   [`EnvelopeKnowers`]).
#[derive(Debug, Clone)]
pub struct Floodgate<P> {
    /// Bound: `entries_max` records; a new record at the limit evicts one (see the module doc).
    records: HashMap<Hash256, Record, SeededState>,
    /// Insertion order per ledger: `(id, seq)`; entries whose record is gone or newer are
    /// stale and skipped. Bound: compacted when it exceeds `2 × max(records, 1024)` entries.
    order: BTreeMap<u32, VecDeque<(Hash256, u64)>>,
    order_len: usize,
    next_seq: u64,
    entries_max: usize,
    peers: PeerSlots<P>,
    metrics: FloodgateMetrics,
}

impl<P: Copy + Eq + Ord + Hash + Debug> Floodgate<P> {
    /// An empty Floodgate. `hasher_seed` seeds its hash maps (from the node's generator).
    pub fn new(config: &FloodConfig, hasher_seed: u64) -> Self {
        Floodgate {
            records: HashMap::with_hasher(SeededState::new(hasher_seed)),
            order: BTreeMap::new(),
            order_len: 0,
            next_seq: 0,
            entries_max: config.floodgate_entries_max.max(1),
            peers: PeerSlots::new(hasher_seed ^ 0x5bd1_e995),
            metrics: FloodgateMetrics::default(),
        }
    }

    /// A flooded message `msg_id` arrived from `from` while the tracking ledger was
    /// `ledger_seq`. Returns `true` if the message is new (a record was created), `false` if
    /// it was known (the sender is added to its record).
    pub fn record_received(&mut self, msg_id: Hash256, from: P, ledger_seq: u32) -> Result<bool, FloodError> {
        let slot = self.peers.get_or_assign(from)?;
        if let Some(r) = self.records.get_mut(&msg_id) {
            r.told.insert(slot);
            self.metrics.received_duplicate += 1;
            return Ok(false);
        }
        self.insert_new(msg_id, ledger_seq, PeerBits::single(slot));
        self.metrics.received_unique += 1;
        Ok(true)
    }

    /// Broadcast `msg_id`: creates its record if needed (with `ledger_seq`) and returns the
    /// peers of `authenticated` that did not know it yet, in the given order, marking them as
    /// told. Peers that sent us the message, or were told before, are never returned.
    ///
    /// For SCP and survey messages the node sends the message to each returned peer; for a
    /// transaction it queues the transaction's pull-mode hash as an advert to each
    /// ([`PullMode::queue_outgoing_advert`](crate::PullMode::queue_outgoing_advert), which
    /// skips peers that advertised the hash to us).
    pub fn broadcast(&mut self, msg_id: Hash256, ledger_seq: u32, authenticated: &[P]) -> Result<Vec<P>, FloodError> {
        let mut slots = Vec::with_capacity(authenticated.len());
        for &p in authenticated {
            slots.push(self.peers.get_or_assign(p)?);
        }
        self.metrics.broadcasts += 1;
        let mut out = Vec::new();
        let mut mark = |bits: &mut PeerBits| {
            for (&p, &slot) in authenticated.iter().zip(&slots) {
                if bits.insert(slot) {
                    out.push(p);
                }
            }
        };
        let fresh = match self.records.get_mut(&msg_id) {
            Some(r) => {
                mark(&mut r.told);
                None
            }
            None => {
                let mut told = PeerBits::default();
                mark(&mut told);
                Some(told)
            }
        };
        if let Some(told) = fresh {
            self.insert_new(msg_id, ledger_seq, told);
        }
        self.metrics.broadcast_recipients += out.len() as u64;
        Ok(out)
    }

    /// Drop the record of `msg_id` (the Herder rejected the message, so it may be accepted and
    /// re-flooded later). Returns whether there was one.
    pub fn forget(&mut self, msg_id: &Hash256) -> bool {
        let removed = self.records.remove(msg_id).is_some();
        if removed {
            self.metrics.forgotten += 1;
            if self.order_len > 2 * self.records.len().max(1024) {
                self.compact_order();
            }
        }
        removed
    }

    /// Drop every record created at a ledger below `min_ledger_seq` (stellar-core
    /// `clearBelow`, called with `trackingSlot − MAX_SLOTS_TO_REMEMBER + 1`).
    pub fn clear_below(&mut self, min_ledger_seq: u32) {
        while let Some(entry) = self.order.first_entry() {
            if *entry.key() >= min_ledger_seq {
                break;
            }
            let queue = entry.remove();
            self.order_len -= queue.len();
            for (id, seq) in queue {
                if remove_if_seq(&mut self.records, id, seq) {
                    self.metrics.cleared += 1;
                }
            }
        }
    }

    /// Drop every record (shutdown). Peers stay registered.
    pub fn clear(&mut self) {
        self.records.clear();
        self.order.clear();
        self.order_len = 0;
    }

    /// Forget a peer: free its slot and erase it from every record. Idempotent.
    pub fn remove_peer(&mut self, peer: &P) {
        if let Some(slot) = self.peers.release(peer) {
            for r in self.records.values_mut() {
                r.told.remove(slot);
            }
        }
    }

    /// Whether a record exists for `msg_id`.
    pub fn contains(&self, msg_id: &Hash256) -> bool {
        self.records.contains_key(msg_id)
    }

    /// Whether `peer` is recorded as knowing `msg_id` (it sent it to us or we told it).
    pub fn knows(&self, msg_id: &Hash256, peer: &P) -> bool {
        match (self.records.get(msg_id), self.peers.get(peer)) {
            (Some(r), Some(slot)) => r.told.contains(slot),
            _ => false,
        }
    }

    /// The ledger a record was created at.
    pub fn record_ledger(&self, msg_id: &Hash256) -> Option<u32> {
        self.records.get(msg_id).map(|r| r.ledger_seq)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Counters.
    pub fn metrics(&self) -> FloodgateMetrics {
        self.metrics
    }

    /// Sizes and estimated heap use.
    pub fn stats(&self) -> FloodgateStats {
        use core::mem::size_of;
        // hashbrown: one control byte per bucket plus a group of trailing control bytes.
        let record_bytes = self.records.capacity() * (size_of::<(Hash256, Record)>() + 1);
        let order_bytes: usize = self
            .order
            .values()
            .map(|q| q.capacity() * size_of::<(Hash256, u64)>() + size_of::<(u32, VecDeque<(Hash256, u64)>)>())
            .sum();
        let peer_bytes = self.peers.slots.capacity() * size_of::<Option<P>>()
            + self.peers.by_peer.capacity() * (size_of::<(P, u16)>() + 1);
        FloodgateStats {
            entries: self.records.len(),
            entries_max: self.entries_max,
            order_entries: self.order_len,
            peers: self.peers.len(),
            heap_bytes: record_bytes + order_bytes + peer_bytes,
        }
    }

    fn insert_new(&mut self, msg_id: Hash256, ledger_seq: u32, told: PeerBits) {
        while self.records.len() >= self.entries_max {
            if !self.evict_one() {
                break;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records.insert(msg_id, Record { told, seq, ledger_seq });
        self.order.entry(ledger_seq).or_default().push_back((msg_id, seq));
        self.order_len += 1;
    }

    /// Evict the live record of the oldest ledger, oldest insertion. False if none is left.
    fn evict_one(&mut self) -> bool {
        while let Some(mut entry) = self.order.first_entry() {
            let queue = entry.get_mut();
            let front = queue.pop_front();
            let now_empty = queue.is_empty();
            if now_empty {
                entry.remove();
            }
            let Some((id, seq)) = front else { continue };
            self.order_len -= 1;
            if remove_if_seq(&mut self.records, id, seq) {
                self.metrics.evicted += 1;
                return true;
            }
        }
        false
    }

    /// Remove stale entries from the eviction order.
    fn compact_order(&mut self) {
        let records = &self.records;
        let mut len = 0;
        self.order.retain(|_, q| {
            q.retain(|(id, seq)| records.get(id).is_some_and(|r| r.seq == *seq));
            q.shrink_to_fit();
            len += q.len();
            !q.is_empty()
        });
        self.order_len = len;
    }
}

/// Remove the record of `id` if it is the one inserted as `seq` (one hash lookup).
fn remove_if_seq(records: &mut HashMap<Hash256, Record, SeededState>, id: Hash256, seq: u64) -> bool {
    match records.entry(id) {
        Entry::Occupied(e) if e.get().seq == seq => {
            e.remove();
            true
        }
        _ => false,
    }
}

impl<P: Copy + Eq + Ord + Hash + Debug> EnvelopeKnowers<P> for Floodgate<P> {
    /// Appends to `out` every registered peer recorded as knowing `msg_id`.
    fn peers_knowing(&self, msg_id: &Hash256, out: &mut Vec<P>) {
        if let Some(r) = self.records.get(msg_id) {
            out.extend(r.told.iter().filter_map(|s| self.peers.peer(s)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u32) -> Hash256 {
        Hash256::sha256(&i.to_be_bytes())
    }

    fn gate(max: usize) -> Floodgate<u32> {
        Floodgate::new(&FloodConfig { floodgate_entries_max: max, ..FloodConfig::default() }, 7)
    }

    #[test]
    fn peer_bits_insert_contains_remove_iterate() {
        let mut b = PeerBits::default();
        assert!(b.insert(0));
        assert!(!b.insert(0));
        assert!(b.insert(63));
        assert!(b.insert(64));
        assert!(b.insert(255));
        assert!(b.contains(255) && !b.contains(1));
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 63, 64, 255]);
        b.remove(63);
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 64, 255]);
    }

    #[test]
    fn received_message_is_not_broadcast_back_to_its_sender() {
        // §8.1: the sender is recorded, broadcast goes to everyone else, once.
        let mut g = gate(100);
        assert!(g.record_received(h(1), 10, 5).unwrap());
        assert!(!g.record_received(h(1), 11, 5).unwrap());
        let told = g.broadcast(h(1), 5, &[10, 11, 12, 13]).unwrap();
        assert_eq!(told, [12, 13]);
        // A second broadcast is a no-op.
        assert!(g.broadcast(h(1), 5, &[10, 11, 12, 13]).unwrap().is_empty());
        // A new peer gets it.
        assert_eq!(g.broadcast(h(1), 5, &[10, 14]).unwrap(), [14]);
        assert_eq!(g.metrics().received_unique, 1);
        assert_eq!(g.metrics().received_duplicate, 1);
        assert_eq!(g.metrics().broadcast_recipients, 3);
    }

    #[test]
    fn own_message_goes_to_every_peer() {
        let mut g = gate(100);
        assert_eq!(g.broadcast(h(2), 1, &[1, 2, 3]).unwrap(), [1, 2, 3]);
        assert!(g.contains(&h(2)));
        assert_eq!(g.record_ledger(&h(2)), Some(1));
    }

    #[test]
    fn forget_allows_rebroadcast() {
        // §8.1: a rejected message's record is deleted, so it can be flooded again later.
        let mut g = gate(100);
        g.record_received(h(3), 1, 1).unwrap();
        assert!(g.forget(&h(3)));
        assert!(!g.forget(&h(3)));
        assert_eq!(g.broadcast(h(3), 1, &[1, 2]).unwrap(), [1, 2]);
    }

    #[test]
    fn clear_below_drops_old_ledgers_only() {
        // §8.1 cleanup: records with ledgerSeq < minSlot are deleted.
        let mut g = gate(100);
        for i in 0..10 {
            g.broadcast(h(i), i, &[1]).unwrap();
        }
        g.clear_below(4);
        assert_eq!(g.len(), 6);
        assert!(!g.contains(&h(3)) && g.contains(&h(4)));
        assert_eq!(g.metrics().cleared, 4);
        g.clear_below(100);
        assert!(g.is_empty());
        assert_eq!(g.stats().order_entries, 0);
    }

    #[test]
    fn full_gate_evicts_oldest_ledger_then_oldest_insertion() {
        let mut g = gate(4);
        g.broadcast(h(1), 20, &[1]).unwrap();
        g.broadcast(h(2), 10, &[1]).unwrap();
        g.broadcast(h(3), 10, &[1]).unwrap();
        g.broadcast(h(4), 30, &[1]).unwrap();
        // Full: next insert evicts ledger 10's first insertion, h(2).
        g.record_received(h(5), 2, 30).unwrap();
        assert!(!g.contains(&h(2)) && g.contains(&h(3)));
        g.record_received(h(6), 2, 30).unwrap();
        assert!(!g.contains(&h(3)));
        // Then ledger 20.
        g.record_received(h(7), 2, 30).unwrap();
        assert!(!g.contains(&h(1)));
        assert_eq!(g.len(), 4);
        assert_eq!(g.metrics().evicted, 3);
    }

    #[test]
    fn eviction_skips_forgotten_entries() {
        let mut g = gate(2);
        g.broadcast(h(1), 1, &[1]).unwrap();
        g.forget(&h(1));
        g.broadcast(h(1), 5, &[1]).unwrap(); // re-created at ledger 5
        g.broadcast(h(2), 3, &[1]).unwrap();
        g.broadcast(h(3), 6, &[1]).unwrap(); // evicts h(2) (ledger 3), not the stale h(1)@1
        assert!(g.contains(&h(1)) && !g.contains(&h(2)) && g.contains(&h(3)));
    }

    #[test]
    fn order_is_compacted_after_many_forgets() {
        let mut g = gate(100_000);
        for i in 0..5_000 {
            g.broadcast(h(i), 1, &[1]).unwrap();
            g.forget(&h(i));
        }
        assert!(g.stats().order_entries <= 2 * 1024 + 1, "{:?}", g.stats());
    }

    #[test]
    fn removed_peer_slot_is_reused_without_its_knowledge() {
        let mut g = gate(100);
        g.record_received(h(1), 100, 1).unwrap();
        assert!(g.knows(&h(1), &100));
        g.remove_peer(&100);
        g.remove_peer(&100); // idempotent
        // Peer 200 gets the same slot but does not inherit 100's record.
        assert_eq!(g.broadcast(h(1), 1, &[200]).unwrap(), [200]);
        let mut who = Vec::new();
        g.peers_knowing(&h(1), &mut who);
        assert_eq!(who, [200]);
    }

    #[test]
    fn peer_slots_are_bounded() {
        let mut g = gate(100);
        for p in 0..PEERS_MAX as u32 {
            g.record_received(h(0), p, 1).unwrap();
        }
        assert_eq!(g.record_received(h(0), 9999, 1), Err(FloodError::PeerSlotsExhausted(PEERS_MAX)));
        assert_eq!(g.broadcast(h(1), 1, &[9999]), Err(FloodError::PeerSlotsExhausted(PEERS_MAX)));
        g.remove_peer(&3);
        assert!(g.record_received(h(0), 9999, 1).is_ok());
    }

    #[test]
    fn peers_knowing_lists_senders_and_told_peers() {
        // Used by the fetcher's preferred candidates (§8.3 step 1).
        let mut g = gate(100);
        g.record_received(h(9), 4, 1).unwrap();
        g.record_received(h(9), 2, 1).unwrap();
        let mut who = Vec::new();
        g.peers_knowing(&h(9), &mut who);
        who.sort_unstable();
        assert_eq!(who, [2, 4]);
        who.clear();
        g.peers_knowing(&h(10), &mut who);
        assert!(who.is_empty());
    }

    #[test]
    fn stats_estimate_grows_with_entries() {
        let mut g = gate(100_000);
        let empty = g.stats().heap_bytes;
        for i in 0..1000 {
            g.record_received(h(i), 1, 1).unwrap();
        }
        let s = g.stats();
        assert_eq!(s.entries, 1000);
        assert!(s.heap_bytes > empty + 1000 * 80, "{s:?}");
        g.clear();
        assert!(g.is_empty());
    }
}
