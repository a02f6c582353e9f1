//! A stellar-core configuration file (TOML), read unchanged: a validator's or a watcher's whole
//! file, with its `[QUORUM_SET]`, `[[VALIDATORS]]`, `[HISTORY.*]` sections and every other key.
//!
//! The keys that concern the overlay are applied onto an [`OverlayConfig`] (a wrong value is
//! an error naming its key); the validators of `[QUORUM_SET]` and `[[VALIDATORS]]` become the
//! relay's trusted validators and the node's quorum for surveys (the surveyors it hears while
//! `SURVEYOR_KEYS` is empty, §12.3), and `[[VALIDATORS]]` addresses become known peers
//! (preferred for our own home domain, §11.5). The other keys are listed by
//! [`CoreConfig::ignored`], for the log.

use overlay_auth::NodeIdentity;
use overlay_proto::{NetworkId, NodeId, PeerAddress};
use overlay_tokio::OverlayConfig;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or a value has the wrong type.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value is out of range or malformed.
    #[error("{key}: {reason}")]
    Value {
        /// The stellar-core key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The overlay-related keys of a stellar-core configuration file.
#[derive(Debug, Default, Deserialize)]
#[allow(non_snake_case, missing_docs)]
pub struct CoreConfig {
    pub NETWORK_PASSPHRASE: Option<String>,
    /// `S...`, optionally followed by a name (`"S... self"`), as stellar-core accepts.
    pub NODE_SEED: Option<String>,
    pub PEER_PORT: Option<u16>,
    pub KNOWN_PEERS: Option<Vec<String>>,
    pub PREFERRED_PEERS: Option<Vec<String>>,
    pub PREFERRED_PEER_KEYS: Option<Vec<String>>,
    pub PREFERRED_PEERS_ONLY: Option<bool>,
    pub TARGET_PEER_CONNECTIONS: Option<usize>,
    pub MAX_ADDITIONAL_PEER_CONNECTIONS: Option<i64>,
    pub MAX_PENDING_CONNECTIONS: Option<usize>,
    pub PEER_AUTHENTICATION_TIMEOUT: Option<u64>,
    pub PEER_TIMEOUT: Option<u64>,
    pub PEER_STRAGGLER_TIMEOUT: Option<u64>,
    pub PEER_READING_CAPACITY: Option<u32>,
    pub PEER_FLOOD_READING_CAPACITY: Option<u32>,
    pub FLOW_CONTROL_SEND_MORE_BATCH_SIZE: Option<u32>,
    pub PEER_FLOOD_READING_CAPACITY_BYTES: Option<u32>,
    pub FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES: Option<u32>,
    pub PEER_TOTAL_READING_CAPACITY_BYTES: Option<u64>,
    pub OUTBOUND_TX_QUEUE_BYTE_LIMIT: Option<u64>,
    pub FLOOD_OP_RATE_PER_LEDGER: Option<f64>,
    pub FLOOD_SOROBAN_RATE_PER_LEDGER: Option<f64>,
    pub FLOOD_ADVERT_PERIOD_MS: Option<u64>,
    pub FLOOD_DEMAND_PERIOD_MS: Option<u64>,
    pub FLOOD_DEMAND_BACKOFF_DELAY_MS: Option<u64>,
    pub MAX_SLOTS_TO_REMEMBER: Option<u32>,
    pub RUN_STANDALONE: Option<bool>,
    /// `sqlite3://PATH` (stellar-core's form) or a bare path: the peer database.
    pub DATABASE: Option<String>,
    /// The admin HTTP port (on 127.0.0.1 unless `PUBLIC_HTTP_PORT`).
    pub HTTP_PORT: Option<u16>,
    pub PUBLIC_HTTP_PORT: Option<bool>,
    pub ALLOW_LOCALHOST_FOR_TESTING: Option<bool>,
    pub ALLOW_PRIVATE_ADDRESSES_FOR_TESTING: Option<bool>,
    pub NODE_HOME_DOMAIN: Option<String>,
    /// Reported in survey responses.
    pub NODE_IS_VALIDATOR: Option<bool>,
    /// The surveyors whose surveys the node takes part in: `G...` keys (optionally followed
    /// by a name) or `$name` of a validator named in the file; empty or absent: the validators
    /// of the quorum set.
    pub SURVEYOR_KEYS: Option<Vec<String>>,
    /// `[[VALIDATORS]]` entries.
    pub VALIDATORS: Option<Vec<Validator>>,
    /// Every validator named anywhere in `[QUORUM_SET]` (inner sets included).
    #[serde(skip)]
    pub quorum_set_validators: Vec<String>,
    /// Top-level keys and sections the overlay does not use.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

/// One `[[VALIDATORS]]` entry (the keys the overlay uses; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[allow(non_snake_case, missing_docs)]
pub struct Validator {
    pub NAME: Option<String>,
    pub HOME_DOMAIN: Option<String>,
    pub PUBLIC_KEY: Option<String>,
    pub ADDRESS: Option<String>,
}

/// The top-level keys [`CoreConfig`] reads.
const USED: &[&str] = &[
    "NETWORK_PASSPHRASE",
    "NODE_SEED",
    "PEER_PORT",
    "KNOWN_PEERS",
    "PREFERRED_PEERS",
    "PREFERRED_PEER_KEYS",
    "PREFERRED_PEERS_ONLY",
    "TARGET_PEER_CONNECTIONS",
    "MAX_ADDITIONAL_PEER_CONNECTIONS",
    "MAX_PENDING_CONNECTIONS",
    "PEER_AUTHENTICATION_TIMEOUT",
    "PEER_TIMEOUT",
    "PEER_STRAGGLER_TIMEOUT",
    "PEER_READING_CAPACITY",
    "PEER_FLOOD_READING_CAPACITY",
    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE",
    "PEER_FLOOD_READING_CAPACITY_BYTES",
    "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES",
    "PEER_TOTAL_READING_CAPACITY_BYTES",
    "OUTBOUND_TX_QUEUE_BYTE_LIMIT",
    "FLOOD_OP_RATE_PER_LEDGER",
    "FLOOD_SOROBAN_RATE_PER_LEDGER",
    "FLOOD_ADVERT_PERIOD_MS",
    "FLOOD_DEMAND_PERIOD_MS",
    "FLOOD_DEMAND_BACKOFF_DELAY_MS",
    "MAX_SLOTS_TO_REMEMBER",
    "RUN_STANDALONE",
    "DATABASE",
    "HTTP_PORT",
    "PUBLIC_HTTP_PORT",
    "ALLOW_LOCALHOST_FOR_TESTING",
    "ALLOW_PRIVATE_ADDRESSES_FOR_TESTING",
    "NODE_HOME_DOMAIN",
    "NODE_IS_VALIDATOR",
    "SURVEYOR_KEYS",
    "VALIDATORS",
    "QUORUM_SET",
];

/// Every `VALIDATORS` list under a `[QUORUM_SET]` table and its inner sets.
fn quorum_validators(t: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in t {
        match v {
            toml::Value::Array(a) if k == "VALIDATORS" => {
                out.extend(a.iter().filter_map(|x| x.as_str()).map(str::to_string));
            }
            toml::Value::Table(inner) => quorum_validators(inner, out),
            _ => {}
        }
    }
}

impl CoreConfig {
    /// Read and parse a file.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigFileError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    /// Parse TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigFileError> {
        let mut c: CoreConfig = toml::from_str(text).map_err(|e| ConfigFileError::Parse(e.to_string()))?;
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigFileError::Parse(e.to_string()))?;
        c.ignored = table.keys().filter(|k| !USED.contains(&k.as_str())).cloned().collect();
        if let Some(toml::Value::Table(q)) = table.get("QUORUM_SET") {
            quorum_validators(q, &mut c.quorum_set_validators);
        }
        Ok(c)
    }

    /// The admin HTTP address: `HTTP_PORT` on 127.0.0.1, or on every address with
    /// `PUBLIC_HTTP_PORT = true`; `None` without `HTTP_PORT` (or with 0, stellar-core's "off").
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        let port = self.HTTP_PORT.filter(|p| *p != 0)?;
        let ip: std::net::IpAddr =
            if self.PUBLIC_HTTP_PORT == Some(true) { [0, 0, 0, 0].into() } else { [127, 0, 0, 1].into() };
        Some(std::net::SocketAddr::new(ip, port))
    }

    /// The validators named by `[QUORUM_SET]` and `[[VALIDATORS]]` (a key, optionally
    /// followed by a name; `$name` references are skipped).
    fn trusted(&self) -> Result<Vec<NodeId>, ConfigFileError> {
        let from_qset = self.quorum_set_validators.iter().map(|s| ("QUORUM_SET.VALIDATORS", s.as_str()));
        let from_list = self
            .VALIDATORS
            .iter()
            .flatten()
            .filter_map(|v| v.PUBLIC_KEY.as_deref())
            .map(|s| ("VALIDATORS.PUBLIC_KEY", s));
        let mut out = Vec::new();
        for (key, s) in from_qset.chain(from_list) {
            let first = s.split_whitespace().next().unwrap_or_default();
            if first.starts_with('$') {
                continue;
            }
            let id =
                first.parse::<NodeId>().map_err(|e| ConfigFileError::Value { key, reason: format!("{s}: {e}") })?;
            out.push(id);
        }
        Ok(out)
    }

    /// `SURVEYOR_KEYS`: `G...` keys, or `$name` of a validator the file names (in
    /// `[[VALIDATORS]]` or `[QUORUM_SET]` as `"G... name"`).
    fn surveyors(&self) -> Result<Vec<NodeId>, ConfigFileError> {
        let invalid = |reason: String| ConfigFileError::Value { key: "SURVEYOR_KEYS", reason };
        let named = |name: &str| -> Option<&str> {
            let listed = self.VALIDATORS.iter().flatten().find(|v| v.NAME.as_deref() == Some(name));
            listed.and_then(|v| v.PUBLIC_KEY.as_deref()).or_else(|| {
                self.quorum_set_validators.iter().find_map(|s| {
                    let mut words = s.split_whitespace();
                    let key = words.next()?;
                    (words.next() == Some(name)).then_some(key)
                })
            })
        };
        let mut out = Vec::new();
        for s in self.SURVEYOR_KEYS.iter().flatten() {
            let first = s.split_whitespace().next().unwrap_or_default();
            let key = match first.strip_prefix('$') {
                Some(name) => named(name).ok_or_else(|| invalid(format!("{s}: no validator is named {name}")))?,
                None => first,
            };
            let key = key.split_whitespace().next().unwrap_or_default();
            out.push(key.parse::<NodeId>().map_err(|e| invalid(format!("{s}: {e}")))?);
        }
        Ok(out)
    }

    /// The network id, if NETWORK_PASSPHRASE is set.
    pub fn network_id(&self) -> Option<NetworkId> {
        self.NETWORK_PASSPHRASE.as_deref().map(NetworkId::from_passphrase)
    }

    /// The node identity, if NODE_SEED is set.
    pub fn identity(&self) -> Result<Option<NodeIdentity>, ConfigFileError> {
        let Some(seed) = &self.NODE_SEED else { return Ok(None) };
        let key = seed.split_whitespace().next().unwrap_or_default();
        NodeIdentity::from_strkey(key)
            .map(Some)
            .map_err(|e| ConfigFileError::Value { key: "NODE_SEED", reason: e.to_string() })
    }

    /// Write the values that are set into `config`.
    pub fn apply(&self, config: &mut OverlayConfig) -> Result<(), ConfigFileError> {
        set(&mut config.listen_port, self.PEER_PORT);
        if let Some(v) = &self.KNOWN_PEERS {
            config.known_peers = addresses("KNOWN_PEERS", v)?;
        }
        if let Some(v) = &self.PREFERRED_PEERS {
            config.preferred_peers = addresses("PREFERRED_PEERS", v)?;
        }
        if let Some(keys) = &self.PREFERRED_PEER_KEYS {
            config.preferred_peer_keys = keys
                .iter()
                .map(|k| k.split_whitespace().next().unwrap_or_default().parse::<NodeId>())
                .collect::<Result<_, _>>()
                .map_err(|e| ConfigFileError::Value { key: "PREFERRED_PEER_KEYS", reason: e.to_string() })?;
        }
        set(&mut config.preferred_peers_only, self.PREFERRED_PEERS_ONLY);
        if let Some(t) = self.TARGET_PEER_CONNECTIONS {
            config.target_outbound_peers = t;
            config.max_outbound_peers = t;
            config.max_inbound_peers = 8 * t;
        }
        if let Some(v) = self.MAX_ADDITIONAL_PEER_CONNECTIONS {
            config.max_inbound_peers = match v {
                -1 => 8 * config.target_outbound_peers,
                v => usize::try_from(v).map_err(|_| ConfigFileError::Value {
                    key: "MAX_ADDITIONAL_PEER_CONNECTIONS",
                    reason: "must be -1 or at least 0".into(),
                })?,
            };
        }
        set(&mut config.max_pending_connections, self.MAX_PENDING_CONNECTIONS);
        set(&mut config.run_standalone, self.RUN_STANDALONE);
        set(&mut config.auth_timeout_secs, self.PEER_AUTHENTICATION_TIMEOUT);
        set(&mut config.peer.idle_timeout, self.PEER_TIMEOUT.map(Duration::from_secs));
        set(&mut config.peer.straggler_timeout, self.PEER_STRAGGLER_TIMEOUT.map(Duration::from_secs));
        let flow = &mut config.peer.flow;
        set(&mut flow.peer_reading_capacity_msgs, self.PEER_READING_CAPACITY);
        set(&mut flow.peer_flood_reading_capacity_msgs, self.PEER_FLOOD_READING_CAPACITY);
        set(&mut flow.send_more_batch_msgs, self.FLOW_CONTROL_SEND_MORE_BATCH_SIZE);
        set(&mut flow.peer_flood_reading_capacity_bytes, self.PEER_FLOOD_READING_CAPACITY_BYTES);
        set(&mut flow.send_more_batch_bytes, self.FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES);
        set(&mut flow.peer_total_reading_capacity_bytes, self.PEER_TOTAL_READING_CAPACITY_BYTES);
        set(&mut flow.outbound_tx_queue_byte_limit, self.OUTBOUND_TX_QUEUE_BYTE_LIMIT);
        let flood = &mut config.flood;
        set(&mut flood.flood_op_rate_per_ledger, self.FLOOD_OP_RATE_PER_LEDGER);
        set(&mut flood.flood_soroban_rate_per_ledger, self.FLOOD_SOROBAN_RATE_PER_LEDGER);
        set(&mut flood.flood_advert_period_ms, self.FLOOD_ADVERT_PERIOD_MS);
        set(&mut flood.flood_demand_period_ms, self.FLOOD_DEMAND_PERIOD_MS);
        set(&mut flood.flood_demand_backoff_delay_ms, self.FLOOD_DEMAND_BACKOFF_DELAY_MS);
        if let Some(slots) = self.MAX_SLOTS_TO_REMEMBER {
            if slots == 0 {
                return Err(ConfigFileError::Value {
                    key: "MAX_SLOTS_TO_REMEMBER",
                    reason: "must be at least 1".into(),
                });
            }
            config.flood_ttl_secs = u64::from(slots) * config.ledger.ledger_close_time_ms / 1000;
        }
        if let Some(db) = &self.DATABASE {
            let path = db.strip_prefix("sqlite3://").unwrap_or(db);
            config.database = (path != ":memory:").then(|| PathBuf::from(path));
        }
        if let Some(p) = &self.NETWORK_PASSPHRASE {
            config.network_passphrase = p.clone();
        }
        set(&mut config.allow_localhost_for_testing, self.ALLOW_LOCALHOST_FOR_TESTING);
        set(&mut config.allow_private_addresses_for_testing, self.ALLOW_PRIVATE_ADDRESSES_FOR_TESTING);
        let trusted = self.trusted()?;
        config.trusted_validators.extend(trusted.iter().copied());
        config.transitive_quorum.extend(trusted);
        config.surveyor_keys.extend(self.surveyors()?);
        set(&mut config.node_is_validator, self.NODE_IS_VALIDATOR);
        for v in self.VALIDATORS.iter().flatten() {
            let Some(a) = &v.ADDRESS else { continue };
            let address = addresses("VALIDATORS.ADDRESS", std::slice::from_ref(a))?;
            let ours = v.HOME_DOMAIN.is_some() && v.HOME_DOMAIN == self.NODE_HOME_DOMAIN;
            if ours { config.preferred_peers.extend(address) } else { config.known_peers.extend(address) }
        }
        config
            .node_config()
            .map(|_| ())
            .map_err(|e| ConfigFileError::Value { key: "configuration", reason: e.to_string() })
    }
}

