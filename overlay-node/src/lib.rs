//! The sans-IO Stellar overlay node.
//!
//! Deterministic protocol logic with no networking, no OS time and no global randomness:
//! drivers (the tokio driver, the simulator) feed bytes and timer events in and carry out
//! what comes out. [`peer::Peer`] is one connection's whole life (framing, handshake, MAC,
//! flow control, timers, ping); [`Node`] is the overlay manager over many peers: slots,
//! preferred peers, flooding, pull mode, fetching, discovery and bans. The application
//! (consensus, a transaction queue) is reached through data: the node emits
//! [`Delivery`]s and takes [`AppInput`]s (see [`app`]); the peer database likewise leaves
//! as [`Output::Store`] changes. [`Relay`] is the application of a node with no validator
//! behind it, which behaves like stellar-core's watcher.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod discovery;
#[cfg(any(test, feature = "test-harness"))]
pub mod harness;
pub mod ledger;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod relay;
pub mod survey;

pub use app::{AppInput, Application, Delivery, MemoryApp, ScpVerdict, SharedTransaction, TxVerdict};
pub use config::{ItemLimits, NodeConfig};
pub use ledger::LedgerState;
pub use node::{ConnId, Node, NodeError, NodeEvent, NodeSizes, Output, Received, SURVEY_BAD_SIGNATURE};
pub use peer::{DropReason, Opened, Peer, PeerConfig, PeerEvent, PeerReader, PeerStats, PeerWriter, SendError};
pub use relay::{Relay, RelayConfig};
