//! Which pairs of nodes can flood to each other right now, and since when.
//!
//! A pair is *linked* while at least one connection between them is authenticated on both
//! ends, with framing in step (no corrupted record mark, see the world's
//! `desynchronised`), and the network lets bytes through (no cut, no partition). The time it became
//! linked is kept, so that the delivery check can ask which nodes stayed connected to a
//! message's origin during the whole window from its broadcast to its deadline.

use crate::network::NodeIndex;
use overlay_proto::Timestamp;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The linked pairs.
#[derive(Debug, Default)]
pub struct Graph {
    /// Connections authenticated on both ends, per pair (smaller index first).
    connections: BTreeMap<(NodeIndex, NodeIndex), u32>,
    /// Pairs the network currently lets through, among those with connections: their
    /// neighbours with the time they became linked, per node.
    adjacency: BTreeMap<NodeIndex, BTreeMap<NodeIndex, Timestamp>>,
}

fn key(a: NodeIndex, b: NodeIndex) -> (NodeIndex, NodeIndex) {
    (a.min(b), a.max(b))
}

impl Graph {
    /// A connection between `a` and `b` is now authenticated on both ends.
    pub fn connection_up(&mut self, a: NodeIndex, b: NodeIndex, open: bool, now: Timestamp) {
        *self.connections.entry(key(a, b)).or_insert(0) += 1;
        self.refresh(a, b, open, now);
    }

    /// A connection between `a` and `b` that was authenticated on both ends ended.
    pub fn connection_down(&mut self, a: NodeIndex, b: NodeIndex, open: bool, now: Timestamp) {
        let k = key(a, b);
        if let Some(c) = self.connections.get_mut(&k) {
            *c -= 1;
            if *c == 0 {
                self.connections.remove(&k);
            }
        }
        self.refresh(a, b, open, now);
    }

    /// Re-evaluate the pair after a change of connections or of the network (`open`: the
    /// network lets bytes through between them).
    pub fn refresh(&mut self, a: NodeIndex, b: NodeIndex, open: bool, now: Timestamp) {
        let linked = open && self.connections.contains_key(&key(a, b));
        let was = self.adjacency.get(&a).is_some_and(|m| m.contains_key(&b));
        if linked && !was {
            self.adjacency.entry(a).or_default().insert(b, now);
            self.adjacency.entry(b).or_default().insert(a, now);
        } else if !linked && was {
            for (x, y) in [(a, b), (b, a)] {
                if let Some(m) = self.adjacency.get_mut(&x) {
                    m.remove(&y);
                    if m.is_empty() {
                        self.adjacency.remove(&x);
                    }
                }
            }
        }
    }

    /// Every pair with a connection authenticated on both ends.
    pub fn connected_pairs(&self) -> Vec<(NodeIndex, NodeIndex)> {
        self.connections.keys().copied().collect()
    }

    /// Whether `a` and `b` are linked now.
    pub fn is_linked(&self, a: NodeIndex, b: NodeIndex) -> bool {
        self.adjacency.get(&a).is_some_and(|m| m.contains_key(&b))
    }

    /// Linked pairs now.
    pub fn linked_pairs(&self) -> usize {
        self.adjacency.values().map(BTreeMap::len).sum::<usize>() / 2
    }

    /// The nodes reachable from `origin` over pairs linked since `since` or earlier,
    /// through nodes accepted by `usable`.
    pub fn component_since(
        &self,
        origin: NodeIndex,
        since: Timestamp,
        usable: impl Fn(NodeIndex) -> bool,
    ) -> BTreeSet<NodeIndex> {
        let mut seen = BTreeSet::from([origin]);
        let mut todo = VecDeque::from([origin]);
        while let Some(x) = todo.pop_front() {
            let Some(nb) = self.adjacency.get(&x) else { continue };
            for (&y, &linked_at) in nb {
                if linked_at <= since && usable(y) && seen.insert(y) {
                    todo.push_back(y);
                }
            }
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn components_respect_link_times_and_usable_nodes() {
        let mut g = Graph::default();
        g.connection_up(0, 1, true, t(1));
        g.connection_up(1, 2, true, t(5));
        g.connection_up(2, 3, true, t(1));
        assert_eq!(g.component_since(0, t(2), |_| true), BTreeSet::from([0, 1]));
        assert_eq!(g.component_since(0, t(5), |_| true), BTreeSet::from([0, 1, 2, 3]));
        assert_eq!(g.component_since(0, t(5), |n| n != 2), BTreeSet::from([0, 1]));
        // A blocked pair is not linked; it links again with a new time when it opens.
        g.refresh(0, 1, false, t(6));
        assert!(!g.is_linked(0, 1));
        g.refresh(0, 1, true, t(7));
        assert_eq!(g.component_since(0, t(6), |_| true), BTreeSet::from([0]));
        // Two connections: the pair stays linked until both end.
        g.connection_up(0, 1, true, t(8));
        g.connection_down(1, 0, true, t(9));
        assert!(g.is_linked(0, 1));
        g.connection_down(0, 1, true, t(9));
        assert!(!g.is_linked(0, 1));
        assert_eq!(g.linked_pairs(), 2);
    }
}
