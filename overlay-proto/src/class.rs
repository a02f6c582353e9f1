//! The class of every message type (PROTOCOL.md §5, §6, §7): whether it is a flood message
//! under flow control, its outbound priority, when it may arrive, and which processing queue
//! stellar-core gives it.

use stellar_xdr::{MessageType, StellarMessage};

/// Outbound queue priority of a flood message (§6.4); lower is served first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// SCP_MESSAGE.
    Scp = 0,
    /// TRANSACTION.
    Transaction = 1,
    /// FLOOD_DEMAND.
    Demand = 2,
    /// FLOOD_ADVERT.
    Advert = 3,
}

impl Priority {
    /// All priorities, highest first.
    pub const ALL: [Priority; 4] = [Priority::Scp, Priority::Transaction, Priority::Demand, Priority::Advert];

    /// Index of this priority's queue, 0 to 3.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// stellar-core's main-thread processing queue for a message after authentication (§7 step 6)
/// \[LOCAL\]. Messages in droppable queues may be discarded under scheduler overload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcessingQueue {
    /// PEERS, ERROR_MSG, SEND_MORE, SEND_MORE_EXTENDED.
    Control,
    /// TRANSACTION, FLOOD_ADVERT, FLOOD_DEMAND (droppable).
    Transaction,
    /// GET_TX_SET, GET_SCP_QUORUMSET, GET_SCP_STATE (droppable).
    ScpQuery,
    /// DONT_HAVE, TX_SET, GENERALIZED_TX_SET, SCP_QUORUMSET, SCP_MESSAGE.
    Scp,
    /// Everything else (handshake, surveys).
    Misc,
}

impl ProcessingQueue {
    /// Whether messages in this queue may be dropped when it is overloaded.
    pub const fn droppable(self) -> bool {
        matches!(self, ProcessingQueue::Transaction | ProcessingQueue::ScpQuery)
    }
}

/// Classification of a [`MessageType`].
///
/// ```
/// use overlay_proto::{MessageClass, Priority};
/// use overlay_proto::xdr::MessageType;
///
/// assert!(MessageType::Transaction.is_flood());
/// assert_eq!(MessageType::FloodAdvert.priority(), Some(Priority::Advert));
/// assert_eq!(MessageType::GetScpState.priority(), None);
/// assert_eq!(MessageType::SendMoreExtended.wire_name(), "SEND_MORE_EXTENDED");
/// ```
pub trait MessageClass {
    /// A flood message: sent under flow control and counted against flood capacity (§6).
    fn is_flood(&self) -> bool;
    /// The outbound priority, for flood messages only.
    fn priority(&self) -> Option<Priority>;
    /// Sent with sequence 0 and a zero MAC, never authenticated (§2.1): HELLO and ERROR_MSG.
    fn is_unauthenticated(&self) -> bool;
    /// May arrive before the handshake completes (§3.7): HELLO, AUTH, ERROR_MSG.
    fn allowed_before_auth(&self) -> bool;
    /// A time-sliced survey message, broadcast through the Floodgate but not flow-controlled.
    fn is_survey(&self) -> bool;
    /// A reply to an anycast fetch: TX_SET, GENERALIZED_TX_SET, SCP_QUORUMSET.
    fn is_fetch_reply(&self) -> bool;
    /// The stellar-core processing queue after authentication.
    fn processing_queue(&self) -> ProcessingQueue;
    /// The XDR enum name, for example `"TRANSACTION"`.
    fn wire_name(&self) -> &'static str;
}

impl MessageClass for MessageType {
    fn is_flood(&self) -> bool {
        self.priority().is_some()
    }

    fn priority(&self) -> Option<Priority> {
        match self {
            MessageType::ScpMessage => Some(Priority::Scp),
            MessageType::Transaction => Some(Priority::Transaction),
            MessageType::FloodDemand => Some(Priority::Demand),
            MessageType::FloodAdvert => Some(Priority::Advert),
            _ => None,
        }
    }

    fn is_unauthenticated(&self) -> bool {
        matches!(self, MessageType::Hello | MessageType::ErrorMsg)
    }

    fn allowed_before_auth(&self) -> bool {
        matches!(self, MessageType::Hello | MessageType::Auth | MessageType::ErrorMsg)
    }

    fn is_survey(&self) -> bool {
        matches!(
            self,
            MessageType::TimeSlicedSurveyRequest
                | MessageType::TimeSlicedSurveyResponse
                | MessageType::TimeSlicedSurveyStartCollecting
                | MessageType::TimeSlicedSurveyStopCollecting
        )
    }

    fn is_fetch_reply(&self) -> bool {
        matches!(self, MessageType::TxSet | MessageType::GeneralizedTxSet | MessageType::ScpQuorumset)
    }

