//! Peer records, discovery and bans (PROTOCOL.md §10, with the record-keeping of §11.4 and
//! §11.7).
//!
//! Deterministic and sans-IO: time comes in as `now: Timestamp`, randomness as the caller's
//! `rand_core::Rng`, and storage sits behind the [`PeerStore`] trait. This module holds the
//! in-memory store ([`MemoryStore`]); the SQLite store lives in the tokio driver and uses the
//! column mapping of [`PeerRow`].
//!
//! | module | job | stellar-core |
//! |---|---|---|
//! | `record` | [`PeerType`], [`PeerRecord`], the type-update rule | `PeerManager.h` `PeerRecord`, `getTypeUpdate` |
//! | `query` | [`PeerQuery`], [`PeerTypeFilter`] | `PeerQuery`, `PeerTypeFilter` |
//! | `backoff` | [`BackoffUpdate`], [`backoff_secs`] | `computeBackoff`, `BackOffUpdate` |
//! | `store` | the [`PeerStore`] trait | the `peers` and `ban` tables |
//! | `memory` | [`MemoryStore`] | — |
//! | `row` | [`PeerRow`]: SQL column mapping | `PeerManager::load` / `store` |
//! | `source` | [`load_random_peers`], [`PeerSource`] | `loadRandomPeers`, `RandomPeerSource` |
//! | `manager` | [`PeerManager`] | `PeerManager`, parts of `OverlayManagerImpl` |
//! | `peers_message` | building and filtering PEERS | `getPeersToSend`, `Peer::sendPeers`, `Peer::recvPeers` |
//! | `bans` | ban, unban, list | `BanManager` |
//! | `journal` | [`JournalStore`], [`StoreChange`]: the store as data | — |
//!
//! # Example
//!
//! ```
//! use overlay_node::discovery::{DiscoveryConfig, MemoryStore, PeerManager, PeerType};
//! use overlay_auth::Role;
//! use overlay_proto::{PeerAddress, Timestamp};
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//!
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let mut pm = PeerManager::new(MemoryStore::new(), DiscoveryConfig::default());
//! let now = Timestamp::from_secs(100);
//! let known: PeerAddress = "1.2.3.4:11625".parse().unwrap();
//!
//! // Start: configured peers, then the purge of dead records.
//! pm.store_config_peers(now, &[known.clone()], &[], true, &mut rng).unwrap();
//! pm.purge_dead().unwrap();
//!
//! // Tick: pick outbound peers to dial, note the attempt, dial.
//! let to_dial = pm.peers_to_connect(now, PeerType::Outbound, 8, |_| None, &mut rng).unwrap();
//! assert_eq!(to_dial, vec![known.clone()]);
//! let rec = pm.note_connect_attempt(now, &known, &mut rng).unwrap();
//! assert_eq!(rec.num_failures, 1);
//!
//! // The handshake succeeds: HELLO, then AUTH resets the backoff.
//! pm.note_hello(now, &known, Role::Initiator, false).unwrap();
//! let rec = pm.note_authenticated(now, &known, Role::Initiator, &mut rng).unwrap().unwrap();
//! assert_eq!((rec.num_failures, rec.peer_type), (0, PeerType::Outbound));
//! ```

mod backoff;
mod bans;
mod config;
mod error;
mod journal;
mod manager;
mod memory;
mod peers_message;
mod query;
mod record;
mod row;
mod source;
mod store;

pub use backoff::{BackoffUpdate, MAX_BACKOFF_EXPONENT, SECONDS_PER_BACKOFF, backoff_secs, backoff_window_secs};
pub use config::{
    BATCH_SIZE, DiscoveryConfig, MAX_BANS_DEFAULT, MAX_FAILURES, MAX_PEER_RECORDS_DEFAULT, MAX_PEERS_RECEIVED,
    MAX_PEERS_TO_CONNECT_PER_CALL, MAX_PEERS_TO_SEND, REALLY_DEAD_NUM_FAILURES_CUTOFF,
};
pub use error::StoreError;
pub use journal::{JournalStore, StoreChange, StoreKey, load_view};
pub use manager::{ConfigPeersReport, PeerManager};
pub use memory::MemoryStore;
pub use peers_message::PeersReport;
pub use query::{PeerQuery, PeerTypeFilter};
pub use record::{PeerRecord, PeerType, address_of, ipv4_key};
pub use row::{PeerRow, node_id_from_db, node_id_to_db, timestamp_from_db, timestamp_to_db};
pub use source::{MAX_RANDOM_LOAD, PeerSource, load_random_peers};
pub use store::PeerStore;
