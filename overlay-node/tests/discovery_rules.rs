//! Rules of the discovery module that have no C++ test of their own: the PEERS receive
//! filters, the connect-selection skip rules, the store bound policy.

use overlay_auth::Role;
use overlay_node::discovery::{
    DiscoveryConfig, MAX_PEERS_TO_CONNECT_PER_CALL, MAX_PEERS_TO_SEND, MemoryStore, PeerManager, PeerRecord, PeerStore,
    PeerType, StoreError,
};
use overlay_proto::xdr::{self, PeerAddressIp, StellarMessage};
use overlay_proto::{PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use std::collections::BTreeSet;
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_secs(1_000);

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(1)
}

fn manager_with(config: DiscoveryConfig) -> PeerManager<MemoryStore> {
    PeerManager::new(MemoryStore::new(), config)
}

fn v4(ip: [u8; 4], port: u32) -> xdr::PeerAddress {
    xdr::PeerAddress { ip: PeerAddressIp::IPv4(ip), port, num_failures: 0 }
}

fn record(address: &str, failures: u32, t: PeerType) -> PeerRecord {
    PeerRecord { address: address.parse().unwrap(), next_attempt: NOW, num_failures: failures, peer_type: t }
}

#[test]
fn received_peers_are_filtered_in_order() {
    let config = DiscoveryConfig { peer_port: 11_625, ..DiscoveryConfig::default() };
    let mut pm = manager_with(config);
    let sender: PeerAddress = "5.5.5.5:11626".parse().unwrap();
    let entries = vec![
        v4([1, 1, 1, 1], 0),                                                             // bad port
        v4([1, 1, 1, 1], 65_536),                                                        // bad port
        xdr::PeerAddress { ip: PeerAddressIp::IPv6([0; 16]), port: 1, num_failures: 0 }, // IPv6
        v4([10, 0, 0, 1], 1),                                                            // private
        v4([172, 16, 0, 1], 1),                                                          // private
        v4([192, 168, 0, 1], 1),                                                         // private
        v4([5, 5, 5, 5], 11_625), // sender's IP with our port: "self"
        v4([127, 0, 0, 1], 1),    // localhost
        v4([5, 5, 5, 5], 11_626), // the sender itself: kept
        v4([127, 0, 0, 2], 1),    // other loopback: kept, as in stellar-core
        v4([2, 2, 2, 2], 11_625), // kept
        v4([2, 2, 2, 2], 11_625), // duplicate: kept, not added
    ];
    let report = pm.handle_peers(NOW, &sender, &entries).unwrap();
    assert_eq!(report.ignored_bad_port, 2);
    assert_eq!(report.ignored_ipv6, 1);
    assert_eq!(report.ignored_private, 3);
    assert_eq!(report.ignored_self, 1);
    assert_eq!(report.ignored_localhost, 1);
    assert_eq!((report.kept, report.added), (4, 3));
    assert_eq!(report.kept + report.ignored(), entries.len());
    let stored: Vec<String> = pm.store().records().map(|r| r.address.to_string()).collect();
    assert_eq!(stored, ["2.2.2.2:11625", "5.5.5.5:11626", "127.0.0.2:1"]);
    for r in pm.store().records() {
        assert_eq!((r.peer_type, r.num_failures, r.next_attempt), (PeerType::Inbound, 0, NOW));
    }
}

#[test]
fn localhost_and_private_flags_let_them_through() {
    let config = DiscoveryConfig { allow_localhost: true, allow_private: true, ..DiscoveryConfig::default() };
    let mut pm = manager_with(config);
    let sender: PeerAddress = "5.5.5.5:1".parse().unwrap();
    let entries = [v4([127, 0, 0, 1], 11_625), v4([10, 0, 0, 1], 11_625)];
    let report = pm.handle_peers(NOW, &sender, &entries).unwrap();
    assert_eq!((report.kept, report.ignored()), (2, 0));
    // And private addresses are then advertised too.
    let sent = pm.peers_to_send(NOW, 50, &"9.9.9.9:1".parse().unwrap(), &mut rng()).unwrap();
    assert_eq!(sent.len(), 2);
}

#[test]
fn received_failures_and_known_records_are_left_alone() {
    let mut pm = manager_with(DiscoveryConfig::default());
    let existing =
        PeerRecord { next_attempt: NOW + Duration::from_secs(60), ..record("2.2.2.2:1", 7, PeerType::Preferred) };
    pm.store_mut().insert(&existing).unwrap();
    let mut entry = v4([2, 2, 2, 2], 1);
    entry.num_failures = 99;
    let mut fresh = v4([3, 3, 3, 3], 1);
    fresh.num_failures = 99;
    let report = pm.handle_peers(NOW, &"5.5.5.5:1".parse().unwrap(), &[entry, fresh]).unwrap();
    assert_eq!((report.kept, report.added), (2, 1));
    assert_eq!(pm.load(&existing.address).unwrap(), Some(existing));
    assert_eq!(pm.load(&"3.3.3.3:1".parse().unwrap()).unwrap().unwrap().num_failures, 0);
}

