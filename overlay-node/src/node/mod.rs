//! [`Node`]: the overlay manager as one sans-IO state machine (PROTOCOL.md §7–§11).
//!
//! # Drain contract
//!
//! The driver feeds inputs (`handle_inbound`, `handle_connected`, `handle_connect_failed`,
//! `handle_bytes`, `handle_socket_closed`, `handle_timeout`, `set_writable`), the
//! application's answers (`handle_app`) and commands (`broadcast`, `send_to`, `connect`,
//! `disconnect`, `ban`, `shutdown`, ...), each with `now`. After each, it drains
//! [`Node::poll_output`] until `None`:
//! - [`Output::Connect`]: dial the address, then report `handle_connected` or
//!   `handle_connect_failed` for that connection;
//! - [`Output::Transmit`]: write the bytes on that connection, in order; if the socket cannot
//!   take more, call `set_writable(conn, false)` and `true` again when it can;
//! - [`Output::Close`]: everything for that connection was handed over: close the socket;
//! - [`Output::Deliver`]: hand it to the application, which answers later with
//!   [`Node::handle_app`] (the node never waits);
//! - [`Output::Store`]: persist the peer-database change, in order, off the loop;
//! - [`Output::Event`]: tell the log, the metrics or subscribers.
//!
//! Then it arms a timer for [`Node::poll_timeout`] and calls [`Node::handle_timeout`] then.
//!
//! # Reading elsewhere
//!
//! A driver may run each admitted peer's receive path (framing, MAC check, decoding, the
//! flood hash) on the connection's own thread or task: after each `handle_bytes` it asks
//! [`Node::take_reader`], reading nothing more from that socket until the answer; once it
//! has the [`PeerReader`](crate::PeerReader), it feeds the reader and gives the node
//! [`Node::handle_read`] instead of bytes. A driver that
//! never asks (the simulator, the mio driver) gets the same behaviour with everything on
//! its loop.
//!
//! # Sealing elsewhere
//!
//! Likewise for the send path's MACs: once a peer is admitted, a driver that has taken every
//! output so far may ask [`Node::take_writer`]. With the [`PeerWriter`](crate::PeerWriter),
//! every later [`Output::Transmit`] for that connection holds frames whose sequence and MAC
//! are left zero; the driver seals each batch with the writer, in order, where it writes it
//! (the tokio driver: on the connection's writer task). A broadcast to many peers then costs
//! the node's loop one encoding and a copy per peer, and the HMACs run on the connections'
//! tasks.

mod commands;
mod conn;
mod flood;
mod inbound;
mod io;
mod items;
mod manage;
mod output;
mod pending;
mod serve;
mod survey;
mod tx_store;

pub use conn::ConnId;
pub use output::{NodeError, NodeEvent, Output, Received};
pub use serve::{generalized_tx_set_hash, legacy_tx_set_hash, tx_set_hash};
pub use survey::SURVEY_BAD_SIGNATURE;

use crate::config::{Limits, NodeConfig};
use crate::discovery::{DiscoveryConfig, JournalStore, MemoryStore, PeerManager};
use crate::ledger::LedgerState;
use crate::metrics::{ConnectionCounts, Measures, MetricsSnapshot, NodeMetrics, PeerTotals};
use crate::peer::{DropReason, Peer, PeerConfig, PeerEvent};
use conn::{Conn, FloodPeers};
use items::ItemStore;
use overlay_auth::{LocalAuth, Role};
use overlay_flood::{FetchKind, Floodgate, ItemFetcher, PullMode, QueryLimits};
use overlay_proto::xdr::ScpEnvelope;
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use pending::Pending;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// An SCP envelope waiting for a verdict or for an item, with what flooding it needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Waiter {
    pub envelope: Arc<ScpEnvelope>,
    /// The SCP_MESSAGE XDR.
    pub xdr: Arc<[u8]>,
    pub from: Option<NodeId>,
    /// How many times it was handed back to the application after items arrived or were
    /// found held; past [`HAND_BACKS_MAX`] it is given up, so that an application that keeps
    /// asking for items the node holds cannot loop forever.
    pub hand_backs: u8,
}

/// How many times an envelope is handed back to the application before it is given up.
pub(crate) const HAND_BACKS_MAX: u8 = 4;

