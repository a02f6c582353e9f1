//! From flags to a [`Scenario`]: the preset, then every flag given overrides its knob.

use super::{Args, PlantedBug, Preset, RelayShapeArg, TopologyKind};
use crate::fault::MisbehaviourKind;
use crate::link::LinkProfile;
use crate::scenario::{LinkOverride, PartitionSpec, Scenario};
use crate::topology::{RelayShape, Topology};

fn parse_link(spec: &str, base: LinkProfile) -> Result<LinkOverride, String> {
    let bad = || format!("bad --link {spec:?}: expected A-B:key=value,...");
    let (pair, kvs) = spec.split_once(':').ok_or_else(bad)?;
    let (a, b) = pair.split_once('-').ok_or_else(bad)?;
    let a = a.trim().parse().map_err(|_| bad())?;
    let b = b.trim().parse().map_err(|_| bad())?;
    let mut p = base;
    for kv in kvs.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').ok_or_else(bad)?;
        let int = || v.trim().parse::<u64>().map_err(|_| bad());
        let float = || v.trim().parse::<f64>().map_err(|_| bad());
        match k.trim() {
            "latency_ms" => p.latency_ms = int()?,
            "jitter_ms" => p.jitter_ms = int()?,
            "bandwidth_bytes_per_s" => p.bandwidth_bytes_per_s = int()?,
            "rto_ms" => p.rto_ms = int()?,
            "loss" => p.loss_prob = float()?,
            "reset" => p.reset_prob = float()?,
            "duplicate" => p.duplicate_prob = float()?,
            "reorder" => p.reorder_prob = float()?,
            "corrupt" => p.corrupt_prob = float()?,
            other => return Err(format!("unknown link key {other:?} in {spec:?}")),
        }
    }
    Ok(LinkOverride { a, b, profile: p })
}

fn parse_partition(spec: &str) -> Result<PartitionSpec, String> {
    let bad = || format!("bad --partition {spec:?}: expected AT_MS:DURATION_MS:FRACTION");
    let parts: Vec<&str> = spec.split(':').collect();
    let [at, dur, frac] = parts.as_slice() else { return Err(bad()) };
    Ok(PartitionSpec {
        at_ms: at.trim().parse().map_err(|_| bad())?,
        duration_ms: dur.trim().parse().map_err(|_| bad())?,
        fraction: frac.trim().parse().map_err(|_| bad())?,
    })
}