#[test]
fn peers_message_is_bounded_and_sent_only_when_non_empty() {
    let mut pm = manager_with(DiscoveryConfig::default());
    for port in 1..=80u16 {
        pm.update_type(NOW, &PeerAddress::new("8.8.8.8", port), PeerType::Outbound, false).unwrap();
    }
    let msg = pm.build_peers_message(NOW, &"9.9.9.9:1".parse().unwrap(), &mut rng()).unwrap();
    let Some(StellarMessage::Peers(entries)) = msg else { panic!("expected PEERS") };
    assert_eq!(entries.len(), MAX_PEERS_TO_SEND);
    let distinct: BTreeSet<u32> = entries.iter().map(|e| e.port).collect();
    assert_eq!(distinct.len(), MAX_PEERS_TO_SEND);
    assert!(entries.iter().all(|e| e.num_failures == 0));
}

#[test]
fn connect_selection_skips_connected_and_keeps_promotable() {
    let mut pm = manager_with(DiscoveryConfig::default());
    for (a, t) in [
        ("1.1.1.1:1", PeerType::Inbound),
        ("1.1.1.2:1", PeerType::Inbound),
        ("1.1.1.3:1", PeerType::Inbound),
        ("2.2.2.1:1", PeerType::Outbound),
        ("2.2.2.2:1", PeerType::Outbound),
        ("2.2.2.3:1", PeerType::Outbound),
    ] {
        pm.store_mut().insert(&record(a, 0, t)).unwrap();
    }
    let role = |a: &PeerAddress| match a.to_string().as_str() {
        "1.1.1.1:1" | "2.2.2.1:1" => Some(Role::Acceptor),
        "1.1.1.2:1" | "2.2.2.2:1" => Some(Role::Initiator),
        _ => None,
    };
    let ports = |v: Vec<PeerAddress>| -> BTreeSet<String> { v.iter().map(|a| a.to_string()).collect() };
    let inbound = pm.peers_to_connect(NOW, PeerType::Inbound, 10, role, &mut rng()).unwrap();
    assert_eq!(ports(inbound), BTreeSet::from(["1.1.1.1:1".into(), "1.1.1.3:1".into()]));
    let outbound = pm.peers_to_connect(NOW, PeerType::Outbound, 10, role, &mut rng()).unwrap();
    assert_eq!(ports(outbound), BTreeSet::from(["2.2.2.3:1".to_string()]));
    let preferred = pm.peers_to_connect(NOW, PeerType::Preferred, 10, role, &mut rng()).unwrap();
    assert!(preferred.is_empty());
}

#[test]
fn connect_selection_takes_only_due_records_and_at_most_fifty() {
    let mut pm = manager_with(DiscoveryConfig::default());
    for port in 1..=120u16 {
        pm.update_type(NOW, &PeerAddress::new("3.3.3.3", port), PeerType::Outbound, false).unwrap();
    }
    let late = PeerRecord { next_attempt: NOW + Duration::from_secs(1), ..record("4.4.4.4:1", 0, PeerType::Outbound) };
    pm.store_mut().insert(&late).unwrap();
    let mut rng = rng();
    let mut seen = BTreeSet::new();
    for _ in 0..2 {
        let got = pm.peers_to_connect(NOW, PeerType::Outbound, 500, |_| None, &mut rng).unwrap();
        assert_eq!(got.len(), MAX_PEERS_TO_CONNECT_PER_CALL);
        assert!(!got.contains(&late.address));
        seen.extend(got);
    }
    assert_eq!(seen.len(), 100, "one cache load never repeats an address");
    // 20 cached, 50 asked: the cache is reloaded with all 120 due records.
    let got = pm.peers_to_connect(NOW, PeerType::Outbound, 50, |_| None, &mut rng).unwrap();
    assert_eq!(got.len(), 50);
    assert!(!got.contains(&late.address));
    assert!(pm.peers_to_connect(NOW, PeerType::Outbound, 0, |_| None, &mut rng).unwrap().is_empty());
}

#[test]
fn connect_attempt_backs_off_and_unknown_address_gets_a_record() {
    let mut pm = manager_with(DiscoveryConfig::default());
    let mut rng = rng();
    let a: PeerAddress = "6.6.6.6:1".parse().unwrap();
    let r = pm.note_connect_attempt(NOW, &a, &mut rng).unwrap();
    assert_eq!((r.peer_type, r.num_failures), (PeerType::Inbound, 1));
    let wait = r.next_attempt - NOW;
    assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20));
    // Not due yet: not selected.
    let got = pm.peers_to_connect(NOW, PeerType::Inbound, 5, |_| None, &mut rng).unwrap();
    assert!(got.is_empty());
    // An acceptor's AUTH does not touch the record.
    assert_eq!(pm.note_authenticated(NOW, &a, Role::Acceptor, &mut rng).unwrap(), None);
    assert_eq!(pm.load(&a).unwrap().unwrap().num_failures, 1);
}

