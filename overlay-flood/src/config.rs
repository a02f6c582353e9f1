//! [`FloodConfig`] (stellar-core's configuration keys and hard-coded constants for flooding and
//! fetching, PROTOCOL.md §13) and [`LedgerLimits`] (the ledger-derived sizes that change at
//! run time, §9.1–§9.3).

use crate::error::FloodError;

/// Maximum number of peers the structures of this crate track at once (Floodgate peer slots,
/// pull-mode peers).
///
/// Why: the Floodgate stores "who knows this message" as a set of peer slots per record, so
/// that a record's size does not depend on the peer handle; the set takes one 64-bit word per
/// 64 slots in use, four at most. stellar-core's default limits give 8 outbound + 64 inbound =
/// 72 authenticated peers. On overflow the call that would
/// register the 257th peer returns [`FloodError::PeerSlotsExhausted`].
pub const PEERS_MAX: usize = 256;

/// `TX_ADVERT_VECTOR_MAX_SIZE` and `TX_DEMAND_VECTOR_MAX_SIZE` of the XDR: at most 1000 hashes
/// in one FLOOD_ADVERT or FLOOD_DEMAND.
pub const TX_HASHES_PER_MESSAGE_MAX: usize = 1000;

/// Configuration of flooding, pull mode and fetching.
///
/// `Default` gives stellar-core's defaults. Fields marked "ours" have no stellar-core key:
/// they bound structures that stellar-core leaves unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodConfig {
    /// `FLOOD_ADVERT_PERIOD_MS`, default 100: how long a hash may wait in a peer's outgoing
    /// advert batch before the batch is sent (§9.1).
    pub flood_advert_period_ms: u64,
    /// `FLOOD_DEMAND_PERIOD_MS`, default 200: period of the demand scheduler (§9.3).
    pub flood_demand_period_ms: u64,
    /// `FLOOD_DEMAND_BACKOFF_DELAY_MS`, default 500: a hash already demanded from `n` peers is
    /// demanded again only `min(n × this, max_demand_delay_ms)` after the last demand.
    pub flood_demand_backoff_delay_ms: u64,
    /// stellar-core `MAX_DELAY_DEMAND` (hard-coded), default 2000: cap of the demand backoff.
    pub max_demand_delay_ms: u64,
    /// stellar-core `MAX_RETRY_COUNT` (hard-coded), default 15: a hash is demanded from at
    /// most this many distinct peers.
    pub max_demand_peers_per_tx: usize,
    /// `MAX_SLOTS_TO_REMEMBER`, default 12: flood records and advert history older than this
    /// many ledgers are cleared, and the query window is this many ledger close times (§8.6).
    pub max_slots_to_remember: u32,
    /// `FLOOD_OP_RATE_PER_LEDGER`, default 1.0: fraction of the classic ledger limit flooded
    /// per ledger; sizes adverts and demands.
    pub flood_op_rate_per_ledger: f64,
    /// `FLOOD_SOROBAN_RATE_PER_LEDGER`, default 1.0: same for Soroban transactions.
    pub flood_soroban_rate_per_ledger: f64,
    /// stellar-core `ADVERT_CACHE_SIZE` (hard-coded), default 50000: per-peer history of hashes
    /// the peer advertised to us; random eviction when full.
    pub advert_history_entries_max: usize,
    /// stellar-core `MS_TO_WAIT_FOR_FETCH_REPLY` (hard-coded), default 1500: how long the
    /// fetcher waits for a reply before asking the next peer (§8.3).
    pub fetch_reply_timeout_ms: u64,
    /// stellar-core `MAX_REBUILD_FETCH_LIST` (hard-coded), default 10: the pause after a round
    /// in which every peer was asked is `fetch_reply_timeout_ms × min(this, rounds)`.
    pub max_rebuild_fetch_list: u32,
    /// stellar-core `QUERY_RESPONSE_MULTIPLIER` (hard-coded), default 5: GET_TX_SET and
    /// GET_SCP_QUORUMSET queries allowed per second of the query window (§8.6).
    pub query_response_multiplier: u32,
    /// stellar-core `GET_SCP_STATE_MAX_RATE` (hard-coded), default 10: GET_SCP_STATE queries
    /// allowed per query window (§8.6).
    pub get_scp_state_max_rate: u32,
    /// Ours, default 200000: most Floodgate records kept at once. stellar-core keeps every
    /// record until `clearBelow`; at the limit we evict the record of the oldest ledger,
    /// oldest insertion first. About 130 bytes per record (see the crate README).
    pub floodgate_entries_max: usize,
    /// Ours, default 200000: most demand-history records (one per demanded hash, kept 60 s).
    /// At the limit the record of the oldest first demand is dropped early.
    pub demand_history_entries_max: usize,
    /// Ours, default 100000: hard cap of a peer's incoming advert queue plus retry list, on top
    /// of stellar-core's limit `maxTxSetSizeOps` (whichever is smaller applies).
    pub incoming_adverts_max: usize,
    /// Ours, default 4096: most items (tx sets or quorum sets) fetched at once by one
    /// fetcher. At the limit the tracker with the lowest slot, oldest first, is dropped.
    pub fetch_trackers_max: usize,
    /// Ours, default 1000: most SCP envelopes waiting on one item. At the limit the oldest
    /// waiting envelope is dropped.
    pub fetch_waiting_envelopes_max: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            flood_advert_period_ms: 100,
            flood_demand_period_ms: 200,
            flood_demand_backoff_delay_ms: 500,
            max_demand_delay_ms: 2_000,
            max_demand_peers_per_tx: 15,
            max_slots_to_remember: 12,
            flood_op_rate_per_ledger: 1.0,
            flood_soroban_rate_per_ledger: 1.0,
            advert_history_entries_max: 50_000,
            fetch_reply_timeout_ms: 1_500,
            max_rebuild_fetch_list: 10,
            query_response_multiplier: 5,
            get_scp_state_max_rate: 10,
            floodgate_entries_max: 200_000,
            demand_history_entries_max: 200_000,
            incoming_adverts_max: 100_000,
            fetch_trackers_max: 4_096,
            fetch_waiting_envelopes_max: 1_000,
        }
    }
}

