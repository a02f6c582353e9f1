//! The driver's clocks: a monotonic [`Timestamp`] counted from process start, and
//! wall-clock Unix seconds for certificate expiry.

use overlay_proto::Timestamp;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Monotonic time since the first call in this process.
pub fn now() -> Timestamp {
    Timestamp::from_nanos(u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX))
}

/// The [`Instant`] of a [`Timestamp`], for tokio timers.
pub fn instant_of(t: Timestamp) -> Instant {
    epoch() + t.since_epoch()
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
