//! Nodes driven by the mio driver on 127.0.0.1: they authenticate, flood transactions end to
//! end, drop and ban peers, restart from their peer database, and serve an application
//! that answers with verdicts; every wait is bounded and paced by the nodes' events.

mod common;

use common::{WAIT, config, expect_event, start, temp_db, wait_until};
use overlay_auth::Role;
use overlay_mio::{ConnectError, OverlayEvent, OverlayManager};
use overlay_node::app::{Delivery, TxVerdict};
use overlay_proto::PeerAddress;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::StellarMessage;
use std::collections::BTreeSet;

fn address(m: &OverlayManager) -> PeerAddress {
    PeerAddress::from(m.local_addr().unwrap())
}

#[test]
fn three_nodes_in_a_line_authenticate_and_flood_transactions_end_to_end() {
    let standalone = |c: overlay_mio::OverlayConfig| overlay_mio::OverlayConfig { run_standalone: true, ..c };
    let (a, a_events) = start(1, standalone(config(&[], None)));
    let (b, b_events) = start(2, standalone(config(&[], None)));
    let (c, _c_events) = start(3, standalone(config(&[], None)));
    assert_eq!(b.connect(&address(&a)).unwrap(), a.node_id());
    assert_eq!(c.connect(&address(&b)).unwrap(), b.node_id());

    // Both ends log the handshake, each with its direction and the other's HELLO.
    let at_a = expect_event(&a_events, "A's connected", |e| matches!(e, OverlayEvent::Connected { .. }));
    let OverlayEvent::Connected { direction, remote, .. } = at_a else { unreachable!() };
    assert_eq!((direction, remote.node_id), (Role::Acceptor, b.node_id()));
    let at_b = expect_event(&b_events, "B's connected", |e| matches!(e, OverlayEvent::Connected { .. }));
    let OverlayEvent::Connected { direction, remote, address, .. } = at_b else { unreachable!() };
    assert_eq!((direction, remote.node_id, address), (Role::Initiator, a.node_id(), a.local_addr().unwrap()));

    // 100 transactions from A reach C through B, each once.
    let sub = c.subscribe();
    let sent: BTreeSet<StellarMessage> = (0..100).map(transaction_message).collect();
    for tx in &sent {
        a.broadcast(tx.clone()).unwrap();
    }
    let mut got = BTreeSet::new();
    while got.len() < sent.len() {
        let m = sub.recv_timeout(WAIT).expect("the transactions reached C");
        if matches!(*m.message, StellarMessage::Transaction(_)) {
            assert!(m.first_seen, "a transaction reached C twice");
            assert_eq!(m.from_peer, b.node_id());
            assert!(got.insert((*m.message).clone()));
        }
    }
    assert_eq!(got, sent);
    let report = b.peers_report().unwrap();
    assert_eq!(report.authenticated.len(), 2);
    assert!(b.snapshot().unwrap().processing.iter().any(|(t, _)| t.name() == "Transaction"));
    for n in [a, b, c] {
        n.shutdown();
    }
}

#[test]
fn a_peer_is_dropped_then_banned_then_unbanned() {
    let (a, a_events) = start(10, config(&[], None));
    let (b, b_events) = start(11, config(&[], None));
    b.connect(&address(&a)).unwrap();
    wait_until(&a_events, "A lists B", || a.peer_infos().iter().any(|p| p.peer_id == b.node_id()));

    a.disconnect(&b.node_id()).unwrap();
    let gone = expect_event(&b_events, "B's disconnect", |e| matches!(e, OverlayEvent::Disconnected { .. }));
    let OverlayEvent::Disconnected { peer, reason, .. } = gone else { unreachable!() };
    assert_eq!(peer, Some(a.node_id()));
    assert!(reason.contains("dropped by user"), "{reason}");

    a.ban_peer(b.node_id()).unwrap();
    assert_eq!(a.bans().unwrap(), vec![b.node_id()]);
    let refused = b.connect(&address(&a)).unwrap_err();
    assert!(matches!(refused, ConnectError::Dropped(_) | ConnectError::Rejected { .. }), "{refused}");
    expect_event(
        &a_events,
        "the ban at A",
        |e| matches!(e, OverlayEvent::Disconnected { reason, .. } if reason == "node is banned"),
    );

    a.unban_peer(b.node_id()).unwrap();
    assert!(a.bans().unwrap().is_empty());
    assert_eq!(b.connect(&address(&a)).unwrap(), a.node_id());
    a.shutdown();
    b.shutdown();
    assert!(matches!(a.bans(), Err(overlay_mio::OverlayError::NotRunning)));
}

#[test]
fn a_restarted_node_reconnects_from_its_database_and_its_bans_survive() {
    let db = temp_db("restart");
    let (other, _) = start(20, config(&[], None));
    let (banned, _) = start(21, config(&[], None));

    // First life: knows `other` from its configuration, bans `banned`.
    let (node, events) = start(22, config(&[other.local_addr().unwrap()], Some(db.clone())));
    wait_until(&events, "connected to the known peer", || {
        node.peer_infos().iter().any(|p| p.peer_id == other.node_id())
    });
    node.ban_peer(banned.node_id()).unwrap();
    node.shutdown();
    assert!(matches!(events.recv_timeout(WAIT), Ok(_) | Err(overlay_mio::RecvTimeoutError::Closed)));

    // Second life: no configured peers; the database remembers both.
    let (node, events) = start(22, config(&[], Some(db.clone())));
    assert_eq!(node.bans().unwrap(), vec![banned.node_id()]);
    wait_until(&events, "reconnected from the database", || {
        node.peer_infos().iter().any(|p| p.peer_id == other.node_id())
    });
    let refused = banned.connect(&address(&node)).unwrap_err();
    assert!(matches!(refused, ConnectError::Dropped(_) | ConnectError::Rejected { .. }), "{refused}");
    for n in [node, other, banned] {
        n.shutdown();
    }
    let _ = std::fs::remove_file(&db);
}

#[test]
fn an_application_outside_reads_deliveries_and_answers_with_verdicts() {
    let (a, _) = start(30, config(&[], None));
    let (b, deliveries) =
        OverlayManager::builder(config(&[], None), common::local(31)).build_with_deliveries().unwrap();
    b.start().unwrap();
    b.connect(&address(&a)).unwrap();
    let tx = transaction_message(7);
    a.broadcast(tx.clone()).unwrap();
    let hash = loop {
        match deliveries.recv_timeout(WAIT).expect("the transaction was delivered") {
            Delivery::Transaction(t) => break t.hash,
            _ => continue,
        }
    };
    b.tx_verdict(hash, TxVerdict::Accepted).unwrap();
    assert_eq!(b.sizes().unwrap().pending_transactions, 0, "the verdict was taken");
    a.shutdown();
    b.shutdown();
    assert!(deliveries.recv().is_none(), "the deliveries end at shutdown");
}

#[test]
fn a_dial_to_a_closed_port_is_refused_and_a_name_that_does_not_resolve_is_reported() {
    let (a, _) = start(40, config(&[], None));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let refused = a.connect(&PeerAddress::new("127.0.0.1", port)).unwrap_err();
    assert!(matches!(refused, ConnectError::Refused), "{refused}");
    let unresolved = a.connect(&PeerAddress::new("no-such-host.invalid", 11625)).unwrap_err();
    assert!(matches!(unresolved, ConnectError::Unresolvable(_)), "{unresolved}");
    a.shutdown();
}
