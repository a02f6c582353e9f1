//! The crawl scenario: overlay-crawl's crawler, driven by the simulator's clock and links,
//! finds every node of a pubnet-like network reachable from its seeds (issue 13, acceptance
//! 2), reproducibly by seed; nodes down during the crawl are reported with the reason; a
//! crawler that gives up on a reachable node is caught.

use overlay_sim::crawl::CrawlSpec;
use overlay_sim::scenario::ChurnSpec;
use overlay_sim::topology::Topology;
use overlay_sim::{Report, Scenario, SimError, Violation, World};
use std::collections::BTreeSet;

fn run(sc: Scenario) -> Result<(Report, World), SimError> {
    let mut world = World::new(sc).expect("valid scenario");
    world.run(&mut |_| {})?;
    Ok((world.report(), world))
}

#[test]
fn the_crawl_finds_every_node_of_a_50_node_pubnet_like_network_reproducibly() {
    let (a, world) = run(Scenario::crawl(1)).unwrap_or_else(|e| panic!("{e}"));
    let c = a.crawl.as_ref().expect("a crawl outcome");
    assert!(c.finished);
    assert_eq!((c.nodes, c.found, c.reachable), (50, 50, 50), "{}", c.to_text());
    assert!(c.missed.is_empty(), "{:?}", c.missed);
    assert_eq!(c.crawl.failures, 0, "{:?}", c.failures);
    // The crawler's own map: every node's key, every PEERS entry resolved to a node.
    let map = world.crawl_map().expect("the crawler's map");
    let keys: BTreeSet<String> = map.nodes.iter().map(|n| n.node_id.to_string()).collect();
    let expected: BTreeSet<String> = (0..50).map(|i| overlay_sim::world::node_id(i).to_string()).collect();
    assert_eq!(keys, expected);
    assert!(map.nodes.iter().all(|n| n.accepted && n.peers.is_some()));
    assert!(map.edges.iter().all(|e| e.to_node.is_some()), "every advertised address is a node's");
    assert!(map.totals.edges >= 49 * 10, "{:?}", map.totals);
    assert!(c.elapsed_ms < 10_000, "{} ms", c.elapsed_ms);

    // The same seed gives the same report; another seed another one, with the same result.
    let (again, _) = run(Scenario::crawl(1)).unwrap_or_else(|e| panic!("{e}"));
    assert!(a.to_json() == again.to_json(), "two runs of seed 1 differ");
    let mut other = Scenario::crawl(2);
    other.crawl.as_mut().unwrap().seeds = vec![3, 40];
    let (b, _) = run(other).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(a.to_json(), b.to_json());
    let c = b.crawl.as_ref().unwrap();
    assert_eq!((c.found, c.reachable, c.seeds.clone()), (50, 50, vec![3, 40]), "{}", c.to_text());
    let v: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
    assert_eq!(v["crawl"]["found"], 50);
    assert_eq!(v["scenario"]["crawl"]["seeds"][1], 40);
}

/// A smaller pubnet-like network with churn during a slow crawl.
fn churning(seed: u64) -> Scenario {
    let mut sc = Scenario::crawl(seed);
    sc.topology = Topology::Pubnet { orgs: 3, validators_per_org: 3, watchers: 15, watcher_known_peers: 3 };
    sc.churn = ChurnSpec { interval_ms: 700, downtime_ms: 4_000, crash_prob: 0.5, joins: 0, join_known_peers: 3 };
    sc.crawl = Some(CrawlSpec { start_ms: 2_000, max_in_flight: 1, ..CrawlSpec::default() });
    sc
}

#[test]
fn nodes_down_during_the_crawl_are_reported_with_the_reason() {
    let mut exempt = 0;
    for seed in 1..=2 {
        let (r, _) = run(churning(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let c = r.crawl.as_ref().unwrap();
        assert!(c.finished, "seed {seed}");
        assert_eq!(c.found + c.missed.len(), c.nodes, "seed {seed}: every node found or explained");
        for m in &c.missed {
            assert!(!m.why.is_empty());
            if m.why.ends_with("during the crawl") {
                exempt += 1;
            }
        }
    }
    assert!(exempt > 0, "churn stopped some node during the crawls");
}

#[test]
fn a_crawler_that_gives_up_on_a_reachable_node_is_caught_reproducibly() {
    let broken = |seed| {
        let mut sc = Scenario::crawl(seed);
        sc.topology = Topology::Pubnet { orgs: 2, validators_per_org: 2, watchers: 6, watcher_known_peers: 2 };
        // Every connection times out before the node's answer can arrive.
        sc.crawl = Some(CrawlSpec { timeout_ms: 1, ..CrawlSpec::default() });
        run(sc).map(|_| ()).expect_err("the seed is reachable and up, and not found")
    };
    let e = broken(9);
    match &e {
        SimError::Invariant { seed: 9, violation: Violation::CrawlMissed { node: 0, why }, .. } => {
            assert_eq!(why, "dialed, timed_out: connection timed out");
        }
        other => panic!("expected the seed node missed, got {other}"),
    }
    assert_eq!(broken(9), e, "same seed, same failure");
}
