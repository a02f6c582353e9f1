//! The crawl scenario in the world (see [`crate::crawl`]): the crawler's connections to the
//! nodes, carried over [`Pipe`]s on the virtual clock, what the nodes did with them, and the
//! reachability check when the crawl ends.
//!
//! A crawler connection has a simulator id with [`CRAWL_BIT`] set, so that the node side
//! (the node's `Transmit`, `Close`, `Connected` and `Disconnected` for it, and its death)
//! comes here from `tcp.rs`; the crawler side is driven from this module alone, following
//! overlay-crawl's drain contract.

use super::{Event, LISTEN_PORT, Res, World, ip_of, node_id};
use crate::crawl::{CrawlOutcome, CrawlSpec, Missed};
use crate::invariants::Violation;
use crate::link::{Carried, LinkProfile, LinkStats, Pipe};
use crate::network::NodeIndex;
use core::time::Duration;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_crawl::{ConnId as CrawlConn, CrawlConfig, CrawlReport, Crawler, DialError, FailureKind, Output};
use overlay_node::discovery::{MAX_FAILURES, MAX_PEERS_TO_SEND};
use overlay_node::{ConnId, DropReason};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{Network as StellarNetwork, NodeId, PeerAddress, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};

/// Set in the simulator id of every crawler connection.
pub(super) const CRAWL_BIT: u64 = 1 << 62;

/// Whether a simulator connection id is a crawler connection's.
pub(super) fn is_crawl(sim: u64) -> bool {
    sim & CRAWL_BIT != 0
}

/// The crawler's index for link profiles (no node has it).
const CRAWLER: NodeIndex = NodeIndex::MAX;
/// The crawler's address: no node has it (nodes are 10.0.0.1 and up).
pub const CRAWLER_IP: Ipv4Addr = Ipv4Addr::new(10, 255, 255, 254);
/// The crawler's identity.
const CRAWLER_SEED: [u8; 32] = [0xc7; 32];

/// A step of the crawl.
#[derive(Debug)]
pub(super) enum CrawlStep {
    /// The crawl starts.
    Start,
    /// The crawler's timer.
    Timer,
    /// The crawler's connection request reaches the node.
    Syn(u64),
    /// The node's acceptance reaches the crawler.
    SynAck(u64),
    /// The crawler's dial fails.
    ConnectFail { sim: u64, refused: bool },
    /// Bytes the crawler wrote reach the node.
    ToNode { sim: u64, bytes: Vec<u8> },
    /// Bytes the node wrote reach the crawler.
    ToCrawler { sim: u64, bytes: Vec<u8> },
    /// The crawler's end of stream reaches the node.
    FinToNode(u64),
    /// The node's end of stream (or its death, a reset) reaches the crawler.
    FinToCrawler { sim: u64, reset: bool },
}

impl CrawlStep {
    /// A number for the event label: the step's kind and its connection.
    pub(super) fn code(&self) -> (u64, u64) {
        match self {
            CrawlStep::Start => (0, 0),
            CrawlStep::Timer => (1, 0),
            CrawlStep::Syn(s) => (2, *s & !CRAWL_BIT),
            CrawlStep::SynAck(s) => (3, *s & !CRAWL_BIT),
            CrawlStep::ConnectFail { sim, .. } => (4, *sim & !CRAWL_BIT),
            CrawlStep::ToNode { sim, .. } => (5, *sim & !CRAWL_BIT),
            CrawlStep::ToCrawler { sim, .. } => (6, *sim & !CRAWL_BIT),
            CrawlStep::FinToNode(s) => (7, *s & !CRAWL_BIT),
            CrawlStep::FinToCrawler { sim, .. } => (8, *sim & !CRAWL_BIT),
        }
    }
}

/// One crawler connection.
#[derive(Debug)]
struct Link {
    conn: CrawlConn,
    /// The node dialed, if the address is a node's.
    node: Option<NodeIndex>,
    incarnation: u32,
    node_conn: Option<ConnId>,
    /// `[0]` carries what the crawler writes, `[1]` what the node writes.
    pipes: [Pipe; 2],
    crawler_open: bool,
    node_open: bool,
    tcp_up: bool,
}

