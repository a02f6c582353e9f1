//! What a running overlay reports, built from the node's public getters: the peers of
//! stellar-core's `peers` command, its `info`, the measurement snapshot exporters publish,
//! and the time the node took per message type. Both drivers answer their managers'
//! queries with these, so the admin endpoint reads the same with either.

use crate::events::{FlowInfo, NodeInfo, OverlaySnapshot, PeerInfo, PeersReport, PendingPeer};
use overlay_node::metrics::Histogram;
use overlay_node::{ConnId, Node};
use overlay_proto::xdr::MessageType;
use overlay_proto::{PeerAddress, Timestamp};
use std::time::{Duration, Instant};

/// The authenticated peers at `now`, with their counters and flow-control state.
pub fn peer_infos(node: &Node, now: Timestamp) -> Vec<PeerInfo> {
    node.authenticated_peers()
        .filter_map(|(id, conn)| {
            let p = node.peer(conn)?;
            let remote = p.remote()?;
            let s = p.stats();
            let f = p.flow_stats();
            let queued = |m: fn(&overlay_flow::QueueStats) -> u64| f.queues.iter().map(m).sum::<u64>();
            Some(PeerInfo {
                peer_id: id,
                address: p.address().clone(),
                direction: p.role(),
                version_string: remote.version_str.clone(),
                overlay_version: remote.overlay_version,
                overlay_min_version: remote.overlay_min_version,
                ledger_version: remote.ledger_version,
                messages_read: s.messages_read,
                messages_written: s.messages_written,
                bytes_read: s.bytes_read,
                bytes_written: s.bytes_written,
                latency_ms: s.latency_ms,
                elapsed_secs: s.authenticated_at.map_or(0, |a| (now - a).as_secs()),
                flow: FlowInfo {
                    local_flood_msgs: f.local.flood_available_msgs,
                    local_reading_msgs: f.local.total_available_msgs,
                    local_flood_bytes: f.local.flood_available_bytes,
                    peer_msgs: f.outbound.capacity_msgs,
                    peer_bytes: f.outbound.capacity_bytes,
                    queued_msgs: queued(|q| q.len_msgs as u64),
                    queued_bytes: queued(|q| q.bytes),
                },
            })
        })
        .collect()
}

/// Every connection, pending and authenticated (stellar-core's `peers` command).
pub fn peers_report(node: &Node, now: Timestamp) -> PeersReport {
    let pending = node
        .connections()
        .filter(|(id, _, p)| !node.authenticated_peers().any(|(_, c)| c == *id) && p.is_none_or(|p| !p.is_closed()))
        .map(|(_, role, p)| PendingPeer {
            address: p.map(|p| p.address().clone()).unwrap_or_else(|| PeerAddress::new("0.0.0.0", 1)),
            direction: role,
        })
        .collect();
    PeersReport { authenticated: peer_infos(node, now), pending }
}

/// The overlay part of stellar-core's `info` command.
pub fn node_info(node: &Node, started_unix: u64, shutting_down: bool) -> NodeInfo {
    let (pi, po, ai, ao) = node.connection_counts();
    let hello = node.hello();
    NodeInfo {
        node_id: node.node_id(),
        version_str: hello.version_str.clone(),
        overlay_versions: (hello.overlay_min_version, hello.overlay_version),
        ledger: *node.ledger(),
        authenticated_count: ai + ao,
        pending_count: pi + po,
        started_unix,
        shutting_down,
    }
}

/// Time the node took to process what it read, per message type code: each read's time is
/// shared evenly among the messages it carried (the node handles a read as a whole).
#[derive(Debug, Clone, Default)]
pub struct ProcessingTimes {
    by_type: [Histogram; 32],
}

impl ProcessingTimes {
    /// Hand a read to the node (`Node::handle_bytes`) and record the time it took.
    pub fn handle_bytes(&mut self, node: &mut Node, t: Timestamp, unix: u64, conn: ConnId, bytes: &[u8]) {
        self.measure(node, conn, |n| n.handle_bytes(t, unix, conn, bytes));
    }

    /// Run `f`, which hands the node what was read on `conn` (bytes or opened messages), and
    /// record the time it took per message read.
    pub fn measure(&mut self, node: &mut Node, conn: ConnId, f: impl FnOnce(&mut Node)) {
        let before = node.peer(conn).map(|p| *p.traffic());
        let start = Instant::now();
        f(node);
        let elapsed = start.elapsed();
        let (Some(before), Some(after)) = (before, node.peer(conn).map(|p| *p.traffic())) else { return };
        let read: Vec<(MessageType, u64)> =
            after.read().into_iter().map(|(ty, m, _)| (ty, m - before.read_of(ty))).filter(|(_, n)| *n > 0).collect();
        let total: u64 = read.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return;
        }
        let each = elapsed / u32::try_from(total).unwrap_or(u32::MAX);
        for (ty, n) in read {
            if let Some(h) = self.by_type.get_mut(ty as usize) {
                h.observe_n(each, n);
            }
        }
    }

    /// The message types seen, with their histograms.
    pub fn export(&self) -> Vec<(MessageType, Histogram)> {
        MessageType::VARIANTS
            .iter()
            .filter_map(|ty| self.by_type.get(*ty as usize).filter(|h| h.count() > 0).map(|h| (*ty, *h)))
            .collect()
    }
}

/// Every measurement at `now`: the node's, and the driver's own.
pub fn snapshot(
    node: &Node,
    now: Timestamp,
    processing: &ProcessingTimes,
    deliveries_missed: u64,
    store_failures: u64,
    uptime: Duration,
) -> OverlaySnapshot {
    OverlaySnapshot {
        node: node.snapshot(now),
        processing: processing.export(),
        deliveries_missed,
        store_failures,
        uptime_secs: uptime.as_secs(),
    }
}
