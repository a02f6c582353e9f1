//! [`Harness`]: several nodes in memory on virtual time, for tests.
//!
//! Each node has the address `10.0.0.<i+1>:11625`. Bytes written on a connection arrive at
//! the other end after a fixed `latency` (zero by default), in order. Time jumps to the
//! earliest deadline of any node or any delivery, so minutes of protocol time take
//! milliseconds. Everything is deterministic: same calls, same result.
//!
//! Each node has an application ([`MemoryApp`] unless given another); its deliveries are
//! handed over at once and its answers reach the node after `app_latency` (zero by
//! default), as from an application on another thread. The peer database changes each
//! node emits are kept in `store_changes`.

use crate::app::{AppInput, Application, Delivery, MemoryApp};
use crate::config::NodeConfig;
use crate::discovery::{MemoryStore, StoreChange};
use crate::node::{ConnId, Node, NodeEvent, Output};
use crate::peer::DropReason;
use core::any::Any;
use core::time::Duration;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_proto::{Network, NodeId, PeerAddress, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// An application the harness can hand back by type.
pub trait AnyApp: Application {
    /// As `Any`, to look at it by its type.
    fn as_any(&self) -> &dyn Any;
    /// As `Any`, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Application + 'static> AnyApp for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Wall-clock seconds the harness reports to nodes (certificate expiry): a fixed base plus
/// the virtual time.
pub const UNIX_BASE: u64 = 1_800_000_000;

/// Several nodes wired in memory. See the [module docs](self).
pub struct Harness {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    /// Their applications.
    pub apps: Vec<Box<dyn AnyApp>>,
    /// Every event each node emitted, in order.
    pub events: Vec<Vec<NodeEvent>>,
    /// When each of those events was emitted.
    pub event_times: Vec<Vec<Timestamp>>,
    /// Every delivery each node made to its application, in order.
    pub deliveries: Vec<Vec<Delivery>>,
    /// Every peer-database change each node emitted, in order.
    pub store_changes: Vec<Vec<StoreChange>>,
    /// How long an application's answers take to reach its node.
    pub app_latency: Duration,
    /// Application answers in flight: (time, sequence) → (node, input).
    app_inputs: BTreeMap<(Timestamp, u64), (usize, AppInput)>,
    /// The current virtual time.
    pub now: Timestamp,
    /// Delivery delay of every link.
    pub latency: Duration,
    links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    /// Bytes in flight: (delivery time, sequence) → (to node, to conn, bytes).
    in_flight: BTreeMap<(Timestamp, u64), (usize, ConnId, Vec<u8>)>,
    seq: u64,
    /// Connections whose far end is gone: nothing is delivered to them any more.
    closed: BTreeSet<(usize, ConnId)>,
    /// Links whose delivery is held back (a "corked" peer, §17.1), by the sending side.
    pub corked: BTreeSet<(usize, ConnId)>,
    /// Broken rules seen: a connection used after its Close, a message delivered after its
    /// connection was dropped. Tests assert it stays empty.
    pub violations: Vec<String>,
    finished: BTreeSet<(usize, ConnId)>,
    dropped: BTreeSet<(usize, ConnId)>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// An empty harness at time 100 s.
    pub fn new() -> Self {
        Harness {
            nodes: Vec::new(),
            apps: Vec::new(),
            events: Vec::new(),
            event_times: Vec::new(),
            deliveries: Vec::new(),
            store_changes: Vec::new(),
            app_latency: Duration::ZERO,
            app_inputs: BTreeMap::new(),
            now: Timestamp::from_secs(100),
            latency: Duration::ZERO,
            links: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            seq: 0,
            closed: BTreeSet::new(),
            corked: BTreeSet::new(),
            violations: Vec::new(),
            finished: BTreeSet::new(),
            dropped: BTreeSet::new(),
        }
    }

    /// The address of node `i`.
    pub fn address(i: usize) -> PeerAddress {
        format!("10.0.{}.{}:11625", i / 250, i % 250 + 1).parse().expect("valid address")
    }

    /// The identity seed of node `i`.
    pub fn seed(i: usize) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        s[31] = 0x5e;
        s
    }

    /// The NodeID of node `i`.
    pub fn node_id(i: usize) -> NodeId {
        NodeIdentity::from_seed(Self::seed(i)).node_id()
    }

    /// A configuration for tests, like stellar-core's test configuration: private addresses
    /// allowed and `RUN_STANDALONE` (no connections from the tick; tests connect nodes
    /// explicitly). Set `run_standalone = false` to let the tick loop dial.
    pub fn config() -> NodeConfig {
        NodeConfig { allow_private_addresses_for_testing: true, run_standalone: true, ..NodeConfig::default() }
    }

    /// Add a started node with `config` on the standalone network; returns its index.
    pub fn add_node(&mut self, config: NodeConfig) -> usize {
        let hello = HelloParams { listening_port: config.peer_port, ..HelloParams::default() };
        self.add_node_with(config, Network::Standalone.passphrase(), hello, Self::seed(self.nodes.len()))
    }

    /// Add a started node with `config` and application `app` on the standalone network.
    pub fn add_node_with_app(&mut self, config: NodeConfig, app: Box<dyn AnyApp>) -> usize {
        let hello = HelloParams { listening_port: config.peer_port, ..HelloParams::default() };
        let seed = Self::seed(self.nodes.len());
        self.add(config, Network::Standalone.passphrase(), hello, seed, MemoryStore::default(), app)
    }

    /// Add a started node with every parameter given: network passphrase, HELLO parameters
    /// and identity seed (give two nodes the same seed to test self-connections).
    pub fn add_node_with(&mut self, config: NodeConfig, passphrase: &str, hello: HelloParams, seed: [u8; 32]) -> usize {
        self.add(config, passphrase, hello, seed, MemoryStore::default(), Box::new(MemoryApp::default()))
    }

    /// Add a started node whose peer database starts as `peers`.
    pub fn add_node_with_store(&mut self, config: NodeConfig, peers: MemoryStore) -> usize {
        let hello = HelloParams { listening_port: config.peer_port, ..HelloParams::default() };
        let seed = Self::seed(self.nodes.len());
        self.add(config, Network::Standalone.passphrase(), hello, seed, peers, Box::new(MemoryApp::default()))
    }

    fn add(
        &mut self,
        config: NodeConfig,
        passphrase: &str,
        hello: HelloParams,
        seed: [u8; 32],
        peers: MemoryStore,
        app: Box<dyn AnyApp>,
    ) -> usize {
        let i = self.nodes.len();
        let mut ecdh = Self::seed(i);
        ecdh[0] ^= 0xff;
        let network = overlay_proto::NetworkId::from_passphrase(passphrase);
        let auth = LocalAuth::new(NodeIdentity::from_seed(seed), network, ecdh, hello);
        let mut node = Node::new(config, auth, peers, i as u64 + 7, self.now);
        node.start(self.now, self.unix());
        self.nodes.push(node);
        self.apps.push(app);
        self.events.push(Vec::new());
        self.event_times.push(Vec::new());
        self.deliveries.push(Vec::new());
        self.store_changes.push(Vec::new());
        self.pump();
        i
    }

    /// The application of node `i` as a `T`.
    ///
    /// # Panics
    /// If it is not a `T` (a test's mistake).
    pub fn app<T: 'static>(&self, i: usize) -> &T {
        (*self.apps[i]).as_any().downcast_ref().expect("the application has this type")
    }

    /// The application of node `i` as a `T`, mutably.
    ///
    /// # Panics
    /// If it is not a `T`.
    pub fn app_mut<T: 'static>(&mut self, i: usize) -> &mut T {
        (*self.apps[i]).as_any_mut().downcast_mut().expect("the application has this type")
    }

    /// Give node `i` an input as if from its application (at once).
    pub fn app_input(&mut self, i: usize, input: AppInput) {
        let now = self.now;
        let _ = self.nodes[i].handle_app(now, input);
        self.pump();
    }

    /// Wall-clock seconds now.
    pub fn unix(&self) -> u64 {
        UNIX_BASE + self.now.as_nanos() / 1_000_000_000
    }

    /// Node `from` dials node `to`.
    pub fn connect(&mut self, from: usize, to: usize) -> ConnId {
        let now = self.now;
        let conn = self.nodes[from].connect(now, Self::address(to)).expect("a pending slot");
        self.pump();
        conn
    }

    /// Deliver every output until nothing moves at the current time.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].poll_output() {
                    moved = true;
                    self.handle_output(i, out);
                }
                while let Some(input) = self.apps[i].poll_input() {
                    moved = true;
                    self.seq += 1;
                    self.app_inputs.insert((self.now + self.app_latency, self.seq), (i, input));
                }
            }
            moved |= self.deliver_due();
            moved |= self.answer_due();
            if !moved {
                return;
            }
        }
    }

    fn answer_due(&mut self) -> bool {
        let mut moved = false;
        while let Some(entry) = self.app_inputs.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (i, input) = entry.remove();
            moved = true;
            let now = self.now;
            let _ = self.nodes[i].handle_app(now, input);
        }
        moved
    }

    fn handle_output(&mut self, i: usize, out: Output) {
        let (now, unix) = (self.now, self.unix());
        match out {
            Output::Connect { conn, address } => {
                let target = (0..self.nodes.len()).find(|&j| Self::address(j).ip() == address.ip());
                match target {
                    Some(j) if j != i || address.port == 11625 => {
                        let remote = Self::address(i);
                        let remote = PeerAddress { port: 40_000 + conn.0 as u16 % 20_000, ..remote };
                        match self.nodes[j].handle_inbound(now, unix, remote) {
                            Some(theirs) => {
                                self.links.insert((i, conn), (j, theirs));
                                self.links.insert((j, theirs), (i, conn));
                                self.nodes[i].handle_connected(now, unix, conn);
                            }
                            None => self.nodes[i].handle_connect_failed(now, unix, conn, "connection refused"),
                        }
                    }
                    _ => self.nodes[i].handle_connect_failed(now, unix, conn, "no route to host"),
                }
            }
            Output::Transmit { conn, .. } | Output::Close { conn } if self.finished.contains(&(i, conn)) => {
                self.violations.push(format!("node {i} used connection {conn} after closing it"));
            }
            Output::Event(NodeEvent::Message { conn, .. }) if self.dropped.contains(&(i, conn)) => {
                self.violations.push(format!("node {i} delivered a message of dropped connection {conn}"));
            }
            Output::Transmit { conn, bytes } => {
                if let Some(&(j, theirs)) = self.links.get(&(i, conn)) {
                    if !self.corked.contains(&(i, conn)) {
                        self.seq += 1;
                        self.in_flight.insert((now + self.latency, self.seq), (j, theirs, bytes));
                    }
                }
            }
            Output::Close { conn } => {
                self.finished.insert((i, conn));
                if let Some((j, theirs)) = self.links.remove(&(i, conn)) {
                    self.links.remove(&(j, theirs));
                    self.closed.insert((i, conn));
                    // The far end sees the socket close after what was in flight.
                    self.seq += 1;
                    self.in_flight.insert((now + self.latency, self.seq), (j, theirs, Vec::new()));
                }
            }
            Output::Event(e) => {
                if let NodeEvent::Disconnected { conn, .. } = &e {
                    self.dropped.insert((i, *conn));
                }
                self.events[i].push(e);
                self.event_times[i].push(now);
            }
            Output::Deliver(d) => {
                self.deliveries[i].push(d.clone());
                self.apps[i].handle_delivery(now, d);
            }
            Output::Store(c) => self.store_changes[i].push(c),
        }
    }

    fn deliver_due(&mut self) -> bool {
        let mut moved = false;
        while let Some(entry) = self.in_flight.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (j, conn, bytes) = entry.remove();
            moved = true;
            let (now, unix) = (self.now, self.unix());
            if bytes.is_empty() {
                self.nodes[j].handle_socket_closed(now, unix, conn, DropReason::RemoteClosed);
            } else {
                self.nodes[j].handle_bytes(now, unix, conn, &bytes);
            }
        }
        moved
    }

    /// Run until `deadline`, jumping from deadline to deadline.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end, |_| false);
    }

    /// Run until `pred` holds or `deadline` passes; returns whether `pred` held.
    pub fn run_until(&mut self, deadline: Timestamp, mut pred: impl FnMut(&Harness) -> bool) -> bool {
        self.pump();
        loop {
            if pred(self) {
                return true;
            }
            let next_timer = self.nodes.iter().filter_map(|n| n.poll_timeout()).min();
            let next_delivery = self.in_flight.keys().next().map(|k| k.0);
            let next_answer = self.app_inputs.keys().next().map(|k| k.0);
            let next = [next_timer, next_delivery, next_answer].into_iter().flatten().min();
            match next {
                Some(t) if t <= deadline => {
                    self.now = self.now.max(t);
                    let (now, unix) = (self.now, self.unix());
                    for n in &mut self.nodes {
                        if n.poll_timeout().is_some_and(|t| t <= now) {
                            n.handle_timeout(now, unix);
                        }
                    }
                    self.pump();
                }
                _ => {
                    self.now = self.now.max(deadline);
                    return pred(self);
                }
            }
        }
    }

    /// Whether nodes `a` and `b` are authenticated with each other.
    pub fn linked(&self, a: usize, b: usize) -> bool {
        let (ida, idb) = (self.nodes[a].node_id(), self.nodes[b].node_id());
        self.nodes[a].authenticated_peers().any(|(n, _)| n == idb)
            && self.nodes[b].authenticated_peers().any(|(n, _)| n == ida)
    }

    /// The drop reasons node `i` reported, in order.
    pub fn drops(&self, i: usize) -> Vec<String> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                NodeEvent::Disconnected { reason, .. } => Some(reason.text().into_owned()),
                _ => None,
            })
            .collect()
    }
}
