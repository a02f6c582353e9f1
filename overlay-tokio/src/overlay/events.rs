//! What an overlay manager reports: received messages for subscribers, events for logs,
//! and peer information.

use overlay_auth::{HelloFacts, Role};
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{NodeId, PeerAddress};
use std::net::SocketAddr;

/// A message received from an authenticated peer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The sender.
    pub from_peer: NodeId,
    /// The message.
    pub message: StellarMessage,
}

/// What happened, for logs (the `stellar-overlay node` JSON lines).
#[derive(Debug, Clone, PartialEq)]
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
