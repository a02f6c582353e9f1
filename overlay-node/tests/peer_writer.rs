//! A peer whose writer was taken out ([`Peer::take_writer`]) sends what a peer sealing its
//! own frames sends: two identical acceptors get the same inputs from one initiator and are
//! asked to send the same messages; one seals its frames itself, the other's batches are
//! sealed by its [`PeerWriter`]. After sealing, the bytes must be the same, and the
//! initiator must read them.

mod common;

use common::{UNIX, drain, trio};
use overlay_auth::OpenPolicy;
use overlay_node::{DropReason, Peer, PeerEvent, PeerWriter};
use overlay_proto::Timestamp;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::{DontHave, MessageType, StellarMessage, Uint256};
use proptest::prelude::*;

/// An initiator and two identical acceptors: `inside` seals its own frames, `outside` had
/// its writer taken once admitted.
struct Trio {
    a: Peer,
    inside: Peer,
    outside: Peer,
    writer: PeerWriter,
    now: Timestamp,
    /// What the initiator got from the acceptors after the writer was taken.
    a_events: Vec<PeerEvent>,
}

impl Trio {
    fn new() -> Self {
        let now = Timestamp::from_secs(100);
        let (mut a, mut inside, mut outside) = trio(now);
        for p in [&mut inside, &mut outside] {
            p.send(now, &StellarMessage::GetScpState(0)).unwrap();
        }
        assert!(outside.take_writer().is_none(), "not while sealed frames wait");
        while let Some(bytes) = inside.poll_transmit(now) {
            assert_eq!(outside.poll_transmit(now).as_deref(), Some(&bytes[..]));
            a.handle_bytes(now, UNIX, &bytes, &OpenPolicy);
        }
        drain(&mut a, now);
        let writer = outside.take_writer().expect("admitted and drained: the writer can be taken");
        assert!(outside.take_writer().is_none(), "only once");
        Trio { a, inside, outside, writer, now, a_events: vec![] }
    }

    /// Both acceptors' batches: the same once `outside`'s are sealed. The initiator reads them.
    fn exchange(&mut self) {
        assert_eq!(drain(&mut self.inside, self.now), drain(&mut self.outside, self.now));
        while let Some(bytes) = self.inside.poll_transmit(self.now) {
            let mut other = self.outside.poll_transmit(self.now).expect("a batch on both sides");
            self.writer.seal(&mut other).expect("whole frames");
            assert_eq!(other, bytes);
            self.a.handle_bytes(self.now, UNIX, &bytes, &OpenPolicy);
        }
        assert!(self.outside.poll_transmit(self.now).is_none());
        self.a_events.extend(drain(&mut self.a, self.now));
    }

    fn both(&mut self, f: impl Fn(&mut Peer, Timestamp)) {
        f(&mut self.inside, self.now);
        f(&mut self.outside, self.now);
    }
}

fn message(kind: u8, i: u64) -> StellarMessage {
    match kind % 3 {
        0 => transaction_message(i),
        1 => StellarMessage::GetScpState(i as u32),
        _ => StellarMessage::DontHave(DontHave { type_: MessageType::TxSet, req_hash: Uint256([i as u8; 32]) }),
    }
}

#[test]
fn frames_sealed_elsewhere_are_read_by_the_remote() {
    let mut t = Trio::new();
    t.both(|p, now| p.send(now, &StellarMessage::GetScpState(9)).unwrap());
    t.both(|p, now| p.send(now, &transaction_message(3)).unwrap());
    t.exchange();
    let got: Vec<_> = t.a_events.iter().filter(|e| matches!(e, PeerEvent::Message { .. })).collect();
    assert_eq!(got.len(), 2, "{:?}", t.a_events);
    assert!(!t.a.is_closed());
}

#[test]
fn a_closing_error_goes_out_unauthenticated_after_sealed_frames() {
    let mut t = Trio::new();
    t.both(|p, now| p.send(now, &StellarMessage::GetScpState(1)).unwrap());
    t.both(|p, now| p.close(now, DropReason::DROPPED_BY_USER));
    t.exchange();
    assert!(matches!(t.a_events.last(), Some(PeerEvent::Closed(DropReason::RemoteError(_)))), "{:?}", t.a_events);
    assert!(t.outside.is_finished());
}

#[test]
fn bytes_that_are_not_frames_are_a_local_drop() {
    let mut t = Trio::new();
    assert!(t.writer.seal(&mut [0, 0, 0, 9, 1, 2]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sealing_elsewhere_changes_nothing(
        kinds in proptest::collection::vec(any::<u8>(), 1..60),
        exchange_every in 1usize..10,
        close_at in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut t = Trio::new();
        let close_at = close_at.map(|i| i.index(kinds.len()));
        for (i, kind) in kinds.iter().enumerate() {
            let m = message(*kind, 1000 + i as u64);
            t.both(|p, now| { let _ = p.send(now, &m); });
            if close_at == Some(i) {
                t.both(|p, now| p.close(now, DropReason::DROPPED_BY_USER));
            }
            if i % exchange_every == 0 {
                t.exchange();
            }
        }
        t.exchange();
        prop_assert_eq!(t.inside.is_finished(), t.outside.is_finished());
        let closed = t.a_events.iter().any(|e| matches!(e, PeerEvent::Closed(_)));
        prop_assert_eq!(closed, close_at.is_some(), "the initiator closes only on the ERROR: {:?}", t.a_events);
    }
}
