//! Properties of the node over random sequences of connects, drops, time, messages and
//! garbage: every slot limit holds, no two authenticated peers share a NodeID, and a
//! dropped peer never sends or delivers again.

use overlay_node::harness::Harness;
use overlay_node::{DropReason, NodeConfig};
use overlay_proto::NodeId;
use overlay_proto::fixtures::{scp_message, transaction_message};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::time::Duration;

const NODES: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Connect(usize, usize),
    Drop(usize, usize),
    Advance(u16),
    Tx(usize, u16),
    Scp(usize, u16),
    Garbage(usize, usize, Vec<u8>),
    Cork(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NODES, 0..NODES).prop_map(|(a, b)| Op::Connect(a, b)),
        1 => (0..NODES, 0..8usize).prop_map(|(a, k)| Op::Drop(a, k)),
        3 => (1..20_000u16).prop_map(Op::Advance),
        2 => (0..NODES, any::<u16>()).prop_map(|(a, n)| Op::Tx(a, n)),
        1 => (0..NODES, any::<u16>()).prop_map(|(a, n)| Op::Scp(a, n)),
        1 => (0..NODES, 0..8usize, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(a, k, g)| Op::Garbage(a, k, g)),
        1 => (0..NODES, 0..8usize).prop_map(|(a, k)| Op::Cork(a, k)),
    ]
}

fn small_config() -> NodeConfig {
    NodeConfig {
        target_peer_connections: 2,
        max_additional_peer_connections: Some(2),
        max_pending_connections: 4,
        run_standalone: false,
        known_peers: (0..NODES).map(Harness::address).collect(),
        ..Harness::config()
    }
}

fn check(h: &Harness) -> Result<(), TestCaseError> {
    prop_assert!(h.violations.is_empty(), "{:?}", h.violations);
    for (i, n) in h.nodes.iter().enumerate() {
        let l = n.limits();
        let (pi, po, ai, ao) = n.connection_counts();
        prop_assert!(pi <= l.max_inbound_pending + 2, "node {i} pending inbound {pi}");
        prop_assert!(po <= l.max_outbound_pending, "node {i} pending outbound {po}");
        prop_assert!(ai <= l.max_inbound, "node {i} authenticated inbound {ai}");
        prop_assert!(ao <= l.max_outbound, "node {i} authenticated outbound {ao}");
        let ids: Vec<NodeId> = n.authenticated_peers().map(|(id, _)| id).collect();
        let unique: BTreeSet<NodeId> = ids.iter().copied().collect();
        prop_assert_eq!(ids.len(), unique.len());
        let authenticated_conns =
            n.connections().filter(|(_, _, p)| p.is_some_and(|p| p.is_authenticated() && !p.is_closed())).count();
        prop_assert!(authenticated_conns >= ids.len());
        for (_, _, p) in n.connections() {
            if let Some(p) = p {
                prop_assert!(p.flow().check_invariants().is_ok());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn limits_identity_and_final_drops_hold(ops in prop::collection::vec(op(), 1..60)) {
        let mut h = Harness::new();
        for _ in 0..NODES {
            h.add_node(small_config());
        }
        for op in ops {
            let now = h.now;
            let unix = h.unix();
            let conn_of = |h: &Harness, a: usize, k: usize| {
                let conns: Vec<_> = h.nodes[a].connections().map(|(c, _, _)| c).collect();
                (!conns.is_empty()).then(|| conns[k % conns.len()])
            };
            match op {
                Op::Connect(a, b) => {
                    let _ = h.nodes[a].connect(now, Harness::address(b));
                }
                Op::Drop(a, k) => {
                    if let Some(c) = conn_of(&h, a, k) {
                        h.nodes[a].close(now, c, DropReason::DROPPED_BY_USER);
                    }
                }
                Op::Advance(ms) => h.run_for(Duration::from_millis(u64::from(ms))),
                Op::Tx(a, n) => {
                    let _ = h.nodes[a].broadcast(now, transaction_message(u64::from(n)));
                }
                Op::Scp(a, n) => {
                    let id = h.nodes[a].node_id();
                    let _ = h.nodes[a].broadcast(now, scp_message(id, 5, u64::from(n)));
                }
                Op::Garbage(a, k, g) => {
                    if let Some(c) = conn_of(&h, a, k) {
                        h.nodes[a].handle_bytes(now, unix, c, &g);
                    }
                }
                Op::Cork(a, k) => {
                    if let Some(c) = conn_of(&h, a, k) {
                        h.corked.insert((a, c));
                    }
                }
            }
            h.pump();
            check(&h)?;
        }
        h.run_for(Duration::from_secs(30));
        check(&h)?;
    }
}
