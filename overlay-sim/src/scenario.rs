//! [`Scenario`]: everything a run depends on besides the code, seed included. A run is a pure
//! function of its scenario.
//!
//! A run has four phases on the virtual clock: nodes start (spread over `start_spread_ms`),
//! the network forms (`warmup_ms`), load runs (`load_ms`: transactions, SCP rounds, ledger
//! closes with tx-set fetches, churn, partitions, cuts), then the network settles
//! (`settle_ms`: no new load, faults optionally healed) so that every message broadcast
//! during the load gets its delivery checked.

use crate::crawl::CrawlSpec;
use crate::fault::MisbehaviourKind;
use crate::link::LinkProfile;
use crate::network::NodeIndex;
use crate::survey::SurveySpec;
use crate::topology::{RelayShape, Topology};
use serde::Serialize;

/// A partition of the network for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PartitionSpec {
    /// Start, in ms after the load phase begins.
    pub at_ms: u64,
    /// How long it lasts.
    pub duration_ms: u64,
    /// Fraction of the live nodes put on the minority side (chosen at random).
    pub fraction: f64,
}

/// One link with its own profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinkOverride {
    /// One end.
    pub a: NodeIndex,
    /// The other end.
    pub b: NodeIndex,
    /// Its profile.
    pub profile: LinkProfile,
}

/// Nodes stopping, restarting and joining.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChurnSpec {
    /// Mean time between two stops during the load phase (exponential); 0 turns churn off.
    pub interval_ms: u64,
    /// How long a stopped node stays down before it restarts.
    pub downtime_ms: u64,
    /// Probability that a stop is a crash (sockets reset, no goodbye) rather than a clean
    /// shutdown (ERROR "shutdown" to every peer).
    pub crash_prob: f64,
    /// New nodes joining during the load phase, at random times.
    pub joins: u32,
    /// Known peers of a joining node.
    pub join_known_peers: u32,
}

impl Default for ChurnSpec {
    fn default() -> Self {
        ChurnSpec { interval_ms: 0, downtime_ms: 10_000, crash_prob: 0.5, joins: 0, join_known_peers: 3 }
    }
}

/// Random cuts of single links during the load phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CutSpec {
    /// Mean time between two cuts (exponential); 0 turns cuts off.
    pub interval_ms: u64,
    /// How long a cut lasts before the link is repaired.
    pub duration_ms: u64,
}

impl Default for CutSpec {
    fn default() -> Self {
        CutSpec { interval_ms: 0, duration_ms: 5_000 }
    }
}

/// Misbehaving nodes declared by the scenario, and at most one planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct MisbehaviourSpec {
    /// Nodes whose authenticated frames carry bad MACs.
    pub bad_mac_nodes: u32,
    /// Nodes that send garbage.
    pub garbage_nodes: u32,
    /// Nodes that ignore flow control.
    pub overrun_nodes: u32,
    /// Probability per frame or write of the fault (see [`crate::fault`]).
    pub prob: f64,
    /// A node with this fault that the invariants are *not* told about: a planted bug the
    /// run must catch.
    pub planted: Option<MisbehaviourKind>,
}

/// Bounds of a node's flooding state (`FloodConfig`); `None` keeps the node's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct FloodBounds {
    /// Floodgate records (default 200,000).
    pub floodgate_entries_max: Option<usize>,
    /// Hashes remembered per peer that advertised them (default 50,000).
    pub advert_history_entries_max: Option<usize>,
    /// Demand records (default 200,000).
    pub demand_history_entries_max: Option<usize>,
}

/// The consensus-relay scenario: validators that sign and broadcast SCP statements about
/// their own tx sets, reaching each other only through relays (see [`crate::consensus`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConsensusSpec {
    /// A slot starts this often: each validator holds a new tx set and nominates its value.
    pub slot_interval_ms: u64,
    /// After NOMINATE, each validator states PREPARE, CONFIRM and EXTERNALIZE of the slot's
    /// chosen value (the value of validator `slot mod validators`) this long apart, each as
    /// soon as its node holds the chosen tx set.
    pub ballot_step_ms: u64,
    /// Transactions per tx set.
    pub txs_per_set: u32,
    /// Quorum threshold of every validator's quorum set; 0: validators − 1.
    pub quorum_threshold: u32,
    /// The planted bug: relays answer every envelope ready at once, without checking it or
    /// fetching what it references (they flood unfetched). The run must break an
    /// invariant.
    pub planted_unfetched_relays: bool,
    /// Check on the wire that a relay holds every item an SCP message it writes references
    /// (invariant b). Turned off only to show that invariant c catches the planted bug too.
    pub check_relay_holds: bool,
}

