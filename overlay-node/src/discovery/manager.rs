//! [`PeerManager`]: the rules of peer records over a [`PeerStore`] (PROTOCOL.md §10.1–§10.3,
//! §10.5, §11.4, §11.7; stellar-core `PeerManager` and the record-keeping parts of
//! `OverlayManagerImpl`).

use super::backoff::BackoffUpdate;
use super::config::{DiscoveryConfig, MAX_PEERS_TO_CONNECT_PER_CALL, REALLY_DEAD_NUM_FAILURES_CUTOFF};
use super::error::StoreError;
use super::query::PeerQuery;
use super::record::{PeerRecord, PeerType};
use super::source::{PeerSource, load_random_peers};
use super::store::PeerStore;
use core::net::IpAddr;
use overlay_auth::Role;
use overlay_proto::{PeerAddress, Timestamp};
use rand_core::Rng;

/// What [`PeerManager::store_config_peers`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigPeersReport {
    /// Addresses whose record was created or updated.
    pub stored: usize,
    /// Addresses skipped because they are not IPv4 literals with a port (names must be
    /// resolved by the driver first).
    pub skipped_invalid: usize,
    /// Addresses refused because the store is full of outbound and preferred records.
    pub refused_full: usize,
}

/// Peer records with stellar-core's rules: creation, type updates, backoff, purging of dead
/// records, and random selection of peers to dial and to advertise.
///
/// Sans-IO: every call takes `now` and, where randomness is needed, the caller's generator;
/// the store is the only state besides the peer-source caches.
///
/// # Store bound policy
///
/// A store may be bounded (the [`MemoryStore`](super::MemoryStore) is). When it is full:
/// * a record that would be created as [`PeerType::Inbound`] (an address learned from PEERS,
///   a peer seen connecting to us, an unknown address dialed by an operator) is refused with
///   [`StoreError::StoreFull`];
/// * a record that would be created as `Outbound` or `Preferred` (configured peers, a peer
///   we dialed whose HELLO we accepted) evicts the inbound record with the most failures
///   ([`PeerStore::evict_one_inbound`]); only if there is none is it refused.
///
/// Outbound and preferred records are never evicted, so a flood of PEERS can neither push
/// out configured peers nor grow memory.
///
/// # How the overlay manager uses it
///
/// | when | call |
/// |---|---|
/// | overlay start (tick loop start) | [`store_config_peers`](Self::store_config_peers) with `startup = true`, then [`purge_dead`](Self::purge_dead) |
/// | DNS re-resolution done (tick) | [`store_config_peers`](Self::store_config_peers) with `startup = false` |
/// | "connect to N of type T" (tick) | [`peers_to_connect`](Self::peers_to_connect), then per address with a free pending slot [`note_connect_attempt`](Self::note_connect_attempt) and dial |
/// | valid HELLO (§3.5 step 12) | [`note_hello`](Self::note_hello) |
/// | after AUTH (§3.6 step 5) | [`note_authenticated`](Self::note_authenticated) |
/// | peer removed (drop) | [`note_peer_removed`](Self::note_peer_removed) |
/// | acceptor admits a peer | [`build_peers_message`](Self::build_peers_message) |
/// | PEERS received (initiator, first one) | [`handle_peers`](Self::handle_peers) |
/// | HELLO ban check, admin ban/unban | [`is_banned`](Self::is_banned), [`ban`](Self::ban), [`unban`](Self::unban) |
#[derive(Debug)]
pub struct PeerManager<S: PeerStore> {
    pub(super) store: S,
    pub(super) config: DiscoveryConfig,
    /// Connection sources, indexed by `PeerType as usize`: due now, at most 120 failures.
    connect_sources: [PeerSource; 3],
    /// PEERS sources: non-inbound, then inbound, each with at most 10 failures.
    pub(super) send_outbound: PeerSource,
    pub(super) send_inbound: PeerSource,
}

