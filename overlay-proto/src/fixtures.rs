//! Well-formed synthetic messages for tests, benches, examples and the simulator.
//!
//! The overlay never verifies transaction or SCP signatures (that is the application's
//! job), so the signatures here are deterministic filler derived from the inputs.

use crate::NodeId;
use crate::hash::Hash256;
use stellar_xdr::{
    Asset, DecoratedSignature, Hash, Memo, MuxedAccount, Operation, OperationBody, PaymentOp, Preconditions,
    ScpEnvelope, ScpNomination, ScpStatement, ScpStatementPledges, SequenceNumber, Signature, SignatureHint,
    StellarMessage, TimeBounds, TimePoint, Transaction, TransactionEnvelope, TransactionExt, TransactionV1Envelope,
    Uint256, Value,
};

fn bytes32(tag: &[u8], n: u64) -> [u8; 32] {
    let mut input = tag.to_vec();
    input.extend_from_slice(&n.to_be_bytes());
    Hash256::sha256(&input).0
}

/// A one-operation native payment from an account derived from `n`, with one signature:
/// 220 bytes of StellarMessage XDR, the "200-byte tx" of PERF.md. Distinct `n` give
/// distinct transactions.
pub fn payment_transaction(n: u64) -> TransactionEnvelope {
    let tx = Transaction {
        source_account: MuxedAccount::Ed25519(Uint256(bytes32(b"source", n))),
        fee: 100,
        seq_num: SequenceNumber(i64::try_from(n % (i64::MAX as u64)).unwrap_or(0) + 1),
        cond: Preconditions::Time(TimeBounds { min_time: TimePoint(0), max_time: TimePoint(0) }),
        memo: Memo::None,
        operations: vec![Operation {
            source_account: None,
            body: OperationBody::Payment(PaymentOp {
                destination: MuxedAccount::Ed25519(Uint256(bytes32(b"destination", n))),
                asset: Asset::Native,
                amount: 10_000_000,
            }),
        }]
        .try_into()
        .expect("one operation"),
        ext: TransactionExt::V0,
    };
    let mut sig = bytes32(b"sig-a", n).to_vec();
    sig.extend_from_slice(&bytes32(b"sig-b", n));
    TransactionEnvelope::Tx(TransactionV1Envelope {
        tx,
        signatures: vec![DecoratedSignature {
            hint: SignatureHint([0, 1, 2, 3]),
            signature: Signature(sig.try_into().expect("64 bytes")),
        }]
        .try_into()
        .expect("one signature"),
    })
}

/// [`payment_transaction`] as a TRANSACTION message.
pub fn transaction_message(n: u64) -> StellarMessage {
    StellarMessage::Transaction(payment_transaction(n))
}

/// An SCP NOMINATE envelope from `node` for `slot` voting for one value derived from `n`.
pub fn scp_nominate(node: NodeId, slot: u64, n: u64) -> ScpEnvelope {
    let value = Value(bytes32(b"value", n).to_vec().try_into().expect("32 bytes"));
    let mut sig = bytes32(b"scp-sig-a", slot ^ n).to_vec();
    sig.extend_from_slice(&bytes32(b"scp-sig-b", slot ^ n));
    ScpEnvelope {
        statement: ScpStatement {
            node_id: node.to_xdr(),
            slot_index: slot,
            pledges: ScpStatementPledges::Nominate(ScpNomination {
                quorum_set_hash: Hash(bytes32(b"qset", 0)),
                votes: vec![value].try_into().expect("one vote"),
                accepted: vec![].try_into().expect("empty"),
            }),
        },
        signature: Signature(sig.try_into().expect("64 bytes")),
    }
}

/// [`scp_nominate`] as an SCP_MESSAGE.
pub fn scp_message(node: NodeId, slot: u64, n: u64) -> StellarMessage {
    StellarMessage::ScpMessage(scp_nominate(node, slot, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_message, encode_message};

    #[test]
    fn payment_is_the_220_byte_message_of_perf_md() {
        let m = transaction_message(1);
        let xdr = encode_message(&m).unwrap();
        assert_eq!(xdr.len(), 220);
        assert_eq!(decode_message(&xdr).unwrap(), m);
        assert_ne!(encode_message(&transaction_message(2)).unwrap(), xdr);
    }

    #[test]
    fn scp_message_round_trips() {
        let m = scp_message(NodeId([7; 32]), 10, 3);
        assert_eq!(decode_message(&encode_message(&m).unwrap()).unwrap(), m);
    }
}
