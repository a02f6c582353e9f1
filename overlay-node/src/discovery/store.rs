//! [`PeerStore`]: where peer records and bans live (PROTOCOL.md §10.1, §10.6).

use super::error::StoreError;
use super::journal::StoreChange;
use super::query::PeerQuery;
use super::record::PeerRecord;
use core::net::Ipv4Addr;
use overlay_proto::{NodeId, PeerAddress, Timestamp};

/// Storage of peer records (the `peers` table) and bans (the `ban` table).
///
/// The [`PeerManager`](super::PeerManager) holds all the logic; a store only keeps rows and
/// answers the few queries below. Two implementations exist: [`MemoryStore`](super::MemoryStore)
/// here, and the SQLite store of the tokio driver, which maps the methods onto
///
/// ```sql
/// CREATE TABLE peers (ip VARCHAR(15) NOT NULL,
///                     port INT NOT NULL CHECK (port > 0 AND port <= 65535),
///                     nextattempt INTEGER NOT NULL,   -- Timestamp nanoseconds, see row.rs
///                     numfailures INT NOT NULL DEFAULT 0 CHECK (numfailures >= 0),
///                     type INT NOT NULL,              -- PeerType::as_db_int
///                     PRIMARY KEY (ip, port));
/// CREATE TABLE ban (nodeid CHARACTER(56) NOT NULL PRIMARY KEY);  -- G... strkey
/// ```
///
/// Contract:
/// * Records are keyed by `(ip, port)`; the address is an IPv4 literal with a non-zero port
///   (checked with [`ipv4_key`](super::ipv4_key); anything else is [`StoreError::NotIpv4`] or
///   [`StoreError::ZeroPort`]).
/// * Pages ([`PeerStore::load_page`]) come in one stable order for given table contents
///   (the in-memory store orders by `(ip, port)`; SQL stores should `ORDER BY ip, port`), so
///   that `count` then `load_page(offset)` draws a consistent window.
/// * A store may bound its size. Inserting a new address into a full store fails with
///   [`StoreError::StoreFull`]; a ban into a full ban list with [`StoreError::BanListFull`].
///   The store never evicts on its own: the manager decides, through
///   [`PeerStore::evict_one_inbound`].
/// * Failures of the medium are typed ([`StoreError::Corrupt`], [`StoreError::Locked`],
///   [`StoreError::ReadOnly`], [`StoreError::InvalidRow`], [`StoreError::Unavailable`]);
///   a failed write leaves the stored rows as they were. No method panics.
pub trait PeerStore {
    /// The record of `address`, if any.
    fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError>;

    /// Add a record for an address that has none. Fails with [`StoreError::AlreadyExists`]
    /// if it has one, [`StoreError::StoreFull`] if the store is at its bound.
    fn insert(&mut self, record: &PeerRecord) -> Result<(), StoreError>;

    /// Replace the record of an address that has one. Fails with [`StoreError::NotFound`]
    /// otherwise.
    fn update(&mut self, record: &PeerRecord) -> Result<(), StoreError>;

    /// Delete the record of `address`; whether there was one.
    fn delete(&mut self, address: &PeerAddress) -> Result<bool, StoreError>;

    /// Delete every record with `num_failures >= min_failures`; how many were deleted.
    /// (`DELETE FROM peers WHERE numfailures >= :min`.)
    fn delete_with_min_failures(&mut self, min_failures: u32) -> Result<u64, StoreError>;

    /// Delete every record of `ip` (all ports) with `num_failures >= min_failures`; how many
    /// were deleted. (`DELETE FROM peers WHERE numfailures >= :min AND ip = :ip`.)
    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, min_failures: u32) -> Result<u64, StoreError>;

    /// Delete one `Inbound` record to make room, choosing the one with the most failures
    /// (ties: the latest `next_attempt`, then the store's stable order, last first); its
    /// address, or `None` if there is no inbound record. Outbound and preferred records are
    /// never evicted.
    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError>;

    /// How many records match `query` at time `now`.
    fn count(&self, query: &PeerQuery, now: Timestamp) -> Result<u64, StoreError>;

    /// At most `limit` records matching `query` at `now`, skipping the first `offset`
    /// matches, in the store's stable order.
    fn load_page(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError>;

    /// Ban `node`; whether it was not banned before.
    fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError>;

    /// Lift the ban on `node`; whether it was banned.
    fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError>;

    /// Whether `node` is banned.
    fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError>;

    /// Every banned node, in a stable order (the in-memory store: by key bytes).
    fn bans(&self) -> Result<Vec<NodeId>, StoreError>;

    /// Apply one change made by a node to its in-memory view (how a driver persists the
    /// node's [`StoreChange`] outputs). A `Put` creates or replaces the record.
    fn apply(&mut self, change: &StoreChange) -> Result<(), StoreError> {
        match change {
            StoreChange::Put(r) => match self.load(&r.address)? {
                Some(_) => self.update(r),
                None => self.insert(r),
            },
            StoreChange::Delete(a) => self.delete(a).map(|_| ()),
            StoreChange::Ban(n) => self.ban(n).map(|_| ()),
            StoreChange::Unban(n) => self.unban(n).map(|_| ()),
        }
    }
}

impl<S: PeerStore + ?Sized> PeerStore for Box<S> {
    fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        (**self).load(address)
    }
    fn insert(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        (**self).insert(record)
    }
    fn update(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        (**self).update(record)
    }
    fn delete(&mut self, address: &PeerAddress) -> Result<bool, StoreError> {
        (**self).delete(address)
    }
    fn delete_with_min_failures(&mut self, min_failures: u32) -> Result<u64, StoreError> {
        (**self).delete_with_min_failures(min_failures)
    }
    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, min_failures: u32) -> Result<u64, StoreError> {
        (**self).delete_ip_with_min_failures(ip, min_failures)
    }
    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError> {
        (**self).evict_one_inbound()
    }
    fn count(&self, query: &PeerQuery, now: Timestamp) -> Result<u64, StoreError> {
        (**self).count(query, now)
    }
    fn load_page(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        (**self).load_page(query, now, offset, limit)
    }
    fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        (**self).ban(node)
    }
    fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        (**self).unban(node)
    }
    fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError> {
        (**self).is_banned(node)
    }
    fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        (**self).bans()
    }
    fn apply(&mut self, change: &StoreChange) -> Result<(), StoreError> {
        (**self).apply(change)
    }
}
