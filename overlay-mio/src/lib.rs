//! The mio driver of the Stellar overlay: the same sans-IO node as `overlay-tokio`, on an
//! event loop of its own thread, with no async runtime.
//!
//! [`OverlayManager`] runs a whole node: a `mio::Poll` with the listener, one socket per
//! connection and a `mio::Waker` for other threads, following the run-loop contract of
//! `overlay_node::node` (feed an input, drain the outputs, write, sleep until the next
//! socket event, wake-up or deadline of `Node::poll_timeout`). The application runs on a
//! thread of its own (the [`Relay`](overlay_node::Relay) unless another is given) or outside,
//! reading [`Deliveries`]; the peer database is SQLite, written behind the node on another
//! thread. Configuration, store, events and reports are `overlay-host`'s, shared with the
//! tokio driver, so both behave alike; this crate holds only sockets, the loop and queues.
//!
//! The manager's operations carry `overlay_tokio::OverlayManager`'s names and types but
//! wait on the caller's thread; through the [`Overlay`] trait they
//! are futures that any executor can poll.
//!
//! ```no_run
//! use overlay_auth::NodeIdentity;
//! use overlay_mio::{LocalNode, OverlayConfig, OverlayManager};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let local = LocalNode::new_testnet(NodeIdentity::from_seed([7; 32]));
//! let manager = OverlayManager::new(OverlayConfig::testnet(), local)?;
//! let messages = manager.subscribe();
//! manager.start()?;
//! while let Ok(msg) = messages.recv() {
//!     println!("{:?} from {}", msg.message.discriminant(), msg.from_peer);
//! }
//! manager.shutdown();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod channels;
mod driver;
mod handle;
mod manager;
mod queue;
mod resolver;

pub use channels::{Closed, Deliveries, Events, RecvTimeoutError, Subscription};
pub use manager::{OverlayBuilder, OverlayManager};
pub use overlay_host::{
    ConnectError, LocalNode, Overlay, OverlayConfig, OverlayError, OverlayEvent, PeerInfo, ReceivedMessage,
};
