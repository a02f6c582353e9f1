//! Two [`Peer`]s connected in memory on virtual time.

use overlay_auth::{HelloParams, LocalAuth, NodeIdentity, OpenPolicy};
use overlay_flow::LedgerLimits;
use overlay_node::{DropReason, Peer, PeerConfig, PeerEvent};
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::{DontHave, MessageType, StellarMessage};
use overlay_proto::{Network, Timestamp};
use std::sync::Arc;
use std::time::Duration;

const UNIX: u64 = 1_800_000_000;

struct Pair {
    a: Peer,
    b: Peer,
    now: Timestamp,
    events_a: Vec<PeerEvent>,
    events_b: Vec<PeerEvent>,
}

fn local(seed: u8, port: u16) -> LocalAuth {
    let hello = HelloParams { listening_port: port, ..HelloParams::default() };
    LocalAuth::new(NodeIdentity::from_seed([seed; 32]), Network::Standalone.id(), [seed ^ 9; 32], hello)
}

impl Pair {
    fn new(config: PeerConfig) -> Self {
        let now = Timestamp::from_secs(100);
        let config = Arc::new(config);
        let a = Peer::new(
            local(1, 11625).initiate(UNIX, [1; 32]),
            "127.0.0.1:11626".parse().unwrap(),
            config.clone(),
            LedgerLimits::default(),
            now,
            1,
        );
        let b = Peer::new(
            local(2, 11626).accept(UNIX, [2; 32]),
            "127.0.0.1:50000".parse().unwrap(),
            config,
            LedgerLimits::default(),
            now,
            2,
        );
        Pair { a, b, now, events_a: vec![], events_b: vec![] }
    }

    /// Deliver everything both ways until quiet, admitting on authentication.
    fn run(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(bytes) = self.a.poll_transmit(self.now) {
                self.b.handle_bytes(self.now, UNIX, &bytes, &OpenPolicy);
                moved = true;
            }
            while let Some(bytes) = self.b.poll_transmit(self.now) {
                self.a.handle_bytes(self.now, UNIX, &bytes, &OpenPolicy);
                moved = true;
            }
            for (p, log) in [(&mut self.a, &mut self.events_a), (&mut self.b, &mut self.events_b)] {
                while let Some(e) = p.poll_event() {
                    match &e {
                        PeerEvent::Authenticated(_) => p.admit(self.now, None, 0),
                        // Answer pings as a node without that quorum set does.
                        PeerEvent::Message { message, .. }
                            if matches!(**message, StellarMessage::GetScpQuorumset(_)) =>
                        {
                            let StellarMessage::GetScpQuorumset(h) = &**message else { unreachable!() };
                            let dont_have = DontHave { type_: MessageType::ScpQuorumset, req_hash: h.clone() };
                            p.send(self.now, &StellarMessage::DontHave(dont_have)).unwrap();
                        }
                        _ => {}
                    }
                    log.push(e);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
        panic!("did not settle");
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => {
                    self.now = t;
                    self.a.handle_timeout(t);
                    self.b.handle_timeout(t);
                    self.run();
                }
                _ => break,
            }
        }
        self.now = end;
    }
}

fn messages(events: &[PeerEvent], ty: MessageType) -> usize {
    events.iter().filter(|e| matches!(e, PeerEvent::Message { message, .. } if message.discriminant() == ty)).count()
}

fn closed(events: &[PeerEvent]) -> Option<&DropReason> {
    events.iter().find_map(|e| match e {
        PeerEvent::Closed(r) => Some(r),
        _ => None,
    })
}

// C++: OverlayTests "loopback peer hello": both sides authenticate.
#[test]
fn pair_authenticates_and_exchanges_scp_state_requests() {
    let mut p = Pair::new(PeerConfig::default());
    p.run();
    assert!(p.a.is_authenticated() && p.b.is_authenticated());
    assert_eq!(messages(&p.events_a, MessageType::GetScpState), 1);
    assert_eq!(messages(&p.events_b, MessageType::GetScpState), 1);
    assert_eq!(p.b.address().port, 11625, "the initiator's listening port replaces the ephemeral one");
    let stats = p.a.flow_stats();
    assert_eq!(stats.outbound.capacity_msgs, 200, "{stats:?}");
}

#[test]
fn a_thousand_transactions_get_through_as_capacity_is_regranted() {
    let mut p = Pair::new(PeerConfig::default());
    p.run();
    for i in 0..1000 {
        p.a.send(p.now, &transaction_message(i)).unwrap();
        if i % 50 == 0 {
            p.run();
        }
    }
    p.run();
    assert_eq!(messages(&p.events_b, MessageType::Transaction), 1000);
    assert!(closed(&p.events_a).is_none() && closed(&p.events_b).is_none());
}

// C++: OverlayTests "reject peers who dont handshake quickly".
#[test]
fn silent_pending_connection_is_dropped_by_the_idle_rule_at_the_first_tick() {
    let mut p = Pair::new(PeerConfig::default());
    // Nothing is delivered: the acceptor never sees the HELLO.
    let t0 = p.now;
    while p.b.poll_event().is_some() {}
    p.b.handle_timeout(t0 + Duration::from_secs(5));
    let mut events = vec![];
    while let Some(e) = p.b.poll_event() {
        events.push(e);
    }
    assert_eq!(closed(&events), Some(&DropReason::IdleTimeout));
    assert!(p.b.poll_transmit(p.now).is_none(), "the idle drop sends no ERROR");
}

#[test]
fn authenticated_pair_stays_up_with_pings_and_measures_latency() {
    let mut p = Pair::new(PeerConfig::default());
    p.run();
    p.advance(Duration::from_secs(120));
    assert!(closed(&p.events_a).is_none(), "{:?}", closed(&p.events_a));
    assert!(p.a.stats().latency_ms.is_some());
    // Pings (GET_SCP_QUORUMSET) are delivered to the node for an answer.
    assert!(messages(&p.events_b, MessageType::GetScpQuorumset) >= 1);
}

#[test]
fn garbage_after_authentication_is_a_frame_error_without_error_message() {
    let mut p = Pair::new(PeerConfig::default());
    p.run();
    p.b.handle_bytes(p.now, UNIX, &[0x80, 0, 0, 0], &OpenPolicy);
    let mut events = vec![];
    while let Some(e) = p.b.poll_event() {
        events.push(e);
    }
    assert_eq!(closed(&events).map(|r| r.text()), Some("error during read".into()));
    assert!(p.b.poll_transmit(p.now).is_none());
    assert!(p.b.is_finished());
}

// §1.2: after authentication frames up to 16 MiB are accepted; a quorum set of 150
// validators is over the 4096-byte pre-authentication limit.
#[test]
fn frames_over_4_kib_are_accepted_after_authentication() {
    let mut p = Pair::new(PeerConfig::default());
    p.run();
    let validators: Vec<overlay_proto::xdr::NodeId> =
        (0..150u8).map(|i| overlay_proto::NodeId([i; 32]).to_xdr()).collect();
    let qset = StellarMessage::ScpQuorumset(overlay_proto::xdr::ScpQuorumSet {
        threshold: 100,
        validators: validators.try_into().unwrap(),
        inner_sets: vec![].try_into().unwrap(),
    });
    assert!(overlay_proto::wire::encode_message(&qset).unwrap().len() > 4096);
    p.a.send(p.now, &qset).unwrap();
    p.run();
    assert_eq!(messages(&p.events_b, MessageType::ScpQuorumset), 1);
    assert!(closed(&p.events_b).is_none(), "{:?}", closed(&p.events_b));
}
