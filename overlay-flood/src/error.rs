//! [`FloodError`]: the one error type of this crate.
//!
//! Nothing here is a peer-misbehaviour verdict: every input from the network is either used or
//! ignored by these structures (stellar-core never drops a peer for an advert, a demand, a
//! DONT_HAVE or an unrequested item). The errors are about the caller's side of the contract.

use thiserror::Error;

/// What can go wrong when calling into this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FloodError {
    /// More distinct peers than [`PEERS_MAX`](crate::config::PEERS_MAX) are registered at
    /// once. The node must keep its authenticated peers under that limit and call
    /// `remove_peer` when a peer goes away.
    #[error("all {0} peer slots are in use")]
    PeerSlotsExhausted(usize),
    /// A [`PeerSlot`](crate::floodgate::PeerSlot) of a peer that was removed since.
    #[error("the peer slot handle is of a removed peer")]
    StalePeerSlot,
    /// Encoding a value to XDR failed (it broke an XDR length or depth limit).
    #[error("XDR encoding failed")]
    XdrEncode,
    /// The bytes given as `XDR(StellarMessage)` are not a TRANSACTION message.
    #[error("not the XDR of a TRANSACTION message")]
    NotATransaction,
    /// A [`FloodConfig`](crate::FloodConfig) field has a value the structures cannot work
    /// with; the payload names the field.
    #[error("invalid flood configuration: {0}")]
    InvalidConfig(&'static str),
}
