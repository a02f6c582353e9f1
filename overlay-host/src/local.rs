//! [`LocalNode`]: who we are on the network.

use crate::clock::{random_bytes, unix_now};
use overlay_auth::{Handshake, HelloParams, LocalAuth, NodeIdentity};
use overlay_proto::{Network, NetworkId, NodeId};
use std::sync::{Arc, Mutex};

/// Our identity, network and HELLO parameters.
///
/// ```
/// use overlay_host::LocalNode;
/// use overlay_auth::NodeIdentity;
///
/// let node = LocalNode::new_testnet(NodeIdentity::from_seed([7; 32]));
/// assert_eq!(node.network_id, overlay_proto::Network::Testnet.id());
/// ```
#[derive(Debug, Clone)]
pub struct LocalNode {
    /// The node's long-term key.
    pub identity: NodeIdentity,
    /// The network.
    pub network_id: NetworkId,
    /// What we advertise in HELLO (versions, version string, listening port).
    pub hello: HelloParams,
}

impl LocalNode {
    /// A node on `network_id` with default HELLO parameters.
    pub fn new(identity: NodeIdentity, network_id: NetworkId) -> Self {
        LocalNode { identity, network_id, hello: HelloParams::default() }
    }

    /// A node on the test network.
    pub fn new_testnet(identity: NodeIdentity) -> Self {
        Self::new(identity, Network::Testnet.id())
    }

    /// A node on the public network.
    pub fn new_pubnet(identity: NodeIdentity) -> Self {
        Self::new(identity, Network::Pubnet.id())
    }

    /// A node with a fresh random identity.
    pub fn generate(network_id: NetworkId) -> Self {
        Self::new(NodeIdentity::from_seed(random_bytes()), network_id)
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }
}

/// A fresh random node identity, from the operating system's generator (a core crate takes
/// no randomness of its own, so the driver provides it).
///
/// ```
/// use overlay_auth::NodeIdentity;
/// use overlay_host::GenerateIdentity;
/// let a = NodeIdentity::generate();
/// assert_ne!(a.node_id(), NodeIdentity::generate().node_id());
/// ```
pub trait GenerateIdentity {
    /// A new identity.
    fn generate() -> Self;
}

impl GenerateIdentity for NodeIdentity {
    fn generate() -> Self {
        NodeIdentity::from_seed(random_bytes())
    }
}

/// The process's handshake keys, shared by every connection: one random ECDH key per
/// process, certificates re-issued as they age (§3.2, §3.3).
#[derive(Debug, Clone)]
pub struct SharedAuth(Arc<Mutex<LocalAuth>>);

impl SharedAuth {
    /// Keys for `local`, with a fresh random ECDH secret.
    pub fn new(local: &LocalNode) -> Self {
        let auth = LocalAuth::new(local.identity.clone(), local.network_id, random_bytes(), local.hello.clone());
        SharedAuth(Arc::new(Mutex::new(auth)))
    }

    /// Our NodeID.
    pub fn node_id(&self) -> NodeId {
        self.lock().node_id()
    }

    /// A handshake for a connection we dialed, with a fresh nonce.
    pub fn initiate(&self) -> Handshake {
        self.lock().initiate(unix_now(), random_bytes())
    }

    /// A handshake for a connection we accepted, with a fresh nonce.
    pub fn accept(&self) -> Handshake {
        self.lock().accept(unix_now(), random_bytes())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LocalAuth> {
        // A panic while holding the lock cannot leave LocalAuth half-updated in a way that
        // matters (it only caches a certificate), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
