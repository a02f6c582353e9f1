//! Peers for the tests that compare a peer running everything itself with one whose reader
//! or writer was taken out: an initiator and two identical acceptors.

use overlay_auth::{HelloParams, LocalAuth, NodeIdentity, OpenPolicy};
use overlay_flow::LedgerLimits;
use overlay_node::{Peer, PeerConfig, PeerEvent};
use overlay_proto::{Network, Timestamp};
use std::sync::Arc;

pub const UNIX: u64 = 1_800_000_000;

fn local(seed: u8, port: u16) -> LocalAuth {
    let hello = HelloParams { listening_port: port, ..HelloParams::default() };
    LocalAuth::new(NodeIdentity::from_seed([seed; 32]), Network::Standalone.id(), [seed ^ 9; 32], hello)
}

fn acceptor(now: Timestamp, config: &Arc<PeerConfig>) -> Peer {
    let hs = local(2, 11626).accept(UNIX, [2; 32]);
    Peer::new(hs, "127.0.0.1:50000".parse().unwrap(), config.clone(), LedgerLimits::default(), now, 2)
}

/// The peer's events, admitting it when it authenticates.
pub fn drain(p: &mut Peer, now: Timestamp) -> Vec<PeerEvent> {
    let mut log = Vec::new();
    while let Some(e) = p.poll_event() {
        if let PeerEvent::Authenticated(_) = e {
            p.admit(now, None, 0);
        }
        log.push(e);
    }
    log
}

/// An initiator and two identical acceptors after the handshake, all three admitted. The
/// two acceptors got the same bytes, reported the same events and sent the same bytes.
pub fn trio(now: Timestamp) -> (Peer, Peer, Peer) {
    let config = Arc::new(PeerConfig::default());
    let hs = local(1, 11625).initiate(UNIX, [1; 32]);
    let mut a = Peer::new(hs, "127.0.0.1:11626".parse().unwrap(), config.clone(), LedgerLimits::default(), now, 1);
    let (mut one, mut two) = (acceptor(now, &config), acceptor(now, &config));
    for _ in 0..100 {
        let mut moved = false;
        while let Some(bytes) = a.poll_transmit(now) {
            one.handle_bytes(now, UNIX, &bytes, &OpenPolicy);
            two.handle_bytes(now, UNIX, &bytes, &OpenPolicy);
            moved = true;
        }
        assert_eq!(drain(&mut one, now), drain(&mut two, now));
        while let Some(bytes) = one.poll_transmit(now) {
            assert_eq!(two.poll_transmit(now).as_deref(), Some(&bytes[..]));
            a.handle_bytes(now, UNIX, &bytes, &OpenPolicy);
            moved = true;
        }
        drain(&mut a, now);
        if !moved {
            break;
        }
    }
    assert!(one.is_authenticated() && two.is_authenticated() && a.is_authenticated());
    (a, one, two)
}
