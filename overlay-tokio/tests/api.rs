//! Each point of the public API a validator drives (issue 11), on 127.0.0.1: subscriptions
//! before start, `connect` resolving to a NodeId or a typed error, connection messages
//! refused, shutdown through any clone, a lagging subscriber told and kept, an outside
//! application driving the node through deliveries and verdicts, and a slow peer database
//! and a slow application that never hold up the node.

mod common;

use common::WAIT;
use overlay_auth::NodeIdentity;
use overlay_node::app::{AppInput, Application, Delivery, ScpVerdict, TxVerdict};
use overlay_node::discovery::{MemoryStore, PeerQuery, PeerRecord, PeerStore, StoreError};
use overlay_node::{DropReason, LedgerState, NodeError};
use overlay_proto::fixtures::{scp_message, transaction_message};
use overlay_proto::xdr::{ErrorCode, MessageType, StellarMessage, Uint256};
use overlay_proto::{Network, NodeId, PeerAddress, Timestamp};
use overlay_tokio::{
    ConnectError, ConnectionConfig, ConnectionEvent, LocalNode, OverlayConfig, OverlayError, OverlayEvent,
    OverlayManager, PeerConnection, SharedAuth,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

const NET: Network = Network::Standalone;

fn config() -> OverlayConfig {
    OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        allow_localhost_for_testing: true,
        run_standalone: true,
        auth_timeout_secs: 1,
        ..OverlayConfig::default()
    }
}

fn local(seed: u8) -> LocalNode {
    LocalNode::new(NodeIdentity::from_seed([seed; 32]), NET.id())
}

async fn started(seed: u8, config: OverlayConfig) -> OverlayManager {
    let m = OverlayManager::new(config, local(seed)).unwrap();
    m.start().await.unwrap();
    m
}

async fn client(seed: u8, to: SocketAddr) -> PeerConnection {
    let auth = SharedAuth::new(&local(seed));
    PeerConnection::connect(&auth, to, &ConnectionConfig::default()).await.unwrap()
}

