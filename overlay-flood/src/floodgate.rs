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
//! # Layout
//!
//! Records live in one insertion-ordered queue per ledger; a hash table of 8-byte locations
//! (ledger, index) finds them by identity, so the 32-byte identity is stored once. Eviction
//! takes the front of the oldest ledger's queue, and clearing a ledger drops its queue.
//! A forgotten record leaves a dead slot in its queue until it reaches the front or the
//! queues are compacted (when dead slots outnumber live ones and 1,024).
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
use hashbrown::HashTable;
use overlay_proto::{Hash256, SeededState};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash};

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

/// One message's record, in its ledger's queue.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: Hash256,
    /// Peers that sent us the message or that we told.
    told: PeerBits,
    /// False once the record is forgotten or evicted (a dead slot waiting to be dropped).
    live: bool,
}

/// The records created at one ledger, in insertion order.
#[derive(Debug, Clone, Default)]
struct Bucket {
    slots: VecDeque<Slot>,
    /// Index of `slots[0]`: a record keeps its index for as long as its bucket lives.
    base: u32,
    /// Live slots; a bucket with none is removed, and its front slot is always live.
    live: u32,
}

impl Bucket {
    fn get(&self, index: u32) -> Option<&Slot> {
        self.slots.get(index.wrapping_sub(self.base) as usize)
    }

    fn get_mut(&mut self, index: u32) -> Option<&mut Slot> {
        self.slots.get_mut(index.wrapping_sub(self.base) as usize)
    }
}

/// Where a record is: its ledger's bucket and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    ledger: u32,
    index: u32,
}

/// The slot at `loc`.
fn slot_at(buckets: &BTreeMap<u32, Bucket>, loc: Loc) -> Option<&Slot> {
    buckets.get(&loc.ledger)?.get(loc.index)
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
    /// The live records' locations, by identity. Bound: `entries_max`; a new record at the
    /// limit evicts one (see the module doc).
    index: HashTable<Loc>,
    hasher: SeededState,
    /// The records, one queue per ledger. Bound: live and dead slots together at most
    /// `2 × max(live, 1024)` (compacted past it).
    buckets: BTreeMap<u32, Bucket>,
    /// Slots in all buckets, live and dead.
    slots: usize,
    entries_max: usize,
    peers: PeerSlots<P>,
    metrics: FloodgateMetrics,
}

