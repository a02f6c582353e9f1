//! Peer slots: each peer the Floodgate knows gets a small integer, and a record's peers are a
//! set of those integers.

use crate::config::PEERS_MAX;
use crate::error::FloodError;
use overlay_proto::SeededState;
use std::collections::HashMap;
use std::hash::Hash;

/// Number of 64-bit words in a [`PeerBits`].
pub(super) const PEER_WORDS: usize = PEERS_MAX / 64;

/// A set of peer slots.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(super) struct PeerBits(pub(super) [u64; PEER_WORDS]);

impl PeerBits {
    /// Insert; true if it was not there.
    pub(super) fn insert(&mut self, slot: u16) -> bool {
        let (w, m) = (usize::from(slot) / 64, 1u64 << (slot % 64));
        let word = &mut self.0[w];
        let new = *word & m == 0;
        *word |= m;
        new
    }

    pub(super) fn contains(&self, slot: u16) -> bool {
        self.0[usize::from(slot) / 64] & (1u64 << (slot % 64)) != 0
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
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

/// A peer's slot in one [`Floodgate`](super::Floodgate), from
/// [`peer_slot`](super::Floodgate::peer_slot): records made through it skip the lookup of the
/// peer. It stays valid until the peer is removed; after that the Floodgate refuses it, even
/// once the slot has gone to another peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSlot {
    slot: u16,
    generation: u32,
}

impl PeerSlot {
    /// The slot number (whether the handle is still valid is for
    /// [`PeerSlots::resolve`] to say).
    pub(super) fn slot(self) -> u16 {
        self.slot
    }
}

/// Peer handle ↔ slot index, at most [`PEERS_MAX`] slots.
#[derive(Debug, Clone)]
pub(super) struct PeerSlots<P> {
    pub(super) by_peer: HashMap<P, u16, SeededState>,
    /// Bound: `PEERS_MAX` entries; a full table refuses new peers.
    pub(super) slots: Vec<Option<P>>,
    /// Per slot, how many times it was released: a [`PeerSlot`] of an older generation is
    /// stale.
    generations: Vec<u32>,
}

impl<P: Copy + Eq + Hash> PeerSlots<P> {
    pub(super) fn new(seed: u64) -> Self {
        PeerSlots { by_peer: HashMap::with_hasher(SeededState::new(seed)), slots: Vec::new(), generations: Vec::new() }
    }

    /// The handle of `slot`, held now.
    pub(super) fn handle(&self, slot: u16) -> PeerSlot {
        PeerSlot { slot, generation: self.generations.get(usize::from(slot)).copied().unwrap_or(0) }
    }

    /// The slot of `handle` if it is still held by the peer it was given for.
    pub(super) fn resolve(&self, handle: PeerSlot) -> Option<u16> {
        let i = usize::from(handle.slot);
        let held = self.generations.get(i) == Some(&handle.generation) && self.slots.get(i)?.is_some();
        held.then_some(handle.slot)
    }

    pub(super) fn get(&self, peer: &P) -> Option<u16> {
        self.by_peer.get(peer).copied()
    }

    /// The slot of `peer`, assigning the lowest free one if it has none.
    pub(super) fn get_or_assign(&mut self, peer: P) -> Result<u16, FloodError> {
        if let Some(&s) = self.by_peer.get(&peer) {
            return Ok(s);
        }
        let idx = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < PEERS_MAX => {
                self.slots.push(None);
                self.generations.push(0);
                self.slots.len() - 1
            }
            None => return Err(FloodError::PeerSlotsExhausted(PEERS_MAX)),
        };
        let slot = idx as u16;
        self.slots[idx] = Some(peer);
        self.by_peer.insert(peer, slot);
        Ok(slot)
    }

    pub(super) fn release(&mut self, peer: &P) -> Option<u16> {
        let slot = self.by_peer.remove(peer)?;
        if let Some(s) = self.slots.get_mut(usize::from(slot)) {
            *s = None;
        }
        if let Some(g) = self.generations.get_mut(usize::from(slot)) {
            *g = g.wrapping_add(1);
        }
        Some(slot)
    }

    pub(super) fn peer(&self, slot: u16) -> Option<P> {
        self.slots.get(usize::from(slot)).copied().flatten()
    }

    pub(super) fn len(&self) -> usize {
        self.by_peer.len()
    }
}
