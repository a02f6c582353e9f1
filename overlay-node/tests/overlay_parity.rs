//! Equivalents of stellar-core's OverlayTests and OverlayManagerTests cases (PROTOCOL.md §16),
//! run in memory on virtual time. Each test names the C++ case it mirrors.

use overlay_auth::HelloParams;
use overlay_node::harness::Harness;
use overlay_node::{AppInput, LedgerState, MemoryApp, NodeConfig, NodeEvent};
use overlay_proto::Network;
use overlay_proto::fixtures::{scp_message, transaction_message};
use overlay_proto::xdr::{MessageType, StellarMessage};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn nodes(configs: &[NodeConfig]) -> Harness {
    let mut h = Harness::new();
    for c in configs {
        h.add_node(c.clone());
    }
    h
}

fn default_pair() -> Harness {
    nodes(&[Harness::config(), Harness::config()])
}

fn received(h: &Harness, i: usize, t: MessageType) -> usize {
    h.events[i]
        .iter()
        .filter(|e| matches!(e, NodeEvent::Message { message, .. } if message.message_type() == t))
        .count()
}

// C++: OverlayTests "loopback peer hello"
#[test]
fn loopback_peer_hello() {
    let mut h = default_pair();
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(h.linked(0, 1));
    assert_eq!(h.nodes[0].connection_counts(), (0, 0, 0, 1));
    assert_eq!(h.nodes[1].connection_counts(), (0, 0, 1, 0));
}

// C++: OverlayTests "loopback peer with 0 port"
#[test]
fn loopback_peer_with_0_port() {
    let zero = NodeConfig { peer_port: 0, ..Harness::config() };
    let mut h = nodes(&[Harness::config(), zero]);
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    // The acceptor advertises port 0: the initiator refuses it and tells it why.
    assert!(h.drops(0).contains(&"bad address".to_string()), "{:?}", h.drops(0));
    assert!(h.drops(1).contains(&"ERR_CONF (bad address)".to_string()), "{:?}", h.drops(1));
}

// C++: OverlayTests "reject peers with differing network passphrases"
#[test]
fn reject_peers_with_differing_network_passphrases() {
    let mut h = Harness::new();
    h.add_node(Harness::config());
    let hello = HelloParams::default();
    h.add_node_with(Harness::config(), Network::Testnet.passphrase(), hello, Harness::seed(1));
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"failed to verify auth cert".to_string()), "{:?}", h.drops(1));
}

// C++: OverlayTests "reject peers with the same nodeid" / "inbound" and "outbound"
#[test]
fn reject_peers_with_the_same_nodeid() {
    let mut h = Harness::new();
    h.add_node(Harness::config());
    let seed0 = Harness::seed(0);
    h.add_node_with(Harness::config(), Network::Standalone.passphrase(), HelloParams::default(), seed0);
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"connecting to self".to_string()), "{:?}", h.drops(1));
    assert!(h.drops(0).iter().any(|d| d.contains("connecting to self")), "{:?}", h.drops(0));
}

// C++: OverlayTests "reject peers with incompatible overlay versions" / "cfg2 above"
#[test]
fn reject_peers_with_incompatible_overlay_versions() {
    let mut h = Harness::new();
    h.add_node(Harness::config());
    let hello = HelloParams { overlay_min_version: 43, overlay_version: 44, ..HelloParams::default() };
    h.add_node_with(Harness::config(), Network::Standalone.passphrase(), hello, Harness::seed(1));
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"wrong protocol version".to_string()), "{:?}", h.drops(1));
}

