//! What every driver of the Stellar overlay shares, whatever runs its sockets.
//!
//! The tokio driver (`overlay-tokio`) and the mio driver (`overlay-mio`) run the same
//! sans-IO [`overlay_node::Node`] on different event loops; everything around the node
//! that does not depend on the event loop lives here, so that both behave alike:
//!
//! - [`OverlayConfig`]: the settings, mapped onto stellar-core's keys and checked;
//! - [`SqliteStore`] and [`persist::StoreWriter`]: the peer database, written behind the
//!   node on a thread of its own;
//! - [`OverlayEvent`], [`ReceivedMessage`], [`PeerInfo`], [`PeersReport`], [`NodeInfo`],
//!   [`OverlaySnapshot`]: what a running overlay reports, built from the node by [`report`];
//! - [`OverlayError`] and [`ConnectError`]: what its operations fail with;
//! - [`clock`]: monotonic time anchored to the Unix epoch, and OS randomness;
//! - [`LocalNode`]: who we are; [`dns`]: blocking resolution of configured host names;
//! - [`app`]: an in-process application run on a thread of its own; [`OverlayBuilder`]:
//!   a driver's manager with a chosen application and peer store;
//! - [`Overlay`]: the operations a program needs of a running overlay, implemented by each
//!   driver's manager, so that a program (or the admin endpoint) works with either.
//!
//! Nothing here starts an event loop, and no async runtime is a dependency: the crate uses
//! the standard library's threads and locks only.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
mod builder;
pub mod clock;
mod config;
pub mod connect;
pub mod dns;
mod error;
mod events;
mod handle;
pub mod local;
pub mod persist;
pub mod report;
pub mod setup;
pub mod store;

pub use builder::{Assemble, BoxedStore, OverlayBuilder};
pub use config::OverlayConfig;
pub use error::{ConnectError, OverlayError};
pub use events::{
    FlowInfo, NodeInfo, OverlayEvent, OverlaySnapshot, PeerInfo, PeersReport, PendingPeer, ReceivedMessage,
    fallback_socket,
};
pub use handle::Overlay;
pub use local::{GenerateIdentity, LocalNode, SharedAuth};
pub use store::SqliteStore;
