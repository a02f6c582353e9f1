//! [`Node`]: the overlay manager as one sans-IO state machine (PROTOCOL.md §7–§11).
//!
//! # Drain contract
//!
//! The driver feeds inputs (`handle_inbound`, `handle_connected`, `handle_connect_failed`,
//! `handle_bytes`, `handle_socket_closed`, `handle_timeout`, `set_writable`) and commands
//! (`broadcast`, `send_to`, `connect`, `disconnect`, `ban`, `shutdown`, ...), each with
//! `now`. After each, it drains [`Node::poll_output`] until `None`:
//! - [`Output::Connect`]: dial the address, then report `handle_connected` or
//!   `handle_connect_failed` for that connection;
//! - [`Output::Transmit`]: write the bytes on that connection, in order; if the socket cannot
//!   take more, call `set_writable(conn, false)` and `true` again when it can;
//! - [`Output::Close`]: everything for that connection was handed over: close the socket;
//! - [`Output::Event`]: tell the application or the log.
//!
//! Then it arms a timer for [`Node::poll_timeout`] and calls [`Node::handle_timeout`] then.

mod conn;
mod inbound;
mod manage;

pub use conn::ConnId;
pub use inbound::{generalized_tx_set_hash, legacy_tx_set_hash};

use crate::app::Application;
use crate::config::{Limits, NodeConfig};
use crate::discovery::{DiscoveryConfig, MemoryStore, PeerManager, PeerStore};
use crate::metrics::{NodeMetrics, PeerTotals};
use crate::peer::{DropReason, Peer, PeerConfig, PeerEvent};
use conn::Conn;
use overlay_auth::{HelloFacts, LocalAuth, PeerPolicy, Role};
use overlay_flood::{FetchKind, FetchPeer, Floodgate, ItemFetcher, PullMode, QueryLimits};
use overlay_flow::OutboundMessage;
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{Hash256, NodeId, PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a TCP connection to `address` for `conn`.
    Connect {
        /// The connection.
        conn: ConnId,
        /// Where to dial (an IP address).
        address: PeerAddress,
    },
    /// Write `bytes` on `conn`.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Whole frames.
        bytes: Vec<u8>,
    },
    /// Close the socket of `conn`; nothing more will be written.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Something for the application or the log.
    Event(NodeEvent),
}

/// What happened on the node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A peer was admitted to an authenticated slot.
    Connected {
        /// Its connection.
        conn: ConnId,
        /// Its address: remote IP and listening port.
        address: PeerAddress,
        /// Our role.
        role: Role,
        /// Its HELLO.
        remote: HelloFacts,
    },
    /// An authenticated message arrived and was processed.
    Message {
        /// Its connection.
        conn: ConnId,
        /// The sender.
        peer: NodeId,
        /// The message.
        message: StellarMessage,
        /// Its XDR size.
        size: usize,
    },
    /// A flow-control message arrived and was handled.
    Control {
        /// Its connection.
        conn: ConnId,
        /// The sender.
        peer: NodeId,
        /// Its type.
        message_type: MessageType,
        /// Its XDR size.
        size: usize,
    },
    /// A connection ended (pending or authenticated).
    Disconnected {
        /// Its connection.
        conn: ConnId,
        /// The peer, if its HELLO was accepted.
        peer: Option<NodeId>,
        /// Its address.
        address: PeerAddress,
        /// Our role.
        role: Role,
        /// Whether it had been admitted to an authenticated slot.
        was_authenticated: bool,
        /// Why.
        reason: DropReason,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No authenticated peer has this NodeID.
    #[error("no authenticated peer {0}")]
    UnknownPeer(NodeId),
    /// The node is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// No pending slot is free for a new outbound connection.
    #[error("all outbound connections taken")]
    NoSlot,
    /// The address is not an IP literal (the driver resolves names).
    #[error("address {0} is not an IP address")]
    NotAnIp(PeerAddress),
    /// The message does not encode.
    #[error("message does not encode")]
    Encode,
}

