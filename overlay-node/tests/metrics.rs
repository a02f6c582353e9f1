//! The node's measurements (issue 15): traffic per message type, drops per reason, queue
//! delays, pull and fetch latency, as a driver exports them.

use overlay_node::app::AppInput;
use overlay_node::harness::Harness;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::{MessageType, StellarMessage, Uint256};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_snapshot_counts_traffic_drops_and_latencies() {
    let mut h = Harness::new();
    h.latency = Duration::from_millis(10);
    for _ in 0..3 {
        h.add_node(Harness::config());
    }
    h.connect(0, 1);
    h.connect(1, 2);
    assert!(h.run_until(h.now + Duration::from_secs(5), |h| h.linked(0, 1) && h.linked(1, 2)));
    for n in 0..20 {
        let now = h.now;
        h.nodes[0].broadcast(now, transaction_message(n)).unwrap();
        h.run_for(Duration::from_millis(50));
    }
    // A tx set node 2 holds, fetched by node 1.
    let set = overlay_proto::xdr::GeneralizedTransactionSet::V1(overlay_proto::xdr::TransactionSetV1 {
        previous_ledger_hash: overlay_proto::xdr::Hash([9; 32]),
        phases: vec![].try_into().unwrap(),
    });
    let (hash, _) = overlay_node::node::generalized_tx_set_hash(&set).unwrap();
    h.app_input(2, AppInput::HoldTxSet(Arc::new(StellarMessage::GeneralizedTxSet(set))));
    let env = overlay_proto::fixtures::scp_nominate(Harness::node_id(2), 4, 1);
    let now = h.now;
    h.nodes[1].fetch_tx_set(now, hash, env);
    let id1 = h.nodes[1].node_id();
    h.nodes[0].send_to(now, id1, &StellarMessage::GetScpQuorumset(Uint256([1; 32]))).unwrap();
    h.run_for(Duration::from_secs(3));
    h.nodes[2].disconnect(h.now, id1).unwrap();
    h.run_for(Duration::from_secs(1));

    let s = h.nodes[1].snapshot(h.now);
    // Node 1 pulled 20 transactions from node 0 and advertised them to node 2.
    let read: std::collections::BTreeMap<MessageType, (u64, u64)> =
        s.traffic.read().into_iter().map(|(t, m, b)| (t, (m, b))).collect();
    assert_eq!(read[&MessageType::Transaction].0, 20);
    assert!(read[&MessageType::Transaction].1 > 20 * 200, "bytes with headers");
    assert!(read[&MessageType::FloodAdvert].0 >= 1);
    assert_eq!(read[&MessageType::Hello].0, 2, "one HELLO per connection");
    let written: std::collections::BTreeMap<MessageType, u64> =
        s.traffic.written().into_iter().map(|(t, m, _)| (t, m)).collect();
    assert!(written[&MessageType::FloodDemand] >= 1);
    assert_eq!(written[&MessageType::GetTxSet], 1);
    assert!(written[&MessageType::DontHave] >= 1, "the answer to node 0's request");
    // Pull latency: 20 transactions demanded, each at least a round trip.
    assert_eq!(s.pull_latency.count(), 20);
    assert!(s.pull_latency.sum() >= Duration::from_millis(20 * 20));
    assert_eq!(s.fetch_latency.count(), 1);
    // The drop of node 2 by its user, seen by node 1 as the remote's ERROR.
    assert_eq!(s.drops, vec![("remote_error", 1)]);
    assert!(s.queue_delay.iter().map(|h| h.count()).sum::<u64>() >= 20);
    assert_eq!(s.connections.authenticated_inbound + s.connections.authenticated_outbound, 1);
    let d2 = h.nodes[2].snapshot(h.now);
    assert_eq!(d2.drops, vec![("dropped_by_user", 1)]);
}
