//! The node task: it owns the sans-IO [`Node`] and carries out what it asks for, following
//! the run-loop contract of `overlay_node::node`. Sockets are served by the tasks of
//! [`io`](super::io), the application by its own thread, the peer database by the store
//! writer; all of them talk to this task through bounded channels. No protocol decision is
//! made here.

use super::error::ConnectError;
use super::events::{
    FlowInfo, NodeInfo, OverlayEvent, OverlaySnapshot, PeerInfo, PeersReport, PendingPeer, ReceivedMessage,
};
use super::io::{self, DialError};
use super::persist::{StoreWriter, WriterReport};
use super::subscribe::Hub;
use crate::clock::{instant_of, now, unix_now};
use overlay_node::app::{AppInput, Delivery};
use overlay_node::discovery::StoreError;
use overlay_node::metrics::Histogram;
use overlay_node::{ConnId, DropReason, LedgerState, Node, NodeError, NodeEvent, NodeSizes, Output};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{Host, MessageClass, NodeId, PeerAddress};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub(crate) enum Input {
    Accepted(TcpStream, SocketAddr),
    Dialed(ConnId, Result<TcpStream, DialError>),
    Bytes(ConnId, Vec<u8>),
    Closed(ConnId, DropReason),
    Writable(ConnId),
    Resolved { known: Vec<PeerAddress>, preferred: Vec<PeerAddress> },
}

type Reply<T> = oneshot::Sender<T>;

/// A `connect` call waiting: its reply, and the peer once authenticated.
type Connecting = (Reply<Result<NodeId, ConnectError>>, Option<NodeId>);

