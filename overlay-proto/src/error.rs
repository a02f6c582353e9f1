//! Errors of the wire layer, one enum per cause.

use thiserror::Error;

/// A frame header that must not be read further (PROTOCOL.md §1.2).
///
/// stellar-core drops such a connection with the local reason `"error during read"` and
/// sends no ERROR message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The header announced an empty body.
    #[error("frame with an empty body")]
    Empty,
    /// The header announced a body longer than the current limit (4096 bytes before
    /// authentication, 16 MiB after).
    #[error("frame body of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Announced body length.
        len: u32,
        /// The limit in force when the header was read.
        limit: u32,
    },
}

/// The kind of XDR decoding failure, without the heap data of the underlying error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdrErrorKind {
    /// An enum value or union discriminant is unknown, or the value is otherwise invalid.
    Invalid,
    /// A variable array or string is longer than its XDR bound.
    LengthExceedsMax,
    /// A fixed-size value has the wrong length.
    LengthMismatch,
    /// Padding bytes are not zero.
    NonZeroPadding,
    /// A string is not valid UTF-8 where the type requires it.
    Utf8,
    /// The input ended before the value did.
    Truncated,
    /// The value nests deeper than the decoding depth limit.
    DepthLimitExceeded,
    /// The value is longer than the bytes available.
    LengthLimitExceeded,
    /// Any other failure reported by the XDR library.
    Other,
}

impl From<&stellar_xdr::Error> for XdrErrorKind {
    fn from(e: &stellar_xdr::Error) -> Self {
        use stellar_xdr::Error as E;
        match e {
            E::Invalid | E::Unsupported => XdrErrorKind::Invalid,
            E::LengthExceedsMax => XdrErrorKind::LengthExceedsMax,
            E::LengthMismatch => XdrErrorKind::LengthMismatch,
            E::NonZeroPadding => XdrErrorKind::NonZeroPadding,
            E::Utf8Error(_) => XdrErrorKind::Utf8,
            E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => XdrErrorKind::Truncated,
            E::DepthLimitExceeded => XdrErrorKind::DepthLimitExceeded,
            E::LengthLimitExceeded => XdrErrorKind::LengthLimitExceeded,
            _ => XdrErrorKind::Other,
        }
    }
}

/// A frame body that is not exactly one well-formed `AuthenticatedMessage`.
///
/// stellar-core answers this with `ERROR(ERR_DATA, "received corrupt XDR")` and drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The body is shorter than the fixed parts of an `AuthenticatedMessage`.
    #[error("frame body of {0} bytes is too short for an AuthenticatedMessage")]
    TooShort(usize),
    /// The `AuthenticatedMessage` version is not 0.
    #[error("unknown AuthenticatedMessage version {0}")]
    UnknownVersion(u32),
    /// The body is not a whole number of 4-byte XDR units.
    #[error("frame body length {0} is not a multiple of 4")]
    Misaligned(usize),
    /// The `StellarMessage` inside does not decode.
    #[error("StellarMessage does not decode: {0:?}")]
    Xdr(XdrErrorKind),
}

impl DecodeError {
    pub(crate) fn xdr(e: &stellar_xdr::Error) -> Self {
        DecodeError::Xdr(e.into())
    }
}

/// A peer address string that does not parse (PROTOCOL.md §11.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AddressError {
    /// The string is empty.
    #[error("empty address")]
    Empty,
    /// The host part is neither an IP address nor a host name of `[A-Za-z0-9.-]`.
    #[error("invalid host")]
    InvalidHost,
    /// The port is not a number in 1..=65535.
    #[error("invalid port")]
    InvalidPort,
    /// An XDR `PeerAddress` has a port outside 1..=65535.
    #[error("port {0} out of range")]
    PortOutOfRange(u32),
}
