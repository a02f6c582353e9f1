//! [`World`]: the event loop. Nodes, connections, links and the scenario's actions, driven
//! from one queue on one virtual clock.
//!
//! The world carries out what nodes ask for (dial, write, close) and feeds them what
//! happens (a connection up or refused, bytes, an end of stream, a timer), following the
//! node's drain contract: after every input it drains `poll_output` until `None`, then arms
//! the node's timer at `poll_timeout`. Every protocol decision is the node's; the world only
//! moves bytes, keeps time, plays the scenario and checks the invariants
//! ([`crate::invariants`]).
//!
//! A connection's two sides are its dialer (side 0) and its acceptor (side 1); `pipes[s]`
//! carries what side `s` writes.

mod graph;
pub(crate) mod log;
mod scenario_events;

use crate::clock::{EVENTS_QUEUED_MAX, EventQueue};
use crate::error::SimError;
use crate::fault::{self, Misbehaviour, MisbehaviourKind, Resealer};
use crate::invariants::{self, SimulatedNode, Violation};
use crate::link::{Carried, LinkStats, Pipe};
use crate::network::{Network, NodeIndex};
use crate::report::Report;
use crate::rng::{SeedDomain, SimRng, derive_seed, mix64};
use crate::scenario::Scenario;
use crate::tap::{self, ClassCounters, RecentIds};
use crate::topology::{self, NodePlan};
use core::time::Duration;
use graph::Graph;
use log::{MessageLog, MsgKey};
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_node::app::{LedgerState, MemoryApp, MemoryAppLimits};
use overlay_node::discovery::MemoryStore;
use overlay_node::{ConnId, DropReason, Node, NodeConfig, NodeEvent, Output};
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{Network as StellarNetwork, NodeId, PeerAddress, Timestamp};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The virtual time at which a run starts.
pub const START: Timestamp = Timestamp::from_secs(100);
/// Wall-clock seconds reported to nodes at [`START`] (certificate expiry).
pub const UNIX_BASE: u64 = 1_800_000_000;
/// The port every simulated node listens on.
pub const LISTEN_PORT: u16 = 11_625;
/// When to look whether an honest node dropped a peer that sent past its grant, after the
/// offending frame was written.
const PUNISH_DEADLINE: Duration = Duration::from_secs(15);
/// A node's timer firing this many times at one instant is a stuck timer.
const TIMER_FIRES_AT_INSTANT_MAX: u32 = 1_000;
/// Most transactions a misbehaving node echoes per delivery.
const ECHO_PER_DELIVERY_MAX: usize = 16;
/// Most extra frames an overrunning node writes at once.
const OVERRUN_FRAMES_MAX: u64 = 512;
/// Transaction numbers of the simulator's load start here; others are for tx sets and
/// misbehaving nodes.
const OVERRUN_TX_BASE: u64 = 1 << 40;

/// A snapshot for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Virtual time since the start, ms.
    pub now_ms: u64,
    /// Length of the run, ms.
    pub total_ms: u64,
    /// Events handled.
    pub events: u64,
    /// Nodes running.
    pub live_nodes: usize,
    /// Pairs of nodes linked.
    pub linked_pairs: usize,
}

#[derive(Debug)]
enum Event {
    Start(NodeIndex),
    Dial { from: NodeIndex, to: NodeIndex },
    Timer { node: NodeIndex, incarnation: u32 },
    SynArrive(u64),
    SynAck(u64),
    ConnectFail { conn: u64, why: &'static str },
    Deliver { conn: u64, to: usize, credit: (u64, u64), bytes: Vec<u8> },
    Fin { conn: u64, to: usize, reset: bool },
    Writable { conn: u64, side: usize },
    SubmitTx,
    ScpRound,
    LedgerClose,
    PartitionStart(usize),
    PartitionEnd,
    Cut,
    Repair(NodeIndex, NodeIndex),
    Churn,
    Restart(NodeIndex),
    Join,
    Settle,
    Sweep,
    CheckMessage { id: u32, key: MsgKey },
    CheckFetch(u32),
    CheckPunished { conn: u64, side: usize },
}

/// What is being handled, for error messages.
#[derive(Debug, Clone, Copy, Default)]
struct Label {
    kind: &'static str,
    a: u64,
    b: u64,
    len: usize,
}

impl Label {
    fn of(e: &Event) -> Label {
        let l = |kind, a: u64, b: u64| Label { kind, a, b, len: 0 };
        match e {
            Event::Start(n) => l("start of node", u64::from(*n), 0),
            Event::Dial { from, to } => l("initial dial", u64::from(*from), u64::from(*to)),
            Event::Timer { node, .. } => l("timer of node", u64::from(*node), 0),
            Event::SynArrive(c) => l("connection request", *c, 0),
            Event::SynAck(c) => l("connection accepted", *c, 0),
            Event::ConnectFail { conn, .. } => l("connection failure", *conn, 0),
            Event::Deliver { conn, to, bytes, .. } => {
                Label { kind: "delivery", a: *conn, b: *to as u64, len: bytes.len() }
            }
            Event::Fin { conn, to, .. } => l("end of stream", *conn, *to as u64),
            Event::Writable { conn, side } => l("writable again", *conn, *side as u64),
            Event::SubmitTx => l("transaction submission", 0, 0),
            Event::ScpRound => l("SCP round", 0, 0),
            Event::LedgerClose => l("ledger close", 0, 0),
            Event::PartitionStart(i) => l("partition", *i as u64, 0),
            Event::PartitionEnd => l("partition heal", 0, 0),
            Event::Cut => l("link cut", 0, 0),
            Event::Repair(a, b) => l("link repair", u64::from(*a), u64::from(*b)),
            Event::Churn => l("node stop", 0, 0),
            Event::Restart(n) => l("restart of node", u64::from(*n), 0),
            Event::Join => l("node join", 0, 0),
            Event::Settle => l("settle phase", 0, 0),
            Event::Sweep => l("state check of every node", 0, 0),
            Event::CheckMessage { id, .. } => l("delivery check of message record", u64::from(*id), 0),
            Event::CheckFetch(id) => l("check of tx-set fetch", u64::from(*id), 0),
            Event::CheckPunished { conn, side } => {
                l("look whether an overrunning peer was dropped", *conn, *side as u64)
            }
        }
    }

    fn code(&self) -> u64 {
        self.kind.len() as u64 ^ (self.kind.as_bytes().first().copied().unwrap_or(0) as u64) << 8
    }
}

impl core::fmt::Display for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.kind {
            "delivery" => write!(f, "delivery of {} bytes on connection {} to side {}", self.len, self.a, self.b),
            "end of stream" | "writable again" => write!(f, "{} on connection {} side {}", self.kind, self.a, self.b),
            "initial dial" | "link repair" => write!(f, "{} {}-{}", self.kind, self.a, self.b),
            _ => write!(f, "{} {}", self.kind, self.a),
        }
    }
}

/// The address of node `index`: 10.0.0.1 for node 0, and so on (private addresses, so
/// nodes run with `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING`).
pub fn ip_of(index: NodeIndex) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | ((index + 1) & 0x00ff_ffff))
}

/// A running node and its connections.
struct Live {
    node: SimulatedNode,
    conns: BTreeMap<ConnId, u64>,
}