/// The sans-IO overlay node. See the [module docs](self) for the drain contract.
pub struct Node {
    config: NodeConfig,
    limits: Limits,
    peer_config: Arc<PeerConfig>,
    auth: LocalAuth,
    ledger: LedgerState,
    discovery: PeerManager<JournalStore>,
    rng: ChaCha8Rng,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    authenticated: BTreeMap<NodeId, ConnId>,
    /// The peers of `authenticated` with their Floodgate slots, for broadcasts.
    flood_peers: FloodPeers,
    floodgate: Floodgate<NodeId>,
    pull: PullMode<NodeId>,
    tx_sets: ItemFetcher<NodeId, Waiter>,
    quorum_sets: ItemFetcher<NodeId, Waiter>,
    query_limits: QueryLimits,
    items: ItemStore,
    /// Transactions delivered and waiting for a verdict: their TRANSACTION XDR.
    pending_txs: Pending<Arc<[u8]>>,
    /// SCP envelopes delivered and waiting for a verdict.
    pending_scp: Pending<Waiter>,
    rate: Option<flood::RateBucket>,
    outputs: VecDeque<Output>,
    dirty: BTreeSet<ConnId>,
    now: Timestamp,
    now_unix: u64,
    next_tick: Option<Timestamp>,
    out_of_sync_since: Option<Timestamp>,
    shutting_down: bool,
    metrics: NodeMetrics,
    measures: Measures,
    survey: crate::survey::SurveyState,
    /// When each item being fetched was first asked for (fetch latency). Bound:
    /// `FETCH_STARTS_MAX`; cleared whole past it (the figures of those fetches are lost).
    fetch_started: std::collections::HashMap<overlay_proto::Hash256, Timestamp, overlay_proto::SeededState>,
    manage: manage::ManageState,
}

/// Fetch start times kept at most (far above the fetchers' own bound on trackers).
const FETCH_STARTS_MAX: usize = 16_384;

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.auth.node_id())
            .field("connections", &self.conns.len())
            .field("authenticated", &self.authenticated.len())
            .finish_non_exhaustive()
    }
}

/// Latency assumed for a peer never pinged (§4.4): 24 h, so it sorts last.
const UNMEASURED_LATENCY_MS: u64 = 24 * 3600 * 1000;

/// Sizes of what a node holds, for inspection and bounds checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeSizes {
    /// Floodgate records.
    pub floodgate_records: usize,
    /// Transactions held to serve demands.
    pub transactions: usize,
    /// Their bytes.
    pub transaction_bytes: usize,
    /// Tx sets held.
    pub tx_sets: usize,
    /// Quorum sets held.
    pub quorum_sets: usize,
    /// SCP envelopes held for GET_SCP_STATE.
    pub scp_envelopes: usize,
    /// Transactions waiting for a verdict.
    pub pending_transactions: usize,
    /// SCP envelopes waiting for a verdict.
    pub pending_envelopes: usize,
    /// Item fetches (trackers of both fetchers).
    pub fetches: usize,
}

impl Node {
    /// A node with identity and keys `auth`, the peer records and bans of `peers` (what the
    /// driver loaded from its database; changes leave as [`Output::Store`]), and a
    /// generator seeded with `seed` (random in production, fixed in a simulation).
    pub fn new(config: NodeConfig, auth: LocalAuth, peers: MemoryStore, seed: u64, now: Timestamp) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ledger = config.ledger;
        let flood_cfg = config.flood.clone();
        let survey = crate::survey::SurveyState::new(config.survey.clone());
        let discovery_config = DiscoveryConfig {
            peer_port: config.peer_port,
            allow_localhost: config.allow_localhost_for_testing,
            allow_private: config.allow_private_addresses_for_testing,
        };
        Node {
            discovery: PeerManager::new(JournalStore::new(peers), discovery_config),
            limits: config.limits(),
            peer_config: Arc::new(config.peer.clone()),
            floodgate: Floodgate::new(&flood_cfg, rng.next_u64()),
            pull: PullMode::new(&flood_cfg, ledger.flood_limits(), rng.next_u64(), now),
            tx_sets: ItemFetcher::new(FetchKind::TxSet, &flood_cfg, rng.next_u64()),
            quorum_sets: ItemFetcher::new(FetchKind::QuorumSet, &flood_cfg, rng.next_u64()),
            query_limits: QueryLimits::new(&flood_cfg, ledger.ledger_close_time_ms),
            items: ItemStore::new(&config.items, rng.next_u64()),
            pending_txs: Pending::new(config.items.pending_transactions_max, rng.next_u64()),
            pending_scp: Pending::new(config.items.pending_envelopes_max, rng.next_u64()),
            rate: config.flood_rate_limit_per_sec.map(|r| flood::RateBucket::new(r, now)),
            ledger,
            config,
            auth,
            rng,
            conns: BTreeMap::new(),
            next_conn: 1,
            authenticated: BTreeMap::new(),
            flood_peers: FloodPeers::default(),
            outputs: VecDeque::new(),
            dirty: BTreeSet::new(),
            now,
            now_unix: 0,
            next_tick: None,
            out_of_sync_since: None,
            shutting_down: false,
            metrics: NodeMetrics::default(),
            measures: Measures::default(),
            survey,
            fetch_started: std::collections::HashMap::with_hasher(overlay_proto::SeededState::new(seed ^ 0x9e37)),
            manage: manage::ManageState::default(),
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.auth.node_id()
    }

