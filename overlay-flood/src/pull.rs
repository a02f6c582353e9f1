//! [`PullMode`]: pull-mode transaction flooding for all peers (PROTOCOL.md §9): per-peer
//! advert state, the global demand scheduler, their timers and their outgoing messages.

use crate::adverts::PeerAdverts;
use crate::config::{FloodConfig, LedgerLimits, PEERS_MAX};
use crate::demands::{AdvertQueues, DemandMetrics, DemandScheduler, PullLatency};
use crate::error::FloodError;
use overlay_proto::xdr::{FloodAdvert, FloodDemand, Hash, StellarMessage, TxAdvertVector, TxDemandVector};
use overlay_proto::{Hash256, Timestamp};
use rand_core::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash as StdHash;
use std::time::Duration;

/// Which pull-mode message to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullMessageKind {
    /// FLOOD_ADVERT (flood message, priority 3).
    Advert,
    /// FLOOD_DEMAND (flood message, priority 2).
    Demand,
}

/// A pull-mode message to send to a peer. `hashes` holds 1 to 1000 hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullTransmit<P> {
    /// The recipient.
    pub peer: P,
    /// FLOOD_ADVERT or FLOOD_DEMAND.
    pub kind: PullMessageKind,
    /// The pull-mode hashes, in order.
    pub hashes: Vec<Hash256>,
}

impl<P> PullTransmit<P> {
    /// The message to send. Lists longer than the XDR bound of 1000 cannot come out of
    /// [`PullMode`]; if one is built by hand, the excess is cut.
    pub fn to_message(&self) -> StellarMessage {
        let mut hashes: Vec<Hash> = self.hashes.iter().map(|h| Hash(h.0)).collect();
        hashes.truncate(crate::config::TX_HASHES_PER_MESSAGE_MAX);
        let vec = hashes.try_into().unwrap_or_default();
        match self.kind {
            PullMessageKind::Advert => StellarMessage::FloodAdvert(FloodAdvert { tx_hashes: TxAdvertVector(vec) }),
            PullMessageKind::Demand => StellarMessage::FloodDemand(FloodDemand { tx_hashes: TxDemandVector(vec) }),
        }
    }
}

/// What we have of a demanded transaction, as the Herder answers (§9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxAvailability {
    /// In our transaction queue: send it.
    Have,
    /// Banned: do not send (`overlay.flood.unfulfilled-banned`).
    Banned,
    /// Unknown: do not send (`overlay.flood.unfulfilled-unknown`).
    Unknown,
}

/// Counters of pull mode; the names in brackets are stellar-core's (§14). The demand
/// scheduler's own counters are in [`DemandMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PullMetrics {
    /// Hashes queued as adverts (`overlay.flood.advertised`).
    pub advertised: u64,
    /// Hashes not advertised because the peer advertised them to us first.
    pub advert_skipped_known: u64,
    /// FLOOD_ADVERT messages produced (`overlay.send.flood-advert`).
    pub adverts_sent: u64,
    /// FLOOD_DEMAND messages produced (`overlay.send.flood-demand`).
    pub demands_sent: u64,
    /// Hashes received in adverts.
    pub advert_hashes_received: u64,
    /// Incoming hashes dropped by the per-peer limit.
    pub incoming_dropped: u64,
    /// Advert-history entries evicted at random.
    pub history_evicted: u64,
    /// Demanded hashes we sent (`overlay.flood.fulfilled`).
    pub fulfilled: u64,
    /// Demanded hashes that are banned (`overlay.flood.unfulfilled-banned`).
    pub unfulfilled_banned: u64,
    /// Demanded hashes we do not know (`overlay.flood.unfulfilled-unknown`).
    pub unfulfilled_unknown: u64,
    /// Sum, count and max of `tx-pull-latency` in ms (`overlay.flood.tx-pull-latency`).
    pub pull_latency_ms_sum: u64,
    /// Count of `pull_latency_ms_sum`.
    pub pull_latency_count: u64,
    /// Maximum pull latency in ms.
    pub pull_latency_ms_max: u64,
    /// Messages dropped because the output queue was full (the node did not drain it).
    pub transmits_dropped: u64,
}

