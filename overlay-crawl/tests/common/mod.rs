//! A scripted network for the crawler, in virtual time: every address is a remote with a
//! behaviour (a real `overlay_node::Peer` as the acceptor, scripted after its AUTH), links
//! have a fixed latency, and the harness checks the crawler's bounds on every dial.

#![allow(dead_code)]

use core::time::Duration;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity, OpenPolicy};
use overlay_crawl::{ConnId, CrawlConfig, CrawlReport, Crawler, DialError, Output};
use overlay_node::{DropReason, LedgerState, Peer, PeerConfig, PeerEvent};
use overlay_proto::xdr::{StellarMessage, VecM};
use overlay_proto::{Host, Network, NodeId, PeerAddress, Timestamp};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

pub const UNIX: u64 = 1_800_000_000;
pub const START: Timestamp = Timestamp::from_secs(1_000);
/// The crawler's IP as the remotes see it, and its HELLO listening port.
pub const CRAWLER_IP: Ipv4Addr = Ipv4Addr::new(10, 9, 9, 9);
pub const CRAWLER_PORT: u16 = 11625;

/// What a remote does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Admits us: PEERS (if any), then SEND_MORE_EXTENDED (overlay-node's `admit`).
    Accept(Vec<PeerAddress>),
    /// stellar-core's order for a full node: AUTH, PEERS, then ERROR "peer rejected" (§3.6).
    RejectAfterPeers(Vec<PeerAddress>),
    /// Rejects with ERR_LOAD "peer rejected" and no PEERS (overlay-node's order).
    Reject,
    /// Refuses the TCP connection.
    Refuse,
    /// Never completes the TCP connection.
    Blackhole,
    /// Completes the TCP connection and never says anything.
    Silent,
    /// A node on another network: our certificate does not verify, it drops us silently.
    OtherNetwork,
    /// Completes the handshake, then says nothing more (no PEERS, no SEND_MORE_EXTENDED).
    Mute,
}

impl Behaviour {
    pub fn answers_hello(&self) -> bool {
        matches!(self, Behaviour::Accept(_) | Behaviour::RejectAfterPeers(_) | Behaviour::Reject | Behaviour::Mute)
    }