    /// What we advertise in HELLO.
    pub fn hello(&self) -> &overlay_auth::HelloParams {
        &self.auth.keys().hello
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The derived connection limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The ledger the node works from (the last [`AppInput::Ledger`](crate::app::AppInput)).
    pub fn ledger(&self) -> &LedgerState {
        &self.ledger
    }

    /// The in-memory peer records and bans.
    pub fn store(&self) -> &MemoryStore {
        self.discovery.store().view()
    }

    /// The peer records, discovery and bans.
    pub fn discovery(&self) -> &PeerManager<JournalStore> {
        &self.discovery
    }

    /// The authenticated peers and their connections.
    pub fn authenticated_peers(&self) -> impl Iterator<Item = (NodeId, ConnId)> + '_ {
        self.authenticated.iter().map(|(n, c)| (*n, *c))
    }

    /// The peer of an open connection.
    pub fn peer(&self, conn: ConnId) -> Option<&Peer> {
        self.conns.get(&conn).and_then(|c| c.peer.as_deref())
    }

    /// Every open connection: id, role, and the peer if the TCP connection is up.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, Role, Option<&Peer>)> + '_ {
        self.conns.iter().map(|(id, c)| (*id, c.direction, c.peer.as_deref()))
    }

    /// Counts of (pending inbound, pending outbound, authenticated inbound, authenticated
    /// outbound) connections.
    pub fn connection_counts(&self) -> (usize, usize, usize, usize) {
        let mut n = (0, 0, 0, 0);
        for c in self.conns.values() {
            match (c.direction, c.is_pending(), c.is_authenticated()) {
                (Role::Acceptor, true, _) => n.0 += 1,
                (Role::Initiator, true, _) => n.1 += 1,
                (Role::Acceptor, _, true) => n.2 += 1,
                (Role::Initiator, _, true) => n.3 += 1,
                _ => {}
            }
        }
        n
    }

    /// The Floodgate, for inspection.
    pub fn floodgate(&self) -> &Floodgate<NodeId> {
        &self.floodgate
    }

    /// Pull-mode state, for inspection.
    pub fn pull_mode(&self) -> &PullMode<NodeId> {
        &self.pull
    }

    /// What the node holds and what waits for the application.
    pub fn sizes(&self) -> NodeSizes {
        NodeSizes {
            floodgate_records: self.floodgate.len(),
            transactions: self.items.txs.len(),
            transaction_bytes: self.items.txs.bytes(),
            tx_sets: self.items.tx_sets.len(),
            quorum_sets: self.items.quorum_sets.len(),
            scp_envelopes: self.items.scp_len(),
            pending_transactions: self.pending_txs.len(),
            pending_envelopes: self.pending_scp.len(),
            fetches: self.tx_sets.len() + self.quorum_sets.len(),
        }
    }

    /// Whether the node holds the tx set with this contents hash (to serve GET_TX_SET).
    pub fn holds_tx_set(&self, hash: &overlay_proto::Hash256) -> bool {
        self.items.tx_sets.contains(hash)
    }

    /// Whether the node holds the quorum set with this hash.
    pub fn holds_quorum_set(&self, hash: &overlay_proto::Hash256) -> bool {
        self.items.quorum_sets.contains(hash)
    }

    /// Whether the node holds this transaction (by pull-mode hash) to serve demands.
    pub fn holds_transaction(&self, hash: &overlay_proto::Hash256) -> bool {
        self.items.txs.contains(hash)
    }

    /// Metrics with their stellar-core names.
    pub fn metrics(&self) -> Vec<(&'static str, u64)> {
        let mut live = PeerTotals::default();
        for p in self.conns.values().filter_map(|c| c.peer.as_deref()) {
            live.add(&p.stats());
        }
        let (pi, po, ai, ao) = self.connection_counts();
        let mut out = self.metrics.export(live, (pi + po) as u64, (ai + ao) as u64);
        let (tx, q) = self.fetch_metrics();
        out.push(("overlay.item-fetcher.next-peer", tx.next_peer + q.next_peer));
        let d = self.pull.demand_metrics();
        out.push(("overlay.demand.timeout", d.timeouts));
        out.push(("overlay.flood.abandoned-demands", d.abandoned));
        out
    }

    /// Every metric at `now` (see [`MetricsSnapshot`]).
    pub fn snapshot(&self, now: Timestamp) -> MetricsSnapshot {
        let mut traffic = self.measures.closed_traffic;
        let mut queue_delay = self.measures.closed_queue_delay;
        let mut throttled = self.measures.closed_throttled;
        let (mut queued_msgs, mut queued_bytes) = ([0u64; 4], [0u64; 4]);
        let (mut throttled_connections, mut read_throttled_connections) = (0, 0);
        for p in self.conns.values().filter_map(|c| c.peer.as_deref()) {
            traffic.add(p.traffic());
            for (a, b) in queue_delay.iter_mut().zip(p.queue_delay()) {
                a.add(b);
            }
            throttled += p.throttled(now);
            let flow = p.flow_stats();
            for (i, q) in flow.queues.iter().enumerate() {
                queued_msgs[i] += q.len_msgs as u64;
                queued_bytes[i] += q.bytes;
            }
            throttled_connections += u64::from(flow.no_capacity_since.is_some());
            read_throttled_connections += u64::from(flow.read_throttled);
        }
        let (pi, po, ai, ao) = self.connection_counts();
        MetricsSnapshot {
            counters: self.metrics(),
            traffic,
            drops: self.measures.drops.iter().map(|(k, v)| (*k, *v)).collect(),
            queue_delay,
            queued_msgs,
            queued_bytes,
            throttled_connections,
            throttled,
            read_throttled_connections,
            pull_latency: self.measures.pull_latency,
            fetch_latency: self.measures.fetch_latency,
            connections: ConnectionCounts {
                pending_inbound: pi as u64,
                pending_outbound: po as u64,
                authenticated_inbound: ai as u64,
                authenticated_outbound: ao as u64,
            },
        }
    }

    /// Counters of the tx-set fetcher and of the quorum-set fetcher.
    pub fn fetch_metrics(&self) -> (overlay_flood::FetchMetrics, overlay_flood::FetchMetrics) {
        (self.tx_sets.metrics(), self.quorum_sets.metrics())
    }

    /// Raw counters.
    pub fn counters(&self) -> &NodeMetrics {
        &self.metrics
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Node::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let peers = self.conns.values().filter_map(|c| c.peer.as_ref().and_then(|p| p.poll_timeout()));
        let timeout = self.config.items.verdict_timeout;
        let others = [
            self.next_tick,
            self.pull.poll_timeout(),
            self.tx_sets.poll_timeout(),
            self.quorum_sets.poll_timeout(),
            self.pending_txs.next_expiry(timeout),
            self.pending_scp.next_expiry(timeout),
            self.survey_deadline(),
        ];
        peers.chain(others.into_iter().flatten()).min()
    }

    /// Whether [`Node::shutdown`] was called and every connection is closed.
    pub fn is_shut_down(&self) -> bool {
        self.shutting_down && self.conns.is_empty()
    }

    // ---- internals -----------------------------------------------------------------------

    fn advance(&mut self, now: Timestamp, now_unix: u64) {
        self.now = self.now.max(now);
        self.now_unix = self.now_unix.max(now_unix);
    }

    fn remember(&self) -> u32 {
        self.config.flood.max_slots_to_remember
    }

    fn random_nonce(&mut self) -> [u8; 32] {
        let mut n = [0u8; 32];
        self.rng.fill_bytes(&mut n);
        n
    }

    fn new_peer(&mut self, handshake: overlay_auth::Handshake, address: PeerAddress) -> Peer {
        let ping_key = self.rng.next_u64();
        let limits = self.ledger.flow_limits(self.remember());
        Peer::new(handshake, address, self.peer_config.clone(), limits, self.now, ping_key)
    }

    fn insert_conn(&mut self, conn: Conn) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(id, conn);
        self.dirty.insert(id);
        id
    }

    fn close_conn(&mut self, conn: ConnId, reason: DropReason) {
        match self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            Some(p) => p.close(self.now, reason),
            None => self.connection_gone(conn, reason),
        }
        self.dirty.insert(conn);
    }

    fn fetch_peers(&self) -> Vec<overlay_flood::FetchPeer<NodeId>> {
        self.authenticated
            .iter()
            .map(|(id, c)| {
                let ping_ms = self.peer(*c).and_then(|p| p.stats().latency_ms).unwrap_or(UNMEASURED_LATENCY_MS);
                overlay_flood::FetchPeer { peer: *id, ping_ms }
            })
            .collect()
    }

    /// Service every connection touched since the last flush: take its events, then its
    /// bytes (if writable), then close it once it is finished. Then hand over the peer
    /// database's changes.
    fn flush(&mut self) {
        while let Some(conn) = self.dirty.pop_first() {
            self.drain_events(conn);
            self.drain_transmit(conn);
        }
        let changes: Vec<Output> = self.discovery.store_mut().take_changes().map(Output::Store).collect();
        self.outputs.extend(changes);
    }

    fn drain_events(&mut self, conn: ConnId) {
        // The lookups each message of a read will make in the two tables too large for the
        // cache, made first for the whole read so that their cache misses overlap.
        if let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer.as_ref()) {
            let held = peer.pending_flood_ids().filter(|id| self.items.txs.contains(id)).count();
            std::hint::black_box(self.floodgate.warm(peer.pending_flood_ids()) + held);
        }
        loop {
            let Some(ev) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()).and_then(|p| p.poll_event()) else {
                return;
            };
            self.handle_peer_event(conn, ev);
        }
    }

    fn drain_transmit(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(peer) = c.peer.as_mut() else { return };
        if c.writable {
            while let Some(bytes) = peer.poll_transmit(self.now) {
                self.outputs.push_back(Output::Transmit { conn, bytes });
            }
        }
        if peer.is_finished() {
            self.outputs.push_back(Output::Close { conn });
            self.conns.remove(&conn);
        }
    }

    fn handle_peer_event(&mut self, conn: ConnId, ev: PeerEvent) {
        match ev {
            PeerEvent::GotHello(facts) => self.on_got_hello(conn, &facts),
            PeerEvent::Authenticated(facts) => self.on_authenticated(conn, facts),
            PeerEvent::Message { message, size, flood } => self.on_message(conn, message, size, flood),
            PeerEvent::Handled { message_type, size } => {
                if let Some(peer) = self.conns.get(&conn).and_then(|c| c.node_id) {
                    self.outputs.push_back(Output::Event(NodeEvent::Control { conn, peer, message_type, size }));
                }
            }
            PeerEvent::Closed(reason) => self.connection_gone(conn, reason),
        }
    }

    /// A connection ended: free its slot, forget it in flooding, record it, report it.
    fn connection_gone(&mut self, conn: ConnId, reason: DropReason) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        let was_authenticated = c.node_id.is_some();
        let direction = c.direction;
        let peer_id = c.node_id.or_else(|| c.peer.as_ref().and_then(|p| p.remote()).map(|r| r.node_id));
        let address = c.peer.as_ref().map(|p| p.address().clone()).unwrap_or_else(|| c.address.clone());
        if let Some(p) = c.peer.as_ref() {
            self.metrics.closed_peers.add(&p.stats());
            self.measures.closed_traffic.add(p.traffic());
            for (a, b) in self.measures.closed_queue_delay.iter_mut().zip(p.queue_delay()) {
                a.add(b);
            }
            self.measures.closed_throttled += p.throttled(self.now);
        }
        *self.measures.drops.entry(reason.label()).or_insert(0) += 1;
        if c.peer.is_none() {
            // A dial that never connected: nothing to flush.
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close { conn });
        }
        if was_authenticated {
            if let Some(id) = peer_id {
                self.authenticated.remove(&id);
                self.survey.data.peer_dropped(&id);
                self.flood_peers.rebuild(&self.authenticated, &self.conns);
                self.floodgate.remove_peer(&id);
                self.pull.remove_peer(&id);
            }
            match direction {
                Role::Acceptor => self.metrics.inbound_drop += 1,
                Role::Initiator => self.metrics.outbound_drop += 1,
            }
        }
        match reason {
            DropReason::IdleTimeout => self.metrics.timeout_idle += 1,
            DropReason::Straggling => self.metrics.timeout_straggler += 1,
            _ => {}
        }
        self.on_dropped(&address, direction);
        let reason = Box::new(reason);
        let ev = NodeEvent::Disconnected { conn, peer: peer_id, address, role: direction, was_authenticated, reason };
        self.outputs.push_back(Output::Event(ev));
    }
}
