//! [`MemoryStore`]: the in-memory [`PeerStore`], for tests, the simulator and nodes without
//! a database.

use super::config::{MAX_BANS_DEFAULT, MAX_PEER_RECORDS_DEFAULT};
use super::error::StoreError;
use super::query::PeerQuery;
use super::record::{PeerRecord, PeerType, address_of, ipv4_key};
use super::store::PeerStore;
use core::net::Ipv4Addr;
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    next_attempt: Timestamp,
    num_failures: u32,
    peer_type: PeerType,
}

/// Peer records and bans in ordered maps: every iteration, and so every answer, is in
/// `(ip, port)` order (bans in key order), whatever the insertion history.
///
/// Bounded: at most `max_records` records (default [`MAX_PEER_RECORDS_DEFAULT`]) and
/// `max_bans` bans (default [`MAX_BANS_DEFAULT`]). A new address past the bound is refused
/// with [`StoreError::StoreFull`] and a new ban with [`StoreError::BanListFull`]; existing rows
/// are never dropped by the store itself (the manager may call
/// [`PeerStore::evict_one_inbound`]). It never fails otherwise.
///
/// ```
/// use overlay_node::discovery::{MemoryStore, PeerRecord, PeerStore};
/// use overlay_proto::Timestamp;
/// let mut store = MemoryStore::with_limits(1, 1);
/// let a = PeerRecord::new("1.2.3.4:1".parse().unwrap(), Timestamp::ZERO).unwrap();
/// let b = PeerRecord::new("1.2.3.4:2".parse().unwrap(), Timestamp::ZERO).unwrap();
/// store.insert(&a).unwrap();
/// assert!(store.insert(&b).is_err()); // full
/// assert_eq!(store.load(&a.address).unwrap(), Some(a));
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    /// Bounded by `max_records`: insert of a new key past it is refused.
    records: BTreeMap<(Ipv4Addr, u16), Entry>,
    /// Bounded by `max_bans`: a new ban past it is refused.
    bans: BTreeSet<NodeId>,
    max_records: u64,
    max_bans: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store with the default bounds.
    pub fn new() -> Self {
        MemoryStore::with_limits(MAX_PEER_RECORDS_DEFAULT, MAX_BANS_DEFAULT)
    }

    /// An empty store holding at most `max_records` records and `max_bans` bans.
    pub fn with_limits(max_records: u64, max_bans: u64) -> Self {
        MemoryStore { records: BTreeMap::new(), bans: BTreeSet::new(), max_records, max_bans }
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Its record bound.
    pub fn max_records(&self) -> u64 {
        self.max_records
    }

    /// Its ban bound.
    pub fn max_bans(&self) -> u64 {
        self.max_bans
    }

    /// Every record, in `(ip, port)` order (bounded by the record bound).
    pub fn records(&self) -> impl Iterator<Item = PeerRecord> + '_ {
        self.records.iter().map(|(k, e)| to_record(*k, e))
    }

    fn matching<'a>(&'a self, query: &'a PeerQuery, now: Timestamp) -> impl Iterator<Item = PeerRecord> + 'a {
        self.records().filter(move |r| query.matches(r, now))
    }
}

fn to_record((ip, port): (Ipv4Addr, u16), e: &Entry) -> PeerRecord {
    PeerRecord {
        address: address_of(ip, port),
        next_attempt: e.next_attempt,
        num_failures: e.num_failures,
        peer_type: e.peer_type,
    }
}

fn entry(r: &PeerRecord) -> Entry {
    Entry { next_attempt: r.next_attempt, num_failures: r.num_failures, peer_type: r.peer_type }
}