    pub fn peers(&self) -> &[PeerAddress] {
        match self {
            Behaviour::Accept(p) | Behaviour::RejectAfterPeers(p) => p,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Remote {
    pub seed: u8,
    pub behaviour: Behaviour,
    /// The listening port its HELLO gives (default: the port it is dialed at).
    pub listening_port: Option<u16>,
}

impl Remote {
    pub fn node_id(&self) -> NodeId {
        NodeIdentity::from_seed([self.seed; 32]).node_id()
    }
}

#[derive(Debug)]
enum Ev {
    Connected(ConnId),
    ConnectFailed(ConnId),
    ToRemote(ConnId, Vec<u8>),
    ToCrawler(ConnId, Vec<u8>),
    RemoteClosed(ConnId),
}

struct Link {
    remote: Option<Box<Peer>>,
    behaviour: Behaviour,
    open: bool,
}

/// A record of one dial, for the bound checks.
#[derive(Debug, Clone)]
pub struct Dial {
    pub at: Timestamp,
    pub address: PeerAddress,
}

pub struct Net {
    pub remotes: BTreeMap<PeerAddress, Remote>,
    pub latency: Duration,
    pub now: Timestamp,
    queue: BinaryHeap<Reverse<(Timestamp, u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    seq: u64,
    links: BTreeMap<ConnId, Link>,
    pub dials: Vec<Dial>,
    pub max_in_flight_seen: usize,
    pub max_per_host_seen: usize,
    open: BTreeMap<ConnId, PeerAddress>,
}

pub fn addr(s: &str) -> PeerAddress {
    s.parse().unwrap()
}

pub fn crawler_auth(network: Network) -> LocalAuth {
    let hello =
        HelloParams { listening_port: CRAWLER_PORT, version_str: "crawler-test".into(), ..HelloParams::default() };
    LocalAuth::new(NodeIdentity::from_seed([0xc0; 32]), network.id(), [0xc1; 32], hello)
}

impl Net {
    pub fn new(remotes: impl IntoIterator<Item = (PeerAddress, Remote)>) -> Self {
        Net {
            remotes: remotes.into_iter().collect(),
            latency: Duration::from_millis(10),
            now: START,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            seq: 0,
            links: BTreeMap::new(),
            dials: Vec::new(),
            max_in_flight_seen: 0,
            max_per_host_seen: 0,
            open: BTreeMap::new(),
        }
    }

    /// Node `seed` at `address` behaving as `behaviour`.
    pub fn with(mut self, address: &str, seed: u8, behaviour: Behaviour) -> Self {
        self.remotes.insert(addr(address), Remote { seed, behaviour, listening_port: None });
        self
    }

    fn schedule(&mut self, delay: Duration, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((self.now + delay, self.seq, self.seq)));
    }

    pub fn crawler(&self, config: CrawlConfig, seeds: &[&str]) -> Crawler {
        Crawler::new(config, crawler_auth(Network::Standalone), seeds.iter().map(|s| addr(s)), 42, self.now)
    }

    /// Run the crawl to its end; panics if it does not end within `steps_max` steps.
    pub fn run(&mut self, crawler: &mut Crawler, steps_max: usize) -> CrawlReport {
        for _ in 0..steps_max {
            self.drain(crawler);
            if crawler.is_done() {
                assert!(self.open.is_empty(), "a finished crawl has no connection open: {:?}", self.open);
                return crawler.report();
            }
            let next_event = self.queue.peek().map(|Reverse((t, _, _))| *t);
            let next_timer = crawler.poll_timeout();
            let (at, is_event) = match (next_event, next_timer) {
                (Some(e), Some(t)) if e <= t => (e, true),
                (Some(e), None) => (e, true),
                (_, Some(t)) => (t, false),
                (None, None) => panic!("the crawl is stuck: no event, no timer, not done"),
            };
            assert!(at >= self.now, "time goes forward");
            self.now = at;
            if is_event {
                let Reverse((_, _, id)) = self.queue.pop().unwrap();
                let ev = self.events.remove(&id).unwrap();
                self.handle(crawler, ev);
            } else {
                crawler.handle_timeout(self.now);
            }
        }
        panic!("the crawl did not end within {steps_max} steps");
    }

    fn drain(&mut self, crawler: &mut Crawler) {
        while let Some(out) = crawler.poll_output() {
            match out {
                Output::Connect { conn, address } => self.connect(conn, address),
                Output::Transmit { conn, bytes } => {
                    assert!(self.open.contains_key(&conn), "transmit on a connection not open");
                    self.schedule(self.latency, Ev::ToRemote(conn, bytes));
                }
                Output::Close { conn } => {
                    self.open.remove(&conn);
                    if let Some(l) = self.links.get_mut(&conn) {
                        l.open = false;
                    }
                }
            }
        }
        while crawler.poll_event().is_some() {}
    }

    fn connect(&mut self, conn: ConnId, address: PeerAddress) {
        assert!(!self.dials.iter().any(|d| d.address == address), "{address} dialed twice");
        self.dials.push(Dial { at: self.now, address: address.clone() });
        self.open.insert(conn, address.clone());
        self.max_in_flight_seen = self.max_in_flight_seen.max(self.open.len());
        let per_host = self.open.values().filter(|a| a.host == address.host).count();
        self.max_per_host_seen = self.max_per_host_seen.max(per_host);
        let remote = self.remotes.get(&address).cloned();
        let behaviour = remote.as_ref().map_or(Behaviour::Refuse, |r| r.behaviour.clone());
        match behaviour {
            Behaviour::Refuse => self.schedule(self.latency * 2, Ev::ConnectFailed(conn)),
            Behaviour::Blackhole => {}
            b => {
                let r = remote.expect("a behaviour other than refuse has a remote");
                let peer = match b {
                    Behaviour::Silent => None,
                    _ => {
                        let network = if b == Behaviour::OtherNetwork { Network::Testnet } else { Network::Standalone };
                        let hello = HelloParams {
                            listening_port: r.listening_port.unwrap_or(address.port),
                            ..HelloParams::default()
                        };
                        let mut auth = LocalAuth::new(
                            NodeIdentity::from_seed([r.seed; 32]),
                            network.id(),
                            [r.seed ^ 0x55; 32],
                            hello,
                        );
                        let from = PeerAddress { host: Host::Ip(IpAddr::V4(CRAWLER_IP)), port: 50_000 };
                        let peer = Peer::new(
                            auth.accept(UNIX, [r.seed; 32]),
                            from,
                            Arc::new(PeerConfig::default()),
                            LedgerState::GENESIS.flow_limits(12),
                            self.now,
                            1,
                        );
                        Some(Box::new(peer))
                    }
                };
                self.links.insert(conn, Link { remote: peer, behaviour: b, open: true });
                self.schedule(self.latency, Ev::Connected(conn));
            }
        }
    }

    fn handle(&mut self, crawler: &mut Crawler, ev: Ev) {
        let unix = UNIX + (self.now - START).as_secs();
        match ev {
            Ev::Connected(conn) => crawler.handle_connected(self.now, unix, conn, Some(IpAddr::V4(CRAWLER_IP))),
            Ev::ConnectFailed(conn) => {
                self.open.remove(&conn);
                crawler.handle_connect_failed(self.now, conn, DialError::Refused("connection refused".into()))
            }
            Ev::ToCrawler(conn, bytes) => crawler.handle_bytes(self.now, unix, conn, &bytes),
            Ev::RemoteClosed(conn) => crawler.handle_socket_closed(self.now, conn, DropReason::RemoteClosed),
            Ev::ToRemote(conn, bytes) => self.deliver_to_remote(conn, &bytes, unix),
        }
    }

    fn deliver_to_remote(&mut self, conn: ConnId, bytes: &[u8], unix: u64) {
        let now = self.now;
        let Some(link) = self.links.get_mut(&conn) else { return };
        if !link.open {
            return;
        }
        let Some(peer) = link.remote.as_mut() else { return };
        peer.handle_bytes(now, unix, bytes, &OpenPolicy);
        let mut closed = false;
        while let Some(e) = peer.poll_event() {
            match e {
                PeerEvent::Authenticated(_) => match &link.behaviour {
                    Behaviour::Accept(list) => peer.admit(now, peers_message(list), 0),
                    Behaviour::RejectAfterPeers(list) => {
                        if let Some(m) = peers_message(list) {
                            peer.send(now, &m).unwrap();
                        }
                        peer.close(now, DropReason::PEER_REJECTED);
                    }
                    Behaviour::Reject => peer.close(now, DropReason::PEER_REJECTED),
                    _ => {}
                },
                PeerEvent::Closed(_) => closed = true,
                _ => {}
            }
        }
        let mut out = Vec::new();
        while let Some(b) = peer.poll_transmit(now) {
            out.push(b);
        }
        if closed {
            link.open = false;
        }
        for b in out {
            self.schedule(self.latency, Ev::ToCrawler(conn, b));
        }
        if closed {
            self.schedule(self.latency, Ev::RemoteClosed(conn));
        }
    }
}

fn peers_message(list: &[PeerAddress]) -> Option<StellarMessage> {
    let entries: Vec<_> = list.iter().filter_map(PeerAddress::to_xdr).collect();
    (!entries.is_empty()).then(|| StellarMessage::Peers(VecM::try_from(entries).unwrap()))
}

/// The crawler's own address as the remotes know it.
pub fn crawler_address() -> PeerAddress {
    PeerAddress { host: Host::Ip(IpAddr::V4(CRAWLER_IP)), port: CRAWLER_PORT }
}
