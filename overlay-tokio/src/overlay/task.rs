//! The node task: it owns the sans-IO [`Node`] and carries out what it asks for. Sockets are
//! served by a reader and a writer task each; they talk to the node task through bounded
//! channels. No protocol decision is made here.

use super::events::{OverlayEvent, PeerInfo, ReceivedMessage};
use crate::clock::{instant_of, now, unix_now};
use overlay_node::discovery::{PeerStore, StoreError};
use overlay_node::{Application, ConnId, DropReason, Node, NodeError, NodeEvent, Output};
use overlay_proto::MessageClass;
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{Host, NodeId, PeerAddress};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// The node as the task holds it.
pub(crate) type DynNode = Node<Box<dyn Application + Send>, Box<dyn PeerStore + Send>>;

pub(crate) enum Input {
    Accepted(TcpStream, SocketAddr),
    Dialed(ConnId, Result<TcpStream, String>),
    Bytes(ConnId, Vec<u8>),
    Closed(ConnId, DropReason),
    Writable(ConnId),
    Resolved { known: Vec<PeerAddress>, preferred: Vec<PeerAddress> },
}

pub(crate) enum Command {
    Broadcast(StellarMessage, oneshot::Sender<Result<usize, NodeError>>),
    SendTo(NodeId, StellarMessage, oneshot::Sender<Result<(), NodeError>>),
    RequestScpState(u32),
    Connect(PeerAddress, oneshot::Sender<Result<(), NodeError>>),
    Disconnect(NodeId, oneshot::Sender<Result<(), NodeError>>),
    Ban(NodeId, oneshot::Sender<Result<(), StoreError>>),
    Unban(NodeId, oneshot::Sender<Result<(), StoreError>>),
    Bans(oneshot::Sender<Vec<NodeId>>),
    PeerInfos(oneshot::Sender<Vec<PeerInfo>>),
    Metrics(oneshot::Sender<Vec<(&'static str, u64)>>),
    Shutdown(oneshot::Sender<()>),
}

/// One socket's plumbing.
struct ConnIo {
    remote: SocketAddr,
    writer: Option<mpsc::Sender<Vec<u8>>>,
    /// Set when the node task found the writer full; the writer reports `Writable` after
    /// its next write.
    blocked: Arc<AtomicBool>,
    /// Batches the writer could not take yet.
    pending: VecDeque<Vec<u8>>,
    reader: JoinHandle<()>,
    writer_task: JoinHandle<()>,
    span: tracing::Span,
}

pub(crate) struct Channels {
    pub inputs_tx: mpsc::Sender<Input>,
    pub inputs: mpsc::Receiver<Input>,
    pub commands: mpsc::Receiver<Command>,
    pub messages: broadcast::Sender<ReceivedMessage>,
    pub events: broadcast::Sender<OverlayEvent>,
}

pub(crate) struct Settings {
    pub connect_timeout: Duration,
    pub read_chunk_bytes: usize,
    pub write_queue_batches: usize,
}

pub(crate) struct NodeTask {
    node: DynNode,
    ch: Channels,
    settings: Settings,
    conns: BTreeMap<ConnId, ConnIo>,
    /// Writer tasks of closed connections, awaited at shutdown so queued bytes are flushed,
    /// and their aborted readers.
    closing: Vec<JoinHandle<()>>,
    /// Dials in progress, aborted at shutdown.
    dials: Vec<JoinHandle<()>>,
    shutdown_reply: Option<oneshot::Sender<()>>,
}

impl NodeTask {
    pub(crate) fn new(node: DynNode, ch: Channels, settings: Settings) -> Self {
        NodeTask {
            node,
            ch,
            settings,
            conns: BTreeMap::new(),
            closing: Vec::new(),
            dials: Vec::new(),
            shutdown_reply: None,
        }
    }

    pub(crate) async fn run(mut self) {
        // One timer for the task's life, moved only when the node's deadline changes: a
        // busy node takes many inputs per deadline.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed = None;
        loop {
            self.drain_outputs();
            if self.shutdown_reply.is_some() && self.node.is_shut_down() {
                break;
            }
            let deadline = self.node.poll_timeout().map(instant_of);
            if let Some(d) = deadline.filter(|d| armed != Some(*d)) {
                timer.as_mut().reset(d.into());
                armed = Some(d);
            }
            tokio::select! {
                Some(input) = self.ch.inputs.recv() => {
                    self.handle_input(input);
                    // Inputs already queued are taken before the next turn of the loop.
                    for _ in 1..INPUTS_PER_TURN {
                        let Ok(input) = self.ch.inputs.try_recv() else { break };
                        self.handle_input(input);
                    }
                }
                cmd = self.ch.commands.recv() => match cmd {
                    Some(c) => self.handle_command(c),
                    // Every handle is gone: shut down.
                    None if self.shutdown_reply.is_none() => {
                        let (tx, _) = oneshot::channel();
                        self.handle_command(Command::Shutdown(tx));
                    }
                    None => {}
                },
                () = &mut timer, if deadline.is_some() => {
                    armed = None;
                    self.node.handle_timeout(now(), unix_now());
                }
            }
        }
        for d in self.dials.drain(..) {
            d.abort();
            let _ = d.await;
        }
        for (_, c) in std::mem::take(&mut self.conns) {
            c.reader.abort();
            self.closing.push(c.reader);
            self.closing.push(c.writer_task);
        }
        for w in self.closing.drain(..) {
            let _ = w.await;
        }
        if let Some(r) = self.shutdown_reply.take() {
            let _ = r.send(());
        }
    }

    fn handle_input(&mut self, input: Input) {
        let (t, unix) = (now(), unix_now());
        match input {
            Input::Accepted(stream, addr) => match self.node.handle_inbound(t, unix, PeerAddress::from(addr)) {
                Some(conn) => self.attach(conn, stream, addr),
                None => drop(stream),
            },
            Input::Dialed(conn, Ok(stream)) => match stream.peer_addr() {
                Ok(addr) => {
                    self.attach(conn, stream, addr);
                    self.node.handle_connected(t, unix, conn);
                }
                Err(e) => self.node.handle_connect_failed(t, unix, conn, &e.to_string()),
            },
            Input::Dialed(conn, Err(e)) => self.node.handle_connect_failed(t, unix, conn, &e),
            Input::Bytes(conn, bytes) => self.node.handle_bytes(t, unix, conn, &bytes),
            Input::Closed(conn, reason) => self.node.handle_socket_closed(t, unix, conn, reason),
            Input::Writable(conn) => {
                self.flush_pending(conn);
                let still_blocked = self.conns.get(&conn).is_some_and(|c| !c.pending.is_empty());
                if !still_blocked {
                    self.node.set_writable(conn, true);
                }
            }
            Input::Resolved { known, preferred } => self.node.set_config_peers(known, preferred),
        }
    }

    fn handle_command(&mut self, cmd: Command) {
        let t = now();
        match cmd {
            Command::Broadcast(m, r) => {
                let _ = r.send(self.node.broadcast(t, m));
            }
            Command::SendTo(p, m, r) => {
                let _ = r.send(self.node.send_to(t, p, &m));
            }
            Command::RequestScpState(l) => self.node.request_scp_state(t, l),
            Command::Connect(a, r) => {
                let _ = r.send(self.node.connect(t, a).map(|_| ()));
            }
            Command::Disconnect(p, r) => {
                let _ = r.send(self.node.disconnect(t, p));
            }
            Command::Ban(p, r) => {
                let _ = r.send(self.node.ban_and_drop(t, p));
            }
            Command::Unban(p, r) => {
                let _ = r.send(self.node.unban(&p));
            }
            Command::Bans(r) => {
                let _ = r.send(self.node.bans());
            }
            Command::PeerInfos(r) => {
                let _ = r.send(self.peer_infos());
            }
            Command::Metrics(r) => {
                let _ = r.send(self.node.metrics());
            }
            Command::Shutdown(r) => {
                self.node.shutdown(t);
                self.shutdown_reply = Some(r);
            }
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.node
            .authenticated_peers()
            .filter_map(|(id, conn)| {
                let p = self.node.peer(conn)?;
                let remote = p.remote()?;
                let s = p.stats();
                Some(PeerInfo {
                    peer_id: id,
                    address: p.address().clone(),
                    direction: p.role(),
                    version_string: remote.version_str.clone(),
                    overlay_version: remote.overlay_version,
                    messages_read: s.messages_read,
                    messages_written: s.messages_written,
                    bytes_read: s.bytes_read,
                    bytes_written: s.bytes_written,
                    latency_ms: s.latency_ms,
                })
            })
            .collect()
    }

    fn drain_outputs(&mut self) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Connect { conn, address } => self.dial(conn, address),
                Output::Transmit { conn, bytes } => self.transmit(conn, bytes),
                Output::Close { conn } => self.close(conn),
                Output::Event(e) => self.publish(e),
            }
        }
    }

