//! A peer whose reader was taken out ([`Peer::take_reader`]) behaves as one reading its own
//! bytes: two identical acceptors get the same stream from one initiator, one reads it
//! itself, the other through its [`PeerReader`] and `handle_opened`; their events and what
//! they send must be the same, whatever the chunking and wherever the stream is damaged.

mod common;

use common::{UNIX, trio};
use overlay_auth::OpenPolicy;
use overlay_node::{DropReason, Peer, PeerEvent, PeerReader};
use overlay_proto::Timestamp;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::{DontHave, FloodAdvert, Hash, MessageType, StellarMessage, Uint256};
use proptest::prelude::*;

/// An initiator and two identical acceptors: `inside` reads its bytes, `outside` had its
/// reader taken once admitted.
struct Trio {
    a: Peer,
    inside: Peer,
    outside: Peer,
    reader: PeerReader,
    now: Timestamp,
    inside_events: Vec<PeerEvent>,
    outside_events: Vec<PeerEvent>,
    /// `outside`'s reader found a reason to drop the connection.
    failed: bool,
}

fn drain(p: &mut Peer, now: Timestamp, log: &mut Vec<PeerEvent>) {
    log.extend(common::drain(p, now));
}

impl Trio {
    fn new() -> Self {
        let now = Timestamp::from_secs(100);
        let (a, inside, mut outside) = trio(now);
        let reader = outside.take_reader().expect("admitted: the reader can be taken");
        assert!(outside.take_reader().is_none(), "only once");
        // From here on the logs hold what the initiator sends next.
        Trio { a, inside, outside, reader, now, inside_events: vec![], outside_events: vec![], failed: false }
    }

    /// The initiator's pending bytes, as one stream.
    fn stream(&mut self) -> Vec<u8> {
        std::iter::from_fn(|| self.a.poll_transmit(self.now)).flatten().collect()
    }

    /// Give `chunk` to both acceptors, each its own way.
    fn deliver(&mut self, chunk: &[u8]) {
        self.inside.handle_bytes(self.now, UNIX, chunk, &OpenPolicy);
        if !self.failed {
            let mut opened = Vec::new();
            let result = self.reader.read(chunk, &mut opened);
            for o in opened {
                self.outside.handle_opened(self.now, o);
            }
            if let Err(reason) = result {
                self.failed = true;
                self.outside.close(self.now, reason);
            }
        }
        drain(&mut self.inside, self.now, &mut self.inside_events);
        drain(&mut self.outside, self.now, &mut self.outside_events);
        // Their answers (grants among them) are the same, and go back to the initiator.
        while let Some(bytes) = self.inside.poll_transmit(self.now) {
            assert_eq!(self.outside.poll_transmit(self.now).as_deref(), Some(&bytes[..]));
            self.a.handle_bytes(self.now, UNIX, &bytes, &OpenPolicy);
        }
        assert!(self.outside.poll_transmit(self.now).is_none());
        while self.a.poll_event().is_some() {}
    }

    fn assert_same(&self) {
        assert_eq!(self.inside_events, self.outside_events);
        assert_eq!(self.inside.is_closed(), self.outside.is_closed());
        assert_eq!(self.inside.stats().messages_read > 0, self.outside.stats().messages_read > 0);
    }
}

fn message(kind: u8, i: u64) -> StellarMessage {
    match kind % 40 {
        0..=19 => transaction_message(i),
        20..=25 => StellarMessage::GetScpState(i as u32),
        26..=31 => {
            StellarMessage::FloodAdvert(FloodAdvert { tx_hashes: vec![Hash([i as u8; 32]); 3].try_into().unwrap() })
        }
        32..=38 => StellarMessage::DontHave(DontHave { type_: MessageType::TxSet, req_hash: Uint256([i as u8; 32]) }),
        // PEERS to an acceptor is a protocol violation: the connection closes.
        _ => StellarMessage::Peers(vec![].try_into().unwrap()),
    }
}

#[test]
fn flood_messages_carry_their_identity_either_way() {
    let mut t = Trio::new();
    t.a.send(t.now, &transaction_message(7)).unwrap();
    let stream = t.stream();
    t.deliver(&stream);
    t.assert_same();
    let flood = t.outside_events.iter().find_map(|e| match e {
        PeerEvent::Message { message, flood, .. } if matches!(**message, StellarMessage::Transaction(_)) => {
            flood.clone()
        }
        _ => None,
    });
    let (xdr, id) = flood.expect("the transaction came with its XDR and identity");
    assert_eq!(id, overlay_flood::identity::flood_message_id_from_xdr(&xdr));
}

#[test]
fn a_tampered_message_is_a_mac_drop_either_way() {
    let mut t = Trio::new();
    t.a.send(t.now, &StellarMessage::GetScpState(5)).unwrap();
    let mut stream = t.stream();
    let last = stream.len() - 1;
    stream[last] ^= 1;
    t.deliver(&stream);
    t.assert_same();
    assert!(matches!(t.outside_events.last(), Some(PeerEvent::Closed(DropReason::Mac(_)))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn reading_elsewhere_changes_nothing(
        kinds in proptest::collection::vec(any::<u8>(), 1..40),
        chunks in proptest::collection::vec(1usize..700, 1..20),
        damage in proptest::option::of((any::<prop::sample::Index>(), 1u8..=255)),
    ) {
        let mut t = Trio::new();
        for (i, kind) in kinds.iter().enumerate() {
            let _ = t.a.send(t.now, &message(*kind, 1000 + i as u64));
        }
        let mut stream = t.stream();
        if let Some((at, mask)) = damage {
            let i = at.index(stream.len());
            stream[i] ^= mask;
        }
        let mut rest = &stream[..];
        for size in chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            t.deliver(chunk);
            rest = tail;
        }
        t.assert_same();
        let read = t.outside_events.iter().filter(|e| matches!(e, PeerEvent::Message { .. })).count();
        if damage.is_none() && kinds.iter().all(|k| k % 40 != 39) {
            prop_assert_eq!(read, kinds.len(), "every message read");
        }
    }
}
