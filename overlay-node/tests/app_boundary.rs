//! The application boundary as data (issue 11): late verdicts, ledger closes and the window
//! of §8.1, bounds on what waits for the application, items held and served, the peer
//! database as outputs, and the refusal of connection messages.

use overlay_node::app::{AppInput, Application, Delivery, ScpVerdict, TxVerdict};
use overlay_node::discovery::{MemoryStore, PeerStore, StoreChange};
use overlay_node::harness::Harness;
use overlay_node::{ItemLimits, LedgerState, MemoryApp, NodeConfig, NodeError, NodeEvent, Received};
use overlay_proto::fixtures::{scp_message, transaction_message};
use overlay_proto::xdr::{MessageType, StellarMessage, Uint256};
use overlay_proto::{Hash256, Timestamp};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn triangle() -> Harness {
    let mut h = Harness::new();
    for _ in 0..3 {
        h.add_node(Harness::config());
    }
    h.connect(0, 1);
    h.connect(1, 2);
    h.connect(2, 0);
    assert!(h.run_until(h.now + secs(5), |h| h.linked(0, 1) && h.linked(1, 2) && h.linked(2, 0)));
    h
}

fn drops(h: &Harness) -> Vec<String> {
    (0..h.nodes.len()).flat_map(|i| h.drops(i)).collect()
}

// Acceptance 2 (virtual time): applications that answer every verdict a second late leave
// every node serving its peers: pings and requests are answered meanwhile, nothing times
// out, nothing is dropped, and every transaction still reaches every node once.
#[test]
fn verdicts_a_second_late_leave_the_node_serving_its_peers() {
    let mut h = triangle();
    h.app_latency = secs(1);
    for n in 0..60u64 {
        let now = h.now;
        h.nodes[(n % 3) as usize].broadcast(now, transaction_message(n)).unwrap();
        // A request to node 1 while its application sits on verdicts.
        let id1 = h.nodes[1].node_id();
        h.nodes[0].send_to(now, id1, &StellarMessage::GetScpQuorumset(Uint256([n as u8; 32]))).unwrap();
        h.run_for(Duration::from_millis(250));
    }
    // While verdicts were pending, node 1 answered every request (DONT_HAVE).
    let answers = h.events[0]
        .iter()
        .filter(|e| matches!(e, NodeEvent::Message { message, .. } if message.message_type() == MessageType::DontHave))
        .count();
    assert!(answers >= 60, "answers: {answers}");
    h.run_for(secs(30));
    assert!(drops(&h).is_empty(), "{:?}", drops(&h));
    for i in 0..3 {
        // Each node holds the 60 transactions: its own 20 and the 40 it accepted a second late.
        assert_eq!(h.nodes[i].sizes().transactions, 60, "node {i}");
        assert_eq!(h.nodes[i].sizes().pending_transactions, 0);
        assert_eq!(h.app::<MemoryApp>(i).accepted.len(), 40, "node {i} accepted each once");
    }
}

