//! The application behind a node: consensus and a transaction queue, as seen by the overlay.
//!
//! The node delivers transactions, SCP envelopes, tx sets and quorum sets to the
//! [`Application`] and asks it for the items peers request. [`MemoryApp`] is a simple
//! in-memory application that accepts every well-formed transaction and envelope and floods
//! them on; it serves tests, the simulator and the `stellar-overlay node` program.

use overlay_proto::SeededState;
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage, TransactionEnvelope};
use overlay_proto::{Hash256, NodeId, Timestamp};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// The ledger facts the overlay needs, as the application knows them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LedgerState {
    /// The tracking consensus ledger (Floodgate records, advert history).
    pub tracking_ledger: u32,
    /// Whether the node is in sync; when it is not, TRANSACTION, FLOOD_ADVERT and
    /// FLOOD_DEMAND are ignored (§7 step 7) and out-of-sync peer rotation runs (§11.6).
    pub synced: bool,
    /// The ledger protocol of the last closed ledger (DONT_HAVE type for tx sets, §8.2).
    pub ledger_protocol: u32,
    /// Flow-control limits (max tx size, max tx set size, slots to remember).
    pub flow: overlay_flow::LedgerLimits,
    /// Pull-mode sizing inputs.
    pub flood: overlay_flood::LedgerLimits,
}

impl Default for LedgerState {
    fn default() -> Self {
        LedgerState {
            tracking_ledger: 1,
            synced: true,
            ledger_protocol: overlay_proto::version::LEDGER_PROTOCOL_VERSION,
            flow: overlay_flow::LedgerLimits::default(),
            flood: overlay_flood::LedgerLimits::default(),
        }
    }
}

impl LedgerState {
    /// Limits like the public network's (1000 operations per ledger, 5 s ledgers), for a node
    /// that relays without a ledger behind it. The genesis limits of `Default` (100
    /// operations) make pull mode and the outbound queues very small.
    pub fn relay() -> Self {
        let mut s = LedgerState::default();
        s.flow.max_tx_set_size_ops = 1000;
        s.flood.max_tx_set_size_ops = 1000;
        s.flood.max_queue_size_ops = 2000;
        s
    }
}

/// What the application made of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxVerdict {
    /// New and valid: the node floods it (adverts to the peers that do not know it).
    Accepted,
    /// Already known: nothing to do.
    Duplicate,
    /// Invalid: its Floodgate record is dropped so that it could be accepted later (§8.1).
    Rejected,
}

/// What the application made of an SCP envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScpVerdict {
    /// Ready: the node floods it to the peers that do not know it.
    Ready,
    /// It needs items first: the node fetches them and re-submits the envelope when they
    /// arrive (§8.3).
    Fetch {
        /// A tx set to fetch.
        tx_set: Option<Hash256>,
        /// A quorum set to fetch.
        quorum_set: Option<Hash256>,
    },
    /// Invalid or useless: dropped, its Floodgate record too.
    Discard,
}

/// The consensus and transaction side of a node.
pub trait Application {
    /// The current ledger facts.
    fn ledger(&self) -> LedgerState;
    /// A transaction arrived (`from` is `None` for one we submit ourselves). `hash` is its
    /// pull-mode hash, SHA-256 of the envelope XDR; `message_xdr` is the TRANSACTION message
    /// as it travels on the wire (keep it, shared, to serve demands without re-encoding).
    fn on_transaction(
        &mut self,
        now: Timestamp,
        from: Option<NodeId>,
        tx: &TransactionEnvelope,
        hash: &Hash256,
        message_xdr: &Arc<[u8]>,
    ) -> TxVerdict;
    /// The transaction with this pull-mode hash, to serve a FLOOD_DEMAND: the XDR of the
    /// TRANSACTION message (what `on_transaction` was given, or
    /// `overlay_proto::wire::encode_message(&StellarMessage::Transaction(envelope))`).
    /// Bytes that are not a TRANSACTION message are not sent.
    fn transaction(&self, hash: &Hash256) -> Option<Arc<[u8]>>;
    /// Whether we already have this transaction (then it is not demanded).
    fn has_transaction(&self, hash: &Hash256) -> bool;
    /// An SCP envelope arrived (`from` is `None` for our own).
    fn on_scp_envelope(&mut self, now: Timestamp, from: Option<NodeId>, envelope: &ScpEnvelope) -> ScpVerdict;
    /// The tx set with this hash, as a TX_SET or GENERALIZED_TX_SET message.
    fn tx_set(&self, hash: &Hash256) -> Option<StellarMessage>;
    /// A tx set we fetched arrived.
    fn on_tx_set(&mut self, now: Timestamp, hash: &Hash256, tx_set: &StellarMessage);
    /// The quorum set with this hash.
    fn quorum_set(&self, hash: &Hash256) -> Option<ScpQuorumSet>;
    /// A quorum set we fetched arrived.
    fn on_quorum_set(&mut self, now: Timestamp, hash: &Hash256, quorum_set: &ScpQuorumSet);
    /// The envelopes to send for GET_SCP_STATE(`from_ledger`), ascending by slot (§8.5).
    fn scp_state(&self, from_ledger: u32) -> Vec<ScpEnvelope>;
    /// The ledger to ask for in our own GET_SCP_STATE after authentication (§3.6 step 9).
    fn scp_state_ledger(&self) -> u32 {
        0
    }
}

