//! Issue 13 acceptance 2: a time-sliced survey of a 50-node pubnet-like network gets an
//! answer from every reachable node, reproducibly by seed; with churn, every node that
//! does not answer has a reason the network explains.

use overlay_sim::survey::SurveyReport;
use overlay_sim::{Scenario, World};

fn run(scenario: Scenario) -> (SurveyReport, String) {
    let seed = scenario.seed;
    let mut world = World::new(scenario).expect("valid scenario");
    world.run(&mut |_| {}).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let report = world.report();
    (report.survey.clone().expect("the survey's report"), report.to_json())
}

#[test]
fn every_reachable_node_answers_reproducibly() {
    let (s, json) = run(Scenario::survey(1));
    assert_eq!(s.nodes, 49);
    assert_eq!(s.reachable, 49, "no churn: every node is reachable");
    assert_eq!(s.answered, 49, "{}", s.to_text());
    assert!(s.unanswered.is_empty() && s.bad_responses == 0 && s.requests_refused == 0);
    // Links are reported by both of their ends; a node with more than 25 peers in a list
    // was paged.
    assert!(s.links_reported > 2 * 49, "{}", s.to_text());
    assert!(s.paged_nodes >= 1, "{}", s.to_text());
    assert_eq!(run(Scenario::survey(1)).1, json, "the same seed gives the same report");
}

#[test]
fn with_churn_every_silent_node_is_explained() {
    let mut scenario = Scenario::survey(3);
    scenario.churn.interval_ms = 8_000;
    scenario.churn.downtime_ms = 10_000;
    let (s, _) = run(scenario);
    assert!(!s.unanswered.is_empty(), "churn takes some nodes out of the survey: {}", s.to_text());
    assert_eq!(s.reachable_answered, s.reachable, "{}", s.to_text());
    for u in &s.unanswered {
        assert_ne!(u.reason, "asked, no answer", "node {} lost: {}", u.node, s.to_text());
    }
}