/// The sans-IO overlay node. See the [module docs](self) for the drain contract.
pub struct Node<A: Application, S: PeerStore = MemoryStore> {
    config: NodeConfig,
    limits: Limits,
    peer_config: Arc<PeerConfig>,
    auth: LocalAuth,
    app: A,
    discovery: PeerManager<S>,
    rng: ChaCha8Rng,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    authenticated: BTreeMap<NodeId, ConnId>,
    floodgate: Floodgate<NodeId>,
    pull: PullMode<NodeId>,
    tx_sets: ItemFetcher<NodeId>,
    quorum_sets: ItemFetcher<NodeId>,
    query_limits: QueryLimits,
    outputs: VecDeque<Output>,
    dirty: BTreeSet<ConnId>,
    now: Timestamp,
    now_unix: u64,
    next_tick: Option<Timestamp>,
    out_of_sync_since: Option<Timestamp>,
    shutting_down: bool,
    metrics: NodeMetrics,
    manage: manage::ManageState,
}

impl<A: Application, S: PeerStore> core::fmt::Debug for Node<A, S> {
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

impl<A: Application, S: PeerStore> Node<A, S> {
    /// A node with identity and keys `auth`, application `app`, peer store `store`, and a
    /// generator seeded with `seed` (random in production, fixed in a simulation).
    pub fn new(config: NodeConfig, auth: LocalAuth, app: A, store: S, seed: u64, now: Timestamp) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ledger = app.ledger();
        let flood_cfg = config.flood.clone();
        let close_ms = ledger.flood.ledger_close_time_ms;
        let discovery_config = DiscoveryConfig {
            peer_port: config.peer_port,
            allow_localhost: config.allow_localhost_for_testing,
            allow_private: config.allow_private_addresses_for_testing,
        };
        Node {
            discovery: PeerManager::new(store, discovery_config),
            limits: config.limits(),
            peer_config: Arc::new(config.peer.clone()),
            floodgate: Floodgate::new(&flood_cfg, rng.next_u64()),
            pull: PullMode::new(&flood_cfg, ledger.flood, rng.next_u64(), now),
            tx_sets: ItemFetcher::new(FetchKind::TxSet, &flood_cfg, rng.next_u64()),
            quorum_sets: ItemFetcher::new(FetchKind::QuorumSet, &flood_cfg, rng.next_u64()),
            query_limits: QueryLimits::new(&flood_cfg, close_ms),
            config,
            auth,
            app,
            rng,
            conns: BTreeMap::new(),
            next_conn: 1,
            authenticated: BTreeMap::new(),
            outputs: VecDeque::new(),
            dirty: BTreeSet::new(),
            now,
            now_unix: 0,
            next_tick: None,
            out_of_sync_since: None,
            shutting_down: false,
            metrics: NodeMetrics::default(),
            manage: manage::ManageState::default(),
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.auth.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The derived connection limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutably (call [`Node::ledger_changed`] after changing its ledger).
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// The peer store.
    pub fn store(&self) -> &S {
        self.discovery.store()
    }

    /// The peer records, discovery and bans.
    pub fn discovery(&self) -> &PeerManager<S> {
        &self.discovery
    }

    /// The peer records, discovery and bans, mutably.
    pub fn discovery_mut(&mut self) -> &mut PeerManager<S> {
        &mut self.discovery
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

    /// The tx-set fetcher, for inspection.
    pub fn tx_set_fetcher(&self) -> &ItemFetcher<NodeId> {
        &self.tx_sets
    }

    /// Metrics with their stellar-core names.
    pub fn metrics(&self) -> Vec<(&'static str, u64)> {
        let mut live = PeerTotals::default();
        for p in self.conns.values().filter_map(|c| c.peer.as_deref()) {
            live.add(&p.stats());
        }
        let (pi, po, ai, ao) = self.connection_counts();
        self.metrics.export(live, (pi + po) as u64, (ai + ao) as u64)
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
        let mut t = peers.min();
        for other in
            [self.next_tick, self.pull.poll_timeout(), self.tx_sets.poll_timeout(), self.quorum_sets.poll_timeout()]
                .into_iter()
                .flatten()
        {
            t = Some(t.map_or(other, |x| x.min(other)));
        }
        t
    }

    // ---- inputs --------------------------------------------------------------------------

    /// Start: store the configured peers, purge dead records, schedule the first tick.
    pub fn start(&mut self, now: Timestamp, now_unix: u64) {
        self.advance(now, now_unix);
        self.store_config_peers(true);
        if !self.config.run_standalone {
            self.next_tick = Some(now + self.config.first_tick_delay);
        }
    }

    /// A TCP connection was accepted from `remote`. Returns its id, or `None` if the
    /// pending inbound slots are full: close the socket at once (no HELLO, no ERROR, §11.2).
    pub fn handle_inbound(&mut self, now: Timestamp, now_unix: u64, remote: PeerAddress) -> Option<ConnId> {
        self.advance(now, now_unix);
        self.metrics.inbound_attempt += 1;
        if self.shutting_down || !self.inbound_slot_free(&remote) {
            self.metrics.inbound_reject += 1;
            return None;
        }
        let nonce = self.random_nonce();
        let handshake = self.auth.accept(self.now_unix, nonce);
        let peer = self.new_peer(handshake, remote.clone());
        let id = self.insert_conn(Conn::new(Role::Acceptor, remote, Some(Box::new(peer))));
        self.flush();
        Some(id)
    }

    /// The TCP connection of an [`Output::Connect`] is up: the handshake starts (HELLO).
    pub fn handle_connected(&mut self, now: Timestamp, now_unix: u64, conn: ConnId) {
        self.advance(now, now_unix);
        let nonce = self.random_nonce();
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.peer.is_some() || c.closed {
            return;
        }
        let address = c.address.clone();
        let handshake = self.auth.initiate(self.now_unix, nonce);
        let peer = self.new_peer(handshake, address);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(Box::new(peer));
        }
        self.dirty.insert(conn);
        self.flush();
    }

    /// The TCP connection of an [`Output::Connect`] failed.
    pub fn handle_connect_failed(&mut self, now: Timestamp, now_unix: u64, conn: ConnId, error: &str) {
        self.advance(now, now_unix);
        self.metrics.outbound_cancel += 1;
        let reason = DropReason::Io(format!("unable to connect: {error}").into());
        self.connection_gone(conn, reason);
        self.flush();
    }

    /// Bytes arrived on `conn`.
    pub fn handle_bytes(&mut self, now: Timestamp, now_unix: u64, conn: ConnId, data: &[u8]) {
        self.advance(now, now_unix);
        // The peer leaves its slot while it runs, so that the handshake's view of the other
        // connections can borrow the table.
        let Some(mut peer) = self.conns.get_mut(&conn).and_then(|c| c.peer.take()) else {
            return;
        };
        let policy = Policy { discovery: &self.discovery, authenticated: &self.authenticated, conns: &self.conns };
        peer.handle_bytes(self.now, self.now_unix, data, &policy);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(peer);
        }
        self.dirty.insert(conn);
        self.flush();
    }

