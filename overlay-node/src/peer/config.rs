//! [`PeerConfig`]: the per-connection timers and limits (PROTOCOL.md §1.3, §4.3, §13).

use core::time::Duration;
use overlay_flow::FlowConfig;

/// Settings of one peer connection. `Default` gives stellar-core's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerConfig {
    /// `PEER_AUTHENTICATION_TIMEOUT`: idle limit before authentication. Default 2 s.
    pub authentication_timeout: Duration,
    /// `PEER_TIMEOUT`: idle limit (no read and no write) after authentication. Default 30 s.
    pub idle_timeout: Duration,
    /// `PEER_STRAGGLER_TIMEOUT`: how long a message may wait in our write queue. Default
    /// 120 s.
    pub straggler_timeout: Duration,
    /// `RECURRENT_TIMER_PERIOD`: how often the timeouts are checked and a ping is sent.
    /// Default 5 s (hard-coded in stellar-core).
    pub recurrent_timer_period: Duration,
    /// `MAX_BATCH_WRITE_COUNT`: frames per write batch \[LOCAL\]. Default 1024.
    pub max_batch_write_count: usize,
    /// `MAX_BATCH_WRITE_BYTES`: bytes per write batch; the frame that crosses it is still
    /// included \[LOCAL\]. Default 1 MiB.
    pub max_batch_write_bytes: usize,
    /// Bound on bytes sealed for this peer but not yet taken by the driver (responses and
    /// control messages, which bypass flow control). Past it the peer is dropped as
    /// "send buffer full" [LOCAL: stellar-core has no such bound and relies on the straggler
    /// timer]. Default 64 MiB: four maximum-size frames.
    pub max_unsent_bytes: usize,
    /// Whether to measure latency with GET_SCP_QUORUMSET pings (§4.4). Default true.
    pub ping: bool,
    /// Flow control.
    pub flow: FlowConfig,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            authentication_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(30),
            straggler_timeout: Duration::from_secs(120),
            recurrent_timer_period: Duration::from_secs(5),
            max_batch_write_count: 1024,
            max_batch_write_bytes: 1 << 20,
            max_unsent_bytes: 64 << 20,
            ping: true,
            flow: FlowConfig::default(),
        }
    }
}
