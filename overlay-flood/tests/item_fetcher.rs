//! ItemFetcher behaviour (PROTOCOL.md §8.3, §8.4), mirroring stellar-core's
//! `ItemFetcherTests.cpp` with virtual time.

use overlay_flood::{
    FetchKind, FetchPeer, FetchRequest, FloodConfig, Floodgate, ItemFetcher, NoKnowers, Waiting, identity,
};
use overlay_proto::xdr::{ScpEnvelope, ScpStatement, ScpStatementConfirm, ScpStatementPledges};
use overlay_proto::{Hash256, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::time::Duration;

const REPLY: Duration = Duration::from_millis(1500);

/// An envelope like the C++ test's `makeEnvelope(id)`: a CONFIRM with `nPrepared = id` and a
/// fresh slot per call.
fn make_envelope(id: u32, slot: &mut u64) -> ScpEnvelope {
    *slot += 1;
    ScpEnvelope {
        statement: ScpStatement {
            slot_index: *slot,
            pledges: ScpStatementPledges::Confirm(ScpStatementConfirm { n_prepared: id, ..Default::default() }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn n_prepared(e: &ScpEnvelope) -> u32 {
    match &e.statement.pledges {
        ScpStatementPledges::Confirm(c) => c.n_prepared,
        _ => u32::MAX,
    }
}

fn w(e: &ScpEnvelope) -> Waiting<ScpEnvelope> {
    Waiting::scp(e.clone()).unwrap()
}

fn hash(s: &str) -> Hash256 {
    Hash256::sha256(s.as_bytes())
}

struct Fixture {
    f: ItemFetcher<u32>,
    rng: ChaCha8Rng,
    slot: u64,
    zero: Hash256,
    ten: Hash256,
    twelve: Hash256,
    fourteen: Hash256,
    ten_env: ScpEnvelope,
    twelve_env1: ScpEnvelope,
    twelve_env2: ScpEnvelope,
    received: Vec<u32>,
}

/// The common start of "ItemFetcher fetches": ten and twelve (twice) fetched, no peers.
fn fixture() -> Fixture {
    let mut slot = 0;
    let mut fx = Fixture {
        f: ItemFetcher::new(FetchKind::QuorumSet, &FloodConfig::default(), 1),
        rng: ChaCha8Rng::seed_from_u64(1),
        zero: hash("zero"),
        ten: hash("ten"),
        twelve: hash("twelve"),
        fourteen: hash("fourteen"),
        ten_env: make_envelope(10, &mut slot),
        twelve_env1: make_envelope(12, &mut slot),
        twelve_env2: make_envelope(12, &mut slot),
        slot,
        received: Vec::new(),
    };
    let t = Timestamp::ZERO;
    let (ten, twelve) = (fx.ten, fx.twelve);
    fx.f.fetch(t, &mut fx.rng, ten, w(&fx.ten_env), &[], &NoKnowers);
    fx.f.fetch(t, &mut fx.rng, twelve, w(&fx.twelve_env1), &[], &NoKnowers);
    fx.f.fetch(t, &mut fx.rng, twelve, w(&fx.twelve_env2), &[], &NoKnowers);
    assert_eq!(fx.f.last_seen_slot(&fx.zero), 0);
    assert_ne!(fx.f.last_seen_slot(&fx.ten), 0);
    assert_ne!(fx.f.last_seen_slot(&fx.twelve), 0);
    assert_eq!(fx.f.last_seen_slot(&fx.fourteen), 0);
    assert!(fx.f.fetching_for(&fx.zero).is_empty());
    assert_eq!(fx.f.fetching_for(&fx.ten), [&fx.ten_env]);
    assert_eq!(fx.f.fetching_for(&fx.twelve), [&fx.twelve_env1, &fx.twelve_env2]);
    // No peer: nothing asked, the first round restarts after 1500 ms.
    assert!(fx.f.poll_request().is_none());
    assert_eq!(fx.f.poll_timeout(), Some(Timestamp::ZERO + REPLY));
    fx
}

impl Fixture {
    fn recv(&mut self, h: Hash256) {
        let envs = self.f.handle_item(&h);
        self.received.extend(envs.iter().map(n_prepared));
    }

    fn all_clear(&self) {
        for h in [self.zero, self.ten, self.twelve, self.fourteen] {
            assert_eq!(self.f.last_seen_slot(&h), 0);
            assert!(self.f.fetching_for(&h).is_empty());
        }
    }
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "stop one"
#[test]
fn stop_one() {
    let mut fx = fixture();
    let id1 = identity::scp_message_id(&fx.twelve_env1).unwrap();
    fx.f.stop_fetch(&fx.twelve, &id1);
    assert_ne!(fx.f.last_seen_slot(&fx.twelve), 0);
    assert_eq!(fx.f.fetching_for(&fx.twelve), [&fx.twelve_env2]);
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    assert_eq!(fx.received, [12, 10]);
    fx.all_clear();
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "stop all"
#[test]
fn stop_all() {
    let mut fx = fixture();
    for e in [fx.twelve_env1.clone(), fx.twelve_env2.clone()] {
        fx.f.stop_fetch(&fx.twelve, &identity::scp_message_id(&e).unwrap());
    }
    assert_eq!(fx.f.last_seen_slot(&fx.twelve), 0);
    assert!(fx.f.fetching_for(&fx.twelve).is_empty());
    // The stopped tracker has no timer any more; ten's still runs.
    assert!(fx.f.tracker(&fx.twelve).unwrap().deadline().is_none());
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    assert_eq!(fx.received, [10]);
    fx.all_clear();
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "dont stop"
#[test]
fn dont_stop() {
    let mut fx = fixture();
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    // Last in, first out.
    assert_eq!(fx.received, [12, 12, 10]);
    let envs_order: Vec<u64> = {
        let mut f = fixture();
        f.f.handle_item(&f.twelve).iter().map(|e| e.statement.slot_index).collect()
    };
    assert!(envs_order[0] > envs_order[1], "LIFO: {envs_order:?}");
    fx.all_clear();
    // Received items stop their timers.
    assert_eq!(fx.f.poll_timeout(), None);
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "dont stop" / "no cache"
#[test]
fn no_cache() {
    let mut fx = fixture();
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    let zero_env1 = make_envelope(0, &mut fx.slot);
    let zero = fx.zero;
    fx.f.fetch(Timestamp::ZERO, &mut fx.rng, zero, w(&zero_env1), &[], &NoKnowers);
    fx.recv(zero);
    let zero_env2 = make_envelope(0, &mut fx.slot);
    fx.f.fetch(Timestamp::ZERO, &mut fx.rng, zero, w(&zero_env2), &[], &NoKnowers);
    assert_eq!(fx.received, [12, 12, 10, 0]);
    assert_ne!(fx.f.last_seen_slot(&zero), 0);
    assert_eq!(fx.f.last_seen_slot(&fx.ten), 0);
    assert_eq!(fx.f.last_seen_slot(&fx.twelve), 0);
    assert_eq!(fx.f.fetching_for(&zero), [&zero_env2]);
    assert!(fx.f.fetching_for(&fx.ten).is_empty());
    // Ours: the re-fetch runs again (stellar-core leaves a received tracker's timer off).
    assert!(fx.f.tracker(&zero).unwrap().deadline().is_some());
}

fn two_peers() -> Vec<FetchPeer<u32>> {
    vec![FetchPeer { peer: 1, ping_ms: 0 }, FetchPeer { peer: 2, ping_ms: 0 }]
}

fn drain(f: &mut ItemFetcher<u32>, at: Timestamp, log: &mut Vec<(u32, Timestamp)>) {
    while let Some(FetchRequest { peer, kind, .. }) = f.poll_request() {
        assert_eq!(kind, FetchKind::QuorumSet);
        log.push((peer, at));
    }
}

/// Jump to each deadline up to `until`, running timeouts; returns the asks.
fn run_until(
    f: &mut ItemFetcher<u32>,
    rng: &mut ChaCha8Rng,
    peers: &[FetchPeer<u32>],
    until: Timestamp,
    log: &mut Vec<(u32, Timestamp)>,
) {
    while let Some(t) = f.poll_timeout() {
        if t > until {
            break;
        }
        f.handle_timeout(t, rng, peers, &NoKnowers);
        drain(f, t, log);
    }
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "asks peers in turn" / "success" /
// "fetching once works" and "fetching twice does not trigger any additional network activity"
#[test]
fn asks_peers_in_turn_success() {
    for twice in [false, true] {
        let mut fx = fixture();
        fx.recv(fx.twelve);
        fx.recv(fx.ten);
        let peers = two_peers();
        let t0 = Timestamp::from_secs(10);
        let mut log = Vec::new();
        let zero = fx.zero;
        let e1 = make_envelope(0, &mut fx.slot);
        fx.f.fetch(t0, &mut fx.rng, zero, w(&e1), &peers, &NoKnowers);
        if twice {
            let e2 = make_envelope(0, &mut fx.slot);
            fx.f.fetch(t0, &mut fx.rng, zero, w(&e2), &peers, &NoKnowers);
        }
        drain(&mut fx.f, t0, &mut log);
        assert_eq!(log.len(), 1, "one ask, however many envelopes wait");
        // After the reply timeout (but before a retry round) the other peer is asked.
        run_until(&mut fx.f, &mut fx.rng, &peers, t0 + (REPLY * 2 - Duration::from_millis(1)), &mut log);
        assert_eq!(log.len(), 2);
        assert_ne!(log[0].0, log[1].0);
        assert!(log[1].1 - log[0].1 >= REPLY);
        fx.recv(zero);
        // A minute later nothing more happened.
        run_until(&mut fx.f, &mut fx.rng, &peers, t0 + Duration::from_secs(70), &mut log);
        assert_eq!(log.len(), 2);
        assert_eq!(log.iter().filter(|(p, _)| *p == 1).count(), 1);
        assert_eq!(log.iter().filter(|(p, _)| *p == 2).count(), 1);
        assert_eq!(fx.f.metrics().next_peer, 1);
    }
}

/// C++ `testNotFound(respond)`: 100 rounds of asking both peers.
fn not_found(respond: bool) {
    let mut fx = fixture();
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    let zero = fx.zero;
    let e1 = make_envelope(0, &mut fx.slot);
    let mut log = Vec::new();
    // No connections yet: nothing asked; the first round ends empty (rebuild 1).
    fx.f.fetch(Timestamp::ZERO, &mut fx.rng, zero, w(&e1), &[], &NoKnowers);
    drain(&mut fx.f, Timestamp::ZERO, &mut log);
    assert!(log.is_empty());
    let peers = two_peers();
    let reply_delay = Duration::from_millis(50);
    while log.len() < 200 {
        let Some(t) = fx.f.poll_timeout() else { panic!("no give-up: the tracker always has a timer") };
        fx.f.handle_timeout(t, &mut fx.rng, &peers, &NoKnowers);
        drain(&mut fx.f, t, &mut log);
        if respond {
            // The asked peer answers DONT_HAVE shortly after; the next peer is asked at once.
            while let Some(&(p, at)) = log.last() {
                if fx.f.tracker(&zero).unwrap().last_asked() != Some(p) {
                    break;
                }
                let reply_at = at + reply_delay;
                fx.f.handle_dont_have(reply_at, &mut fx.rng, &zero, p, &peers, &NoKnowers);
                let before = log.len();
                drain(&mut fx.f, reply_at, &mut log);
                if log.len() == before {
                    break;
                }
            }
        }
    }
    log.truncate(200);
    let mut prev_group_end: Option<Timestamp> = None;
    for (k, pair) in log.chunks(2).enumerate() {
        assert_ne!(pair[0].0, pair[1].0, "alternation within a round");
        let delta = pair[1].1 - pair[0].1;
        if respond {
            assert!(delta < Duration::from_millis(200), "round {k}: {delta:?}");
        } else {
            assert!(delta >= REPLY, "round {k}: {delta:?}");
        }
        if let Some(end) = prev_group_end {
            // Round k starts after 1500 × min(10, rebuilds) ms of pause; the fetch without
            // peers was rebuild 1, so round k follows rebuild k + 1.
            let pause = REPLY * (k as u32 + 1).min(10);
            let gap = pair[0].1 - end;
            assert!(gap >= pause, "round {k}: gap {gap:?} < {pause:?}");
            assert!(gap <= pause + REPLY, "round {k}: gap {gap:?}");
        }
        prev_group_end = Some(pair[1].1);
    }
    let m = fx.f.metrics();
    assert_eq!(m.asks, 200);
    if respond {
        assert_eq!(m.dont_have_accepted, 200);
    }
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "asks peers in turn" / "not found" / "peers timeout"
#[test]
fn not_found_peers_timeout() {
    not_found(false);
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "asks peers in turn" / "not found" /
// "peers actively respond not found"
#[test]
fn not_found_peers_actively_respond() {
    not_found(true);
}

// C++: ItemFetcherTests "ItemFetcher fetches" / "dont stop" / "ignore not asked items"
#[test]
fn ignore_not_asked_items() {
    let mut fx = fixture();
    fx.recv(fx.twelve);
    fx.recv(fx.ten);
    let before = fx.received.clone();
    fx.recv(fx.zero);
    assert_eq!(fx.received, before);
    assert_eq!(fx.f.metrics().items_unrequested, 1);
}

#[test]
fn dont_have_from_another_peer_is_ignored() {
    // §8.3: DONT_HAVE only counts from the peer asked last.
    let mut f: ItemFetcher<u32> = ItemFetcher::new(FetchKind::TxSet, &FloodConfig::default(), 2);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let peers = two_peers();
    let mut slot = 0;
    let e = make_envelope(1, &mut slot);
    let h = hash("txset");
    f.fetch(Timestamp::ZERO, &mut rng, h, w(&e), &peers, &NoKnowers);
    let first = f.poll_request().unwrap();
    assert_eq!(first.to_message().discriminant(), overlay_proto::xdr::MessageType::GetTxSet);
    let other = if first.peer == 1 { 2 } else { 1 };
    f.handle_dont_have(Timestamp::from_millis(10), &mut rng, &h, other, &peers, &NoKnowers);
    assert!(f.poll_request().is_none());
    assert_eq!(f.metrics().dont_have_ignored, 1);
    // Unknown hashes are ignored too.
    f.handle_dont_have(Timestamp::from_millis(10), &mut rng, &hash("other"), first.peer, &peers, &NoKnowers);
    assert!(f.poll_request().is_none());
    // The right one moves on at once.
    f.handle_dont_have(Timestamp::from_millis(20), &mut rng, &h, first.peer, &peers, &NoKnowers);
    assert_eq!(f.poll_request().unwrap().peer, other);
    // DONT_HAVE types route to fetchers (§8.4).
    use overlay_proto::xdr::MessageType as T;
    assert_eq!(FetchKind::of_dont_have(T::TxSet), Some(FetchKind::TxSet));
    assert_eq!(FetchKind::of_dont_have(T::GeneralizedTxSet), Some(FetchKind::TxSet));
    assert_eq!(FetchKind::of_dont_have(T::ScpQuorumset), Some(FetchKind::QuorumSet));
    assert_eq!(FetchKind::of_dont_have(T::Transaction), None);
}

#[test]
fn stop_fetching_outside_range_removes_empty_trackers() {
    let mut f: ItemFetcher<u32> = ItemFetcher::new(FetchKind::TxSet, &FloodConfig::default(), 3);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut slot = 0;
    let envs: Vec<_> = (0..5).map(|i| make_envelope(i, &mut slot)).collect(); // slots 1..=5
    for (i, e) in envs.iter().enumerate() {
        f.fetch(Timestamp::ZERO, &mut rng, hash(&i.to_string()), w(e), &[], &NoKnowers);
    }
    assert_eq!(f.len(), 5);
    f.stop_fetching_outside_range(Some(3), Some(4), 1);
    // Slots 1 (checkpoint), 3 and 4 stay.
    assert_eq!(f.len(), 3);
    assert!(f.tracker(&hash("1")).is_none());
    assert!(f.tracker(&hash("0")).is_some());
    // Timers of removed trackers are gone; the others remain.
    f.handle_timeout(Timestamp::from_secs(1000), &mut rng, &[], &NoKnowers);
    assert_eq!(f.metrics().rebuilds, 5 + 3);
}

#[test]
fn trackers_are_bounded_lowest_slot_evicted() {
    let cfg = FloodConfig { fetch_trackers_max: 3, ..FloodConfig::default() };
    let mut f: ItemFetcher<u32> = ItemFetcher::new(FetchKind::TxSet, &cfg, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut slot = 10;
    let mut hashes = Vec::new();
    for i in 0..5u32 {
        let e = make_envelope(i, &mut slot);
        let h = hash(&format!("item{i}"));
        hashes.push(h);
        f.fetch(Timestamp::ZERO, &mut rng, h, w(&e), &[], &NoKnowers);
        assert!(f.len() <= 3);
    }
    assert_eq!(f.metrics().trackers_evicted, 2);
    assert!(f.tracker(&hashes[0]).is_none() && f.tracker(&hashes[1]).is_none());
    assert!(f.tracker(&hashes[4]).is_some());
}

fn main_and_peer1() -> (ItemFetcher<u32>, ChaCha8Rng, Floodgate<u32>, ScpEnvelope, Hash256) {
    let cfg = FloodConfig::default();
    let mut f: ItemFetcher<u32> = ItemFetcher::new(FetchKind::QuorumSet, &cfg, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let gate: Floodgate<u32> = Floodgate::new(&cfg, 6);
    let mut slot = 99;
    let env = make_envelope(100, &mut slot);
    let hundred = hash("100");
    let peers = [FetchPeer { peer: 1, ping_ms: 0 }];
    f.fetch(Timestamp::ZERO, &mut rng, hundred, w(&env), &peers, &gate);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), Some(1));
    assert_eq!(f.metrics().asks, 1);
    (f, rng, gate, env, hundred)
}

/// stellar-core's test calls `tracker->tryNextPeer()`; ours is the tracker's timer firing.
fn try_next(
    f: &mut ItemFetcher<u32>,
    rng: &mut ChaCha8Rng,
    h: &Hash256,
    peers: &[FetchPeer<u32>],
    gate: &Floodgate<u32>,
) {
    let t = f.tracker(h).unwrap().deadline().unwrap();
    f.handle_timeout(t, rng, peers, gate);
}

// C++: ItemFetcherTests "next peer strategy" / "doesn't try the same peer"
#[test]
fn next_peer_doesnt_try_the_same_peer() {
    let (mut f, mut rng, gate, _env, hundred) = main_and_peer1();
    let peers = [FetchPeer { peer: 1, ping_ms: 0 }];
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), None);
    assert_eq!(f.metrics().asks, 1);
}

// C++: ItemFetcherTests "next peer strategy" / "with more peers" / "try new peer"
#[test]
fn next_peer_with_more_peers_try_new_peer() {
    let (mut f, mut rng, gate, _env, hundred) = main_and_peer1();
    let peers = two_peers();
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.metrics().asks, 2);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), Some(2));
    // Ran out of peers.
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.metrics().asks, 2);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), None);
    // Next round asks again.
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert!(f.tracker(&hundred).unwrap().last_asked().is_some());
    assert_eq!(f.metrics().asks, 3);
}

// C++: ItemFetcherTests "next peer strategy" / "with more peers" / "peer1 told us that it knows"
#[test]
fn next_peer_peer1_told_us_that_it_knows() {
    let (mut f, mut rng, mut gate, env, hundred) = main_and_peer1();
    let peers = two_peers();
    // Peer 1 floods the envelope to us: it has the quorum set, so it is asked again first.
    let id = identity::scp_message_id(&env).unwrap();
    gate.record_received(id, 1, 100).unwrap();
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.metrics().asks, 2);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), Some(1));
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.metrics().asks, 3);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), Some(2));
    try_next(&mut f, &mut rng, &hundred, &peers, &gate);
    assert_eq!(f.metrics().asks, 3);
    assert_eq!(f.tracker(&hundred).unwrap().last_asked(), None);
}

#[test]
fn requests_encode_as_the_right_messages() {
    use overlay_proto::xdr::StellarMessage;
    let h = hash("x");
    let r = FetchRequest { peer: 1u32, hash: h, kind: FetchKind::QuorumSet };
    assert_eq!(r.to_message(), StellarMessage::GetScpQuorumset(h.into()));
    let r = FetchRequest { peer: 1u32, hash: h, kind: FetchKind::TxSet };
    assert_eq!(r.to_message(), StellarMessage::GetTxSet(h.into()));
}