impl<S: PeerStore> PeerManager<S> {
    /// A manager over `store`.
    ///
    /// ```
    /// use overlay_node::discovery::{DiscoveryConfig, MemoryStore, PeerManager, PeerType};
    /// use overlay_proto::Timestamp;
    /// let mut pm = PeerManager::new(MemoryStore::new(), DiscoveryConfig::default());
    /// let a = "1.2.3.4:11625".parse().unwrap();
    /// pm.update_type(Timestamp::ZERO, &a, PeerType::Outbound, true).unwrap();
    /// assert_eq!(pm.load(&a).unwrap().unwrap().peer_type, PeerType::Outbound);
    /// ```
    pub fn new(store: S, config: DiscoveryConfig) -> Self {
        PeerManager {
            store,
            config,
            connect_sources: PeerType::ALL.map(|t| PeerSource::new(PeerQuery::next_attempt_cutoff(t))),
            send_outbound: PeerSource::new(PeerQuery::to_send_outbound()),
            send_inbound: PeerSource::new(PeerQuery::to_send_inbound()),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (tests, admin tools). Peer-source caches are not told about
    /// changes made through it.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The store, giving up the manager.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The record of `address`, if any.
    pub fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        self.store.load(address)
    }

    /// Create an `Inbound` record for `address` (0 failures, due `now`) unless one exists
    /// (stellar-core `ensureExists`); whether it was created. Used for addresses learned from
    /// PEERS: never evicts, so on a full store it fails with [`StoreError::StoreFull`].
    pub fn ensure_exists(&mut self, now: Timestamp, address: &PeerAddress) -> Result<bool, StoreError> {
        if self.store.load(address)?.is_some() {
            return Ok(false);
        }
        let record = PeerRecord::new(address.clone(), now)?;
        self.store.insert(&record)?;
        Ok(true)
    }

    /// Apply the type-update rule of §10.3 ([`PeerType::after_observation`]) to the record
    /// of `address`, creating it first (as `Inbound`, due `now`) if needed. Returns the
    /// stored record.
    pub fn update_type(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        observed: PeerType,
        preferred_known: bool,
    ) -> Result<PeerRecord, StoreError> {
        self.modify(now, address, |r| {
            r.peer_type = r.peer_type.after_observation(observed, preferred_known);
        })
    }

    /// Apply a backoff update (§10.2) to the record of `address`, creating it first if
    /// needed. Returns the stored record.
    pub fn update_backoff<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        update: BackoffUpdate,
        rng: &mut R,
    ) -> Result<PeerRecord, StoreError> {
        self.modify(now, address, |r| update.apply(r, now, rng))
    }