/// Bounds of [`MemoryApp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAppLimits {
    /// Transactions kept; the oldest is forgotten past it. Default 100000.
    pub transactions_max: usize,
    /// SCP envelopes kept for GET_SCP_STATE; the oldest slot goes first past it. Default 10000.
    pub envelopes_max: usize,
    /// Tx sets and quorum sets kept, each; the oldest is forgotten past it. Default 1000.
    pub items_max: usize,
}

impl Default for MemoryAppLimits {
    fn default() -> Self {
        MemoryAppLimits { transactions_max: 100_000, envelopes_max: 10_000, items_max: 1_000 }
    }
}

/// An in-memory application that accepts every well-formed transaction and envelope once.
#[derive(Debug, Default)]
pub struct MemoryApp {
    /// The ledger facts it reports; tests may change them.
    pub ledger: LedgerState,
    limits: MemoryAppLimits,
    /// TRANSACTION messages as received (shared with the node, never copied), by pull-mode
    /// hash; never iterated, so a hash map (digests are uniform keys).
    txs: HashMap<Hash256, Arc<[u8]>, SeededState>,
    tx_order: VecDeque<Hash256>,
    envelopes: BTreeMap<(u64, Vec<u8>), ScpEnvelope>,
    tx_sets: Bounded<StellarMessage>,
    quorum_sets: Bounded<ScpQuorumSet>,
    /// Transactions accepted, in order of arrival (hash and sender), for observers.
    pub accepted: Vec<(Hash256, Option<NodeId>)>,
}

#[derive(Debug, Default)]
struct Bounded<T> {
    map: BTreeMap<Hash256, T>,
    order: VecDeque<Hash256>,
}

impl<T> Bounded<T> {
    fn insert(&mut self, k: Hash256, v: T, max: usize) {
        if self.map.insert(k, v).is_none() {
            self.order.push_back(k);
        }
        while self.map.len() > max.max(1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&old);
        }
    }
}

impl MemoryApp {
    /// An application with these bounds.
    pub fn new(limits: MemoryAppLimits) -> Self {
        MemoryApp { limits, ..MemoryApp::default() }
    }

    /// The application of a relay: default bounds, [`LedgerState::relay`] limits.
    pub fn relay() -> Self {
        MemoryApp { ledger: LedgerState::relay(), ..MemoryApp::default() }
    }

    /// Make a tx set available to peers that ask for it.
    pub fn add_tx_set(&mut self, hash: Hash256, tx_set: StellarMessage) {
        self.tx_sets.insert(hash, tx_set, self.limits.items_max);
    }

    /// Make a quorum set available to peers that ask for it.
    pub fn add_quorum_set(&mut self, hash: Hash256, qset: ScpQuorumSet) {
        self.quorum_sets.insert(hash, qset, self.limits.items_max);
    }

    /// Whether a tx set is held.
    pub fn has_tx_set(&self, hash: &Hash256) -> bool {
        self.tx_sets.map.contains_key(hash)
    }

    /// Number of transactions held.
    pub fn transaction_count(&self) -> usize {
        self.txs.len()
    }
}

impl Application for MemoryApp {
    fn ledger(&self) -> LedgerState {
        self.ledger
    }