    fn dial(&mut self, conn: ConnId, address: PeerAddress) {
        let inputs = self.ch.inputs_tx.clone();
        let timeout = self.settings.connect_timeout;
        self.dials.retain(|d| !d.is_finished());
        self.dials.push(tokio::spawn(async move {
            let result = match address.socket_addr() {
                Some(sa) => match tokio::time::timeout(timeout, TcpStream::connect(sa)).await {
                    Ok(Ok(s)) => s.set_nodelay(true).map(|_| s).map_err(|e| e.to_string()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("timed out".to_string()),
                },
                None => Err(format!("{address} is not an IP address")),
            };
            let _ = inputs.send(Input::Dialed(conn, result)).await;
        }));
    }

    fn attach(&mut self, conn: ConnId, stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let (wtx, wrx) = mpsc::channel(self.settings.write_queue_batches.max(1));
        let blocked = Arc::new(AtomicBool::new(false));
        let inputs = self.ch.inputs_tx.clone();
        // One span per connection: socket errors and the connection's events carry it.
        let span = tracing::info_span!("peer", conn = conn.0, %remote);
        let writer_task =
            tokio::spawn(write_loop(conn, wr, wrx, blocked.clone(), inputs.clone()).instrument(span.clone()));
        let reader = tokio::spawn(read_loop(conn, rd, self.settings.read_chunk_bytes, inputs).instrument(span.clone()));
        let io = ConnIo { remote, writer: Some(wtx), blocked, pending: VecDeque::new(), reader, writer_task, span };
        self.conns.insert(conn, io);
    }

    fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.pending.push_back(bytes);
        self.flush_pending(conn);
        if self.conns.get(&conn).is_some_and(|c| !c.pending.is_empty()) {
            self.node.set_writable(conn, false);
        }
    }