// Acceptance 3: with a ledger closing every 5 s, the Floodgate, the advert histories and the
// held transactions keep only the records of the last MAX_SLOTS_TO_REMEMBER (12) ledgers.
#[test]
fn ledgers_closing_every_five_seconds_keep_records_within_the_window() {
    let mut h = triangle();
    let mut ledger = LedgerState::GENESIS;
    let mut by_ledger: Vec<(u32, Hash256)> = Vec::new();
    let mut n = 0u64;
    for _ in 0..40 {
        // 5 s of traffic: a transaction every 250 ms from a rotating node.
        for _ in 0..20 {
            let now = h.now;
            let msg = transaction_message(n);
            let xdr = overlay_proto::wire::encode_message(&msg).unwrap();
            let hash = overlay_flood::identity::tx_full_hash_from_message_xdr(&xdr).unwrap();
            by_ledger.push((ledger.tracking_ledger, hash));
            h.nodes[(n % 3) as usize].broadcast(now, msg).unwrap();
            n += 1;
            h.run_for(Duration::from_millis(250));
        }
        ledger.tracking_ledger += 1;
        for i in 0..3 {
            h.app_input(i, AppInput::Ledger(ledger));
        }
        let min = ledger.min_ledger_to_remember(12);
        for i in 0..3 {
            let fg = h.nodes[i].floodgate();
            for (l, hash) in &by_ledger {
                match fg.record_ledger(hash) {
                    Some(at) => assert!(at >= min, "node {i}: a record of ledger {at} below the window {min}"),
                    None => {
                        assert!(*l < min, "node {i}: lost the record of a transaction of ledger {l} (window {min})")
                    }
                }
            }
            let in_window = by_ledger.iter().filter(|(l, _)| *l >= min).count();
            assert!(fg.len() <= in_window, "node {i}: {} records, {in_window} in the window", fg.len());
            assert!(h.nodes[i].sizes().transactions <= in_window);
            for (p, _) in h.nodes[i].authenticated_peers() {
                assert!(h.nodes[i].pull_mode().history_len(&p) <= in_window);
            }
        }
    }
    assert!(by_ledger.len() > 12 * 20 * 2, "the run outlived the window several times");
    assert!(drops(&h).is_empty());
}

/// An application that never answers.
struct Mute;

impl Application for Mute {
    fn handle_delivery(&mut self, _: Timestamp, _: Delivery) {}
    fn poll_input(&mut self) -> Option<AppInput> {
        None
    }
}

fn mute_pair(items: ItemLimits) -> Harness {
    let mut h = Harness::new();
    h.add_node_with_app(NodeConfig { items, ..Harness::config() }, Box::new(Mute));
    h.add_node(Harness::config());
    h.connect(1, 0);
    assert!(h.run_until(h.now + secs(5), |h| h.linked(0, 1)));
    h
}

// What waits for a verdict is bounded; at the bound new transactions are not delivered and
// the oldest envelope is given up; verdicts that never come expire.
#[test]
fn deliveries_waiting_for_verdicts_are_bounded_and_expire() {
    let items = ItemLimits {
        pending_transactions_max: 5,
        pending_envelopes_max: 3,
        verdict_timeout: secs(10),
        ..Default::default()
    };
    let mut h = mute_pair(items);
    let (id0, id1) = (h.nodes[0].node_id(), h.nodes[1].node_id());
    for n in 0..12u64 {
        let now = h.now;
        h.nodes[1].send_to(now, id0, &transaction_message(n)).unwrap();
        h.nodes[1].send_to(now, id0, &scp_message(id1, 5, n)).unwrap();
    }
    h.run_for(secs(1));
    let s = h.nodes[0].sizes();
    assert_eq!((s.pending_transactions, s.pending_envelopes), (5, 3));
    let c = *h.nodes[0].counters();
    assert_eq!(c.app_tx_refused, 7, "seven transactions found no room");
    assert_eq!(c.app_envelopes_evicted, 9, "nine envelopes were pushed out");
    let delivered_tx = h.deliveries[0].iter().filter(|d| matches!(d, Delivery::Transaction(_))).count();
    assert_eq!(delivered_tx, 5);
    h.run_for(secs(15));
    let s = h.nodes[0].sizes();
    assert_eq!((s.pending_transactions, s.pending_envelopes), (0, 0), "expired");
    assert_eq!(h.nodes[0].counters().app_verdicts_expired, 8);
    // A verdict that comes after its delivery expired is ignored.
    let Delivery::Transaction(t) = &h.deliveries[0][0] else { panic!("a transaction first") };
    let hash = t.hash;
    h.app_input(0, AppInput::TxVerdict { hash, verdict: TxVerdict::Accepted });
    assert_eq!(h.nodes[0].counters().app_verdicts_unknown, 1);
    assert!(!h.nodes[0].holds_transaction(&hash));
    assert!(drops(&h).is_empty());
}

