//! [`Tracker`]: the fetch of one item (a tx set or a quorum set) by hash, and the SCP
//! envelopes waiting for it (PROTOCOL.md §8.3; stellar-core `Tracker`).
//!
//! A tracker asks one peer at a time. The next peer is, in order of preference:
//! 1. an authenticated peer that sent us (or was told) one of the waiting envelopes and that
//!    was not asked this round, or was asked before we knew it had the envelope;
//! 2. otherwise any authenticated peer not asked this round;
//!
//! keeping only the lowest latency bucket `floor(ping_ms / 500)` and picking uniformly at
//! random in it. A reply is awaited 1500 ms. When every peer was asked, the round restarts
//! after `1500 ms × min(10, rounds)`. There is no give-up: a tracker fetches for as long as an
//! envelope waits.

use crate::error::FloodError;
use crate::identity::scp_message_id;
use overlay_proto::Hash256;
use overlay_proto::Timestamp;
use overlay_proto::xdr::ScpEnvelope;
use rand_core::Rng;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

/// An authenticated peer as the fetcher sees it: its handle and its measured ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPeer<P> {
    /// The peer.
    pub peer: P,
    /// Its latest ping round trip in ms (§4.4); 0 if not measured yet (stellar-core's
    /// default too, so unmeasured peers sort first).
    pub ping_ms: u64,
}

/// Who knows a flooded message: the Floodgate ([`Floodgate`](crate::Floodgate) implements
/// it), or [`NoKnowers`] when the caller has no such information.
pub trait EnvelopeKnowers<P> {
    /// Append the peers that sent us, or were told, the message `msg_id`.
    fn peers_knowing(&self, msg_id: &Hash256, out: &mut Vec<P>);
}

/// An [`EnvelopeKnowers`] that knows nobody.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKnowers;

impl<P> EnvelopeKnowers<P> for NoKnowers {
    fn peers_knowing(&self, _msg_id: &Hash256, _out: &mut Vec<P>) {}
}

/// An envelope waiting for an item, with what the tracker needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting<E> {
    /// The Floodgate identity of the message carrying the envelope
    /// (`SHA-256(XDR(StellarMessage::ScpMessage(envelope)))`); also identifies the envelope.
    pub msg_id: Hash256,
    /// The envelope's slot index.
    pub slot_index: u64,
    /// The envelope, handed back when the item arrives.
    pub envelope: E,
}

impl Waiting<ScpEnvelope> {
    /// Wrap an SCP envelope, computing its message identity.
    pub fn scp(envelope: ScpEnvelope) -> Result<Self, FloodError> {
        Ok(Waiting { msg_id: scp_message_id(&envelope)?, slot_index: envelope.statement.slot_index, envelope })
    }
}

/// Most peers remembered as asked in one round. Why: the round normally ends when every
/// authenticated peer was asked (≤ `PEERS_MAX`), but peers that disconnect stay in the map;
/// at this size the round is restarted early (the map is cleared).
const ASKED_PEERS_MAX: usize = 1024;

/// The fetch of one item. Plain data: [`ItemFetcher`](crate::ItemFetcher) owns the trackers,
/// runs their timers and sends the requests.
#[derive(Debug, Clone)]
pub struct Tracker<P, E = ScpEnvelope> {
    item: Hash256,
    /// Bound: the fetcher's `fetch_waiting_envelopes_max`; the oldest is dropped.
    waiting: Vec<Waiting<E>>,
    last_seen_slot: u64,
    /// Peers asked this round → whether they were picked as knowing an envelope.
    /// Bound: [`ASKED_PEERS_MAX`].
    asked: BTreeMap<P, bool>,
    last_asked: Option<P>,
    rebuild_count: u32,
    deadline: Option<Timestamp>,
}

/// What [`Tracker::try_next_peer`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPeer<P> {
    /// Ask this peer; the reply is awaited until the tracker's deadline.
    Ask(P),
    /// Every peer was asked: the round restarts at the tracker's deadline.
    Rebuild,
}

