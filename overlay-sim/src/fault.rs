//! Misbehaving nodes: a faulty driver between an honest `Node` and its links.
//!
//! The node itself is never changed. What it writes passes through a [`Misbehaviour`] that
//! damages it or adds to it, as a buggy or hostile peer would:
//!
//! - [`MisbehaviourKind::BadMac`]: flips a bit in the MAC of authenticated frames;
//! - [`MisbehaviourKind::Garbage`]: adds random bytes, or well-framed frames of random bytes;
//! - [`MisbehaviourKind::Overrun`]: ignores flow control: writes more TRANSACTION frames than
//!   the peer granted;
//! - [`MisbehaviourKind::Echo`]: sends every transaction it receives back to the peer it came
//!   from.
//!
//! The last two must write frames the receiver accepts, so the driver needs the node's MAC
//! keys. It has what the node has: the node's X25519 secret (the simulator made it), the two
//! HELLOs on the wire (nonces, ephemeral keys) and the node's role. A [`Resealer`] derives the
//! keys as §3.4 does and seals every authenticated frame again with its own sequence numbers,
//! so that frames it adds fit in.
//!
//! A misbehaviour is *declared* when the scenario says the node is faulty (the invariants
//! then expect the honest nodes to cope: drop it, route around it), and *planted* when it is
//! not (the invariants must then catch the node, as they would a real bug).

use crate::rng::SimRng;
use crate::tap;
use overlay_auth::keys::{EcdhKeypair, derive_mac_keys};
use overlay_auth::{MacChannel, Role};
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{MessageType, StellarMessage};
use serde::Serialize;

/// What a misbehaving node does to what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MisbehaviourKind {
    /// Authenticated frames carry a wrong MAC.
    BadMac,
    /// Random bytes between frames, or frames of random bytes.
    Garbage,
    /// TRANSACTION frames beyond the peer's grant.
    Overrun,
    /// Transactions sent back to the peer they came from.
    Echo,
}

impl MisbehaviourKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            MisbehaviourKind::BadMac => "bad-mac",
            MisbehaviourKind::Garbage => "garbage",
            MisbehaviourKind::Overrun => "overrun",
            MisbehaviourKind::Echo => "echo",
        }
    }

    /// Whether the driver must re-seal the node's frames.
    pub fn needs_keys(self) -> bool {
        matches!(self, MisbehaviourKind::Overrun | MisbehaviourKind::Echo)
    }
}

/// A misbehaviour of one node.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Misbehaviour {
    /// What it does.
    pub kind: MisbehaviourKind,
    /// Probability per frame (bad MAC), per write (garbage, overrun); echo is always on.
    pub prob: f64,
    /// Whether the scenario declares the node faulty (see the module docs).
    pub declared: bool,
}

/// Apply the MAC and garbage faults to a write.
pub fn damage(kind: MisbehaviourKind, prob: f64, bytes: Vec<u8>, rng: &mut SimRng) -> Vec<u8> {
    match kind {
        MisbehaviourKind::BadMac => {
            let mut out = bytes;
            let mut offsets = Vec::new();
            let mut pos = 0;
            for f in tap::frames(&out) {
                let authenticated =
                    f.message_type.is_some_and(|t| !matches!(t, MessageType::Hello | MessageType::ErrorMsg));
                pos += f.frame.len();
                if authenticated && rng.chance(prob) {
                    offsets.push(pos - 1);
                }
            }
            for o in offsets {
                out[o] ^= 0x01;
            }
            out
        }
        MisbehaviourKind::Garbage => {
            if !rng.chance(prob) {
                return bytes;
            }
            let mut out = bytes;
            if rng.chance(0.5) {
                // A frame of random bytes: it passes framing and fails decoding or the MAC.
                let len = 4 * (4 + rng.below(60) as usize);
                out.extend_from_slice(&(0x8000_0000u32 | len as u32).to_be_bytes());
                out.extend((0..len).map(|_| rng.below(256) as u8));
            } else {
                let len = 1 + rng.below(64) as usize;
                out.extend((0..len).map(|_| rng.below(256) as u8));
            }
            out
        }
        MisbehaviourKind::Overrun | MisbehaviourKind::Echo => bytes,
    }
}

/// Re-seals one connection's outgoing frames with keys derived from the handshake, so that
/// frames can be added. See the module docs.
pub struct Resealer {
    role: Role,
    ecdh: EcdhKeypair,
    local_nonce: Option<[u8; 32]>,
    remote: Option<([u8; 32], [u8; 32])>,
    channel: Option<MacChannel>,
}

impl core::fmt::Debug for Resealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Resealer").field("role", &self.role).field("keyed", &self.channel.is_some()).finish()
    }
}

fn hello_of(frame_body: &[u8]) -> Option<([u8; 32], [u8; 32])> {
    let raw = RawMessage::parse(frame_body).ok()?;
    match raw.decode().ok()? {
        StellarMessage::Hello(h) => Some((h.cert.pubkey.key, h.nonce.0)),
        _ => None,
    }
}

