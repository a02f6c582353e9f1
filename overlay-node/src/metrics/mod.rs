//! The node's metrics (PROTOCOL.md §14) as plain data a driver can export: counters named
//! after stellar-core's ([`NodeMetrics::export`]), and a [`MetricsSnapshot`] with traffic per
//! message type, drops per reason, queue lengths and latency histograms.

mod histogram;
mod traffic;

pub use histogram::{BUCKET_BOUNDS_US, Histogram};
pub use traffic::Traffic;

use crate::peer::PeerStats;
use core::time::Duration;
use std::collections::BTreeMap;

/// Counters of a node, named after stellar-core's metrics in [`NodeMetrics::export`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeMetrics {
    /// `overlay.inbound.attempt`
    pub inbound_attempt: u64,
    /// `overlay.inbound.establish`
    pub inbound_establish: u64,
    /// `overlay.inbound.reject` (refused at accept: no pending slot)
    pub inbound_reject: u64,
    /// `overlay.inbound.drop`
    pub inbound_drop: u64,
    /// `overlay.outbound.attempt`
    pub outbound_attempt: u64,
    /// `overlay.outbound.establish`
    pub outbound_establish: u64,
    /// `overlay.outbound.drop`
    pub outbound_drop: u64,
    /// `overlay.outbound.cancel` (dial failed)
    pub outbound_cancel: u64,
    /// `overlay.timeout.idle`
    pub timeout_idle: u64,
    /// `overlay.timeout.straggler`
    pub timeout_straggler: u64,
    /// `overlay.message.broadcast`
    pub message_broadcast: u64,
    /// `overlay.flood.unique-recv` (messages)
    pub flood_unique_recv: u64,
    /// `overlay.flood.duplicate-recv` (messages)
    pub flood_duplicate_recv: u64,
    /// `overlay.flood.advertised` (hashes sent in FLOOD_ADVERT)
    pub flood_advertised: u64,
    /// `overlay.flood.demanded` (hashes sent in FLOOD_DEMAND)
    pub flood_demanded: u64,
    /// `overlay.flood.fulfilled` (transactions sent for demands)
    pub flood_fulfilled: u64,
    /// `overlay.fetch.unique-recv` (items we were fetching)
    pub fetch_unique_recv: u64,
    /// `overlay.fetch.duplicate-recv` (items nobody was fetching)
    pub fetch_duplicate_recv: u64,
    /// `overlay.recv.get-scp-state` ignored by the rate limit
    pub query_ignored: u64,
    /// Transactions not delivered because the verdicts pending were at their bound.
    pub app_tx_refused: u64,
    /// SCP envelopes given up because the verdicts pending were at their bound.
    pub app_envelopes_evicted: u64,
    /// Deliveries whose verdict did not come within the verdict timeout.
    pub app_verdicts_expired: u64,
    /// Verdicts for nothing pending (late, expired or repeated).
    pub app_verdicts_unknown: u64,
    /// Flood messages dropped by the optional soft rate limit.
    pub flood_rate_limited: u64,
    /// Messages, bytes read and written, outbound drops of closed connections (live ones
    /// are added in [`NodeMetrics::export`]).
    pub closed_peers: PeerTotals,
}

/// Sums of [`PeerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerTotals {
    /// `overlay.message.read`
    pub messages_read: u64,
    /// `overlay.message.write`
    pub messages_written: u64,
    /// `overlay.byte.read`
    pub bytes_read: u64,
    /// `overlay.byte.write`
    pub bytes_written: u64,
    /// `overlay.outbound-queue.drop-*` summed
    pub outbound_dropped: u64,
}

impl PeerTotals {
    /// Add one connection's counters.
    pub fn add(&mut self, s: &PeerStats) {
        self.messages_read += s.messages_read;
        self.messages_written += s.messages_written;
        self.bytes_read += s.bytes_read;
        self.bytes_written += s.bytes_written;
        self.outbound_dropped += s.outbound_dropped;
    }
}

