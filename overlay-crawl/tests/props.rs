//! Properties of the crawler over random scripted networks: it ends, it finds exactly the
//! nodes reachable from its seeds through PEERS, it records every advertised address as an
//! edge, it keeps its bounds (connections at once, per host, pacing, dials, deadline), and a
//! crawl is a pure function of its inputs.

mod common;

use common::{Behaviour, Net, Remote, START, crawler_address};
use core::time::Duration;
use overlay_crawl::{CrawlConfig, CrawlReport, FailureKind, StopReason};
use overlay_proto::{NodeId, PeerAddress};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// 3 hosts × 4 ports.
const UNIVERSE: usize = 12;
/// Index of the crawler's own address in PEERS lists.
const OWN: usize = UNIVERSE;

fn address(i: usize) -> PeerAddress {
    if i == OWN {
        return crawler_address();
    }
    format!("10.0.0.{}:{}", i / 4 + 1, i % 4 + 1).parse().unwrap()
}

#[derive(Debug, Clone)]
struct Case {
    /// Per address: a behaviour kind (0 = nothing listens) and the PEERS it would send.
    remotes: Vec<(u8, Vec<usize>)>,
    seeds: Vec<usize>,
    max_in_flight: usize,
    host_max: usize,
    interval_ms: u64,
    max_nodes: usize,
    deadline_s: Option<u64>,
}

fn behaviour(kind: u8, peers: &[usize]) -> Option<Behaviour> {
    let list = || peers.iter().map(|&i| address(i)).collect::<Vec<_>>();
    Some(match kind {
        0 => return None,
        1..=4 => Behaviour::Accept(list()),
        5 => Behaviour::RejectAfterPeers(list()),
        6 => Behaviour::Reject,
        7 => Behaviour::Blackhole,
        8 => Behaviour::Silent,
        9 => Behaviour::OtherNetwork,
        _ => Behaviour::Mute,
    })
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec((0u8..=10, proptest::collection::vec(0..=OWN, 0..6)), UNIVERSE),
        proptest::collection::vec(0..UNIVERSE, 1..3),
        1usize..=4,
        1usize..=2,
        0u64..=400,
        prop_oneof![Just(100usize), 1usize..=12],
        prop_oneof![3 => Just(None), 1 => (1u64..=6).prop_map(Some)],
    )
        .prop_map(|(remotes, seeds, max_in_flight, host_max, interval_ms, max_nodes, deadline_s)| Case {
            remotes,
            seeds,
            max_in_flight,
            host_max,
            interval_ms,
            max_nodes,
            deadline_s,
        })
}

fn config(c: &Case) -> CrawlConfig {
    CrawlConfig {
        max_in_flight: c.max_in_flight,
        host_connections_max: c.host_max,
        host_interval: Duration::from_millis(c.interval_ms),
        max_nodes: c.max_nodes,
        connect_timeout: Duration::from_secs(2),
        handshake_timeout: Duration::from_secs(3),
        peers_wait: Duration::from_secs(1),
        deadline: c.deadline_s.map(Duration::from_secs),
        ..CrawlConfig::default()
    }
}

fn net(c: &Case) -> Net {
    let remotes = c.remotes.iter().enumerate().filter_map(|(i, (kind, peers))| {
        behaviour(*kind, peers).map(|b| (address(i), Remote { seed: i as u8 + 1, behaviour: b, listening_port: None }))
    });
    Net::new(remotes)
}

fn crawl(c: &Case) -> (Net, CrawlReport) {
    let mut n = net(c);
    let seeds: Vec<String> = c.seeds.iter().map(|&i| address(i).to_string()).collect();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let mut crawler = n.crawler(config(c), &seeds);
    let report = n.run(&mut crawler, 100_000);
    (n, report)
}