impl Args {
    /// The scenario these flags describe.
    pub fn scenario(&self) -> Result<Scenario, String> {
        let mut s = match self.preset {
            Preset::Default => Scenario::default(),
            Preset::SmallFaulty => Scenario::small_faulty(1),
            Preset::ConsensusRelay => Scenario::consensus_relay(1),
            Preset::Crawl => Scenario::crawl(1),
            Preset::Survey => Scenario::survey(1),
            Preset::ScpLoad => Scenario::scp_under_load(1, 5_000.0),
        };
        if let Some(v) = self.seed {
            s.seed = v;
        }
        self.apply_topology(&mut s);
        macro_rules! set {
            ($($flag:ident => $($field:ident).+;)*) => {
                $( if let Some(v) = self.$flag { s.$($field).+ = v; } )*
            };
        }
        set! {
            target_connections => target_connections;
            start_spread_ms => start_spread_ms;
            warmup_ms => warmup_ms;
            load_ms => load_ms;
            settle_ms => settle_ms;
            tx_rate => tx_rate_per_s;
            tx_count => tx_count_max;
            scp_interval_ms => scp_interval_ms;
            ledger_close_ms => ledger_close_ms;
            tx_set_fetchers => tx_set_fetchers;
            max_tx_set_ops => max_tx_set_ops;
            app_transactions_max => app_transactions_max;
            latency_ms => link.latency_ms;
            latency_spread_ms => latency_spread_ms;
            jitter_ms => link.jitter_ms;
            bandwidth_bytes_per_s => link.bandwidth_bytes_per_s;
            loss => link.loss_prob;
            rto_ms => link.rto_ms;
            reset => link.reset_prob;
            duplicate => link.duplicate_prob;
            reorder => link.reorder_prob;
            corrupt => link.corrupt_prob;
            socket_buffer_bytes => socket_buffer_bytes;
            connect_timeout_ms => connect_timeout_ms;
            cut_interval_ms => cuts.interval_ms;
            cut_duration_ms => cuts.duration_ms;
            churn_interval_ms => churn.interval_ms;
            churn_downtime_ms => churn.downtime_ms;
            crash_prob => churn.crash_prob;
            joins => churn.joins;
            join_known_peers => churn.join_known_peers;
            bad_mac_nodes => misbehaviour.bad_mac_nodes;
            garbage_nodes => misbehaviour.garbage_nodes;
            overrun_nodes => misbehaviour.overrun_nodes;
            misbehaviour_prob => misbehaviour.prob;
            reach_deadline_ms => reach_deadline_ms;
            check_interval_ms => check_interval_ms;
        }
        if self.floodgate_entries_max.is_some() {
            s.flood_bounds.floodgate_entries_max = self.floodgate_entries_max;
        }
        if self.advert_history_entries_max.is_some() {
            s.flood_bounds.advert_history_entries_max = self.advert_history_entries_max;
        }
        if self.demand_history_entries_max.is_some() {
            s.flood_bounds.demand_history_entries_max = self.demand_history_entries_max;
        }
        let declared = s.misbehaviour.bad_mac_nodes + s.misbehaviour.garbage_nodes + s.misbehaviour.overrun_nodes;
        if declared > 0 && self.misbehaviour_prob.is_none() && s.misbehaviour.prob == 0.0 {
            s.misbehaviour.prob = 0.05;
        }
        match self.plant_bug {
            Some(PlantedBug::Echo) => s.misbehaviour.planted = Some(MisbehaviourKind::Echo),
            Some(PlantedBug::Overrun) => s.misbehaviour.planted = Some(MisbehaviourKind::Overrun),
            Some(PlantedBug::UnfetchedRelay) | None => {}
        }
        self.apply_consensus(&mut s)?;
        self.apply_crawl(&mut s);
        if self.no_heal_at_settle {
            s.heal_at_settle = false;
        }
        if self.no_partitions {
            s.partitions.clear();
        }
        if !self.partitions.is_empty() {
            s.partitions = self.partitions.iter().map(|p| parse_partition(p)).collect::<Result<_, _>>()?;
        }
        for l in &self.links {
            s.link_overrides.push(parse_link(l, s.link)?);
        }
        if self.settle_ms.is_none() && s.settle_ms < s.reach_deadline_ms {
            s.settle_ms = s.reach_deadline_ms;
        }
        s.validate()?;
        Ok(s)
    }

    fn apply_consensus(&self, s: &mut Scenario) -> Result<(), String> {
        let Some(c) = s.consensus.as_mut() else {
            let given = self.slot_interval_ms.is_some()
                || self.ballot_step_ms.is_some()
                || self.txs_per_set.is_some()
                || self.quorum_threshold.is_some()
                || self.no_relay_hold_check
                || self.plant_bug == Some(PlantedBug::UnfetchedRelay);
            return if given { Err("consensus flags need --preset consensus-relay".into()) } else { Ok(()) };
        };
        if let Some(v) = self.slot_interval_ms {
            c.slot_interval_ms = v;
        }
        if let Some(v) = self.ballot_step_ms {
            c.ballot_step_ms = v;
        }
        if let Some(v) = self.txs_per_set {
            c.txs_per_set = v;
        }
        if let Some(v) = self.quorum_threshold {
            c.quorum_threshold = v;
        }
        if self.no_relay_hold_check {
            c.check_relay_holds = false;
        }
        if self.plant_bug == Some(PlantedBug::UnfetchedRelay) {
            c.planted_unfetched_relays = true;
        }
        Ok(())
    }

    fn apply_crawl(&self, s: &mut Scenario) {
        let given = !self.crawl_seeds.is_empty()
            || self.crawl_start_ms.is_some()
            || self.crawl_deadline_ms.is_some()
            || self.crawl_max_nodes.is_some()
            || self.crawl_concurrency.is_some();
        if s.crawl.is_none() && given {
            s.crawl = Some(crate::crawl::CrawlSpec::default());
        }
        let Some(c) = s.crawl.as_mut() else { return };
        if !self.crawl_seeds.is_empty() {
            c.seeds = self.crawl_seeds.clone();
        }
        if let Some(v) = self.crawl_start_ms {
            c.start_ms = v;
        }
        if let Some(v) = self.crawl_deadline_ms {
            c.deadline_ms = v;
        }
        if let Some(v) = self.crawl_max_nodes {
            c.max_nodes = v;
        }
        if let Some(v) = self.crawl_concurrency {
            c.max_in_flight = v;
        }
    }

