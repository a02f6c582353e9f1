//! [`PeerAdverts`]: one peer's pull-mode advert state (PROTOCOL.md §9.1, §9.2; stellar-core
//! `TxAdverts`).
//!
//! * Outgoing: a batch of hashes to advertise to the peer, sent when it reaches the maximum
//!   advert size or when its oldest hash has waited `FLOOD_ADVERT_PERIOD_MS`.
//! * History: the hashes the peer advertised to us (so we never advertise them back), a
//!   random-eviction cache of 50000 entries.
//! * Incoming: the hashes the peer advertised, waiting for the demand scheduler, plus the
//!   retry list of hashes the scheduler put back; together at most `maxTxSetSizeOps`.

use overlay_proto::{Hash256, SeededState, Timestamp};
use rand_core::Rng;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// The hashes a peer advertised to us, with the ledger of the advert.
///
/// Keys are the first 8 bytes of the hash (a fingerprint), which cuts the cache to about
/// 27 bytes per entry (1.35 MB per peer when full instead of 4 MB). A false match only stops
/// us advertising one hash to this one peer; honest collisions are 2⁻⁶⁴-rare, and a peer that
/// crafts colliding hashes only withholds adverts from itself.
#[derive(Debug, Clone)]
struct AdvertHistory {
    /// fingerprint → (ledger, index in `keys`). Bound: `max` entries; random eviction.
    map: HashMap<u64, (u32, u32), SeededState>,
    /// Every key once, for uniform random eviction. Same length as `map`.
    keys: Vec<u64>,
    max: usize,
}

fn fingerprint(h: &Hash256) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&h.0[..8]);
    u64::from_le_bytes(head)
}

impl AdvertHistory {
    fn new(max: usize, seed: u64) -> Self {
        AdvertHistory { map: HashMap::with_hasher(SeededState::new(seed)), keys: Vec::new(), max: max.max(1) }
    }

    fn contains(&self, h: &Hash256) -> bool {
        self.map.contains_key(&fingerprint(h))
    }

    /// Remember `h` at `ledger`; a full cache first evicts a uniformly random entry.
    /// Returns whether an entry was evicted.
    fn put<R: Rng + ?Sized>(&mut self, h: &Hash256, ledger: u32, rng: &mut R) -> bool {
        let key = fingerprint(h);
        if let Some(v) = self.map.get_mut(&key) {
            v.0 = ledger;
            return false;
        }
        let mut evicted = false;
        if self.keys.len() >= self.max {
            let i = overlay_proto::random::index_below(rng, self.keys.len());
            let old = self.keys.swap_remove(i);
            self.map.remove(&old);
            if let Some(&moved) = self.keys.get(i) {
                if let Some(v) = self.map.get_mut(&moved) {
                    v.1 = i as u32;
                }
            }
            evicted = true;
        }
        self.map.insert(key, (ledger, self.keys.len() as u32));
        self.keys.push(key);
        evicted
    }

    /// Drop entries of ledgers below `min_ledger`.
    fn clear_below(&mut self, min_ledger: u32) {
        let map = &mut self.map;
        self.keys.retain(|k| match map.get(k) {
            Some(&(ledger, _)) if ledger >= min_ledger => true,
            _ => {
                map.remove(k);
                false
            }
        });
        for (i, k) in self.keys.iter().enumerate() {
            if let Some(v) = self.map.get_mut(k) {
                v.1 = i as u32;
            }
        }
    }

    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Why an outgoing batch is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// It reached the maximum advert size.
    Full,
    /// Its timer expired.
    Timer,
}

/// One peer's pull-mode advert state. Plain data; [`PullMode`](crate::PullMode) owns one per
/// peer and drives the timers.
#[derive(Debug, Clone)]
pub struct PeerAdverts {
    /// Bound: flushed when it reaches the max advert size (≤ 1000).
    outgoing: Vec<Hash256>,
    flush_at: Option<Timestamp>,
    history: AdvertHistory,
    /// Bound, with `retry`: the incoming limit; the oldest are dropped (retry list first).
    incoming: VecDeque<Hash256>,
    retry: VecDeque<Hash256>,
    history_evicted: u64,
    incoming_dropped: u64,
}

impl PeerAdverts {
    /// Empty state with an advert history of `history_max` entries.
    pub fn new(history_max: usize, hasher_seed: u64) -> Self {
        PeerAdverts {
            outgoing: Vec::new(),
            flush_at: None,
            history: AdvertHistory::new(history_max, hasher_seed),
            incoming: VecDeque::new(),
            retry: VecDeque::new(),
            history_evicted: 0,
            incoming_dropped: 0,
        }
    }