/// A simulated node, running or not.
struct SimNode {
    ip: Ipv4Addr,
    identity_seed: [u8; 32],
    ecdh_secret: [u8; 32],
    plan: NodePlan,
    live: Option<Box<Live>>,
    incarnation: u32,
    up_since: Option<Timestamp>,
    misbehaviour: Option<Misbehaviour>,
    store: Option<MemoryStore>,
    sent: ClassCounters,
    received: ClassCounters,
    uptime_ns: u64,
    timer_at: Option<Timestamp>,
    timer_fires: (Timestamp, u32),
    next_port: u16,
    pending_fetches: Vec<u32>,
}

impl SimNode {
    fn new(index: NodeIndex, plan: NodePlan) -> SimNode {
        let ip = ip_of(index);
        let mut identity_seed = [0x5e; 32];
        identity_seed[..4].copy_from_slice(&index.to_be_bytes());
        let mut ecdh_secret = [0xec; 32];
        ecdh_secret[..4].copy_from_slice(&index.to_be_bytes());
        SimNode {
            ip,
            identity_seed,
            ecdh_secret,
            plan,
            live: None,
            incarnation: 0,
            up_since: None,
            misbehaviour: None,
            store: None,
            sent: ClassCounters::default(),
            received: ClassCounters::default(),
            uptime_ns: 0,
            timer_at: None,
            timer_fires: (Timestamp::ZERO, 0),
            next_port: 32_768,
            pending_fetches: Vec::new(),
        }
    }

    fn is_honest(&self) -> bool {
        !self.misbehaviour.is_some_and(|m| m.declared)
    }

    fn address(&self) -> PeerAddress {
        PeerAddress::new(self.ip.to_string(), LISTEN_PORT)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndState {
    Open,
    /// The node reported the peer gone; it may still flush what it had sealed.
    Disconnected,
    /// The node closed the socket (or died).
    Closed,
}

#[derive(Debug, Clone)]
struct End {
    node: NodeIndex,
    incarnation: u32,
    conn: Option<ConnId>,
    state: EndState,
    tcp_up: bool,
    writable: bool,
    authenticated: bool,
}

impl End {
    fn new(node: NodeIndex, incarnation: u32, conn: Option<ConnId>) -> End {
        End { node, incarnation, conn, state: EndState::Open, tcp_up: false, writable: true, authenticated: false }
    }
}

/// One TCP connection between two nodes.
struct Connection {
    ends: [End; 2],
    pipes: [Pipe; 2],
    reset: bool,
    /// A stream fault (corruption, duplication, reordering) or a misbehaving node touched
    /// the bytes: protocol errors on it are expected.
    damaged: bool,
    /// Authenticated on both ends (counted as established, and as dropped when it ends).
    counted: bool,
    /// The link corrupted a record mark (see [`World::desynchronised`]): the connection no
    /// longer links its nodes in the graph, whatever they think of it.
    desynced: bool,
    /// Flood messages and their XDR bytes written by each side.
    flood_sent: [(u64, u64); 2],
    /// Grants (messages, bytes) written by each side, cumulative.
    grants_written: [(u64, u64); 2],
    /// Grants written by each side that reached the other side, cumulative.
    grants_delivered: [(u64, u64); 2],
    /// Transactions delivered to each side.
    recent_rx: [Option<Box<RecentIds>>; 2],
    reseal: [Option<Box<Resealer>>; 2],
    overrun_done: [bool; 2],
    punish_scheduled: [bool; 2],
    fin_reset: [bool; 2],
}

impl Connection {
    fn side_of(&self, node: NodeIndex, conn: ConnId) -> Option<usize> {
        (0..2).find(|&s| self.ends[s].node == node && self.ends[s].conn == Some(conn))
    }
}

/// Counters for the report.
#[derive(Debug, Default)]
struct Stats {
    link: LinkStats,
    dials: u64,
    dial_failures: u64,
    established: u64,
    dropped: u64,
    drop_reasons: BTreeMap<String, u64>,
    stops: u64,
    crashes: u64,
    restarts: u64,
    joins: u64,
    partitions: u64,
    cuts: u64,
    checks: BTreeMap<&'static str, u64>,
    wire_frames_checked: u64,
    misbehaving_dropped: u64,
    overruns: u64,
    /// Node metrics of stopped incarnations.
    metrics_closed: BTreeMap<&'static str, u64>,
    demand_timeouts_closed: u64,
    demand_abandoned_closed: u64,
    fetch_next_peer_closed: u64,
    shed_closed: u64,
}

/// The simulation. See the [module docs](self).
pub struct World {
    sc: Scenario,
    q: EventQueue<Event>,
    rng: SimRng,
    net: Network,
    nodes: Vec<SimNode>,
    initial_nodes: usize,
    conns: BTreeMap<u64, Connection>,
    next_conn: u64,
    by_ip: BTreeMap<Ipv4Addr, NodeIndex>,
    graph: Graph,
    log: MessageLog,
    stats: Stats,
    load_start: Timestamp,
    load_end: Timestamp,
    end: Timestamp,
    slot: u32,
    next_tx: u64,
    txs_sent: u64,
    next_scp: u64,
    next_overrun_tx: u64,
    shed_total: u64,
    validators: Vec<NodeIndex>,
    plan_dials: Vec<(NodeIndex, NodeIndex)>,
    trace: u64,
    label: Label,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("seed", &self.sc.seed)
            .field("now", &self.q.now())
            .field("nodes", &self.nodes.len())
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

type Res = Result<(), SimError>;

impl World {
    /// A world ready to run `scenario`.
    pub fn new(scenario: Scenario) -> Result<World, SimError> {
        scenario.validate().map_err(SimError::InvalidScenario)?;
        let mut rng = SimRng::new(scenario.seed);
        let plan = topology::build(&scenario.topology, &mut rng);
        let mut net = Network::new(scenario.link, scenario.latency_spread_ms, scenario.seed);
        for o in &scenario.link_overrides {
            net.set_link(o.a, o.b, o.profile);
        }
        let nodes: Vec<SimNode> =
            plan.nodes.iter().enumerate().map(|(i, p)| SimNode::new(i as NodeIndex, p.clone())).collect();
        let by_ip = nodes.iter().enumerate().map(|(i, n)| (n.ip, i as NodeIndex)).collect();
        let load_start = START + Duration::from_millis(scenario.warmup_ms);
        let load_end = load_start + Duration::from_millis(scenario.load_ms);
        let end = load_end + Duration::from_millis(scenario.settle_ms);
        let mut world = World {
            validators: plan.validators(),
            plan_dials: plan.dials.clone(),
            initial_nodes: nodes.len(),
            sc: scenario,
            q: EventQueue::new(START, EVENTS_QUEUED_MAX),
            rng,
            net,
            nodes,
            conns: BTreeMap::new(),
            next_conn: 1,
            by_ip,
            graph: Graph::default(),
            log: MessageLog::default(),
            stats: Stats::default(),
            load_start,
            load_end,
            end,
            slot: 1,
            next_tx: 0,
            txs_sent: 0,
            next_scp: 1,
            next_overrun_tx: OVERRUN_TX_BASE,
            shed_total: 0,
            trace: 0,
            label: Label::default(),
        };
        world.assign_misbehaviour();
        world.schedule_scenario()?;
        Ok(world)
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.sc
    }

    /// Virtual time now.
    pub fn now(&self) -> Timestamp {
        self.q.now()
    }

    /// Events handled so far.
    pub fn events(&self) -> u64 {
        self.q.popped()
    }

    /// Run to the end, calling `progress` after every periodic check. Stops at the first
    /// broken invariant or panic.
    pub fn run(&mut self, progress: &mut dyn FnMut(&Progress)) -> Res {
        while let Some((at, event)) = self.q.pop_until(self.end) {
            let label = Label::of(&event);
            self.label = label;
            self.trace =
                mix64(self.trace ^ at.as_nanos() ^ label.code() ^ label.a.rotate_left(17) ^ label.b.rotate_left(33));
            let is_sweep = matches!(event, Event::Sweep);
            let result = catch_unwind(AssertUnwindSafe(|| self.handle(at, event)));
            match result {
                Ok(r) => r?,
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "non-string panic payload".into());
                    return Err(SimError::Panic {
                        seed: self.sc.seed,
                        at_ms: self.at_ms(at),
                        event: label.to_string(),
                        message,
                    });
                }
            }
            if is_sweep {
                progress(&self.progress());
            }
        }
        self.q.advance_to(self.end);
        self.label = Label { kind: "end of run", ..Label::default() };
        self.sweep_nodes()?;
        progress(&self.progress());
        Ok(())
    }

    fn progress(&self) -> Progress {
        Progress {
            now_ms: self.q.now().saturating_duration_since(START).as_millis() as u64,
            total_ms: self.sc.total_ms(),
            events: self.q.popped(),
            live_nodes: self.nodes.iter().filter(|n| n.live.is_some()).count(),
            linked_pairs: self.graph.linked_pairs(),
        }
    }

    fn at_ms(&self, at: Timestamp) -> f64 {
        at.saturating_duration_since(START).as_micros() as f64 / 1_000.0
    }

    fn fail(&self, violation: Violation) -> SimError {
        SimError::Invariant {
            seed: self.sc.seed,
            at_ms: self.at_ms(self.q.now()),
            event: self.label.to_string(),
            violation,
        }
    }

    fn unix(&self) -> u64 {
        UNIX_BASE + self.q.now().saturating_duration_since(START).as_secs()
    }

    fn count_check(&mut self, what: &'static str, n: u64) {
        *self.stats.checks.entry(what).or_insert(0) += n;
    }

    fn checks_made(&self) -> BTreeMap<&'static str, u64> {
        let mut c = self.stats.checks.clone();
        c.insert("wire frames checked (capacity, echo, after drop)", self.stats.wire_frames_checked);
        c
    }