impl FloodConfig {
    /// Check that every field is usable: periods and timeouts at least 1 ms, rates finite and
    /// not negative, bounds at least 1.
    pub fn validate(&self) -> Result<(), FloodError> {
        let positive_ms: [(&'static str, u64); 3] = [
            ("flood_advert_period_ms", self.flood_advert_period_ms),
            ("flood_demand_period_ms", self.flood_demand_period_ms),
            ("fetch_reply_timeout_ms", self.fetch_reply_timeout_ms),
        ];
        for (name, v) in positive_ms {
            if v == 0 {
                return Err(FloodError::InvalidConfig(name));
            }
        }
        let rates = [
            ("flood_op_rate_per_ledger", self.flood_op_rate_per_ledger),
            ("flood_soroban_rate_per_ledger", self.flood_soroban_rate_per_ledger),
        ];
        for (name, r) in rates {
            if !r.is_finite() || r < 0.0 {
                return Err(FloodError::InvalidConfig(name));
            }
        }
        let bounds = [
            ("max_demand_peers_per_tx", self.max_demand_peers_per_tx),
            ("advert_history_entries_max", self.advert_history_entries_max),
            ("floodgate_entries_max", self.floodgate_entries_max),
            ("demand_history_entries_max", self.demand_history_entries_max),
            ("incoming_adverts_max", self.incoming_adverts_max),
            ("fetch_trackers_max", self.fetch_trackers_max),
            ("fetch_waiting_envelopes_max", self.fetch_waiting_envelopes_max),
        ];
        for (name, v) in bounds {
            if v == 0 {
                return Err(FloodError::InvalidConfig(name));
            }
        }
        if self.max_rebuild_fetch_list == 0 {
            return Err(FloodError::InvalidConfig("max_rebuild_fetch_list"));
        }
        Ok(())
    }

    /// How long a demand record is kept: `max_demand_delay_ms × max_demand_peers_per_tx × 2`
    /// (60 s with the defaults). A transaction not received by then counts as abandoned.
    pub fn demand_retention_ms(&self) -> u64 {
        self.max_demand_delay_ms.saturating_mul(self.max_demand_peers_per_tx as u64).saturating_mul(2)
    }

    /// The demand backoff for a hash already demanded from `peers_asked` peers:
    /// `min(peers_asked × flood_demand_backoff_delay_ms, max_demand_delay_ms)`.
    pub fn demand_backoff_ms(&self, peers_asked: usize) -> u64 {
        (peers_asked as u64).saturating_mul(self.flood_demand_backoff_delay_ms).min(self.max_demand_delay_ms)
    }
}

/// Ledger-derived inputs that size adverts, demands and incoming queues. The node updates
/// them after every ledger close (they come from the last closed ledger and the Herder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerLimits {
    /// `getLastMaxTxSetSizeOps`: the classic tx-set limit in operations of the last closed
    /// ledger (×100 for pre-v11 protocols, as stellar-core does). Also the per-peer incoming
    /// advert limit (§9.2).
    pub max_tx_set_size_ops: u32,
    /// Soroban `ledgerMaxTxCount` of the last closed ledger; 0 before protocol 20.
    pub soroban_ledger_max_tx_count: u32,
    /// Herder `getMaxQueueSizeOps`: classic ledger limit × `TRANSACTION_QUEUE_SIZE_MULTIPLIER`.
    pub max_queue_size_ops: u64,
    /// Herder `getMaxQueueSizeSorobanOps`: Soroban ledger limit × the Soroban multiplier.
    pub max_queue_soroban_ops: u64,
    /// Expected ledger close time in ms (`ledgerTargetCloseTimeMilliseconds` from protocol 23,
    /// else 5000).
    pub ledger_close_time_ms: u64,
}

