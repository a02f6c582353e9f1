//! What the consensus-relay scenario measures: every envelope a validator broadcast and
//! what became of it at every other validator's application, and every item fetch a relay's
//! or a validator's application asked for.
//!
//! An envelope's record lives from its broadcast until its delivery check; its outcome then
//! goes into counters and histograms, so memory is bounded by the envelopes within their
//! check window. Fetches are bounded the same way (pruned past the deadline).

use crate::consensus::report::{FetchKindReport, MissingEnvelope, PairDeliveries};
use crate::consensus::values::Statement;
use crate::histogram::Histogram;
use crate::network::NodeIndex;
use overlay_proto::{Hash256, SeededState, Timestamp};
use std::collections::{BTreeMap, HashMap};

/// Missing deliveries listed one by one in the report; past it they are only counted.
pub const MISSING_LISTED_MAX: usize = 50;

/// What became of an envelope at one validator's application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt {
    /// First handed to the application.
    pub arrived: Option<Timestamp>,
    /// Found ready (every item it references held).
    pub ready: Option<Timestamp>,
    /// The last verdict asked for a tx set.
    pub waiting_tx_set: bool,
    /// The last verdict asked for the quorum set.
    pub waiting_quorum_set: bool,
    /// Discarded, and why.
    pub discarded: Option<&'static str>,
}

impl Receipt {
    /// Why it is not ready.
    pub fn why_not(&self) -> &'static str {
        match (self.arrived, self.discarded, self.waiting_tx_set, self.waiting_quorum_set) {
            (None, _, _, _) => "never reached the application",
            (_, Some(r), _, _) => r,
            (_, _, true, true) => "waiting for its tx set and quorum set",
            (_, _, true, false) => "waiting for its tx set",
            (_, _, false, true) => "waiting for its quorum set",
            _ => "delivered, no verdict",
        }
    }
}

/// One envelope a validator broadcast.
#[derive(Debug, Clone)]
pub struct EnvelopeRecord {
    /// Its Floodgate identity (SHA-256 of the SCP_MESSAGE XDR): the key of deliveries and
    /// verdicts.
    pub id: Hash256,
    /// Its author.
    pub author: NodeIndex,
    /// The author's position among the validators.
    pub author_position: usize,
    /// Its slot.
    pub slot: u64,
    /// Its statement.
    pub statement: Statement,
    /// When it was broadcast.
    pub at: Timestamp,
    /// Per validator position.
    pub receipts: Vec<Receipt>,
}

/// Counters of one kind of item fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchKindStats {
    /// Items the application asked for that its node did not hold.
    pub started: u64,
    /// Of those, arrived from a peer.
    pub completed: u64,
    /// Asked for but already held by the node (handed back at once).
    pub already_held: u64,
    /// Not arrived within the deadline.
    pub unfinished: u64,
    /// From the application's verdict to the item's delivery.
    pub latency: Histogram,
}

impl FetchKindStats {
    /// For the report.
    pub fn report(&self) -> FetchKindReport {
        FetchKindReport {
            started: self.started,
            completed: self.completed,
            already_held: self.already_held,
            unfinished: self.unfinished,
            latency_ms: self.latency.percentiles(),
        }
    }
}

/// Which fetch counters: by the fetching node's role and the item's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FetchKind {
    /// A relay fetching a tx set.
    TxSetByRelay = 0,
    /// A relay fetching a quorum set.
    QuorumSetByRelay = 1,
    /// A validator fetching a tx set.
    TxSetByValidator = 2,
    /// A validator fetching a quorum set.
    QuorumSetByValidator = 3,
}

impl FetchKind {
    /// The counters for a node of this role and an item of this kind.
    pub fn of(validator: bool, tx_set: bool) -> FetchKind {
        match (validator, tx_set) {
            (false, true) => FetchKind::TxSetByRelay,
            (false, false) => FetchKind::QuorumSetByRelay,
            (true, true) => FetchKind::TxSetByValidator,
            (true, false) => FetchKind::QuorumSetByValidator,
        }
    }
}

