//! HELLO: what we advertise, and the facts we keep from the remote's (PROTOCOL.md §3.5).

use overlay_proto::version::{
    DEFAULT_PEER_PORT, LEDGER_PROTOCOL_VERSION, OVERLAY_PROTOCOL_MIN_VERSION, OVERLAY_PROTOCOL_VERSION, VERSION_STR,
};
use overlay_proto::xdr::{AuthCert, Hello, Uint256};
use overlay_proto::{NetworkId, NodeId};

/// The values we put in every HELLO besides identity, certificate and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloParams {
    /// `ledgerVersion` (informational). Default 28.
    pub ledger_version: u32,
    /// `overlayVersion`. Default 42 (`OVERLAY_PROTOCOL_VERSION`).
    pub overlay_version: u32,
    /// `overlayMinVersion`. Default 41 (`OVERLAY_PROTOCOL_MIN_VERSION`).
    pub overlay_min_version: u32,
    /// `versionStr`, at most 100 bytes (longer strings are truncated).
    pub version_str: String,
    /// `listeningPort`: our `PEER_PORT`. Default 11625.
    pub listening_port: u16,
}

impl Default for HelloParams {
    fn default() -> Self {
        HelloParams {
            ledger_version: LEDGER_PROTOCOL_VERSION,
            overlay_version: OVERLAY_PROTOCOL_VERSION,
            overlay_min_version: OVERLAY_PROTOCOL_MIN_VERSION,
            version_str: VERSION_STR.to_string(),
            listening_port: DEFAULT_PEER_PORT,
        }
    }
}

impl HelloParams {
    /// The HELLO for these parameters.
    pub fn build(&self, node_id: &NodeId, network_id: &NetworkId, cert: &AuthCert, nonce: &[u8; 32]) -> Hello {
        let mut version = self.version_str.as_bytes().to_vec();
        version.truncate(100);
        Hello {
            ledger_version: self.ledger_version,
            overlay_version: self.overlay_version,
            overlay_min_version: self.overlay_min_version,
            network_id: overlay_proto::xdr::Hash(network_id.0),
            version_str: version.try_into().expect("truncated to 100 bytes"),
            listening_port: i32::from(self.listening_port),
            peer_id: node_id.to_xdr(),
            cert: cert.clone(),
            nonce: Uint256(*nonce),
        }
    }
}

/// What we learned from a remote HELLO that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloFacts {
    /// The remote's NodeID.
    pub node_id: NodeId,
    /// Its `overlayVersion`.
    pub overlay_version: u32,
    /// Its `overlayMinVersion`.
    pub overlay_min_version: u32,
    /// Its `ledgerVersion` (not validated).
    pub ledger_version: u32,
    /// Its `versionStr`, lossily decoded as UTF-8 (not validated).
    pub version_str: String,
    /// Its `listeningPort`, checked to be 1..=65535. The peer's address is
    /// `(remote IP, listening_port)` from here on.
    pub listening_port: u16,
    /// The expiration of the certificate it presented, Unix seconds.
    pub cert_expiration: u64,
}

impl HelloFacts {
    pub(crate) fn from_hello(hello: &Hello, listening_port: u16) -> Self {
        HelloFacts {
            node_id: NodeId::from_xdr(&hello.peer_id),
            overlay_version: hello.overlay_version,
            overlay_min_version: hello.overlay_min_version,
            ledger_version: hello.ledger_version,
            version_str: String::from_utf8_lossy(hello.version_str.as_vec()).into_owned(),
            listening_port,
            cert_expiration: hello.cert.expiration,
        }
    }
}
