//! Topologies: which nodes exist, which of them are validators, whom each one knows, and
//! which connections the simulator dials at start (as stellar-core's `Simulation` does with
//! `addPendingConnection`).
//!
//! After the start, connections are the nodes' business: the tick loop keeps them up from
//! the preferred and known peers each node was configured with, and watchers find more
//! peers through PEERS.

use crate::network::NodeIndex;
use crate::rng::SimRng;
use serde::Serialize;
use std::collections::BTreeSet;

/// The shape of a network.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Topology {
    /// Every node connected to every other; all are validators.
    FullMesh {
        /// Nodes.
        nodes: u32,
    },
    /// Node i connected to i−1 and i+1; all are validators.
    Ring {
        /// Nodes.
        nodes: u32,
    },
    /// A random graph where every node has `degree` neighbours; the first `validators` nodes
    /// are validators.
    RandomRegular {
        /// Nodes.
        nodes: u32,
        /// Neighbours per node (`nodes × degree` must be even).
        degree: u32,
        /// Validators among the nodes.
        validators: u32,
    },
    /// Validators that reach each other only through relays: `relays` relay nodes (in a
    /// line or a full mesh, see [`RelayShape`]) and `validators` validators, each connected
    /// to relays only. Validators come first (indices `0..validators`), then the relays.
    Relayed {
        /// Validators.
        validators: u32,
        /// Relays.
        relays: u32,
        /// How the relays are linked, and the validators to them.
        shape: RelayShape,
    },
    /// A tier-1 core of organisations with `validators_per_org` validators each, fully
    /// connected through preferred peers, plus watchers that know `watcher_known_peers`
    /// nodes and find the rest through discovery.
    Pubnet {
        /// Organisations in the core.
        orgs: u32,
        /// Validators per organisation (3 on the real network).
        validators_per_org: u32,
        /// Non-validating nodes.
        watchers: u32,
        /// Nodes each watcher is configured with (KNOWN_PEERS).
        watcher_known_peers: u32,
    },
}

impl Topology {
    /// How many nodes it has.
    pub fn node_count(&self) -> u32 {
        match *self {
            Topology::FullMesh { nodes } | Topology::Ring { nodes } | Topology::RandomRegular { nodes, .. } => nodes,
            Topology::Pubnet { orgs, validators_per_org, watchers, .. } => orgs * validators_per_org + watchers,
            Topology::Relayed { validators, relays, .. } => validators + relays,
        }
    }

    /// How many of its nodes are validators.
    pub fn validator_count(&self) -> u32 {
        match *self {
            Topology::FullMesh { nodes } | Topology::Ring { nodes } => nodes,
            Topology::RandomRegular { validators, .. } | Topology::Relayed { validators, .. } => validators,
            Topology::Pubnet { orgs, validators_per_org, .. } => orgs * validators_per_org,
        }
    }

    /// Check the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Topology::FullMesh { nodes } | Topology::Ring { nodes } if nodes < 2 => {
                Err("a network needs at least 2 nodes".into())
            }
            Topology::RandomRegular { nodes, degree, validators } => {
                if degree == 0 || degree >= nodes {
                    return Err(format!("degree {degree} must be in 1..{nodes}"));
                }
                if (u64::from(nodes) * u64::from(degree)) % 2 != 0 {
                    return Err(format!("nodes × degree ({nodes} × {degree}) must be even"));
                }
                if validators > nodes {
                    return Err("more validators than nodes".into());
                }
                Ok(())
            }
            Topology::Relayed { validators, relays, .. } => {
                if validators < 2 || relays == 0 {
                    return Err("a relayed network needs at least 2 validators and 1 relay".into());
                }
                Ok(())
            }
            Topology::Pubnet { orgs, validators_per_org, watcher_known_peers, .. } => {
                if orgs * validators_per_org < 2 {
                    return Err("the core needs at least 2 validators".into());
                }
                if watcher_known_peers == 0 {
                    return Err("watchers need at least one known peer".into());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// How the relays of [`Topology::Relayed`] are linked. With one relay both are a star.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayShape {
    /// Relays in a line; the validators spread evenly along it, one relay each, so that
    /// envelopes of validators at the two ends cross every relay.
    Line,
    /// Relays in a full mesh; each validator is connected to two of them (one if there is
    /// only one).
    Mesh,
}

impl RelayShape {
    /// Its name in reports and flags.
    pub fn name(self) -> &'static str {
        match self {
            RelayShape::Line => "line",
            RelayShape::Mesh => "mesh",
        }
    }
}

