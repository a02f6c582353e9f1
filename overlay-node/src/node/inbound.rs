//! The inbound pipeline for each authenticated message type (PROTOCOL.md §7 steps 7–8, §8,
//! §9). Flow-control, ERROR, HELLO and AUTH messages never get here: the peer handles them.

use super::{ConnId, Node, NodeEvent, Output};
use crate::app::{Application, ScpVerdict, TxVerdict};
use crate::discovery::PeerStore;
use overlay_flood::{FetchKind, QueryKind, TxAvailability};
use overlay_flow::{MessageMeta, OutboundMessage};
use overlay_proto::xdr::{
    DontHave, GeneralizedTransactionSet, MessageType, ScpEnvelope, ScpQuorumSet, StellarMessage, TransactionEnvelope,
    TransactionSet, Uint256,
};
use overlay_proto::{Hash256, NodeId};
use std::sync::Arc;

/// Ledger protocol from which tx sets are generalized (§8.2).
const GENERALIZED_TX_SET_PROTOCOL: u32 = 20;

impl<A: Application, S: PeerStore> Node<A, S> {
    pub(super) fn on_message(&mut self, conn: ConnId, message: StellarMessage, size: usize, xdr: Option<Arc<[u8]>>) {
        let Some(from) = self.conns.get(&conn).and_then(|c| c.node_id) else {
            return;
        };
        match &message {
            StellarMessage::Transaction(tx) => self.on_transaction(from, tx, xdr.as_ref()),
            StellarMessage::ScpMessage(env) => self.on_scp(from, env, xdr.as_ref()),
            // Pull mode is ignored while out of sync (§7 step 7).
            StellarMessage::FloodAdvert(a) if self.app.ledger().synced => {
                let hashes: Vec<Hash256> = a.tx_hashes.0.iter().map(|h| Hash256(h.0)).collect();
                let ledger = self.app.ledger().tracking_ledger;
                self.pull.handle_flood_advert(from, &hashes, ledger, &mut self.rng);
            }
            StellarMessage::FloodDemand(d) if self.app.ledger().synced => {
                let hashes: Vec<Hash256> = d.tx_hashes.0.iter().map(|h| Hash256(h.0)).collect();
                self.serve_demand(conn, &hashes);
            }
            StellarMessage::GetTxSet(h) => self.serve_tx_set(conn, h),
            StellarMessage::GetScpQuorumset(h) => self.serve_quorum_set(conn, h),
            StellarMessage::GetScpState(ledger) => self.serve_scp_state(conn, *ledger),
            StellarMessage::TxSet(set) => self.on_tx_set_item(Hash256(legacy_tx_set_hash(set).0), &message),
            StellarMessage::GeneralizedTxSet(set) => {
                let hash = generalized_tx_set_hash(set);
                self.on_tx_set_item(hash, &message)
            }
            StellarMessage::ScpQuorumset(q) => self.on_quorum_set_item(q),
            StellarMessage::DontHave(d) => self.on_dont_have(from, d),
            StellarMessage::Peers(list) => self.on_peers(conn, list.as_slice()),
            // Surveys are handled by a later layer; they are delivered, not relayed.
            _ => {}
        }
        self.drain_pull();
        self.drain_fetch_requests();
        self.outputs.push_back(Output::Event(NodeEvent::Message { conn, peer: from, message, size }));
    }

    fn on_transaction(&mut self, from: NodeId, tx: &TransactionEnvelope, xdr: Option<&Arc<[u8]>>) {
        if !self.app.ledger().synced {
            return;
        }
        let Some(xdr) = xdr else { return };
        // The pull-mode hash is also the transaction's Floodgate identity.
        let Ok(tx_hash) = overlay_flood::identity::tx_full_hash_from_message_xdr(xdr) else {
            return;
        };
        self.pull.handle_transaction(self.now, from, &tx_hash);
        if !self.record_flood(tx_hash, from) {
            return;
        }
        match self.app.on_transaction(self.now, Some(from), tx, &tx_hash, xdr) {
            TxVerdict::Accepted => {
                self.flood_transaction(tx_hash);
            }
            TxVerdict::Duplicate => {}
            TxVerdict::Rejected => {
                self.floodgate.forget(&tx_hash);
            }
        }
    }

    fn on_scp(&mut self, from: NodeId, env: &ScpEnvelope, xdr: Option<&Arc<[u8]>>) {
        let Some(xdr) = xdr else { return };
        let id = overlay_flood::identity::flood_message_id_from_xdr(xdr);
        if !self.record_flood(id, from) {
            return;
        }
        self.submit_envelope(Some(from), env.clone(), id, Some(xdr.clone()));
    }

    /// Record a flooded message from `from` in the Floodgate; whether it is new.
    fn record_flood(&mut self, id: Hash256, from: NodeId) -> bool {
        let ledger = self.app.ledger().tracking_ledger;
        match self.floodgate.record_received(id, from, ledger) {
            Ok(true) => {
                self.metrics.flood_unique_recv += 1;
                true
            }
            Ok(false) => {
                self.metrics.flood_duplicate_recv += 1;
                false
            }
            Err(_) => false,
        }
    }

