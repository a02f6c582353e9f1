//! Outbound messages as flow control sees them: [`MessageMeta`] (what the queues need to know
//! about a flood message), [`OutboundMessage`] (metadata plus the caller's opaque payload),
//! [`Sendable`] (a message released for writing) and [`WriteTicket`] (its receipt).

use crate::error::FlowError;
use overlay_proto::xdr::{MessageType, ScpEnvelope, ScpStatement, StellarMessage};
use overlay_proto::{NodeId, Priority, Timestamp};
use std::sync::Arc;

/// The kind-specific part of [`MessageMeta`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    /// The envelope, shared with its sender, so that one metadata value can be cloned to
    /// every peer cheaply.
    Scp(Arc<ScpEnvelope>),
    Transaction,
    Demand {
        hashes: u64,
    },
    Advert {
        hashes: u64,
    },
}

/// What flow control needs to know about an outbound flood message.
///
/// Build it once per message and clone it for each peer: cloning is cheap (the SCP envelope
/// is behind an [`Arc`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    size_bytes: u64,
    detail: Detail,
}

fn size_u64(size_bytes: usize) -> u64 {
    u64::try_from(size_bytes).unwrap_or(u64::MAX)
}

impl MessageMeta {
    /// Metadata of `msg`, whose XDR size (the StellarMessage including its 4-byte type, the
    /// unit of byte flow control) is `size_bytes`. Fails for message types that are not flood
    /// messages.
    pub fn new(msg: &StellarMessage, size_bytes: usize) -> Result<Self, FlowError> {
        match msg {
            StellarMessage::ScpMessage(env) => Ok(MessageMeta::scp(Arc::new(env.clone()), size_bytes)),
            StellarMessage::Transaction(_) => Ok(MessageMeta::transaction(size_bytes)),
            StellarMessage::FloodDemand(d) => Ok(MessageMeta::demand(d.tx_hashes.0.len(), size_bytes)),
            StellarMessage::FloodAdvert(a) => Ok(MessageMeta::advert(a.tx_hashes.0.len(), size_bytes)),
            other => Err(FlowError::NotFloodMessage(other.discriminant())),
        }
    }

    /// An SCP_MESSAGE of `envelope` (shared: the queues read its statement).
    pub fn scp(envelope: Arc<ScpEnvelope>, size_bytes: usize) -> Self {
        MessageMeta { size_bytes: size_u64(size_bytes), detail: Detail::Scp(envelope) }
    }

    /// A TRANSACTION.
    pub fn transaction(size_bytes: usize) -> Self {
        MessageMeta { size_bytes: size_u64(size_bytes), detail: Detail::Transaction }
    }

    /// A FLOOD_DEMAND of `hash_count` transaction hashes.
    pub fn demand(hash_count: usize, size_bytes: usize) -> Self {
        MessageMeta { size_bytes: size_u64(size_bytes), detail: Detail::Demand { hashes: size_u64(hash_count) } }
    }

    /// A FLOOD_ADVERT of `hash_count` transaction hashes.
    pub fn advert(hash_count: usize, size_bytes: usize) -> Self {
        MessageMeta { size_bytes: size_u64(size_bytes), detail: Detail::Advert { hashes: size_u64(hash_count) } }
    }

    /// The outbound queue of the message (§6.4).
    pub fn priority(&self) -> Priority {
        match self.detail {
            Detail::Scp(_) => Priority::Scp,
            Detail::Transaction => Priority::Transaction,
            Detail::Demand { .. } => Priority::Demand,
            Detail::Advert { .. } => Priority::Advert,
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self.detail {
            Detail::Scp(_) => MessageType::ScpMessage,
            Detail::Transaction => MessageType::Transaction,
            Detail::Demand { .. } => MessageType::FloodDemand,
            Detail::Advert { .. } => MessageType::FloodAdvert,
        }
    }

    /// XDR size of the StellarMessage: the bytes of outbound credit it consumes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Number of transaction hashes of an advert or demand; 0 for other kinds.
    pub fn hash_count(&self) -> u64 {
        match self.detail {
            Detail::Demand { hashes } | Detail::Advert { hashes } => hashes,
            Detail::Scp(_) | Detail::Transaction => 0,
        }
    }

    /// The SCP statement of an SCP_MESSAGE.
    pub fn scp_statement(&self) -> Option<&ScpStatement> {
        match &self.detail {
            Detail::Scp(env) => Some(&env.statement),
            _ => None,
        }
    }

    /// The slot of an SCP_MESSAGE.
    pub fn scp_slot_index(&self) -> Option<u64> {
        self.scp_statement().map(|st| st.slot_index)
    }

    /// The node that issued the statement of an SCP_MESSAGE.
    pub fn scp_node_id(&self) -> Option<NodeId> {
        self.scp_statement().map(|st| NodeId::from_xdr(&st.node_id))
    }
}

/// A flood message to enqueue for one peer: its metadata and the caller's payload (for
/// example an `Arc` of the encoded message, shared by every peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage<P> {
    /// What flow control needs to know about the message.
    pub meta: MessageMeta,
    /// Opaque to flow control; handed back by [`poll_send`](crate::FlowControl::poll_send).
    pub payload: P,
}