/// Bound of the output queue, in messages. Why: one call produces at most one advert and one
/// demand per peer and the node drains after every call, so this is never reached in normal
/// use; on overflow the oldest message is dropped and counted.
const OUTBOX_MAX: usize = 4 * PEERS_MAX;

/// Pull-mode flooding for every authenticated peer. Generic over the peer handle `P`.
///
/// The node:
/// * [`add_peer`](Self::add_peer) after authentication, [`remove_peer`](Self::remove_peer)
///   when the peer is dropped;
/// * [`set_ledger_limits`](Self::set_ledger_limits) and [`clear_below`](Self::clear_below)
///   after every ledger close;
/// * [`queue_outgoing_advert`](Self::queue_outgoing_advert) for each peer the
///   [`Floodgate`](crate::Floodgate) returns when broadcasting a transaction;
/// * [`handle_flood_advert`](Self::handle_flood_advert), [`handle_flood_demand`](Self::handle_flood_demand)
///   and [`handle_transaction`](Self::handle_transaction) for received messages (ignore
///   adverts and demands while not in sync, §7 step 7);
/// * [`handle_timeout`](Self::handle_timeout) when [`poll_timeout`](Self::poll_timeout) is
///   reached;
/// * after every call, drains [`poll_transmit`](Self::poll_transmit) until `None` and queues
///   each message on its peer's flow-controlled connection.
#[derive(Debug, Clone)]
pub struct PullMode<P> {
    config: FloodConfig,
    limits: LedgerLimits,
    /// Bound: `PEERS_MAX` peers.
    peers: BTreeMap<P, PeerAdverts>,
    demands: DemandScheduler<P>,
    next_demand_at: Timestamp,
    /// Bound: [`OUTBOX_MAX`].
    outbox: VecDeque<PullTransmit<P>>,
    hasher_seed: u64,
    peers_added: u64,
    last_now: Timestamp,
    metrics: PullMetrics,
}

impl<P: Copy + Eq + Ord + StdHash + Debug> PullMode<P> {
    /// Pull mode started at `now`: the first demand run is due at once (§9.3, "first run at
    /// overlay start").
    pub fn new(config: &FloodConfig, limits: LedgerLimits, hasher_seed: u64, now: Timestamp) -> Self {
        PullMode {
            config: config.clone(),
            limits,
            peers: BTreeMap::new(),
            demands: DemandScheduler::new(config, hasher_seed ^ 0x243f_6a88_85a3_08d3),
            next_demand_at: now,
            outbox: VecDeque::new(),
            hasher_seed,
            peers_added: 0,
            last_now: now,
            metrics: PullMetrics::default(),
        }
    }

    /// New ledger-derived sizes.
    pub fn set_ledger_limits(&mut self, limits: LedgerLimits) {
        self.limits = limits;
    }

    /// The ledger-derived sizes in force.
    pub fn ledger_limits(&self) -> LedgerLimits {
        self.limits
    }

    /// Hashes per FLOOD_ADVERT now (§9.1).
    pub fn max_advert_size(&self) -> usize {
        self.limits.max_advert_size(&self.config)
    }

    /// Hashes per FLOOD_DEMAND now (§9.3).
    pub fn max_demand_size(&self) -> usize {
        self.limits.max_demand_size(&self.config)
    }

    /// Register an authenticated peer. Idempotent.
    pub fn add_peer(&mut self, peer: P) -> Result<(), FloodError> {
        if self.peers.contains_key(&peer) {
            return Ok(());
        }
        if self.peers.len() >= PEERS_MAX {
            return Err(FloodError::PeerSlotsExhausted(PEERS_MAX));
        }
        self.peers_added += 1;
        let seed = self.hasher_seed.wrapping_add(self.peers_added.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.peers.insert(peer, PeerAdverts::new(self.config.advert_history_entries_max, seed));
        Ok(())
    }

    /// Forget a dropped peer: its queues, history and unsent batch. Idempotent.
    pub fn remove_peer(&mut self, peer: &P) {
        self.peers.remove(peer);
        self.outbox.retain(|t| t.peer != *peer);
    }

    /// Registered peers, in order.
    pub fn peers(&self) -> impl Iterator<Item = P> + '_ {
        self.peers.keys().copied()
    }

