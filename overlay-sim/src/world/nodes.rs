//! Node lifecycle: a node and its application are built, started, drained, timed and
//! stopped here, following the node's drain contract (overlay-node's crate doc): after every
//! input, drain `poll_output` until `None`, hand each delivery to the application and feed
//! each of its answers back with `handle_app`, persist each peer-database change, then arm
//! the timer at `poll_timeout`.

use super::log::MsgKey;
use super::{Event, LISTEN_PORT, Res, World, ip_of, node_id};
use crate::consensus::{PlantedRelay, ValidatorApp};
use crate::fault::Misbehaviour;
use crate::invariants::{SimulatedNode, Violation};
use crate::network::NodeIndex;
use crate::tap::ClassCounters;
use crate::topology::NodePlan;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_node::app::{AppInput, Application, Delivery, MemoryApp, MemoryAppLimits};
use overlay_node::discovery::{MemoryStore, PeerStore, StoreChange};
use overlay_node::{
    ConnId, ItemLimits, LedgerState, Node, NodeConfig, NodeEvent, Output, PeerReader, PeerWriter, Received, Relay,
    RelayConfig,
};
use overlay_proto::{Network as StellarNetwork, PeerAddress, Timestamp};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A node's timer firing this many times at one instant is a stuck timer.
const TIMER_FIRES_AT_INSTANT_MAX: u32 = 1_000;

/// The application beside a simulated node, run inline: its deliveries are handed over and
/// its answers fed back within the same instant.
#[derive(Debug)]
pub(crate) enum SimApp {
    /// The flooding scenarios: accepts every transaction, finds every envelope ready.
    Memory(MemoryApp),
    /// A relay of the consensus-relay scenario: overlay-node's watcher-like relay.
    Relay(Box<Relay>),
    /// A validator of the consensus-relay scenario.
    Validator(Box<ValidatorApp>),
    /// The planted bug of the consensus-relay scenario: a relay that floods unfetched.
    Planted(PlantedRelay),
}

impl SimApp {
    /// Whether it is a relay's (the watcher-like one or the planted bug).
    pub(crate) fn is_relay(&self) -> bool {
        matches!(self, SimApp::Relay(_) | SimApp::Planted(_))
    }

    /// The validator, if it is one.
    pub(crate) fn validator(&self) -> Option<&ValidatorApp> {
        match self {
            SimApp::Validator(v) => Some(v),
            _ => None,
        }
    }

    /// The validator, mutably.
    pub(crate) fn validator_mut(&mut self) -> Option<&mut ValidatorApp> {
        match self {
            SimApp::Validator(v) => Some(v),
            _ => None,
        }
    }
}

impl Application for SimApp {
    fn handle_delivery(&mut self, now: Timestamp, delivery: Delivery) {
        match self {
            SimApp::Memory(a) => a.handle_delivery(now, delivery),
            SimApp::Relay(a) => a.handle_delivery(now, delivery),
            SimApp::Validator(a) => a.handle_delivery(now, delivery),
            SimApp::Planted(a) => a.handle_delivery(now, delivery),
        }
    }

    fn poll_input(&mut self) -> Option<AppInput> {
        match self {
            SimApp::Memory(a) => a.poll_input(),
            SimApp::Relay(a) => a.poll_input(),
            SimApp::Validator(a) => a.poll_input(),
            SimApp::Planted(a) => a.poll_input(),
        }
    }
}

/// A running node, its application and its connections.
pub(super) struct Live {
    pub node: SimulatedNode,
    pub app: SimApp,
    pub conns: BTreeMap<ConnId, u64>,
    /// With `World::take_connection_work`: the receive and send halves taken out of the
    /// node, per connection, as a driver that reads and seals on connection tasks holds them.
    pub halves: BTreeMap<ConnId, Halves>,
}

/// A connection's halves taken out of the node.
#[derive(Default)]
pub(super) struct Halves {
    pub reader: Option<PeerReader>,
    pub writer: Option<PeerWriter>,
}

