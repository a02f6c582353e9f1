//! Identity and channel for the Stellar overlay: node keys, AuthCert, the HELLO/AUTH
//! handshake, HKDF key derivation, and the per-direction MAC with sequence numbers.
//!
//! Deterministic protocol logic with no networking and no OS time or randomness: wall-clock
//! seconds (for certificate expiry) and random bytes (the process ECDH secret, each
//! connection's nonce) are arguments. Framing and XDR come from `overlay-proto`; what
//! happens after the handshake (flow control, flooding, peer management) is not here.
//!
//! Start with [`LocalAuth`]: it makes a [`Handshake`] per connection, which ends in an
//! [`Established`] channel whose [`MacChannel`] seals and opens every later message.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cert;
pub mod error;
pub mod handshake;
pub mod hello;
pub mod identity;
pub mod keys;
pub mod mac;

/// Fuzz builds only (`--cfg fuzzing`, which cargo-fuzz sets): memoized public-key crypto
/// (`fuzz_build/fuzzing.rs`). Empty in every other build.
#[doc(hidden)]
#[allow(unexpected_cfgs)]
pub mod fuzz_build {
    #[cfg(fuzzing)]
    pub mod fuzzing;
}

pub use error::{CertError, CryptoError, HandshakeError, IdentityError, MacError, UnsealedFrameError};
pub use handshake::{Established, Handshake, LocalAuth, LocalKeys, OpenPolicy, PeerPolicy, Progress};
pub use hello::{HelloFacts, HelloParams};
pub use identity::NodeIdentity;
pub use keys::{MacKeys, Role};
pub use mac::{MacChannel, MacOpener, MacSealer};
