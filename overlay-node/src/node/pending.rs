//! Deliveries waiting for the application's verdict (see [`app`](crate::app) "Bounds").

use core::time::Duration;
use overlay_proto::{Hash256, SeededState, Timestamp};
use std::collections::{HashMap, VecDeque, hash_map};

/// Values waiting for a verdict by hash, with the time they started waiting.
///
/// Each entry knows its place in the arrival order; an answered place is marked dead there,
/// so a verdict costs one hash-table removal and a key that waits again, even within the same
/// instant, goes to the back of the order.
#[derive(Debug)]
pub(crate) struct Pending<V> {
    /// Bound: `max` entries.
    map: HashMap<Hash256, Entry<V>, SeededState>,
    /// Arrival order, for expiry and eviction: the place at position `first + i` is
    /// `order[i]`. Answered places stay, dead, until they reach the front, which is kept live
    /// (so the next expiry is read in O(1)); bound: 2 × `max` (compacted past it).
    order: VecDeque<Place>,
    /// The position of `order`'s front.
    first: u64,
    max: usize,
}

#[derive(Debug)]
struct Entry<V> {
    since: Timestamp,
    /// Position of the entry's place in the order.
    at: u64,
    value: V,
}

#[derive(Debug)]
struct Place {
    since: Timestamp,
    key: Hash256,
    live: bool,
}

impl<V> Pending<V> {
    pub fn new(max: usize, seed: u64) -> Self {
        Pending { map: HashMap::with_hasher(SeededState::new(seed)), order: VecDeque::new(), first: 0, max: max.max(1) }
    }

    pub fn is_full(&self) -> bool {
        self.map.len() >= self.max
    }

    /// Start waiting; returns the oldest entry if it had to make room.
    pub fn insert(&mut self, now: Timestamp, key: Hash256, value: V) -> Option<(Hash256, V)> {
        let evicted = if self.is_full() { self.pop_oldest() } else { None };
        let at = self.first + self.order.len() as u64;
        match self.map.entry(key) {
            hash_map::Entry::Vacant(e) => {
                e.insert(Entry { since: now, at, value });
                self.order.push_back(Place { since: now, key, live: true });
            }
            hash_map::Entry::Occupied(mut e) => {
                let entry = e.get_mut();
                entry.value = value;
                // A key waiting again from another time gets a new place in the order (its
                // old one dies); from the same time it keeps its place.
                if entry.since != now {
                    let old = core::mem::replace(&mut entry.at, at);
                    entry.since = now;
                    if let Some(p) = self.order.get_mut((old - self.first) as usize) {
                        p.live = false;
                    }
                    self.order.push_back(Place { since: now, key, live: true });
                }
            }
        }
        if self.order.len() > 2 * self.max {
            self.compact();
        }
        self.trim_front();
        evicted
    }

    pub fn remove(&mut self, key: &Hash256) -> Option<V> {
        let e = self.map.remove(key)?;
        if let Some(p) = self.order.get_mut((e.at - self.first) as usize) {
            p.live = false;
        }
        self.trim_front();
        Some(e.value)
    }

    /// Drop dead places from the front of the order.
    fn trim_front(&mut self) {
        while self.order.front().is_some_and(|p| !p.live) {
            self.order.pop_front();
            self.first += 1;
        }
    }

    /// Keep only the live places, renumbered from the front.
    fn compact(&mut self) {
        self.order.retain(|p| p.live);
        self.first = 0;
        for (i, p) in self.order.iter().enumerate() {
            if let Some(e) = self.map.get_mut(&p.key) {
                e.at = i as u64;
            }
        }
    }

    pub fn contains(&self, key: &Hash256) -> bool {
        self.map.contains_key(key)
    }

    fn pop_oldest(&mut self) -> Option<(Hash256, V)> {
        while let Some(p) = self.order.pop_front() {
            self.first += 1;
            if p.live
                && let Some(e) = self.map.remove(&p.key)
            {
                self.trim_front();
                return Some((p.key, e.value));
            }
        }
        None
    }

    /// Entries that waited `timeout` or longer, removed.
    pub fn expire(&mut self, now: Timestamp, timeout: Duration) -> Vec<(Hash256, V)> {
        let mut out = Vec::new();
        while let Some(p) = self.order.front() {
            if now - p.since < timeout {
                break;
            }
            if let Some(e) = self.pop_oldest() {
                out.push(e);
            }
        }
        out
    }

