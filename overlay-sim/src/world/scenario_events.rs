//! The scenario's actions: load (transactions, SCP rounds, ledger closes with tx-set
//! fetches), faults over time (partitions, cuts, churn, joins) and the settle phase.

use super::log::{Broadcast, FetchRecord, MsgKey, MsgKind};
use super::{Event, Res, START, SimNode, World, node_id, scp_key};
use crate::fault::{Misbehaviour, MisbehaviourKind};
use crate::link::LinkProfile;
use crate::network::NodeIndex;
use crate::topology::{NodePlan, Role};
use core::time::Duration;
use overlay_node::app::AppInput;
use overlay_node::node::legacy_tx_set_hash;
use overlay_proto::Hash256;
use overlay_proto::xdr::{Hash, StellarMessage, TransactionSet};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Transaction numbers of tx-set contents start here (apart from the load's).
const TX_SET_TX_BASE: u64 = 1 << 44;
/// Transactions per simulated tx set.
const TX_SET_TXS: u64 = 4;

impl World {
    /// Pick the misbehaving nodes among the watchers (all nodes if there are none).
    pub(super) fn assign_misbehaviour(&mut self) {
        let spec = self.sc.misbehaviour;
        let mut pool: Vec<NodeIndex> =
            (0..self.nodes.len() as NodeIndex).filter(|i| !self.validators.contains(i)).collect();
        if pool.is_empty() {
            pool = (0..self.nodes.len() as NodeIndex).collect();
        }
        self.rng.shuffle(&mut pool);
        let mut pool = pool.into_iter();
        let kinds = [
            (MisbehaviourKind::BadMac, spec.bad_mac_nodes),
            (MisbehaviourKind::Garbage, spec.garbage_nodes),
            (MisbehaviourKind::Overrun, spec.overrun_nodes),
        ];
        for (kind, count) in kinds {
            for _ in 0..count {
                if let Some(i) = pool.next() {
                    self.nodes[i as usize].misbehaviour = Some(Misbehaviour { kind, prob: spec.prob, declared: true });
                }
            }
        }
        if let Some(kind) = spec.planted {
            if let Some(i) = pool.next() {
                self.nodes[i as usize].misbehaviour = Some(Misbehaviour { kind, prob: 1.0, declared: false });
            }
        }
    }

    /// Put the scenario's first events on the queue.
    pub(super) fn schedule_scenario(&mut self) -> Res {
        let sc = self.sc.clone();
        let spread_ns = sc.start_spread_ms * 1_000_000;
        for i in 0..self.nodes.len() as NodeIndex {
            let at = START + Duration::from_nanos(self.rng.below(spread_ns + 1));
            self.q.schedule_at(at, Event::Start(i))?;
        }
        let dial_at = START + Duration::from_millis(sc.start_spread_ms + 100);
        for (from, to) in self.plan_dials.clone() {
            let jitter = Duration::from_nanos(self.rng.below(100_000_000));
            self.q.schedule_at(dial_at + jitter, Event::Dial { from, to })?;
        }
        self.q.schedule_at(START + Duration::from_millis(sc.check_interval_ms), Event::Sweep)?;
        if sc.ledger_close_ms > 0 {
            self.q.schedule_at(START + Duration::from_millis(sc.ledger_close_ms), Event::LedgerClose)?;
        }
        if sc.tx_rate_per_s > 0.0 {
            self.q.schedule_at(self.load_start, Event::SubmitTx)?;
        }
        if sc.scp_interval_ms > 0 && !self.validators.is_empty() {
            self.q.schedule_at(self.load_start, Event::ScpRound)?;
        }
        for (i, p) in sc.partitions.iter().enumerate() {
            self.q.schedule_at(self.load_start + Duration::from_millis(p.at_ms), Event::PartitionStart(i))?;
        }
        if sc.cuts.interval_ms > 0 {
            let d = self.rng.exponential_ns(sc.cuts.interval_ms * 1_000_000);
            self.q.schedule_at(self.load_start + Duration::from_nanos(d), Event::Cut)?;
        }
        if sc.churn.interval_ms > 0 {
            let d = self.rng.exponential_ns(sc.churn.interval_ms * 1_000_000);
            self.q.schedule_at(self.load_start + Duration::from_nanos(d), Event::Churn)?;
        }
        for _ in 0..sc.churn.joins {
            let d = self.rng.below(sc.load_ms * 1_000_000 + 1);
            self.q.schedule_at(self.load_start + Duration::from_nanos(d), Event::Join)?;
        }
        self.q.schedule_at(self.load_end, Event::Settle)
    }

    fn in_load(&self) -> bool {
        self.q.now() < self.load_end
    }

    /// A random running honest node.
    fn random_steady_node(&mut self, validators_only: bool) -> Option<NodeIndex> {
        let candidates: Vec<NodeIndex> = (0..self.nodes.len() as NodeIndex)
            .filter(|&i| {
                let sn = &self.nodes[i as usize];
                sn.live.is_some() && sn.is_honest() && (!validators_only || self.validators.contains(&i))
            })
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.index(candidates.len())])
    }

    pub(super) fn submit_tx(&mut self) -> Res {
        let now = self.q.now();
        let max = self.sc.tx_count_max;
        if max > 0 && self.txs_sent >= max {
            return Ok(());
        }
        if let Some(origin) = self.random_steady_node(false) {
            let number = self.next_tx;
            self.next_tx += 1;
            let envelope = overlay_proto::fixtures::payment_transaction(number);
            if let Ok(hash) = overlay_flood::identity::tx_full_hash(&envelope) {
                let key = MsgKey::Tx(hash);
                let b = Broadcast { kind: MsgKind::Transaction, number, origin, at: now, shed_at: self.shed_total };
                let id = self.log.broadcast(b, key, self.nodes.len());
                self.q
                    .schedule_in(Duration::from_millis(self.sc.reach_deadline_ms), Event::CheckMessage { id, key })?;
                self.txs_sent += 1;
                if let Some(live) = self.nodes[origin as usize].live.as_deref_mut() {
                    let _ = live.node.broadcast(now, StellarMessage::Transaction(envelope));
                }
                self.drain(origin)?;
            }
        }
        let mean_ns = (1e9 / self.sc.tx_rate_per_s) as u64;
        let next = now + Duration::from_nanos(self.rng.exponential_ns(mean_ns.max(1)));
        if next < self.load_end && (max == 0 || self.txs_sent < max) {
            self.q.schedule_at(next, Event::SubmitTx)?;
        }
        Ok(())
    }

    pub(super) fn scp_round(&mut self) -> Res {
        let now = self.q.now();
        for v in self.validators.clone() {
            let sn = &self.nodes[v as usize];
            if sn.live.is_none() || !sn.is_honest() {
                continue;
            }
            let number = self.next_scp;
            self.next_scp += 1;
            let envelope = overlay_proto::fixtures::scp_nominate(node_id(v), u64::from(self.slot), number << 32);
            let key = MsgKey::Scp(scp_key(&envelope.signature.0));
            let b = Broadcast { kind: MsgKind::Scp, number, origin: v, at: now, shed_at: self.shed_total };
            let id = self.log.broadcast(b, key, self.nodes.len());
            self.q.schedule_in(Duration::from_millis(self.sc.reach_deadline_ms), Event::CheckMessage { id, key })?;
            if let Some(live) = self.nodes[v as usize].live.as_deref_mut() {
                let _ = live.node.broadcast(now, StellarMessage::ScpMessage(envelope));
            }
            self.drain(v)?;
        }
        let next = now + Duration::from_millis(self.sc.scp_interval_ms);
        if next < self.load_end {
            self.q.schedule_at(next, Event::ScpRound)?;
        }
        Ok(())
    }

    pub(super) fn ledger_close(&mut self) -> Res {
        let now = self.q.now();
        self.slot += 1;
        let ledger = self.ledger_state();
        for i in 0..self.nodes.len() as NodeIndex {
            self.app_input(i, AppInput::Ledger(ledger))?;
        }
        if self.sc.tx_set_fetchers > 0 && self.q.now() >= self.load_start && self.in_load() {
            self.tx_set_round()?;
        }
        let next = now + Duration::from_millis(self.sc.ledger_close_ms);
        if next <= self.end {
            self.q.schedule_at(next, Event::LedgerClose)?;
        }
        Ok(())
    }

    /// A validator holds a new tx set; some of its peers fetch it.
    fn tx_set_round(&mut self) -> Res {
        let now = self.q.now();
        let Some(holder) = self.random_steady_node(!self.validators.is_empty()) else { return Ok(()) };
        let slot = u64::from(self.slot);
        let prev = Hash256::sha256(&slot.to_be_bytes());
        let txs: Vec<_> = (0..TX_SET_TXS)
            .map(|k| overlay_proto::fixtures::payment_transaction(TX_SET_TX_BASE + slot * TX_SET_TXS + k))
            .collect();
        let set = TransactionSet { previous_ledger_hash: Hash(prev.0), txs: txs.try_into().unwrap_or_default() };
        let (hash, _) = legacy_tx_set_hash(&set);
        self.app_input(holder, AppInput::HoldTxSet(Arc::new(StellarMessage::TxSet(set))))?;
        let mut peers: Vec<NodeIndex> = (0..self.nodes.len() as NodeIndex)
            .filter(|&p| p != holder && self.graph.is_linked(holder, p) && self.is_steady(p, now))
            .collect();
        self.rng.shuffle(&mut peers);
        peers.truncate(self.sc.tx_set_fetchers as usize);
        for f in peers {
            let envelope = overlay_proto::fixtures::scp_nominate(node_id(holder), slot, (1 << 31) | u64::from(f));
            let id = self.log.fetch_started(FetchRecord { hash, holder, fetcher: f, started: now, done: None });
            self.nodes[f as usize].pending_fetches.push(id);
            self.q.schedule_in(Duration::from_millis(self.sc.reach_deadline_ms), Event::CheckFetch(id))?;
            if let Some(live) = self.nodes[f as usize].live.as_deref_mut() {
                live.node.fetch_tx_set(now, hash, envelope);
            }
            self.drain(f)?;
        }
        Ok(())
    }

    /// Re-evaluate every connected pair after the network changed.
    fn refresh_graph(&mut self) {
        let now = self.q.now();
        for (a, b) in self.graph.connected_pairs() {
            let open = self.net.is_open(a, b);
            self.graph.refresh(a, b, open, now);
        }
    }

    pub(super) fn partition_start(&mut self, i: usize) -> Res {
        let spec = self.sc.partitions[i];
        let mut live: Vec<NodeIndex> =
            (0..self.nodes.len() as NodeIndex).filter(|&n| self.nodes[n as usize].live.is_some()).collect();
        self.rng.shuffle(&mut live);
        let k = ((live.len() as f64) * spec.fraction).round() as usize;
        let groups: BTreeMap<NodeIndex, u32> = live.into_iter().take(k).map(|n| (n, 1)).collect();
        self.net.partition(groups);
        self.stats.partitions += 1;
        self.refresh_graph();
        self.q.schedule_in(Duration::from_millis(spec.duration_ms), Event::PartitionEnd)
    }

    pub(super) fn partition_end(&mut self) -> Res {
        if !self.net.is_partitioned() {
            return Ok(());
        }
        self.net.heal();
        self.release_held()?;
        self.refresh_graph();
        Ok(())
    }

    /// The paths healed: deliver what was held back, in order.
    fn release_held(&mut self) -> Res {
        let now = self.q.now();
        let sims: Vec<u64> =
            self.conns.iter().filter(|(_, c)| c.pipes.iter().any(|p| p.has_held())).map(|(s, _)| *s).collect();
        for sim in sims {
            let c = self.conns.get_mut(&sim).expect("listed");
            let (a, b) = (c.ends[0].node, c.ends[1].node);
            let profile = self.net.profile(a, b);
            for side in 0..2 {
                let (data, fin) = c.pipes[side].release(now, &profile, &mut self.rng, &mut self.stats.link);
                if let Some((at, bytes)) = data {
                    let credit = c.grants_written[side];
                    self.q.schedule_at(at, Event::Deliver { conn: sim, to: 1 - side, credit, bytes })?;
                }
                if let Some(at) = fin {
                    let reset = c.fin_reset[side];
                    self.q.schedule_at(at, Event::Fin { conn: sim, to: 1 - side, reset })?;
                }
            }
        }
        Ok(())
    }

    pub(super) fn cut(&mut self) -> Res {
        let now = self.q.now();
        let pairs: Vec<(NodeIndex, NodeIndex)> =
            self.graph.connected_pairs().into_iter().filter(|&(a, b)| self.graph.is_linked(a, b)).collect();
        if !pairs.is_empty() {
            let (a, b) = pairs[self.rng.index(pairs.len())];
            self.net.cut(a, b);
            self.stats.cuts += 1;
            let sims: Vec<u64> = self
                .conns
                .iter()
                .filter(|(_, c)| {
                    (c.ends[0].node, c.ends[1].node) == (a, b) || (c.ends[0].node, c.ends[1].node) == (b, a)
                })
                .map(|(s, _)| *s)
                .collect();
            for sim in sims {
                self.reset_connection(sim)?;
            }
            self.graph.refresh(a, b, false, now);
            self.q.schedule_in(Duration::from_millis(self.sc.cuts.duration_ms), Event::Repair(a, b))?;
        }
        let next = now + Duration::from_nanos(self.rng.exponential_ns(self.sc.cuts.interval_ms * 1_000_000));
        if next < self.load_end {
            self.q.schedule_at(next, Event::Cut)?;
        }
        Ok(())
    }

    pub(super) fn repair(&mut self, a: NodeIndex, b: NodeIndex) -> Res {
        self.net.repair(a, b);
        let now = self.q.now();
        let open = self.net.is_open(a, b);
        self.graph.refresh(a, b, open, now);
        Ok(())
    }

    pub(super) fn churn(&mut self) -> Res {
        let now = self.q.now();
        // The surveyor of the survey scenario stays up: its restart would end the survey.
        let surveyor = self.sc.survey.map(|s| s.surveyor);
        if let Some(n) = self.random_steady_node(false).filter(|n| Some(*n) != surveyor) {
            let crash = self.rng.chance(self.sc.churn.crash_prob);
            self.stats.stops += 1;
            if crash {
                self.stats.crashes += 1;
            }
            self.stop_node(n, crash)?;
            self.q.schedule_in(Duration::from_millis(self.sc.churn.downtime_ms), Event::Restart(n))?;
        }
        let next = now + Duration::from_nanos(self.rng.exponential_ns(self.sc.churn.interval_ms * 1_000_000));
        if next < self.load_end {
            self.q.schedule_at(next, Event::Churn)?;
        }
        Ok(())
    }

    /// Restart a stopped node with its peer records; it dials its configured peers again.
    pub(super) fn restart(&mut self, n: NodeIndex) -> Res {
        if self.nodes[n as usize].live.is_some() {
            return Ok(());
        }
        self.stats.restarts += 1;
        self.start_node(n)?;
        self.schedule_own_dials(n)
    }

    /// The connections node `n` dials at start, again (its configured peers).
    fn schedule_own_dials(&mut self, n: NodeIndex) -> Res {
        let dials: Vec<(NodeIndex, NodeIndex)> = self.plan_dials.iter().copied().filter(|d| d.0 == n).collect();
        for (from, to) in dials {
            let jitter = Duration::from_nanos(100_000_000 + self.rng.below(100_000_000));
            self.q.schedule_in(jitter, Event::Dial { from, to })?;
        }
        Ok(())
    }

    /// A new watcher joins, knowing a few running nodes.
    pub(super) fn join(&mut self) -> Res {
        let n = self.nodes.len() as NodeIndex;
        let mut known: Vec<NodeIndex> = (0..n).filter(|&i| self.nodes[i as usize].live.is_some()).collect();
        self.rng.shuffle(&mut known);
        known.truncate(self.sc.churn.join_known_peers.max(1) as usize);
        known.sort_unstable();
        let plan = NodePlan {
            role: Role::Watcher,
            preferred: Vec::new(),
            preferred_keys: Vec::new(),
            known: known.clone(),
            preferred_only: false,
            target_connections: None,
            max_inbound: None,
        };
        let sn = SimNode::new(n, plan);
        self.by_ip.insert(sn.ip, n);
        self.nodes.push(sn);
        self.plan_dials.extend(known.iter().map(|&k| (n, k)));
        self.stats.joins += 1;
        self.start_node(n)?;
        self.schedule_own_dials(n)
    }

    /// The load is over: optionally heal every fault so that the network can converge.
    pub(super) fn settle(&mut self) -> Res {
        if !self.sc.heal_at_settle {
            return Ok(());
        }
        self.partition_end()?;
        self.net.repair_all();
        let clean = |p: LinkProfile| LinkProfile {
            loss_prob: 0.0,
            reset_prob: 0.0,
            duplicate_prob: 0.0,
            reorder_prob: 0.0,
            corrupt_prob: 0.0,
            ..p
        };
        self.net.map_profiles(clean);
        self.refresh_graph();
        Ok(())
    }
}