impl<P> OutboundMessage<P> {
    /// `msg` of XDR size `size_bytes` with `payload`; fails for non-flood message types.
    ///
    /// ```
    /// use overlay_flow::OutboundMessage;
    /// use overlay_proto::xdr::{StellarMessage, TransactionEnvelope};
    /// use overlay_proto::Priority;
    ///
    /// let tx = StellarMessage::Transaction(TransactionEnvelope::default());
    /// let size = overlay_proto::wire::encode_message(&tx).unwrap().len();
    /// let out = OutboundMessage::new(&tx, size, "payload").unwrap();
    /// assert_eq!(out.meta.priority(), Priority::Transaction);
    /// assert!(OutboundMessage::new(&StellarMessage::GetScpState(1), 8, ()).is_err());
    /// ```
    pub fn new(msg: &StellarMessage, size_bytes: usize, payload: P) -> Result<Self, FlowError> {
        Ok(OutboundMessage { meta: MessageMeta::new(msg, size_bytes)?, payload })
    }

    /// From metadata built earlier (for example once for all peers).
    pub fn from_meta(meta: MessageMeta, payload: P) -> Self {
        OutboundMessage { meta, payload }
    }
}

/// Identifies a message handed to the writer, so that the driver can report the completion
/// of its write with [`handle_write_complete`](crate::FlowControl::handle_write_complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WriteTicket {
    pub(crate) priority: Priority,
    pub(crate) id: u64,
}

impl WriteTicket {
    /// The queue of the message.
    pub fn priority(&self) -> Priority {
        self.priority
    }
}

/// A message released by [`poll_send`](crate::FlowControl::poll_send): outbound credit has
/// been charged for it and the driver must write it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sendable<P> {
    /// The payload given to [`enqueue`](crate::FlowControl::enqueue).
    pub payload: P,
    /// The queue it came from.
    pub priority: Priority,
    /// Its XDR size, charged to the outbound byte credit.
    pub size_bytes: u64,
    /// When it was enqueued (for the straggler timer of §4.3 and the queue-delay metrics).
    pub enqueued_at: Timestamp,
    /// To report the completion of its write.
    pub ticket: WriteTicket,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scp_order::tests::{ballot, externalize, statement};
    use overlay_proto::xdr::{FloodAdvert, FloodDemand, Hash, ScpEnvelope, TxAdvertVector, TxDemandVector};

    #[test]
    fn metadata_of_every_flood_type() {
        let st = statement(7, 42, externalize(ballot(1, b"v")));
        let scp = StellarMessage::ScpMessage(ScpEnvelope { statement: st.clone(), signature: Default::default() });
        let m = MessageMeta::new(&scp, 100).unwrap();
        assert_eq!(m.priority(), Priority::Scp);
        assert_eq!(m.message_type(), MessageType::ScpMessage);
        assert_eq!(m.scp_slot_index(), Some(42));
        assert_eq!(m.scp_node_id(), Some(NodeId([7; 32])));
        assert_eq!(m.scp_statement(), Some(&st));
        assert_eq!(m.size_bytes(), 100);

        let hashes: Vec<Hash> = vec![Hash([1; 32]); 3];
        let advert =
            StellarMessage::FloodAdvert(FloodAdvert { tx_hashes: TxAdvertVector(hashes.clone().try_into().unwrap()) });
        let demand = StellarMessage::FloodDemand(FloodDemand { tx_hashes: TxDemandVector(hashes.try_into().unwrap()) });
        let a = MessageMeta::new(&advert, 104).unwrap();
        let d = MessageMeta::new(&demand, 104).unwrap();
        assert_eq!((a.priority(), a.hash_count()), (Priority::Advert, 3));
        assert_eq!((d.priority(), d.hash_count()), (Priority::Demand, 3));
        assert_eq!(a.scp_slot_index(), None);

        let tx = StellarMessage::Transaction(Default::default());
        let t = MessageMeta::new(&tx, 220).unwrap();
        assert_eq!(
            (t.priority(), t.hash_count(), t.message_type()),
            (Priority::Transaction, 0, MessageType::Transaction)
        );
    }

    #[test]
    fn non_flood_messages_are_refused() {
        // §6: all other messages bypass flow control on the sending side.
        for msg in [
            StellarMessage::GetScpState(5),
            StellarMessage::SendMoreExtended(Default::default()),
            StellarMessage::Peers(Default::default()),
        ] {
            let t = msg.discriminant();
            assert_eq!(MessageMeta::new(&msg, 8), Err(FlowError::NotFloodMessage(t)));
        }
    }
}