#[test]
fn full_store_refuses_learned_addresses_but_admits_configured_ones() {
    let mut pm = PeerManager::new(MemoryStore::with_limits(3, 10), DiscoveryConfig::default());
    let mut rng = rng();
    pm.store_mut().insert(&record("1.1.1.1:1", 3, PeerType::Inbound)).unwrap();
    pm.store_mut().insert(&record("1.1.1.2:1", 9, PeerType::Inbound)).unwrap();
    pm.store_mut().insert(&record("1.1.1.3:1", 50, PeerType::Outbound)).unwrap();

    // PEERS: refused, nothing evicted.
    let report = pm.handle_peers(NOW, &"5.5.5.5:1".parse().unwrap(), &[v4([7, 7, 7, 7], 1)]).unwrap();
    assert_eq!((report.kept, report.ignored_store_full), (0, 1));
    assert_eq!(pm.ensure_exists(NOW, &"7.7.7.7:1".parse().unwrap()), Err(StoreError::StoreFull { max_records: 3 }));
    // An inbound HELLO from an unknown address: refused too.
    assert!(matches!(
        pm.note_hello(NOW, &"7.7.7.8:1".parse().unwrap(), Role::Acceptor, false),
        Err(StoreError::StoreFull { .. })
    ));
    assert_eq!(pm.store().len(), 3);

    // A preferred peer evicts the inbound record with the most failures.
    let p: PeerAddress = "9.9.9.9:1".parse().unwrap();
    pm.store_config_peers(NOW, &[], std::slice::from_ref(&p), true, &mut rng).unwrap();
    assert_eq!(pm.load(&p).unwrap().unwrap().peer_type, PeerType::Preferred);
    assert_eq!(pm.load(&"1.1.1.2:1".parse().unwrap()).unwrap(), None);
    // An outbound HELLO evicts the last inbound one.
    let o: PeerAddress = "9.9.9.8:1".parse().unwrap();
    pm.note_hello(NOW, &o, Role::Initiator, false).unwrap();
    assert_eq!(pm.load(&"1.1.1.1:1".parse().unwrap()).unwrap(), None);
    // Now only outbound and preferred records remain: nothing may be evicted.
    let q: PeerAddress = "9.9.9.7:1".parse().unwrap();
    let report = pm.store_config_peers(NOW, std::slice::from_ref(&q), &[], true, &mut rng).unwrap();
    assert_eq!((report.stored, report.refused_full), (0, 1));
    let types: Vec<PeerType> = pm.store().records().map(|r| r.peer_type).collect();
    assert_eq!(types, [PeerType::Outbound, PeerType::Outbound, PeerType::Preferred]);
}

#[test]
fn hello_type_updates_follow_the_rule() {
    let mut pm = manager_with(DiscoveryConfig::default());
    let a: PeerAddress = "4.3.2.1:1".parse().unwrap();
    let t = |pm: &PeerManager<MemoryStore>| pm.load(&a).unwrap().unwrap().peer_type;
    pm.store_config_peers(NOW, &[], std::slice::from_ref(&a), true, &mut rng()).unwrap();
    assert_eq!(t(&pm), PeerType::Preferred);
    // Configured as preferred but its address is no longer preferred when it says HELLO:
    // known not preferred, downgraded.
    pm.note_hello(NOW, &a, Role::Initiator, false).unwrap();
    assert_eq!(t(&pm), PeerType::Outbound);
    pm.note_hello(NOW, &a, Role::Acceptor, true).unwrap();
    assert_eq!(t(&pm), PeerType::Preferred);
    pm.note_hello(NOW, &a, Role::Acceptor, false).unwrap();
    assert_eq!(t(&pm), PeerType::Outbound);
    pm.note_hello(NOW, &a, Role::Acceptor, false).unwrap();
    assert_eq!(t(&pm), PeerType::Outbound);
}

#[test]
fn non_ipv4_addresses_are_typed_errors() {
    let mut pm = manager_with(DiscoveryConfig::default());
    let name = PeerAddress::new("host.example", 1);
    assert!(matches!(pm.ensure_exists(NOW, &name), Err(StoreError::NotIpv4(_))));
    let v6: PeerAddress = "[2001:db8::1]:1".parse().unwrap();
    assert!(matches!(pm.update_type(NOW, &v6, PeerType::Outbound, true), Err(StoreError::NotIpv4(_))));
    assert_eq!(pm.note_peer_removed(&name), Ok(0));
    assert!(pm.store().is_empty());
}