    /// Queue `tx_hash` as an advert to `peer` (§9.1), unless the peer advertised it to us.
    /// Returns whether it was queued. A full batch is sent at once.
    pub fn queue_outgoing_advert(&mut self, now: Timestamp, peer: P, tx_hash: Hash256) -> bool {
        let now = self.clamp(now);
        let max = self.max_advert_size();
        let period = Duration::from_millis(self.config.flood_advert_period_ms);
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        if state.knows(&tx_hash) {
            self.metrics.advert_skipped_known += 1;
            return false;
        }
        self.metrics.advertised += 1;
        if let Some(batch) = state.queue_outgoing(now, tx_hash, max, period) {
            self.push(PullTransmit { peer, kind: PullMessageKind::Advert, hashes: batch });
        }
        true
    }

    /// A FLOOD_ADVERT from `peer` while the tracking ledger is `tracking_ledger` (§9.2).
    /// Unregistered peers are ignored.
    pub fn handle_flood_advert<R: Rng + ?Sized>(
        &mut self,
        peer: P,
        hashes: &[Hash256],
        tracking_ledger: u32,
        rng: &mut R,
    ) {
        let limit = self.limits.incoming_advert_limit(&self.config);
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        self.metrics.advert_hashes_received += hashes.len() as u64;
        let evicted_before = state.history_evicted();
        let dropped = state.queue_incoming(hashes, tracking_ledger, limit, rng);
        self.metrics.incoming_dropped += dropped as u64;
        self.metrics.history_evicted += state.history_evicted() - evicted_before;
    }

    /// A FLOOD_DEMAND from `peer` (§9.4): returns, in order, the demanded hashes we have, to be
    /// sent to the peer as TRANSACTION messages. `lookup` is the Herder's answer per hash.
    /// Hashes we do not have get no reply (there is no negative reply).
    pub fn handle_flood_demand(
        &mut self,
        hashes: &[Hash256],
        mut lookup: impl FnMut(&Hash256) -> TxAvailability,
    ) -> Vec<Hash256> {
        let mut out = Vec::new();
        for h in hashes {
            match lookup(h) {
                TxAvailability::Have => {
                    self.metrics.fulfilled += 1;
                    out.push(*h);
                }
                TxAvailability::Banned => self.metrics.unfulfilled_banned += 1,
                TxAvailability::Unknown => self.metrics.unfulfilled_unknown += 1,
            }
        }
        out
    }

    /// A TRANSACTION with pull-mode hash `tx_hash` arrived from `from` (§9.5). It is valid
    /// whether or not we demanded it; if we did, the pull latency is recorded and returned
    /// (once per demand record).
    pub fn handle_transaction(&mut self, now: Timestamp, from: P, tx_hash: &Hash256) -> Option<PullLatency> {
        let now = self.clamp(now);
        let lat = self.demands.handle_transaction(now, from, tx_hash)?;
        let ms = u64::try_from(lat.since_first_demand.as_millis()).unwrap_or(u64::MAX);
        self.metrics.pull_latency_ms_sum = self.metrics.pull_latency_ms_sum.saturating_add(ms);
        self.metrics.pull_latency_count += 1;
        self.metrics.pull_latency_ms_max = self.metrics.pull_latency_ms_max.max(ms);
        Some(lat)
    }

    /// Drop advert-history entries of ledgers below `min_ledger` for every peer (§9.2).
    pub fn clear_below(&mut self, min_ledger: u32) {
        for state in self.peers.values_mut() {
            state.clear_below(min_ledger);
        }
    }

