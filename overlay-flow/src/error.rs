//! [`FlowError`]: every way flow control can refuse an input.
//!
//! Three families share the enum:
//! - peer misbehaviour: the peer broke a rule of PROTOCOL.md §6; the caller drops the peer with
//!   [`FlowError::reason`] as the local drop reason. stellar-core sends no ERROR message for any
//!   of these (§4.2, "Dropped without an ERROR");
//! - driver contract misuse: the caller broke the calling contract of
//!   [`FlowControl`](crate::FlowControl) (a local bug, not the peer's fault);
//! - configuration: [`FlowConfig::validate`](crate::FlowConfig::validate) refused a
//!   configuration at load time.

use overlay_proto::xdr::MessageType;

/// An input refused by flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    // ----- peer misbehaviour (§6.1, §6.2, §4.3 rule 2) -----
    /// A flood message arrived while the peer had no credit left in messages or bytes (§6.2).
    #[error("unexpected flood message, peer at capacity")]
    FloodOverCapacity,
    /// The peer sent the legacy SEND_MORE message (§6.1).
    #[error("unexpected message type SEND_MORE")]
    LegacySendMore,
    /// SEND_MORE_EXTENDED with `numBytes == 0` (§6.1).
    #[error("invalid message SEND_MORE_EXTENDED")]
    InvalidSendMoreExtended,
    /// SEND_MORE_EXTENDED that would overflow our 64-bit outbound capacity (§6.1).
    #[error("Peer capacity overflow")]
    CapacityOverflow,
    /// We have been waiting for outbound credit for `PEER_SEND_MODE_IDLE_TIMEOUT` (§4.3 rule 2).
    #[error("idle timeout (no new flood requests)")]
    NoOutboundCapacityTimeout,

    // ----- driver contract misuse -----
    /// A message was fed to [`handle_received`](crate::FlowControl::handle_received) although
    /// the total reading capacity (§6.3) could not hold it: the driver kept reading while
    /// [`is_read_throttled`](crate::FlowControl::is_read_throttled) said to pause.
    #[error("flow control misuse: message read while reading was throttled")]
    ReadWhileThrottled,
    /// A flood message of zero bytes was fed in; no real StellarMessage is smaller than 4 bytes.
    #[error("flow control misuse: flood message of zero bytes")]
    EmptyFloodMessage,
    /// An outbound message that is not a flood message: only SCP_MESSAGE, TRANSACTION,
    /// FLOOD_DEMAND and FLOOD_ADVERT are queued under flow control (§6).
    #[error("flow control misuse: {0:?} is not a flood message")]
    NotFloodMessage(MessageType),

    // ----- configuration (§6.2 "Config constraints checked at load") -----
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE > PEER_FLOOD_READING_CAPACITY`.
    #[error(
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE ({batch_msgs}) must not exceed \
         PEER_FLOOD_READING_CAPACITY ({capacity_msgs})"
    )]
    BatchMsgsAboveFloodCapacity {
        /// FLOW_CONTROL_SEND_MORE_BATCH_SIZE.
        batch_msgs: u32,
        /// PEER_FLOOD_READING_CAPACITY.
        capacity_msgs: u32,
    },
    /// `PEER_READING_CAPACITY <= PEER_FLOOD_READING_CAPACITY`.
    #[error(
        "PEER_READING_CAPACITY ({reading_msgs}) must exceed PEER_FLOOD_READING_CAPACITY \
         ({flood_msgs})"
    )]
    ReadingCapacityNotAboveFlood {
        /// PEER_READING_CAPACITY.
        reading_msgs: u32,
        /// PEER_FLOOD_READING_CAPACITY.
        flood_msgs: u32,
    },
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES > PEER_FLOOD_READING_CAPACITY_BYTES`.
    #[error(
        "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES ({batch_bytes}) must not exceed \
         PEER_FLOOD_READING_CAPACITY_BYTES ({capacity_bytes})"
    )]
    BatchBytesAboveFloodCapacity {
        /// FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES.
        batch_bytes: u32,
        /// PEER_FLOOD_READING_CAPACITY_BYTES.
        capacity_bytes: u32,
    },
    /// Explicit byte settings with
    /// `PEER_FLOOD_READING_CAPACITY_BYTES - FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES < maxTxSize`:
    /// a transaction of the maximum size might never fit the credit left after a batch.
    #[error(
        "PEER_FLOOD_READING_CAPACITY_BYTES ({capacity_bytes}) minus \
         FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES ({batch_bytes}) is below the maximum \
         transaction size ({max_tx_size_bytes})"
    )]
    ByteCapacityBelowMaxTxSize {
        /// PEER_FLOOD_READING_CAPACITY_BYTES.
        capacity_bytes: u32,
        /// FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES.
        batch_bytes: u32,
        /// The ledger's maximum transaction size.
        max_tx_size_bytes: u32,
    },
}

