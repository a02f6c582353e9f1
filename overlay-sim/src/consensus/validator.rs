//! [`ValidatorApp`]: the application of a simulated validator. It makes no real consensus:
//! the world tells it when to speak (its own value at the start of a slot, then PREPARE,
//! CONFIRM and EXTERNALIZE of the slot's chosen value), and it signs what it says with its
//! node's Ed25519 key. It judges the envelopes its node delivers as a validator does: the
//! signature must be the sender's, the slot within the window, and every tx set and the
//! quorum set the statement references must be held, fetched first (from the relays that
//! sent it) if not.

use super::values::{self, Statement};
use overlay_auth::NodeIdentity;
use overlay_node::app::{AppInput, Application, Delivery, ScpDelivery, ScpVerdict, TxVerdict};
use overlay_node::relay::{references, verify};
use overlay_node::{LedgerState, ledger::LEDGER_VALIDITY_BRACKET};
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NetworkId, NodeId, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Items remembered as held. Past it the one needed by the oldest slot is forgotten.
const HELD_ITEMS_MAX: usize = 10_000;
/// Reasons of recent discards remembered, for the report (oldest forgotten first).
const DISCARDS_REMEMBERED_MAX: usize = 256;

/// Who a validator is.
#[derive(Debug, Clone)]
pub struct ValidatorSetup {
    /// Its position among the validators (the chosen value of a slot is that of position
    /// `slot mod validators`).
    pub position: u32,
    /// Its node's key, which also signs its statements (`NODE_SEED`).
    pub identity: NodeIdentity,
    /// The network whose ID the signatures cover.
    pub network: NetworkId,
    /// Its quorum set.
    pub quorum_set: Arc<ScpQuorumSet>,
    /// Transactions per tx set it proposes.
    pub txs_per_set: u32,
    /// `MAX_SLOTS_TO_REMEMBER`: envelopes this many slots or more behind the last
    /// externalized slot are discarded.
    pub max_slots_to_remember: u32,
}

/// What a validator made of envelopes, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValidatorStats {
    /// Signatures checked.
    pub signatures_checked: u64,
    /// Envelopes discarded (bad signature, bad value, slot outside the window).
    pub discarded: u64,
    /// Envelopes that needed items first.
    pub fetches: u64,
    /// Envelopes found ready.
    pub ready: u64,
}

/// Item hashes with the latest slot that needed each; bounded by [`HELD_ITEMS_MAX`].
#[derive(Debug, Default)]
struct Held {
    by_hash: BTreeMap<Hash256, u64>,
    by_slot: BTreeSet<(u64, Hash256)>,
}

impl Held {
    fn contains(&self, h: &Hash256) -> bool {
        self.by_hash.contains_key(h)
    }

    fn insert(&mut self, h: Hash256, slot: u64) {
        if let Some(old) = self.by_hash.get(&h).copied() {
            if old >= slot {
                return;
            }
            self.by_slot.remove(&(old, h));
        } else if self.by_hash.len() >= HELD_ITEMS_MAX {
            if let Some((_, k)) = self.by_slot.pop_first() {
                self.by_hash.remove(&k);
            }
        }
        self.by_hash.insert(h, slot);
        self.by_slot.insert((slot, h));
    }

    fn clear_below(&mut self, slot: u64) {
        while let Some(&(s, h)) = self.by_slot.first() {
            if s >= slot {
                return;
            }
            self.by_slot.pop_first();
            self.by_hash.remove(&h);
        }
    }
}

