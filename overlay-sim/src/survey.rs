//! The survey scenario: one node runs a time-sliced survey of the whole network
//! (PROTOCOL.md §12) as an operator would, and the report says who answered and why anyone
//! did not.
//!
//! Every node has the surveyor in its `SURVEYOR_KEYS`. At `start_ms` the surveyor starts
//! collecting; `collect_ms` later it stops and queues its own peers; every `poll_ms` it reads
//! its results and queues every node a response names (breadth-first), and the next page of
//! any list that came back full (25 peers), until the run ends. The simulator drives the
//! surveyor through the node's public API only; relaying, limits and answers are the
//! nodes' own.

use crate::network::NodeIndex;
use serde::Serialize;
use std::fmt::Write as _;

/// A survey run by one node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurveySpec {
    /// The surveyor's node index.
    pub surveyor: NodeIndex,
    /// The survey's nonce.
    pub nonce: u32,
    /// Collecting starts this long after the run starts (ms).
    pub start_ms: u64,
    /// Collecting lasts this long (ms).
    pub collect_ms: u64,
    /// The surveyor reads its results and queues requests this often (ms).
    pub poll_ms: u64,
}

impl Default for SurveySpec {
    fn default() -> Self {
        SurveySpec { surveyor: 0, nonce: 4242, start_ms: 15_000, collect_ms: 20_000, poll_ms: 5_000 }
    }
}

/// A node that did not answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unanswered {
    /// The node.
    pub node: NodeIndex,
    /// Why: see [`SurveyReport::unanswered`].
    pub reason: &'static str,
}

/// The survey scenario's part of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SurveyReport {
    /// The surveyor.
    pub surveyor: NodeIndex,
    /// Nodes in the network at the end, the surveyor apart.
    pub nodes: usize,
    /// Of those, reachable: up from before the START to the end without a restart, and
    /// connected to the surveyor (through any path) at the START and at the STOP.
    pub reachable: usize,
    /// Nodes that answered.
    pub answered: usize,
    /// Reachable nodes that answered.
    pub reachable_answered: usize,
    /// Requests queued at the surveyor (first pages and further pages).
    pub requests_queued: u64,
    /// Requests the surveyor refused to queue (duplicates, a full backlog).
    pub requests_refused: u64,
    /// Nodes whose response did not open or decode.
    pub bad_responses: usize,
    /// Directed links the responses report (inbound and outbound rows).
    pub links_reported: usize,
    /// Nodes listed with more than 25 peers in a list (so paged).
    pub paged_nodes: usize,
    /// Every node that did not answer, with the reason: `down at the end`, `restarted
    /// after the START` (a new incarnation takes part in no survey), `not connected to the
    /// surveyor at the START` or `…at the STOP` (it missed that message), `never named by
    /// a response` (the surveyor never learned of it), or `asked, no answer` (none of
    /// these: a loss the network should not have).
    pub unanswered: Vec<Unanswered>,
}

impl SurveyReport {
    /// The text part of the report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nsurvey (surveyor node {}): {} of {} reachable nodes answered ({} of {} nodes); {} requests \
             queued, {} refused, {} pages-over-25 nodes, {} links reported, {} bad responses",
            self.surveyor,
            self.reachable_answered,
            self.reachable,
            self.answered,
            self.nodes,
            self.requests_queued,
            self.requests_refused,
            self.paged_nodes,
            self.links_reported,
            self.bad_responses
        );
        for u in &self.unanswered {
            let _ = writeln!(s, "  node {:>4} did not answer: {}", u.node, u.reason);
        }
        s
    }
}