/// The edges of [`Topology::Relayed`], each `(dialer, acceptor)`: validators dial their
/// relays, a relay dials the relays after it.
pub fn relayed_edges(validators: u32, relays: u32, shape: RelayShape) -> Vec<(NodeIndex, NodeIndex)> {
    let relay = |k: u32| validators + k;
    let mut edges = Vec::new();
    match shape {
        RelayShape::Line => {
            edges.extend((0..relays.saturating_sub(1)).map(|k| (relay(k), relay(k + 1))));
            edges.extend((0..validators).map(|v| (v, relay(v * relays / validators))));
        }
        RelayShape::Mesh => {
            edges.extend((0..relays).flat_map(|a| (a + 1..relays).map(move |b| (relay(a), relay(b)))));
            for v in 0..validators {
                edges.push((v, relay(v % relays)));
                if relays > 1 {
                    edges.push((v, relay((v + 1) % relays)));
                }
            }
        }
    }
    edges
}

/// The role of a node in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Broadcasts SCP messages and holds tx sets; `org` is its organisation.
    Validator {
        /// Organisation.
        org: u32,
    },
    /// Relays only.
    Watcher,
}

/// One node of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// Validator or watcher.
    pub role: Role,
    /// Configured as PREFERRED_PEERS (addresses the node keeps dialing).
    pub preferred: Vec<NodeIndex>,
    /// Configured as PREFERRED_PEER_KEYS (accepted even in preferred-only mode).
    pub preferred_keys: Vec<NodeIndex>,
    /// Configured as KNOWN_PEERS.
    pub known: Vec<NodeIndex>,
    /// PREFERRED_PEERS_ONLY.
    pub preferred_only: bool,
    /// TARGET_PEER_CONNECTIONS, if the plan needs a value other than the scenario's.
    pub target_connections: Option<usize>,
    /// MAX_ADDITIONAL_PEER_CONNECTIONS, if the plan needs a value other than 8 × target.
    pub max_inbound: Option<usize>,
}

/// Nodes and initial connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The nodes, by index.
    pub nodes: Vec<NodePlan>,
    /// Connections dialed at start: `(dialer, acceptor)`.
    pub dials: Vec<(NodeIndex, NodeIndex)>,
}

impl Plan {
    /// Indices of the validators.
    pub fn validators(&self) -> Vec<NodeIndex> {
        (0..self.nodes.len() as NodeIndex)
            .filter(|i| matches!(self.nodes[*i as usize].role, Role::Validator { .. }))
            .collect()
    }
}

/// The plan of a drawn graph. Each edge `(a, b)` is dialed by `a`: `a` has `b` as a
/// preferred address and both have each other as preferred keys. With `preferred_only`
/// (mesh, ring) nodes accept their neighbours only, so the graph stays as drawn and a
/// joining node finds no room; without it (random regular) a node that lost a neighbour may
/// dial another node it learned of, and joining nodes are accepted. Targets match the planned outbound
/// degree (so that nodes do not dial addresses learned from PEERS only to refuse them), and
/// inbound limits leave room for every planned inbound neighbour.
fn fixed_graph(n: u32, edges: &[(NodeIndex, NodeIndex)], validators: u32, preferred_only: bool) -> Plan {
    let mut outbound = vec![BTreeSet::new(); n as usize];
    let mut all = vec![BTreeSet::new(); n as usize];
    for &(a, b) in edges {
        outbound[a as usize].insert(b);
        all[a as usize].insert(b);
        all[b as usize].insert(a);
    }
    let nodes = outbound
        .into_iter()
        .zip(all)
        .enumerate()
        .map(|(i, (out, nb))| {
            let out_degree = out.len().max(1);
            let in_degree = nb.len() - out.len();
            NodePlan {
                role: if (i as u32) < validators { Role::Validator { org: i as u32 } } else { Role::Watcher },
                target_connections: Some(out_degree),
                max_inbound: Some(in_degree.max(3 * out_degree).max(1)),
                preferred: out.into_iter().collect(),
                preferred_keys: nb.into_iter().collect(),
                known: Vec::new(),
                preferred_only,
            }
        })
        .collect();
    Plan { nodes, dials: edges.to_vec() }
}

