//! The network a survey drew: its nodes (with the data each reported), its links (with the
//! statistics each end reported), the nodes that never answered; as JSON, as a Graphviz DOT
//! picture, and as a summary table.

use overlay_admin::survey::{node_data, peer};
use overlay_node::survey::SurveyResults;
use overlay_proto::NodeId;
use overlay_proto::xdr::{TimeSlicedNodeData, TimeSlicedPeerData};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// One node of the map.
#[derive(Debug, Clone, Default)]
pub struct MapNode {
    /// What it reported, if it answered.
    pub data: Option<TimeSlicedNodeData>,
    /// Whether it was asked.
    pub asked: bool,
    /// Whether its answer did not open or decode.
    pub bad_response: bool,
    /// Whether it is the surveyor (which does not ask itself).
    pub surveyor: bool,
}

/// One connection: `from` dialed `to`. Each end's report of it, where that end answered.
#[derive(Debug, Clone, Default)]
pub struct Link {
    /// The dialer's report (an entry of its outbound peers: what it read from and wrote to
    /// `to`).
    pub from_side: Option<TimeSlicedPeerData>,
    /// The acceptor's report (an entry of its inbound peers).
    pub to_side: Option<TimeSlicedPeerData>,
}

/// The map of one survey.
#[derive(Debug, Clone)]
pub struct SurveyMap {
    /// Who ran it.
    pub surveyor: NodeId,
    /// Its nonce.
    pub nonce: u32,
    /// How long the network collected.
    pub collect_secs: u64,
    /// Every node answering, asked or named by an answer.
    pub nodes: BTreeMap<NodeId, MapNode>,
    /// Every link an answer named, by (dialer, acceptor).
    pub links: BTreeMap<(NodeId, NodeId), Link>,
}

impl SurveyMap {
    /// The map of `results`: `asked` are the nodes the survey asked.
    pub fn build(
        surveyor: NodeId,
        nonce: u32,
        collect_secs: u64,
        results: &SurveyResults,
        asked: &BTreeSet<NodeId>,
    ) -> Self {
        let mut map = SurveyMap { surveyor, nonce, collect_secs, nodes: BTreeMap::new(), links: BTreeMap::new() };
        map.nodes.entry(surveyor).or_default().surveyor = true;
        for id in asked {
            map.nodes.entry(*id).or_default().asked = true;
        }
        for id in &results.bad_responses {
            map.nodes.entry(*id).or_default().bad_response = true;
        }
        for (id, report) in &results.nodes {
            map.nodes.entry(*id).or_default().data = Some(report.node.clone());
            for p in &report.outbound {
                let other = NodeId::from_xdr(&p.peer_stats.id);
                map.nodes.entry(other).or_default();
                map.links.entry((*id, other)).or_default().from_side = Some(p.clone());
            }
            for p in &report.inbound {
                let other = NodeId::from_xdr(&p.peer_stats.id);
                map.nodes.entry(other).or_default();
                map.links.entry((other, *id)).or_default().to_side = Some(p.clone());
            }
        }
        map
    }

    /// The nodes other than the surveyor without an answer (asked or only named).
    pub fn unanswered(&self) -> Vec<NodeId> {
        self.nodes.iter().filter(|(_, n)| !n.surveyor && n.data.is_none()).map(|(id, _)| *id).collect()
    }

    /// How many nodes answered.
    pub fn answered(&self) -> usize {
        self.nodes.values().filter(|n| n.data.is_some()).count()
    }

