//! The consensus-relay scenario in the world: the validators' slots and ballot statements
//! over time, what the world observes of the exchange between each node and its application
//! (deliveries, verdicts, fetches), and the scenario's invariants:
//!
//! - (a) every envelope a validator broadcasts is ready at every other validator's
//!   application within `reach_deadline_ms` (unless one of them was down or cut off from the
//!   other through running nodes);
//! - (b) a relay never writes an SCP_MESSAGE unless its node holds every tx set and the
//!   quorum set the statement references;
//! - (c) every GET_TX_SET and GET_SCP_QUORUMSET a validator writes to a relay for an item of
//!   an envelope the relay has flooded is answered with the item, never DONT_HAVE.
//!
//! (b) and (c) are read on the wire ([`super::wire`]); see `checks`.

mod checks;
pub(crate) mod log;

use super::{Event, Res, World};
use crate::consensus::ValidatorSetup;
use crate::consensus::report::{
    ConsensusReport, EnvelopesReport, FetchesReport, RelayChecksReport, RelaysReport, ValidatorDeliveries,
};
use crate::consensus::values::{self, Statement};
use crate::network::NodeIndex;
use crate::scenario::ConsensusSpec;
use core::time::Duration;
use log::{ConsensusLog, EnvelopeRecord, FetchKind, Receipt};
use overlay_auth::NodeIdentity;
use overlay_node::app::{AppInput, Delivery, ScpVerdict};
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, Network as StellarNetwork, NetworkId, NodeId, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// `MAX_SLOTS_TO_REMEMBER` of the validators (stellar-core's default).
const MAX_SLOTS_TO_REMEMBER: u32 = 12;
/// A validator that does not hold the chosen tx set yet looks again this often.
const BALLOT_RETRY: Duration = Duration::from_millis(50);
/// The first slot (ledger 1 is the genesis ledger every node starts from).
const FIRST_SLOT: u64 = 2;

/// A request of a validator to a relay for an item of an envelope the relay flooded.
#[derive(Debug, Clone, Copy)]
struct Request {
    at: Timestamp,
    validator: NodeIndex,
    relay: NodeIndex,
    tx_set: bool,
    /// The relay node's count of queries ignored over its rate limit (§8.6) then.
    ignored_before: u64,
}

/// The scenario's state. See the [module docs](self).
#[derive(Debug)]
pub(super) struct Consensus {
    spec: ConsensusSpec,
    network: NetworkId,
    /// Validators in position order.
    validators: Vec<NodeIndex>,
    position: BTreeMap<NodeIndex, usize>,
    relays: Vec<NodeIndex>,
    quorum_sets: Vec<Arc<ScpQuorumSet>>,
    next_slot: u64,
    slots: u64,
    ballots_deferred: u64,
    ballots_abandoned: u64,
    externalized: Vec<u64>,
    log: ConsensusLog,
    /// Per relay: the items referenced by SCP messages it wrote, with the latest slot.
    /// Pruned to the slots a validator may still fetch for.
    relay_refs: BTreeMap<NodeIndex, BTreeMap<Hash256, u64>>,
    /// Requests (connection, item) waiting for their answer. Bound: removed when answered
    /// or checked.
    requests: BTreeMap<(u64, Hash256), Request>,
    checks: RelayChecksReport,
}

impl Consensus {
    /// The state for `spec` with these validators (every other node is a relay).
    pub(super) fn new(spec: ConsensusSpec, validators: Vec<NodeIndex>, nodes: usize) -> Consensus {
        let ids: Vec<NodeId> = validators.iter().map(|v| super::node_id(*v)).collect();
        let n = validators.len() as u32;
        let threshold = if spec.quorum_threshold == 0 { n.saturating_sub(1).max(1) } else { spec.quorum_threshold };
        let quorum_sets = (0..ids.len()).map(|p| Arc::new(values::quorum_set(&ids, p, threshold))).collect();
        let position = validators.iter().enumerate().map(|(p, v)| (*v, p)).collect();
        let relays = (0..nodes as NodeIndex).filter(|i| !validators.contains(i)).collect();
        Consensus {
            spec,
            network: StellarNetwork::Standalone.id(),
            log: ConsensusLog::new(validators.len()),
            externalized: vec![0; validators.len()],
            validators,
            position,
            relays,
            quorum_sets,
            next_slot: FIRST_SLOT,
            slots: 0,
            ballots_deferred: 0,
            ballots_abandoned: 0,
            relay_refs: BTreeMap::new(),
            requests: BTreeMap::new(),
            checks: RelayChecksReport::default(),
        }
    }

    /// Who validator `n` is; `None` if it is a relay.
    pub(super) fn validator_setup(&self, n: NodeIndex) -> Option<ValidatorSetup> {
        let p = *self.position.get(&n)?;
        Some(ValidatorSetup {
            position: p as u32,
            identity: NodeIdentity::from_seed(super::nodes::identity_seed(n)),
            network: self.network,
            quorum_set: self.quorum_sets[p].clone(),
            txs_per_set: self.spec.txs_per_set,
            max_slots_to_remember: MAX_SLOTS_TO_REMEMBER,
        })
    }