/// What the world saw of one node during the crawl.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// The nodes whose addresses it could advertise when it admitted the crawler (union
    /// over its admissions), if it ever did.
    advertised: Option<BTreeSet<NodeIndex>>,
    /// It held more than 50 addresses to advertise: its PEERS was a sample.
    sampled: bool,
    /// The nodes its PEERS to the crawler named, read on the wire as it wrote them.
    sent: BTreeSet<NodeIndex>,
    /// Its pending inbound slots were full when the crawler dialed.
    refused_tcp: bool,
    /// The ERROR it dropped the crawler with, if it did.
    refused: Option<String>,
}

/// The crawl's state in the world.
#[derive(Debug)]
pub(super) struct CrawlRun {
    spec: CrawlSpec,
    crawler: Option<Box<Crawler>>,
    links: BTreeMap<u64, Link>,
    by_conn: BTreeMap<CrawlConn, u64>,
    next_sim: u64,
    next_port: u16,
    timer_at: Option<Timestamp>,
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
    /// Each node's incarnation when the crawl started, if it was running.
    at_start: Vec<Option<u32>>,
    seen: BTreeMap<NodeIndex, Seen>,
    /// The crawler's links' own counters (kept out of the network's).
    stats: LinkStats,
    outcome: Option<CrawlOutcome>,
}

impl CrawlRun {
    pub(super) fn new(spec: CrawlSpec) -> Self {
        CrawlRun {
            spec,
            crawler: None,
            links: BTreeMap::new(),
            by_conn: BTreeMap::new(),
            next_sim: 1,
            next_port: 32_768,
            timer_at: None,
            started: None,
            finished: None,
            at_start: Vec::new(),
            seen: BTreeMap::new(),
            stats: LinkStats::default(),
            outcome: None,
        }
    }
}

fn address_of(n: NodeIndex) -> PeerAddress {
    PeerAddress::new(ip_of(n).to_string(), LISTEN_PORT)
}

impl World {
    /// Schedule the crawl's start.
    pub(super) fn schedule_crawl(&mut self) -> Res {
        if let Some(run) = self.crawl.as_deref() {
            let at = self.load_start + Duration::from_millis(run.spec.start_ms);
            self.q.schedule_at(at, Event::Crawl(CrawlStep::Start))?;
        }
        Ok(())
    }

    /// The crawler's map, once the crawl started.
    pub fn crawl_map(&self) -> Option<CrawlReport> {
        self.crawl.as_deref().and_then(|r| r.crawler.as_deref()).map(Crawler::report)
    }

    /// The crawl scenario's part of the report.
    pub(super) fn crawl_outcome(&self) -> Option<CrawlOutcome> {
        let run = self.crawl.as_deref()?;
        Some(run.outcome.clone().unwrap_or_else(|| self.crawl_judge().0))
    }

