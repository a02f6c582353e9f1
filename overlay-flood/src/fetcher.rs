//! [`ItemFetcher`]: anycast fetching of tx sets or quorum sets by hash for the SCP envelopes
//! that need them (PROTOCOL.md §8.3, §8.4; stellar-core `ItemFetcher`).
//!
//! One fetcher per kind of item; one [`Tracker`] per hash. Requests come out as
//! [`FetchRequest`]s (ask peer P for hash H with GET_TX_SET or GET_SCP_QUORUMSET).

use crate::config::FloodConfig;
use crate::tracker::{EnvelopeKnowers, FetchPeer, NextPeer, Tracker, Waiting};
use overlay_proto::xdr::{MessageType, ScpEnvelope, StellarMessage, Uint256};
use overlay_proto::{Hash256, SeededState, Timestamp};
use rand_core::Rng;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// What a fetcher fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchKind {
    /// Transaction sets (TX_SET or GENERALIZED_TX_SET), asked with GET_TX_SET.
    TxSet,
    /// Quorum sets (SCP_QUORUMSET), asked with GET_SCP_QUORUMSET.
    QuorumSet,
}

impl FetchKind {
    /// The request message type.
    pub fn request_type(self) -> MessageType {
        match self {
            FetchKind::TxSet => MessageType::GetTxSet,
            FetchKind::QuorumSet => MessageType::GetScpQuorumset,
        }
    }

    /// Which fetcher a DONT_HAVE of type `t` is for (§8.4): TX_SET and GENERALIZED_TX_SET →
    /// tx sets, SCP_QUORUMSET → quorum sets, anything else → ignored.
    pub fn of_dont_have(t: MessageType) -> Option<FetchKind> {
        match t {
            MessageType::TxSet | MessageType::GeneralizedTxSet => Some(FetchKind::TxSet),
            MessageType::ScpQuorumset => Some(FetchKind::QuorumSet),
            _ => None,
        }
    }
}

/// Ask `peer` for the item `hash` (send GET_TX_SET or GET_SCP_QUORUMSET; not flow-controlled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchRequest<P> {
    /// Whom to ask.
    pub peer: P,
    /// The item's hash.
    pub hash: Hash256,
    /// Which request to send.
    pub kind: FetchKind,
}

impl<P> FetchRequest<P> {
    /// The request as a message.
    pub fn to_message(&self) -> StellarMessage {
        let h = Uint256(self.hash.0);
        match self.kind {
            FetchKind::TxSet => StellarMessage::GetTxSet(h),
            FetchKind::QuorumSet => StellarMessage::GetScpQuorumset(h),
        }
    }
}

/// Counters of a fetcher; the names in brackets are stellar-core's (§14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchMetrics {
    /// Requests sent.
    pub asks: u64,
    /// Moves away from a peer that was asked (timeout or DONT_HAVE)
    /// (`overlay.item-fetcher.next-peer`).
    pub next_peer: u64,
    /// Rounds restarted because every peer was asked.
    pub rebuilds: u64,
    /// DONT_HAVE from the peer asked last (acted on).
    pub dont_have_accepted: u64,
    /// DONT_HAVE from any other peer, or for an item not fetched (ignored).
    pub dont_have_ignored: u64,
    /// Items received that were being fetched.
    pub items_received: u64,
    /// Items received that nobody fetched (ignored, no penalty, §8.2).
    pub items_unrequested: u64,
    /// Trackers dropped because the fetcher was full (ours).
    pub trackers_evicted: u64,
    /// Waiting envelopes dropped because a tracker was full (ours).
    pub envelopes_evicted: u64,
    /// Requests dropped because the request queue was full (the node did not drain it).
    pub requests_dropped: u64,
}

/// A tracker plus its creation number, for the eviction tie-break.
#[derive(Debug, Clone)]
struct Entry<P, E> {
    tracker: Tracker<P, E>,
    created: u64,
}

/// Fetches items of one [`FetchKind`] for waiting SCP envelopes. Generic over the peer handle
/// `P` and the envelope type `E` (normally [`ScpEnvelope`]).
///
/// Drive it like this:
/// * inputs: [`fetch`](Self::fetch) when an envelope needs an item we lack;
///   [`stop_fetch`](Self::stop_fetch) when it no longer does; [`handle_dont_have`](Self::handle_dont_have);
///   [`handle_item`](Self::handle_item) when the item arrives (it returns the waiting
///   envelopes to re-submit to the Herder); [`stop_fetching_outside_range`](Self::stop_fetching_outside_range)
///   on the Herder's cleanup;
/// * after every input, drain [`poll_request`](Self::poll_request) until `None` and send each
///   request;
/// * call [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout).
///
/// Inputs that may ask a peer take the authenticated peers with their ping and the envelope
/// knowers (the [`Floodgate`](crate::Floodgate)) at that moment.
#[derive(Debug, Clone)]
pub struct ItemFetcher<P, E = ScpEnvelope> {
    kind: FetchKind,
    /// Bound: `fetch_trackers_max`; at the limit the tracker with the lowest slot, oldest
    /// first, is dropped.
    trackers: HashMap<Hash256, Entry<P, E>, SeededState>,
    /// Deadlines of running trackers; one entry per tracker with a deadline.
    timers: BTreeSet<(Timestamp, Hash256)>,
    /// Bound: `2 × fetch_trackers_max`; drained after every input. On overflow the oldest
    /// request is dropped (its tracker asks the next peer at its deadline).
    requests: VecDeque<FetchRequest<P>>,
    reply_timeout: Duration,
    max_rebuild: u32,
    trackers_max: usize,
    waiting_max: usize,
    next_created: u64,
    last_now: Timestamp,
    metrics: FetchMetrics,
}

