//! [`PeerConnection`]: one authenticated connection over TCP, driven by a task that owns
//! the socket and an `overlay_node::Peer`.
//!
//! The task holds no protocol logic: it reads into a buffer and feeds the peer, writes the
//! batches the peer yields through a bounded writer, sleeps until the peer's next deadline,
//! and forwards the peer's events. Every queue between the task and its owner is bounded;
//! when the owner does not take events, the task stops reading, and flow control makes the
//! remote wait.

use crate::clock::{instant_of, now, unix_now};
use crate::local::SharedAuth;
use overlay_auth::{HelloFacts, OpenPolicy, Role};
use overlay_node::{DropReason, Peer, PeerConfig, PeerEvent};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{MessageClass, PeerAddress};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// `MAX_SLOTS_TO_REMEMBER` for the limits of a lone connection (it floods nothing).
const REMEMBERED_SLOTS: u32 = 12;

/// Settings of a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Timers, batching and flow control of the peer.
    pub peer: Arc<PeerConfig>,
    /// The ledger, for flow control's limits (maximum transaction size and so on).
    pub ledger: overlay_node::LedgerState,
    /// How long a TCP connect may take. Default 10 s.
    pub connect_timeout: Duration,
    /// Size of each socket read. Default 64 KiB: many frames per system call.
    pub read_chunk_bytes: usize,
    /// Events buffered for the owner before the task stops reading. Default 1024.
    pub event_queue_len: usize,
    /// Write batches buffered for the socket before the peer is asked for no more. Default 4.
    pub write_queue_batches: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            peer: Arc::new(PeerConfig::default()),
            ledger: overlay_node::LedgerState::GENESIS,
            connect_timeout: Duration::from_secs(10),
            read_chunk_bytes: 64 * 1024,
            event_queue_len: 1024,
            write_queue_batches: 4,
        }
    }
}

/// What a connection reports to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionEvent {
    /// A message for the application.
    Message {
        /// The message.
        message: StellarMessage,
        /// Its XDR size in bytes.
        size: usize,
    },
    /// A message the connection handled itself (SEND_MORE_EXTENDED).
    Handled {
        /// Its type.
        message_type: MessageType,
        /// Its XDR size in bytes.
        size: usize,
    },
    /// The connection ended; the last event.
    Closed(DropReason),
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The TCP connection failed.
    #[error("unable to connect: {0}")]
    Connect(#[from] std::io::Error),
    /// The TCP connection or the handshake took too long.
    #[error("timed out")]
    Timeout,
    /// The handshake failed or the connection was dropped.
    #[error("connection dropped: {0}")]
    Dropped(DropReason),
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

enum Command {
    Send(StellarMessage),
    Close(DropReason),
}

enum TaskEvent {
    Authenticated(HelloFacts),
    Connection(ConnectionEvent),
}

/// An authenticated connection to one peer.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use overlay_tokio::{ConnectionConfig, ConnectionEvent, LocalNode, PeerConnection, SharedAuth};
/// use overlay_proto::Network;
///
/// let auth = SharedAuth::new(&LocalNode::generate(Network::Testnet.id()));
/// let addr = "127.0.0.1:11625".parse()?;
/// let mut conn = PeerConnection::connect(&auth, addr, &ConnectionConfig::default()).await?;
/// println!("connected to {} running {}", conn.remote().node_id, conn.remote().version_str);
/// while let Some(event) = conn.recv().await {
///     if let ConnectionEvent::Message { message, .. } = event {
///         println!("{:?}", message.discriminant());
///     }
/// }
/// # Ok(()) }
/// ```
pub struct PeerConnection {
    remote: HelloFacts,
    address: SocketAddr,
    role: Role,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<TaskEvent>,
    task: JoinHandle<()>,
}

impl core::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("remote", &self.remote.node_id)
            .field("address", &self.address)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// Dial `addr` and complete the handshake as initiator.
    pub async fn connect(
        auth: &SharedAuth,
        addr: SocketAddr,
        config: &ConnectionConfig,
    ) -> Result<Self, ConnectionError> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectionError::Timeout)??;
        Self::start(stream, addr, auth.initiate(), config).await
    }

    /// Complete the handshake as acceptor on a socket a listener accepted.
    pub async fn accept(
        auth: &SharedAuth,
        stream: TcpStream,
        config: &ConnectionConfig,
    ) -> Result<Self, ConnectionError> {
        let addr = stream.peer_addr()?;
        Self::start(stream, addr, auth.accept(), config).await
    }

    async fn start(
        stream: TcpStream,
        addr: SocketAddr,
        handshake: overlay_auth::Handshake,
        config: &ConnectionConfig,
    ) -> Result<Self, ConnectionError> {
        stream.set_nodelay(true)?;
        let role = handshake.role().unwrap_or(Role::Acceptor);
        let peer = Peer::new(
            handshake,
            PeerAddress::from_socket_addr(addr),
            config.peer.clone(),
            config.ledger.flow_limits(REMEMBERED_SLOTS),
            now(),
            u64::from_le_bytes(crate::clock::random_bytes()),
        );
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, mut ev_rx) = mpsc::channel(config.event_queue_len.max(1));
        let task = tokio::spawn(run(stream, peer, config.clone(), cmd_rx, ev_tx));
        // The handshake's deadline is the peer's authentication timeout (§4.3).
        match ev_rx.recv().await {
            Some(TaskEvent::Authenticated(remote)) => {
                Ok(PeerConnection { remote, address: addr, role, commands: cmd_tx, events: ev_rx, task })
            }
            Some(TaskEvent::Connection(ConnectionEvent::Closed(reason))) => Err(ConnectionError::Dropped(reason)),
            _ => Err(ConnectionError::Closed),
        }
    }

    /// The remote's HELLO facts.
    pub fn remote(&self) -> &HelloFacts {
        &self.remote
    }

    /// The remote socket address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.address
    }

    /// Our role: initiator if we dialed.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Send a message (flood messages wait for the peer's credit).
    pub async fn send(&self, message: StellarMessage) -> Result<(), ConnectionError> {
        self.commands.send(Command::Send(message)).await.map_err(|_| ConnectionError::Closed)
    }

    /// The next event; `None` once the connection is closed and every event was taken.
    pub async fn recv(&mut self) -> Option<ConnectionEvent> {
        loop {
            match self.events.recv().await? {
                TaskEvent::Connection(e) => return Some(e),
                TaskEvent::Authenticated(_) => {}
            }
        }
    }

    /// Drop the connection (sending the reason's ERROR, if any) and wait for the socket to
    /// be flushed and closed.
    pub async fn close(mut self, reason: DropReason) {
        let _ = self.commands.send(Command::Close(reason)).await;
        while self.events.recv().await.is_some() {}
        let _ = (&mut self.task).await;
    }
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Vec<u8>>) -> std::io::Result<()> {
    while let Some(batch) = rx.recv().await {
        wr.write_all(&batch).await?;
    }
    wr.shutdown().await
}

