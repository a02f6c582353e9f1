//! Commands of the application and the operator, and the application's answers
//! ([`Node::handle_app`]).

use super::items::Held;
use super::{ConnId, Node, NodeError, Output, Waiter};
use crate::app::{AppInput, Delivery, ScpVerdict, TxVerdict};
use crate::ledger::{LEDGER_VALIDITY_BRACKET, LedgerState};
use crate::peer::DropReason;
use overlay_flood::{FetchKind, QueryLimits};
use overlay_proto::xdr::{ScpEnvelope, StellarMessage};
use overlay_proto::{Hash256, NodeId, PeerAddress, Timestamp};
use std::sync::Arc;

impl Node {
    /// Flood a message of ours: a transaction (held to serve demands, then advertised), an
    /// SCP envelope (pushed, and kept in the SCP state), or a survey message. Returns the
    /// number of peers newly told. Other types are refused with a typed error.
    pub fn broadcast(&mut self, now: Timestamp, msg: StellarMessage) -> Result<usize, NodeError> {
        self.advance(now, self.now_unix);
        let t = msg.discriminant();
        NodeError::check_sendable(t)?;
        if self.shutting_down {
            return Err(NodeError::ShuttingDown);
        }
        let xdr: Arc<[u8]> = overlay_proto::wire::encode_message(&msg).map_err(|_| NodeError::Encode)?.into();
        let told = match msg {
            StellarMessage::Transaction(_) => {
                let hash =
                    overlay_flood::identity::tx_full_hash_from_message_xdr(&xdr).map_err(|_| NodeError::Encode)?;
                self.items.txs.insert(hash, &xdr, self.ledger.tracking_ledger);
                self.metrics.message_broadcast += 1;
                self.flood_transaction(hash)
            }
            StellarMessage::ScpMessage(env) => {
                let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
                let w = Waiter { envelope: Arc::new(env), xdr, from: None, hand_backs: 0 };
                self.flood_envelope(id, &w)
            }
            StellarMessage::TimeSlicedSurveyStartCollecting(_)
            | StellarMessage::TimeSlicedSurveyStopCollecting(_)
            | StellarMessage::TimeSlicedSurveyRequest(_)
            | StellarMessage::TimeSlicedSurveyResponse(_) => {
                let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
                self.flood_push(id, &msg)
            }
            _ => return Err(NodeError::NotFlooded(t)),
        };
        self.flush();
        Ok(told)
    }

    /// Send a message to one authenticated peer. Handshake and flow-control messages are
    /// refused: they belong to the connection.
    pub fn send_to(&mut self, now: Timestamp, peer: NodeId, msg: &StellarMessage) -> Result<(), NodeError> {
        self.advance(now, self.now_unix);
        NodeError::check_sendable(msg.discriminant())?;
        let conn = *self.authenticated.get(&peer).ok_or(NodeError::UnknownPeer(peer))?;
        self.send_conn(conn, msg);
        self.flush();
        Ok(())
    }

