//! [`PeerStats`]: per-connection counters (the raw material of survey `PeerStats`, §12).

use overlay_proto::Timestamp;

/// Counters of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// When the connection object was created.
    pub created_at: Timestamp,
    /// When it authenticated.
    pub authenticated_at: Option<Timestamp>,
    /// Frames read.
    pub messages_read: u64,
    /// Frames written.
    pub messages_written: u64,
    /// Bytes read, headers included.
    pub bytes_read: u64,
    /// Bytes written, headers included.
    pub bytes_written: u64,
    /// Flood messages dropped from our outbound queues for this peer.
    pub outbound_dropped: u64,
    /// Last measured round trip of a ping, in milliseconds.
    pub latency_ms: Option<u64>,
}