/// The connection task. See the module docs.
async fn run(
    stream: TcpStream,
    mut peer: Peer,
    config: ConnectionConfig,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<TaskEvent>,
) {
    let (mut rd, wr) = stream.into_split();
    let (write_tx, write_rx) = mpsc::channel::<Vec<u8>>(config.write_queue_batches.max(1));
    let writer = tokio::spawn(write_loop(wr, write_rx));
    let mut buf = vec![0u8; config.read_chunk_bytes.max(4096)];
    let mut pending_write: Option<Vec<u8>> = None;
    let mut pending: VecDeque<TaskEvent> = VecDeque::new();
    let mut commands_open = true;
    // A flood message waiting for room in its outbound queue: while it waits, no further
    // command is taken, so `send` callers wait instead of the queue shedding (§6.4).
    let mut held: Option<StellarMessage> = None;
    loop {
        if let Some(m) = held.take() {
            match m.priority() {
                Some(p) if !peer.is_closed() && !peer.has_queue_room(p) => held = Some(m),
                _ => {
                    let _ = peer.send(now(), &m);
                }
            }
        }
        while let Some(e) = peer.poll_event() {
            match e {
                PeerEvent::Authenticated(facts) => {
                    peer.admit(now(), None, 0);
                    pending.push_back(TaskEvent::Authenticated(facts));
                }
                PeerEvent::GotHello(_) => {}
                PeerEvent::Message { message, size, .. } => {
                    pending.push_back(TaskEvent::Connection(ConnectionEvent::Message {
                        // The peer held the only reference: this moves, not copies.
                        message: Arc::unwrap_or_clone(message),
                        size,
                    }))
                }
                PeerEvent::Handled { message_type, size } => {
                    pending.push_back(TaskEvent::Connection(ConnectionEvent::Handled { message_type, size }))
                }
                PeerEvent::Closed(r) => pending.push_back(TaskEvent::Connection(ConnectionEvent::Closed(r))),
            }
        }
        loop {
            if pending_write.is_none() {
                pending_write = peer.poll_transmit(now());
            }
            let Some(batch) = pending_write.take() else {
                break;
            };
            match write_tx.try_send(batch) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(b)) => {
                    pending_write = Some(b);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    peer.handle_socket_closed(now(), DropReason::Io("error during write".into()));
                    break;
                }
            }
        }
        if peer.is_finished() && pending_write.is_none() {
            break;
        }
        let deadline = peer.poll_timeout().map(instant_of);
        let can_read = pending.len() < config.event_queue_len && !peer.is_closed();
        tokio::select! {
            r = rd.read(&mut buf), if can_read => match r {
                Ok(0) => peer.handle_socket_closed(now(), DropReason::RemoteClosed),
                Ok(n) => peer.handle_bytes(now(), unix_now(), &buf[..n], &OpenPolicy),
                Err(e) => peer.handle_socket_closed(now(), DropReason::Io(format!("error during read: {e}").into())),
            },
            permit = events.reserve(), if !pending.is_empty() => match permit {
                Ok(p) => p.send(pending.pop_front().expect("checked non-empty")),
                Err(_) => pending.clear(),
            },
            permit = write_tx.reserve(), if pending_write.is_some() => {
                if let (Ok(p), Some(b)) = (permit, pending_write.take()) {
                    p.send(b);
                }
            },
            cmd = commands.recv(), if commands_open && held.is_none() => match cmd {
                Some(Command::Send(m)) => held = Some(m),
                Some(Command::Close(r)) => peer.close(now(), r),
                None => {
                    commands_open = false;
                    peer.close(now(), DropReason::LocalSilent("connection handle dropped"));
                }
            },
            _ = sleep_until(deadline), if deadline.is_some() => peer.handle_timeout(now()),
        }
    }
    drop(write_tx);
    let _ = writer.await;
    while let Some(e) = peer.poll_event() {
        if let PeerEvent::Closed(r) = e {
            pending.push_back(TaskEvent::Connection(ConnectionEvent::Closed(r)));
        }
    }
    for e in pending {
        if events.send(e).await.is_err() {
            break;
        }
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
