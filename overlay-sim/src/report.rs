//! [`Report`]: what a run measured, as text for people and JSON for programs.
//!
//! The JSON holds only what the run computed from its scenario and seed, so the same
//! scenario and seed give byte-identical JSON. Wall-clock figures (run time, events per
//! second) are printed with the text only.

use crate::consensus::report::ConsensusReport;
use crate::crawl::CrawlOutcome;
use crate::histogram::Percentiles;
use crate::link::LinkStats;
use crate::network::NodeIndex;
use crate::scenario::Scenario;
use crate::survey::SurveyReport;
use crate::tap::{ClassCounters, TrafficClass};
use crate::world::log::{KindStats, MessageLog};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Traffic of one node.
#[derive(Debug, Clone, Copy)]
pub struct NodeTraffic {
    /// Written, by class.
    pub sent: ClassCounters,
    /// Delivered to it, by class.
    pub received: ClassCounters,
    /// Seconds it ran.
    pub uptime_s: f64,
    /// Not a declared misbehaving node.
    pub honest: bool,
}

/// What the world hands over to build a report.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Hash of the sequence of events handled.
    pub trace_hash: u64,
    /// Virtual length, ms.
    pub virtual_ms: u64,
    /// Events handled.
    pub events: u64,
    /// Nodes of the topology.
    pub initial_nodes: usize,
    /// Nodes that joined later.
    pub joined: u64,
    /// Nodes running at the end.
    pub live_at_end: usize,
    /// Stops (shutdowns and crashes).
    pub stops: u64,
    /// Crashes among them.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Misbehaving nodes by kind.
    pub misbehaving: BTreeMap<String, Vec<NodeIndex>>,
    /// Messages and fetches.
    pub log: &'a MessageLog,
    /// Traffic per node.
    pub per_node: Vec<NodeTraffic>,
    /// Node metrics summed over nodes and incarnations.
    pub metrics: BTreeMap<&'static str, u64>,
    /// Demands to a second or later peer.
    pub demand_timeouts: u64,
    /// Demands given up.
    pub demand_abandoned: u64,
    /// GET_TX_SET messages written, read on the wire.
    pub get_tx_set_sent: u64,
    /// Dials.
    pub dials: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Connections authenticated on both ends.
    pub established: u64,
    /// Of those, ended.
    pub dropped: u64,
    /// Drop reasons reported by nodes.
    pub drop_reasons: &'a BTreeMap<String, u64>,
    /// Link counters.
    pub links: LinkStats,
    /// Partitions.
    pub partitions: u64,
    /// Cuts.
    pub cuts: u64,
    /// Connections on which a declared misbehaving peer overran its grant.
    pub overruns: u64,
    /// Of those, dropped by the honest side within 15 s.
    pub misbehaving_dropped: u64,
    /// Invariant checks made.
    pub checks: BTreeMap<&'static str, u64>,
    /// The consensus-relay scenario's measurements.
    pub consensus: Option<ConsensusReport>,
    /// The crawl scenario's outcome.
    pub crawl: Option<CrawlOutcome>,
    /// The survey scenario's outcome.
    pub survey: Option<SurveyReport>,
}

/// Delivery of one kind of flooded message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodReport {
    /// Broadcast by the scenario.
    pub broadcast: u64,
    /// Receipts at other nodes (first per node).
    pub receipts: u64,
    /// Delivery checks passed.
    pub checked: u64,
    /// Checks skipped because nodes shed load meanwhile.
    pub exempt_load_shed: u64,
    /// From broadcast to receipt at each node.
    pub latency_ms: Percentiles,
    /// From broadcast to the last node that had to get it.
    pub coverage_ms: Percentiles,
}

impl FloodReport {
    fn of(k: &KindStats) -> FloodReport {
        FloodReport {
            broadcast: k.broadcast,
            receipts: k.receipts,
            checked: k.checked,
            exempt_load_shed: k.exempt_load_shed,
            latency_ms: k.latency.percentiles(),
            coverage_ms: k.coverage.percentiles(),
        }
    }
}

/// Tx-set fetching.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchReport {
    /// Fetches started.
    pub started: u64,
    /// Completed.
    pub completed: u64,
    /// From the fetch to the set's arrival.
    pub latency_ms: Percentiles,
    /// Moves to the next peer (timeout or DONT_HAVE), `overlay.item-fetcher.next-peer`.
    pub next_peer: u64,
    /// GET_TX_SET messages written by all nodes, read on the wire: a fetch asks one peer at a
    /// time, so requests beyond one per fetch are moves to the next peer.
    pub requests: u64,
}

