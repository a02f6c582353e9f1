//! TCP emulation: connections between nodes, each direction a [`Pipe`] over the network's
//! link profile. Dials, accepts and refusals, writes with back-pressure, ends of stream and
//! resets; what the nodes ask for is carried out here and what happens is fed back.
//!
//! A connection's two sides are its dialer (side 0) and its acceptor (side 1); `pipes[s]`
//! carries what side `s` writes.

use super::{Event, LISTEN_PORT, Res, World};
use crate::fault::Resealer;
use crate::invariants::Violation;
use crate::link::{Carried, Pipe};
use crate::network::NodeIndex;
use crate::tap::RecentIds;
use core::time::Duration;
use overlay_node::{ConnId, DropReason};
use overlay_proto::PeerAddress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndState {
    Open,
    /// The node reported the peer gone; it may still flush what it had sealed.
    Disconnected,
    /// The node closed the socket (or died).
    Closed,
}

#[derive(Debug, Clone)]
pub(super) struct End {
    pub node: NodeIndex,
    pub incarnation: u32,
    pub conn: Option<ConnId>,
    pub state: EndState,
    pub tcp_up: bool,
    pub writable: bool,
    pub authenticated: bool,
}

impl End {
    pub(super) fn new(node: NodeIndex, incarnation: u32, conn: Option<ConnId>) -> End {
        End { node, incarnation, conn, state: EndState::Open, tcp_up: false, writable: true, authenticated: false }
    }
}

/// One TCP connection between two nodes.
pub(super) struct Connection {
    pub ends: [End; 2],
    pub pipes: [Pipe; 2],
    pub reset: bool,
    /// A stream fault (corruption, duplication, reordering) or a misbehaving node touched
    /// the bytes: protocol errors on it are expected.
    pub damaged: bool,
    /// Authenticated on both ends (counted as established, and as dropped when it ends).
    pub counted: bool,
    /// The link corrupted a record mark (see [`World::desynchronised`]): the connection no
    /// longer links its nodes in the graph, whatever they think of it.
    pub desynced: bool,
    /// Flood messages and their XDR bytes written by each side.
    pub flood_sent: [(u64, u64); 2],
    /// Grants (messages, bytes) written by each side, cumulative.
    pub grants_written: [(u64, u64); 2],
    /// Grants written by each side that reached the other side, cumulative.
    pub grants_delivered: [(u64, u64); 2],
    /// Transactions delivered to each side.
    pub recent_rx: [Option<Box<RecentIds>>; 2],
    pub reseal: [Option<Box<Resealer>>; 2],
    pub overrun_done: [bool; 2],
    pub punish_scheduled: [bool; 2],
    pub fin_reset: [bool; 2],
}

impl Connection {
    pub(super) fn side_of(&self, node: NodeIndex, conn: ConnId) -> Option<usize> {
        (0..2).find(|&s| self.ends[s].node == node && self.ends[s].conn == Some(conn))
    }
}

