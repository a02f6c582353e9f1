//! The node task: it owns the sans-IO [`Node`] and carries out what it asks for, following
//! the run-loop contract of `overlay_node::node`. Sockets are served by the tasks of
//! [`io`](super::io), the application by its own thread, the peer database by the store
//! writer; all of them talk to this task through bounded channels. No protocol decision is
//! made here.

use super::batch::BatchSender;
use super::io;
use super::subscribe::Hub;
use crate::clock::{instant_of, now, unix_now};
use overlay_host::connect::{ConnectWaiters, DialError};
use overlay_host::persist::{StoreWriter, WriterReport};
use overlay_host::report::{self, ProcessingTimes};
use overlay_host::{
    ConnectError, NodeInfo, OverlayEvent, OverlaySnapshot, PeerInfo, PeersReport, ReceivedMessage, fallback_socket,
};
use overlay_node::app::{AppInput, Delivery};
use overlay_node::discovery::StoreError;
use overlay_node::{ConnId, DropReason, LedgerState, Node, NodeError, NodeEvent, NodeSizes, Opened, Output};
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{MessageClass, NodeId, PeerAddress};
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
    /// Messages the connection's reader opened, and then the reason to drop the connection
    /// if it found one.
    Read(ConnId, Vec<Opened>, Result<(), DropReason>),
    Closed(ConnId, DropReason),
    Writable(ConnId),
    Resolved {
        known: Vec<PeerAddress>,
        preferred: Vec<PeerAddress>,
    },
}

type Reply<T> = oneshot::Sender<T>;