// Verdicts decide: an accepted transaction is held and served to demands, a rejected one is
// forgotten so that a later copy is delivered again; a discarded envelope is not flooded, a
// ready one is, and is served for GET_SCP_STATE.
#[test]
fn verdicts_decide_what_is_held_flooded_and_served() {
    let mut h = mute_pair(ItemLimits::default());
    h.add_node(Harness::config());
    h.connect(2, 0);
    assert!(h.run_until(h.now + secs(5), |h| h.linked(0, 2)));
    let (id0, id1) = (h.nodes[0].node_id(), h.nodes[1].node_id());
    let now = h.now;
    h.nodes[1].send_to(now, id0, &transaction_message(1)).unwrap();
    h.nodes[1].send_to(now, id0, &transaction_message(2)).unwrap();
    h.nodes[1].send_to(now, id0, &scp_message(id1, 7, 1)).unwrap();
    h.nodes[1].send_to(now, id0, &scp_message(id1, 7, 2)).unwrap();
    h.run_for(secs(1));
    let ds = h.deliveries[0].clone();
    let txs: Vec<Hash256> =
        ds.iter().filter_map(|d| if let Delivery::Transaction(t) = d { Some(t.hash) } else { None }).collect();
    let envs: Vec<Hash256> =
        ds.iter().filter_map(|d| if let Delivery::ScpEnvelope(e) = d { Some(e.id) } else { None }).collect();
    assert_eq!((txs.len(), envs.len()), (2, 2));
    h.app_input(0, AppInput::TxVerdict { hash: txs[0], verdict: TxVerdict::Accepted });
    h.app_input(0, AppInput::TxVerdict { hash: txs[1], verdict: TxVerdict::Rejected });
    h.app_input(0, AppInput::ScpVerdict { id: envs[0], verdict: ScpVerdict::Ready });
    h.app_input(0, AppInput::ScpVerdict { id: envs[1], verdict: ScpVerdict::Discard });
    h.run_for(secs(3));
    assert!(h.nodes[0].holds_transaction(&txs[0]));
    assert!(!h.nodes[0].holds_transaction(&txs[1]));
    // Node 2 pulled the accepted transaction and got the ready envelope only.
    let got2: Vec<MessageType> = h.events[2]
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message { peer, message, .. } if *peer == id0 => Some(message.message_type()),
            _ => None,
        })
        .collect();
    assert_eq!(got2.iter().filter(|t| **t == MessageType::Transaction).count(), 1);
    assert_eq!(got2.iter().filter(|t| **t == MessageType::ScpMessage).count(), 1);
    // The rejected transaction, sent again, is delivered again.
    let now = h.now;
    h.nodes[1].send_to(now, id0, &transaction_message(2)).unwrap();
    h.run_for(secs(1));
    let again = h.deliveries[0].iter().filter(|d| matches!(d, Delivery::Transaction(t) if t.hash == txs[1])).count();
    assert_eq!(again, 2);
    // GET_SCP_STATE from node 2 is answered with the ready envelope.
    let before = got2.len();
    let now = h.now;
    h.nodes[2].send_to(now, id0, &StellarMessage::GetScpState(0)).unwrap();
    h.run_for(secs(1));
    let scp_after = h.events[2]
        .iter()
        .filter(|e| matches!(e, NodeEvent::Message { peer, message: Received::ScpMessage(_), .. } if *peer == id0))
        .count();
    assert_eq!(scp_after, 2, "the state holds the ready envelope (one message more than the {before} before)");
}