/// The next event matching `pred` (others skipped).
async fn expect<T>(
    events: &mut broadcast::Receiver<OverlayEvent>,
    mut pred: impl FnMut(&OverlayEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pred(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("the event came in time")
}

/// The next message from `conn` matching `pred`.
async fn reply<T>(conn: &mut PeerConnection, mut pred: impl FnMut(&StellarMessage) -> Option<T>) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match conn.recv().await {
                Some(ConnectionEvent::Message { message, .. }) => {
                    if let Some(t) = pred(&message) {
                        return t;
                    }
                }
                Some(ConnectionEvent::Closed(r)) => panic!("dropped: {r}"),
                None => panic!("ended"),
                _ => {}
            }
        }
    })
    .await
    .expect("the reply came in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_taken_before_start_sees_the_first_messages() {
    let m = OverlayManager::new(config(), local(1)).unwrap();
    let mut sub = m.subscribe();
    m.start().await.unwrap();
    let c = client(2, m.local_addr().unwrap()).await;
    c.send(StellarMessage::GetScpQuorumset(Uint256([5; 32]))).await.unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            let msg = sub.recv().await.unwrap();
            if msg.message.discriminant() == MessageType::GetScpQuorumset {
                return msg;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got.from_peer, local(2).node_id());
    assert!(got.first_seen);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_resolves_to_the_node_id_or_a_typed_error() {
    let a = started(10, config()).await;
    let b = started(11, config()).await;
    let a_addr = PeerAddress::from(a.local_addr().unwrap());
    assert_eq!(b.connect(&a_addr).await.unwrap(), a.node_id(), "the NodeID once authenticated");

    // Nothing listens: refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = b.connect(&PeerAddress::from(closed)).await.unwrap_err();
    assert!(matches!(e, ConnectError::Refused), "{e}");

    // A listener that never speaks: the handshake times out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = PeerAddress::from(silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let e = b.connect(&silent_addr).await.unwrap_err();
    assert!(matches!(e, ConnectError::TimedOut), "{e}");
    hold.abort();

    // A node with no inbound slot: rejected with its ERROR.
    let full = started(12, OverlayConfig { max_inbound_peers: 0, ..config() }).await;
    let e = b.connect(&PeerAddress::from(full.local_addr().unwrap())).await.unwrap_err();
    assert!(matches!(&e, ConnectError::Rejected { code: ErrorCode::Load, .. }), "{e}");

    // Another network: the remote cannot verify our certificate and closes without a word
    // (§3.5 step 2).
    let other = OverlayManager::new(config(), LocalNode::new(NodeIdentity::from_seed([13; 32]), Network::Testnet.id()))
        .unwrap();
    other.start().await.unwrap();
    let e = b.connect(&PeerAddress::from(other.local_addr().unwrap())).await.unwrap_err();
    assert!(matches!(&e, ConnectError::Dropped(r) if r == "remote closed the connection"), "{e}");

    // Ourselves: the acceptor's HELLO names us (§3.5 step 9).
    let e = b.connect(&PeerAddress::from(b.local_addr().unwrap())).await.unwrap_err();
    assert!(matches!(&e, ConnectError::HandshakeFailed(r) if r == "connecting to self"), "{e}");

    // A peer we banned: our side ends the handshake (§3.5 step 3).
    let c = started(14, config()).await;
    b.ban_peer(c.node_id()).await.unwrap();
    let e = b.connect(&PeerAddress::from(c.local_addr().unwrap())).await.unwrap_err();
    assert!(matches!(&e, ConnectError::HandshakeFailed(r) if r == "node is banned"), "{e}");

    // A name that does not resolve.
    let e = b.connect(&PeerAddress::new("no-such-host.invalid", 11625)).await.unwrap_err();
    assert!(matches!(e, ConnectError::Unresolvable(_)), "{e}");
    for m in [a, b, full, other, c] {
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_messages_are_refused_with_a_typed_error() {
    let a = started(20, config()).await;
    let b = started(21, config()).await;
    let a_id = b.connect(&PeerAddress::from(a.local_addr().unwrap())).await.unwrap();
    let grant = StellarMessage::SendMoreExtended(overlay_proto::xdr::SendMoreExtended {
        num_messages: 1_000_000,
        num_bytes: 1 << 30,
    });
    let e = b.send_to(&a_id, grant.clone()).await.unwrap_err();
    assert!(matches!(e, OverlayError::Node(NodeError::ConnectionMessage(MessageType::SendMoreExtended))), "{e}");
    let e = b.broadcast(grant).await.unwrap_err();
    assert!(matches!(e, OverlayError::Node(NodeError::ConnectionMessage(_))), "{e}");
    let e = b.send_to(&a_id, StellarMessage::Hello(Default::default())).await.unwrap_err();
    assert!(matches!(e, OverlayError::Node(NodeError::ConnectionMessage(MessageType::Hello))), "{e}");
    let e = b.broadcast(StellarMessage::GetScpState(3)).await.unwrap_err();
    assert!(matches!(e, OverlayError::Node(NodeError::NotFlooded(MessageType::GetScpState))), "{e}");
    // Everything else goes through.
    b.send_to(&a_id, StellarMessage::GetScpState(3)).await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_clone_shuts_the_node_down_and_every_task_ends() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let a = started(30, config()).await;
    let keep = a.clone();
    let mut sub = a.subscribe();
    let b = started(31, config()).await;
    b.connect(&PeerAddress::from(a.local_addr().unwrap())).await.unwrap();
    assert!(metrics.num_alive_tasks() > baseline);
    let other = keep.clone();
    tokio::spawn(async move { other.shutdown().await }).await.unwrap();
    // The subscription ends; commands on any clone say the node is not running.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            if sub.recv().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the subscription ended at shutdown");
    assert!(matches!(keep.bans().await, Err(OverlayError::NotRunning)));
    assert!(keep.peer_infos().is_empty());
    a.shutdown().await; // a second shutdown returns at once
    b.shutdown().await;
    tokio::time::timeout(WAIT, async {
        while metrics.num_alive_tasks() != baseline {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every task ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_is_told_and_its_loop_goes_on() {
    let a = started(40, OverlayConfig { subscriber_capacity: 4, ..config() }).await;
    let mut events = a.events();
    let mut sub = a.subscribe();
    let mut c = client(41, a.local_addr().unwrap()).await;
    for n in 0..40u8 {
        c.send(StellarMessage::GetScpQuorumset(Uint256([n; 32]))).await.unwrap();
    }
    let missed = expect(&mut events, |e| match e {
        OverlayEvent::SubscriberLagged { missed } => Some(*missed),
        _ => None,
    })
    .await;
    assert!(missed >= 1);
    // Once the node has answered all 40 and then taken a command (so the turns that
    // published them have ended), the subscriber reads what its queue kept, the oldest, then
    // newer messages: never an error.
    for _ in 0..40 {
        reply(&mut c, |m| matches!(m, StellarMessage::DontHave(_)).then_some(())).await;
    }
    a.sizes().await.unwrap();
    // (The client's own GET_SCP_STATE at connection is among the oldest.)
    for _ in 0..4 {
        let m = sub.try_recv().expect("the queue kept its capacity's worth");
        let oldest = match &*m.message {
            StellarMessage::GetScpQuorumset(Uint256(h)) => h[0] < 4,
            other => matches!(other, StellarMessage::GetScpState(_)),
        };
        assert!(oldest, "the oldest are kept, not {:?}", m.message.name());
    }
    assert!(sub.try_recv().is_none(), "nothing beyond the capacity was kept");
    c.send(StellarMessage::GetScpQuorumset(Uint256([99; 32]))).await.unwrap();
    let later = tokio::time::timeout(WAIT, sub.recv()).await.expect("a newer message").expect("the loop goes on");
    assert_eq!(*later.message, StellarMessage::GetScpQuorumset(Uint256([99; 32])));
    assert!(sub.missed() >= missed);
    a.shutdown().await;
}

// An application outside the overlay: deliveries in, verdicts, items and ledgers out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_application_drives_the_node_through_deliveries_and_verdicts() {
    let (v, mut deliveries) = OverlayManager::builder(config(), local(50)).build_with_deliveries().unwrap();
    v.start().await.unwrap();
    let v_addr = v.local_addr().unwrap();
    let mut sender = client(51, v_addr).await;
    let mut watcher = client(52, v_addr).await;

    // A transaction is delivered once; accepted, it is advertised to the other peer, which
    // can pull it.
    sender.send(transaction_message(7)).await.unwrap();
    let Delivery::Transaction(t) = next(&mut deliveries).await else { panic!("a transaction") };
    v.tx_verdict(t.hash, TxVerdict::Accepted).await.unwrap();
    assert_eq!(v.sizes().await.unwrap().transactions, 1, "held to serve demands");
    let advert = reply(&mut watcher, |m| match m {
        StellarMessage::FloodAdvert(a) => Some(a.tx_hashes.0.to_vec()),
        _ => None,
    })
    .await;
    assert_eq!(advert, vec![overlay_proto::xdr::Hash(t.hash.0)]);
    let demand =
        overlay_proto::xdr::FloodDemand { tx_hashes: vec![overlay_proto::xdr::Hash(t.hash.0)].try_into().unwrap() };
    watcher.send(StellarMessage::FloodDemand(demand)).await.unwrap();
    reply(&mut watcher, |m| matches!(m, StellarMessage::Transaction(_)).then_some(())).await;

    // An SCP envelope waits for its verdict; ready, it goes to the other peer.
    let env = scp_message(local(51).node_id(), 9, 1);
    sender.send(env.clone()).await.unwrap();
    let Delivery::ScpEnvelope(e) = next(&mut deliveries).await else { panic!("an envelope") };
    v.scp_verdict(e.id, ScpVerdict::Ready).await.unwrap();
    reply(&mut watcher, |m| (*m == env).then_some(())).await;

    // Items held are served by hash.
    let set = overlay_proto::xdr::GeneralizedTransactionSet::V1(overlay_proto::xdr::TransactionSetV1 {
        previous_ledger_hash: overlay_proto::xdr::Hash([8; 32]),
        phases: vec![].try_into().unwrap(),
    });
    let (hash, _) = overlay_node::node::generalized_tx_set_hash(&set).unwrap();
    let set = StellarMessage::GeneralizedTxSet(set);
    v.hold_tx_set(set.clone()).await.unwrap();
    watcher.send(StellarMessage::GetTxSet(Uint256(hash.0))).await.unwrap();
    reply(&mut watcher, |m| (*m == set).then_some(())).await;
    let e = v.hold_tx_set(StellarMessage::GetScpState(1)).await.unwrap_err();
    assert!(matches!(e, OverlayError::Node(NodeError::NotATxSet(_))), "{e}");

    // Ledger closes and sync changes reach the node.
    let ledger = LedgerState { tracking_ledger: 77, ..LedgerState::relay() };
    v.ledger_closed(ledger).await.unwrap();
    assert_eq!(v.ledger().await.unwrap().tracking_ledger, 77);
    v.set_synced(false).await.unwrap();
    assert!(!v.ledger().await.unwrap().synced);
    // Out of sync, transactions are not delivered (§7).
    sender.send(transaction_message(8)).await.unwrap();
    sender.send(StellarMessage::GetScpQuorumset(Uint256([1; 32]))).await.unwrap();
    reply(&mut sender, |m| matches!(m, StellarMessage::DontHave(_)).then_some(())).await;
    // The accepted transaction was held at ledger 1: ledger 77 cleared it with its window.
    // (A command is also a barrier: the turns that took both messages have ended.)
    assert_eq!(v.sizes().await.unwrap().transactions, 0);
    assert!(deliveries.try_recv().is_none());
    v.shutdown().await;
    assert!(tokio::time::timeout(WAIT, deliveries.recv()).await.unwrap().is_none(), "deliveries end at shutdown");
}

/// Whether a slow call is in progress, and a signal when one starts.
#[derive(Clone, Default)]
struct Busy {
    now: Arc<AtomicBool>,
    started: Arc<tokio::sync::Notify>,
}

impl Busy {
    /// Run `f` after `d`, flagged busy throughout.
    fn during<T>(&self, d: Duration, f: impl FnOnce() -> T) -> T {
        self.now.store(true, Ordering::SeqCst);
        self.started.notify_one();
        std::thread::sleep(d);
        let r = f();
        self.now.store(false, Ordering::SeqCst);
        r
    }
}

async fn next(d: &mut overlay_tokio::Deliveries) -> Delivery {
    tokio::time::timeout(WAIT, d.recv()).await.unwrap().unwrap()
}

/// A peer database whose every write goes through `write` first: it may wait, or fail.
struct HookedStore<F: FnMut() -> Result<(), StoreError> + Send> {
    inner: MemoryStore,
    write: F,
}

impl<F: FnMut() -> Result<(), StoreError> + Send> PeerStore for HookedStore<F> {
    fn load(&self, a: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        self.inner.load(a)
    }
    fn insert(&mut self, r: &PeerRecord) -> Result<(), StoreError> {
        (self.write)()?;
        self.inner.insert(r)
    }
    fn update(&mut self, r: &PeerRecord) -> Result<(), StoreError> {
        (self.write)()?;
        self.inner.update(r)
    }
    fn delete(&mut self, a: &PeerAddress) -> Result<bool, StoreError> {
        (self.write)()?;
        self.inner.delete(a)
    }
    fn delete_with_min_failures(&mut self, n: u32) -> Result<u64, StoreError> {
        (self.write)()?;
        self.inner.delete_with_min_failures(n)
    }
    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, n: u32) -> Result<u64, StoreError> {
        (self.write)()?;
        self.inner.delete_ip_with_min_failures(ip, n)
    }
    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError> {
        (self.write)()?;
        self.inner.evict_one_inbound()
    }
    fn count(&self, q: &PeerQuery, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.count(q, now)
    }
    fn load_page(
        &self,
        q: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        self.inner.load_page(q, now, offset, limit)
    }
    fn ban(&mut self, n: &NodeId) -> Result<bool, StoreError> {
        (self.write)()?;
        self.inner.ban(n)
    }
    fn unban(&mut self, n: &NodeId) -> Result<bool, StoreError> {
        (self.write)()?;
        self.inner.unban(n)
    }
    fn is_banned(&self, n: &NodeId) -> Result<bool, StoreError> {
        self.inner.is_banned(n)
    }
    fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        self.inner.bans()
    }
}

/// Once a slow call has started, ask `conn`'s node a question: whether the answer came while
/// the call was still in progress.
async fn answered_while(conn: &mut PeerConnection, busy: &Busy) -> bool {
    tokio::time::timeout(WAIT, busy.started.notified()).await.expect("a slow call started");
    conn.send(StellarMessage::GetScpQuorumset(Uint256([0xab; 32]))).await.unwrap();
    reply(conn, |m| matches!(m, StellarMessage::DontHave(_)).then_some(())).await;
    busy.now.load(Ordering::SeqCst)
}

// Acceptance 2: a peer database that blocks 2 s on every call leaves the node serving its
// peers: requests are answered while a write is in progress, bans take effect at once,
// nothing is dropped; the writes land later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_blocks_two_seconds_never_holds_up_the_node() {
    let busy = Busy::default();
    let slow = busy.clone();
    // Every write takes 2 s.
    let store =
        HookedStore { inner: MemoryStore::new(), write: move || slow.during(Duration::from_secs(2), || Ok(())) };
    let a = OverlayManager::builder(config(), local(60)).peer_store(Box::new(store)).build().unwrap();
    let mut events = a.events();
    a.start().await.unwrap();
    let addr = a.local_addr().unwrap();
    let mut good = client(61, addr).await;
    // Peers coming and going, and a ban: writes queue up behind the slow store.
    let b = started(62, config()).await;
    b.connect(&PeerAddress::from(addr)).await.unwrap();
    a.ban_peer(local(63).node_id()).await.unwrap();
    assert_eq!(a.bans().await.unwrap(), vec![local(63).node_id()], "the ban holds at once");
    assert!(answered_while(&mut good, &busy).await, "served while the store was in a call");
    // The banned node is refused while its ban may still be on its way to the store.
    let banned = started(63, config()).await;
    assert!(banned.connect(&PeerAddress::from(addr)).await.is_err());
    assert!(!b.peer_infos().is_empty() && a.peer_infos().len() == 2);
    let drops: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            OverlayEvent::Disconnected { peer: Some(p), reason, .. } if p != local(63).node_id() => Some(reason),
            _ => None,
        })
        .collect();
    assert!(drops.is_empty(), "{drops:?}");
    for m in [a, b, banned] {
        m.shutdown().await;
    }
}

/// An application that takes a second over every delivery, then accepts.
struct SlowApp {
    busy: Busy,
    out: Vec<AppInput>,
}

impl Application for SlowApp {
    fn handle_delivery(&mut self, _: Timestamp, d: Delivery) {
        let verdict = self.busy.during(Duration::from_secs(1), || match d {
            Delivery::Transaction(t) => Some(AppInput::TxVerdict { hash: t.hash, verdict: TxVerdict::Accepted }),
            Delivery::ScpEnvelope(e) => Some(AppInput::ScpVerdict { id: e.id, verdict: ScpVerdict::Ready }),
            _ => None,
        });
        self.out.extend(verdict);
    }
    fn poll_input(&mut self) -> Option<AppInput> {
        self.out.pop()
    }
}

// Acceptance 2: an application that answers each verdict a second late leaves the node
// serving its peers: requests are answered while it works, nothing is dropped, and its
// verdicts take effect when they come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_a_second_late_never_holds_up_the_node() {
    let busy = Busy::default();
    let app = SlowApp { busy: busy.clone(), out: Vec::new() };
    let a = OverlayManager::with_application(config(), local(70), Box::new(app)).unwrap();
    let mut events = a.events();
    a.start().await.unwrap();
    let addr = a.local_addr().unwrap();
    let sender = client(71, addr).await;
    let mut asker = client(72, addr).await;
    for n in 0..3 {
        sender.send(transaction_message(n)).await.unwrap();
    }
    assert!(answered_while(&mut asker, &busy).await, "served while the application worked");
    // The late verdicts take effect: the other peer is told of each transaction.
    let mut advertised = std::collections::BTreeSet::new();
    while advertised.len() < 3 {
        let hashes = reply(&mut asker, |m| match m {
            StellarMessage::FloodAdvert(a) => Some(a.tx_hashes.0.to_vec()),
            _ => None,
        })
        .await;
        advertised.extend(hashes);
    }
    assert_eq!(a.sizes().await.unwrap().transactions, 3);
    let dropped = std::iter::from_fn(|| events.try_recv().ok()).any(|e| matches!(e, OverlayEvent::Disconnected { .. }));
    assert!(!dropped);
    sender.close(DropReason::LocalSilent("done")).await;
    a.shutdown().await;
}

