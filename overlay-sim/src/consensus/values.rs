//! What the simulated validators say: their tx sets, quorum sets, values and signed SCP
//! statements, each a pure function of (validator, slot), so that every validator can name
//! the slot's chosen value and every run is reproducible.

use overlay_auth::NodeIdentity;
use overlay_proto::xdr::{
    GeneralizedTransactionSet, Hash, Limits, ScpBallot, ScpEnvelope, ScpNomination, ScpQuorumSet, ScpStatement,
    ScpStatementConfirm, ScpStatementExternalize, ScpStatementPledges, ScpStatementPrepare, Signature, StellarMessage,
    StellarValue, StellarValueExt, TimePoint, TransactionPhase, TransactionSetV1, TxSetComponent,
    TxSetComponentTxsMaybeDiscountedFee, Value, WriteXdr,
};
use overlay_proto::{Hash256, NetworkId, NodeId};
use serde::Serialize;

/// `ENVELOPE_TYPE_SCP` as XDR: what the signature covers after the network ID (§8.7).
const ENVELOPE_TYPE_SCP: [u8; 4] = [0, 0, 0, 1];
/// Transaction numbers of the validators' tx sets start here (apart from the load's and the
/// other tx sets').
const VALIDATOR_TX_BASE: u64 = 1 << 48;
/// Close time of slot 0, seconds; each slot adds one.
const CLOSE_TIME_BASE_S: u64 = 1_800_000_000;

/// The four SCP statements a validator makes per slot, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Statement {
    /// NOMINATE: its own value.
    Nominate,
    /// PREPARE of the chosen value.
    Prepare,
    /// CONFIRM of the chosen value.
    Confirm,
    /// EXTERNALIZE of the chosen value.
    Externalize,
}

impl Statement {
    /// Every statement, in order.
    pub const ALL: [Statement; 4] =
        [Statement::Nominate, Statement::Prepare, Statement::Confirm, Statement::Externalize];

    /// Its XDR name.
    pub fn name(self) -> &'static str {
        match self {
            Statement::Nominate => "NOMINATE",
            Statement::Prepare => "PREPARE",
            Statement::Confirm => "CONFIRM",
            Statement::Externalize => "EXTERNALIZE",
        }
    }

    /// The statement that follows this one in a slot.
    pub fn next(self) -> Option<Statement> {
        match self {
            Statement::Nominate => Some(Statement::Prepare),
            Statement::Prepare => Some(Statement::Confirm),
            Statement::Confirm => Some(Statement::Externalize),
            Statement::Externalize => None,
        }
    }

    /// The statement of some pledges.
    pub fn of(pledges: &ScpStatementPledges) -> Statement {
        match pledges {
            ScpStatementPledges::Nominate(_) => Statement::Nominate,
            ScpStatementPledges::Prepare(_) => Statement::Prepare,
            ScpStatementPledges::Confirm(_) => Statement::Confirm,
            ScpStatementPledges::Externalize(_) => Statement::Externalize,
        }
    }
}

/// A tx set with its contents hash.
#[derive(Debug, Clone, PartialEq)]
pub struct TxSet {
    /// The GENERALIZED_TX_SET message.
    pub message: StellarMessage,
    /// SHA-256 of the GeneralizedTransactionSet XDR (§8.2), computed by the node's function.
    pub hash: Hash256,
}

/// The tx set validator `validator` (its index among the validators) proposes for `slot`:
/// one classic phase of `txs` payments, distinct per validator and slot.
pub fn tx_set(validator: u32, slot: u64, txs: u32) -> TxSet {
    let first = VALIDATOR_TX_BASE + (slot * 1_000 + u64::from(validator)) * u64::from(txs.max(1));
    let envelopes: Vec<_> =
        (0..u64::from(txs)).map(|k| overlay_proto::fixtures::payment_transaction(first + k)).collect();
    let component = TxSetComponent::TxsetCompTxsMaybeDiscountedFee(TxSetComponentTxsMaybeDiscountedFee {
        base_fee: Some(100),
        txs: envelopes.try_into().unwrap_or_default(),
    });
    let set = GeneralizedTransactionSet::V1(TransactionSetV1 {
        previous_ledger_hash: Hash(Hash256::sha256(&slot.to_be_bytes()).0),
        phases: vec![
            TransactionPhase::V0(vec![component].try_into().unwrap_or_default()),
            TransactionPhase::V0(Default::default()),
        ]
        .try_into()
        .unwrap_or_default(),
    });
    let hash = overlay_node::node::generalized_tx_set_hash(&set).map_or(Hash256([0; 32]), |(h, _)| h);
    TxSet { message: StellarMessage::GeneralizedTxSet(set), hash }
}

/// The quorum set of the validator at `position` among `validators`: all of them with
/// `threshold`, listed from itself on, so that each validator's quorum set (and hash) is
/// its own.
pub fn quorum_set(validators: &[NodeId], position: usize, threshold: u32) -> ScpQuorumSet {
    let n = validators.len().max(1);
    let list: Vec<_> = (0..validators.len()).map(|k| validators[(position + k) % n].to_xdr()).collect();
    ScpQuorumSet { threshold, validators: list.try_into().unwrap_or_default(), inner_sets: Default::default() }
}

