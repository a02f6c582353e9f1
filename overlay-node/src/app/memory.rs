//! [`MemoryApp`]: an application that accepts every transaction once and finds every SCP
//! envelope ready, for tests and simulations whose envelopes are not signed.

use super::Application;
use super::delivery::{AppInput, Delivery, ScpVerdict, TxVerdict};
use overlay_proto::{Hash256, NodeId, SeededState, Timestamp};
use std::collections::{HashSet, VecDeque};

/// Bounds of [`MemoryApp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryAppLimits {
    /// Transaction hashes remembered (a second delivery of one is a duplicate); the oldest is
    /// forgotten past it. Default 100000.
    pub transactions_max: usize,
    /// Tx-set hashes remembered as received. Default 1000.
    pub items_max: usize,
}

impl Default for MemoryAppLimits {
    fn default() -> Self {
        MemoryAppLimits { transactions_max: 100_000, items_max: 1_000 }
    }
}

/// Accepts every transaction the first time it sees its hash, answers every SCP envelope
/// with [`ScpVerdict::Ready`] without checking it, and remembers which tx sets arrived.
/// It never sends a ledger: the node keeps the ledger it was configured with.
///
/// ```
/// use overlay_node::app::{AppInput, Application, MemoryApp, TxVerdict};
/// let mut app = MemoryApp::default();
/// assert!(app.poll_input().is_none());
/// assert_eq!(app.transaction_count(), 0);
/// ```
#[derive(Debug, Default)]
pub struct MemoryApp {
    limits: MemoryAppLimits,
    seen: Bounded,
    tx_sets: Bounded,
    inputs: VecDeque<AppInput>,
    /// Transactions accepted, in order of arrival (hash and sender), for observers; take
    /// them with `std::mem::take`. Bounded by `transactions_max` (the older half is dropped).
    pub accepted: Vec<(Hash256, NodeId)>,
}

/// A FIFO-bounded set of hashes.
#[derive(Debug, Default)]
struct Bounded {
    set: HashSet<Hash256, SeededState>,
    order: VecDeque<Hash256>,
}

impl Bounded {
    /// Insert; whether it was new. Past `max` the oldest is forgotten.
    fn insert(&mut self, h: Hash256, max: usize) -> bool {
        if !self.set.insert(h) {
            return false;
        }
        self.order.push_back(h);
        while self.set.len() > max.max(1) {
            let Some(old) = self.order.pop_front() else { break };
            self.set.remove(&old);
        }
        true
    }
}

impl MemoryApp {
    /// An application with these bounds.
    pub fn new(limits: MemoryAppLimits) -> Self {
        MemoryApp { limits, ..MemoryApp::default() }
    }

    /// Whether a tx set with this hash was delivered.
    pub fn has_tx_set(&self, hash: &Hash256) -> bool {
        self.tx_sets.set.contains(hash)
    }

    /// Number of transaction hashes remembered.
    pub fn transaction_count(&self) -> usize {
        self.seen.set.len()
    }
}

impl Application for MemoryApp {
    fn handle_delivery(&mut self, _now: Timestamp, delivery: Delivery) {
        match delivery {
            Delivery::Transaction(t) => {
                let verdict = if self.seen.insert(t.hash, self.limits.transactions_max) {
                    self.accepted.push((t.hash, t.from));
                    if self.accepted.len() > self.limits.transactions_max.max(1) {
                        self.accepted.drain(..self.accepted.len() / 2);
                    }
                    TxVerdict::Accepted
                } else {
                    TxVerdict::Duplicate
                };
                self.inputs.push_back(AppInput::TxVerdict { hash: t.hash, verdict });
            }
            Delivery::ScpEnvelope(e) => {
                self.inputs.push_back(AppInput::ScpVerdict { id: e.id, verdict: ScpVerdict::Ready });
            }
            Delivery::TxSet { hash, .. } => {
                self.tx_sets.insert(hash, self.limits.items_max);
            }
            Delivery::QuorumSet { .. } => {}
        }
    }

    fn poll_input(&mut self) -> Option<AppInput> {
        self.inputs.pop_front()
    }
}
