//! [`Crawler`]: the crawl as one sans-IO state machine. See the [crate docs](crate) for the
//! drain contract.

use crate::config::{CrawlConfig, REMEMBERED_SLOTS};
use crate::frontier::{Frontier, Source};
use crate::results::{
    AddressReport, AddressStatus, CrawlReport, DialError, Edge, Failure, FailureKind, NodeReport, StopReason, Totals,
};
use overlay_auth::{HandshakeError, HelloFacts, LocalAuth, OpenPolicy};
use overlay_node::{DropReason, Peer, PeerConfig, PeerEvent};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{Host, NodeId, PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// A crawl connection, unique for the crawl's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl core::fmt::Display for ConnId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to `address` (resolve it first if it is a name) for `conn`,
    /// then report [`Crawler::handle_connected`] or [`Crawler::handle_connect_failed`].
    Connect {
        /// The connection.
        conn: ConnId,
        /// Where to dial.
        address: PeerAddress,
    },
    /// Write `bytes` on `conn`, in order.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Whole frames.
        bytes: Vec<u8>,
    },
    /// Close the socket of `conn` (or abandon its dial); nothing more will be written and
    /// nothing more it reports is looked at.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// What the crawl reports as it goes, for logs and progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrawlEvent {
    /// A node answered at `address` (its HELLO arrived) and the visit is over.
    Found {
        /// Where.
        address: PeerAddress,
        /// Who.
        node: NodeId,
        /// Whether it accepted us.
        accepted: bool,
        /// Entries of its PEERS, if it sent one.
        peers: Option<usize>,
    },
    /// A visit failed (the node may have answered first, see [`Failure::node_id`]).
    Failed(Failure),
}

/// Counts for a progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Addresses learned.
    pub known: usize,
    /// Waiting for a dial.
    pub queued: usize,
    /// Connections open.
    pub in_flight: usize,
    /// Addresses dialed.
    pub dialed: usize,
    /// Nodes that answered.
    pub nodes: usize,
    /// Failed visits.
    pub failures: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connecting,
    Handshaking,
    Authenticated,
}

/// How a visit ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// SEND_MORE_EXTENDED arrived after the handshake: the node admitted us.
    Admitted,
    /// The connection ended (the peer's reason).
    Closed(DropReason),
    /// The dial failed.
    DialFailed(DialError),
    /// The stage's timer fired.
    TimedOut,
    /// The crawl's deadline passed.
    Stopped,
}

/// One connection of the crawl.
struct Visit {
    address: PeerAddress,
    stage: Stage,
    /// The current stage's deadline.
    deadline: Timestamp,
    peer: Option<Box<Peer>>,
    hello: Option<HelloFacts>,
    /// Whether `hello` was taken into the node table.
    hello_noted: bool,
    /// PEERS received and not yet taken into the frontier.
    peers: Option<Vec<overlay_proto::xdr::PeerAddress>>,
    peers_len: Option<usize>,
    end: Option<End>,
}

/// The crawl. See the [crate docs](crate) for the drain contract.
pub struct Crawler {
    config: CrawlConfig,
    peer_config: Arc<PeerConfig>,
    auth: LocalAuth,
    listening_port: u16,
    rng: ChaCha8Rng,
    started: Timestamp,
    now: Timestamp,
    now_unix: u64,
    seeds: Vec<PeerAddress>,
    frontier: Frontier,
    /// Open connections. Bounded by `max_in_flight`.
    visits: BTreeMap<ConnId, Visit>,
    next_conn: u64,
    dialed: usize,
    /// Our own addresses: each local IP a connection showed, with our listening port.
    /// Bounded by the number of connections (in practice one or two entries).
    own: BTreeSet<PeerAddress>,
    /// Nodes that answered. Bounded by `max_nodes` (one per dial at most).
    nodes: BTreeMap<NodeId, NodeReport>,
    /// Bounded by 100 entries (the XDR bound of PEERS) per node.
    edges: BTreeSet<(NodeId, PeerAddress)>,
    /// Failed visits, in order. Bounded by `max_nodes` (one per dial at most); addresses
    /// not dialed are added when the crawl ends.
    failures: Vec<Failure>,
    invalid_entries: u64,
    stopped: Option<StopReason>,
    finished_at: Option<Timestamp>,
    /// Drained by the driver after every input; one input adds at most the transmits and
    /// closes of the connections it touched and the dials it made room for.
    outputs: VecDeque<Output>,
    /// At most one per visit ended since the driver last drained them.
    events: VecDeque<CrawlEvent>,
    dirty: BTreeSet<ConnId>,
}

