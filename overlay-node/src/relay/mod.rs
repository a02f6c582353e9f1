//! [`Relay`]: the application of a node with no validator behind it, which behaves like
//! stellar-core's watcher (PROTOCOL.md §8.7).
//!
//! For each SCP envelope it checks the signature, finds the tx sets and the quorum set its
//! statement references, and answers [`ScpVerdict::Ready`] only when the node holds all of
//! them; otherwise [`ScpVerdict::Fetch`] with the missing ones, so that the node fetches them
//! (from the peers that sent the envelope first) and hands the envelope back. It follows the
//! slot window of §8.1: the tracked slot is the highest slot it saw externalized (a
//! [`AppInput::Ledger`] then clears the node's old records), envelopes more than
//! `max_slots_to_remember` behind it or `slots_ahead_max` ahead are discarded. Transactions
//! pass structural checks and are accepted; the node delivers each once (its Floodgate and
//! its held transactions see to that), so it is flooded once.
//!
//! Signature checks cost about 26 µs each: drivers run the relay off the node's loop (the
//! tokio driver on its own task); the simulator runs it inline.
//!
//! ```
//! use overlay_node::app::Application;
//! use overlay_node::{Relay, RelayConfig};
//! use overlay_proto::Network;
//!
//! let mut relay = Relay::new(RelayConfig::new(Network::Testnet.id()));
//! assert!(relay.poll_input().is_none());
//! assert_eq!(relay.tracking_slot(), None);
//! ```

mod held;
mod scp;
mod tx;

pub use scp::{EnvelopeError, References, references, verify};
pub use tx::{TxError, check_transaction};

