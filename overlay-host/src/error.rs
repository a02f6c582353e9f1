//! Errors of the overlay manager: [`OverlayError`] for every operation, [`ConnectError`] for
//! an overlay manager's `connect`.

use overlay_node::discovery::StoreError;
use overlay_node::survey::SurveyError;
use overlay_node::{DropReason, NodeError};
use overlay_proto::xdr::ErrorCode;

/// Why an overlay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The listener could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
    /// The peer database could not be opened or read.
    #[error("peer database: {0}")]
    Store(#[from] StoreError),
    /// The node refused the command.
    #[error("{0}")]
    Node(#[from] NodeError),
    /// The node refused a survey command (one survey at a time, not in that phase, self,
    /// already queued, backlog full).
    #[error("survey: {0}")]
    Survey(#[from] SurveyError),
    /// `start` was not called, or the manager was shut down.
    #[error("the overlay is not running")]
    NotRunning,
    /// `start` was called twice.
    #[error("the overlay is already running")]
    AlreadyRunning,
    /// A configuration value is not valid.
    #[error("invalid configuration: {key}: {reason}")]
    Config {
        /// The setting (with its stellar-core key).
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why an overlay manager's `connect` did not end with an authenticated peer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host name did not resolve to an IPv4 address.
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    /// The TCP connection was refused.
    #[error("connection refused")]
    Refused,
    /// The TCP connect or the handshake took too long.
    #[error("timed out")]
    TimedOut,
    /// The peer refused us with an ERROR (for example ERR_LOAD when it has no slot).
    #[error("rejected by the peer: {message} ({code:?})")]
    Rejected {
        /// The ERROR's code.
        code: ErrorCode,
        /// The ERROR's text.
        message: String,
    },
    /// The handshake failed on our side (wrong network, bad certificate, banned, already
    /// connected, a connection to ourselves...), in stellar-core's words.
    #[error("handshake failed: {0}")]
    HandshakeFailed(String),
    /// The connection ended for another reason (a socket error, or no slot on our side).
    #[error("connection dropped: {0}")]
    Dropped(String),
    /// The overlay refused the command (not running, no pending slot).
    #[error(transparent)]
    Overlay(#[from] OverlayError),
}

impl ConnectError {
    /// The error for a connection that ended before it was admitted.
    pub fn from_drop(reason: &DropReason) -> Self {
        match reason {
            DropReason::RemoteError(e) => {
                ConnectError::Rejected { code: e.code, message: e.msg.to_utf8_string_lossy() }
            }
            DropReason::Handshake(h) => ConnectError::HandshakeFailed(h.reason().into_owned()),
            DropReason::IdleTimeout => ConnectError::TimedOut,
            other => ConnectError::Dropped(other.text().into_owned()),
        }
    }
}

impl From<NodeError> for ConnectError {
    fn from(e: NodeError) -> Self {
        ConnectError::Overlay(OverlayError::Node(e))
    }
}