pub(crate) enum Command {
    Broadcast(StellarMessage, Reply<Result<usize, NodeError>>),
    SendTo(NodeId, StellarMessage, Reply<Result<(), NodeError>>),
    SendManyTo(NodeId, Vec<StellarMessage>, Reply<Result<usize, NodeError>>),
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
    writer: Option<mpsc::Sender<io::Write>>,
    /// Set when the node task found the writer full; the writer reports `Writable` after
    /// its next write.
    blocked: Arc<AtomicBool>,
    /// Batches the writer could not take yet.
    pending: VecDeque<io::Write>,
    /// Answers the reader's reads until it has the peer's reader.
    handover: Option<mpsc::Sender<io::Handover>>,
    /// Returned to the reader for each batch of opened messages taken.
    read_credit: Arc<tokio::sync::Semaphore>,
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
    pub app_inputs: mpsc::Receiver<Vec<AppInput>>,
    pub deliveries: BatchSender<Delivery>,
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
    /// `connect` calls waiting for their connection to be accepted or to end.
    connecting: ConnectWaiters<Reply<Result<NodeId, ConnectError>>>,
    /// Writer tasks of closed connections, awaited at shutdown so queued bytes are flushed,
    /// and their aborted readers.
    closing: Vec<JoinHandle<()>>,
    /// Dials in progress, aborted at shutdown.
    dials: Vec<JoinHandle<()>>,
    /// Connections whose writer task is to get the peer's sealer (see `hand_sealers`).
    awaiting_sealer: Vec<ConnId>,
    shutdown_reply: Option<Reply<()>>,
    deliveries_missed: u64,
    peers_refreshed: Instant,
    /// Time to process reads, per message type (see `OverlaySnapshot::processing`).
    processing: ProcessingTimes,
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
            connecting: ConnectWaiters::default(),
            closing: Vec::new(),
            dials: Vec::new(),
            awaiting_sealer: Vec::new(),
            shutdown_reply: None,
            deliveries_missed: 0,
            peers_refreshed: Instant::now(),
            processing: ProcessingTimes::default(),
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
                        self.carry_out();
                        self.handle_input(input);
                    }
                }
                Some(inputs) = self.ch.app_inputs.recv() => {
                    let t = now();
                    for input in inputs {
                        let _ = self.node.handle_app(t, input);
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
        for w in self.connecting.drain() {
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
                if let Some((w, err)) = self.connecting.dial_failed(conn, &e) {
                    let _ = w.send(Err(err));
                }
                self.node.handle_connect_failed(t, unix, conn, &e.to_string());
            }
            Input::Bytes(conn, bytes) => {
                self.processing.handle_bytes(&mut self.node, t, unix, conn, &bytes);
                self.answer_read(conn);
            }
            Input::Read(conn, opened, result) => {
                self.processing.measure(&mut self.node, conn, |n| n.handle_read(t, unix, conn, opened, result));
                if let Some(c) = self.conns.get(&conn) {
                    c.read_credit.add_permits(1);
                }
            }
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
            Command::SendManyTo(p, m, r) => {
                let _ = r.send(self.node.send_many_to(t, p, &m));
            }
            Command::RequestScpState(l) => self.node.request_scp_state(t, l),
            Command::Connect(a, r) => match self.node.connect(t, a) {
                Ok(conn) => self.connecting.insert(conn, r),
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
                let _ = r.send(report::peers_report(&self.node, t));
            }
            Command::Info(r) => {
                let shutting_down = self.shutdown_reply.is_some();
                let _ = r.send(report::node_info(&self.node, self.started_unix, shutting_down));
            }
            Command::Snapshot(r) => {
                let failures = self.shared.store_failures.load(Ordering::Relaxed);
                let uptime = self.started.elapsed();
                let missed = self.deliveries_missed;
                let _ = r.send(report::snapshot(&self.node, t, &self.processing, missed, failures, uptime));
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
        report::peer_infos(&self.node, now())
    }

    /// Carry out every output, then hand this turn's deliveries and messages over (one
    /// wake-up for the application and for each subscriber).
    fn drain_outputs(&mut self) {
        self.carry_out();
        self.ch.deliveries.flush();
        self.shared.hub.flush();
    }

    /// Carry out the outputs so far. Between the inputs of one turn, so that what an input
    /// produced for a socket (a flow-control grant, a forwarded envelope) is written without
    /// waiting for the rest of the turn; deliveries and subscribers' messages still go over
    /// once per turn.
    fn carry_out(&mut self) {
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
        if !self.awaiting_sealer.is_empty() {
            self.hand_sealers();
        }
    }

    fn deliver(&mut self, d: Delivery) {
        if self.ch.deliveries.push(d).is_err() {
            self.deliveries_missed += 1;
            let _ = self.shared.events.send(OverlayEvent::ApplicationLagged { missed: self.deliveries_missed });
        }
    }

    fn persist(&mut self, change: overlay_node::discovery::StoreChange) {
        let Some(w) = self.writer.as_ref() else { return };
        if let Some(WriterReport::Dropped) = w.push(change) {
            let _ = self.shared.events.send(overlay_host::setup::store_fell_behind());
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
        // One answer per read, and the reader waits for it before the next.
        let (handover, handover_rx) = mpsc::channel(1);
        let read_credit = Arc::new(tokio::sync::Semaphore::new(io::OPENED_IN_FLIGHT));
        let read_loop = io::read_loop(conn, rd, chunk, inputs, handover_rx, read_credit.clone());
        let reader = tokio::spawn(read_loop.instrument(span.clone()));
        let io = ConnIo {
            remote,
            writer: Some(wtx),
            blocked,
            pending: VecDeque::new(),
            handover: Some(handover),
            read_credit,
            reader,
            writer_task,
            span,
        };
        self.conns.insert(conn, io);
    }

    /// After a read of `conn` went to the node as bytes: hand the connection's reader over
    /// if the node offers it, or tell the reader to go on.
    fn answer_read(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let Some(handover) = c.handover.as_ref() else { return };
        let reader = self.node.take_reader(conn);
        let taken = reader.is_some();
        // The reader waits for this answer and sends nothing meanwhile: there is room.
        let _ = handover.try_send(reader);
        if taken {
            c.handover = None;
            self.awaiting_sealer.push(conn);
        }
    }

    /// Once a connection's reader is out, its [`PeerWriter`](overlay_node::PeerWriter) goes
    /// to its writer task too, queued after every batch sealed here. The node offers it only
    /// when none of its sealed frames is left (all outputs taken, the peer's queue drained), so
    /// a connection that cannot write yet is asked again after the next turn.
    fn hand_sealers(&mut self) {
        let waiting = std::mem::take(&mut self.awaiting_sealer);
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            match self.node.take_writer(conn) {
                Some(w) => {
                    c.pending.push_back(io::Write::Sealer(Box::new(w)));
                    self.flush_pending(conn);
                }
                None => self.awaiting_sealer.push(conn),
            }
        }
    }

    fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.pending.push_back(io::Write::Frames(bytes));
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
        self.conns.get(&conn).map_or_else(|| fallback_socket(address), |c| c.remote)
    }

    fn publish(&mut self, e: NodeEvent) {
        self.trace(&e);
        if let Some((w, result)) = self.connecting.on_event(&e) {
            let _ = w.send(result);
        }
        let socket = match &e {
            NodeEvent::Connected { conn, address, .. } | NodeEvent::Disconnected { conn, address, .. } => {
                self.socket_of(*conn, address)
            }
            _ => fallback_socket(&PeerAddress::new("0.0.0.0", 0)),
        };
        let event = OverlayEvent::from_node(&e, socket);
        match e {
            NodeEvent::Connected { .. } => self.refresh_peers(),
            NodeEvent::Disconnected { was_authenticated: true, .. } => self.refresh_peers(),
            NodeEvent::Message { peer, message, first_seen, .. } if !self.shared.hub.is_empty() => {
                let received = ReceivedMessage::new(peer, message, first_seen);
                for missed in self.shared.hub.publish(&received) {
                    let _ = self.shared.events.send(OverlayEvent::SubscriberLagged { missed });
                }
            }
            _ => {}
        }
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
