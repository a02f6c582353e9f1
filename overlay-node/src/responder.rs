//! Answers a node with no ledger data gives to requests (PROTOCOL.md §8.2, §4.4).

use overlay_proto::xdr::{DontHave, MessageType, StellarMessage};

/// The DONT_HAVE a node that has no tx sets and no quorum sets sends for a GET_TX_SET or a
/// GET_SCP_QUORUMSET (the latter also answers pings). `None` for every other message.
///
/// ```
/// use overlay_node::responder::dont_have_reply;
/// use overlay_proto::xdr::{MessageType, StellarMessage, Uint256};
/// let reply = dont_have_reply(&StellarMessage::GetScpQuorumset(Uint256([1; 32]))).unwrap();
/// assert!(matches!(reply, StellarMessage::DontHave(d) if d.type_ == MessageType::ScpQuorumset));
/// ```
pub fn dont_have_reply(msg: &StellarMessage) -> Option<StellarMessage> {
    let (type_, req_hash) = match msg {
        // Protocol ≥ 20 ledgers: tx sets are generalized.
        StellarMessage::GetTxSet(h) => (MessageType::GeneralizedTxSet, h.clone()),
        StellarMessage::GetScpQuorumset(h) => (MessageType::ScpQuorumset, h.clone()),
        _ => return None,
    };
    Some(StellarMessage::DontHave(DontHave { type_, req_hash }))
}
