//! Unit tests of the Floodgate.

use super::*;
use crate::config::PEERS_MAX;

fn h(i: u32) -> Hash256 {
    Hash256::sha256(&i.to_be_bytes())
}

fn gate(max: usize) -> Floodgate<u32> {
    Floodgate::new(&FloodConfig { floodgate_entries_max: max, ..FloodConfig::default() }, 7)
}

#[test]
fn peer_bits_insert_contains_remove_iterate() {
    let mut b = PeerBits::default();
    assert!(b.insert(0));
    assert!(!b.insert(0));
    assert!(b.insert(63));
    assert!(b.insert(64));
    assert!(b.insert(255));
    assert!(b.contains(255) && !b.contains(1));
    assert_eq!(b.iter().collect::<Vec<_>>(), [0, 63, 64, 255]);
}

#[test]
fn received_message_is_not_broadcast_back_to_its_sender() {
    // §8.1: the sender is recorded, broadcast goes to everyone else, once.
    let mut g = gate(100);
    assert!(g.record_received(h(1), 10, 5).unwrap());
    assert!(!g.record_received(h(1), 11, 5).unwrap());
    let told = g.broadcast(h(1), 5, &[10, 11, 12, 13]).unwrap();
    assert_eq!(told, [12, 13]);
    // A second broadcast is a no-op.
    assert!(g.broadcast(h(1), 5, &[10, 11, 12, 13]).unwrap().is_empty());
    // A new peer gets it.
    assert_eq!(g.broadcast(h(1), 5, &[10, 14]).unwrap(), [14]);
    assert_eq!(g.metrics().received_unique, 1);
    assert_eq!(g.metrics().received_duplicate, 1);
    assert_eq!(g.metrics().broadcast_recipients, 3);
}

#[test]
fn own_message_goes_to_every_peer() {
    let mut g = gate(100);
    assert_eq!(g.broadcast(h(2), 1, &[1, 2, 3]).unwrap(), [1, 2, 3]);
    assert!(g.contains(&h(2)));
    assert_eq!(g.record_ledger(&h(2)), Some(1));
}

#[test]
fn forget_allows_rebroadcast() {
    // §8.1: a rejected message's record is deleted, so it can be flooded again later.
    let mut g = gate(100);
    g.record_received(h(3), 1, 1).unwrap();
    assert!(g.forget(&h(3)));
    assert!(!g.forget(&h(3)));
    assert_eq!(g.broadcast(h(3), 1, &[1, 2]).unwrap(), [1, 2]);
}

#[test]
fn clear_below_drops_old_ledgers_only() {
    // §8.1 cleanup: records with ledgerSeq < minSlot are deleted.
    let mut g = gate(100);
    for i in 0..10 {
        g.broadcast(h(i), i, &[1]).unwrap();
    }
    g.clear_below(4);
    assert_eq!(g.len(), 6);
    assert!(!g.contains(&h(3)) && g.contains(&h(4)));
    assert_eq!(g.metrics().cleared, 4);
    g.clear_below(100);
    assert!(g.is_empty());
    assert_eq!(g.stats().order_entries, 0);
}

#[test]
fn full_gate_evicts_oldest_ledger_then_oldest_insertion() {
    let mut g = gate(4);
    g.broadcast(h(1), 20, &[1]).unwrap();
    g.broadcast(h(2), 10, &[1]).unwrap();
    g.broadcast(h(3), 10, &[1]).unwrap();
    g.broadcast(h(4), 30, &[1]).unwrap();
    // Full: next insert evicts ledger 10's first insertion, h(2).
    g.record_received(h(5), 2, 30).unwrap();
    assert!(!g.contains(&h(2)) && g.contains(&h(3)));
    g.record_received(h(6), 2, 30).unwrap();
    assert!(!g.contains(&h(3)));
    // Then ledger 20.
    g.record_received(h(7), 2, 30).unwrap();
    assert!(!g.contains(&h(1)));
    assert_eq!(g.len(), 4);
    assert_eq!(g.metrics().evicted, 3);
}

