//! [`DemandScheduler`]: which advertised transactions to demand from which peer, and when to
//! demand again from another peer (PROTOCOL.md §9.3–§9.5; stellar-core `TxDemandsManager`).
//!
//! A demand record per hash remembers the peers asked and when. A hash is demanded from one
//! peer; if the transaction has not arrived `min(n × 500 ms, 2 s)` after the n-th demand, the
//! next peer that advertised it is asked, up to 15 peers. Records are purged 60 s after the
//! first demand.
//!
//! What happens to a demanded transaction:
//! * **it arrives** (in time or late, from the asked peer or any other): the node hands it to
//!   the Herder as any TRANSACTION and calls [`handle_transaction`](DemandScheduler::handle_transaction),
//!   which reports the pull latency once. Once the Herder has it, the scheduler's "do we have
//!   it" predicate discards further adverts of the hash.
//! * **it never arrives**: it is demanded again from other advertisers with the backoff, at
//!   most 15 peers in all; 60 s after the first demand the record is purged and counted as
//!   abandoned (`overlay.flood.abandoned-demands`). A later advert of the same hash starts over.

use crate::config::FloodConfig;
use overlay_proto::{Hash256, SeededState, Timestamp};
use rand_core::Rng;
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// Per-peer queues of advertised hashes that the scheduler pops and refills.
/// [`PullMode`](crate::PullMode) implements it over its [`PeerAdverts`](crate::PeerAdverts).
pub trait AdvertQueues<P> {
    /// The next advertised hash of `peer` to consider (retry list first), if any.
    fn pop_advert(&mut self, peer: P) -> Option<Hash256>;
    /// Hashes of `peer` to consider again at the next run.
    fn retry_adverts(&mut self, peer: P, hashes: Vec<Hash256>);
}

/// The verdict for one hash and one peer (§9.3 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandStatus {
    /// Demand it from this peer now.
    Demand,
    /// Not yet: the backoff since the last demand has not elapsed.
    RetryLater,
    /// Drop it: we have it or it is banned, or we already demanded it from this peer, or from
    /// the maximum number of peers.
    Discard,
}

/// One demanded hash.
#[derive(Debug, Clone)]
struct DemandRecord<P> {
    first_demanded: Timestamp,
    last_demanded: Timestamp,
    /// Peers asked and when. Bound: `max_demand_peers_per_tx` (15).
    peers: Vec<(P, Timestamp)>,
    received: bool,
}

/// Latencies of a pulled transaction, reported once per demand record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullLatency {
    /// From the first demand to arrival (`overlay.flood.tx-pull-latency`).
    pub since_first_demand: Duration,
    /// From the demand to the peer that sent it, if we demanded it from that peer
    /// (`overlay.flood.peer-tx-pull-latency`).
    pub from_peer: Option<Duration>,
}

/// Counters of the scheduler; the names in brackets are stellar-core's (§14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemandMetrics {
    /// Scheduler runs.
    pub runs: u64,
    /// Hashes demanded, first or later (`overlay.flood.demanded`).
    pub demanded: u64,
    /// Demands to a second or later peer (`overlay.demand.timeout`).
    pub timeouts: u64,
    /// Records purged without the transaction having arrived
    /// (`overlay.flood.abandoned-demands`).
    pub abandoned: u64,
    /// Demanded transactions that arrived (first arrival per record).
    pub pulled: u64,
    /// Records dropped early because the history was full (ours).
    pub history_evicted: u64,
}

/// The global demand scheduler. Generic over the peer handle `P`.
///
/// The node normally uses it through [`PullMode`](crate::PullMode), which runs it every
/// `FLOOD_DEMAND_PERIOD_MS`. Direct use: call [`run`](Self::run) with the authenticated peers,
/// their advert queues and a "have or banned" predicate; send each returned list as a
/// FLOOD_DEMAND to its peer; call [`handle_transaction`](Self::handle_transaction) when a
/// TRANSACTION arrives.
#[derive(Debug, Clone)]
pub struct DemandScheduler<P> {
    /// Bound: `demand_history_entries_max`; at the limit the oldest record is dropped.
    history: HashMap<Hash256, DemandRecord<P>, SeededState>,
    /// Hashes in order of first demand, for the 60-s purge. Same keys as `history`.
    pending: VecDeque<Hash256>,
    backoff_ms: u64,
    max_delay_ms: u64,
    max_peers: usize,
    retention: Duration,
    entries_max: usize,
    metrics: DemandMetrics,
}

