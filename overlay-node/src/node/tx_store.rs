//! [`TxStore`]: the transactions a node holds to answer FLOOD_DEMAND (§9.4), oldest first
//! out, bounded by count and bytes.
//!
//! # Layout
//!
//! A held transaction is one record, its 32-byte hash followed by its TRANSACTION message
//! XDR, appended to 64 KiB blocks of bytes (a record never straddles two blocks; a record
//! larger than a block gets a block of its own). Entries in insertion order give each
//! record's position and length (8 bytes), runs of entries give the tracking ledger they
//! were stored at, and a hash table of 4-byte entry numbers finds an entry by hash, its key
//! read from the record. So a 220-byte transaction costs about 265 bytes with the table,
//! against about 330 as an `Arc<[u8]>` of its own in a map.
//!
//! Entries leave only from the front (the bounds and [`TxStore::drop_below`]), and a block
//! is freed when its last record leaves. Storing a hash that is held already changes nothing:
//! the hash names the bytes.

use hashbrown::HashTable;
use overlay_proto::{Hash256, SeededState};
use std::collections::VecDeque;
use std::hash::BuildHasher;

/// Bytes of a block.
const BLOCK: usize = 64 * 1024;

/// Bytes of a record's key.
const KEY: usize = 32;

/// Where a record is: its position in the byte stream (wrapping) and its XDR's length.
#[derive(Debug, Clone, Copy)]
struct Entry {
    pos: u32,
    len: u32,
}

#[derive(Debug)]
struct Block {
    /// Position of `data[0]` in the byte stream (wrapping).
    start: u32,
    data: Vec<u8>,
}

/// Held transactions by hash; see the module doc.
#[derive(Debug)]
pub(crate) struct TxStore {
    /// Numbers of the held entries (wrapping: `base` + offset), by hash. Bound:
    /// `count_max` entries and `bytes_max` bytes of XDR.
    index: HashTable<u32>,
    hasher: SeededState,
    /// The held entries in insertion order; `entries[0]` is number `base`.
    entries: VecDeque<Entry>,
    base: u32,
    /// `(ledger, number of the first entry stored at it)`, oldest first; the front run
    /// may begin before `base`.
    ledgers: VecDeque<(u32, u32)>,
    /// The records' bytes; every block holds at least one held record.
    blocks: VecDeque<Block>,
    /// Position after the last record.
    end: u32,
    /// Summed XDR lengths of the held entries.
    bytes: usize,
    count_max: usize,
    bytes_max: usize,
}

impl TxStore {
    pub fn new(count_max: usize, bytes_max: usize, seed: u64) -> Self {
        TxStore {
            index: HashTable::new(),
            hasher: SeededState::new(seed),
            entries: VecDeque::new(),
            base: 0,
            ledgers: VecDeque::new(),
            blocks: VecDeque::new(),
            end: 0,
            bytes: 0,
            // Numbers and positions wrap at 2³²; the bounds keep what is held far below it.
            count_max: count_max.clamp(1, 1 << 24),
            bytes_max: bytes_max.min(1 << 30),
        }
    }

    /// Hold `xdr`, the transaction named `hash`, stored at tracking ledger `ledger`; the
    /// oldest go first past the bounds. Not kept if larger than the byte bound, and nothing
    /// changes if `hash` is held already.
    pub fn insert(&mut self, hash: Hash256, xdr: &[u8], ledger: u32) {
        if xdr.len() > self.bytes_max || self.find(&hash).is_some() {
            return;
        }
        while self.entries.len() >= self.count_max || self.bytes + xdr.len() > self.bytes_max {
            self.pop_front();
        }
        let pos = self.append(&hash, xdr);
        let number = self.base.wrapping_add(self.entries.len() as u32);
        self.entries.push_back(Entry { pos, len: xdr.len() as u32 });
        if self.ledgers.back().is_none_or(|&(l, _)| l != ledger) {
            self.ledgers.push_back((ledger, number));
        }
        self.bytes += xdr.len();
        let (entries, blocks, base, hasher) = (&self.entries, &self.blocks, self.base, &self.hasher);
        self.index.insert_unique(hasher.hash_one(hash), number, |&n| {
            key_in(entries, blocks, base, n).map_or(0, |k| hasher.hash_one(Hash256(*k)))
        });
    }

    pub fn contains(&self, hash: &Hash256) -> bool {
        self.find(hash).is_some()
    }

