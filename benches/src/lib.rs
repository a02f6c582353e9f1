//! Benchmarks of the workspace, and the baselines they share.

use hmac::{Hmac, Mac};
use overlay_auth::MacChannel;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{Limits, ReadXdr, StellarMessage};
use sha2::{Digest, Sha256};
use std::hint::black_box;

/// `n` distinct 220-byte transactions, numbered from `first`, sealed by `channel` into one
/// byte stream.
pub fn sealed_transactions(channel: &mut MacChannel, first: u64, n: u64) -> Vec<u8> {
    let mut stream = Vec::new();
    for i in 0..n {
        channel.seal(&transaction_message(first + i), &mut stream).expect("a fixture encodes");
    }
    stream
}

/// The receive-path limit of PERF.md over every whole frame `decoder` holds: record mark,
/// HMAC verify over the received bytes with a pre-keyed state, XDR decode, SHA-256 of the
/// message. Returns the number of frames; panics on a frame that does not verify.
pub fn receive_path(decoder: &mut FrameDecoder, keyed: &Hmac<Sha256>) -> u64 {
    let mut n = 0;
    while let Some(body) = decoder.next_frame().expect("a valid frame") {
        let raw = RawMessage::parse(body).expect("a valid body");
        let mut mac = keyed.clone();
        mac.update(raw.mac_input());
        mac.verify_slice(raw.mac()).expect("a valid MAC");
        let msg = StellarMessage::from_xdr(raw.message_xdr(), Limits::none()).expect("valid XDR");
        black_box((msg, Sha256::digest(raw.message_xdr())));
        n += 1;
    }
    n
}
