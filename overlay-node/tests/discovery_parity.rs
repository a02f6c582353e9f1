//! Peer-record tests mirroring stellar-core's PeerManagerTests, and the record-related cases
//! of OverlayTests and OverlayManagerTests, at the level of the discovery module.

use overlay_auth::Role;
use overlay_node::discovery::{
    DiscoveryConfig, MemoryStore, PeerManager, PeerQuery, PeerRecord, PeerStore, PeerType, PeerTypeFilter,
};
use overlay_proto::xdr::{PeerAddressIp, StellarMessage};
use overlay_proto::{PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::BTreeSet;
use std::time::Duration;

type Manager = PeerManager<MemoryStore>;

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(1)
}

fn manager() -> Manager {
    PeerManager::new(MemoryStore::new(), DiscoveryConfig::default())
}

fn localhost(port: u16) -> PeerAddress {
    PeerAddress::new("127.0.0.1", port)
}

fn record(address: PeerAddress, next: Timestamp, failures: u32, t: PeerType) -> PeerRecord {
    PeerRecord { address, next_attempt: next, num_failures: failures, peer_type: t }
}

const NOW: Timestamp = Timestamp::from_secs(1_000);

// C++: PeerManagerTests "toXdr" / "toXdr" — an advertised record is IPv4 1.25.50.200, port
// 256, numFailures 0 whatever its stored failure count.
#[test]
fn to_xdr_in_peers_message() {
    let mut pm = manager();
    let a: PeerAddress = "1.25.50.200:256".parse().unwrap();
    let r = record(a, NOW, 5, PeerType::Outbound);
    pm.store_mut().insert(&r).unwrap();
    let msg = pm.build_peers_message(NOW, &localhost(1), &mut rng()).unwrap().expect("one peer to send");
    let StellarMessage::Peers(entries) = msg else { panic!("not PEERS") };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].ip, PeerAddressIp::IPv4([1, 25, 50, 200]));
    assert_eq!((entries[0].port, entries[0].num_failures), (256, 0));
}

// C++: PeerManagerTests "toXdr" / "database roundtrip" — inbound, outbound, preferred.
#[test]
fn database_roundtrip() {
    for t in PeerType::ALL {
        let mut store = MemoryStore::new();
        let a: PeerAddress = "1.25.50.200:256".parse().unwrap();
        assert_eq!(store.load(&a).unwrap(), None);
        let stored = record(a.clone(), NOW, 0, t);
        store.insert(&stored).unwrap();
        assert_eq!(store.load(&a).unwrap(), Some(stored), "{t:?}");
    }
}

// C++: PeerManagerTests "private addresses" — private addresses are neither advertised nor
// learned.
#[test]
fn private_addresses_are_not_advertised() {
    let mut pm = manager();
    for a in ["10.1.2.3:15", "172.17.1.2:15", "192.168.1.2:15", "1.2.3.4:15"] {
        let r = record(a.parse().unwrap(), NOW, 0, PeerType::Outbound);
        pm.store_mut().insert(&r).unwrap();
    }
    let sent = pm.peers_to_send(NOW, 50, &localhost(1), &mut rng()).unwrap();
    assert_eq!(sent, vec!["1.2.3.4:15".parse::<PeerAddress>().unwrap()]);
}

// C++: PeerManagerTests "loadRandomPeers" — every combination of next-attempt, failure and
// type filters returns exactly the matching records.
#[test]
fn load_random_peers_filters() {
    let mut pm = manager();
    let past = Timestamp::from_secs(999);
    let future = Timestamp::from_secs(1_001);
    let mut records = Vec::new();
    let mut port = 1;
    for time in [past, NOW, future] {
        for failures in [0, 1] {
            for t in PeerType::ALL {
                let r = record(localhost(port), time, failures, t);
                pm.store_mut().insert(&r).unwrap();
                records.push(r);
                port += 1;
            }
        }
    }
    let filters = [
        PeerTypeFilter::InboundOnly,
        PeerTypeFilter::OutboundOnly,
        PeerTypeFilter::PreferredOnly,
        PeerTypeFilter::AnyOutbound,
    ];
    let mut rng = rng();
    for use_next_attempt in [false, true] {
        for max_failures in [None, Some(0)] {
            for type_filter in filters {
                let q = PeerQuery { use_next_attempt, max_failures, type_filter };
                let got: BTreeSet<u16> =
                    pm.load_random_peers(&q, NOW, 1_000, &mut rng).unwrap().iter().map(|a| a.port).collect();
                let expected: BTreeSet<u16> = records
                    .iter()
                    .filter(|r| {
                        (!use_next_attempt || r.next_attempt <= NOW)
                            && max_failures.is_none_or(|m| r.num_failures <= m)
                            && match type_filter {
                                PeerTypeFilter::InboundOnly => r.peer_type == PeerType::Inbound,
                                PeerTypeFilter::OutboundOnly => r.peer_type == PeerType::Outbound,
                                PeerTypeFilter::PreferredOnly => r.peer_type == PeerType::Preferred,
                                _ => r.peer_type != PeerType::Inbound,
                            }
                    })
                    .map(|r| r.address.port)
                    .collect();
                assert_eq!(got, expected, "{q:?}");
                assert!(!expected.is_empty());
            }
        }
    }
}