impl core::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Crawler")
            .field("node_id", &self.auth.node_id())
            .field("progress", &self.progress())
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}

impl Crawler {
    /// A crawl from `seeds` with our keys `auth` (its HELLO parameters are what we
    /// advertise: its listening port is also how we recognise our own address in PEERS), a
    /// generator seeded with `seed` (connection nonces), starting at `now`. The dials of the
    /// seeds are ready in [`poll_output`](Self::poll_output) at once.
    ///
    /// # Panics
    /// If `config` does not [validate](CrawlConfig::validate).
    pub fn new(
        config: CrawlConfig,
        auth: LocalAuth,
        seeds: impl IntoIterator<Item = PeerAddress>,
        seed: u64,
        now: Timestamp,
    ) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid crawl configuration: {e}");
        }
        let listening_port = auth.keys().hello.listening_port;
        let mut crawler = Crawler {
            peer_config: Arc::new(config.peer.clone()),
            config,
            auth,
            listening_port,
            rng: ChaCha8Rng::seed_from_u64(seed),
            started: now,
            now,
            now_unix: 0,
            seeds: Vec::new(),
            frontier: Frontier::default(),
            visits: BTreeMap::new(),
            next_conn: 1,
            dialed: 0,
            own: BTreeSet::new(),
            nodes: BTreeMap::new(),
            edges: BTreeSet::new(),
            failures: Vec::new(),
            invalid_entries: 0,
            stopped: None,
            finished_at: None,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            dirty: BTreeSet::new(),
        };
        for s in seeds {
            if crawler.frontier.learn(s.clone(), Source::Seed, crawler.config.max_addresses) {
                crawler.seeds.push(s);
            }
        }
        crawler.flush();
        crawler
    }

    // ---- getters -------------------------------------------------------------------------

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.auth.node_id()
    }

    /// The configuration.
    pub fn config(&self) -> &CrawlConfig {
        &self.config
    }

    /// Whether the crawl is over: nothing left to dial (or it stopped) and no connection
    /// open. Then [`report`](Self::report) is final.
    pub fn is_done(&self) -> bool {
        self.finished_at.is_some()
    }

    /// Counts so far.
    pub fn progress(&self) -> Progress {
        Progress {
            known: self.frontier.len(),
            queued: self.frontier.queued(),
            in_flight: self.visits.len(),
            dialed: self.dialed,
            nodes: self.nodes.len(),
            failures: self.failures.iter().filter(|f| f.kind != FailureKind::NotDialed).count(),
        }
    }

    /// The address a connection dialed, while it is open.
    pub fn address_of(&self, conn: ConnId) -> Option<&PeerAddress> {
        self.visits.get(&conn).map(|v| &v.address)
    }

    // ---- inputs --------------------------------------------------------------------------

    /// The TCP connection of an [`Output::Connect`] is up; `local_ip` is our side's IP
    /// address on it, if the driver knows it (our address as nodes will advertise it back
    /// to us). The handshake starts: our HELLO is ready to send.
    pub fn handle_connected(&mut self, now: Timestamp, now_unix: u64, conn: ConnId, local_ip: Option<IpAddr>) {
        self.advance(now, now_unix);
        if let Some(ip) = local_ip {
            let own = PeerAddress { host: Host::Ip(ip), port: self.listening_port };
            // If it was given as a seed or advertised already, it is not dialed.
            if self.own.insert(own.clone()) && self.frontier.get(&own).is_some() {
                self.frontier.settle(&own, AddressStatus::Own, Source::Seed, self.config.max_addresses);
            }
        }
        let mut nonce = [0u8; 32];
        self.rng.fill_bytes(&mut nonce);
        let ping_key = self.rng.next_u64();
        let Some(v) = self.visits.get_mut(&conn) else { return };
        if v.stage != Stage::Connecting || v.end.is_some() {
            return;
        }
        let handshake = self.auth.initiate(self.now_unix, nonce);
        let limits = self.config.ledger.flow_limits(REMEMBERED_SLOTS);
        let peer = Peer::new(handshake, v.address.clone(), self.peer_config.clone(), limits, self.now, ping_key);
        v.peer = Some(Box::new(peer));
        v.stage = Stage::Handshaking;
        v.deadline = self.now + self.config.handshake_timeout;
        self.dirty.insert(conn);
        self.flush();
    }

    /// The TCP connection of an [`Output::Connect`] could not be made.
    pub fn handle_connect_failed(&mut self, now: Timestamp, conn: ConnId, error: DialError) {
        self.advance(now, self.now_unix);
        if let Some(v) = self.visits.get_mut(&conn) {
            if v.stage == Stage::Connecting && v.end.is_none() {
                v.end = Some(End::DialFailed(error));
                self.dirty.insert(conn);
            }
        }
        self.flush();
    }

    /// Bytes arrived on `conn`.
    pub fn handle_bytes(&mut self, now: Timestamp, now_unix: u64, conn: ConnId, data: &[u8]) {
        self.advance(now, now_unix);
        if let Some(p) = self.visits.get_mut(&conn).and_then(|v| v.peer.as_mut()) {
            p.handle_bytes(self.now, self.now_unix, data, &OpenPolicy);
            self.dirty.insert(conn);
        }
        self.flush();
    }

    /// The socket of `conn` ended: `reason` is [`DropReason::RemoteClosed`] at the end of
    /// the stream, [`DropReason::Io`] on an error.
    pub fn handle_socket_closed(&mut self, now: Timestamp, conn: ConnId, reason: DropReason) {
        self.advance(now, self.now_unix);
        if let Some(v) = self.visits.get_mut(&conn) {
            match v.peer.as_mut() {
                Some(p) => p.handle_socket_closed(self.now, reason),
                None if v.end.is_none() => v.end = Some(End::Closed(reason)),
                None => {}
            }
            self.dirty.insert(conn);
        }
        self.flush();
    }

    /// Timers: the crawl's deadline, each connection's stage deadline and the peers' own
    /// timers, and hosts whose pacing interval has passed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.advance(now, self.now_unix);
        if self.finished_at.is_some() {
            return;
        }
        if self.config.deadline.is_some_and(|d| self.now >= self.started + d) {
            self.stop(StopReason::Deadline);
        }
        let now = self.now;
        for (id, v) in &mut self.visits {
            if v.end.is_none() && now >= v.deadline {
                v.end = Some(End::TimedOut);
                self.dirty.insert(*id);
            }
            if let Some(p) = v.peer.as_mut() {
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                    self.dirty.insert(*id);
                }
            }
        }
        self.flush();
    }

    // ---- outputs -------------------------------------------------------------------------

    /// The next thing for the driver to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<CrawlEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; `None` once the
    /// crawl is done.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.finished_at.is_some() {
            return None;
        }
        let mut next = self.config.deadline.map(|d| self.started + d);
        let mut at = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        for v in self.visits.values() {
            at(v.deadline);
            if let Some(t) = v.peer.as_ref().and_then(|p| p.poll_timeout()) {
                at(t);
            }
        }
        if self.can_dial() {
            let c = &self.config;
            if let Some(t) = self.frontier.next_ready(self.now, c.host_connections_max, c.host_interval) {
                at(t);
            }
        }
        next
    }

    /// The map so far (final once [`is_done`](Self::is_done)).
    pub fn report(&self) -> CrawlReport {
        let end = self.finished_at.unwrap_or(self.now);
        let found_at = |a: &PeerAddress| match self.frontier.get(a).map(|k| k.status) {
            Some(AddressStatus::Node { node, .. }) => Some(node),
            _ => None,
        };
        let edges: Vec<Edge> =
            self.edges.iter().map(|(from, to)| Edge { from: *from, to: to.clone(), to_node: found_at(to) }).collect();
        let addresses: Vec<AddressReport> = self
            .frontier
            .iter()
            .map(|(address, k)| {
                let (node_id, dialed) = match k.status {
                    AddressStatus::Node { node, dialed } => (Some(node), dialed),
                    AddressStatus::Failed(_) | AddressStatus::Dialing => (None, true),
                    AddressStatus::Own | AddressStatus::NotDialed(_) | AddressStatus::Queued => (None, false),
                };
                let (learned_from, learned_from_node) = match k.source {
                    Source::Seed => ("seed", None),
                    Source::Peers(n) => ("peers", Some(n)),
                    Source::Hello(n) => ("hello", Some(n)),
                };
                AddressReport {
                    address: address.clone(),
                    status: k.status.name(),
                    node_id,
                    dialed,
                    learned_from,
                    learned_from_node,
                    advertised: k.advertised,
                }
            })
            .collect();
        let nodes: Vec<NodeReport> = self.nodes.values().cloned().collect();
        let not_dialed = self.failures.iter().filter(|f| f.kind == FailureKind::NotDialed).count();
        let totals = Totals {
            addresses: self.frontier.len(),
            dialed: self.dialed,
            nodes: nodes.len(),
            accepted: nodes.iter().filter(|n| n.accepted).count(),
            edges: edges.len(),
            failures: self.failures.len() - not_dialed,
            not_dialed,
            forgotten_addresses: self.frontier.forgotten,
            invalid_peers_entries: self.invalid_entries,
        };
        CrawlReport {
            seeds: self.seeds.clone(),
            elapsed_ms: (end - self.started).as_millis() as u64,
            complete: self.finished_at.is_some() && self.stopped.is_none(),
            stopped_by: self.stopped,
            totals,
            nodes,
            addresses,
            edges,
            failures: self.failures.clone(),
        }
    }

    // ---- internals -----------------------------------------------------------------------

    fn advance(&mut self, now: Timestamp, now_unix: u64) {
        self.now = self.now.max(now);
        self.now_unix = self.now_unix.max(now_unix);
    }

    fn can_dial(&self) -> bool {
        self.stopped.is_none() && self.visits.len() < self.config.max_in_flight && self.dialed < self.config.max_nodes
    }

    /// Drain the touched connections, end the visits that are over, dial what there is
    /// room for, and see whether the crawl is done.
    fn flush(&mut self) {
        if self.finished_at.is_some() {
            return;
        }
        while let Some(conn) = self.dirty.pop_first() {
            self.drain_visit(conn);
        }
        self.dial_more();
        if self.visits.is_empty() && (self.frontier.queued() == 0 || !self.can_dial()) {
            if self.frontier.queued() > 0 && self.stopped.is_none() {
                self.stopped = Some(StopReason::MaxNodes);
            }
            if let Some(reason) = self.stopped {
                self.give_up_queue(reason);
            }
            self.finished_at = Some(self.now);
        }
    }

    fn drain_visit(&mut self, conn: ConnId) {
        let now = self.now;
        let peers_wait = self.config.peers_wait;
        let Some(v) = self.visits.get_mut(&conn) else { return };
        if let Some(peer) = v.peer.as_mut() {
            while let Some(event) = peer.poll_event() {
                match event {
                    PeerEvent::GotHello(facts) => v.hello = Some(facts),
                    PeerEvent::Authenticated(facts) => {
                        v.hello = Some(facts);
                        v.stage = Stage::Authenticated;
                        v.deadline = now + peers_wait;
                        // We send no PEERS (an initiator never does) and ask for the SCP
                        // state of no particular ledger; the remote now sends its PEERS, then
                        // SEND_MORE_EXTENDED or an ERROR.
                        peer.admit(now, None, 0);
                    }
                    PeerEvent::Message { message, .. } => {
                        if let StellarMessage::Peers(list) = &*message {
                            v.peers_len = Some(list.len());
                            v.peers = Some(list.to_vec());
                        }
                    }
                    PeerEvent::Handled { message_type: MessageType::SendMoreExtended, .. } => {
                        if v.stage == Stage::Authenticated && v.end.is_none() {
                            v.end = Some(End::Admitted);
                        }
                    }
                    PeerEvent::Handled { .. } => {}
                    PeerEvent::Closed(reason) => {
                        if v.end.is_none() {
                            v.end = Some(End::Closed(reason));
                        }
                    }
                }
            }
            while let Some(bytes) = peer.poll_transmit(now) {
                self.outputs.push_back(Output::Transmit { conn, bytes });
            }
        }
        let hello = if v.hello_noted { None } else { v.hello.clone() };
        v.hello_noted |= hello.is_some();
        let peers = v.peers.take();
        let address = v.address.clone();
        let over = v.end.is_some();
        if let Some(h) = &hello {
            self.note_hello(&address, h);
        }
        if let Some(list) = peers {
            let from = self.visits.get(&conn).and_then(|v| v.hello.as_ref()).map(|h| h.node_id);
            if let Some(from) = from {
                self.note_peers(from, &list);
            }
        }
        if over {
            self.finish(conn);
        }
    }

    /// A node answered at `address`: its record, and its listening address if the dialed
    /// port was another.
    fn note_hello(&mut self, address: &PeerAddress, hello: &HelloFacts) {
        let node = hello.node_id;
        let record = self.nodes.entry(node).or_insert_with(|| NodeReport::new(hello));
        if !record.addresses.contains(address) {
            record.addresses.push(address.clone());
        }
        self.frontier.set_status(address, AddressStatus::Node { node, dialed: true });
        if hello.listening_port != address.port {
            let listening = PeerAddress { host: address.host.clone(), port: hello.listening_port };
            let status = AddressStatus::Node { node, dialed: false };
            self.frontier.settle(&listening, status, Source::Hello(node), self.config.max_addresses);
        }
    }

    /// `from` sent PEERS: record the edges and learn the addresses, except ours.
    fn note_peers(&mut self, from: NodeId, list: &[overlay_proto::xdr::PeerAddress]) {
        let max = self.config.max_addresses;
        if let Some(r) = self.nodes.get_mut(&from) {
            r.peers = Some(list.len());
        }
        for entry in list {
            let Ok(address) = PeerAddress::from_xdr(entry) else {
                self.invalid_entries += 1;
                continue;
            };
            self.edges.insert((from, address.clone()));
            if self.own.contains(&address) {
                // Nodes learn our address from our HELLO (§10.3) and advertise it back.
                self.frontier.settle(&address, AddressStatus::Own, Source::Peers(from), max);
            }
            self.frontier.learn(address, Source::Peers(from), max);
        }
    }

    /// The visit of `conn` is over: close it, and record what it found.
    fn finish(&mut self, conn: ConnId) {
        let Some(mut v) = self.visits.remove(&conn) else { return };
        let end = v.end.take().unwrap_or(End::Stopped);
        if let Some(peer) = v.peer.as_mut() {
            peer.close(self.now, DropReason::LocalSilent("crawl visit over"));
            while let Some(bytes) = peer.poll_transmit(self.now) {
                self.outputs.push_back(Output::Transmit { conn, bytes });
            }
        }
        if !matches!(end, End::DialFailed(_)) {
            self.outputs.push_back(Output::Close { conn });
        }
        self.frontier.done(&v.address);
        let (accepted, verdict, failure) = judge(&end, v.stage);
        match &v.hello {
            Some(h) => {
                let node = h.node_id;
                if let Some(r) = self.nodes.get_mut(&node) {
                    if accepted || r.verdict.is_empty() || !r.accepted {
                        r.accepted |= accepted;
                        r.verdict = verdict;
                    }
                    if r.peers.is_none() {
                        r.peers = v.peers_len;
                    }
                }
                self.events.push_back(CrawlEvent::Found {
                    address: v.address.clone(),
                    node,
                    accepted,
                    peers: v.peers_len,
                });
            }
            None => {
                let kind = failure.as_ref().map_or(FailureKind::Closed, |f| f.0);
                self.frontier.set_status(&v.address, AddressStatus::Failed(kind));
            }
        }
        if let Some((kind, reason)) = failure {
            let f = Failure { address: v.address.clone(), kind, reason, node_id: v.hello.as_ref().map(|h| h.node_id) };
            self.events.push_back(CrawlEvent::Failed(f.clone()));
            self.failures.push(f);
        }
    }

    fn dial_more(&mut self) {
        while self.can_dial() {
            let c = &self.config;
            let Some(address) = self.frontier.pop_ready(self.now, c.host_connections_max, c.host_interval) else {
                break;
            };
            let conn = ConnId(self.next_conn);
            self.next_conn += 1;
            self.dialed += 1;
            let visit = Visit {
                address: address.clone(),
                stage: Stage::Connecting,
                deadline: self.now + self.config.connect_timeout,
                peer: None,
                hello: None,
                hello_noted: false,
                peers: None,
                peers_len: None,
                end: None,
            };
            self.visits.insert(conn, visit);
            self.outputs.push_back(Output::Connect { conn, address });
        }
    }

    /// Stop dialing; end every open visit.
    fn stop(&mut self, reason: StopReason) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        for (id, v) in &mut self.visits {
            if v.end.is_none() {
                v.end = Some(End::Stopped);
            }
            self.dirty.insert(*id);
        }
        self.give_up_queue(reason);
    }

    fn give_up_queue(&mut self, reason: StopReason) {
        let before: Vec<PeerAddress> =
            self.frontier.iter().filter(|(_, k)| k.status == AddressStatus::Queued).map(|(a, _)| a.clone()).collect();
        self.frontier.drain_queue(AddressStatus::NotDialed(reason));
        for address in before {
            self.failures.push(Failure {
                address,
                kind: FailureKind::NotDialed,
                reason: reason.text().to_string(),
                node_id: None,
            });
        }
    }
}

