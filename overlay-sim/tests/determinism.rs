//! A run is a pure function of (scenario, seed): the same seed gives a byte-identical JSON
//! report, another seed a different one.

use overlay_sim::{Scenario, World};

fn report_json(seed: u64) -> String {
    let mut world = World::new(Scenario::small_faulty(seed)).expect("valid scenario");
    world.run(&mut |_| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    world.report().to_json()
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let a = report_json(11);
    let b = report_json(11);
    assert!(a == b, "two runs of seed 11 differ");
    let c = report_json(12);
    assert_ne!(a, c, "seeds 11 and 12 gave the same report");
    // The reports are about something: messages went around.
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert!(v["transactions"]["receipts"].as_u64().unwrap() > 100, "{}", v["transactions"]);
    assert_eq!(v["seed"], 11);
}

/// A run where every node's readers and writers are taken out (as the tokio driver does)
/// gives the same report as one where the nodes read and seal themselves: the split moves
/// work, not behaviour. Faults, churn and misbehaving nodes included; consensus, a crawl and
/// a survey too.
#[test]
fn taking_connection_work_out_changes_nothing() {
    let scenarios = [
        Scenario::small_faulty(5),
        Scenario::small_faulty(6),
        Scenario::consensus_relay(3),
        Scenario::crawl(2),
        Scenario::survey(4),
    ];
    for scenario in scenarios {
        let run = |take: bool| {
            let mut world = World::new(scenario.clone()).expect("valid scenario");
            if take {
                world.take_connection_work();
            }
            world.run(&mut |_| {}).unwrap_or_else(|e| panic!("seed {} (taken: {take}): {e}", scenario.seed));
            world.report().to_json()
        };
        let (inside, outside) = (run(false), run(true));
        assert!(inside == outside, "seed {}: the reports differ", scenario.seed);
    }
}
