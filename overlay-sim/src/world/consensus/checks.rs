//! The consensus-relay invariants: (b) and (c) on the wire, (a) at each envelope's deadline.

use super::{Request, World};
use crate::consensus::values;
use crate::invariants::Violation;
use crate::network::NodeIndex;
use crate::world::tcp::EndState;
use crate::world::{Event, Res};
use core::time::Duration;
use overlay_node::relay::references;
use overlay_proto::Hash256;
use overlay_proto::xdr::{MessageType, StellarMessage};

/// A relay answers a validator's GET_TX_SET or GET_SCP_QUORUMSET within this long (replies
/// are not flow-controlled, §8.2).
const REQUEST_ANSWER_DEADLINE: Duration = Duration::from_secs(3);

/// A short hex form of a hash for messages.
fn short(h: &Hash256) -> String {
    h.0[..6].iter().map(|b| format!("{b:02x}")).collect()
}

impl World {
    /// A frame written on side `side` of `sim` that the consensus checks read (SCP messages,
    /// item requests and replies), as the StellarMessage XDR.
    pub(in crate::world) fn consensus_wire(&mut self, sim: u64, side: usize, xdr: &[u8]) -> Res {
        let Some(conn) = self.conns.get(&sim) else { return Ok(()) };
        let (w, r) = (conn.ends[side].node, conn.ends[1 - side].node);
        let Some(c) = self.consensus.as_deref() else { return Ok(()) };
        let (w_validator, r_validator) = (c.is_validator(w), c.is_validator(r));
        let is_relay = |n: NodeIndex| self.nodes[n as usize].live.as_deref().is_some_and(|l| l.app.is_relay());
        let (w_relay, r_relay) = (is_relay(w), is_relay(r));
        if !(w_relay || (w_validator && r_relay)) {
            return Ok(());
        }
        let Ok(msg) = overlay_proto::wire::decode_message(xdr) else { return Ok(()) };
        match &msg {
            StellarMessage::ScpMessage(env) if w_relay => self.relay_writes_envelope(w, r, env),
            StellarMessage::GetTxSet(h) | StellarMessage::GetScpQuorumset(h) if w_validator && r_relay => {
                let tx_set = matches!(msg, StellarMessage::GetTxSet(_));
                let hash = Hash256(h.0);
                let at = self.q.now();
                let ignored_before = self.ignored_queries(r);
                let c = self.consensus.as_deref_mut().expect("checked");
                if c.relay_refs.get(&r).is_some_and(|refs| refs.contains_key(&hash)) {
                    c.checks.requests_after_flood += 1;
                    c.requests.insert((sim, hash), Request { at, validator: w, relay: r, tx_set, ignored_before });
                    self.q.schedule_in(REQUEST_ANSWER_DEADLINE, Event::CheckRequest { conn: sim, hash })?;
                }
                Ok(())
            }
            StellarMessage::TxSet(_) | StellarMessage::GeneralizedTxSet(_) if w_relay && r_validator => {
                let hash = overlay_node::node::tx_set_hash(&msg).map(|(h, _)| h);
                self.answered(sim, hash);
                Ok(())
            }
            StellarMessage::ScpQuorumset(q) if w_relay && r_validator => {
                self.answered(sim, Some(values::quorum_set_hash(q)));
                Ok(())
            }
            StellarMessage::DontHave(d) if w_relay && r_validator => {
                let hash = Hash256(d.req_hash.0);
                let c = self.consensus.as_deref_mut().expect("checked");
                c.checks.dont_have_to_validators += 1;
                if c.relay_refs.get(&w).is_some_and(|refs| refs.contains_key(&hash)) {
                    let item = if d.type_ == MessageType::ScpQuorumset { "quorum set" } else { "tx set" };
                    return Err(self.fail(Violation::RelayDontHaveAfterFlood {
                        relay: w,
                        validator: r,
                        item,
                        hash: short(&hash),
                    }));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// (b): relay `w` writes an SCP_MESSAGE to `r`; its node must hold what it references.
    fn relay_writes_envelope(&mut self, w: NodeIndex, r: NodeIndex, env: &overlay_proto::xdr::ScpEnvelope) -> Res {
        let Ok(refs) = references(&env.statement.pledges) else { return Ok(()) };
        let slot = env.statement.slot_index;
        let Some(live) = self.nodes[w as usize].live.as_deref() else { return Ok(()) };
        let missing_tx_set = refs.tx_sets.iter().find(|h| !live.node.holds_tx_set(h)).copied();
        let missing_qset = (!live.node.holds_quorum_set(&refs.quorum_set)).then_some(refs.quorum_set);
        let c = self.consensus.as_deref_mut().expect("checked");
        c.checks.scp_messages_checked += 1;
        let check = c.spec.check_relay_holds;
        let refs_of_w = c.relay_refs.entry(w).or_default();
        for h in refs.tx_sets.iter().chain([&refs.quorum_set]) {
            let s = refs_of_w.entry(*h).or_insert(slot);
            *s = (*s).max(slot);
        }
        let missing = missing_tx_set.map(|h| ("tx set", h)).or(missing_qset.map(|h| ("quorum set", h)));
        self.count_check("SCP messages of relays checked for held items (b)", 1);
        if let (true, Some((item, hash))) = (check, missing) {
            let author_id = overlay_proto::NodeId::from_xdr(&env.statement.node_id);
            let c = self.consensus.as_deref().expect("checked");
            let author = c.validators.iter().copied().find(|v| crate::world::node_id(*v) == author_id);
            return Err(self.fail(Violation::RelayFloodedUnheld {
                relay: w,
                peer: r,
                statement: crate::consensus::values::Statement::of(&env.statement.pledges).name(),
                slot,
                author: author.unwrap_or(NodeIndex::MAX),
                item,
                hash: short(&hash),
            }));
        }
        Ok(())
    }

    /// A relay wrote the item `hash` on `sim`: a waiting request is answered.
    fn answered(&mut self, sim: u64, hash: Option<Hash256>) {
        let Some(hash) = hash else { return };
        let c = self.consensus.as_deref_mut().expect("checked");
        if c.requests.remove(&(sim, hash)).is_some() {
            c.checks.answered += 1;
            self.count_check("requests of validators to relays after the flood answered (c)", 1);
        }
    }

    /// (c): the request for `hash` on `sim` must have been answered by now, unless the
    /// connection or a node went away meanwhile.
    pub(in crate::world) fn check_request(&mut self, sim: u64, hash: Hash256) -> Res {
        let Some(c) = self.consensus.as_deref_mut() else { return Ok(()) };
        let Some(req) = c.requests.remove(&(sim, hash)) else { return Ok(()) };
        let up = self.conns.get(&sim).is_some_and(|conn| {
            !conn.reset && !conn.desynced && conn.ends.iter().all(|e| e.state == EndState::Open && e.authenticated)
        });
        let live = |n: NodeIndex| self.nodes[n as usize].live.is_some();
        // Linked (authenticated both ways, the network letting bytes through) throughout,
        // since the request was written.
        let linked = self.graph.component_since(req.relay, req.at, |x| x == req.validator).contains(&req.validator);
        if !up || !live(req.validator) || !live(req.relay) || !linked {
            return Ok(());
        }
        Err(self.fail(Violation::RequestNotAnswered {
            relay: req.relay,
            validator: req.validator,
            item: if req.tx_set { "tx set" } else { "quorum set" },
            hash: short(&hash),
            deadline_ms: REQUEST_ANSWER_DEADLINE.as_millis() as u64,
            ignored_queries: self.ignored_queries(req.relay).saturating_sub(req.ignored_before),
        }))
    }

    /// Queries node `n` ignored over its per-peer rate limit (§8.6), this incarnation.
    fn ignored_queries(&self, n: NodeIndex) -> u64 {
        self.nodes[n as usize].live.as_deref().map_or(0, |l| l.node.counters().query_ignored)
    }

    /// (a): the envelope of record `n` must be ready at every other validator's application
    /// that stayed connected to its author through running nodes.
    pub(in crate::world) fn check_envelope(&mut self, n: u32) -> Res {
        let Some(c) = self.consensus.as_deref_mut() else { return Ok(()) };
        let Some(rec) = c.log.take(n) else { return Ok(()) };
        let validators = c.validators.clone();
        let at = rec.at;
        let author_steady = self.is_steady(rec.author, at);
        let component = self.graph.component_since(rec.author, at, |x| self.is_steady(x, at));
        let mut strict_miss = None;
        let mut ready_max = Some(0u64);
        for (p, &v) in validators.iter().enumerate() {
            if p == rec.author_position {
                continue;
            }
            let receipt = rec.receipts[p];
            match receipt.ready {
                Some(t) => {
                    ready_max = ready_max.map(|m| m.max(t.saturating_duration_since(at).as_micros() as u64));
                }
                None => ready_max = None,
            }
            let exempt = !(author_steady && self.is_steady(v, at) && component.contains(&v));
            if receipt.ready.is_none() && !exempt && strict_miss.is_none() {
                strict_miss = Some((v, receipt.why_not()));
            }
            let c = self.consensus.as_deref_mut().expect("checked");
            c.log.outcome(&rec, p, v, exempt);
        }
        let c = self.consensus.as_deref_mut().expect("checked");
        if let Some(us) = ready_max {
            c.log.coverage.record_us(us);
        }
        self.count_check("envelope deliveries to validators checked", validators.len() as u64 - 1);
        if let Some((node, reason)) = strict_miss {
            return Err(self.fail(Violation::EnvelopeNotDelivered {
                statement: rec.statement.name(),
                slot: rec.slot,
                author: rec.author,
                node,
                reason,
                deadline_ms: self.sc.reach_deadline_ms,
            }));
        }
        Ok(())
    }
}
