//! [`LedgerLimits`]: the values flow control takes from the ledger and the herder
//! (PROTOCOL.md §6.2 max-tx-size upgrades, §6.4 queue limits and SCP trimming).

/// `MAX_CLASSIC_TX_SIZE_BYTES`: the maximum size of a classic transaction (§6.2).
pub const MAX_CLASSIC_TX_SIZE_BYTES: u32 = 102_400;

/// `FLOW_CONTROL_BYTES_EXTRA_BUFFER`: room added to the Soroban maximum transaction size so
/// that a fee-bump around the largest Soroban transaction still fits (§6.2).
pub const FLOW_CONTROL_BYTES_EXTRA_BUFFER: u32 = 2_000;

/// First ledger protocol with Soroban (and so with a network-configured transaction size).
pub const SOROBAN_PROTOCOL_VERSION: u32 = 20;

/// The ledger-driven inputs of flow control, refreshed by the node after each ledger close
/// through [`FlowControl::handle_ledger_limits`](crate::FlowControl::handle_ledger_limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedgerLimits {
    /// The herder's maximum transaction size (`getMaxTxSize`); see [`max_tx_size_bytes`].
    /// Transactions larger than this are not queued, and an increase grows the flood byte
    /// capacity and is granted to the peer as SEND_MORE_EXTENDED{0, increase}.
    pub max_tx_size_bytes: u32,
    /// Maximum transaction set size in operations of the last closed ledger
    /// (`getLastMaxTxSetSizeOps`, already multiplied by 100 for protocols before 11): the
    /// message limit of the outbound transaction queue and the hash limit of the advert and
    /// demand queues (§6.4).
    pub max_tx_set_size_ops: u32,
    /// `minSlotToRemember = max(trackingSlot - MAX_SLOTS_TO_REMEMBER + 1, 1)`: queued SCP
    /// messages for older slots are trimmed (§6.4). 0 keeps every slot.
    pub min_slot_to_remember: u64,
    /// `mostRecentCheckpointSeq`: first ledger of the checkpoint containing the tracking
    /// slot; SCP messages for this slot are never trimmed as old (§6.4).
    pub checkpoint_slot: u64,
}

impl LedgerLimits {
    /// Values for a node that knows no ledger yet: classic maximum transaction size, the
    /// genesis ledger's maximum transaction set size (100 operations), and no SCP trimming.
    pub const GENESIS: LedgerLimits = LedgerLimits {
        max_tx_size_bytes: MAX_CLASSIC_TX_SIZE_BYTES,
        max_tx_set_size_ops: 100,
        min_slot_to_remember: 0,
        checkpoint_slot: 0,
    };
}

impl Default for LedgerLimits {
    fn default() -> Self {
        LedgerLimits::GENESIS
    }
}

/// The herder's maximum transaction size (§6.2): `max(MAX_CLASSIC_TX_SIZE_BYTES,
/// sorobanTxMaxSizeBytes + FLOW_CONTROL_BYTES_EXTRA_BUFFER)` from ledger protocol 20 on,
/// [`MAX_CLASSIC_TX_SIZE_BYTES`] before.
///
/// ```
/// use overlay_flow::ledger::max_tx_size_bytes;
/// assert_eq!(max_tx_size_bytes(19, 200_000), 102_400);
/// assert_eq!(max_tx_size_bytes(23, 132_096), 134_096);
/// assert_eq!(max_tx_size_bytes(23, 10_000), 102_400);
/// ```
pub fn max_tx_size_bytes(ledger_protocol: u32, soroban_tx_max_size_bytes: u32) -> u32 {
    if ledger_protocol >= SOROBAN_PROTOCOL_VERSION {
        MAX_CLASSIC_TX_SIZE_BYTES.max(soroban_tx_max_size_bytes.saturating_add(FLOW_CONTROL_BYTES_EXTRA_BUFFER))
    } else {
        MAX_CLASSIC_TX_SIZE_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_buffer_is_big_enough_for_a_fee_bump() {
        // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
        // "overlay buffer is big enough": a fee-bump wrapping the largest Soroban transaction
        // adds less than FLOW_CONTROL_BYTES_EXTRA_BUFFER, so it stays under maxTxSize.
        let soroban_max = 150_000;
        let max = max_tx_size_bytes(23, soroban_max);
        assert_eq!(max, soroban_max + FLOW_CONTROL_BYTES_EXTRA_BUFFER);
        // Fee-bump envelope overhead: fee source (36) + fee (8) + inner type (4) + ext (4)
        // + up to 20 decorated signatures of 72 bytes = 1492 < 2000.
        let fee_bump_overhead = 36 + 8 + 4 + 4 + 20 * 72;
        assert!(soroban_max + fee_bump_overhead <= max);
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(max_tx_size_bytes(30, u32::MAX), u32::MAX);
        assert_eq!(LedgerLimits::default(), LedgerLimits::GENESIS);
    }
}
