//! Record marking (PROTOCOL.md §1.2): a 4-byte big-endian header whose low 31 bits give the
//! body length, then the body, `XDR(AuthenticatedMessage)`.
//!
//! The sender always sets bit 31 ("last fragment"); the receiver ignores it, as stellar-core
//! does, so a frame with bit 31 clear is accepted the same way.

use crate::error::FrameError;
use crate::wire;
use stellar_xdr::StellarMessage;

/// Length of the record mark.
pub const HEADER_LEN: usize = 4;
/// Body limit before authentication (`MAX_UNAUTH_MESSAGE_SIZE`, 4096).
pub const MAX_UNAUTH_MESSAGE_SIZE: u32 = 0x1000;
/// Body limit after authentication (`MAX_MESSAGE_SIZE`, 16 MiB).
pub const MAX_MESSAGE_SIZE: u32 = 16 * 1024 * 1024;
/// The last-fragment bit of the record mark.
pub const LAST_FRAGMENT_BIT: u32 = 0x8000_0000;

/// When the buffer is empty and its capacity is above this, it is shrunk back, so that one
/// large frame does not pin 16 MiB per connection for the connection's lifetime.
const SHRINK_ABOVE_BYTES: usize = 1 << 20;
const SHRINK_TO_BYTES: usize = 64 * 1024;

/// A streaming frame decoder: feed it byte chunks of any size, take whole frame bodies out.
///
/// The body length is checked against the current limit as soon as the 4 header bytes are
/// there, before any body byte is looked at, and the decoder never reserves memory from an
/// announced length: it holds only the bytes that were fed. After an error the decoder
/// stays failed and returns the same error.
///
/// Memory: the buffer holds at most one partial frame plus the bytes fed since frames were
/// last drained. A driver that feeds bounded chunks and drains with [`next_frame`] after each
/// feed keeps it below `limit + 4 + chunk`.
///
/// [`next_frame`]: FrameDecoder::next_frame
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the bytes not yet returned as frames.
    pos: usize,
    limit: u32,
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder for a connection that is not yet authenticated (limit 4096 bytes).
    pub fn new() -> Self {
        Self::with_limit(MAX_UNAUTH_MESSAGE_SIZE)
    }

    /// A decoder with an explicit body limit.
    pub fn with_limit(limit: u32) -> Self {
        FrameDecoder { buf: Vec::new(), pos: 0, limit, failed: None }
    }

    /// The body limit in force.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Change the body limit; it applies to the next header read.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    /// Raise the limit to [`MAX_MESSAGE_SIZE`], as after a successful AUTH.
    pub fn set_authenticated(&mut self) {
        self.limit = MAX_MESSAGE_SIZE;
    }

    /// Bytes fed but not yet returned in a frame.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Append received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame body, `Ok(None)` if more bytes are needed.
    ///
    /// The returned slice is valid until the next call on the decoder.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let avail = &self.buf[self.pos..];
        let Some(header) = avail.first_chunk::<HEADER_LEN>() else {
            self.maybe_shrink();
            return Ok(None);
        };
        let len = u32::from_be_bytes(*header) & !LAST_FRAGMENT_BIT;
        if let Err(e) = check_len(len, self.limit) {
            self.failed = Some(e);
            self.buf = Vec::new();
            self.pos = 0;
            return Err(e);
        }
        let total = HEADER_LEN + len as usize;
        if avail.len() < total {
            return Ok(None);
        }
        let start = self.pos + HEADER_LEN;
        self.pos += total;
        Ok(Some(&self.buf[start..self.pos]))
    }

    fn maybe_shrink(&mut self) {
        if self.pos == self.buf.len() && self.buf.capacity() > SHRINK_ABOVE_BYTES {
            self.buf = Vec::with_capacity(SHRINK_TO_BYTES);
            self.pos = 0;
        }
    }
}

/// Check an announced body length against a limit (§1.2).
pub fn check_len(len: u32, limit: u32) -> Result<(), FrameError> {
    if len == 0 {
        Err(FrameError::Empty)
    } else if len > limit {
        Err(FrameError::TooLarge { len, limit })
    } else {
        Ok(())
    }
}

/// Append the record mark for a body of `body_len` bytes (bit 31 set).
pub fn write_header(out: &mut Vec<u8>, body_len: usize) {
    let len = u32::try_from(body_len).unwrap_or(u32::MAX) & !LAST_FRAGMENT_BIT;
    out.extend_from_slice(&(len | LAST_FRAGMENT_BIT).to_be_bytes());
}

