//! [`DiscoveryConfig`] and the fixed limits of peer discovery (PROTOCOL.md §10, §11.4, §13).

use overlay_proto::version::DEFAULT_PEER_PORT;

/// Most addresses in one PEERS message we send: stellar-core's `Peer::sendPeers` uses
/// `min(50, <XDR bound 100>)`. Default (hard-coded) 50.
pub const MAX_PEERS_TO_SEND: usize = 50;

/// Most entries of a received PEERS message that are looked at: the XDR bound of
/// `StellarMessage::peers` (`PeerAddress peers<100>`). Entries past it are counted as
/// ignored; a decoded message can never hold more.
pub const MAX_PEERS_RECEIVED: usize = 100;

/// Only records with at most this many failures are advertised in PEERS: stellar-core's
/// `PeerManager` constant `MAX_FAILURES`. Default (hard-coded) 10.
pub const MAX_FAILURES: u32 = 10;

/// Records with at least this many failures are deleted (at overlay start, and for the IP of
/// each removed peer), and connection sources only draw records with at most this many:
/// stellar-core's `REALLY_DEAD_NUM_FAILURES_CUTOFF`. Default (hard-coded) 120.
pub const REALLY_DEAD_NUM_FAILURES_CUTOFF: u32 = 120;

/// How many rows one random load fetches at least: stellar-core's `PeerManager` constant
/// `BATCH_SIZE`, the `n = max(requested, 1000)` of §10.5. Default (hard-coded) 1000. It is
/// also the bound of each peer source's cache and of one `load_random_peers` answer:
/// requests above it are capped to it.
pub const BATCH_SIZE: usize = 1000;

/// Most addresses one "connect to N peers of type T" draws: stellar-core's
/// `OverlayManagerImpl::getPeersToConnectTo` uses `min(maxNum, 50)`. Default (hard-coded) 50.
pub const MAX_PEERS_TO_CONNECT_PER_CALL: usize = 50;

/// Default bound on the number of peer records an in-memory store holds [LOCAL: stellar-core's
/// table is unbounded]. 65 536 records is far more than a public network has addresses
/// (a few thousand), while keeping a full store at a few megabytes.
pub const MAX_PEER_RECORDS_DEFAULT: u64 = 65_536;

/// Default bound on the number of banned node ids an in-memory store holds [LOCAL:
/// stellar-core's `ban` table is unbounded]. Bans are made by an operator, one at a time.
pub const MAX_BANS_DEFAULT: u64 = 10_000;

/// The settings discovery reads from the node configuration.
///
/// ```
/// use overlay_node::discovery::DiscoveryConfig;
/// let cfg = DiscoveryConfig::default();
/// assert_eq!(cfg.peer_port, 11625);
/// assert!(!cfg.allow_localhost && !cfg.allow_private);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// `PEER_PORT`: our listening port. Used by the "self-address" filter on received PEERS.
    /// Default 11625.
    pub peer_port: u16,
    /// `ALLOW_LOCALHOST_FOR_TESTING`: keep `127.0.0.1` entries of received PEERS.
    /// Default false.
    pub allow_localhost: bool,
    /// `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING`: keep private (10/8, 172.16/12, 192.168/16)
    /// addresses, both in received PEERS and in the PEERS we send [LOCAL: stellar-core
    /// filters them unconditionally; this flag only exists so that tests and simulations can
    /// run on private networks]. Default false.
    pub allow_private: bool,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig { peer_port: DEFAULT_PEER_PORT, allow_localhost: false, allow_private: false }
    }
}