    /// Hand an envelope to the application and act on its verdict.
    fn submit_envelope(&mut self, from: Option<NodeId>, env: ScpEnvelope, id: Hash256, xdr: Option<Arc<[u8]>>) {
        match self.app.on_scp_envelope(self.now, from, &env) {
            ScpVerdict::Ready => {
                let msg = StellarMessage::ScpMessage(env);
                let xdr = match xdr {
                    Some(x) => x,
                    None => match overlay_proto::wire::encode_message(&msg) {
                        Ok(x) => x.into(),
                        Err(_) => return,
                    },
                };
                self.flood_push(&msg, &xdr);
            }
            ScpVerdict::Fetch { tx_set, quorum_set } => {
                if let Some(h) = tx_set {
                    self.fetch(FetchKind::TxSet, h, env.clone());
                }
                if let Some(h) = quorum_set {
                    self.fetch(FetchKind::QuorumSet, h, env);
                }
            }
            ScpVerdict::Discard => {
                self.floodgate.forget(&id);
            }
        }
    }

    fn serve_demand(&mut self, conn: ConnId, hashes: &[Hash256]) {
        let app = &self.app;
        let have = self.pull.handle_flood_demand(hashes, |h| {
            if app.has_transaction(h) { TxAvailability::Have } else { TxAvailability::Unknown }
        });
        for h in have {
            let Some(xdr) = self.app.transaction(&h) else { continue };
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

    fn serve_tx_set(&mut self, conn: ConnId, h: &Uint256) {
        if !self.allowed(conn, QueryKind::GetTxSet) {
            return;
        }
        let reply = match self.app.tx_set(&Hash256(h.0)) {
            Some(set) => set,
            None => {
                let type_ = if self.app.ledger().ledger_protocol < GENERALIZED_TX_SET_PROTOCOL {
                    MessageType::TxSet
                } else {
                    MessageType::GeneralizedTxSet
                };
                StellarMessage::DontHave(DontHave { type_, req_hash: h.clone() })
            }
        };
        self.send_conn(conn, &reply);
    }

    fn serve_quorum_set(&mut self, conn: ConnId, h: &Uint256) {
        if !self.allowed(conn, QueryKind::GetScpQuorumSet) {
            return;
        }
        let reply = match self.app.quorum_set(&Hash256(h.0)) {
            Some(q) => StellarMessage::ScpQuorumset(q),
            None => StellarMessage::DontHave(DontHave { type_: MessageType::ScpQuorumset, req_hash: h.clone() }),
        };
        self.send_conn(conn, &reply);
    }

    fn serve_scp_state(&mut self, conn: ConnId, ledger: u32) {
        if !self.allowed(conn, QueryKind::GetScpState) {
            return;
        }
        for env in self.app.scp_state(ledger) {
            self.send_conn(conn, &StellarMessage::ScpMessage(env));
        }
    }

    fn on_tx_set_item(&mut self, hash: Hash256, msg: &StellarMessage) {
        let waiting = self.tx_sets.handle_item(&hash);
        if waiting.is_empty() {
            self.metrics.fetch_duplicate_recv += 1;
            return;
        }
        self.metrics.fetch_unique_recv += 1;
        self.app.on_tx_set(self.now, &hash, msg);
        self.resubmit(waiting);
    }

    fn on_quorum_set_item(&mut self, q: &ScpQuorumSet) {
        let Ok(xdr) = overlay_proto::wire::encode_message(&StellarMessage::ScpQuorumset(q.clone())) else {
            return;
        };
        let hash = Hash256::sha256(&xdr[4..]);
        let waiting = self.quorum_sets.handle_item(&hash);
        if waiting.is_empty() {
            self.metrics.fetch_duplicate_recv += 1;
            return;
        }
        self.metrics.fetch_unique_recv += 1;
        self.app.on_quorum_set(self.now, &hash, q);
        self.resubmit(waiting);
    }

    /// Envelopes that waited for an item go back to the application, most recent first.
    fn resubmit(&mut self, waiting: Vec<ScpEnvelope>) {
        for env in waiting {
            let msg = StellarMessage::ScpMessage(env.clone());
            let Ok(xdr) = overlay_proto::wire::encode_message(&msg) else {
                continue;
            };
            let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
            self.submit_envelope(None, env, id, Some(xdr.into()));
        }
    }

    fn on_dont_have(&mut self, from: NodeId, d: &DontHave) {
        let peers = self.fetch_peers();
        let hash = Hash256(d.req_hash.0);
        let fetcher = match FetchKind::of_dont_have(d.type_) {
            Some(FetchKind::TxSet) => &mut self.tx_sets,
            Some(FetchKind::QuorumSet) => &mut self.quorum_sets,
            None => return,
        };
        fetcher.handle_dont_have(self.now, &mut self.rng, &hash, from, &peers, &self.floodgate);
    }
}

/// Contents hash of a legacy tx set: SHA-256(previousLedgerHash ‖ XDR(tx_1) ‖ …) (§8.2).
pub fn legacy_tx_set_hash(set: &TransactionSet) -> Hash256 {
    use overlay_proto::xdr::{Limits, WriteXdr};
    let mut bytes = set.previous_ledger_hash.0.to_vec();
    for tx in set.txs.iter() {
        if let Ok(x) = tx.to_xdr(Limits::none()) {
            bytes.extend_from_slice(&x);
        }
    }
    Hash256::sha256(&bytes)
}

/// Contents hash of a generalized tx set: SHA-256(XDR(GeneralizedTransactionSet)) (§8.2).
pub fn generalized_tx_set_hash(set: &GeneralizedTransactionSet) -> Hash256 {
    use overlay_proto::xdr::{Limits, WriteXdr};
    set.to_xdr(Limits::none()).map(|x| Hash256::sha256(&x)).unwrap_or_default()
}