    /// The XDR of the transaction named `hash`.
    pub fn get(&self, hash: &Hash256) -> Option<&[u8]> {
        let e = *self.entries.get(self.find(hash)?.wrapping_sub(self.base) as usize)?;
        let (block, at) = locate(&self.blocks, e.pos)?;
        block.data.get(at + KEY..at + KEY + e.len as usize)
    }

    /// Forget the transactions stored at ledgers below `min_ledger`, oldest first, up to the
    /// first one that is not.
    pub fn drop_below(&mut self, min_ledger: u32) {
        while self.front_ledger().is_some_and(|l| l < min_ledger) {
            self.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Summed XDR lengths of the held transactions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of the entry holding `hash`.
    fn find(&self, hash: &Hash256) -> Option<u32> {
        let (entries, blocks, base) = (&self.entries, &self.blocks, self.base);
        self.index.find(self.hasher.hash_one(hash), |&n| key_in(entries, blocks, base, n) == Some(&hash.0)).copied()
    }

    /// The ledger of the front entry: the front run's.
    fn front_ledger(&self) -> Option<u32> {
        self.entries.front()?;
        self.ledgers.front().map(|&(l, _)| l)
    }

    /// Append a record; its position.
    fn append(&mut self, hash: &Hash256, xdr: &[u8]) -> u32 {
        let n = KEY + xdr.len();
        let fits = self.blocks.back().is_some_and(|b| b.data.len() + n <= b.data.capacity());
        if !fits {
            self.blocks.push_back(Block { start: self.end, data: Vec::with_capacity(n.max(BLOCK)) });
        }
        let block = self.blocks.back_mut().expect("a block was just ensured");
        let pos = block.start.wrapping_add(block.data.len() as u32);
        block.data.extend_from_slice(&hash.0);
        block.data.extend_from_slice(xdr);
        self.end = pos.wrapping_add(n as u32);
        pos
    }

    /// Forget the oldest entry, and the blocks and ledger runs nothing held is in.
    fn pop_front(&mut self) {
        let Some(e) = self.entries.pop_front() else { return };
        let number = self.base;
        self.base = self.base.wrapping_add(1);
        self.bytes -= e.len as usize;
        // The front entry's record is in the front block: no search.
        let key = self.blocks.front().and_then(|b| {
            let at = e.pos.wrapping_sub(b.start) as usize;
            <[u8; KEY]>::try_from(b.data.get(at..at + KEY)?).ok()
        });
        if let Some(key) = key {
            if let Ok(found) = self.index.find_entry(self.hasher.hash_one(Hash256(key)), |&n| n == number) {
                found.remove();
            }
        }
        let next = self.entries.front().map_or(self.end, |e| e.pos);
        while self.blocks.front().is_some_and(|b| next.wrapping_sub(b.start) as usize >= b.data.len()) {
            self.blocks.pop_front();
        }
        // The front run is the one the front entry was stored in.
        while self.ledgers.get(1).is_some_and(|&(_, first)| first.wrapping_sub(self.base) as i32 <= 0) {
            self.ledgers.pop_front();
        }
        if self.entries.is_empty() {
            self.ledgers.clear();
        }
    }
}

fn locate(blocks: &VecDeque<Block>, pos: u32) -> Option<(&Block, usize)> {
    let first = blocks.front()?.start;
    let rel = pos.wrapping_sub(first);
    let i = blocks.partition_point(|b| b.start.wrapping_sub(first) <= rel).checked_sub(1)?;
    let b = &blocks[i];
    Some((b, pos.wrapping_sub(b.start) as usize))
}

/// The key of entry `number`.
fn key_in<'a>(entries: &VecDeque<Entry>, blocks: &'a VecDeque<Block>, base: u32, number: u32) -> Option<&'a [u8; KEY]> {
    let e = entries.get(number.wrapping_sub(base) as usize)?;
    let (block, at) = locate(blocks, e.pos)?;
    block.data.get(at..at + KEY)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(i: u16) -> Hash256 {
        Hash256::sha256(&i.to_be_bytes())
    }

    fn xdr(i: u16, len: usize) -> Vec<u8> {
        (0..len).map(|j| (usize::from(i) * 31 + j) as u8).collect()
    }