    /// Send messages to one authenticated peer, in order, with one flush at the end (frames
    /// batch into fewer writes than with one [`send_to`](Self::send_to) each). Stops at the
    /// first message refused; returns how many were taken.
    ///
    /// ```
    /// # use overlay_node::harness::Harness;
    /// # use overlay_proto::fixtures::transaction_message;
    /// let mut h = Harness::new();
    /// let (a, b) = (h.add_node(Harness::config()), h.add_node(Harness::config()));
    /// h.connect(a, b);
    /// let txs: Vec<_> = (0..3).map(transaction_message).collect();
    /// let peer = h.nodes[b].node_id();
    /// assert_eq!(h.nodes[a].send_many_to(h.now, peer, &txs), Ok(3));
    /// ```
    pub fn send_many_to(&mut self, now: Timestamp, peer: NodeId, msgs: &[StellarMessage]) -> Result<usize, NodeError> {
        self.advance(now, self.now_unix);
        let conn = *self.authenticated.get(&peer).ok_or(NodeError::UnknownPeer(peer))?;
        let mut sent = 0;
        let mut refused = None;
        for msg in msgs {
            if let Err(e) = NodeError::check_sendable(msg.discriminant()) {
                refused = Some(e);
                break;
            }
            self.send_conn(conn, msg);
            sent += 1;
        }
        self.flush();
        match refused {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent),
        }
    }

    /// Send GET_SCP_STATE(`ledger`) to every authenticated peer.
    pub fn request_scp_state(&mut self, now: Timestamp, ledger: u32) {
        self.advance(now, self.now_unix);
        let conns: Vec<ConnId> = self.authenticated.values().copied().collect();
        for c in conns {
            self.send_conn(c, &StellarMessage::GetScpState(ledger));
        }
        self.flush();
    }

    /// Fetch the tx set `hash` for `envelope` (GET_TX_SET to peers in turn) until it
    /// arrives; it is then delivered, and the envelope handed back for a verdict.
    pub fn fetch_tx_set(&mut self, now: Timestamp, hash: Hash256, envelope: ScpEnvelope) {
        self.advance(now, self.now_unix);
        self.fetch_for(FetchKind::TxSet, hash, envelope);
        self.flush();
    }

    /// Fetch the quorum set `hash` for `envelope` until it arrives.
    pub fn fetch_quorum_set(&mut self, now: Timestamp, hash: Hash256, envelope: ScpEnvelope) {
        self.advance(now, self.now_unix);
        self.fetch_for(FetchKind::QuorumSet, hash, envelope);
        self.flush();
    }

    fn fetch_for(&mut self, kind: FetchKind, hash: Hash256, envelope: ScpEnvelope) {
        let msg = StellarMessage::ScpMessage(envelope);
        let Ok(xdr) = overlay_proto::wire::encode_message(&msg) else { return };
        let StellarMessage::ScpMessage(envelope) = msg else { return };
        let xdr: Arc<[u8]> = xdr.into();
        let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
        let w = Waiter { envelope: Arc::new(envelope), xdr, from: None, hand_backs: 0 };
        self.fetch(kind, hash, id, w);
    }

    /// Dial `address` now (the admin `connect` command), if a pending outbound slot is free.
    pub fn connect(&mut self, now: Timestamp, address: PeerAddress) -> Result<ConnId, NodeError> {
        self.advance(now, self.now_unix);
        let id = self.dial(address)?;
        self.flush();
        Ok(id)
    }

    /// Drop an authenticated peer with ERR_MISC "dropped by user".
    pub fn disconnect(&mut self, now: Timestamp, peer: NodeId) -> Result<(), NodeError> {
        self.advance(now, self.now_unix);
        let conn = *self.authenticated.get(&peer).ok_or(NodeError::UnknownPeer(peer))?;
        self.close_conn(conn, DropReason::DROPPED_BY_USER);
        self.flush();
        Ok(())
    }

    /// Drop a connection by id with `reason`.
    pub fn close(&mut self, now: Timestamp, conn: ConnId, reason: DropReason) {
        self.advance(now, self.now_unix);
        self.close_conn(conn, reason);
        self.flush();
    }

    /// Shut down: every connection is dropped with ERR_MISC "shutdown", the Floodgate is
    /// cleared and no timer runs any more.
    pub fn shutdown(&mut self, now: Timestamp) {
        self.advance(now, self.now_unix);
        self.shutting_down = true;
        self.next_tick = None;
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in conns {
            self.close_conn(c, DropReason::SHUTDOWN);
        }
        self.floodgate.clear();
        self.flush();
    }

    /// An answer of the application: a verdict, a new ledger, an item to serve. Verdicts
    /// for nothing pending are ignored (counted); a HoldTxSet that is not a tx set is
    /// refused.
    pub fn handle_app(&mut self, now: Timestamp, input: AppInput) -> Result<(), NodeError> {
        self.advance(now, self.now_unix);
        let r = match input {
            AppInput::TxVerdict { hash, verdict } => {
                self.on_tx_verdict(hash, verdict);
                Ok(())
            }
            AppInput::ScpVerdict { id, verdict } => {
                self.on_scp_verdict(id, verdict);
                Ok(())
            }
            AppInput::Ledger(l) => {
                self.apply_ledger(l);
                Ok(())
            }
            AppInput::HoldTxSet(m) => match super::serve::tx_set_hash(&m) {
                Some((hash, size)) => {
                    self.items.tx_sets.insert(hash, Held { item: m, ledger: self.ledger.tracking_ledger }, size);
                    Ok(())
                }
                None => Err(NodeError::NotATxSet(m.discriminant())),
            },
            AppInput::HoldQuorumSet(q) => {
                if let Some((hash, size)) = super::serve::quorum_set_hash(&q) {
                    self.items.quorum_sets.insert(hash, q, size);
                }
                Ok(())
            }
            AppInput::HoldScpEnvelope(env) => {
                self.items.hold_envelope(env);
                Ok(())
            }
            AppInput::TransitiveQuorum(nodes) => {
                self.survey.transitive = nodes.into_iter().collect();
                Ok(())
            }
        };
        self.drain_pull();
        self.drain_fetch_requests();
        self.flush();
        r
    }

    fn on_tx_verdict(&mut self, hash: Hash256, verdict: TxVerdict) {
        let Some(xdr) = self.pending_txs.remove(&hash) else {
            self.metrics.app_verdicts_unknown += 1;
            return;
        };
        match verdict {
            TxVerdict::Accepted => {
                self.items.txs.insert(hash, &xdr, self.ledger.tracking_ledger);
                self.flood_transaction(hash);
            }
            TxVerdict::Duplicate => {}
            TxVerdict::Rejected => {
                self.floodgate.forget(&hash);
            }
        }
    }

    fn on_scp_verdict(&mut self, id: Hash256, verdict: ScpVerdict) {
        let Some(w) = self.pending_scp.remove(&id) else {
            self.metrics.app_verdicts_unknown += 1;
            return;
        };
        match verdict {
            ScpVerdict::Ready => {
                self.flood_envelope(id, &w);
            }
            ScpVerdict::Fetch { tx_sets, quorum_set } => self.fetch_items(id, w, tx_sets, quorum_set),
            ScpVerdict::Discard => {
                self.floodgate.forget(&id);
            }
        }
    }

    /// Fetch the items an envelope needs. Those already held are delivered again at once
    /// (the application may not have seen them yet); when all are held the envelope is
    /// handed back.
    fn fetch_items(&mut self, id: Hash256, w: Waiter, tx_sets: Vec<Hash256>, quorum_set: Option<Hash256>) {
        let mut missing = 0;
        let mut held = Vec::new();
        for h in tx_sets {
            match self.items.tx_sets.get(&h) {
                Some(set) => held.push(Delivery::TxSet { hash: h, from: None, message: set.item.clone() }),
                None => {
                    missing += 1;
                    self.fetch(FetchKind::TxSet, h, id, w.clone());
                }
            }
        }
        if let Some(h) = quorum_set {
            match self.items.quorum_sets.get(&h) {
                Some(q) => held.push(Delivery::QuorumSet { hash: h, from: None, quorum_set: q.clone() }),
                None => {
                    missing += 1;
                    self.fetch(FetchKind::QuorumSet, h, id, w.clone());
                }
            }
        }
        if missing > 0 {
            // Delivered again when they arrive, the held ones too.
            return;
        }
        self.outputs.extend(held.into_iter().map(Output::Deliver));
        self.hand_back_one(id, w);
    }

    /// A new ledger: limits to flow control and pull mode, and records older than the
    /// window of §8.1 cleared everywhere (Floodgate, advert history, held items, fetches of
    /// envelopes for slots outside `[min, tracking + LEDGER_VALIDITY_BRACKET]`).
    fn apply_ledger(&mut self, l: LedgerState) {
        let close_time_changed = l.ledger_close_time_ms != self.ledger.ledger_close_time_ms;
        if self.ledger.synced && !l.synced {
            self.survey.data.sync_lost();
        }
        self.ledger = l;
        self.survey.limiter.clear_old_ledgers(l.tracking_ledger);
        let remember = self.remember();
        let flow = l.flow_limits(remember);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in conns {
            if let Some(p) = self.conns.get_mut(&id).and_then(|c| c.peer.as_mut()) {
                p.handle_ledger_limits(self.now, flow);
            }
            self.dirty.insert(id);
        }
        self.pull.set_ledger_limits(l.flood_limits());
        if close_time_changed {
            self.query_limits = QueryLimits::new(&self.config.flood, l.ledger_close_time_ms);
        }
        let min = l.min_ledger_to_remember(remember);
        self.floodgate.clear_below(min);
        self.pull.clear_below(min);
        self.items.clear_below(min);
        let max = u64::from(l.tracking_ledger) + u64::from(LEDGER_VALIDITY_BRACKET);
        let checkpoint = u64::from(l.checkpoint_ledger());
        for f in [&mut self.tx_sets, &mut self.quorum_sets] {
            f.stop_fetching_outside_range(Some(u64::from(min)), Some(max), checkpoint);
        }
    }

    /// Deliveries whose verdict did not come in time are given up: their Floodgate records
    /// are dropped, so that a later copy is delivered again.
    pub(super) fn expire_verdicts(&mut self) {
        let timeout = self.config.items.verdict_timeout;
        let txs = self.pending_txs.expire(self.now, timeout);
        let envs = self.pending_scp.expire(self.now, timeout);
        self.metrics.app_verdicts_expired += (txs.len() + envs.len()) as u64;
        for (h, _) in txs {
            self.floodgate.forget(&h);
        }
        for (h, _) in envs {
            self.floodgate.forget(&h);
        }
    }
}
