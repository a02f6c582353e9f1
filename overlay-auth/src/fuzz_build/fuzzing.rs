//! Memoized public-key crypto for fuzz builds only.
//!
//! This module exists only when the crate is compiled with `--cfg fuzzing`, which
//! cargo-fuzz passes and no other build does: it is never part of a normal, test or release
//! build. A fuzz target that sets up nodes and handshakes pays Ed25519 key derivation,
//! signing and verification and X25519 agreement on every input (about 0.3 ms per
//! handshake), although the identities, certificates and keys are the same from one input
//! to the next. Here each of those operations keeps its results in a bounded table keyed by
//! its whole input, so a repeated operation costs a lookup.
//!
//! The results are the real ones, computed once by the real code: a memoized build accepts
//! and rejects exactly what a normal build does, and an input that crashes a fuzz build
//! replays the same way in a test. (rustls instead replaces its crypto with a fake
//! provider under `cfg(fuzzing)`; memoization keeps verification real, so the fuzzer can
//! forge nothing it could not forge before.)
//!
//! [`set_memoize`]`(false)` turns memoization off for a target that wants every operation
//! computed (it is on by default in fuzz builds), for example to measure what it saves.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Entries a table keeps before it is emptied and starts again (\[LOCAL\] bound: a fuzzer
/// that varies keys or messages fills it; emptying it costs only recomputation).
const ENTRIES_MAX: usize = 1 << 16;

static MEMOIZE: AtomicBool = AtomicBool::new(true);

thread_local! {
    /// Set while a memoized function computes its result with its own (real) code.
    static COMPUTING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Whether crypto results are memoized (the default in fuzz builds).
pub fn memoize() -> bool {
    MEMOIZE.load(Ordering::Relaxed) && !COMPUTING.with(|c| c.get())
}

/// Run `f` (a memoized function calling itself for its real result) with memoization off
/// on this thread.
pub(crate) fn unmemoized<T>(f: impl FnOnce() -> T) -> T {
    COMPUTING.with(|c| c.set(true));
    let v = f();
    COMPUTING.with(|c| c.set(false));
    v
}

/// Turn memoization on or off for the rest of the process.
pub fn set_memoize(on: bool) {
    MEMOIZE.store(on, Ordering::Relaxed);
}

/// FNV-1a, 64 bits: keys here are chosen by the fuzz input, not by an attacker, and SipHash
/// cost more than the lookups save.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Table<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// A bounded table of results of one operation, keyed by its whole input.
pub(crate) struct Memo<K, V>(Mutex<Option<Table<K, V>>>);

impl<K: Hash + Eq, V: Clone> Memo<K, V> {
    pub(crate) const fn new() -> Self {
        Memo(Mutex::new(None))
    }

    /// The memoized result for `key`, computing it with `f` the first time.
    pub(crate) fn get_or(&self, key: K, f: impl FnOnce() -> V) -> V {
        {
            let table = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = table.as_ref().and_then(|t| t.get(&key)) {
                return v.clone();
            }
        }
        // Computed without the lock: a panic in `f` cannot poison the table.
        let v = f();
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let t = table.get_or_insert_with(Table::default);
        if t.len() >= ENTRIES_MAX {
            t.clear();
        }
        t.insert(key, v.clone());
        v
    }
}

/// Ed25519 signing keys by seed.
pub(crate) static SIGNING_KEYS: Memo<[u8; 32], ed25519_dalek::SigningKey> = Memo::new();
/// Ed25519 signatures by (public key, message).
pub(crate) static SIGNATURES: Memo<([u8; 32], Vec<u8>), [u8; 64]> = Memo::new();
/// Strict Ed25519 verification results by (public key, message, signature).
pub(crate) static VERIFIED: Memo<([u8; 32], Vec<u8>, [u8; 64]), bool> = Memo::new();
/// Certificate signature checks by (claimed NodeID, signed hash, signature).
pub(crate) static CERTS: Memo<([u8; 32], [u8; 32], [u8; 64]), Result<(), crate::CertError>> = Memo::new();
/// X25519 public keys by secret.
pub(crate) static ECDH_PUBLIC: Memo<[u8; 32], [u8; 32]> = Memo::new();
/// MAC keys by (role, shared secret, both public keys, both nonces).
pub(crate) static MAC_KEYS: Memo<(bool, [u8; 32], [u8; 32], [u8; 32], [u8; 32], [u8; 32]), crate::MacKeys> =
    Memo::new();
/// X25519 agreements by (our public key, their public key). Our public key stands for our
/// clamped secret, which is all X25519 uses of it.
pub(crate) static AGREEMENTS: Memo<([u8; 32], [u8; 32]), Result<[u8; 32], crate::CryptoError>> = Memo::new();