impl Default for ConsensusSpec {
    fn default() -> Self {
        ConsensusSpec {
            slot_interval_ms: 2_000,
            ballot_step_ms: 400,
            txs_per_set: 4,
            quorum_threshold: 0,
            planted_unfetched_relays: false,
            check_relay_holds: true,
        }
    }
}

/// Everything a run depends on. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// The run seed.
    pub seed: u64,
    /// The shape of the network.
    pub topology: Topology,
    /// Nodes start at random times within this window.
    pub start_spread_ms: u64,
    /// From the first start to the load phase.
    pub warmup_ms: u64,
    /// Length of the load phase.
    pub load_ms: u64,
    /// After the load phase; at least `reach_deadline_ms` so that every check runs.
    pub settle_ms: u64,
    /// Transactions broadcast per second at random nodes (Poisson arrivals).
    pub tx_rate_per_s: f64,
    /// Stop after this many transactions; 0 means no limit.
    pub tx_count_max: u64,
    /// Each validator broadcasts an SCP message this often; 0 turns SCP off.
    pub scp_interval_ms: u64,
    /// A ledger closes this often on every node (tracking ledger + 1, Floodgate cleanup);
    /// 0 turns ledger closes off.
    pub ledger_close_ms: u64,
    /// At each ledger close a validator holds a new tx set and this many other nodes fetch it.
    pub tx_set_fetchers: u32,
    /// The profile of every link.
    pub link: LinkProfile,
    /// Extra per-pair base latency, uniform in `[0, latency_spread_ms]`.
    pub latency_spread_ms: u64,
    /// Links with their own profile.
    pub link_overrides: Vec<LinkOverride>,
    /// Socket send buffer per connection direction; past it the node is told to stop
    /// writing until half of it has drained (only with a bandwidth limit).
    pub socket_buffer_bytes: u64,
    /// A dial across a partition, or to an address nobody has, fails after this long.
    pub connect_timeout_ms: u64,
    /// Partitions during the load phase.
    pub partitions: Vec<PartitionSpec>,
    /// Random link cuts.
    pub cuts: CutSpec,
    /// Churn.
    pub churn: ChurnSpec,
    /// Misbehaving nodes.
    pub misbehaviour: MisbehaviourSpec,
    /// `TARGET_PEER_CONNECTIONS` of nodes whose topology does not set it.
    pub target_connections: usize,
    /// The ledger's maximum tx set size in operations: sizes adverts, demands, incoming
    /// advert queues and the outbound transaction queue limit.
    pub max_tx_set_ops: u32,
    /// Transactions each node keeps to serve demands (`ItemLimits::transactions_max`) and its
    /// application remembers as seen (oldest forgotten first).
    pub app_transactions_max: usize,
    /// Bounds of the nodes' flooding state, where not the node's defaults: Floodgate
    /// records, advert history per peer, demand history (memory of large runs).
    pub flood_bounds: FloodBounds,
    /// A flooded message must reach every node connected to its origin throughout this long.
    pub reach_deadline_ms: u64,
    /// How often every node's queues, maps and flow control are checked.
    pub check_interval_ms: u64,
    /// At the start of the settle phase: heal partitions, repair cuts, clear stream faults.
    pub heal_at_settle: bool,
    /// Validators that sign SCP statements and relays that check them, instead of the
    /// synthetic SCP rounds; `None` in the flooding scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusSpec>,
    /// A crawl of the network by overlay-crawl's crawler (the crawl scenario); `None`
    /// elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlSpec>,
    /// A time-sliced survey of the whole network by one node (the survey scenario); `None`
    /// elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveySpec>,
}

