//! The authenticated channel: per-direction sequence numbers and HMAC-SHA256 (PROTOCOL.md §2).

use crate::error::{MacError, UnsealedFrameError};
use crate::keys::MacKeys;
use hmac::{Hmac, KeyInit, Mac};
use overlay_proto::MessageClass;
use overlay_proto::frame::{HEADER_LEN, LAST_FRAGMENT_BIT, encode_authenticated_with};
use overlay_proto::wire::{self, RawMessage};
use overlay_proto::xdr::{MessageType, StellarMessage};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// One connection's MAC state after the keys are installed: a [`MacSealer`] for what we
/// send and a [`MacOpener`] for what we receive, which [`split`](Self::split) separates so
/// that the receive side can run on another thread than the send side.
///
/// Sending: HELLO and ERROR_MSG go out with sequence 0 and a zero MAC and do not advance the
/// send sequence; every other message carries the next sequence and
/// `HMAC(sendKey, u64_be(seq) ‖ XDR(msg))`.
///
/// Receiving: ERROR_MSG is never authenticated and leaves the receive sequence alone. Every
/// other message must carry exactly the expected sequence and a MAC that matches in constant
/// time; a replayed, skipped or tampered message is rejected and the channel expects the
/// same sequence again (the caller drops the connection anyway).
///
/// The keyed HMAC state is computed once per key and cloned per message, so each MAC costs
/// only the hashing of the message itself.
#[derive(Clone, Debug)]
pub struct MacChannel {
    sealer: MacSealer,
    opener: MacOpener,
}

/// The send half of a [`MacChannel`].
#[derive(Clone)]
pub struct MacSealer {
    send_mac: HmacSha256,
    send_seq: u64,
}

/// The receive half of a [`MacChannel`].
#[derive(Clone)]
pub struct MacOpener {
    recv_mac: HmacSha256,
    recv_key_is_zero: bool,
    recv_seq: u64,
}

impl core::fmt::Debug for MacSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MacSealer").field("send_seq", &self.send_seq).finish_non_exhaustive()
    }
}

impl core::fmt::Debug for MacOpener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MacOpener").field("recv_seq", &self.recv_seq).finish_non_exhaustive()
    }
}

impl MacChannel {
    /// A channel with both sequences at 0.
    pub fn new(keys: &MacKeys) -> Self {
        MacChannel {
            sealer: MacSealer {
                send_mac: HmacSha256::new_from_slice(&keys.send).expect("HMAC takes any key length"),
                send_seq: 0,
            },
            opener: MacOpener {
                recv_mac: HmacSha256::new_from_slice(&keys.recv).expect("HMAC takes any key length"),
                recv_key_is_zero: keys.recv == [0u8; 32],
                recv_seq: 0,
            },
        }
    }

    /// The two halves, each keeping its sequence.
    pub fn split(self) -> (MacSealer, MacOpener) {
        (self.sealer, self.opener)
    }

    /// The sequence the next authenticated message we send will carry.
    pub fn send_sequence(&self) -> u64 {
        self.sealer.send_seq
    }

    /// The sequence we expect on the next authenticated message we receive.
    pub fn recv_sequence(&self) -> u64 {
        self.opener.recv_seq
    }

    /// See [`MacSealer::seal_xdr`].
    pub fn seal_xdr(&mut self, message_xdr: &[u8], out: &mut Vec<u8>) {
        self.sealer.seal_xdr(message_xdr, out)
    }

    /// See [`MacSealer::seal`].
    pub fn seal(&mut self, msg: &StellarMessage, out: &mut Vec<u8>) -> Result<(), overlay_proto::xdr::Error> {
        self.sealer.seal(msg, out)
    }

    /// See [`MacOpener::open`].
    pub fn open(&mut self, raw: &RawMessage<'_>) -> Result<(), MacError> {
        self.opener.open(raw)
    }
}

impl MacSealer {
    /// The sequence the next authenticated message we send will carry.
    pub fn send_sequence(&self) -> u64 {
        self.send_seq
    }

    /// Append a whole frame carrying `message_xdr` (the XDR of a StellarMessage) to `out`.
    ///
    /// The message type is read from the first four bytes of `message_xdr`.
    pub fn seal_xdr(&mut self, message_xdr: &[u8], out: &mut Vec<u8>) {
        if is_unauthenticated(message_xdr) {
            encode_authenticated_with(0, message_xdr, out, |_| [0u8; 32]);
            return;
        }
        let mac = &self.send_mac;
        encode_authenticated_with(self.send_seq, message_xdr, out, |input| {
            let mut m = mac.clone();
            m.update(input);
            m.finalize().into_bytes().into()
        });
        self.send_seq = self.send_seq.wrapping_add(1);
    }