impl<P: Copy + Eq + Ord + Hash + Debug> Floodgate<P> {
    /// An empty Floodgate. `hasher_seed` seeds its hash maps (from the node's generator).
    pub fn new(config: &FloodConfig, hasher_seed: u64) -> Self {
        Floodgate {
            index: HashTable::new(),
            hasher: SeededState::new(hasher_seed),
            buckets: BTreeMap::new(),
            slots: 0,
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
        if let Some(r) = self.find_mut(&msg_id) {
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
        let fresh = match self.find_mut(&msg_id) {
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
        let buckets = &self.buckets;
        let found = self
            .index
            .find_entry(self.hasher.hash_one(msg_id), |&l| slot_at(buckets, l).is_some_and(|s| s.id == *msg_id));
        let Ok(entry) = found else { return false };
        let (loc, _) = entry.remove();
        self.kill(loc);
        self.metrics.forgotten += 1;
        if self.slots > 2 * self.index.len().max(1024) {
            self.compact();
        }
        true
    }

    /// Drop every record created at a ledger below `min_ledger_seq` (stellar-core
    /// `clearBelow`, called with `trackingSlot − MAX_SLOTS_TO_REMEMBER + 1`).
    pub fn clear_below(&mut self, min_ledger_seq: u32) {
        while let Some(entry) = self.buckets.first_entry() {
            if *entry.key() >= min_ledger_seq {
                break;
            }
            let (ledger, bucket) = entry.remove_entry();
            self.slots -= bucket.slots.len();
            for (i, s) in bucket.slots.iter().enumerate().filter(|(_, s)| s.live) {
                let loc = Loc { ledger, index: bucket.base.wrapping_add(i as u32) };
                unindex(&mut self.index, &self.hasher, &s.id, loc);
                self.metrics.cleared += 1;
            }
        }
    }

    /// Drop every record (shutdown). Peers stay registered.
    pub fn clear(&mut self) {
        self.index.clear();
        self.buckets.clear();
        self.slots = 0;
    }

    /// Forget a peer: free its slot and erase it from every record. Idempotent.
    pub fn remove_peer(&mut self, peer: &P) {
        if let Some(slot) = self.peers.release(peer) {
            for s in self.buckets.values_mut().flat_map(|b| b.slots.iter_mut()) {
                s.told.remove(slot);
            }
        }
    }

    /// Whether a record exists for `msg_id`.
    pub fn contains(&self, msg_id: &Hash256) -> bool {
        self.find(msg_id).is_some()
    }

    /// Whether `peer` is recorded as knowing `msg_id` (it sent it to us or we told it).
    pub fn knows(&self, msg_id: &Hash256, peer: &P) -> bool {
        match (self.find(msg_id), self.peers.get(peer)) {
            (Some(r), Some(slot)) => r.told.contains(slot),
            _ => false,
        }
    }

    /// The ledger a record was created at.
    pub fn record_ledger(&self, msg_id: &Hash256) -> Option<u32> {
        self.find_loc(msg_id).map(|l| l.ledger)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Counters.
    pub fn metrics(&self) -> FloodgateMetrics {
        self.metrics
    }

    /// Sizes and estimated heap use.
    pub fn stats(&self) -> FloodgateStats {
        use core::mem::size_of;
        // hashbrown: one control byte per bucket (plus a group of trailing ones).
        let index_bytes = self.index.capacity() * (size_of::<Loc>() + 1);
        let slot_bytes: usize =
            self.buckets.values().map(|b| b.slots.capacity() * size_of::<Slot>() + size_of::<(u32, Bucket)>()).sum();
        let peer_bytes = self.peers.slots.capacity() * size_of::<Option<P>>()
            + self.peers.by_peer.capacity() * (size_of::<(P, u16)>() + 1);
        FloodgateStats {
            entries: self.index.len(),
            entries_max: self.entries_max,
            order_entries: self.slots,
            peers: self.peers.len(),
            heap_bytes: index_bytes + slot_bytes + peer_bytes,
        }
    }

    fn find_loc(&self, id: &Hash256) -> Option<Loc> {
        let buckets = &self.buckets;
        self.index.find(self.hasher.hash_one(id), |&l| slot_at(buckets, l).is_some_and(|s| s.id == *id)).copied()
    }

    fn find(&self, id: &Hash256) -> Option<&Slot> {
        slot_at(&self.buckets, self.find_loc(id)?)
    }

    fn find_mut(&mut self, id: &Hash256) -> Option<&mut Slot> {
        let loc = self.find_loc(id)?;
        self.buckets.get_mut(&loc.ledger)?.get_mut(loc.index)
    }

    fn insert_new(&mut self, id: Hash256, ledger_seq: u32, told: PeerBits) {
        while self.index.len() >= self.entries_max {
            if !self.evict_one() {
                break;
            }
        }
        let bucket = self.buckets.entry(ledger_seq).or_default();
        let loc = Loc { ledger: ledger_seq, index: bucket.base.wrapping_add(bucket.slots.len() as u32) };
        bucket.slots.push_back(Slot { id, told, live: true });
        bucket.live += 1;
        self.slots += 1;
        let (buckets, hasher) = (&self.buckets, &self.hasher);
        self.index
            .insert_unique(hasher.hash_one(id), loc, |&l| slot_at(buckets, l).map_or(0, |s| hasher.hash_one(s.id)));
    }

    /// Evict the oldest ledger's oldest record. False if there is none.
    fn evict_one(&mut self) -> bool {
        let Some((&ledger, bucket)) = self.buckets.first_key_value() else { return false };
        let Some(front) = bucket.slots.front() else { return false };
        let loc = Loc { ledger, index: bucket.base };
        unindex(&mut self.index, &self.hasher, &front.id, loc);
        self.kill(loc);
        self.metrics.evicted += 1;
        true
    }

    /// Mark the (unindexed) record at `loc` dead; drop its bucket if no record is left, or
    /// the dead slots at the bucket's front.
    fn kill(&mut self, loc: Loc) {
        let Some(bucket) = self.buckets.get_mut(&loc.ledger) else { return };
        if let Some(s) = bucket.get_mut(loc.index) {
            s.live = false;
        }
        bucket.live = bucket.live.saturating_sub(1);
        if bucket.live == 0 {
            self.slots -= bucket.slots.len();
            self.buckets.remove(&loc.ledger);
            return;
        }
        while bucket.slots.front().is_some_and(|s| !s.live) {
            bucket.slots.pop_front();
            bucket.base = bucket.base.wrapping_add(1);
            self.slots -= 1;
        }
    }

    /// Drop every dead slot and index the records again.
    fn compact(&mut self) {
        self.index.clear();
        for b in self.buckets.values_mut() {
            b.slots.retain(|s| s.live);
            b.slots.shrink_to_fit();
            b.base = 0;
        }
        self.slots = self.buckets.values().map(|b| b.slots.len()).sum();
        let (buckets, hasher) = (&self.buckets, &self.hasher);
        for (&ledger, b) in buckets {
            for (i, s) in b.slots.iter().enumerate() {
                let loc = Loc { ledger, index: i as u32 };
                self.index.insert_unique(hasher.hash_one(s.id), loc, |&l| {
                    slot_at(buckets, l).map_or(0, |s| hasher.hash_one(s.id))
                });
            }
        }
    }
}

/// Remove `loc`, the location of `id`, from the index.
fn unindex(index: &mut HashTable<Loc>, hasher: &SeededState, id: &Hash256, loc: Loc) {
    if let Ok(entry) = index.find_entry(hasher.hash_one(id), |&l| l == loc) {
        entry.remove();
    }
}

impl<P: Copy + Eq + Ord + Hash + Debug> EnvelopeKnowers<P> for Floodgate<P> {
    /// Appends to `out` every registered peer recorded as knowing `msg_id`.
    fn peers_knowing(&self, msg_id: &Hash256, out: &mut Vec<P>) {
        if let Some(r) = self.find(msg_id) {
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
    fn records_survive_compaction_in_order() {
        // 3,000 records over three ledgers, two of every three forgotten: the dead slots pass
        // 2 × 1,024 and the queues are compacted; the rest keep their ledger, their peers and
        // their place in the eviction order.
        let mut g = gate(3_000);
        for i in 0..3_000 {
            g.record_received(h(i), i % 5, 10 + i / 1_000).unwrap();
        }
        for i in (0..3_000).filter(|i| i % 3 != 0) {
            assert!(g.forget(&h(i)));
        }
        let st = g.stats();
        assert_eq!(st.entries, 1_000);
        assert!(st.order_entries <= 2 * 1_024, "{st:?}");
        for i in (0..3_000).filter(|i| i % 3 == 0) {
            assert_eq!(g.record_ledger(&h(i)), Some(10 + i / 1_000));
            assert!(g.knows(&h(i), &(i % 5)) && !g.knows(&h(i), &(i % 5 + 1)));
        }
        // Filled up again, the gate evicts the survivors oldest first: ledger 10's 334
        // (0, 3, …, 999), then ledger 11's, starting with 1,002.
        for i in 0..2_000 {
            g.record_received(h(10_000 + i), 1, 20).unwrap();
        }
        for i in 0..334 {
            g.record_received(h(20_000 + i), 1, 20).unwrap();
        }
        assert_eq!(g.len(), 3_000);
        assert_eq!(g.metrics().evicted, 334);
        assert!(!g.contains(&h(999)) && g.contains(&h(1_002)));
        g.record_received(h(30_000), 1, 20).unwrap();
        assert!(!g.contains(&h(1_002)) && g.contains(&h(1_005)));
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