    /// [`update_type`](Self::update_type) then [`update_backoff`](Self::update_backoff) in one
    /// write.
    pub fn update_type_and_backoff<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        observed: PeerType,
        preferred_known: bool,
        update: BackoffUpdate,
        rng: &mut R,
    ) -> Result<PeerRecord, StoreError> {
        self.modify(now, address, |r| {
            r.peer_type = r.peer_type.after_observation(observed, preferred_known);
            update.apply(r, now, rng);
        })
    }

    /// Record the configured peers (stellar-core `storeConfigPeers`): each `known` address
    /// observed as `Outbound`, then each `preferred` one as `Preferred`, with
    /// `preferred_known = false`; at `startup` also a `HardReset` (due now, 0 failures).
    /// Addresses must already be resolved to IPv4; others are skipped and counted.
    pub fn store_config_peers<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        known: &[PeerAddress],
        preferred: &[PeerAddress],
        startup: bool,
        rng: &mut R,
    ) -> Result<ConfigPeersReport, StoreError> {
        let mut report = ConfigPeersReport::default();
        let lists = [(known, PeerType::Outbound), (preferred, PeerType::Preferred)];
        for (list, observed) in lists {
            for address in list {
                let result = if startup {
                    self.update_type_and_backoff(now, address, observed, false, BackoffUpdate::HardReset, rng)
                } else {
                    self.update_type(now, address, observed, false)
                };
                match result {
                    Ok(_) => report.stored += 1,
                    Err(StoreError::NotIpv4(_) | StoreError::ZeroPort(_)) => report.skipped_invalid += 1,
                    Err(StoreError::StoreFull { .. }) => report.refused_full += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(report)
    }

    /// Delete every record with at least [`REALLY_DEAD_NUM_FAILURES_CUTOFF`] (120) failures;
    /// how many. Called once at overlay start.
    pub fn purge_dead(&mut self) -> Result<u64, StoreError> {
        self.store.delete_with_min_failures(REALLY_DEAD_NUM_FAILURES_CUTOFF)
    }

    /// A peer connection to `address` was removed: delete the records of its IP (all ports)
    /// with at least 120 failures (§11.7); how many. Only the IP matters, so the address of
    /// an inbound connection dropped before its HELLO (remote port, or 0) works too; a
    /// non-IPv4 address deletes nothing.
    pub fn note_peer_removed(&mut self, address: &PeerAddress) -> Result<u64, StoreError> {
        match address.ip() {
            Some(IpAddr::V4(ip)) => self.store.delete_ip_with_min_failures(ip, REALLY_DEAD_NUM_FAILURES_CUTOFF),
            _ => Ok(0),
        }
    }

    /// Up to `n = max(requested, 1000)` (capped, see [`load_random_peers`]) random
    /// addresses matching `query` at `now`.
    pub fn load_random_peers<R: Rng + ?Sized>(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        requested: usize,
        rng: &mut R,
    ) -> Result<Vec<PeerAddress>, StoreError> {
        load_random_peers(&self.store, query, now, requested, rng)
    }

    /// "Connect to `max` peers of type `peer_type`" (§11.4, stellar-core
    /// `getPeersToConnectTo`): up to `min(max, 50)` addresses of records of exactly that type
    /// that are due (`next_attempt <= now`) and have at most 120 failures, in random order,
    /// from the type's cached source.
    ///
    /// `connected(address)` tells how we are connected to an address now (pending or
    /// authenticated): `None` if not at all, `Some(Role::Acceptor)` if only by a connection
    /// the remote dialed, `Some(Role::Initiator)` if by one we dialed. Connected addresses are
    /// skipped, except that for `Inbound` an address connected only as acceptor is kept (the
    /// promotion attempt: we dial it back).
    ///
    /// The caller then, per address: stops if it has no outbound pending slot, calls
    /// [`note_connect_attempt`](Self::note_connect_attempt), and dials.
    pub fn peers_to_connect<R, F>(
        &mut self,
        now: Timestamp,
        peer_type: PeerType,
        max: usize,
        mut connected: F,
        rng: &mut R,
    ) -> Result<Vec<PeerAddress>, StoreError>
    where
        R: Rng + ?Sized,
        F: FnMut(&PeerAddress) -> Option<Role>,
    {
        let size = max.min(MAX_PEERS_TO_CONNECT_PER_CALL);
        let keep = |address: &PeerAddress| match connected(address) {
            None => true,
            Some(Role::Acceptor) => peer_type == PeerType::Inbound,
            Some(Role::Initiator) => false,
        };
        let source = &mut self.connect_sources[peer_type as usize];
        source.random_peers(&self.store, now, size, keep, rng)
    }

    /// About to dial `address`: `Increase` its backoff (creating an `Inbound` record if it
    /// has none, as stellar-core does for an operator's `connect`). Returns the record.
    ///
    /// An error here (a full or failing store) need not stop the dial; stellar-core logs
    /// store failures and carries on.
    pub fn note_connect_attempt<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        rng: &mut R,
    ) -> Result<PeerRecord, StoreError> {
        self.update_backoff(now, address, BackoffUpdate::Increase, rng)
    }

    /// A HELLO from `address` (the remote IP with its advertised listening port) passed every
    /// check (§3.5 step 12, stellar-core `updatePeerRecordAfterEcho`). `is_preferred_address`
    /// is whether `address` is one of the configured preferred addresses
    /// (`PREFERRED_PEER_KEYS` does not count here). Observed type: `Preferred` if so, else
    /// `Outbound` if we dialed, else `Inbound`; `preferred_known = true`.
    pub fn note_hello(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        role: Role,
        is_preferred_address: bool,
    ) -> Result<PeerRecord, StoreError> {
        let observed = match (is_preferred_address, role) {
            (true, _) => PeerType::Preferred,
            (false, Role::Initiator) => PeerType::Outbound,
            (false, Role::Acceptor) => PeerType::Inbound,
        };
        self.update_type(now, address, observed, true)
    }

    /// Both AUTHs are done on a connection to `address` (§3.6 step 5, before the slot check):
    /// if we dialed it, `Reset` its backoff. Returns the updated record, or `None` for a
    /// connection the remote dialed (nothing to do).
    pub fn note_authenticated<R: Rng + ?Sized>(
        &mut self,
        now: Timestamp,
        address: &PeerAddress,
        role: Role,
        rng: &mut R,
    ) -> Result<Option<PeerRecord>, StoreError> {
        match role {
            Role::Initiator => self.update_backoff(now, address, BackoffUpdate::Reset, rng).map(Some),
            Role::Acceptor => Ok(None),
        }
    }

    /// Load, change and write back the record of `address`, creating it (`Inbound`, due
    /// `now`) when absent.
    fn modify<F>(&mut self, now: Timestamp, address: &PeerAddress, change: F) -> Result<PeerRecord, StoreError>
    where
        F: FnOnce(&mut PeerRecord),
    {
        match self.store.load(address)? {
            Some(mut record) => {
                change(&mut record);
                self.store.update(&record)?;
                Ok(record)
            }
            None => {
                let mut record = PeerRecord::new(address.clone(), now)?;
                change(&mut record);
                self.insert_making_room(&record)?;
                Ok(record)
            }
        }
    }

    /// Insert a new record under the store bound policy (see the type doc).
    fn insert_making_room(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        match self.store.insert(record) {
            Err(StoreError::StoreFull { max_records }) if record.peer_type != PeerType::Inbound => {
                match self.store.evict_one_inbound()? {
                    Some(_) => self.store.insert(record),
                    None => Err(StoreError::StoreFull { max_records }),
                }
            }
            other => other,
        }
    }
}