/// Everything measured. See the [module docs](self).
#[derive(Debug)]
pub struct ConsensusLog {
    records: BTreeMap<u32, EnvelopeRecord>,
    by_id: HashMap<Hash256, u32, SeededState>,
    next: u32,
    /// Envelopes broadcast, by statement.
    pub broadcast: BTreeMap<Statement, u64>,
    /// Deliveries checked (one per envelope and other validator).
    pub expected: u64,
    /// Of those, ready at the validator's application by the deadline.
    pub delivered: u64,
    /// Of those, not delivered but exempt: the validator or the author was down, or cut
    /// off from the other through running nodes.
    pub exempt: u64,
    /// From the broadcast to the first hand-over to each other validator's application.
    pub arrival: Histogram,
    /// From the broadcast to ready at each other validator's application.
    pub delivery: Histogram,
    /// From the broadcast to ready at the last other validator, per envelope delivered to
    /// all.
    pub coverage: Histogram,
    /// Per validator position, per author position.
    pub pairs: Vec<Vec<PairDeliveries>>,
    /// The first missing deliveries.
    pub missing: Vec<MissingEnvelope>,
    pending_fetches: BTreeMap<(NodeIndex, Hash256), (Timestamp, FetchKind)>,
    /// Fetch counters by [`FetchKind`].
    pub fetches: [FetchKindStats; 4],
}

impl ConsensusLog {
    /// A log for `validators` validators.
    pub fn new(validators: usize) -> Self {
        ConsensusLog {
            records: BTreeMap::new(),
            by_id: HashMap::with_hasher(SeededState::new(3)),
            next: 0,
            broadcast: BTreeMap::new(),
            expected: 0,
            delivered: 0,
            exempt: 0,
            arrival: Histogram::default(),
            delivery: Histogram::default(),
            coverage: Histogram::default(),
            pairs: vec![vec![PairDeliveries::default(); validators]; validators],
            missing: Vec::new(),
            pending_fetches: BTreeMap::new(),
            fetches: Default::default(),
        }
    }

    /// A new envelope; returns its record id.
    pub fn broadcast(&mut self, mut rec: EnvelopeRecord) -> u32 {
        let id = rec.id;
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        *self.broadcast.entry(rec.statement).or_insert(0) += 1;
        if let Some(r) = rec.receipts.get_mut(rec.author_position) {
            r.arrived = Some(rec.at);
            r.ready = Some(rec.at);
        }
        self.records.insert(n, rec);
        self.by_id.insert(id, n);
        n
    }

    fn receipt(&mut self, id: &Hash256, position: usize) -> Option<(&mut Receipt, Timestamp)> {
        let rec = self.records.get_mut(self.by_id.get(id)?)?;
        let at = rec.at;
        rec.receipts.get_mut(position).map(|r| (r, at))
    }

    /// The envelope `id` was handed to the application of the validator at `position`.
    pub fn arrived(&mut self, id: &Hash256, position: usize, now: Timestamp) {
        let Some((r, at)) = self.receipt(id, position) else { return };
        if r.arrived.is_none() {
            r.arrived = Some(now);
            self.arrival.record_us(now.saturating_duration_since(at).as_micros() as u64);
        }
    }

    /// The application of the validator at `position` found the envelope `id` ready.
    pub fn ready(&mut self, id: &Hash256, position: usize, now: Timestamp) {
        let Some((r, at)) = self.receipt(id, position) else { return };
        if r.ready.is_none() {
            r.ready = Some(now);
            r.waiting_tx_set = false;
            r.waiting_quorum_set = false;
            self.delivery.record_us(now.saturating_duration_since(at).as_micros() as u64);
        }
    }

    /// The application of the validator at `position` asked for items first.
    pub fn waiting(&mut self, id: &Hash256, position: usize, tx_set: bool, quorum_set: bool) {
        if let Some((r, _)) = self.receipt(id, position) {
            r.waiting_tx_set = tx_set;
            r.waiting_quorum_set = quorum_set;
        }
    }

    /// The application of the validator at `position` discarded the envelope.
    pub fn discarded(&mut self, id: &Hash256, position: usize, reason: &'static str) {
        if let Some((r, _)) = self.receipt(id, position) {
            r.discarded.get_or_insert(reason);
        }
    }

    /// The record `n`, taken out for its check.
    pub fn take(&mut self, n: u32) -> Option<EnvelopeRecord> {
        let rec = self.records.remove(&n)?;
        self.by_id.remove(&rec.id);
        Some(rec)
    }

    /// Records not checked yet (at the end: their deadline is past the run).
    pub fn unchecked(&self) -> usize {
        self.records.len()
    }