pub(crate) enum Command {
    Broadcast(StellarMessage, Reply<Result<usize, NodeError>>),
    SendTo(NodeId, StellarMessage, Reply<Result<(), NodeError>>),
    RequestScpState(u32),
    Connect(PeerAddress, Reply<Result<NodeId, ConnectError>>),
    Disconnect(NodeId, Reply<Result<(), NodeError>>),
    Ban(NodeId, Reply<Result<(), StoreError>>),
    Unban(NodeId, Reply<Result<(), StoreError>>),
    Bans(Reply<Vec<NodeId>>),
    Metrics(Reply<Vec<(&'static str, u64)>>),
    App(AppInput, Reply<Result<(), NodeError>>),
    SetSynced(bool),
    Ledger(Reply<LedgerState>),
    Sizes(Reply<NodeSizes>),
    Peers(Reply<PeersReport>),
    Info(Reply<NodeInfo>),
    Snapshot(Reply<OverlaySnapshot>),
    Survey(super::survey::SurveyCommand),
    Shutdown(Reply<()>),
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

/// What the node task shares with the manager.
pub(crate) struct Shared {
    pub hub: Arc<Hub>,
    pub events: broadcast::Sender<OverlayEvent>,
    /// Refreshed on every connect and drop, and at most a second old otherwise.
    pub peers: Arc<Mutex<Vec<PeerInfo>>>,
    /// Peer-database writes that failed or were dropped (counted by the writer's report).
    pub store_failures: Arc<std::sync::atomic::AtomicU64>,
}

pub(crate) struct Channels {
    pub inputs_tx: mpsc::Sender<Input>,
    pub inputs: mpsc::Receiver<Input>,
    pub commands: mpsc::Receiver<Command>,
    pub app_inputs: mpsc::Receiver<AppInput>,
    pub deliveries: mpsc::Sender<Delivery>,
}

pub(crate) struct Settings {
    pub connect_timeout: Duration,
    pub read_chunk_bytes: usize,
    pub write_queue_batches: usize,
}

/// Inputs the node task takes in one turn of its loop before it looks at commands and timers.
const INPUTS_PER_TURN: usize = 64;

/// How old the peer snapshot of `peer_infos` may get.
const PEER_INFO_REFRESH: Duration = Duration::from_secs(1);

pub(crate) struct NodeTask {
    node: Node,
    ch: Channels,
    shared: Shared,
    settings: Settings,
    writer: Option<StoreWriter>,
    conns: BTreeMap<ConnId, ConnIo>,
    /// `connect` calls waiting for their connection to be accepted or to end. Accepted means
    /// authenticated and granted flow control: the remote sends its first SEND_MORE_EXTENDED
    /// only once it admitted us (§3.6 steps 6–7); a remote without a slot sends ERROR instead.
    connecting: BTreeMap<ConnId, Connecting>,
    /// Writer tasks of closed connections, awaited at shutdown so queued bytes are flushed,
    /// and their aborted readers.
    closing: Vec<JoinHandle<()>>,
    /// Dials in progress, aborted at shutdown.
    dials: Vec<JoinHandle<()>>,
    shutdown_reply: Option<Reply<()>>,
    deliveries_missed: u64,
    peers_refreshed: Instant,
    /// Time to process reads, per message type code (see `OverlaySnapshot::processing`).
    processing: [Histogram; 32],
    started: Instant,
    started_unix: u64,
}

impl NodeTask {
    pub(crate) fn new(
        node: Node,
        ch: Channels,
        shared: Shared,
        settings: Settings,
        writer: Option<StoreWriter>,
    ) -> Self {
        NodeTask {
            node,
            ch,
            shared,
            settings,
            writer,
            conns: BTreeMap::new(),
            connecting: BTreeMap::new(),
            closing: Vec::new(),
            dials: Vec::new(),
            shutdown_reply: None,
            deliveries_missed: 0,
            peers_refreshed: Instant::now(),
            processing: [Histogram::default(); 32],
            started: Instant::now(),
            started_unix: unix_now(),
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
            if self.peers_refreshed.elapsed() >= PEER_INFO_REFRESH {
                self.refresh_peers();
            }
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
                Some(input) = self.ch.app_inputs.recv() => {
                    let _ = self.node.handle_app(now(), input);
                    for _ in 1..INPUTS_PER_TURN {
                        let Ok(input) = self.ch.app_inputs.try_recv() else { break };
                        let _ = self.node.handle_app(now(), input);
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
        self.finish().await;
    }

    /// After shutdown: end every socket task (writers flush first), end the subscriptions,
    /// write what the peer database still needs.
    async fn finish(&mut self) {
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
        for (_, (w, _)) in std::mem::take(&mut self.connecting) {
            let _ = w.send(Err(ConnectError::Dropped("shutdown".into())));
        }
        self.shared.hub.close();
        self.shared.peers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(thread) = self.writer.take().and_then(StoreWriter::close) {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
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
            Input::Dialed(conn, Err(e)) => {
                if let Some((w, _)) = self.connecting.remove(&conn) {
                    let err = match &e {
                        DialError::Refused => ConnectError::Refused,
                        DialError::TimedOut => ConnectError::TimedOut,
                        DialError::Other(s) => ConnectError::Dropped(s.clone()),
                    };
                    let _ = w.send(Err(err));
                }
                self.node.handle_connect_failed(t, unix, conn, &e.to_string());
            }
            Input::Bytes(conn, bytes) => self.handle_bytes_timed(t, unix, conn, &bytes),
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

    /// Hand a read to the node and share the time it took evenly among the messages it
    /// carried, per type.
    fn handle_bytes_timed(&mut self, t: overlay_proto::Timestamp, unix: u64, conn: ConnId, bytes: &[u8]) {
        let before = self.node.peer(conn).map(|p| *p.traffic());
        let start = Instant::now();
        self.node.handle_bytes(t, unix, conn, bytes);
        let elapsed = start.elapsed();
        let (Some(before), Some(after)) = (before, self.node.peer(conn).map(|p| *p.traffic())) else { return };
        let read: Vec<(MessageType, u64)> =
            after.read().into_iter().map(|(ty, m, _)| (ty, m - before.read_of(ty))).filter(|(_, n)| *n > 0).collect();
        let total: u64 = read.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return;
        }
        let each = elapsed / u32::try_from(total).unwrap_or(u32::MAX);
        for (ty, n) in read {
            if let Some(h) = self.processing.get_mut(ty as usize) {
                h.observe_n(each, n);
            }
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
            Command::Connect(a, r) => match self.node.connect(t, a) {
                Ok(conn) => {
                    self.connecting.insert(conn, (r, None));
                }
                Err(e) => {
                    let _ = r.send(Err(e.into()));
                }
            },
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
            Command::Metrics(r) => {
                let _ = r.send(self.node.metrics());
            }
            Command::App(input, r) => {
                let _ = r.send(self.node.handle_app(t, input));
            }
            Command::SetSynced(synced) => {
                let ledger = LedgerState { synced, ..*self.node.ledger() };
                let _ = self.node.handle_app(t, AppInput::Ledger(ledger));
            }
            Command::Ledger(r) => {
                let _ = r.send(*self.node.ledger());
            }
            Command::Sizes(r) => {
                let _ = r.send(self.node.sizes());
            }
            Command::Peers(r) => {
                let pending = self
                    .node
                    .connections()
                    .filter(|(id, _, p)| {
                        !self.node.authenticated_peers().any(|(_, c)| c == *id) && p.is_none_or(|p| !p.is_closed())
                    })
                    .map(|(_, role, p)| PendingPeer {
                        address: p.map(|p| p.address().clone()).unwrap_or_else(|| PeerAddress::new("0.0.0.0", 1)),
                        direction: role,
                    })
                    .collect();
                let _ = r.send(PeersReport { authenticated: self.peer_infos_now(), pending });
            }
            Command::Info(r) => {
                let (pi, po, ai, ao) = self.node.connection_counts();
                let hello = self.node.hello();
                let _ = r.send(NodeInfo {
                    node_id: self.node.node_id(),
                    version_str: hello.version_str.clone(),
                    overlay_versions: (hello.overlay_min_version, hello.overlay_version),
                    ledger: *self.node.ledger(),
                    authenticated_count: ai + ao,
                    pending_count: pi + po,
                    started_unix: self.started_unix,
                    shutting_down: self.shutdown_reply.is_some(),
                });
            }
            Command::Snapshot(r) => {
                let processing = MessageType::VARIANTS
                    .iter()
                    .filter_map(|ty| self.processing.get(*ty as usize).filter(|h| h.count() > 0).map(|h| (*ty, *h)))
                    .collect();
                let _ = r.send(OverlaySnapshot {
                    node: self.node.snapshot(t),
                    processing,
                    deliveries_missed: self.deliveries_missed,
                    store_failures: self.shared.store_failures.load(Ordering::Relaxed),
                    uptime_secs: self.started.elapsed().as_secs(),
                });
            }
            Command::Survey(c) => c.run(&mut self.node, t),
            Command::Shutdown(r) => {
                self.node.shutdown(t);
                self.shutdown_reply = Some(r);
            }
        }
    }

    fn refresh_peers(&mut self) {
        self.peers_refreshed = Instant::now();
        let infos = self.peer_infos_now();
        *self.shared.peers.lock().unwrap_or_else(|p| p.into_inner()) = infos;
    }

    fn peer_infos_now(&self) -> Vec<PeerInfo> {
        let now = now();
        self.node
            .authenticated_peers()
            .filter_map(|(id, conn)| {
                let p = self.node.peer(conn)?;
                let remote = p.remote()?;
                let s = p.stats();
                let f = p.flow_stats();
                let queued = |m: fn(&overlay_flow::QueueStats) -> u64| f.queues.iter().map(m).sum::<u64>();
                Some(PeerInfo {
                    peer_id: id,
                    address: p.address().clone(),
                    direction: p.role(),
                    version_string: remote.version_str.clone(),
                    overlay_version: remote.overlay_version,
                    overlay_min_version: remote.overlay_min_version,
                    ledger_version: remote.ledger_version,
                    messages_read: s.messages_read,
                    messages_written: s.messages_written,
                    bytes_read: s.bytes_read,
                    bytes_written: s.bytes_written,
                    latency_ms: s.latency_ms,
                    elapsed_secs: s.authenticated_at.map_or(0, |a| (now - a).as_secs()),
                    flow: FlowInfo {
                        local_flood_msgs: f.local.flood_available_msgs,
                        local_reading_msgs: f.local.total_available_msgs,
                        local_flood_bytes: f.local.flood_available_bytes,
                        peer_msgs: f.outbound.capacity_msgs,
                        peer_bytes: f.outbound.capacity_bytes,
                        queued_msgs: queued(|q| q.len_msgs as u64),
                        queued_bytes: queued(|q| q.bytes),
                    },
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
                Output::Deliver(d) => self.deliver(d),
                Output::Store(c) => self.persist(c),
                Output::Event(e) => self.publish(e),
            }
        }
    }

    fn deliver(&mut self, d: Delivery) {
        if self.ch.deliveries.try_send(d).is_err() {
            self.deliveries_missed += 1;
            let _ = self.shared.events.send(OverlayEvent::ApplicationLagged { missed: self.deliveries_missed });
        }
    }

    fn persist(&mut self, change: overlay_node::discovery::StoreChange) {
        let Some(w) = self.writer.as_ref() else { return };
        if let Some(WriterReport::Dropped) = w.push(change) {
            let error = "the peer database fell behind; a change was not written".to_string();
            let _ = self.shared.events.send(OverlayEvent::StoreFailed { error });
        }
    }

    fn dial(&mut self, conn: ConnId, address: PeerAddress) {
        let inputs = self.ch.inputs_tx.clone();
        self.dials.retain(|d| !d.is_finished());
        self.dials.push(tokio::spawn(io::dial(conn, address, self.settings.connect_timeout, inputs)));
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
            tokio::spawn(io::write_loop(conn, wr, wrx, blocked.clone(), inputs.clone()).instrument(span.clone()));
        let chunk = self.settings.read_chunk_bytes;
        let reader = tokio::spawn(io::read_loop(conn, rd, chunk, inputs).instrument(span.clone()));
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
                if let Some((_, id)) = self.connecting.get_mut(&conn) {
                    *id = Some(remote.node_id);
                }
                self.refresh_peers();
                OverlayEvent::Connected { address: self.socket_of(conn, &address), direction: role, remote }
            }
            NodeEvent::Message { peer, message, size, first_seen, .. } => {
                let message_type = message.message_type();
                if !self.shared.hub.is_empty() {
                    let m = match message {
                        overlay_node::Received::Other(m) => m,
                        other => Arc::new(other.to_message()),
                    };
                    let received = ReceivedMessage { from_peer: peer, message: m, first_seen };
                    for missed in self.shared.hub.publish(&received) {
                        let _ = self.shared.events.send(OverlayEvent::SubscriberLagged { missed });
                    }
                }
                OverlayEvent::Message { peer, message_type, bytes: size, first_seen }
            }
            NodeEvent::Control { conn, peer, message_type, size } => {
                if message_type == MessageType::SendMoreExtended
                    && self.connecting.get(&conn).is_some_and(|(_, id)| id.is_some())
                {
                    if let Some((w, _)) = self.connecting.remove(&conn) {
                        let _ = w.send(Ok(peer));
                    }
                }
                OverlayEvent::Message { peer, message_type, bytes: size, first_seen: true }
            }
            NodeEvent::Disconnected { conn, peer, address, reason, was_authenticated, .. } => {
                if let Some((w, _)) = self.connecting.remove(&conn) {
                    let _ = w.send(Err(ConnectError::from_drop(&reason)));
                }
                if was_authenticated {
                    self.refresh_peers();
                }
                OverlayEvent::Disconnected {
                    peer,
                    address: self.socket_of(conn, &address),
                    reason: reason.text().into_owned(),
                }
            }
        };
        let _ = self.shared.events.send(event);
    }

    /// Connection events go to `tracing` inside the connection's span (debug level for
    /// messages, info for connects and drops).
    fn trace(&self, e: &NodeEvent) {
        let span = |conn: &ConnId| self.conns.get(conn).map(|c| c.span.clone()).unwrap_or_else(tracing::Span::none);
        match e {
            NodeEvent::Connected { conn, remote, role, .. } => span(conn).in_scope(
                || tracing::info!(peer = %remote.node_id, ?role, version = %remote.version_str, "authenticated"),
            ),
            NodeEvent::Message { conn, message, size, .. } => span(conn)
                .in_scope(|| tracing::debug!(kind = message.message_type().wire_name(), bytes = size, "received")),
            NodeEvent::Control { .. } => {}
            NodeEvent::Disconnected { conn, peer, reason, .. } => {
                span(conn).in_scope(|| tracing::info!(peer = ?peer.map(|p| p.to_string()), reason = %reason, "dropped"))
            }
        }
    }
}
