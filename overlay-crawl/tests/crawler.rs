//! The crawler against scripted networks in virtual time: what it finds, what it records,
//! how it paces itself and when it stops.

mod common;

use common::{Behaviour, Net, Remote, START, addr, crawler_address};
use core::time::Duration;
use overlay_crawl::{CrawlConfig, FailureKind, StopReason};

fn fast() -> CrawlConfig {
    CrawlConfig { host_interval: Duration::from_millis(100), ..CrawlConfig::default() }
}

#[test]
fn follows_peers_from_one_seed_through_a_chain_and_records_every_hello() {
    let mut net = Net::new([])
        .with("10.0.0.1:11625", 1, Behaviour::Accept(vec![addr("10.0.0.2:11625")]))
        .with("10.0.0.2:11625", 2, Behaviour::Accept(vec![addr("10.0.0.1:11625"), addr("10.0.0.3:11625")]))
        .with("10.0.0.3:11625", 3, Behaviour::Accept(vec![addr("10.0.0.2:11625")]));
    let mut crawler = net.crawler(fast(), &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    assert!(r.complete && r.stopped_by.is_none());
    assert_eq!(r.totals.nodes, 3);
    assert_eq!(r.totals.accepted, 3);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    for (i, a) in ["10.0.0.1:11625", "10.0.0.2:11625", "10.0.0.3:11625"].iter().enumerate() {
        let remote = &net.remotes[&addr(a)];
        let n = r.node(&remote.node_id()).expect("found");
        assert_eq!(n.addresses, vec![addr(a)]);
        assert_eq!((n.overlay_version, n.overlay_min_version, n.ledger_version), (42, 41, 28));
        assert!(n.version_str.starts_with("stellar-overlay-rs"), "{}", n.version_str);
        assert_eq!(n.listening_port, 11625);
        assert_eq!(n.verdict, "admitted", "node {i}");
        assert_eq!(n.peers, Some(remote.behaviour.peers().len()));
    }
    // Every PEERS entry is an edge, resolved to the node found there.
    assert_eq!(r.totals.edges, 4);
    assert!(r.edges.iter().all(|e| e.to_node.is_some()));
    // Three handshakes of 2 round trips and a PEERS each, paced 100 ms apart on one host...
    // here three hosts, so well under a second of virtual time.
    assert!(r.elapsed_ms < 1_000, "{} ms", r.elapsed_ms);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["nodes"][0]["node_id"].as_str().unwrap().len(), 56);
    assert_eq!(json["addresses"][0]["learned_from"], "seed");
    assert_eq!(json["edges"].as_array().unwrap().len(), 4);
}

