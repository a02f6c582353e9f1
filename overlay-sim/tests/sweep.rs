//! The seed sweep: a small faulty network (loss, reordering, duplication, corruption,
//! resets, a partition and heal, cuts, churn with crashes and a join) under load, with every
//! invariant holding for every seed. One seed in ten runs twice, the second time with every
//! node's readers and writers taken out, and must give the same report.
//!
//! `OVERLAY_SIM_SWEEP_SEEDS` sets the number of seeds (default 200); the seeds are split over
//! four tests so that they run in parallel. A failure names the seed; rerun it with
//! `cargo run -p overlay-sim -- --preset small-faulty --seed N`.

use overlay_sim::{Scenario, World};

const SHARDS: u64 = 4;

fn seeds() -> u64 {
    std::env::var("OVERLAY_SIM_SWEEP_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(200)
}

fn sweep(shard: u64) {
    let mut failures = Vec::new();
    let mut runs = 0;
    for seed in (1..=seeds()).filter(|s| s % SHARDS == shard) {
        let mut world = World::new(Scenario::small_faulty(seed)).expect("valid scenario");
        runs += 1;
        if let Err(e) = world.run(&mut |_| {}) {
            assert_eq!(e.seed(), Some(seed), "a failure names its seed");
            failures.push(e.to_string());
        } else {
            let r = world.report();
            // Each run exercised what it claims to.
            assert!(r.transactions.checked > 0 && r.faults.partitions == 1, "seed {seed}: {r:?}");
            // One seed in ten runs again with every reader and writer taken out of the nodes
            // (as the tokio driver does): same wire, same report.
            if seed % 10 == 0 {
                let mut split = World::new(Scenario::small_faulty(seed)).expect("valid scenario");
                split.take_connection_work();
                match split.run(&mut |_| {}) {
                    Ok(()) if split.report().to_json() == r.to_json() => {}
                    Ok(()) => failures.push(format!("seed {seed}: another report with connection work taken out")),
                    Err(e) => failures.push(format!("seed {seed}, connection work taken out: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {runs} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn sweep_shard_0() {
    sweep(0);
}

#[test]
fn sweep_shard_1() {
    sweep(1);
}

#[test]
fn sweep_shard_2() {
    sweep(2);
}

#[test]
fn sweep_shard_3() {
    sweep(3);
}
