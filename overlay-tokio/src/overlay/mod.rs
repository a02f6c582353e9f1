//! [`OverlayManager`]: the async public API over the sans-IO node.
//!
//! One task owns the node; each socket has a reader and a writer task; a listener task
//! accepts; a resolver task re-resolves configured host names. Once a peer is admitted, its
//! reader task runs the peer's [`PeerReader`](overlay_node::PeerReader) (framing, MAC check,
//! XDR decoding, the flood hash) and hands the node task opened messages, a flow-control
//! batch at a time; its writer task gets the peer's [`PeerWriter`](overlay_node::PeerWriter)
//! and seals the frames the node task writes (sequence and MAC). The node task keeps the
//! decisions. The application runs on a thread of its own (the
//! [`Relay`](overlay_node::Relay) unless another is given), or outside the overlay reading
//! [`Deliveries`]; the peer database is written behind the node on another thread.
//! Everything between them is a bounded channel, and what a turn of the node task's loop
//! produces for the application and for subscribers goes over in one hand-off.
//!
//! A validator drives it like this: it reads deliveries, checks signatures on its own
//! threads, answers with verdicts, tells the overlay which items it holds, and reports each
//! ledger close.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use overlay_node::app::{Delivery, ScpVerdict, TxVerdict};
//! use overlay_node::relay::references;
//! use overlay_node::LedgerState;
//! use overlay_proto::xdr::ScpStatementPledges;
//! use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
//! use overlay_auth::NodeIdentity;
//! use std::collections::HashSet;
//!
//! let local = LocalNode::new_testnet(NodeIdentity::from_seed([7; 32]));
//! let (manager, mut deliveries) = OverlayManager::builder(OverlayConfig::testnet(), local)
//!     .build_with_deliveries()?;
//! manager.start().await?;
//! let mut ledger = LedgerState::relay();
//! let mut held = HashSet::new();
//! while let Some(delivery) = deliveries.recv().await {
//!     match delivery {
//!         // The transaction queue checks it (off the overlay's loop) and answers by hash.
//!         Delivery::Transaction(t) => manager.tx_verdict(t.hash, TxVerdict::Accepted).await?,
//!         // SCP checks the envelope, and takes it only once the items it names are held.
//!         Delivery::ScpEnvelope(e) => {
//!             let refs = references(&e.envelope.statement.pledges)?;
//!             let tx_sets: Vec<_> = refs.tx_sets.into_iter().filter(|h| !held.contains(h)).collect();
//!             let quorum_set = Some(refs.quorum_set).filter(|h| !held.contains(h));
//!             let verdict = if tx_sets.is_empty() && quorum_set.is_none() {
//!                 ScpVerdict::Ready
//!             } else {
//!                 ScpVerdict::Fetch { tx_sets, quorum_set }
//!             };
//!             let externalized = matches!(e.envelope.statement.pledges, ScpStatementPledges::Externalize(_));
//!             manager.scp_verdict(e.id, verdict.clone()).await?;
//!             // When consensus closes a ledger, the overlay clears what is older.
//!             if externalized && verdict == ScpVerdict::Ready {
//!                 ledger.tracking_ledger = e.slot_index() as u32;
//!                 manager.ledger_closed(ledger).await?;
//!             }
//!         }
//!         // A fetched item: the node holds and serves it already.
//!         Delivery::TxSet { hash, .. } | Delivery::QuorumSet { hash, .. } => {
//!             held.insert(hash);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! `examples/validator.rs` runs a complete one on loopback.

mod app;
mod batch;
mod dns;
mod handle;
mod io;
mod subscribe;
mod survey;
mod task;

pub use app::Deliveries;
pub use dns::{resolve, resolve_all};
pub use overlay_host::{
    ConnectError, FlowInfo, NodeInfo, OverlayConfig, OverlayError, OverlayEvent, OverlaySnapshot, PeerInfo,
    PeersReport, PendingPeer, ReceivedMessage,
};
pub use subscribe::{Closed, Subscription};

