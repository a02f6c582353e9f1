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
//! Records live in one insertion-ordered queue per ledger, each in a slot of a slab; a hash
//! table of 8-byte locations (slot, index) finds them by identity, so the 32-byte identity
//! is stored once and a lookup reaches its record without searching for its ledger. An
//! ordered map from ledger to slot keeps the ledgers' order for eviction and clearing. A record
//! is its identity, a liveness byte and its peer set, stored as only as many 64-bit words as
//! the highest peer slot in use needs: 41 bytes while the node has at most 64 peers. Eviction
//! takes the front of the oldest ledger's queue, and clearing a ledger drops its queue.
//! A forgotten record leaves a dead slot in its queue until it reaches the front or the
//! queues are compacted (when dead slots outnumber live ones and 1,024).
//!
//! # Peers
//!
//! Peers get one of [`PEERS_MAX`] slots on first use, the lowest free one; a record stores its
//! peers as a set of slots, so its size does not depend on the peer handle type. `remove_peer` frees the slot and
//! erases the peer from every record (a new peer reusing the slot must not inherit what the old
//! one knew). stellar-core keeps a dropped peer's NodeID in the records, so a peer that
//! reconnects is not sent messages again; ours may be (a local difference, not visible on the wire).

mod bucket;
mod peers;

use crate::config::FloodConfig;
#[cfg(doc)]
use crate::config::PEERS_MAX;
use crate::error::FloodError;
use crate::tracker::EnvelopeKnowers;
use bucket::{Bucket, words_for};
use hashbrown::HashTable;
use overlay_proto::{Hash256, SeededState};
pub use peers::PeerSlot;
use peers::{PeerBits, PeerSlots};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash};

/// Where a record is: the slab slot of its ledger's bucket and its index there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    bucket: u32,
    index: u32,
}

/// The bucket in slot `slot`.
fn bucket_at(slab: &[Option<Bucket>], slot: u32) -> Option<&Bucket> {
    slab.get(slot as usize)?.as_ref()
}

