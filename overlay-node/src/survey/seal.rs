//! libsodium's sealed box (`crypto_box_seal`), which carries survey responses (§12.2):
//! an ephemeral X25519 public key, then XSalsa20-Poly1305 of the message between the
//! ephemeral secret and the recipient, with the nonce `BLAKE2b-192(ephemeral ‖ recipient)`.
//! 48 bytes longer than the message. The ephemeral secret is an argument: a core crate takes
//! no randomness of its own.

use blake2::Blake2bVar;
use blake2::digest::{Update, VariableOutput};
use crypto_box::aead::Aead;
use crypto_box::{PublicKey, SalsaBox, SecretKey};

/// Bytes a sealed box adds to its message.
pub const SEAL_OVERHEAD: usize = 32 + 16;

/// Why a sealed box did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Shorter than the overhead.
    #[error("sealed box too short")]
    TooShort,
    /// Not sealed to this key, or altered.
    #[error("sealed box does not open")]
    Open,
}

fn nonce(ephemeral: &[u8; 32], recipient: &[u8; 32]) -> crypto_box::Nonce {
    let mut out = [0u8; 24];
    let mut h = Blake2bVar::new(24).expect("BLAKE2b takes 24-byte outputs");
    h.update(ephemeral);
    h.update(recipient);
    let _ = h.finalize_variable(&mut out);
    out.into()
}

/// Seal `message` to `recipient` with the ephemeral secret `ephemeral_secret` (32 random
/// bytes, used once).
///
/// ```
/// use overlay_node::survey::seal::{open, public_key, seal};
/// let secret = [7u8; 32];
/// let sealed = seal(&public_key(&secret), &[9u8; 32], b"topology");
/// assert_eq!(open(&secret, &sealed).unwrap(), b"topology");
/// ```
pub fn seal(recipient: &[u8; 32], ephemeral_secret: &[u8; 32], message: &[u8]) -> Vec<u8> {
    let esk = SecretKey::from(*ephemeral_secret);
    let epk = esk.public_key();
    let n = nonce(epk.as_bytes(), recipient);
    let sealed = SalsaBox::new(&PublicKey::from(*recipient), &esk).encrypt(&n, message).unwrap_or_default();
    let mut out = Vec::with_capacity(32 + sealed.len());
    out.extend_from_slice(epk.as_bytes());
    out.extend_from_slice(&sealed);
    out
}

/// Open a sealed box with the recipient's secret key.
pub fn open(secret: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>, SealError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(SealError::TooShort);
    }
    let sk = SecretKey::from(*secret);
    let mut epk = [0u8; 32];
    epk.copy_from_slice(&sealed[..32]);
    let n = nonce(&epk, sk.public_key().as_bytes());
    SalsaBox::new(&PublicKey::from(epk), &sk).decrypt(&n, &sealed[32..]).map_err(|_| SealError::Open)
}

/// The X25519 public key of a secret.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    *SecretKey::from(*secret).public_key().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_and_tampering_fails() {
        let secret = [1u8; 32];
        let sealed = seal(&public_key(&secret), &[2u8; 32], b"hello");
        assert_eq!(sealed.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(open(&secret, &sealed).unwrap(), b"hello");
        let mut bad = sealed.clone();
        bad[40] ^= 1;
        assert_eq!(open(&secret, &bad), Err(SealError::Open));
        assert_eq!(open(&[3u8; 32], &sealed), Err(SealError::Open));
        assert_eq!(open(&secret, &sealed[..47]), Err(SealError::TooShort));
    }
}