// A peer database that fails every write is reported as an event; the node goes on from
// its in-memory view (the ban holds) and keeps its peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_is_reported_and_the_node_goes_on() {
    // A read-only file, a full disk: every write fails.
    let store = HookedStore { inner: MemoryStore::new(), write: || Err(StoreError::ReadOnly) };
    let a = OverlayManager::builder(config(), local(80)).peer_store(Box::new(store)).build().unwrap();
    let mut events = a.events();
    a.start().await.unwrap();
    let b = started(81, config()).await;
    b.connect(&PeerAddress::from(a.local_addr().unwrap())).await.unwrap();
    a.ban_peer(local(82).node_id()).await.unwrap();
    let error = expect(&mut events, |e| match e {
        OverlayEvent::StoreFailed { error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert!(error.contains("read-only") || error.contains("read only"), "{error}");
    assert_eq!(a.bans().await.unwrap(), vec![local(82).node_id()]);
    assert_eq!(a.peer_infos().len(), 1);
    let mut c = client(83, a.local_addr().unwrap()).await;
    c.send(StellarMessage::GetScpQuorumset(Uint256([1; 32]))).await.unwrap();
    reply(&mut c, |m| matches!(m, StellarMessage::DontHave(_)).then_some(())).await;
    a.shutdown().await;
    b.shutdown().await;
}
