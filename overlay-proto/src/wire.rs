//! The body of a frame: `XDR(AuthenticatedMessage)` (PROTOCOL.md §2).
//!
//! Layout: `u32 v (=0) ‖ u64 sequence ‖ XDR(StellarMessage) ‖ opaque[32] mac`. The MAC input
//! `u64_be(sequence) ‖ XDR(StellarMessage)` is a contiguous slice of the body, so the MAC is
//! verified over the received bytes as they are, never over a re-encoding.

use crate::error::DecodeError;
use stellar_xdr::{Limited, Limits, MessageType, ReadXdr, StellarMessage, WriteXdr};

/// Maximum XDR nesting depth accepted when decoding a message.
///
/// stellar-core configures a marshaling stack limit of 1500 frames; the Rust XDR library
/// counts depth differently, and 500 is the limit Soroban uses for the same types. No valid
/// overlay message comes near it. \[UNSURE\] whether a pathological message between the two
/// limits is accepted by stellar-core; such a message is invalid for the ledger either way.
pub const XDR_DEPTH_LIMIT: u32 = 500;

/// Offset of the sequence number in a body.
const SEQ_OFFSET: usize = 4;
/// Offset of the `StellarMessage` in a body.
const MSG_OFFSET: usize = 12;
/// Length of the MAC.
pub const MAC_LEN: usize = 32;
/// Smallest possible body: version, sequence, message type, MAC.
pub const MIN_BODY_LEN: usize = MSG_OFFSET + 4 + MAC_LEN;

/// A frame body split into its parts, without decoding the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawMessage<'a> {
    body: &'a [u8],
}

impl<'a> RawMessage<'a> {
    /// Split a frame body. Checks the fixed parts only: length, alignment and version.
    pub fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        if body.len() < MIN_BODY_LEN {
            return Err(DecodeError::TooShort(body.len()));
        }
        if body.len() % 4 != 0 {
            return Err(DecodeError::Misaligned(body.len()));
        }
        let v = u32::from_be_bytes(body[..4].try_into().expect("4 bytes"));
        if v != 0 {
            return Err(DecodeError::UnknownVersion(v));
        }
        Ok(RawMessage { body })
    }

    /// The sequence number.
    pub fn sequence(&self) -> u64 {
        u64::from_be_bytes(self.body[SEQ_OFFSET..MSG_OFFSET].try_into().expect("8 bytes"))
    }

    /// The `XDR(StellarMessage)` bytes.
    pub fn message_xdr(&self) -> &'a [u8] {
        &self.body[MSG_OFFSET..self.body.len() - MAC_LEN]
    }

    /// The raw message type discriminant (the first 4 bytes of the message).
    pub fn message_type_code(&self) -> i32 {
        i32::from_be_bytes(self.body[MSG_OFFSET..MSG_OFFSET + 4].try_into().expect("4 bytes"))
    }

    /// The message type, if the discriminant is a known one.
    pub fn message_type(&self) -> Option<MessageType> {
        MessageType::try_from(self.message_type_code()).ok()
    }

    /// The MAC field.
    pub fn mac(&self) -> &'a [u8; MAC_LEN] {
        self.body[self.body.len() - MAC_LEN..].try_into().expect("32 bytes")
    }

    /// The bytes the MAC covers: `u64_be(sequence) ‖ XDR(StellarMessage)`.
    pub fn mac_input(&self) -> &'a [u8] {
        &self.body[SEQ_OFFSET..self.body.len() - MAC_LEN]
    }

    /// Size of the message's XDR, the unit of byte flow control (§6).
    pub fn message_len(&self) -> usize {
        self.body.len() - MSG_OFFSET - MAC_LEN
    }

    /// Decode the `StellarMessage`: exactly one value, no trailing bytes, zero padding,
    /// known discriminants, bounded lengths and nesting.
    pub fn decode(&self) -> Result<StellarMessage, DecodeError> {
        decode_message(self.message_xdr())
    }
}

/// The type of the `StellarMessage` whose XDR is `xdr`, read from its first 4 bytes without
/// decoding; `None` if they are missing or not a known type.
pub fn message_type_of(xdr: &[u8]) -> Option<MessageType> {
    let (tag, _) = xdr.split_first_chunk::<4>()?;
    MessageType::try_from(i32::from_be_bytes(*tag)).ok()
}

/// Decode exactly one `StellarMessage` from `xdr`.
pub fn decode_message(xdr: &[u8]) -> Result<StellarMessage, DecodeError> {
    let limits = Limits { depth: XDR_DEPTH_LIMIT, len: xdr.len() };
    StellarMessage::from_xdr(xdr, limits).map_err(|e| DecodeError::xdr(&e))
}

