//! [`SurveyLimiter`]: which survey requests and responses a node relays or answers
//! (§12.3, stellar-core's `SurveyMessageLimiter`).

use overlay_proto::NodeId;
use std::collections::BTreeMap;

/// `NUM_LEDGERS_BEFORE_IGNORE`: a survey message's ledger must be within this many ledgers
/// of ours, either way.
pub const WINDOW_LEDGERS: u32 = 6;

/// `MAX_REQUEST_LIMIT_PER_LEDGER`: surveyors per ledger, and surveyed nodes per surveyor.
pub const MAX_REQUESTS_PER_LEDGER: usize = 10;

/// Requests seen: ledger → surveyor → surveyed → whether the response was seen.
///
/// Bound: entries are only added for ledgers within the window of ours, at most
/// `limit` surveyors per ledger and `limit` surveyed per surveyor (our own surveys exempt,
/// bounded by the surveyor's backlog), and ledgers leave with [`clear_old_ledgers`].
///
/// [`clear_old_ledgers`]: SurveyLimiter::clear_old_ledgers
#[derive(Debug, Clone)]
pub struct SurveyLimiter {
    window: u32,
    limit: usize,
    records: BTreeMap<u32, BTreeMap<NodeId, BTreeMap<NodeId, bool>>>,
}

impl Default for SurveyLimiter {
    fn default() -> Self {
        SurveyLimiter::new(WINDOW_LEDGERS, MAX_REQUESTS_PER_LEDGER)
    }
}

impl SurveyLimiter {
    /// A limiter with a window of `window` ledgers and `limit` requests.
    pub fn new(window: u32, limit: usize) -> Self {
        SurveyLimiter { window, limit, records: BTreeMap::new() }
    }

    /// Whether `ledger_num` is within the window of `local`.
    pub fn ledger_valid(&self, ledger_num: u32, local: u32) -> bool {
        u64::from(ledger_num) + u64::from(self.window) >= u64::from(local)
            && u64::from(ledger_num) <= u64::from(local) + u64::from(self.window)
    }

    /// A request of `surveyor` for `surveyed` at `ledger_num`: whether to process it. The
    /// checks run in stellar-core's order; `validate` (the phase and the signature, the
    /// expensive part) runs only once the cheap ones pass, and the request is recorded only
    /// if it passes too.
    pub fn add_and_validate_request(
        &mut self,
        surveyor: NodeId,
        surveyed: NodeId,
        ledger_num: u32,
        local: u32,
        self_id: NodeId,
        validate: impl FnOnce() -> bool,
    ) -> bool {
        if !self.ledger_valid(ledger_num, local) {
            return false;
        }
        let surveyor_is_self = surveyor == self_id;
        let limit = self.limit;
        let Some(by_surveyor) = self.records.get_mut(&ledger_num) else {
            if !validate() {
                return false;
            }
            let surveyed_map = BTreeMap::from([(surveyed, false)]);
            self.records.insert(ledger_num, BTreeMap::from([(surveyor, surveyed_map)]));
            return true;
        };
        let Some(surveyed_map) = by_surveyor.get_mut(&surveyor) else {
            if !surveyor_is_self && by_surveyor.len() >= limit {
                return false;
            }
            if !validate() {
                return false;
            }
            by_surveyor.insert(surveyor, BTreeMap::from([(surveyed, false)]));
            return true;
        };
        if !surveyor_is_self && surveyed_map.len() >= limit {
            return false;
        }
        if surveyed_map.contains_key(&surveyed) {
            return false;
        }
        if !validate() {
            return false;
        }
        surveyed_map.insert(surveyed, false);
        true
    }

    /// A response of `surveyed` to `surveyor` at `ledger_num`: whether to process it (a
    /// recorded request whose response was not seen yet, and `validate` passes).
    pub fn record_and_validate_response(
        &mut self,
        surveyor: NodeId,
        surveyed: NodeId,
        ledger_num: u32,
        local: u32,
        validate: impl FnOnce() -> bool,
    ) -> bool {
        if !self.ledger_valid(ledger_num, local) {
            return false;
        }
        let Some(seen) =
            self.records.get_mut(&ledger_num).and_then(|m| m.get_mut(&surveyor)).and_then(|m| m.get_mut(&surveyed))
        else {
            return false;
        };
        if *seen || !validate() {
            return false;
        }
        *seen = true;
        true
    }

    /// Forget requests of ledgers that left the window (`ledger + window < local`).
    pub fn clear_old_ledgers(&mut self, local: u32) {
        let window = self.window;
        self.records.retain(|l, _| u64::from(*l) + u64::from(window) >= u64::from(local));
    }

