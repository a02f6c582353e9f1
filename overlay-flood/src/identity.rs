//! The two hashes of flooding: a flooded message's identity in the Floodgate, and a
//! transaction's pull-mode hash.
//!
//! * **Pull-mode hash** ([`tx_full_hash`]): SHA-256 of `XDR(TransactionEnvelope)` (for a fee
//!   bump, of the outer envelope). This one **is** on the wire: it is what FLOOD_ADVERT and
//!   FLOOD_DEMAND carry (PROTOCOL.md §9), and it differs from the ordinary transaction hash.
//! * **Message identity** ([`flood_message_id`]): for a TRANSACTION, its pull-mode hash; for
//!   every other message, SHA-256 of `XDR(StellarMessage)`. stellar-core keys its Floodgate
//!   with BLAKE2b of the whole message; that key is local (it is never sent on the wire), so a
//!   different function changes nothing a peer can observe as long as it tells messages apart
//!   as well. A TRANSACTION message is its envelope behind a fixed 4-byte type, so the
//!   envelope's hash identifies the message exactly; using it means one SHA-256 per received
//!   transaction instead of two (the pull-mode hash is needed anyway). The two kinds of
//!   identity never hash the same bytes: an envelope begins with its envelope type (0, 2 or
//!   5), every other flooded message with its message type (SCP_MESSAGE is 11, the survey
//!   messages are 21 and above). SHA-256 rather than BLAKE2b because `overlay-proto` already
//!   carries it and SHA-NI makes it fast (PERF.md).

use crate::error::FloodError;
use overlay_proto::Hash256;
use overlay_proto::xdr::{Limited, Limits, MessageType, ScpEnvelope, StellarMessage, TransactionEnvelope, WriteXdr};

/// Size of the message type discriminant at the start of `XDR(StellarMessage)`.
const TYPE_LEN: usize = 4;

/// The Floodgate identity of a message (see the [module docs](self)).
pub fn flood_message_id(msg: &StellarMessage) -> Result<Hash256, FloodError> {
    let xdr = overlay_proto::wire::encode_message(msg).map_err(|_| FloodError::XdrEncode)?;
    Ok(flood_message_id_from_xdr(&xdr))
}

/// The Floodgate identity of a message from its XDR bytes as received (the node has them:
/// `RawMessage::message_xdr`), without re-encoding: for a TRANSACTION its pull-mode hash
/// ([`tx_full_hash_from_message_xdr`]), for any other message SHA-256 of the bytes.
pub fn flood_message_id_from_xdr(message_xdr: &[u8]) -> Hash256 {
    tx_full_hash_from_message_xdr(message_xdr).unwrap_or_else(|_| Hash256::sha256(message_xdr))
}

/// The Floodgate identity of `StellarMessage::ScpMessage(envelope)`: what the fetcher looks up
/// to find the peers that sent us an envelope waiting for an item (§8.3).
pub fn scp_message_id(envelope: &ScpEnvelope) -> Result<Hash256, FloodError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&(MessageType::ScpMessage as i32).to_be_bytes());
    let mut w = Limited::new(&mut out, Limits::depth(overlay_proto::wire::XDR_DEPTH_LIMIT));
    envelope.write_xdr(&mut w).map_err(|_| FloodError::XdrEncode)?;
    Ok(Hash256::sha256(&out))
}

/// The pull-mode hash of a transaction: SHA-256 of `XDR(TransactionEnvelope)`.
pub fn tx_full_hash(envelope: &TransactionEnvelope) -> Result<Hash256, FloodError> {
    let mut out = Vec::with_capacity(256);
    let mut w = Limited::new(&mut out, Limits::depth(overlay_proto::wire::XDR_DEPTH_LIMIT));
    envelope.write_xdr(&mut w).map_err(|_| FloodError::XdrEncode)?;
    Ok(Hash256::sha256(&out))
}

/// The pull-mode hash from the XDR of a TRANSACTION `StellarMessage` as received: the
/// envelope is the message minus its 4-byte type, so no decoding or re-encoding is needed.
pub fn tx_full_hash_from_message_xdr(message_xdr: &[u8]) -> Result<Hash256, FloodError> {
    match overlay_proto::wire::message_type_of(message_xdr) {
        Some(MessageType::Transaction) => Ok(Hash256::sha256(&message_xdr[TYPE_LEN..])),
        _ => Err(FloodError::NotATransaction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::xdr::{Hash, ScpStatement, ScpStatementConfirm, ScpStatementPledges};

    fn envelope(slot: u64) -> ScpEnvelope {
        ScpEnvelope {
            statement: ScpStatement {
                slot_index: slot,
                pledges: ScpStatementPledges::Confirm(ScpStatementConfirm {
                    n_prepared: 7,
                    quorum_set_hash: Hash([3; 32]),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn scp_message_id_equals_the_id_of_the_wrapping_message() {
        let env = envelope(9);
        let direct = scp_message_id(&env).unwrap();
        let wrapped = flood_message_id(&StellarMessage::ScpMessage(env.clone())).unwrap();
        assert_eq!(direct, wrapped);
        assert_ne!(direct, scp_message_id(&envelope(10)).unwrap());
        let xdr = overlay_proto::wire::encode_message(&StellarMessage::ScpMessage(env)).unwrap();
        assert_eq!(flood_message_id_from_xdr(&xdr), direct);
    }

    #[test]
    fn a_transaction_is_identified_by_its_pull_mode_hash() {
        let msg = overlay_proto::fixtures::transaction_message(3);
        let StellarMessage::Transaction(env) = &msg else { unreachable!() };
        let xdr = overlay_proto::wire::encode_message(&msg).unwrap();
        let id = flood_message_id(&msg).unwrap();
        assert_eq!(id, tx_full_hash(env).unwrap());
        assert_eq!(id, flood_message_id_from_xdr(&xdr));
        assert_eq!(id, tx_full_hash_from_message_xdr(&xdr).unwrap());
        assert_ne!(id, Hash256::sha256(&xdr), "not the hash of the whole message");
        assert_ne!(id, flood_message_id(&overlay_proto::fixtures::transaction_message(4)).unwrap());
    }

    #[test]
    fn tx_hash_from_message_xdr_rejects_other_types() {
        let xdr = overlay_proto::wire::encode_message(&StellarMessage::ScpMessage(envelope(1))).unwrap();
        assert_eq!(tx_full_hash_from_message_xdr(&xdr), Err(FloodError::NotATransaction));
        assert_eq!(tx_full_hash_from_message_xdr(&[0, 0]), Err(FloodError::NotATransaction));
    }
}