#[test]
fn eviction_skips_forgotten_entries() {
    let mut g = gate(2);
    g.broadcast(h(1), 1, &[1]).unwrap();
    g.forget(&h(1));
    g.broadcast(h(1), 5, &[1]).unwrap(); // re-created at ledger 5
    g.broadcast(h(2), 3, &[1]).unwrap();
    g.broadcast(h(3), 6, &[1]).unwrap(); // evicts h(2) (ledger 3), not the stale h(1)@1
    assert!(g.contains(&h(1)) && !g.contains(&h(2)) && g.contains(&h(3)));
}

#[test]
fn order_is_compacted_after_many_forgets() {
    let mut g = gate(100_000);
    for i in 0..5_000 {
        g.broadcast(h(i), 1, &[1]).unwrap();
        g.forget(&h(i));
    }
    assert!(g.stats().order_entries <= 2 * 1024 + 1, "{:?}", g.stats());
}

#[test]
fn records_survive_compaction_in_order() {
    // 3,000 records over three ledgers, two of every three forgotten: the dead slots pass
    // 2 × 1,024 and the queues are compacted; the rest keep their ledger, their peers and
    // their place in the eviction order.
    let mut g = gate(3_000);
    for i in 0..3_000 {
        g.record_received(h(i), i % 5, 10 + i / 1_000).unwrap();
    }
    for i in (0..3_000).filter(|i| i % 3 != 0) {
        assert!(g.forget(&h(i)));
    }
    let st = g.stats();
    assert_eq!(st.entries, 1_000);
    assert!(st.order_entries <= 2 * 1_024, "{st:?}");
    for i in (0..3_000).filter(|i| i % 3 == 0) {
        assert_eq!(g.record_ledger(&h(i)), Some(10 + i / 1_000));
        assert!(g.knows(&h(i), &(i % 5)) && !g.knows(&h(i), &(i % 5 + 1)));
    }
    // Filled up again, the gate evicts the survivors oldest first: ledger 10's 334
    // (0, 3, …, 999), then ledger 11's, starting with 1,002.
    for i in 0..2_000 {
        g.record_received(h(10_000 + i), 1, 20).unwrap();
    }
    for i in 0..334 {
        g.record_received(h(20_000 + i), 1, 20).unwrap();
    }
    assert_eq!(g.len(), 3_000);
    assert_eq!(g.metrics().evicted, 334);
    assert!(!g.contains(&h(999)) && g.contains(&h(1_002)));
    g.record_received(h(30_000), 1, 20).unwrap();
    assert!(!g.contains(&h(1_002)) && g.contains(&h(1_005)));
}

#[test]
fn removed_peer_slot_is_reused_without_its_knowledge() {
    let mut g = gate(100);
    g.record_received(h(1), 100, 1).unwrap();
    assert!(g.knows(&h(1), &100));
    g.remove_peer(&100);
    g.remove_peer(&100); // idempotent
    // Peer 200 gets the same slot but does not inherit 100's record.
    assert_eq!(g.broadcast(h(1), 1, &[200]).unwrap(), [200]);
    let mut who = Vec::new();
    g.peers_knowing(&h(1), &mut who);
    assert_eq!(who, [200]);
}

#[test]
fn a_slot_handle_outlives_its_peer_only_as_a_refusal() {
    let mut g = gate(100);
    let old = g.peer_slot(100).unwrap();
    assert_eq!(g.peer_slot(100).unwrap(), old, "one slot per peer");
    assert!(g.record_received_from(h(1), old, 1).unwrap());
    g.remove_peer(&100);
    // Peer 200 takes the freed slot; the old handle must not record for it.
    let new = g.peer_slot(200).unwrap();
    assert_ne!(new, old);
    assert_eq!(g.record_received_from(h(2), old, 1), Err(FloodError::StalePeerSlot));
    assert!(!g.contains(&h(2)));
    assert!(g.record_received_from(h(2), new, 1).unwrap());
    assert!(g.knows(&h(2), &200) && !g.knows(&h(1), &200));
}

