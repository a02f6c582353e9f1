//! Properties of the handshake machine and the MAC channel.

use overlay_auth::{
    Handshake, HandshakeError, HelloParams, LocalAuth, MacChannel, MacKeys, MacSealer, NodeIdentity, OpenPolicy,
    Progress,
};
use overlay_proto::Network;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::wire;
use overlay_proto::wire::RawMessage;
use overlay_proto::xdr::{ErrorCode, SError, StellarMessage, Uint256};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

fn auth(seed: u8) -> LocalAuth {
    LocalAuth::new(
        NodeIdentity::from_seed([seed; 32]),
        Network::Testnet.id(),
        [seed ^ 0x33; 32],
        HelloParams::default(),
    )
}

#[derive(Default)]
struct Side {
    decoder: FrameDecoder,
    established: Option<MacChannel>,
    failed: Option<HandshakeError>,
}

/// Move bytes from `from` to `to.decoder` in chunks, applying `corrupt` to the stream.
fn pump(
    from: &mut Handshake,
    to: &mut Handshake,
    side: &mut Side,
    chunk: usize,
    corrupt: &mut Option<(usize, u8)>,
    sent: &mut usize,
) {
    while let Some(frame) = from.poll_transmit() {
        let mut frame = frame;
        if let Some((at, mask)) = *corrupt {
            if at >= *sent && at < *sent + frame.len() {
                frame[at - *sent] ^= mask;
                *corrupt = None;
            }
        }
        *sent += frame.len();
        for c in frame.chunks(chunk.max(1)) {
            side.decoder.feed(c);
        }
    }
    loop {
        if side.failed.is_some() || side.established.is_some() {
            return;
        }
        let body = match side.decoder.next_frame() {
            Ok(Some(b)) => b.to_vec(),
            Ok(None) => return,
            Err(_) => {
                side.failed = Some(HandshakeError::Finished);
                return;
            }
        };
        match to.handle_frame(&body, NOW, &OpenPolicy) {
            Ok(Progress::Established(e)) => side.established = Some(e.channel),
            Ok(_) => {}
            Err(e) => side.failed = Some(e),
        }
    }
}

fn run(chunk_a: usize, chunk_b: usize, mut corrupt: Option<(usize, u8)>) -> (Side, Side) {
    let mut a = auth(1).initiate(NOW, [7; 32]);
    let mut b = auth(2).accept(NOW, [8; 32]);
    let (mut sa, mut sb) = (Side::default(), Side::default());
    let (mut sent_a, mut sent_b) = (0, 0);
    let mut corrupt_b =
        corrupt.map(|(at, m)| (at.saturating_sub(400), m)).filter(|_| corrupt.is_some_and(|(at, _)| at >= 400));
    if corrupt_b.is_some() {
        corrupt = None;
    }
    for _ in 0..6 {
        pump(&mut a, &mut b, &mut sb, chunk_a, &mut corrupt, &mut sent_a);
        pump(&mut b, &mut a, &mut sa, chunk_b, &mut corrupt_b, &mut sent_b);
    }
    (sa, sb)
}

fn check_pair(a: &mut MacChannel, b: &mut MacChannel) -> bool {
    let msg = StellarMessage::GetTxSet(Uint256([5; 32]));
    let mut f = Vec::new();
    a.seal(&msg, &mut f).unwrap();
    let mut d = FrameDecoder::new();
    d.set_authenticated();
    d.feed(&f);
    let body = d.next_frame().unwrap().unwrap();
    b.open(&RawMessage::parse(body).unwrap()).is_ok()
}