impl FlowError {
    /// The drop reason: for peer misbehaviour, the exact text stellar-core logs when it drops
    /// the peer; for the other families, a fixed description of the error.
    pub fn reason(&self) -> &'static str {
        match self {
            FlowError::FloodOverCapacity => "unexpected flood message, peer at capacity",
            FlowError::LegacySendMore => "unexpected message type SEND_MORE",
            FlowError::InvalidSendMoreExtended => "invalid message SEND_MORE_EXTENDED",
            FlowError::CapacityOverflow => "Peer capacity overflow",
            FlowError::NoOutboundCapacityTimeout => "idle timeout (no new flood requests)",
            FlowError::ReadWhileThrottled => "flow control misuse: read while throttled",
            FlowError::EmptyFloodMessage => "flow control misuse: empty flood message",
            FlowError::NotFloodMessage(_) => "flow control misuse: not a flood message",
            FlowError::BatchMsgsAboveFloodCapacity { .. } => {
                "FLOW_CONTROL_SEND_MORE_BATCH_SIZE above PEER_FLOOD_READING_CAPACITY"
            }
            FlowError::ReadingCapacityNotAboveFlood { .. } => {
                "PEER_READING_CAPACITY not above PEER_FLOOD_READING_CAPACITY"
            }
            FlowError::BatchBytesAboveFloodCapacity { .. } => {
                "FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES above PEER_FLOOD_READING_CAPACITY_BYTES"
            }
            FlowError::ByteCapacityBelowMaxTxSize { .. } => {
                "flood byte capacity minus byte batch below the maximum transaction size"
            }
        }
    }

    /// Whether the peer broke a protocol rule (drop it, no ERROR message is sent).
    pub fn is_peer_misbehaviour(&self) -> bool {
        matches!(
            self,
            FlowError::FloodOverCapacity
                | FlowError::LegacySendMore
                | FlowError::InvalidSendMoreExtended
                | FlowError::CapacityOverflow
                | FlowError::NoOutboundCapacityTimeout
        )
    }

    /// Whether the caller broke the calling contract of [`FlowControl`](crate::FlowControl).
    pub fn is_contract_misuse(&self) -> bool {
        matches!(self, FlowError::ReadWhileThrottled | FlowError::EmptyFloodMessage | FlowError::NotFloodMessage(_))
    }

    /// Whether [`FlowConfig::validate`](crate::FlowConfig::validate) refused the configuration.
    pub fn is_config(&self) -> bool {
        !self.is_peer_misbehaviour() && !self.is_contract_misuse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_misbehaviour_reasons_are_stellar_core_drop_texts() {
        // PROTOCOL.md §4.2, "Dropped without an ERROR".
        let table = [
            (FlowError::FloodOverCapacity, "unexpected flood message, peer at capacity"),
            (FlowError::LegacySendMore, "unexpected message type SEND_MORE"),
            (FlowError::InvalidSendMoreExtended, "invalid message SEND_MORE_EXTENDED"),
            (FlowError::CapacityOverflow, "Peer capacity overflow"),
            (FlowError::NoOutboundCapacityTimeout, "idle timeout (no new flood requests)"),
        ];
        for (err, text) in table {
            assert_eq!(err.reason(), text);
            assert_eq!(err.to_string(), text);
            assert!(err.is_peer_misbehaviour());
            assert!(!err.is_contract_misuse() && !err.is_config());
        }
    }

    #[test]
    fn families_are_disjoint() {
        let misuse = FlowError::NotFloodMessage(MessageType::Hello);
        assert!(misuse.is_contract_misuse() && !misuse.is_peer_misbehaviour());
        let config = FlowError::BatchMsgsAboveFloodCapacity { batch_msgs: 2, capacity_msgs: 1 };
        assert!(config.is_config() && !config.is_contract_misuse());
        assert!(config.to_string().contains("(2)"));
    }
}
