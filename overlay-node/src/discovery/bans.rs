//! Bans (PROTOCOL.md §10.6; stellar-core `BanManager`): node ids whose HELLO is refused.
//!
//! Banning does not drop an existing connection: the admin path drops the peer first
//! (`ERR_MISC "dropped by user"`) and then bans it. The ban is checked only when a HELLO is
//! processed (§3.5 step 3). Stores keep node ids as `G...` strkeys
//! ([`node_id_to_db`](super::node_id_to_db)).

use super::error::StoreError;
use super::manager::PeerManager;
use super::store::PeerStore;
use overlay_proto::NodeId;

impl<S: PeerStore> PeerManager<S> {
    /// Ban `node`; whether it was not banned before. Fails with
    /// [`StoreError::BanListFull`] when the ban list is at its bound.
    ///
    /// ```
    /// use overlay_node::discovery::{DiscoveryConfig, MemoryStore, PeerManager};
    /// use overlay_proto::NodeId;
    /// let mut pm = PeerManager::new(MemoryStore::new(), DiscoveryConfig::default());
    /// let id: NodeId = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ".parse().unwrap();
    /// assert!(pm.ban(&id).unwrap());
    /// assert!(pm.is_banned(&id).unwrap());
    /// assert_eq!(pm.bans().unwrap(), vec![id]);
    /// assert!(pm.unban(&id).unwrap());
    /// assert!(!pm.is_banned(&id).unwrap());
    /// ```
    pub fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        self.store.ban(node)
    }

    /// Lift the ban on `node`; whether it was banned.
    pub fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        self.store.unban(node)
    }

    /// Whether `node` is banned. A HELLO check that gets an error here should refuse the
    /// peer (fail closed) or accept it; that choice belongs to the caller.
    pub fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError> {
        self.store.is_banned(node)
    }

    /// Every banned node (the admin `bans` command), in the store's stable order.
    pub fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        self.store.bans()
    }
}
