//! A listening node fed garbage, oversized frames, bad MACs, replays, the wrong network and
//! silence: each such connection is dropped with the right ERROR (or silently, where the
//! spec sends none), and the node keeps serving a well-behaved connection throughout.

mod common;

use common::{RawClient, WAIT, local_auth, the_error};
use overlay_auth::NodeIdentity;
use overlay_auth::cert::make_cert;
use overlay_node::PeerConfig;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::frame::encode_unauthenticated;
use overlay_proto::xdr::{ErrorCode, Hash, MessageType, StellarMessage};
use overlay_proto::{Network, NodeId};
use overlay_tokio::{
    ConnectionConfig, ConnectionEvent, LocalNode, OverlayConfig, OverlayEvent as NodeEvent, OverlayManager,
    PeerConnection, SharedAuth,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::broadcast;

const NET: Network = Network::Standalone;

struct Harness {
    _node: OverlayManager,
    events: broadcast::Receiver<NodeEvent>,
    addr: SocketAddr,
    good: PeerConnection,
    good_id: NodeId,
}

impl Harness {
    async fn start() -> Self {
        // Short timers so that the silence case needs no long wait; the rule is the same.
        let peer = PeerConfig { recurrent_timer_period: Duration::from_millis(200), ..PeerConfig::default() };
        let config = OverlayConfig {
            listen_ip: [127, 0, 0, 1].into(),
            listen_port: 0,
            auth_timeout_secs: 1,
            peer,
            ..OverlayConfig::default()
        };
        let local = LocalNode::new(NodeIdentity::from_seed([1; 32]), NET.id());
        let node = OverlayManager::new(config, local).unwrap();
        let events = node.events();
        node.start().await.unwrap();
        let addr = node.local_addr().unwrap();
        let auth = SharedAuth::new(&LocalNode::new(NodeIdentity::from_seed([2; 32]), NET.id()));
        let good = PeerConnection::connect(&auth, addr, &ConnectionConfig::default()).await.unwrap();
        let good_id = auth.node_id();
        let mut h = Harness { _node: node, events, addr, good, good_id };
        h.expect(|e| matches!(e, NodeEvent::Connected { remote, .. } if remote.node_id == good_id)).await;
        h
    }

    /// Wait for a node event matching `pred`; events in between are skipped.
    async fn expect(&mut self, pred: impl Fn(&NodeEvent) -> bool) -> NodeEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                let e = self.events.recv().await.expect("node running");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("the expected event came in time")
    }

    async fn expect_disconnect(&mut self, reason: &str) {
        let r = reason.to_string();
        self.expect(move |e| matches!(e, NodeEvent::Disconnected { reason, .. } if *reason == r)).await;
    }

    /// The well-behaved connection still works both ways.
    async fn good_still_served(&mut self, n: u64) {
        self.good.send(transaction_message(n)).await.unwrap();
        let id = self.good_id;
        self.expect(move |e| {
            matches!(e, NodeEvent::Message { peer, message_type: MessageType::Transaction, .. } if *peer == id)
        })
        .await;
        self.good.send(StellarMessage::GetScpQuorumset([n as u8; 32].into())).await.unwrap();
        let reply = tokio::time::timeout(WAIT, async {
            loop {
                match self.good.recv().await {
                    Some(ConnectionEvent::Message { message: StellarMessage::DontHave(d), .. }) => return d,
                    Some(ConnectionEvent::Closed(r)) => panic!("good connection dropped: {r}"),
                    None => panic!("good connection ended"),
                    _ => {}
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(reply.type_, MessageType::ScpQuorumset);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dropped_without_reply() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    c.send_raw(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await;
    assert!(c.read_until_closed().await.is_empty(), "no ERROR for a bad frame header");
    h.expect_disconnect("error during read").await;
    h.good_still_served(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_over_the_unauthenticated_limit_is_dropped_without_reply() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    c.send_raw(&(0x8000_0000u32 | 4097).to_be_bytes()).await;
    c.send_raw(&vec![0u8; 4097]).await;
    assert!(c.read_until_closed().await.is_empty());
    h.expect_disconnect("error during read").await;
    h.good_still_served(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_xdr_gets_err_data() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    let mut body = vec![0u8; 48];
    body[12..16].copy_from_slice(&77i32.to_be_bytes()); // unknown message type
    let mut frame = (0x8000_0000u32 | 48).to_be_bytes().to_vec();
    frame.extend(body);
    c.send_raw(&frame).await;
    let got = c.read_until_closed().await;
    assert_eq!(the_error(&got), Some((ErrorCode::Data, "received corrupt XDR".into())));
    h.expect_disconnect("received corrupt XDR").await;
    h.good_still_served(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mac_gets_err_auth() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    c.handshake(&mut local_auth(10, NET.id())).await;
    let mut f = c.seal(&StellarMessage::GetScpState(5));
    let n = f.len();
    f[n - 1] ^= 0x01;
    c.send_raw(&f).await;
    let got = c.read_until_closed().await;
    assert_eq!(the_error(&got), Some((ErrorCode::Auth, "unexpected MAC".into())));
    h.expect_disconnect("unexpected MAC").await;
    h.good_still_served(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_sequence_gets_err_auth() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    c.handshake(&mut local_auth(11, NET.id())).await;
    let f = c.seal(&StellarMessage::GetScpState(5));
    c.send_raw(&f).await;
    c.send_raw(&f).await;
    let got = c.read_until_closed().await;
    assert_eq!(the_error(&got), Some((ErrorCode::Auth, "unexpected auth sequence".into())));
    h.expect_disconnect("unexpected auth sequence").await;
    h.good_still_served(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_network_is_refused() {
    let mut h = Harness::start().await;
    // A node of another network: its certificate does not verify here (the hash covers the
    // network id), so the drop is silent, before the acceptor sends anything (§3.3).
    let mut c = RawClient::connect(h.addr).await;
    let mut other = local_auth(12, Network::Testnet.id());
    let mut hs = other.initiate(common::UNIX(), [1; 32]);
    c.send_raw(&hs.poll_transmit().unwrap()).await;
    assert!(c.read_until_closed().await.is_empty());
    h.expect_disconnect("failed to verify auth cert").await;

    // A certificate valid here but a HELLO naming another network: HELLO, then ERR_CONF.
    let mut c = RawClient::connect(h.addr).await;
    let me = NodeIdentity::from_seed([13; 32]);
    let ecdh = overlay_auth::keys::EcdhKeypair::from_secret([14; 32]);
    let cert = make_cert(&me, &NET.id(), ecdh.public(), common::UNIX() + 3600);
    let mut hello = overlay_auth::HelloParams::default().build(&me.node_id(), &NET.id(), &cert, &[3; 32]);
    hello.network_id = Hash(Network::Testnet.id().0);
    let mut f = Vec::new();
    encode_unauthenticated(&StellarMessage::Hello(hello), &mut f).unwrap();
    c.send_raw(&f).await;
    let got = c.read_until_closed().await;
    assert!(matches!(got.first(), Some(StellarMessage::Hello(_))));
    assert_eq!(the_error(&got), Some((ErrorCode::Conf, "wrong network passphrase".into())));
    h.expect_disconnect("wrong network passphrase").await;
    h.good_still_served(6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_past_the_authentication_timeout_is_dropped() {
    let mut h = Harness::start().await;
    let mut c = RawClient::connect(h.addr).await;
    // Nothing sent: the idle rule with the authentication timeout drops it, silently.
    assert!(c.read_until_closed().await.is_empty());
    h.expect_disconnect("idle timeout").await;
    h.good_still_served(7).await;
}

/// Many half-open connections, each holding a partial frame at the limit, then silence:
/// all are dropped, the process's memory does not grow with them, and the good connection
/// is served all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_stalled_connections_leave_memory_bounded() {
    let mut h = Harness::start().await;
    let before = rss_kib();
    let mut clients = Vec::new();
    for _ in 0..200 {
        let mut c = RawClient::connect(h.addr).await;
        c.send_raw(&(0x8000_0000u32 | 4096).to_be_bytes()).await;
        c.send_raw(&[0u8; 4000]).await;
        clients.push(c);
    }
    h.good_still_served(8).await;
    for c in &mut clients {
        assert!(c.read_until_closed().await.is_empty());
    }
    let after = rss_kib();
    // 200 connections × (a 64 KiB read buffer + a 4 KiB partial frame) would be ~14 MiB if
    // nothing were freed; allow a generous margin for allocator caching, far below a leak.
    assert!(after.saturating_sub(before) < 64 * 1024, "RSS grew from {before} KiB to {after} KiB");
    h.good_still_served(9).await;
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