#[test]
fn a_node_that_refuses_us_after_its_peers_is_recorded_with_its_error_and_its_peers_followed() {
    // stellar-core's order: AUTH, PEERS, ERROR "peer rejected" (§3.6 steps 3 and 6).
    let mut net = Net::new([])
        .with("10.0.0.1:11625", 1, Behaviour::RejectAfterPeers(vec![addr("10.0.0.2:11625")]))
        .with("10.0.0.2:11625", 2, Behaviour::Reject);
    let mut crawler = net.crawler(fast(), &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(r.totals.nodes, 2);
    assert_eq!(r.totals.accepted, 0);
    let one = r.node(&net.remotes[&addr("10.0.0.1:11625")].node_id()).unwrap();
    assert!(!one.accepted);
    assert_eq!(one.verdict, "ERR_LOAD (peer rejected)");
    assert_eq!(one.peers, Some(1));
    let two = r.node(&net.remotes[&addr("10.0.0.2:11625")].node_id()).unwrap();
    assert_eq!((two.accepted, two.peers), (false, None));
    assert_eq!(r.failures.len(), 2);
    assert!(r.failures.iter().all(|f| f.kind == FailureKind::Rejected && f.reason == "ERR_LOAD (peer rejected)"));
    assert!(r.failures.iter().all(|f| f.node_id.is_some()), "the HELLO came before the ERROR");
}

#[test]
fn failures_carry_their_kind_and_reason() {
    let mut net = Net::new([])
        .with(
            "10.0.0.1:11625",
            1,
            Behaviour::Accept(
                ["10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1", "10.0.0.6:1"].map(addr).to_vec(),
            ),
        )
        .with("10.0.0.2:1", 2, Behaviour::Blackhole)
        .with("10.0.0.3:1", 3, Behaviour::Silent)
        .with("10.0.0.4:1", 4, Behaviour::OtherNetwork)
        .with("10.0.0.6:1", 6, Behaviour::Mute);
    // 10.0.0.5:1 has no remote: refused.
    let config = CrawlConfig {
        connect_timeout: Duration::from_secs(3),
        handshake_timeout: Duration::from_secs(4),
        peers_wait: Duration::from_secs(2),
        ..fast()
    };
    let mut crawler = net.crawler(config, &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    let kind = |a: &str| r.failures.iter().find(|f| f.address == addr(a)).map(|f| (f.kind, f.reason.clone()));
    assert_eq!(kind("10.0.0.2:1"), Some((FailureKind::TimedOut, "connection timed out".into())));
    // Silent after the TCP connection: the peer's own idle rule (2 s, checked every 5 s)
    // or the handshake timeout, whichever first.
    assert_eq!(kind("10.0.0.3:1").map(|k| k.0), Some(FailureKind::TimedOut));
    // Our certificate does not verify on another network: a silent drop (§3.5 step 2).
    assert_eq!(kind("10.0.0.4:1"), Some((FailureKind::Closed, "remote closed the connection".into())));
    assert_eq!(kind("10.0.0.5:1"), Some((FailureKind::Refused, "connection refused".into())));
    // Authenticated and never refused: accepted, with no PEERS.
    let mute = r.node(&net.remotes[&addr("10.0.0.6:1")].node_id()).unwrap();
    assert_eq!((mute.accepted, mute.verdict.as_str(), mute.peers), (true, "authenticated", None));
    assert_eq!(kind("10.0.0.6:1"), None);
    assert_eq!(r.totals.failures, 4);
    assert_eq!(r.totals.nodes, 2);
}

#[test]
fn our_own_address_advertised_back_is_not_dialed() {
    let own = crawler_address();
    let mut net = Net::new([]).with("10.0.0.1:11625", 1, Behaviour::Accept(vec![own.clone()]));
    let mut crawler = net.crawler(fast(), &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(net.dials.len(), 1);
    let a = r.addresses.iter().find(|a| a.address == own).unwrap();
    assert_eq!((a.status, a.dialed), ("own", false));
    assert!(r.failures.is_empty());
    assert!(r.to_dot().contains("the crawler"));
}

#[test]
fn a_listening_port_other_than_the_dialed_one_is_the_same_node_and_not_dialed_again() {
    let mut net = Net::new([]);
    net.remotes.insert(
        addr("10.0.0.1:2000"),
        Remote { seed: 1, behaviour: Behaviour::Accept(vec![addr("10.0.0.2:11625")]), listening_port: Some(11625) },
    );
    // The second node advertises the first one's listening address.
    net = net.with("10.0.0.2:11625", 2, Behaviour::Accept(vec![addr("10.0.0.1:11625")]));
    let mut crawler = net.crawler(fast(), &["10.0.0.1:2000"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(net.dials.len(), 2, "{:?}", net.dials);
    let one = r.node(&net.remotes[&addr("10.0.0.1:2000")].node_id()).unwrap();
    assert_eq!(one.listening_port, 11625);
    let alias = r.addresses.iter().find(|a| a.address == addr("10.0.0.1:11625")).unwrap();
    assert_eq!((alias.status, alias.dialed, alias.learned_from), ("node", false, "hello"));
    assert_eq!(alias.advertised, 1);
    assert!(r.edges.iter().all(|e| e.to_node.is_some()), "the edge to the listening address resolves");
}

#[test]
fn one_host_is_visited_one_connection_at_a_time_with_the_interval_between_dials() {
    let peers: Vec<_> = (2..=6).map(|p| addr(&format!("10.0.0.1:{p}"))).collect();
    let mut net = Net::new([]).with("10.0.0.1:1", 1, Behaviour::Accept(peers.clone()));
    for (i, p) in peers.iter().enumerate() {
        net = net.with(&p.to_string(), 10 + i as u8, Behaviour::Accept(vec![]));
    }
    let config = CrawlConfig { host_interval: Duration::from_millis(300), max_in_flight: 8, ..CrawlConfig::default() };
    let mut crawler = net.crawler(config, &["10.0.0.1:1"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(r.totals.nodes, 6);
    assert_eq!(net.max_per_host_seen, 1);
    for w in net.dials.windows(2) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(300), "{:?}", net.dials);
    }
}

#[test]
fn max_nodes_bounds_the_dials_and_the_rest_is_reported_not_dialed() {
    let peers: Vec<_> = (2..=9).map(|i| addr(&format!("10.0.0.{i}:11625"))).collect();
    let mut net = Net::new([]).with("10.0.0.1:11625", 1, Behaviour::Accept(peers.clone()));
    for (i, p) in peers.iter().enumerate() {
        net = net.with(&p.to_string(), 10 + i as u8, Behaviour::Accept(vec![]));
    }
    let mut crawler = net.crawler(CrawlConfig { max_nodes: 4, ..fast() }, &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(net.dials.len(), 4);
    assert_eq!(r.totals.dialed, 4);
    assert_eq!(r.totals.nodes, 4);
    assert_eq!(r.stopped_by, Some(StopReason::MaxNodes));
    assert!(!r.complete);
    assert_eq!(r.totals.not_dialed, 5);
    assert!(r.failures.iter().all(|f| f.kind == FailureKind::NotDialed && f.reason == "max-nodes bound reached"));
}

#[test]
fn unreachable_seeds_end_the_crawl_within_its_deadline() {
    let mut net = Net::new([]).with("10.0.0.1:1", 1, Behaviour::Blackhole).with("10.0.0.2:1", 2, Behaviour::Silent);
    let config = CrawlConfig {
        deadline: Some(Duration::from_secs(2)),
        connect_timeout: Duration::from_secs(10),
        handshake_timeout: Duration::from_secs(10),
        ..fast()
    };
    let mut crawler = net.crawler(config, &["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"]);
    let r = net.run(&mut crawler, 10_000);
    assert!(net.now - START <= Duration::from_secs(2), "ended at {:?}", net.now - START);
    assert_eq!(r.elapsed_ms, 2_000);
    assert_eq!(r.stopped_by, Some(StopReason::Deadline));
    assert_eq!(r.totals.nodes, 0);
    let kinds: Vec<_> = r.failures.iter().map(|f| (f.address.to_string(), f.kind, f.reason.as_str())).collect();
    assert!(kinds.contains(&("10.0.0.3:1".into(), FailureKind::Refused, "connection refused")), "{kinds:?}");
    assert!(kinds.contains(&("10.0.0.1:1".into(), FailureKind::TimedOut, "crawl deadline reached")), "{kinds:?}");
    assert!(kinds.contains(&("10.0.0.2:1".into(), FailureKind::TimedOut, "crawl deadline reached")), "{kinds:?}");
}

#[test]
fn a_node_at_two_addresses_is_one_node_with_both() {
    let mut net = Net::new([]).with("10.0.0.1:1", 1, Behaviour::Accept(vec![addr("10.0.0.2:1")]));
    net.remotes
        .insert(addr("10.0.0.2:1"), Remote { seed: 1, behaviour: Behaviour::Accept(vec![]), listening_port: Some(1) });
    let mut crawler = net.crawler(fast(), &["10.0.0.1:1"]);
    let r = net.run(&mut crawler, 10_000);
    assert_eq!(r.totals.nodes, 1);
    assert_eq!(r.nodes[0].addresses, vec![addr("10.0.0.1:1"), addr("10.0.0.2:1")]);
}

#[test]
fn no_seed_is_an_empty_crawl_at_once() {
    let net = Net::new([]);
    let crawler = net.crawler(fast(), &[]);
    assert!(crawler.is_done());
    let r = crawler.report();
    assert_eq!((r.totals.addresses, r.elapsed_ms, r.complete), (0, 0, true));
}

#[test]
fn the_picture_and_the_table_name_every_node() {
    let mut net = Net::new([])
        .with("10.0.0.1:11625", 1, Behaviour::Accept(vec![addr("10.0.0.2:11625"), addr("10.0.0.7:11625")]))
        .with("10.0.0.2:11625", 2, Behaviour::Reject);
    let mut crawler = net.crawler(fast(), &["10.0.0.1:11625"]);
    let r = net.run(&mut crawler, 10_000);
    let dot = r.to_dot();
    assert!(dot.starts_with("digraph crawl {") && dot.trim_end().ends_with('}'));
    for n in &r.nodes {
        assert!(dot.contains(&format!("\"{}\" [label=", n.node_id)), "{dot}");
    }
    assert!(dot.contains("\"10.0.0.7:11625\" [label=\"10.0.0.7:11625\\nrefused\""), "{dot}");
    let table = r.summary_table(10);
    assert!(table.starts_with("crawl: 2 nodes (1 accepted us)"), "{table}");
    assert!(table.contains("rejected") && table.contains("refused"), "{table}");
}
