//! [`QueryLimiter`]: the per-peer limits on GET_TX_SET, GET_SCP_QUORUMSET and GET_SCP_STATE
//! (PROTOCOL.md §8.6, stellar-core `Peer::process(QueryInfo&)`).
//!
//! Each query type has its own window and counter per peer. A query over the limit is
//! silently ignored: no DONT_HAVE, no drop. This is local policy, observable only as silence.

use crate::config::FloodConfig;
use overlay_proto::Timestamp;
use std::time::Duration;

/// The rate-limited queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryKind {
    /// GET_TX_SET.
    GetTxSet = 0,
    /// GET_SCP_QUORUMSET.
    GetScpQuorumSet = 1,
    /// GET_SCP_STATE.
    GetScpState = 2,
}

impl QueryKind {
    /// All kinds.
    pub const ALL: [QueryKind; 3] = [QueryKind::GetTxSet, QueryKind::GetScpQuorumSet, QueryKind::GetScpState];
}

/// The window and limits in force, derived from the ledger close time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Window length: `floor_seconds(ledgerCloseTime × MAX_SLOTS_TO_REMEMBER)`, 60 s by
    /// default.
    pub window_ms: u64,
    /// GET_TX_SET and GET_SCP_QUORUMSET allowed per window each: window seconds ×
    /// `QUERY_RESPONSE_MULTIPLIER` (300 by default).
    pub fetch_queries_per_window: u32,
    /// GET_SCP_STATE allowed per window: `GET_SCP_STATE_MAX_RATE` (10).
    pub scp_state_queries_per_window: u32,
}

impl QueryLimits {
    /// The limits for an expected ledger close time of `ledger_close_time_ms`.
    pub fn new(config: &FloodConfig, ledger_close_time_ms: u64) -> Self {
        let window_secs = ledger_close_time_ms.saturating_mul(u64::from(config.max_slots_to_remember)) / 1000;
        let per_window = window_secs.saturating_mul(u64::from(config.query_response_multiplier));
        QueryLimits {
            window_ms: window_secs.saturating_mul(1000),
            fetch_queries_per_window: u32::try_from(per_window).unwrap_or(u32::MAX),
            scp_state_queries_per_window: config.get_scp_state_max_rate,
        }
    }

    /// The limit for one kind.
    pub fn limit(&self, kind: QueryKind) -> u32 {
        match kind {
            QueryKind::GetTxSet | QueryKind::GetScpQuorumSet => self.fetch_queries_per_window,
            QueryKind::GetScpState => self.scp_state_queries_per_window,
        }
    }
}

/// One counter: when its window started and how many queries it let through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Window {
    start: Option<Timestamp>,
    count: u32,
}

/// The query limits of one peer. Fixed size (three counters); no bound needed.
///
/// Call [`allow`](Self::allow) before serving a query; serve it only if it returns `true`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryLimiter {
    windows: [Window; 3],
    ignored: [u64; 3],
}

impl QueryLimiter {
    /// A limiter with no query seen; the first query starts the window.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `kind` query arrived at `now`: `true` if it may be processed (it is then counted),
    /// `false` if it must be ignored. A window older than `limits.window_ms` restarts first.
    pub fn allow(&mut self, now: Timestamp, kind: QueryKind, limits: &QueryLimits) -> bool {
        let w = &mut self.windows[kind as usize];
        let expired = match w.start {
            None => true,
            Some(start) => now.saturating_duration_since(start) >= Duration::from_millis(limits.window_ms),
        };
        if expired {
            w.start = Some(now);
            w.count = 0;
        }
        if w.count >= limits.limit(kind) {
            self.ignored[kind as usize] += 1;
            return false;
        }
        w.count += 1;
        true
    }

    /// Queries of `kind` ignored so far.
    pub fn ignored(&self, kind: QueryKind) -> u64 {
        self.ignored[kind as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits::new(&FloodConfig::default(), 5_000)
    }

    #[test]
    fn default_limits_are_300_per_minute_and_10_scp_state() {
        let l = limits();
        assert_eq!(l.window_ms, 60_000);
        assert_eq!(l.fetch_queries_per_window, 300);
        assert_eq!(l.scp_state_queries_per_window, 10);
        // floor to whole seconds: 5.5 s × 12 = 66 s.
        assert_eq!(QueryLimits::new(&FloodConfig::default(), 5_500).window_ms, 66_000);
        // 1.25 s × 12 = 15 s → 75 queries.
        assert_eq!(QueryLimits::new(&FloodConfig::default(), 1_250).fetch_queries_per_window, 75);
    }

    #[test]
    fn get_scp_state_rate_limiting() {
        // C++: OverlayTests "GET_SCP_STATE rate limiting": 10 processed per 60-s window, extra
        // 5 ignored, window reset after 61 s.
        let l = limits();
        let mut q = QueryLimiter::new();
        let t0 = Timestamp::from_secs(100);
        let processed =
            (0..15).filter(|i| q.allow(t0 + Duration::from_millis(i * 100), QueryKind::GetScpState, &l)).count();
        assert_eq!(processed, 10);
        assert_eq!(q.ignored(QueryKind::GetScpState), 5);
        // Still inside the window at 59 s.
        assert!(!q.allow(t0 + Duration::from_secs(59), QueryKind::GetScpState, &l));
        // After 61 s the window restarts.
        let t1 = t0 + Duration::from_secs(61);
        let processed = (0..15).filter(|_| q.allow(t1, QueryKind::GetScpState, &l)).count();
        assert_eq!(processed, 10);
    }

    #[test]
    fn fetch_queries_have_separate_counters() {
        let l = limits();
        let mut q = QueryLimiter::new();
        let t = Timestamp::from_secs(1);
        for _ in 0..300 {
            assert!(q.allow(t, QueryKind::GetTxSet, &l));
        }
        assert!(!q.allow(t, QueryKind::GetTxSet, &l));
        // The other kinds are unaffected.
        assert!(q.allow(t, QueryKind::GetScpQuorumSet, &l));
        assert!(q.allow(t, QueryKind::GetScpState, &l));
        // Exactly at the window length the window restarts (now − start ≥ W).
        assert!(q.allow(t + Duration::from_secs(60), QueryKind::GetTxSet, &l));
    }

    #[test]
    fn zero_window_ignores_fetch_queries_like_stellar_core() {
        // A close time under 1/12 s gives W = 0 s and a limit of 0 queries.
        let l = QueryLimits::new(&FloodConfig::default(), 50);
        let mut q = QueryLimiter::new();
        assert!(!q.allow(Timestamp::from_secs(1), QueryKind::GetTxSet, &l));
        assert!(q.allow(Timestamp::from_secs(1), QueryKind::GetScpState, &l));
    }
}