use crate::app::{AppInput, Application, Delivery, ScpDelivery, ScpVerdict, TxVerdict};
use crate::ledger::{LEDGER_VALIDITY_BRACKET, LedgerState};
use held::HeldItems;
use overlay_proto::xdr::ScpStatementPledges;
use overlay_proto::{Hash256, NetworkId, NodeId, SeededState, Timestamp};
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Settings of a [`Relay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayConfig {
    /// The network whose ID the SCP signatures cover.
    pub network_id: NetworkId,
    /// The ledger it starts from; it moves `tracking_ledger` as slots externalize. Default
    /// [`LedgerState::relay`].
    pub ledger: LedgerState,
    /// `MAX_SLOTS_TO_REMEMBER`: envelopes this many slots or more behind the tracked slot are
    /// discarded. Default 12.
    pub max_slots_to_remember: u32,
    /// Envelopes more than this many slots ahead of the tracked slot are discarded
    /// (`LEDGER_VALIDITY_BRACKET`). Default 100.
    pub slots_ahead_max: u32,
    /// Validators whose EXTERNALIZE moves the tracked slot; empty: any validly signed node.
    /// A relay that knows the network's validators should name them, so that a stranger's
    /// key cannot move its window. Default empty.
    pub trusted_validators: BTreeSet<NodeId>,
    /// Item hashes (tx sets, quorum sets) remembered as held. Default 10000.
    pub items_max: usize,
    /// Envelope identities remembered as verified, so that an envelope handed back after a
    /// fetch is not verified twice. Default 10000.
    pub verified_max: usize,
}

impl RelayConfig {
    /// Defaults for `network_id`.
    pub fn new(network_id: NetworkId) -> Self {
        RelayConfig {
            network_id,
            ledger: LedgerState::relay(),
            max_slots_to_remember: 12,
            slots_ahead_max: LEDGER_VALIDITY_BRACKET,
            trusted_validators: BTreeSet::new(),
            items_max: 10_000,
            verified_max: 10_000,
        }
    }
}

/// What a relay did, for tests, logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Signatures checked.
    pub signatures_checked: u64,
    /// Envelopes discarded for a bad signature.
    pub bad_signatures: u64,
    /// Envelopes discarded for a value that is not a StellarValue.
    pub bad_values: u64,
    /// Envelopes discarded for their slot.
    pub out_of_window: u64,
    /// Envelopes found ready.
    pub ready: u64,
    /// Envelopes that needed items first.
    pub fetches: u64,
    /// Transactions accepted.
    pub tx_accepted: u64,
    /// Transactions refused by the structural checks.
    pub tx_rejected: u64,
}

/// The watcher-like application. See the [module docs](self).
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    ledger: LedgerState,
    tracking: Option<u64>,
    /// The highest slot of any envelope judged: items arriving are held as needed there.
    latest_slot: u64,
    tx_sets: HeldItems,
    quorum_sets: HeldItems,
    /// Bound: `verified_max`, oldest forgotten first.
    verified: HashSet<Hash256, SeededState>,
    verified_order: VecDeque<Hash256>,
    /// Drained by the driver after every delivery: at most a few inputs per delivery.
    inputs: VecDeque<AppInput>,
    stats: RelayStats,
}

impl Relay {
    /// A relay with `config`.
    pub fn new(config: RelayConfig) -> Self {
        let seed = u64::from_le_bytes(config.network_id.0[..8].try_into().unwrap_or_default());
        Relay {
            ledger: config.ledger,
            tracking: None,
            latest_slot: 0,
            tx_sets: HeldItems::new(config.items_max, seed),
            quorum_sets: HeldItems::new(config.items_max, seed ^ 1),
            verified: HashSet::with_hasher(SeededState::new(seed ^ 3)),
            verified_order: VecDeque::new(),
            inputs: VecDeque::new(),
            stats: RelayStats::default(),
            config,
        }
    }

    /// The highest slot seen externalized, once one was.
    pub fn tracking_slot(&self) -> Option<u64> {
        self.tracking
    }

    /// The ledger it reports to the node.
    pub fn ledger(&self) -> &LedgerState {
        &self.ledger
    }

    /// Counters.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }

    /// Whether the node is known to hold this tx set.
    pub fn holds_tx_set(&self, h: &Hash256) -> bool {
        self.tx_sets.contains(h)
    }

    /// Whether the node is known to hold this quorum set.
    pub fn holds_quorum_set(&self, h: &Hash256) -> bool {
        self.quorum_sets.contains(h)
    }

    /// Numbers of tx sets and quorum sets remembered as held.
    pub fn held_counts(&self) -> (usize, usize) {
        (self.tx_sets.len(), self.quorum_sets.len())
    }

    /// Whether `slot` is at most `max_slots_to_remember − 1` behind the tracked slot and at
    /// most `slots_ahead_max` ahead of it.
    fn in_window(&self, slot: u64) -> bool {
        let Some(t) = self.tracking else { return true };
        let behind =
            t.checked_sub(u64::from(self.config.max_slots_to_remember)).is_none_or(|oldest_gone| slot > oldest_gone);
        behind && slot <= t.saturating_add(u64::from(self.config.slots_ahead_max))
    }

    fn remember_verified(&mut self, id: Hash256) {
        if self.verified.insert(id) {
            self.verified_order.push_back(id);
            while self.verified.len() > self.config.verified_max.max(1) {
                let Some(old) = self.verified_order.pop_front() else { break };
                self.verified.remove(&old);
            }
        }
    }

    fn judge(&mut self, d: &ScpDelivery) -> ScpVerdict {
        let slot = d.slot_index();
        if !self.in_window(slot) {
            self.stats.out_of_window += 1;
            return ScpVerdict::Discard;
        }
        self.latest_slot = self.latest_slot.max(slot);
        if !self.verified.contains(&d.id) {
            self.stats.signatures_checked += 1;
            if verify(&self.config.network_id, d).is_err() {
                self.stats.bad_signatures += 1;
                return ScpVerdict::Discard;
            }
            self.remember_verified(d.id);
        }
        let refs = match references(&d.envelope.statement.pledges) {
            Ok(r) => r,
            Err(_) => {
                self.stats.bad_values += 1;
                return ScpVerdict::Discard;
            }
        };
        for h in &refs.tx_sets {
            self.tx_sets.touch(h, slot);
        }
        self.quorum_sets.touch(&refs.quorum_set, slot);
        let missing: Vec<Hash256> = refs.tx_sets.iter().filter(|h| !self.tx_sets.contains(h)).copied().collect();
        let qset_missing = !self.quorum_sets.contains(&refs.quorum_set);
        if missing.is_empty() && !qset_missing {
            self.stats.ready += 1;
            self.on_ready(d);
            return ScpVerdict::Ready;
        }
        self.stats.fetches += 1;
        ScpVerdict::Fetch { tx_sets: missing, quorum_set: qset_missing.then_some(refs.quorum_set) }
    }

    /// A ready EXTERNALIZE past the tracked slot moves it: the node is told the new ledger
    /// (its Floodgate and items are cleared below the window), and old held items go.
    fn on_ready(&mut self, d: &ScpDelivery) {
        let ScpStatementPledges::Externalize(_) = &d.envelope.statement.pledges else { return };
        let slot = d.slot_index();
        if self.tracking.is_some_and(|t| t >= slot) {
            return;
        }
        let node = NodeId::from_xdr(&d.envelope.statement.node_id);
        if !self.config.trusted_validators.is_empty() && !self.config.trusted_validators.contains(&node) {
            return;
        }
        self.tracking = Some(slot);
        self.ledger.tracking_ledger = u32::try_from(slot).unwrap_or(u32::MAX);
        let min = slot.saturating_sub(u64::from(self.config.max_slots_to_remember)).saturating_add(1);
        self.tx_sets.clear_below(min);
        self.quorum_sets.clear_below(min);
        self.inputs.push_back(AppInput::Ledger(self.ledger));
    }

    fn judge_transaction(&mut self, env: &overlay_proto::xdr::TransactionEnvelope) -> TxVerdict {
        if check_transaction(env).is_err() {
            self.stats.tx_rejected += 1;
            return TxVerdict::Rejected;
        }
        self.stats.tx_accepted += 1;
        TxVerdict::Accepted
    }
}

impl Application for Relay {
    fn handle_delivery(&mut self, _now: Timestamp, delivery: Delivery) {
        match delivery {
            Delivery::Transaction(t) => {
                let verdict = self.judge_transaction(&t.envelope);
                self.inputs.push_back(AppInput::TxVerdict { hash: t.hash, verdict });
            }
            Delivery::ScpEnvelope(d) => {
                let verdict = self.judge(&d);
                self.inputs.push_back(AppInput::ScpVerdict { id: d.id, verdict });
            }
            Delivery::TxSet { hash, .. } => {
                let slot = self.latest_slot.max(self.tracking.unwrap_or(0));
                self.tx_sets.insert(hash, slot);
            }
            Delivery::QuorumSet { hash, .. } => {
                let slot = self.latest_slot.max(self.tracking.unwrap_or(0));
                self.quorum_sets.insert(hash, slot);
            }
        }
    }

    fn poll_input(&mut self) -> Option<AppInput> {
        self.inputs.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::Network;

    #[test]
    fn the_slot_window_holds_at_the_ends_of_the_range() {
        // A peer's envelope may name any slot; the window check must not overflow (a fuzz
        // finding: slot u64::MAX with a tracked slot).
        let mut relay = Relay::new(RelayConfig::new(Network::Standalone.id()));
        assert!(relay.in_window(u64::MAX), "nothing tracked: every slot is in");
        relay.tracking = Some(100);
        assert!(!relay.in_window(u64::MAX) && !relay.in_window(u64::MAX - 11));
        assert!(relay.in_window(89) && !relay.in_window(88), "12 slots remembered");
        assert!(relay.in_window(100 + u64::from(LEDGER_VALIDITY_BRACKET)));
        assert!(!relay.in_window(101 + u64::from(LEDGER_VALIDITY_BRACKET)));
        relay.tracking = Some(u64::MAX);
        assert!(relay.in_window(u64::MAX) && !relay.in_window(0));
    }
}
