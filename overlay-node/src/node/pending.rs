//! Deliveries waiting for the application's verdict (see [`app`](crate::app) "Bounds").

use core::time::Duration;
use overlay_proto::{Hash256, SeededState, Timestamp};
use std::collections::{HashMap, VecDeque};

/// Values waiting for a verdict by hash, with the time they started waiting.
#[derive(Debug)]
pub(crate) struct Pending<V> {
    /// Bound: `max` entries.
    map: HashMap<Hash256, (Timestamp, V), SeededState>,
    /// Arrival order, for expiry and eviction. Entries whose key was answered are skipped
    /// lazily, except at the front, which is kept live (so the next expiry is read in O(1));
    /// bound: 2 × `max` (compacted past it).
    order: VecDeque<(Timestamp, Hash256)>,
    max: usize,
}

impl<V> Pending<V> {
    pub fn new(max: usize, seed: u64) -> Self {
        Pending { map: HashMap::with_hasher(SeededState::new(seed)), order: VecDeque::new(), max: max.max(1) }
    }

    pub fn is_full(&self) -> bool {
        self.map.len() >= self.max
    }

    /// Start waiting; returns the oldest entry if it had to make room.
    pub fn insert(&mut self, now: Timestamp, key: Hash256, value: V) -> Option<(Hash256, V)> {
        let evicted = if self.is_full() { self.pop_oldest() } else { None };
        // A key waiting again from another time gets a new place in the order (its old one
        // goes stale).
        if self.map.insert(key, (now, value)).is_none_or(|(t, _)| t != now) {
            self.order.push_back((now, key));
        }
        if self.order.len() > 2 * self.max {
            let map = &self.map;
            self.order.retain(|(t, k)| map.get(k).is_some_and(|(s, _)| s == t));
        }
        self.trim_front();
        evicted
    }

    pub fn remove(&mut self, key: &Hash256) -> Option<V> {
        let v = self.map.remove(key).map(|(_, v)| v);
        self.trim_front();
        v
    }

    /// Drop answered entries from the front of the order.
    fn trim_front(&mut self) {
        while let Some((t, k)) = self.order.front() {
            if self.map.get(k).is_some_and(|(s, _)| s == t) {
                break;
            }
            self.order.pop_front();
        }
    }

    pub fn contains(&self, key: &Hash256) -> bool {
        self.map.contains_key(key)
    }

    fn pop_oldest(&mut self) -> Option<(Hash256, V)> {
        while let Some((t, k)) = self.order.pop_front() {
            if self.map.get(&k).is_some_and(|(s, _)| *s == t) {
                let entry = self.map.remove(&k).map(|(_, v)| (k, v));
                self.trim_front();
                return entry;
            }
        }
        None
    }

    /// Entries that waited `timeout` or longer, removed.
    pub fn expire(&mut self, now: Timestamp, timeout: Duration) -> Vec<(Hash256, V)> {
        let mut out = Vec::new();
        while let Some(&(t, _)) = self.order.front() {
            if now - t < timeout {
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
        debug_assert!(self.order.front().is_none_or(|(t, k)| self.map.get(k).is_some_and(|(s, _)| s == t)));
        self.order.front().map(|(t, _)| *t + timeout)
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
                    let oldest = p.map.values().map(|(t, _)| *t).min();
                    prop_assert_eq!(p.next_expiry(timeout), oldest.map(|t| t + timeout));
                    prop_assert!(p.len() <= 6 && p.order.len() <= 13);
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
