//! A node under test and scripted remote peers that authenticate with it for real (the
//! handshake, the MAC and flow control of PROTOCOL.md §2–§6), so that what a target sends
//! reaches the node's handlers. The remotes are thin: a handshake machine, then a MAC
//! channel and flow-control accounting; they can seal any StellarMessage (HELLO, AUTH,
//! ERROR and SEND_MORE included), raw bytes with a valid MAC, or garbage.
//!
//! Everything is deterministic: fixed identities, nonces from counters, virtual time. With
//! overlay-auth's memoized crypto (fuzz builds only) a handshake costs a few microseconds.
//!
//! What the world checks (each broken rule lands in `violations`; targets assert it stays
//! empty, and [`World::check`] asserts the bounds):
//! - every frame the node sends decodes, and every authenticated one verifies under the
//!   remote's MAC key in sequence;
//! - the node never sends a flood message past the capacity its remote granted, never sends
//!   PEERS on a connection it dialed or twice on one connection, never more than 50 entries;
//! - the driver contract: nothing for a connection after its Close, no message event for a
//!   connection after its Disconnected event;
//! - timers move: after `handle_timeout(now)` the next deadline is later than `now`;
//! - the peer database changes the node emits, replayed in order, give its in-memory view;
//! - every bound: stores, pending verdicts, fetches, Floodgate, connection slots, each
//!   peer's flow-control invariants and send buffer.

#![allow(dead_code)]

use overlay_auth::{Handshake, HelloParams, LocalAuth, MacChannel, NodeIdentity, OpenPolicy, Progress, Role};
use overlay_node::app::{AppInput, Application, Delivery};
use overlay_node::discovery::{MemoryStore, StoreChange};
use overlay_node::{
    ConnId, DropReason, Node, NodeConfig, NodeEvent, Output, PeerReader, PeerWriter, Relay, RelayConfig,
};
use overlay_proto::frame::{FrameDecoder, encode_unauthenticated};
use overlay_proto::wire::{RawMessage, encode_message};
use overlay_proto::xdr::{DontHave, MessageType, ScpEnvelope, SendMoreExtended, StellarMessage, Uint256};
use overlay_proto::{Hash256, MessageClass, Network, NodeId, PeerAddress, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Wall-clock seconds at virtual time zero (certificate expiry).
pub const UNIX_BASE: u64 = 1_800_000_000;
/// Most deliveries of each kind remembered for verdicts by index.
const REMEMBERED_MAX: usize = 1024;
/// Most steps of one drain before it is called a livelock.
const DRAIN_STEPS_MAX: usize = 200_000;
/// Most timer firings in one `advance` before the driver fires the rest late.
const TIMER_STEPS_MAX: usize = 4;

/// How a remote behaves.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Answers the node's dials.
    pub accepts: bool,
    /// Grants the node capacity back as it receives flood messages.
    pub regrant: bool,
    /// Sends flood messages only within the capacity the node granted.
    pub obey: bool,
    /// Answers the node's pings (GET_SCP_QUORUMSET of a hash ending in 24 zero bytes).
    pub pong: bool,
    /// The capacity it grants at first: messages, bytes.
    pub grant: (u32, u32),
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { accepts: true, regrant: true, obey: true, pong: true, grant: (200, 300_000) }
    }
}

/// A scripted remote peer.
pub struct Remote {
    pub index: usize,
    pub auth: LocalAuth,
    pub node_id: NodeId,
    /// Where it listens (the node dials it here).
    pub address: PeerAddress,
    pub behaviour: Behaviour,
    /// The connection, as the node names it.
    pub conn: Option<ConnId>,
    /// Its role on that connection.
    pub role: Role,
    hs: Option<Handshake>,
    channel: Option<MacChannel>,
    decoder: FrameDecoder,
    connections: u64,
    /// Capacity it granted the node and the node has not used.
    node_may_send: (u64, u64),
    /// Capacity the node granted it.
    pub credit: (u64, u64),
    /// Whether the node sent PEERS on this connection.
    got_peers: bool,
    /// Items the node asked this remote for.
    pub asked_tx_sets: Vec<Hash256>,
    pub asked_quorum_sets: Vec<Hash256>,
    /// Survey requests the node sent to this remote as the surveyed node.
    pub survey_requests: Vec<overlay_proto::xdr::TimeSlicedSurveyRequestMessage>,
    /// Messages received from the node on this connection, by type.
    pub received: BTreeMap<i32, u64>,
}

