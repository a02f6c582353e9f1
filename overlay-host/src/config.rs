//! [`OverlayConfig`]: one validated tree of everything an
//! overlay manager (of either driver) runs with, under the names of the original crate
//! description, each mapped onto the stellar-core key it stands for.

use crate::error::OverlayError;
use overlay_flood::FloodConfig;
use overlay_node::survey::SurveyConfig;
use overlay_node::{ItemLimits, LedgerState, NodeConfig, PeerConfig};
use overlay_proto::{NetworkId, NodeId, PeerAddress};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of an overlay manager. `Default` is stellar-core's defaults with no peers.
///
/// ```
/// use overlay_host::OverlayConfig;
/// use overlay_proto::PeerAddress;
///
/// let mut config = OverlayConfig::testnet();
/// config.max_inbound_peers = 64;
/// config.target_outbound_peers = 4;
/// config.known_peers.push(PeerAddress::new("10.0.0.7", 11625));
/// let node = config.node_config().unwrap();
/// assert_eq!(node.target_peer_connections, 4);
/// assert_eq!(node.known_peers.len(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct OverlayConfig {
    /// `MAX_ADDITIONAL_PEER_CONNECTIONS`: authenticated inbound peers. Default 64 (8 × the
    /// outbound target, stellar-core's −1).
    pub max_inbound_peers: usize,
    /// Authenticated outbound peers accepted at most. stellar-core has no separate key (it is
    /// `TARGET_PEER_CONNECTIONS`); a value above the target lets [`connect`] go past it.
    /// Default 8.
    ///
    /// [`connect`]: crate::Overlay::connect
    pub max_outbound_peers: usize,
    /// `TARGET_PEER_CONNECTIONS`: authenticated outbound peers the node keeps dialing for
    /// (3 while no inbound peer is connected, §11.1). Default 8.
    pub target_outbound_peers: usize,
    /// How long a TCP connect may take (stellar-core bounds it with the authentication
    /// timeout). Default 10 s.
    pub connect_timeout_secs: u64,
    /// `PEER_AUTHENTICATION_TIMEOUT`: how long a connection may stay silent before the
    /// handshake completes; the tick period is this plus one second. Default 2 s.
    pub auth_timeout_secs: u64,
    /// `PEER_PORT`: the port we listen on and advertise in HELLO (0 picks a free port and
    /// advertises it). Default 11625.
    pub listen_port: u16,
    /// Whether to accept connections. Default true.
    pub listen_enabled: bool,
    /// `NETWORK_PASSPHRASE`. Empty (the default) takes the network of the
    /// [`LocalNode`](crate::LocalNode); otherwise it must name the same network.
    pub network_passphrase: String,
    /// How long flooded messages are remembered (Floodgate records, advert history, items
    /// served): `MAX_SLOTS_TO_REMEMBER` ledgers of `ledger.ledger_close_time_ms`. Default 60 s
    /// (12 ledgers of 5 s).
    pub flood_ttl_secs: u64,
    /// `KNOWN_PEERS`: IP addresses or host names, resolved at start and every
    /// `dns_refresh_interval`.
    pub known_peers: Vec<PeerAddress>,
    /// `PREFERRED_PEERS`: always connected, resolved likewise.
    pub preferred_peers: Vec<PeerAddress>,
    /// `PREFERRED_PEER_KEYS`: peers preferred by NodeID.
    pub preferred_peer_keys: BTreeSet<NodeId>,
    /// The validators whose EXTERNALIZE moves the relay's tracked slot (a stellar-core file's
    /// `[QUORUM_SET]` and `[[VALIDATORS]]`); empty: any validly signed node. Only the relay
    /// application uses it.
    pub trusted_validators: BTreeSet<NodeId>,
    /// `PREFERRED_PEERS_ONLY`. Default false.
    pub preferred_peers_only: bool,
    /// `MAX_PENDING_CONNECTIONS`. Default 500.
    pub max_pending_connections: usize,
    /// `RUN_STANDALONE`: no outbound connections from the tick loop. Default false.
    pub run_standalone: bool,
    /// `ALLOW_LOCALHOST_FOR_TESTING`: accept 127.0.0.1 in PEERS. Default false.
    pub allow_localhost_for_testing: bool,
    /// `ALLOW_PRIVATE_ADDRESSES_FOR_TESTING`: accept private addresses in PEERS. Default false.
    pub allow_private_addresses_for_testing: bool,
    /// Per-connection timers, batching and flow control (`PEER_TIMEOUT`,
    /// `PEER_STRAGGLER_TIMEOUT`, the capacities). Its `authentication_timeout` is taken from
    /// `auth_timeout_secs`.
    pub peer: PeerConfig,
    /// Flooding and pull mode (`FLOOD_*`). Its `max_slots_to_remember` is taken from
    /// `flood_ttl_secs`.
    pub flood: FloodConfig,
    /// The ledger the node starts from, until the application reports closes. Default
    /// [`LedgerState::relay`] (public-network-like limits).
    pub ledger: LedgerState,
    /// Bounds of the items served and of the deliveries waiting for the application.
    pub items: ItemLimits,
    /// A soft limit on flood messages taken from all peers per second. Default `None`:
    /// stellar-core has none (flow control bounds what each peer sends), and a fixed cap
    /// drops a busy network's normal traffic.
    pub flood_rate_limit_per_sec: Option<u32>,
    /// The address to listen on. Default 0.0.0.0 (stellar-core's).
    pub listen_ip: IpAddr,
    /// The SQLite file of peer records and bans; `None` keeps them in memory.
    pub database: Option<PathBuf>,
    /// How often host names are resolved again (§11.4). Default 600 s.
    pub dns_refresh_interval: Duration,
    /// Size of each socket read. Default 64 KiB.
    pub read_chunk_bytes: usize,
    /// Write batches buffered per connection before the node holds further output for it.
    /// Default 4.
    pub write_queue_batches: usize,
    /// Messages kept for each subscriber that falls behind; past it the subscriber misses
    /// messages and an [`OverlayEvent::SubscriberLagged`](crate::OverlayEvent) says so.
    /// Default 16384.
    pub subscriber_capacity: usize,
    /// Inputs (socket bytes, connects, closes) buffered for the node task; readers wait
    /// when it is full. Default 4096.
    pub input_queue_len: usize,
    /// Delay from start to the first tick. Default 2 s.
    pub first_tick_delay: Duration,
    /// `SURVEYOR_KEYS`: the surveyors whose time-sliced surveys the node takes part in
    /// (§12.3). Empty (the default): those of `transitive_quorum`.
    pub surveyor_keys: BTreeSet<NodeId>,
    /// `NODE_IS_VALIDATOR`: reported in the node's survey responses. Default false.
    pub node_is_validator: bool,
    /// The node's transitive quorum (a stellar-core file's `[QUORUM_SET]` validators): the
    /// surveyors heard while `surveyor_keys` is empty. Handed to the node at start
    /// ([`AppInput::TransitiveQuorum`](overlay_node::app::AppInput)); an application that
    /// tracks its quorum sends that input again when it changes. Default empty: no surveyor
    /// is heard unless `surveyor_keys` names it.
    pub transitive_quorum: BTreeSet<NodeId>,
    /// How often a survey of ours sends up to 10 queued requests (stellar-core: three
    /// ledgers, 15 s; the first batch goes at once). Default 15 s; tests shorten it.
    pub survey_request_period: Duration,
}

