#![no_main]
//! The frame decoder and message parser fed arbitrary bytes in arbitrary chunks.
//!
//! The first byte picks the authenticated limit, each following byte pair gives a chunk
//! length; the rest is the stream. Checks: no panic, errors are sticky, the buffer stays
//! bounded by one partial frame plus one chunk, and every complete frame that parses
//! re-encodes to the same bytes.

use libfuzzer_sys::fuzz_target;
use overlay_proto::frame::{FrameDecoder, MAX_MESSAGE_SIZE, MAX_UNAUTH_MESSAGE_SIZE};
use overlay_proto::wire::{self, RawMessage};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let (lens, stream) = rest.split_at(rest.len().min(16));
    let mut d = FrameDecoder::new();
    let limit = if mode & 1 == 1 {
        d.set_authenticated();
        MAX_MESSAGE_SIZE
    } else {
        MAX_UNAUTH_MESSAGE_SIZE
    };
    let mut chunks = lens.iter().map(|b| usize::from(*b) + 1).cycle();
    let mut pos = 0;
    let mut failed = None;
    while pos < stream.len() {
        let n = chunks.next().unwrap_or(stream.len()).min(stream.len() - pos);
        d.feed(&stream[pos..pos + n]);
        pos += n;
        loop {
            match d.next_frame() {
                Ok(Some(body)) => {
                    assert!(body.len() <= limit as usize);
                    if let Ok(raw) = RawMessage::parse(body) {
                        if let Ok(msg) = raw.decode() {
                            let again = wire::encode_message(&msg).expect("decoded messages encode");
                            assert_eq!(again, raw.message_xdr());
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    if let Some(prev) = failed {
                        assert_eq!(prev, e);
                    }
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_none() {
            assert!(d.buffered_len() <= 4 + limit as usize + 256);
        }
    }
});