    fn on_transaction(
        &mut self,
        _now: Timestamp,
        from: Option<NodeId>,
        _tx: &TransactionEnvelope,
        hash: &Hash256,
        message_xdr: &Arc<[u8]>,
    ) -> TxVerdict {
        match self.txs.entry(*hash) {
            Entry::Occupied(_) => return TxVerdict::Duplicate,
            Entry::Vacant(v) => v.insert(message_xdr.clone()),
        };
        self.tx_order.push_back(*hash);
        while self.txs.len() > self.limits.transactions_max.max(1) {
            let Some(old) = self.tx_order.pop_front() else {
                break;
            };
            self.txs.remove(&old);
        }
        self.accepted.push((*hash, from));
        if self.accepted.len() > self.limits.transactions_max.max(1) {
            self.accepted.drain(..self.accepted.len() / 2);
        }
        TxVerdict::Accepted
    }

    fn transaction(&self, hash: &Hash256) -> Option<Arc<[u8]>> {
        self.txs.get(hash).cloned()
    }

    fn has_transaction(&self, hash: &Hash256) -> bool {
        self.txs.contains_key(hash)
    }

    fn on_scp_envelope(&mut self, _now: Timestamp, _from: Option<NodeId>, env: &ScpEnvelope) -> ScpVerdict {
        let key = (env.statement.slot_index, NodeId::from_xdr(&env.statement.node_id).0.to_vec());
        if self.envelopes.get(&key) == Some(env) {
            return ScpVerdict::Discard;
        }
        self.envelopes.insert(key, env.clone());
        while self.envelopes.len() > self.limits.envelopes_max.max(1) {
            self.envelopes.pop_first();
        }
        ScpVerdict::Ready
    }

    fn tx_set(&self, hash: &Hash256) -> Option<StellarMessage> {
        self.tx_sets.map.get(hash).cloned()
    }

    fn on_tx_set(&mut self, _now: Timestamp, hash: &Hash256, tx_set: &StellarMessage) {
        self.tx_sets.insert(*hash, tx_set.clone(), self.limits.items_max);
    }

    fn quorum_set(&self, hash: &Hash256) -> Option<ScpQuorumSet> {
        self.quorum_sets.map.get(hash).cloned()
    }

    fn on_quorum_set(&mut self, _now: Timestamp, hash: &Hash256, qset: &ScpQuorumSet) {
        self.quorum_sets.insert(*hash, qset.clone(), self.limits.items_max);
    }

    fn scp_state(&self, from_ledger: u32) -> Vec<ScpEnvelope> {
        self.envelopes.range((u64::from(from_ledger), Vec::new())..).map(|(_, e)| e.clone()).take(1000).collect()
    }
}

impl<T: Application + ?Sized> Application for Box<T> {
    fn ledger(&self) -> LedgerState {
        (**self).ledger()
    }
    fn on_transaction(
        &mut self,
        now: Timestamp,
        from: Option<NodeId>,
        tx: &TransactionEnvelope,
        hash: &Hash256,
        message_xdr: &Arc<[u8]>,
    ) -> TxVerdict {
        (**self).on_transaction(now, from, tx, hash, message_xdr)
    }
    fn transaction(&self, hash: &Hash256) -> Option<Arc<[u8]>> {
        (**self).transaction(hash)
    }
    fn has_transaction(&self, hash: &Hash256) -> bool {
        (**self).has_transaction(hash)
    }
    fn on_scp_envelope(&mut self, now: Timestamp, from: Option<NodeId>, envelope: &ScpEnvelope) -> ScpVerdict {
        (**self).on_scp_envelope(now, from, envelope)
    }
    fn tx_set(&self, hash: &Hash256) -> Option<StellarMessage> {
        (**self).tx_set(hash)
    }
    fn on_tx_set(&mut self, now: Timestamp, hash: &Hash256, tx_set: &StellarMessage) {
        (**self).on_tx_set(now, hash, tx_set)
    }
    fn quorum_set(&self, hash: &Hash256) -> Option<ScpQuorumSet> {
        (**self).quorum_set(hash)
    }
    fn on_quorum_set(&mut self, now: Timestamp, hash: &Hash256, quorum_set: &ScpQuorumSet) {
        (**self).on_quorum_set(now, hash, quorum_set)
    }
    fn scp_state(&self, from_ledger: u32) -> Vec<ScpEnvelope> {
        (**self).scp_state(from_ledger)
    }
    fn scp_state_ledger(&self) -> u32 {
        (**self).scp_state_ledger()
    }
}
