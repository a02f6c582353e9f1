//! The crawl scenario: overlay-crawl's [`Crawler`](overlay_crawl::Crawler), the machine behind
//! `stellar-overlay crawl`, maps the simulated network from one or a few seed nodes, and the
//! report says which nodes it found and why any were not.
//!
//! The crawler is one more participant of the world (`world::crawl`), on the same virtual
//! clock and links, standing outside the simulated network: it has an address no node has,
//! listens nowhere (nodes that dial the address its HELLO gives time out, as for any address
//! nobody has), partitions and cuts do not apply to its links, and its links have the latency,
//! jitter, bandwidth and segment loss of the scenario's profile but no resets and no stream
//! damage (a crawl does not retry a visit). Nodes see an ordinary inbound peer.
//!
//! **The invariant.** A node is *reachable* from the seeds if it is a seed, or if a reachable
//! node admitted the crawler (the node's own `Connected` event on the crawler's connection)
//! while its peer database held the node's address with at most `MAX_FAILURES` failures, the
//! records a PEERS message is built from (PROTOCOL.md §10.4; a node holding more than 50 such
//! addresses sends a random sample, and then only the sample counts), or if a reachable node
//! named it in the PEERS it wrote to the crawler (read on the wire, on the node's side). Every
//! reachable node that ran from the crawl's start to its end without a restart, and did not
//! refuse the crawler's TCP connection for want of a pending slot, must be found (its HELLO
//! received); otherwise the run fails with the node and the reason, reproducibly by seed.

use crate::network::NodeIndex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A crawl of the simulated network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrawlSpec {
    /// The nodes whose addresses the crawl starts from.
    pub seeds: Vec<NodeIndex>,
    /// The crawl starts this long after the load phase begins (ms).
    pub start_ms: u64,
    /// Addresses dialed at most (`--max-nodes`).
    pub max_nodes: usize,
    /// Connections open at once.
    pub max_in_flight: usize,
    /// Least time between two dials to one host (ms).
    pub host_interval_ms: u64,
    /// Each of: TCP connection, handshake, wait for PEERS and the verdict (ms).
    pub timeout_ms: u64,
    /// The whole crawl (`--timeout`, ms); it must end within the run.
    pub deadline_ms: u64,
}

impl Default for CrawlSpec {
    fn default() -> Self {
        CrawlSpec {
            seeds: vec![0],
            start_ms: 0,
            max_nodes: 10_000,
            max_in_flight: 32,
            host_interval_ms: 200,
            timeout_ms: 5_000,
            deadline_ms: 30_000,
        }
    }
}

impl CrawlSpec {
    /// Check it against a network of `nodes` nodes and a run whose load phase lasts
    /// `load_ms` and settle phase `settle_ms`.
    pub fn validate(&self, nodes: u32, load_ms: u64, settle_ms: u64) -> Result<(), String> {
        if self.seeds.is_empty() {
            return Err("the crawl needs at least one seed".into());
        }
        if let Some(s) = self.seeds.iter().find(|s| **s >= nodes) {
            return Err(format!("crawl seed {s} is not a node"));
        }
        if self.max_nodes == 0 || self.max_in_flight == 0 || self.timeout_ms == 0 || self.deadline_ms == 0 {
            return Err("crawl bounds and timeouts must be positive".into());
        }
        if self.start_ms + self.deadline_ms >= load_ms + settle_ms {
            return Err(format!(
                "the crawl (start {} ms + deadline {} ms after the load starts) must end before the run does ({} ms)",
                self.start_ms,
                self.deadline_ms,
                load_ms + settle_ms
            ));
        }
        Ok(())
    }
}

/// A node the crawl did not find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    /// The node.
    pub node: NodeIndex,
    /// Why: `not running during the crawl`, `started`, `stopped` or `restarted during the
    /// crawl`, `refused the crawler's TCP connection (no pending inbound slot)`, `in no
    /// running node's peer database`, `known only to nodes that did not admit the crawler
    /// (...)`, `not advertised to the crawler (...)`, `not dialed: ...` (the crawl stopped
    /// first), or, for a reachable node, the crawler's failure at its address.
    pub why: String,
    /// Whether it was reachable from the seeds (see the [module docs](self)).
    pub reachable: bool,
}

/// The crawl scenario's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrawlOutcome {
    /// The seed nodes.
    pub seeds: Vec<NodeIndex>,
    /// When the crawl started, ms of virtual time since the run started.
    pub started_at_ms: u64,
    /// Whether it ended within the run.
    pub finished: bool,
    /// How long it took (virtual ms).
    pub elapsed_ms: u64,
    /// Nodes in the network when the crawl ended.
    pub nodes: usize,
    /// Nodes found (HELLO received).
    pub found: usize,
    /// Nodes reachable from the seeds (see the [module docs](self)).
    pub reachable: usize,
    /// Nodes that admitted the crawler (and so sent it their PEERS, if any).
    pub admitted: usize,
    /// Nodes that held more than 50 addresses to advertise (their PEERS are samples).
    pub sampled: usize,
    /// The crawler's own counts.
    pub crawl: overlay_crawl::Totals,
    /// The crawler's failures by kind.
    pub failures: BTreeMap<&'static str, usize>,
    /// Every node not found, with the reason.
    pub missed: Vec<Missed>,
}

impl CrawlOutcome {
    /// The text part of the report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let seeds: Vec<String> = self.seeds.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            s,
            "\ncrawl from node {} at {:.1} s: {} ({:.1} s of virtual time)",
            seeds.join(", "),
            self.started_at_ms as f64 / 1e3,
            if self.finished { "finished" } else { "NOT FINISHED by the end of the run" },
            self.elapsed_ms as f64 / 1e3
        );
        let _ = writeln!(
            s,
            "  found {} of {} nodes; {} reachable from the seeds; {} admitted the crawler{}",
            self.found,
            self.nodes,
            self.reachable,
            self.admitted,
            if self.sampled > 0 {
                format!("; {} sent a sample of their addresses", self.sampled)
            } else {
                String::new()
            }
        );
        let c = &self.crawl;
        let _ = writeln!(
            s,
            "  crawler: {} addresses learned, {} dialed, {} nodes ({} accepted us), {} edges, {} failures",
            c.addresses, c.dialed, c.nodes, c.accepted, c.edges, c.failures
        );
        for (kind, n) in &self.failures {
            let _ = writeln!(s, "    {n:>5}  {kind}");
        }
        if self.missed.is_empty() {
            let _ = writeln!(s, "  every node was found");
        }
        for m in &self.missed {
            let _ = writeln!(
                s,
                "  not found: node {} ({}reachable): {}",
                m.node,
                if m.reachable { "" } else { "not " },
                m.why
            );
        }
        s
    }
}