    fn flush_pending(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Some(w) = c.writer.as_ref() else { return };
        while let Some(b) = c.pending.pop_front() {
            match w.try_send(b) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(b)) => {
                    c.pending.push_front(b);
                    c.blocked.store(true, Ordering::Release);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    c.pending.clear();
                    return;
                }
            }
        }
    }

    fn close(&mut self, conn: ConnId) {
        let Some(mut c) = self.conns.remove(&conn) else { return };
        c.reader.abort();
        self.closing.push(c.reader);
        // Dropping the sender lets the writer finish what it holds, then shut down.
        if let Some(w) = c.writer.take() {
            let pending = std::mem::take(&mut c.pending);
            self.closing.push(tokio::spawn(async move {
                for b in pending {
                    if w.send(b).await.is_err() {
                        break;
                    }
                }
            }));
        }
        self.closing.push(c.writer_task);
        self.closing.retain(|h| !h.is_finished());
    }

    fn socket_of(&self, conn: ConnId, address: &PeerAddress) -> SocketAddr {
        if let Some(c) = self.conns.get(&conn) {
            return c.remote;
        }
        match address.host {
            Host::Ip(ip) => SocketAddr::new(ip, address.port),
            Host::Name(_) => SocketAddr::from(([0, 0, 0, 0], address.port)),
        }
    }

    fn publish(&mut self, e: NodeEvent) {
        self.trace(&e);
        let event = match e {
            NodeEvent::Connected { conn, address, role, remote } => {
                OverlayEvent::Connected { address: self.socket_of(conn, &address), direction: role, remote }
            }
            NodeEvent::Message { peer, message, size, .. } => {
                let message_type = message.discriminant();
                let _ = self.ch.messages.send(ReceivedMessage { from_peer: peer, message });
                OverlayEvent::Message { peer, message_type, bytes: size }
            }
            NodeEvent::Control { peer, message_type, size, .. } => {
                OverlayEvent::Message { peer, message_type, bytes: size }
            }
            NodeEvent::Disconnected { conn, peer, address, reason, .. } => OverlayEvent::Disconnected {
                peer,
                address: self.socket_of(conn, &address),
                reason: reason.text().into_owned(),
            },
        };
        let _ = self.ch.events.send(event);
    }
}

