//! The event loop: one thread owns the sans-IO [`Node`], a `mio::Poll`, the listener and
//! one socket per connection, and follows the run-loop contract of `overlay_node::node`:
//! feed an input, drain the outputs, write what they left, sleep until the next socket
//! event, wake-up or deadline. Commands from other threads, the application's inputs and
//! re-resolved peers arrive on queues that rouse the loop through a `mio::Waker`. No
//! protocol decision is made here.

mod io;
mod outputs;
mod socket;

use crate::channels::Fanout;
use crate::queue::{Receiver, Sender, Wake};
use mio::net::TcpListener;
use mio::{Events, Poll, Token};
use overlay_host::clock::{instant_of, now, unix_now};
use overlay_host::connect::{ConnectWaiters, DialError};
use overlay_host::persist::StoreWriter;
use overlay_host::report::{self, ProcessingTimes};
use overlay_host::{ConnectError, NodeInfo, OverlayEvent, OverlaySnapshot, PeerInfo, PeersReport, ReceivedMessage};
use overlay_node::app::{AppInput, Delivery};
use overlay_node::{ConnId, Node};
use overlay_proto::{NodeId, PeerAddress};
use socket::{Phase, Socket};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A reply to a command.
pub(crate) type Reply<T> = Sender<T>;

/// Work for the loop: it runs with the driver (the node and the driver's reports) and
/// answers through a reply it carries.
pub(crate) type Job = Box<dyn FnOnce(&mut Driver) + Send>;

/// What other threads ask of the loop.
pub(crate) enum Command {
    /// Run this on the loop, then drain the node's outputs.
    Job(Job),
    /// Dial this (resolved) address and answer once the peer admitted us, or why not.
    Connect(PeerAddress, Reply<Result<NodeId, ConnectError>>),
    /// Drop every peer, flush, stop; answer once everything is closed and written.
    Shutdown(Reply<()>),
}

/// Configured peers, resolved again.
pub(crate) type Resolved = (Vec<PeerAddress>, Vec<PeerAddress>);

/// The loop's queues.
pub(crate) struct Inputs {
    pub commands: Receiver<Command>,
    /// Batches of answers from the application thread.
    pub app: Receiver<Vec<AppInput>>,
    pub resolved: Receiver<Resolved>,
    pub deliveries: Sender<Delivery>,
    /// Never sent on; dropped with the loop, which stops the resolver thread.
    pub _resolver_stop: Sender<()>,
}

/// What the loop shares with the manager.
#[derive(Clone)]
pub(crate) struct Shared {
    pub subscribers: Arc<Fanout<ReceivedMessage>>,
    pub events: Arc<Fanout<OverlayEvent>>,
    /// Refreshed on every connect and drop, and at most a second old otherwise.
    pub peers: Arc<Mutex<Vec<PeerInfo>>>,
    /// Peer-database writes that failed or were dropped.
    pub store_failures: Arc<AtomicU64>,
}

/// Socket settings from the configuration.
pub(crate) struct Settings {
    pub connect_timeout: Duration,
    pub read_chunk_bytes: usize,
    /// Bytes buffered for a connection past which the node holds its output
    /// (`set_writable(false)`) until a quarter of it is left.
    pub write_buffer_bytes: usize,
}

/// The waker's token; connections use their `ConnId`.
const WAKE: Token = Token(usize::MAX);
/// The listener's token.
const LISTENER: Token = Token(usize::MAX - 1);
/// Socket events taken per poll.
const EVENTS_PER_POLL: usize = 1024;
/// Commands, application inputs and reads of one socket taken per turn of the loop, so
/// that none starves the others.
const INPUTS_PER_TURN: usize = 64;
/// How old the peer snapshot of `peer_infos` may get.
const PEER_INFO_REFRESH: Duration = Duration::from_secs(1);
/// After an accept error (out of file descriptors), wait this long before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// How long a closed connection may take to write what it still holds.
const CLOSE_LINGER: Duration = Duration::from_secs(10);

fn token(conn: ConnId) -> Token {
    Token(usize::try_from(conn.0).unwrap_or(usize::MAX - 2))
}

