//! Random selection of peer records (PROTOCOL.md §10.5): [`load_random_peers`] and the
//! caching [`PeerSource`] (stellar-core `PeerManager::loadRandomPeers` and
//! `RandomPeerSource`).

use super::config::BATCH_SIZE;
use super::error::StoreError;
use super::query::PeerQuery;
use super::store::PeerStore;
use overlay_proto::random::{shuffle, up_to};
use overlay_proto::{PeerAddress, Timestamp};
use rand_core::Rng;

/// Most records one [`load_random_peers`] call returns [LOCAL: stellar-core has no cap].
/// A larger request is capped to it, which bounds the memory of one answer (about 1 MiB).
pub const MAX_RANDOM_LOAD: usize = 10_000;

// `clamp` below needs its lower bound not above its upper bound.
const _: () = assert!(BATCH_SIZE <= MAX_RANDOM_LOAD);

/// Up to `n = min(max(requested, BATCH_SIZE), MAX_RANDOM_LOAD)` records matching `query`
/// at `now`, in random order: count the matches, pick a random offset in
/// `[0, count - n]` (0 when `count <= n`), load `n` rows from there in the store's order,
/// shuffle.
///
/// With fewer than `n` matches every match is returned; with more, a random window of `n`
/// consecutive matches (in the store's order) is.
pub fn load_random_peers<S, R>(
    store: &S,
    query: &PeerQuery,
    now: Timestamp,
    requested: usize,
    rng: &mut R,
) -> Result<Vec<PeerAddress>, StoreError>
where
    S: PeerStore + ?Sized,
    R: Rng + ?Sized,
{
    let n = requested.clamp(BATCH_SIZE, MAX_RANDOM_LOAD);
    let count = store.count(query, now)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    let n_u64 = u64::try_from(n).unwrap_or(u64::MAX);
    let offset = up_to(rng, count.saturating_sub(n_u64));
    let mut peers: Vec<PeerAddress> = store.load_page(query, now, offset, n)?.into_iter().map(|r| r.address).collect();
    shuffle(rng, &mut peers);
    Ok(peers)
}

/// A cached random stream of addresses matching one query (stellar-core
/// `RandomPeerSource`).
///
/// [`PeerSource::random_peers`] serves from the cache and refills it with
/// [`load_random_peers`] only when it holds fewer addresses than asked for. Every address it
/// looks at is consumed, taken or skipped, so one cache load never yields an address twice.
/// The cache is not invalidated when records change: an address may be served after its
/// record was updated or purged, as in stellar-core (parity).
///
/// Bounded: the cache holds at most one load, at most [`MAX_RANDOM_LOAD`] addresses (in
/// practice [`BATCH_SIZE`], since callers ask for at most 50); a refill replaces it.
#[derive(Debug, Clone)]
pub struct PeerSource {
    query: PeerQuery,
    /// At most one load (see the type doc); front = next to serve.
    cache: Vec<PeerAddress>,
}

impl PeerSource {
    /// A source of records matching `query`, with an empty cache.
    pub fn new(query: PeerQuery) -> Self {
        PeerSource { query, cache: Vec::new() }
    }

    /// Its query.
    pub fn query(&self) -> &PeerQuery {
        &self.query
    }

    /// How many addresses are cached.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Forget the cache; the next call reloads.
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// Up to `size` addresses for which `keep` is true. Refills the cache first if it holds
    /// fewer than `size`; then walks it from the front, consuming every address it looks
    /// at, until `size` are kept or the cache is exhausted. On a store error the cache is
    /// left as it was.
    pub fn random_peers<S, R, F>(
        &mut self,
        store: &S,
        now: Timestamp,
        size: usize,
        mut keep: F,
        rng: &mut R,
    ) -> Result<Vec<PeerAddress>, StoreError>
    where
        S: PeerStore + ?Sized,
        R: Rng + ?Sized,
        F: FnMut(&PeerAddress) -> bool,
    {
        if size == 0 {
            return Ok(Vec::new());
        }
        if self.cache.len() < size {
            self.cache = load_random_peers(store, &self.query, now, size, rng)?;
        }
        let mut chosen = Vec::new();
        let mut consumed = 0;
        for address in &self.cache {
            if chosen.len() >= size {
                break;
            }
            consumed += 1;
            if keep(address) {
                chosen.push(address.clone());
            }
        }
        self.cache.drain(..consumed);
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::{MemoryStore, PeerRecord, PeerType};
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::SeedableRng;
    use std::collections::BTreeSet;

    fn store_with(n: u16, t: PeerType) -> MemoryStore {
        let mut s = MemoryStore::new();
        for port in 1..=n {
            let mut r = PeerRecord::new(PeerAddress::new("1.1.1.1", port), Timestamp::ZERO).unwrap();
            r.peer_type = t;
            s.insert(&r).unwrap();
        }
        s
    }

    #[test]
    fn small_tables_are_returned_whole_and_shuffled() {
        let s = store_with(200, PeerType::Outbound);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let q = PeerQuery::next_attempt_cutoff(PeerType::Outbound);
        let got = load_random_peers(&s, &q, Timestamp::ZERO, 10, &mut rng).unwrap();
        assert_eq!(got.len(), 200);
        let ports: Vec<u16> = got.iter().map(|a| a.port).collect();
        assert_ne!(ports, (1..=200).collect::<Vec<_>>(), "not shuffled");
        let set: BTreeSet<u16> = ports.into_iter().collect();
        assert_eq!(set.len(), 200);
    }

    #[test]
    fn large_tables_give_a_window_of_batch_size() {
        let s = store_with(1_500, PeerType::Inbound);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let q = PeerQuery::next_attempt_cutoff(PeerType::Inbound);
        let mut starts = BTreeSet::new();
        for _ in 0..20 {
            let got = load_random_peers(&s, &q, Timestamp::ZERO, 5, &mut rng).unwrap();
            assert_eq!(got.len(), BATCH_SIZE);
            let min = got.iter().map(|a| a.port).min().unwrap();
            let max = got.iter().map(|a| a.port).max().unwrap();
            // A window of consecutive matches in address order.
            assert_eq!(usize::from(max - min) + 1, BATCH_SIZE);
            assert!(min >= 1 && max <= 1_500);
            starts.insert(min);
        }
        assert!(starts.len() > 1, "offset is random");
    }

    #[test]
    fn source_consumes_what_it_looks_at_and_refills_when_short() {
        let s = store_with(10, PeerType::Outbound);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut src = PeerSource::new(PeerQuery::next_attempt_cutoff(PeerType::Outbound));
        let first = src.random_peers(&s, Timestamp::ZERO, 3, |_| true, &mut rng).unwrap();
        assert_eq!(first.len(), 3);
        assert_eq!(src.cached(), 7);
        // Skip odd ports: those looked at are consumed too.
        let second = src.random_peers(&s, Timestamp::ZERO, 2, |a| a.port % 2 == 0, &mut rng).unwrap();
        assert!(second.iter().all(|a| a.port % 2 == 0));
        assert!(second.iter().all(|a| !first.contains(a)));
        let left = src.cached();
        assert!(left <= 5);
        // Asking for more than is cached reloads the whole table.
        let all = src.random_peers(&s, Timestamp::ZERO, 50, |_| true, &mut rng).unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(src.cached(), 0);
        assert!(src.random_peers(&s, Timestamp::ZERO, 0, |_| true, &mut rng).unwrap().is_empty());
    }
}