/// Edges of a random `degree`-regular graph on `n` nodes: stubs are paired at random,
/// skipping pairs that would make a loop or a double edge, restarting when stuck.
pub fn random_regular_edges(n: u32, degree: u32, rng: &mut SimRng) -> Vec<(NodeIndex, NodeIndex)> {
    for _attempt in 0..1_000 {
        let mut stubs: Vec<NodeIndex> = (0..n).flat_map(|i| core::iter::repeat_n(i, degree as usize)).collect();
        let mut edges = BTreeSet::new();
        let mut stuck = false;
        while !stubs.is_empty() {
            let mut placed = false;
            for _try in 0..200 {
                let i = rng.index(stubs.len());
                let j = rng.index(stubs.len());
                let (a, b) = (stubs[i], stubs[j]);
                if i == j || a == b || edges.contains(&(a.min(b), a.max(b))) {
                    continue;
                }
                edges.insert((a.min(b), a.max(b)));
                let (hi, lo) = (i.max(j), i.min(j));
                stubs.swap_remove(hi);
                stubs.swap_remove(lo);
                placed = true;
                break;
            }
            if !placed {
                stuck = true;
                break;
            }
        }
        if !stuck {
            return edges.into_iter().collect();
        }
    }
    // Practically unreachable for degree well below n; a ring is the fallback.
    (0..n).map(|i| (i, (i + 1) % n)).collect()
}

