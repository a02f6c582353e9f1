//! [`World`]: the event loop. Nodes, connections, links and the scenario's actions, driven
//! from one queue on one virtual clock.
//!
//! The world carries out what nodes ask for (dial, write, close, hand this to the
//! application, persist that peer record) and feeds them what happens (a connection up or
//! refused, bytes, an end of stream, a timer, the application's answers), following the
//! node's drain contract. Every protocol decision is the node's; the world only moves bytes,
//! keeps time, plays the scenario and checks the invariants ([`crate::invariants`]).
//!
//! | module | job |
//! |---|---|
//! | this one | the event queue and its loop |
//! | `nodes` | node lifecycle: build, start, drain (outputs, application, peer database), timers, stop |
//! | `tcp` | TCP emulation: dials, accepts, writes over the links, ends of stream, resets |
//! | `reseal` | what misbehaving nodes do to their bytes |
//! | `wire` | the wire tap's checks on every write |
//! | `checks` | state sweeps and delivery, fetch and punishment checks |
//! | `scenario_events` | the scenario's load and faults over time |
//! | `consensus` | the consensus-relay scenario: slots, ballots, its observations and invariants |
//! | `crawl` | the crawl scenario: the crawler's connections, what nodes did with them, reachability |
//! | `survey` | the survey scenario: the surveyor's steps and who answered |
//! | `report_input` | what the report is built from |
//! | `graph`, `log` | who is linked to whom; what was broadcast and received |

mod checks;
mod consensus;
mod crawl;
mod graph;
pub(crate) mod log;
mod nodes;
mod report_input;
mod reseal;
mod scenario_events;
mod survey;
mod tcp;
mod wire;

use crate::clock::{EVENTS_QUEUED_MAX, EventQueue};
use crate::consensus::values::Statement;
use crate::error::SimError;
use crate::invariants::Violation;
use crate::link::LinkStats;
use crate::network::{Network, NodeIndex};
use crate::rng::{SimRng, mix64};
use crate::scenario::Scenario;
use crate::topology;
use core::time::Duration;
use graph::Graph;
use log::{MessageLog, MsgKey};
use nodes::SimNode;
use overlay_auth::NodeIdentity;
use overlay_proto::{Hash256, NodeId, Timestamp};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tcp::Connection;

/// The virtual time at which a run starts.
pub const START: Timestamp = Timestamp::from_secs(100);
/// Wall-clock seconds reported to nodes at [`START`] (certificate expiry).
pub const UNIX_BASE: u64 = 1_800_000_000;
/// The port every simulated node listens on.
pub const LISTEN_PORT: u16 = 11_625;
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
    Slot,
    Ballot { validator: NodeIndex, slot: u64, statement: Statement, tries: u32 },
    CheckEnvelope(u32),
    CheckRequest { conn: u64, hash: Hash256 },
    Crawl(crawl::CrawlStep),
    Survey(survey::SurveyStep),
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
            Event::Slot => l("start of a consensus slot", 0, 0),
            Event::Ballot { validator, slot, .. } => l("ballot statement of validator", u64::from(*validator), *slot),
            Event::CheckEnvelope(n) => l("delivery check of envelope record", u64::from(*n), 0),
            Event::CheckRequest { conn, .. } => l("answer check of a request on connection", *conn, 0),
            Event::CheckPunished { conn, side } => {
                l("look whether an overrunning peer was dropped", *conn, *side as u64)
            }
            Event::Crawl(step) => {
                let (kind, conn) = step.code();
                l("crawl step", kind, conn)
            }
            Event::Survey(step) => l("survey step", *step as u64, 0),
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
    /// GET_TX_SET messages written, read on the wire.
    get_tx_set_sent: u64,
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
    /// The consensus-relay scenario's state, if it runs.
    consensus: Option<Box<consensus::Consensus>>,
    /// The crawl scenario's state, if it runs.
    crawl: Option<Box<crawl::CrawlRun>>,
    /// The survey scenario's state, if it runs.
    survey: Option<Box<survey::SurveyRun>>,
    /// Whether nodes' readers and writers are taken out (see [`World::take_connection_work`]).
    take_connection_work: bool,
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
            consensus: None,
            crawl: None,
            survey: None,
            take_connection_work: false,
        };
        if let Some(spec) = world.sc.consensus {
            let c = consensus::Consensus::new(spec, world.validators.clone(), world.nodes.len());
            world.consensus = Some(Box::new(c));
        }
        world.assign_misbehaviour();
        world.schedule_scenario()?;
        world.schedule_consensus()?;
        world.crawl = world.sc.crawl.clone().map(|spec| Box::new(crawl::CrawlRun::new(spec)));
        world.schedule_crawl()?;
        world.survey = world.sc.survey.map(|spec| Box::new(survey::SurveyRun::new(spec)));
        world.schedule_survey()?;
        Ok(world)
    }

    /// Run every node as a driver that reads and seals on connection tasks does: each
    /// admitted peer's `PeerReader` and `PeerWriter` are taken out of the node, the simulator
    /// opens what the connection reads with the reader and seals what the node writes with the
    /// writer (still on this one thread, in the same order). The wire is the same byte for
    /// byte, so a seed's report must be too. Call before [`run`](Self::run).
    pub fn take_connection_work(&mut self) {
        self.take_connection_work = true;
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
        for n in 0..self.nodes.len() as NodeIndex {
            self.check_store(n)?;
        }
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
            Event::Slot => self.start_slot(),
            Event::Ballot { validator, slot, statement, tries } => self.ballot(validator, slot, statement, tries),
            Event::CheckEnvelope(n) => self.check_envelope(n),
            Event::CheckRequest { conn, hash } => self.check_request(conn, hash),
            Event::Crawl(step) => self.crawl_step(step),
            Event::Survey(step) => self.survey_step(step),
        }
    }
}

/// The key of an SCP envelope: the first 8 bytes of its signature.
fn scp_key(signature: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    let n = signature.len().min(8);
    k[..n].copy_from_slice(&signature[..n]);
    u64::from_be_bytes(k)
}

/// The NodeId of node index `i` (as the world creates it).
pub fn node_id(i: NodeIndex) -> NodeId {
    NodeIdentity::from_seed(nodes::identity_seed(i)).node_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_keys_read_the_signature() {
        assert_eq!(scp_key(&[0, 0, 0, 0, 0, 0, 1, 2, 9]), 0x0102);
        assert_eq!(scp_key(&[1]), 1 << 56);
    }
}