    fn apply_topology(&self, s: &mut Scenario) {
        let kind = self.topology.unwrap_or(match s.topology {
            Topology::Pubnet { .. } => TopologyKind::Pubnet,
            Topology::FullMesh { .. } => TopologyKind::Mesh,
            Topology::Ring { .. } => TopologyKind::Ring,
            Topology::RandomRegular { .. } => TopologyKind::Regular,
            Topology::Relayed { .. } => TopologyKind::Relayed,
        });
        let n = self.nodes.unwrap_or(s.topology.node_count());
        s.topology = match (kind, &s.topology) {
            (TopologyKind::Pubnet, t) => {
                let (o, v, w, k) = match *t {
                    Topology::Pubnet { orgs, validators_per_org, watchers, watcher_known_peers } => {
                        (orgs, validators_per_org, watchers, watcher_known_peers)
                    }
                    _ => (7, 3, 79, 3),
                };
                Topology::Pubnet {
                    orgs: self.orgs.unwrap_or(o),
                    validators_per_org: self.validators_per_org.unwrap_or(v),
                    watchers: self.watchers.unwrap_or(w),
                    watcher_known_peers: self.watcher_known_peers.unwrap_or(k),
                }
            }
            (TopologyKind::Mesh, _) => Topology::FullMesh { nodes: n },
            (TopologyKind::Ring, _) => Topology::Ring { nodes: n },
            (TopologyKind::Relayed, t) => {
                let (v, r, shape) = match *t {
                    Topology::Relayed { validators, relays, shape } => (validators, relays, shape),
                    _ => (5, 3, RelayShape::Line),
                };
                let shape = match self.relay_shape {
                    Some(RelayShapeArg::Line) => RelayShape::Line,
                    Some(RelayShapeArg::Mesh) => RelayShape::Mesh,
                    None => shape,
                };
                Topology::Relayed { validators: self.validators.unwrap_or(v), relays: self.relays.unwrap_or(r), shape }
            }
            (TopologyKind::Regular, t) => {
                let (d, v) = match *t {
                    Topology::RandomRegular { degree, validators, .. } => (degree, validators),
                    _ => (8.min(n.saturating_sub(1)), n.min(10)),
                };
                Topology::RandomRegular {
                    nodes: n,
                    degree: self.degree.unwrap_or(d),
                    validators: self.validators.unwrap_or(v).min(n),
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(list: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("overlay-sim").chain(list.iter().copied())).unwrap()
    }

    #[test]
    fn no_flags_is_the_default_scenario() {
        assert_eq!(args(&[]).scenario().unwrap(), Scenario::default());
    }

    #[test]
    fn flags_override_knobs() {
        let s = args(&[
            "--seed",
            "9",
            "--topology",
            "ring",
            "--nodes",
            "6",
            "--loss",
            "0.1",
            "--link",
            "1-2:latency_ms=300,corrupt=0.5",
            "--partition",
            "100:200:0.5",
            "--plant-bug",
            "echo",
            "--churn-interval-ms",
            "0",
        ])
        .scenario()
        .unwrap();
        assert_eq!(s.seed, 9);
        assert_eq!(s.topology, Topology::Ring { nodes: 6 });
        assert_eq!(s.link.loss_prob, 0.1);
        assert_eq!(s.link_overrides[0].profile.latency_ms, 300);
        assert_eq!(s.link_overrides[0].profile.corrupt_prob, 0.5);
        assert_eq!(s.link_overrides[0].profile.loss_prob, 0.1, "the rest from the global profile");
        assert_eq!(s.partitions, vec![PartitionSpec { at_ms: 100, duration_ms: 200, fraction: 0.5 }]);
        assert_eq!(s.misbehaviour.planted, Some(MisbehaviourKind::Echo));
        assert_eq!(s.churn.interval_ms, 0);
    }

    #[test]
    fn consensus_relay_flags() {
        let s = args(&[
            "--preset",
            "consensus-relay",
            "--relays",
            "2",
            "--relay-shape",
            "mesh",
            "--validators",
            "4",
            "--slot-interval-ms",
            "1500",
            "--plant-bug",
            "unfetched-relay",
        ])
        .scenario()
        .unwrap();
        assert_eq!(s.topology, Topology::Relayed { validators: 4, relays: 2, shape: RelayShape::Mesh });
        let c = s.consensus.unwrap();
        assert_eq!(c.slot_interval_ms, 1_500);
        assert!(c.planted_unfetched_relays && c.check_relay_holds);
        assert!(args(&["--plant-bug", "unfetched-relay"]).scenario().is_err(), "needs the consensus preset");
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(args(&["--link", "1:latency_ms=3"]).scenario().is_err());
        assert!(args(&["--partition", "1:2"]).scenario().is_err());
        assert!(args(&["--loss", "2"]).scenario().is_err());
    }
}