    pub(super) fn crawl_step(&mut self, step: CrawlStep) -> Res {
        match step {
            CrawlStep::Start => self.crawl_start(),
            CrawlStep::Timer => {
                let now = self.q.now();
                let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
                if run.timer_at.is_none_or(|t| t > now) {
                    return Ok(());
                }
                run.timer_at = None;
                if let Some(c) = run.crawler.as_deref_mut() {
                    c.handle_timeout(now);
                }
                self.crawl_drain()
            }
            CrawlStep::Syn(sim) => self.crawl_syn(sim),
            CrawlStep::SynAck(sim) => self.crawl_syn_ack(sim),
            CrawlStep::ConnectFail { sim, refused } => {
                let now = self.q.now();
                let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
                let Some(link) = run.links.remove(&sim) else { return Ok(()) };
                run.by_conn.remove(&link.conn);
                if link.crawler_open {
                    let error =
                        if refused { DialError::Refused("connection refused".into()) } else { DialError::TimedOut };
                    if let Some(c) = run.crawler.as_deref_mut() {
                        c.handle_connect_failed(now, link.conn, error);
                    }
                }
                self.crawl_drain()
            }
            CrawlStep::ToNode { sim, bytes } => {
                let (now, unix) = (self.q.now(), self.unix());
                let Some((n, cid)) = self.crawl_node_end(sim) else { return Ok(()) };
                let take = self.take_connection_work;
                if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
                    live.feed(now, unix, cid, &bytes, take);
                }
                self.drain(n)
            }
            CrawlStep::ToCrawler { sim, bytes } => {
                let (now, unix) = (self.q.now(), self.unix());
                let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
                let Some(link) = run.links.get(&sim).filter(|l| l.crawler_open) else { return Ok(()) };
                let conn = link.conn;
                if let Some(c) = run.crawler.as_deref_mut() {
                    c.handle_bytes(now, unix, conn, &bytes);
                }
                self.crawl_drain()
            }
            CrawlStep::FinToNode(sim) => {
                let (now, unix) = (self.q.now(), self.unix());
                let Some((n, cid)) = self.crawl_node_end(sim) else { return Ok(()) };
                if let Some(live) = self.nodes[n as usize].live.as_deref_mut() {
                    live.node.handle_socket_closed(now, unix, cid, DropReason::RemoteClosed);
                }
                self.drain(n)
            }
            CrawlStep::FinToCrawler { sim, reset } => {
                let now = self.q.now();
                let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
                let Some(link) = run.links.get(&sim).filter(|l| l.crawler_open) else { return Ok(()) };
                let conn = link.conn;
                let reason =
                    if reset { DropReason::Io("connection reset by peer".into()) } else { DropReason::RemoteClosed };
                if let Some(c) = run.crawler.as_deref_mut() {
                    c.handle_socket_closed(now, conn, reason);
                }
                self.crawl_drain()
            }
        }
    }

    fn crawl_start(&mut self) -> Res {
        let now = self.q.now();
        let at_start: Vec<Option<u32>> =
            self.nodes.iter().map(|sn| sn.live.is_some().then_some(sn.incarnation)).collect();
        let seed = crate::rng::derive_seed(self.sc.seed, crate::rng::SeedDomain::Node, u64::MAX);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let spec = &run.spec;
        let hello = HelloParams {
            listening_port: LISTEN_PORT,
            version_str: "overlay-sim crawler".into(),
            ..HelloParams::default()
        };
        let auth =
            LocalAuth::new(NodeIdentity::from_seed(CRAWLER_SEED), StellarNetwork::Standalone.id(), [0xc8; 32], hello);
        let timeout = Duration::from_millis(spec.timeout_ms);
        let config = CrawlConfig {
            max_nodes: spec.max_nodes,
            max_in_flight: spec.max_in_flight,
            host_interval: Duration::from_millis(spec.host_interval_ms),
            connect_timeout: timeout,
            handshake_timeout: timeout,
            peers_wait: timeout,
            deadline: Some(Duration::from_millis(spec.deadline_ms)),
            ..CrawlConfig::default()
        };
        let seeds: Vec<PeerAddress> = spec.seeds.iter().map(|&s| address_of(s)).collect();
        run.crawler = Some(Box::new(Crawler::new(config, auth, seeds, seed, now)));
        run.started = Some(now);
        run.at_start = at_start;
        self.crawl_drain()
    }

    /// Carry out the crawler's outputs, arm its timer, and judge the crawl when it ends.
    fn crawl_drain(&mut self) -> Res {
        while let Some(out) =
            self.crawl.as_deref_mut().and_then(|r| r.crawler.as_deref_mut()).and_then(|c| c.poll_output())
        {
            match out {
                Output::Connect { conn, address } => self.crawl_connect(conn, &address)?,
                Output::Transmit { conn, bytes } => {
                    let sim = self.crawl.as_deref().and_then(|r| r.by_conn.get(&conn).copied());
                    if let Some(sim) = sim {
                        self.crawl_write(sim, 0, bytes)?;
                    }
                }
                Output::Close { conn } => self.crawl_crawler_closes(conn)?,
            }
        }
        let now = self.q.now();
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let Some(c) = run.crawler.as_deref_mut() else { return Ok(()) };
        while c.poll_event().is_some() {}
        let t = c.poll_timeout();
        let done = c.is_done();
        if t != run.timer_at {
            run.timer_at = t;
            if let Some(t) = t {
                self.q.schedule_at(t, Event::Crawl(CrawlStep::Timer))?;
            }
        }
        let run = self.crawl.as_deref_mut().expect("checked above");
        if done && run.finished.is_none() {
            run.finished = Some(now);
            let (outcome, violation) = self.crawl_judge();
            if let Some(run) = self.crawl.as_deref_mut() {
                run.outcome = Some(outcome);
            }
            if let Some(v) = violation {
                return Err(self.fail(v));
            }
        }
        Ok(())
    }

    /// The crawler's profile towards node `n`: the network's, without resets or stream
    /// damage (see [`crate::crawl`]).
    fn crawl_profile(&self, n: Option<NodeIndex>) -> LinkProfile {
        let p = self.net.profile(CRAWLER, n.unwrap_or(CRAWLER));
        LinkProfile { reset_prob: 0.0, duplicate_prob: 0.0, reorder_prob: 0.0, corrupt_prob: 0.0, ..p }
    }

    fn crawl_connect(&mut self, conn: CrawlConn, address: &PeerAddress) -> Res {
        let target = match address.ip() {
            Some(IpAddr::V4(ip)) if address.port == LISTEN_PORT => self.by_ip.get(&ip).copied(),
            _ => None,
        };
        let latency = Duration::from_millis(self.crawl_profile(target).latency_ms);
        let live = target.is_some_and(|t| self.nodes[t as usize].live.is_some());
        let connect_timeout = Duration::from_millis(self.sc.connect_timeout_ms);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let sim = CRAWL_BIT | run.next_sim;
        run.next_sim += 1;
        let link = Link {
            conn,
            node: target,
            incarnation: 0,
            node_conn: None,
            pipes: [Pipe::default(), Pipe::default()],
            crawler_open: true,
            node_open: false,
            tcp_up: false,
        };
        run.links.insert(sim, link);
        run.by_conn.insert(conn, sim);
        let step = match target {
            // An address nobody has: the dial times out, as the world's own do.
            None => {
                return self
                    .q
                    .schedule_in(connect_timeout, Event::Crawl(CrawlStep::ConnectFail { sim, refused: false }));
            }
            Some(_) if !live => CrawlStep::ConnectFail { sim, refused: true },
            Some(_) => CrawlStep::Syn(sim),
        };
        let delay = if matches!(step, CrawlStep::Syn(_)) { latency } else { latency * 2 };
        self.q.schedule_in(delay, Event::Crawl(step))
    }

    fn crawl_syn(&mut self, sim: u64) -> Res {
        let (now, unix) = (self.q.now(), self.unix());
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let Some(link) = run.links.get(&sim) else { return Ok(()) };
        if !link.crawler_open {
            run.links.remove(&sim);
            return Ok(());
        }
        let n = link.node.expect("a SYN goes to a node");
        let latency = Duration::from_millis(self.crawl_profile(Some(n)).latency_ms);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let sn = &mut self.nodes[n as usize];
        let Some(live) = sn.live.as_deref_mut() else {
            return self.q.schedule_in(latency, Event::Crawl(CrawlStep::ConnectFail { sim, refused: true }));
        };
        run.next_port = if run.next_port >= 60_999 { 32_768 } else { run.next_port + 1 };
        let remote = PeerAddress::new(CRAWLER_IP.to_string(), run.next_port);
        let link = run.links.get_mut(&sim).expect("present");
        link.incarnation = sn.incarnation;
        link.tcp_up = true;
        match live.node.handle_inbound(now, unix, remote) {
            Some(cid) => {
                link.node_conn = Some(cid);
                link.node_open = true;
                live.conns.insert(cid, sim);
                self.q.schedule_in(latency, Event::Crawl(CrawlStep::SynAck(sim)))?;
            }
            None => {
                // Accepted by the kernel, closed at once by the node (§11.2).
                run.seen.entry(n).or_default().refused_tcp = true;
                self.q.schedule_in(latency, Event::Crawl(CrawlStep::SynAck(sim)))?;
                self.q.schedule_in(latency, Event::Crawl(CrawlStep::FinToCrawler { sim, reset: false }))?;
            }
        }
        self.drain(n)
    }

    fn crawl_syn_ack(&mut self, sim: u64) -> Res {
        let (now, unix) = (self.q.now(), self.unix());
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let Some(link) = run.links.get(&sim) else { return Ok(()) };
        if !link.crawler_open {
            // The crawler gave up meanwhile: the node sees its connection end.
            if link.node_open {
                self.q.schedule_in(Duration::ZERO, Event::Crawl(CrawlStep::FinToNode(sim)))?;
            }
            return Ok(());
        }
        let conn = link.conn;
        if let Some(c) = run.crawler.as_deref_mut() {
            c.handle_connected(now, unix, conn, Some(IpAddr::V4(CRAWLER_IP)));
        }
        self.crawl_drain()
    }

    /// Put bytes written by `side` (0 the crawler, 1 the node) on the crawler's link.
    fn crawl_write(&mut self, sim: u64, side: usize, bytes: Vec<u8>) -> Res {
        let now = self.q.now();
        let Some(node) = self.crawl.as_deref().and_then(|r| r.links.get(&sim)).map(|l| l.node) else { return Ok(()) };
        let profile = self.crawl_profile(node);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let link = run.links.get_mut(&sim).expect("present");
        match link.pipes[side].carry(now, bytes, &profile, false, &mut self.rng, &mut run.stats) {
            Carried::Deliver { at, bytes } => {
                let step =
                    if side == 0 { CrawlStep::ToNode { sim, bytes } } else { CrawlStep::ToCrawler { sim, bytes } };
                self.q.schedule_at(at, Event::Crawl(step))
            }
            // Not with the crawler's profile: no resets, no reordering, never blocked.
            Carried::Held | Carried::Reset | Carried::Nothing => Ok(()),
        }
    }

    /// The crawler closed its end.
    fn crawl_crawler_closes(&mut self, conn: CrawlConn) -> Res {
        let now = self.q.now();
        let Some(sim) = self.crawl.as_deref_mut().and_then(|r| r.by_conn.remove(&conn)) else { return Ok(()) };
        let node = self.crawl.as_deref().and_then(|r| r.links.get(&sim)).and_then(|l| l.node);
        let profile = self.crawl_profile(node);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let Some(link) = run.links.get_mut(&sim) else { return Ok(()) };
        link.crawler_open = false;
        if link.tcp_up && link.node_open {
            if let Some(at) = link.pipes[0].fin(now, &profile, false) {
                self.q.schedule_at(at, Event::Crawl(CrawlStep::FinToNode(sim)))?;
            }
        } else if link.tcp_up {
            run.links.remove(&sim);
        }
        Ok(())
    }

    /// The node end of a crawler connection, if it is still the same running node's.
    fn crawl_node_end(&self, sim: u64) -> Option<(NodeIndex, ConnId)> {
        let link = self.crawl.as_deref()?.links.get(&sim)?;
        let n = link.node?;
        let sn = &self.nodes[n as usize];
        (link.node_open && sn.incarnation == link.incarnation && sn.live.is_some()).then_some((n, link.node_conn?))
    }

    // ---- the node side, from tcp.rs ------------------------------------------------------

    /// Node `n` writes on a crawler connection.
    pub(super) fn crawl_node_transmit(&mut self, n: NodeIndex, sim: u64, conn: ConnId, bytes: Vec<u8>) -> Res {
        let open = self.crawl.as_deref().and_then(|r| r.links.get(&sim)).is_some_and(|l| l.node_open && l.tcp_up);
        if !open {
            return Err(self.fail(Violation::TransmitAfterClose { node: n, conn_id: conn.0 }));
        }
        let mut named = BTreeSet::new();
        for f in crate::tap::frames(&bytes).filter(|f| f.message_type == Some(MessageType::Peers)) {
            let Ok(StellarMessage::Peers(list)) = overlay_proto::wire::decode_message(f.message_xdr) else { continue };
            for a in list.iter().filter_map(|e| PeerAddress::from_xdr(e).ok()) {
                if let (Some(IpAddr::V4(ip)), LISTEN_PORT) = (a.ip(), a.port) {
                    named.extend(self.by_ip.get(&ip).copied());
                }
            }
        }
        if let (false, Some(run)) = (named.is_empty(), self.crawl.as_deref_mut()) {
            run.seen.entry(n).or_default().sent.extend(named);
        }
        self.crawl_write(sim, 1, bytes)
    }

    /// Node end of `sim` closed (the node closed it, or died: `reset`).
    pub(super) fn crawl_node_closed(&mut self, sim: u64, reset: bool) -> Res {
        let now = self.q.now();
        let node = self.crawl.as_deref().and_then(|r| r.links.get(&sim)).and_then(|l| l.node);
        let profile = self.crawl_profile(node);
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let Some(link) = run.links.get_mut(&sim) else { return Ok(()) };
        if !link.node_open {
            return Ok(());
        }
        link.node_open = false;
        if !link.crawler_open {
            run.links.remove(&sim);
            return Ok(());
        }
        if let Some(at) = link.pipes[1].fin(now, &profile, false) {
            self.q.schedule_at(at, Event::Crawl(CrawlStep::FinToCrawler { sim, reset }))?;
        }
        Ok(())
    }

    /// Node `n` admitted the crawler: what it could advertise now is what its PEERS holds.
    pub(super) fn crawl_node_admitted(&mut self, n: NodeIndex) -> Res {
        let Some(live) = self.nodes[n as usize].live.as_deref() else { return Ok(()) };
        let crawler = PeerAddress::new(CRAWLER_IP.to_string(), LISTEN_PORT);
        let mut advertisable = 0usize;
        let mut nodes = BTreeSet::new();
        for r in live.node.store().records() {
            if r.num_failures > MAX_FAILURES || r.address == crawler {
                continue;
            }
            advertisable += 1;
            if let Some(IpAddr::V4(ip)) = r.address.ip() {
                if r.address.port == LISTEN_PORT {
                    nodes.extend(self.by_ip.get(&ip).copied());
                }
            }
        }
        let Some(run) = self.crawl.as_deref_mut() else { return Ok(()) };
        let seen = run.seen.entry(n).or_default();
        seen.sampled |= advertisable > MAX_PEERS_TO_SEND;
        seen.advertised.get_or_insert_with(BTreeSet::new).extend(nodes);
        Ok(())
    }

    /// Node `n` reported the crawler gone. The crawler's links carry no damage, so a drop
    /// for a protocol error is the crawler's fault.
    pub(super) fn crawl_node_disconnected(&mut self, n: NodeIndex, reason: DropReason) -> Res {
        if super::checks::blames_peer(&reason) {
            return Err(self.fail(Violation::CrawlerBlamed { node: n, reason: reason.text().into_owned() }));
        }
        if let (Some(run), Some(_)) = (self.crawl.as_deref_mut(), reason.error_to_send()) {
            run.seen.entry(n).or_default().refused = Some(reason.text().into_owned());
        }
        Ok(())
    }

    // ---- the judgement -------------------------------------------------------------------

    /// The outcome, and the violation if a reachable node that stayed up was not found.
    fn crawl_judge(&self) -> (CrawlOutcome, Option<Violation>) {
        let run = self.crawl.as_deref().expect("a crawl runs");
        let now = self.q.now();
        let map = run.crawler.as_deref().map(Crawler::report);
        let ids: BTreeMap<NodeId, NodeIndex> = (0..self.nodes.len() as NodeIndex).map(|i| (node_id(i), i)).collect();
        let found: BTreeSet<NodeIndex> =
            map.iter().flat_map(|m| m.nodes.iter()).filter_map(|n| ids.get(&n.node_id).copied()).collect();
        // Reachable: the seeds, then what each reachable node that admitted the crawler
        // could advertise (unless it had more than PEERS carries), and what its PEERS named.
        let mut reachable = BTreeSet::new();
        let mut queue: VecDeque<NodeIndex> = run.spec.seeds.iter().copied().collect();
        while let Some(x) = queue.pop_front() {
            if !reachable.insert(x) {
                continue;
            }
            if let Some(s) = run.seen.get(&x) {
                if !s.sampled {
                    queue.extend(s.advertised.iter().flatten().copied());
                }
                queue.extend(s.sent.iter().copied());
            }
        }
        let failure_at = |a: &PeerAddress| {
            map.as_ref()
                .and_then(|m| m.failures.iter().rev().find(|f| &f.address == a))
                .map(|f| (f.kind, f.reason.clone()))
        };
        let mut missed = Vec::new();
        let mut violation = None;
        for i in 0..self.nodes.len() as NodeIndex {
            if found.contains(&i) {
                continue;
            }
            let sn = &self.nodes[i as usize];
            let start = run.at_start.get(i as usize).copied().flatten();
            let seen = run.seen.get(&i).cloned().unwrap_or_default();
            let is_reachable = reachable.contains(&i);
            let (why, exempt) = if start.is_none() && sn.live.is_none() {
                ("not running during the crawl".to_string(), true)
            } else if start.is_none() {
                ("started during the crawl".to_string(), true)
            } else if sn.live.is_none() {
                ("stopped during the crawl".to_string(), true)
            } else if start != Some(sn.incarnation) {
                ("restarted during the crawl".to_string(), true)
            } else if seen.refused_tcp {
                ("refused the crawler's TCP connection (no pending inbound slot)".to_string(), true)
            } else if is_reachable {
                match failure_at(&address_of(i)) {
                    Some((FailureKind::NotDialed, reason)) => (format!("not dialed: {reason}"), true),
                    Some((kind, reason)) => (format!("dialed, {}: {reason}", kind.name()), false),
                    None => ("advertised to the crawler, never dialed".to_string(), false),
                }
            } else {
                (self.crawl_unreachable_why(run, i), true)
            };
            if !exempt && violation.is_none() {
                violation = Some(Violation::CrawlMissed { node: i, why: why.clone() });
            }
            missed.push(Missed { node: i, why, reachable: is_reachable });
        }
        let mut failures = BTreeMap::new();
        for f in map.iter().flat_map(|m| m.failures.iter()) {
            *failures.entry(f.kind.name()).or_insert(0) += 1;
        }
        let started = run.started.unwrap_or(now);
        let outcome = CrawlOutcome {
            seeds: run.spec.seeds.clone(),
            started_at_ms: started.saturating_duration_since(super::START).as_millis() as u64,
            finished: run.finished.is_some(),
            elapsed_ms: run.finished.unwrap_or(now).saturating_duration_since(started).as_millis() as u64,
            nodes: self.nodes.len(),
            found: found.len(),
            reachable: reachable.len(),
            admitted: run.seen.values().filter(|s| s.advertised.is_some()).count(),
            sampled: run.seen.values().filter(|s| s.sampled).count(),
            crawl: map.as_ref().map(|m| m.totals).unwrap_or_default(),
            failures,
            missed,
        };
        (outcome, violation)
    }

    /// Why node `i` is not reachable: who holds its address now, and what they did with
    /// the crawler.
    fn crawl_unreachable_why(&self, run: &CrawlRun, i: NodeIndex) -> String {
        let address = address_of(i);
        let holders: Vec<NodeIndex> = (0..self.nodes.len() as NodeIndex)
            .filter(|&x| x != i)
            .filter(|&x| {
                self.nodes[x as usize].live.as_deref().is_some_and(|l| {
                    l.node.store().records().any(|r| r.address == address && r.num_failures <= MAX_FAILURES)
                })
            })
            .collect();
        if holders.is_empty() {
            return "in no running node's peer database".into();
        }
        let admitted: Vec<&NodeIndex> =
            holders.iter().filter(|x| run.seen.get(x).is_some_and(|s| s.advertised.is_some())).collect();
        if admitted.is_empty() {
            let why: Vec<String> = holders
                .iter()
                .take(5)
                .map(|x| match run.seen.get(x).and_then(|s| s.refused.clone()) {
                    Some(r) => format!("{x}: {r}"),
                    None => format!("{x}: not crawled"),
                })
                .collect();
            return format!("known only to nodes that did not admit the crawler ({})", why.join(", "));
        }
        let list: Vec<String> = admitted.iter().take(5).map(|x| x.to_string()).collect();
        format!(
            "not advertised to the crawler (nodes {} learned it after their visit, or sent a sample)",
            list.join(", ")
        )
    }
}
