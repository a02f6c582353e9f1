//! Corruption of record marks: a flipped length bit throws the receiver's framing out of
//! step, and if the announced body is longer but within the 16 MiB allowed after
//! authentication (PROTOCOL.md §1.2) the receiver waits for it while both nodes keep the
//! connection open. Such a connection no longer links its nodes for the delivery checks;
//! every other invariant still holds.

use overlay_sim::link::LinkProfile;
use overlay_sim::{Scenario, World};

/// A small network whose only fault is heavy corruption.
fn corrupting(seed: u64) -> Scenario {
    let mut s = Scenario::small_faulty(seed);
    s.link = LinkProfile { latency_ms: 10, jitter_ms: 20, corrupt_prob: 0.05, ..LinkProfile::default() };
    s.partitions.clear();
    s.cuts.interval_ms = 0;
    s.churn.interval_ms = 0;
    s.churn.joins = 0;
    s
}

#[test]
fn corrupted_record_marks_do_not_break_delivery_checks() {
    let mut marks = 0;
    for seed in 1..=6 {
        let mut world = World::new(corrupting(seed)).expect("valid scenario");
        world.run(&mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let r = world.report();
        assert!(r.transactions.checked > 0, "seed {seed}: {:?}", r.transactions);
        marks += r.faults.links.corrupted_record_marks;
    }
    assert!(marks > 0, "no record mark was corrupted: the test exercises nothing");
}