/// stellar-core's `createPeers` helper of "getPeersToSend".
fn create_peers(
    pm: &mut Manager,
    normal_inbound: u16,
    failed_inbound: u16,
    normal_outbound: u16,
    failed_outbound: u16,
) {
    let mut port = 1;
    for _ in 0..normal_inbound {
        pm.ensure_exists(NOW, &localhost(port)).unwrap();
        port += 1;
    }
    for _ in 0..failed_inbound {
        let r = record(localhost(port), NOW, 11, PeerType::Inbound);
        pm.store_mut().insert(&r).unwrap();
        port += 1;
    }
    for _ in 0..normal_outbound {
        pm.update_type(NOW, &localhost(port), PeerType::Outbound, false).unwrap();
        port += 1;
    }
    for _ in 0..failed_outbound {
        let r = record(localhost(port), NOW, 11, PeerType::Outbound);
        pm.store_mut().insert(&r).unwrap();
        port += 1;
    }
}

fn sizes_sent(counts: (u16, u16, u16, u16), requests: &[usize]) -> Vec<usize> {
    let mut pm = manager();
    create_peers(&mut pm, counts.0, counts.1, counts.2, counts.3);
    let me = PeerAddress::new("127.0.0.255", 1);
    let mut rng = rng();
    requests.iter().map(|n| pm.peers_to_send(NOW, *n, &me, &mut rng).unwrap().len()).collect()
}

// C++: PeerManagerTests "getPeersToSend" / "no peers in database"
#[test]
fn get_peers_to_send_no_peers() {
    assert_eq!(sizes_sent((0, 0, 0, 0), &[0, 10, 50]), [0, 0, 0]);
    let mut pm = manager();
    assert_eq!(pm.build_peers_message(NOW, &localhost(1), &mut rng()).unwrap(), None);
}

// C++: PeerManagerTests "getPeersToSend" / "less peers in database than requested" —
// only inbound, only outbound, mixed.
#[test]
fn get_peers_to_send_fewer_than_requested() {
    assert_eq!(sizes_sent((8, 0, 0, 0), &[10, 50]), [8, 8]);
    assert_eq!(sizes_sent((0, 0, 8, 0), &[10, 50]), [8, 8]);
    assert_eq!(sizes_sent((4, 0, 4, 0), &[10, 50]), [8, 8]);
}

// C++: PeerManagerTests "getPeersToSend" / "as many peers in database as requested" —
// only inbound, only outbound, mixed.
#[test]
fn get_peers_to_send_as_many_as_requested() {
    assert_eq!(sizes_sent((8, 0, 0, 0), &[8]), [8]);
    assert_eq!(sizes_sent((0, 0, 8, 0), &[8]), [8]);
    assert_eq!(sizes_sent((4, 0, 4, 0), &[8]), [8]);
}

// C++: PeerManagerTests "getPeersToSend" / "more peers in database than requested" —
// only inbound, only outbound, mixed.
#[test]
fn get_peers_to_send_more_than_requested() {
    assert_eq!(sizes_sent((50, 0, 0, 0), &[30]), [30]);
    assert_eq!(sizes_sent((0, 0, 50, 0), &[30]), [30]);
    assert_eq!(sizes_sent((25, 0, 25, 0), &[30]), [30]);
}