proptest! {
    /// Any chunking of the byte streams completes the handshake, with matching keys.
    #[test]
    fn chunking_never_changes_the_outcome(chunk_a in 1usize..400, chunk_b in 1usize..400) {
        let (mut sa, mut sb) = run(chunk_a, chunk_b, None);
        let (a, b) = (sa.established.as_mut().expect("A established"), sb.established.as_mut().expect("B established"));
        prop_assert!(check_pair(a, b));
        prop_assert!(check_pair(b, a));
    }

    /// A corrupted byte anywhere in the handshake either makes it fail, or leaves it with
    /// channels that still interoperate (HELLO fields outside identity and keys are not
    /// authenticated, e.g. versionStr). Never an established channel with wrong keys.
    #[test]
    fn corruption_never_yields_a_broken_channel(at in 0usize..700, mask in 1u8..=255) {
        let (mut sa, mut sb) = run(64, 64, Some((at, mask)));
        if let (Some(a), Some(b)) = (sa.established.as_mut(), sb.established.as_mut()) {
            prop_assert!(check_pair(a, b) && check_pair(b, a), "established with mismatched keys");
        }
    }

    /// Any single-bit change to an authenticated frame is rejected.
    #[test]
    fn every_bit_flip_is_caught(payload in prop::collection::vec(any::<u8>(), 32), bit in 0usize..(8 * 60)) {
        let keys = MacKeys { send: [3; 32], recv: [4; 32] };
        let mut tx = MacChannel::new(&keys);
        let mut rx = MacChannel::new(&MacKeys { send: keys.recv, recv: keys.send });
        let hash: [u8; 32] = payload.try_into().unwrap();
        let mut f = Vec::new();
        tx.seal(&StellarMessage::GetTxSet(Uint256(hash)), &mut f).unwrap();
        let mut body = f[4..].to_vec();
        // Bits of the sequence, the message and the MAC (skip the version word).
        let bit = 32 + bit % ((body.len() - 4) * 8);
        body[bit / 8] ^= 1 << (bit % 8);
        if let Ok(raw) = RawMessage::parse(&body) {
            prop_assert!(rx.open(&raw).is_err());
        }
    }

    /// Frames written unsealed and sealed in place, in batches of any sizes, are byte for
    /// byte the frames sealed directly: sequences, MACs, and ERROR_MSG left unauthenticated.
    #[test]
    fn sealing_in_place_equals_sealing_directly(
        kinds in prop::collection::vec(0u8..3, 1..40),
        cuts in prop::collection::vec(1usize..6, 1..40),
    ) {
        let keys = MacKeys { send: [5; 32], recv: [6; 32] };
        let (mut direct, _) = MacChannel::new(&keys).split();
        let (mut in_place, _) = MacChannel::new(&keys).split();
        let xdrs: Vec<Vec<u8>> = kinds.iter().enumerate().map(|(i, k)| {
            let msg = match k {
                0 => StellarMessage::GetScpState(i as u32),
                1 => StellarMessage::GetTxSet(Uint256([i as u8; 32])),
                _ => StellarMessage::ErrorMsg(SError { code: ErrorCode::Load, msg: "x".try_into().unwrap() }),
            };
            wire::encode_message(&msg).unwrap()
        }).collect();
        let mut expected = Vec::new();
        for x in &xdrs {
            direct.seal_xdr(x, &mut expected);
        }
        let mut got = Vec::new();
        let mut rest = &xdrs[..];
        for cut in cuts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (batch, tail) = rest.split_at((*cut).min(rest.len()));
            let mut frames = Vec::new();
            for x in batch {
                MacSealer::frame_unsealed(x, &mut frames);
            }
            prop_assert!(in_place.seal_in_place(&mut frames).is_ok());
            got.extend_from_slice(&frames);
            rest = tail;
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(in_place.send_sequence(), direct.send_sequence());
    }

    /// Bytes that are not whole frames are refused at the first bad frame; the frames
    /// before it are sealed and counted.
    #[test]
    fn cut_frames_are_refused(cut in 1usize..200) {
        let keys = MacKeys { send: [5; 32], recv: [6; 32] };
        let (mut sealer, _) = MacChannel::new(&keys).split();
        let xdr = wire::encode_message(&StellarMessage::GetTxSet(Uint256([9; 32]))).unwrap();
        let mut frames = Vec::new();
        MacSealer::frame_unsealed(&xdr, &mut frames);
        let one = frames.len();
        MacSealer::frame_unsealed(&xdr, &mut frames);
        let end = one + 1 + cut % (one - 1);
        let result = sealer.seal_in_place(&mut frames[..end]);
        prop_assert_eq!(result.map_err(|e| e.offset), Err(one));
        prop_assert_eq!(sealer.send_sequence(), 1);
    }
}
