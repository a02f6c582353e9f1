//! What the node asks of its driver ([`Output`]), what it reports ([`NodeEvent`]), and why
//! it refuses a command ([`NodeError`]).

use super::ConnId;
use crate::app::{Delivery, SharedTransaction};
use crate::discovery::StoreChange;
use crate::peer::DropReason;
use overlay_auth::{HelloFacts, Role};
use overlay_proto::xdr::{MessageType, ScpEnvelope, StellarMessage};
use overlay_proto::{MessageClass, NodeId, PeerAddress};
use std::sync::Arc;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a TCP connection to `address` for `conn`.
    Connect {
        /// The connection.
        conn: ConnId,
        /// Where to dial (an IP address).
        address: PeerAddress,
    },
    /// Write `bytes` on `conn`.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Whole frames: sealed, or, once the driver took the connection's
        /// [`PeerWriter`](crate::PeerWriter), with sequence and MAC left for it to fill in.
        bytes: Vec<u8>,
    },
    /// Close the socket of `conn`; nothing more will be written.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Hand this to the application (see [`app`](crate::app)).
    Deliver(Delivery),
    /// Persist this change of the peer database, off the node's loop, in order.
    Store(StoreChange),
    /// Something for the log, the metrics or subscribers.
    Event(NodeEvent),
}

/// The body of a received message. Transactions and SCP envelopes are shared with the
/// application's deliveries; other messages are carried whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A TRANSACTION.
    Transaction(SharedTransaction),
    /// An SCP_MESSAGE.
    ScpMessage(Arc<ScpEnvelope>),
    /// Any other message.
    Other(Arc<StellarMessage>),
}

impl Received {
    /// Its type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Received::Transaction(_) => MessageType::Transaction,
            Received::ScpMessage(_) => MessageType::ScpMessage,
            Received::Other(m) => m.discriminant(),
        }
    }

    /// The message (a copy for transactions and SCP envelopes).
    pub fn to_message(&self) -> StellarMessage {
        match self {
            Received::Transaction(t) => (**t.message()).clone(),
            Received::ScpMessage(e) => StellarMessage::ScpMessage((**e).clone()),
            Received::Other(m) => (**m).clone(),
        }
    }
}

/// What happened on the node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// A peer was admitted to an authenticated slot.
    Connected {
        /// Its connection.
        conn: ConnId,
        /// Its address: remote IP and listening port.
        address: PeerAddress,
        /// Our role.
        role: Role,
        /// Its HELLO (boxed: admissions are rare, and every output is as large as its
        /// largest variant).
        remote: Box<HelloFacts>,
    },
    /// An authenticated message arrived and was processed.
    Message {
        /// Its connection.
        conn: ConnId,
        /// The sender.
        peer: NodeId,
        /// The message.
        message: Received,
        /// Its XDR size.
        size: usize,
        /// Whether it was new: for flood messages, not yet in the Floodgate; for tx sets and
        /// quorum sets, fetched by us and not yet held; true for every other message.
        first_seen: bool,
    },
    /// A flow-control message arrived and was handled.
    Control {
        /// Its connection.
        conn: ConnId,
        /// The sender.
        peer: NodeId,
        /// Its type.
        message_type: MessageType,
        /// Its XDR size.
        size: usize,
    },
    /// A connection ended (pending or authenticated).
    Disconnected {
        /// Its connection.
        conn: ConnId,
        /// The peer, if its HELLO was accepted.
        peer: Option<NodeId>,
        /// Its address.
        address: PeerAddress,
        /// Our role.
        role: Role,
        /// Whether it had been admitted to an authenticated slot.
        was_authenticated: bool,
        /// Why (boxed, as `Connected::remote` is).
        reason: Box<DropReason>,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No authenticated peer has this NodeID.
    #[error("no authenticated peer {0}")]
    UnknownPeer(NodeId),
    /// The node is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// No pending slot is free for a new outbound connection.
    #[error("all outbound connections taken")]
    NoSlot,
    /// The address is not an IP literal (the driver resolves names).
    #[error("address {0} is not an IP address")]
    NotAnIp(PeerAddress),
    /// The message does not encode.
    #[error("message does not encode")]
    Encode,
    /// Handshake and flow-control messages belong to the connection (HELLO, AUTH,
    /// SEND_MORE, SEND_MORE_EXTENDED, ERROR): sending one would break it.
    #[error("{} messages are the connection's own and cannot be sent", .0.wire_name())]
    ConnectionMessage(MessageType),
    /// Only transactions, SCP envelopes and survey messages are flooded.
    #[error("{} messages are not flooded", .0.wire_name())]
    NotFlooded(MessageType),
    /// [`AppInput::HoldTxSet`](crate::app::AppInput::HoldTxSet) with something that is not
    /// a TX_SET or GENERALIZED_TX_SET.
    #[error("{} is not a tx set", .0.wire_name())]
    NotATxSet(MessageType),
}

impl NodeError {
    /// Refuse the types a caller may never send itself.
    pub(crate) fn check_sendable(t: MessageType) -> Result<(), NodeError> {
        match t {
            MessageType::Hello
            | MessageType::Auth
            | MessageType::SendMore
            | MessageType::SendMoreExtended
            | MessageType::ErrorMsg => Err(NodeError::ConnectionMessage(t)),
            _ => Ok(()),
        }
    }
}
