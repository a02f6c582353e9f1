//! The sans-IO Stellar overlay node.
//!
//! Deterministic protocol logic with no networking, no OS time and no global randomness:
//! drivers (the tokio driver, the simulator) feed bytes and timer events in and carry out
//! what comes out. This crate holds [`peer::Peer`], one connection's whole life (framing,
//! handshake, MAC, flow control, timers, ping).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod discovery;
pub mod peer;
pub mod responder;

pub use peer::{DropReason, Peer, PeerConfig, PeerEvent, PeerStats, SendError};