impl Live {
    /// Bytes read on `conn`: through its reader if it was taken, else to the node (and the
    /// reader taken once offered, when `take` is set).
    pub(super) fn feed(&mut self, now: Timestamp, unix: u64, conn: ConnId, bytes: &[u8], take: bool) {
        let Some(reader) = self.halves.get_mut(&conn).and_then(|h| h.reader.as_mut()) else {
            self.node.handle_bytes(now, unix, conn, bytes);
            if let Some(r) = take.then(|| self.node.take_reader(conn)).flatten() {
                self.halves.entry(conn).or_default().reader = Some(r);
            }
            return;
        };
        let mut opened = Vec::new();
        let result = reader.read(bytes, &mut opened);
        self.node.handle_read(now, unix, conn, opened, result);
    }

    /// Take the writers the node offers now (after its outputs were drained), for the
    /// connections whose reader is out, as the tokio driver does.
    pub(super) fn take_writers(&mut self) {
        for (conn, halves) in self.halves.iter_mut().filter(|(_, h)| h.writer.is_none()) {
            halves.writer = self.node.take_writer(*conn);
        }
    }
}

/// A simulated node, running or not.
pub(super) struct SimNode {
    pub ip: Ipv4Addr,
    pub identity_seed: [u8; 32],
    pub ecdh_secret: [u8; 32],
    pub plan: NodePlan,
    pub live: Option<Box<Live>>,
    pub incarnation: u32,
    pub up_since: Option<Timestamp>,
    pub misbehaviour: Option<Misbehaviour>,
    /// The node's peer database: every [`Output::Store`] change applied in order. It
    /// survives stops and crashes and is what the node starts from next time.
    pub store: MemoryStore,
    pub sent: ClassCounters,
    pub received: ClassCounters,
    pub uptime_ns: u64,
    pub timer_at: Option<Timestamp>,
    pub timer_fires: (Timestamp, u32),
    pub next_port: u16,
    pub pending_fetches: Vec<u32>,
}

impl SimNode {
    pub fn new(index: NodeIndex, plan: NodePlan) -> SimNode {
        let ip = ip_of(index);
        SimNode {
            ip,
            identity_seed: identity_seed(index),
            ecdh_secret: {
                let mut s = [0xec; 32];
                s[..4].copy_from_slice(&index.to_be_bytes());
                s
            },
            plan,
            live: None,
            incarnation: 0,
            up_since: None,
            misbehaviour: None,
            store: MemoryStore::new(),
            sent: ClassCounters::default(),
            received: ClassCounters::default(),
            uptime_ns: 0,
            timer_at: None,
            timer_fires: (Timestamp::ZERO, 0),
            next_port: 32_768,
            pending_fetches: Vec::new(),
        }
    }

    pub fn is_honest(&self) -> bool {
        !self.misbehaviour.is_some_and(|m| m.declared)
    }

    pub fn address(&self) -> PeerAddress {
        PeerAddress::new(self.ip.to_string(), LISTEN_PORT)
    }
}

/// The Ed25519 seed of node `index` (its overlay identity; a validator also signs its SCP
/// statements with it, as stellar-core's `NODE_SEED`).
pub(crate) fn identity_seed(index: NodeIndex) -> [u8; 32] {
    let mut s = [0x5e; 32];
    s[..4].copy_from_slice(&index.to_be_bytes());
    s
}

