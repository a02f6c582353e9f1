//! What an overlay manager reports: received messages for subscribers, events for logs,
//! and peer information.

use overlay_auth::{HelloFacts, Role};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{NodeId, PeerAddress};
use std::net::SocketAddr;
use std::sync::Arc;

/// A message received from an authenticated peer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The sender.
    pub from_peer: NodeId,
    /// The message, shared by every subscriber.
    pub message: Arc<StellarMessage>,
    /// Whether it was new to the node: a flood message not seen before, an item we were
    /// fetching; true for every other message.
    pub first_seen: bool,
}

/// What happened, for logs (the `stellar-overlay node` JSON lines).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OverlayEvent {
    /// A peer was admitted to an authenticated slot.
    Connected {
        /// The remote socket address.
        address: SocketAddr,
        /// `Initiator` if we dialed.
        direction: Role,
        /// Its HELLO.
        remote: HelloFacts,
    },
    /// An authenticated message arrived (flow-control messages included).
    Message {
        /// The sender.
        peer: NodeId,
        /// Its type.
        message_type: MessageType,
        /// Its XDR size in bytes.
        bytes: usize,
        /// Whether it was new to the node (see [`ReceivedMessage::first_seen`]).
        first_seen: bool,
    },
    /// A connection ended, or never authenticated.
    Disconnected {
        /// The remote, if its HELLO was accepted.
        peer: Option<NodeId>,
        /// The remote socket address.
        address: SocketAddr,
        /// Why, in stellar-core's words.
        reason: String,
    },
    /// A subscriber's queue was full: it started missing messages (`missed` so far).
    SubscriberLagged {
        /// Messages it missed so far.
        missed: u64,
    },
    /// The application's delivery queue was full: a delivery was not handed over (its
    /// verdict will not come; the node gives it up after the verdict timeout).
    ApplicationLagged {
        /// Deliveries missed so far.
        missed: u64,
    },
    /// The peer database could not be written (the node goes on from its in-memory view).
    StoreFailed {
        /// What failed.
        error: String,
    },
}

/// An authenticated peer, as [`OverlayManager::peer_infos`](super::OverlayManager::peer_infos)
/// reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    /// Its NodeID.
    pub peer_id: NodeId,
    /// Its address: IP and listening port.
    pub address: PeerAddress,
    /// `Initiator` if we dialed.
    pub direction: Role,
    /// Its version string.
    pub version_string: String,
    /// Its overlay version.
    pub overlay_version: u32,
    /// Messages read and written.
    pub messages_read: u64,
    /// Messages written.
    pub messages_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Last ping round trip, if measured.
    pub latency_ms: Option<u64>,
}
