//! [`NodeConfig`]: the overlay manager's settings (PROTOCOL.md §11, §13).

use crate::ledger::LedgerState;
use crate::peer::PeerConfig;
use core::time::Duration;
use overlay_flood::FloodConfig;
use overlay_proto::{NodeId, PeerAddress};
use std::collections::BTreeSet;

/// Settings of a node. `Default` gives stellar-core's defaults.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `PEER_PORT`: our listening port, advertised in HELLO. Default 11625.
    pub peer_port: u16,
    /// `TARGET_PEER_CONNECTIONS`: authenticated outbound peers to keep. Default 8.
    pub target_peer_connections: usize,
    /// Authenticated outbound peers accepted at most; `None` is the target (stellar-core,
    /// which has no separate key). A larger value lets explicit `connect` commands go past
    /// the target; the tick still dials up to the target only. Default `None`.
    pub max_outbound_peers: Option<usize>,
    /// `MAX_ADDITIONAL_PEER_CONNECTIONS`: authenticated inbound peers; `None` means
    /// 8 × target (stellar-core's -1). Default `None` (64).
    pub max_additional_peer_connections: Option<usize>,
    /// `MAX_PENDING_CONNECTIONS`: unauthenticated connections, split between outbound and
    /// inbound in proportion to their authenticated limits (§11.1). Default 500.
    pub max_pending_connections: usize,
    /// `KNOWN_PEERS`, resolved to IP addresses by the driver.
    pub known_peers: Vec<PeerAddress>,
    /// `PREFERRED_PEERS`, resolved to IP addresses by the driver.
    pub preferred_peers: Vec<PeerAddress>,
    /// `PREFERRED_PEER_KEYS`.
    pub preferred_peer_keys: BTreeSet<NodeId>,
    /// `PREFERRED_PEERS_ONLY`: reject every non-preferred authenticated peer. Default false.
    pub preferred_peers_only: bool,
    /// `RUN_STANDALONE`: no outbound connections from the tick loop. Default false.
    pub run_standalone: bool,
    /// Delay from start to the first tick. Default 2 s.
    pub first_tick_delay: Duration,
    /// Tick period: `PEER_AUTHENTICATION_TIMEOUT + 1` s. Default 3 s.
    pub tick_period: Duration,
    /// `OUT_OF_SYNC_RECONNECT_DELAY`. Default 60 s.
    pub out_of_sync_reconnect_delay: Duration,
    /// `ALLOW_LOCALHOST_FOR_TESTING`: accept 127.0.0.1 from PEERS. Default false.
    pub allow_localhost_for_testing: bool,
    /// `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING`: accept private addresses from PEERS. Default false.
    pub allow_private_addresses_for_testing: bool,
    /// Per-connection settings.
    pub peer: PeerConfig,
    /// Flooding settings.
    pub flood: FloodConfig,
    /// The ledger the node starts from, until the application sends another. Default
    /// [`LedgerState::GENESIS`].
    pub ledger: LedgerState,
    /// Bounds of what the node serves and of what waits for the application.
    pub items: ItemLimits,
    /// Time-sliced surveys: `SURVEYOR_KEYS`, `NODE_IS_VALIDATOR`, the phase durations.
    pub survey: crate::survey::SurveyConfig,
    /// A soft limit on flood messages (TRANSACTION, SCP_MESSAGE, FLOOD_ADVERT, FLOOD_DEMAND)
    /// taken from all peers together, per second; the excess is read, counted and dropped.
    /// Default `None`: stellar-core has no such limit (flow control already bounds what each
    /// peer may send), and a fixed cap drops a busy network's normal traffic.
    pub flood_rate_limit_per_sec: Option<u32>,
}

/// Bounds of the items a node serves and of the deliveries waiting for a verdict. Each
/// store forgets its oldest entry past its bound; see [`app`](crate::app) for what happens
/// to waiting deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemLimits {
    /// Accepted transactions kept to serve FLOOD_DEMAND, the oldest out first. Default
    /// 100000; at most 2²⁴.
    pub transactions_max: usize,
    /// Their XDR bytes. Default 64 MiB; at most 1 GiB. Each also keeps its 32-byte hash
    /// beside its bytes, and an 8-byte entry.
    pub transaction_bytes_max: usize,
    /// Tx sets kept to serve GET_TX_SET. Default 1000.
    pub tx_sets_max: usize,
    /// Their bytes. Default 256 MiB.
    pub tx_set_bytes_max: usize,
    /// Quorum sets kept to serve GET_SCP_QUORUMSET. Default 1000.
    pub quorum_sets_max: usize,
    /// SCP envelopes kept to serve GET_SCP_STATE. Default 10000.
    pub scp_envelopes_max: usize,
    /// Transactions waiting for a verdict; a new one past it is not delivered. Default 10000.
    pub pending_transactions_max: usize,
    /// SCP envelopes waiting for a verdict; the oldest is given up past it. Default 10000.
    pub pending_envelopes_max: usize,
    /// How long a delivery waits for its verdict before it is given up. Default 60 s.
    pub verdict_timeout: Duration,
}

