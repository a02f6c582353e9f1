//! The public API on 127.0.0.1: a network of five nodes forms from known peers alone and
//! floods a transaction to every subscriber exactly once; a restarted node reconnects from
//! its database; bans survive restarts; shutdown ends every task; a flood of connection
//! attempts leaves the limits holding.

mod common;

use common::WAIT;
use overlay_auth::NodeIdentity;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{Network, NodeId, PeerAddress};
use overlay_tokio::{
    ConnectError, ConnectionConfig, ConnectionEvent, LocalNode, OverlayConfig, OverlayEvent, OverlayManager,
    PeerConnection, SharedAuth,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const NET: Network = Network::Standalone;

fn config(known: &[std::net::SocketAddr], database: Option<PathBuf>) -> OverlayConfig {
    let mut c = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        known_peers: known.iter().map(|a| PeerAddress::from(*a)).collect(),
        database,
        ..OverlayConfig::default()
    };
    c.listen_port = 0;
    c.allow_localhost_for_testing = true;
    // Ticks every 2 s (authentication timeout + 1), so that the test does not wait for the 3 s default.
    c.auth_timeout_secs = 1;
    c.first_tick_delay = Duration::from_millis(100);
    c
}

async fn start(seed: u8, known: &[std::net::SocketAddr], database: Option<PathBuf>) -> OverlayManager {
    let local = LocalNode::new(NodeIdentity::from_seed([seed; 32]), NET.id());
    let m = OverlayManager::new(config(known, database), local).unwrap();
    m.start().await.unwrap();
    m
}

async fn wait_until<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) {
    tokio::time::timeout(WAIT, async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the condition held in time");
}

fn temp_db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("overlay-api-{}-{name}.db", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_form_a_network_and_flood_a_transaction_exactly_once() {
    let first = start(1, &[], None).await;
    let hub = first.local_addr().unwrap();
    let mut nodes = vec![first];
    for seed in 2..=5 {
        nodes.push(start(seed, &[hub], None).await);
    }
    // Known peers alone (everyone knows node 1); PEERS messages spread the rest.
    let mut counts = vec![0usize; 5];
    for (i, n) in nodes.iter().enumerate() {
        wait_until(|| async { n.peer_infos().len() >= 2 }).await;
        counts[i] = n.peer_infos().len();
    }
    assert!(counts.iter().all(|&c| c >= 2), "{counts:?}");

    let mut subs: Vec<_> = nodes[1..].iter().map(|n| n.subscribe()).collect();
    let tx = transaction_message(42);
    nodes[0].broadcast(tx.clone()).await.unwrap();
    for (i, sub) in subs.iter_mut().enumerate() {
        let got = tokio::time::timeout(WAIT, async {
            loop {
                match sub.recv().await {
                    Ok(m) if *m.message == tx => return m,
                    Ok(_) => {}
                    Err(e) => panic!("subscriber {i}: {e}"),
                }
            }
        })
        .await
        .expect("the transaction arrived");
        assert!(matches!(*got.message, StellarMessage::Transaction(_)));
        assert!(got.first_seen);
    }
    // No second copy anywhere, even after the demand backoff could have retried.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (i, sub) in subs.iter_mut().enumerate() {
        while let Some(m) = sub.try_recv() {
            assert!(*m.message != tx || !m.first_seen, "node {} took the transaction twice", i + 2);
        }
    }
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_reconnects_from_its_database_and_bans_survive() {
    let db = temp_db("restart");
    let other = start(20, &[], None).await;
    let other_addr = other.local_addr().unwrap();
    let other_id = other.node_id();
    let banned = start(21, &[], None).await;
    let banned_id = banned.node_id();
    let banned_addr = banned.local_addr().unwrap();

    // First life: knows `other` from its configuration, bans `banned`.
    let node = start(22, &[other_addr], Some(db.clone())).await;
    wait_until(|| async { node.peer_infos().iter().any(|p| p.peer_id == other_id) }).await;
    node.ban_peer(banned_id).await.unwrap();
    node.shutdown().await;

    // Second life: no configured peers; the database remembers both.
    let node = start(22, &[], Some(db.clone())).await;
    assert_eq!(node.bans().await.unwrap(), vec![banned_id]);
    let mut events = node.events();
    wait_until(|| async { node.peer_infos().iter().any(|p| p.peer_id == other_id) }).await;
    // The banned node dials us and is refused.
    let refused = banned.connect(&PeerAddress::from(node.local_addr().unwrap())).await.unwrap_err();
    // Refused without an ERROR (§3.5): the dialer sees the connection closed.
    assert!(matches!(refused, ConnectError::Dropped(_) | ConnectError::Rejected { .. }), "{refused}");
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(OverlayEvent::Disconnected { reason, .. }) if reason == "node is banned" => return reason,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("closed"),
            }
        }
    })
    .await
    .expect("the banned peer was refused");
    assert_eq!(reason, "node is banned");
    assert!(!node.peer_infos().iter().any(|p| p.peer_id == banned_id));
    let _ = banned_addr;
    for n in [node, other, banned] {
        n.shutdown().await;
    }
    let _ = std::fs::remove_file(&db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_task_it_started() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let a = start(30, &[], None).await;
    let b = start(31, &[a.local_addr().unwrap()], None).await;
    let a_id = a.node_id();
    wait_until(|| async { b.peer_infos().iter().any(|p| p.peer_id == a_id) }).await;
    assert!(metrics.num_alive_tasks() > baseline);
    a.shutdown().await;
    b.shutdown().await;
    wait_until(|| async { metrics.num_alive_tasks() == baseline }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connection_attempts_leave_the_limits_holding() {
    let node = start(40, &[], None).await;
    let addr = node.local_addr().unwrap();
    // One authenticated peer that keeps exchanging messages throughout.
    let auth = SharedAuth::new(&LocalNode::new(NodeIdentity::from_seed([41; 32]), NET.id()));
    let mut good = PeerConnection::connect(&auth, addr, &ConnectionConfig::default()).await.unwrap();
    let mut sockets = Vec::new();
    for _ in 0..1000 {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            sockets.push(s);
        }
    }
    let limits = overlay_node::NodeConfig::default().limits();
    let metrics: BTreeMap<&str, u64> = node.metrics().await.unwrap().into_iter().collect();
    assert!(metrics["overlay.connection.pending"] <= (limits.max_inbound_pending + 2) as u64, "{metrics:?}");
    assert!(metrics["overlay.inbound.reject"] > 0, "excess sockets were refused at accept");
    // The authenticated peer is still served.
    for n in 0..20u8 {
        good.send(StellarMessage::GetScpQuorumset([n; 32].into())).await.unwrap();
    }
    let mut answers = 0;
    tokio::time::timeout(WAIT, async {
        while answers < 20 {
            match good.recv().await {
                Some(ConnectionEvent::Message { message: StellarMessage::DontHave(_), .. }) => answers += 1,
                Some(ConnectionEvent::Closed(r)) => panic!("dropped: {r}"),
                None => panic!("ended"),
                _ => {}
            }
        }
    })
    .await
    .expect("answers arrived");
    drop(sockets);
    node.shutdown().await;
    let _: Option<NodeId> = None;
}
