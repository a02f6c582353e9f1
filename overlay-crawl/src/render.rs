//! A [`CrawlReport`] for people: a Graphviz DOT picture and a summary table.

use crate::results::{AddressStatus, CrawlReport, FailureKind};
use overlay_proto::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Characters of a node id shown in pictures and tables.
const SHORT_ID_CHARS: usize = 8;

fn short(id: &NodeId) -> String {
    let mut s = id.to_string();
    s.truncate(SHORT_ID_CHARS);
    s
}

/// A DOT string literal: quotes and backslashes escaped, control characters dropped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl CrawlReport {
    /// The map as a Graphviz digraph: a box per node (green if it accepted us, orange if
    /// it refused us) labelled with its short id, addresses and version; an arrow for every
    /// address a node advertised, to the node found there or to an ellipse for an address
    /// where none was (dashed, with the reason).
    pub fn to_dot(&self) -> String {
        let mut out = String::new();
        let seeds: Vec<String> = self.seeds.iter().map(|s| s.to_string()).collect();
        let title = format!(
            "crawl from {}: {} nodes ({} accepted us), {} edges, {} failed",
            seeds.join(" "),
            self.totals.nodes,
            self.totals.accepted,
            self.totals.edges,
            self.totals.failures
        );
        let _ = writeln!(out, "digraph crawl {{");
        let _ = writeln!(out, "  graph [label={}, labelloc=t, overlap=false, splines=true];", quoted(&title));
        let _ = writeln!(out, "  node [shape=box, fontname=\"monospace\", fontsize=10];");
        for n in &self.nodes {
            let addresses: Vec<String> = n.addresses.iter().map(|a| a.to_string()).collect();
            let label = format!("{}\n{}\n{}", short(&n.node_id), addresses.join("\n"), n.version_str);
            let color = if n.accepted { "#d8f0d0" } else { "#f6d8b8" };
            let _ = writeln!(
                out,
                "  {} [label={}, style=filled, fillcolor=\"{color}\"];",
                quoted(&n.node_id.to_string()),
                quoted(&label)
            );
        }
        let reasons: BTreeMap<String, &str> =
            self.failures.iter().map(|f| (f.address.to_string(), f.kind.name())).collect();
        let mut drawn = BTreeSet::new();
        for e in &self.edges {
            let from = quoted(&e.from.to_string());
            match &e.to_node {
                Some(to) => {
                    let _ = writeln!(out, "  {from} -> {};", quoted(&to.to_string()));
                }
                None => {
                    let to = e.to.to_string();
                    if drawn.insert(to.clone()) {
                        let why = reasons.get(&to).copied().unwrap_or_else(|| {
                            match self.addresses.iter().find(|a| a.address == e.to).map(|a| a.status) {
                                Some("own") => "the crawler",
                                Some(other) => other,
                                None => "forgotten",
                            }
                        });
                        let label = format!("{to}\n{why}");
                        let _ = writeln!(
                            out,
                            "  {} [label={}, shape=ellipse, style=dashed, color=gray50, fontcolor=gray30];",
                            quoted(&to),
                            quoted(&label)
                        );
                    }
                    let _ = writeln!(out, "  {from} -> {} [style=dashed, color=gray50];", quoted(&to));
                }
            }
        }
        // Failed addresses no node advertised (seeds): alone, with their reason.
        for f in self.failures.iter().filter(|f| f.node_id.is_none()) {
            let to = f.address.to_string();
            if drawn.insert(to.clone()) {
                let label = format!("{to}\n{}", f.kind.name());
                let _ = writeln!(
                    out,
                    "  {} [label={}, shape=ellipse, style=dashed, color=gray50, fontcolor=gray30];",
                    quoted(&to),
                    quoted(&label)
                );
            }
        }
        let _ = writeln!(out, "}}");
        out
    }

    /// A summary for a terminal: totals, one line per node (at most `max_rows`, the rest
    /// counted), and the failures by kind with a few examples each.
    pub fn summary_table(&self, max_rows: usize) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "crawl: {} nodes ({} accepted us) at {} of {} addresses dialed ({} learned); {} edges; {} failed; {:.1} s{}",
            t.nodes,
            t.accepted,
            self.addresses.iter().filter(|a| a.status == "node" && a.dialed).count(),
            t.dialed,
            t.addresses,
            t.edges,
            t.failures,
            self.elapsed_ms as f64 / 1e3,
            match self.stopped_by {
                Some(r) => format!(" (stopped: {}, {} addresses not dialed)", r.text(), t.not_dialed),
                None => String::new(),
            }
        );
        if !self.nodes.is_empty() {
            let _ = writeln!(
                out,
                "{:<9} {:<22} {:<28} {:>7} {:>5}  verdict",
                "node", "address", "version", "overlay", "peers"
            );
        }
        for n in self.nodes.iter().take(max_rows) {
            let address = n.addresses.first().map(|a| a.to_string()).unwrap_or_default();
            let mut version = n.version_str.clone();
            if version.chars().count() > 28 {
                version = version.chars().take(27).collect::<String>() + "…";
            }
            let peers = n.peers.map_or("-".to_string(), |p| p.to_string());
            let overlay = format!("{}-{}", n.overlay_min_version, n.overlay_version);
            let _ = writeln!(
                out,
                "{:<9} {:<22} {:<28} {:>7} {:>5}  {}",
                short(&n.node_id),
                address,
                version,
                overlay,
                peers,
                n.verdict
            );
        }
        if self.nodes.len() > max_rows {
            let _ = writeln!(out, "... and {} more nodes (see --json)", self.nodes.len() - max_rows);
        }
        let mut by_kind: BTreeMap<FailureKind, Vec<String>> = BTreeMap::new();
        for f in &self.failures {
            by_kind.entry(f.kind).or_default().push(format!("{} ({})", f.address, f.reason));
        }
        if !by_kind.is_empty() {
            let _ = writeln!(out, "failures:");
        }
        for (kind, list) in by_kind {
            let shown: Vec<&str> = list.iter().take(3).map(String::as_str).collect();
            let more = if list.len() > 3 { format!(", ... {} more", list.len() - 3) } else { String::new() };
            let _ = writeln!(out, "  {:<16} {:>5}  {}{more}", kind.name(), list.len(), shown.join(", "));
        }
        out
    }
}

impl AddressStatus {
    /// Its JSON name.
    pub fn name(self) -> &'static str {
        match self {
            AddressStatus::Queued => "queued",
            AddressStatus::Dialing => "dialing",
            AddressStatus::Node { .. } => "node",
            AddressStatus::Failed(_) => "failed",
            AddressStatus::Own => "own",
            AddressStatus::NotDialed(_) => "not_dialed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn dot_strings_are_escaped() {
        assert_eq!(quoted("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\"");
    }
}