#[test]
fn peer_slots_are_bounded() {
    let mut g = gate(100);
    for p in 0..PEERS_MAX as u32 {
        g.record_received(h(0), p, 1).unwrap();
    }
    assert_eq!(g.record_received(h(0), 9999, 1), Err(FloodError::PeerSlotsExhausted(PEERS_MAX)));
    assert_eq!(g.broadcast(h(1), 1, &[9999]), Err(FloodError::PeerSlotsExhausted(PEERS_MAX)));
    g.remove_peer(&3);
    assert!(g.record_received(h(0), 9999, 1).is_ok());
}

#[test]
fn peers_knowing_lists_senders_and_told_peers() {
    // Used by the fetcher's preferred candidates (§8.3 step 1).
    let mut g = gate(100);
    g.record_received(h(9), 4, 1).unwrap();
    g.record_received(h(9), 2, 1).unwrap();
    let mut who = Vec::new();
    g.peers_knowing(&h(9), &mut who);
    who.sort_unstable();
    assert_eq!(who, [2, 4]);
    who.clear();
    g.peers_knowing(&h(10), &mut who);
    assert!(who.is_empty());
}

#[test]
fn stats_estimate_grows_with_entries() {
    let mut g = gate(100_000);
    let empty = g.stats().heap_bytes;
    for i in 0..1000 {
        g.record_received(h(i), 1, 1).unwrap();
    }
    let s = g.stats();
    assert_eq!(s.entries, 1000);
    assert!(s.heap_bytes > empty + 1000 * 41, "{s:?}");
    g.clear();
    assert!(g.is_empty());
}

#[test]
fn a_ledger_emptied_gives_its_slot_to_the_next_and_records_stay_apart() {
    let mut g = gate(100);
    g.record_received(h(1), 1, 5).unwrap();
    g.record_received(h(2), 1, 6).unwrap();
    g.clear_below(7);
    assert_eq!((g.slab.len(), g.free.len()), (2, 2), "both slots free");
    // Ledger 7 takes a freed slot; ledger 6, created after it, the other.
    g.record_received(h(3), 1, 7).unwrap();
    g.record_received(h(4), 1, 6).unwrap();
    assert_eq!(g.slab.len(), 2, "slots are reused");
    assert!(!g.contains(&h(1)) && !g.contains(&h(2)));
    assert_eq!((g.record_ledger(&h(3)), g.record_ledger(&h(4))), (Some(7), Some(6)));
    // Forgetting ledger 6's only record empties its slot; the next ledger reuses it while
    // ledger 7's record keeps its peers.
    assert!(g.forget(&h(4)));
    g.record_received(h(5), 2, 8).unwrap();
    assert_eq!(g.slab.len(), 2);
    assert!(g.knows(&h(3), &1) && !g.knows(&h(3), &2));
    assert_eq!(g.record_ledger(&h(5)), Some(8));
    // Eviction takes the oldest ledger, whichever its slot.
    g.clear_below(8);
    assert_eq!(g.len(), 1);
    assert!(!g.record_received(h(5), 3, 9).unwrap(), "still known");
    assert_eq!(g.record_ledger(&h(5)), Some(8));
}

#[test]
fn warming_counts_known_identities_and_changes_nothing() {
    let mut g = gate(4);
    for i in 0..4 {
        g.record_received(h(i), 1, 10 + i).unwrap();
    }
    // Two known, two new; recording the new ones would evict the two oldest records.
    let batch = [h(2), h(3), h(8), h(9)];
    assert_eq!(g.warm(&batch), 2);
    assert_eq!(g.warm(&[]), 0);
    assert_eq!(g.len(), 4);
    assert!((0..4).all(|i| g.contains(&h(i))));
    assert_eq!(g.metrics(), FloodgateMetrics { received_unique: 4, ..FloodgateMetrics::default() });
    // More new identities than records: every record would go.
    let many: Vec<Hash256> = (100..110).map(h).collect();
    assert_eq!(g.warm(&many), 0);
    assert_eq!(g.len(), 4);
}