/// Build the plan of `topology`.
pub fn build(topology: &Topology, rng: &mut SimRng) -> Plan {
    match *topology {
        Topology::FullMesh { nodes } => {
            let edges: Vec<_> = (0..nodes).flat_map(|a| (a + 1..nodes).map(move |b| (a, b))).collect();
            fixed_graph(nodes, &edges, nodes, true)
        }
        Topology::Ring { nodes } => {
            let mut edges: Vec<_> = (0..nodes).map(|i| (i, (i + 1) % nodes)).collect();
            if nodes == 2 {
                edges.truncate(1);
            }
            fixed_graph(nodes, &edges, nodes, true)
        }
        Topology::RandomRegular { nodes, degree, validators } => {
            let mut edges = random_regular_edges(nodes, degree, rng);
            // Dial in a random direction so that inbound and outbound slots both fill.
            for e in &mut edges {
                if rng.chance(0.5) {
                    *e = (e.1, e.0);
                }
            }
            fixed_graph(nodes, &edges, validators, false)
        }
        Topology::Relayed { validators, relays, shape } => {
            fixed_graph(validators + relays, &relayed_edges(validators, relays, shape), validators, true)
        }
        Topology::Pubnet { orgs, validators_per_org, watchers, watcher_known_peers } => {
            let core = orgs * validators_per_org;
            let mut nodes = Vec::new();
            let mut dials = Vec::new();
            for v in 0..core {
                nodes.push(NodePlan {
                    role: Role::Validator { org: v / validators_per_org },
                    preferred: (0..core).filter(|&o| o != v).collect(),
                    preferred_keys: Vec::new(),
                    known: Vec::new(),
                    preferred_only: false,
                    target_connections: Some((core as usize - 1).max(8)),
                    max_inbound: None,
                });
                dials.extend((v + 1..core).map(|o| (v, o)));
            }
            for w in 0..watchers {
                let me = core + w;
                // Known peers: mostly core nodes, some earlier watchers, as people copy
                // configurations from each other.
                let mut known = BTreeSet::new();
                while (known.len() as u32) < watcher_known_peers.min(me) {
                    let pick = if w > 0 && rng.chance(0.3) {
                        core + rng.below(u64::from(w)) as u32
                    } else {
                        rng.below(u64::from(core)) as u32
                    };
                    known.insert(pick);
                }
                let known: Vec<NodeIndex> = known.into_iter().collect();
                dials.extend(known.iter().map(|&k| (me, k)));
                nodes.push(NodePlan {
                    role: Role::Watcher,
                    preferred: Vec::new(),
                    preferred_keys: Vec::new(),
                    known,
                    preferred_only: false,
                    target_connections: None,
                    max_inbound: None,
                });
            }
            Plan { nodes, dials }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degrees(plan: &Plan) -> Vec<usize> {
        let mut d = vec![0; plan.nodes.len()];
        for &(a, b) in &plan.dials {
            d[a as usize] += 1;
            d[b as usize] += 1;
        }
        d
    }

    #[test]
    fn mesh_and_ring_have_the_expected_degrees() {
        let mut rng = SimRng::new(1);
        let mesh = build(&Topology::FullMesh { nodes: 5 }, &mut rng);
        assert_eq!(mesh.dials.len(), 10);
        assert!(degrees(&mesh).iter().all(|&d| d == 4));
        assert!(mesh.nodes.iter().all(|n| n.preferred_only && n.preferred_keys.len() == 4));
        assert_eq!(mesh.nodes.iter().map(|n| n.preferred.len()).sum::<usize>(), 10, "each edge dialed once");
        let ring = build(&Topology::Ring { nodes: 6 }, &mut rng);
        assert!(degrees(&ring).iter().all(|&d| d == 2));
        assert_eq!(ring.validators().len(), 6);
    }

    #[test]
    fn random_regular_is_regular_and_simple() {
        let mut rng = SimRng::new(7);
        let plan = build(&Topology::RandomRegular { nodes: 200, degree: 8, validators: 10 }, &mut rng);
        assert!(degrees(&plan).iter().all(|&d| d == 8));
        let set: BTreeSet<_> = plan.dials.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        assert_eq!(set.len(), plan.dials.len(), "no double edge");
        assert!(plan.dials.iter().all(|(a, b)| a != b), "no loop");
        assert_eq!(plan.validators(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn relayed_validators_have_relays_only() {
        let mut rng = SimRng::new(1);
        for shape in [RelayShape::Line, RelayShape::Mesh] {
            let t = Topology::Relayed { validators: 5, relays: 3, shape };
            let plan = build(&t, &mut rng);
            assert_eq!(plan.nodes.len(), 8);
            assert_eq!(plan.validators(), vec![0, 1, 2, 3, 4]);
            for &(a, b) in &plan.dials {
                assert!(a >= 5 || b >= 5, "{shape:?}: validators {a} and {b} linked directly");
            }
            for v in 0..5 {
                let relays = &plan.nodes[v].preferred_keys;
                assert!(!relays.is_empty() && relays.iter().all(|&r| r >= 5), "{shape:?}: {relays:?}");
            }
        }
        let line = relayed_edges(5, 3, RelayShape::Line);
        assert!(line.contains(&(0, 5)) && line.contains(&(4, 7)), "the ends of the line: {line:?}");
        assert_eq!(relayed_edges(4, 1, RelayShape::Mesh), relayed_edges(4, 1, RelayShape::Line), "a star");
    }

    #[test]
    fn pubnet_core_is_a_mesh_and_watchers_know_a_few() {
        let mut rng = SimRng::new(3);
        let t = Topology::Pubnet { orgs: 4, validators_per_org: 3, watchers: 20, watcher_known_peers: 3 };
        let plan = build(&t, &mut rng);
        assert_eq!(plan.nodes.len(), 32);
        assert_eq!(plan.validators().len(), 12);
        let core_dials = plan.dials.iter().filter(|(a, b)| *a < 12 && *b < 12).count();
        assert_eq!(core_dials, 12 * 11 / 2);
        for w in &plan.nodes[12..] {
            assert_eq!(w.known.len(), 3);
            assert!(matches!(w.role, Role::Watcher));
        }
        assert!(matches!(plan.nodes[4].role, Role::Validator { org: 1 }));
        assert!(t.validate().is_ok());
        assert!(Topology::RandomRegular { nodes: 5, degree: 3, validators: 0 }.validate().is_err());
    }
}