// C++: PeerManagerTests "getPeersToSend" / "more peers in database than requested, but half
// failed" — only inbound, only outbound, mixed: records with 11 failures are not sent.
#[test]
fn get_peers_to_send_more_than_requested_but_half_failed() {
    assert_eq!(sizes_sent((25, 25, 0, 0), &[30]), [25]);
    assert_eq!(sizes_sent((0, 0, 25, 25), &[30]), [25]);
    assert_eq!(sizes_sent((13, 12, 13, 12), &[30]), [26]);
}

// §10.4: non-inbound records first, inbound ones only to fill up; at most 50; never the
// recipient itself.
#[test]
fn peers_to_send_prefers_outbound_and_skips_recipient() {
    let mut pm = manager();
    create_peers(&mut pm, 40, 0, 30, 0);
    let recipient = localhost(41); // the first outbound record
    let sent = pm.peers_to_send(NOW, 100, &recipient, &mut rng()).unwrap();
    assert_eq!(sent.len(), 50);
    assert!(!sent.contains(&recipient));
    let outbound = sent.iter().filter(|a| a.port > 40).count();
    assert_eq!(outbound, 29, "every outbound record but the recipient, then inbound ones");
}

// C++: PeerManagerTests "RandomPeerSource::nextAttemptCutoff also limits maxFailures" —
// records with 120 failures are still dialed, 121 are not; the type must match exactly.
#[test]
fn next_attempt_cutoff_also_limits_max_failures() {
    let mut pm = manager();
    let rows = [
        (1, 0, PeerType::Inbound),
        (2, 0, PeerType::Outbound),
        (3, 120, PeerType::Inbound),
        (4, 120, PeerType::Outbound),
        (5, 121, PeerType::Inbound),
        (6, 121, PeerType::Outbound),
    ];
    for (port, failures, t) in rows {
        let r = record(localhost(port), NOW, failures, t);
        pm.store_mut().insert(&r).unwrap();
    }
    let got: BTreeSet<u16> = pm
        .peers_to_connect(NOW, PeerType::Outbound, 50, |_| None, &mut rng())
        .unwrap()
        .iter()
        .map(|a| a.port)
        .collect();
    assert_eq!(got, BTreeSet::from([2, 4]));
}

// C++: PeerManagerTests "purge peer table" — by failure count, then per address (all ports
// of its IP).
#[test]
fn purge_peer_table() {
    let mut store = MemoryStore::new();
    for n in 1..=5u16 {
        let r = record(localhost(n), NOW, u32::from(n), PeerType::Inbound);
        store.insert(&r).unwrap();
    }
    assert_eq!(store.delete_with_min_failures(3).unwrap(), 3);
    let present = |s: &MemoryStore, p| s.load(&localhost(p)).unwrap().is_some();
    assert!(present(&store, 1) && present(&store, 2));
    assert!(!present(&store, 3) && !present(&store, 4) && !present(&store, 5));
    let ip = "127.0.0.1".parse().unwrap();
    assert_eq!(store.delete_ip_with_min_failures(ip, 3).unwrap(), 0);
    assert!(present(&store, 2));
    assert_eq!(store.delete_ip_with_min_failures(ip, 2).unwrap(), 1);
    assert!(!present(&store, 2));
    assert!(present(&store, 1));
}

// C++: OverlayTests "database is purged at overlay start" — >= 120 failures deleted,
// 118 and 119 kept.
#[test]
fn database_is_purged_at_overlay_start() {
    let mut pm = manager();
    for (port, failures) in [(1, 118), (2, 119), (3, 120), (4, 121), (5, 5_000)] {
        let r = record(localhost(port), NOW, failures, PeerType::Outbound);
        pm.store_mut().insert(&r).unwrap();
    }
    assert_eq!(pm.purge_dead().unwrap(), 3);
    let left: Vec<u16> = pm.store().records().map(|r| r.address.port).collect();
    assert_eq!(left, [1, 2]);
}

