//! Whole nodes in memory on virtual time (the harness).

use overlay_node::NodeEvent;
use overlay_node::harness::Harness;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::MessageType;
use std::time::Duration;

fn count(h: &Harness, i: usize, t: MessageType) -> usize {
    h.events[i]
        .iter()
        .filter(|e| matches!(e, NodeEvent::Message { message, .. } if message.discriminant() == t))
        .count()
}

// Issue 5 acceptance 4: a transaction submitted at one node reaches the application of the
// other two exactly once, by pull mode.
#[test]
fn a_transaction_reaches_every_node_once_by_pull_mode() {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.add_node(Harness::config());
    }
    h.connect(0, 1);
    h.connect(1, 2);
    h.connect(2, 0);
    assert!(h.run_until(h.now + Duration::from_secs(10), |h| h.linked(0, 1) && h.linked(1, 2) && h.linked(2, 0)));
    let now = h.now;
    h.nodes[0].broadcast(now, transaction_message(1)).unwrap();
    h.run_for(Duration::from_secs(5));
    for i in 1..3 {
        let accepted = &h.nodes[i].app().accepted;
        assert_eq!(accepted.len(), 1, "node {i} accepted {accepted:?}");
        // Pulled: adverts, a demand, then the transaction.
        assert!(count(&h, i, MessageType::FloodAdvert) >= 1);
        assert!(count(&h, i, MessageType::Transaction) >= 1);
    }
    // Node 0 served at least one demand.
    assert!(count(&h, 0, MessageType::FloodDemand) >= 1);
}
