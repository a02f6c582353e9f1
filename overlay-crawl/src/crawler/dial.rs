//! Dialing: whether there is room, the next dials from the frontier, and stopping the crawl.

use super::visit::{End, Stage, Visit};
use super::{ConnId, Crawler, Output};
use crate::results::{AddressStatus, Failure, FailureKind, StopReason};
use overlay_proto::PeerAddress;

impl Crawler {
    pub(super) fn can_dial(&self) -> bool {
        self.stopped.is_none() && self.visits.len() < self.config.max_in_flight && self.dialed < self.config.max_nodes
    }

    pub(super) fn dial_more(&mut self) {
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
    pub(super) fn stop(&mut self, reason: StopReason) {
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

    pub(super) fn give_up_queue(&mut self, reason: StopReason) {
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
