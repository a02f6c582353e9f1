//! Sending, flooding and fetching: the node's outbound side (PROTOCOL.md §8.1, §8.3, §9).

use super::{ConnId, Node, Waiter};
use overlay_flood::{FetchKind, PullMessageKind};
use overlay_flow::{MessageMeta, OutboundMessage};
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{Hash256, Timestamp};
use std::sync::Arc;

/// The optional soft limit on flood messages from all peers (`flood_rate_limit_per_sec`):
/// a token bucket holding one second of messages.
#[derive(Debug, Clone)]
pub(crate) struct RateBucket {
    per_sec: u64,
    /// In units of 1/1e9 message, at most `per_sec` × 1e9.
    tokens: u64,
    last: Timestamp,
}

const TOKEN: u64 = 1_000_000_000;

impl RateBucket {
    pub fn new(per_sec: u32, now: Timestamp) -> Self {
        let per_sec = u64::from(per_sec.max(1));
        RateBucket { per_sec, tokens: per_sec * TOKEN, last: now }
    }

    /// Take one message's token; whether there was one.
    pub fn take(&mut self, now: Timestamp) -> bool {
        let elapsed_ns = u64::try_from((now - self.last).as_nanos()).unwrap_or(u64::MAX);
        self.last = self.last.max(now);
        self.tokens = self.tokens.saturating_add(elapsed_ns.saturating_mul(self.per_sec)).min(self.per_sec * TOKEN);
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            true
        } else {
            false
        }
    }
}

impl Node {
    pub(super) fn send_conn(&mut self, conn: ConnId, msg: &StellarMessage) {
        if let Some(p) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            let _ = p.send(self.now, msg);
            self.dirty.insert(conn);
        }
    }

    pub(super) fn send_flood_conn(&mut self, conn: ConnId, out: &OutboundMessage<Arc<[u8]>>) {
        if let Some(p) = self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()) {
            let _ = p.send_flood(self.now, out.clone());
            self.dirty.insert(conn);
        }
    }

    /// Fetch `hash` for `waiter` (its Floodgate identity `id`), asking first the peers that
    /// sent the envelope (§8.3).
    pub(super) fn fetch(&mut self, kind: FetchKind, hash: Hash256, id: Hash256, waiter: Waiter) {
        let waiting =
            overlay_flood::Waiting { msg_id: id, slot_index: waiter.envelope.statement.slot_index, envelope: waiter };
        if self.fetch_started.len() >= super::FETCH_STARTS_MAX {
            self.fetch_started.clear();
        }
        self.fetch_started.entry(hash).or_insert(self.now);
        let peers = self.fetch_peers();
        let fetcher = match kind {
            FetchKind::TxSet => &mut self.tx_sets,
            FetchKind::QuorumSet => &mut self.quorum_sets,
        };
        fetcher.fetch(self.now, &mut self.rng, hash, waiting, &peers, &self.floodgate);
        self.drain_fetch_requests();
    }

    pub(super) fn drain_fetch_requests(&mut self) {
        let mut requests = Vec::new();
        while let Some(r) = self.tx_sets.poll_request() {
            requests.push(r);
        }
        while let Some(r) = self.quorum_sets.poll_request() {
            requests.push(r);
        }
        for r in requests {
            if let Some(conn) = self.authenticated.get(&r.peer).copied() {
                self.send_conn(conn, &r.to_message());
            }
        }
    }

    pub(super) fn drain_pull(&mut self) {
        while let Some(t) = self.pull.poll_transmit() {
            let msg = t.to_message();
            match t.kind {
                PullMessageKind::Advert => self.metrics.flood_advertised += t.hashes.len() as u64,
                PullMessageKind::Demand => self.metrics.flood_demanded += t.hashes.len() as u64,
            }
            if let Some(conn) = self.authenticated.get(&t.peer).copied() {
                self.send_conn(conn, &msg);
            }
        }
    }

    pub(super) fn run_pull_timers(&mut self) {
        if self.pull.poll_timeout().is_some_and(|t| t <= self.now) {
            let (items, pending) = (&self.items, &self.pending_txs);
            self.pull.handle_timeout(self.now, &mut self.rng, |h| items.txs.contains(h) || pending.contains(h));
        }
        self.drain_pull();
    }

    pub(super) fn run_fetch_timers(&mut self) {
        let peers = self.fetch_peers();
        for f in [&mut self.tx_sets, &mut self.quorum_sets] {
            if f.poll_timeout().is_some_and(|t| t <= self.now) {
                f.handle_timeout(self.now, &mut self.rng, &peers, &self.floodgate);
            }
        }
        self.drain_fetch_requests();
    }

    /// Flood a transaction: adverts to every authenticated peer that does not know it. Its
    /// pull-mode hash is its Floodgate identity.
    pub(super) fn flood_transaction(&mut self, tx_hash: Hash256) -> usize {
        let told =
            match self.floodgate.broadcast_to_slots(tx_hash, self.ledger.tracking_ledger, &self.flood_peers.slots) {
                Ok(t) => t,
                Err(_) => return 0,
            };
        for &i in &told {
            self.pull.queue_outgoing_advert(self.now, self.flood_peers.ids[i], tx_hash);
        }
        self.drain_pull();
        told.len()
    }

    /// The connections of the authenticated peers that do not know the message with
    /// Floodgate identity `id`, now recorded as told; none if the Floodgate refused.
    fn push_targets(&mut self, id: Hash256) -> Vec<ConnId> {
        let ledger = self.ledger.tracking_ledger;
        let Ok(told) = self.floodgate.broadcast_to_slots(id, ledger, &self.flood_peers.slots) else {
            return Vec::new();
        };
        self.metrics.message_broadcast += 1;
        told.into_iter().map(|i| self.flood_peers.conns[i]).collect()
    }

    /// Flood `msg` (a survey message, outside flow control: sent at once), Floodgate identity
    /// `id`, to every authenticated peer that does not know it; the number of peers.
    pub(super) fn flood_push(&mut self, id: Hash256, msg: &StellarMessage) -> usize {
        let conns = self.push_targets(id);
        for &conn in &conns {
            self.send_conn(conn, msg);
        }
        conns.len()
    }

    /// Flood a ready SCP envelope through flow control and keep it in the SCP state (§8.1,
    /// §8.5); the number of peers it went to.
    pub(super) fn flood_envelope(&mut self, id: Hash256, w: &Waiter) -> usize {
        let meta = MessageMeta::scp(w.envelope.clone(), w.xdr.len());
        let out = OutboundMessage::from_meta(meta, w.xdr.clone());
        let conns = self.push_targets(id);
        for &conn in &conns {
            self.send_flood_conn(conn, &out);
        }
        self.items.hold_envelope(w.envelope.clone());
        conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let t0 = Timestamp::from_secs(10);
        let mut b = RateBucket::new(2, t0);
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0), "a second's worth is spent");
        assert!(b.take(t0 + Duration::from_millis(500)), "half a second buys one message at 2/s");
        assert!(!b.take(t0 + Duration::from_millis(500)));
    }
}
