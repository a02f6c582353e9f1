//! The messages the simulator broadcast and the tx sets it had fetched: who got what, when.
//!
//! A record lives from its broadcast until its delivery check; receipts after the check are
//! not counted. Latencies go straight into histograms, so memory is bounded by the messages
//! in their check window, not by the length of the run.

use crate::histogram::Histogram;
use crate::network::NodeIndex;
use overlay_proto::{Hash256, SeededState, Timestamp};
use std::collections::{BTreeMap, HashMap};

/// What kind of flooded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    /// A TRANSACTION, flooded by pull mode.
    Transaction,
    /// An SCP_MESSAGE, pushed.
    Scp,
}

impl MsgKind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            MsgKind::Transaction => "transaction",
            MsgKind::Scp => "scp",
        }
    }
}

/// One broadcast message.
#[derive(Debug, Clone)]
pub struct MsgRecord {
    /// Kind.
    pub kind: MsgKind,
    /// The simulator's number for it.
    pub number: u64,
    /// Where it was broadcast.
    pub origin: NodeIndex,
    /// When.
    pub at: Timestamp,
    /// The network's load-shedding counter when it was broadcast.
    pub shed_at: u64,
    /// Per node (index below the node count at broadcast): latency in µs + 1, 0 if not
    /// received.
    receipts: Vec<u32>,
}

impl MsgRecord {
    /// Whether `node` received it.
    pub fn received_by(&self, node: NodeIndex) -> bool {
        self.receipts.get(node as usize).is_some_and(|r| *r > 0)
    }

    /// Nodes that existed when it was broadcast.
    pub fn node_count(&self) -> usize {
        self.receipts.len()
    }

    /// The latest receipt among `nodes`, in µs, if all of them received it.
    pub fn coverage_us(&self, nodes: impl Iterator<Item = NodeIndex>) -> Option<u64> {
        let mut max = 0;
        for n in nodes {
            let r = *self.receipts.get(n as usize)?;
            if r == 0 {
                return None;
            }
            max = max.max(u64::from(r - 1));
        }
        Some(max)
    }
}

/// Statistics of one kind of message.
#[derive(Debug, Clone, Default)]
pub struct KindStats {
    /// Broadcast.
    pub broadcast: u64,
    /// Delivery checks passed.
    pub checked: u64,
    /// Checks skipped because nodes shed load meanwhile.
    pub exempt_load_shed: u64,
    /// Receipts (first per node, origin excluded).
    pub receipts: u64,
    /// Latency from broadcast to each receipt.
    pub latency: Histogram,
    /// Latency from broadcast to the last node that had to get it.
    pub coverage: Histogram,
}

/// A tx-set fetch.
#[derive(Debug, Clone)]
pub struct FetchRecord {
    /// The set.
    pub hash: Hash256,
    /// The node that holds it.
    pub holder: NodeIndex,
    /// The node fetching it.
    pub fetcher: NodeIndex,
    /// When the fetch started.
    pub started: Timestamp,
    /// When the set arrived.
    pub done: Option<Timestamp>,
}

/// Statistics of tx-set fetches.
#[derive(Debug, Clone, Default)]
pub struct FetchStats {
    /// Fetches started.
    pub started: u64,
    /// Fetches completed.
    pub completed: u64,
    /// Fetches checked (both ends stayed connected).
    pub checked: u64,
    /// Latency of completed fetches.
    pub latency: Histogram,
}

/// Messages and fetches in flight.
#[derive(Debug)]
pub struct MessageLog {
    records: BTreeMap<u32, MsgRecord>,
    next: u32,
    by_tx: HashMap<Hash256, u32, SeededState>,
    by_scp: HashMap<u64, u32, SeededState>,
    /// Transactions.
    pub tx: KindStats,
    /// SCP messages.
    pub scp: KindStats,
    fetches: BTreeMap<u32, FetchRecord>,
    next_fetch: u32,
    /// Fetches.
    pub fetch: FetchStats,
}

impl Default for MessageLog {
    fn default() -> Self {
        MessageLog {
            records: BTreeMap::new(),
            next: 0,
            by_tx: HashMap::with_hasher(SeededState::new(1)),
            by_scp: HashMap::with_hasher(SeededState::new(2)),
            tx: KindStats::default(),
            scp: KindStats::default(),
            fetches: BTreeMap::new(),
            next_fetch: 0,
            fetch: FetchStats::default(),
        }
    }
}