// C++: OverlayTests "peer numfailures resets after good connection" — 119 failures, a
// successful outbound connection, 0 failures.
#[test]
fn peer_numfailures_resets_after_good_connection() {
    let mut pm = manager();
    let mut rng = rng();
    let b = localhost(11_627);
    let r = record(b.clone(), NOW, 119, PeerType::Outbound);
    pm.store_mut().insert(&r).unwrap();
    let dialed = pm.note_connect_attempt(NOW, &b, &mut rng).unwrap();
    assert_eq!(dialed.num_failures, 120);
    pm.note_hello(NOW, &b, Role::Initiator, false).unwrap();
    let after = pm.note_authenticated(NOW, &b, Role::Initiator, &mut rng).unwrap().unwrap();
    assert_eq!(after.num_failures, 0);
    assert_eq!(pm.note_peer_removed(&b).unwrap(), 0);
    assert_eq!(pm.load(&b).unwrap().unwrap().num_failures, 0);
}

// C++: OverlayTests "peer is purged from database after few failures" — 119 failures and
// one more failing connection delete the record when the peer is removed.
#[test]
fn peer_is_purged_from_database_after_few_failures() {
    let mut pm = manager();
    let mut rng = rng();
    let b = localhost(11_627);
    let other_ip = PeerAddress::new("1.2.3.4", 11_627);
    for a in [&b, &other_ip] {
        let r = record(a.clone(), NOW, 119, PeerType::Outbound);
        pm.store_mut().insert(&r).unwrap();
    }
    pm.note_connect_attempt(NOW, &b, &mut rng).unwrap();
    pm.note_connect_attempt(NOW, &other_ip, &mut rng).unwrap();
    // The connection to `b` fails and is removed.
    assert_eq!(pm.note_peer_removed(&b).unwrap(), 1);
    assert_eq!(pm.load(&b).unwrap(), None);
    // Only that IP is purged.
    assert!(pm.load(&other_ip).unwrap().is_some());
    // An inbound connection dropped before its HELLO has no listening port yet: the IP is
    // enough.
    let r = record(localhost(11_629), NOW, 120, PeerType::Inbound);
    pm.store_mut().insert(&r).unwrap();
    assert_eq!(pm.note_peer_removed(&PeerAddress::new("127.0.0.1", 0)).unwrap(), 1);
    assert_eq!(pm.load(&r.address).unwrap(), None);
}

// C++: OverlayTests "loopback peer hello" — the initiator knows the acceptor as OUTBOUND,
// the acceptor knows the initiator as INBOUND.
#[test]
fn loopback_peer_hello_records() {
    let mut initiator = manager();
    let mut acceptor = manager();
    let acceptor_addr = localhost(11_627);
    let initiator_addr = localhost(11_625);
    initiator.note_hello(NOW, &acceptor_addr, Role::Initiator, false).unwrap();
    acceptor.note_hello(NOW, &initiator_addr, Role::Acceptor, false).unwrap();
    let t = |pm: &Manager, a| pm.load(a).unwrap().unwrap().peer_type;
    assert_eq!(t(&initiator, &acceptor_addr), PeerType::Outbound);
    assert_eq!(t(&acceptor, &initiator_addr), PeerType::Inbound);
    // And a preferred address is recorded as PREFERRED whatever the direction.
    acceptor.note_hello(NOW, &initiator_addr, Role::Acceptor, true).unwrap();
    assert_eq!(t(&acceptor, &initiator_addr), PeerType::Preferred);
}

// C++: OverlayTests "inbounds nodes can be promoted to ouboundvalid" — KNOWN_PEERS give
// OUTBOUND records; a peer known only as INBOUND (learned, or connected to us) is dialed by
// the INBOUND pass even while it is connected inbound, and becomes OUTBOUND after its HELLO.
#[test]
fn inbound_nodes_can_be_promoted_to_outbound() {
    let mut pm = manager();
    let mut rng = rng();
    let known = PeerAddress::new("1.1.1.1", 11_625);
    let inbound = PeerAddress::new("2.2.2.2", 11_625);
    let report = pm.store_config_peers(NOW, std::slice::from_ref(&known), &[], true, &mut rng).unwrap();
    assert_eq!(report.stored, 1);
    pm.note_hello(NOW, &inbound, Role::Acceptor, false).unwrap();
    let t = |pm: &Manager, a| pm.load(a).unwrap().unwrap().peer_type;
    assert_eq!((t(&pm, &known), t(&pm, &inbound)), (PeerType::Outbound, PeerType::Inbound));

    // `inbound` is connected to us (it dialed us); `known` is connected by our dial.
    let connected = |a: &PeerAddress| {
        if *a == inbound {
            Some(Role::Acceptor)
        } else if *a == known {
            Some(Role::Initiator)
        } else {
            None
        }
    };
    let outbound = pm.peers_to_connect(NOW, PeerType::Outbound, 8, connected, &mut rng).unwrap();
    assert!(outbound.is_empty(), "already connected outbound");
    let promote = pm.peers_to_connect(NOW, PeerType::Inbound, 8, connected, &mut rng).unwrap();
    assert_eq!(promote, vec![inbound.clone()]);
    pm.note_connect_attempt(NOW, &inbound, &mut rng).unwrap();
    pm.note_hello(NOW, &inbound, Role::Initiator, false).unwrap();
    pm.note_authenticated(NOW, &inbound, Role::Initiator, &mut rng).unwrap();
    assert_eq!(t(&pm, &inbound), PeerType::Outbound);
    // A later inbound connection from it does not demote it.
    pm.note_hello(NOW, &inbound, Role::Acceptor, false).unwrap();
    assert_eq!(t(&pm, &inbound), PeerType::Outbound);
}

