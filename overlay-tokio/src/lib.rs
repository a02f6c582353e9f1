//! The tokio driver of the Stellar overlay.
//!
//! Sockets, timers and tasks around the sans-IO machines of `overlay-node`; no protocol
//! logic lives here. [`OverlayManager`] runs a whole node (listener, dialing, the peer
//! database, the application beside it, subscriptions); [`PeerConnection`] is one
//! authenticated connection on its own, for tools that talk to a single peer
//! (`stellar-overlay peer-info`).
//!
//! What does not depend on tokio (the configuration, the SQLite peer store and its writer,
//! events and reports, clocks, identity) lives in `overlay-host`, shared with the mio driver;
//! it is re-exported here under the paths it always had. The library carries no program
//! dependencies; the `stellar-overlay` program is its own crate.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod connection;
pub mod guide;
pub mod overlay;

pub use overlay_host::{Overlay, clock, local, store};

pub use connection::{ConnectionConfig, ConnectionError, ConnectionEvent, PeerConnection};
pub use local::{GenerateIdentity, LocalNode, SharedAuth};
pub use overlay::{
    Closed, ConnectError, Deliveries, FlowInfo, NodeInfo, OverlayBuilder, OverlayConfig, OverlayError, OverlayEvent,
    OverlayManager, OverlaySnapshot, PeerInfo, PeersReport, PendingPeer, ReceivedMessage, Subscription,
};
pub use overlay_proto::PeerAddress;
pub use store::SqliteStore;