    fn handle(&mut self, at: Timestamp, event: Event) -> Res {
        match event {
            Event::Start(n) => self.start_node(n),
            Event::Dial { from, to } => self.dial(from, to),
            Event::Timer { node, incarnation } => self.on_timer(node, incarnation, at),
            Event::SynArrive(c) => self.on_syn(c),
            Event::SynAck(c) => self.on_syn_ack(c),
            Event::ConnectFail { conn, why } => self.on_connect_fail(conn, why),
            Event::Deliver { conn, to, credit, bytes } => self.on_deliver(conn, to, credit, bytes),
            Event::Fin { conn, to, reset } => self.on_fin(conn, to, reset),
            Event::Writable { conn, side } => self.on_writable(conn, side),
            Event::SubmitTx => self.submit_tx(),
            Event::ScpRound => self.scp_round(),
            Event::LedgerClose => self.ledger_close(),
            Event::PartitionStart(i) => self.partition_start(i),
            Event::PartitionEnd => self.partition_end(),
            Event::Cut => self.cut(),
            Event::Repair(a, b) => self.repair(a, b),
            Event::Churn => self.churn(),
            Event::Restart(n) => self.restart(n),
            Event::Join => self.join(),
            Event::Settle => self.settle(),
            Event::Sweep => self.sweep(),
            Event::CheckMessage { id, key } => self.check_message(id, key),
            Event::CheckFetch(id) => self.check_fetch(id),
            Event::CheckPunished { conn, side } => self.check_punished(conn, side),
        }
    }

    // ---- nodes -------------------------------------------------------------------------

    fn ledger_state(&self) -> LedgerState {
        let ops = self.sc.max_tx_set_ops;
        let remember = 12u64;
        let mut l = LedgerState { tracking_ledger: self.slot, ..LedgerState::default() };
        l.flow.max_tx_set_size_ops = ops;
        l.flow.min_slot_to_remember = u64::from(self.slot).saturating_sub(remember - 1).max(1);
        l.flood.max_tx_set_size_ops = ops;
        l.flood.max_queue_size_ops = u64::from(ops) * 2;
        l
    }

    fn flood_config(&self) -> overlay_flood::FloodConfig {
        let b = self.sc.flood_bounds;
        let d = overlay_flood::FloodConfig::default();
        overlay_flood::FloodConfig {
            floodgate_entries_max: b.floodgate_entries_max.unwrap_or(d.floodgate_entries_max),
            advert_history_entries_max: b.advert_history_entries_max.unwrap_or(d.advert_history_entries_max),
            demand_history_entries_max: b.demand_history_entries_max.unwrap_or(d.demand_history_entries_max),
            ..d
        }
    }

    fn make_node(&mut self, n: NodeIndex) -> SimulatedNode {
        let now = self.q.now();
        let ledger = self.ledger_state();
        let flood = self.flood_config();
        let sn = &mut self.nodes[n as usize];
        let hello = HelloParams { listening_port: LISTEN_PORT, ..HelloParams::default() };
        let auth = LocalAuth::new(
            NodeIdentity::from_seed(sn.identity_seed),
            StellarNetwork::Standalone.id(),
            sn.ecdh_secret,
            hello,
        );
        let mut app = MemoryApp::new(MemoryAppLimits {
            transactions_max: self.sc.app_transactions_max,
            ..MemoryAppLimits::default()
        });
        app.ledger = ledger;
        let addr = |i: &NodeIndex| PeerAddress::new(ip_of(*i).to_string(), LISTEN_PORT);
        let config = NodeConfig {
            peer_port: LISTEN_PORT,
            target_peer_connections: sn.plan.target_connections.unwrap_or(self.sc.target_connections),
            known_peers: sn.plan.known.iter().map(addr).collect(),
            preferred_peers: sn.plan.preferred.iter().map(addr).collect(),
            preferred_peer_keys: sn.plan.preferred_keys.iter().map(|i| node_id(*i)).collect(),
            preferred_peers_only: sn.plan.preferred_only,
            max_additional_peer_connections: sn.plan.max_inbound,
            flood,
            allow_private_addresses_for_testing: true,
            ..NodeConfig::default()
        };
        let seed = derive_seed(self.sc.seed, SeedDomain::Node, (u64::from(n) << 20) | u64::from(sn.incarnation));
        let store = sn.store.take().unwrap_or_default();
        Node::new(config, auth, app, store, seed, now)
    }

    fn start_node(&mut self, n: NodeIndex) -> Res {
        if self.nodes[n as usize].live.is_some() {
            return Ok(());
        }
        let now = self.q.now();
        self.nodes[n as usize].incarnation += 1;
        let mut node = self.make_node(n);
        node.start(now, self.unix());
        let sn = &mut self.nodes[n as usize];
        sn.live = Some(Box::new(Live { node, conns: BTreeMap::new() }));
        sn.up_since = Some(now);
        sn.timer_at = None;
        self.drain(n)
    }