impl Default for Scenario {
    /// The default run: a pubnet-like network of 100 nodes (7 organisations of 3 validators,
    /// 79 watchers) under 40 transactions per second for 40 s, SCP rounds every 2.5 s, a
    /// ledger every 5 s with tx-set fetches, and mild faults: latencies of 20–120 ms with
    /// jitter, 0.2 % segment loss, rare resets, link cuts, churn (crashes, restarts, 5
    /// joins) and one 8-second partition of a fifth of the nodes.
    fn default() -> Self {
        Scenario {
            seed: 1,
            topology: Topology::Pubnet { orgs: 7, validators_per_org: 3, watchers: 79, watcher_known_peers: 3 },
            start_spread_ms: 2_000,
            warmup_ms: 15_000,
            load_ms: 40_000,
            settle_ms: 20_000,
            tx_rate_per_s: 40.0,
            tx_count_max: 0,
            scp_interval_ms: 2_500,
            ledger_close_ms: 5_000,
            tx_set_fetchers: 5,
            link: LinkProfile {
                latency_ms: 20,
                jitter_ms: 10,
                bandwidth_bytes_per_s: 12_500_000,
                loss_prob: 0.002,
                rto_ms: 200,
                reset_prob: 0.000_02,
                duplicate_prob: 0.0,
                reorder_prob: 0.0,
                corrupt_prob: 0.0,
            },
            latency_spread_ms: 100,
            link_overrides: Vec::new(),
            socket_buffer_bytes: 1 << 20,
            connect_timeout_ms: 3_000,
            partitions: vec![PartitionSpec { at_ms: 20_000, duration_ms: 8_000, fraction: 0.2 }],
            cuts: CutSpec { interval_ms: 10_000, duration_ms: 5_000 },
            churn: ChurnSpec {
                interval_ms: 10_000,
                downtime_ms: 10_000,
                crash_prob: 0.5,
                joins: 5,
                join_known_peers: 3,
            },
            misbehaviour: MisbehaviourSpec::default(),
            target_connections: 8,
            max_tx_set_ops: 1_000,
            app_transactions_max: 100_000,
            flood_bounds: FloodBounds::default(),
            reach_deadline_ms: 20_000,
            check_interval_ms: 1_000,
            heal_at_settle: true,
            consensus: None,
            crawl: None,
            survey: None,
        }
    }
}

impl Scenario {
    /// A small, faulty network for seed sweeps: 10 nodes, random 4-regular, every stream
    /// fault, a partition and heal, churn (crashes, restarts, a join) and cuts, over 16 s of
    /// load. One run takes well under a second in a debug build.
    pub fn small_faulty(seed: u64) -> Self {
        Scenario {
            seed,
            topology: Topology::RandomRegular { nodes: 10, degree: 4, validators: 4 },
            start_spread_ms: 1_000,
            warmup_ms: 6_000,
            load_ms: 16_000,
            settle_ms: 20_000,
            tx_rate_per_s: 6.0,
            tx_count_max: 0,
            scp_interval_ms: 4_000,
            ledger_close_ms: 5_000,
            tx_set_fetchers: 2,
            link: LinkProfile {
                latency_ms: 10,
                jitter_ms: 20,
                bandwidth_bytes_per_s: 1_000_000,
                loss_prob: 0.01,
                rto_ms: 200,
                reset_prob: 0.002,
                duplicate_prob: 0.002,
                reorder_prob: 0.002,
                corrupt_prob: 0.002,
            },
            latency_spread_ms: 40,
            link_overrides: Vec::new(),
            socket_buffer_bytes: 256 << 10,
            connect_timeout_ms: 3_000,
            partitions: vec![PartitionSpec { at_ms: 4_000, duration_ms: 6_000, fraction: 0.3 }],
            cuts: CutSpec { interval_ms: 4_000, duration_ms: 3_000 },
            churn: ChurnSpec { interval_ms: 5_000, downtime_ms: 4_000, crash_prob: 0.5, joins: 1, join_known_peers: 2 },
            misbehaviour: MisbehaviourSpec::default(),
            target_connections: 8,
            max_tx_set_ops: 1_000,
            app_transactions_max: 100_000,
            flood_bounds: FloodBounds::default(),
            reach_deadline_ms: 20_000,
            check_interval_ms: 1_000,
            heal_at_settle: true,
            consensus: None,
            crawl: None,
            survey: None,
        }
    }