    /// The map as JSON: `nodes` (each with `id`, `surveyor`, `asked`, `answered`,
    /// `bad_response` and the `data` it reported, under stellar-core's names), `links` (`from`
    /// dialed `to`; `from_side` and `to_side` are each end's statistics of the link, `null`
    /// where that end did not answer), `unanswered`, and `totals`.
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|(id, n)| {
                json!({
                    "id": id.to_string(),
                    "surveyor": n.surveyor,
                    "asked": n.asked,
                    "answered": n.data.is_some(),
                    "bad_response": n.bad_response,
                    "data": n.data.as_ref().map(|d| Value::Object(node_data(d))),
                })
            })
            .collect();
        let links: Vec<Value> = self
            .links
            .iter()
            .map(|((from, to), l)| {
                json!({
                    "from": from.to_string(),
                    "to": to.to_string(),
                    "from_side": l.from_side.as_ref().map(peer),
                    "to_side": l.to_side.as_ref().map(peer),
                })
            })
            .collect();
        let unanswered: Vec<String> = self.unanswered().iter().map(ToString::to_string).collect();
        json!({
            "surveyor": self.surveyor.to_string(),
            "nonce": self.nonce,
            "collect_secs": self.collect_secs,
            "totals": {
                "nodes": self.nodes.len(),
                "answered": self.answered(),
                "unanswered": unanswered.len(),
                "links": self.links.len(),
            },
            "nodes": nodes,
            "links": links,
            "unanswered": unanswered,
        })
    }

    /// The map as a Graphviz DOT picture: an arrow from the dialer to the acceptor, labelled
    /// with the link's latency where measured; the surveyor a double circle, validators boxes,
    /// nodes that never answered dashed and grey. Labels are the first five characters of the
    /// key; the tooltip is the whole key.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph survey {\n  graph [overlap=false, splines=true];\n");
        out.push_str("  node [fontname=\"monospace\", shape=ellipse];\n  edge [fontsize=9];\n");
        for (id, n) in &self.nodes {
            let mut attrs = vec![format!("label=\"{}\"", id.short()), format!("tooltip=\"{id}\"")];
            match &n.data {
                _ if n.surveyor => attrs.push("shape=doublecircle".into()),
                Some(d) if d.is_validator => attrs.push("shape=box".into()),
                Some(_) => {}
                None => attrs.push("style=dashed, color=grey, fontcolor=grey".into()),
            }
            let _ = writeln!(out, "  \"{id}\" [{}];", attrs.join(", "));
        }
        for ((from, to), l) in &self.links {
            // 0 is also what a node reports when it measured nothing.
            let latency = [&l.from_side, &l.to_side]
                .into_iter()
                .flatten()
                .map(|p| p.average_latency_ms)
                .max()
                .filter(|ms| *ms > 0);
            match latency {
                Some(ms) => {
                    let _ = writeln!(out, "  \"{from}\" -> \"{to}\" [label=\"{ms} ms\"];");
                }
                None => {
                    let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
                }
            }
        }
        out.push_str("}\n");
        out
    }

    /// A table for people: one line per node (at most `rows`), then the totals.
    pub fn summary(&self, rows: usize) -> String {
        let mut out = format!("{:<56} {:>4} {:>4} {:>9} {:>8}\n", "node", "in", "out", "validator", "answered");
        for (id, n) in self.nodes.iter().take(rows) {
            let (inbound, outbound, validator) = match &n.data {
                Some(d) => (
                    d.total_inbound_peer_count.to_string(),
                    d.total_outbound_peer_count.to_string(),
                    if d.is_validator { "yes" } else { "no" },
                ),
                None => ("-".into(), "-".into(), "-"),
            };
            let answered = match (n.surveyor, n.data.is_some(), n.bad_response) {
                (true, _, _) => "surveyor",
                (_, true, _) => "yes",
                (_, _, true) => "bad",
                _ => "no",
            };
            let _ = writeln!(out, "{id:<56} {inbound:>4} {outbound:>4} {validator:>9} {answered:>8}");
        }
        if self.nodes.len() > rows {
            let _ = writeln!(out, "... and {} more (--json lists every node)", self.nodes.len() - rows);
        }
        let _ = writeln!(
            out,
            "{} nodes: {} answered, {} never answered; {} links",
            self.nodes.len(),
            self.answered(),
            self.unanswered().len(),
            self.links.len()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_auth::NodeIdentity;
    use overlay_node::survey::NodeReport;
    use overlay_proto::xdr::{PeerStats, StringM};

    fn id(seed: u8) -> NodeId {
        NodeIdentity::from_seed([seed; 32]).node_id()
    }

    fn link(to: NodeId, latency_ms: u32) -> TimeSlicedPeerData {
        TimeSlicedPeerData {
            peer_stats: PeerStats {
                id: to.to_xdr(),
                version_str: StringM::default(),
                messages_read: 5,
                messages_written: 6,
                bytes_read: 0,
                bytes_written: 0,
                seconds_connected: 1,
                unique_flood_bytes_recv: 0,
                duplicate_flood_bytes_recv: 0,
                unique_fetch_bytes_recv: 0,
                duplicate_fetch_bytes_recv: 0,
                unique_flood_message_recv: 0,
                duplicate_flood_message_recv: 0,
                unique_fetch_message_recv: 0,
                duplicate_fetch_message_recv: 0,
            },
            average_latency_ms: latency_ms,
        }
    }

    fn data(validator: bool) -> TimeSlicedNodeData {
        TimeSlicedNodeData {
            added_authenticated_peers: 0,
            dropped_authenticated_peers: 0,
            total_inbound_peer_count: 1,
            total_outbound_peer_count: 1,
            p75_scp_first_to_self_latency_ms: 0,
            p75_scp_self_to_other_latency_ms: 0,
            lost_sync_count: 0,
            is_validator: validator,
            max_inbound_peer_count: 64,
            max_outbound_peer_count: 8,
        }
    }

    /// The surveyor S dialed A; A dialed B; B answered, C (B's inbound peer) did not.
    #[test]
    fn both_ends_of_a_link_meet_and_silent_nodes_are_listed() {
        let (s, a, b, c) = (id(1), id(2), id(3), id(4));
        let mut results = SurveyResults::default();
        results
            .nodes
            .insert(a, NodeReport { node: data(false), inbound: vec![link(s, 3)], outbound: vec![link(b, 7)] });
        results
            .nodes
            .insert(b, NodeReport { node: data(true), inbound: vec![link(a, 9), link(c, 0)], outbound: vec![] });
        let map = SurveyMap::build(s, 42, 60, &results, &[a, b, c].into());

        assert_eq!(map.nodes.len(), 4);
        assert_eq!(map.unanswered(), vec![c]);
        assert_eq!(map.links.len(), 3);
        let ab = &map.links[&(a, b)];
        assert_eq!(ab.from_side.as_ref().unwrap().average_latency_ms, 7);
        assert_eq!(ab.to_side.as_ref().unwrap().average_latency_ms, 9);
        assert!(map.links[&(s, a)].from_side.is_none(), "the surveyor does not report");
        assert!(map.links[&(c, b)].to_side.is_some());

        let j = map.to_json();
        assert_eq!(j["totals"], json!({"nodes": 4, "answered": 2, "unanswered": 1, "links": 3}));
        assert_eq!(j["unanswered"], json!([c.to_string()]));
        let jb = j["nodes"].as_array().unwrap().iter().find(|n| n["id"] == b.to_string()).unwrap();
        assert_eq!(jb["data"]["isValidator"], true);
        assert_eq!(jb["data"]["maxInboundPeerCount"], 64);
        let jab = j["links"].as_array().unwrap().iter().find(|l| l["from"] == a.to_string()).unwrap();
        assert_eq!(jab["from_side"]["messagesRead"], 5);

        let dot = map.to_dot();
        assert!(dot.starts_with("digraph survey {"));
        assert!(dot.contains(&format!("\"{a}\" -> \"{b}\" [label=\"9 ms\"]")));
        assert!(dot.contains(&format!("\"{c}\" -> \"{b}\";\n")), "0 (nothing measured) is no label");
        assert!(dot.contains(&format!("\"{b}\" [label=\"{}\", tooltip=\"{b}\", shape=box]", b.short())));
        assert!(dot.contains(&format!("\"{s}\" [label=\"{}\", tooltip=\"{s}\", shape=doublecircle]", s.short())));
        assert!(map.summary(2).contains("... and 2 more"));
        assert!(map.summary(10).ends_with("4 nodes: 2 answered, 1 never answered; 3 links\n"));
    }
}
