//! [`DropReason`]: why a connection ended, with stellar-core's wording and ERROR (§4.2).

use overlay_auth::error::remote_error_reason;
use overlay_auth::{HandshakeError, MacError};
use overlay_flow::FlowError;
use overlay_proto::xdr::{ErrorCode, SError};
use overlay_proto::{DecodeError, FrameError};
use std::borrow::Cow;

/// Why a peer connection was dropped.
///
/// [`text`](Self::text) is the local reason stellar-core logs, and
/// [`error_to_send`](Self::error_to_send) the ERROR it sends first, if any. Misbehaviour
/// maps one to one onto an [`ErrorCode`] where the spec sends one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// The handshake failed.
    Handshake(HandshakeError),
    /// A frame header announced an empty or oversized body ("error during read", silent).
    Frame(FrameError),
    /// A frame body did not decode (ERR_DATA "received corrupt XDR").
    CorruptXdr(DecodeError),
    /// MAC or sequence check failed (ERR_AUTH).
    Mac(MacError),
    /// Flow-control violation by the peer, or no outbound credit for 60 s (silent).
    Flow(FlowError),
    /// The remote sent an ERROR.
    RemoteError(SError),
    /// A HELLO after authentication (silent).
    UnexpectedHello,
    /// An AUTH after authentication (ERR_MISC).
    OutOfOrderAuth,
    /// The initiator sent PEERS to us, the acceptor (silent).
    ReceivedPeers,
    /// A second PEERS from the acceptor (silent).
    TooManyPeers,
    /// No read and no write for the idle timeout (silent).
    IdleTimeout,
    /// Our writes fell 120 s behind (silent).
    Straggling,
    /// Our unsent bytes to this peer passed the bound \[LOCAL\] (silent).
    SendBufferFull,
    /// The remote closed the connection.
    RemoteClosed,
    /// A socket error reported by the driver.
    Io(Cow<'static, str>),
    /// A local decision with the ERROR stellar-core sends for it: `peer rejected`,
    /// `preferred peer selected instead`, `random disconnect due to out of sync`,
    /// `shutdown`, `dropped by user`.
    Local {
        /// The code sent.
        code: ErrorCode,
        /// The text sent and logged.
        text: &'static str,
    },
    /// A local decision without an ERROR (for example "all pending inbound connections
    /// are taken").
    LocalSilent(&'static str),
}

impl DropReason {
    /// ERR_LOAD "peer rejected": no authenticated slot (§11.3).
    pub const PEER_REJECTED: DropReason = DropReason::Local { code: ErrorCode::Load, text: "peer rejected" };
    /// ERR_MISC "shutdown".
    pub const SHUTDOWN: DropReason = DropReason::Local { code: ErrorCode::Misc, text: "shutdown" };
    /// ERR_MISC "dropped by user".
    pub const DROPPED_BY_USER: DropReason = DropReason::Local { code: ErrorCode::Misc, text: "dropped by user" };
    /// ERR_LOAD "preferred peer selected instead".
    pub const PREFERRED_INSTEAD: DropReason =
        DropReason::Local { code: ErrorCode::Load, text: "preferred peer selected instead" };
    /// ERR_LOAD "random disconnect due to out of sync".
    pub const OUT_OF_SYNC: DropReason =
        DropReason::Local { code: ErrorCode::Load, text: "random disconnect due to out of sync" };

    /// The ERROR to send before closing, or `None` for a silent drop.
    pub fn error_to_send(&self) -> Option<(ErrorCode, Cow<'static, str>)> {
        match self {
            DropReason::Handshake(h) => h.error_to_send(),
            DropReason::CorruptXdr(_) => Some((ErrorCode::Data, "received corrupt XDR".into())),
            DropReason::Mac(m) => Some((ErrorCode::Auth, m.text().into())),
            DropReason::OutOfOrderAuth => Some((ErrorCode::Misc, "out-of-order AUTH message".into())),
            DropReason::Local { code, text } => Some((*code, (*text).into())),
            _ => None,
        }
    }

    /// The local reason, in stellar-core's words.
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            DropReason::Handshake(h) => h.reason(),
            DropReason::Frame(_) => "error during read".into(),
            DropReason::CorruptXdr(_) => "received corrupt XDR".into(),
            DropReason::Mac(m) => m.text().into(),
            DropReason::Flow(f) => f.reason().into(),
            DropReason::RemoteError(e) => remote_error_reason(e).into(),
            DropReason::UnexpectedHello => "received unexpected HELLO".into(),
            DropReason::OutOfOrderAuth => "out-of-order AUTH message".into(),
            DropReason::ReceivedPeers => "received PEERS".into(),
            DropReason::TooManyPeers => "too many msgs PEERS".into(),
            DropReason::IdleTimeout => "idle timeout".into(),
            DropReason::Straggling => "straggling (cannot keep up)".into(),
            DropReason::SendBufferFull => "send buffer full".into(),
            DropReason::RemoteClosed => "remote closed the connection".into(),
            DropReason::Io(s) => s.clone(),
            DropReason::Local { text, .. } => (*text).into(),
            DropReason::LocalSilent(t) => (*t).into(),
        }
    }

    /// A short name for metrics labels (`snake_case`, from a fixed set): the kind of reason
    /// without its details.
    pub fn label(&self) -> &'static str {
        match self {
            DropReason::Handshake(h) => handshake_label(h),
            DropReason::Frame(_) => "frame",
            DropReason::CorruptXdr(_) => "corrupt_xdr",
            DropReason::Mac(_) => "bad_mac",
            DropReason::Flow(FlowError::NoOutboundCapacityTimeout) => "no_outbound_capacity",
            DropReason::Flow(_) => "flow_control_violation",
            DropReason::RemoteError(_) => "remote_error",
            DropReason::UnexpectedHello => "unexpected_hello",
            DropReason::OutOfOrderAuth => "out_of_order_auth",
            DropReason::ReceivedPeers => "peers_from_initiator",
            DropReason::TooManyPeers => "too_many_peers",
            DropReason::IdleTimeout => "idle_timeout",
            DropReason::Straggling => "straggling",
            DropReason::SendBufferFull => "send_buffer_full",
            DropReason::RemoteClosed => "remote_closed",
            DropReason::Io(_) => "io_error",
            DropReason::Local { text, .. } => match *text {
                "peer rejected" => "peer_rejected",
                "shutdown" => "shutdown",
                "dropped by user" => "dropped_by_user",
                "preferred peer selected instead" => "preferred_peer_instead",
                "random disconnect due to out of sync" => "out_of_sync",
                _ => "local",
            },
            DropReason::LocalSilent(_) => "local_silent",
        }
    }

    /// Whether the remote ended the connection (an ERROR or a close), rather than us.
    pub fn by_remote(&self) -> bool {
        matches!(self, DropReason::RemoteError(_) | DropReason::RemoteClosed)
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.text())
    }
}

fn handshake_label(h: &HandshakeError) -> &'static str {
    match h {
        HandshakeError::CorruptXdr(_) => "handshake_corrupt_xdr",
        HandshakeError::Mac(_) => "handshake_bad_mac",
        HandshakeError::RemoteError(_) => "remote_error",
        HandshakeError::UnexpectedHello => "unexpected_hello",
        HandshakeError::BadCert(_) => "bad_cert",
        HandshakeError::Banned => "banned",
        HandshakeError::Crypto(_) => "handshake_crypto",
        HandshakeError::WrongVersion => "wrong_version",
        HandshakeError::ConnectingToSelf => "connecting_to_self",
        HandshakeError::WrongNetwork => "wrong_network",
        HandshakeError::BadAddress => "bad_address",
        HandshakeError::AlreadyConnected(_) => "already_connected",
        HandshakeError::OutOfOrderAuth => "out_of_order_auth",
        HandshakeError::FlowControlBytesDisabled => "flow_control_bytes_disabled",
        HandshakeError::BeforeHandshake(_) => "before_handshake",
        HandshakeError::Finished => "handshake_finished",
    }
}