/// Whether the node accepted us, the verdict's words, and the failure to report, from how
/// the visit ended and the stage it had reached.
fn judge(end: &End, stage: Stage) -> (bool, String, Option<(FailureKind, String)>) {
    let fail = |kind: FailureKind, reason: String| (false, reason.clone(), Some((kind, reason)));
    let authenticated = stage == Stage::Authenticated;
    match end {
        End::Admitted => (true, "admitted".into(), None),
        // Authenticated and not refused within the wait (or by the crawl's end).
        End::TimedOut | End::Stopped if authenticated => (true, "authenticated".into(), None),
        End::TimedOut if stage == Stage::Connecting => fail(FailureKind::TimedOut, "connection timed out".into()),
        End::TimedOut => fail(FailureKind::TimedOut, "handshake timed out".into()),
        End::Stopped => fail(FailureKind::TimedOut, StopReason::Deadline.text().into()),
        End::DialFailed(DialError::Refused(text)) => fail(FailureKind::Refused, text.clone()),
        End::DialFailed(DialError::TimedOut) => fail(FailureKind::TimedOut, "connection timed out".into()),
        End::DialFailed(DialError::Unreachable(text)) => fail(FailureKind::Unreachable, text.clone()),
        End::Closed(reason) => {
            let kind = match reason {
                DropReason::RemoteError(_) | DropReason::Handshake(HandshakeError::RemoteError(_)) => {
                    FailureKind::Rejected
                }
                DropReason::RemoteClosed | DropReason::Io(_) => FailureKind::Closed,
                DropReason::IdleTimeout => FailureKind::TimedOut,
                _ if authenticated => FailureKind::Closed,
                _ => FailureKind::HandshakeFailed,
            };
            fail(kind, reason.text().into_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::xdr::{ErrorCode, SError};

    #[test]
    fn verdicts_name_the_failure_kind_with_stellar_core_words() {
        let err = SError { code: ErrorCode::Load, msg: "peer rejected".try_into().unwrap() };
        let (accepted, verdict, failure) = judge(&End::Closed(DropReason::RemoteError(err)), Stage::Authenticated);
        assert!(!accepted);
        assert_eq!(verdict, "ERR_LOAD (peer rejected)");
        assert_eq!(failure, Some((FailureKind::Rejected, "ERR_LOAD (peer rejected)".into())));
        let bad_cert = DropReason::Handshake(HandshakeError::BadCert(overlay_auth::CertError::BadSignature));
        let (_, _, failure) = judge(&End::Closed(bad_cert), Stage::Handshaking);
        assert_eq!(failure, Some((FailureKind::HandshakeFailed, "failed to verify auth cert".into())));
        assert_eq!(judge(&End::Admitted, Stage::Authenticated), (true, "admitted".into(), None));
        assert!(judge(&End::TimedOut, Stage::Authenticated).0, "authenticated and never refused");
        let timed_out = |stage| judge(&End::TimedOut, stage).2.unwrap();
        assert_eq!(timed_out(Stage::Connecting), (FailureKind::TimedOut, "connection timed out".into()));
        assert_eq!(timed_out(Stage::Handshaking), (FailureKind::TimedOut, "handshake timed out".into()));
        let refused = judge(&End::DialFailed(DialError::Refused("connection refused".into())), Stage::Connecting);
        assert_eq!(refused.2, Some((FailureKind::Refused, "connection refused".into())));
    }
}