    fn processing_queue(&self) -> ProcessingQueue {
        use MessageType as T;
        match self {
            T::Peers | T::ErrorMsg | T::SendMore | T::SendMoreExtended => ProcessingQueue::Control,
            T::Transaction | T::FloodAdvert | T::FloodDemand => ProcessingQueue::Transaction,
            T::GetTxSet | T::GetScpQuorumset | T::GetScpState => ProcessingQueue::ScpQuery,
            T::DontHave | T::TxSet | T::GeneralizedTxSet | T::ScpQuorumset | T::ScpMessage => ProcessingQueue::Scp,
            _ => ProcessingQueue::Misc,
        }
    }

    fn wire_name(&self) -> &'static str {
        use MessageType as T;
        match self {
            T::ErrorMsg => "ERROR_MSG",
            T::Auth => "AUTH",
            T::DontHave => "DONT_HAVE",
            T::Peers => "PEERS",
            T::GetTxSet => "GET_TX_SET",
            T::TxSet => "TX_SET",
            T::GeneralizedTxSet => "GENERALIZED_TX_SET",
            T::Transaction => "TRANSACTION",
            T::GetScpQuorumset => "GET_SCP_QUORUMSET",
            T::ScpQuorumset => "SCP_QUORUMSET",
            T::ScpMessage => "SCP_MESSAGE",
            T::GetScpState => "GET_SCP_STATE",
            T::Hello => "HELLO",
            T::SendMore => "SEND_MORE",
            T::SendMoreExtended => "SEND_MORE_EXTENDED",
            T::FloodAdvert => "FLOOD_ADVERT",
            T::FloodDemand => "FLOOD_DEMAND",
            T::TimeSlicedSurveyRequest => "TIME_SLICED_SURVEY_REQUEST",
            T::TimeSlicedSurveyResponse => "TIME_SLICED_SURVEY_RESPONSE",
            T::TimeSlicedSurveyStartCollecting => "TIME_SLICED_SURVEY_START_COLLECTING",
            T::TimeSlicedSurveyStopCollecting => "TIME_SLICED_SURVEY_STOP_COLLECTING",
        }
    }
}

impl MessageClass for StellarMessage {
    fn is_flood(&self) -> bool {
        self.discriminant().is_flood()
    }
    fn priority(&self) -> Option<Priority> {
        self.discriminant().priority()
    }
    fn is_unauthenticated(&self) -> bool {
        self.discriminant().is_unauthenticated()
    }
    fn allowed_before_auth(&self) -> bool {
        self.discriminant().allowed_before_auth()
    }
    fn is_survey(&self) -> bool {
        self.discriminant().is_survey()
    }
    fn is_fetch_reply(&self) -> bool {
        self.discriminant().is_fetch_reply()
    }
    fn processing_queue(&self) -> ProcessingQueue {
        self.discriminant().processing_queue()
    }
    fn wire_name(&self) -> &'static str {
        self.discriminant().wire_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_of_the_catalogue_is_classified_as_the_spec_says() {
        use MessageType as T;
        // (type, value, flood priority) from PROTOCOL.md §5.
        let table: &[(T, i32, Option<Priority>)] = &[
            (T::ErrorMsg, 0, None),
            (T::Auth, 2, None),
            (T::DontHave, 3, None),
            (T::Peers, 5, None),
            (T::GetTxSet, 6, None),
            (T::TxSet, 7, None),
            (T::Transaction, 8, Some(Priority::Transaction)),
            (T::GetScpQuorumset, 9, None),
            (T::ScpQuorumset, 10, None),
            (T::ScpMessage, 11, Some(Priority::Scp)),
            (T::GetScpState, 12, None),
            (T::Hello, 13, None),
            (T::SendMore, 16, None),
            (T::GeneralizedTxSet, 17, None),
            (T::FloodAdvert, 18, Some(Priority::Advert)),
            (T::FloodDemand, 19, Some(Priority::Demand)),
            (T::SendMoreExtended, 20, None),
            (T::TimeSlicedSurveyRequest, 21, None),
            (T::TimeSlicedSurveyResponse, 22, None),
            (T::TimeSlicedSurveyStartCollecting, 23, None),
            (T::TimeSlicedSurveyStopCollecting, 24, None),
        ];
        assert_eq!(table.len(), MessageType::VARIANTS.len(), "the catalogue covers every XDR type");
        for (t, value, prio) in table {
            assert_eq!(*t as i32, *value, "{}", t.wire_name());
            assert_eq!(t.priority(), *prio, "{}", t.wire_name());
            assert_eq!(t.is_flood(), prio.is_some());
        }
        // Removed types do not exist in the XDR.
        for removed in [4, 14, 15] {
            assert!(MessageType::try_from(removed).is_err());
        }
    }

    #[test]
    fn handshake_types() {
        assert!(MessageType::Hello.is_unauthenticated());
        assert!(MessageType::ErrorMsg.is_unauthenticated());
        assert!(!MessageType::Auth.is_unauthenticated());
        assert!(MessageType::Auth.allowed_before_auth());
        assert!(!MessageType::Peers.allowed_before_auth());
        assert!(MessageType::TimeSlicedSurveyResponse.is_survey());
        assert!(ProcessingQueue::Transaction.droppable());
        assert!(!ProcessingQueue::Scp.droppable());
    }
}
