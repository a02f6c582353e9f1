//! The application behind a node, reached through data: [`Delivery`] out, [`AppInput`] in.
//!
//! The node never calls the application. It emits deliveries
//! ([`Output::Deliver`](crate::Output::Deliver)): transactions and SCP envelopes seen for
//! the first time, tx sets and quorum sets it fetched. The application answers, at any
//! later time, with verdicts keyed by hash, and tells the node when a ledger closes and
//! which items it holds. A validator verifies signatures on its own threads; the node's
//! loop never waits for it.
//!
//! [`Application`] is the in-process form of that exchange: a sans-IO machine that takes
//! deliveries and yields inputs. Drivers run it beside the node (the tokio driver on its own
//! task, the simulator inline); [`Relay`](crate::relay::Relay) and [`MemoryApp`] implement it.
//!
//! # Bounds
//!
//! Deliveries waiting for a verdict are bounded by
//! [`ItemLimits`](crate::config::ItemLimits): when the transaction bound is reached a new
//! transaction is not delivered (its Floodgate record is dropped, so a later copy may be);
//! when the envelope bound is reached the oldest waiting envelope is given up. Verdicts
//! that never come expire after `verdict_timeout`. Verdicts for unknown hashes are ignored.

mod delivery;
mod memory;
mod transaction;

pub use delivery::{AppInput, Delivery, ScpDelivery, ScpVerdict, TxDelivery, TxVerdict};
pub use memory::{MemoryApp, MemoryAppLimits};
pub use transaction::SharedTransaction;

use overlay_proto::Timestamp;

/// An application in the same process as the node, as a sans-IO machine.
///
/// A driver hands it every [`Output::Deliver`](crate::Output::Deliver) of the node, then
/// drains [`poll_input`](Self::poll_input) into [`Node::handle_app`](crate::Node::handle_app)
/// (at once, or later: the node does not wait).
///
/// ```
/// use overlay_node::app::{AppInput, Application, Delivery, TxVerdict};
/// use overlay_proto::Timestamp;
///
/// /// Accepts every transaction; leaves SCP to someone else.
/// #[derive(Default)]
/// struct TxSink(Vec<AppInput>);
///
/// impl Application for TxSink {
///     fn handle_delivery(&mut self, _now: Timestamp, d: Delivery) {
///         if let Delivery::Transaction(t) = d {
///             self.0.push(AppInput::TxVerdict { hash: t.hash, verdict: TxVerdict::Accepted });
///         }
///     }
///     fn poll_input(&mut self) -> Option<AppInput> {
///         self.0.pop()
///     }
/// }
/// ```
pub trait Application {
    /// Take a delivery. Answers are queued and taken with [`poll_input`](Self::poll_input).
    fn handle_delivery(&mut self, now: Timestamp, delivery: Delivery);
    /// The next input for the node, if any.
    fn poll_input(&mut self) -> Option<AppInput>;
}

impl<T: Application + ?Sized> Application for Box<T> {
    fn handle_delivery(&mut self, now: Timestamp, delivery: Delivery) {
        (**self).handle_delivery(now, delivery)
    }
    fn poll_input(&mut self) -> Option<AppInput> {
        (**self).poll_input()
    }
}
