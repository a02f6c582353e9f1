//! [`CrawlConfig`]: the crawl's bounds, pacing and timeouts.

use core::time::Duration;
use overlay_node::{LedgerState, PeerConfig};

/// `MAX_SLOTS_TO_REMEMBER` for the flow-control limits of a crawl connection (it floods
/// nothing and keeps no SCP state). stellar-core's default, 12.
pub const REMEMBERED_SLOTS: u32 = 12;

/// Settings of a crawl. `Default` suits a public network; every field says what happens at
/// its bound.
#[derive(Debug, Clone, PartialEq)]
pub struct CrawlConfig {
    /// Most addresses dialed in the whole crawl (the `--max-nodes` bound). Past it, the
    /// addresses still queued are reported as not dialed. Default 10,000 (a public network
    /// has a few thousand addresses).
    pub max_nodes: usize,
    /// Most connections open (connecting, handshaking or waiting for PEERS) at once.
    /// Default 32.
    pub max_in_flight: usize,
    /// Most connections open at once to one host (IP address or name): polite pacing, so
    /// that a machine running several nodes is visited one node at a time. Default 1.
    pub host_connections_max: usize,
    /// Least time between the starts of two dials to one host. Default 200 ms.
    pub host_interval: Duration,
    /// How long a TCP connection may take to open. Default 5 s.
    pub connect_timeout: Duration,
    /// From the TCP connection to the end of the handshake (both AUTHs). Default 5 s.
    pub handshake_timeout: Duration,
    /// After the handshake, how long to wait for the node's PEERS and its verdict on us
    /// (SEND_MORE_EXTENDED when it admitted us, an ERROR when it did not). An acceptor sends
    /// PEERS right after its AUTH and before SEND_MORE_EXTENDED (PROTOCOL.md §3.6, §10.4), so
    /// the wait normally ends as soon as SEND_MORE_EXTENDED arrives. Default 5 s.
    pub peers_wait: Duration,
    /// The whole crawl (`--timeout`): when it has passed, open connections are closed
    /// (reported as timed out) and queued addresses are reported as not dialed. `None`: no
    /// bound. Default `None`.
    pub deadline: Option<Duration>,
    /// Most addresses remembered (seeds, PEERS entries, HELLO listening addresses). New
    /// addresses past it are counted and forgotten. Default 100,000 (PEERS carry at most 100
    /// entries, so 10,000 nodes dialed learn at most 1,000,000 entries, mostly repeats).
    pub max_addresses: usize,
    /// Timers and limits of each connection. Default: stellar-core's, without pings (a
    /// crawl connection lives seconds; GET_SCP_QUORUMSET pings would only add traffic).
    pub peer: PeerConfig,
    /// The ledger for flow control's limits. Default genesis.
    pub ledger: LedgerState,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            max_nodes: 10_000,
            max_in_flight: 32,
            host_connections_max: 1,
            host_interval: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            peers_wait: Duration::from_secs(5),
            deadline: None,
            max_addresses: 100_000,
            peer: PeerConfig { ping: false, ..PeerConfig::default() },
            ledger: LedgerState::GENESIS,
        }
    }
}

impl CrawlConfig {
    /// Check the values: every bound at least 1.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.max_in_flight == 0 {
            return Err("max_in_flight must be at least 1");
        }
        if self.host_connections_max == 0 {
            return Err("host_connections_max must be at least 1");
        }
        if self.max_addresses == 0 {
            return Err("max_addresses must be at least 1");
        }
        Ok(())
    }
}
