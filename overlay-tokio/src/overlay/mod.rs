//! [`OverlayManager`]: the async public API over the sans-IO node.
//!
//! One task owns the node; each socket has a reader and a writer task; a listener task
//! accepts; a resolver task re-resolves configured host names. Everything between them is a
//! bounded channel. Subscribers get every received message through a broadcast channel
//! whose capacity bounds memory (a subscriber that falls behind misses the oldest).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
//! use overlay_auth::NodeIdentity;
//!
//! let local = LocalNode::new_testnet(NodeIdentity::from_seed([7; 32]));
//! let mut config = OverlayConfig::testnet();
//! config.node.peer_port = 11625;
//! let mut manager = OverlayManager::new(config, local)?;
//! manager.start().await?;
//! let mut rx = manager.subscribe();
//! while let Ok(msg) = rx.recv().await {
//!     println!("{:?} from {}", msg.message.discriminant(), msg.from_peer);
//! }
//! manager.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod dns;
mod events;
mod task;

pub use config::OverlayConfig;
pub use dns::{resolve, resolve_all};
pub use events::{OverlayEvent, PeerInfo, ReceivedMessage};

use crate::clock::{now, random_bytes, unix_now};
use crate::local::LocalNode;
use overlay_auth::LocalAuth;
use overlay_node::app::MemoryApp;
use overlay_node::discovery::{MemoryStore, PeerStore, StoreError};
use overlay_node::{Application, Node, NodeError};
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{NodeId, PeerAddress};
use std::net::SocketAddr;
use task::{Channels, Command, Input, NodeTask, Settings};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// Why an overlay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// The peer database could not be opened or used.
    #[error("peer database: {0}")]
    Store(#[from] StoreError),
    /// The node refused the command.
    #[error("{0}")]
    Node(#[from] NodeError),
    /// `start` was not called, or the manager was shut down.
    #[error("the overlay is not running")]
    NotRunning,
    /// `start` was called twice.
    #[error("the overlay is already running")]
    AlreadyRunning,
    /// The configuration is not valid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// The application and the peer store, until `start` hands them to the node.
type NodeParts = (Box<dyn Application + Send>, Box<dyn PeerStore + Send>);

struct Running {
    commands: mpsc::Sender<Command>,
    messages: broadcast::Sender<ReceivedMessage>,
    events: broadcast::Sender<OverlayEvent>,
    local_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    node_task: JoinHandle<()>,
}

/// The overlay of one node. See the [module docs](self).
pub struct OverlayManager {
    config: OverlayConfig,
    local: LocalNode,
    /// Taken by `start`; behind a lock only so that the manager is `Sync` and can be
    /// shared between tasks.
    parts: std::sync::Mutex<Option<NodeParts>>,
    running: Option<Running>,
    events_before_start: broadcast::Sender<OverlayEvent>,
}

impl core::fmt::Debug for OverlayManager {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OverlayManager")
            .field("node", &self.local.node_id())
            .field("running", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

impl OverlayManager {
    /// A manager with the in-memory application (a relay: it accepts every well-formed
    /// transaction and SCP message once and floods it on, with public-network-like limits). The peer store is the SQLite
    /// file of `config.database`, or memory.
    pub fn new(config: OverlayConfig, local: LocalNode) -> Result<Self, OverlayError> {
        Self::with_application(config, local, Box::new(MemoryApp::relay()))
    }

    /// A manager with `app` behind the node: it receives transactions, SCP envelopes, tx
    /// sets and quorum sets, and answers the requests of peers.
    pub fn with_application(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
    ) -> Result<Self, OverlayError> {
        if let Err(e) = config.node.flood.validate() {
            return Err(OverlayError::Config(e.to_string()));
        }
        let store: Box<dyn PeerStore + Send> = match &config.database {
            Some(path) => Box::new(crate::store::SqliteStore::open(path)?),
            None => Box::new(MemoryStore::default()),
        };
        let (events_before_start, _) = broadcast::channel(config.subscriber_capacity.max(1));
        let parts = std::sync::Mutex::new(Some((app, store)));
        Ok(OverlayManager { config, local, parts, running: None, events_before_start })
    }

    /// Bind the listener, resolve the configured peers and start the node.
    pub async fn start(&mut self) -> Result<(), OverlayError> {
        if self.running.is_some() {
            return Err(OverlayError::AlreadyRunning);
        }
        let parts = self.parts.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((app, store)) = parts else { return Err(OverlayError::NotRunning) };
        let listener = if self.config.listen {
            let addr = SocketAddr::new(self.config.listen_ip, self.config.node.peer_port);
            Some(TcpListener::bind(addr).await.map_err(OverlayError::Listen)?)
        } else {
            None
        };
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let mut node_config = self.config.node.clone();
        if let Some(a) = local_addr {
            node_config.peer_port = a.port();
        }
        node_config.known_peers = resolve_all(&self.config.known_peers).await;
        node_config.preferred_peers = resolve_all(&self.config.preferred_peers).await;
        let mut hello = self.local.hello.clone();
        hello.listening_port = node_config.peer_port;
        let auth = LocalAuth::new(self.local.identity.clone(), self.local.network_id, random_bytes(), hello);
        let seed = u64::from_le_bytes(random_bytes());
        let mut node = Node::new(node_config, auth, app, store, seed, now());
        node.start(now(), unix_now());

        let (inputs_tx, inputs) = mpsc::channel(self.config.input_queue_len.max(16));
        let (cmd_tx, commands) = mpsc::channel(1024);
        let (messages, _) = broadcast::channel(self.config.subscriber_capacity.max(1));
        let events = self.events_before_start.clone();
        let mut tasks = Vec::new();
        if let Some(l) = listener {
            tasks.push(tokio::spawn(task::accept_loop(l, inputs_tx.clone())));
        }
        tasks.push(tokio::spawn(resolve_loop(self.config.clone(), inputs_tx.clone())));
        let ch = Channels { inputs_tx, inputs, commands, messages: messages.clone(), events: events.clone() };
        let settings = Settings {
            connect_timeout: self.config.connect_timeout,
            read_chunk_bytes: self.config.read_chunk_bytes,
            write_queue_batches: self.config.write_queue_batches,
        };
        let node_task = tokio::spawn(NodeTask::new(node, ch, settings).run());
        self.running = Some(Running { commands: cmd_tx, messages, events, local_addr, tasks, node_task });
        Ok(())
    }

    /// The address the listener is bound to, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.local_addr)
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.local.node_id()
    }

    /// Every message received from now on, with its sender.
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedMessage> {
        match &self.running {
            Some(r) => r.messages.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Connection events and every received message's type and size, for logs. May be
    /// called before `start` to see the first events.
    pub fn events(&self) -> broadcast::Receiver<OverlayEvent> {
        match &self.running {
            Some(r) => r.events.subscribe(),
            None => self.events_before_start.subscribe(),
        }
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, OverlayError> {
        let r = self.running.as_ref().ok_or(OverlayError::NotRunning)?;
        let (tx, rx) = oneshot::channel();
        r.commands.send(make(tx)).await.map_err(|_| OverlayError::NotRunning)?;
        rx.await.map_err(|_| OverlayError::NotRunning)
    }

    /// Flood a message of ours: a transaction is advertised (pull mode), an SCP envelope
    /// pushed. Returns the number of peers newly told.
    pub async fn broadcast(&self, message: StellarMessage) -> Result<usize, OverlayError> {
        Ok(self.call(|tx| Command::Broadcast(message, tx)).await??)
    }

    /// Send a message to one authenticated peer.
    pub async fn send_to(&self, peer: &NodeId, message: StellarMessage) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::SendTo(*peer, message, tx)).await??)
    }

    /// Ask every authenticated peer for its SCP state from `ledger_seq`.
    pub async fn request_scp_state(&self, ledger_seq: u32) -> Result<(), OverlayError> {
        let r = self.running.as_ref().ok_or(OverlayError::NotRunning)?;
        r.commands.send(Command::RequestScpState(ledger_seq)).await.map_err(|_| OverlayError::NotRunning)
    }

    /// Dial a peer now (a host name is resolved first).
    pub async fn connect(&self, address: &PeerAddress) -> Result<(), OverlayError> {
        let resolved = resolve(&address.to_string())
            .await
            .ok_or_else(|| OverlayError::Config(format!("cannot resolve {address}")))?;
        Ok(self.call(|tx| Command::Connect(resolved, tx)).await??)
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

    /// The authenticated peers.
    pub async fn peer_infos(&self) -> Result<Vec<PeerInfo>, OverlayError> {
        self.call(Command::PeerInfos).await
    }

    /// The node's metrics with their stellar-core names.
    pub async fn metrics(&self) -> Result<Vec<(&'static str, u64)>, OverlayError> {
        self.call(Command::Metrics).await
    }

    /// Drop every peer with ERR_MISC "shutdown", flush, close the store, and end every task
    /// this manager started.
    pub async fn shutdown(mut self) {
        let Some(r) = self.running.take() else { return };
        let (tx, rx) = oneshot::channel();
        if r.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        for t in &r.tasks {
            t.abort();
        }
        for t in r.tasks {
            let _ = t.await;
        }
        drop(r.commands);
        let _ = r.node_task.await;
    }
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