// C++: OverlayManagerTests "storeConfigPeers() adds" — PREFERRED and OUTBOUND rows, due now,
// no failures.
#[test]
fn store_config_peers_adds() {
    let mut pm = manager();
    let known: Vec<PeerAddress> = vec!["1.1.1.1:11625".parse().unwrap(), "1.1.1.2:11625".parse().unwrap()];
    let preferred: Vec<PeerAddress> = vec!["2.2.2.2:11625".parse().unwrap()];
    let report = pm.store_config_peers(NOW, &known, &preferred, true, &mut rng()).unwrap();
    assert_eq!((report.stored, report.skipped_invalid), (3, 0));
    for a in &known {
        assert_eq!(pm.load(a).unwrap(), Some(record(a.clone(), NOW, 0, PeerType::Outbound)));
    }
    assert_eq!(pm.load(&preferred[0]).unwrap(), Some(record(preferred[0].clone(), NOW, 0, PeerType::Preferred)));
    // A name that was not resolved is skipped, not stored.
    let report =
        pm.store_config_peers(NOW, &[PeerAddress::new("unresolved.example", 1)], &[], true, &mut rng()).unwrap();
    assert_eq!((report.stored, report.skipped_invalid), (0, 1));
}

// C++: OverlayManagerTests "storeConfigPeers() update type" — INBOUND records become
// OUTBOUND / PREFERRED; at startup their backoff is hard-reset.
#[test]
fn store_config_peers_update_type() {
    let mut pm = manager();
    let known: PeerAddress = "1.1.1.1:11625".parse().unwrap();
    let preferred: PeerAddress = "2.2.2.2:11625".parse().unwrap();
    for a in [&known, &preferred] {
        let r = record(a.clone(), NOW + Duration::from_secs(500), 7, PeerType::Inbound);
        pm.store_mut().insert(&r).unwrap();
    }
    let later = NOW + Duration::from_secs(10);
    pm.store_config_peers(later, std::slice::from_ref(&known), std::slice::from_ref(&preferred), true, &mut rng())
        .unwrap();
    assert_eq!(pm.load(&known).unwrap(), Some(record(known.clone(), later, 0, PeerType::Outbound)));
    assert_eq!(pm.load(&preferred).unwrap(), Some(record(preferred.clone(), later, 0, PeerType::Preferred)));
    // A periodic re-resolution (not startup) changes types only.
    let r = record(known.clone(), later, 4, PeerType::Outbound);
    pm.store_mut().update(&r).unwrap();
    pm.store_config_peers(later, &[], std::slice::from_ref(&known), false, &mut rng()).unwrap();
    assert_eq!(pm.load(&known).unwrap(), Some(record(known.clone(), later, 4, PeerType::Preferred)));
}

// §10.4 / §16 "reject banned peers": bans are NodeId-keyed and survive listing.
#[test]
fn bans_round_trip() {
    let mut pm = manager();
    let id = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ".parse().unwrap();
    assert!(!pm.is_banned(&id).unwrap());
    assert!(pm.ban(&id).unwrap());
    assert!(!pm.ban(&id).unwrap());
    assert!(pm.is_banned(&id).unwrap());
    assert_eq!(pm.bans().unwrap(), vec![id]);
    assert!(pm.unban(&id).unwrap());
    assert!(pm.bans().unwrap().is_empty());
}