/// The identity of the record at `loc`.
fn id_at(slab: &[Option<Bucket>], loc: Loc) -> Option<&Hash256> {
    bucket_at(slab, loc.bucket)?.entry(loc.index).map(|e| &e.id)
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
/// * [`peer_slot`](Self::peer_slot) once per peer, then
///   [`record_received_from`](Self::record_received_from) and
///   [`broadcast_to_slots`](Self::broadcast_to_slots) with that handle: the same calls without
///   a lookup of the peer (what the node does).
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
    /// The records, one bucket per ledger. Bound: live and dead slots together at most
    /// `2 × max(live, 1024)` (compacted past it); a bucket lives while it holds a live record.
    slab: Vec<Option<Bucket>>,
    /// Empty slots of `slab`.
    free: Vec<u32>,
    /// The slot of each ledger's bucket, oldest ledger first.
    ledgers: BTreeMap<u32, u32>,
    /// The ledger and slot of the bucket last added to (the current ledger, mostly).
    current: Option<(u32, u32)>,
    /// Slots in all buckets, live and dead.
    slots: usize,
    /// Words of peer set per record: enough for the highest peer slot used so far.
    words: usize,
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
            slab: Vec::new(),
            free: Vec::new(),
            ledgers: BTreeMap::new(),
            current: None,
            slots: 0,
            words: 1,
            entries_max: config.floodgate_entries_max.max(1),
            peers: PeerSlots::new(hasher_seed ^ 0x5bd1_e995),
            metrics: FloodgateMetrics::default(),
        }
    }

    /// A flooded message `msg_id` arrived from `from` while the tracking ledger was
    /// `ledger_seq`. Returns `true` if the message is new (a record was created), `false` if
    /// it was known (the sender is added to its record).
    pub fn record_received(&mut self, msg_id: Hash256, from: P, ledger_seq: u32) -> Result<bool, FloodError> {
        let slot = self.slot_of(from)?;
        Ok(self.record_at(msg_id, slot, ledger_seq))
    }

    /// [`record_received`](Self::record_received) from the peer of `from`, a handle from
    /// [`peer_slot`](Self::peer_slot): no lookup of the peer. A handle of a removed peer is
    /// refused with [`FloodError::StalePeerSlot`].
    ///
    /// ```
    /// use overlay_flood::{FloodConfig, Floodgate};
    /// use overlay_proto::Hash256;
    ///
    /// let mut gate: Floodgate<u32> = Floodgate::new(&FloodConfig::default(), 7);
    /// let peer = gate.peer_slot(3)?;
    /// let id = Hash256::sha256(b"tx");
    /// assert!(gate.record_received_from(id, peer, 100)?, "new");
    /// assert!(!gate.record_received_from(id, peer, 100)?, "a duplicate");
    /// assert!(gate.knows(&id, &3));
    /// gate.remove_peer(&3);
    /// assert!(gate.record_received_from(id, peer, 100).is_err());
    /// # Ok::<(), overlay_flood::FloodError>(())
    /// ```
    pub fn record_received_from(
        &mut self,
        msg_id: Hash256,
        from: PeerSlot,
        ledger_seq: u32,
    ) -> Result<bool, FloodError> {
        let slot = self.peers.resolve(from).ok_or(FloodError::StalePeerSlot)?;
        Ok(self.record_at(msg_id, slot, ledger_seq))
    }

    /// The slot of `peer`, assigned if it has none: a handle for
    /// [`record_received_from`](Self::record_received_from), valid until
    /// [`remove_peer`](Self::remove_peer).
    pub fn peer_slot(&mut self, peer: P) -> Result<PeerSlot, FloodError> {
        let slot = self.slot_of(peer)?;
        Ok(self.peers.handle(slot))
    }

    fn record_at(&mut self, msg_id: Hash256, slot: u16, ledger_seq: u32) -> bool {
        let hash = self.hasher.hash_one(msg_id);
        if let Some(loc) = self.find_hashed(hash, &msg_id) {
            let words = self.words;
            if let Some(b) = self.bucket_mut(loc.bucket) {
                b.add_peer(loc.index, words, slot);
            }
            self.metrics.received_duplicate += 1;
            return false;
        }
        self.insert_new(hash, ledger_seq, |bucket, words| bucket.push_one(msg_id, words, slot));
        self.metrics.received_unique += 1;
        true
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
            slots.push(self.slot_of(p)?);
        }
        let told = self.broadcast_at(msg_id, ledger_seq, slots.len(), |i| slots[i]);
        Ok(told.into_iter().map(|i| authenticated[i]).collect())
    }

    /// [`broadcast`](Self::broadcast) to peers given by their handles from
    /// [`peer_slot`](Self::peer_slot): no lookup of the peers. Returns the positions in
    /// `peers` of those newly told, in order. A handle of a removed peer is refused with
    /// [`FloodError::StalePeerSlot`], and then nothing is recorded.
    ///
    /// ```
    /// use overlay_flood::{FloodConfig, Floodgate};
    /// use overlay_proto::Hash256;
    ///
    /// let mut gate: Floodgate<u32> = Floodgate::new(&FloodConfig::default(), 7);
    /// let peers = [gate.peer_slot(1)?, gate.peer_slot(2)?, gate.peer_slot(3)?];
    /// let id = Hash256::sha256(b"envelope");
    /// gate.record_received_from(id, peers[1], 100)?;
    /// assert_eq!(gate.broadcast_to_slots(id, 100, &peers)?, [0, 2], "not back to its sender");
    /// assert!(gate.broadcast_to_slots(id, 100, &peers)?.is_empty(), "each peer is told once");
    /// # Ok::<(), overlay_flood::FloodError>(())
    /// ```
    pub fn broadcast_to_slots(
        &mut self,
        msg_id: Hash256,
        ledger_seq: u32,
        peers: &[PeerSlot],
    ) -> Result<Vec<usize>, FloodError> {
        if !peers.iter().all(|&p| self.peers.resolve(p).is_some()) {
            return Err(FloodError::StalePeerSlot);
        }
        Ok(self.broadcast_at(msg_id, ledger_seq, peers.len(), |i| peers[i].slot()))
    }

    /// Broadcast to `n` peers, the `i`-th in slot `slot(i)`: the positions of those newly
    /// told.
    fn broadcast_at(&mut self, msg_id: Hash256, ledger_seq: u32, n: usize, slot: impl Fn(usize) -> u16) -> Vec<usize> {
        self.metrics.broadcasts += 1;
        let mut out = Vec::with_capacity(n);
        let words = self.words;
        let hash = self.hasher.hash_one(msg_id);
        let found = self.find_hashed(hash, &msg_id).and_then(|l| Some((l.index, self.bucket_mut(l.bucket)?)));
        match found {
            Some((index, bucket)) => {
                for i in 0..n {
                    if bucket.add_peer(index, words, slot(i)) {
                        out.push(i);
                    }
                }
            }
            None => {
                let mut told = PeerBits::default();
                for i in 0..n {
                    if told.insert(slot(i)) {
                        out.push(i);
                    }
                }
                self.insert_new(hash, ledger_seq, |bucket, words| bucket.push(msg_id, words, &told));
            }
        }
        self.metrics.broadcast_recipients += out.len() as u64;
        out
    }

    /// Drop the record of `msg_id` (the Herder rejected the message, so it may be accepted and
    /// re-flooded later). Returns whether there was one.
    pub fn forget(&mut self, msg_id: &Hash256) -> bool {
        let slab = &self.slab;
        let found = self.index.find_entry(self.hasher.hash_one(msg_id), |&l| id_at(slab, l) == Some(msg_id));
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
        while let Some(entry) = self.ledgers.first_entry() {
            if *entry.key() >= min_ledger_seq {
                break;
            }
            let (_, slot) = entry.remove_entry();
            let Some(bucket) = self.release(slot) else { continue };
            self.slots -= bucket.len();
            for (index, id) in bucket.live_entries() {
                unindex(&mut self.index, &self.hasher, id, Loc { bucket: slot, index });
                self.metrics.cleared += 1;
            }
        }
    }

    /// Drop every record (shutdown). Peers stay registered.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slab.clear();
        self.free.clear();
        self.ledgers.clear();
        self.current = None;
        self.slots = 0;
    }

    /// Forget a peer: free its slot and erase it from every record. Idempotent.
    pub fn remove_peer(&mut self, peer: &P) {
        if let Some(slot) = self.peers.release(peer) {
            for b in self.slab.iter_mut().flatten() {
                b.remove_peer(slot, self.words);
            }
        }
    }

    /// Look up, ahead of recording them, the identities of a batch of received messages and
    /// the records that recording them would evict; returns how many of `ids` are known.
    ///
    /// Changes nothing. At tens of thousands of records the index does not fit the cache,
    /// and each record costs a few cache misses; a node calling this once per read lets the
    /// processor overlap a whole batch's misses here instead of stalling on each one between
    /// the other work of its message.
    pub fn warm<'a>(&self, ids: impl IntoIterator<Item = &'a Hash256>) -> usize {
        let mut known = 0;
        let mut count = 0;
        for id in ids {
            count += 1;
            known += usize::from(self.find_loc(id).is_some());
        }
        let mut evictions = (self.index.len() + count).saturating_sub(self.entries_max).min(count);
        if evictions == 0 {
            return known;
        }
        for &slot in self.ledgers.values() {
            let Some(bucket) = bucket_at(&self.slab, slot) else { continue };
            for (_, id) in bucket.live_entries().take(evictions) {
                evictions -= 1;
                std::hint::black_box(self.find_loc(id));
            }
            if evictions == 0 {
                break;
            }
        }
        known
    }

    /// Whether a record exists for `msg_id`.
    pub fn contains(&self, msg_id: &Hash256) -> bool {
        self.find_loc(msg_id).is_some()
    }

    /// Whether `peer` is recorded as knowing `msg_id` (it sent it to us or we told it).
    pub fn knows(&self, msg_id: &Hash256, peer: &P) -> bool {
        match (self.find_loc(msg_id), self.peers.get(peer)) {
            (Some(loc), Some(slot)) => self.told(loc).contains(slot),
            _ => false,
        }
    }

    /// The ledger a record was created at.
    pub fn record_ledger(&self, msg_id: &Hash256) -> Option<u32> {
        self.find_loc(msg_id).and_then(|l| bucket_at(&self.slab, l.bucket)).map(|b| b.ledger)
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
        let slot_bytes: usize = self.slab.iter().flatten().map(Bucket::heap_bytes).sum::<usize>()
            + self.slab.capacity() * size_of::<Option<Bucket>>()
            + self.free.capacity() * size_of::<u32>()
            + self.ledgers.len() * size_of::<(u32, u32)>();
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

    /// The slot of `peer` (assigned on first use), the records widened to hold it.
    fn slot_of(&mut self, peer: P) -> Result<u16, FloodError> {
        let slot = self.peers.get_or_assign(peer)?;
        let words = words_for(slot);
        if words > self.words {
            for b in self.slab.iter_mut().flatten() {
                b.widen(self.words, words);
            }
            self.words = words;
        }
        Ok(slot)
    }

    fn find_loc(&self, id: &Hash256) -> Option<Loc> {
        self.find_hashed(self.hasher.hash_one(id), id)
    }

    /// [`find_loc`](Self::find_loc) with the hash of `id` computed already.
    fn find_hashed(&self, hash: u64, id: &Hash256) -> Option<Loc> {
        let slab = &self.slab;
        self.index.find(hash, |&l| id_at(slab, l) == Some(id)).copied()
    }

    fn told(&self, loc: Loc) -> PeerBits {
        bucket_at(&self.slab, loc.bucket).map(|b| b.told(loc.index, self.words)).unwrap_or_default()
    }

    fn bucket_mut(&mut self, slot: u32) -> Option<&mut Bucket> {
        self.slab.get_mut(slot as usize)?.as_mut()
    }

    /// The slot of the bucket of `ledger`, created if there is none.
    fn bucket_for(&mut self, ledger: u32) -> u32 {
        if let Some((l, slot)) = self.current.filter(|&(l, _)| l == ledger) {
            debug_assert_eq!(self.ledgers.get(&l), Some(&slot));
            return slot;
        }
        let slot = match self.ledgers.get(&ledger) {
            Some(&slot) => slot,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.slab[slot as usize] = Some(Bucket::new(ledger));
                        slot
                    }
                    None => {
                        self.slab.push(Some(Bucket::new(ledger)));
                        (self.slab.len() - 1) as u32
                    }
                };
                self.ledgers.insert(ledger, slot);
                slot
            }
        };
        self.current = Some((ledger, slot));
        slot
    }

    /// Empty slot `slot` (its ledger is already out of `ledgers`); the bucket it held.
    fn release(&mut self, slot: u32) -> Option<Bucket> {
        let bucket = self.slab.get_mut(slot as usize)?.take()?;
        self.free.push(slot);
        if self.current.is_some_and(|(_, s)| s == slot) {
            self.current = None;
        }
        Some(bucket)
    }

    /// A new record, its identity hashing to `hash`, appended to the bucket of `ledger_seq` by
    /// `push` (given the bucket and the words per record; it returns the record's index).
    fn insert_new(&mut self, hash: u64, ledger_seq: u32, push: impl FnOnce(&mut Bucket, usize) -> u32) {
        while self.index.len() >= self.entries_max {
            if !self.evict_one() {
                break;
            }
        }
        let slot = self.bucket_for(ledger_seq);
        let words = self.words;
        let Some(bucket) = self.bucket_mut(slot) else { return };
        let index = push(bucket, words);
        self.slots += 1;
        let (slab, hasher) = (&self.slab, &self.hasher);
        let loc = Loc { bucket: slot, index };
        self.index.insert_unique(hash, loc, |&l| id_at(slab, l).map_or(0, |id| hasher.hash_one(id)));
    }

    /// Evict the oldest ledger's oldest record. False if there is none.
    fn evict_one(&mut self) -> bool {
        let Some((_, &slot)) = self.ledgers.first_key_value() else { return false };
        let Some(index) = bucket_at(&self.slab, slot).and_then(Bucket::front_index) else { return false };
        let loc = Loc { bucket: slot, index };
        if let Some(id) = id_at(&self.slab, loc).copied() {
            unindex(&mut self.index, &self.hasher, &id, loc);
        }
        self.kill(loc);
        self.metrics.evicted += 1;
        true
    }

    /// Mark the (unindexed) record at `loc` dead; drop its bucket if no record is left, or
    /// the dead slots at the bucket's front.
    fn kill(&mut self, loc: Loc) {
        let words = self.words;
        let Some(bucket) = self.bucket_mut(loc.bucket) else { return };
        let mut dropped = bucket.kill(loc.index, words);
        let emptied = (bucket.live() == 0).then_some(bucket.ledger);
        if let Some(ledger) = emptied {
            dropped += bucket.len();
            self.ledgers.remove(&ledger);
            self.release(loc.bucket);
        }
        self.slots -= dropped;
    }

    /// Drop every dead slot and index the records again.
    fn compact(&mut self) {
        self.index.clear();
        for b in self.slab.iter_mut().flatten() {
            b.compact(self.words);
        }
        self.slots = self.slab.iter().flatten().map(Bucket::len).sum();
        let (slab, hasher) = (&self.slab, &self.hasher);
        for (slot, b) in slab.iter().enumerate() {
            let Some(b) = b else { continue };
            for (index, id) in b.live_entries() {
                let loc = Loc { bucket: slot as u32, index };
                self.index
                    .insert_unique(hasher.hash_one(id), loc, |&l| id_at(slab, l).map_or(0, |id| hasher.hash_one(id)));
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
        if let Some(loc) = self.find_loc(msg_id) {
            out.extend(self.told(loc).iter().filter_map(|s| self.peers.peer(s)));
        }
    }
}

#[cfg(test)]
mod tests;