/// `host[:port]` entries of `key`.
fn addresses(key: &'static str, entries: &[String]) -> Result<Vec<PeerAddress>, ConfigFileError> {
    entries
        .iter()
        .map(|e| {
            PeerAddress::parse_with_default_port(e, overlay_proto::version::DEFAULT_PEER_PORT)
                .map_err(|err| ConfigFileError::Value { key, reason: format!("{e}: {err}") })
        })
        .collect()
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stellar_core_file_applies_its_overlay_keys() {
        let text = r#"
            NETWORK_PASSPHRASE = "Test SDF Network ; September 2015"
            PEER_PORT = 11700
            KNOWN_PEERS = ["core-testnet1.stellar.org", "10.0.0.1:11625"]
            TARGET_PEER_CONNECTIONS = 4
            DATABASE = "sqlite3://peers.db"
            HTTP_PORT = 11626   # not ours: ignored
        "#;
        let file = CoreConfig::parse(text).unwrap();
        let mut config = OverlayConfig::default();
        file.apply(&mut config).unwrap();
        assert_eq!(config.listen_port, 11700);
        assert_eq!(config.target_outbound_peers, 4);
        assert_eq!(config.known_peers.len(), 2);
        assert_eq!(config.node_config().unwrap().target_peer_connections, 4);
        let bad = CoreConfig::parse("KNOWN_PEERS = [\"1.2.3.4:0\"]").unwrap();
        let e = bad.apply(&mut OverlayConfig::default()).unwrap_err();
        assert!(e.to_string().contains("KNOWN_PEERS"), "{e}");
    }

    #[test]
    fn stellar_core_keys_apply_and_bad_values_are_refused() {
        let f = CoreConfig::parse(
            r#"
            NODE_SEED = "SDP4WMPE2XWJ6YRYRO2DNA5CIO4RBVIWTAUQUBVMIKBAVOR3JN7KE4XA self"
            PREFERRED_PEER_KEYS = ["GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ"]
            MAX_ADDITIONAL_PEER_CONNECTIONS = -1
            PEER_FLOOD_READING_CAPACITY = 100
            FLOW_CONTROL_SEND_MORE_BATCH_SIZE = 20
            DATABASE = "sqlite3://x.db"
            "#,
        )
        .unwrap();
        let mut c = OverlayConfig::default();
        f.apply(&mut c).unwrap();
        assert_eq!(
            f.identity().unwrap().unwrap().node_id().to_string(),
            "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ"
        );
        assert_eq!(c.max_inbound_peers, 64);
        assert_eq!(c.peer.flow.peer_flood_reading_capacity_msgs, 100);
        assert_eq!(c.database, Some(PathBuf::from("x.db")));
        assert_eq!(c.preferred_peer_keys.len(), 1);

        // Batch above capacity is refused, as stellar-core refuses it at load.
        let bad =
            CoreConfig::parse("PEER_FLOOD_READING_CAPACITY = 10\nFLOW_CONTROL_SEND_MORE_BATCH_SIZE = 20").unwrap();
        assert!(bad.apply(&mut OverlayConfig::default()).is_err());
        assert!(CoreConfig::parse("PEER_PORT = \"x\"").is_err());
        assert!(CoreConfig::parse("NODE_SEED = \"nope\"").unwrap().identity().is_err());
    }

    const V1: &str = "GBLWFZHDNDJQU4FFIQF5ECTRHCV3XODZOVHAYDX6EIZTMV2RUL5O6HZL";
    const V2: &str = "GAZBBE4HEL6BG6YHJE22VWEFTHQIRUJI3RCFMMX34JRDUE7G2KDNH4XT";
    const V3: &str = "GDGVV7ANRSYMKJT7W3RXYI6JS6RFCSZMRIQSOEPOADPPSKA5DNRF3LW5";

    fn applied(text: &str) -> Result<OverlayConfig, ConfigFileError> {
        let mut c = OverlayConfig::default();
        CoreConfig::parse(text)?.apply(&mut c)?;
        Ok(c)
    }

    fn ids(keys: &[&str]) -> std::collections::BTreeSet<NodeId> {
        keys.iter().map(|k| k.parse().unwrap()).collect()
    }

    #[test]
    fn survey_keys_apply_and_the_quorum_set_is_heard_without_them() {
        // SURVEYOR_KEYS by key and by the name of a validator the file names.
        let c = applied(&format!(
            r#"
            NODE_IS_VALIDATOR = true
            SURVEYOR_KEYS = ["{V1}", "$v2"]
            [QUORUM_SET]
            THRESHOLD_PERCENT = 100
            VALIDATORS = ["{V2} v2", "{V3} v3"]
            "#
        ))
        .unwrap();
        assert!(c.node_is_validator);
        assert_eq!(c.surveyor_keys, ids(&[V1, V2]));
        let node = c.node_config().unwrap();
        assert_eq!(node.survey.surveyor_keys, ids(&[V1, V2]));
        assert!(node.survey.is_validator);

        // No SURVEYOR_KEYS: the quorum set's validators (inner sets too) are the surveyors the
        // node hears.
        let c = applied(&format!(
            r#"
            [QUORUM_SET]
            THRESHOLD_PERCENT = 67
            VALIDATORS = ["{V1} v1"]
            [QUORUM_SET.inner]
            THRESHOLD_PERCENT = 100
            VALIDATORS = ["{V2} v2", "{V3} v3"]
            "#
        ))
        .unwrap();
        assert!(c.surveyor_keys.is_empty());
        assert!(!c.node_is_validator);
        assert_eq!(c.transitive_quorum, ids(&[V1, V2, V3]));
        // [[VALIDATORS]] make the quorum set too (stellar-core generates it from them).
        let c =
            applied(&format!("[[VALIDATORS]]\nNAME = \"v1\"\nHOME_DOMAIN = \"x\"\nPUBLIC_KEY = \"{V1}\"\n")).unwrap();
        assert_eq!(c.transitive_quorum, ids(&[V1]));
        assert!(CoreConfig::parse("NODE_IS_VALIDATOR = true").unwrap().ignored.is_empty());

        // A bad key, an unknown name: errors naming SURVEYOR_KEYS.
        for bad in ["SURVEYOR_KEYS = [\"GNOPE\"]", "SURVEYOR_KEYS = [\"$nobody\"]"] {
            let e = applied(bad).unwrap_err();
            assert!(e.to_string().contains("SURVEYOR_KEYS"), "{bad}: {e}");
        }
    }
}