    /// The bench: `nodes` nodes in a random 8-regular graph flooding `transactions`
    /// transactions at 1,000 per second over clean 20–70 ms links. The ledger allows 1,500
    /// operations per tx set, which keeps every FLOOD_ADVERT and FLOOD_DEMAND under 4 KiB
    /// (larger frames after authentication trip a bug of the node under test, see the crate
    /// README); nodes keep their last 2,000 transactions, 3,000 Floodgate and demand
    /// records and 1,000 advertised hashes per peer, which bounds memory (the node's defaults
    /// are sized for one real node, not a thousand in one process).
    pub fn bench(nodes: u32, transactions: u64) -> Self {
        let rate = 1_000.0;
        let load_ms = (transactions as f64 / rate * 1_000.0) as u64 + 1_000;
        Scenario {
            seed: 1,
            topology: Topology::RandomRegular { nodes, degree: 8, validators: 0 },
            start_spread_ms: 1_000,
            warmup_ms: 10_000,
            load_ms,
            settle_ms: 10_000,
            tx_rate_per_s: rate,
            tx_count_max: transactions,
            scp_interval_ms: 0,
            ledger_close_ms: 5_000,
            tx_set_fetchers: 0,
            link: LinkProfile { latency_ms: 20, ..LinkProfile::default() },
            latency_spread_ms: 50,
            link_overrides: Vec::new(),
            socket_buffer_bytes: 1 << 20,
            connect_timeout_ms: 3_000,
            partitions: Vec::new(),
            cuts: CutSpec::default(),
            churn: ChurnSpec::default(),
            misbehaviour: MisbehaviourSpec::default(),
            target_connections: 8,
            max_tx_set_ops: 1_500,
            app_transactions_max: 2_000,
            flood_bounds: FloodBounds {
                floodgate_entries_max: Some(3_000),
                advert_history_entries_max: Some(1_000),
                demand_history_entries_max: Some(3_000),
            },
            reach_deadline_ms: 10_000,
            check_interval_ms: 5_000,
            heal_at_settle: false,
            consensus: None,
            crawl: None,
            survey: None,
        }
    }

    /// The consensus-relay scenario: 5 validators linked only through a line of 3 relays
    /// running overlay-node's watcher-like `Relay`, over clean 20–50 ms links. Every 2 s each
    /// validator holds a new tx set and broadcasts a signed NOMINATE of it, then PREPARE,
    /// CONFIRM and EXTERNALIZE of the slot's chosen value; relays fetch what an envelope
    /// references from the peer that sent it before flooding it, validators fetch from
    /// their relays. 20 s of slots, 12 s to settle (every envelope's 10 s deadline falls within
    /// the run). One run takes a fraction of a second in a debug build.
    pub fn consensus_relay(seed: u64) -> Self {
        Scenario {
            seed,
            topology: Topology::Relayed { validators: 5, relays: 3, shape: RelayShape::Line },
            start_spread_ms: 1_000,
            warmup_ms: 5_000,
            load_ms: 20_000,
            settle_ms: 12_000,
            tx_rate_per_s: 0.0,
            tx_count_max: 0,
            scp_interval_ms: 0,
            ledger_close_ms: 0,
            tx_set_fetchers: 0,
            link: LinkProfile {
                latency_ms: 20,
                jitter_ms: 5,
                bandwidth_bytes_per_s: 12_500_000,
                ..LinkProfile::default()
            },
            latency_spread_ms: 30,
            link_overrides: Vec::new(),
            socket_buffer_bytes: 1 << 20,
            connect_timeout_ms: 3_000,
            partitions: Vec::new(),
            cuts: CutSpec::default(),
            churn: ChurnSpec { interval_ms: 0, joins: 0, ..ChurnSpec::default() },
            misbehaviour: MisbehaviourSpec::default(),
            target_connections: 8,
            max_tx_set_ops: 1_000,
            app_transactions_max: 100_000,
            flood_bounds: FloodBounds::default(),
            reach_deadline_ms: 10_000,
            check_interval_ms: 1_000,
            heal_at_settle: true,
            consensus: Some(ConsensusSpec::default()),
            crawl: None,
            survey: None,
        }
    }

