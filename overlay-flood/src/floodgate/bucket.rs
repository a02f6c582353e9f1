//! The records created at one ledger, in insertion order, in two parallel queues: the
//! identities with their liveness (33 bytes a record), and the peer sets as `words` 64-bit
//! words a record. `words` is the Floodgate's, the same for every bucket: one word while no
//! peer has a slot above 63, so that a record of a node with few peers takes 41 bytes.

use super::peers::{PEER_WORDS, PeerBits};
use overlay_proto::Hash256;
use std::collections::VecDeque;

/// A record's identity, and false once it is forgotten or evicted (a dead slot waiting to
/// be dropped). Byte-aligned, so 33 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub id: Hash256,
    pub live: bool,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Bucket {
    /// The ledger its records were created at.
    pub ledger: u32,
    entries: VecDeque<Entry>,
    /// `words` words per entry: the peers that sent us the message or that we told.
    told: VecDeque<u64>,
    /// Index of `entries[0]`: a record keeps its index for as long as its bucket lives.
    base: u32,
    /// Live entries; a bucket with none is removed, and its front entry is always live.
    live: u32,
}

impl Bucket {
    pub fn new(ledger: u32) -> Self {
        Bucket { ledger, ..Bucket::default() }
    }

    fn position(&self, index: u32) -> Option<usize> {
        let i = index.wrapping_sub(self.base) as usize;
        (i < self.entries.len()).then_some(i)
    }

    pub fn entry(&self, index: u32) -> Option<&Entry> {
        self.entries.get(self.position(index)?)
    }

    /// The peers of the record at `index` (none if there is no such record).
    pub fn told(&self, index: u32, words: usize) -> PeerBits {
        let mut bits = PeerBits::default();
        if let Some(i) = self.position(index) {
            for (w, word) in bits.0.iter_mut().enumerate().take(words) {
                *word = self.told[i * words + w];
            }
        }
        bits
    }

    /// Add peer `slot` (below `64 × words`) to the record at `index`; true if it was not
    /// there.
    pub fn add_peer(&mut self, index: u32, words: usize, slot: u16) -> bool {
        let Some(i) = self.position(index) else { return false };
        let (w, mask) = (usize::from(slot) / 64, 1u64 << (slot % 64));
        let word = &mut self.told[i * words + w];
        let new = *word & mask == 0;
        *word |= mask;
        new
    }

    /// Append a live record known to the peers `told`; its index.
    pub fn push(&mut self, id: Hash256, words: usize, told: &PeerBits) -> u32 {
        self.push_words(id, told.0[..words].iter().copied())
    }

    /// Append a live record known to peer `slot` (below `64 × words`) alone; its index.
    pub fn push_one(&mut self, id: Hash256, words: usize, slot: u16) -> u32 {
        let (at, mask) = (usize::from(slot) / 64, 1u64 << (slot % 64));
        self.push_words(id, (0..words).map(|w| if w == at { mask } else { 0 }))
    }

    /// Append a live record whose peer set is `told`, one word each; its index.
    fn push_words(&mut self, id: Hash256, told: impl Iterator<Item = u64>) -> u32 {
        let index = self.base.wrapping_add(self.entries.len() as u32);
        self.entries.push_back(Entry { id, live: true });
        for word in told {
            self.told.push_back(word);
        }
        self.live += 1;
        index
    }

    pub fn front_index(&self) -> Option<u32> {
        self.entries.front().map(|_| self.base)
    }

    /// Entries, live and dead.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn live(&self) -> u32 {
        self.live
    }

    /// The live records: index and identity.
    pub fn live_entries(&self) -> impl Iterator<Item = (u32, &Hash256)> + '_ {
        self.entries.iter().enumerate().filter(|(_, e)| e.live).map(|(i, e)| (self.base.wrapping_add(i as u32), &e.id))
    }

    /// Mark the record at `index` dead and drop the dead entries at the front; the number
    /// of entries dropped.
    pub fn kill(&mut self, index: u32, words: usize) -> usize {
        if let Some(e) = self.position(index).map(|i| &mut self.entries[i]) {
            if e.live {
                e.live = false;
                self.live -= 1;
            }
        }
        let mut dropped = 0;
        while self.entries.front().is_some_and(|e| !e.live) {
            self.entries.pop_front();
            for _ in 0..words {
                self.told.pop_front();
            }
            self.base = self.base.wrapping_add(1);
            dropped += 1;
        }
        dropped
    }

    /// Drop every dead entry; the live ones are numbered from 0 again.
    pub fn compact(&mut self, words: usize) {
        let mut entries = VecDeque::with_capacity(self.live as usize);
        let mut told = VecDeque::with_capacity(self.live as usize * words);
        for (i, e) in self.entries.iter().enumerate().filter(|(_, e)| e.live) {
            entries.push_back(*e);
            told.extend(self.told.range(i * words..(i + 1) * words));
        }
        (self.entries, self.told, self.base) = (entries, told, 0);
    }

    /// Store `to` words per record instead of `from` (`to > from`); the new words are empty.
    pub fn widen(&mut self, from: usize, to: usize) {
        let mut told = VecDeque::with_capacity(self.entries.len() * to);
        for i in 0..self.entries.len() {
            told.extend(self.told.range(i * from..(i + 1) * from));
            told.extend(core::iter::repeat_n(0, to - from));
        }
        self.told = told;
    }

    /// Erase peer `slot` from every record.
    pub fn remove_peer(&mut self, slot: u16, words: usize) {
        let (w, mask) = (usize::from(slot) / 64, !(1u64 << (slot % 64)));
        if w < words {
            for i in 0..self.entries.len() {
                self.told[i * words + w] &= mask;
            }
        }
    }

    /// Heap bytes, from the queues' capacities.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * size_of::<Entry>() + self.told.capacity() * size_of::<u64>()
    }
}

/// Words a record needs to store peer `slot`.
pub(super) fn words_for(slot: u16) -> usize {
    (usize::from(slot) / 64 + 1).min(PEER_WORDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> Hash256 {
        Hash256([i; 32])
    }

    #[test]
    fn an_entry_takes_33_bytes() {
        assert_eq!(size_of::<Entry>(), 33);
    }

    #[test]
    fn records_keep_their_peers_through_kills_compaction_and_widening() {
        let mut b = Bucket::default();
        for i in 0..6u8 {
            b.push_one(h(i), 1, u16::from(i));
        }
        assert_eq!(b.kill(0, 1), 1);
        assert_eq!(b.kill(2, 1), 0, "a dead entry behind a live one stays");
        assert_eq!((b.len(), b.live()), (5, 4));
        b.widen(1, 2);
        assert!(b.add_peer(3, 2, 100));
        assert!(!b.add_peer(3, 2, 100));
        b.compact(2);
        assert_eq!(b.front_index(), Some(0));
        let ids: Vec<u8> = b.live_entries().map(|(_, id)| id.0[0]).collect();
        assert_eq!(ids, [1, 3, 4, 5]);
        assert_eq!(b.told(1, 2).iter().collect::<Vec<_>>(), [3, 100]);
        b.remove_peer(100, 2);
        assert_eq!(b.told(1, 2).iter().collect::<Vec<_>>(), [3]);
        assert_eq!(b.told(9, 2), PeerBits::default(), "no record: no peers");
    }
}
