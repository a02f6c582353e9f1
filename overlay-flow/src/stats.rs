//! Counters for metrics and invariant checks: [`FlowStats`], a plain snapshot taken by
//! [`FlowControl::stats`](crate::FlowControl::stats).

use overlay_proto::{Priority, Timestamp};

/// Our credit towards the peer (§6.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboundStats {
    /// Messages we may still send (`outMsgs`).
    pub capacity_msgs: u64,
    /// Bytes we may still send (`outBytes`).
    pub capacity_bytes: u64,
    /// Messages granted by the peer since the start.
    pub granted_msgs_total: u64,
    /// Bytes granted by the peer since the start.
    pub granted_bytes_total: u64,
    /// Messages charged (released for writing) since the start.
    pub used_msgs_total: u64,
    /// Bytes charged since the start.
    pub used_bytes_total: u64,
    /// Valid SEND_MORE_EXTENDED messages received.
    pub grants_received: u64,
}

/// Our reading capacity for the peer (§6.2, §6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalStats {
    /// Flood message limit (`PEER_FLOOD_READING_CAPACITY`).
    pub flood_limit_msgs: u64,
    /// Flood messages that may still arrive before processing frees some (`floodMsgs`).
    pub flood_available_msgs: u64,
    /// Flood byte limit (`floodByteCapacity`, grown by max-tx-size upgrades).
    pub flood_limit_bytes: u64,
    /// Flood bytes that may still arrive (`floodBytes`).
    pub flood_available_bytes: u64,
    /// Total message limit (`PEER_READING_CAPACITY`).
    pub total_limit_msgs: u64,
    /// Messages of any kind that may still arrive before processing frees some.
    pub total_available_msgs: u64,
    /// Total byte limit (floor plus `PEER_TOTAL_READING_CAPACITY_BYTES`).
    pub total_limit_bytes: u64,
    /// Bytes that may still arrive.
    pub total_available_bytes: u64,
    /// Flood messages processed since the last batch became due (`processedMsgs`).
    pub processed_since_grant_msgs: u64,
    /// Flood bytes processed since the last batch became due (`processedBytes`).
    pub processed_since_grant_bytes: u64,
    /// Messages of grants due but not yet returned by `poll_grant`.
    pub pending_grant_msgs: u64,
    /// Bytes of grants due but not yet returned by `poll_grant`.
    pub pending_grant_bytes: u64,
    /// Messages granted (returned by `poll_grant`) since the start.
    pub granted_msgs_total: u64,
    /// Bytes granted since the start.
    pub granted_bytes_total: u64,
    /// SEND_MORE_EXTENDED messages returned by `poll_grant`.
    pub grants_sent: u64,
    /// Flood messages accepted since the start.
    pub received_flood_msgs_total: u64,
    /// Flood bytes accepted since the start.
    pub received_flood_bytes_total: u64,
    /// Whether the initial grant has been made.
    pub authenticated: bool,
}

/// One outbound queue (§6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Entries in the queue, in flight included.
    pub len_msgs: usize,
    /// Entries handed to the writer whose write has not completed.
    pub in_flight_msgs: usize,
    /// Bytes of the entries (in flight included): for TRANSACTION, the queued tx bytes
    /// compared with `OUTBOUND_TX_QUEUE_BYTE_LIMIT`.
    pub bytes: u64,
    /// Transaction hashes of the entries (adverts and demands).
    pub hashes: u64,
    /// Messages released for writing since the start.
    pub sent_msgs_total: u64,
    /// Messages shed since the start (never to be sent): removed from the queue while
    /// waiting, or refused on arrival (for `overlay.outbound-queue.drop-*`).
    pub dropped_msgs_total: u64,
    /// Bytes of the shed messages.
    pub dropped_bytes_total: u64,
}

/// A snapshot of all counters of one peer's flow control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Our credit towards the peer.
    pub outbound: OutboundStats,
    /// Our reading capacity for the peer.
    pub local: LocalStats,
    /// The four outbound queues, indexed by [`Priority::index`].
    pub queues: [QueueStats; 4],
    /// Since when a queued message has been waiting for credit (§6.4), if it is.
    pub no_capacity_since: Option<Timestamp>,
    /// Whether reading should pause (§6.3).
    pub read_throttled: bool,
}

impl FlowStats {
    /// The counters of one queue.
    pub fn queue(&self, priority: Priority) -> &QueueStats {
        &self.queues[priority.index()]
    }
}