    /// Timers at `now`: send every advert batch whose period expired, and run the demand
    /// scheduler if it is due (then every `FLOOD_DEMAND_PERIOD_MS`). `have_or_banned` answers
    /// for a hash whether the Herder has it in its queue or has banned it.
    pub fn handle_timeout<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        have_or_banned: impl FnMut(&Hash256) -> bool,
    ) {
        let now = self.clamp(now);
        let mut batches = Vec::new();
        for (&peer, state) in self.peers.iter_mut() {
            if let Some(batch) = state.poll_flush(now) {
                batches.push(PullTransmit { peer, kind: PullMessageKind::Advert, hashes: batch });
            }
        }
        for b in batches {
            self.push(b);
        }
        if now >= self.next_demand_at {
            self.run_demands(now, rng, have_or_banned);
            self.next_demand_at = now + Duration::from_millis(self.config.flood_demand_period_ms.max(1));
        }
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work: the demand period or
    /// the earliest advert batch deadline.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let adverts = self.peers.values().filter_map(PeerAdverts::flush_deadline).min();
        Some(adverts.map_or(self.next_demand_at, |a| a.min(self.next_demand_at)))
    }

    /// The next message to send. Drain until `None` after every call.
    pub fn poll_transmit(&mut self) -> Option<PullTransmit<P>> {
        self.outbox.pop_front()
    }

    /// Hashes waiting in `peer`'s incoming queue and retry list.
    pub fn incoming_len(&self, peer: &P) -> usize {
        self.peers.get(peer).map_or(0, PeerAdverts::incoming_len)
    }

    /// Hashes waiting in `peer`'s outgoing advert batch.
    pub fn outgoing_len(&self, peer: &P) -> usize {
        self.peers.get(peer).map_or(0, PeerAdverts::outgoing_len)
    }

    /// Entries in `peer`'s advert history.
    pub fn history_len(&self, peer: &P) -> usize {
        self.peers.get(peer).map_or(0, PeerAdverts::history_len)
    }

    /// Whether `peer` advertised `tx_hash` to us.
    pub fn peer_knows(&self, peer: &P, tx_hash: &Hash256) -> bool {
        self.peers.get(peer).is_some_and(|s| s.knows(tx_hash))
    }

    /// The demand scheduler (demand records, its counters).
    pub fn demands(&self) -> &DemandScheduler<P> {
        &self.demands
    }

    /// Messages not yet drained.
    pub fn pending_transmits(&self) -> usize {
        self.outbox.len()
    }

    /// Pull-mode counters.
    pub fn metrics(&self) -> PullMetrics {
        self.metrics
    }

    /// The demand scheduler's counters.
    pub fn demand_metrics(&self) -> DemandMetrics {
        self.demands.metrics()
    }

    fn run_demands<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        have_or_banned: impl FnMut(&Hash256) -> bool,
    ) {
        let peers: Vec<P> = self.peers.keys().copied().collect();
        let max_demand = self.max_demand_size();
        let limit = self.limits.incoming_advert_limit(&self.config);
        let mut queues = Queues { peers: &mut self.peers, limit, dropped: 0 };
        let out = self.demands.run(now, rng, &peers, &mut queues, have_or_banned, max_demand);
        self.metrics.incoming_dropped += queues.dropped;
        for (peer, hashes) in out {
            self.push(PullTransmit { peer, kind: PullMessageKind::Demand, hashes });
        }
    }

    fn push(&mut self, t: PullTransmit<P>) {
        match t.kind {
            PullMessageKind::Advert => self.metrics.adverts_sent += 1,
            PullMessageKind::Demand => self.metrics.demands_sent += 1,
        }
        if self.outbox.len() >= OUTBOX_MAX {
            self.outbox.pop_front();
            self.metrics.transmits_dropped += 1;
        }
        self.outbox.push_back(t);
    }

    fn clamp(&mut self, now: Timestamp) -> Timestamp {
        self.last_now = self.last_now.max(now);
        self.last_now
    }
}

/// The per-peer queues as the scheduler sees them.
struct Queues<'a, P> {
    peers: &'a mut BTreeMap<P, PeerAdverts>,
    limit: usize,
    dropped: u64,
}

impl<P: Ord> AdvertQueues<P> for Queues<'_, P> {
    fn pop_advert(&mut self, peer: P) -> Option<Hash256> {
        self.peers.get_mut(&peer)?.pop_incoming()
    }

    fn retry_adverts(&mut self, peer: P, hashes: Vec<Hash256>) {
        if let Some(s) = self.peers.get_mut(&peer) {
            self.dropped += s.retry_incoming(hashes, self.limit) as u64;
        }
    }
}
