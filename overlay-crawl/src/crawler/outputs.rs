//! What the driver polls: outputs, events, the next timer, and the [`CrawlReport`].

use super::{CrawlEvent, Crawler, Output};
use crate::frontier::Source;
use crate::results::{AddressReport, AddressStatus, CrawlReport, Edge, FailureKind, NodeReport, Totals};
use overlay_proto::{PeerAddress, Timestamp};

impl Crawler {
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
}