impl<P: Copy + Eq + Ord + Hash + Debug, E> Tracker<P, E> {
    /// A tracker for `item`, with no envelope and no timer.
    pub fn new(item: Hash256) -> Self {
        Tracker {
            item,
            waiting: Vec::new(),
            last_seen_slot: 0,
            asked: BTreeMap::new(),
            last_asked: None,
            rebuild_count: 0,
            deadline: None,
        }
    }

    /// The item's hash.
    pub fn item(&self) -> Hash256 {
        self.item
    }

    /// Add a waiting envelope; the same envelope (same `msg_id`) twice is a no-op. Tracks the
    /// highest slot seen. With `max` envelopes already waiting, the oldest is dropped first.
    /// Returns whether it was added, and whether one was dropped.
    pub fn listen(&mut self, waiting: Waiting<E>, max: usize) -> (bool, bool) {
        self.last_seen_slot = self.last_seen_slot.max(waiting.slot_index);
        if self.waiting.iter().any(|w| w.msg_id == waiting.msg_id) {
            return (false, false);
        }
        let mut dropped = false;
        if self.waiting.len() >= max.max(1) {
            self.waiting.remove(0);
            dropped = true;
        }
        self.waiting.push(waiting);
        (true, dropped)
    }

    /// Remove the envelope with message identity `msg_id`. Returns whether it was waiting.
    pub fn discard(&mut self, msg_id: &Hash256) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|w| w.msg_id != *msg_id);
        before != self.waiting.len()
    }

    /// Take the most recently added envelope (last in, first out).
    pub fn pop(&mut self) -> Option<E> {
        self.waiting.pop().map(|w| w.envelope)
    }

    /// The waiting envelopes, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &E> {
        self.waiting.iter().map(|w| &w.envelope)
    }

    /// Number of waiting envelopes.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the envelope with message identity `msg_id` waits here.
    pub fn is_waiting(&self, msg_id: &Hash256) -> bool {
        self.waiting.iter().any(|w| w.msg_id == *msg_id)
    }

    /// Whether no envelope waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Highest slot of any envelope listened to since creation or the last reset.
    pub fn last_seen_slot(&self) -> u64 {
        self.last_seen_slot
    }

    /// Forget the highest slot seen (after the item arrived).
    pub fn reset_last_seen_slot(&mut self) {
        self.last_seen_slot = 0;
    }

    /// The peer asked last, while a reply from it is awaited.
    pub fn last_asked(&self) -> Option<P> {
        self.last_asked
    }

    /// Rounds in which every peer was asked.
    pub fn rebuild_count(&self) -> u32 {
        self.rebuild_count
    }

    /// When the tracker next needs [`try_next_peer`](Self::try_next_peer); `None` when it is
    /// stopped.
    pub fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    /// Stop: no timer, no peer awaited. Waiting envelopes are kept.
    pub fn cancel(&mut self) {
        self.deadline = None;
        self.last_asked = None;
    }

    /// Drop the envelopes whose slot is below `min_slot` or above `max_slot`, except those of
    /// `slot_to_keep` (the checkpoint). Returns whether any envelope is left; if none, the
    /// tracker is stopped.
    pub fn clear_envelopes_outside_range(
        &mut self,
        min_slot: Option<u64>,
        max_slot: Option<u64>,
        slot_to_keep: u64,
    ) -> bool {
        self.waiting.retain(|w| {
            let s = w.slot_index;
            let outside = min_slot.is_some_and(|m| s < m) || max_slot.is_some_and(|m| s > m);
            !outside || s == slot_to_keep
        });
        if self.waiting.is_empty() {
            self.cancel();
            false
        } else {
            true
        }
    }

    /// Choose the next peer to ask (see the module doc) and set the deadline:
    /// `now + reply_timeout` after an ask, `now + reply_timeout × min(max_rebuild, rounds)`
    /// when the round restarts. `peers` are the authenticated peers; `knowers` tells who has
    /// the waiting envelopes.
    pub fn try_next_peer<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        rng: &mut R,
        peers: &[FetchPeer<P>],
        knowers: &impl EnvelopeKnowers<P>,
        reply_timeout: Duration,
        max_rebuild: u32,
    ) -> NextPeer<P> {
        self.last_asked = None;
        if self.asked.len() >= ASKED_PEERS_MAX {
            self.asked.clear();
        }
        let mut knowing = Vec::new();
        for w in &self.waiting {
            knowers.peers_knowing(&w.msg_id, &mut knowing);
        }
        knowing.sort_unstable();
        knowing.dedup();

        let bucket_ms = (reply_timeout.as_millis() / 3).max(1) as u64;
        let asked = &self.asked;
        let can_ask = |p: &P, peer_has: bool| match asked.get(p) {
            None => true,
            Some(&had) => peer_has && !had,
        };
        let mut from_knowing = true;
        let mut candidates = lowest_bucket(peers, bucket_ms, |p| knowing.binary_search(p).is_ok() && can_ask(p, true));
        if candidates.is_empty() {
            from_knowing = false;
            candidates = lowest_bucket(peers, bucket_ms, |p| can_ask(p, false));
        }
        if candidates.is_empty() {
            self.rebuild_count = self.rebuild_count.saturating_add(1);
            self.asked.clear();
            let factor = self.rebuild_count.min(max_rebuild.max(1));
            self.deadline = Some(now + reply_timeout.saturating_mul(factor));
            return NextPeer::Rebuild;
        }
        let pick = candidates[overlay_proto::random::index_below(rng, candidates.len())];
        self.asked.insert(pick, from_knowing);
        self.last_asked = Some(pick);
        self.deadline = Some(now + reply_timeout);
        NextPeer::Ask(pick)
    }
}

