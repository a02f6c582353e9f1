//! The simulator catches planted bugs, reproducibly: a node that sends transactions back to
//! the peer they came from, and a node that ignores flow control. The bug is planted in a
//! faulty driver for one node (the node itself is untouched) and the invariants are not told.

use overlay_sim::fault::MisbehaviourKind;
use overlay_sim::{Scenario, SimError, Violation, World};

fn run_with_bug(kind: MisbehaviourKind, seed: u64) -> SimError {
    let mut sc = Scenario::small_faulty(seed);
    sc.misbehaviour.planted = Some(kind);
    let mut world = World::new(sc).expect("valid scenario");
    world.run(&mut |_| {}).expect_err("the planted bug must break an invariant")
}

#[test]
fn echo_to_sender_is_caught_with_a_reproducible_seed() {
    let e = run_with_bug(MisbehaviourKind::Echo, 3);
    match &e {
        SimError::Invariant { seed, violation: Violation::Echo { node, peer }, .. } => {
            assert_eq!(*seed, 3);
            assert_ne!(node, peer);
        }
        other => panic!("expected an echo violation, got {other}"),
    }
    assert_eq!(run_with_bug(MisbehaviourKind::Echo, 3), e, "same seed, same failure");
    assert!(e.to_string().contains("seed 3"), "the message names the seed: {e}");
}

#[test]
fn ignoring_flow_control_is_caught_with_a_reproducible_seed() {
    let e = run_with_bug(MisbehaviourKind::Overrun, 5);
    match &e {
        SimError::Invariant { violation: Violation::SendPastCapacity { sent_msgs, granted_msgs, .. }, .. } => {
            assert!(sent_msgs > granted_msgs);
        }
        other => panic!("expected a capacity violation, got {other}"),
    }
    assert_eq!(run_with_bug(MisbehaviourKind::Overrun, 5), e, "same seed, same failure");
}

#[test]
fn declared_misbehaving_nodes_are_survived() {
    // The same faults, declared: honest nodes must drop the culprits and keep flooding.
    let mut sc = Scenario::small_faulty(8);
    sc.misbehaviour.bad_mac_nodes = 1;
    sc.misbehaviour.garbage_nodes = 1;
    sc.misbehaviour.overrun_nodes = 1;
    sc.misbehaviour.prob = 0.2;
    let mut world = World::new(sc).expect("valid scenario");
    world.run(&mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    let r = world.report();
    assert_eq!(r.nodes.misbehaving.values().map(Vec::len).sum::<usize>(), 3);
    let reasons = &r.connections.drop_reasons;
    let mac_drops: u64 =
        reasons.iter().filter(|(k, _)| k.contains("MAC") || k.contains("auth sequence")).map(|(_, v)| v).sum();
    assert!(mac_drops > 0, "bad MACs lead to drops: {reasons:?}");
    assert!(r.transactions.checked > 0);
}