/// A simulated validator's application. See the [module docs](self).
#[derive(Debug)]
pub struct ValidatorApp {
    setup: ValidatorSetup,
    quorum_set_hash: Hash256,
    ledger: LedgerState,
    /// The last slot it externalized.
    externalized: Option<u64>,
    tx_sets: Held,
    quorum_sets: Held,
    /// Drained by the driver after every call: a few inputs per call.
    inputs: VecDeque<AppInput>,
    /// Recent discards by envelope identity; bound [`DISCARDS_REMEMBERED_MAX`].
    discards: VecDeque<(Hash256, &'static str)>,
    stats: ValidatorStats,
}

impl ValidatorApp {
    /// A validator starting from `ledger`. Its first input asks its node to hold its quorum
    /// set.
    pub fn new(setup: ValidatorSetup, ledger: LedgerState) -> Self {
        let quorum_set_hash = values::quorum_set_hash(&setup.quorum_set);
        let mut quorum_sets = Held::default();
        quorum_sets.insert(quorum_set_hash, u64::MAX);
        let inputs = VecDeque::from([AppInput::HoldQuorumSet(setup.quorum_set.clone())]);
        ValidatorApp {
            setup,
            quorum_set_hash,
            ledger,
            externalized: None,
            tx_sets: Held::default(),
            quorum_sets,
            inputs,
            discards: VecDeque::new(),
            stats: ValidatorStats::default(),
        }
    }

    /// Its NodeID.
    pub fn node_id(&self) -> NodeId {
        self.setup.identity.node_id()
    }

    /// Its quorum set's hash.
    pub fn quorum_set_hash(&self) -> Hash256 {
        self.quorum_set_hash
    }

    /// Counters.
    pub fn stats(&self) -> ValidatorStats {
        self.stats
    }

    /// The last slot it externalized.
    pub fn externalized(&self) -> Option<u64> {
        self.externalized
    }

    /// Whether its node holds this tx set (its own, or one it fetched).
    pub fn holds_tx_set(&self, h: &Hash256) -> bool {
        self.tx_sets.contains(h)
    }

    /// Why the envelope with this identity was discarded, if it was lately.
    pub fn discard_reason(&self, id: &Hash256) -> Option<&'static str> {
        self.discards.iter().rev().find(|(i, _)| i == id).map(|(_, r)| *r)
    }

    /// The start of `slot`: its tx set goes to its node to hold (the input comes first), and
    /// its NOMINATE of its own value is returned, to broadcast.
    pub fn nominate(&mut self, slot: u64) -> ScpEnvelope {
        let set = values::tx_set(self.setup.position, slot, self.setup.txs_per_set);
        self.tx_sets.insert(set.hash, slot);
        self.inputs.push_back(AppInput::HoldTxSet(Arc::new(set.message)));
        let own = values::value(set.hash, slot);
        let pledges = values::pledges(Statement::Nominate, &own, &own, self.quorum_set_hash);
        values::sign(&self.setup.identity, &self.setup.network, slot, pledges)
    }

    /// A ballot statement about `slot`'s chosen value (the value of the validator at
    /// `chosen_position`), or `None` while its node does not hold that value's tx set (a
    /// validator votes only for values it has). After EXTERNALIZE its node is told the new
    /// ledger.
    pub fn ballot(&mut self, slot: u64, statement: Statement, chosen_position: u32) -> Option<ScpEnvelope> {
        let chosen_set = values::tx_set(chosen_position, slot, self.setup.txs_per_set).hash;
        if !self.tx_sets.contains(&chosen_set) {
            return None;
        }
        let own = values::value(values::tx_set(self.setup.position, slot, self.setup.txs_per_set).hash, slot);
        let chosen = values::value(chosen_set, slot);
        let pledges = values::pledges(statement, &own, &chosen, self.quorum_set_hash);
        let env = values::sign(&self.setup.identity, &self.setup.network, slot, pledges);
        if statement == Statement::Externalize && self.externalized.is_none_or(|e| e < slot) {
            self.externalized = Some(slot);
            self.ledger.tracking_ledger = u32::try_from(slot).unwrap_or(u32::MAX);
            let min = self.ledger.min_ledger_to_remember(self.setup.max_slots_to_remember);
            self.tx_sets.clear_below(u64::from(min));
            self.inputs.push_back(AppInput::Ledger(self.ledger));
        }
        Some(env)
    }

