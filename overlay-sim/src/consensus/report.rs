//! The consensus-relay part of the [report](crate::report): envelope deliveries between
//! validators, item fetches, what the relays did and what the wire checks saw.

use super::values::Statement;
use crate::histogram::Percentiles;
use crate::network::NodeIndex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Deliveries of one author's envelopes to one validator.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairDeliveries {
    /// Envelopes checked.
    pub expected: u64,
    /// Ready at the validator's application by the deadline.
    pub delivered: u64,
    /// Not delivered, by reason.
    pub missing: BTreeMap<&'static str, u64>,
}

/// One envelope that did not reach a validator's application in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingEnvelope {
    /// The validator it did not reach.
    pub validator: NodeIndex,
    /// Its author.
    pub author: NodeIndex,
    /// Its slot.
    pub slot: u64,
    /// Its statement.
    pub statement: Statement,
    /// Why it counts as missing (or exempt).
    pub reason: &'static str,
    /// What the validator's application made of it.
    pub detail: &'static str,
}

/// Every envelope of the other validators, seen from one validator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidatorDeliveries {
    /// The validator.
    pub validator: NodeIndex,
    /// Slots it externalized.
    pub externalized: u64,
    /// Per author (by node index): its envelopes delivered or not.
    pub from: BTreeMap<NodeIndex, PairDeliveries>,
}

/// Fetches of one kind of item by one kind of node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchKindReport {
    /// Items an application asked for that its node did not hold.
    pub started: u64,
    /// Of those, arrived from a peer.
    pub completed: u64,
    /// Asked for but already held by the node (handed back at once).
    pub already_held: u64,
    /// Not arrived within the deadline.
    pub unfinished: u64,
    /// From the application's verdict (Fetch) to the item's delivery.
    pub latency_ms: Percentiles,
}

/// Item fetches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchesReport {
    /// Tx sets fetched by relays.
    pub relay_tx_set: FetchKindReport,
    /// Quorum sets fetched by relays.
    pub relay_quorum_set: FetchKindReport,
    /// Tx sets fetched by validators.
    pub validator_tx_set: FetchKindReport,
    /// Quorum sets fetched by validators.
    pub validator_quorum_set: FetchKindReport,
}

/// Envelopes between validators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvelopesReport {
    /// Broadcast, by statement.
    pub broadcast: BTreeMap<Statement, u64>,
    /// Deliveries checked: each envelope at every other validator.
    pub expected: u64,
    /// Ready at the validator's application by the deadline.
    pub delivered: u64,
    /// Not delivered but exempt (a validator down or cut off; never in a clean run).
    pub exempt: u64,
    /// Envelopes whose deadline fell after the end of the run (not checked).
    pub unchecked: u64,
    /// From the broadcast to the first hand-over to another validator's application.
    pub arrival_latency_ms: Percentiles,
    /// From the broadcast to ready (every item held) at another validator's application.
    pub delivery_latency_ms: Percentiles,
    /// From the broadcast to ready at the last other validator.
    pub coverage_ms: Percentiles,
}

/// What the relays did, summed over the relays running at the end (overlay-node's
/// `RelayStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RelaysReport {
    /// Signatures checked.
    pub signatures_checked: u64,
    /// Envelopes discarded for a bad signature.
    pub bad_signatures: u64,
    /// Envelopes discarded for their slot.
    pub out_of_window: u64,
    /// Envelopes found ready.
    pub ready: u64,
    /// Envelopes that needed items first.
    pub fetches: u64,
}

/// What the wire checks of the relays saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RelayChecksReport {
    /// SCP messages written by relays, each checked for the items it references (b).
    pub scp_messages_checked: u64,
    /// GET_TX_SET and GET_SCP_QUORUMSET from a validator to a relay for an item of an
    /// envelope the relay had flooded (c).
    pub requests_after_flood: u64,
    /// Of those, answered with the item.
    pub answered: u64,
    /// DONT_HAVE written by relays to validators (for items of envelopes the relay had
    /// not flooded; one for an item of a flooded envelope breaks c).
    pub dont_have_to_validators: u64,
}

