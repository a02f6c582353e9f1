//! The ECDH key and the MAC key derivation (PROTOCOL.md §3.2, §3.4).

use crate::error::CryptoError;
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// Which side of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// We dialed (`WE_CALLED_REMOTE`).
    Initiator,
    /// They dialed us (`REMOTE_CALLED_US`).
    Acceptor,
}

/// The process-wide Curve25519 key used in every AuthCert. stellar-core draws it once per
/// process; the driver passes the 32 random bytes in.
#[derive(Clone)]
pub struct EcdhKeypair {
    secret: StaticSecret,
    public: [u8; 32],
}

impl EcdhKeypair {
    /// From 32 secret bytes (clamped by X25519 as RFC 7748 says).
    #[allow(unexpected_cfgs)]
    pub fn from_secret(secret: [u8; 32]) -> Self {
        #[cfg(fuzzing)]
        if crate::fuzz_build::fuzzing::memoize() {
            let public = crate::fuzz_build::fuzzing::ECDH_PUBLIC
                .get_or(secret, || PublicKey::from(&StaticSecret::from(secret)).to_bytes());
            return EcdhKeypair { secret: StaticSecret::from(secret), public };
        }
        let secret = StaticSecret::from(secret);
        let public = PublicKey::from(&secret).to_bytes();
        EcdhKeypair { secret, public }
    }

    /// The public key `E`.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// `q = X25519(e, remote)`; an all-zero result (a small-order remote key) is an error.
    #[allow(unexpected_cfgs)]
    pub fn shared_secret(&self, remote: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
        #[cfg(fuzzing)]
        if crate::fuzz_build::fuzzing::memoize() {
            let key = (self.public, *remote);
            return crate::fuzz_build::fuzzing::AGREEMENTS.get_or(key, || {
                let q = self.secret.diffie_hellman(&PublicKey::from(*remote));
                if q.was_contributory() { Ok(q.to_bytes()) } else { Err(CryptoError::NonContributory) }
            });
        }
        let q = self.secret.diffie_hellman(&PublicKey::from(*remote));
        if !q.was_contributory() {
            return Err(CryptoError::NonContributory);
        }
        Ok(q.to_bytes())
    }
}

impl core::fmt::Debug for EcdhKeypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EcdhKeypair").field("public", &self.public).finish_non_exhaustive()
    }
}

/// The two per-direction MAC keys of a connection.
#[derive(Clone, PartialEq, Eq)]
pub struct MacKeys {
    /// Key for messages we send.
    pub send: [u8; 32],
    /// Key for messages we receive.
    pub recv: [u8; 32],
}

impl core::fmt::Debug for MacKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MacKeys(..)")
    }
}

/// `K = HKDF_extract(q ‖ E_initiator ‖ E_acceptor)` with an all-zero salt.
pub fn shared_key(q: &[u8; 32], e_initiator: &[u8; 32], e_acceptor: &[u8; 32]) -> [u8; 32] {
    let mut ikm = [0u8; 96];
    ikm[..32].copy_from_slice(q);
    ikm[32..64].copy_from_slice(e_initiator);
    ikm[64..].copy_from_slice(e_acceptor);
    let (prk, _) = Hkdf::<Sha256>::extract(Some(&[0u8; 32]), &ikm);
    prk.into()
}

/// One HKDF-expand block: `HMAC(K, info ‖ 0x01)`.
pub fn expand(k: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::from_prk(k).expect("a 32-byte PRK is valid");
    let mut out = [0u8; 32];
    hkdf.expand(info, &mut out).expect("32 bytes is one block");
    out
}

/// Both MAC keys for our `role`, from the shared secret, both ECDH public keys and both
/// nonces, as in §3.4: `K_AB = expand(K, 0x00 ‖ N_A ‖ N_B)` protects initiator → acceptor,
/// `K_BA = expand(K, 0x01 ‖ N_B ‖ N_A)` protects acceptor → initiator.
#[allow(unexpected_cfgs)]
pub fn derive_mac_keys(
    role: Role,
    q: &[u8; 32],
    local_public: &[u8; 32],
    remote_public: &[u8; 32],
    local_nonce: &[u8; 32],
    remote_nonce: &[u8; 32],
) -> MacKeys {
    #[cfg(fuzzing)]
    if crate::fuzz_build::fuzzing::memoize() {
        let key = (role == Role::Initiator, *q, *local_public, *remote_public, *local_nonce, *remote_nonce);
        return crate::fuzz_build::fuzzing::MAC_KEYS.get_or(key, || {
            crate::fuzz_build::fuzzing::unmemoized(|| {
                derive_mac_keys(role, q, local_public, remote_public, local_nonce, remote_nonce)
            })
        });
    }
    let (e_a, e_b, n_a, n_b) = match role {
        Role::Initiator => (local_public, remote_public, local_nonce, remote_nonce),
        Role::Acceptor => (remote_public, local_public, remote_nonce, local_nonce),
    };
    let k = shared_key(q, e_a, e_b);
    let info = |dir: u8, first: &[u8; 32], second: &[u8; 32]| {
        let mut v = [0u8; 65];
        v[0] = dir;
        v[1..33].copy_from_slice(first);
        v[33..].copy_from_slice(second);
        v
    };
    let k_ab = expand(&k, &info(0, n_a, n_b));
    let k_ba = expand(&k, &info(1, n_b, n_a));
    match role {
        Role::Initiator => MacKeys { send: k_ab, recv: k_ba },
        Role::Acceptor => MacKeys { send: k_ba, recv: k_ab },
    }
}
