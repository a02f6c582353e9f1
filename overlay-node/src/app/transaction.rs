//! [`SharedTransaction`]: a received TRANSACTION, decoded once and shared by the node's
//! message event, the application's delivery and every subscriber.

use overlay_proto::xdr::{StellarMessage, TransactionEnvelope};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A TRANSACTION message behind an [`Arc`]: [`envelope`](Self::envelope) (or `*`) gives the
/// envelope, [`message`](Self::message) the whole message, so that handing it on (to the
/// application, to subscribers) copies a pointer, not the decoded transaction.
///
/// ```
/// use overlay_node::SharedTransaction;
/// use overlay_proto::fixtures::transaction_message;
/// use std::sync::Arc;
///
/// let tx = SharedTransaction::from_shared(Arc::new(transaction_message(7))).expect("a TRANSACTION");
/// assert_eq!(tx.envelope(), &*tx);
/// let for_subscribers = tx.message().clone();
/// assert!(std::sync::Arc::ptr_eq(&for_subscribers, tx.message()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SharedTransaction(Arc<StellarMessage>);

impl SharedTransaction {
    /// `message` if it is a TRANSACTION, without copying it; otherwise it comes back as the
    /// error.
    pub fn from_shared(message: Arc<StellarMessage>) -> Result<Self, Arc<StellarMessage>> {
        match &*message {
            StellarMessage::Transaction(_) => Ok(SharedTransaction(message)),
            _ => Err(message),
        }
    }

    /// A TRANSACTION message of `envelope`.
    pub fn from_envelope(envelope: TransactionEnvelope) -> Self {
        SharedTransaction(Arc::new(StellarMessage::Transaction(envelope)))
    }

    /// The envelope.
    pub fn envelope(&self) -> &TransactionEnvelope {
        match &*self.0 {
            StellarMessage::Transaction(envelope) => envelope,
            // The constructors take nothing else.
            _ => unreachable!("a SharedTransaction holds a TRANSACTION"),
        }
    }

    /// The TRANSACTION message, shared.
    pub fn message(&self) -> &Arc<StellarMessage> {
        &self.0
    }
}

impl Deref for SharedTransaction {
    type Target = TransactionEnvelope;

    fn deref(&self) -> &TransactionEnvelope {
        self.envelope()
    }
}

impl fmt::Debug for SharedTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.envelope().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::fixtures::transaction_message;

    #[test]
    fn only_a_transaction_is_taken_and_others_come_back_whole() {
        let shared = Arc::new(StellarMessage::GetScpState(9));
        let back = SharedTransaction::from_shared(shared.clone()).expect_err("not a TRANSACTION");
        assert!(Arc::ptr_eq(&back, &shared));
        let shared = Arc::new(transaction_message(3));
        let tx = SharedTransaction::from_shared(shared.clone()).expect("a TRANSACTION");
        assert!(Arc::ptr_eq(tx.message(), &shared), "not copied");
        let msg = transaction_message(3);
        let tx = SharedTransaction::from_shared(Arc::new(msg.clone())).expect("a TRANSACTION");
        assert_eq!(**tx.message(), msg);
        let StellarMessage::Transaction(env) = msg else { unreachable!() };
        assert_eq!(SharedTransaction::from_envelope(env.clone()), tx);
        assert_eq!(format!("{tx:?}"), format!("{env:?}"));
    }
}
