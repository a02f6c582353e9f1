//! AuthCert creation, re-issue and strict verification (PROTOCOL.md §3.3).

use crate::error::CertError;
use crate::identity::NodeIdentity;
use ed25519_dalek::{Signature, VerifyingKey};
use overlay_proto::xdr::{AuthCert, Curve25519Public, Signature as XdrSignature};
use overlay_proto::{NetworkId, NodeId};
use sha2::{Digest, Sha256};

/// Lifetime of a certificate we issue, in seconds.
pub const CERT_LIFETIME_SECS: u64 = 3600;
/// A certificate is re-issued when it expires within this many seconds.
pub const CERT_REFRESH_MARGIN_SECS: u64 = 1800;
/// `ENVELOPE_TYPE_AUTH`.
const ENVELOPE_TYPE_AUTH: u32 = 3;

/// `SHA-256(networkID ‖ u32_be(ENVELOPE_TYPE_AUTH) ‖ u64_be(expiration) ‖ pubkey)`, the hash a
/// certificate signs.
pub fn cert_signed_hash(network_id: &NetworkId, expiration: u64, ecdh_public: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(network_id.as_bytes());
    h.update(ENVELOPE_TYPE_AUTH.to_be_bytes());
    h.update(expiration.to_be_bytes());
    h.update(ecdh_public);
    h.finalize().into()
}

/// A certificate for `ecdh_public` that expires at `expiration` (Unix seconds).
pub fn make_cert(identity: &NodeIdentity, network_id: &NetworkId, ecdh_public: &[u8; 32], expiration: u64) -> AuthCert {
    let hash = cert_signed_hash(network_id, expiration, ecdh_public);
    let sig = identity.sign(&hash);
    AuthCert {
        pubkey: Curve25519Public { key: *ecdh_public },
        expiration,
        sig: XdrSignature(sig.to_vec().try_into().expect("64 bytes fit Signature<64>")),
    }
}

/// Verify a received certificate for the claimed `peer` at wall-clock time `now_unix`.
///
/// Rejects an expired certificate (`expiration < now`; equal is accepted, and no upper
/// bound is checked), a signature that is not exactly 64 bytes, and any signature that
/// strict Ed25519 verification rejects (small-order or non-canonical encodings included).
#[allow(unexpected_cfgs)]
pub fn verify_cert(cert: &AuthCert, peer: &NodeId, network_id: &NetworkId, now_unix: u64) -> Result<(), CertError> {
    if cert.expiration < now_unix {
        return Err(CertError::Expired { expiration: cert.expiration, now: now_unix });
    }
    let sig: [u8; 64] =
        cert.sig.0.as_slice().try_into().map_err(|_| CertError::BadSignatureLength(cert.sig.0.len()))?;
    #[cfg(fuzzing)]
    if crate::fuzz_build::fuzzing::memoize() {
        let hash = cert_signed_hash(network_id, cert.expiration, &cert.pubkey.key);
        return crate::fuzz_build::fuzzing::CERTS.get_or((*peer.as_bytes(), hash, sig), || {
            let key = VerifyingKey::from_bytes(peer.as_bytes()).map_err(|_| CertError::BadKey)?;
            key.verify_strict(&hash, &Signature::from_bytes(&sig)).map_err(|_| CertError::BadSignature)
        });
    }
    let key = VerifyingKey::from_bytes(peer.as_bytes()).map_err(|_| CertError::BadKey)?;
    let hash = cert_signed_hash(network_id, cert.expiration, &cert.pubkey.key);
    key.verify_strict(&hash, &Signature::from_bytes(&sig)).map_err(|_| CertError::BadSignature)
}

/// Issues our certificate and re-issues it when it nears expiry.
#[derive(Debug, Clone)]
pub struct CertIssuer {
    current: Option<AuthCert>,
}

impl Default for CertIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl CertIssuer {
    /// An issuer with no certificate yet.
    pub fn new() -> Self {
        CertIssuer { current: None }
    }

    /// The certificate to put in a HELLO sent at `now_unix`: the cached one, or a new one
    /// (expiring at `now + 3600`) if none exists or the cached one expires before
    /// `now + 1800`.
    pub fn cert(
        &mut self,
        identity: &NodeIdentity,
        network_id: &NetworkId,
        ecdh_public: &[u8; 32],
        now_unix: u64,
    ) -> &AuthCert {
        let stale =
            self.current.as_ref().is_none_or(|c| c.expiration < now_unix.saturating_add(CERT_REFRESH_MARGIN_SECS));
        if stale {
            let expiration = now_unix.saturating_add(CERT_LIFETIME_SECS);
            self.current = Some(make_cert(identity, network_id, ecdh_public, expiration));
        }
        self.current.as_ref().expect("set above")
    }
}
