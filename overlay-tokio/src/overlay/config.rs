//! [`OverlayConfig`]: what an [`OverlayManager`](super::OverlayManager) runs with.

use overlay_node::NodeConfig;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of an overlay manager. `Default` is stellar-core's defaults with no peers.
#[derive(Debug, Clone)]
pub struct OverlayConfig {
    /// The node: limits, timers, flow control, flooding. `node.peer_port` is the port we
    /// listen on and advertise (0 picks a free port and advertises it).
    pub node: NodeConfig,
    /// Whether to accept connections. Default true.
    pub listen: bool,
    /// The address to listen on. Default 0.0.0.0 (stellar-core's).
    pub listen_ip: IpAddr,
    /// `KNOWN_PEERS`: `host[:port]` strings, resolved now and every `dns_refresh_interval`.
    pub known_peers: Vec<String>,
    /// `PREFERRED_PEERS`: `host[:port]` strings, resolved likewise.
    pub preferred_peers: Vec<String>,
    /// The SQLite file of peer records and bans; `None` keeps them in memory.
    pub database: Option<PathBuf>,
    /// How often host names are resolved again (§11.4). Default 600 s.
    pub dns_refresh_interval: Duration,
    /// How long a TCP connect may take. Default 10 s.
    pub connect_timeout: Duration,
    /// Size of each socket read. Default 64 KiB.
    pub read_chunk_bytes: usize,
    /// Write batches buffered per connection before the node holds further output for it.
    /// Default 4.
    pub write_queue_batches: usize,
    /// Messages kept for a slow subscriber before it misses the oldest. Default 16384.
    pub subscriber_capacity: usize,
    /// Inputs (socket bytes, connects, closes) buffered for the node task; readers wait
    /// when it is full. Default 4096.
    pub input_queue_len: usize,
}

impl Default for OverlayConfig {
    fn default() -> Self {
        OverlayConfig {
            node: NodeConfig::default(),
            listen: true,
            listen_ip: IpAddr::from([0, 0, 0, 0]),
            known_peers: Vec::new(),
            preferred_peers: Vec::new(),
            database: None,
            dns_refresh_interval: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(10),
            read_chunk_bytes: 64 * 1024,
            write_queue_batches: 4,
            subscriber_capacity: 16 * 1024,
            input_queue_len: 4096,
        }
    }
}

impl OverlayConfig {
    /// The SDF test network's public nodes as known peers.
    pub fn testnet() -> Self {
        OverlayConfig {
            known_peers: (1..=3).map(|i| format!("core-testnet{i}.stellar.org:11625")).collect(),
            ..Self::default()
        }
    }

    /// The SDF public-network validators as known peers.
    pub fn pubnet() -> Self {
        OverlayConfig {
            known_peers: [
                "core-live-a.stellar.org:11625",
                "core-live-b.stellar.org:11625",
                "core-live-c.stellar.org:11625",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            ..Self::default()
        }
    }
}
