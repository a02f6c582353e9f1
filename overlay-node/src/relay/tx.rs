//! The structural checks a relay makes on a transaction before flooding it: what can be
//! told without a ledger. XDR decoding already bounded the operation and signature counts.

use overlay_proto::xdr::{FeeBumpTransactionInnerTx, TransactionEnvelope};

/// Why a relay refuses a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// No operation (stellar-core `txMISSING_OPERATION`).
    #[error("no operation")]
    NoOperation,
    /// A fee below one stroop per operation can never be valid.
    #[error("fee below one stroop per operation")]
    FeeTooLow,
}

/// Check what can be checked without a ledger: at least one operation, a fee of at least one
/// stroop per operation (the fee-bump's outer fee counts one more operation).
///
/// ```
/// use overlay_node::relay::{TxError, check_transaction};
/// use overlay_proto::xdr::{TransactionEnvelope, TransactionV1Envelope};
/// let empty = TransactionEnvelope::Tx(TransactionV1Envelope::default());
/// assert_eq!(check_transaction(&empty), Err(TxError::NoOperation));
/// ```
pub fn check_transaction(env: &TransactionEnvelope) -> Result<(), TxError> {
    let (ops, fee) = match env {
        TransactionEnvelope::TxV0(e) => (e.tx.operations.len(), i64::from(e.tx.fee)),
        TransactionEnvelope::Tx(e) => (e.tx.operations.len(), i64::from(e.tx.fee)),
        TransactionEnvelope::TxFeeBump(e) => {
            let FeeBumpTransactionInnerTx::Tx(inner) = &e.tx.inner_tx;
            (inner.tx.operations.len() + 1, e.tx.fee)
        }
    };
    if ops == 0 || (matches!(env, TransactionEnvelope::TxFeeBump(_)) && ops == 1) {
        return Err(TxError::NoOperation);
    }
    if fee < ops as i64 {
        return Err(TxError::FeeTooLow);
    }
    Ok(())
}