    /// Encode `msg` and append its frame to `out`.
    pub fn seal(&mut self, msg: &StellarMessage, out: &mut Vec<u8>) -> Result<(), overlay_proto::xdr::Error> {
        let xdr = wire::encode_message(msg)?;
        self.seal_xdr(&xdr, out);
        Ok(())
    }

    /// Append a whole frame carrying `message_xdr` with its sequence and MAC left zero, for a
    /// later [`seal_in_place`](Self::seal_in_place) to fill in, on whichever thread holds the
    /// sealer. A frame of HELLO or ERROR_MSG is final as written.
    pub fn frame_unsealed(message_xdr: &[u8], out: &mut Vec<u8>) {
        encode_authenticated_with(0, message_xdr, out, |_| [0u8; 32]);
    }

    /// Fill in the sequence and the MAC of every frame in `frames`, in order, as
    /// [`seal_xdr`](Self::seal_xdr) would have written them: `frames` holds whole frames of
    /// [`frame_unsealed`](Self::frame_unsealed), back to back. On an error the frames before
    /// the bad one are sealed and the sequence counts them.
    ///
    /// ```
    /// use overlay_auth::{MacChannel, MacKeys, MacSealer};
    /// use overlay_proto::wire;
    /// use overlay_proto::xdr::StellarMessage;
    ///
    /// let keys = MacKeys { send: [1; 32], recv: [2; 32] };
    /// let (mut here, _) = MacChannel::new(&keys).split();
    /// let (mut elsewhere, _) = MacChannel::new(&keys).split();
    /// let xdr = wire::encode_message(&StellarMessage::GetScpState(7)).unwrap();
    ///
    /// let mut sealed = Vec::new();
    /// here.seal_xdr(&xdr, &mut sealed);
    /// let mut frames = Vec::new();
    /// MacSealer::frame_unsealed(&xdr, &mut frames);
    /// elsewhere.seal_in_place(&mut frames).unwrap();
    /// assert_eq!(frames, sealed);
    /// ```
    pub fn seal_in_place(&mut self, frames: &mut [u8]) -> Result<(), UnsealedFrameError> {
        // version (4), sequence (8), message type (4), MAC (32)
        const MIN_BODY: usize = 4 + 8 + 4 + 32;
        let mut offset = 0;
        while offset < frames.len() {
            let rest = &mut frames[offset..];
            let len = rest.first_chunk::<HEADER_LEN>().map(|m| u32::from_be_bytes(*m) & !LAST_FRAGMENT_BIT);
            let Some(len) = len.map(|l| l as usize).filter(|&l| l >= MIN_BODY && l <= rest.len() - HEADER_LEN) else {
                return Err(UnsealedFrameError { offset });
            };
            let body = &mut rest[HEADER_LEN..HEADER_LEN + len];
            if body[..4] != [0; 4] {
                return Err(UnsealedFrameError { offset });
            }
            let (signed, mac) = body[4..].split_at_mut(len - 4 - 32);
            if !is_unauthenticated(&signed[8..]) {
                signed[..8].copy_from_slice(&self.send_seq.to_be_bytes());
                let mut m = self.send_mac.clone();
                m.update(signed);
                mac.copy_from_slice(&m.finalize().into_bytes());
                self.send_seq = self.send_seq.wrapping_add(1);
            }
            offset += HEADER_LEN + len;
        }
        Ok(())
    }
}

/// Whether a message (its XDR) goes out with sequence 0 and a zero MAC: HELLO, ERROR_MSG.
fn is_unauthenticated(message_xdr: &[u8]) -> bool {
    message_xdr
        .first_chunk::<4>()
        .and_then(|t| MessageType::try_from(i32::from_be_bytes(*t)).ok())
        .is_some_and(|t| t.is_unauthenticated())
}

impl MacOpener {
    /// The sequence we expect on the next authenticated message we receive.
    pub fn recv_sequence(&self) -> u64 {
        self.recv_seq
    }

