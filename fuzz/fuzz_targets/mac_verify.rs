#![no_main]
//! MAC verification fed arbitrary bodies, and valid frames with arbitrary edits.
//!
//! Checks: no panic; an edited authenticated frame never verifies; an unedited one does.

use libfuzzer_sys::fuzz_target;
use overlay_auth::{MacChannel, MacKeys};
use overlay_proto::wire::RawMessage;

fuzz_target!(|input: (u8, Vec<u8>, Vec<(u16, u8)>)| {
    let (key_seed, payload, edits) = input;
    // Both keys non-zero: a zero receive key is rejected by design (§2.2).
    let keys = MacKeys { send: [key_seed | 1; 32], recv: [(key_seed | 1) ^ 2; 32] };
    let mut tx = MacChannel::new(&keys);
    let mut rx = MacChannel::new(&MacKeys { send: keys.recv, recv: keys.send });

    // Arbitrary bytes as a body: must not panic, and verifies only by chance of a valid MAC.
    if let Ok(raw) = RawMessage::parse(&payload) {
        let _ = rx.clone().open(&raw);
    }

    // A valid GET_SCP_QUORUMSET-shaped message built from the payload, then edited.
    let mut xdr = 9i32.to_be_bytes().to_vec();
    let mut hash = [0u8; 32];
    for (i, b) in payload.iter().take(32).enumerate() {
        hash[i] = *b;
    }
    xdr.extend_from_slice(&hash);
    let mut frame = Vec::new();
    tx.seal_xdr(&xdr, &mut frame);
    let mut body = frame[4..].to_vec();
    let original = body.clone();
    for (at, mask) in edits {
        let i = usize::from(at) % body.len();
        body[i] ^= mask;
    }
    match RawMessage::parse(&body) {
        Ok(raw) => {
            let result = rx.open(&raw);
            // The version word is not covered by the MAC but must be 0 to parse, so any
            // accepted body equals the original one.
            if body == original {
                assert!(result.is_ok());
            } else if raw.message_type() != Some(overlay_proto::xdr::MessageType::ErrorMsg) {
                assert!(result.is_err(), "an edited frame verified");
            }
        }
        Err(_) => assert_ne!(body, original),
    }
});
