//! Connection backoff of peer records (PROTOCOL.md §10.2).

use super::record::PeerRecord;
use core::time::Duration;
use overlay_proto::Timestamp;
use rand_core::Rng;

/// Seconds per backoff step: stellar-core `computeBackoff` constant `SECONDS_PER_BACKOFF`.
/// Default (hard-coded) 10.
pub const SECONDS_PER_BACKOFF: u64 = 10;

/// Largest exponent of the backoff window: stellar-core `computeBackoff` constant
/// `MAX_BACKOFF_EXPONENT`. Default (hard-coded) 10, so the window is at most 10 240 s.
pub const MAX_BACKOFF_EXPONENT: u32 = 10;

/// How a connection event changes a record's failures and next attempt (stellar-core
/// `PeerManager::BackOffUpdate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackoffUpdate {
    /// Before every outbound connection attempt: `num_failures += 1`,
    /// `next_attempt = now + backoff(num_failures)`.
    Increase,
    /// After a completed handshake on a connection we dialed: `num_failures = 0`,
    /// `next_attempt = now + backoff(0)` (1 to 10 s).
    Reset,
    /// For configured peers at startup: `num_failures = 0`, `next_attempt = now`.
    HardReset,
}

/// The largest backoff after `num_failures` failures: `10 * 2^min(num_failures, 10)` seconds.
pub const fn backoff_window_secs(num_failures: u32) -> u64 {
    let exponent = if num_failures < MAX_BACKOFF_EXPONENT { num_failures } else { MAX_BACKOFF_EXPONENT };
    SECONDS_PER_BACKOFF << exponent
}

/// A random backoff after `num_failures` failures, in seconds:
/// `(rand_u32 mod (10 * 2^min(n, 10))) + 1`, so uniform in `[1, backoff_window_secs(n)]`.
///
/// ```
/// use overlay_node::discovery::{backoff_secs, backoff_window_secs};
/// use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
/// let mut rng = ChaCha8Rng::seed_from_u64(1);
/// let s = backoff_secs(3, &mut rng);
/// assert!((1..=80).contains(&s));
/// assert_eq!(backoff_window_secs(200), 10_240);
/// ```
pub fn backoff_secs<R: Rng + ?Sized>(num_failures: u32, rng: &mut R) -> u64 {
    u64::from(rng.next_u32()) % backoff_window_secs(num_failures) + 1
}

impl BackoffUpdate {
    /// Apply this update to `record` at time `now`. The failure count saturates at
    /// `u32::MAX` instead of wrapping.
    pub fn apply<R: Rng + ?Sized>(self, record: &mut PeerRecord, now: Timestamp, rng: &mut R) {
        match self {
            BackoffUpdate::HardReset => {
                record.num_failures = 0;
                record.next_attempt = now;
            }
            BackoffUpdate::Reset | BackoffUpdate::Increase => {
                record.num_failures = match self {
                    BackoffUpdate::Increase => record.num_failures.saturating_add(1),
                    _ => 0,
                };
                let secs = backoff_secs(record.num_failures, rng);
                record.next_attempt = now + Duration::from_secs(secs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::PeerType;
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;

    fn record(failures: u32) -> PeerRecord {
        PeerRecord {
            address: "1.2.3.4:5".parse().unwrap(),
            next_attempt: Timestamp::ZERO,
            num_failures: failures,
            peer_type: PeerType::Outbound,
        }
    }

    #[test]
    fn window_doubles_up_to_the_cap() {
        let expected = [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 10240];
        for (n, w) in expected.iter().enumerate() {
            assert_eq!(backoff_window_secs(n as u32), *w, "n = {n}");
        }
        assert_eq!(backoff_window_secs(u32::MAX), 10_240);
    }

    #[test]
    fn backoff_is_within_one_and_the_window_and_reaches_both_ends() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut min = u64::MAX;
        let mut max = 0;
        for _ in 0..2_000 {
            let s = backoff_secs(0, &mut rng);
            assert!((1..=10).contains(&s));
            min = min.min(s);
            max = max.max(s);
        }
        assert_eq!((min, max), (1, 10));
        for n in [1, 5, 10, 11, 119, 120, u32::MAX] {
            let s = backoff_secs(n, &mut rng);
            assert!(s >= 1 && s <= backoff_window_secs(n));
        }
    }

    #[test]
    fn increase_counts_a_failure_and_pushes_next_attempt() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let now = Timestamp::from_secs(1_000);
        let mut r = record(2);
        BackoffUpdate::Increase.apply(&mut r, now, &mut rng);
        assert_eq!(r.num_failures, 3);
        let waited = r.next_attempt - now;
        assert!(waited >= Duration::from_secs(1) && waited <= Duration::from_secs(80));
        let mut sat = record(u32::MAX);
        BackoffUpdate::Increase.apply(&mut sat, now, &mut rng);
        assert_eq!(sat.num_failures, u32::MAX);
    }

    #[test]
    fn reset_clears_failures_with_a_short_backoff() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let now = Timestamp::from_secs(1_000);
        let mut r = record(119);
        BackoffUpdate::Reset.apply(&mut r, now, &mut rng);
        assert_eq!(r.num_failures, 0);
        let waited = r.next_attempt - now;
        assert!(waited >= Duration::from_secs(1) && waited <= Duration::from_secs(10));
    }

    #[test]
    fn hard_reset_makes_the_peer_due_now() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let now = Timestamp::from_secs(1_000);
        let mut r = record(50);
        r.next_attempt = Timestamp::from_secs(9_999);
        BackoffUpdate::HardReset.apply(&mut r, now, &mut rng);
        assert_eq!((r.num_failures, r.next_attempt), (0, now));
    }
}