/// Append a whole frame for an unauthenticated message (HELLO or ERROR_MSG): sequence 0 and
/// an all-zero MAC (§2.1).
pub fn encode_unauthenticated(msg: &StellarMessage, out: &mut Vec<u8>) -> Result<(), stellar_xdr::Error> {
    let xdr = wire::encode_message(msg)?;
    encode_authenticated_with(0, &xdr, out, |_| [0u8; 32]);
    Ok(())
}

/// Append a whole frame `header | v=0 | sequence | message_xdr | mac`, where the MAC is
/// computed by `mac_fn` over the contiguous bytes `u64_be(sequence) ‖ message_xdr` exactly as
/// they stand in the frame (§2.1), so nothing is encoded twice.
pub fn encode_authenticated_with(
    sequence: u64,
    message_xdr: &[u8],
    out: &mut Vec<u8>,
    mac_fn: impl FnOnce(&[u8]) -> [u8; 32],
) {
    let body_len = 4 + 8 + message_xdr.len() + 32;
    out.reserve(HEADER_LEN + body_len);
    write_header(out, body_len);
    out.extend_from_slice(&0u32.to_be_bytes());
    let mac_start = out.len();
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(message_xdr);
    let mac = mac_fn(&out[mac_start..]);
    out.extend_from_slice(&mac);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8], last: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let mark = body.len() as u32 | if last { LAST_FRAGMENT_BIT } else { 0 };
        v.extend_from_slice(&mark.to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn bit_31_is_ignored_on_receipt() {
        let mut d = FrameDecoder::new();
        d.feed(&frame(&[1, 2, 3, 4], false));
        d.feed(&frame(&[5, 6, 7, 8], true));
        assert_eq!(d.next_frame().unwrap(), Some(&[1u8, 2, 3, 4][..]));
        assert_eq!(d.next_frame().unwrap(), Some(&[5u8, 6, 7, 8][..]));
        assert_eq!(d.next_frame().unwrap(), None);
    }

    #[test]
    fn empty_body_is_rejected() {
        let mut d = FrameDecoder::new();
        d.feed(&[0x80, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(FrameError::Empty));
        // The decoder stays failed.
        d.feed(&frame(&[1, 2, 3, 4], true));
        assert_eq!(d.next_frame(), Err(FrameError::Empty));
    }

    #[test]
    fn limit_is_checked_from_the_header_alone() {
        let mut d = FrameDecoder::new();
        d.feed(&(4097u32 | LAST_FRAGMENT_BIT).to_be_bytes());
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge { len: 4097, limit: 4096 }));

        let mut d = FrameDecoder::new();
        d.feed(&4096u32.to_be_bytes());
        assert_eq!(d.next_frame(), Ok(None), "exactly the limit is allowed");

        let mut d = FrameDecoder::new();
        d.set_authenticated();
        d.feed(&(MAX_MESSAGE_SIZE + 1).to_be_bytes());
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
        // Bit 31 is not part of the length, so 0xffffffff announces 2^31 - 1 bytes.
        let mut d = FrameDecoder::new();
        d.set_authenticated();
        d.feed(&u32::MAX.to_be_bytes());
        assert_eq!(d.next_frame(), Err(FrameError::TooLarge { len: 0x7fff_ffff, limit: MAX_MESSAGE_SIZE }));
    }

    #[test]
    fn byte_at_a_time_feeding_yields_the_same_frames() {
        let mut wire = frame(&[9; 8], true);
        wire.extend(frame(&[7; 12], true));
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &wire {
            d.feed(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f.to_vec());
            }
        }
        assert_eq!(got, vec![vec![9; 8], vec![7; 12]]);
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn buffer_shrinks_after_a_large_frame() {
        let mut d = FrameDecoder::new();
        d.set_authenticated();
        d.feed(&frame(&vec![0u8; 4 << 20], true));
        assert!(d.next_frame().unwrap().is_some());
        assert_eq!(d.next_frame().unwrap(), None);
        assert!(d.buf.capacity() <= SHRINK_TO_BYTES);
    }

    #[test]
    fn authenticated_encoding_macs_sequence_and_message() {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        encode_authenticated_with(7, &[0, 0, 0, 2, 0, 0, 0, 200], &mut out, |input| {
            seen = input.to_vec();
            [0xab; 32]
        });
        assert_eq!(&out[..4], &(LAST_FRAGMENT_BIT | 52).to_be_bytes());
        assert_eq!(&out[4..8], &[0, 0, 0, 0]);
        assert_eq!(seen, [&7u64.to_be_bytes()[..], &[0, 0, 0, 2, 0, 0, 0, 200]].concat());
        assert_eq!(&out[out.len() - 32..], &[0xab; 32]);
    }
}
