//! The inbound pipeline for each authenticated message type (PROTOCOL.md §7 steps 7–8, §8,
//! §9). Flow-control, ERROR, HELLO and AUTH messages never get here: the peer handles them.

use super::{ConnId, Node, NodeEvent, Output, Received, Waiter};
use crate::app::{Delivery, ScpDelivery, SharedTransaction, TxDelivery};
use overlay_flood::{FetchKind, PeerSlot};
use overlay_proto::xdr::{DontHave, ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, MessageClass, NodeId};
use std::sync::Arc;

impl Node {
    pub(super) fn on_message(
        &mut self,
        conn: ConnId,
        message: Arc<StellarMessage>,
        size: usize,
        flood: Option<(Arc<[u8]>, Hash256)>,
    ) {
        let Some((from, slot)) = self.conns.get(&conn).and_then(|c| Some((c.node_id?, c.flood_slot))) else {
            return;
        };
        if message.is_flood() {
            if let Some(bucket) = self.rate.as_mut() {
                if !bucket.take(self.now) {
                    self.metrics.flood_rate_limited += 1;
                    return;
                }
            }
        }
        let (received, first_seen) = match SharedTransaction::from_shared(message) {
            Ok(tx) => {
                let first = self.on_transaction(from, slot, &tx, flood);
                (Received::Transaction(tx), first)
            }
            Err(message) if matches!(*message, StellarMessage::ScpMessage(_)) => {
                // Nothing else holds it yet, so this moves the envelope out.
                let StellarMessage::ScpMessage(env) = Arc::unwrap_or_clone(message) else { return };
                let env = Arc::new(env);
                let first = self.on_scp(from, slot, &env, flood);
                (Received::ScpMessage(env), first)
            }
            Err(other) => {
                let first = self.on_other(conn, from, &other);
                (Received::Other(other), first)
            }
        };
        self.count_for_survey(conn, received.message_type(), size, first_seen);
        self.drain_pull();
        self.drain_fetch_requests();
        let ev = NodeEvent::Message { conn, peer: from, message: received, size, first_seen };
        self.outputs.push_back(Output::Event(ev));
    }

    /// Every type but TRANSACTION and SCP_MESSAGE; whether it was new to us.
    fn on_other(&mut self, conn: ConnId, from: NodeId, message: &Arc<StellarMessage>) -> bool {
        match &**message {
            // Pull mode is ignored while out of sync (§7 step 7).
            StellarMessage::FloodAdvert(a) if self.ledger.synced => {
                let hashes: Vec<Hash256> = a.tx_hashes.0.iter().map(|h| Hash256(h.0)).collect();
                let ledger = self.ledger.tracking_ledger;
                self.pull.handle_flood_advert(from, &hashes, ledger, &mut self.rng);
            }
            StellarMessage::FloodDemand(d) if self.ledger.synced => {
                let hashes: Vec<Hash256> = d.tx_hashes.0.iter().map(|h| Hash256(h.0)).collect();
                self.serve_demand(conn, &hashes);
            }
            StellarMessage::GetTxSet(h) => self.serve_tx_set(conn, h),
            StellarMessage::GetScpQuorumset(h) => self.serve_quorum_set(conn, h),
            StellarMessage::GetScpState(ledger) => self.serve_scp_state(conn, *ledger),
            StellarMessage::TxSet(_) | StellarMessage::GeneralizedTxSet(_) => {
                return self.on_tx_set_item(from, message);
            }
            StellarMessage::ScpQuorumset(q) => return self.on_quorum_set_item(from, q),
            StellarMessage::DontHave(d) => self.on_dont_have(from, d),
            StellarMessage::Peers(list) => self.on_peers(conn, list.as_slice()),
            StellarMessage::TimeSlicedSurveyStartCollecting(_)
            | StellarMessage::TimeSlicedSurveyStopCollecting(_)
            | StellarMessage::TimeSlicedSurveyRequest(_)
            | StellarMessage::TimeSlicedSurveyResponse(_) => return self.on_survey(conn, from, message),
            _ => {}
        }
        true
    }

    /// A TRANSACTION: recorded in the Floodgate and delivered once for a verdict; whether
    /// it was new.
    fn on_transaction(
        &mut self,
        from: NodeId,
        slot: Option<PeerSlot>,
        tx: &SharedTransaction,
        flood: Option<(Arc<[u8]>, Hash256)>,
    ) -> bool {
        if !self.ledger.synced {
            return false;
        }
        // The pull-mode hash is also the transaction's Floodgate identity.
        let Some((xdr, hash)) = flood else { return false };
        // The delivery's references, taken before the Floodgate records the message: an
        // atomic increment waits for every earlier store, and a new record's stores to the
        // index miss the cache.
        let (held, envelope) = (xdr.clone(), tx.clone());
        if let Some(latency) = self.pull.handle_transaction(self.now, from, &hash) {
            self.measures.pull_latency.observe(latency.since_first_demand);
        }
        if !self.record_flood(hash, from, slot) {
            return false;
        }
        if self.items.txs.contains(&hash) {
            // Accepted before and still held: a duplicate for the application too.
            return false;
        }
        if self.pending_txs.is_full() {
            // [LOCAL] policy at the bound: not delivered, and forgotten so that a later copy
            // can be.
            self.metrics.app_tx_refused += 1;
            self.floodgate.forget(&hash);
            return true;
        }
        self.pending_txs.insert(self.now, hash, held);
        let d = TxDelivery { hash, from, envelope, xdr };
        self.outputs.push_back(Output::Deliver(Delivery::Transaction(d)));
        true
    }