/// Encode a `StellarMessage` to XDR.
pub fn encode_message(msg: &StellarMessage) -> Result<Vec<u8>, stellar_xdr::Error> {
    let mut out = Vec::with_capacity(256);
    encode_message_into(msg, &mut out)?;
    Ok(out)
}

/// Append the XDR of a `StellarMessage` to `out`.
pub fn encode_message_into(msg: &StellarMessage, out: &mut Vec<u8>) -> Result<(), stellar_xdr::Error> {
    let mut w = Limited::new(out, Limits::depth(XDR_DEPTH_LIMIT));
    msg.write_xdr(&mut w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_unauthenticated;
    use stellar_xdr::{ErrorCode, SError};

    fn error_body() -> Vec<u8> {
        let msg = StellarMessage::ErrorMsg(SError {
            code: ErrorCode::Conf,
            msg: "wrong network passphrase".try_into().unwrap(),
        });
        let mut out = Vec::new();
        encode_unauthenticated(&msg, &mut out).unwrap();
        out[4..].to_vec()
    }

    #[test]
    fn error_example_of_the_spec_matches() {
        // PROTOCOL.md §3.8 "ERROR example".
        let body = error_body();
        let expected = "00000000 0000000000000000 00000000 00000002 00000018";
        let expected = hex::decode(expected.replace(' ', "")).unwrap();
        assert_eq!(&body[..expected.len()], &expected[..]);
        assert_eq!(&body[expected.len()..expected.len() + 24], b"wrong network passphrase");
        assert_eq!(body.len(), 0x50);
        let raw = RawMessage::parse(&body).unwrap();
        assert_eq!(raw.sequence(), 0);
        assert_eq!(raw.mac(), &[0u8; 32]);
        assert_eq!(raw.message_type(), Some(MessageType::ErrorMsg));
    }

    #[test]
    fn message_type_is_read_from_the_first_four_bytes() {
        let xdr = encode_message(&crate::fixtures::transaction_message(1)).unwrap();
        assert_eq!(message_type_of(&xdr), Some(MessageType::Transaction));
        assert_eq!(message_type_of(&[0, 0, 0]), None);
        assert_eq!(message_type_of(&[0, 0, 0, 99]), None);
        assert_eq!(message_type_of(&[0, 0, 0, 11, 1]), Some(MessageType::ScpMessage));
    }

    #[test]
    fn fixed_parts_are_checked() {
        let body = error_body();
        assert_eq!(RawMessage::parse(&body[..47]), Err(DecodeError::TooShort(47)));
        let mut odd = body.clone();
        odd.push(0);
        assert_eq!(RawMessage::parse(&odd), Err(DecodeError::Misaligned(odd.len())));
        let mut v1 = body.clone();
        v1[3] = 1;
        assert_eq!(RawMessage::parse(&v1), Err(DecodeError::UnknownVersion(1)));
    }

    #[test]
    fn trailing_bytes_padding_and_unknown_types_are_rejected() {
        let body = error_body();
        // Trailing 4 bytes inside the message area.
        let mut trailing = body[..body.len() - 32].to_vec();
        trailing.extend_from_slice(&[0, 0, 0, 0]);
        trailing.extend_from_slice(&[0; 32]);
        assert!(matches!(RawMessage::parse(&trailing).unwrap().decode(), Err(DecodeError::Xdr(_))));
        // Removed message type GET_PEERS (4).
        let mut removed = body.clone();
        removed[12..16].copy_from_slice(&4i32.to_be_bytes());
        assert!(RawMessage::parse(&removed).unwrap().decode().is_err());
        // Non-zero padding after a string whose length is not a multiple of 4.
        let msg = StellarMessage::ErrorMsg(SError { code: ErrorCode::Misc, msg: "abc".try_into().unwrap() });
        let mut xdr = encode_message(&msg).unwrap();
        *xdr.last_mut().unwrap() = 1;
        assert_eq!(decode_message(&xdr), Err(DecodeError::Xdr(crate::error::XdrErrorKind::NonZeroPadding)));
    }

    #[test]
    fn overlong_strings_are_rejected() {
        let msg = StellarMessage::ErrorMsg(SError { code: ErrorCode::Misc, msg: "x".repeat(100).try_into().unwrap() });
        let mut xdr = encode_message(&msg).unwrap();
        // Claim 101 bytes.
        xdr[8..12].copy_from_slice(&101u32.to_be_bytes());
        xdr.extend_from_slice(&[b'x', 0, 0, 0]);
        assert!(decode_message(&xdr).is_err());
    }
}