impl World {
    /// The ledger every node works from: the world's slot and the scenario's tx-set size.
    pub(super) fn ledger_state(&self) -> LedgerState {
        LedgerState { tracking_ledger: self.slot, max_tx_set_size_ops: self.sc.max_tx_set_ops, ..LedgerState::GENESIS }
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

    /// The application of node `n`: the in-memory one, or in the consensus-relay scenario a
    /// validator's or a relay's.
    fn make_app(&self, n: NodeIndex, ledger: LedgerState) -> SimApp {
        let (Some(spec), Some(c)) = (self.sc.consensus.as_ref(), self.consensus.as_ref()) else {
            let limits =
                MemoryAppLimits { transactions_max: self.sc.app_transactions_max, ..MemoryAppLimits::default() };
            return SimApp::Memory(MemoryApp::new(limits));
        };
        if let Some(setup) = c.validator_setup(n) {
            return SimApp::Validator(Box::new(ValidatorApp::new(setup, ledger)));
        }
        if spec.planted_unfetched_relays {
            return SimApp::Planted(PlantedRelay::new());
        }
        let mut config = RelayConfig::new(StellarNetwork::Standalone.id());
        config.ledger = ledger;
        config.trusted_validators = self.validators.iter().map(|v| node_id(*v)).collect();
        SimApp::Relay(Box::new(Relay::new(config)))
    }

    fn make_node(&mut self, n: NodeIndex) -> (SimulatedNode, SimApp) {
        let now = self.q.now();
        let ledger = self.ledger_state();
        let flood = self.flood_config();
        let app = self.make_app(n, ledger);
        let sn = &self.nodes[n as usize];
        let hello = HelloParams { listening_port: LISTEN_PORT, ..HelloParams::default() };
        let auth = LocalAuth::new(
            NodeIdentity::from_seed(sn.identity_seed),
            StellarNetwork::Standalone.id(),
            sn.ecdh_secret,
            hello,
        );
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
            ledger,
            // The node keeps accepted transactions to serve demands: as many as the
            // application remembers (the scenario's bound on both).
            items: ItemLimits { transactions_max: self.sc.app_transactions_max, ..ItemLimits::default() },
            allow_private_addresses_for_testing: true,
            survey: overlay_node::survey::SurveyConfig {
                surveyor_keys: self.sc.survey.iter().map(|s| node_id(s.surveyor)).collect(),
                ..Default::default()
            },
            ..NodeConfig::default()
        };
        let seed = crate::rng::derive_seed(
            self.sc.seed,
            crate::rng::SeedDomain::Node,
            (u64::from(n) << 20) | u64::from(sn.incarnation),
        );
        (Node::new(config, auth, sn.store.clone(), seed, now), app)
    }

    pub(super) fn start_node(&mut self, n: NodeIndex) -> Res {
        if self.nodes[n as usize].live.is_some() {
            return Ok(());
        }
        let now = self.q.now();
        self.nodes[n as usize].incarnation += 1;
        let (mut node, app) = self.make_node(n);
        node.start(now, self.unix());
        let sn = &mut self.nodes[n as usize];
        sn.live = Some(Box::new(Live { node, app, conns: BTreeMap::new(), halves: BTreeMap::new() }));
        sn.up_since = Some(now);
        sn.timer_at = None;
        self.drain(n)
    }

    /// Stop node `n`: a clean shutdown (ERROR "shutdown" to every peer), or a crash (every
    /// socket reset). Its peer database stays, as the changes it emitted built it.
    pub(super) fn stop_node(&mut self, n: NodeIndex, crash: bool) -> Res {
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
        self.check_store(n)?;
        let Some(live) = self.nodes[n as usize].live.take() else { return Ok(()) };
        let sn = &mut self.nodes[n as usize];
        sn.uptime_ns += sn.up_since.map_or(0, |t| now.saturating_duration_since(t).as_nanos() as u64);
        sn.up_since = None;
        sn.timer_at = None;
        sn.pending_fetches.clear();
        self.bank_metrics(&live.node);
        self.consensus_node_stopped(n);
        for (_, sim) in live.conns {
            self.end_dies(sim, n, true)?;
        }
        Ok(())
    }

    /// The peer database the driver persisted from node `n`'s changes must be the node's
    /// own view of it.
    pub(super) fn check_store(&mut self, n: NodeIndex) -> Res {
        let sn = &self.nodes[n as usize];
        let Some(live) = sn.live.as_deref() else { return Ok(()) };
        let view = live.node.store();
        let same = view.records().eq(sn.store.records()) && view.bans().ok() == sn.store.bans().ok();
        let (records, persisted) = (view.len(), sn.store.len());
        self.count_check("peer databases rebuilt from store changes", 1);
        if !same {
            return Err(self.fail(Violation::StoreDiverged { node: n, records, persisted }));
        }
        Ok(())
    }

    pub(super) fn dial(&mut self, from: NodeIndex, to: NodeIndex) -> Res {
        let now = self.q.now();
        let Some(target) = self.nodes.get(to as usize).map(SimNode::address) else { return Ok(()) };
        let Some(live) = self.nodes[from as usize].live.as_deref_mut() else { return Ok(()) };
        let _ = live.node.connect(now, target);
        self.drain(from)
    }

