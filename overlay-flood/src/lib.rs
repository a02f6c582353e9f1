//! Network-wide dissemination for the Stellar overlay, as deterministic sans-IO state machines.
//!
//! This crate decides **who gets which flooded message and when**, and **whom to ask for a
//! missing item**. It has no sockets, no clock, no threads and no global randomness: time
//! comes in as [`Timestamp`](overlay_proto::Timestamp) arguments, randomness as a
//! `&mut impl rand_core::Rng` from the caller, and every hash map is seeded by the caller. The
//! same inputs give the same outputs.
//!
//! | piece | PROTOCOL.md | stellar-core |
//! |---|---|---|
//! | [`Floodgate`]: which peers know which message; broadcast targets; cleanup by ledger | §8.1 | `Floodgate` |
//! | [`QueryLimiter`]: per-peer limits on GET_TX_SET, GET_SCP_QUORUMSET, GET_SCP_STATE | §8.6 | `Peer::process(QueryInfo&)` |
//! | [`PullMode`]: outgoing advert batching, advert history, incoming adverts, demand scheduling, serving demands | §9 | `TxAdverts`, `TxDemandsManager` |
//! | [`ItemFetcher`] / [`Tracker`]: fetching tx sets and quorum sets for waiting SCP envelopes | §8.3, §8.4 | `ItemFetcher`, `Tracker` |
//! | [`identity`]: message identity and the pull-mode transaction hash | §8.1, §9 | `xdrBlake2`, `getFullHash` |
//!
//! It does **not**: encode, MAC or send anything (the node does, with `overlay-proto` and
//! `overlay-auth`); account for flow control (`overlay-flow`); judge transactions or SCP
//! envelopes (the Herder: "do we have this tx", "is it banned", "is this envelope ready" come in
//! as predicates or calls); answer GET_TX_SET / GET_SCP_QUORUMSET / GET_SCP_STATE (the node
//! looks the item up, after asking the [`QueryLimiter`]); or decide when the node is in sync.
//!
//! Peers are opaque handles `P: Copy + Eq + Ord + Hash + Debug` (a `NodeId` or a connection
//! id). At most [`PEERS_MAX`] peers are tracked at once.
//!
//! # How the node drives it
//!
//! ```
//! use overlay_flood::{Floodgate, FloodConfig, LedgerLimits, PullMode, identity};
//! use overlay_proto::{Hash256, Timestamp};
//! use rand_chacha::ChaCha8Rng;
//! use rand_core::SeedableRng;
//!
//! let cfg = FloodConfig::default();
//! let mut rng = ChaCha8Rng::seed_from_u64(7);
//! let t0 = Timestamp::from_secs(1);
//! let mut gate: Floodgate<u32> = Floodgate::new(&cfg, 1);
//! let mut pull: PullMode<u32> = PullMode::new(&cfg, LedgerLimits::default(), 2, t0);
//! for p in [1, 2, 3] {
//!     pull.add_peer(p).unwrap();
//! }
//!
//! // A transaction arrives from peer 1 and the Herder accepts it: it is recorded, then
//! // broadcast. Transactions are advertised, not pushed: each peer gets its hash in an advert.
//! let msg_id = Hash256::sha256(b"xdr of the TRANSACTION message");
//! let tx_hash = Hash256::sha256(b"xdr of its TransactionEnvelope");
//! assert!(gate.record_received(msg_id, 1, 100).unwrap());
//! for peer in gate.broadcast(msg_id, 100, &[1, 2, 3]).unwrap() {
//!     pull.queue_outgoing_advert(t0, peer, tx_hash);
//! }
//! // The advert batch goes out when its 100 ms period ends.
//! pull.handle_timeout(t0 + std::time::Duration::from_millis(100), &mut rng, |_| true);
//! let mut sent = Vec::new();
//! while let Some(t) = pull.poll_transmit() {
//!     sent.push(t.peer);
//! }
//! assert_eq!(sent, [2, 3]); // never back to peer 1
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod adverts;
pub mod config;
pub mod demands;
pub mod error;
pub mod fetcher;
pub mod floodgate;
pub mod identity;
pub mod pull;
pub mod query_limit;
pub mod tracker;

pub use adverts::PeerAdverts;
pub use config::{FloodConfig, LedgerLimits, PEERS_MAX, TX_HASHES_PER_MESSAGE_MAX};
pub use demands::{AdvertQueues, DemandMetrics, DemandScheduler, DemandStatus, PullLatency};
pub use error::FloodError;
pub use fetcher::{FetchKind, FetchMetrics, FetchRequest, ItemFetcher};
pub use floodgate::{Floodgate, FloodgateMetrics, FloodgateStats, PeerSlot};
pub use pull::{PullMessageKind, PullMetrics, PullMode, PullTransmit, TxAvailability};
pub use query_limit::{QueryKind, QueryLimiter, QueryLimits};
pub use tracker::{EnvelopeKnowers, FetchPeer, NextPeer, NoKnowers, Tracker, Waiting};

/// The `rand_core` version whose `Rng` trait the inputs take, for callers without their own
/// dependency on it.
pub use rand_core;
