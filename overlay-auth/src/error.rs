//! Errors of the identity and channel layer, closed enums split by cause.

use overlay_proto::xdr::{ErrorCode, MessageType, SError};
use overlay_proto::{DecodeError, MessageClass, NodeId};
use std::borrow::Cow;
use thiserror::Error;

/// A secret seed that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    /// The string is not an `S...` Ed25519 secret seed strkey.
    #[error("not an S... secret seed strkey")]
    InvalidSecretSeed,
}

/// Why a received AuthCert was rejected (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CertError {
    /// `expiration < now`.
    #[error("certificate expired at {expiration}, now is {now}")]
    Expired {
        /// The certificate's expiration, Unix seconds.
        expiration: u64,
        /// Our wall clock, Unix seconds.
        now: u64,
    },
    /// The signature is not 64 bytes long.
    #[error("certificate signature of {0} bytes")]
    BadSignatureLength(usize),
    /// The claimed node key is not a valid Ed25519 point.
    #[error("peer key is not a valid Ed25519 key")]
    BadKey,
    /// Strict Ed25519 verification failed.
    #[error("certificate signature does not verify")]
    BadSignature,
}

/// A key agreement that produced no shared secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// X25519 gave the all-zero output (the remote key has small order).
    #[error("X25519 result is all zero")]
    NonContributory,
}

/// A received message that fails authentication (§2.2); each is answered with ERR_AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MacError {
    /// The sequence is not the next expected one (replayed, skipped or reordered).
    #[error("unexpected auth sequence (expected {expected}, got {got})")]
    UnexpectedSequence {
        /// The sequence we expected.
        expected: u64,
        /// The sequence the message carried.
        got: u64,
    },
    /// Our receive key is all zero.
    #[error("receive mac key is zero")]
    ZeroKey,
    /// The MAC does not match.
    #[error("unexpected MAC")]
    BadMac,
}

/// Bytes given to [`MacSealer::seal_in_place`](crate::MacSealer::seal_in_place) that are not
/// whole frames of [`MacSealer::frame_unsealed`](crate::MacSealer::frame_unsealed): a bug of
/// the caller, never something a peer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a whole authenticated frame at byte {offset}")]
pub struct UnsealedFrameError {
    /// Where the first bad frame starts; the frames before it are sealed.
    pub offset: usize,
}

impl MacError {
    /// The text stellar-core puts in the ERR_AUTH message.
    pub fn text(&self) -> &'static str {
        match self {
            MacError::UnexpectedSequence { .. } => "unexpected auth sequence",
            MacError::ZeroKey => "receive mac key is zero",
            MacError::BadMac => "unexpected MAC",
        }
    }
}

/// Why a handshake ended without an authenticated channel (§3.5, §3.6, §3.7).
///
/// Each variant knows the local drop reason stellar-core logs ([`reason`]) and the ERROR it
/// sends, if any ([`error_to_send`]). The handshake machine has already queued that ERROR
/// when it returns the error.
///
/// [`reason`]: HandshakeError::reason
/// [`error_to_send`]: HandshakeError::error_to_send
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// The frame body is not one well-formed AuthenticatedMessage.
    #[error("received corrupt XDR: {0}")]
    CorruptXdr(DecodeError),
    /// MAC or sequence check failed.
    #[error("{0}")]
    Mac(MacError),
    /// The remote sent an ERROR.
    #[error("remote sent an ERROR")]
    RemoteError(SError),
    /// A HELLO after the remote HELLO was processed.
    #[error("received unexpected HELLO")]
    UnexpectedHello,
    /// The remote's AuthCert does not verify.
    #[error("failed to verify auth cert: {0}")]
    BadCert(CertError),
    /// The remote's NodeID is banned.
    #[error("node is banned")]
    Banned,
    /// Key agreement failed.
    #[error("Bad crypto request: {0}")]
    Crypto(CryptoError),
    /// The remote's overlay version range does not overlap ours.
    #[error("wrong protocol version")]
    WrongVersion,
    /// The remote has our own NodeID.
    #[error("connecting to self")]
    ConnectingToSelf,
    /// The remote is on another network.
    #[error("wrong network passphrase")]
    WrongNetwork,
    /// The remote's listening port is not in 1..=65535.
    #[error("bad address")]
    BadAddress,
    /// Another connection already has this NodeID.
    #[error("already-connected peer: {}", .0.short())]
    AlreadyConnected(NodeId),
    /// AUTH arrived when the remote HELLO had not been processed, or a second time.
    #[error("out-of-order AUTH message")]
    OutOfOrderAuth,
    /// AUTH flags are not 200.
    #[error("flow control bytes disabled")]
    FlowControlBytesDisabled,
    /// A message other than HELLO, AUTH or ERROR before the handshake completed.
    #[error("received {} before completed handshake", .0.wire_name())]
    BeforeHandshake(MessageType),
    /// The machine was fed after it had finished or failed.
    #[error("handshake already finished")]
    Finished,
}

impl HandshakeError {
    /// The ERROR message stellar-core sends for this failure, or `None` for a silent drop.
    pub fn error_to_send(&self) -> Option<(ErrorCode, Cow<'static, str>)> {
        use HandshakeError as E;
        let conf = |s: &'static str| Some((ErrorCode::Conf, Cow::Borrowed(s)));
        match self {
            E::CorruptXdr(_) => Some((ErrorCode::Data, "received corrupt XDR".into())),
            E::Mac(m) => Some((ErrorCode::Auth, m.text().into())),
            E::WrongVersion => conf("wrong protocol version"),
            E::ConnectingToSelf => conf("connecting to self"),
            E::WrongNetwork => conf("wrong network passphrase"),
            E::BadAddress => conf("bad address"),
            E::AlreadyConnected(_) => Some((ErrorCode::Conf, self.to_string().into())),
            E::FlowControlBytesDisabled => conf("flow control bytes disabled"),
            E::OutOfOrderAuth => Some((ErrorCode::Misc, "out-of-order AUTH message".into())),
            E::RemoteError(_)
            | E::UnexpectedHello
            | E::BadCert(_)
            | E::Banned
            | E::Crypto(_)
            | E::BeforeHandshake(_)
            | E::Finished => None,
        }
    }

    /// The local drop reason, with stellar-core's wording.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            HandshakeError::RemoteError(e) => remote_error_reason(e).into(),
            HandshakeError::BadCert(_) => "failed to verify auth cert".into(),
            HandshakeError::Crypto(_) => "Bad crypto request".into(),
            HandshakeError::CorruptXdr(_) => "received corrupt XDR".into(),
            other => match other.error_to_send() {
                Some((_, text)) => text,
                None => other.to_string().into(),
            },
        }
    }
}

/// The drop reason for a received ERROR: `"<CODE_NAME> (<msg>)"` with every character that
/// is not alphanumeric or a space replaced by `*`, as stellar-core logs it (§4.1).
pub fn remote_error_reason(e: &SError) -> String {
    let msg: String =
        e.msg.as_vec().iter().map(|&b| if b.is_ascii_alphanumeric() || b == b' ' { b as char } else { '*' }).collect();
    format!("{} ({msg})", error_code_name(e.code))
}

/// The XDR name of an error code, e.g. `"ERR_CONF"`.
pub fn error_code_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Misc => "ERR_MISC",
        ErrorCode::Data => "ERR_DATA",
        ErrorCode::Conf => "ERR_CONF",
        ErrorCode::Auth => "ERR_AUTH",
        ErrorCode::Load => "ERR_LOAD",
    }
}
