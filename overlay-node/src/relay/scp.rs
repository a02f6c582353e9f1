//! What a relay reads in an SCP envelope (PROTOCOL.md §8.7): the signed bytes and the items
//! its statement references.

use crate::app::ScpDelivery;
use overlay_proto::xdr::{Limits, ReadXdr, ScpStatementPledges, StellarValue, Value};
use overlay_proto::{Hash256, NetworkId, NodeId};

/// `ENVELOPE_TYPE_SCP` as XDR.
const ENVELOPE_TYPE_SCP: [u8; 4] = [0, 0, 0, 1];

/// The items a statement references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct References {
    /// Tx sets, by contents hash, without repeats, in the order the statement names them.
    pub tx_sets: Vec<Hash256>,
    /// The quorum set.
    pub quorum_set: Hash256,
}

/// Why a relay refuses an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The signature is not `statement.nodeID`'s over the network ID, the envelope type and
    /// the statement.
    #[error("bad signature")]
    BadSignature,
    /// A value of the statement is not the XDR of a StellarValue.
    #[error("a value is not a StellarValue")]
    BadValue,
    /// The slot is too old or too far ahead of the tracked slot.
    #[error("slot outside the window")]
    OutOfWindow,
}

/// Check the envelope's signature: Ed25519 by `statement.nodeID` over
/// `networkID ‖ XDR(ENVELOPE_TYPE_SCP) ‖ XDR(statement)`, with no hashing first (§8.7). The
/// statement's bytes are cut from the received message, not encoded again.
pub fn verify(network: &NetworkId, d: &ScpDelivery) -> Result<(), EnvelopeError> {
    let statement = d.statement_xdr().ok_or(EnvelopeError::BadSignature)?;
    let mut signed = Vec::with_capacity(36 + statement.len());
    signed.extend_from_slice(network.as_bytes());
    signed.extend_from_slice(&ENVELOPE_TYPE_SCP);
    signed.extend_from_slice(statement);
    let node = NodeId::from_xdr(&d.envelope.statement.node_id);
    if overlay_auth::identity::verify_signature(&node, &signed, &d.envelope.signature.0) {
        Ok(())
    } else {
        Err(EnvelopeError::BadSignature)
    }
}

/// The tx sets and the quorum set a statement references: every value of NOMINATE
/// `votes`/`accepted`, PREPARE `ballot`/`prepared`/`preparedPrime`, CONFIRM `ballot` and
/// EXTERNALIZE `commit` is a StellarValue naming a tx set; the quorum set is
/// `quorumSetHash` or, for EXTERNALIZE, `commitQuorumSetHash` (§8.7).
pub fn references(pledges: &ScpStatementPledges) -> Result<References, EnvelopeError> {
    let mut values: Vec<&Value> = Vec::new();
    let qset = match pledges {
        ScpStatementPledges::Nominate(n) => {
            values.extend(n.votes.iter());
            values.extend(n.accepted.iter());
            &n.quorum_set_hash
        }
        ScpStatementPledges::Prepare(p) => {
            values.push(&p.ballot.value);
            values.extend(p.prepared.iter().map(|b| &b.value));
            values.extend(p.prepared_prime.iter().map(|b| &b.value));
            &p.quorum_set_hash
        }
        ScpStatementPledges::Confirm(c) => {
            values.push(&c.ballot.value);
            &c.quorum_set_hash
        }
        ScpStatementPledges::Externalize(e) => {
            values.push(&e.commit.value);
            &e.commit_quorum_set_hash
        }
    };
    let mut tx_sets = Vec::new();
    for v in values {
        let sv = StellarValue::from_xdr(v.0.as_slice(), Limits { depth: 64, len: v.0.len() })
            .map_err(|_| EnvelopeError::BadValue)?;
        let h = Hash256(sv.tx_set_hash.0);
        if !tx_sets.contains(&h) {
            tx_sets.push(h);
        }
    }
    Ok(References { tx_sets, quorum_set: Hash256(qset.0) })
}