impl Default for LedgerLimits {
    /// A genesis ledger: 100 operations per tx set, no Soroban, queue ×2, 5 s close time.
    fn default() -> Self {
        LedgerLimits {
            max_tx_set_size_ops: 100,
            soroban_ledger_max_tx_count: 0,
            max_queue_size_ops: 200,
            max_queue_soroban_ops: 0,
            ledger_close_time_ms: 5_000,
        }
    }
}

/// `floor(rate × ops)`, stellar-core's `getOpsFloodLedger`. A negative or NaN product is 0.
fn ops_flood_ledger(ops: u64, rate: f64) -> u64 {
    let v = rate * ops as f64;
    if v.is_nan() || v <= 0.0 {
        0
    } else if v >= u64::MAX as f64 {
        u64::MAX
    } else {
        v as u64
    }
}

/// `clamp(ceil(ops × period_ms / close_ms), 1, 1000)`.
fn per_period(ops: u64, period_ms: u64, close_ms: u64) -> usize {
    let close_ms = u128::from(close_ms.max(1));
    let n = (u128::from(ops) * u128::from(period_ms)).div_ceil(close_ms);
    n.clamp(1, TX_HASHES_PER_MESSAGE_MAX as u128) as usize
}

impl LedgerLimits {
    /// Operations flooded per ledger (§9.1): `floor(FLOOD_OP_RATE_PER_LEDGER ×
    /// maxTxSetSizeOps) + floor(FLOOD_SOROBAN_RATE_PER_LEDGER × sorobanLedgerMaxTxCount)`.
    pub fn ops_per_ledger(&self, config: &FloodConfig) -> u64 {
        ops_flood_ledger(u64::from(self.max_tx_set_size_ops), config.flood_op_rate_per_ledger).saturating_add(
            ops_flood_ledger(u64::from(self.soroban_ledger_max_tx_count), config.flood_soroban_rate_per_ledger),
        )
    }

    /// Hashes per outgoing FLOOD_ADVERT (§9.1): `clamp(ceil(opsPerLedger ×
    /// FLOOD_ADVERT_PERIOD_MS / ledgerCloseTimeMs), 1, 1000)`.
    pub fn max_advert_size(&self, config: &FloodConfig) -> usize {
        per_period(self.ops_per_ledger(config), config.flood_advert_period_ms, self.ledger_close_time_ms)
    }

    /// Hashes per FLOOD_DEMAND (§9.3): `clamp(ceil(queueOps × FLOOD_DEMAND_PERIOD_MS /
    /// ledgerCloseTimeMs), 1, 1000)` with `queueOps` from the Herder queue sizes.
    pub fn max_demand_size(&self, config: &FloodConfig) -> usize {
        let queue_ops = ops_flood_ledger(self.max_queue_size_ops, config.flood_op_rate_per_ledger)
            .saturating_add(ops_flood_ledger(self.max_queue_soroban_ops, config.flood_soroban_rate_per_ledger));
        per_period(queue_ops, config.flood_demand_period_ms, self.ledger_close_time_ms)
    }