/// The addresses reachable from the seeds: a node that sends PEERS leads to its entries
/// (except our own address).
fn reachable(c: &Case) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<usize> = c.seeds.iter().copied().collect();
    while let Some(i) = queue.pop_front() {
        if !seen.insert(i) {
            continue;
        }
        let (kind, peers) = &c.remotes[i];
        if matches!(behaviour(*kind, peers), Some(Behaviour::Accept(_) | Behaviour::RejectAfterPeers(_))) {
            queue.extend(peers.iter().copied().filter(|&p| p != OWN));
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_crawl_keeps_its_bounds(c in case()) {
        let (n, r) = crawl(&c);
        prop_assert!(n.max_in_flight_seen <= c.max_in_flight);
        prop_assert!(n.max_per_host_seen <= c.host_max);
        prop_assert!(n.dials.len() <= c.max_nodes);
        prop_assert_eq!(r.totals.dialed, n.dials.len());
        let mut last: BTreeMap<String, overlay_proto::Timestamp> = BTreeMap::new();
        for d in &n.dials {
            let host = format!("{:?}", d.address.host);
            if let Some(t) = last.insert(host, d.at) {
                prop_assert!(d.at - t >= Duration::from_millis(c.interval_ms), "dials to one host too close");
            }
        }
        if let Some(s) = c.deadline_s {
            prop_assert!(n.now - START <= Duration::from_secs(s), "ended {:?} after the start", n.now - START);
        }
        prop_assert!(!n.dials.iter().any(|d| d.address == crawler_address()), "our own address dialed");
        // Every address is accounted for once: dialed, ours, a node's listening address, or
        // reported not dialed.
        for a in &r.addresses {
            prop_assert!(["node", "failed", "own", "not_dialed"].contains(&a.status), "{:?}", a);
        }
        let not_dialed = r.addresses.iter().filter(|a| a.status == "not_dialed").count();
        prop_assert_eq!(not_dialed, r.totals.not_dialed);
        prop_assert_eq!(r.complete, r.stopped_by.is_none());
    }

    #[test]
    fn without_limits_it_finds_exactly_the_nodes_reachable_from_its_seeds(mut c in case()) {
        c.max_nodes = 100;
        c.deadline_s = None;
        let (n, r) = crawl(&c);
        prop_assert!(r.complete);
        let expected = reachable(&c);
        let dialed: BTreeSet<PeerAddress> = n.dials.iter().map(|d| d.address.clone()).collect();
        prop_assert_eq!(dialed, expected.iter().map(|&i| address(i)).collect::<BTreeSet<_>>());
        let mut nodes = BTreeSet::new();
        let mut edges = BTreeSet::new();
        for &i in &expected {
            let (kind, peers) = &c.remotes[i];
            let Some(b) = behaviour(*kind, peers) else {
                prop_assert_eq!(kind_at(&r, i), Some(FailureKind::Refused));
                continue;
            };
            let id = n.remotes[&address(i)].node_id();
            if b.answers_hello() {
                nodes.insert(id);
            }
            for p in b.peers() {
                edges.insert((id, p.clone()));
            }
            let want = match b {
                Behaviour::Accept(_) | Behaviour::Mute => None,
                Behaviour::RejectAfterPeers(_) | Behaviour::Reject => Some(FailureKind::Rejected),
                Behaviour::Blackhole | Behaviour::Silent => Some(FailureKind::TimedOut),
                Behaviour::OtherNetwork => Some(FailureKind::Closed),
                Behaviour::Refuse => Some(FailureKind::Refused),
            };
            prop_assert_eq!(kind_at(&r, i), want, "address {}", address(i));
            if let Some(node) = r.node(&id) {
                let accepted = matches!(b, Behaviour::Accept(_) | Behaviour::Mute);
                prop_assert_eq!(node.accepted, accepted);
            }
        }
        let found: BTreeSet<NodeId> = r.nodes.iter().map(|n| n.node_id).collect();
        prop_assert_eq!(found, nodes);
        let got: BTreeSet<(NodeId, PeerAddress)> = r.edges.iter().map(|e| (e.from, e.to.clone())).collect();
        prop_assert_eq!(got, edges);
    }

    #[test]
    fn a_limited_crawl_dials_as_many_as_it_may(mut c in case()) {
        c.deadline_s = None;
        let (n, r) = crawl(&c);
        let reach = reachable(&c).len();
        prop_assert_eq!(n.dials.len(), reach.min(c.max_nodes));
        if reach > c.max_nodes {
            prop_assert_eq!(r.stopped_by, Some(StopReason::MaxNodes));
        }
    }

    #[test]
    fn a_crawl_is_a_pure_function_of_its_inputs(c in case()) {
        let (_, a) = crawl(&c);
        let (_, b) = crawl(&c);
        prop_assert_eq!(a, b);
    }
}

fn kind_at(r: &CrawlReport, i: usize) -> Option<FailureKind> {
    r.failures.iter().find(|f| f.address == address(i)).map(|f| f.kind)
}