    /// The outcome of a delivery check at the validator at `position`: delivered, exempt,
    /// or missing (only exempt ones reach here as missing; a strict miss is a violation).
    pub fn outcome(&mut self, rec: &EnvelopeRecord, position: usize, node: NodeIndex, exempt: bool) {
        let r = rec.receipts[position];
        let pair = &mut self.pairs[position][rec.author_position];
        pair.expected += 1;
        self.expected += 1;
        if r.ready.is_some() {
            pair.delivered += 1;
            self.delivered += 1;
            return;
        }
        let why = if exempt { "validator or author down or cut off" } else { r.why_not() };
        *pair.missing.entry(why).or_insert(0) += 1;
        if exempt {
            self.exempt += 1;
        }
        if self.missing.len() < MISSING_LISTED_MAX {
            self.missing.push(MissingEnvelope {
                validator: node,
                author: rec.author,
                slot: rec.slot,
                statement: rec.statement,
                reason: why,
                detail: r.why_not(),
            });
        }
    }

    /// The application of `node` asked for `hash`, which its node did not hold.
    pub fn fetch_started(&mut self, node: NodeIndex, hash: Hash256, kind: FetchKind, now: Timestamp) {
        if let std::collections::btree_map::Entry::Vacant(e) = self.pending_fetches.entry((node, hash)) {
            e.insert((now, kind));
            self.fetches[kind as usize].started += 1;
        }
    }

    /// `node` was handed `hash`: fetched from a peer, or held already.
    pub fn fetch_done(&mut self, node: NodeIndex, hash: Hash256, from_peer: bool, now: Timestamp) {
        let Some((at, kind)) = self.pending_fetches.remove(&(node, hash)) else { return };
        let s = &mut self.fetches[kind as usize];
        if from_peer {
            s.completed += 1;
            s.latency.record_us(now.saturating_duration_since(at).as_micros() as u64);
        } else {
            s.already_held += 1;
        }
    }

    /// Forget fetches started before `before` (counted unfinished); fetches of a node that
    /// stopped go too.
    pub fn prune_fetches(&mut self, before: Timestamp, stopped: impl Fn(NodeIndex) -> bool) {
        let fetches = &mut self.fetches;
        self.pending_fetches.retain(|(n, _), (at, kind)| {
            let keep = *at >= before && !stopped(*n);
            if !keep {
                fetches[*kind as usize].unfinished += 1;
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn receipts_outcomes_and_fetches() {
        let mut log = ConsensusLog::new(3);
        let id = Hash256([1; 32]);
        let rec = EnvelopeRecord {
            id,
            author: 0,
            author_position: 0,
            slot: 2,
            statement: Statement::Nominate,
            at: t(1_000),
            receipts: vec![Receipt::default(); 3],
        };
        let n = log.broadcast(rec);
        log.arrived(&id, 1, t(1_100));
        log.waiting(&id, 1, true, false);
        log.ready(&id, 1, t(1_200));
        log.ready(&id, 1, t(1_900));
        log.arrived(&id, 2, t(1_150));
        log.waiting(&id, 2, false, true);
        let rec = log.take(n).unwrap();
        assert!(log.take(n).is_none(), "taken once");
        assert_eq!(rec.receipts[2].why_not(), "waiting for its quorum set");
        assert_eq!(Receipt::default().why_not(), "never reached the application");
        log.outcome(&rec, 1, 1, false);
        log.outcome(&rec, 2, 2, true);
        assert_eq!((log.expected, log.delivered, log.exempt), (2, 1, 1));
        assert_eq!(log.delivery.count(), 1, "the first ready counts");
        assert_eq!(log.missing[0].detail, "waiting for its quorum set");
        let h = Hash256([2; 32]);
        log.fetch_started(5, h, FetchKind::TxSetByRelay, t(0));
        log.fetch_started(5, h, FetchKind::TxSetByRelay, t(10));
        log.fetch_done(5, h, true, t(70));
        log.fetch_started(5, h, FetchKind::TxSetByRelay, t(100));
        log.fetch_done(5, h, false, t(100));
        log.fetch_started(6, h, FetchKind::QuorumSetByValidator, t(0));
        log.prune_fetches(t(50), |_| false);
        let s = &log.fetches[FetchKind::TxSetByRelay as usize];
        assert_eq!((s.started, s.completed, s.already_held), (2, 1, 1));
        assert_eq!(s.latency.quantile_us(0.5).round() as u64 / 1_000, 70);
        assert_eq!(log.fetches[FetchKind::QuorumSetByValidator as usize].unfinished, 1);
    }
}
