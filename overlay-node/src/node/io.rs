//! The node's inputs from its driver: start, connections opened and failed, bytes or opened
//! messages read, sockets closed, writability and timers. Each advances the clock, hands the
//! input to the connection or to the node-wide state, and flushes.

use super::conn::Conn;
use super::{ConnId, Node};
use crate::discovery::{JournalStore, PeerManager};
use crate::peer::{DropReason, Opened, PeerReader, PeerWriter};
use overlay_auth::{PeerPolicy, Role};
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use std::collections::BTreeMap;

impl Node {
    /// Start: store the configured peers, purge dead records, schedule the first tick.
    pub fn start(&mut self, now: Timestamp, now_unix: u64) {
        self.advance(now, now_unix);
        self.store_config_peers(true);
        if !self.config.run_standalone {
            self.next_tick = Some(now + self.config.first_tick_delay);
        }
        self.flush();
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

    /// The TCP connection of an [`Output::Connect`](super::Output::Connect) is up: the handshake starts (HELLO).
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

    /// The TCP connection of an [`Output::Connect`](super::Output::Connect) failed.
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

    /// Take the receive half of `conn` out of the node, to run framing, the MAC check,
    /// decoding and hashing on the connection's own thread or task (see [`PeerReader`]).
    /// Offered once the peer is admitted: a driver asks after each read until it gets it,
    /// reads nothing more from the socket meanwhile, and from then on calls
    /// [`handle_read`](Self::handle_read) instead of [`handle_bytes`](Self::handle_bytes). A
    /// driver that never asks loses nothing.
    pub fn take_reader(&mut self, conn: ConnId) -> Option<PeerReader> {
        self.conns.get_mut(&conn)?.peer.as_mut()?.take_reader()
    }

    /// Take the send half of `conn`'s MAC channel out of the node, to seal on the
    /// connection's own thread or task (see [`PeerWriter`]). Offered once the peer is admitted
    /// and every frame sealed so far was handed out: a driver asks after draining the
    /// outputs, and until it gets the writer nothing changes. From then on every
    /// [`Output::Transmit`](super::Output::Transmit) for `conn` holds unsealed frames, which
    /// the driver passes through [`PeerWriter::seal`], in order, before writing them.
    pub fn take_writer(&mut self, conn: ConnId) -> Option<PeerWriter> {
        let queued = self.outputs.iter().any(|o| matches!(o, super::Output::Transmit { conn: c, .. } if *c == conn));
        if queued {
            return None;
        }
        self.conns.get_mut(&conn)?.peer.as_mut()?.take_writer()
    }

    /// What the [`PeerReader`] of `conn` read: the messages it opened, in order, and then
    /// whether it found a reason to drop the connection (a bad frame, XDR or MAC), as
    /// [`PeerReader::read`] returns them. Handled as bytes read by the peer itself are: a
    /// failure closes the peer (with the ERROR it calls for) before the node acts on the
    /// messages before it, so none of them is answered on the dying connection.
    pub fn handle_read(
        &mut self,
        now: Timestamp,
        now_unix: u64,
        conn: ConnId,
        opened: impl IntoIterator<Item = Opened>,
        result: Result<(), DropReason>,
    ) {
        self.advance(now, now_unix);
        let Some(peer) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) else {
            return;
        };
        for o in opened {
            peer.handle_opened(self.now, o);
        }
        if let Err(reason) = result {
            peer.close(self.now, reason);
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

    /// Timers: peers' timeouts, the tick loop, pull-mode and fetcher timers, verdicts that
    /// did not come.
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
        self.expire_verdicts();
        self.survey_timers();
        self.flush();
    }
}

/// The handshake's view of the node: bans and the NodeIDs of the other connections.
struct Policy<'a> {
    discovery: &'a PeerManager<JournalStore>,
    authenticated: &'a BTreeMap<NodeId, ConnId>,
    conns: &'a BTreeMap<ConnId, Conn>,
}

impl PeerPolicy for Policy<'_> {
    /// The in-memory view answers; it cannot fail on a read.
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
