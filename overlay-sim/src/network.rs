//! The network between the nodes: a link profile for every pair of nodes (one for all, with
//! per-pair overrides), cuts and partitions.
//!
//! - A **cut** severs the link between two nodes: their connections are reset and new
//!   connections between them are refused until the cut is repaired.
//! - A **partition** splits the nodes into groups; traffic between groups is black-holed
//!   (held, as TCP would keep retransmitting) and new connections across time out, until it
//!   heals.
//!
//! Links are symmetric: a pair has one profile for both directions.

use crate::link::LinkProfile;
use crate::rng::{SeedDomain, derive_seed};
use std::collections::{BTreeMap, BTreeSet};

/// A simulated node, by index.
pub type NodeIndex = u32;

/// The unordered pair `(a, b)`, smaller index first.
pub fn pair(a: NodeIndex, b: NodeIndex) -> (NodeIndex, NodeIndex) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Profiles, cuts and partitions.
#[derive(Debug, Clone)]
pub struct Network {
    default: LinkProfile,
    /// Extra base latency per pair, drawn from `[0, latency_spread_ms]` by a pure function
    /// of the seed and the pair (a map of far and near peers).
    latency_spread_ms: u64,
    seed: u64,
    overrides: BTreeMap<(NodeIndex, NodeIndex), LinkProfile>,
    cuts: BTreeSet<(NodeIndex, NodeIndex)>,
    /// Group of each node in the current partition; nodes not listed are in group 0.
    groups: Option<BTreeMap<NodeIndex, u32>>,
}

impl Network {
    /// A network where every link has `default` plus a per-pair spread of base latency.
    pub fn new(default: LinkProfile, latency_spread_ms: u64, seed: u64) -> Self {
        Network { default, latency_spread_ms, seed, overrides: BTreeMap::new(), cuts: BTreeSet::new(), groups: None }
    }

    /// The profile every link without an override has (before the per-pair spread).
    pub fn default_profile(&self) -> LinkProfile {
        self.default
    }

    /// Set the profile of every link, dropping the per-link overrides.
    pub fn set_all(&mut self, profile: LinkProfile) {
        self.default = profile;
        self.overrides.clear();
    }

    /// Set the profile of the link between `a` and `b` (used as is: no spread added).
    pub fn set_link(&mut self, a: NodeIndex, b: NodeIndex, profile: LinkProfile) {
        self.overrides.insert(pair(a, b), profile);
    }

    /// Back to the default for the link between `a` and `b`.
    pub fn clear_link(&mut self, a: NodeIndex, b: NodeIndex) {
        self.overrides.remove(&pair(a, b));
    }

    /// The profile of the link between `a` and `b` now.
    pub fn profile(&self, a: NodeIndex, b: NodeIndex) -> LinkProfile {
        let key = pair(a, b);
        if let Some(p) = self.overrides.get(&key) {
            return *p;
        }
        let mut p = self.default;
        if self.latency_spread_ms > 0 {
            let h = derive_seed(self.seed, SeedDomain::Link, (u64::from(key.0) << 32) | u64::from(key.1));
            p.latency_ms += h % (self.latency_spread_ms + 1);
        }
        p
    }

    /// Sever the link between `a` and `b`.
    pub fn cut(&mut self, a: NodeIndex, b: NodeIndex) {
        self.cuts.insert(pair(a, b));
    }

    /// Repair the link between `a` and `b`.
    pub fn repair(&mut self, a: NodeIndex, b: NodeIndex) {
        self.cuts.remove(&pair(a, b));
    }

    /// Repair every cut link.
    pub fn repair_all(&mut self) {
        self.cuts.clear();
    }

    /// Change the default profile and every override with `f`.
    pub fn map_profiles(&mut self, f: impl Fn(LinkProfile) -> LinkProfile) {
        self.default = f(self.default);
        for p in self.overrides.values_mut() {
            *p = f(*p);
        }
    }

    /// Whether the link between `a` and `b` is cut.
    pub fn is_cut(&self, a: NodeIndex, b: NodeIndex) -> bool {
        !self.cuts.is_empty() && self.cuts.contains(&pair(a, b))
    }

    /// Split the network: `groups` gives each listed node its group; the others are in
    /// group 0.
    pub fn partition(&mut self, groups: BTreeMap<NodeIndex, u32>) {
        self.groups = Some(groups);
    }

    /// Heal the partition.
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Whether a partition is in force.
    pub fn is_partitioned(&self) -> bool {
        self.groups.is_some()
    }

    /// Whether traffic between `a` and `b` is black-holed by the partition.
    pub fn is_blocked(&self, a: NodeIndex, b: NodeIndex) -> bool {
        match &self.groups {
            None => false,
            Some(g) => g.get(&a).copied().unwrap_or(0) != g.get(&b).copied().unwrap_or(0),
        }
    }

    /// Whether `a` and `b` can exchange bytes (not cut, not partitioned apart).
    pub fn is_open(&self, a: NodeIndex, b: NodeIndex) -> bool {
        !self.is_blocked(a, b) && !self.is_cut(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_spread_cuts_and_partitions() {
        let base = LinkProfile { latency_ms: 10, ..LinkProfile::default() };
        let mut n = Network::new(base, 40, 5);
        let l = n.profile(1, 2).latency_ms;
        assert!((10..=50).contains(&l));
        assert_eq!(n.profile(2, 1).latency_ms, l, "symmetric");
        let slow = LinkProfile { latency_ms: 500, ..LinkProfile::default() };
        n.set_link(2, 1, slow);
        assert_eq!(n.profile(1, 2), slow);
        n.clear_link(1, 2);
        assert_eq!(n.profile(1, 2).latency_ms, l);

        n.cut(3, 4);
        assert!(n.is_cut(4, 3) && !n.is_open(3, 4));
        n.repair(4, 3);
        assert!(n.is_open(3, 4));

        n.partition(BTreeMap::from([(1, 1), (2, 1)]));
        assert!(n.is_blocked(1, 3) && !n.is_blocked(1, 2) && !n.is_blocked(3, 4));
        n.heal();
        assert!(!n.is_blocked(1, 3));
    }
}
