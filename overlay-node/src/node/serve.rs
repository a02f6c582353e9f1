//! Answers to peers' requests from the items the node holds (PROTOCOL.md §8.2, §8.5, §8.6,
//! §9.4), and the hashes that name those items.

use super::{ConnId, Node};
use crate::ledger::LEDGER_VALIDITY_BRACKET;
use overlay_flood::{QueryKind, TxAvailability};
use overlay_flow::{MessageMeta, OutboundMessage};
use overlay_proto::Hash256;
use overlay_proto::xdr::{
    DontHave, GeneralizedTransactionSet, Limits, MessageType, ScpQuorumSet, StellarMessage, TransactionSet, Uint256,
    WriteXdr,
};
use std::sync::Arc;

/// Ledger protocol from which tx sets are generalized (§8.2).
const GENERALIZED_TX_SET_PROTOCOL: u32 = 20;

impl Node {
    pub(super) fn serve_demand(&mut self, conn: ConnId, hashes: &[Hash256]) {
        let items = &self.items;
        let have = self.pull.handle_flood_demand(hashes, |h| {
            if items.txs.contains(h) { TxAvailability::Have } else { TxAvailability::Unknown }
        });
        for h in have {
            let Some(xdr) = self.items.txs.get(&h).map(Arc::<[u8]>::from) else { continue };
            if overlay_proto::wire::message_type_of(&xdr) != Some(MessageType::Transaction) {
                continue;
            }
            self.metrics.flood_fulfilled += 1;
            let out = OutboundMessage::from_meta(MessageMeta::transaction(xdr.len()), xdr);
            self.send_flood_conn(conn, &out);
        }
    }

    fn allowed(&mut self, conn: ConnId, kind: QueryKind) -> bool {
        let now = self.now;
        let limits = &self.query_limits;
        let ok = self.conns.get_mut(&conn).is_some_and(|c| c.limiter.allow(now, kind, limits));
        if !ok {
            self.metrics.query_ignored += 1;
        }
        ok
    }

    pub(super) fn serve_tx_set(&mut self, conn: ConnId, h: &Uint256) {
        if !self.allowed(conn, QueryKind::GetTxSet) {
            return;
        }
        match self.items.tx_sets.get(&Hash256(h.0)).map(|held| held.item.clone()) {
            Some(set) => self.send_conn(conn, &set),
            None => {
                let type_ = if self.ledger.ledger_protocol < GENERALIZED_TX_SET_PROTOCOL {
                    MessageType::TxSet
                } else {
                    MessageType::GeneralizedTxSet
                };
                self.send_conn(conn, &StellarMessage::DontHave(DontHave { type_, req_hash: h.clone() }));
            }
        }
    }

    pub(super) fn serve_quorum_set(&mut self, conn: ConnId, h: &Uint256) {
        if !self.allowed(conn, QueryKind::GetScpQuorumSet) {
            return;
        }
        let reply = match self.items.quorum_sets.get(&Hash256(h.0)) {
            Some(q) => StellarMessage::ScpQuorumset((**q).clone()),
            None => StellarMessage::DontHave(DontHave { type_: MessageType::ScpQuorumset, req_hash: h.clone() }),
        };
        self.send_conn(conn, &reply);
    }

    /// The latest envelope of every node for the slots from `ledger` on, over at most
    /// `LEDGER_VALIDITY_BRACKET` slots with data, as flow-controlled SCP_MESSAGEs that are
    /// not recorded in the Floodgate (§8.5).
    pub(super) fn serve_scp_state(&mut self, conn: ConnId, ledger: u32) {
        if !self.allowed(conn, QueryKind::GetScpState) {
            return;
        }
        for env in self.items.scp_state(u64::from(ledger), LEDGER_VALIDITY_BRACKET as usize) {
            self.send_conn(conn, &StellarMessage::ScpMessage((*env).clone()));
        }
    }
}

/// The contents hash (§8.2) and XDR size of a TX_SET or GENERALIZED_TX_SET message; `None`
/// for any other message.
pub fn tx_set_hash(message: &StellarMessage) -> Option<(Hash256, usize)> {
    match message {
        StellarMessage::TxSet(set) => Some(legacy_tx_set_hash(set)),
        StellarMessage::GeneralizedTxSet(set) => generalized_tx_set_hash(set),
        _ => None,
    }
}

/// Contents hash of a legacy tx set, SHA-256(previousLedgerHash ‖ XDR(tx_1) ‖ …) (§8.2),
/// and the size of those bytes.
pub fn legacy_tx_set_hash(set: &TransactionSet) -> (Hash256, usize) {
    let mut bytes = set.previous_ledger_hash.0.to_vec();
    for tx in set.txs.iter() {
        if let Ok(x) = tx.to_xdr(Limits::none()) {
            bytes.extend_from_slice(&x);
        }
    }
    (Hash256::sha256(&bytes), bytes.len())
}

/// Contents hash of a generalized tx set, SHA-256(XDR(GeneralizedTransactionSet)) (§8.2),
/// and its XDR size; `None` if it does not encode.
pub fn generalized_tx_set_hash(set: &GeneralizedTransactionSet) -> Option<(Hash256, usize)> {
    set.to_xdr(Limits::none()).ok().map(|x| (Hash256::sha256(&x), x.len()))
}

/// SHA-256 of a quorum set's XDR, and its size.
pub(crate) fn quorum_set_hash(q: &ScpQuorumSet) -> Option<(Hash256, usize)> {
    q.to_xdr(Limits::none()).ok().map(|x| (Hash256::sha256(&x), x.len()))
}