/// The loop's state: the node and everything around it.
pub(crate) struct Driver {
    pub(crate) node: Node,
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    listener_retry: Option<Instant>,
    wake: Arc<Wake>,
    sockets: HashMap<ConnId, Socket>,
    /// Sockets with bytes to write.
    to_flush: BTreeSet<ConnId>,
    /// Sockets that may have more to read, in turn.
    to_read: VecDeque<ConnId>,
    read_buf: Vec<u8>,
    ch: Inputs,
    /// An input queue had more than one turn's worth: poll without sleeping.
    backlog: bool,
    shared: Shared,
    settings: Settings,
    writer: Option<StoreWriter>,
    connecting: ConnectWaiters<Reply<Result<NodeId, ConnectError>>>,
    processing: ProcessingTimes,
    deliveries_missed: u64,
    started: Instant,
    started_unix: u64,
    peers_refreshed: Instant,
    shutdown_reply: Option<Reply<()>>,
}

/// The parts a driver is made of.
pub(crate) struct Parts {
    pub node: Node,
    pub poll: Poll,
    pub wake: Arc<Wake>,
    pub listener: Option<TcpListener>,
    pub inputs: Inputs,
    pub shared: Shared,
    pub settings: Settings,
    pub writer: Option<StoreWriter>,
}

impl Driver {
    /// A driver of `parts`; the listener, if any, is registered.
    pub(crate) fn new(parts: Parts) -> std::io::Result<Self> {
        let Parts { node, poll, wake, mut listener, inputs, shared, settings, writer } = parts;
        if let Some(l) = listener.as_mut() {
            poll.registry().register(l, LISTENER, mio::Interest::READABLE)?;
        }
        Ok(Driver {
            node,
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listener,
            listener_retry: None,
            wake,
            sockets: HashMap::new(),
            to_flush: BTreeSet::new(),
            to_read: VecDeque::new(),
            read_buf: vec![0; settings.read_chunk_bytes.max(4096)],
            ch: inputs,
            backlog: false,
            shared,
            settings,
            writer,
            connecting: ConnectWaiters::default(),
            processing: ProcessingTimes::default(),
            deliveries_missed: 0,
            started: Instant::now(),
            started_unix: unix_now(),
            peers_refreshed: Instant::now(),
            shutdown_reply: None,
        })
    }

    /// The waker's token, for the manager to build its `mio::Waker`.
    pub(crate) const WAKE_TOKEN: Token = WAKE;