// Items the application holds are served by hash; a fetch for an item the node already holds
// delivers it again and hands the envelope back at once.
#[test]
fn held_items_are_served_and_fetches_of_held_items_come_back_at_once() {
    let mut h = mute_pair(ItemLimits::default());
    let (id0, id1) = (h.nodes[0].node_id(), h.nodes[1].node_id());
    let set = overlay_proto::xdr::GeneralizedTransactionSet::V1(overlay_proto::xdr::TransactionSetV1 {
        previous_ledger_hash: overlay_proto::xdr::Hash([4; 32]),
        phases: vec![].try_into().unwrap(),
    });
    let (hash, _) = overlay_node::node::generalized_tx_set_hash(&set).unwrap();
    let msg = StellarMessage::GeneralizedTxSet(set);
    h.app_input(0, AppInput::HoldTxSet(Arc::new(msg.clone())));
    assert_eq!(
        h.nodes[0].handle_app(h.now, AppInput::HoldTxSet(Arc::new(StellarMessage::GetScpState(1)))),
        Err(NodeError::NotATxSet(MessageType::GetScpState))
    );
    let now = h.now;
    h.nodes[1].send_to(now, id0, &StellarMessage::GetTxSet(Uint256(hash.0))).unwrap();
    h.nodes[1].send_to(now, id0, &scp_message(id1, 9, 1)).unwrap();
    h.run_for(secs(1));
    let served =
        h.events[1].iter().any(|e| matches!(e, NodeEvent::Message { message: Received::Other(m), .. } if **m == msg));
    assert!(served, "the held tx set was served");
    let Some(Delivery::ScpEnvelope(e)) = h.deliveries[0].iter().find(|d| matches!(d, Delivery::ScpEnvelope(_))) else {
        panic!("the envelope was delivered")
    };
    let id = e.id;
    let fetch = ScpVerdict::Fetch { tx_sets: vec![hash], quorum_set: None };
    h.app_input(0, AppInput::ScpVerdict { id, verdict: fetch });
    let tail: Vec<&Delivery> = h.deliveries[0].iter().rev().take(2).collect();
    assert!(matches!(tail[1], Delivery::TxSet { from: None, .. }), "the item first");
    assert!(matches!(tail[0], Delivery::ScpEnvelope(e) if e.id == id && e.refetched), "then the envelope");
}

// The peer database leaves as data: the changes a node makes, applied in order to a copy of
// what it started from, give what it holds; a ban is one change.
#[test]
fn peer_database_changes_leave_as_outputs_that_rebuild_the_view() {
    let mut h = Harness::new();
    let mut start = MemoryStore::new();
    let seeded = overlay_node::discovery::PeerRecord::new("1.2.3.4:11625".parse().unwrap(), h.now).unwrap();
    start.insert(&seeded).unwrap();
    h.add_node_with_store(NodeConfig { run_standalone: false, ..Harness::config() }, start.clone());
    for _ in 0..3 {
        h.add_node(NodeConfig { run_standalone: false, known_peers: vec![Harness::address(0)], ..Harness::config() });
    }
    h.run_for(secs(30));
    let banned = Harness::node_id(3);
    h.nodes[0].ban(banned).unwrap();
    h.pump();
    let mut replay = start;
    for c in &h.store_changes[0] {
        replay.apply(c).unwrap();
    }
    let want: Vec<_> = h.nodes[0].store().records().collect();
    assert_eq!(replay.records().collect::<Vec<_>>(), want);
    assert_eq!(replay.bans().unwrap(), vec![banned]);
    assert!(h.store_changes[0].iter().filter(|c| matches!(c, StoreChange::Ban(_))).count() == 1);
    assert!(want.len() > 1, "records were learned: {want:?}");
}

// Handshake and flow-control messages belong to the connection: send_to and broadcast refuse
// them with a typed error, and broadcast refuses what is not flooded.
#[test]
fn connection_messages_are_refused() {
    let mut h = mute_pair(ItemLimits::default());
    let id1 = h.nodes[1].node_id();
    let now = h.now;
    let more = StellarMessage::SendMoreExtended(overlay_proto::xdr::SendMoreExtended { num_messages: 9, num_bytes: 9 });
    assert_eq!(h.nodes[0].send_to(now, id1, &more), Err(NodeError::ConnectionMessage(MessageType::SendMoreExtended)));
    assert!(matches!(h.nodes[0].broadcast(now, more), Err(NodeError::ConnectionMessage(_))));
    assert_eq!(
        h.nodes[0].broadcast(now, StellarMessage::GetScpState(1)),
        Err(NodeError::NotFlooded(MessageType::GetScpState))
    );
    let hello = StellarMessage::Hello(Default::default());
    assert_eq!(h.nodes[0].send_to(now, id1, &hello), Err(NodeError::ConnectionMessage(MessageType::Hello)));
    let kinds: BTreeSet<MessageType> = h.events[1]
        .iter()
        .filter_map(|e| if let NodeEvent::Message { message, .. } = e { Some(message.message_type()) } else { None })
        .collect();
    assert!(!kinds.contains(&MessageType::Hello));
}