use crate::local::LocalNode;
use batch::BatchSender;
use overlay_host::app::delivery_capacity;
use overlay_host::{Assemble, BoxedStore, persist, setup};
use overlay_node::app::{AppInput, Application, Delivery, ScpVerdict, TxVerdict};
use overlay_node::discovery::{MemoryStore, PeerStore};
use overlay_node::{LedgerState, NodeSizes};
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NodeId, PeerAddress};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use subscribe::Hub;
use task::{Channels, Command, Input, NodeTask, Settings, Shared};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Events kept for a log reader that falls behind before it sees `RecvError::Lagged`.
const EVENT_CAPACITY: usize = 16 * 1024;

/// Batches of answers from the application thread that may wait for the node task.
const APP_INPUT_BATCHES: usize = 64;

/// Who takes the node's deliveries.
enum AppSide {
    /// An application on a thread of the overlay's.
    Thread(Box<dyn Application + Send>),
    /// An application outside, reading [`Deliveries`].
    External(BatchSender<Delivery>),
}

/// What `start` consumes.
struct Parts {
    app: AppSide,
    store: Option<Box<dyn PeerStore + Send>>,
}

struct Running {
    commands: mpsc::Sender<Command>,
    local_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    node_task: JoinHandle<()>,
    app_thread: Option<std::thread::JoinHandle<()>>,
}

enum State {
    Ready(Parts),
    Running(Running),
    Stopped,
}

struct Inner {
    config: OverlayConfig,
    local: LocalNode,
    hub: Arc<Hub>,
    events: broadcast::Sender<OverlayEvent>,
    peers: Arc<Mutex<Vec<PeerInfo>>>,
    state: Mutex<State>,
    /// Peer-database writes that failed or were dropped.
    store_failures: Arc<std::sync::atomic::AtomicU64>,
    /// Cached after start, so that commands need no lock on `state` for long.
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    local_addr: Mutex<Option<SocketAddr>>,
}

/// The overlay of one node. Cheap to clone: every clone drives the same node; the node
/// shuts down at [`shutdown`](Self::shutdown) or when the last clone is dropped. See the
/// [module docs](self).
#[derive(Clone)]
pub struct OverlayManager {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for OverlayManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OverlayManager").field("node", &self.inner.local.node_id()).finish_non_exhaustive()
    }
}

/// Builds an [`OverlayManager`] with a chosen application and peer store.
pub type OverlayBuilder = overlay_host::OverlayBuilder<OverlayManager>;

impl Assemble for OverlayManager {
    type Deliveries = Deliveries;

    fn assemble(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
        store: Option<BoxedStore>,
    ) -> Result<Self, OverlayError> {
        OverlayManager::assemble_with(config, local, AppSide::Thread(app), store)
    }

    fn assemble_with_deliveries(
        config: OverlayConfig,
        local: LocalNode,
        store: Option<BoxedStore>,
    ) -> Result<(Self, Deliveries), OverlayError> {
        let (tx, rx) = batch::channel(delivery_capacity(&config));
        let m = OverlayManager::assemble_with(config, local, AppSide::External(tx), store)?;
        Ok((m, Deliveries::new(rx)))
    }
}

impl OverlayManager {
    /// A manager with the relay application (stellar-core's watcher behaviour: SCP
    /// envelopes are flooded once their signature is checked and the items they reference
    /// are fetched; transactions once). The peer store is the SQLite file of
    /// `config.database`, or memory.
    pub fn new(config: OverlayConfig, local: LocalNode) -> Result<Self, OverlayError> {
        Self::builder(config, local).build()
    }

    /// A manager with `app` behind the node, on a thread of its own.
    pub fn with_application(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
    ) -> Result<Self, OverlayError> {
        Self::builder(config, local).application(app).build()
    }

    /// A builder, to choose the application and the peer store.
    pub fn builder(config: OverlayConfig, local: LocalNode) -> OverlayBuilder {
        OverlayBuilder::new(config, local)
    }

    fn assemble_with(
        config: OverlayConfig,
        local: LocalNode,
        app: AppSide,
        store: Option<BoxedStore>,
    ) -> Result<Self, OverlayError> {
        setup::validate(&config, &local)?;
        let store = setup::store_for(&config, store)?;
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let inner = Inner {
            hub: Arc::new(Hub::new(config.subscriber_capacity)),
            events,
            peers: Arc::new(Mutex::new(Vec::new())),
            state: Mutex::new(State::Ready(Parts { app, store })),
            store_failures: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            commands: Mutex::new(None),
            local_addr: Mutex::new(None),
            config,
            local,
        };
        Ok(OverlayManager { inner: Arc::new(inner) })
    }

