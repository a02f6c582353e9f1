//! Properties of the streaming frame decoder.

use overlay_proto::FrameError;
use overlay_proto::frame::{FrameDecoder, LAST_FRAGMENT_BIT, MAX_UNAUTH_MESSAGE_SIZE};
use proptest::prelude::*;

fn wire_of(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for b in bodies {
        wire.extend_from_slice(&(b.len() as u32 | LAST_FRAGMENT_BIT).to_be_bytes());
        wire.extend_from_slice(b);
    }
    wire
}

proptest! {
    /// Any chunking of a stream of valid frames yields exactly those frames, in order.
    #[test]
    fn chunking_does_not_change_frames(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..600), 0..12),
        cuts in prop::collection::vec(1usize..700, 0..40),
    ) {
        let wire = wire_of(&bodies);
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut cuts = cuts.into_iter().cycle();
        while !rest.is_empty() {
            let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
            d.feed(&rest[..n]);
            rest = &rest[n..];
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f.to_vec());
            }
            // Bounded: never more than one partial frame is held after draining.
            let bound = 4 + MAX_UNAUTH_MESSAGE_SIZE as usize;
            prop_assert!(d.buffered_len() < bound, "buffered {}", d.buffered_len());
        }
        prop_assert_eq!(got, bodies);
        prop_assert_eq!(d.buffered_len(), 0);
    }

    /// Arbitrary bytes never panic, and an error is sticky.
    #[test]
    fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..9000), auth in any::<bool>()) {
        let mut d = FrameDecoder::new();
        if auth { d.set_authenticated(); }
        d.feed(&data);
        let mut frames = 0;
        loop {
            match d.next_frame() {
                Ok(Some(_)) => frames += 1,
                Ok(None) => break,
                Err(e) => {
                    let known = matches!(e, FrameError::Empty | FrameError::TooLarge { .. });
                    prop_assert!(known, "unexpected {:?}", e);
                    prop_assert_eq!(d.next_frame(), Err(e));
                    break;
                }
            }
            prop_assert!(frames <= data.len(), "frames {}", frames);
        }
    }
}