    fn is_validator(&self, n: NodeIndex) -> bool {
        self.position.contains_key(&n)
    }
}

impl World {
    /// Start the scenario's slots.
    pub(super) fn schedule_consensus(&mut self) -> Res {
        if self.consensus.is_some() {
            self.q.schedule_at(self.load_start, Event::Slot)?;
        }
        Ok(())
    }

    /// A slot starts: every running validator holds its tx set and nominates its value.
    pub(super) fn start_slot(&mut self) -> Res {
        let now = self.q.now();
        let Some(c) = self.consensus.as_deref_mut() else { return Ok(()) };
        let slot = c.next_slot;
        c.next_slot += 1;
        c.slots += 1;
        let (validators, interval, step) = (c.validators.clone(), c.spec.slot_interval_ms, c.spec.ballot_step_ms);
        let keep_from = slot.saturating_sub(u64::from(MAX_SLOTS_TO_REMEMBER) - 2);
        for refs in c.relay_refs.values_mut() {
            refs.retain(|_, s| *s >= keep_from);
        }
        let before = Timestamp::from_nanos(now.as_nanos().saturating_sub(self.sc.reach_deadline_ms * 1_000_000));
        let nodes = &self.nodes;
        c.log.prune_fetches(before, |n| nodes[n as usize].live.is_none());
        for v in validators {
            let Some(app) = self.nodes[v as usize].live.as_deref_mut().and_then(|l| l.app.validator_mut()) else {
                continue;
            };
            let env = app.nominate(slot);
            self.drain(v)?;
            self.broadcast_envelope(v, env)?;
            let next = Event::Ballot { validator: v, slot, statement: Statement::Prepare, tries: 0 };
            self.q.schedule_in(Duration::from_millis(step), next)?;
        }
        let next = now + Duration::from_millis(interval);
        if next < self.load_end {
            self.q.schedule_at(next, Event::Slot)?;
        }
        Ok(())
    }

    /// Validator `v` states `statement` about `slot`'s chosen value, once its node holds the
    /// chosen tx set.
    pub(super) fn ballot(&mut self, v: NodeIndex, slot: u64, statement: Statement, tries: u32) -> Res {
        let Some(c) = self.consensus.as_deref() else { return Ok(()) };
        let chosen = (slot % c.validators.len() as u64) as u32;
        let (step, position) = (c.spec.ballot_step_ms, c.position[&v]);
        let retries_max = (self.sc.reach_deadline_ms / BALLOT_RETRY.as_millis() as u64) as u32;
        let Some(app) = self.nodes[v as usize].live.as_deref_mut().and_then(|l| l.app.validator_mut()) else {
            return Ok(());
        };
        let Some(env) = app.ballot(slot, statement, chosen) else {
            let c = self.consensus.as_deref_mut().expect("checked");
            if tries == 0 {
                c.ballots_deferred += 1;
            }
            if tries >= retries_max {
                c.ballots_abandoned += 1;
                return Ok(());
            }
            let again = Event::Ballot { validator: v, slot, statement, tries: tries + 1 };
            return self.q.schedule_in(BALLOT_RETRY, again);
        };
        self.broadcast_envelope(v, env)?;
        match statement.next() {
            Some(next) => {
                let e = Event::Ballot { validator: v, slot, statement: next, tries: 0 };
                self.q.schedule_in(Duration::from_millis(step), e)?;
            }
            None => {
                let c = self.consensus.as_deref_mut().expect("checked");
                c.externalized[position] += 1;
                self.slot = self.slot.max(u32::try_from(slot).unwrap_or(u32::MAX));
            }
        }
        Ok(())
    }

    /// Broadcast an envelope of validator `v`, recorded for its delivery check.
    fn broadcast_envelope(&mut self, v: NodeIndex, env: ScpEnvelope) -> Res {
        let now = self.q.now();
        let c = self.consensus.as_deref_mut().expect("a consensus scenario");
        let msg = StellarMessage::ScpMessage(env);
        let Ok(xdr) = overlay_proto::wire::encode_message(&msg) else { return Ok(()) };
        let StellarMessage::ScpMessage(env) = &msg else { return Ok(()) };
        let rec = EnvelopeRecord {
            id: overlay_flood::identity::flood_message_id_from_xdr(&xdr),
            author: v,
            author_position: c.position[&v],
            slot: env.statement.slot_index,
            statement: Statement::of(&env.statement.pledges),
            at: now,
            receipts: vec![Receipt::default(); c.validators.len()],
        };
        let n = c.log.broadcast(rec);
        self.q.schedule_in(Duration::from_millis(self.sc.reach_deadline_ms), Event::CheckEnvelope(n))?;
        if let Some(live) = self.nodes[v as usize].live.as_deref_mut() {
            let _ = live.node.broadcast(now, msg);
        }
        self.drain(v)
    }