    /// Bind the listener, resolve the configured peers, load the peer database and start
    /// the node.
    pub async fn start(&self) -> Result<(), OverlayError> {
        let parts = {
            let mut state = lock(&self.inner.state);
            match std::mem::replace(&mut *state, State::Stopped) {
                State::Ready(p) => p,
                other => {
                    let running = matches!(other, State::Running(_));
                    *state = other;
                    return Err(if running { OverlayError::AlreadyRunning } else { OverlayError::NotRunning });
                }
            }
        };
        let config = &self.inner.config;
        let mut node_config = config.node_config()?;
        let listener = if config.listen_enabled {
            let addr = SocketAddr::new(config.listen_ip, config.listen_port);
            Some(TcpListener::bind(addr).await.map_err(OverlayError::Listen)?)
        } else {
            None
        };
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(a) = local_addr {
            node_config.peer_port = a.port();
        }
        node_config.known_peers = resolve_all(&config.known_peers).await;
        node_config.preferred_peers = resolve_all(&config.preferred_peers).await;
        let (view, writer) = self.open_store(parts.store).await?;
        let node = setup::start_node(config, &self.inner.local, node_config, view)?;

        let (inputs_tx, inputs) = mpsc::channel(config.input_queue_len.max(16));
        let (cmd_tx, commands) = mpsc::channel(1024);
        // In batches: one per batch of deliveries the application thread handled.
        let (app_tx, app_inputs) = mpsc::channel(APP_INPUT_BATCHES);
        let (deliveries, app_thread) = match parts.app {
            AppSide::External(tx) => (tx, None),
            AppSide::Thread(app) => {
                let (tx, rx) = batch::channel(delivery_capacity(config));
                let thread = app::spawn_app_thread(app, rx, app_tx.clone())
                    .map_err(|e| OverlayError::Config { key: "application", reason: e.to_string() })?;
                (tx, Some(thread))
            }
        };
        let mut tasks = Vec::new();
        if let Some(l) = listener {
            tasks.push(tokio::spawn(io::accept_loop(l, inputs_tx.clone())));
        }
        tasks.push(tokio::spawn(resolve_loop(config.clone(), inputs_tx.clone())));
        let ch = Channels { inputs_tx, inputs, commands, app_inputs, deliveries };
        let shared = Shared {
            hub: self.inner.hub.clone(),
            events: self.inner.events.clone(),
            peers: self.inner.peers.clone(),
            store_failures: self.inner.store_failures.clone(),
        };
        let settings = Settings {
            connect_timeout: std::time::Duration::from_secs(config.connect_timeout_secs),
            read_chunk_bytes: config.read_chunk_bytes,
            write_queue_batches: config.write_queue_batches,
        };
        let node_task = tokio::spawn(NodeTask::new(node, ch, shared, settings, writer).run());
        *lock(&self.inner.commands) = Some(cmd_tx.clone());
        *lock(&self.inner.local_addr) = local_addr;
        // Keep the app-input sender alive only through the app thread and the commands.
        drop(app_tx);
        *lock(&self.inner.state) =
            State::Running(Running { commands: cmd_tx, local_addr, tasks, node_task, app_thread });
        Ok(())
    }

    /// Read the peer database (off this task: it may be slow) and start its writer.
    async fn open_store(
        &self,
        store: Option<Box<dyn PeerStore + Send>>,
    ) -> Result<(MemoryStore, Option<persist::StoreWriter>), OverlayError> {
        let events = self.inner.events.clone();
        let failures = self.inner.store_failures.clone();
        tokio::task::spawn_blocking(move || {
            setup::load_store(store, failures, move |e| {
                let _ = events.send(e);
            })
        })
        .await
        .map_err(|e| OverlayError::Config { key: "peer database", reason: e.to_string() })?
    }

    /// The address the listener is bound to, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *lock(&self.inner.local_addr)
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.inner.local.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &OverlayConfig {
        &self.inner.config
    }

