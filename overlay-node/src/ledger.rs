//! [`LedgerState`]: the ledger as the application knows it, the one source of every
//! ledger-driven limit of the node (flow control §6.2/§6.4, pull mode §9, cleanup §8.1).

use overlay_flow::ledger::MAX_CLASSIC_TX_SIZE_BYTES;

/// `TRANSACTION_QUEUE_SIZE_MULTIPLIER` (and its Soroban twin): the transaction queue holds
/// this many ledgers' worth of operations (§9.3).
pub const TRANSACTION_QUEUE_SIZE_MULTIPLIER: u64 = 2;

/// `CHECKPOINT_FREQUENCY`: ledgers per history checkpoint; SCP messages of the checkpoint
/// slot are never trimmed as old (§6.4).
pub const CHECKPOINT_FREQUENCY: u32 = 64;

/// `LEDGER_VALIDITY_BRACKET`: how far ahead of the tracked ledger an SCP envelope may be
/// and still be considered, and how many slots with data GET_SCP_STATE answers (§8.5).
pub const LEDGER_VALIDITY_BRACKET: u32 = 100;

/// The ledger facts the node works from. The application sends a new one whenever a
/// ledger closes or the node goes in or out of sync
/// ([`AppInput::Ledger`](crate::app::AppInput::Ledger)); the relay application derives it
/// from the SCP messages it sees.
///
/// ```
/// use overlay_node::LedgerState;
/// let l = LedgerState { tracking_ledger: 100, ..LedgerState::relay() };
/// assert_eq!(l.min_ledger_to_remember(12), 89);
/// assert_eq!(l.checkpoint_ledger(), 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerState {
    /// The tracking consensus ledger: the slot consensus is on (Floodgate records, advert
    /// history and the items of the node are kept for `MAX_SLOTS_TO_REMEMBER` ledgers
    /// below it).
    pub tracking_ledger: u32,
    /// Whether the node is in sync; when it is not, TRANSACTION, FLOOD_ADVERT and
    /// FLOOD_DEMAND are ignored (§7 step 7) and out-of-sync peer rotation runs (§11.6).
    pub synced: bool,
    /// The ledger protocol of the last closed ledger (DONT_HAVE type for tx sets, §8.2).
    pub ledger_protocol: u32,
    /// The herder's maximum transaction size in bytes (§6.2; see
    /// `overlay_flow::ledger::max_tx_size_bytes`).
    pub max_tx_size_bytes: u32,
    /// The classic tx-set limit in operations of the last closed ledger
    /// (`getLastMaxTxSetSizeOps`): outbound transaction queue limit, advert and demand sizing.
    pub max_tx_set_size_ops: u32,
    /// Soroban `ledgerMaxTxCount` of the last closed ledger; 0 before protocol 20.
    pub soroban_ledger_max_tx_count: u32,
    /// Expected ledger close time (`ledgerTargetCloseTimeMilliseconds`, 5000 before
    /// protocol 23): pull-mode sizing and the query-limit window.
    pub ledger_close_time_ms: u64,
}

impl LedgerState {
    /// A node that knows no ledger yet: the genesis ledger's limits (100 operations per tx
    /// set, classic transaction size), ledger 1, in sync.
    pub const GENESIS: LedgerState = LedgerState {
        tracking_ledger: 1,
        synced: true,
        ledger_protocol: overlay_proto::version::LEDGER_PROTOCOL_VERSION,
        max_tx_size_bytes: MAX_CLASSIC_TX_SIZE_BYTES,
        max_tx_set_size_ops: 100,
        soroban_ledger_max_tx_count: 0,
        ledger_close_time_ms: 5_000,
    };

    /// Limits like the public network's (1000 operations per ledger, 5 s ledgers), for a
    /// node that relays without a ledger behind it. The genesis limits make pull mode and
    /// the outbound queues very small.
    pub fn relay() -> Self {
        LedgerState { max_tx_set_size_ops: 1000, ..LedgerState::GENESIS }
    }

    /// `minSlotToRemember`: the oldest ledger whose records are kept,
    /// `max(tracking − remember + 1, 1)` (§8.1).
    pub fn min_ledger_to_remember(&self, max_slots_to_remember: u32) -> u32 {
        self.tracking_ledger.saturating_sub(max_slots_to_remember).saturating_add(1).max(1)
    }

    /// The first ledger of the checkpoint that holds the tracking ledger.
    pub fn checkpoint_ledger(&self) -> u32 {
        ((self.tracking_ledger / CHECKPOINT_FREQUENCY) * CHECKPOINT_FREQUENCY).max(1)
    }

    /// The ledger asked for in GET_SCP_STATE after authentication (§8.5):
    /// `max(tracking + 1 − min(remember, 3), 1)`, or 0 (everything) while no ledger is known.
    pub fn scp_state_ledger(&self, max_slots_to_remember: u32) -> u32 {
        if self.tracking_ledger <= 1 {
            return 0;
        }
        self.tracking_ledger.saturating_add(1).saturating_sub(max_slots_to_remember.min(3)).max(1)
    }

    /// What flow control takes from the ledger.
    pub fn flow_limits(&self, max_slots_to_remember: u32) -> overlay_flow::LedgerLimits {
        overlay_flow::LedgerLimits {
            max_tx_size_bytes: self.max_tx_size_bytes,
            max_tx_set_size_ops: self.max_tx_set_size_ops,
            min_slot_to_remember: u64::from(self.min_ledger_to_remember(max_slots_to_remember)),
            checkpoint_slot: u64::from(self.checkpoint_ledger()),
        }
    }

    /// What pull mode takes from the ledger.
    pub fn flood_limits(&self) -> overlay_flood::LedgerLimits {
        overlay_flood::LedgerLimits {
            max_tx_set_size_ops: self.max_tx_set_size_ops,
            soroban_ledger_max_tx_count: self.soroban_ledger_max_tx_count,
            max_queue_size_ops: u64::from(self.max_tx_set_size_ops) * TRANSACTION_QUEUE_SIZE_MULTIPLIER,
            max_queue_soroban_ops: u64::from(self.soroban_ledger_max_tx_count) * TRANSACTION_QUEUE_SIZE_MULTIPLIER,
            ledger_close_time_ms: self.ledger_close_time_ms,
        }
    }
}

impl Default for LedgerState {
    fn default() -> Self {
        LedgerState::GENESIS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_tracking_ledger() {
        let g = LedgerState::GENESIS;
        assert_eq!(g.min_ledger_to_remember(12), 1);
        assert_eq!(g.scp_state_ledger(12), 0, "nothing known: ask for everything");
        let l = LedgerState { tracking_ledger: 200, ..g };
        assert_eq!(l.min_ledger_to_remember(12), 189);
        assert_eq!(l.scp_state_ledger(12), 198);
        assert_eq!(l.checkpoint_ledger(), 192);
        let f = l.flow_limits(12);
        assert_eq!((f.min_slot_to_remember, f.checkpoint_slot), (189, 192));
        assert_eq!(l.flood_limits().max_queue_size_ops, 200);
    }
}