/// The consensus-relay scenario's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsensusReport {
    /// The validators.
    pub validators: Vec<NodeIndex>,
    /// The relays (every other node).
    pub relays: Vec<NodeIndex>,
    /// Slots started.
    pub slots: u64,
    /// Ballot statements that waited for the node to hold the chosen tx set.
    pub ballots_deferred: u64,
    /// Ballot statements given up (the chosen tx set never arrived).
    pub ballots_abandoned: u64,
    /// Envelopes between validators.
    pub envelopes: EnvelopesReport,
    /// For every validator, the envelopes of every other validator.
    pub per_validator: Vec<ValidatorDeliveries>,
    /// The first missing deliveries, with why.
    pub missing: Vec<MissingEnvelope>,
    /// Item fetches.
    pub fetches: FetchesReport,
    /// What the relays did.
    pub relays_did: RelaysReport,
    /// What the wire checks saw.
    pub relay_checks: RelayChecksReport,
}

fn fmt_p(p: &Percentiles) -> String {
    format!(
        "p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (n = {})",
        p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.count
    )
}

impl ConsensusReport {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let e = &self.envelopes;
        let _ = writeln!(
            s,
            "\nconsensus through relays: validators {:?}, relays {:?}; {} slots, {} ballot statements deferred, {} abandoned",
            self.validators, self.relays, self.slots, self.ballots_deferred, self.ballots_abandoned
        );
        let by: Vec<String> = e.broadcast.iter().map(|(k, v)| format!("{v} {}", k.name())).collect();
        let _ = writeln!(
            s,
            "  envelopes: {} broadcast ({}); {} deliveries to other validators checked, {} delivered, {} exempt, {} unchecked at the end",
            e.broadcast.values().sum::<u64>(),
            by.join(", "),
            e.expected,
            e.delivered,
            e.exempt,
            e.unchecked
        );
        let _ = writeln!(s, "  arrival at the application   {}", fmt_p(&e.arrival_latency_ms));
        let _ = writeln!(s, "  delivery (ready)             {}", fmt_p(&e.delivery_latency_ms));
        let _ = writeln!(s, "  ready at all validators      {}", fmt_p(&e.coverage_ms));
        for v in &self.per_validator {
            let from: Vec<String> = v
                .from
                .iter()
                .map(|(a, p)| {
                    let why: Vec<String> = p.missing.iter().map(|(r, k)| format!("{k} {r}")).collect();
                    if why.is_empty() {
                        format!("{a}: {}/{}", p.delivered, p.expected)
                    } else {
                        format!("{a}: {}/{} ({})", p.delivered, p.expected, why.join(", "))
                    }
                })
                .collect();
            let _ = writeln!(
                s,
                "  validator {:>3} ({} slots externalized) got from  {}",
                v.validator,
                v.externalized,
                from.join("  ")
            );
        }
        for m in &self.missing {
            let _ = writeln!(
                s,
                "  missing: {} of validator {} for slot {} at validator {}: {} ({})",
                m.statement.name(),
                m.author,
                m.slot,
                m.validator,
                m.reason,
                m.detail
            );
        }
        let f = &self.fetches;
        for (name, k) in [
            ("relays, tx sets      ", &f.relay_tx_set),
            ("relays, quorum sets  ", &f.relay_quorum_set),
            ("validators, tx sets  ", &f.validator_tx_set),
            ("validators, qsets    ", &f.validator_quorum_set),
        ] {
            let _ = writeln!(
                s,
                "  fetch {name} {} asked, {} fetched, {} held already, {} unfinished; {}",
                k.started,
                k.completed,
                k.already_held,
                k.unfinished,
                fmt_p(&k.latency_ms)
            );
        }
        let r = &self.relays_did;
        let _ = writeln!(
            s,
            "  relays: {} signatures checked ({} bad), {} ready, {} needed items first, {} out of window",
            r.signatures_checked, r.bad_signatures, r.ready, r.fetches, r.out_of_window
        );
        let c = &self.relay_checks;
        let _ = writeln!(
            s,
            "  wire: {} SCP messages of relays held-checked; {} requests of validators after the flood, {} answered; {} DONT_HAVE to validators",
            c.scp_messages_checked, c.requests_after_flood, c.answered, c.dont_have_to_validators
        );
        s
    }
}