impl World {
    pub(super) fn on_connect(&mut self, n: NodeIndex, conn: ConnId, address: &PeerAddress) -> Res {
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

    pub(super) fn on_syn(&mut self, sim: u64) -> Res {
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

    pub(super) fn on_syn_ack(&mut self, sim: u64) -> Res {
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

    pub(super) fn on_connect_fail(&mut self, sim: u64, why: &'static str) -> Res {
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
    pub(super) fn maybe_remove(&mut self, sim: u64) {
        if let Some(c) = self.conns.get(&sim) {
            let gone = |e: &End| e.state == EndState::Closed || e.conn.is_none();
            if gone(&c.ends[0]) && gone(&c.ends[1]) {
                self.conns.remove(&sim);
            }
        }
    }

    pub(super) fn on_transmit(&mut self, n: NodeIndex, conn: ConnId, mut bytes: Vec<u8>) -> Res {
        let Some(sim) = self.nodes[n as usize].live.as_deref().and_then(|l| l.conns.get(&conn).copied()) else {
            return Err(self.fail(Violation::TransmitAfterClose { node: n, conn_id: conn.0 }));
        };
        let live = self.nodes[n as usize].live.as_deref_mut().expect("checked above");
        if let Some(w) = live.halves.get_mut(&conn).and_then(|h| h.writer.as_mut()) {
            if w.seal(&mut bytes).is_err() {
                return Err(self.fail(Violation::UnsealableTransmit { node: n, conn_id: conn.0 }));
            }
        }
        if super::crawl::is_crawl(sim) {
            return self.crawl_node_transmit(n, sim, conn, bytes);
        }
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
        let bytes = self.misbehave_outgoing(n, sim, side, bytes);
        self.write(sim, side, bytes)
    }

    /// Put bytes written by `side` on the wire: the tap's checks, then the link.
    pub(super) fn write(&mut self, sim: u64, side: usize, bytes: Vec<u8>) -> Res {
        let now = self.q.now();
        self.tap_write(sim, side, &bytes)?;
        let c = self.conns.get_mut(&sim).expect("present");
        let (w, r) = (c.ends[side].node, c.ends[1 - side].node);
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

    pub(super) fn connection_ended(&mut self, sim: u64) {
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
    pub(super) fn desynchronised(&mut self, sim: u64) {
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

    pub(super) fn on_writable(&mut self, sim: u64, side: usize) -> Res {
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
    pub(super) fn reset_connection(&mut self, sim: u64) -> Res {
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

    pub(super) fn on_close(&mut self, n: NodeIndex, conn: ConnId) -> Res {
        let now = self.q.now();
        let Some(sim) = self.nodes[n as usize].live.as_deref_mut().and_then(|l| {
            l.halves.remove(&conn);
            l.conns.remove(&conn)
        }) else {
            return Ok(());
        };
        if super::crawl::is_crawl(sim) {
            return self.crawl_node_closed(sim, false);
        }
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

    pub(super) fn on_deliver(&mut self, sim: u64, to: usize, credit: (u64, u64), bytes: Vec<u8>) -> Res {
        let now = self.q.now();
        let unix = self.unix();
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        if c.reset || c.ends[to].state != EndState::Open {
            return Ok(());
        }
        let (r, incarnation, conn) = (c.ends[to].node, c.ends[to].incarnation, c.ends[to].conn);
        let Some(conn) = conn else { return Ok(()) };
        let sn = &self.nodes[r as usize];
        if sn.incarnation != incarnation || sn.live.is_none() {
            return Ok(());
        }
        let g = &mut c.grants_delivered[1 - to];
        g.0 = g.0.max(credit.0);
        g.1 = g.1.max(credit.1);
        self.tap_read(sim, to, &bytes);
        let echoes = self.misbehave_incoming(sim, to, &bytes);
        let take = self.take_connection_work;
        let Some(live) = self.nodes[r as usize].live.as_deref_mut() else { return Ok(()) };
        live.feed(now, unix, conn, &bytes, take);
        self.drain(r)?;
        self.echo(sim, to, echoes)
    }

    pub(super) fn on_fin(&mut self, sim: u64, to: usize, reset: bool) -> Res {
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

    /// A connection end's node admitted its peer: once both ends have, the pair is linked.
    pub(super) fn on_authenticated(&mut self, n: NodeIndex, conn: ConnId) -> Res {
        let now = self.q.now();
        let Some(sim) = self.sim_of(n, conn) else { return Ok(()) };
        if super::crawl::is_crawl(sim) {
            return self.crawl_node_admitted(n);
        }
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
        Ok(())
    }

    /// A connection end's node reported its peer gone. Over a clean connection, an honest
    /// peer must not be blamed for a protocol error.
    pub(super) fn on_disconnected(&mut self, n: NodeIndex, conn: ConnId, reason: DropReason) -> Res {
        *self.stats.drop_reasons.entry(super::report_input::reason_name(&reason)).or_insert(0) += 1;
        let Some(sim) = self.sim_of(n, conn) else { return Ok(()) };
        if super::crawl::is_crawl(sim) {
            return self.crawl_node_disconnected(n, reason);
        }
        let c = self.conns.get_mut(&sim).expect("present");
        let Some(side) = c.side_of(n, conn) else { return Ok(()) };
        let peer = c.ends[1 - side].node;
        if super::checks::blames_peer(&reason) && !c.damaged && self.nodes[peer as usize].misbehaviour.is_none() {
            let reason = reason.text().into_owned();
            return Err(self.fail(Violation::HonestPeerBlamed { node: n, peer, reason }));
        }
        let c = self.conns.get_mut(&sim).expect("present");
        if c.ends[side].state == EndState::Open {
            c.ends[side].state = EndState::Disconnected;
        }
        c.ends[side].authenticated = false;
        self.connection_ended(sim);
        Ok(())
    }

    pub(super) fn sim_of(&self, n: NodeIndex, conn: ConnId) -> Option<u64> {
        self.nodes[n as usize].live.as_deref().and_then(|l| l.conns.get(&conn).copied())
    }

    /// The end of `sim` on node `n` is gone without the node closing it (the node died):
    /// the other side sees a reset.
    pub(super) fn end_dies(&mut self, sim: u64, n: NodeIndex, reset: bool) -> Res {
        if super::crawl::is_crawl(sim) {
            return self.crawl_node_closed(sim, reset);
        }
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
}