    /// Requests recorded, over every ledger.
    pub fn len(&self) -> usize {
        self.records.values().flat_map(|m| m.values()).map(BTreeMap::len).sum()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// stellar-core's `SurveyMessageLimiterTests.cpp`, case **messagelimiter**: window 0,
/// limit 2. Each test names its section.
#[cfg(test)]
mod tests {
    use super::*;

    const LEDGER: u32 = 10;

    fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    /// The case's common start: a limiter with the first request (surveyor 1 → surveyed 2)
    /// recorded, and the same request refused again.
    fn limiter() -> SurveyLimiter {
        let mut rm = SurveyLimiter::new(0, 2);
        assert!(rm.add_and_validate_request(id(1), id(2), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.add_and_validate_request(id(1), id(2), LEDGER, LEDGER, id(0), || true), "duplicate");
        rm
    }

    #[test]
    fn survey_request_limits_are_enforced() {
        let mut rm = limiter();
        assert!(rm.add_and_validate_request(id(1), id(3), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.add_and_validate_request(id(1), id(4), LEDGER, LEDGER, id(0), || true), "2 surveyed per surveyor");
        // Surveyors per ledger: a second is fine, a third is not.
        assert!(rm.add_and_validate_request(id(5), id(2), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.add_and_validate_request(id(6), id(2), LEDGER, LEDGER, id(0), || true), "2 surveyors per ledger");
    }

    #[test]
    fn allow_self_to_start_survey_when_at_capacity() {
        let mut rm = limiter();
        assert!(rm.add_and_validate_request(id(5), id(2), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.add_and_validate_request(id(6), id(2), LEDGER, LEDGER, id(0), || true));
        // We (id 0) may survey at capacity, and survey more than the limit.
        for n in 10..15 {
            assert!(rm.add_and_validate_request(id(0), id(n), LEDGER, LEDGER, id(0), || true));
        }
        assert!(!rm.add_and_validate_request(id(0), id(10), LEDGER, LEDGER, id(0), || true), "still no duplicates");
    }

    #[test]
    fn receive_corresponding_response() {
        let mut rm = limiter();
        assert!(rm.record_and_validate_response(id(1), id(2), LEDGER, LEDGER, || true));
        assert!(!rm.record_and_validate_response(id(1), id(2), LEDGER, LEDGER, || true), "seen already");
    }

    #[test]
    fn corresponding_response_ledgernum_too_high() {
        let mut rm = limiter();
        assert!(!rm.record_and_validate_response(id(1), id(2), LEDGER + 1, LEDGER, || true));
    }

    #[test]
    fn corresponding_response_ledgernum_too_low() {
        let mut rm = limiter();
        assert!(!rm.record_and_validate_response(id(1), id(2), LEDGER - 1, LEDGER, || true));
    }

    #[test]
    fn surveyor_receives_response() {
        // Our own request (we are the surveyor), then its response.
        let mut rm = limiter();
        assert!(rm.add_and_validate_request(id(0), id(7), LEDGER, LEDGER, id(0), || true));
        assert!(rm.record_and_validate_response(id(0), id(7), LEDGER, LEDGER, || true));
        // A response that fails validation is not marked seen: a valid copy still passes.
        assert!(rm.add_and_validate_request(id(0), id(8), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.record_and_validate_response(id(0), id(8), LEDGER, LEDGER, || false));
        assert!(rm.record_and_validate_response(id(0), id(8), LEDGER, LEDGER, || true));
    }

    #[test]
    fn receive_unknown_response() {
        let mut rm = limiter();
        assert!(!rm.record_and_validate_response(id(1), id(9), LEDGER, LEDGER, || true), "unknown surveyed");
        assert!(!rm.record_and_validate_response(id(9), id(2), LEDGER, LEDGER, || true), "unknown surveyor");
    }

    #[test]
    fn request_ledgernum_too_high() {
        let mut rm = limiter();
        assert!(!rm.add_and_validate_request(id(1), id(3), LEDGER + 1, LEDGER, id(0), || true));
    }

    #[test]
    fn request_ledgernum_too_low() {
        let mut rm = limiter();
        assert!(!rm.add_and_validate_request(id(1), id(3), LEDGER - 1, LEDGER, id(0), || true));
    }

    #[test]
    fn hit_request_limit_clear_old_ledgers_and_send_new_request() {
        let mut rm = limiter();
        assert!(rm.add_and_validate_request(id(1), id(3), LEDGER, LEDGER, id(0), || true));
        assert!(!rm.add_and_validate_request(id(1), id(4), LEDGER, LEDGER, id(0), || true));
        // The next ledger closes: the old records go and the request is accepted there.
        rm.clear_old_ledgers(LEDGER + 1);
        assert!(rm.is_empty());
        assert!(rm.add_and_validate_request(id(1), id(4), LEDGER + 1, LEDGER + 1, id(0), || true));
    }

    #[test]
    fn validation_runs_only_after_the_cheap_checks_and_a_failure_records_nothing() {
        let mut rm = limiter();
        let mut ran = false;
        assert!(!rm.add_and_validate_request(id(1), id(2), LEDGER, LEDGER, id(0), || {
            ran = true;
            true
        }));
        assert!(!ran, "a duplicate is refused before the signature check");
        assert!(!rm.add_and_validate_request(id(1), id(3), LEDGER, LEDGER, id(0), || false));
        assert!(rm.add_and_validate_request(id(1), id(3), LEDGER, LEDGER, id(0), || true), "not recorded");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever arrives: at most `limit` other surveyors per ledger and `limit`
            /// surveyed per other surveyor, only ledgers within the window, no duplicates.
            #[test]
            fn bounds_hold(ops in proptest::collection::vec((0u8..6, 0u8..8, 0u32..12, 0u32..12, any::<bool>()), 0..200)) {
                let mut rm = SurveyLimiter::new(2, 3);
                for (surveyor, surveyed, ledger, local, ok) in ops {
                    let before = rm.len();
                    let accepted = rm.add_and_validate_request(id(surveyor), id(surveyed), ledger, local, id(0), || ok);
                    prop_assert_eq!(rm.len(), before + usize::from(accepted));
                    if accepted {
                        prop_assert!(ok && rm.ledger_valid(ledger, local));
                    }
                    rm.record_and_validate_response(id(surveyor), id(surveyed), ledger, local, || true);
                    for by_surveyor in rm.records.values() {
                        prop_assert!(by_surveyor.keys().filter(|s| **s != id(0)).count() <= 3);
                        for (s, surveyed) in by_surveyor {
                            prop_assert!(*s == id(0) || surveyed.len() <= 3);
                        }
                    }
                    rm.clear_old_ledgers(local);
                    prop_assert!(rm.records.keys().all(|l| l + 2 >= local));
                }
            }
        }
    }
}
