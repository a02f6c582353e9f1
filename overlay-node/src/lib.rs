//! The sans-IO Stellar overlay node.
//!
//! Deterministic protocol logic with no networking, no OS time and no global randomness:
//! drivers (the tokio driver, the simulator) feed bytes and timer events in and carry out
//! what comes out. [`peer::Peer`] is one connection's whole life (framing, handshake, MAC,
//! flow control, timers, ping); [`Node`] is the overlay manager over many peers: slots,
//! preferred peers, flooding, pull mode, fetching, discovery and bans, with the
//! [`Application`] (consensus, transaction queue) behind it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod discovery;
pub mod harness;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod responder;

pub use app::{Application, LedgerState, MemoryApp, ScpVerdict, TxVerdict};
pub use config::NodeConfig;
pub use node::{ConnId, Node, NodeError, NodeEvent, Output};
pub use peer::{DropReason, Peer, PeerConfig, PeerEvent, PeerStats, SendError};
