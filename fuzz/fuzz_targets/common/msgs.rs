//! Messages built from a fuzz input: PEERS lists and survey messages, and picking from
//! lists by index.

#![allow(dead_code)]

use crate::pool::POOL;
use crate::world::Reader;
use arbitrary::{Arbitrary, Unstructured};
use overlay_proto::xdr::{PeerAddress as XdrPeerAddress, PeerAddressIp, StellarMessage};

/// The `i`-th element, modulo the length.
pub fn pick<T>(list: &[T], i: usize) -> Option<&T> {
    (!list.is_empty()).then(|| &list[i % list.len()])
}

/// A PEERS message of up to 100 entries: IPv4 (mostly 198.51.100.x) or IPv6, any port.
pub fn peers_message(r: &mut Reader) -> StellarMessage {
    let n = usize::from(r.u8() % 101);
    let list: Vec<XdrPeerAddress> = (0..n)
        .map(|_| {
            let kind = r.u8();
            let ip = if kind & 1 == 0 {
                let mut a = [0u8; 4];
                let s = r.bytes(4);
                a[..s.len()].copy_from_slice(s);
                // Mostly documentation-range (public-like) addresses, some of any kind.
                if kind & 2 == 0 {
                    a[..3].copy_from_slice(&[198, 51, 100]);
                }
                PeerAddressIp::IPv4(a)
            } else {
                let mut a = [0u8; 16];
                let s = r.bytes(16);
                a[..s.len()].copy_from_slice(s);
                PeerAddressIp::IPv6(a)
            };
            let port = if kind & 4 == 0 { u32::from(r.u16()) } else { r.u32() };
            XdrPeerAddress { ip, port, num_failures: r.u32() }
        })
        .collect();
    StellarMessage::Peers(list.try_into().expect("at most 100"))
}

/// A survey message: recorded, or of the chosen kind from `Arbitrary`.
pub fn survey(r: &mut Reader) -> Option<StellarMessage> {
    let kind = r.u8();
    if kind & 0x80 == 0 {
        return pick(&POOL.surveys, usize::from(kind)).cloned();
    }
    let blob = r.blob();
    let mut u = Unstructured::new(blob);
    Some(match kind % 4 {
        0 => StellarMessage::TimeSlicedSurveyStartCollecting(Arbitrary::arbitrary(&mut u).ok()?),
        1 => StellarMessage::TimeSlicedSurveyStopCollecting(Arbitrary::arbitrary(&mut u).ok()?),
        2 => StellarMessage::TimeSlicedSurveyRequest(Arbitrary::arbitrary(&mut u).ok()?),
        _ => StellarMessage::TimeSlicedSurveyResponse(Arbitrary::arbitrary(&mut u).ok()?),
    })
}