    /// Stop node `n`: a clean shutdown (ERROR "shutdown" to every peer), or a crash (every
    /// socket reset).
    fn stop_node(&mut self, n: NodeIndex, crash: bool) -> Res {
        let now = self.q.now();
        if self.nodes[n as usize].live.is_none() {
            return Ok(());
        }
        if !crash {
            if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
                live.node.shutdown(now);
            }
            self.drain(n)?;
        }
        let Some(live) = self.nodes[n as usize].live.take() else { return Ok(()) };
        let sn = &mut self.nodes[n as usize];
        sn.uptime_ns += sn.up_since.map_or(0, |t| now.saturating_duration_since(t).as_nanos() as u64);
        sn.up_since = None;
        sn.timer_at = None;
        sn.store = Some(live.node.store().clone());
        sn.pending_fetches.clear();
        self.bank_metrics(&live.node);
        for (_, sim) in live.conns {
            self.end_dies(sim, n, true)?;
        }
        Ok(())
    }

    /// Keep the counters of a node that stops.
    fn bank_metrics(&mut self, node: &SimulatedNode) {
        for (name, v) in node.metrics() {
            if is_gauge(name) {
                continue;
            }
            *self.stats.metrics_closed.entry(name).or_insert(0) += v;
        }
        let d = node.pull_mode().demand_metrics();
        self.stats.demand_timeouts_closed += d.timeouts;
        self.stats.demand_abandoned_closed += d.abandoned;
        self.stats.fetch_next_peer_closed += node.tx_set_fetcher().metrics().next_peer;
        self.stats.shed_closed += shed_of(node);
    }

    /// The end of `sim` on node `n` is gone without the node closing it (the node died):
    /// the other side sees a reset.
    fn end_dies(&mut self, sim: u64, n: NodeIndex, reset: bool) -> Res {
        let now = self.q.now();
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        let Some(side) = (0..2).find(|&s| c.ends[s].node == n && c.ends[s].state != EndState::Closed) else {
            return Ok(());
        };
        c.ends[side].state = EndState::Closed;
        c.ends[side].authenticated = false;
        let (a, b) = (c.ends[0].node, c.ends[1].node);
        self.connection_ended(sim);
        let c = self.conns.get_mut(&sim).expect("present");
        if c.ends[side].tcp_up && c.ends[1 - side].state != EndState::Closed {
            let profile = self.net.profile(a, b);
            c.fin_reset[side] = reset;
            if let Some(at) = c.pipes[side].fin(now, &profile, self.net.is_blocked(a, b)) {
                self.q.schedule_at(at, Event::Fin { conn: sim, to: 1 - side, reset })?;
            }
        }
        self.maybe_remove(sim);
        Ok(())
    }

    fn dial(&mut self, from: NodeIndex, to: NodeIndex) -> Res {
        let now = self.q.now();
        let Some(target) = self.nodes.get(to as usize).map(SimNode::address) else { return Ok(()) };
        let Some(live) = self.nodes[from as usize].live.as_deref_mut() else { return Ok(()) };
        let _ = live.node.connect(now, target);
        self.drain(from)
    }

    fn on_timer(&mut self, n: NodeIndex, incarnation: u32, at: Timestamp) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let sn = &mut self.nodes[n as usize];
        if sn.incarnation != incarnation || sn.timer_at.is_none_or(|t| t > now) {
            return Ok(());
        }
        if sn.timer_fires.0 == at {
            sn.timer_fires.1 += 1;
            if sn.timer_fires.1 > TIMER_FIRES_AT_INSTANT_MAX {
                let fires = sn.timer_fires.1;
                return Err(self.fail(Violation::TimerStuck { node: n, fires }));
            }
        } else {
            sn.timer_fires = (at, 1);
        }
        sn.timer_at = None;
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
        live.node.handle_timeout(now, unix);
        self.drain(n)
    }

    /// Drain node `n`'s outputs, then observe its application and arm its timer.
    fn drain(&mut self, n: NodeIndex) -> Res {
        loop {
            let Some(live) = self.nodes[n as usize].live.as_deref_mut() else { return Ok(()) };
            let Some(out) = live.node.poll_output() else { break };
            self.on_output(n, out)?;
        }
        self.after_drain(n)
    }

    fn after_drain(&mut self, n: NodeIndex) -> Res {
        let now = self.q.now();
        let sn = &mut self.nodes[n as usize];
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
        let app = live.node.app_mut();
        if !app.accepted.is_empty() {
            for (hash, _) in core::mem::take(&mut app.accepted) {
                self.log.receipt(MsgKey::Tx(hash), n, now);
            }
        }
        if !sn.pending_fetches.is_empty() {
            let app = live.node.app();
            let log = &mut self.log;
            sn.pending_fetches.retain(|id| match log.fetch(*id) {
                Some(f) if app.has_tx_set(&f.hash) => {
                    log.fetch_done(*id, now);
                    false
                }
                Some(_) => true,
                None => false,
            });
        }
        let t = live.node.poll_timeout();
        if t != sn.timer_at {
            sn.timer_at = t;
            if let Some(t) = t {
                let incarnation = sn.incarnation;
                self.q.schedule_at(t, Event::Timer { node: n, incarnation })?;
            }
        }
        Ok(())
    }

    fn on_output(&mut self, n: NodeIndex, out: Output) -> Res {
        match out {
            Output::Connect { conn, address } => self.on_connect(n, conn, &address),
            Output::Transmit { conn, bytes } => self.on_transmit(n, conn, bytes),
            Output::Close { conn } => self.on_close(n, conn),
            Output::Event(e) => self.on_event(n, e),
        }
    }

    // ---- connections ---------------------------------------------------------------------

    fn on_connect(&mut self, n: NodeIndex, conn: ConnId, address: &PeerAddress) -> Res {
        self.stats.dials += 1;
        let now = self.q.now();
        let target = match address.ip() {
            Some(std::net::IpAddr::V4(ip)) if address.port == LISTEN_PORT => self.by_ip.get(&ip).copied(),
            _ => None,
        };
        let sim = self.next_conn;
        self.next_conn += 1;
        let incarnation = self.nodes[n as usize].incarnation;
        let acceptor = target.unwrap_or(n);
        let connection = Connection {
            ends: [End::new(n, incarnation, Some(conn)), End::new(acceptor, 0, None)],
            pipes: [Pipe::default(), Pipe::default()],
            reset: false,
            damaged: false,
            counted: false,
            desynced: false,
            flood_sent: [(0, 0); 2],
            grants_written: [(0, 0); 2],
            grants_delivered: [(0, 0); 2],
            recent_rx: [None, None],
            reseal: [None, None],
            overrun_done: [false; 2],
            punish_scheduled: [false; 2],
            fin_reset: [false; 2],
        };
        self.conns.insert(sim, connection);
        if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
            live.conns.insert(conn, sim);
        }
        let timeout = Duration::from_millis(self.sc.connect_timeout_ms);
        match target {
            None => self.q.schedule_in(timeout, Event::ConnectFail { conn: sim, why: "connection timed out" }),
            Some(t) if self.net.is_blocked(n, t) => {
                self.q.schedule_in(timeout, Event::ConnectFail { conn: sim, why: "connection timed out" })
            }
            Some(t) => {
                let latency = Duration::from_millis(self.net.profile(n, t).latency_ms);
                if self.net.is_cut(n, t) {
                    self.q.schedule_at(now + latency * 2, Event::ConnectFail { conn: sim, why: "connection refused" })
                } else {
                    self.q.schedule_at(now + latency, Event::SynArrive(sim))
                }
            }
        }
    }

    fn on_syn(&mut self, sim: u64) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get(&sim) else { return Ok(()) };
        let (d, t) = (c.ends[0].node, c.ends[1].node);
        if c.ends[0].state == EndState::Closed {
            self.conns.remove(&sim);
            return Ok(());
        }
        let latency = Duration::from_millis(self.net.profile(d, t).latency_ms);
        if self.net.is_blocked(d, t) {
            let timeout = Duration::from_millis(self.sc.connect_timeout_ms);
            return self.q.schedule_in(timeout, Event::ConnectFail { conn: sim, why: "connection timed out" });
        }
        if self.nodes[t as usize].live.is_none() || self.net.is_cut(d, t) {
            return self.q.schedule_at(now + latency, Event::ConnectFail { conn: sim, why: "connection refused" });
        }
        let port = {
            let dn = &mut self.nodes[d as usize];
            dn.next_port = if dn.next_port >= 60_999 { 32_768 } else { dn.next_port + 1 };
            dn.next_port
        };
        let remote = PeerAddress::new(self.nodes[d as usize].ip.to_string(), port);
        let incarnation = self.nodes[t as usize].incarnation;
        let live = self.nodes[t as usize].live.as_deref_mut().expect("checked live");
        let accepted = live.node.handle_inbound(now, unix, remote);
        let c = self.conns.get_mut(&sim).expect("present");
        c.ends[1].incarnation = incarnation;
        match accepted {
            Some(cid) => {
                c.ends[1].conn = Some(cid);
                c.ends[1].tcp_up = true;
                live.conns.insert(cid, sim);
                self.q.schedule_at(now + latency, Event::SynAck(sim))?;
            }
            None => {
                // Accepted by the kernel, closed at once by the node: the dialer connects,
                // then sees the end of stream.
                c.ends[1].state = EndState::Closed;
                c.ends[1].tcp_up = true;
                self.q.schedule_at(now + latency, Event::SynAck(sim))?;
                self.q.schedule_at(now + latency, Event::Fin { conn: sim, to: 0, reset: false })?;
            }
        }
        self.drain(t)
    }

    fn on_syn_ack(&mut self, sim: u64) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        let d = c.ends[0].node;
        let alive =
            self.nodes[d as usize].incarnation == c.ends[0].incarnation && self.nodes[d as usize].live.is_some();
        if c.ends[0].state == EndState::Closed || !alive {
            // The dialer gave up meanwhile: the acceptor sees a reset.
            if c.ends[1].state != EndState::Closed {
                self.q.schedule_in(Duration::ZERO, Event::Fin { conn: sim, to: 1, reset: true })?;
            }
            return Ok(());
        }
        c.ends[0].tcp_up = true;
        let conn = c.ends[0].conn.expect("dialer has its id");
        let live = self.nodes[d as usize].live.as_deref_mut().expect("checked live");
        live.node.handle_connected(now, unix, conn);
        self.drain(d)
    }

    fn on_connect_fail(&mut self, sim: u64, why: &'static str) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get(&sim) else { return Ok(()) };
        let d = c.ends[0].node;
        let end = c.ends[0].clone();
        self.stats.dial_failures += 1;
        let sn = &mut self.nodes[d as usize];
        if end.state == EndState::Closed || sn.incarnation != end.incarnation {
            self.conns.remove(&sim);
            return Ok(());
        }
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
        live.node.handle_connect_failed(now, unix, end.conn.expect("dialer has its id"), why);
        self.drain(d)
    }

    /// Both ends closed: forget the connection.
    fn maybe_remove(&mut self, sim: u64) {
        if let Some(c) = self.conns.get(&sim) {
            let gone = |e: &End| e.state == EndState::Closed || e.conn.is_none();
            if gone(&c.ends[0]) && gone(&c.ends[1]) {
                self.conns.remove(&sim);
            }
        }
    }

    fn on_transmit(&mut self, n: NodeIndex, conn: ConnId, bytes: Vec<u8>) -> Res {
        let Some(sim) = self.nodes[n as usize].live.as_deref().and_then(|l| l.conns.get(&conn).copied()) else {
            return Err(self.fail(Violation::TransmitAfterClose { node: n, conn_id: conn.0 }));
        };
        let Some(side) = self.conns.get(&sim).and_then(|c| c.side_of(n, conn)) else {
            return Err(self.fail(Violation::TransmitAfterClose { node: n, conn_id: conn.0 }));
        };
        let c = &self.conns[&sim];
        if c.ends[side].state == EndState::Closed {
            return Err(self.fail(Violation::TransmitAfterClose { node: n, conn_id: conn.0 }));
        }
        if !c.ends[side].tcp_up {
            return Err(self.fail(Violation::TransmitBeforeConnect { node: n, conn_id: conn.0 }));
        }
        if self.nodes[n as usize].misbehaviour.is_some() {
            self.conns.get_mut(&sim).expect("present").damaged = true;
        }
        let bytes = match self.nodes[n as usize].misbehaviour {
            None => bytes,
            Some(m) if !m.kind.needs_keys() => fault::damage(m.kind, m.prob, bytes, &mut self.rng),
            Some(m) => self.reseal_outgoing(n, sim, side, m, &bytes),
        };
        self.write(sim, side, bytes)
    }

    /// A write of a node whose misbehaviour needs its keys: re-sealed, maybe with extra
    /// frames past the peer's grant.
    fn reseal_outgoing(&mut self, n: NodeIndex, sim: u64, side: usize, m: Misbehaviour, bytes: &[u8]) -> Vec<u8> {
        let secret = self.nodes[n as usize].ecdh_secret;
        let c = self.conns.get_mut(&sim).expect("present");
        let role = if side == 0 { overlay_auth::Role::Initiator } else { overlay_auth::Role::Acceptor };
        let r = c.reseal[side].get_or_insert_with(|| Box::new(Resealer::new(role, secret)));
        let mut extra = Vec::new();
        let granted = c.grants_delivered[1 - side];
        if m.kind == MisbehaviourKind::Overrun
            && !c.overrun_done[side]
            && r.is_keyed()
            && c.ends[side].authenticated
            && granted.0 > 0
            && self.rng.chance(m.prob)
        {
            c.overrun_done[side] = true;
            let room = granted.0.saturating_sub(c.flood_sent[side].0);
            for _ in 0..(room + 1).min(OVERRUN_FRAMES_MAX) {
                let msg = overlay_proto::fixtures::transaction_message(self.next_overrun_tx);
                self.next_overrun_tx += 1;
                if let Ok(x) = overlay_proto::wire::encode_message(&msg) {
                    extra.push(x);
                }
            }
        }
        r.rewrite(bytes, &extra)
    }

    /// Put bytes written by `side` on the wire: tap, checks, link.
    fn write(&mut self, sim: u64, side: usize, bytes: Vec<u8>) -> Res {
        let now = self.q.now();
        let c = self.conns.get_mut(&sim).expect("present");
        let (w, r) = (c.ends[side].node, c.ends[1 - side].node);
        let writer = &mut self.nodes[w as usize];
        let declared = !writer.is_honest();
        let dropped = c.ends[side].state == EndState::Disconnected;
        let mut violation = None;
        let mut overran = false;
        let mut frames = 0u64;
        for f in tap::frames(&bytes) {
            frames += 1;
            writer.sent.add(f.class(), f.frame.len());
            if f.is_flood() {
                if dropped && !declared && violation.is_none() {
                    let conn_id = c.ends[side].conn.map_or(0, |x| x.0);
                    let message_type = f.message_type.map_or("?", |t| overlay_proto::MessageClass::wire_name(&t));
                    violation = Some(Violation::FloodAfterDrop { node: w, conn_id, message_type });
                }
                let sent = &mut c.flood_sent[side];
                sent.0 += 1;
                sent.1 += f.flow_bytes();
                let granted = c.grants_delivered[1 - side];
                if sent.0 > granted.0 || sent.1 > granted.1 {
                    if declared {
                        overran = true;
                    } else if violation.is_none() {
                        violation = Some(Violation::SendPastCapacity {
                            node: w,
                            peer: r,
                            conn: sim,
                            sent_msgs: sent.0,
                            sent_bytes: sent.1,
                            granted_msgs: granted.0,
                            granted_bytes: granted.1,
                        });
                    }
                }
            }
            if let Some((m, b)) = f.grant() {
                let g = &mut c.grants_written[side];
                g.0 += m;
                g.1 += b;
            }
            if let Some(id) = f.transaction_id() {
                if !declared && violation.is_none() && c.recent_rx[side].as_ref().is_some_and(|s| s.contains(id)) {
                    violation = Some(Violation::Echo { node: w, peer: r });
                }
            }
        }
        self.stats.wire_frames_checked += frames;
        if let Some(v) = violation {
            return Err(self.fail(v));
        }
        let c = self.conns.get_mut(&sim).expect("present");
        if overran && !c.punish_scheduled[side] && c.ends[1 - side].state == EndState::Open {
            c.punish_scheduled[side] = true;
            let profile = self.net.profile(w, r);
            let at = now + Duration::from_millis(profile.latency_ms) + PUNISH_DEADLINE;
            self.q.schedule_at(at, Event::CheckPunished { conn: sim, side: 1 - side })?;
        }
        if c.reset {
            return Ok(());
        }
        if self.net.is_cut(w, r) {
            return self.reset_connection(sim);
        }
        let profile = self.net.profile(w, r);
        let blocked = self.net.is_blocked(w, r);
        let c = self.conns.get_mut(&sim).expect("present");
        let l = &self.stats.link;
        let damage_before = l.corrupted_chunks + l.duplicated_frames + l.reordered_frames;
        let marks_before = l.corrupted_record_marks;
        let carried = c.pipes[side].carry(now, bytes, &profile, blocked, &mut self.rng, &mut self.stats.link);
        let l = &self.stats.link;
        if l.corrupted_chunks + l.duplicated_frames + l.reordered_frames != damage_before {
            c.damaged = true;
        }
        if l.corrupted_record_marks != marks_before {
            self.desynchronised(sim);
        }
        let c = self.conns.get_mut(&sim).expect("present");
        match carried {
            Carried::Deliver { at, bytes } => {
                let credit = c.grants_written[side];
                self.q.schedule_at(at, Event::Deliver { conn: sim, to: 1 - side, credit, bytes })?;
            }
            Carried::Held | Carried::Nothing => {}
            Carried::Reset => return self.reset_connection(sim),
        }
        // Back-pressure: a full socket buffer stops the node until half of it drained.
        let buffer = self.sc.socket_buffer_bytes;
        let bw = profile.bandwidth_bytes_per_s;
        let c = self.conns.get_mut(&sim).expect("present");
        if buffer > 0 && bw > 0 && c.ends[side].writable && c.pipes[side].backlog_bytes(now, bw) > buffer {
            c.ends[side].writable = false;
            let at = c.pipes[side].backlog_drains_to(now, buffer / 2, bw);
            let conn = c.ends[side].conn.expect("a writing end has its id");
            if let Some(live) = self.nodes[w as usize].live.as_deref_mut() {
                live.node.set_writable(conn, false);
            }
            self.q.schedule_at(at, Event::Writable { conn: sim, side })?;
        }
        Ok(())
    }

    /// The connection `sim`, authenticated on both ends, ended (either end closed, died or
    /// reported it gone): count the drop and unlink the pair, once.
    fn connection_ended(&mut self, sim: u64) {
        let now = self.q.now();
        let Some(c) = self.conns.get_mut(&sim) else { return };
        if !c.counted {
            return;
        }
        c.counted = false;
        self.stats.dropped += 1;
        if !c.desynced {
            let (a, b) = (c.ends[0].node, c.ends[1].node);
            self.graph.connection_down(a, b, self.net.is_open(a, b), now);
        }
    }

    /// The link corrupted a record mark on `sim` ([`crate::link::LinkStats::corrupted_record_marks`]):
    /// the receiver's framing is out of step with the sender's from that frame on, so
    /// nothing more crosses that direction intact, and with it go the grants, demands and
    /// replies the other direction depends on. The receiver notices at once if the announced
    /// length is out of bounds or too short (a framing, XDR or MAC error drops the peer); if
    /// it is longer and within the 16 MiB that PROTOCOL.md §1.2 allows after authentication,
    /// it waits for that body and notices only when it has arrived or a timeout of §4.3
    /// drops the peer, which can be long after a delivery deadline (stellar-core reads a
    /// frame the same way). From this write on the connection no longer links its two
    /// nodes for the delivery and fetch checks, although they keep it open for now.
    fn desynchronised(&mut self, sim: u64) {
        let now = self.q.now();
        let Some(c) = self.conns.get_mut(&sim) else { return };
        if c.desynced {
            return;
        }
        c.desynced = true;
        if c.counted {
            let (a, b) = (c.ends[0].node, c.ends[1].node);
            self.graph.connection_down(a, b, self.net.is_open(a, b), now);
        }
    }

    fn on_writable(&mut self, sim: u64, side: usize) -> Res {
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        let end = &mut c.ends[side];
        if end.state == EndState::Closed || end.writable {
            return Ok(());
        }
        end.writable = true;
        let (n, incarnation, conn) = (end.node, end.incarnation, end.conn.expect("a writing end has its id"));
        let sn = &mut self.nodes[n as usize];
        if sn.incarnation != incarnation {
            return Ok(());
        }
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
        live.node.set_writable(conn, true);
        self.drain(n)
    }

    /// Reset a connection: both ends see the socket close, bytes in flight are lost.
    fn reset_connection(&mut self, sim: u64) -> Res {
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        if c.reset {
            return Ok(());
        }
        c.reset = true;
        c.pipes = [Pipe::default(), Pipe::default()];
        for side in 0..2 {
            if c.ends[side].state != EndState::Closed && c.ends[side].tcp_up {
                self.q.schedule_in(Duration::ZERO, Event::Fin { conn: sim, to: side, reset: true })?;
            }
        }
        Ok(())
    }

    fn on_close(&mut self, n: NodeIndex, conn: ConnId) -> Res {
        let now = self.q.now();
        let Some(sim) = self.nodes[n as usize].live.as_deref_mut().and_then(|l| l.conns.remove(&conn)) else {
            return Ok(());
        };
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        let Some(side) = c.side_of(n, conn) else { return Ok(()) };
        c.ends[side].state = EndState::Closed;
        c.ends[side].authenticated = false;
        let (a, b) = (c.ends[0].node, c.ends[1].node);
        self.connection_ended(sim);
        let c = self.conns.get_mut(&sim).expect("present");
        if c.ends[side].tcp_up
            && !c.reset
            && c.ends[1 - side].state != EndState::Closed
            && c.ends[1 - side].conn.is_some()
        {
            let profile = self.net.profile(a, b);
            if let Some(at) = c.pipes[side].fin(now, &profile, self.net.is_blocked(a, b)) {
                self.q.schedule_at(at, Event::Fin { conn: sim, to: 1 - side, reset: false })?;
            }
        }
        self.maybe_remove(sim);
        Ok(())
    }

    fn on_event(&mut self, n: NodeIndex, e: NodeEvent) -> Res {
        let now = self.q.now();
        match e {
            NodeEvent::Connected { conn, .. } => {
                let Some(sim) = self.sim_of(n, conn) else { return Ok(()) };
                let c = self.conns.get_mut(&sim).expect("present");
                let Some(side) = c.side_of(n, conn) else { return Ok(()) };
                c.ends[side].authenticated = true;
                if c.ends[1 - side].authenticated && !c.counted {
                    c.counted = true;
                    self.stats.established += 1;
                    if !c.desynced {
                        let (a, b) = (c.ends[0].node, c.ends[1].node);
                        self.graph.connection_up(a, b, self.net.is_open(a, b), now);
                    }
                }
            }
            NodeEvent::Disconnected { conn, reason, .. } => {
                *self.stats.drop_reasons.entry(reason_name(&reason)).or_insert(0) += 1;
                let Some(sim) = self.sim_of(n, conn) else { return Ok(()) };
                let c = self.conns.get_mut(&sim).expect("present");
                let Some(side) = c.side_of(n, conn) else { return Ok(()) };
                let peer = c.ends[1 - side].node;
                if blames_peer(&reason) && !c.damaged && self.nodes[peer as usize].misbehaviour.is_none() {
                    let reason = reason.text().into_owned();
                    return Err(self.fail(Violation::HonestPeerBlamed { node: n, peer, reason }));
                }
                let c = self.conns.get_mut(&sim).expect("present");
                if c.ends[side].state == EndState::Open {
                    c.ends[side].state = EndState::Disconnected;
                }
                c.ends[side].authenticated = false;
                self.connection_ended(sim);
            }
            NodeEvent::Message { message: StellarMessage::ScpMessage(env), .. } => {
                self.log.receipt(MsgKey::Scp(scp_key(&env.signature.0)), n, now);
            }
            _ => {}
        }
        Ok(())
    }

    fn sim_of(&self, n: NodeIndex, conn: ConnId) -> Option<u64> {
        self.nodes[n as usize].live.as_deref().and_then(|l| l.conns.get(&conn).copied())
    }

    fn on_deliver(&mut self, sim: u64, to: usize, credit: (u64, u64), bytes: Vec<u8>) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        if c.reset || c.ends[to].state != EndState::Open {
            return Ok(());
        }
        let (r, incarnation, conn) = (c.ends[to].node, c.ends[to].incarnation, c.ends[to].conn);
        let Some(conn) = conn else { return Ok(()) };
        let sn = &mut self.nodes[r as usize];
        if sn.incarnation != incarnation || sn.live.is_none() {
            return Ok(());
        }
        let g = &mut c.grants_delivered[1 - to];
        g.0 = g.0.max(credit.0);
        g.1 = g.1.max(credit.1);
        let echo = sn.misbehaviour.is_some_and(|m| m.kind == MisbehaviourKind::Echo);
        let mut echoes = Vec::new();
        for f in tap::frames(&bytes) {
            sn.received.add(f.class(), f.frame.len());
            if let Some(id) = f.transaction_id() {
                c.recent_rx[to].get_or_insert_with(Default::default).insert(id);
                if echo && echoes.len() < ECHO_PER_DELIVERY_MAX {
                    echoes.push(f.message_xdr.to_vec());
                }
            }
        }
        if let Some(m) = sn.misbehaviour.filter(|m| m.kind.needs_keys()) {
            let role = if to == 0 { overlay_auth::Role::Initiator } else { overlay_auth::Role::Acceptor };
            let secret = sn.ecdh_secret;
            c.reseal[to].get_or_insert_with(|| Box::new(Resealer::new(role, secret))).observe_incoming(&bytes);
            let _ = m;
        }
        let live = sn.live.as_deref_mut().expect("checked live");
        live.node.handle_bytes(now, unix, conn, &bytes);
        self.drain(r)?;
        if !echoes.is_empty() {
            let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
            if c.reset || c.ends[to].state != EndState::Open {
                return Ok(());
            }
            let Some(reseal) = c.reseal[to].as_deref_mut().filter(|r| r.is_keyed()) else { return Ok(()) };
            let out = reseal.rewrite(&[], &echoes);
            self.write(sim, to, out)?;
        }
        Ok(())
    }

    fn on_fin(&mut self, sim: u64, to: usize, reset: bool) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get(&sim) else { return Ok(()) };
        let end = c.ends[to].clone();
        let reset = reset || c.fin_reset[1 - to];
        if end.state == EndState::Closed {
            self.maybe_remove(sim);
            return Ok(());
        }
        let Some(conn) = end.conn else { return Ok(()) };
        let sn = &mut self.nodes[end.node as usize];
        if sn.incarnation != end.incarnation {
            return Ok(());
        }
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
        let reason = if reset { DropReason::Io("connection reset by peer".into()) } else { DropReason::RemoteClosed };
        live.node.handle_socket_closed(now, unix, conn, reason);
        self.drain(end.node)
    }

    // ---- checks --------------------------------------------------------------------------

    fn sweep(&mut self) -> Res {
        self.sweep_nodes()?;
        let next = self.q.now() + Duration::from_millis(self.sc.check_interval_ms);
        if next <= self.end {
            self.q.schedule_at(next, Event::Sweep)?;
        }
        Ok(())
    }

    /// Check every running node's own state; refresh the load-shedding counter.
    fn sweep_nodes(&mut self) -> Res {
        let mut checks = 0;
        let mut shed = self.stats.shed_closed;
        for (i, sn) in self.nodes.iter().enumerate() {
            let Some(live) = sn.live.as_deref() else { continue };
            match invariants::check_node(i as NodeIndex, &live.node, self.sc.app_transactions_max) {
                Ok(n) => checks += n,
                Err(v) => return Err(self.fail(v)),
            }
            shed += shed_of(&live.node);
        }
        self.shed_total = shed;
        self.count_check("node state (flow control, bounds)", checks);
        Ok(())
    }

    fn current_shed(&self) -> u64 {
        self.stats.shed_closed
            + self.nodes.iter().filter_map(|n| n.live.as_deref()).map(|l| shed_of(&l.node)).sum::<u64>()
    }

    /// Whether node `i` counts for delivery checks of something that happened at `since`:
    /// running since then and honest.
    fn is_steady(&self, i: NodeIndex, since: Timestamp) -> bool {
        let sn = &self.nodes[i as usize];
        sn.live.is_some() && sn.up_since.is_some_and(|t| t <= since) && sn.is_honest()
    }

    fn check_message(&mut self, id: u32, key: MsgKey) -> Res {
        let Some(rec) = self.log.get(id) else { return Ok(()) };
        let (origin, at, kind) = (rec.origin, rec.at, rec.kind);
        let steady: Vec<NodeIndex> = (0..rec.node_count() as NodeIndex).filter(|&i| self.is_steady(i, at)).collect();
        let missing: Vec<NodeIndex> = steady.iter().copied().filter(|&i| !rec.received_by(i)).collect();
        let coverage = rec.coverage_us(steady.iter().copied());
        let shed_at = rec.shed_at;
        let number = rec.number;
        if self.is_steady(origin, at) && !missing.is_empty() {
            let component = self.graph.component_since(origin, at, |x| self.is_steady(x, at));
            if let Some(&node) = missing.iter().find(|m| component.contains(m)) {
                if self.current_shed() > shed_at {
                    self.log.stats_mut(kind).exempt_load_shed += 1;
                } else {
                    return Err(self.fail(Violation::NotDelivered {
                        kind: kind.name(),
                        message: number,
                        origin,
                        at_ms: self.at_ms(at),
                        node,
                        deadline_ms: self.sc.reach_deadline_ms,
                    }));
                }
            }
        }
        let stats = self.log.stats_mut(kind);
        stats.checked += 1;
        if let Some(us) = coverage.filter(|_| missing.is_empty()) {
            stats.coverage.record_us(us);
        }
        self.log.finish(id, key);
        self.count_check("deliveries checked", 1);
        Ok(())
    }

    fn check_fetch(&mut self, id: u32) -> Res {
        let Some(f) = self.log.fetch(id).cloned() else { return Ok(()) };
        self.log.finish_fetch(id);
        self.nodes[f.fetcher as usize].pending_fetches.retain(|x| *x != id);
        if f.done.is_some() {
            self.log.fetch.checked += 1;
            return Ok(());
        }
        let steady = self.is_steady(f.fetcher, f.started) && self.is_steady(f.holder, f.started);
        let linked = self.graph.component_since(f.holder, f.started, |x| x == f.fetcher).contains(&f.fetcher);
        if steady && linked {
            return Err(self.fail(Violation::FetchNotDone {
                node: f.fetcher,
                holder: f.holder,
                deadline_ms: self.sc.reach_deadline_ms,
            }));
        }
        Ok(())
    }

    /// A declared misbehaving peer overran its grant a while ago: did the honest side drop
    /// it? Counted, not required: stellar-core (and this node) only notices an overrun when
    /// its processing falls behind, which synchronous processing never does.
    fn check_punished(&mut self, sim: u64, side: usize) -> Res {
        self.stats.overruns += 1;
        let kept = self.conns.get(&sim).is_some_and(|c| {
            let end = &c.ends[side];
            let sn = &self.nodes[end.node as usize];
            end.state == EndState::Open && sn.incarnation == end.incarnation && sn.live.is_some() && !c.reset
        });
        if !kept {
            self.stats.misbehaving_dropped += 1;
        }
        Ok(())
    }

    // ---- report --------------------------------------------------------------------------

    /// Propagation latency histograms of transactions and SCP messages.
    pub fn latency_histograms(&self) -> (&crate::histogram::Histogram, &crate::histogram::Histogram) {
        (&self.log.tx.latency, &self.log.scp.latency)
    }

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        crate::report::build(self.report_input())
    }

    fn report_input(&self) -> crate::report::Input<'_> {
        let now = self.q.now();
        let mut metrics = self.stats.metrics_closed.clone();
        let mut demand_timeouts = self.stats.demand_timeouts_closed;
        let mut demand_abandoned = self.stats.demand_abandoned_closed;
        let mut fetch_next_peer = self.stats.fetch_next_peer_closed;
        for sn in &self.nodes {
            let Some(live) = sn.live.as_deref() else { continue };
            for (name, v) in live.node.metrics() {
                *metrics.entry(name).or_insert(0) += v;
            }
            let d = live.node.pull_mode().demand_metrics();
            demand_timeouts += d.timeouts;
            demand_abandoned += d.abandoned;
            fetch_next_peer += live.node.tx_set_fetcher().metrics().next_peer;
        }
        let per_node = self
            .nodes
            .iter()
            .map(|sn| crate::report::NodeTraffic {
                sent: sn.sent,
                received: sn.received,
                uptime_s: (sn.uptime_ns + sn.up_since.map_or(0, |t| now.saturating_duration_since(t).as_nanos() as u64))
                    as f64
                    / 1e9,
                honest: sn.is_honest(),
            })
            .collect();
        let mut misbehaving = BTreeMap::new();
        for (i, sn) in self.nodes.iter().enumerate() {
            if let Some(m) = sn.misbehaviour {
                let name = format!("{}{}", m.kind.name(), if m.declared { "" } else { " (planted)" });
                misbehaving.entry(name).or_insert_with(Vec::new).push(i as NodeIndex);
            }
        }
        crate::report::Input {
            scenario: &self.sc,
            trace_hash: self.trace,
            virtual_ms: now.saturating_duration_since(START).as_millis() as u64,
            events: self.q.popped(),
            initial_nodes: self.initial_nodes,
            joined: self.stats.joins,
            live_at_end: self.nodes.iter().filter(|n| n.live.is_some()).count(),
            stops: self.stats.stops,
            crashes: self.stats.crashes,
            restarts: self.stats.restarts,
            misbehaving,
            log: &self.log,
            per_node,
            metrics,
            demand_timeouts,
            demand_abandoned,
            fetch_next_peer,
            dials: self.stats.dials,
            dial_failures: self.stats.dial_failures,
            established: self.stats.established,
            dropped: self.stats.dropped,
            drop_reasons: &self.stats.drop_reasons,
            links: self.stats.link,
            partitions: self.stats.partitions,
            cuts: self.stats.cuts,
            misbehaving_dropped: self.stats.misbehaving_dropped,
            overruns: self.stats.overruns,
            checks: self.checks_made(),
        }
    }
}