    /// The survey scenario: a pubnet-like network of 50 nodes (5 organisations of 3
    /// validators, 35 watchers) under light load (a transaction per second, SCP rounds and a
    /// ledger every 5 s), over 20–120 ms links with 0.2 % segment loss, no churn. Validator
    /// 0 surveys the whole network: it collects for 20 s from 15 s in, then requests every
    /// node the responses name, page by page, 10 requests per 15 s, for the rest of the run
    /// (140 s).
    pub fn survey(seed: u64) -> Self {
        let base = Scenario::default();
        Scenario {
            seed,
            topology: Topology::Pubnet { orgs: 5, validators_per_org: 3, watchers: 35, watcher_known_peers: 3 },
            warmup_ms: 10_000,
            load_ms: 110_000,
            settle_ms: 20_000,
            tx_rate_per_s: 1.0,
            scp_interval_ms: 5_000,
            partitions: Vec::new(),
            cuts: CutSpec::default(),
            churn: ChurnSpec { interval_ms: 0, joins: 0, ..ChurnSpec::default() },
            survey: Some(SurveySpec::default()),
            ..base
        }
    }

    /// The crawl scenario: the survey scenario's pubnet-like network of 50 nodes (5
    /// organisations of 3 validators, 35 watchers, each knowing 3 peers) under light load,
    /// over 20–120 ms links with 0.2 % segment loss and no churn; 15 s after the start, when
    /// the network has formed and exchanged PEERS, overlay-crawl's crawler maps it from
    /// validator 0, with `stellar-overlay crawl`'s defaults and a 30 s deadline, while the
    /// load goes on for 20 s. Every node reachable from the seed must be found (see
    /// [`crate::crawl`]).
    pub fn crawl(seed: u64) -> Self {
        let base = Scenario::default();
        Scenario {
            seed,
            topology: Topology::Pubnet { orgs: 5, validators_per_org: 3, watchers: 35, watcher_known_peers: 3 },
            warmup_ms: 15_000,
            load_ms: 20_000,
            settle_ms: 20_000,
            tx_rate_per_s: 5.0,
            partitions: Vec::new(),
            cuts: CutSpec::default(),
            churn: ChurnSpec { interval_ms: 0, joins: 0, ..ChurnSpec::default() },
            crawl: Some(CrawlSpec::default()),
            ..base
        }
    }

    /// Consensus traffic under transaction load (stellar-core issue 2441, SCP delayed behind
    /// transactions): 33 nodes in a random 16-regular graph (every node relays with 16
    /// peers), 8 validators each broadcasting an SCP message every second, `tx_rate`
    /// transactions per second by pull mode for 10 s, a ledger every 5 s, clean 20–120 ms
    /// links. Compare the SCP propagation percentiles of `tx_rate` 0 (idle) and 5,000.
    pub fn scp_under_load(seed: u64, tx_rate: f64) -> Self {
        let base = Scenario::default();
        Scenario {
            seed,
            topology: Topology::RandomRegular { nodes: 33, degree: 16, validators: 8 },
            warmup_ms: 10_000,
            load_ms: 10_000,
            settle_ms: 20_000,
            tx_rate_per_s: tx_rate,
            scp_interval_ms: 1_000,
            max_tx_set_ops: 10_000,
            link: LinkProfile { loss_prob: 0.0, reset_prob: 0.0, ..base.link },
            partitions: Vec::new(),
            cuts: CutSpec::default(),
            churn: ChurnSpec { interval_ms: 0, joins: 0, ..ChurnSpec::default() },
            ..base
        }
    }