    #[test]
    fn holds_within_both_bounds_oldest_out() {
        let mut s = TxStore::new(3, 1000, 1);
        for i in 0..5 {
            s.insert(h(i), &xdr(i, 100), 7);
        }
        assert_eq!((s.len(), s.bytes()), (3, 300));
        assert!(!s.contains(&h(1)) && s.contains(&h(2)));
        assert_eq!(s.get(&h(4)), Some(&xdr(4, 100)[..]));
        s.insert(h(9), &xdr(9, 950), 7);
        assert_eq!((s.len(), s.bytes()), (1, 950), "the byte bound evicts the oldest");
        s.insert(h(8), &xdr(8, 1001), 7);
        assert!(!s.contains(&h(8)), "larger than the whole bound: not kept");
        s.insert(h(9), &xdr(1, 10), 8);
        assert_eq!(s.get(&h(9)), Some(&xdr(9, 950)[..]), "a held hash is not stored again");
    }

    #[test]
    fn records_larger_than_a_block_and_freed_blocks() {
        let mut s = TxStore::new(100, 10 * BLOCK, 2);
        s.insert(h(0), &xdr(0, 100), 1);
        s.insert(h(1), &xdr(1, BLOCK + 5), 1);
        s.insert(h(2), &xdr(2, 100), 2);
        assert_eq!(s.blocks.len(), 3);
        assert_eq!(s.get(&h(1)).map(<[u8]>::len), Some(BLOCK + 5));
        s.drop_below(2);
        assert_eq!(s.len(), 1);
        assert_eq!(s.blocks.len(), 1, "blocks nothing held is in are freed");
        assert_eq!(s.get(&h(2)), Some(&xdr(2, 100)[..]));
        s.drop_below(3);
        assert!(s.blocks.is_empty() && s.ledgers.is_empty());
        s.insert(h(3), &xdr(3, 10), 3);
        assert_eq!(s.get(&h(3)), Some(&xdr(3, 10)[..]));
    }

    #[test]
    fn positions_and_numbers_wrap() {
        let mut s = TxStore::new(4, 1 << 20, 3);
        (s.base, s.end) = (u32::MAX - 2, u32::MAX - 300);
        for i in 0..10 {
            s.insert(h(i), &xdr(i, 120), u32::from(i / 3));
            assert_eq!(s.get(&h(i)), Some(&xdr(i, 120)[..]));
        }
        assert_eq!(s.len(), 4);
        s.drop_below(3);
        assert_eq!(s.len(), 1);
        assert!(s.contains(&h(9)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert { key: u8, len: u16, ledger_step: bool },
        DropBelow(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..40u8, 0..3000u16, any::<bool>()).prop_map(|(key, len, ledger_step)| Op::Insert { key, len, ledger_step }),
            1 => any::<u8>().prop_map(Op::DropBelow),
        ]
    }

    proptest! {
        /// The store holds what a plain queue of (key, bytes, ledger) holds: the same entries,
        /// evicted in the same order, within both bounds, its blocks freed.
        #[test]
        fn tx_store_matches_a_model(ops in prop::collection::vec(op(), 1..300), count_max in 1..16usize, bytes_max in 0..20_000usize) {
            let mut s = TxStore::new(count_max, bytes_max, 5);
            let mut model: VecDeque<(u8, Vec<u8>, u32)> = VecDeque::new();
            let mut ledger = 0u32;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert { key, len, ledger_step } => {
                        ledger += u32::from(ledger_step);
                        let bytes = xdr(n as u16, usize::from(len));
                        s.insert(h(u16::from(key)), &bytes, ledger);
                        if bytes.len() <= bytes_max && !model.iter().any(|e| e.0 == key) {
                            while model.len() >= count_max || model.iter().map(|e| e.1.len()).sum::<usize>() + bytes.len() > bytes_max {
                                model.pop_front();
                            }
                            model.push_back((key, bytes, ledger));
                        }
                    }
                    Op::DropBelow(l) => {
                        s.drop_below(u32::from(l));
                        while model.front().is_some_and(|e| e.2 < u32::from(l)) {
                            model.pop_front();
                        }
                    }
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.bytes(), model.iter().map(|e| e.1.len()).sum::<usize>());
                for k in 0..40u8 {
                    let held = model.iter().find(|e| e.0 == k).map(|e| &e.1[..]);
                    prop_assert_eq!(s.get(&h(u16::from(k))), held);
                }
                let span: usize = s.blocks.iter().map(|b| b.data.len()).sum();
                let live: usize = model.iter().map(|e| e.1.len() + KEY).sum();
                prop_assert!(span <= live + BLOCK, "span {} for {} held", span, live);
            }
        }
    }
}
