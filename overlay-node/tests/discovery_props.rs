//! Property tests of the discovery module: random operation sequences against a small model.

use overlay_auth::Role;
use overlay_node::discovery::{
    BackoffUpdate, DiscoveryConfig, MemoryStore, PeerManager, PeerQuery, PeerRecord, PeerType, PeerTypeFilter,
    REALLY_DEAD_NUM_FAILURES_CUTOFF, StoreError, backoff_window_secs,
};
use overlay_proto::xdr::{self, PeerAddressIp};
use overlay_proto::{PeerAddress, Timestamp};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const MAX_RECORDS: u64 = 6;
const IPS: [[u8; 4]; 4] = [[1, 1, 1, 1], [1, 1, 1, 2], [10, 0, 0, 1], [127, 0, 0, 1]];
const PORTS: [u32; 6] = [0, 1, 2, 3, 11_625, 70_000];

fn addr(ip: usize, port: u16) -> PeerAddress {
    let [a, b, c, d] = IPS[ip % IPS.len()];
    PeerAddress::new(format!("{a}.{b}.{c}.{d}"), port)
}

#[derive(Debug, Clone)]
enum Op {
    EnsureExists(usize, u16),
    UpdateType(usize, u16, PeerType, bool),
    Backoff(usize, u16, BackoffUpdate),
    /// Many failed attempts in a row, to reach the dead cutoff.
    Fail(usize, u16, u32),
    Purge,
    Removed(usize, u16),
    Advance(u64),
    Peers(Vec<(Option<usize>, usize)>),
    LoadRandom(bool, Option<u32>, u8),
    Connect(PeerType, usize, u8),
}

fn peer_type() -> impl Strategy<Value = PeerType> {
    prop_oneof![Just(PeerType::Inbound), Just(PeerType::Outbound), Just(PeerType::Preferred)]
}

fn op() -> impl Strategy<Value = Op> {
    let a = (0..IPS.len(), 1u16..4);
    prop_oneof![
        a.clone().prop_map(|(i, p)| Op::EnsureExists(i, p)),
        (a.clone(), peer_type(), any::<bool>()).prop_map(|((i, p), t, k)| Op::UpdateType(i, p, t, k)),
        (
            a.clone(),
            prop_oneof![Just(BackoffUpdate::Increase), Just(BackoffUpdate::Reset), Just(BackoffUpdate::HardReset)]
        )
            .prop_map(|((i, p), u)| Op::Backoff(i, p, u)),
        (a.clone(), 1u32..130).prop_map(|((i, p), n)| Op::Fail(i, p, n)),
        Just(Op::Purge),
        a.prop_map(|(i, p)| Op::Removed(i, p)),
        (0u64..3_000).prop_map(Op::Advance),
        proptest::collection::vec((proptest::option::of(0..IPS.len()), 0..PORTS.len()), 0..8).prop_map(Op::Peers),
        (any::<bool>(), proptest::option::of(0u32..130), 0u8..5).prop_map(|(n, m, f)| Op::LoadRandom(n, m, f)),
        (peer_type(), 0usize..80, any::<u8>()).prop_map(|(t, n, c)| Op::Connect(t, n, c)),
    ]
}

fn filter(code: u8) -> PeerTypeFilter {
    match code {
        0 => PeerTypeFilter::InboundOnly,
        1 => PeerTypeFilter::OutboundOnly,
        2 => PeerTypeFilter::PreferredOnly,
        3 => PeerTypeFilter::AnyOutbound,
        _ => PeerTypeFilter::Any,
    }
}

fn snapshot(pm: &PeerManager<MemoryStore>) -> BTreeMap<PeerAddress, PeerRecord> {
    pm.store().records().map(|r| (r.address.clone(), r)).collect()
}

/// Check that only allowed changes happened between `before` and `after` for an operation
/// that may create the record of `touched` and may evict one inbound record to do so.
fn check_single_write(
    before: &BTreeMap<PeerAddress, PeerRecord>,
    after: &BTreeMap<PeerAddress, PeerRecord>,
    touched: &PeerAddress,
) -> Result<(), TestCaseError> {
    let created = !before.contains_key(touched) && after.contains_key(touched);
    for (a, r) in before {
        if a == touched {
            continue;
        }
        match after.get(a) {
            Some(now) => prop_assert_eq!(now, r, "untouched record changed"),
            None => {
                // Only an eviction for a new non-inbound record, from a full store.
                prop_assert!(created, "record {} vanished", a);
                prop_assert_eq!(r.peer_type, PeerType::Inbound, "evicted a non-inbound record");
                prop_assert_eq!(before.len() as u64, MAX_RECORDS);
                prop_assert!(after[touched].peer_type != PeerType::Inbound);
            }
        }
    }
    prop_assert!(after.len() <= before.len() + 1);
    Ok(())
}