impl Remote {
    /// The identity seed of remote `index`.
    fn seed(index: usize) -> [u8; 32] {
        let mut seed = [0x40u8; 32];
        seed[0] = index as u8;
        seed
    }

    fn new(index: usize, network: &str, behaviour: Behaviour) -> Remote {
        let seed = Remote::seed(index);
        let mut ecdh = [0x41u8; 32];
        ecdh[0] = index as u8;
        let address: PeerAddress = format!("203.0.113.{}:11625", index + 10).parse().expect("an address");
        let network = overlay_proto::NetworkId::from_passphrase(network);
        let auth = LocalAuth::new(NodeIdentity::from_seed(seed), network, ecdh, HelloParams::default());
        Remote {
            index,
            node_id: auth.node_id(),
            auth,
            address,
            behaviour,
            conn: None,
            role: Role::Initiator,
            hs: None,
            channel: None,
            decoder: FrameDecoder::new(),
            connections: 0,
            node_may_send: (0, 0),
            credit: (0, 0),
            got_peers: false,
            asked_tx_sets: Vec::new(),
            asked_quorum_sets: Vec::new(),
            survey_requests: Vec::new(),
            received: BTreeMap::new(),
        }
    }

    fn address_ip(&self) -> [u8; 4] {
        match self.address.ip() {
            Some(std::net::IpAddr::V4(v4)) => v4.octets(),
            _ => [0; 4],
        }
    }

    /// Whether the handshake is done and the connection open.
    pub fn is_authenticated(&self) -> bool {
        self.conn.is_some() && self.channel.is_some()
    }

    fn nonce(&mut self) -> [u8; 32] {
        self.connections += 1;
        let mut n = [0x4eu8; 32];
        n[0] = self.index as u8;
        n[1..9].copy_from_slice(&self.connections.to_be_bytes());
        n
    }

    fn reset(&mut self) {
        self.conn = None;
        self.hs = None;
        self.channel = None;
        self.decoder = FrameDecoder::new();
        self.node_may_send = (0, 0);
        self.credit = (0, 0);
        self.got_peers = false;
        self.asked_tx_sets.clear();
        self.asked_quorum_sets.clear();
        self.survey_requests.clear();
        self.received.clear();
    }

    /// Start a connection on `conn` in `role`; returns what it sends first.
    fn start(&mut self, conn: ConnId, role: Role, unix: u64) -> Vec<u8> {
        self.reset();
        let nonce = self.nonce();
        self.conn = Some(conn);
        self.role = role;
        let mut hs = match role {
            Role::Initiator => self.auth.initiate(unix, nonce),
            Role::Acceptor => self.auth.accept(unix, nonce),
        };
        let mut out = Vec::new();
        while let Some(f) = hs.poll_transmit() {
            out.extend_from_slice(&f);
        }
        self.hs = Some(hs);
        out
    }

    /// A message sealed for the node: unauthenticated (HELLO/ERROR style) if `plain`, else
    /// under the MAC. `None` if it cannot be sent now (no channel yet, or over the node's
    /// flood capacity for an obedient remote).
    pub fn seal(&mut self, msg: &StellarMessage, plain: bool) -> Option<Vec<u8>> {
        let mut frame = Vec::new();
        if plain {
            encode_unauthenticated(msg, &mut frame).ok()?;
            return Some(frame);
        }
        let channel = self.channel.as_mut()?;
        if msg.discriminant().is_flood() {
            let size = encode_message(msg).ok()?.len() as u64;
            let fits = self.credit.0 >= 1 && self.credit.1 >= size;
            if self.behaviour.obey && !fits {
                return None;
            }
            self.credit = (self.credit.0.saturating_sub(1), self.credit.1.saturating_sub(size));
        }
        channel.seal(msg, &mut frame).ok()?;
        Some(frame)
    }

    /// Arbitrary message XDR sealed under the MAC (it may not decode).
    pub fn seal_xdr(&mut self, xdr: &[u8]) -> Option<Vec<u8>> {
        let mut frame = Vec::new();
        self.channel.as_mut()?.seal_xdr(xdr, &mut frame);
        Some(frame)
    }

