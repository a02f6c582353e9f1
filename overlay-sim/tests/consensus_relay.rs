//! The consensus-relay scenario: validators that sign SCP statements about their own tx sets
//! reach each other only through overlay-node's watcher-like relays. Every envelope must
//! become ready at every other validator's application, relays flood only what they hold and
//! serve what they flooded; relays that flood unfetched are caught, reproducibly.

use overlay_sim::topology::{RelayShape, Topology};
use overlay_sim::{Report, Scenario, SimError, Violation, World};

fn run(sc: Scenario) -> Result<Report, SimError> {
    let mut world = World::new(sc).expect("valid scenario");
    world.run(&mut |_| {})?;
    Ok(world.report())
}

fn assert_all_delivered(r: &Report, label: &str) {
    let c = r.consensus.as_ref().expect("a consensus report");
    let validators = c.validators.len() as u64;
    let broadcast: u64 = c.envelopes.broadcast.values().sum();
    let e = &c.envelopes;
    assert_eq!(c.slots, 10, "{label}");
    assert_eq!(broadcast, validators * 4 * c.slots, "{label}: four statements per validator and slot");
    assert_eq!(e.expected, broadcast * (validators - 1), "{label}: every envelope checked at every other validator");
    assert_eq!((e.delivered, e.exempt, e.unchecked), (e.expected, 0, 0), "{label}: {e:?}");
    assert!(c.missing.is_empty(), "{label}: {:?}", c.missing);
    assert!(c.per_validator.iter().all(|v| v.externalized == c.slots), "{label}: every validator externalized");
    let f = &c.fetches;
    // At first only the author holds its items: relays fetch every tx set, validators every
    // other validator's.
    assert!(f.relay_tx_set.completed >= c.slots * validators, "{label}: {f:?}");
    assert!(f.validator_tx_set.completed >= c.slots * (validators - 1), "{label}: {f:?}");
    assert!(f.relay_quorum_set.completed > 0 && f.validator_quorum_set.completed > 0, "{label}: {f:?}");
    let w = &c.relay_checks;
    assert!(w.scp_messages_checked > 0 && w.requests_after_flood > 0, "{label}: {w:?}");
    assert_eq!(w.answered, w.requests_after_flood, "{label}: every request after the flood answered");
    assert_eq!(c.relays_did.bad_signatures, 0, "{label}: the validators' signatures verify");
    assert!(c.relays_did.fetches > 0, "{label}: relays fetched before flooding");
}

#[test]
fn every_envelope_reaches_every_validator_through_relays() {
    for seed in 1..=3 {
        let r = run(Scenario::consensus_relay(seed)).unwrap_or_else(|e| panic!("{e}"));
        assert_all_delivered(&r, &format!("line, seed {seed}"));
    }
    let mut mesh = Scenario::consensus_relay(4);
    mesh.topology = Topology::Relayed { validators: 6, relays: 3, shape: RelayShape::Mesh };
    let r = run(mesh).unwrap_or_else(|e| panic!("{e}"));
    assert_all_delivered(&r, "mesh, seed 4");
}

#[test]
fn same_seed_same_report() {
    let json = |seed| run(Scenario::consensus_relay(seed)).unwrap_or_else(|e| panic!("{e}")).to_json();
    let a = json(7);
    assert!(a == json(7), "two runs of seed 7 differ");
    assert_ne!(a, json(8), "seeds 7 and 8 gave the same report");
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert!(v["consensus"]["envelopes"]["delivery_latency_ms"]["count"].as_u64().unwrap() > 0);
}

fn planted(seed: u64, check_relay_holds: bool) -> SimError {
    let mut sc = Scenario::consensus_relay(seed);
    let c = sc.consensus.as_mut().expect("the preset has a consensus spec");
    c.planted_unfetched_relays = true;
    c.check_relay_holds = check_relay_holds;
    run(sc).expect_err("relays that flood unfetched must break an invariant")
}

#[test]
fn relays_that_flood_unfetched_are_caught_reproducibly() {
    let e = planted(3, true);
    match &e {
        SimError::Invariant { seed: 3, violation: Violation::RelayFloodedUnheld { relay, author, .. }, .. } => {
            assert!(*relay >= 5, "a relay: {e}");
            assert!(*author < 5, "a validator's envelope: {e}");
        }
        other => panic!("expected a relay flooding what it does not hold, got {other}"),
    }
    assert_eq!(planted(3, true), e, "same seed, same failure");
    assert!(e.to_string().contains("seed 3"), "the message names the seed: {e}");
    // Without the check on what relays send, the check on what they answer catches it.
    let e = planted(3, false);
    assert!(
        matches!(
            e,
            SimError::Invariant {
                violation: Violation::RelayDontHaveAfterFlood { .. } | Violation::RequestNotAnswered { .. },
                ..
            }
        ),
        "expected a relay not serving what it flooded, got {e}"
    );
    assert_eq!(planted(3, false), e, "same seed, same failure");
}
