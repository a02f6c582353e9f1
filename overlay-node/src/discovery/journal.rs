//! The peer store as data: the node works from an in-memory [`MemoryStore`] loaded at
//! start, and every change it makes leaves as a [`StoreChange`] that the driver persists
//! off the node's loop (DESIGN.md "The node, its connections and its application").

use super::error::StoreError;
use super::memory::MemoryStore;
use super::query::{PeerQuery, PeerTypeFilter};
use super::record::PeerRecord;
use super::store::PeerStore;
use core::net::Ipv4Addr;
use overlay_proto::{NodeId, PeerAddress, Timestamp};

/// One change to the peer database, in the order the node made it. Applying the changes in
/// order to a store that held what the node loaded yields what the node holds
/// ([`PeerStore::apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChange {
    /// Create or replace the record of its address.
    Put(PeerRecord),
    /// Delete the record of this address.
    Delete(PeerAddress),
    /// Ban this node.
    Ban(NodeId),
    /// Lift the ban on this node.
    Unban(NodeId),
}

impl StoreChange {
    /// The row the change is about: two changes with the same key can be coalesced by
    /// keeping the later one.
    pub fn key(&self) -> StoreKey {
        match self {
            StoreChange::Put(r) => StoreKey::Peer(r.address.clone()),
            StoreChange::Delete(a) => StoreKey::Peer(a.clone()),
            StoreChange::Ban(n) | StoreChange::Unban(n) => StoreKey::Ban(*n),
        }
    }
}

/// The row a [`StoreChange`] is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKey {
    /// A peer record.
    Peer(PeerAddress),
    /// A ban.
    Ban(NodeId),
}

/// Copy every record and ban of `store` into a new [`MemoryStore`] with the default bounds
/// (what the node starts from). Rows past the bounds are left out: the node never sees
/// them, and never changes them.
pub fn load_view(store: &impl PeerStore) -> Result<MemoryStore, StoreError> {
    let mut view = MemoryStore::new();
    let all = PeerQuery { use_next_attempt: false, max_failures: None, type_filter: PeerTypeFilter::Any };
    let limit = usize::try_from(view.max_records()).unwrap_or(usize::MAX);
    for r in store.load_page(&all, Timestamp::ZERO, 0, limit)? {
        if view.insert(&r).is_err() {
            break;
        }
    }
    for b in store.bans()? {
        if view.ban(&b).is_err() {
            break;
        }
    }
    Ok(view)
}

/// A [`MemoryStore`] that records every change made through it.
#[derive(Debug, Clone, Default)]
pub struct JournalStore {
    view: MemoryStore,
    /// Drained by the node after every input, so it holds one input's changes at most.
    journal: Vec<StoreChange>,
}

impl JournalStore {
    /// Journal the changes made to `view`.
    pub fn new(view: MemoryStore) -> Self {
        JournalStore { view, journal: Vec::new() }
    }

    /// The in-memory rows.
    pub fn view(&self) -> &MemoryStore {
        &self.view
    }

    /// Take the changes recorded since the last call.
    pub fn take_changes(&mut self) -> impl Iterator<Item = StoreChange> + '_ {
        self.journal.drain(..)
    }

    fn addresses_with(&self, keep: impl Fn(&PeerRecord) -> bool) -> Vec<PeerAddress> {
        self.view.records().filter(|r| keep(r)).map(|r| r.address).collect()
    }

    fn delete_all(&mut self, addresses: Vec<PeerAddress>) -> Result<u64, StoreError> {
        let mut n = 0;
        for a in addresses {
            if self.delete(&a)? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl PeerStore for JournalStore {
    fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        self.view.load(address)
    }

    fn insert(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        self.view.insert(record)?;
        self.journal.push(StoreChange::Put(record.clone()));
        Ok(())
    }

    fn update(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        self.view.update(record)?;
        self.journal.push(StoreChange::Put(record.clone()));
        Ok(())
    }

    fn delete(&mut self, address: &PeerAddress) -> Result<bool, StoreError> {
        let deleted = self.view.delete(address)?;
        if deleted {
            self.journal.push(StoreChange::Delete(address.clone()));
        }
        Ok(deleted)
    }

    fn delete_with_min_failures(&mut self, min_failures: u32) -> Result<u64, StoreError> {
        let doomed = self.addresses_with(|r| r.num_failures >= min_failures);
        self.delete_all(doomed)
    }

    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, min_failures: u32) -> Result<u64, StoreError> {
        let ip = core::net::IpAddr::V4(ip);
        let doomed = self.addresses_with(|r| r.num_failures >= min_failures && r.address.ip() == Some(ip));
        self.delete_all(doomed)
    }

    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError> {
        let evicted = self.view.evict_one_inbound()?;
        if let Some(a) = &evicted {
            self.journal.push(StoreChange::Delete(a.clone()));
        }
        Ok(evicted)
    }

    fn count(&self, query: &PeerQuery, now: Timestamp) -> Result<u64, StoreError> {
        self.view.count(query, now)
    }

    fn load_page(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        self.view.load_page(query, now, offset, limit)
    }

    fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        let new = self.view.ban(node)?;
        if new {
            self.journal.push(StoreChange::Ban(*node));
        }
        Ok(new)
    }

    fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        let was = self.view.unban(node)?;
        if was {
            self.journal.push(StoreChange::Unban(*node));
        }
        Ok(was)
    }

    fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError> {
        self.view.is_banned(node)
    }

    fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        self.view.bans()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::PeerType;

    fn rec(addr: &str, failures: u32) -> PeerRecord {
        let mut r = PeerRecord::new(addr.parse().unwrap(), Timestamp::from_secs(5)).unwrap();
        r.num_failures = failures;
        r.peer_type = PeerType::Inbound;
        r
    }

    #[test]
    fn replaying_the_journal_rebuilds_the_view() {
        let mut j = JournalStore::default();
        j.insert(&rec("1.2.3.4:1", 0)).unwrap();
        j.insert(&rec("1.2.3.4:2", 130)).unwrap();
        j.insert(&rec("5.6.7.8:1", 200)).unwrap();
        j.update(&rec("1.2.3.4:1", 3)).unwrap();
        assert_eq!(j.delete_ip_with_min_failures(Ipv4Addr::new(1, 2, 3, 4), 120).unwrap(), 1);
        assert_eq!(j.delete_with_min_failures(120).unwrap(), 1);
        let n = NodeId([9; 32]);
        assert!(j.ban(&n).unwrap());
        assert!(!j.ban(&n).unwrap(), "a second ban changes nothing and is not journaled");
        j.insert(&rec("9.9.9.9:9", 0)).unwrap();
        assert!(j.evict_one_inbound().unwrap().is_some());
        let changes: Vec<StoreChange> = j.take_changes().collect();
        assert_eq!(changes.iter().filter(|c| matches!(c, StoreChange::Ban(_))).count(), 1);
        let mut replay = MemoryStore::new();
        for c in &changes {
            replay.apply(c).unwrap();
        }
        let got: Vec<PeerRecord> = replay.records().collect();
        let want: Vec<PeerRecord> = j.view().records().collect();
        assert_eq!(got, want);
        assert_eq!(replay.bans().unwrap(), vec![n]);
        assert_eq!(j.take_changes().count(), 0, "drained");
    }

    #[test]
    fn a_view_loads_records_and_bans() {
        let mut s = MemoryStore::new();
        s.insert(&rec("1.2.3.4:1", 0)).unwrap();
        s.ban(&NodeId([1; 32])).unwrap();
        let v = load_view(&s).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v.bans().unwrap().len(), 1);
    }
}
