//! Each topology forms and floods: every invariant holds and transactions reach the nodes.

use overlay_sim::topology::Topology;
use overlay_sim::{Scenario, World};

fn quiet(topology: Topology) -> Scenario {
    let mut s = Scenario::small_faulty(21);
    s.topology = topology;
    s.link = overlay_sim::link::LinkProfile { latency_ms: 15, ..Default::default() };
    s.partitions.clear();
    s.cuts.interval_ms = 0;
    s.churn.interval_ms = 0;
    s.churn.joins = 0;
    s.load_ms = 10_000;
    s
}

fn run(s: Scenario) -> overlay_sim::Report {
    let mut world = World::new(s).expect("valid scenario");
    world.run(&mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    world.report()
}

#[test]
fn mesh_ring_and_regular_deliver_everything() {
    for t in [
        Topology::FullMesh { nodes: 6 },
        Topology::Ring { nodes: 6 },
        Topology::RandomRegular { nodes: 8, degree: 3, validators: 2 },
    ] {
        let r = run(quiet(t.clone()));
        let n = t.node_count() as u64;
        let tx = &r.transactions;
        assert!(tx.broadcast > 20, "{t:?}: {tx:?}");
        assert_eq!(tx.receipts, tx.broadcast * (n - 1), "{t:?}: every node got every transaction");
        assert_eq!(r.connections.dropped, 0, "{t:?}: no faults, no drops: {:?}", r.connections.drop_reasons);
    }
}

#[test]
fn pubnet_watchers_discover_peers_beyond_their_known_ones() {
    let t = Topology::Pubnet { orgs: 2, validators_per_org: 3, watchers: 12, watcher_known_peers: 2 };
    let mut s = quiet(t);
    s.warmup_ms = 15_000;
    let r = run(s);
    // Core mesh (15) plus two known peers per watcher (24) were dialed at start; discovery
    // through PEERS brings more.
    assert!(r.connections.established > 15 + 24, "{:?}", r.connections);
    assert!(r.bandwidth.sent_frames_total["peers"] > 0);
    let tx = &r.transactions;
    assert_eq!(tx.receipts, tx.broadcast * 17, "every node got every transaction");
}
