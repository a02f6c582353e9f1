//! The driver's inputs: a dial that connected or failed, bytes, a closed socket, timers.

#[cfg(doc)]
use super::Output;
use super::visit::{End, Stage};
use super::{ConnId, Crawler};
use crate::config::REMEMBERED_SLOTS;
use crate::frontier::Source;
use crate::results::{AddressStatus, DialError, StopReason};
use overlay_auth::OpenPolicy;
use overlay_node::{DropReason, Peer};
use overlay_proto::{Host, PeerAddress, Timestamp};
use rand_chacha::rand_core::Rng;
use std::net::IpAddr;

impl Crawler {
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

    fn advance(&mut self, now: Timestamp, now_unix: u64) {
        self.now = self.now.max(now);
        self.now_unix = self.now_unix.max(now_unix);
    }
}