/// Bandwidth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandwidthReport {
    /// Bytes written per node per second of its uptime, by class, averaged over honest
    /// nodes.
    pub sent_bytes_per_node_per_s: BTreeMap<&'static str, f64>,
    /// All classes: mean over honest nodes.
    pub sent_total_mean_bytes_per_s: f64,
    /// All classes: the busiest node.
    pub sent_total_max_bytes_per_s: f64,
    /// Per node (by index): bytes written per second of uptime, by class.
    pub per_node_bytes_per_s: Vec<BTreeMap<&'static str, f64>>,
    /// Bytes written, all nodes, by class.
    pub sent_bytes_total: BTreeMap<&'static str, u64>,
    /// Frames written, all nodes, by class.
    pub sent_frames_total: BTreeMap<&'static str, u64>,
}

/// Flooding efficiency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloodingReport {
    /// Flooded messages received for the first time (`overlay.flood.unique-recv`).
    pub unique_recv: u64,
    /// Received again (`overlay.flood.duplicate-recv`).
    pub duplicate_recv: u64,
    /// duplicate / (unique + duplicate).
    pub duplicate_ratio: f64,
    /// Hashes advertised (`overlay.flood.advertised`).
    pub advertised: u64,
    /// Hashes demanded (`overlay.flood.demanded`).
    pub demanded: u64,
    /// Transactions sent for demands (`overlay.flood.fulfilled`).
    pub fulfilled: u64,
    /// Demands to a second or later peer (`overlay.demand.timeout`): retries.
    pub demand_retries: u64,
    /// Demands given up (`overlay.flood.abandoned-demands`).
    pub demands_abandoned: u64,
}

/// Connections.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionReport {
    /// Dials.
    pub dials: u64,
    /// Dials refused or timed out.
    pub dial_failures: u64,
    /// Connections authenticated on both ends.
    pub established: u64,
    /// Of those, ended.
    pub dropped: u64,
    /// Why nodes dropped connections (every drop, pending ones included).
    pub drop_reasons: BTreeMap<String, u64>,
}

/// Nodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodesReport {
    /// Nodes of the topology.
    pub initial: usize,
    /// Joined later.
    pub joined: u64,
    /// Running at the end.
    pub live_at_end: usize,
    /// Stops.
    pub stops: u64,
    /// Of which crashes.
    pub crashes: u64,
    /// Restarts.
    pub restarts: u64,
    /// Misbehaving nodes by kind.
    pub misbehaving: BTreeMap<String, Vec<NodeIndex>>,
    /// Connections on which a declared misbehaving peer overran its grant.
    pub overrun_connections: u64,
    /// Of those, dropped by the honest side within 15 s (an overrun is only noticed when
    /// processing falls behind, §6.2).
    pub overrun_connections_dropped: u64,
}

/// Faults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultReport {
    /// Link counters.
    pub links: LinkStats,
    /// Partitions.
    pub partitions: u64,
    /// Link cuts.
    pub cuts: u64,
}

/// Everything a run measured. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The run seed.
    pub seed: u64,
    /// Hash of the events handled, in order (hex): equal hashes, equal runs.
    pub trace_hash: String,
    /// Virtual length, ms.
    pub virtual_ms: u64,
    /// Events handled.
    pub events: u64,
    /// Nodes.
    pub nodes: NodesReport,
    /// Transactions (pull mode).
    pub transactions: FloodReport,
    /// SCP messages (push).
    pub scp: FloodReport,
    /// Tx-set fetches.
    pub tx_set_fetch: FetchReport,
    /// Validators reaching each other through relays (the consensus-relay scenario only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus: Option<ConsensusReport>,
    /// Which nodes a crawl from seed nodes found, and why any were not (the crawl scenario
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlOutcome>,
    /// Who answered a survey of the whole network (the survey scenario only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyReport>,
    /// Bandwidth.
    pub bandwidth: BandwidthReport,
    /// Duplicates, demands and retries.
    pub flooding: FloodingReport,
    /// Connections.
    pub connections: ConnectionReport,
    /// Faults.
    pub faults: FaultReport,
    /// Invariant checks made, by kind.
    pub invariant_checks: BTreeMap<&'static str, u64>,
    /// Node metrics summed over all nodes and incarnations (levels: at the end).
    pub node_metrics: BTreeMap<&'static str, u64>,
    /// The scenario.
    pub scenario: Scenario,
}