impl MessageLog {
    /// A new broadcast of `key` by `origin` at `at`, among `nodes` nodes; returns its record id.
    pub fn broadcast(&mut self, b: Broadcast, key: MsgKey, nodes: usize) -> u32 {
        let Broadcast { kind, number, origin, at, shed_at } = b;
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        let mut receipts = vec![0u32; nodes];
        if let Some(r) = receipts.get_mut(origin as usize) {
            *r = 1;
        }
        self.records.insert(id, MsgRecord { kind, number, origin, at, shed_at, receipts });
        match key {
            MsgKey::Tx(h) => {
                self.by_tx.insert(h, id);
            }
            MsgKey::Scp(k) => {
                self.by_scp.insert(k, id);
            }
        }
        match kind {
            MsgKind::Transaction => self.tx.broadcast += 1,
            MsgKind::Scp => self.scp.broadcast += 1,
        }
        id
    }

    /// `node` got the message with `key` at `now` (repeats are ignored).
    pub fn receipt(&mut self, key: MsgKey, node: NodeIndex, now: Timestamp) {
        let id = match key {
            MsgKey::Tx(h) => self.by_tx.get(&h),
            MsgKey::Scp(k) => self.by_scp.get(&k),
        };
        let Some(rec) = id.and_then(|id| self.records.get_mut(id)) else { return };
        let Some(slot) = rec.receipts.get_mut(node as usize) else { return };
        if *slot != 0 {
            return;
        }
        let us = now.saturating_duration_since(rec.at).as_micros().min(u128::from(u32::MAX - 1)) as u64;
        *slot = us as u32 + 1;
        let stats = match rec.kind {
            MsgKind::Transaction => &mut self.tx,
            MsgKind::Scp => &mut self.scp,
        };
        stats.receipts += 1;
        stats.latency.record_us(us);
    }

    /// The record `id`, for its check.
    pub fn get(&self, id: u32) -> Option<&MsgRecord> {
        self.records.get(&id)
    }

    /// Done with record `id`: forget it and its key.
    pub fn finish(&mut self, id: u32, key: MsgKey) {
        self.records.remove(&id);
        match key {
            MsgKey::Tx(h) => {
                self.by_tx.remove(&h);
            }
            MsgKey::Scp(k) => {
                self.by_scp.remove(&k);
            }
        }
    }

    /// Stats of a kind, mutably.
    pub fn stats_mut(&mut self, kind: MsgKind) -> &mut KindStats {
        match kind {
            MsgKind::Transaction => &mut self.tx,
            MsgKind::Scp => &mut self.scp,
        }
    }

    /// A new fetch; returns its id.
    pub fn fetch_started(&mut self, rec: FetchRecord) -> u32 {
        let id = self.next_fetch;
        self.next_fetch = self.next_fetch.wrapping_add(1);
        self.fetches.insert(id, rec);
        self.fetch.started += 1;
        id
    }

    /// The fetch `id`.
    pub fn fetch(&self, id: u32) -> Option<&FetchRecord> {
        self.fetches.get(&id)
    }

    /// Fetch `id` completed at `now`.
    pub fn fetch_done(&mut self, id: u32, now: Timestamp) {
        if let Some(f) = self.fetches.get_mut(&id) {
            if f.done.is_none() {
                f.done = Some(now);
                self.fetch.completed += 1;
                let us = now.saturating_duration_since(f.started).as_micros() as u64;
                self.fetch.latency.record_us(us);
            }
        }
    }

    /// Done with fetch `id`.
    pub fn finish_fetch(&mut self, id: u32) {
        self.fetches.remove(&id);
    }
}

/// A broadcast to record.
#[derive(Debug, Clone, Copy)]
pub struct Broadcast {
    /// Kind.
    pub kind: MsgKind,
    /// The simulator's number for it.
    pub number: u64,
    /// Where.
    pub origin: NodeIndex,
    /// When.
    pub at: Timestamp,
    /// The load-shedding counter then.
    pub shed_at: u64,
}

/// How a receipt names its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKey {
    /// A transaction by its pull-mode hash.
    Tx(Hash256),
    /// An SCP envelope by the first 8 bytes of its signature (unique per broadcast).
    Scp(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_count_once_and_records_are_forgotten() {
        let mut log = MessageLog::default();
        let key = MsgKey::Tx(Hash256([1; 32]));
        let b = Broadcast { kind: MsgKind::Transaction, number: 7, origin: 0, at: Timestamp::from_secs(1), shed_at: 0 };
        let id = log.broadcast(b, key, 3);
        log.receipt(key, 1, Timestamp::from_millis(1_250));
        log.receipt(key, 1, Timestamp::from_millis(1_900));
        log.receipt(key, 0, Timestamp::from_millis(1_900));
        let rec = log.get(id).unwrap();
        assert!(rec.received_by(0) && rec.received_by(1) && !rec.received_by(2));
        assert_eq!(rec.coverage_us([0, 1].into_iter()), Some(250_000));
        assert_eq!(rec.coverage_us([0, 2].into_iter()), None);
        assert_eq!(log.tx.receipts, 1);
        log.finish(id, key);
        log.receipt(key, 2, Timestamp::from_secs(3));
        assert_eq!(log.tx.receipts, 1);
        assert!(log.get(id).is_none());
    }
}
