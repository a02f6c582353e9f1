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

/// An authenticated peer, as an overlay manager's `peer_infos`
/// reports it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// Its minimum overlay version.
    pub overlay_min_version: u32,
    /// The ledger protocol of its HELLO.
    pub ledger_version: u32,
    /// Messages read.
    pub messages_read: u64,
    /// Messages written.
    pub messages_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Last ping round trip, if measured.
    pub latency_ms: Option<u64>,
    /// Seconds since it authenticated.
    pub elapsed_secs: u64,
    /// Flow control both ways.
    pub flow: FlowInfo,
}

/// A connection's flow-control state (stellar-core's `peers` command, `flow_control`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowInfo {
    /// Flood messages the peer may still send us (`local_capacity.flood`).
    pub local_flood_msgs: u64,
    /// Messages of any kind it may still send (`local_capacity.reading`).
    pub local_reading_msgs: u64,
    /// Flood bytes it may still send (`local_capacity_bytes.flood`).
    pub local_flood_bytes: u64,
    /// Flood messages we may still send it (`peer_capacity`).
    pub peer_msgs: u64,
    /// Flood bytes we may still send it (`peer_capacity_bytes`).
    pub peer_bytes: u64,
    /// Flood messages waiting in our outbound queues for it.
    pub queued_msgs: u64,
    /// Their bytes.
    pub queued_bytes: u64,
}

/// A connection not yet authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPeer {
    /// The address dialed, or the remote socket address.
    pub address: PeerAddress,
    /// `Initiator` if we dialed.
    pub direction: Role,
}

/// Every connection: what stellar-core's `peers` command lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeersReport {
    /// Authenticated peers.
    pub authenticated: Vec<PeerInfo>,
    /// Connections dialing or in their handshake.
    pub pending: Vec<PendingPeer>,
}

/// The overlay part of stellar-core's `info` command.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// Our NodeID.
    pub node_id: NodeId,
    /// Our HELLO's version string.
    pub version_str: String,
    /// Our overlay versions (min, current).
    pub overlay_versions: (u32, u32),
    /// The ledger the node works from.
    pub ledger: overlay_node::LedgerState,
    /// Authenticated connections.
    pub authenticated_count: usize,
    /// Pending connections.
    pub pending_count: usize,
    /// When the node started, in Unix seconds.
    pub started_unix: u64,
    /// Whether the node is shutting down.
    pub shutting_down: bool,
}

/// Every measurement of a running overlay: the node's, and the driver's own.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlaySnapshot {
    /// The node's counters, traffic, drops, queues and latencies.
    pub node: overlay_node::metrics::MetricsSnapshot,
    /// Time the node took to process what it read, per message type: each read's time is
    /// shared evenly among the messages it carried (the node handles a read as a whole).
    pub processing: Vec<(MessageType, overlay_node::metrics::Histogram)>,
    /// Deliveries the application could not take.
    pub deliveries_missed: u64,
    /// Peer-database writes that failed or were dropped.
    pub store_failures: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
}

impl OverlayEvent {
    /// The event a node event becomes for the log; `socket` is the connection's remote
    /// socket address (see [`fallback_socket`] for a connection without one).
    pub fn from_node(event: &overlay_node::NodeEvent, socket: SocketAddr) -> OverlayEvent {
        use overlay_node::NodeEvent;
        match event {
            NodeEvent::Connected { role, remote, .. } => {
                OverlayEvent::Connected { address: socket, direction: *role, remote: (**remote).clone() }
            }
            NodeEvent::Message { peer, message, size, first_seen, .. } => OverlayEvent::Message {
                peer: *peer,
                message_type: message.message_type(),
                bytes: *size,
                first_seen: *first_seen,
            },
            NodeEvent::Control { peer, message_type, size, .. } => {
                OverlayEvent::Message { peer: *peer, message_type: *message_type, bytes: *size, first_seen: true }
            }
            NodeEvent::Disconnected { peer, reason, .. } => {
                OverlayEvent::Disconnected { peer: *peer, address: socket, reason: reason.text().into_owned() }
            }
        }
    }
}

impl ReceivedMessage {
    /// What subscribers get of a received message.
    pub fn new(from_peer: NodeId, message: overlay_node::Received, first_seen: bool) -> Self {
        let message = match message {
            overlay_node::Received::Other(m) => m,
            overlay_node::Received::Transaction(t) => t.message().clone(),
            scp => Arc::new(scp.to_message()),
        };
        ReceivedMessage { from_peer, message, first_seen }
    }
}

/// The socket address of a connection the driver has no socket for (a dial that never
/// connected): the dialed IP, or 0.0.0.0 for a host name, with the port.
pub fn fallback_socket(address: &PeerAddress) -> SocketAddr {
    match address.host {
        overlay_proto::Host::Ip(ip) => SocketAddr::new(ip, address.port),
        overlay_proto::Host::Name(_) => SocketAddr::from(([0, 0, 0, 0], address.port)),
    }
}