impl<P: Copy + Eq + Ord + Hash + Debug> DemandScheduler<P> {
    /// An empty scheduler.
    pub fn new(config: &FloodConfig, hasher_seed: u64) -> Self {
        DemandScheduler {
            history: HashMap::with_hasher(SeededState::new(hasher_seed)),
            pending: VecDeque::new(),
            backoff_ms: config.flood_demand_backoff_delay_ms,
            max_delay_ms: config.max_demand_delay_ms,
            max_peers: config.max_demand_peers_per_tx.max(1),
            retention: Duration::from_millis(config.demand_retention_ms()),
            entries_max: config.demand_history_entries_max.max(1),
            metrics: DemandMetrics::default(),
        }
    }

    /// The status of `hash` for `peer` at `now` (§9.3). `have_or_banned` is the Herder's
    /// answer for this hash (in our tx queue, or banned).
    pub fn status(&self, now: Timestamp, hash: &Hash256, peer: P, have_or_banned: bool) -> DemandStatus {
        if have_or_banned {
            return DemandStatus::Discard;
        }
        let Some(rec) = self.history.get(hash) else {
            return DemandStatus::Demand;
        };
        if rec.peers.iter().any(|(p, _)| *p == peer) {
            return DemandStatus::Discard;
        }
        let n = rec.peers.len();
        if n >= self.max_peers {
            return DemandStatus::Discard;
        }
        let delay = Duration::from_millis((n as u64).saturating_mul(self.backoff_ms).min(self.max_delay_ms));
        if now.saturating_duration_since(rec.last_demanded) >= delay {
            DemandStatus::Demand
        } else {
            DemandStatus::RetryLater
        }
    }