impl NodeTask {
    /// Connection events go to `tracing` inside the connection's span (debug level for
    /// messages, info for connects and drops).
    fn trace(&self, e: &NodeEvent) {
        let span = |conn: &ConnId| self.conns.get(conn).map(|c| c.span.clone()).unwrap_or_else(tracing::Span::none);
        match e {
            NodeEvent::Connected { conn, remote, role, .. } => span(conn).in_scope(
                || tracing::info!(peer = %remote.node_id, ?role, version = %remote.version_str, "authenticated"),
            ),
            NodeEvent::Message { conn, message, size, .. } => span(conn)
                .in_scope(|| tracing::debug!(kind = message.discriminant().wire_name(), bytes = size, "received")),
            NodeEvent::Control { .. } => {}
            NodeEvent::Disconnected { conn, peer, reason, .. } => {
                span(conn).in_scope(|| tracing::info!(peer = ?peer.map(|p| p.to_string()), reason = %reason, "dropped"))
            }
        }
    }
}

async fn read_loop(conn: ConnId, mut rd: OwnedReadHalf, chunk: usize, inputs: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; chunk.max(4096)];
    loop {
        let input = match rd.read(&mut buf).await {
            Ok(0) => Input::Closed(conn, DropReason::RemoteClosed),
            Ok(n) => Input::Bytes(conn, buf[..n].to_vec()),
            Err(e) => Input::Closed(conn, DropReason::Io(format!("error during read: {e}").into())),
        };
        let last = matches!(input, Input::Closed(..));
        if inputs.send(input).await.is_err() || last {
            return;
        }
    }
}

/// Inputs the node task takes in one turn of its loop before it looks at commands and timers.
const INPUTS_PER_TURN: usize = 64;

/// Bytes gathered into one write at most (beyond one batch).
const WRITE_COALESCE_BYTES: usize = 256 * 1024;

async fn write_loop(
    conn: ConnId,
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<u8>>,
    blocked: Arc<AtomicBool>,
    inputs: mpsc::Sender<Input>,
) {
    while let Some(mut batch) = rx.recv().await {
        // Batches that queued up while the last write was in flight go out in the same
        // write: one syscall for many frames on a busy connection (PERF.md).
        while batch.len() < WRITE_COALESCE_BYTES {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if let Err(e) = wr.write_all(&batch).await {
            let reason = DropReason::Io(format!("error during write: {e}").into());
            let _ = inputs.send(Input::Closed(conn, reason)).await;
            return;
        }
        if blocked.swap(false, Ordering::AcqRel) {
            let _ = inputs.send(Input::Writable(conn)).await;
        }
    }
    let _ = wr.shutdown().await;
}

/// Accept connections and hand them to the node task until it stops.
pub(crate) async fn accept_loop(listener: TcpListener, inputs: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                if inputs.send(Input::Accepted(stream, addr)).await.is_err() {
                    return;
                }
            }
            // Out of file descriptors and similar: wait a little instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