impl Default for OverlayConfig {
    fn default() -> Self {
        let node = NodeConfig::default();
        OverlayConfig {
            max_inbound_peers: 64,
            max_outbound_peers: 8,
            target_outbound_peers: 8,
            connect_timeout_secs: 10,
            auth_timeout_secs: 2,
            listen_port: overlay_proto::version::DEFAULT_PEER_PORT,
            listen_enabled: true,
            network_passphrase: String::new(),
            flood_ttl_secs: 60,
            known_peers: Vec::new(),
            preferred_peers: Vec::new(),
            preferred_peer_keys: BTreeSet::new(),
            trusted_validators: BTreeSet::new(),
            preferred_peers_only: false,
            max_pending_connections: node.max_pending_connections,
            run_standalone: false,
            allow_localhost_for_testing: false,
            allow_private_addresses_for_testing: false,
            peer: node.peer,
            flood: node.flood,
            ledger: LedgerState::relay(),
            items: node.items,
            flood_rate_limit_per_sec: None,
            listen_ip: IpAddr::from([0, 0, 0, 0]),
            database: None,
            dns_refresh_interval: Duration::from_secs(600),
            read_chunk_bytes: 64 * 1024,
            write_queue_batches: 4,
            subscriber_capacity: 16 * 1024,
            input_queue_len: 4096,
            first_tick_delay: node.first_tick_delay,
            surveyor_keys: BTreeSet::new(),
            node_is_validator: false,
            transitive_quorum: BTreeSet::new(),
            survey_request_period: node.survey.request_period,
        }
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> OverlayError {
    OverlayError::Config { key, reason: reason.into() }
}

impl OverlayConfig {
    /// The SDF test network's public nodes as known peers.
    pub fn testnet() -> Self {
        OverlayConfig {
            known_peers: (1..=3).map(|i| PeerAddress::new(format!("core-testnet{i}.stellar.org"), 11625)).collect(),
            network_passphrase: overlay_proto::Network::Testnet.passphrase().to_string(),
            ..Self::default()
        }
    }

    /// The SDF public-network validators as known peers.
    pub fn pubnet() -> Self {
        OverlayConfig {
            known_peers: ["a", "b", "c"]
                .into_iter()
                .map(|s| PeerAddress::new(format!("core-live-{s}.stellar.org"), 11625))
                .collect(),
            network_passphrase: overlay_proto::Network::Pubnet.passphrase().to_string(),
            ..Self::default()
        }
    }

    /// `MAX_SLOTS_TO_REMEMBER`: `flood_ttl_secs` in ledgers, rounded up, at least 1.
    pub fn max_slots_to_remember(&self) -> u32 {
        let close_ms = self.ledger.ledger_close_time_ms.max(1);
        let slots = (self.flood_ttl_secs.saturating_mul(1000)).div_ceil(close_ms);
        u32::try_from(slots).unwrap_or(u32::MAX).max(1)
    }

    /// The network this configuration names, if it names one.
    pub fn network_id(&self) -> Option<NetworkId> {
        (!self.network_passphrase.is_empty()).then(|| NetworkId::from_passphrase(&self.network_passphrase))
    }

    /// Check every value and derive the node's configuration. Host names among the peers
    /// are kept as they are; the driver resolves them.
    pub fn node_config(&self) -> Result<NodeConfig, OverlayError> {
        if self.target_outbound_peers == 0 && !self.run_standalone {
            return Err(invalid("target_outbound_peers (TARGET_PEER_CONNECTIONS)", "must be at least 1"));
        }
        if self.max_outbound_peers < self.target_outbound_peers {
            return Err(invalid("max_outbound_peers", "must be at least target_outbound_peers"));
        }
        if self.auth_timeout_secs == 0 {
            return Err(invalid("auth_timeout_secs (PEER_AUTHENTICATION_TIMEOUT)", "must be at least 1"));
        }
        if self.connect_timeout_secs == 0 {
            return Err(invalid("connect_timeout_secs", "must be at least 1"));
        }
        if self.flood_ttl_secs == 0 {
            return Err(invalid("flood_ttl_secs (MAX_SLOTS_TO_REMEMBER)", "must be at least 1"));
        }
        if self.max_pending_connections == 0 {
            return Err(invalid("max_pending_connections (MAX_PENDING_CONNECTIONS)", "must be at least 1"));
        }
        if self.survey_request_period.is_zero() {
            return Err(invalid("survey_request_period", "must be more than zero"));
        }
        let mut peer = self.peer.clone();
        peer.authentication_timeout = Duration::from_secs(self.auth_timeout_secs);
        peer.flow.validate(self.ledger.max_tx_size_bytes).map_err(|e| invalid("flow control", e.to_string()))?;
        let mut flood = self.flood.clone();
        flood.max_slots_to_remember = self.max_slots_to_remember();
        flood.validate().map_err(|e| invalid("flooding", e.to_string()))?;
        let defaults = NodeConfig::default();
        Ok(NodeConfig {
            peer_port: self.listen_port,
            target_peer_connections: self.target_outbound_peers,
            max_outbound_peers: Some(self.max_outbound_peers),
            max_additional_peer_connections: Some(self.max_inbound_peers),
            max_pending_connections: self.max_pending_connections,
            known_peers: self.known_peers.clone(),
            preferred_peers: self.preferred_peers.clone(),
            preferred_peer_keys: self.preferred_peer_keys.clone(),
            preferred_peers_only: self.preferred_peers_only,
            run_standalone: self.run_standalone,
            first_tick_delay: self.first_tick_delay,
            tick_period: Duration::from_secs(self.auth_timeout_secs + 1),
            out_of_sync_reconnect_delay: defaults.out_of_sync_reconnect_delay,
            allow_localhost_for_testing: self.allow_localhost_for_testing,
            allow_private_addresses_for_testing: self.allow_private_addresses_for_testing,
            peer,
            flood,
            ledger: self.ledger,
            items: self.items.clone(),
            flood_rate_limit_per_sec: self.flood_rate_limit_per_sec,
            survey: SurveyConfig {
                surveyor_keys: self.surveyor_keys.clone(),
                is_validator: self.node_is_validator,
                request_period: self.survey_request_period,
                ..defaults.survey
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_names_map_onto_stellar_core_keys() {
        let c = OverlayConfig {
            max_inbound_peers: 10,
            max_outbound_peers: 6,
            target_outbound_peers: 4,
            auth_timeout_secs: 5,
            listen_port: 11700,
            flood_ttl_secs: 300,
            ..OverlayConfig::default()
        };
        let n = c.node_config().unwrap();
        assert_eq!(n.max_additional_peer_connections, Some(10));
        assert_eq!(n.limits().max_outbound, 6);
        assert_eq!(n.limits().target_outbound, 4);
        assert_eq!(n.peer.authentication_timeout, Duration::from_secs(5));
        assert_eq!(n.tick_period, Duration::from_secs(6));
        assert_eq!(n.peer_port, 11700);
        assert_eq!(n.flood.max_slots_to_remember, 60, "300 s of 5 s ledgers");
        assert_eq!(OverlayConfig::default().node_config().unwrap().flood.max_slots_to_remember, 12);
    }

    #[test]
    fn survey_settings_reach_the_node() {
        let surveyor = overlay_auth::NodeIdentity::from_seed([3; 32]).node_id();
        let c = OverlayConfig {
            surveyor_keys: [surveyor].into(),
            node_is_validator: true,
            survey_request_period: Duration::from_millis(200),
            ..OverlayConfig::default()
        };
        let s = c.node_config().unwrap().survey;
        assert_eq!(s.surveyor_keys, [surveyor].into());
        assert!(s.is_validator);
        assert_eq!(s.request_period, Duration::from_millis(200));
        assert_eq!(s.requests_per_period, 10);
        assert_eq!(OverlayConfig::default().node_config().unwrap().survey, SurveyConfig::default());
        let bad = OverlayConfig { survey_request_period: Duration::ZERO, ..OverlayConfig::default() };
        assert!(bad.node_config().unwrap_err().to_string().contains("survey_request_period"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = OverlayConfig { max_outbound_peers: 2, target_outbound_peers: 3, ..OverlayConfig::default() };
        assert!(bad.node_config().unwrap_err().to_string().contains("max_outbound_peers"));
        let bad = OverlayConfig { auth_timeout_secs: 0, ..OverlayConfig::default() };
        assert!(bad.node_config().unwrap_err().to_string().contains("PEER_AUTHENTICATION_TIMEOUT"));
    }
}
