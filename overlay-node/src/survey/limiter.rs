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