fn round3(x: f64) -> f64 {
    (x * 1_000.0).round() / 1_000.0
}

/// Build the report.
pub(crate) fn build(input: Input<'_>) -> Report {
    let metric = |name: &str| input.metrics.get(name).copied().unwrap_or(0);
    let mut per_class_sum = BTreeMap::new();
    let mut sent_total = BTreeMap::new();
    let mut frames_total = BTreeMap::new();
    let mut per_node = Vec::with_capacity(input.per_node.len());
    let (mut honest, mut total_sum, mut total_max) = (0usize, 0.0f64, 0.0f64);
    for n in &input.per_node {
        let mut mine = BTreeMap::new();
        let up = n.uptime_s.max(1e-9);
        for c in TrafficClass::ALL {
            let b = n.sent.bytes[c.index()];
            *sent_total.entry(c.name()).or_insert(0u64) += b;
            *frames_total.entry(c.name()).or_insert(0u64) += n.sent.frames[c.index()];
            let rate = if n.uptime_s > 0.0 { b as f64 / up } else { 0.0 };
            mine.insert(c.name(), round3(rate));
            if n.honest && n.uptime_s > 0.0 {
                *per_class_sum.entry(c.name()).or_insert(0.0) += rate;
            }
        }
        if n.honest && n.uptime_s > 0.0 {
            honest += 1;
            let t = n.sent.total_bytes() as f64 / up;
            total_sum += t;
            total_max = total_max.max(t);
        }
        per_node.push(mine);
    }
    let mean = |s: f64| if honest == 0 { 0.0 } else { round3(s / honest as f64) };
    let unique = metric("overlay.flood.unique-recv");
    let duplicate = metric("overlay.flood.duplicate-recv");
    Report {
        seed: input.scenario.seed,
        trace_hash: format!("{:016x}", input.trace_hash),
        virtual_ms: input.virtual_ms,
        events: input.events,
        nodes: NodesReport {
            initial: input.initial_nodes,
            joined: input.joined,
            live_at_end: input.live_at_end,
            stops: input.stops,
            crashes: input.crashes,
            restarts: input.restarts,
            misbehaving: input.misbehaving,
            overrun_connections: input.overruns,
            overrun_connections_dropped: input.misbehaving_dropped,
        },
        transactions: FloodReport::of(&input.log.tx),
        scp: FloodReport::of(&input.log.scp),
        tx_set_fetch: FetchReport {
            started: input.log.fetch.started,
            completed: input.log.fetch.completed,
            latency_ms: input.log.fetch.latency.percentiles(),
            next_peer: input.metrics.get("overlay.item-fetcher.next-peer").copied().unwrap_or(0),
            requests: input.get_tx_set_sent,
        },
        consensus: input.consensus,
        crawl: input.crawl,
        survey: input.survey,
        bandwidth: BandwidthReport {
            sent_bytes_per_node_per_s: per_class_sum.into_iter().map(|(k, v)| (k, mean(v))).collect(),
            sent_total_mean_bytes_per_s: mean(total_sum),
            sent_total_max_bytes_per_s: round3(total_max),
            per_node_bytes_per_s: per_node,
            sent_bytes_total: sent_total,
            sent_frames_total: frames_total,
        },
        flooding: FloodingReport {
            unique_recv: unique,
            duplicate_recv: duplicate,
            duplicate_ratio: if unique + duplicate == 0 {
                0.0
            } else {
                round3(duplicate as f64 / (unique + duplicate) as f64 * 1_000.0) / 1_000.0
            },
            advertised: metric("overlay.flood.advertised"),
            demanded: metric("overlay.flood.demanded"),
            fulfilled: metric("overlay.flood.fulfilled"),
            demand_retries: input.demand_timeouts,
            demands_abandoned: input.demand_abandoned,
        },
        connections: ConnectionReport {
            dials: input.dials,
            dial_failures: input.dial_failures,
            established: input.established,
            dropped: input.dropped,
            drop_reasons: input.drop_reasons.clone(),
        },
        faults: FaultReport { links: input.links, partitions: input.partitions, cuts: input.cuts },
        invariant_checks: input.checks,
        node_metrics: input.metrics,
        scenario: input.scenario.clone(),
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b:.0} B")
    }
}