    /// Limit of a peer's incoming advert queue plus retry list (§9.2): `maxTxSetSizeOps`,
    /// capped by our [`FloodConfig::incoming_adverts_max`].
    pub fn incoming_advert_limit(&self, config: &FloodConfig) -> usize {
        (self.max_tx_set_size_ops as usize).min(config.incoming_adverts_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_defaults() {
        let c = FloodConfig::default();
        assert_eq!(c.flood_advert_period_ms, 100);
        assert_eq!(c.flood_demand_period_ms, 200);
        assert_eq!(c.flood_demand_backoff_delay_ms, 500);
        assert_eq!(c.max_slots_to_remember, 12);
        assert_eq!(c.flood_op_rate_per_ledger, 1.0);
        assert_eq!(c.flood_soroban_rate_per_ledger, 1.0);
        assert_eq!(c.advert_history_entries_max, 50_000);
        assert_eq!(c.max_demand_peers_per_tx, 15);
        assert_eq!(c.fetch_reply_timeout_ms, 1_500);
        assert_eq!(c.max_rebuild_fetch_list, 10);
        assert_eq!(c.demand_retention_ms(), 60_000);
        c.validate().unwrap();
    }

    #[test]
    fn demand_backoff_is_linear_then_capped() {
        // §9.3: delays 500, 1000, 1500, 2000, 2000... ms.
        let c = FloodConfig::default();
        let got: Vec<u64> = (1..=6).map(|n| c.demand_backoff_ms(n)).collect();
        assert_eq!(got, [500, 1000, 1500, 2000, 2000, 2000]);
    }

    #[test]
    fn advert_and_demand_sizes_follow_the_formulas() {
        let c = FloodConfig::default();
        // Genesis: ceil(100 × 100 / 5000) = 2; demands ceil(200 × 200 / 5000) = 8.
        let l = LedgerLimits::default();
        assert_eq!(l.max_advert_size(&c), 2);
        assert_eq!(l.max_demand_size(&c), 8);
        // Soroban adds its count: ceil((1000 + 100) × 100 / 5000) = 22.
        let l = LedgerLimits { max_tx_set_size_ops: 1000, soroban_ledger_max_tx_count: 100, ..l };
        assert_eq!(l.max_advert_size(&c), 22);
        // Rounds up, never below 1.
        let tiny = LedgerLimits { max_tx_set_size_ops: 1, ..LedgerLimits::default() };
        assert_eq!(tiny.max_advert_size(&c), 1);
        let zero = LedgerLimits { max_tx_set_size_ops: 0, max_queue_size_ops: 0, ..LedgerLimits::default() };
        assert_eq!(zero.max_advert_size(&c), 1);
        assert_eq!(zero.max_demand_size(&c), 1);
        // Capped at the XDR bound 1000.
        let huge = LedgerLimits { max_tx_set_size_ops: u32::MAX, max_queue_size_ops: u64::MAX, ..l };
        assert_eq!(huge.max_advert_size(&c), 1000);
        assert_eq!(huge.max_demand_size(&c), 1000);
        // The rate scales ops before the division: 0.5 × 100 = 50 → ceil(50×100/5000) = 1.
        let half = FloodConfig { flood_op_rate_per_ledger: 0.5, ..c.clone() };
        assert_eq!(LedgerLimits::default().max_advert_size(&half), 1);
        // Close time 0 does not divide by zero.
        let l0 = LedgerLimits { ledger_close_time_ms: 0, ..LedgerLimits::default() };
        assert_eq!(l0.max_advert_size(&c), 1000);
    }

    #[test]
    fn incoming_limit_is_the_tx_set_size_capped_by_ours() {
        let c = FloodConfig { incoming_adverts_max: 50, ..FloodConfig::default() };
        assert_eq!(LedgerLimits::default().incoming_advert_limit(&c), 50);
        let c = FloodConfig::default();
        assert_eq!(LedgerLimits::default().incoming_advert_limit(&c), 100);
    }

    #[test]
    fn invalid_values_are_named() {
        let c = FloodConfig { flood_demand_period_ms: 0, ..FloodConfig::default() };
        assert_eq!(c.validate(), Err(FloodError::InvalidConfig("flood_demand_period_ms")));
        let c = FloodConfig { flood_op_rate_per_ledger: f64::NAN, ..FloodConfig::default() };
        assert_eq!(c.validate(), Err(FloodError::InvalidConfig("flood_op_rate_per_ledger")));
        let c = FloodConfig { floodgate_entries_max: 0, ..FloodConfig::default() };
        assert_eq!(c.validate(), Err(FloodError::InvalidConfig("floodgate_entries_max")));
        // Even unvalidated, odd rates do not panic the size formulas.
        let c = FloodConfig { flood_op_rate_per_ledger: -3.0, ..FloodConfig::default() };
        assert_eq!(LedgerLimits::default().max_advert_size(&c), 1);
    }
}