fn count_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl PeerStore for MemoryStore {
    fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        let key = ipv4_key(address)?;
        Ok(self.records.get(&key).map(|e| to_record(key, e)))
    }

    fn insert(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        let key = ipv4_key(&record.address)?;
        if self.records.contains_key(&key) {
            return Err(StoreError::AlreadyExists(record.address.clone()));
        }
        if count_u64(self.records.len()) >= self.max_records {
            return Err(StoreError::StoreFull { max_records: self.max_records });
        }
        self.records.insert(key, entry(record));
        Ok(())
    }

    fn update(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        let key = ipv4_key(&record.address)?;
        match self.records.get_mut(&key) {
            Some(e) => {
                *e = entry(record);
                Ok(())
            }
            None => Err(StoreError::NotFound(record.address.clone())),
        }
    }

    fn delete(&mut self, address: &PeerAddress) -> Result<bool, StoreError> {
        let key = ipv4_key(address)?;
        Ok(self.records.remove(&key).is_some())
    }

    fn delete_with_min_failures(&mut self, min_failures: u32) -> Result<u64, StoreError> {
        let before = self.records.len();
        self.records.retain(|_, e| e.num_failures < min_failures);
        Ok(count_u64(before - self.records.len()))
    }

    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, min_failures: u32) -> Result<u64, StoreError> {
        let doomed: Vec<(Ipv4Addr, u16)> = self
            .records
            .range((ip, 0)..=(ip, u16::MAX))
            .filter(|(_, e)| e.num_failures >= min_failures)
            .map(|(k, _)| *k)
            .collect();
        for k in &doomed {
            self.records.remove(k);
        }
        Ok(count_u64(doomed.len()))
    }

    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError> {
        let victim = self
            .records
            .iter()
            .filter(|(_, e)| e.peer_type == PeerType::Inbound)
            .max_by_key(|(k, e)| (e.num_failures, e.next_attempt, **k))
            .map(|(k, _)| *k);
        Ok(victim.map(|k| {
            self.records.remove(&k);
            address_of(k.0, k.1)
        }))
    }

    fn count(&self, query: &PeerQuery, now: Timestamp) -> Result<u64, StoreError> {
        Ok(count_u64(self.matching(query, now).count()))
    }

    fn load_page(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        Ok(self.matching(query, now).skip(skip).take(limit).collect())
    }

    fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        if self.bans.contains(node) {
            return Ok(false);
        }
        if count_u64(self.bans.len()) >= self.max_bans {
            return Err(StoreError::BanListFull { max_bans: self.max_bans });
        }
        Ok(self.bans.insert(*node))
    }

    fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        Ok(self.bans.remove(node))
    }

    fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError> {
        Ok(self.bans.contains(node))
    }

    fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        Ok(self.bans.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::PeerTypeFilter;

    fn rec(addr: &str, failures: u32, t: PeerType) -> PeerRecord {
        PeerRecord {
            address: addr.parse().unwrap(),
            next_attempt: Timestamp::ZERO,
            num_failures: failures,
            peer_type: t,
        }
    }

    #[test]
    fn insert_update_delete_contract() {
        let mut s = MemoryStore::new();
        let r = rec("1.2.3.4:5", 0, PeerType::Inbound);
        assert_eq!(s.update(&r), Err(StoreError::NotFound(r.address.clone())));
        s.insert(&r).unwrap();
        assert_eq!(s.insert(&r), Err(StoreError::AlreadyExists(r.address.clone())));
        let r2 = PeerRecord { num_failures: 4, ..r.clone() };
        s.update(&r2).unwrap();
        assert_eq!(s.load(&r.address).unwrap(), Some(r2));
        assert!(s.delete(&r.address).unwrap());
        assert!(!s.delete(&r.address).unwrap());
        assert_eq!(s.load(&r.address).unwrap(), None);
    }

    #[test]
    fn non_ipv4_addresses_are_refused() {
        let mut s = MemoryStore::new();
        let name = PeerRecord { address: PeerAddress::new("example.com", 1), ..rec("1.1.1.1:1", 0, PeerType::Inbound) };
        assert!(matches!(s.insert(&name), Err(StoreError::NotIpv4(_))));
        assert!(s.is_empty());
    }

    #[test]
    fn full_store_refuses_new_addresses_but_updates_existing() {
        let mut s = MemoryStore::with_limits(2, 1);
        s.insert(&rec("1.1.1.1:1", 0, PeerType::Inbound)).unwrap();
        s.insert(&rec("1.1.1.1:2", 0, PeerType::Outbound)).unwrap();
        assert_eq!(s.insert(&rec("1.1.1.1:3", 0, PeerType::Inbound)), Err(StoreError::StoreFull { max_records: 2 }));
        s.update(&rec("1.1.1.1:2", 9, PeerType::Outbound)).unwrap();
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn eviction_takes_the_worst_inbound_only() {
        let mut s = MemoryStore::new();
        s.insert(&rec("1.1.1.1:1", 5, PeerType::Inbound)).unwrap();
        s.insert(&rec("1.1.1.1:2", 7, PeerType::Inbound)).unwrap();
        s.insert(&rec("1.1.1.1:3", 50, PeerType::Outbound)).unwrap();
        s.insert(&rec("1.1.1.1:4", 60, PeerType::Preferred)).unwrap();
        let first = s.evict_one_inbound().unwrap();
        assert_eq!(first, Some("1.1.1.1:2".parse().unwrap()));
        let second = s.evict_one_inbound().unwrap();
        assert_eq!(second, Some("1.1.1.1:1".parse().unwrap()));
        assert_eq!(s.evict_one_inbound().unwrap(), None);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn pages_are_in_address_order_and_respect_offset_and_limit() {
        let mut s = MemoryStore::new();
        for a in ["9.0.0.1:1", "1.0.0.1:2", "1.0.0.1:1", "5.0.0.1:1"] {
            s.insert(&rec(a, 0, PeerType::Inbound)).unwrap();
        }
        let q = PeerQuery::all();
        let all: Vec<String> =
            s.load_page(&q, Timestamp::ZERO, 0, 10).unwrap().iter().map(|r| r.address.to_string()).collect();
        assert_eq!(all, ["1.0.0.1:1", "1.0.0.1:2", "5.0.0.1:1", "9.0.0.1:1"]);
        let page = s.load_page(&q, Timestamp::ZERO, 1, 2).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(page[0].address.to_string(), "1.0.0.1:2");
        assert!(s.load_page(&q, Timestamp::ZERO, u64::MAX, 2).unwrap().is_empty());
        let outbound = PeerQuery { type_filter: PeerTypeFilter::AnyOutbound, ..q };
        assert_eq!(s.count(&outbound, Timestamp::ZERO).unwrap(), 0);
        assert_eq!(s.count(&q, Timestamp::ZERO).unwrap(), 4);
    }

    #[test]
    fn bans_are_bounded_and_idempotent() {
        let mut s = MemoryStore::with_limits(1, 1);
        let a = NodeId([1; 32]);
        let b = NodeId([2; 32]);
        assert!(s.ban(&a).unwrap());
        assert!(!s.ban(&a).unwrap());
        assert_eq!(s.ban(&b), Err(StoreError::BanListFull { max_bans: 1 }));
        assert!(s.is_banned(&a).unwrap());
        assert!(!s.is_banned(&b).unwrap());
        assert_eq!(s.bans().unwrap(), vec![a]);
        assert!(s.unban(&a).unwrap());
        assert!(!s.unban(&a).unwrap());
        assert!(s.ban(&b).unwrap());
    }
}
