//! [`NodeIdentity`]: a node's long-term Ed25519 key (`NODE_SEED`, PROTOCOL.md §3.2).

use crate::error::IdentityError;
use core::fmt;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use overlay_proto::NodeId;

/// A node's signing key and the [`NodeId`] it proves.
///
/// ```
/// use overlay_auth::NodeIdentity;
/// let id = NodeIdentity::from_strkey("SDP4WMPE2XWJ6YRYRO2DNA5CIO4RBVIWTAUQUBVMIKBAVOR3JN7KE4XA").unwrap();
/// assert_eq!(id.node_id().to_string(), "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ");
/// ```
#[derive(Clone)]
pub struct NodeIdentity {
    signing: SigningKey,
    node_id: NodeId,
}

impl NodeIdentity {
    /// From the 32-byte Ed25519 seed.
    #[allow(unexpected_cfgs)]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        #[cfg(fuzzing)]
        if crate::fuzz_build::fuzzing::memoize() {
            let signing = crate::fuzz_build::fuzzing::SIGNING_KEYS.get_or(seed, || SigningKey::from_bytes(&seed));
            return NodeIdentity { node_id: NodeId(signing.verifying_key().to_bytes()), signing };
        }
        let signing = SigningKey::from_bytes(&seed);
        let node_id = NodeId(signing.verifying_key().to_bytes());
        NodeIdentity { signing, node_id }
    }

    /// From an `S...` secret seed strkey.
    pub fn from_strkey(s: &str) -> Result<Self, IdentityError> {
        let key =
            stellar_strkey::ed25519::PrivateKey::from_string(s.trim()).map_err(|_| IdentityError::InvalidSecretSeed)?;
        Ok(Self::from_seed(key.0))
    }

    /// The `S...` strkey of the seed. Handle with care: it is the node's secret.
    pub fn secret_strkey(&self) -> String {
        format!("{}", stellar_strkey::ed25519::PrivateKey(self.signing.to_bytes()).as_unredacted())
    }

    /// The public identity.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// An Ed25519 signature of `message`.
    #[allow(unexpected_cfgs)]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        #[cfg(fuzzing)]
        if crate::fuzz_build::fuzzing::memoize() {
            let key = (*self.node_id.as_bytes(), message.to_vec());
            return crate::fuzz_build::fuzzing::SIGNATURES.get_or(key, || self.signing.sign(message).to_bytes());
        }
        self.signing.sign(message).to_bytes()
    }
}

/// Whether `signature` is `node`'s Ed25519 signature of `message`, checked strictly (a
/// signature that is not 64 bytes, a small-order key or a non-canonical encoding fails).
///
/// ```
/// use overlay_auth::{NodeIdentity, identity::verify_signature};
/// let id = NodeIdentity::from_seed([3; 32]);
/// let sig = id.sign(b"statement");
/// assert!(verify_signature(&id.node_id(), b"statement", &sig));
/// assert!(!verify_signature(&id.node_id(), b"another", &sig));
/// ```
#[allow(unexpected_cfgs)]
pub fn verify_signature(node: &NodeId, message: &[u8], signature: &[u8]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(signature) else { return false };
    #[cfg(fuzzing)]
    if crate::fuzz_build::fuzzing::memoize() {
        let key = (*node.as_bytes(), message.to_vec(), sig);
        return crate::fuzz_build::fuzzing::VERIFIED.get_or(key, || {
            VerifyingKey::from_bytes(node.as_bytes())
                .is_ok_and(|k| k.verify_strict(message, &Signature::from_bytes(&sig)).is_ok())
        });
    }
    let Ok(key) = VerifyingKey::from_bytes(node.as_bytes()) else { return false };
    key.verify_strict(message, &Signature::from_bytes(&sig)).is_ok()
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("NodeIdentity").field("node_id", &self.node_id).finish_non_exhaustive()
    }
}