fn fmt_p(p: &Percentiles) -> String {
    format!(
        "p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (n = {})",
        p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms, p.count
    )
}

impl Report {
    /// The JSON form (pretty-printed, keys in a fixed order).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The text form.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let n = &self.nodes;
        let _ = writeln!(s, "overlay-sim report  (seed {}, trace {})", self.seed, self.trace_hash);
        let _ = writeln!(
            s,
            "  {:.1} s virtual, {} events; {} nodes (+{} joined, {} running at the end); {} stops ({} crashes), {} restarts",
            self.virtual_ms as f64 / 1e3,
            self.events,
            n.initial,
            n.joined,
            n.live_at_end,
            n.stops,
            n.crashes,
            n.restarts
        );
        for (kind, nodes) in &n.misbehaving {
            let _ = writeln!(s, "  misbehaving: {kind}: nodes {nodes:?}");
        }
        for (name, f) in [("transactions", &self.transactions), ("scp messages", &self.scp)] {
            let _ = writeln!(
                s,
                "\n{name}: {} broadcast, {} receipts, {} deliveries checked ({} exempt: load shed)",
                f.broadcast, f.receipts, f.checked, f.exempt_load_shed
            );
            let _ = writeln!(s, "  propagation latency  {}", fmt_p(&f.latency_ms));
            let _ = writeln!(s, "  time to reach all    {}", fmt_p(&f.coverage_ms));
        }
        let t = &self.tx_set_fetch;
        let _ = writeln!(
            s,
            "\ntx-set fetches: {} started, {} completed, {} moves to the next peer; {} GET_TX_SET written",
            t.started, t.completed, t.next_peer, t.requests
        );
        let _ = writeln!(s, "  fetch latency        {}", fmt_p(&t.latency_ms));
        let b = &self.bandwidth;
        let _ = writeln!(
            s,
            "\nbandwidth sent per node: mean {}/s, busiest node {}/s",
            fmt_bytes(b.sent_total_mean_bytes_per_s),
            fmt_bytes(b.sent_total_max_bytes_per_s)
        );
        for (class, v) in &b.sent_bytes_per_node_per_s {
            if *v > 0.0 {
                let _ = writeln!(s, "  {class:<13} {:>12}/s", fmt_bytes(*v));
            }
        }
        let f = &self.flooding;
        let _ = writeln!(
            s,
            "\nflooding: {} unique, {} duplicate receipts (duplicate ratio {:.4}); {} hashes advertised, {} demanded, {} fulfilled, {} demand retries, {} abandoned",
            f.unique_recv,
            f.duplicate_recv,
            f.duplicate_ratio,
            f.advertised,
            f.demanded,
            f.fulfilled,
            f.demand_retries,
            f.demands_abandoned
        );
        let c = &self.connections;
        let _ = writeln!(
            s,
            "\nconnections: {} dials ({} failed), {} made, {} dropped",
            c.dials, c.dial_failures, c.established, c.dropped
        );
        let mut reasons: Vec<_> = c.drop_reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (r, k) in reasons.iter().take(12) {
            let _ = writeln!(s, "  {k:>8}  {r}");
        }
        let l = &self.faults.links;
        let _ = writeln!(
            s,
            "\nfaults: {} partitions, {} cuts; links: {} chunks, {} losses, {} resets, {} duplicated, {} reordered, {} corrupted ({} in a record mark), {} held",
            self.faults.partitions,
            self.faults.cuts,
            l.chunks,
            l.losses,
            l.resets,
            l.duplicated_frames,
            l.reordered_frames,
            l.corrupted_chunks,
            l.corrupted_record_marks,
            l.held_chunks
        );
        if n.overrun_connections > 0 {
            let _ = writeln!(
                s,
                "  connections a misbehaving peer overran: {}, dropped by the honest side within 15 s: {}",
                n.overrun_connections, n.overrun_connections_dropped
            );
        }
        if let Some(c) = &self.consensus {
            s.push_str(&c.to_text());
        }
        if let Some(c) = &self.crawl {
            s.push_str(&c.to_text());
        }
        if let Some(v) = &self.survey {
            s.push_str(&v.to_text());
        }
        let _ = writeln!(s, "\ninvariants: all held");
        for (k, v) in &self.invariant_checks {
            let _ = writeln!(s, "  {v:>12}  {k}");
        }
        s
    }
}