    /// When the oldest entry expires (the front of the order is live).
    pub fn next_expiry(&self, timeout: Duration) -> Option<Timestamp> {
        debug_assert!(self.order.front().is_none_or(|p| p.live));
        self.order.front().map(|p| p.since + timeout)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_oldest_out_and_expiry() {
        let t0 = Timestamp::from_secs(1);
        let mut p = Pending::new(2, 0);
        assert!(p.insert(t0, Hash256([1; 32]), 1).is_none());
        assert!(p.insert(t0, Hash256([2; 32]), 2).is_none());
        assert_eq!(p.insert(t0, Hash256([3; 32]), 3), Some((Hash256([1; 32]), 1)));
        assert_eq!(p.remove(&Hash256([2; 32])), Some(2));
        let later = t0 + Duration::from_secs(5);
        assert_eq!(p.next_expiry(Duration::from_secs(5)), Some(later));
        assert_eq!(p.expire(later, Duration::from_secs(5)), vec![(Hash256([3; 32]), 3)]);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_key_answered_and_waiting_again_in_the_same_instant_goes_to_the_back() {
        let t0 = Timestamp::from_secs(1);
        let mut p = Pending::new(5, 0);
        p.insert(t0, Hash256([1; 32]), 1);
        p.insert(t0, Hash256([0; 32]), 2);
        assert_eq!(p.remove(&Hash256([0; 32])), Some(2));
        p.insert(t0, Hash256([2; 32]), 3);
        p.insert(t0, Hash256([0; 32]), 4);
        let expired = p.expire(t0 + Duration::from_secs(5), Duration::from_secs(5));
        assert_eq!(expired, vec![(Hash256([1; 32]), 1), (Hash256([2; 32]), 3), (Hash256([0; 32]), 4)]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// The next expiry is always that of the oldest waiting entry, whatever the
            /// order of inserts, verdicts and expiries.
            #[test]
            fn next_expiry_is_the_oldest_live_entry(ops in proptest::collection::vec((0u8..3, 0u8..12, 0u64..5), 0..200)) {
                let timeout = Duration::from_secs(10);
                let mut p = Pending::new(6, 1);
                let mut now = Timestamp::from_secs(1);
                for (op, key, dt) in ops {
                    now += Duration::from_secs(dt);
                    match op {
                        0 => { p.insert(now, Hash256([key; 32]), ()); }
                        1 => { p.remove(&Hash256([key; 32])); }
                        _ => { p.expire(now, timeout); }
                    }
                    let oldest = p.map.values().map(|e| e.since).min();
                    prop_assert_eq!(p.next_expiry(timeout), oldest.map(|t| t + timeout));
                    prop_assert!(p.len() <= 6 && p.order.len() <= 13);
                    // Every entry's place is live and agrees with it; every live place has
                    // its entry.
                    let live: Vec<_> = p.order.iter().enumerate().filter(|(_, q)| q.live).collect();
                    prop_assert_eq!(live.len(), p.len());
                    for (i, q) in live {
                        let e = &p.map[&q.key];
                        prop_assert_eq!((e.at, e.since), (p.first + i as u64, q.since));
                    }
                }
            }

            /// Inserts, verdicts, evictions and expiries agree with a plain list in arrival
            /// order.
            #[test]
            fn agrees_with_a_list(ops in proptest::collection::vec((0u8..3, 0u8..12, 0u64..3), 0..300)) {
                let timeout = Duration::from_secs(4);
                let mut p = Pending::new(5, 2);
                let mut model: Vec<(Hash256, Timestamp, u32)> = Vec::new();
                let mut now = Timestamp::from_secs(1);
                for (n, (op, key, dt)) in ops.into_iter().enumerate() {
                    let (key, value) = (Hash256([key; 32]), n as u32);
                    now += Duration::from_secs(dt);
                    match op {
                        0 => {
                            let evicted = (model.len() >= 5).then(|| model.remove(0)).map(|(k, _, v)| (k, v));
                            match model.iter().position(|(k, _, _)| *k == key) {
                                Some(i) if model[i].1 == now => model[i].2 = value,
                                Some(i) => {
                                    model.remove(i);
                                    model.push((key, now, value));
                                }
                                None => model.push((key, now, value)),
                            }
                            prop_assert_eq!(p.insert(now, key, value), evicted);
                        }
                        1 => {
                            let i = model.iter().position(|(k, _, _)| *k == key);
                            prop_assert_eq!(p.remove(&key), i.map(|i| model.remove(i).2));
                        }
                        _ => {
                            let due = model.iter().take_while(|(_, t, _)| now - *t >= timeout).count();
                            let expected: Vec<_> = model.drain(..due).map(|(k, _, v)| (k, v)).collect();
                            prop_assert_eq!(p.expire(now, timeout), expected);
                        }
                    }
                    prop_assert_eq!(p.len(), model.len());
                }
            }
        }
    }
}
