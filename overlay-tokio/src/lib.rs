//! The tokio driver of the Stellar overlay.
//!
//! Sockets, timers and tasks around the sans-IO machines of `overlay-node`; no protocol
//! logic lives here. [`PeerConnection`] is one authenticated connection; [`SimpleNode`] a
//! listener and dialer that keeps connections open and reports what happens on them (the
//! `stellar-overlay node` program).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod connection;
pub mod local;
pub mod simple;

pub use connection::{ConnectionConfig, ConnectionError, ConnectionEvent, PeerConnection};
pub use local::{LocalNode, SharedAuth};
pub use simple::{NodeEvent, SimpleNode, SimpleNodeConfig};