    /// The socket of `conn` ended (end of stream or an error).
    pub fn handle_socket_closed(&mut self, now: Timestamp, now_unix: u64, conn: ConnId, reason: DropReason) {
        self.advance(now, now_unix);
        match self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            Some(peer) => peer.handle_socket_closed(self.now, reason),
            None => self.connection_gone(conn, reason),
        }
        self.dirty.insert(conn);
        self.flush();
    }

    /// Whether `conn` can take more bytes now.
    pub fn set_writable(&mut self, conn: ConnId, writable: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.writable = writable;
            if writable {
                self.dirty.insert(conn);
                self.flush();
            }
        }
    }

    /// Timers: peers' timeouts, the tick loop, pull-mode and fetcher timers.
    pub fn handle_timeout(&mut self, now: Timestamp, now_unix: u64) {
        self.advance(now, now_unix);
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer.as_ref().and_then(|p| p.poll_timeout()).is_some_and(|t| t <= self.now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(p) = self.conns.get_mut(&id).and_then(|c| c.peer.as_mut()) {
                p.handle_timeout(self.now);
            }
            self.dirty.insert(id);
        }
        if self.next_tick.is_some_and(|t| t <= self.now) {
            self.next_tick = Some(self.now + self.config.tick_period);
            self.tick();
        }
        self.run_pull_timers();
        self.run_fetch_timers();
        self.flush();
    }

    // ---- commands ------------------------------------------------------------------------

    /// Flood a message of our own: a transaction (handed to the application, then
    /// advertised), an SCP envelope (pushed), or a survey message. Returns the number of
    /// peers newly told.
    pub fn broadcast(&mut self, now: Timestamp, msg: StellarMessage) -> Result<usize, NodeError> {
        self.advance(now, self.now_unix);
        if self.shutting_down {
            return Err(NodeError::ShuttingDown);
        }
        let xdr: Arc<[u8]> = overlay_proto::wire::encode_message(&msg).map_err(|_| NodeError::Encode)?.into();
        let told = match &msg {
            StellarMessage::Transaction(tx) => {
                let hash =
                    overlay_flood::identity::tx_full_hash_from_message_xdr(&xdr).map_err(|_| NodeError::Encode)?;
                match self.app.on_transaction(self.now, None, tx, &hash, &xdr) {
                    crate::app::TxVerdict::Rejected => 0,
                    _ => self.flood_transaction(hash),
                }
            }
            StellarMessage::ScpMessage(env) => {
                let _ = self.app.on_scp_envelope(self.now, None, env);
                self.flood_push(&msg, &xdr)
            }
            _ => self.flood_push(&msg, &xdr),
        };
        self.metrics.message_broadcast += 1;
        self.flush();
        Ok(told)
    }

    /// Send a message to one authenticated peer.
    pub fn send_to(&mut self, now: Timestamp, peer: NodeId, msg: &StellarMessage) -> Result<(), NodeError> {
        self.advance(now, self.now_unix);
        let conn = *self.authenticated.get(&peer).ok_or(NodeError::UnknownPeer(peer))?;
        self.send_conn(conn, msg);
        self.flush();
        Ok(())
    }

    /// Send GET_SCP_STATE(`ledger`) to every authenticated peer.
    pub fn request_scp_state(&mut self, now: Timestamp, ledger: u32) {
        self.advance(now, self.now_unix);
        let conns: Vec<ConnId> = self.authenticated.values().copied().collect();
        for c in conns {
            self.send_conn(c, &StellarMessage::GetScpState(ledger));
        }
        self.flush();
    }

    /// Fetch the tx set `hash` (GET_TX_SET to peers in turn) until it arrives.
    pub fn fetch_tx_set(&mut self, now: Timestamp, hash: Hash256, envelope: overlay_proto::xdr::ScpEnvelope) {
        self.advance(now, self.now_unix);
        self.fetch(FetchKind::TxSet, hash, envelope);
        self.flush();
    }

    /// Fetch the quorum set `hash` until it arrives.
    pub fn fetch_quorum_set(&mut self, now: Timestamp, hash: Hash256, envelope: overlay_proto::xdr::ScpEnvelope) {
        self.advance(now, self.now_unix);
        self.fetch(FetchKind::QuorumSet, hash, envelope);
        self.flush();
    }

    /// Dial `address` now (the admin `connect` command), if a pending outbound slot is free.
    pub fn connect(&mut self, now: Timestamp, address: PeerAddress) -> Result<ConnId, NodeError> {
        self.advance(now, self.now_unix);
        let id = self.dial(address)?;
        self.flush();
        Ok(id)
    }

    /// Drop an authenticated peer with ERR_MISC "dropped by user".
    pub fn disconnect(&mut self, now: Timestamp, peer: NodeId) -> Result<(), NodeError> {
        self.advance(now, self.now_unix);
        let conn = *self.authenticated.get(&peer).ok_or(NodeError::UnknownPeer(peer))?;
        self.close_conn(conn, DropReason::DROPPED_BY_USER);
        self.flush();
        Ok(())
    }

    /// Drop a connection by id with `reason`.
    pub fn close(&mut self, now: Timestamp, conn: ConnId, reason: DropReason) {
        self.advance(now, self.now_unix);
        self.close_conn(conn, reason);
        self.flush();
    }

    /// The ledger facts of the application changed (a ledger closed): flow-control limits,
    /// pull-mode sizing and the cleanup of old Floodgate records and advert history.
    pub fn ledger_changed(&mut self, now: Timestamp) {
        self.advance(now, self.now_unix);
        let ledger = self.app.ledger();
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in conns {
            if let Some(p) = self.conns.get_mut(&id).and_then(|c| c.peer.as_mut()) {
                p.handle_ledger_limits(self.now, ledger.flow);
            }
            self.dirty.insert(id);
        }
        self.pull.set_ledger_limits(ledger.flood);
        let remember = self.config.flood.max_slots_to_remember;
        let min = ledger.tracking_ledger.saturating_sub(remember).saturating_add(1);
        self.floodgate.clear_below(min);
        self.pull.clear_below(min);
        self.flush();
    }

    /// Shut down: every connection is dropped with ERR_MISC "shutdown", the Floodgate is
    /// cleared and no timer runs any more.
    pub fn shutdown(&mut self, now: Timestamp) {
        self.advance(now, self.now_unix);
        self.shutting_down = true;
        self.next_tick = None;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c, DropReason::SHUTDOWN);
        }
        self.floodgate.clear();
        self.flush();
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

    fn random_nonce(&mut self) -> [u8; 32] {
        let mut n = [0u8; 32];
        self.rng.fill_bytes(&mut n);
        n
    }

    fn new_peer(&mut self, handshake: overlay_auth::Handshake, address: PeerAddress) -> Peer {
        let ping_key = self.rng.next_u64();
        Peer::new(handshake, address, self.peer_config.clone(), self.app.ledger().flow, self.now, ping_key)
    }

    fn insert_conn(&mut self, conn: Conn) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(id, conn);
        self.dirty.insert(id);
        id
    }

    fn send_conn(&mut self, conn: ConnId, msg: &StellarMessage) {
        if let Some(p) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            let _ = p.send(self.now, msg);
            self.dirty.insert(conn);
        }
    }

    fn send_flood_conn(&mut self, conn: ConnId, out: &OutboundMessage<Arc<[u8]>>) {
        if let Some(p) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            let _ = p.send_flood(self.now, out.clone());
            self.dirty.insert(conn);
        }
    }

    fn close_conn(&mut self, conn: ConnId, reason: DropReason) {
        match self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            Some(p) => p.close(self.now, reason),
            None => self.connection_gone(conn, reason),
        }
        self.dirty.insert(conn);
    }

    fn fetch_peers(&self) -> Vec<FetchPeer<NodeId>> {
        self.authenticated
            .iter()
            .map(|(id, c)| {
                let ping_ms = self.peer(*c).and_then(|p| p.stats().latency_ms).unwrap_or(UNMEASURED_LATENCY_MS);
                FetchPeer { peer: *id, ping_ms }
            })
            .collect()
    }

    fn fetch(&mut self, kind: FetchKind, hash: Hash256, envelope: overlay_proto::xdr::ScpEnvelope) {
        let Ok(waiting) = overlay_flood::Waiting::scp(envelope) else {
            return;
        };
        let peers = self.fetch_peers();
        let fetcher = match kind {
            FetchKind::TxSet => &mut self.tx_sets,
            FetchKind::QuorumSet => &mut self.quorum_sets,
        };
        fetcher.fetch(self.now, &mut self.rng, hash, waiting, &peers, &self.floodgate);
        self.drain_fetch_requests();
    }

    fn drain_fetch_requests(&mut self) {
        let mut requests = Vec::new();
        while let Some(r) = self.tx_sets.poll_request() {
            requests.push(r);
        }
        while let Some(r) = self.quorum_sets.poll_request() {
            requests.push(r);
        }
        for r in requests {
            if let Some(conn) = self.authenticated.get(&r.peer).copied() {
                self.send_conn(conn, &r.to_message());
            }
        }
    }

    fn drain_pull(&mut self) {
        while let Some(t) = self.pull.poll_transmit() {
            let msg = t.to_message();
            match t.kind {
                overlay_flood::PullMessageKind::Advert => self.metrics.flood_advertised += t.hashes.len() as u64,
                overlay_flood::PullMessageKind::Demand => self.metrics.flood_demanded += t.hashes.len() as u64,
            }
            if let Some(conn) = self.authenticated.get(&t.peer).copied() {
                self.send_conn(conn, &msg);
            }
        }
    }

    fn run_pull_timers(&mut self) {
        if self.pull.poll_timeout().is_some_and(|t| t <= self.now) {
            let app = &self.app;
            self.pull.handle_timeout(self.now, &mut self.rng, |h| app.has_transaction(h));
        }
        self.drain_pull();
    }

    fn run_fetch_timers(&mut self) {
        let peers = self.fetch_peers();
        for f in [&mut self.tx_sets, &mut self.quorum_sets] {
            if f.poll_timeout().is_some_and(|t| t <= self.now) {
                f.handle_timeout(self.now, &mut self.rng, &peers, &self.floodgate);
            }
        }
        self.drain_fetch_requests();
    }

    /// Flood a transaction: adverts to every authenticated peer that does not know it. Its
    /// pull-mode hash is its Floodgate identity.
    fn flood_transaction(&mut self, tx_hash: Hash256) -> usize {
        let peers: Vec<NodeId> = self.authenticated.keys().copied().collect();
        let ledger = self.app.ledger().tracking_ledger;
        let told = self.floodgate.broadcast(tx_hash, ledger, &peers).unwrap_or_default();
        for p in &told {
            self.pull.queue_outgoing_advert(self.now, *p, tx_hash);
        }
        self.drain_pull();
        told.len()
    }

    /// Flood by push (SCP and surveys): send to every authenticated peer that does not know it.
    fn flood_push(&mut self, msg: &StellarMessage, xdr: &Arc<[u8]>) -> usize {
        let id = overlay_flood::identity::flood_message_id_from_xdr(xdr);
        let peers: Vec<NodeId> = self.authenticated.keys().copied().collect();
        let ledger = self.app.ledger().tracking_ledger;
        let told = self.floodgate.broadcast(id, ledger, &peers).unwrap_or_default();
        // Flow-control metadata once for every peer (flood messages only).
        let out = if told.is_empty() { None } else { OutboundMessage::new(msg, xdr.len(), xdr.clone()).ok() };
        for p in &told {
            if let Some(conn) = self.authenticated.get(p).copied() {
                match &out {
                    Some(out) => self.send_flood_conn(conn, out),
                    None => self.send_conn(conn, msg),
                }
            }
        }
        told.len()
    }

    /// Service every connection touched since the last flush: take its events, then its
    /// bytes (if writable), then close it once it is finished.
    fn flush(&mut self) {
        while let Some(conn) = self.dirty.pop_first() {
            self.drain_events(conn);
            self.drain_transmit(conn);
        }
    }

    fn drain_events(&mut self, conn: ConnId) {
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
            PeerEvent::Message { message, size, xdr } => self.on_message(conn, message, size, xdr),
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
        }
        if c.peer.is_none() {
            // A dial that never connected: nothing to flush.
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close { conn });
        }
        if was_authenticated {
            if let Some(id) = peer_id {
                self.authenticated.remove(&id);
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
        let ev = NodeEvent::Disconnected { conn, peer: peer_id, address, role: direction, was_authenticated, reason };
        self.outputs.push_back(Output::Event(ev));
    }
}

/// The handshake's view of the node: bans and the NodeIDs of the other connections.
struct Policy<'a, S: PeerStore> {
    discovery: &'a PeerManager<S>,
    authenticated: &'a BTreeMap<NodeId, ConnId>,
    conns: &'a BTreeMap<ConnId, Conn>,
}

impl<S: PeerStore> PeerPolicy for Policy<'_, S> {
    /// A store that cannot answer counts as "not banned": a broken database must not cut
    /// the node off the network.
    fn is_banned(&self, peer: &NodeId) -> bool {
        self.discovery.is_banned(peer).unwrap_or(false)
    }

    /// Another authenticated connection, or another pending one whose HELLO named this
    /// NodeID (§3.5 step 13). The connection being processed is out of the table meanwhile.
    fn is_already_connected(&self, peer: &NodeId) -> bool {
        self.authenticated.contains_key(peer)
            || self
                .conns
                .values()
                .any(|c| c.is_pending() && c.peer.as_ref().and_then(|p| p.remote()).is_some_and(|r| r.node_id == *peer))
    }
}
