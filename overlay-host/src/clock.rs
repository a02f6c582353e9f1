//! The driver's clocks.
//!
//! [`now`] is monotonic (it never goes backwards) and anchored to the Unix epoch at the
//! first call, so the times a node stores (a peer record's next attempt) keep their meaning
//! across restarts. [`unix_now`] is wall-clock seconds for certificate expiry.

use overlay_proto::Timestamp;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn anchor() -> (Instant, u64) {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    *ANCHOR.get_or_init(|| {
        let unix_nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        (Instant::now(), u64::try_from(unix_nanos).unwrap_or(u64::MAX))
    })
}

/// Monotonic time: Unix time at the first call plus the monotonic time elapsed since.
pub fn now() -> Timestamp {
    let (start, unix_nanos) = anchor();
    let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    Timestamp::from_nanos(unix_nanos.saturating_add(elapsed))
}

/// The [`Instant`] of a [`Timestamp`] from [`now`], for tokio timers.
pub fn instant_of(t: Timestamp) -> Instant {
    let (start, unix_nanos) = anchor();
    start + std::time::Duration::from_nanos(t.as_nanos().saturating_sub(unix_nanos))
}

/// Wall-clock seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Random bytes from the operating system.
///
/// # Panics
/// If the operating system has no randomness to give, which leaves no safe way to run.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system random generator failed");
    b
}