    /// Node `n` stopped: what it held is gone, so what it flooded no longer binds it (c).
    pub(super) fn consensus_node_stopped(&mut self, n: NodeIndex) {
        if let Some(c) = self.consensus.as_deref_mut() {
            c.relay_refs.remove(&n);
        }
    }

    /// A delivery of node `n` to its application: envelopes reaching validators, items
    /// ending fetches.
    pub(super) fn observe_delivery(&mut self, n: NodeIndex, d: &Delivery) {
        let now = self.q.now();
        let Some(c) = self.consensus.as_deref_mut() else { return };
        match d {
            Delivery::ScpEnvelope(e) => {
                if let Some(&p) = c.position.get(&n) {
                    c.log.arrived(&e.id, p, now);
                }
            }
            Delivery::TxSet { hash, from, .. } | Delivery::QuorumSet { hash, from, .. } => {
                c.log.fetch_done(n, *hash, from.is_some(), now);
            }
            Delivery::Transaction(_) => {}
        }
    }

    /// An answer of node `n`'s application: verdicts on envelopes at validators, items an
    /// application asks for.
    pub(super) fn observe_app_input(&mut self, n: NodeIndex, input: &AppInput) {
        let now = self.q.now();
        let Some(c) = self.consensus.as_deref_mut() else { return };
        let AppInput::ScpVerdict { id, verdict } = input else { return };
        let validator = c.is_validator(n);
        if let ScpVerdict::Fetch { tx_sets, quorum_set } = verdict {
            for h in tx_sets {
                c.log.fetch_started(n, *h, FetchKind::of(validator, true), now);
            }
            if let Some(h) = quorum_set {
                c.log.fetch_started(n, *h, FetchKind::of(validator, false), now);
            }
        }
        let Some(&p) = c.position.get(&n) else { return };
        match verdict {
            ScpVerdict::Ready => c.log.ready(id, p, now),
            ScpVerdict::Fetch { tx_sets, quorum_set } => {
                c.log.waiting(id, p, !tx_sets.is_empty(), quorum_set.is_some())
            }
            ScpVerdict::Discard => {
                let app = self.nodes[n as usize].live.as_deref().and_then(|l| l.app.validator());
                let reason = app.and_then(|a| a.discard_reason(id)).unwrap_or("discarded");
                c.log.discarded(id, p, reason);
            }
        }
    }

    /// The scenario's part of the report.
    pub(super) fn consensus_report(&self) -> Option<ConsensusReport> {
        let c = self.consensus.as_deref()?;
        let mut relays_did = RelaysReport::default();
        for r in &c.relays {
            let Some(live) = self.nodes[*r as usize].live.as_deref() else { continue };
            if let super::nodes::SimApp::Relay(relay) = &live.app {
                let s = relay.stats();
                relays_did.signatures_checked += s.signatures_checked;
                relays_did.bad_signatures += s.bad_signatures;
                relays_did.out_of_window += s.out_of_window;
                relays_did.ready += s.ready;
                relays_did.fetches += s.fetches;
            }
        }
        let per_validator = c
            .validators
            .iter()
            .enumerate()
            .map(|(p, v)| ValidatorDeliveries {
                validator: *v,
                externalized: c.externalized[p],
                from: c
                    .validators
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| *a != p)
                    .map(|(a, author)| (*author, c.log.pairs[p][a].clone()))
                    .collect(),
            })
            .collect();
        let l = &c.log;
        Some(ConsensusReport {
            validators: c.validators.clone(),
            relays: c.relays.clone(),
            slots: c.slots,
            ballots_deferred: c.ballots_deferred,
            ballots_abandoned: c.ballots_abandoned,
            envelopes: EnvelopesReport {
                broadcast: l.broadcast.clone(),
                expected: l.expected,
                delivered: l.delivered,
                exempt: l.exempt,
                unchecked: l.unchecked() as u64,
                arrival_latency_ms: l.arrival.percentiles(),
                delivery_latency_ms: l.delivery.percentiles(),
                coverage_ms: l.coverage.percentiles(),
            },
            per_validator,
            missing: l.missing.clone(),
            fetches: FetchesReport {
                relay_tx_set: l.fetches[FetchKind::TxSetByRelay as usize].report(),
                relay_quorum_set: l.fetches[FetchKind::QuorumSetByRelay as usize].report(),
                validator_tx_set: l.fetches[FetchKind::TxSetByValidator as usize].report(),
                validator_quorum_set: l.fetches[FetchKind::QuorumSetByValidator as usize].report(),
            },
            relays_did,
            relay_checks: c.checks,
        })
    }

    /// The histogram of envelope delivery latency (broadcast to ready at each other
    /// validator's application), in the consensus-relay scenario.
    pub fn envelope_latency(&self) -> Option<&crate::histogram::Histogram> {
        self.consensus.as_deref().map(|c| &c.log.delivery)
    }
}