    /// One scheduler run at `now` (§9.3):
    /// 1. purge records whose first demand is 60 s old;
    /// 2. shuffle `peers` with `rng`;
    /// 3. in passes over the peers, each peer pops hashes until it finds one to demand (or
    ///    its list has `max_demand_size` hashes, or its queue is empty); passes continue while
    ///    some peer added a demand;
    /// 4. hashes to retry later go back to their peer's queue.
    ///
    /// Returns the non-empty demand lists, one per peer, in the shuffled order.
    pub fn run<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        peers: &[P],
        queues: &mut impl AdvertQueues<P>,
        mut have_or_banned: impl FnMut(&Hash256) -> bool,
        max_demand_size: usize,
    ) -> Vec<(P, Vec<Hash256>)> {
        self.metrics.runs += 1;
        self.purge(now);
        let mut order: Vec<P> = peers.to_vec();
        order.sort_unstable();
        order.dedup();
        overlay_proto::random::shuffle(rng, &mut order);
        let max_demand_size = max_demand_size.max(1);
        let mut demands: Vec<Vec<Hash256>> = vec![Vec::new(); order.len()];
        let mut retries: Vec<Vec<Hash256>> = vec![Vec::new(); order.len()];
        loop {
            let mut any_new = false;
            for (i, &peer) in order.iter().enumerate() {
                let mut added = false;
                while !added && demands[i].len() < max_demand_size {
                    let Some(hash) = queues.pop_advert(peer) else {
                        break;
                    };
                    let have = have_or_banned(&hash);
                    match self.status(now, &hash, peer, have) {
                        DemandStatus::Demand => {
                            self.record_demand(now, hash, peer);
                            demands[i].push(hash);
                            added = true;
                        }
                        DemandStatus::RetryLater => retries[i].push(hash),
                        DemandStatus::Discard => {}
                    }
                }
                any_new |= added;
            }
            if !any_new {
                break;
            }
        }
        let mut out = Vec::new();
        for ((peer, demand), retry) in order.into_iter().zip(demands).zip(retries) {
            if !retry.is_empty() {
                queues.retry_adverts(peer, retry);
            }
            if !demand.is_empty() {
                out.push((peer, demand));
            }
        }
        out
    }

    /// A TRANSACTION with pull-mode hash `hash` arrived from `from` (§9.5). Returns the pull
    /// latency the first time a demanded hash arrives; `None` if it was not demanded (it is
    /// still a valid transaction) or already arrived.
    pub fn handle_transaction(&mut self, now: Timestamp, from: P, hash: &Hash256) -> Option<PullLatency> {
        let rec = self.history.get_mut(hash)?;
        if rec.received {
            return None;
        }
        rec.received = true;
        self.metrics.pulled += 1;
        let from_peer = rec.peers.iter().find(|(p, _)| *p == from).map(|&(_, t)| now.saturating_duration_since(t));
        Some(PullLatency { since_first_demand: now.saturating_duration_since(rec.first_demanded), from_peer })
    }

    /// The peers `hash` was demanded from, in order, with the time of each demand.
    pub fn demanded_from(&self, hash: &Hash256) -> &[(P, Timestamp)] {
        self.history.get(hash).map_or(&[], |r| &r.peers)
    }

    /// Demand records held.
    pub fn len(&self) -> usize {
        self.history.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.history.is_empty()
    }

    /// Counters.
    pub fn metrics(&self) -> DemandMetrics {
        self.metrics
    }

    fn purge(&mut self, now: Timestamp) {
        while let Some(front) = self.pending.front() {
            let Some(rec) = self.history.get(front) else {
                self.pending.pop_front();
                continue;
            };
            if now.saturating_duration_since(rec.first_demanded) < self.retention {
                break;
            }
            if !rec.received {
                self.metrics.abandoned += 1;
            }
            let h = *front;
            self.pending.pop_front();
            self.history.remove(&h);
        }
    }

    fn record_demand(&mut self, now: Timestamp, hash: Hash256, peer: P) {
        self.metrics.demanded += 1;
        if let Some(rec) = self.history.get_mut(&hash) {
            self.metrics.timeouts += 1;
            rec.peers.push((peer, now));
            rec.last_demanded = now;
            return;
        }
        while self.history.len() >= self.entries_max {
            let Some(old) = self.pending.pop_front() else {
                break;
            };
            if self.history.remove(&old).is_some() {
                self.metrics.history_evicted += 1;
            }
        }
        self.history.insert(
            hash,
            DemandRecord { first_demanded: now, last_demanded: now, peers: vec![(peer, now)], received: false },
        );
        self.pending.push_back(hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use std::collections::BTreeMap;

    /// Plain FIFO queues per peer.
    #[derive(Default)]
    struct Queues(BTreeMap<u32, VecDeque<Hash256>>);

    impl AdvertQueues<u32> for Queues {
        fn pop_advert(&mut self, peer: u32) -> Option<Hash256> {
            self.0.get_mut(&peer)?.pop_front()
        }
        fn retry_adverts(&mut self, peer: u32, hashes: Vec<Hash256>) {
            let q = self.0.entry(peer).or_default();
            for h in hashes.into_iter().rev() {
                q.push_front(h);
            }
        }
    }

    impl Queues {
        fn advert(&mut self, peer: u32, hashes: &[Hash256]) {
            self.0.entry(peer).or_default().extend(hashes.iter().copied());
        }
    }

    fn h(i: u32) -> Hash256 {
        Hash256::sha256(&i.to_be_bytes())
    }

    fn ms(t: u64) -> Timestamp {
        Timestamp::from_millis(t)
    }

    fn sched() -> DemandScheduler<u32> {
        DemandScheduler::new(&FloodConfig::default(), 1)
    }

    fn flat(out: &[(u32, Vec<Hash256>)]) -> BTreeMap<u32, Vec<Hash256>> {
        out.iter().cloned().collect()
    }

    #[test]
    fn status_follows_the_rules() {
        let mut s = sched();
        let x = h(1);
        assert_eq!(s.status(ms(0), &x, 1, false), DemandStatus::Demand);
        assert_eq!(s.status(ms(0), &x, 1, true), DemandStatus::Discard);
        s.record_demand(ms(0), x, 1);
        // Same peer: discard. Other peer: wait 500 ms.
        assert_eq!(s.status(ms(10_000), &x, 1, false), DemandStatus::Discard);
        assert_eq!(s.status(ms(499), &x, 2, false), DemandStatus::RetryLater);
        assert_eq!(s.status(ms(500), &x, 2, false), DemandStatus::Demand);
        s.record_demand(ms(500), x, 2);
        assert_eq!(s.status(ms(1499), &x, 3, false), DemandStatus::RetryLater);
        assert_eq!(s.status(ms(1500), &x, 3, false), DemandStatus::Demand);
    }

    #[test]
    fn backoff_grows_linearly_and_caps_at_two_seconds() {
        let mut s = sched();
        let x = h(1);
        let mut t = 0;
        s.record_demand(ms(t), x, 0);
        for n in 1..15u32 {
            let delay = (u64::from(n) * 500).min(2000);
            assert_eq!(s.status(ms(t + delay - 1), &x, n, false), DemandStatus::RetryLater, "n={n}");
            assert_eq!(s.status(ms(t + delay), &x, n, false), DemandStatus::Demand, "n={n}");
            t += delay;
            s.record_demand(ms(t), x, n);
        }
        // Fifteen peers asked: never again.
        assert_eq!(s.status(ms(t + 100_000), &x, 99, false), DemandStatus::Discard);
    }

    #[test]
    fn ignore_duplicated_adverts() {
        // C++: OverlayTests "overlay pull mode" / "ignore duplicated adverts": one demand only,
        // even after a re-advert 10 s later.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        q.advert(1, &[h(1), h(1)]);
        let out = s.run(ms(0), &mut rng, &[1], &mut q, |_| false, 100);
        assert_eq!(out, [(1, vec![h(1)])]);
        q.advert(1, &[h(1)]);
        assert!(s.run(ms(10_000), &mut rng, &[1], &mut q, |_| false, 100).is_empty());
        assert_eq!(s.metrics().demanded, 1);
    }

    #[test]
    fn sanity_check_demand() {
        // C++: OverlayTests "overlay pull mode" / "sanity check - demand": two advertisers of
        // two different hashes get one demand each.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        q.advert(1, &[h(1)]);
        q.advert(2, &[h(2)]);
        let out = flat(&s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100));
        assert_eq!(out[&1], [h(1)]);
        assert_eq!(out[&2], [h(2)]);
    }

    #[test]
    fn exact_same_advert_from_two_peers() {
        // C++: OverlayTests "overlay pull mode" / "exact same advert from two peers": 5 hashes
        // split 2/3 with no overlap, then after the backoff each peer is asked for the rest.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let five: Vec<_> = (0..5).map(h).collect();
        q.advert(1, &five);
        q.advert(2, &five);
        let first = flat(&s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100));
        let (a, b) = (&first[&1], &first[&2]);
        let mut sizes = [a.len(), b.len()];
        sizes.sort_unstable();
        assert_eq!(sizes, [2, 3]);
        assert!(a.iter().all(|x| !b.contains(x)), "no overlap in the first round");
        // Before the backoff nothing more is demanded.
        assert!(s.run(ms(200), &mut rng, &[1, 2], &mut q, |_| false, 100).is_empty());
        // After 500 ms each peer is asked for what the other had.
        let second = flat(&s.run(ms(600), &mut rng, &[1, 2], &mut q, |_| false, 100));
        let mut a2 = second[&1].clone();
        let mut b2 = second[&2].clone();
        a2.sort();
        b2.sort();
        let mut eb = b.clone();
        let mut ea = a.clone();
        eb.sort();
        ea.sort();
        assert_eq!(a2, eb);
        assert_eq!(b2, ea);
        assert_eq!(s.metrics().timeouts, 5);
        for x in &five {
            assert_eq!(s.demanded_from(x).len(), 2);
        }
    }

    #[test]
    fn overlapping_adverts() {
        // C++: OverlayTests "overlay pull mode" / "overlapping adverts": peer 1 advertises
        // {0,1,3}, peer 2 {0,2,3}: two demands each first (2/2), three each after the backoff.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        q.advert(1, &[h(0), h(1), h(3)]);
        q.advert(2, &[h(0), h(2), h(3)]);
        let first = flat(&s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100));
        assert_eq!(first[&1].len(), 2);
        assert_eq!(first[&2].len(), 2);
        let second = flat(&s.run(ms(1_000), &mut rng, &[1, 2], &mut q, |_| false, 100));
        let total1 = first[&1].len() + second.get(&1).map_or(0, Vec::len);
        let total2 = first[&2].len() + second.get(&2).map_or(0, Vec::len);
        assert_eq!((total1, total2), (3, 3));
    }

    #[test]
    fn randomize_peers() {
        // C++: OverlayTests "overlay pull mode" / "randomize peers": over 300 rounds the split
        // of one advert between two peers is unbiased (each peer at most 2/3 of first demands).
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut first_to_1 = 0;
        let rounds = 300;
        for r in 0..rounds {
            let mut s = sched();
            let mut q = Queues::default();
            q.advert(1, &[h(r)]);
            q.advert(2, &[h(r)]);
            let out = s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100);
            assert_eq!(out.len(), 1);
            if out[0].0 == 1 {
                first_to_1 += 1;
            }
        }
        assert!(first_to_1 <= 2 * rounds / 3 && rounds - first_to_1 <= 2 * rounds / 3, "{first_to_1}");
    }

    #[test]
    fn many_peers_give_exactly_fifteen_demands() {
        // C++: OverlayTests "overlay pull mode with many peers": 19 advertisers of an unknown
        // hash → exactly 15 demands in 10 minutes.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let peers: Vec<u32> = (0..19).collect();
        for &p in &peers {
            q.advert(p, &[h(7)]);
        }
        let mut demands = 0;
        let mut t = 0;
        while t <= 600_000 {
            demands += s.run(ms(t), &mut rng, &peers, &mut q, |_| false, 100).len();
            t += 200;
        }
        assert_eq!(demands, 15);
        assert_eq!(s.metrics().demanded, 15);
        assert_eq!(s.metrics().timeouts, 14);
        // The four left over were discarded, not kept for retry.
        assert!((0..19).all(|p| q.0[&p].is_empty()));
    }

    #[test]
    fn have_or_banned_hashes_are_discarded() {
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        q.advert(1, &[h(1), h(2), h(3)]);
        let out = s.run(ms(0), &mut rng, &[1], &mut q, |x| *x == h(2), 100);
        assert_eq!(out, [(1, vec![h(1), h(3)])]);
        assert!(q.0[&1].is_empty());
    }

    #[test]
    fn demand_lists_respect_max_demand_size() {
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let hashes: Vec<_> = (0..10).map(h).collect();
        q.advert(1, &hashes);
        let out = s.run(ms(0), &mut rng, &[1], &mut q, |_| false, 4);
        assert_eq!(out, [(1, hashes[..4].to_vec())]);
        // The rest waits in the queue for the next run.
        assert_eq!(q.0[&1].len(), 6);
        let out = s.run(ms(200), &mut rng, &[1], &mut q, |_| false, 4);
        assert_eq!(out, [(1, hashes[4..8].to_vec())]);
    }

    #[test]
    fn round_robin_spreads_demands_over_peers() {
        // §9.3: each pass gives each peer at most one new demand, so two peers advertising the
        // same 6 hashes get 3 each.
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let six: Vec<_> = (0..6).map(h).collect();
        q.advert(1, &six);
        q.advert(2, &six);
        let out = flat(&s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100));
        assert_eq!(out[&1].len(), 3);
        assert_eq!(out[&2].len(), 3);
    }

    #[test]
    fn late_and_never_arriving_transactions() {
        let mut s = sched();
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        q.advert(1, &[h(1), h(2)]);
        q.advert(2, &[h(1), h(2)]);
        let first = flat(&s.run(ms(0), &mut rng, &[1, 2], &mut q, |_| false, 100));
        let asked_for_1 = if first[&1].contains(&h(1)) { 1 } else { 2 };
        // h(1) arrives late, after the backoff moved it to the other peer, from the first one.
        s.run(ms(600), &mut rng, &[1, 2], &mut q, |_| false, 100);
        let lat = s.handle_transaction(ms(700), asked_for_1, &h(1)).unwrap();
        assert_eq!(lat.since_first_demand, Duration::from_millis(700));
        assert_eq!(lat.from_peer, Some(Duration::from_millis(700)));
        // Reported once.
        assert_eq!(s.handle_transaction(ms(800), 2, &h(1)), None);
        // An unsolicited transaction is not an error, just not a pull.
        assert_eq!(s.handle_transaction(ms(800), 2, &h(99)), None);
        // h(2) never arrives: purged and abandoned 60 s after the first demand; h(1) is purged
        // too but not counted as abandoned.
        s.run(ms(59_999), &mut rng, &[1, 2], &mut q, |_| false, 100);
        assert_eq!(s.metrics().abandoned, 0);
        s.run(ms(60_000), &mut rng, &[1, 2], &mut q, |_| false, 100);
        assert_eq!(s.metrics().abandoned, 1);
        assert!(s.is_empty());
        assert_eq!(s.metrics().pulled, 1);
    }

    #[test]
    fn history_is_bounded() {
        let cfg = FloodConfig { demand_history_entries_max: 3, ..FloodConfig::default() };
        let mut s: DemandScheduler<u32> = DemandScheduler::new(&cfg, 1);
        let mut q = Queues::default();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        q.advert(1, &(0..10).map(h).collect::<Vec<_>>());
        let out = s.run(ms(0), &mut rng, &[1], &mut q, |_| false, 100);
        assert_eq!(out[0].1.len(), 10);
        assert_eq!(s.len(), 3);
        assert_eq!(s.metrics().history_evicted, 7);
        // The newest records survive.
        assert_eq!(s.demanded_from(&h(9)).len(), 1);
        assert!(s.demanded_from(&h(0)).is_empty());
    }
}
