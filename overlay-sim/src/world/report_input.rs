//! Report assembly: what the world measured, handed to [`crate::report`].

use super::{START, World};
use crate::invariants::SimulatedNode;
use crate::network::NodeIndex;
use crate::report::Report;
use overlay_node::DropReason;
use std::collections::BTreeMap;

impl World {
    /// Propagation latency histograms of transactions and SCP messages.
    pub fn latency_histograms(&self) -> (&crate::histogram::Histogram, &crate::histogram::Histogram) {
        (&self.log.tx.latency, &self.log.scp.latency)
    }

    /// The report of the run so far.
    pub fn report(&self) -> Report {
        crate::report::build(self.report_input())
    }

    pub(super) fn report_input(&self) -> crate::report::Input<'_> {
        let now = self.q.now();
        let mut metrics = self.stats.metrics_closed.clone();
        let mut demand_timeouts = self.stats.demand_timeouts_closed;
        let mut demand_abandoned = self.stats.demand_abandoned_closed;
        for sn in &self.nodes {
            let Some(live) = sn.live.as_deref() else { continue };
            for (name, v) in live.node.metrics() {
                *metrics.entry(name).or_insert(0) += v;
            }
            let d = live.node.pull_mode().demand_metrics();
            demand_timeouts += d.timeouts;
            demand_abandoned += d.abandoned;
        }
        let per_node = self
            .nodes
            .iter()
            .map(|sn| crate::report::NodeTraffic {
                sent: sn.sent,
                received: sn.received,
                uptime_s: (sn.uptime_ns + sn.up_since.map_or(0, |t| now.saturating_duration_since(t).as_nanos() as u64))
                    as f64
                    / 1e9,
                honest: sn.is_honest(),
            })
            .collect();
        let mut misbehaving = BTreeMap::new();
        for (i, sn) in self.nodes.iter().enumerate() {
            if let Some(m) = sn.misbehaviour {
                let name = format!("{}{}", m.kind.name(), if m.declared { "" } else { " (planted)" });
                misbehaving.entry(name).or_insert_with(Vec::new).push(i as NodeIndex);
            }
        }
        crate::report::Input {
            scenario: &self.sc,
            trace_hash: self.trace,
            virtual_ms: now.saturating_duration_since(START).as_millis() as u64,
            events: self.q.popped(),
            initial_nodes: self.initial_nodes,
            joined: self.stats.joins,
            live_at_end: self.nodes.iter().filter(|n| n.live.is_some()).count(),
            stops: self.stats.stops,
            crashes: self.stats.crashes,
            restarts: self.stats.restarts,
            misbehaving,
            log: &self.log,
            per_node,
            metrics,
            demand_timeouts,
            demand_abandoned,
            get_tx_set_sent: self.stats.get_tx_set_sent,
            dials: self.stats.dials,
            dial_failures: self.stats.dial_failures,
            established: self.stats.established,
            dropped: self.stats.dropped,
            drop_reasons: &self.stats.drop_reasons,
            links: self.stats.link,
            partitions: self.stats.partitions,
            cuts: self.stats.cuts,
            misbehaving_dropped: self.stats.misbehaving_dropped,
            overruns: self.stats.overruns,
            checks: self.checks_made(),
            consensus: self.consensus_report(),
            crawl: self.crawl_outcome(),
            survey: self.survey_report(),
        }
    }
}

/// Node metrics that are levels, not counts (not summed over stopped incarnations).
pub(super) fn is_gauge(name: &str) -> bool {
    name.starts_with("overlay.connection.")
}

/// What a node dropped for load (outbound queue shedding, incoming adverts over the limit):
/// a message lost that way may legitimately miss nodes.
pub(super) fn shed_of(node: &SimulatedNode) -> u64 {
    let queue = node.metrics().into_iter().find(|(n, _)| *n == "overlay.outbound-queue.drop").map_or(0, |(_, v)| v);
    queue + node.pull_mode().metrics().incoming_dropped
}

/// A drop reason for the report: stellar-core's wording without the numbers and node ids
/// it may carry, so that reasons group.
pub(super) fn reason_name(reason: &DropReason) -> String {
    let text = reason.text();
    let cut = text.find(|c: char| c == ':' || c.is_ascii_digit()).unwrap_or(text.len());
    let words: Vec<&str> = text[..cut]
        .split(' ')
        .filter(|w| {
            let w = w.trim_matches(|c: char| c == ')' || c == '*' || c == '(');
            !(w.len() >= 2 && w.starts_with('G') && w.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        })
        .collect();
    let mut name = words.join(" ").trim_end().trim_end_matches('*').to_string();
    if name.contains('(') && !name.contains(')') {
        name.push(')');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_drop_numbers() {
        assert_eq!(reason_name(&DropReason::IdleTimeout), "idle timeout");
        assert_eq!(reason_name(&DropReason::Io("unable to connect: connection refused".into())), "unable to connect");
        assert_eq!(
            reason_name(&DropReason::Io("ERR_CONF (already*connected peer* GBJVBXYZ)".into())),
            "ERR_CONF (already*connected peer)"
        );
    }
}