/// Node metrics that are levels, not counts (not summed over stopped incarnations).
fn is_gauge(name: &str) -> bool {
    name.starts_with("overlay.connection.")
}

/// What a node dropped for load (outbound queue shedding, incoming adverts over the limit):
/// a message lost that way may legitimately miss nodes.
fn shed_of(node: &SimulatedNode) -> u64 {
    let queue = node.metrics().into_iter().find(|(n, _)| *n == "overlay.outbound-queue.drop").map_or(0, |(_, v)| v);
    queue + node.pull_mode().metrics().incoming_dropped
}

/// Whether a drop reason says the peer broke the protocol (as opposed to a decision, a
/// timeout or the network).
fn blames_peer(reason: &DropReason) -> bool {
    match reason {
        DropReason::Frame(_)
        | DropReason::CorruptXdr(_)
        | DropReason::Mac(_)
        | DropReason::UnexpectedHello
        | DropReason::OutOfOrderAuth
        | DropReason::ReceivedPeers
        | DropReason::TooManyPeers => true,
        DropReason::Flow(e) => e.is_peer_misbehaviour() && *e != overlay_flow::FlowError::NoOutboundCapacityTimeout,
        _ => false,
    }
}

/// The key of an SCP envelope: the first 8 bytes of its signature.
fn scp_key(signature: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    let n = signature.len().min(8);
    k[..n].copy_from_slice(&signature[..n]);
    u64::from_be_bytes(k)
}

