//! [`NodeId`]: a node's Ed25519 public key, shown as a `G...` strkey.

use core::fmt;
use core::str::FromStr;
use stellar_xdr::{PublicKey, Uint256};

/// A node's identity: its Ed25519 public key (PROTOCOL.md §3.2).
///
/// ```
/// use overlay_proto::NodeId;
/// let id: NodeId = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ".parse().unwrap();
/// assert_eq!(id.to_string(), "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ");
/// assert_eq!(id.short(), "GAIF3");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl core::hash::Hash for NodeId {
    /// Eight bytes of the key: equal keys agree on them, and two distinct keys share them only
    /// if someone searched 2⁶⁴ keys for it. Maps of peers are on the per-message path.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let (head, _) = self.0.split_first_chunk::<8>().expect("32 bytes");
        state.write_u64(u64::from_le_bytes(*head));
    }
}

impl NodeId {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The XDR `NodeID`.
    pub fn to_xdr(&self) -> stellar_xdr::NodeId {
        stellar_xdr::NodeId(PublicKey::PublicKeyTypeEd25519(Uint256(self.0)))
    }

    /// From an XDR `NodeID` (Ed25519 is the only key type).
    pub fn from_xdr(id: &stellar_xdr::NodeId) -> Self {
        let PublicKey::PublicKeyTypeEd25519(Uint256(k)) = &id.0;
        NodeId(*k)
    }

    /// The first five characters of the strkey, as stellar-core's short form in log and
    /// ERROR texts (`"already-connected peer: GAIF3"`).
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(5);
        s
    }
}

impl From<&stellar_xdr::NodeId> for NodeId {
    fn from(id: &stellar_xdr::NodeId) -> Self {
        NodeId::from_xdr(id)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", stellar_strkey::ed25519::PublicKey(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// A string that is not a `G...` public key strkey.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a G... public key strkey")]
pub struct InvalidNodeId;

impl FromStr for NodeId {
    type Err = InvalidNodeId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        stellar_strkey::ed25519::PublicKey::from_string(s.trim()).map(|k| NodeId(k.0)).map_err(|_| InvalidNodeId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdr_round_trip_and_strkey() {
        let hex = "105d91a9dce0ace35ac91892801ca6b45dc785ae116b9f65a46a6526b5712221";
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        let id = NodeId(k);
        assert_eq!(id.to_string(), "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ");
        assert_eq!(NodeId::from_xdr(&id.to_xdr()), id);
        assert!("SDP4WMPE2XWJ6YRYRO2DNA5CIO4RBVIWTAUQUBVMIKBAVOR3JN7KE4XA".parse::<NodeId>().is_err());
        assert!("G".parse::<NodeId>().is_err());
    }
}