    /// Append `hash` to the outgoing batch (§9.1). An empty batch starts its timer
    /// (`now + period`). Returns the batch if it reached `max_advert_size`.
    pub fn queue_outgoing(
        &mut self,
        now: Timestamp,
        hash: Hash256,
        max_advert_size: usize,
        period: Duration,
    ) -> Option<Vec<Hash256>> {
        if self.outgoing.is_empty() {
            self.flush_at = Some(now + period);
        }
        self.outgoing.push(hash);
        if self.outgoing.len() >= max_advert_size.max(1) {
            return self.take_outgoing();
        }
        None
    }

    /// The batch, if its timer has expired at `now`.
    pub fn poll_flush(&mut self, now: Timestamp) -> Option<Vec<Hash256>> {
        match self.flush_at {
            Some(t) if t <= now => self.take_outgoing(),
            _ => None,
        }
    }

    /// Take the whole batch (None if empty) and stop its timer.
    pub fn take_outgoing(&mut self) -> Option<Vec<Hash256>> {
        self.flush_at = None;
        if self.outgoing.is_empty() { None } else { Some(core::mem::take(&mut self.outgoing)) }
    }

    /// When the outgoing batch must be sent.
    pub fn flush_deadline(&self) -> Option<Timestamp> {
        self.flush_at
    }

    /// Hashes in the outgoing batch.
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Whether the peer advertised `hash` to us (so we must not advertise it back).
    pub fn knows(&self, hash: &Hash256) -> bool {
        self.history.contains(hash)
    }

    /// A FLOOD_ADVERT arrived (§9.2): remember every hash at `ledger`, append the last `limit`
    /// hashes to the incoming queue, then drop the oldest (retry list first) until incoming
    /// plus retry fit in `limit`. Returns the number of hashes dropped.
    pub fn queue_incoming<R: Rng + ?Sized>(
        &mut self,
        hashes: &[Hash256],
        ledger: u32,
        limit: usize,
        rng: &mut R,
    ) -> usize {
        for h in hashes {
            if self.history.put(h, ledger, rng) {
                self.history_evicted += 1;
            }
        }
        let skip = hashes.len().saturating_sub(limit);
        self.incoming_dropped += skip as u64;
        self.incoming.extend(hashes[skip..].iter().copied());
        skip + self.trim(limit)
    }

    /// Put back hashes the scheduler could not demand yet (§9.3, RETRY_LATER), after any
    /// already on the retry list, then trim to `limit` as [`queue_incoming`](Self::queue_incoming)
    /// does. Returns the number dropped.
    pub fn retry_incoming(&mut self, hashes: Vec<Hash256>, limit: usize) -> usize {
        self.retry.extend(hashes);
        self.trim(limit)
    }

    /// The next hash to consider for a demand: the retry list first, then the incoming FIFO.
    pub fn pop_incoming(&mut self) -> Option<Hash256> {
        self.retry.pop_front().or_else(|| self.incoming.pop_front())
    }

    /// Incoming plus retry hashes.
    pub fn incoming_len(&self) -> usize {
        self.incoming.len() + self.retry.len()
    }

    /// Entries in the advert history.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Drop advert-history entries of ledgers below `min_ledger` (§9.2, `clearBelow`).
    pub fn clear_below(&mut self, min_ledger: u32) {
        self.history.clear_below(min_ledger);
    }

    /// History entries evicted at random because the cache was full.
    pub fn history_evicted(&self) -> u64 {
        self.history_evicted
    }

    /// Incoming hashes dropped by the limit.
    pub fn incoming_dropped(&self) -> u64 {
        self.incoming_dropped
    }