    pub(super) fn on_timer(&mut self, n: NodeIndex, incarnation: u32, at: Timestamp) -> Res {
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

    /// Give node `n` an input of its application now (an item to hold, a new ledger), then
    /// drain it.
    pub(super) fn app_input(&mut self, n: NodeIndex, input: AppInput) -> Res {
        let now = self.q.now();
        if self.nodes[n as usize].live.is_none() {
            return Ok(());
        }
        self.observe_app_input(n, &input);
        if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
            let _ = live.node.handle_app(now, input);
        }
        self.drain(n)
    }

    /// Drain node `n`: its outputs, and its application's answers fed back, until both are
    /// empty; then arm its timer.
    pub(super) fn drain(&mut self, n: NodeIndex) -> Res {
        let now = self.q.now();
        loop {
            let Some(live) = self.nodes[n as usize].live.as_deref_mut() else { return Ok(()) };
            if let Some(out) = live.node.poll_output() {
                self.on_output(n, out)?;
                continue;
            }
            let Some(input) = live.app.poll_input() else { break };
            self.observe_app_input(n, &input);
            let Some(live) = self.nodes[n as usize].live.as_deref_mut() else { return Ok(()) };
            // A refusal (a HoldTxSet that is not a tx set) is the application's mistake; the
            // simulated applications make none.
            let _ = live.node.handle_app(now, input);
        }
        if self.take_connection_work {
            if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
                live.take_writers();
            }
        }
        self.arm_timer(n)
    }

    fn arm_timer(&mut self, n: NodeIndex) -> Res {
        let sn = &mut self.nodes[n as usize];
        let Some(live) = sn.live.as_deref_mut() else { return Ok(()) };
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
            Output::Deliver(d) => self.on_delivery(n, d),
            Output::Store(change) => {
                self.persist(n, &change);
                Ok(())
            }
        }
    }

    /// Apply a peer-database change to node `n`'s persisted store.
    fn persist(&mut self, n: NodeIndex, change: &StoreChange) {
        // The node made the same change to its own view, under the same bounds; a refusal
        // here shows as a divergence in `check_store`.
        let _ = self.nodes[n as usize].store.apply(change);
    }

    /// A delivery of node `n`: observe it, then hand it to the application.
    fn on_delivery(&mut self, n: NodeIndex, d: Delivery) -> Res {
        let now = self.q.now();
        match &d {
            // The receipt of a transaction: the node saw it first and hands it over.
            Delivery::Transaction(t) => self.log.receipt(MsgKey::Tx(t.hash), n, now),
            Delivery::TxSet { hash, .. } => {
                let sn = &mut self.nodes[n as usize];
                let log = &mut self.log;
                sn.pending_fetches.retain(|id| match log.fetch(*id) {
                    Some(f) if f.hash == *hash => {
                        log.fetch_done(*id, now);
                        false
                    }
                    Some(_) => true,
                    None => false,
                });
            }
            _ => {}
        }
        self.observe_delivery(n, &d);
        if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
            live.app.handle_delivery(now, d);
        }
        Ok(())
    }

    pub(super) fn on_event(&mut self, n: NodeIndex, e: NodeEvent) -> Res {
        let now = self.q.now();
        match e {
            NodeEvent::Connected { conn, .. } => self.on_authenticated(n, conn),
            NodeEvent::Disconnected { conn, reason, .. } => self.on_disconnected(n, conn, *reason),
            NodeEvent::Message { message: Received::ScpMessage(env), .. } => {
                self.log.receipt(MsgKey::Scp(super::scp_key(&env.signature.0)), n, now);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Keep the counters of a node that stops.
    fn bank_metrics(&mut self, node: &SimulatedNode) {
        for (name, v) in node.metrics() {
            if super::report_input::is_gauge(name) {
                continue;
            }
            *self.stats.metrics_closed.entry(name).or_insert(0) += v;
        }
        let d = node.pull_mode().demand_metrics();
        self.stats.demand_timeouts_closed += d.timeouts;
        self.stats.demand_abandoned_closed += d.abandoned;
        self.stats.shed_closed += super::report_input::shed_of(node);
    }
}