    /// An SCP_MESSAGE: recorded in the Floodgate before the application sees it (§8.1);
    /// whether it was new.
    fn on_scp(
        &mut self,
        from: NodeId,
        slot: Option<PeerSlot>,
        env: &Arc<ScpEnvelope>,
        flood: Option<(Arc<[u8]>, Hash256)>,
    ) -> bool {
        let Some((xdr, id)) = flood else { return false };
        if !self.record_flood(id, from, slot) {
            return false;
        }
        let w = Waiter { envelope: env.clone(), xdr, from: Some(from), hand_backs: 0 };
        self.deliver_envelope(id, w);
        true
    }

    /// Record a flooded message from `from` (its Floodgate slot `slot`) in the Floodgate;
    /// whether it is new.
    fn record_flood(&mut self, id: Hash256, from: NodeId, slot: Option<PeerSlot>) -> bool {
        let ledger = self.ledger.tracking_ledger;
        let recorded = match slot {
            Some(slot) => self.floodgate.record_received_from(id, slot, ledger),
            None => self.floodgate.record_received(id, from, ledger),
        };
        match recorded {
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

    /// Hand an envelope to the application and wait for its verdict. At the bound the oldest
    /// waiting envelope is given up (\[LOCAL\]: newer statements supersede older ones).
    pub(super) fn deliver_envelope(&mut self, id: Hash256, w: Waiter) {
        let d = ScpDelivery {
            id,
            from: w.from,
            envelope: w.envelope.clone(),
            xdr: w.xdr.clone(),
            refetched: w.hand_backs > 0,
        };
        if let Some((old, _)) = self.pending_scp.insert(self.now, id, w) {
            self.metrics.app_envelopes_evicted += 1;
            self.floodgate.forget(&old);
        }
        self.outputs.push_back(Output::Deliver(Delivery::ScpEnvelope(d)));
    }

    /// A TX_SET or GENERALIZED_TX_SET: held and delivered if we were fetching it, and the
    /// envelopes that waited for it go back to the application; whether we were fetching it.
    fn on_tx_set_item(&mut self, from: NodeId, message: &Arc<StellarMessage>) -> bool {
        let Some((hash, size)) = super::serve::tx_set_hash(message) else { return false };
        let waiting = self.tx_sets.handle_item(&hash);
        if waiting.is_empty() {
            // Received but nobody is fetching it: ignored, no penalty (§8.2).
            self.metrics.fetch_duplicate_recv += 1;
            return false;
        }
        self.metrics.fetch_unique_recv += 1;
        self.note_fetched(&hash);
        let held = super::items::Held { item: message.clone(), ledger: self.ledger.tracking_ledger };
        self.items.tx_sets.insert(hash, held, size);
        let d = Delivery::TxSet { hash, from: Some(from), message: message.clone() };
        self.outputs.push_back(Output::Deliver(d));
        self.hand_back(waiting, FetchKind::QuorumSet);
        true
    }

    fn on_quorum_set_item(&mut self, from: NodeId, q: &ScpQuorumSet) -> bool {
        let Some((hash, size)) = super::serve::quorum_set_hash(q) else { return false };
        let waiting = self.quorum_sets.handle_item(&hash);
        if waiting.is_empty() {
            self.metrics.fetch_duplicate_recv += 1;
            return false;
        }
        self.metrics.fetch_unique_recv += 1;
        self.note_fetched(&hash);
        let q = Arc::new(q.clone());
        self.items.quorum_sets.insert(hash, q.clone(), size);
        let d = Delivery::QuorumSet { hash, from: Some(from), quorum_set: q };
        self.outputs.push_back(Output::Deliver(d));
        self.hand_back(waiting, FetchKind::TxSet);
        true
    }

    fn note_fetched(&mut self, hash: &Hash256) {
        if let Some(start) = self.fetch_started.remove(hash) {
            self.measures.fetch_latency.observe(self.now - start);
        }
    }

    /// Envelopes that waited for an item go back to the application, most recent first
    /// (§8.3), except those still waiting for an item of the `other` fetcher (a tx set and a
    /// quorum set often arrive in the same read): they go back when that one arrives.
    fn hand_back(&mut self, waiting: Vec<Waiter>, other: FetchKind) {
        for w in waiting {
            let id = overlay_flood::identity::flood_message_id_from_xdr(&w.xdr);
            let still = match other {
                FetchKind::TxSet => self.tx_sets.is_waiting(&id),
                FetchKind::QuorumSet => self.quorum_sets.is_waiting(&id),
            };
            if !still {
                self.hand_back_one(id, w);
            }
        }
    }

    /// Hand an envelope back to the application for a new verdict. If it is already waiting
    /// for one, the pending delivery will do (its verdict is taken then). Given up after
    /// `HAND_BACKS_MAX` rounds.
    pub(super) fn hand_back_one(&mut self, id: Hash256, mut w: Waiter) {
        if self.pending_scp.contains(&id) {
            return;
        }
        if w.hand_backs >= super::HAND_BACKS_MAX {
            self.metrics.app_envelopes_evicted += 1;
            self.floodgate.forget(&id);
            return;
        }
        w.hand_backs += 1;
        self.deliver_envelope(id, w);
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