    /// Run until shut down.
    pub(crate) fn run(mut self) {
        loop {
            self.settle();
            if self.peers_refreshed.elapsed() >= PEER_INFO_REFRESH {
                self.refresh_peers();
            }
            if self.finished() {
                break;
            }
            self.flush_handoffs();
            let timeout = self.sleep_for();
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "the event loop cannot poll; stopping");
                    break;
                }
            }
            self.socket_events();
            self.read_ready();
            self.take_inputs();
            self.run_timers();
        }
        self.finish();
    }

    /// Whether shutdown is complete: every connection closed and its bytes written (or
    /// given up after the linger).
    fn finished(&self) -> bool {
        self.shutdown_reply.is_some() && self.node.is_shut_down() && self.sockets.is_empty()
    }

    /// How long to sleep: until the earliest deadline, not at all with work pending.
    fn sleep_for(&self) -> Option<Duration> {
        if self.backlog || !self.to_read.is_empty() {
            return Some(Duration::ZERO);
        }
        let sockets = self.sockets.values().filter_map(|s| match s.phase {
            Phase::Dialing { deadline } | Phase::Closing { deadline } => Some(deadline),
            Phase::Open => None,
        });
        let node = self.node.poll_timeout().map(instant_of);
        let deadline = sockets.chain(node).chain(self.listener_retry).min()?;
        Some(deadline.saturating_duration_since(Instant::now()))
    }

    /// Commands, application inputs and resolved peers, a turn's worth of each.
    fn take_inputs(&mut self) {
        // Rearmed before the queues are read: anything sent after this wakes the loop.
        self.wake.rearm();
        self.backlog = false;
        for n in 0.. {
            if n == INPUTS_PER_TURN {
                self.backlog = true;
                break;
            }
            let Some(command) = self.ch.commands.try_recv() else { break };
            self.handle_command(command);
            self.drain_outputs();
        }
        for n in 0.. {
            if n == INPUTS_PER_TURN {
                self.backlog = true;
                break;
            }
            let Some(inputs) = self.ch.app.try_recv() else { break };
            let t = now();
            for input in inputs {
                // A refused input (an unknown hash, a verdict too late) changes nothing.
                let _ = self.node.handle_app(t, input);
            }
            self.drain_outputs();
        }
        while let Some((known, preferred)) = self.ch.resolved.try_recv() {
            self.node.set_config_peers(known, preferred);
        }
        if self.shutdown_reply.is_none() && self.ch.commands.is_closed() {
            // Every handle is gone: shut down, with no one to answer.
            let (tx, _rx) = crate::queue::reply();
            self.handle_command(Command::Shutdown(tx));
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            Command::Job(job) => job(self),
            Command::Connect(address, reply) => match self.node.connect(now(), address) {
                Ok(conn) => self.connecting.insert(conn, reply),
                Err(e) => {
                    let _ = reply.try_send(Err(e.into()));
                }
            },
            Command::Shutdown(reply) => {
                if self.shutdown_reply.is_none() {
                    self.node.shutdown(now());
                    self.shutdown_reply = Some(reply);
                }
            }
        }
    }

    /// Deadlines: the node's timers, dials that took too long, closed connections that
    /// could not write what they held, a listener to retry.
    fn run_timers(&mut self) {
        if self.node.poll_timeout().is_some_and(|t| t <= now()) {
            self.node.handle_timeout(now(), unix_now());
            self.drain_outputs();
        }
        let at = Instant::now();
        let expired: Vec<(ConnId, Phase)> = self
            .sockets
            .iter()
            .filter(
                |(_, s)| matches!(s.phase, Phase::Dialing { deadline } | Phase::Closing { deadline } if deadline <= at),
            )
            .map(|(c, s)| (*c, s.phase))
            .collect();
        for (conn, phase) in expired {
            match phase {
                Phase::Dialing { .. } => self.dial_failed(conn, DialError::TimedOut),
                _ => self.drop_socket(conn),
            }
        }
        if self.listener_retry.is_some_and(|t| t <= at) {
            self.listener_retry = None;
            self.accept();
        }
    }

    /// After shutdown: close what is left, answer the callers still waiting, end the
    /// subscriptions, write what the peer database still needs, end the event feeds.
    fn finish(&mut self) {
        let conns: Vec<ConnId> = self.sockets.keys().copied().collect();
        for conn in conns {
            if let Some(s) = self.sockets.get_mut(&conn) {
                let _ = s.flush();
            }
            self.drop_socket(conn);
        }
        for w in self.connecting.drain() {
            let _ = w.try_send(Err(ConnectError::Dropped("shutdown".into())));
        }
        self.flush_handoffs();
        self.shared.subscribers.close();
        self.shared.peers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(thread) = self.writer.take().and_then(StoreWriter::close) {
            let _ = thread.join();
        }
        self.shared.events.close();
        if let Some(r) = self.shutdown_reply.take() {
            let _ = r.try_send(());
        }
    }

    // ---- reports, for jobs ------------------------------------------------------------------

    /// Every connection (stellar-core's `peers`).
    pub(crate) fn peers_report(&self) -> PeersReport {
        report::peers_report(&self.node, now())
    }

    /// The overlay part of stellar-core's `info`.
    pub(crate) fn info(&self) -> NodeInfo {
        report::node_info(&self.node, self.started_unix, self.shutdown_reply.is_some())
    }

    /// Every measurement, the driver's included.
    pub(crate) fn snapshot(&self) -> OverlaySnapshot {
        let failures = self.shared.store_failures.load(Ordering::Relaxed);
        let uptime = self.started.elapsed();
        report::snapshot(&self.node, now(), &self.processing, self.deliveries_missed, failures, uptime)
    }

    fn refresh_peers(&mut self) {
        self.peers_refreshed = Instant::now();
        let infos = report::peer_infos(&self.node, now());
        *self.shared.peers.lock().unwrap_or_else(|p| p.into_inner()) = infos;
    }
}