    /// Whether `slot` is within the window of §8.1 around the last externalized slot (the
    /// node's own `min_ledger_to_remember`) and not too far ahead of it.
    fn in_window(&self, slot: u64) -> bool {
        let Some(t) = self.externalized else { return true };
        let min = self.ledger.min_ledger_to_remember(self.setup.max_slots_to_remember);
        slot >= u64::from(min) && slot <= t + u64::from(LEDGER_VALIDITY_BRACKET)
    }

    fn discard(&mut self, id: Hash256, reason: &'static str) -> ScpVerdict {
        self.stats.discarded += 1;
        self.discards.push_back((id, reason));
        if self.discards.len() > DISCARDS_REMEMBERED_MAX {
            self.discards.pop_front();
        }
        ScpVerdict::Discard
    }

    fn judge(&mut self, d: &ScpDelivery) -> ScpVerdict {
        let slot = d.slot_index();
        if !self.in_window(slot) {
            return self.discard(d.id, "slot outside the window");
        }
        self.stats.signatures_checked += 1;
        if verify(&self.setup.network, d).is_err() {
            return self.discard(d.id, "bad signature");
        }
        let Ok(refs) = references(&d.envelope.statement.pledges) else {
            return self.discard(d.id, "a value is not a StellarValue");
        };
        for h in &refs.tx_sets {
            if self.tx_sets.contains(h) {
                self.tx_sets.insert(*h, slot);
            }
        }
        let missing: Vec<Hash256> = refs.tx_sets.iter().filter(|h| !self.tx_sets.contains(h)).copied().collect();
        let qset_missing = !self.quorum_sets.contains(&refs.quorum_set);
        if missing.is_empty() && !qset_missing {
            self.stats.ready += 1;
            return ScpVerdict::Ready;
        }
        self.stats.fetches += 1;
        ScpVerdict::Fetch { tx_sets: missing, quorum_set: qset_missing.then_some(refs.quorum_set) }
    }
}

impl Application for ValidatorApp {
    fn handle_delivery(&mut self, _now: Timestamp, delivery: Delivery) {
        match delivery {
            Delivery::Transaction(t) => {
                self.inputs.push_back(AppInput::TxVerdict { hash: t.hash, verdict: TxVerdict::Accepted });
            }
            Delivery::ScpEnvelope(d) => {
                let verdict = self.judge(&d);
                self.inputs.push_back(AppInput::ScpVerdict { id: d.id, verdict });
            }
            Delivery::TxSet { hash, message, .. } => {
                if matches!(*message, StellarMessage::GeneralizedTxSet(_) | StellarMessage::TxSet(_)) {
                    self.tx_sets.insert(hash, self.externalized.map_or(0, |e| e + 1));
                }
            }
            Delivery::QuorumSet { hash, .. } => self.quorum_sets.insert(hash, u64::MAX),
        }
    }

    fn poll_input(&mut self) -> Option<AppInput> {
        self.inputs.pop_front()
    }
}

/// The planted bug of the consensus-relay scenario: a relay application that finds every
/// envelope ready at once, without checking its signature or fetching what it references,
/// so that its node floods envelopes whose tx sets and quorum set it cannot serve (the
/// behaviour PROTOCOL.md §8.7 measured stalling three validators after 7 ledgers).
#[derive(Debug, Default)]
pub struct PlantedRelay {
    inputs: VecDeque<AppInput>,
}

impl PlantedRelay {
    /// A planted relay.
    pub fn new() -> Self {
        PlantedRelay::default()
    }
}

impl Application for PlantedRelay {
    fn handle_delivery(&mut self, _now: Timestamp, delivery: Delivery) {
        let input = match delivery {
            Delivery::Transaction(t) => AppInput::TxVerdict { hash: t.hash, verdict: TxVerdict::Accepted },
            Delivery::ScpEnvelope(d) => AppInput::ScpVerdict { id: d.id, verdict: ScpVerdict::Ready },
            Delivery::TxSet { .. } | Delivery::QuorumSet { .. } => return,
        };
        self.inputs.push_back(input);
    }

    fn poll_input(&mut self) -> Option<AppInput> {
        self.inputs.pop_front()
    }
}
