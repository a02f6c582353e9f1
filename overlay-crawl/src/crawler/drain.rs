//! Draining the touched connections: their peers' events and writes, what the HELLO and PEERS
//! they received teach, and the end of a visit.

use super::visit::{End, Stage, judge};
use super::{ConnId, CrawlEvent, Crawler, Output};
use crate::frontier::Source;
use crate::results::{AddressStatus, Failure, FailureKind, NodeReport, StopReason};
use overlay_auth::HelloFacts;
use overlay_node::{DropReason, PeerEvent};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{NodeId, PeerAddress};

impl Crawler {
    /// Drain the touched connections, end the visits that are over, dial what there is
    /// room for, and see whether the crawl is done.
    pub(super) fn flush(&mut self) {
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
}