    /// Check that the scenario can run.
    pub fn validate(&self) -> Result<(), String> {
        self.topology.validate()?;
        self.link.validate()?;
        for o in &self.link_overrides {
            o.profile.validate()?;
            let n = self.topology.node_count();
            if o.a >= n || o.b >= n || o.a == o.b {
                return Err(format!("link override {}-{} names no pair of nodes", o.a, o.b));
            }
        }
        if !(self.tx_rate_per_s.is_finite() && self.tx_rate_per_s >= 0.0) {
            return Err("tx rate must be a finite number ≥ 0".into());
        }
        for p in &self.partitions {
            if !(0.0..=1.0).contains(&p.fraction) {
                return Err("partition fraction must be within [0, 1]".into());
            }
        }
        if !(0.0..=1.0).contains(&self.churn.crash_prob) || !(0.0..=1.0).contains(&self.misbehaviour.prob) {
            return Err("probabilities must be within [0, 1]".into());
        }
        if self.reach_deadline_ms == 0 || self.check_interval_ms == 0 {
            return Err("reach deadline and check interval must be positive".into());
        }
        if self.settle_ms < self.reach_deadline_ms {
            return Err(format!(
                "settle_ms ({}) must be at least reach_deadline_ms ({}) so that every delivery is checked",
                self.settle_ms, self.reach_deadline_ms
            ));
        }
        let m = &self.misbehaviour;
        let bad = m.bad_mac_nodes + m.garbage_nodes + m.overrun_nodes + u32::from(m.planted.is_some());
        if bad >= self.topology.node_count() {
            return Err("more misbehaving nodes than nodes".into());
        }
        if let Some(c) = &self.consensus {
            let validators = self.topology.validator_count();
            if validators < 2 {
                return Err("the consensus scenario needs at least 2 validators".into());
            }
            if self.scp_interval_ms > 0 || self.ledger_close_ms > 0 || self.tx_set_fetchers > 0 {
                return Err("the consensus scenario makes its own SCP messages and ledgers: \
                            SCP interval, ledger close and tx-set fetchers must be 0"
                    .into());
            }
            if c.slot_interval_ms == 0 || c.ballot_step_ms == 0 {
                return Err("slot interval and ballot step must be positive".into());
            }
            if c.quorum_threshold > validators {
                return Err(format!("quorum threshold {} over {validators} validators", c.quorum_threshold));
            }
        }
        if let Some(s) = &self.survey {
            if s.surveyor >= self.topology.node_count() {
                return Err(format!("the surveyor {} is not a node", s.surveyor));
            }
            if s.collect_ms == 0 || s.poll_ms == 0 {
                return Err("survey collect and poll times must be positive".into());
            }
        }
        if let Some(c) = &self.crawl {
            c.validate(self.topology.node_count(), self.load_ms, self.settle_ms)?;
        }
        if self.target_connections == 0 {
            return Err("target connections must be at least 1".into());
        }
        Ok(())
    }

    /// Total virtual length of the run, in ms.
    pub fn total_ms(&self) -> u64 {
        self.warmup_ms + self.load_ms + self.settle_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        assert_eq!(Scenario::default().topology.node_count(), 100);
        Scenario::default().validate().unwrap();
        Scenario::small_faulty(3).validate().unwrap();
        Scenario::bench(1_000, 10_000).validate().unwrap();
        Scenario::consensus_relay(1).validate().unwrap();
        Scenario::crawl(1).validate().unwrap();
        Scenario::survey(1).validate().unwrap();
        Scenario::scp_under_load(1, 5_000.0).validate().unwrap();
        assert_eq!(Scenario::survey(1).topology.node_count(), 50);
    }

    #[test]
    fn bad_values_are_refused() {
        let mut s = Scenario::small_faulty(1);
        s.link.loss_prob = 1.5;
        assert!(s.validate().is_err());
        let mut s = Scenario::small_faulty(1);
        s.settle_ms = 1;
        assert!(s.validate().is_err());
        let mut s = Scenario::small_faulty(1);
        s.misbehaviour.garbage_nodes = 10;
        assert!(s.validate().is_err());
        let mut s = Scenario::consensus_relay(1);
        s.scp_interval_ms = 1_000;
        assert!(s.validate().is_err(), "unsigned synthetic SCP rounds do not mix with validators");
    }
}