// The original crate's soft limit on incoming flood messages is an option, off by default:
// with it, flood messages past the rate are read, counted and dropped; without it, none is.
#[test]
fn the_soft_flood_rate_limit_is_an_option_off_by_default() {
    for limit in [None, Some(5)] {
        let mut h = Harness::new();
        h.add_node(NodeConfig { flood_rate_limit_per_sec: limit, ..Harness::config() });
        h.add_node(Harness::config());
        h.connect(1, 0);
        assert!(h.run_until(h.now + secs(5), |h| h.linked(0, 1)));
        let id0 = h.nodes[0].node_id();
        for n in 0..20 {
            let now = h.now;
            h.nodes[1].send_to(now, id0, &transaction_message(n)).unwrap();
        }
        h.run_for(Duration::from_millis(100));
        let limited = h.nodes[0].counters().flood_rate_limited;
        let delivered = h.deliveries[0].iter().filter(|d| matches!(d, Delivery::Transaction(_))).count() as u64;
        match limit {
            None => assert_eq!((limited, delivered), (0, 20)),
            Some(_) => assert_eq!((limited, delivered), (15, 5), "a second's worth passes"),
        }
        assert!(drops(&h).is_empty(), "the sender is not punished");
    }
}

// An envelope that waits for a tx set and a quorum set is handed back once, when both are
// held, even when they arrive in the same read.
#[test]
fn an_envelope_waiting_for_two_items_comes_back_once() {
    let mut h = mute_pair(ItemLimits::default());
    let (id0, id1) = (h.nodes[0].node_id(), h.nodes[1].node_id());
    let set = overlay_proto::xdr::GeneralizedTransactionSet::V1(overlay_proto::xdr::TransactionSetV1 {
        previous_ledger_hash: overlay_proto::xdr::Hash([6; 32]),
        phases: vec![].try_into().unwrap(),
    });
    let (tx_set, _) = overlay_node::node::generalized_tx_set_hash(&set).unwrap();
    let qset = overlay_proto::xdr::ScpQuorumSet { threshold: 1, ..Default::default() };
    let qxdr = overlay_proto::xdr::WriteXdr::to_xdr(&qset, overlay_proto::xdr::Limits::none()).unwrap();
    let quorum_set = Hash256::sha256(&qxdr);
    h.app_input(1, AppInput::HoldTxSet(Arc::new(StellarMessage::GeneralizedTxSet(set))));
    h.app_input(1, AppInput::HoldQuorumSet(Arc::new(qset)));
    let now = h.now;
    h.nodes[1].send_to(now, id0, &scp_message(id1, 3, 1)).unwrap();
    h.run_for(secs(1));
    let Some(Delivery::ScpEnvelope(e)) = h.deliveries[0].iter().find(|d| matches!(d, Delivery::ScpEnvelope(_))) else {
        panic!("delivered")
    };
    let id = e.id;
    let verdict = ScpVerdict::Fetch { tx_sets: vec![tx_set], quorum_set: Some(quorum_set) };
    h.app_input(0, AppInput::ScpVerdict { id, verdict });
    h.run_for(secs(2));
    assert!(h.nodes[0].holds_tx_set(&tx_set) && h.nodes[0].holds_quorum_set(&quorum_set));
    let back = h.deliveries[0].iter().filter(|d| matches!(d, Delivery::ScpEnvelope(e) if e.id == id && e.refetched));
    assert_eq!(back.count(), 1);
}