impl<P: Copy + Eq + Ord + Hash + Debug, E> ItemFetcher<P, E> {
    /// A fetcher of `kind` items.
    pub fn new(kind: FetchKind, config: &FloodConfig, hasher_seed: u64) -> Self {
        ItemFetcher {
            kind,
            trackers: HashMap::with_hasher(SeededState::new(hasher_seed)),
            timers: BTreeSet::new(),
            requests: VecDeque::new(),
            reply_timeout: Duration::from_millis(config.fetch_reply_timeout_ms.max(1)),
            max_rebuild: config.max_rebuild_fetch_list.max(1),
            trackers_max: config.fetch_trackers_max.max(1),
            waiting_max: config.fetch_waiting_envelopes_max.max(1),
            next_created: 0,
            last_now: Timestamp::ZERO,
            metrics: FetchMetrics::default(),
        }
    }

    /// The kind of item fetched.
    pub fn kind(&self) -> FetchKind {
        self.kind
    }

    /// `waiting` needs the item `hash`. Creates the tracker if absent and asks a peer at once;
    /// a tracker already asking just records the envelope (no extra request). A stopped
    /// tracker (its item arrived, or every envelope was withdrawn) starts asking again.
    pub fn fetch<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        hash: Hash256,
        waiting: Waiting<E>,
        peers: &[FetchPeer<P>],
        knowers: &impl EnvelopeKnowers<P>,
    ) {
        let now = self.clamp(now);
        if !self.trackers.contains_key(&hash) {
            while self.trackers.len() >= self.trackers_max {
                if !self.evict_one() {
                    break;
                }
            }
            let created = self.next_created;
            self.next_created += 1;
            self.trackers.insert(hash, Entry { tracker: Tracker::new(hash), created });
        }
        let Some(entry) = self.trackers.get_mut(&hash) else {
            return;
        };
        let (_, dropped) = entry.tracker.listen(waiting, self.waiting_max);
        if dropped {
            self.metrics.envelopes_evicted += 1;
        }
        if entry.tracker.deadline().is_none() {
            self.try_next_peer(now, rng, hash, peers, knowers);
        }
    }

    /// The envelope with identity `msg_id` no longer needs `hash`. When no envelope is left
    /// the tracker stops asking and forgets its highest slot (it stays registered until the
    /// next range cleanup).
    pub fn stop_fetch(&mut self, hash: &Hash256, msg_id: &Hash256) {
        let Some(entry) = self.trackers.get_mut(hash) else {
            return;
        };
        entry.tracker.discard(msg_id);
        if entry.tracker.is_empty() {
            let old = entry.tracker.deadline();
            entry.tracker.cancel();
            entry.tracker.reset_last_seen_slot();
            if let Some(t) = old {
                self.timers.remove(&(t, *hash));
            }
        }
    }

    /// DONT_HAVE for `hash` from `from` (§8.4). If `from` is the peer asked last, the next
    /// peer is asked at once; otherwise it is ignored. The caller routes by
    /// [`FetchKind::of_dont_have`].
    pub fn handle_dont_have<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        hash: &Hash256,
        from: P,
        peers: &[FetchPeer<P>],
        knowers: &impl EnvelopeKnowers<P>,
    ) {
        let now = self.clamp(now);
        let accepted = self.trackers.get(hash).is_some_and(|e| e.tracker.last_asked() == Some(from));
        if !accepted {
            self.metrics.dont_have_ignored += 1;
            return;
        }
        self.metrics.dont_have_accepted += 1;
        self.try_next_peer(now, rng, *hash, peers, knowers);
    }

    /// The item `hash` arrived. Returns the envelopes that waited for it, last added first
    /// (re-submit them to the Herder in this order); the tracker stops and forgets its highest
    /// slot. An item nobody fetched returns nothing.
    pub fn handle_item(&mut self, hash: &Hash256) -> Vec<E> {
        let Some(entry) = self.trackers.get_mut(hash) else {
            self.metrics.items_unrequested += 1;
            return Vec::new();
        };
        self.metrics.items_received += 1;
        let mut out = Vec::with_capacity(entry.tracker.len());
        while let Some(e) = entry.tracker.pop() {
            out.push(e);
        }
        entry.tracker.reset_last_seen_slot();
        let old = entry.tracker.deadline();
        entry.tracker.cancel();
        if let Some(t) = old {
            self.timers.remove(&(t, *hash));
        }
        out
    }

    /// The Herder's cleanup: drop envelopes with slot below `min_slot` or above `max_slot`,
    /// except those of `slot_to_keep` (the checkpoint slot); trackers left empty are removed.
    pub fn stop_fetching_outside_range(&mut self, min_slot: Option<u64>, max_slot: Option<u64>, slot_to_keep: u64) {
        let timers = &mut self.timers;
        self.trackers.retain(|hash, e| {
            let old = e.tracker.deadline();
            let keep = e.tracker.clear_envelopes_outside_range(min_slot, max_slot, slot_to_keep);
            if !keep {
                if let Some(t) = old {
                    timers.remove(&(t, *hash));
                }
            }
            keep
        });
    }

    /// Run the trackers whose deadline is at or before `now`: each asks its next peer (its
    /// reply timed out) or starts a new round.
    pub fn handle_timeout<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        peers: &[FetchPeer<P>],
        knowers: &impl EnvelopeKnowers<P>,
    ) {
        let now = self.clamp(now);
        let due: Vec<Hash256> = self.timers.iter().take_while(|(t, _)| *t <= now).map(|&(_, h)| h).collect();
        for hash in due {
            self.try_next_peer(now, rng, hash, peers, knowers);
        }
    }

    /// The earliest tracker deadline.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// The next request to send. Drain until `None` after every input.
    pub fn poll_request(&mut self) -> Option<FetchRequest<P>> {
        self.requests.pop_front()
    }

    /// Highest slot of the envelopes waiting for `hash` (0 if not fetched or received).
    pub fn last_seen_slot(&self, hash: &Hash256) -> u64 {
        self.trackers.get(hash).map_or(0, |e| e.tracker.last_seen_slot())
    }

    /// The envelopes waiting for `hash`, oldest first.
    pub fn fetching_for(&self, hash: &Hash256) -> Vec<&E> {
        self.trackers.get(hash).map_or_else(Vec::new, |e| e.tracker.waiting().collect())
    }

    /// Whether the envelope with message identity `msg_id` waits for any item of this
    /// fetcher (a pass over the trackers).
    pub fn is_waiting(&self, msg_id: &Hash256) -> bool {
        self.trackers.values().any(|e| e.tracker.is_waiting(msg_id))
    }

    /// The tracker of `hash`.
    pub fn tracker(&self, hash: &Hash256) -> Option<&Tracker<P, E>> {
        self.trackers.get(hash).map(|e| &e.tracker)
    }

    /// Number of trackers (running or stopped).
    pub fn len(&self) -> usize {
        self.trackers.len()
    }

    /// Whether there is no tracker.
    pub fn is_empty(&self) -> bool {
        self.trackers.is_empty()
    }

    /// Requests not yet drained.
    pub fn pending_requests(&self) -> usize {
        self.requests.len()
    }

    /// Counters.
    pub fn metrics(&self) -> FetchMetrics {
        self.metrics
    }

    /// Time never goes backwards: an earlier `now` is taken as the latest seen.
    fn clamp(&mut self, now: Timestamp) -> Timestamp {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    fn try_next_peer<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        hash: Hash256,
        peers: &[FetchPeer<P>],
        knowers: &impl EnvelopeKnowers<P>,
    ) {
        let Some(entry) = self.trackers.get_mut(&hash) else {
            return;
        };
        let t = &mut entry.tracker;
        if t.last_asked().is_some() {
            self.metrics.next_peer += 1;
        }
        if let Some(old) = t.deadline() {
            self.timers.remove(&(old, hash));
        }
        let next = t.try_next_peer(now, rng, peers, knowers, self.reply_timeout, self.max_rebuild);
        if let Some(d) = t.deadline() {
            self.timers.insert((d, hash));
        }
        match next {
            NextPeer::Ask(peer) => {
                self.metrics.asks += 1;
                if self.requests.len() >= 2 * self.trackers_max {
                    self.requests.pop_front();
                    self.metrics.requests_dropped += 1;
                }
                self.requests.push_back(FetchRequest { peer, hash, kind: self.kind });
            }
            NextPeer::Rebuild => self.metrics.rebuilds += 1,
        }
    }

    /// Drop the tracker with the lowest highest-slot, oldest first. False if there is none.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .trackers
            .iter()
            .min_by_key(|(_, e)| (e.tracker.last_seen_slot(), e.created))
            .map(|(h, e)| (*h, e.tracker.deadline()));
        let Some((hash, deadline)) = victim else {
            return false;
        };
        self.trackers.remove(&hash);
        if let Some(t) = deadline {
            self.timers.remove(&(t, hash));
        }
        self.metrics.trackers_evicted += 1;
        true
    }
}