    /// Bytes from the node: what the remote answers, and whether it closes the socket.
    fn handle_bytes(&mut self, bytes: &[u8], unix: u64, violations: &mut Vec<String>) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        self.decoder.feed(bytes);
        loop {
            let body = match self.decoder.next_frame() {
                Ok(Some(b)) => b.to_vec(),
                Ok(None) => return (out, false),
                Err(e) => {
                    violations.push(format!("remote {}: the node sent a bad frame: {e:?}", self.index));
                    return (out, true);
                }
            };
            if let Some(hs) = self.hs.as_mut() {
                let result = hs.handle_frame(&body, unix, &OpenPolicy);
                while let Some(f) = hs.poll_transmit() {
                    out.extend_from_slice(&f);
                }
                match result {
                    Ok(Progress::Established(est)) => {
                        self.hs = None;
                        self.channel = Some(est.channel);
                        self.decoder.set_authenticated();
                        let (msgs, bytes) = self.behaviour.grant;
                        if let Some(f) = self.seal(&grant(msgs, bytes), false) {
                            out.extend_from_slice(&f);
                        }
                        self.node_may_send = (u64::from(msgs), u64::from(bytes));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        self.hs = None;
                        return (out, true);
                    }
                }
                continue;
            }
            let Some(channel) = self.channel.as_mut() else { return (out, false) };
            let raw = match RawMessage::parse(&body) {
                Ok(raw) => raw,
                Err(e) => {
                    violations.push(format!("remote {}: the node sent an unparsable body: {e:?}", self.index));
                    return (out, true);
                }
            };
            let msg = match raw.decode() {
                Ok(m) => m,
                Err(e) => {
                    violations.push(format!("remote {}: the node sent undecodable XDR: {e:?}", self.index));
                    return (out, true);
                }
            };
            *self.received.entry(msg.discriminant() as i32).or_default() += 1;
            if let StellarMessage::ErrorMsg(_) = msg {
                // Unauthenticated, and the node closes after it.
                continue;
            }
            if let Err(e) = channel.open(&raw) {
                violations.push(format!("remote {}: a frame of the node fails its MAC: {e:?}", self.index));
                return (out, true);
            }
            if msg.discriminant().is_flood() {
                let size = raw.message_len() as u64;
                let (m, b) = self.node_may_send;
                if m < 1 || b < size {
                    violations.push(format!(
                        "remote {}: the node sent {:?} of {size} bytes past the granted {m} messages, {b} bytes",
                        self.index,
                        msg.discriminant()
                    ));
                }
                self.node_may_send = (m.saturating_sub(1), b.saturating_sub(size));
                let (gm, gb) = (u64::from(self.behaviour.grant.0), u64::from(self.behaviour.grant.1));
                let (m, b) = self.node_may_send;
                if self.behaviour.regrant && (m * 2 < gm || b * 2 < gb) {
                    let more = (gm.saturating_sub(m), gb.saturating_sub(b).max(1));
                    if let Some(f) = self.seal(&grant(more.0 as u32, more.1 as u32), false) {
                        out.extend_from_slice(&f);
                    }
                    self.node_may_send = (m + more.0, b + more.1);
                }
            }
            match &msg {
                StellarMessage::SendMoreExtended(g) => {
                    self.credit.0 = self.credit.0.saturating_add(u64::from(g.num_messages));
                    self.credit.1 = self.credit.1.saturating_add(u64::from(g.num_bytes));
                }
                StellarMessage::Peers(list) => {
                    if self.role == Role::Acceptor {
                        violations
                            .push(format!("remote {}: the node sent PEERS on a connection it dialed", self.index));
                    }
                    if self.got_peers {
                        violations.push(format!("remote {}: the node sent PEERS twice", self.index));
                    }
                    if list.len() > 50 {
                        violations.push(format!("remote {}: the node sent {} PEERS entries", self.index, list.len()));
                    }
                    for p in list.iter() {
                        let overlay_proto::xdr::PeerAddressIp::IPv4(ip) = p.ip else {
                            violations.push(format!("remote {}: the node sent an IPv6 PEERS entry", self.index));
                            continue;
                        };
                        let own = ip == self.address_ip() && p.port == u32::from(self.address.port);
                        if is_private(ip) || own || p.num_failures != 0 || p.port == 0 || p.port > 65535 {
                            violations.push(format!("remote {}: the node sent the PEERS entry {p:?}", self.index));
                        }
                    }
                    self.got_peers = true;
                }
                StellarMessage::GetTxSet(h) => remember(&mut self.asked_tx_sets, Hash256(h.0)),
                StellarMessage::TimeSlicedSurveyRequest(m)
                    if NodeId::from_xdr(&m.request.request.surveyed_peer_id) == self.node_id
                        && self.survey_requests.len() < 16 =>
                {
                    self.survey_requests.push(m.request.clone());
                }
                StellarMessage::GetScpQuorumset(h) => {
                    remember(&mut self.asked_quorum_sets, Hash256(h.0));
                    if self.behaviour.pong && h.0[8..].iter().all(|b| *b == 0) {
                        let reply = StellarMessage::DontHave(DontHave {
                            type_: MessageType::ScpQuorumset,
                            req_hash: Uint256(h.0),
                        });
                        if let Some(f) = self.seal(&reply, false) {
                            out.extend_from_slice(&f);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (§10.4).
pub fn is_private(ip: [u8; 4]) -> bool {
    ip[0] == 10 || (ip[0] == 172 && ip[1] & 0xf0 == 16) || (ip[0] == 192 && ip[1] == 168)
}

fn remember(list: &mut Vec<Hash256>, h: Hash256) {
    if list.len() < REMEMBERED_MAX && !list.contains(&h) {
        list.push(h);
    }
}

/// A SEND_MORE_EXTENDED.
pub fn grant(num_messages: u32, num_bytes: u32) -> StellarMessage {
    StellarMessage::SendMoreExtended(SendMoreExtended { num_messages, num_bytes })
}

/// What the node delivered, for verdicts by index.
#[derive(Default)]
pub struct Delivered {
    pub transactions: Vec<Hash256>,
    pub envelopes: Vec<(Hash256, Arc<ScpEnvelope>)>,
    pub tx_sets: Vec<Hash256>,
    pub quorum_sets: Vec<Hash256>,
}

/// The node, its remotes and its application.
pub struct World {
    pub node: Node,
    pub config: NodeConfig,
    pub remotes: Vec<Remote>,
    pub now: Timestamp,
    /// The relay application, if the node has one; else the target gives the verdicts.
    pub relay: Option<Relay>,
    pub delivered: Delivered,
    pub violations: Vec<String>,
    /// The peer database as replayed from the node's Store outputs.
    shadow_records: BTreeMap<PeerAddress, overlay_node::discovery::PeerRecord>,
    shadow_bans: BTreeSet<NodeId>,
    finished: BTreeSet<ConnId>,
    dropped: BTreeSet<ConnId>,
    to_node: VecDeque<(ConnId, Vec<u8>)>,
    closed_by_remote: VecDeque<ConnId>,
    inbound_port: u16,
    /// Take each peer's reader once admitted and open its bytes outside the node, and its
    /// writer and seal its batches outside the node, as a driver with connection tasks does.
    pub read_elsewhere: bool,
    readers: BTreeMap<ConnId, PeerReader>,
    writers: BTreeMap<ConnId, PeerWriter>,
}

impl World {
    /// A started node with `config` and `store`, and `n` remotes (not connected yet).
    pub fn new(config: NodeConfig, store: MemoryStore, behaviours: &[Behaviour], relay: bool) -> World {
        let passphrase = Network::Standalone.passphrase();
        let network = overlay_proto::NetworkId::from_passphrase(passphrase);
        let hello = HelloParams { listening_port: config.peer_port, ..HelloParams::default() };
        let auth = LocalAuth::new(NodeIdentity::from_seed([0x4du8; 32]), network, [0x4cu8; 32], hello);
        let now = Timestamp::from_secs(100);
        let mut node = Node::new(config.clone(), auth, store, 7, now);
        node.start(now, UNIX_BASE + 100);
        let remotes = behaviours.iter().enumerate().map(|(i, b)| Remote::new(i, passphrase, *b)).collect();
        let relay = relay.then(|| Relay::new(RelayConfig::new(network)));
        let mut w = World {
            node,
            config,
            remotes,
            now,
            relay,
            delivered: Delivered::default(),
            violations: Vec::new(),
            shadow_records: BTreeMap::new(),
            shadow_bans: BTreeSet::new(),
            finished: BTreeSet::new(),
            dropped: BTreeSet::new(),
            to_node: VecDeque::new(),
            closed_by_remote: VecDeque::new(),
            inbound_port: 40_000,
            read_elsewhere: false,
            readers: BTreeMap::new(),
            writers: BTreeMap::new(),
        };
        w.drain();
        w
    }

    /// The identity of remote `index`.
    pub fn remote_identity(&self, index: usize) -> &NodeIdentity {
        &self.remotes[index % self.remotes.len()].auth.keys().identity
    }

    /// The NodeID of remote `index`.
    pub fn remote_id(index: usize) -> NodeId {
        NodeIdentity::from_seed(Remote::seed(index)).node_id()
    }

    /// Wall-clock seconds now.
    pub fn unix(&self) -> u64 {
        UNIX_BASE + self.now.as_nanos() / 1_000_000_000
    }

    /// Connect remote `k` if it is not: it dials the node (`inbound`), or the node dials it.
    pub fn connect(&mut self, k: usize, inbound: bool) {
        let k = k % self.remotes.len();
        if self.remotes[k].conn.is_some() {
            return;
        }
        let (now, unix) = (self.now, self.unix());
        if inbound {
            self.inbound_port = self.inbound_port.wrapping_add(1).max(1024);
            let from = PeerAddress { port: self.inbound_port, ..self.remotes[k].address.clone() };
            if let Some(conn) = self.node.handle_inbound(now, unix, from) {
                let hello = self.remotes[k].start(conn, Role::Initiator, unix);
                self.to_node.push_back((conn, hello));
            }
        } else {
            let _ = self.node.connect(now, self.remotes[k].address.clone());
        }
        self.drain();
    }

    /// Remote `k` sends `bytes` (a frame, or anything) on its connection.
    pub fn send_bytes(&mut self, k: usize, bytes: Vec<u8>) {
        let k = k % self.remotes.len();
        if let Some(conn) = self.remotes[k].conn {
            if !bytes.is_empty() {
                self.to_node.push_back((conn, bytes));
                self.drain();
            }
        }
    }

    /// Remote `k` sends `msg` (unauthenticated if `plain`).
    pub fn send(&mut self, k: usize, msg: &StellarMessage, plain: bool) {
        let k = k % self.remotes.len();
        if let Some(f) = self.remotes[k].seal(msg, plain) {
            self.send_bytes(k, f);
        }
    }

    /// Remote `k` closes its socket.
    pub fn remote_close(&mut self, k: usize) {
        let k = k % self.remotes.len();
        if let Some(conn) = self.remotes[k].conn {
            self.remotes[k].reset();
            self.closed_by_remote.push_back(conn);
            self.drain();
        }
    }

    /// An input from the application.
    pub fn app(&mut self, input: AppInput) {
        let now = self.now;
        let _ = self.node.handle_app(now, input);
        self.drain();
    }

    /// Let `d` of virtual time pass, firing the timers on the way; after
    /// `TIMER_STEPS_MAX` of them the driver "stalls" and fires the rest late, at the end,
    /// as a process that was paused would.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..TIMER_STEPS_MAX {
            match self.node.poll_timeout() {
                Some(t) if t <= end => self.fire(t),
                _ => {
                    self.now = self.now.max(end);
                    return;
                }
            }
        }
        self.fire(end);
    }

    fn fire(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
        let (now, unix) = (self.now, self.unix());
        self.node.handle_timeout(now, unix);
        self.drain();
        if let Some(next) = self.node.poll_timeout() {
            if next <= self.now {
                self.violations.push(format!("a timer did not move: due {next:?} at {:?}", self.now));
            }
        }
    }

    /// Carry out every output of the node, feeding the remotes' answers back, until
    /// nothing moves.
    pub fn drain(&mut self) {
        for _ in 0..DRAIN_STEPS_MAX {
            if let Some(out) = self.node.poll_output() {
                self.handle_output(out);
                continue;
            }
            self.take_writers();
            if let Some((conn, bytes)) = self.to_node.pop_front() {
                self.read(conn, &bytes);
                continue;
            }
            if let Some(conn) = self.closed_by_remote.pop_front() {
                let (now, unix) = (self.now, self.unix());
                self.node.handle_socket_closed(now, unix, conn, DropReason::RemoteClosed);
                continue;
            }
            if let Some(input) = self.relay.as_mut().and_then(|r| r.poll_input()) {
                let now = self.now;
                let _ = self.node.handle_app(now, input);
                continue;
            }
            return;
        }
        self.violations.push("the node and its remotes never settle (livelock)".into());
    }

    /// Bytes from a remote to the node: as bytes, or through the peer's reader once taken.
    fn read(&mut self, conn: ConnId, bytes: &[u8]) {
        let (now, unix) = (self.now, self.unix());
        let Some(reader) = self.readers.get_mut(&conn) else {
            self.node.handle_bytes(now, unix, conn, bytes);
            if self.read_elsewhere {
                if let Some(reader) = self.node.take_reader(conn) {
                    self.readers.insert(conn, reader);
                }
            }
            return;
        };
        let mut opened = Vec::new();
        let result = reader.read(bytes, &mut opened);
        if result.is_err() {
            self.readers.remove(&conn);
        }
        self.node.handle_read(now, unix, conn, opened, result);
    }

    fn remote_of(&self, conn: ConnId) -> Option<usize> {
        self.remotes.iter().position(|r| r.conn == Some(conn))
    }

    /// With `read_elsewhere`, the send halves too: each connection whose reader was taken
    /// gets its writer taken once the node offers it, and its batches are sealed here.
    fn take_writers(&mut self) {
        for conn in self.readers.keys() {
            if !self.writers.contains_key(conn) {
                if let Some(w) = self.node.take_writer(*conn) {
                    self.writers.insert(*conn, w);
                }
            }
        }
    }

    fn handle_output(&mut self, out: Output) {
        let (now, unix) = (self.now, self.unix());
        match out {
            Output::Transmit { conn, .. } | Output::Close { conn } if self.finished.contains(&conn) => {
                self.violations.push(format!("connection {conn} used after its Close"));
            }
            Output::Event(NodeEvent::Message { conn, .. }) if self.dropped.contains(&conn) => {
                self.violations.push(format!("a message of connection {conn} after its Disconnected"));
            }
            Output::Connect { conn, address } => {
                let k = self.remotes.iter().position(|r| r.address == address && r.conn.is_none());
                match k {
                    Some(k) if self.remotes[k].behaviour.accepts => {
                        let _ = self.remotes[k].start(conn, Role::Acceptor, unix);
                        self.node.handle_connected(now, unix, conn);
                    }
                    _ => self.node.handle_connect_failed(now, unix, conn, "connection refused"),
                }
            }
            Output::Transmit { conn, mut bytes } => {
                if let Some(w) = self.writers.get_mut(&conn) {
                    if w.seal(&mut bytes).is_err() {
                        self.violations.push(format!("connection {conn}: a write batch its writer cannot seal"));
                        return;
                    }
                }
                let Some(k) = self.remote_of(conn) else { return };
                let (reply, close) = self.remotes[k].handle_bytes(&bytes, unix, &mut self.violations);
                if !reply.is_empty() {
                    self.to_node.push_back((conn, reply));
                }
                if close {
                    self.remotes[k].reset();
                    self.closed_by_remote.push_back(conn);
                }
            }
            Output::Close { conn } => {
                self.finished.insert(conn);
                self.readers.remove(&conn);
                self.writers.remove(&conn);
                if let Some(k) = self.remote_of(conn) {
                    self.remotes[k].reset();
                }
            }
            Output::Deliver(d) => {
                self.remember_delivery(&d);
                if let Some(r) = self.relay.as_mut() {
                    r.handle_delivery(now, d);
                }
            }
            Output::Store(c) => match c {
                StoreChange::Put(r) => {
                    self.shadow_records.insert(r.address.clone(), r);
                }
                StoreChange::Delete(a) => {
                    self.shadow_records.remove(&a);
                }
                StoreChange::Ban(n) => {
                    self.shadow_bans.insert(n);
                }
                StoreChange::Unban(n) => {
                    self.shadow_bans.remove(&n);
                }
            },
            Output::Event(e) => {
                if let NodeEvent::Disconnected { conn, .. } = e {
                    self.dropped.insert(conn);
                }
            }
        }
    }

    fn remember_delivery(&mut self, d: &Delivery) {
        let r = &mut self.delivered;
        match d {
            Delivery::Transaction(t) if r.transactions.len() < REMEMBERED_MAX => r.transactions.push(t.hash),
            Delivery::ScpEnvelope(e) if r.envelopes.len() < REMEMBERED_MAX => {
                r.envelopes.push((e.id, e.envelope.clone()))
            }
            Delivery::TxSet { hash, .. } if r.tx_sets.len() < REMEMBERED_MAX => r.tx_sets.push(*hash),
            Delivery::QuorumSet { hash, .. } if r.quorum_sets.len() < REMEMBERED_MAX => r.quorum_sets.push(*hash),
            _ => {}
        }
    }
    /// Connect remotes `0..n`, remote `k` inbound where `inbound(k)`; then run `step` on the
    /// rest of the input, at most `ops_max` times, checking the invariants before and after
    /// every step.
    pub fn drive(
        &mut self,
        n: usize,
        inbound: impl Fn(usize) -> bool,
        r: &mut Reader,
        ops_max: usize,
        step: fn(&mut World, &mut Reader),
    ) {
        for k in 0..n {
            self.connect(k, inbound(k));
        }
        self.check();
        for _ in 0..ops_max {
            if r.is_empty() {
                break;
            }
            step(self, r);
            self.check();
        }
    }

    /// Assert every rule and bound (see the module docs).
    pub fn check(&self) {
        assert!(self.violations.is_empty(), "{:#?}", self.violations);
        let n = &self.node;
        let items = &self.config.items;
        let s = n.sizes();
        assert!(s.transactions <= items.transactions_max, "{s:?}");
        assert!(s.transaction_bytes <= items.transaction_bytes_max, "{s:?}");
        assert!(s.tx_sets <= items.tx_sets_max, "{s:?}");
        assert!(s.quorum_sets <= items.quorum_sets_max, "{s:?}");
        assert!(s.scp_envelopes <= items.scp_envelopes_max, "{s:?}");
        assert!(s.pending_transactions <= items.pending_transactions_max, "{s:?}");
        assert!(s.pending_envelopes <= items.pending_envelopes_max, "{s:?}");
        assert!(s.floodgate_records <= self.config.flood.floodgate_entries_max, "{s:?}");
        assert!(s.fetches <= 2 * self.config.flood.fetch_trackers_max, "{s:?}");
        let l = n.limits();
        let (pi, po, ai, ao) = n.connection_counts();
        assert!(pi <= l.max_inbound_pending + overlay_node::config::POSSIBLY_PREFERRED_EXTRA);
        assert!(po <= l.max_outbound_pending);
        assert!(ai <= l.max_inbound && ao <= l.max_outbound);
        for (_, _, p) in n.connections() {
            if let Some(p) = p {
                if let Err(e) = p.flow().check_invariants() {
                    panic!("flow control of {:?}: {e}", p.address());
                }
                assert!(p.unsent_bytes() <= self.config.peer.max_unsent_bytes + (16 << 20));
            }
        }
        let store = n.store();
        assert!(store.len() as u64 <= store.max_records());
        let bans = n.bans();
        assert!(bans.len() as u64 <= store.max_bans());
        // The Store outputs, replayed, are the node's view.
        assert_eq!(store.len(), self.shadow_records.len(), "the Store outputs replayed differ from the node's records");
        for r in store.records() {
            assert_eq!(
                self.shadow_records.get(&r.address),
                Some(&r),
                "the Store outputs replayed differ from the node's records"
            );
        }
        // What PEERS taught the node passed §10.4's filter: no private, loopback or
        // zero-port address (the remotes and configured peers are documentation addresses).
        if !self.config.allow_private_addresses_for_testing && !self.config.allow_localhost_for_testing {
            for r in store.records() {
                let Some(std::net::IpAddr::V4(ip)) = r.address.ip() else { continue };
                let ip = ip.octets();
                assert!(!is_private(ip) && ip != [127, 0, 0, 1] && r.address.port != 0, "stored {r:?}");
            }
        }
        let bans: BTreeSet<NodeId> = bans.into_iter().collect();
        assert_eq!(bans, self.shadow_bans, "the Store outputs replayed differ from the node's bans");
    }
}

/// Reads a fuzz input as a stream of small integers and byte strings; past its end every
/// read gives zero or nothing, so every input is a valid program.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else { return 0 };
        self.data = rest;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }
    /// `n` bytes, or what is left.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (b, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        b
    }
    /// A byte string with a 16-bit length prefix.
    pub fn blob(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.bytes(n)
    }
    pub fn hash(&mut self) -> Hash256 {
        let mut h = [0u8; 32];
        let b = self.bytes(32);
        h[..b.len()].copy_from_slice(b);
        Hash256(h)
    }
}