fn run(ops: Vec<Op>, seed: u64) -> Result<(), TestCaseError> {
    let config = DiscoveryConfig::default();
    let mut pm = PeerManager::new(MemoryStore::with_limits(MAX_RECORDS, 4), config);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now = Timestamp::from_secs(10_000);
    for op in ops {
        let before = snapshot(&pm);
        match &op {
            Op::EnsureExists(i, p) => {
                let a = addr(*i, *p);
                match pm.ensure_exists(now, &a) {
                    Ok(added) => prop_assert_eq!(added, !before.contains_key(&a)),
                    Err(StoreError::StoreFull { .. }) => {
                        prop_assert_eq!(before.len() as u64, MAX_RECORDS)
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
                let after = snapshot(&pm);
                check_single_write(&before, &after, &a)?;
                if let Some(old) = before.get(&a) {
                    prop_assert_eq!(&after[&a], old, "ensure_exists changed a record");
                }
            }
            Op::UpdateType(i, p, observed, known) => {
                let a = addr(*i, *p);
                let result = pm.update_type(now, &a, *observed, *known);
                let after = snapshot(&pm);
                check_single_write(&before, &after, &a)?;
                let stored_before = before.get(&a).map_or(PeerType::Inbound, |r| r.peer_type);
                let expected = stored_before.after_observation(*observed, *known);
                match result {
                    Ok(r) => {
                        // §10.3 stated independently of `after_observation`.
                        let got = r.peer_type;
                        if *observed == PeerType::Preferred {
                            prop_assert_eq!(got, PeerType::Preferred);
                        }
                        prop_assert_eq!(
                            got == PeerType::Inbound,
                            stored_before == PeerType::Inbound && *observed == PeerType::Inbound
                        );
                        if got == PeerType::Preferred {
                            prop_assert!(
                                *observed == PeerType::Preferred
                                    || (stored_before == PeerType::Preferred
                                        && *observed == PeerType::Outbound
                                        && !*known)
                            );
                        }
                        prop_assert_eq!(r.peer_type, expected);
                        prop_assert_eq!(after[&a].peer_type, expected);
                        if let Some(old) = before.get(&a) {
                            prop_assert_eq!((r.num_failures, r.next_attempt), (old.num_failures, old.next_attempt));
                        }
                    }
                    Err(StoreError::StoreFull { .. }) => {
                        prop_assert!(!before.contains_key(&a));
                        prop_assert_eq!(before.len() as u64, MAX_RECORDS);
                        // Refused only if nothing could be evicted for it.
                        let evictable = before.values().any(|r| r.peer_type == PeerType::Inbound);
                        prop_assert!(expected == PeerType::Inbound || !evictable);
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
            Op::Backoff(i, p, update) => {
                let a = addr(*i, *p);
                let result = pm.update_backoff(now, &a, *update, &mut rng);
                let after = snapshot(&pm);
                check_single_write(&before, &after, &a)?;
                if let Ok(r) = result {
                    let old_failures = before.get(&a).map_or(0, |r| r.num_failures);
                    let old_type = before.get(&a).map_or(PeerType::Inbound, |r| r.peer_type);
                    prop_assert_eq!(r.peer_type, old_type, "backoff changed the type");
                    match update {
                        BackoffUpdate::HardReset => {
                            prop_assert_eq!((r.num_failures, r.next_attempt), (0, now))
                        }
                        BackoffUpdate::Reset | BackoffUpdate::Increase => {
                            let n = if *update == BackoffUpdate::Reset { 0 } else { old_failures.saturating_add(1) };
                            prop_assert_eq!(r.num_failures, n);
                            let wait = r.next_attempt - now;
                            prop_assert!(wait >= Duration::from_secs(1));
                            prop_assert!(wait <= Duration::from_secs(backoff_window_secs(n)));
                        }
                    }
                }
            }
            Op::Fail(i, p, n) => {
                let a = addr(*i, *p);
                for _ in 0..*n {
                    if pm.note_connect_attempt(now, &a, &mut rng).is_err() {
                        break;
                    }
                }
            }
            Op::Purge => {
                pm.purge_dead().unwrap();
                let after = snapshot(&pm);
                for (a, r) in &before {
                    let dead = r.num_failures >= REALLY_DEAD_NUM_FAILURES_CUTOFF;
                    prop_assert_eq!(after.contains_key(a), !dead);
                }
            }
            Op::Removed(i, p) => {
                let a = addr(*i, *p);
                pm.note_peer_removed(&a).unwrap();
                let after = snapshot(&pm);
                for (b, r) in &before {
                    let doomed = b.ip() == a.ip() && r.num_failures >= REALLY_DEAD_NUM_FAILURES_CUTOFF;
                    prop_assert_eq!(after.contains_key(b), !doomed);
                }
            }
            Op::Advance(secs) => now += Duration::from_secs(*secs),
            Op::Peers(entries) => {
                let sender = addr(0, 11_625);
                let wire: Vec<xdr::PeerAddress> = entries
                    .iter()
                    .map(|(ip, port)| xdr::PeerAddress {
                        ip: match ip {
                            Some(i) => PeerAddressIp::IPv4(IPS[*i]),
                            None => PeerAddressIp::IPv6([1; 16]),
                        },
                        port: PORTS[*port],
                        num_failures: 77,
                    })
                    .collect();
                let report = pm.handle_peers(now, &sender, &wire).unwrap();
                prop_assert_eq!(report.kept + report.ignored(), wire.len());
                let after = snapshot(&pm);
                for (a, r) in &before {
                    prop_assert_eq!(after.get(a), Some(r), "PEERS changed or evicted a record");
                }
                for r in after.values().filter(|r| !before.contains_key(&r.address)) {
                    prop_assert!(!r.address.is_private() && !r.address.is_loopback());
                    prop_assert_eq!((r.num_failures, r.peer_type), (0, PeerType::Inbound));
                }
                prop_assert_eq!(after.len() - before.len(), report.added);
            }
            Op::LoadRandom(use_next, max, f) => {
                let q = PeerQuery { use_next_attempt: *use_next, max_failures: *max, type_filter: filter(*f) };
                let got = pm.load_random_peers(&q, now, 10, &mut rng).unwrap();
                let set: BTreeSet<&PeerAddress> = got.iter().collect();
                prop_assert_eq!(set.len(), got.len(), "duplicates");
                let expected: BTreeSet<&PeerAddress> =
                    before.values().filter(|r| q.matches(r, now)).map(|r| &r.address).collect();
                prop_assert_eq!(set, expected);
            }
            Op::Connect(t, max, connected_bits) => {
                let role_of = |a: &PeerAddress| match a.port % 3 {
                    _ if connected_bits & (1 << (a.port % 8)) == 0 => None,
                    0 => Some(Role::Initiator),
                    _ => Some(Role::Acceptor),
                };
                let got = pm.peers_to_connect(now, *t, *max, role_of, &mut rng).unwrap();
                prop_assert!(got.len() <= (*max).min(50));
                let set: BTreeSet<&PeerAddress> = got.iter().collect();
                prop_assert_eq!(set.len(), got.len(), "duplicates");
                for a in &got {
                    match role_of(a) {
                        None => {}
                        Some(Role::Acceptor) => prop_assert_eq!(*t, PeerType::Inbound),
                        Some(Role::Initiator) => prop_assert!(false, "dialing a connected peer"),
                    }
                }
                prop_assert_eq!(snapshot(&pm), before, "selection wrote to the store");
            }
        }
        prop_assert!(pm.store().len() as u64 <= MAX_RECORDS, "store bound exceeded");
        for r in pm.store().records() {
            prop_assert!(r.address.ip().is_some_and(|ip| ip.is_ipv4()) && r.address.port != 0);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    // Random sequences of record operations keep the type-transition rule, the backoff
    // bounds, the dead-record cutoff and the store bound (never evicting outbound or
    // preferred records), and random loads return exactly the records matching their query.
    #[test]
    fn record_operations_keep_the_rules(ops in proptest::collection::vec(op(), 1..60), seed in any::<u64>()) {
        run(ops, seed)?;
    }
}
