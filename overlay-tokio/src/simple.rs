//! [`SimpleNode`]: a listener and dialer that keeps authenticated connections open and
//! reports connections, messages and drops. It answers requests for data it does not have
//! with DONT_HAVE and forwards nothing: the node of the `stellar-overlay node` program until
//! the full overlay manager drives it.

use crate::connection::{ConnectionConfig, ConnectionError, ConnectionEvent, PeerConnection};
use crate::local::{LocalNode, SharedAuth};
use overlay_auth::{HelloFacts, Role};
use overlay_node::DropReason;
use overlay_node::responder::dont_have_reply;
use overlay_proto::NodeId;
use overlay_proto::xdr::MessageType;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// Settings of a [`SimpleNode`].
#[derive(Debug, Clone)]
pub struct SimpleNodeConfig {
    /// Address to listen on, if any.
    pub listen: Option<SocketAddr>,
    /// Peers to dial; each is redialed after a failure or a drop.
    pub connect: Vec<SocketAddr>,
    /// Settings of each connection.
    pub connection: ConnectionConfig,
    /// Wait between dial attempts to the same address. Default 5 s.
    pub redial_interval: Duration,
    /// Open connections (pending or authenticated) beyond which accepted sockets are closed
    /// at once. Default 500, stellar-core's `MAX_PENDING_CONNECTIONS`.
    pub max_connections: usize,
}

impl Default for SimpleNodeConfig {
    fn default() -> Self {
        SimpleNodeConfig {
            listen: None,
            connect: Vec::new(),
            connection: ConnectionConfig::default(),
            redial_interval: Duration::from_secs(5),
            max_connections: 500,
        }
    }
}

/// What happened on the node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A handshake completed.
    Connected {
        /// The remote address.
        address: SocketAddr,
        /// Whether we dialed (`Initiator`) or accepted (`Acceptor`).
        direction: Role,
        /// The remote's HELLO.
        remote: HelloFacts,
    },
    /// A message arrived on an authenticated connection.
    Message {
        /// The sender.
        peer: NodeId,
        /// Its type.
        message_type: MessageType,
        /// Its XDR size in bytes.
        bytes: usize,
    },
    /// A connection ended (or never authenticated).
    Disconnected {
        /// The remote, if it authenticated.
        peer: Option<NodeId>,
        /// The remote address.
        address: SocketAddr,
        /// Why, in stellar-core's words.
        reason: String,
    },
}

/// A running node. Drop or [`shutdown`](SimpleNode::shutdown) stops it.
#[derive(Debug)]
pub struct SimpleNode {
    local_addr: Option<SocketAddr>,
    events: mpsc::Receiver<NodeEvent>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

#[derive(Clone)]
struct Shared {
    auth: SharedAuth,
    config: ConnectionConfig,
    events: mpsc::Sender<NodeEvent>,
    stop: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
}

impl SimpleNode {
    /// Bind the listener (if any), start dialing, and return at once.
    pub async fn start(local: LocalNode, config: SimpleNodeConfig) -> std::io::Result<Self> {
        let (ev_tx, events) = mpsc::channel(4096);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Shared {
            auth: SharedAuth::new(&local),
            config: config.connection.clone(),
            events: ev_tx,
            stop: stop_rx,
            open: Arc::new(AtomicUsize::new(0)),
        };
        let mut tasks = JoinSet::new();
        let mut local_addr = None;
        if let Some(addr) = config.listen {
            let listener = TcpListener::bind(addr).await?;
            local_addr = Some(listener.local_addr()?);
            tasks.spawn(accept_loop(listener, shared.clone(), config.max_connections));
        }
        for addr in config.connect {
            tasks.spawn(dial_loop(addr, shared.clone(), config.redial_interval));
        }
        Ok(SimpleNode { local_addr, events, stop, tasks })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The next event.
    pub async fn next_event(&mut self) -> Option<NodeEvent> {
        self.events.recv().await
    }

    /// Drop every connection with ERR_MISC "shutdown" and wait for the tasks to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // Keep draining so that no connection task blocks on a full event queue.
        let drain = async { while self.events.recv().await.is_some() {} };
        let join = async { while self.tasks.join_next().await.is_some() {} };
        tokio::select! {
            _ = join => {}
            _ = drain => {}
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Shared, max_connections: usize) {
    let mut stop = shared.stop.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        if shared.open.load(Ordering::Relaxed) >= max_connections {
            // Over the pending limit: closed at once, no HELLO, no ERROR (§11.2).
            drop(stream);
            continue;
        }
        tokio::spawn(serve(stream, shared.clone()));
    }
}

async fn dial_loop(addr: SocketAddr, shared: Shared, interval: Duration) {
    let mut stop = shared.stop.clone();
    loop {
        let _guard = OpenGuard::new(&shared.open);
        let result = tokio::select! {
            r = PeerConnection::connect(&shared.auth, addr, &shared.config) => r,
            _ = stop.changed() => return,
        };
        match result {
            Ok(conn) => run_connection(conn, &shared).await,
            Err(e) => report_failure(&shared, addr, e).await,
        }
        drop(_guard);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn serve(stream: TcpStream, shared: Shared) {
    let _guard = OpenGuard::new(&shared.open);
    let Ok(addr) = stream.peer_addr() else { return };
    match PeerConnection::accept(&shared.auth, stream, &shared.config).await {
        Ok(conn) => run_connection(conn, &shared).await,
        Err(e) => report_failure(&shared, addr, e).await,
    }
}

async fn report_failure(shared: &Shared, address: SocketAddr, e: ConnectionError) {
    let reason = match e {
        ConnectionError::Dropped(r) => r.text().into_owned(),
        other => other.to_string(),
    };
    let _ = shared.events.send(NodeEvent::Disconnected { peer: None, address, reason }).await;
}

async fn run_connection(mut conn: PeerConnection, shared: &Shared) {
    let peer = conn.remote().node_id;
    let address = conn.peer_addr();
    let connected = NodeEvent::Connected { address, direction: conn.role(), remote: conn.remote().clone() };
    if shared.events.send(connected).await.is_err() {
        return;
    }
    let mut stop = shared.stop.clone();
    let reason = loop {
        let event = tokio::select! {
            e = conn.recv() => e,
            _ = stop.changed() => {
                conn.close(DropReason::SHUTDOWN).await;
                break DropReason::SHUTDOWN.text().into_owned();
            }
        };
        match event {
            Some(ConnectionEvent::Message { message, size }) => {
                if let Some(reply) = dont_have_reply(&message) {
                    let _ = conn.send(reply).await;
                }
                let ev = NodeEvent::Message { peer, message_type: message.discriminant(), bytes: size };
                let _ = shared.events.send(ev).await;
            }
            Some(ConnectionEvent::Handled { message_type, size }) => {
                let ev = NodeEvent::Message { peer, message_type, bytes: size };
                let _ = shared.events.send(ev).await;
            }
            Some(ConnectionEvent::Closed(r)) => break r.text().into_owned(),
            None => break "connection closed".to_string(),
        }
    };
    let _ = shared.events.send(NodeEvent::Disconnected { peer: Some(peer), address, reason }).await;
}

/// Counts an open connection for as long as it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        OpenGuard(open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
