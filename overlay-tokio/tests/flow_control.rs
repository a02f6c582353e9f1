//! Flow control on real loopback connections (PROTOCOL.md §6).
//!
//! 1. A fast sender against a reader that grants slowly: the sender's queues stay within
//!    their bounds, shedding follows the spec, and the reader never receives more flood
//!    messages than it granted, with every MAC and sequence correct.
//! 2. A peer that sends 1,000 transactions in a row to a node gets them all through as the
//!    node re-grants capacity.

mod common;

use common::{WAIT, local_auth};
use overlay_auth::OpenPolicy;
use overlay_flow::LedgerLimits;
use overlay_node::{Peer, PeerConfig, PeerEvent};
use overlay_proto::fixtures::transaction_message;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{MessageType, SendMoreExtended, StellarMessage};
use overlay_proto::{MessageClass, Network, PeerAddress, Priority};
use overlay_tokio::clock::{now, unix_now};
use overlay_tokio::{
    ConnectionConfig, LocalNode, OverlayConfig, OverlayEvent as NodeEvent, OverlayManager, PeerConnection, SharedAuth,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NET: Network = Network::Standalone;
const SENT: u64 = 3_000;
const GRANT_MSGS: u32 = 20;

/// The slow reader: accepts, handshakes, grants 20 messages at a time, and checks that it
/// never receives more flood messages than it granted.
async fn slow_reader(listener: TcpListener) -> (u64, u64) {
    let (stream, _) = listener.accept().await.unwrap();
    let mut auth = local_auth(50, NET.id());
    let mut hs = auth.accept(unix_now(), [9; 32]);
    let (mut rd, mut wr) = stream.into_split();
    let mut dec = FrameDecoder::new();
    let mut buf = vec![0u8; 65536];
    let mut channel = None;
    while channel.is_none() {
        let n = rd.read(&mut buf).await.unwrap();
        assert!(n > 0);
        dec.feed(&buf[..n]);
        while let Some(body) = dec.next_frame().unwrap() {
            if let overlay_auth::Progress::Established(e) = hs.handle_frame(body, unix_now(), &OpenPolicy).unwrap() {
                channel = Some(e.channel);
            }
        }
        while let Some(f) = hs.poll_transmit() {
            wr.write_all(&f).await.unwrap();
        }
    }
    dec.set_authenticated();
    let mut ch = channel.unwrap();
    let grant = |m: u32| StellarMessage::SendMoreExtended(SendMoreExtended { num_messages: m, num_bytes: 1_000_000 });
    let mut f = Vec::new();
    ch.seal(&grant(GRANT_MSGS), &mut f).unwrap();
    wr.write_all(&f).await.unwrap();
    let (mut granted, mut received) = (u64::from(GRANT_MSGS), 0u64);
    let mut tx_seen = 0u64;
    let mut since_grant = 0u32;
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(2), rd.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break, // the sender is done (or gave up): quiet for 2 s
        };
        dec.feed(&buf[..n]);
        while let Some(body) = dec.next_frame().unwrap() {
            let raw = RawMessage::parse(body).unwrap();
            ch.open(&raw).expect("every MAC and sequence is right");
            let msg = raw.decode().unwrap();
            if msg.is_flood() {
                received += 1;
                assert!(received <= granted, "received {received} flood messages with {granted} granted");
                tx_seen += u64::from(msg.discriminant() == MessageType::Transaction);
                since_grant += 1;
            }
        }
        // Grant slowly: a batch back only after a pause.
        if since_grant >= GRANT_MSGS {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let mut f = Vec::new();
            ch.seal(&grant(since_grant), &mut f).unwrap();
            wr.write_all(&f).await.unwrap();
            granted += u64::from(since_grant);
            since_grant = 0;
        }
    }
    (tx_seen, granted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_sender_against_a_slow_granter_sheds_by_the_rules_and_never_overruns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = tokio::spawn(slow_reader(listener));

    // The sender: a Peer driven directly over the socket, so that the test can look into
    // its queues after every step.
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut auth = local_auth(51, NET.id());
    let ledger = LedgerLimits::default();
    let mut peer = Peer::new(
        auth.initiate(unix_now(), [3; 32]),
        PeerAddress::from_socket_addr(addr),
        Arc::new(PeerConfig::default()),
        ledger,
        now(),
        1,
    );
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; 65536];
    let mut sent = 0u64;
    let mut max_queued = 0usize;
    let limit = ledger.max_tx_set_size_ops as usize;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        while let Some(e) = peer.poll_event() {
            if let PeerEvent::Authenticated(_) = e {
                peer.admit(now(), None, 0);
            }
        }
        // Bursts of 50 transactions whenever authenticated, regardless of credit.
        if peer.is_authenticated() && sent < SENT {
            for _ in 0..50 {
                peer.send(now(), &transaction_message(sent)).unwrap();
                sent += 1;
            }
        }
        let q = peer.flow_stats().queues[Priority::Transaction.index()];
        max_queued = max_queued.max(q.len_msgs);
        assert!(q.len_msgs <= limit, "tx queue {} over its limit {limit}", q.len_msgs);
        while let Some(bytes) = peer.poll_transmit(now()) {
            wr.write_all(&bytes).await.unwrap();
        }
        if sent >= SENT && peer.flow_stats().queues[Priority::Transaction.index()].len_msgs == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "sender stuck");
        match tokio::time::timeout(Duration::from_millis(50), rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => panic!("the reader closed early"),
            Ok(Ok(n)) => peer.handle_bytes(now(), unix_now(), &buf[..n], &OpenPolicy),
            Err(_) => {}
        }
    }
    let stats = peer.flow_stats();
    let dropped = stats.queues[Priority::Transaction.index()].dropped_msgs_total;
    let sent_on_wire = stats.queues[Priority::Transaction.index()].sent_msgs_total;
    assert!(!peer.is_closed(), "no protocol rule was broken on either side");
    wr.shutdown().await.unwrap();
    let (tx_received, _granted) = reader.await.unwrap();
    // Shedding happened (the reader grants far slower than 50 per step) and was by the
    // spec's rule: whole queue discards, never past the limit, every transaction accounted.
    assert!(dropped > 0, "a slow granter makes the sender shed");
    assert_eq!(tx_received, sent_on_wire, "everything written arrived");
    assert_eq!(sent_on_wire + dropped, SENT, "every transaction was either written or shed");
    assert!(max_queued <= limit);
    peer.flow().check_invariants().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_transactions_in_a_row_all_reach_the_node() {
    let config = OverlayConfig { listen_ip: [127, 0, 0, 1].into(), listen_port: 0, ..OverlayConfig::default() };
    let node = OverlayManager::new(config, LocalNode::generate(NET.id())).unwrap();
    let mut events = node.events();
    node.start().await.unwrap();
    let addr = node.local_addr().unwrap();
    let auth = SharedAuth::new(&LocalNode::generate(NET.id()));
    let conn = PeerConnection::connect(&auth, addr, &ConnectionConfig::default()).await.unwrap();
    for n in 0..1000 {
        conn.send(transaction_message(n)).await.unwrap();
    }
    let mut txs = 0;
    let mut grants = 0;
    tokio::time::timeout(WAIT, async {
        while txs < 1000 {
            match events.recv().await.unwrap() {
                NodeEvent::Message { message_type: MessageType::Transaction, .. } => txs += 1,
                NodeEvent::Disconnected { reason, .. } => panic!("dropped: {reason}"),
                _ => {}
            }
        }
    })
    .await
    .expect("all 1000 transactions arrived");
    // The node granted capacity back as it processed: 200 initially, then batches of 40.
    let mut conn = conn;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), conn.recv()).await {
        if let overlay_tokio::ConnectionEvent::Handled { message_type: MessageType::SendMoreExtended, .. } = ev {
            grants += 1;
        }
    }
    // The initial grant, then one per batch of 40 processed beyond the first 200.
    assert!(grants > (1000 - 200) / 40, "grants seen: {grants}");
}