impl NodeMetrics {
    /// Every counter with its stellar-core name; `live` are the totals of open connections
    /// and `pending`, `authenticated` the current connection counts.
    pub fn export(&self, live: PeerTotals, pending: u64, authenticated: u64) -> Vec<(&'static str, u64)> {
        let mut io = self.closed_peers;
        io.messages_read += live.messages_read;
        io.messages_written += live.messages_written;
        io.bytes_read += live.bytes_read;
        io.bytes_written += live.bytes_written;
        io.outbound_dropped += live.outbound_dropped;
        vec![
            ("overlay.inbound.attempt", self.inbound_attempt),
            ("overlay.inbound.establish", self.inbound_establish),
            ("overlay.inbound.reject", self.inbound_reject),
            ("overlay.inbound.drop", self.inbound_drop),
            ("overlay.outbound.attempt", self.outbound_attempt),
            ("overlay.outbound.establish", self.outbound_establish),
            ("overlay.outbound.drop", self.outbound_drop),
            ("overlay.outbound.cancel", self.outbound_cancel),
            ("overlay.connection.pending", pending),
            ("overlay.connection.authenticated", authenticated),
            ("overlay.timeout.idle", self.timeout_idle),
            ("overlay.timeout.straggler", self.timeout_straggler),
            ("overlay.message.read", io.messages_read),
            ("overlay.message.write", io.messages_written),
            ("overlay.message.broadcast", self.message_broadcast),
            ("overlay.byte.read", io.bytes_read),
            ("overlay.byte.write", io.bytes_written),
            ("overlay.outbound-queue.drop", io.outbound_dropped),
            ("overlay.flood.unique-recv", self.flood_unique_recv),
            ("overlay.flood.duplicate-recv", self.flood_duplicate_recv),
            ("overlay.flood.advertised", self.flood_advertised),
            ("overlay.flood.demanded", self.flood_demanded),
            ("overlay.flood.fulfilled", self.flood_fulfilled),
            ("overlay.fetch.unique-recv", self.fetch_unique_recv),
            ("overlay.fetch.duplicate-recv", self.fetch_duplicate_recv),
            ("overlay.query.ignored", self.query_ignored),
            ("overlay.app.tx-refused", self.app_tx_refused),
            ("overlay.app.envelope-evicted", self.app_envelopes_evicted),
            ("overlay.app.verdict-expired", self.app_verdicts_expired),
            ("overlay.app.verdict-unknown", self.app_verdicts_unknown),
            ("overlay.flood.rate-limited", self.flood_rate_limited),
        ]
    }
}

/// What the node measures besides its counters; closed connections' shares are kept here,
/// live ones are added in a [`MetricsSnapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    /// Traffic of closed connections, per message type.
    pub closed_traffic: Traffic,
    /// Outbound queue delay of closed connections, per priority (`Priority::index`).
    pub closed_queue_delay: [Histogram; 4],
    /// Time closed connections spent with queued flood messages and no outbound credit.
    pub closed_throttled: Duration,
    /// Connections ended, per reason ([`DropReason::label`](crate::DropReason::label)).
    /// Bound: the labels are a fixed set.
    pub drops: BTreeMap<&'static str, u64>,
    /// From the first demand of a transaction to its arrival (`overlay.flood.tx-pull-latency`).
    pub pull_latency: Histogram,
    /// From the first request for a tx set or quorum set to its arrival.
    pub fetch_latency: Histogram,
}

/// Every metric of a node at one moment: what a driver exports (Prometheus, stellar-core's
/// `metrics` command).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// The counters with their stellar-core names ([`NodeMetrics::export`]).
    pub counters: Vec<(&'static str, u64)>,
    /// Messages and bytes read and written per type, all connections.
    pub traffic: Traffic,
    /// Connections ended, per reason.
    pub drops: Vec<(&'static str, u64)>,
    /// Outbound queue delay per priority (SCP, transactions, demands, adverts), all
    /// connections.
    pub queue_delay: [Histogram; 4],
    /// Messages waiting in the outbound queues now, per priority, all connections.
    pub queued_msgs: [u64; 4],
    /// Their bytes.
    pub queued_bytes: [u64; 4],
    /// Connections that have flood messages queued and no outbound credit now.
    pub throttled_connections: u64,
    /// Time all connections spent so, since the start.
    pub throttled: Duration,
    /// Connections whose reading is paused for capacity now (§6.3).
    pub read_throttled_connections: u64,
    /// Pull latency (first demand to arrival).
    pub pull_latency: Histogram,
    /// Fetch latency (first request to arrival) of tx sets and quorum sets.
    pub fetch_latency: Histogram,
    /// Pending and authenticated connections, inbound and outbound.
    pub connections: ConnectionCounts,
}

/// Connections by state and direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    /// Pending inbound.
    pub pending_inbound: u64,
    /// Pending outbound.
    pub pending_outbound: u64,
    /// Authenticated inbound.
    pub authenticated_inbound: u64,
    /// Authenticated outbound.
    pub authenticated_outbound: u64,
}