/// A drop reason for the report: stellar-core's wording without the numbers and node ids
/// it may carry, so that reasons group.
fn reason_name(reason: &DropReason) -> String {
    let text = reason.text();
    let cut = text.find(|c: char| c == ':' || c.is_ascii_digit()).unwrap_or(text.len());
    let words: Vec<&str> = text[..cut]
        .split(' ')
        .filter(|w| {
            let w = w.trim_matches(|c: char| c == ')' || c == '*' || c == '(');
            !(w.len() >= 2 && w.starts_with('G') && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
        .collect();
    let mut name = words.join(" ").trim_end().trim_end_matches('*').to_string();
    if name.contains('(') && !name.contains(')') {
        name.push(')');
    }
    name
}

/// The NodeId of node index `i` (as the world creates it).
pub fn node_id(i: NodeIndex) -> NodeId {
    let mut identity_seed = [0x5e; 32];
    identity_seed[..4].copy_from_slice(&i.to_be_bytes());
    NodeIdentity::from_seed(identity_seed).node_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_drop_numbers() {
        assert_eq!(reason_name(&DropReason::IdleTimeout), "idle timeout");
        assert_eq!(reason_name(&DropReason::Io("unable to connect: connection refused".into())), "unable to connect");
        assert_eq!(
            reason_name(&DropReason::Io("ERR_CONF (already*connected peer* GBJVBXYZ)".into())),
            "ERR_CONF (already*connected peer)"
        );
    }

    #[test]
    fn scp_keys_read_the_signature() {
        assert_eq!(scp_key(&[0, 0, 0, 0, 0, 0, 1, 2, 9]), 0x0102);
        assert_eq!(scp_key(&[1]), 1 << 56);
    }
}