    /// Verify a received message in the order of §2.2: sequence, zero key, MAC. ERROR_MSG
    /// passes unchecked.
    pub fn open(&mut self, raw: &RawMessage<'_>) -> Result<(), MacError> {
        if raw.message_type() == Some(MessageType::ErrorMsg) {
            return Ok(());
        }
        if raw.sequence() != self.recv_seq {
            return Err(MacError::UnexpectedSequence { expected: self.recv_seq, got: raw.sequence() });
        }
        if self.recv_key_is_zero {
            return Err(MacError::ZeroKey);
        }
        let mut m = self.recv_mac.clone();
        m.update(raw.mac_input());
        m.verify_slice(raw.mac()).map_err(|_| MacError::BadMac)?;
        self.recv_seq = self.recv_seq.wrapping_add(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_proto::frame::FrameDecoder;
    use overlay_proto::xdr::{Auth, ErrorCode, SError};

    fn pair() -> (MacChannel, MacChannel) {
        let a = MacKeys { send: [1; 32], recv: [2; 32] };
        let b = MacKeys { send: [2; 32], recv: [1; 32] };
        (MacChannel::new(&a), MacChannel::new(&b))
    }

    fn body(frame: &[u8]) -> Vec<u8> {
        let mut d = FrameDecoder::new();
        d.feed(frame);
        d.next_frame().unwrap().unwrap().to_vec()
    }

    fn auth_frame(ch: &mut MacChannel) -> Vec<u8> {
        let mut out = Vec::new();
        ch.seal(&StellarMessage::Auth(Auth { flags: 200 }), &mut out).unwrap();
        out
    }

    #[test]
    fn in_order_messages_verify_and_advance() {
        let (mut a, mut b) = pair();
        for seq in 0..5 {
            let f = body(&auth_frame(&mut a));
            let raw = RawMessage::parse(&f).unwrap();
            assert_eq!(raw.sequence(), seq);
            b.open(&raw).unwrap();
        }
        assert_eq!((a.send_sequence(), b.recv_sequence()), (5, 5));
    }

    #[test]
    fn split_halves_keep_the_sequences() {
        let (mut a, mut b) = pair();
        let first = auth_frame(&mut a);
        b.open(&RawMessage::parse(&body(&first)).unwrap()).unwrap();
        let (mut sealer, _) = a.split();
        let (_, mut opener) = b.split();
        assert_eq!((sealer.send_sequence(), opener.recv_sequence()), (1, 1));
        let mut second = Vec::new();
        sealer.seal(&StellarMessage::Auth(Auth { flags: 200 }), &mut second).unwrap();
        opener.open(&RawMessage::parse(&body(&second)).unwrap()).unwrap();
        assert!(opener.open(&RawMessage::parse(&body(&second)).unwrap()).is_err(), "a replay");
        assert_eq!(opener.recv_sequence(), 2);
    }

    #[test]
    fn replayed_skipped_and_tampered_messages_are_rejected() {
        let (mut a, mut b) = pair();
        let first = body(&auth_frame(&mut a));
        b.open(&RawMessage::parse(&first).unwrap()).unwrap();
        // Replay.
        assert_eq!(
            b.open(&RawMessage::parse(&first).unwrap()),
            Err(MacError::UnexpectedSequence { expected: 1, got: 0 })
        );
        // Skip one.
        let _second = auth_frame(&mut a);
        let third = body(&auth_frame(&mut a));
        assert_eq!(
            b.open(&RawMessage::parse(&third).unwrap()),
            Err(MacError::UnexpectedSequence { expected: 1, got: 2 })
        );
        // Tamper with the message or the MAC.
        let (mut a, mut b) = pair();
        let good = body(&auth_frame(&mut a));
        for i in [12, 19, good.len() - 1] {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert_eq!(b.open(&RawMessage::parse(&bad).unwrap()), Err(MacError::BadMac), "byte {i}");
        }
        b.open(&RawMessage::parse(&good).unwrap()).unwrap();
    }

    #[test]
    fn errors_are_never_authenticated_and_do_not_advance() {
        let (mut a, mut b) = pair();
        let mut out = Vec::new();
        let err = StellarMessage::ErrorMsg(SError { code: ErrorCode::Load, msg: "x".try_into().unwrap() });
        a.seal(&err, &mut out).unwrap();
        assert_eq!(a.send_sequence(), 0);
        let f = body(&out);
        let raw = RawMessage::parse(&f).unwrap();
        assert_eq!((raw.sequence(), raw.mac()), (0, &[0u8; 32]));
        b.open(&raw).unwrap();
        b.open(&raw).unwrap();
        assert_eq!(b.recv_sequence(), 0);
    }

    #[test]
    fn zero_receive_key_is_rejected() {
        let mut b = MacChannel::new(&MacKeys { send: [1; 32], recv: [0; 32] });
        let mut a = MacChannel::new(&MacKeys { send: [0; 32], recv: [1; 32] });
        let f = body(&auth_frame(&mut a));
        assert_eq!(b.open(&RawMessage::parse(&f).unwrap()), Err(MacError::ZeroKey));
    }
}
