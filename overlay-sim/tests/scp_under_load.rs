//! Issue 12 acceptance 3 (the simulator's part): SCP propagation under transaction load is
//! no slower than idle (p99 within 1.1 ×; stellar-core issue 2441 saw SCP delayed behind
//! transactions). A smaller run of `Scenario::scp_under_load` than the preset's (17 nodes
//! with 16 peers each, 500 tx/s for 5 s) keeps the debug-build test short; BENCHMARKS.md has
//! the preset's figures (33 nodes, 5,000 tx/s).

use overlay_sim::topology::Topology;
use overlay_sim::{Scenario, World};

fn scp_p99(tx_rate: f64) -> (f64, u64) {
    let mut s = Scenario::scp_under_load(1, tx_rate);
    s.topology = Topology::RandomRegular { nodes: 17, degree: 16, validators: 8 };
    s.load_ms = 5_000;
    let mut world = World::new(s).expect("valid scenario");
    world.run(&mut |_| {}).unwrap_or_else(|e| panic!("rate {tx_rate}: {e}"));
    let r = world.report();
    (r.scp.latency_ms.p99_ms, r.transactions.receipts)
}

#[test]
fn scp_p99_under_load_is_within_a_tenth_of_idle() {
    let (idle, none) = scp_p99(0.0);
    let (loaded, receipts) = scp_p99(500.0);
    assert_eq!(none, 0);
    assert!(receipts > 2_000 * 16, "the load went around: {receipts} receipts");
    assert!(idle > 0.0);
    assert!(loaded <= 1.1 * idle, "SCP p99 {loaded} ms under load vs {idle} ms idle");
}