    fn trim(&mut self, limit: usize) -> usize {
        let mut dropped = 0;
        while self.incoming_len() > limit {
            self.pop_incoming();
            dropped += 1;
        }
        self.incoming_dropped += dropped as u64;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn h(i: u32) -> Hash256 {
        Hash256::sha256(i.to_string().as_bytes())
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(3)
    }

    #[test]
    fn incoming_adverts() {
        // C++: TxAdvertsTests "advert queue" / "incoming adverts" (limit 200).
        let limit = 200u32;
        let mut a = PeerAdverts::new(50_000, 1);
        let mut r = rng();
        let hashes: Vec<_> = (0..limit).map(h).collect();
        let retry: Vec<_> = (0..limit).map(|i| h(limit + i)).collect();
        a.queue_incoming(&hashes, 1, limit as usize, &mut r);
        assert_eq!(a.incoming_len(), limit as usize);
        // Retrying `limit` more overflows: the retry hashes are dropped first.
        assert_eq!(a.retry_incoming(retry, limit as usize), limit as usize);
        assert_eq!(a.incoming_len(), limit as usize);
        for i in 0..limit {
            assert_eq!(a.pop_incoming(), Some(h(i)));
        }
        assert_eq!(a.incoming_len(), 0);
        // Half and half: retry hashes are popped before new ones.
        let hashes: Vec<_> = (0..limit / 2).map(h).collect();
        let retry: Vec<_> = (0..limit / 2).map(|i| h(limit + i)).collect();
        a.queue_incoming(&hashes, 1, limit as usize, &mut r);
        a.retry_incoming(retry, limit as usize);
        assert_eq!(a.incoming_len(), limit as usize);
        for i in 0..limit / 2 {
            assert_eq!(a.pop_incoming(), Some(h(limit + i)));
        }
        for i in 0..limit / 2 {
            assert_eq!(a.pop_incoming(), Some(h(i)));
        }
        assert_eq!(a.pop_incoming(), None);
    }

    #[test]
    fn oversized_advert_keeps_only_the_last_limit_hashes() {
        // §9.2: only the last `limit` hashes of a long advert are appended.
        let mut a = PeerAdverts::new(50_000, 1);
        let hashes: Vec<_> = (0..10).map(h).collect();
        assert_eq!(a.queue_incoming(&hashes, 1, 4, &mut rng()), 6);
        let got: Vec<_> = core::iter::from_fn(|| a.pop_incoming()).collect();
        assert_eq!(got, hashes[6..]);
        // But all ten are in the history.
        assert!(hashes.iter().all(|x| a.knows(x)));
        assert_eq!(a.incoming_dropped(), 6);
    }

    #[test]
    fn flush_advert_after_some_time() {
        // C++: TxAdvertsTests "outgoing adverts" / "flush advert after some time".
        let mut a = PeerAdverts::new(10, 1);
        let t0 = Timestamp::from_secs(1);
        let period = Duration::from_millis(100);
        assert_eq!(a.queue_outgoing(t0, h(0), 5, period), None);
        assert_eq!(a.outgoing_len(), 1);
        assert_eq!(a.flush_deadline(), Some(t0 + period));
        // A second hash does not restart the timer.
        assert_eq!(a.queue_outgoing(t0 + Duration::from_millis(50), h(1), 5, period), None);
        assert_eq!(a.flush_deadline(), Some(t0 + period));
        assert_eq!(a.poll_flush(t0 + Duration::from_millis(99)), None);
        assert_eq!(a.poll_flush(t0 + period), Some(vec![h(0), h(1)]));
        assert_eq!(a.outgoing_len(), 0);
        assert_eq!(a.flush_deadline(), None);
    }

    #[test]
    fn flush_advert_when_at_capacity() {
        // C++: TxAdvertsTests "outgoing adverts" / "flush advert when at capacity".
        let mut a = PeerAdverts::new(10, 1);
        let t = Timestamp::from_secs(1);
        let period = Duration::from_millis(100);
        for i in 0..4 {
            assert_eq!(a.queue_outgoing(t, h(i), 5, period), None);
        }
        assert_eq!(a.outgoing_len(), 4);
        let batch = a.queue_outgoing(t, h(4), 5, period).expect("full batch flushes");
        assert_eq!(batch.len(), 5);
        assert_eq!(a.outgoing_len(), 0);
        assert_eq!(a.flush_deadline(), None);
    }

    #[test]
    fn ensure_outgoing_queue_is_capped() {
        // C++: TxAdvertsTests "outgoing adverts" / "ensure outgoing queue is capped".
        let mut a = PeerAdverts::new(10, 1);
        let t = Timestamp::from_secs(1);
        let mut flushed = 0;
        for i in 0..1000 {
            if let Some(b) = a.queue_outgoing(t, h(i), 1000, Duration::from_millis(100)) {
                assert!(b.len() <= 1000);
                flushed += b.len();
            }
            assert!(a.outgoing_len() < 1000);
        }
        assert_eq!(flushed, 1000);
        assert_eq!(a.outgoing_len(), 0);
    }

    #[test]
    fn history_is_bounded_with_random_eviction_and_cleared_by_ledger() {
        let mut a = PeerAdverts::new(8, 1);
        let mut r = rng();
        let hashes: Vec<_> = (0..20).map(h).collect();
        a.queue_incoming(&hashes[..10], 5, 100, &mut r);
        a.queue_incoming(&hashes[10..], 9, 100, &mut r);
        assert_eq!(a.history_len(), 8);
        assert_eq!(a.history_evicted(), 12);
        // Survivors are a mix; the newest hash is always there.
        assert!(a.knows(&hashes[19]));
        let known_old = hashes[..10].iter().filter(|x| a.knows(x)).count();
        a.clear_below(6);
        assert_eq!(a.history_len(), 8 - known_old);
        assert!(hashes[..10].iter().all(|x| !a.knows(x)));
        assert!(a.knows(&hashes[19]));
        // Re-advertising updates the ledger, it does not duplicate.
        a.queue_incoming(&hashes[19..], 20, 100, &mut r);
        a.clear_below(15);
        assert!(a.knows(&hashes[19]));
        assert_eq!(a.history_len(), 1);
    }
}