    /// Every message received from now on, with its sender. Works before `start`; see
    /// [`Subscription`] for what happens when a subscriber falls behind.
    pub fn subscribe(&self) -> Subscription {
        self.inner.hub.subscribe()
    }

    /// Connection events and every received message's type and size, for logs. May be
    /// called before `start` to see the first events. A receiver that falls behind gets
    /// `RecvError::Lagged` and goes on.
    pub fn events(&self) -> broadcast::Receiver<OverlayEvent> {
        self.inner.events.subscribe()
    }

    fn commands(&self) -> Result<mpsc::Sender<Command>, OverlayError> {
        lock(&self.inner.commands).clone().ok_or(OverlayError::NotRunning)
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, OverlayError> {
        let commands = self.commands()?;
        let (tx, rx) = oneshot::channel();
        commands.send(make(tx)).await.map_err(|_| OverlayError::NotRunning)?;
        rx.await.map_err(|_| OverlayError::NotRunning)
    }

    /// Flood a message of ours: a transaction is advertised (pull mode), an SCP envelope
    /// pushed, a survey message sent on. Returns the number of peers newly told. Other
    /// types are refused with [`NodeError::NotFlooded`](overlay_node::NodeError).
    pub async fn broadcast(&self, message: StellarMessage) -> Result<usize, OverlayError> {
        Ok(self.call(|tx| Command::Broadcast(message, tx)).await??)
    }

    /// Send a message to one authenticated peer. HELLO, AUTH, SEND_MORE,
    /// SEND_MORE_EXTENDED and ERROR are refused: they belong to the connection.
    pub async fn send_to(&self, peer: &NodeId, message: StellarMessage) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::SendTo(*peer, message, tx)).await??)
    }

    /// Send messages to one authenticated peer, in order, in one round trip to the node
    /// (a submitter's batch: far cheaper than one [`send_to`](Self::send_to) each). Stops at
    /// the first message refused; returns how many were taken.
    pub async fn send_many_to(&self, peer: &NodeId, messages: Vec<StellarMessage>) -> Result<usize, OverlayError> {
        Ok(self.call(|tx| Command::SendManyTo(*peer, messages, tx)).await??)
    }

    /// Ask every authenticated peer for its SCP state from `ledger_seq`.
    pub async fn request_scp_state(&self, ledger_seq: u32) -> Result<(), OverlayError> {
        self.commands()?.send(Command::RequestScpState(ledger_seq)).await.map_err(|_| OverlayError::NotRunning)
    }

    /// Dial a peer now (a host name is resolved first) and wait until it is authenticated:
    /// its NodeID, or why not.
    pub async fn connect(&self, address: &PeerAddress) -> Result<NodeId, ConnectError> {
        let resolved =
            resolve(&address.to_string()).await.ok_or_else(|| ConnectError::Unresolvable(address.to_string()))?;
        self.call(|tx| Command::Connect(resolved, tx)).await?
    }

    /// Drop an authenticated peer with ERR_MISC "dropped by user".
    pub async fn disconnect(&self, peer: &NodeId) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::Disconnect(*peer, tx)).await??)
    }

    /// Drop a peer if connected and ban it; the ban is stored and survives restarts.
    pub async fn ban_peer(&self, peer: NodeId) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::Ban(peer, tx)).await??)
    }

    /// Lift a ban.
    pub async fn unban_peer(&self, peer: NodeId) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::Unban(peer, tx)).await??)
    }

    /// The banned NodeIDs.
    pub async fn bans(&self) -> Result<Vec<NodeId>, OverlayError> {
        self.call(Command::Bans).await
    }

    /// The authenticated peers: a snapshot refreshed at every connect and drop, with
    /// counters at most a second old. Empty before `start` and after shutdown.
    pub fn peer_infos(&self) -> Vec<PeerInfo> {
        lock(&self.inner.peers).clone()
    }

    /// The node's metrics with their stellar-core names.
    pub async fn metrics(&self) -> Result<Vec<(&'static str, u64)>, OverlayError> {
        self.call(Command::Metrics).await
    }

    /// Every connection, pending and authenticated, with its flow-control state (what
    /// stellar-core's `peers` command lists).
    pub async fn peers_report(&self) -> Result<PeersReport, OverlayError> {
        self.call(Command::Peers).await
    }

    /// The overlay part of stellar-core's `info` command.
    pub async fn info(&self) -> Result<NodeInfo, OverlayError> {
        self.call(Command::Info).await
    }

    /// Every measurement: the node's counters, traffic per type, drops per reason, queues,
    /// latencies, and the driver's processing times (what exporters publish).
    pub async fn snapshot(&self) -> Result<OverlaySnapshot, OverlayError> {
        self.call(Command::Snapshot).await
    }

    /// What the node holds and what waits for the application.
    pub async fn sizes(&self) -> Result<NodeSizes, OverlayError> {
        self.call(Command::Sizes).await
    }

    /// The ledger the node works from.
    pub async fn ledger(&self) -> Result<LedgerState, OverlayError> {
        self.call(Command::Ledger).await
    }

    /// An input for the node as from its application (see [`AppInput`]).
    pub async fn app_input(&self, input: AppInput) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::App(input, tx)).await??)
    }

    /// The verdict on a delivered transaction.
    pub async fn tx_verdict(&self, hash: Hash256, verdict: TxVerdict) -> Result<(), OverlayError> {
        self.app_input(AppInput::TxVerdict { hash, verdict }).await
    }

    /// The verdict on a delivered SCP envelope.
    pub async fn scp_verdict(&self, id: Hash256, verdict: ScpVerdict) -> Result<(), OverlayError> {
        self.app_input(AppInput::ScpVerdict { id, verdict }).await
    }

    /// A ledger closed: new limits, and records older than the window cleared.
    pub async fn ledger_closed(&self, ledger: LedgerState) -> Result<(), OverlayError> {
        self.app_input(AppInput::Ledger(ledger)).await
    }

    /// The node went in or out of sync (out of sync: transactions and pull mode are
    /// ignored, and outbound peers rotate, §7, §11.6).
    pub async fn set_synced(&self, synced: bool) -> Result<(), OverlayError> {
        self.commands()?.send(Command::SetSynced(synced)).await.map_err(|_| OverlayError::NotRunning)
    }

    /// Serve this tx set (TX_SET or GENERALIZED_TX_SET) to peers that ask.
    pub async fn hold_tx_set(&self, tx_set: StellarMessage) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldTxSet(Arc::new(tx_set))).await
    }

    /// Serve this quorum set to peers that ask.
    pub async fn hold_quorum_set(&self, quorum_set: ScpQuorumSet) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldQuorumSet(Arc::new(quorum_set))).await
    }

    /// Include this envelope in the SCP state served for GET_SCP_STATE.
    pub async fn hold_scp_envelope(&self, envelope: ScpEnvelope) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldScpEnvelope(Arc::new(envelope))).await
    }

    /// Drop every peer with ERR_MISC "shutdown", flush, write the peer database, end the
    /// subscriptions, and end every task and thread this manager started. Any clone may
    /// call it; a second call returns at once.
    pub async fn shutdown(&self) {
        let running = {
            let mut state = lock(&self.inner.state);
            match std::mem::replace(&mut *state, State::Stopped) {
                State::Running(r) => r,
                _ => return,
            }
        };
        *lock(&self.inner.commands) = None;
        let (tx, rx) = oneshot::channel();
        if running.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        for t in &running.tasks {
            t.abort();
        }
        for t in running.tasks {
            let _ = t.await;
        }
        drop(running.commands);
        let _ = running.node_task.await;
        if let Some(t) = running.app_thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        let _ = running.local_addr;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing held under these locks can be left half-updated by a panic.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Re-resolve configured host names every `dns_refresh_interval` (§11.4 step 2).
async fn resolve_loop(config: OverlayConfig, inputs: mpsc::Sender<Input>) {
    if config.known_peers.is_empty() && config.preferred_peers.is_empty() {
        return;
    }
    loop {
        tokio::time::sleep(config.dns_refresh_interval).await;
        let known = resolve_all(&config.known_peers).await;
        let preferred = resolve_all(&config.preferred_peers).await;
        if inputs.send(Input::Resolved { known, preferred }).await.is_err() {
            return;
        }
    }
}