/// The distinct peers accepted by `ok` in the lowest bucket `floor(ping_ms / bucket_ms)`.
fn lowest_bucket<P: Copy + Eq>(peers: &[FetchPeer<P>], bucket_ms: u64, mut ok: impl FnMut(&P) -> bool) -> Vec<P> {
    let mut best = u64::MAX;
    let mut out: Vec<P> = Vec::new();
    for fp in peers {
        if !ok(&fp.peer) || out.contains(&fp.peer) {
            continue;
        }
        let bucket = fp.ping_ms / bucket_ms;
        if bucket < best {
            best = bucket;
            out.clear();
        }
        if bucket == best {
            out.push(fp.peer);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn env(slot: u64) -> Waiting<u64> {
        Waiting { msg_id: Hash256::sha256(&slot.to_be_bytes()), slot_index: slot, envelope: slot }
    }

    fn tracker() -> Tracker<u32, u64> {
        Tracker::new(Hash256::sha256(b"hash"))
    }

    // C++: TrackerTests "Tracker works" / "empty tracker"
    #[test]
    fn empty_tracker() {
        let t = tracker();
        assert_eq!(t.len(), 0);
        assert!(t.is_empty());
        assert_eq!(t.last_seen_slot(), 0);
        assert_eq!(t.deadline(), None);
    }

    // C++: TrackerTests "Tracker works" / "can listen on envelope"
    #[test]
    fn can_listen_on_envelope() {
        let mut t = tracker();
        t.listen(env(1), 100);
        assert_eq!(t.len(), 1);
        assert_eq!(t.last_seen_slot(), 1);
        assert_eq!(t.pop(), Some(1));
        assert!(t.is_empty());
        assert_eq!(t.last_seen_slot(), 1);
        t.reset_last_seen_slot();
        assert_eq!(t.last_seen_slot(), 0);
    }

    // C++: TrackerTests "Tracker works" / "listen twice on the same envelope"
    #[test]
    fn listen_twice_on_the_same_envelope() {
        let mut t = tracker();
        assert_eq!(t.listen(env(1), 100), (true, false));
        assert_eq!(t.listen(env(1), 100), (false, false));
        assert_eq!(t.last_seen_slot(), 1);
        assert_eq!(t.pop(), Some(1));
        assert!(t.is_empty());
    }

    // C++: TrackerTests "Tracker works" / "can listen on different envelopes"
    #[test]
    fn can_listen_on_different_envelopes() {
        let mut t = tracker();
        t.listen(env(1), 100);
        assert_eq!(t.last_seen_slot(), 1);
        t.listen(env(2), 100);
        assert_eq!(t.last_seen_slot(), 2);
        assert_eq!(t.pop(), Some(2));
        assert_eq!(t.pop(), Some(1));
    }

    fn five() -> Tracker<u32, u64> {
        let mut t = tracker();
        for s in [5, 3, 1, 2, 4] {
            t.listen(env(s), 100);
        }
        assert_eq!(t.len(), 5);
        assert_eq!(t.last_seen_slot(), 5);
        t
    }

    fn drain(t: &mut Tracker<u32, u64>) -> Vec<u64> {
        core::iter::from_fn(|| t.pop()).collect()
    }

    // C++: TrackerTests "properly removes old envelopes" / "properly removes some old envelopes"
    #[test]
    fn properly_removes_some_old_envelopes() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(Some(4), None, 4));
        assert_eq!(drain(&mut t), [4, 5]);
    }

    // C++: TrackerTests "properly removes old envelopes" / "properly removes all old envelopes"
    #[test]
    fn properly_removes_all_old_envelopes() {
        let mut t = five();
        assert!(!t.clear_envelopes_outside_range(Some(6), None, 6));
        assert!(t.is_empty());
    }

    // C++: TrackerTests "properly removes old envelopes" / "keeps checkpoint envelope"
    #[test]
    fn keeps_checkpoint_envelope() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(Some(5), None, 1));
        assert_eq!(drain(&mut t), [1, 5]);
    }

    // C++: TrackerTests "properly removes old envelopes" / "properly removes some future envelopes"
    #[test]
    fn properly_removes_some_future_envelopes() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(None, Some(3), 3));
        assert_eq!(drain(&mut t), [2, 1, 3]);
    }

    // C++: TrackerTests "properly removes old envelopes" / "properly removes all future envelopes"
    #[test]
    fn properly_removes_all_future_envelopes() {
        let mut t = five();
        assert!(!t.clear_envelopes_outside_range(None, Some(0), 0));
        assert!(t.is_empty());
    }

    // C++: TrackerTests "properly removes old envelopes" / "keeps checkpoint envelope when removing future"
    #[test]
    fn keeps_checkpoint_envelope_when_removing_future() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(None, Some(2), 5));
        assert_eq!(drain(&mut t), [2, 1, 5]);
    }

    // C++: TrackerTests "properly removes old envelopes" / "removes envelopes outside range on both sides"
    #[test]
    fn removes_envelopes_outside_range_on_both_sides() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(Some(2), Some(4), 0));
        assert_eq!(drain(&mut t), [4, 2, 3]);
    }

    // C++: TrackerTests "properly removes old envelopes" / "removes envelopes outside range, keeping checkpoint"
    #[test]
    fn removes_envelopes_outside_range_keeping_checkpoint() {
        let mut t = five();
        assert!(t.clear_envelopes_outside_range(Some(3), Some(3), 1));
        assert_eq!(drain(&mut t), [1, 3]);
    }

    #[test]
    fn waiting_envelopes_are_bounded_oldest_dropped() {
        let mut t = tracker();
        for s in 1..=5 {
            t.listen(env(s), 3);
        }
        assert_eq!(t.len(), 3);
        assert_eq!(drain(&mut t), [5, 4, 3]);
    }

    #[test]
    fn discard_removes_one_envelope() {
        let mut t = five();
        assert!(t.discard(&env(3).msg_id));
        assert!(!t.discard(&env(3).msg_id));
        assert_eq!(t.len(), 4);
    }

    struct Knows(Vec<(Hash256, u32)>);
    impl EnvelopeKnowers<u32> for Knows {
        fn peers_knowing(&self, msg_id: &Hash256, out: &mut Vec<u32>) {
            out.extend(self.0.iter().filter(|(m, _)| m == msg_id).map(|&(_, p)| p));
        }
    }

    fn peers(ids: &[(u32, u64)]) -> Vec<FetchPeer<u32>> {
        ids.iter().map(|&(peer, ping_ms)| FetchPeer { peer, ping_ms }).collect()
    }

    const T: Duration = Duration::from_millis(1500);

    #[test]
    fn lowest_latency_bucket_is_preferred() {
        // §8.3 step 3: only peers in bucket floor(ping/500) = lowest are candidates.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let view = peers(&[(1, 900), (2, 499), (3, 10), (4, 1600)]);
        let mut picked = Vec::new();
        for _ in 0..20 {
            let mut t = tracker();
            t.listen(env(1), 10);
            match t.try_next_peer(Timestamp::ZERO, &mut rng, &view, &NoKnowers, T, 10) {
                NextPeer::Ask(p) => picked.push(p),
                NextPeer::Rebuild => panic!("a peer is available"),
            }
        }
        assert!(picked.iter().all(|&p| p == 2 || p == 3), "{picked:?}");
        assert!(picked.contains(&2) && picked.contains(&3));
    }

    #[test]
    fn peers_knowing_the_envelope_are_asked_first_then_others_then_rebuild() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let e = env(7);
        let knowers = Knows(vec![(e.msg_id, 2), (e.msg_id, 99)]); // 99 is not authenticated
        let view = peers(&[(1, 0), (2, 0), (3, 0)]);
        let mut t = tracker();
        t.listen(e, 10);
        let now = Timestamp::from_secs(1);
        assert_eq!(t.try_next_peer(now, &mut rng, &view, &knowers, T, 10), NextPeer::Ask(2));
        assert_eq!(t.deadline(), Some(now + T));
        let second = t.try_next_peer(now, &mut rng, &view, &knowers, T, 10);
        let third = t.try_next_peer(now, &mut rng, &view, &knowers, T, 10);
        let mut rest = [second, third];
        rest.sort_by_key(|n| match n {
            NextPeer::Ask(p) => *p,
            NextPeer::Rebuild => 0,
        });
        assert_eq!(rest, [NextPeer::Ask(1), NextPeer::Ask(3)]);
        assert_eq!(t.try_next_peer(now, &mut rng, &view, &knowers, T, 10), NextPeer::Rebuild);
        assert_eq!(t.last_asked(), None);
        assert_eq!(t.rebuild_count(), 1);
        assert_eq!(t.deadline(), Some(now + T));
    }

    #[test]
    fn rebuild_backoff_is_capped_at_ten_rounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut t = tracker();
        t.listen(env(1), 10);
        let now = Timestamp::ZERO;
        for round in 1..=12u32 {
            assert_eq!(t.try_next_peer(now, &mut rng, &[], &NoKnowers, T, 10), NextPeer::Rebuild);
            assert_eq!(t.deadline(), Some(now + T * round.min(10)));
        }
    }

    #[test]
    fn peer_asked_before_knowing_is_asked_again_once_it_knows() {
        // C++: ItemFetcherTests "next peer strategy" / "peer1 told us that it knows" (unit
        // level): a peer asked blindly is asked again once it is known to have the envelope.
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let e = env(1);
        let view = peers(&[(1, 0)]);
        let mut t = tracker();
        t.listen(e.clone(), 10);
        let now = Timestamp::ZERO;
        assert_eq!(t.try_next_peer(now, &mut rng, &view, &NoKnowers, T, 10), NextPeer::Ask(1));
        let knowers = Knows(vec![(e.msg_id, 1)]);
        assert_eq!(t.try_next_peer(now, &mut rng, &view, &knowers, T, 10), NextPeer::Ask(1));
        // Now asked as a knower: not again this round.
        assert_eq!(t.try_next_peer(now, &mut rng, &view, &knowers, T, 10), NextPeer::Rebuild);
    }
}