impl Default for ItemLimits {
    fn default() -> Self {
        ItemLimits {
            transactions_max: 100_000,
            transaction_bytes_max: 64 << 20,
            tx_sets_max: 1_000,
            tx_set_bytes_max: 256 << 20,
            quorum_sets_max: 1_000,
            scp_envelopes_max: 10_000,
            pending_transactions_max: 10_000,
            pending_envelopes_max: 10_000,
            verdict_timeout: Duration::from_secs(60),
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            peer_port: overlay_proto::version::DEFAULT_PEER_PORT,
            target_peer_connections: 8,
            max_outbound_peers: None,
            max_additional_peer_connections: None,
            max_pending_connections: 500,
            known_peers: Vec::new(),
            preferred_peers: Vec::new(),
            preferred_peer_keys: BTreeSet::new(),
            preferred_peers_only: false,
            run_standalone: false,
            first_tick_delay: Duration::from_secs(2),
            tick_period: Duration::from_secs(3),
            out_of_sync_reconnect_delay: Duration::from_secs(60),
            allow_localhost_for_testing: false,
            allow_private_addresses_for_testing: false,
            peer: PeerConfig::default(),
            flood: FloodConfig::default(),
            ledger: LedgerState::GENESIS,
            items: ItemLimits::default(),
            survey: crate::survey::SurveyConfig::default(),
            flood_rate_limit_per_sec: None,
        }
    }
}

/// The connection limits derived from a [`NodeConfig`] (§11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Authenticated outbound peers the tick keeps (`TARGET_PEER_CONNECTIONS`, capped).
    pub target_outbound: usize,
    /// Authenticated outbound peers accepted.
    pub max_outbound: usize,
    /// Authenticated inbound peers.
    pub max_inbound: usize,
    /// Pending outbound connections (dialing or handshaking).
    pub max_outbound_pending: usize,
    /// Pending inbound connections.
    pub max_inbound_pending: usize,
}

/// `POSSIBLY_PREFERRED_EXTRA`: pending inbound slots beyond the limit for addresses that may
/// be preferred peers (§11.2).
pub const POSSIBLY_PREFERRED_EXTRA: usize = 2;
/// `MIN_INBOUND_FACTOR`: the outbound target while no inbound peer is authenticated (§11.1).
pub const MIN_OUTBOUND_WITHOUT_INBOUND: usize = 3;

impl NodeConfig {
    /// The derived limits: inbound max defaults to 8 × target; target is capped to
    /// `max_inbound / 3 + 3`; pending slots are split in proportion.
    pub fn limits(&self) -> Limits {
        let max_inbound = self.max_additional_peer_connections.unwrap_or(8 * self.target_peer_connections);
        let target_outbound = self.target_peer_connections.min(max_inbound / 3 + 3);
        let max_outbound = self.max_outbound_peers.map_or(target_outbound, |m| m.max(target_outbound));
        let total = (target_outbound + max_inbound).max(1);
        let out_pending = (self.max_pending_connections * target_outbound).div_ceil(total).max(1);
        let in_pending = self.max_pending_connections.saturating_sub(out_pending).max(1);
        Limits {
            target_outbound,
            max_outbound,
            max_inbound,
            max_outbound_pending: out_pending,
            max_inbound_pending: in_pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_are_the_spec_values() {
        let l = NodeConfig::default().limits();
        assert_eq!(
            l,
            Limits {
                target_outbound: 8,
                max_outbound: 8,
                max_inbound: 64,
                max_outbound_pending: 56,
                max_inbound_pending: 444
            }
        );
        let small =
            NodeConfig { target_peer_connections: 10, max_additional_peer_connections: Some(3), ..Default::default() };
        assert_eq!(small.limits().max_outbound, 4, "target capped to max_inbound/3 + 3");
    }
}
