//! The tokio driver of the Stellar overlay.
//!
//! Sockets, timers and tasks around the sans-IO machines of `overlay-node`; no protocol
//! logic lives here. [`OverlayManager`] runs a whole node (listener, dialing, the peer
//! database, subscriptions); [`PeerConnection`] is one authenticated connection on its own,
//! for tools that talk to a single peer (`stellar-overlay peer-info`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod config_file;
pub mod connection;
pub mod local;
pub mod overlay;
pub mod store;

pub use connection::{ConnectionConfig, ConnectionError, ConnectionEvent, PeerConnection};
pub use local::{LocalNode, SharedAuth};
pub use overlay::{OverlayConfig, OverlayError, OverlayEvent, OverlayManager, PeerInfo, ReceivedMessage};
pub use store::SqliteStore;
