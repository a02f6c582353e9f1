//! [`PeerQuery`]: the filter of a random peer load (PROTOCOL.md §10.5).

use super::config::{MAX_FAILURES, REALLY_DEAD_NUM_FAILURES_CUTOFF};
use super::record::{PeerRecord, PeerType};
use overlay_proto::Timestamp;

/// Which record types a query matches (stellar-core `PeerTypeFilter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerTypeFilter {
    /// `type = INBOUND`.
    InboundOnly,
    /// `type = OUTBOUND`.
    OutboundOnly,
    /// `type = PREFERRED`.
    PreferredOnly,
    /// `type != INBOUND` (outbound or preferred).
    AnyOutbound,
    /// Every type [LOCAL: not in stellar-core; used to list the whole table].
    Any,
}

impl PeerTypeFilter {
    /// The filter matching exactly `t`.
    pub const fn exact(t: PeerType) -> PeerTypeFilter {
        match t {
            PeerType::Inbound => PeerTypeFilter::InboundOnly,
            PeerType::Outbound => PeerTypeFilter::OutboundOnly,
            PeerType::Preferred => PeerTypeFilter::PreferredOnly,
        }
    }

    /// Whether a record of type `t` passes.
    pub const fn matches(self, t: PeerType) -> bool {
        match self {
            PeerTypeFilter::InboundOnly => matches!(t, PeerType::Inbound),
            PeerTypeFilter::OutboundOnly => matches!(t, PeerType::Outbound),
            PeerTypeFilter::PreferredOnly => matches!(t, PeerType::Preferred),
            PeerTypeFilter::AnyOutbound => !matches!(t, PeerType::Inbound),
            PeerTypeFilter::Any => true,
        }
    }
}

/// The conditions of a peer load, all of which must hold (stellar-core `PeerQuery`). In SQL:
/// `[nextattempt <= :now AND] [numfailures <= :max AND] <type condition>`.
///
/// ```
/// use overlay_node::discovery::{PeerQuery, PeerRecord, PeerType};
/// use overlay_proto::Timestamp;
/// let now = Timestamp::from_secs(10);
/// let mut r = PeerRecord::new("1.2.3.4:1".parse().unwrap(), now).unwrap();
/// r.peer_type = PeerType::Outbound;
/// assert!(PeerQuery::next_attempt_cutoff(PeerType::Outbound).matches(&r, now));
/// r.num_failures = 121;
/// assert!(!PeerQuery::next_attempt_cutoff(PeerType::Outbound).matches(&r, now));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerQuery {
    /// Require `next_attempt <= now`.
    pub use_next_attempt: bool,
    /// Require `num_failures <= max` when set.
    pub max_failures: Option<u32>,
    /// The type condition.
    pub type_filter: PeerTypeFilter,
}

impl PeerQuery {
    /// The query of a connection source (stellar-core `RandomPeerSource::nextAttemptCutoff`):
    /// due now, at most [`REALLY_DEAD_NUM_FAILURES_CUTOFF`] failures, exactly type `t`.
    pub const fn next_attempt_cutoff(t: PeerType) -> PeerQuery {
        PeerQuery {
            use_next_attempt: true,
            max_failures: Some(REALLY_DEAD_NUM_FAILURES_CUTOFF),
            type_filter: PeerTypeFilter::exact(t),
        }
    }

    /// The query of a PEERS source (stellar-core `RandomPeerSource::maxFailures`): at most
    /// `max_failures` failures, any time, and either any outbound type or inbound only.
    pub const fn max_failures(max_failures: u32, require_outbound: bool) -> PeerQuery {
        PeerQuery {
            use_next_attempt: false,
            max_failures: Some(max_failures),
            type_filter: if require_outbound { PeerTypeFilter::AnyOutbound } else { PeerTypeFilter::InboundOnly },
        }
    }

    /// The outbound half of what PEERS advertises: non-inbound records with at most
    /// [`MAX_FAILURES`] failures.
    pub const fn to_send_outbound() -> PeerQuery {
        PeerQuery::max_failures(MAX_FAILURES, true)
    }

    /// The inbound half of what PEERS advertises: inbound records with at most
    /// [`MAX_FAILURES`] failures.
    pub const fn to_send_inbound() -> PeerQuery {
        PeerQuery::max_failures(MAX_FAILURES, false)
    }

    /// Every record.
    pub const fn all() -> PeerQuery {
        PeerQuery { use_next_attempt: false, max_failures: None, type_filter: PeerTypeFilter::Any }
    }

    /// Whether `record` matches at time `now`.
    pub fn matches(&self, record: &PeerRecord, now: Timestamp) -> bool {
        if self.use_next_attempt && record.next_attempt > now {
            return false;
        }
        if self.max_failures.is_some_and(|max| record.num_failures > max) {
            return false;
        }
        self.type_filter.matches(record.peer_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn rec(next: Timestamp, failures: u32, t: PeerType) -> PeerRecord {
        PeerRecord { address: "1.2.3.4:5".parse().unwrap(), next_attempt: next, num_failures: failures, peer_type: t }
    }

    #[test]
    fn type_filters_match_their_types() {
        use PeerType::*;
        let table = [
            (PeerTypeFilter::InboundOnly, [true, false, false]),
            (PeerTypeFilter::OutboundOnly, [false, true, false]),
            (PeerTypeFilter::PreferredOnly, [false, false, true]),
            (PeerTypeFilter::AnyOutbound, [false, true, true]),
            (PeerTypeFilter::Any, [true, true, true]),
        ];
        for (filter, expected) in table {
            let got = [Inbound, Outbound, Preferred].map(|t| filter.matches(t));
            assert_eq!(got, expected, "{filter:?}");
        }
    }

    #[test]
    fn next_attempt_is_inclusive_and_optional() {
        let now = Timestamp::from_secs(100);
        let later = now + Duration::from_nanos(1);
        let q = PeerQuery::next_attempt_cutoff(PeerType::Inbound);
        assert!(q.matches(&rec(now, 0, PeerType::Inbound), now));
        assert!(!q.matches(&rec(later, 0, PeerType::Inbound), now));
        assert!(PeerQuery::all().matches(&rec(later, 0, PeerType::Inbound), now));
    }

    #[test]
    fn failure_limit_is_inclusive() {
        let now = Timestamp::ZERO;
        let q = PeerQuery::to_send_outbound();
        assert!(q.matches(&rec(now, MAX_FAILURES, PeerType::Preferred), now));
        assert!(!q.matches(&rec(now, MAX_FAILURES + 1, PeerType::Preferred), now));
        assert!(!q.matches(&rec(now, 0, PeerType::Inbound), now));
        assert!(PeerQuery::to_send_inbound().matches(&rec(now, 0, PeerType::Inbound), now));
    }
}