// C++: OverlayTests "reject banned peers"
#[test]
fn reject_banned_peers() {
    let mut h = default_pair();
    let banned = h.nodes[1].node_id();
    h.nodes[0].ban(banned).unwrap();
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(0).contains(&"node is banned".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "reject non preferred peer" / "inbound"
#[test]
fn reject_non_preferred_peer_inbound() {
    let strict = NodeConfig { preferred_peers_only: true, ..Harness::config() };
    let mut h = nodes(&[Harness::config(), strict]);
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"peer rejected".to_string()), "{:?}", h.drops(1));
    assert!(h.drops(0).contains(&"ERR_LOAD (peer rejected)".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "reject non preferred peer" / "outbound"
#[test]
fn reject_non_preferred_peer_outbound() {
    let strict = NodeConfig { preferred_peers_only: true, ..Harness::config() };
    let mut h = nodes(&[strict, Harness::config()]);
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(!h.linked(0, 1));
    assert!(h.drops(0).contains(&"peer rejected".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "accept preferred peer even when strict" (PREFERRED_PEER_KEYS)
#[test]
fn accept_preferred_peer_even_when_strict() {
    let mut strict = NodeConfig { preferred_peers_only: true, ..Harness::config() };
    strict.preferred_peer_keys.insert(Harness::node_id(0));
    let mut h = nodes(&[Harness::config(), strict]);
    h.connect(0, 1);
    h.run_for(secs(5));
    assert!(h.linked(0, 1));
}

// C++: OverlayTests "reject peers beyond max" / "inbound"
#[test]
fn reject_peers_beyond_max_inbound() {
    let one_in = NodeConfig { max_additional_peer_connections: Some(1), ..Harness::config() };
    let mut h = nodes(&[one_in, Harness::config(), Harness::config()]);
    h.connect(1, 0);
    h.run_for(secs(2));
    h.connect(2, 0);
    h.run_for(secs(5));
    assert!(h.linked(0, 1));
    assert!(!h.linked(0, 2));
    assert!(h.drops(0).contains(&"peer rejected".to_string()));
}

// C++: OverlayTests "reject peers beyond max" / "outbound"
#[test]
fn reject_peers_beyond_max_outbound() {
    let one_out = NodeConfig { target_peer_connections: 1, ..Harness::config() };
    let mut h = nodes(&[one_out, Harness::config(), Harness::config()]);
    h.connect(0, 1);
    h.run_for(secs(2));
    h.connect(0, 2);
    h.run_for(secs(5));
    assert!(h.linked(0, 1));
    assert!(!h.linked(0, 2));
    assert!(h.drops(0).contains(&"peer rejected".to_string()));
}

// C++: OverlayTests "reject peers beyond max - preferred peer wins" / "preferred connects
// second" / "inbound"
#[test]
fn preferred_peer_evicts_a_non_preferred_one() {
    let mut cfg = NodeConfig { max_additional_peer_connections: Some(1), ..Harness::config() };
    cfg.preferred_peer_keys.insert(Harness::node_id(2));
    let mut h = nodes(&[cfg, Harness::config(), Harness::config()]);
    h.connect(1, 0);
    h.run_for(secs(2));
    assert!(h.linked(0, 1));
    h.connect(2, 0);
    h.run_for(secs(5));
    assert!(h.linked(0, 2));
    assert!(!h.linked(0, 1));
    assert!(h.drops(0).contains(&"preferred peer selected instead".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "reject peers beyond max - preferred peer wins" / "preferred connects
// first" / "inbound"
#[test]
fn preferred_peer_first_then_others_rejected() {
    let mut cfg = NodeConfig { max_additional_peer_connections: Some(1), ..Harness::config() };
    cfg.preferred_peer_keys.insert(Harness::node_id(2));
    let mut h = nodes(&[cfg, Harness::config(), Harness::config()]);
    h.connect(2, 0);
    h.run_for(secs(2));
    h.connect(1, 0);
    h.run_for(secs(5));
    assert!(h.linked(0, 2));
    assert!(!h.linked(0, 1));
    assert!(h.drops(0).contains(&"peer rejected".to_string()));
}

// C++: OverlayTests "reject peers who dont handshake quickly" / "2 seconds timeout"
#[test]
fn reject_peers_who_dont_handshake_quickly() {
    let mut h = default_pair();
    let conn = h.nodes[0].connect(h.now, Harness::address(1)).unwrap();
    h.corked.insert((0, conn)); // the initiator's HELLO is never delivered
    h.pump();
    h.run_for(secs(12));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"idle timeout".to_string()), "{:?}", h.drops(1));
    assert!(h.drops(0).contains(&"idle timeout".to_string()), "{:?}", h.drops(0));
    assert!(h.nodes[1].counters().timeout_idle >= 1);
}

// C++: OverlayTests "allow inbound pending peers up to max"
#[test]
fn allow_inbound_pending_peers_up_to_max() {
    let cfg = NodeConfig { max_pending_connections: 4, target_peer_connections: 8, ..Harness::config() };
    // 4 pending total split in proportion: the inbound share is what is tested.
    let max_in = cfg.limits().max_inbound_pending;
    let mut configs = vec![cfg];
    configs.extend((0..=max_in).map(|_| Harness::config()));
    let mut h = nodes(&configs);
    for i in 1..=max_in + 1 {
        let conn = h.nodes[i].connect(h.now, Harness::address(0)).unwrap();
        h.corked.insert((i, conn));
    }
    h.pump();
    let (pending_in, ..) = h.nodes[0].connection_counts();
    assert_eq!(pending_in, max_in, "the extra connection was refused at accept");
    assert_eq!(h.nodes[0].counters().inbound_reject, 1);
    h.run_for(secs(12));
    assert_eq!(h.nodes[0].connection_counts().0, 0, "corked ones time out");
}

// C++: OverlayTests "allow outbound pending peers up to max"
#[test]
fn allow_outbound_pending_peers_up_to_max() {
    let cfg = NodeConfig { max_pending_connections: 3, ..Harness::config() };
    let max_out = cfg.limits().max_outbound_pending;
    let mut h = nodes(&[cfg]);
    for k in 0..max_out {
        h.nodes[0].connect(h.now, format!("10.9.9.{}:11625", k + 1).parse().unwrap()).unwrap();
    }
    let extra = h.nodes[0].connect(h.now, "10.9.9.200:11625".parse().unwrap());
    assert_eq!(extra, Err(overlay_node::NodeError::NoSlot));
}

// C++: OverlayTests "GET_SCP_STATE rate limiting": 10 processed per window, extra ignored,
// peers stay connected, window reset after it passes.
#[test]
fn get_scp_state_rate_limiting() {
    let mut h = default_pair();
    h.connect(0, 1);
    h.run_for(secs(2));
    let peer1 = h.nodes[1].node_id();
    // Node 1 has SCP state to send: one envelope.
    let env = scp_message(peer1, 5, 1);
    h.nodes[1].broadcast(h.now, env).unwrap();
    h.run_for(secs(1));
    let before = received(&h, 0, MessageType::ScpMessage);
    let now = h.now;
    for _ in 0..15 {
        h.nodes[0].send_to(now, peer1, &StellarMessage::GetScpState(1)).unwrap();
    }
    h.run_for(secs(1));
    // The first GET_SCP_STATE of the handshake counted too: 10 answered in the window.
    let answered = received(&h, 0, MessageType::ScpMessage) - before;
    assert_eq!(answered, 9, "10 per window, one used at connection");
    assert!(h.linked(0, 1));
    h.run_for(secs(61));
    h.nodes[0].send_to(h.now, peer1, &StellarMessage::GetScpState(1)).unwrap();
    h.run_for(secs(1));
    assert_eq!(received(&h, 0, MessageType::ScpMessage) - before, 10, "window reset");
}

// C++: OverlayManagerTests "broadcast() broadcasts": a transaction is advertised to every
// peer that did not send it; a re-broadcast is a no-op; a new one goes to all.
#[test]
fn broadcast_broadcasts() {
    let mut h = nodes(&vec![Harness::config(); 6]);
    for i in 1..6 {
        h.connect(0, i);
    }
    h.run_for(secs(3));
    let now = h.now;
    // Node 1 sends tx 1 to node 0 directly.
    let id0 = h.nodes[0].node_id();
    h.nodes[1].send_to(now, id0, &transaction_message(1)).unwrap();
    h.run_for(secs(1));
    for i in 2..6 {
        assert!(received(&h, i, MessageType::FloodAdvert) >= 1, "node {i} got the advert");
    }
    assert_eq!(received(&h, 1, MessageType::FloodAdvert), 0, "not advertised back to its sender");
    let told = h.nodes[0].broadcast(h.now, transaction_message(1)).unwrap();
    assert_eq!(told, 0, "re-broadcast tells nobody");
    let told = h.nodes[0].broadcast(h.now, transaction_message(2)).unwrap();
    assert_eq!(told, 5);
}

// C++: OverlayTests "flow control when out of sync": an out-of-sync node ignores
// transactions but is not dropped, and keeps granting capacity.
#[test]
fn flow_control_when_out_of_sync() {
    let mut h = default_pair();
    h.app_input(1, AppInput::Ledger(LedgerState { synced: false, ..LedgerState::GENESIS }));
    h.connect(0, 1);
    h.run_for(secs(2));
    let id1 = h.nodes[1].node_id();
    for n in 0..500 {
        let now = h.now;
        h.nodes[0].send_to(now, id1, &transaction_message(n)).unwrap();
        if n % 50 == 0 {
            h.run_for(Duration::from_millis(100));
        }
    }
    h.run_for(secs(5));
    assert!(h.linked(0, 1));
    assert_eq!(h.app::<MemoryApp>(1).transaction_count(), 0);
    assert_eq!(h.nodes[1].sizes().transactions, 0);
    assert_eq!(received(&h, 1, MessageType::Transaction), 500);
}

// C++: OverlayTests "peers during auth" / "inbound": an initiator that sends PEERS is dropped.
#[test]
fn peers_from_the_initiator_are_refused() {
    let mut h = default_pair();
    h.connect(0, 1);
    h.run_for(secs(2));
    let id1 = h.nodes[1].node_id();
    let peers = StellarMessage::Peers(vec![].try_into().unwrap());
    h.nodes[0].send_to(h.now, id1, &peers).unwrap();
    h.run_for(secs(1));
    assert!(!h.linked(0, 1));
    assert!(h.drops(1).contains(&"received PEERS".to_string()), "{:?}", h.drops(1));
}

// C++: FloodTests "scp messages flooding" / "core" (4-node mesh): an SCP message reaches
// every node once, by push.
#[test]
fn scp_messages_flood_to_every_node() {
    let mut h = nodes(&vec![Harness::config(); 4]);
    for a in 0..4 {
        for b in a + 1..4 {
            h.connect(a, b);
        }
    }
    h.run_for(secs(3));
    let id0 = h.nodes[0].node_id();
    h.nodes[0].broadcast(h.now, scp_message(id0, 10, 1)).unwrap();
    h.run_for(secs(2));
    for i in 1..4 {
        let n = received(&h, i, MessageType::ScpMessage);
        assert!((1..=3).contains(&n), "node {i} received {n}");
    }
}

// §11.7 / §4.2 "shutdown": every peer is dropped with ERR_MISC "shutdown".
#[test]
fn shutdown_drops_every_peer_with_err_misc() {
    let mut h = nodes(&[Harness::config(), Harness::config(), Harness::config()]);
    h.connect(0, 1);
    h.connect(2, 0);
    h.run_for(secs(2));
    h.nodes[0].shutdown(h.now);
    h.run_for(secs(1));
    assert_eq!(h.drops(0), vec!["shutdown".to_string(), "shutdown".to_string()]);
    for i in [1, 2] {
        assert!(h.drops(i).contains(&"ERR_MISC (shutdown)".to_string()), "{:?}", h.drops(i));
    }
    assert!(h.nodes[0].is_shut_down());
}

// §4.2 "dropped by user" and a ban that keeps the peer out afterwards.
#[test]
fn dropped_by_user_then_banned() {
    let mut h = default_pair();
    h.connect(0, 1);
    h.run_for(secs(2));
    let id1 = h.nodes[1].node_id();
    h.nodes[0].ban_and_drop(h.now, id1).unwrap();
    h.run_for(secs(1));
    assert!(h.drops(1).contains(&"ERR_MISC (dropped by user)".to_string()), "{:?}", h.drops(1));
    h.connect(1, 0);
    h.run_for(secs(2));
    assert!(!h.linked(0, 1));
    assert!(h.drops(0).contains(&"node is banned".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "peers during auth" / "outbound": a second PEERS from the acceptor.
#[test]
fn a_second_peers_message_is_refused() {
    let mut h = default_pair();
    h.connect(0, 1);
    h.run_for(secs(2));
    let id0 = h.nodes[0].node_id();
    let peers = StellarMessage::Peers(vec![].try_into().unwrap());
    // The first PEERS was not sent (node 1 knew no peer), so send two.
    h.nodes[1].send_to(h.now, id0, &peers).unwrap();
    h.nodes[1].send_to(h.now, id0, &peers).unwrap();
    h.run_for(secs(1));
    assert!(h.drops(0).contains(&"too many msgs PEERS".to_string()), "{:?}", h.drops(0));
}

// §4.2 "unable to connect: …".
#[test]
fn unable_to_connect() {
    let mut h = nodes(&[Harness::config()]);
    h.nodes[0].connect(h.now, "10.200.0.1:11625".parse().unwrap()).unwrap();
    h.pump();
    assert!(h.drops(0).iter().any(|d| d.starts_with("unable to connect")), "{:?}", h.drops(0));
    assert_eq!(h.nodes[0].counters().outbound_cancel, 1);
}

// C++: OverlayTests "drop peers who straggle": a peer that stops reading is dropped by the
// straggler rule (our writes wait), not the idle rule.
#[test]
fn drop_peers_who_straggle() {
    let mut h = default_pair();
    let conn = h.connect(0, 1);
    h.run_for(secs(2));
    // Node 1 stops reading: node 0's bytes are never delivered, but node 1 keeps writing
    // (so node 0 is not idle), while node 0's flood queue waits for credit.
    h.corked.insert((0, conn));
    let id1 = h.nodes[1].node_id();
    for n in 0..300 {
        let now = h.now;
        let _ = h.nodes[0].send_to(now, id1, &transaction_message(n));
    }
    let id0 = h.nodes[0].node_id();
    for _ in 0..40 {
        let now = h.now;
        let _ = h.nodes[1].send_to(now, id0, &StellarMessage::GetScpState(1));
        h.run_for(secs(5));
    }
    let drops = h.drops(0);
    assert!(
        drops.iter().any(|d| d == "straggling (cannot keep up)" || d == "idle timeout (no new flood requests)"),
        "{drops:?}"
    );
}

// C++: OverlayTests "disconnected topology recovery" / "regular peers": an out-of-sync node
// with full outbound slots drops a random outbound peer after 60 s.
#[test]
fn random_disconnect_due_to_out_of_sync() {
    let cfg = NodeConfig { target_peer_connections: 1, run_standalone: false, ..Harness::config() };
    let mut h = nodes(&[cfg, Harness::config()]);
    h.app_input(0, AppInput::Ledger(LedgerState { synced: false, ..LedgerState::GENESIS }));
    h.connect(0, 1);
    h.run_for(secs(2));
    assert!(h.linked(0, 1));
    h.run_for(secs(90));
    assert!(h.drops(0).contains(&"random disconnect due to out of sync".to_string()), "{:?}", h.drops(0));
}

// C++: OverlayTests "allow inbound pending peers over max if possibly preferred": with the
// pending inbound slots full, a connection from the IP of a configured preferred address
// still gets one of the two extra slots.
#[test]
fn allow_inbound_pending_peers_over_max_if_possibly_preferred() {
    let mut cfg = NodeConfig { max_pending_connections: 4, ..Harness::config() };
    let max_in = cfg.limits().max_inbound_pending;
    // Node max_in+1 is "possibly preferred": its IP is a preferred address's.
    cfg.preferred_peers.push(Harness::address(max_in + 1));
    let mut configs = vec![cfg];
    configs.extend((0..=max_in).map(|_| Harness::config()));
    let mut h = nodes(&configs);
    for i in 1..=max_in + 1 {
        let conn = h.nodes[i].connect(h.now, Harness::address(0)).unwrap();
        h.corked.insert((i, conn));
    }
    h.pump();
    assert_eq!(h.nodes[0].connection_counts().0, max_in + 1, "the possibly preferred one got an extra slot");
    assert_eq!(h.nodes[0].counters().inbound_reject, 0);
}

// C++: OverlayTests "disconnected topology recovery" / "preferred peers": a preferred-only
// node never rotates its peers while out of sync.
#[test]
fn preferred_peers_are_never_rotated_out_of_sync() {
    let mut cfg = NodeConfig { target_peer_connections: 1, run_standalone: false, ..Harness::config() };
    cfg.preferred_peers.push(Harness::address(1));
    let mut h = nodes(&[cfg, Harness::config()]);
    h.app_input(0, AppInput::Ledger(LedgerState { synced: false, ..LedgerState::GENESIS }));
    h.connect(0, 1);
    h.run_for(secs(2));
    assert!(h.linked(0, 1));
    h.run_for(secs(200));
    assert!(h.linked(0, 1));
    assert!(!h.drops(0).contains(&"random disconnect due to out of sync".to_string()));
}

// C++: OverlayTests "connecting to saturated nodes": a head with one inbound slot and nodes
// with one outbound and one inbound slot each join one by one from known peers; everybody
// gets connected (the tick, backoff and retries find the free slots).
#[test]
fn connecting_to_saturated_nodes() {
    let one_each = |known: Vec<overlay_proto::PeerAddress>| NodeConfig {
        target_peer_connections: 1,
        max_additional_peer_connections: Some(1),
        run_standalone: false,
        known_peers: known,
        ..Harness::config()
    };
    let head = NodeConfig { target_peer_connections: 0, ..one_each(vec![]) };
    let mut h = nodes(&[head]);
    let all: Vec<_> = (0..4).map(Harness::address).collect();
    for _ in 1..4 {
        h.add_node(one_each(all.clone()));
        h.run_for(secs(60));
    }
    let degrees: Vec<usize> = (0..4).map(|i| h.nodes[i].authenticated_peers().count()).collect();
    assert!(degrees.iter().all(|&d| d >= 1), "every node is connected: {degrees:?}");
    assert!(degrees.iter().sum::<usize>() >= 6, "{degrees:?}");
}

// C++: OverlayTests "overlay flow control" / "tx batches": tiny flood capacities (stellar-core's
// test configuration: 20 messages, batches of 10) still flood 200 transactions to every node
// with no demand timing out.
#[test]
fn overlay_flow_control_with_tiny_capacities() {
    let mut cfg = Harness::config();
    cfg.peer.flow.peer_flood_reading_capacity_msgs = 20;
    cfg.peer.flow.peer_reading_capacity_msgs = 21;
    cfg.peer.flow.send_more_batch_msgs = 10;
    let mut h = nodes(&vec![cfg; 4]);
    for a in 0..4 {
        for b in a + 1..4 {
            h.connect(a, b);
        }
    }
    h.run_for(secs(3));
    for n in 0..200 {
        let now = h.now;
        h.nodes[(n % 4) as usize].broadcast(now, transaction_message(n)).unwrap();
        h.run_for(Duration::from_millis(50));
    }
    h.run_for(secs(30));
    for i in 0..4 {
        assert_eq!(h.nodes[i].sizes().transactions, 200, "node {i}");
        let m: std::collections::BTreeMap<_, _> = h.nodes[i].metrics().into_iter().collect();
        assert!(m["overlay.flood.demanded"] >= 150, "node {i} pulled by demands");
        let d = h.nodes[i].pull_mode().demand_metrics();
        assert_eq!((d.timeouts, d.abandoned), (0, 0), "node {i}: no demand timed out");
    }
    assert!(h.violations.is_empty());
}
