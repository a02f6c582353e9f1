//! `connect` calls waiting for their connection: a driver keeps one [`ConnectWaiters`] and
//! feeds it the node's events; it says which caller to answer, and with what. A connection
//! is accepted once authenticated *and* granted flow control: the remote sends its first
//! SEND_MORE_EXTENDED only once it admitted us (§3.6 steps 6–7); a remote without a slot
//! sends ERROR instead.

use crate::error::ConnectError;
use overlay_node::{ConnId, NodeEvent};
use overlay_proto::NodeId;
use overlay_proto::xdr::MessageType;
use std::collections::BTreeMap;

/// Why a dial failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The TCP connection was refused.
    Refused,
    /// The TCP connect took longer than the connect timeout.
    TimedOut,
    /// Another socket error, or an address that is not an IP address.
    Other(String),
}

impl core::fmt::Display for DialError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DialError::Refused => f.write_str("connection refused"),
            DialError::TimedOut => f.write_str("timed out"),
            DialError::Other(s) => f.write_str(s),
        }
    }
}

impl From<&DialError> for ConnectError {
    fn from(e: &DialError) -> Self {
        match e {
            DialError::Refused => ConnectError::Refused,
            DialError::TimedOut => ConnectError::TimedOut,
            DialError::Other(s) => ConnectError::Dropped(s.clone()),
        }
    }
}

/// The callers waiting, by connection, each with the peer once authenticated. `R` is the
/// driver's reply handle. Bound: one entry per `connect` call in progress, each removed when
/// its connection is accepted, fails or ends (the node bounds pending connections).
#[derive(Debug)]
pub struct ConnectWaiters<R> {
    waiting: BTreeMap<ConnId, (R, Option<NodeId>)>,
}

impl<R> Default for ConnectWaiters<R> {
    fn default() -> Self {
        ConnectWaiters { waiting: BTreeMap::new() }
    }
}

impl<R> ConnectWaiters<R> {
    /// A caller waits for `conn` (the node's answer to its `connect`).
    pub fn insert(&mut self, conn: ConnId, reply: R) {
        self.waiting.insert(conn, (reply, None));
    }

    /// The dial of `conn` failed: the caller to answer, with the error.
    pub fn dial_failed(&mut self, conn: ConnId, error: &DialError) -> Option<(R, ConnectError)> {
        self.waiting.remove(&conn).map(|(r, _)| (r, error.into()))
    }

    /// Follow a node event: the caller to answer, if this event settles its connection.
    pub fn on_event(&mut self, event: &NodeEvent) -> Option<(R, Result<NodeId, ConnectError>)> {
        match event {
            NodeEvent::Connected { conn, remote, .. } => {
                if let Some((_, id)) = self.waiting.get_mut(conn) {
                    *id = Some(remote.node_id);
                }
                None
            }
            NodeEvent::Control { conn, peer, message_type: MessageType::SendMoreExtended, .. }
                if self.waiting.get(conn).is_some_and(|(_, id)| id.is_some()) =>
            {
                self.waiting.remove(conn).map(|(r, _)| (r, Ok(*peer)))
            }
            NodeEvent::Disconnected { conn, reason, .. } => {
                self.waiting.remove(conn).map(|(r, _)| (r, Err(ConnectError::from_drop(reason))))
            }
            _ => None,
        }
    }

    /// Every caller still waiting (at shutdown).
    pub fn drain(&mut self) -> impl Iterator<Item = R> + use<R> {
        std::mem::take(&mut self.waiting).into_values().map(|(r, _)| r)
    }
}