impl Resealer {
    /// For a connection where the node has `role` and the X25519 secret `ecdh_secret`.
    pub fn new(role: Role, ecdh_secret: [u8; 32]) -> Self {
        Resealer { role, ecdh: EcdhKeypair::from_secret(ecdh_secret), local_nonce: None, remote: None, channel: None }
    }

    /// Whether the keys are known and frames can be added.
    pub fn is_keyed(&self) -> bool {
        self.channel.is_some()
    }

    /// Bytes delivered to the node: learn the remote HELLO.
    pub fn observe_incoming(&mut self, bytes: &[u8]) {
        if self.remote.is_some() {
            return;
        }
        for f in tap::frames(bytes) {
            if f.message_type == Some(MessageType::Hello) {
                self.remote = hello_of(&f.frame[4..]);
                self.try_key();
                return;
            }
        }
    }

    fn try_key(&mut self) {
        if self.channel.is_some() {
            return;
        }
        let (Some(local_nonce), Some((remote_public, remote_nonce))) = (self.local_nonce, self.remote) else {
            return;
        };
        let Ok(q) = self.ecdh.shared_secret(&remote_public) else { return };
        let keys = derive_mac_keys(self.role, &q, self.ecdh.public(), &remote_public, &local_nonce, &remote_nonce);
        self.channel = Some(MacChannel::new(&keys));
    }

    /// A write of the node, re-sealed, with `extra` StellarMessage XDRs sealed after it.
    /// Before the keys are known, the write passes unchanged and nothing is added.
    pub fn rewrite(&mut self, bytes: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + extra.iter().map(|x| x.len() + 48).sum::<usize>());
        for f in tap::frames(bytes) {
            match f.message_type {
                Some(MessageType::Hello) => {
                    if self.local_nonce.is_none() {
                        self.local_nonce = hello_of(&f.frame[4..]).map(|(_, nonce)| nonce);
                        self.try_key();
                    }
                    out.extend_from_slice(f.frame);
                }
                Some(MessageType::ErrorMsg) | None => out.extend_from_slice(f.frame),
                Some(_) => match self.channel.as_mut() {
                    Some(ch) => ch.seal_xdr(f.message_xdr, &mut out),
                    None => out.extend_from_slice(f.frame),
                },
            }
        }
        if let Some(ch) = self.channel.as_mut() {
            for x in extra {
                ch.seal_xdr(x, &mut out);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_auth::keys::derive_mac_keys;
    use overlay_proto::frame::FrameDecoder;

    #[test]
    fn bad_mac_flips_only_authenticated_frames() {
        let mut ch = MacChannel::new(&overlay_auth::MacKeys { send: [1; 32], recv: [2; 32] });
        let mut bytes = Vec::new();
        ch.seal(&overlay_proto::fixtures::transaction_message(1), &mut bytes).unwrap();
        let clean = bytes.clone();
        let out = damage(MisbehaviourKind::BadMac, 1.0, bytes, &mut SimRng::new(1));
        assert_eq!(out.len(), clean.len());
        assert_eq!(out[..out.len() - 1], clean[..clean.len() - 1]);
        assert_ne!(out.last(), clean.last());
    }

    #[test]
    fn garbage_adds_bytes() {
        let out = damage(MisbehaviourKind::Garbage, 1.0, vec![1, 2, 3], &mut SimRng::new(1));
        assert!(out.len() > 3 && out[..3] == [1, 2, 3]);
    }

    #[test]
    fn resealer_adds_frames_the_peer_accepts() {
        // Two parties; the resealer works for A (initiator) from what is on the wire.
        let (a_secret, b_secret) = ([3u8; 32], [4u8; 32]);
        let (a, b) = (EcdhKeypair::from_secret(a_secret), EcdhKeypair::from_secret(b_secret));
        let (na, nb) = ([5u8; 32], [6u8; 32]);
        let q = b.shared_secret(a.public()).unwrap();
        let b_keys = derive_mac_keys(Role::Acceptor, &q, b.public(), a.public(), &nb, &na);
        let mut b_chan = MacChannel::new(&b_keys);
        let mut r = Resealer::new(Role::Initiator, a_secret);
        // Feed the resealer the two HELLOs by hand.
        r.local_nonce = Some(na);
        r.remote = Some((*b.public(), nb));
        r.try_key();
        assert!(r.is_keyed());
        // A's node wrote a frame with its own (here: wrong) keys; the resealer fixes it up and
        // adds a transaction.
        let mut wrong = MacChannel::new(&overlay_auth::MacKeys { send: [9; 32], recv: [9; 32] });
        let mut written = Vec::new();
        wrong.seal(&overlay_proto::fixtures::transaction_message(1), &mut written).unwrap();
        let extra = overlay_proto::wire::encode_message(&overlay_proto::fixtures::transaction_message(2)).unwrap();
        let out = r.rewrite(&written, &[extra]);
        let mut dec = FrameDecoder::new();
        dec.set_authenticated();
        dec.feed(&out);
        let mut n = 0;
        while let Some(body) = dec.next_frame().unwrap() {
            let raw = RawMessage::parse(body).unwrap();
            b_chan.open(&raw).expect("the peer accepts the frame");
            n += 1;
        }
        assert_eq!(n, 2);
    }
}