/// SHA-256 of a quorum set's XDR (`quorumSetHash`).
pub fn quorum_set_hash(q: &ScpQuorumSet) -> Hash256 {
    Hash256::sha256(&q.to_xdr(Limits::none()).unwrap_or_default())
}

/// The value a validator proposes for `slot`: the XDR of a StellarValue naming its tx set.
pub fn value(tx_set_hash: Hash256, slot: u64) -> Value {
    let sv = StellarValue {
        tx_set_hash: Hash(tx_set_hash.0),
        close_time: TimePoint(CLOSE_TIME_BASE_S + slot),
        upgrades: Default::default(),
        ext: StellarValueExt::Basic,
    };
    Value(sv.to_xdr(Limits::none()).unwrap_or_default().try_into().unwrap_or_default())
}

/// The pledges of `statement` for `slot`: NOMINATE votes for `own` (the validator's value);
/// the ballot statements are about `chosen`. `qset` is the validator's quorum-set hash.
pub fn pledges(statement: Statement, own: &Value, chosen: &Value, qset: Hash256) -> ScpStatementPledges {
    let qset = Hash(qset.0);
    let ballot = ScpBallot { counter: 1, value: chosen.clone() };
    match statement {
        Statement::Nominate => ScpStatementPledges::Nominate(ScpNomination {
            quorum_set_hash: qset,
            votes: vec![own.clone()].try_into().unwrap_or_default(),
            accepted: Default::default(),
        }),
        Statement::Prepare => ScpStatementPledges::Prepare(ScpStatementPrepare {
            quorum_set_hash: qset,
            ballot: ballot.clone(),
            prepared: Some(ballot),
            prepared_prime: None,
            n_c: 0,
            n_h: 0,
        }),
        Statement::Confirm => ScpStatementPledges::Confirm(ScpStatementConfirm {
            ballot,
            n_prepared: 1,
            n_commit: 1,
            n_h: 1,
            quorum_set_hash: qset,
        }),
        Statement::Externalize => ScpStatementPledges::Externalize(ScpStatementExternalize {
            commit: ballot,
            n_h: 1,
            commit_quorum_set_hash: qset,
        }),
    }
}

/// A statement signed by `identity`: Ed25519 over `networkID ‖ XDR(ENVELOPE_TYPE_SCP) ‖
/// XDR(statement)` (§8.7).
pub fn sign(identity: &NodeIdentity, network: &NetworkId, slot: u64, pledges: ScpStatementPledges) -> ScpEnvelope {
    let statement = ScpStatement { node_id: identity.node_id().to_xdr(), slot_index: slot, pledges };
    let mut signed = network.as_bytes().to_vec();
    signed.extend_from_slice(&ENVELOPE_TYPE_SCP);
    signed.extend_from_slice(&statement.to_xdr(Limits::none()).unwrap_or_default());
    let signature = identity.sign(&signed);
    ScpEnvelope { statement, signature: Signature(signature.to_vec().try_into().unwrap_or_default()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_node::app::ScpDelivery;
    use overlay_node::relay::{references, verify};
    use overlay_proto::Network;
    use std::sync::Arc;

    #[test]
    fn signed_statements_pass_the_relay_checks_and_name_their_items() {
        let id = NodeIdentity::from_seed([7; 32]);
        let network = Network::Standalone.id();
        let set = tx_set(2, 9, 3);
        assert_ne!(set.hash, tx_set(3, 9, 3).hash, "distinct per validator");
        assert_ne!(set.hash, tx_set(2, 10, 3).hash, "distinct per slot");
        let q = quorum_set(&[id.node_id(), NodeId([1; 32]), NodeId([2; 32])], 1, 2);
        assert_ne!(quorum_set_hash(&q), quorum_set_hash(&quorum_set(&[id.node_id(), NodeId([1; 32])], 0, 2)));
        let own = value(set.hash, 9);
        let chosen = value(tx_set(0, 9, 3).hash, 9);
        for st in Statement::ALL {
            let env = sign(&id, &network, 9, pledges(st, &own, &chosen, quorum_set_hash(&q)));
            assert_eq!(Statement::of(&env.statement.pledges), st);
            let msg = StellarMessage::ScpMessage(env.clone());
            let xdr: Arc<[u8]> = overlay_proto::wire::encode_message(&msg).unwrap().into();
            let id_hash = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
            let d = ScpDelivery { id: id_hash, from: None, envelope: Arc::new(env.clone()), xdr, refetched: false };
            assert_eq!(verify(&network, &d), Ok(()), "{st:?}");
            assert!(verify(&Network::Testnet.id(), &d).is_err());
            let refs = references(&env.statement.pledges).unwrap();
            let want = if st == Statement::Nominate { set.hash } else { tx_set(0, 9, 3).hash };
            assert_eq!(refs.tx_sets, vec![want]);
            assert_eq!(refs.quorum_set, quorum_set_hash(&q));
        }
    }
}
