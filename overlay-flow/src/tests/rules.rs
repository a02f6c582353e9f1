//! One test per rule of PROTOCOL.md §6 (flow control), named for the behaviour.

use super::*;
use crate::config::READ_FLOOR_BYTES;
use crate::scp_order::tests::{ballot, confirm, externalize, nominate, prepare, statement};
use overlay_proto::Priority;

fn cfg() -> FlowConfig {
    FlowConfig::default()
}

// ---------------------------------------------------------------- §6 (scope and units)

#[test]
fn only_flood_messages_use_flood_capacity_but_every_message_uses_total_capacity() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let before = fc.stats().local;
    let r = fc.handle_received(secs(1), MessageType::GetScpState, 8).unwrap();
    let after = fc.stats().local;
    assert_eq!(after.flood_available_msgs, before.flood_available_msgs);
    assert_eq!(after.flood_available_bytes, before.flood_available_bytes);
    assert_eq!(after.total_available_msgs, before.total_available_msgs - 1);
    assert_eq!(after.total_available_bytes, before.total_available_bytes - 8);
    assert!(!r.is_flood());
    fc.handle_processed(secs(1), r);
    assert_eq!(fc.stats().local, before, "a non-flood message never makes a grant due");
    assert_eq!(fc.poll_grant(), None);
}

#[test]
fn a_flood_message_costs_one_message_and_its_xdr_size() {
    for ty in [MessageType::ScpMessage, MessageType::Transaction, MessageType::FloodDemand, MessageType::FloodAdvert] {
        let mut fc = receiver(&cfg(), LedgerLimits::default());
        let r = fc.handle_received(secs(1), ty, 220).unwrap();
        let s = fc.stats().local;
        assert_eq!(s.flood_available_msgs, 199, "{ty:?}");
        assert_eq!(s.flood_available_bytes, 300_000 - 220, "{ty:?}");
        assert!(r.is_flood());
        assert_eq!(r.size_bytes(), 220);
    }
}

#[test]
fn non_flood_messages_cannot_be_queued() {
    let msg = overlay_proto::xdr::StellarMessage::GetScpState(1);
    assert_eq!(OutboundMessage::new(&msg, 8, ()).unwrap_err(), FlowError::NotFloodMessage(MessageType::GetScpState));
}

// ---------------------------------------------------------------- §6.1 sender side

#[test]
fn outbound_credit_starts_at_zero_and_nothing_is_sent_before_the_first_grant() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    assert_eq!(fc.stats().outbound, Default::default());
    let _ = fc.enqueue(secs(0), tx(1, 100));
    assert!(fc.poll_send(secs(1)).is_none());
    fc.handle_send_more(secs(2), &grant(1, 100)).unwrap();
    assert_eq!(fc.poll_send(secs(2)).unwrap().payload.id, 1);
}

#[test]
fn legacy_send_more_is_rejected() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    let err = fc.handle_legacy_send_more(secs(0)).unwrap_err();
    assert_eq!(err.reason(), "unexpected message type SEND_MORE");
}

#[test]
fn send_more_extended_with_zero_bytes_is_invalid_and_zero_messages_is_allowed() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    assert_eq!(fc.handle_send_more(secs(0), &grant(5, 0)), Err(FlowError::InvalidSendMoreExtended));
    assert_eq!(fc.handle_send_more(secs(0), &grant(0, 0)), Err(FlowError::InvalidSendMoreExtended));
    assert_eq!(fc.stats().outbound.capacity_msgs, 0, "a refused grant adds nothing");
    assert_eq!(fc.handle_send_more(secs(0), &grant(0, 7)), Ok(()));
    assert_eq!((fc.stats().outbound.capacity_msgs, fc.stats().outbound.capacity_bytes), (0, 7));
}

#[test]
fn send_more_extended_overflow_is_detected_in_either_unit() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    fc.set_outbound_capacity_for_testing(u64::MAX - 2, 0);
    assert_eq!(fc.handle_send_more(secs(0), &grant(2, 1)), Ok(()));
    assert_eq!(fc.handle_send_more(secs(0), &grant(1, 1)), Err(FlowError::CapacityOverflow));
    assert_eq!(fc.stats().outbound.capacity_msgs, u64::MAX);
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    fc.set_outbound_capacity_for_testing(0, u64::MAX - 1);
    assert_eq!(fc.handle_send_more(secs(0), &grant(9, 2)), Err(FlowError::CapacityOverflow));
    assert_eq!(fc.handle_send_more(secs(0), &grant(9, 1)), Ok(()));
    fc.check_invariants().unwrap();
}

#[test]
fn a_valid_grant_adds_credit_and_clears_the_no_capacity_clock() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(3));
    assert_eq!(fc.no_capacity_since(), Some(secs(3)));
    fc.handle_send_more(secs(4), &grant(3, 300)).unwrap();
    fc.handle_send_more(secs(5), &grant(1, 50)).unwrap();
    let s = fc.stats().outbound;
    assert_eq!((s.capacity_msgs, s.capacity_bytes, s.grants_received), (4, 350, 2));
    assert_eq!(fc.no_capacity_since(), None);
    assert_eq!(fc.poll_timeout(), None);
}

#[test]
fn a_flood_message_is_sent_iff_one_message_and_its_bytes_remain() {
    // Exactly enough bytes: sent.
    let mut fc = sender_with_credit(&cfg(), grant(1, 100));
    let _ = fc.enqueue(secs(1), tx(1, 100));
    assert!(fc.poll_send(secs(1)).is_some());
    // One byte short: not sent.
    let mut fc = sender_with_credit(&cfg(), grant(1, 99));
    let _ = fc.enqueue(secs(1), tx(1, 100));
    assert!(fc.poll_send(secs(1)).is_none());
    // Bytes but no message left: not sent.
    let mut fc = sender_with_credit(&cfg(), grant(0, 1000));
    let _ = fc.enqueue(secs(1), tx(1, 100));
    assert!(fc.poll_send(secs(1)).is_none());
}

#[test]
fn credit_is_charged_when_the_message_is_taken_for_writing() {
    let mut fc = sender_with_credit(&cfg(), grant(10, 1000));
    let _ = fc.enqueue(secs(1), tx(1, 300));
    assert_eq!(fc.stats().outbound.capacity_bytes, 1000, "enqueue charges nothing");
    let out = fc.poll_send(secs(1)).unwrap();
    let s = fc.stats().outbound;
    assert_eq!((s.capacity_msgs, s.capacity_bytes), (9, 700));
    assert_eq!((s.used_msgs_total, s.used_bytes_total), (1, 300));
    fc.handle_write_complete(secs(1), out.ticket);
    assert_eq!(fc.stats().outbound.capacity_bytes, 700, "write completion charges nothing");
}

// ---------------------------------------------------------------- §6.2 receiver side

#[test]
fn the_initial_grant_is_the_whole_flood_capacity_and_is_made_once_after_auth() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    assert_eq!(fc.poll_grant(), None, "nothing is granted before authentication");
    fc.handle_authenticated(secs(1));
    fc.handle_authenticated(secs(1));
    assert_eq!(fc.poll_grant(), Some(grant(200, 300_000)));
    assert_eq!(fc.poll_grant(), None);
    let s = fc.stats().local;
    assert_eq!((s.flood_limit_msgs, s.flood_available_msgs), (200, 200));
    assert_eq!((s.flood_limit_bytes, s.flood_available_bytes), (300_000, 300_000));
    // A large maximum transaction size raises the automatic byte capacity.
    let ledger = LedgerLimits { max_tx_size_bytes: 250_000, ..LedgerLimits::default() };
    let fc = receiver(&cfg(), ledger);
    assert_eq!(fc.initial_grant(), grant(200, 350_000));
}

#[test]
fn a_flood_message_beyond_the_granted_credit_is_a_peer_error() {
    // Messages.
    let c = FlowConfig { peer_flood_reading_capacity_msgs: 2, send_more_batch_msgs: 2, ..cfg() };
    let mut fc = receiver(&c, LedgerLimits::default());
    let _r1 = fc.handle_received(secs(1), MessageType::Transaction, 10).unwrap();
    let _r2 = fc.handle_received(secs(1), MessageType::Transaction, 10).unwrap();
    let before = fc.stats();
    let err = fc.handle_received(secs(1), MessageType::Transaction, 10).unwrap_err();
    assert_eq!(err.reason(), "unexpected flood message, peer at capacity");
    assert_eq!(fc.stats(), before, "nothing locked on error");
    // Bytes: exactly the remaining bytes are fine, one more is not.
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let _r = fc.handle_received(secs(1), MessageType::Transaction, 299_000).unwrap();
    assert_eq!(fc.handle_received(secs(1), MessageType::ScpMessage, 1_001).unwrap_err(), FlowError::FloodOverCapacity);
    let _r = fc.handle_received(secs(1), MessageType::ScpMessage, 1_000).unwrap();
    fc.check_invariants().unwrap();
}

#[test]
fn a_flood_message_before_authentication_is_beyond_the_credit() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    assert_eq!(fc.handle_received(secs(0), MessageType::Transaction, 100).unwrap_err(), FlowError::FloodOverCapacity);
    // Handshake messages only use total capacity.
    let r = fc.handle_received(secs(0), MessageType::Hello, 300).unwrap();
    fc.handle_processed(secs(0), r);
    fc.check_invariants().unwrap();
}

#[test]
fn processing_releases_capacity_whatever_the_outcome() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let full = fc.stats().local;
    let r = fc.handle_received(secs(1), MessageType::Transaction, 500).unwrap();
    // The application ignored it (out of sync, duplicate, overloaded): still released.
    fc.handle_processed(secs(2), r);
    let s = fc.stats().local;
    assert_eq!(s.flood_available_msgs, full.flood_available_msgs);
    assert_eq!(s.flood_available_bytes, full.flood_available_bytes);
    assert_eq!(s.total_available_bytes, full.total_available_bytes);
    assert_eq!((s.processed_since_grant_msgs, s.processed_since_grant_bytes), (1, 500));
}

#[test]
fn a_grant_is_due_when_a_batch_of_messages_is_processed() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    for i in 0..40 {
        assert_eq!(fc.poll_grant(), None, "before message {i}");
        let r = fc.handle_received(secs(1), MessageType::Transaction, 100).unwrap();
        fc.handle_processed(secs(1), r);
    }
    assert_eq!(fc.poll_grant(), Some(grant(40, 4_000)));
    assert_eq!(fc.poll_grant(), None);
    let s = fc.stats().local;
    assert_eq!((s.processed_since_grant_msgs, s.processed_since_grant_bytes), (0, 0));
}

#[test]
fn a_grant_is_due_when_processed_bytes_reach_the_byte_batch() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    for _ in 0..3 {
        let r = fc.handle_received(secs(1), MessageType::Transaction, 30_000).unwrap();
        fc.handle_processed(secs(1), r);
    }
    assert_eq!(fc.poll_grant(), None, "90000 < 100000");
    let r = fc.handle_received(secs(1), MessageType::Transaction, 10_000).unwrap();
    fc.handle_processed(secs(1), r);
    assert_eq!(fc.poll_grant(), Some(grant(4, 100_000)), "100000 >= 100000");
}

#[test]
fn grants_return_exactly_what_was_consumed() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let sizes = [1u32, 70_000, 5, 40_000, 12, 99_999, 3, 3];
    let mut receipts = Vec::new();
    for s in sizes {
        receipts.push(fc.handle_received(secs(1), MessageType::FloodAdvert, s as usize).unwrap());
    }
    let mut granted = (0u64, 0u64);
    for r in receipts {
        fc.handle_processed(secs(1), r);
        while let Some(g) = fc.poll_grant() {
            granted.0 += u64::from(g.num_messages);
            granted.1 += u64::from(g.num_bytes);
        }
    }
    let s = fc.stats().local;
    let consumed = sizes.iter().map(|&s| u64::from(s)).sum::<u64>();
    assert_eq!(granted.0 + s.processed_since_grant_msgs, sizes.len() as u64);
    assert_eq!(granted.1 + s.processed_since_grant_bytes, consumed);
    assert_eq!(s.flood_available_bytes, s.flood_limit_bytes, "back to full capacity");
}

#[test]
fn a_max_tx_size_increase_grows_capacity_and_is_granted_as_zero_messages() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let up = LedgerLimits { max_tx_size_bytes: 102_400 + 5_000, ..LedgerLimits::default() };
    fc.handle_ledger_limits(secs(1), up);
    assert_eq!(fc.poll_grant(), Some(grant(0, 5_000)));
    let s = fc.stats().local;
    assert_eq!((s.flood_limit_bytes, s.flood_available_bytes), (305_000, 305_000));
    fc.check_invariants().unwrap();
}

#[test]
fn a_max_tx_size_decrease_is_not_propagated() {
    let mut fc = receiver(&cfg(), LedgerLimits::default());
    let down = LedgerLimits { max_tx_size_bytes: 50_000, ..LedgerLimits::default() };
    fc.handle_ledger_limits(secs(1), down);
    assert_eq!(fc.poll_grant(), None);
    assert_eq!(fc.stats().local.flood_limit_bytes, 300_000);
    // A later increase is measured from the lowered value.
    fc.handle_ledger_limits(secs(2), LedgerLimits { max_tx_size_bytes: 60_000, ..down });
    assert_eq!(fc.poll_grant(), Some(grant(0, 10_000)));
}

#[test]
fn an_increase_before_authentication_enlarges_the_initial_grant() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    fc.handle_ledger_limits(secs(0), LedgerLimits { max_tx_size_bytes: 103_400, ..LedgerLimits::default() });
    assert_eq!(fc.poll_grant(), None);
    fc.handle_authenticated(secs(1));
    assert_eq!(fc.poll_grant(), Some(grant(200, 301_000)));
    fc.check_invariants().unwrap();
}

// ---------------------------------------------------------------- §6.3 total reading capacity

#[test]
fn reading_pauses_when_total_messages_run_out_and_resumes_on_release() {
    let c = FlowConfig { peer_reading_capacity_msgs: 3, ..cfg() };
    let mut fc = receiver(&c, LedgerLimits::default());
    let mut receipts = Vec::new();
    for _ in 0..3 {
        assert!(fc.can_read());
        receipts.push(fc.handle_received(secs(1), MessageType::GetTxSet, 40).unwrap());
    }
    assert!(fc.is_read_throttled());
    assert!(fc.stats().read_throttled);
    fc.handle_processed(secs(2), receipts.pop().unwrap());
    assert!(fc.can_read());
}

#[test]
fn reading_pauses_when_total_bytes_reach_the_floor() {
    let c = FlowConfig { peer_total_reading_capacity_bytes: 1_000, ..cfg() };
    let mut fc = receiver(&c, LedgerLimits::default());
    assert_eq!(fc.stats().local.total_available_bytes, READ_FLOOR_BYTES + 1_000);
    let r1 = fc.handle_received(secs(1), MessageType::ScpQuorumset, 999).unwrap();
    assert!(fc.can_read(), "one byte above the floor");
    let r2 = fc.handle_received(secs(1), MessageType::ScpQuorumset, 1).unwrap();
    assert!(fc.is_read_throttled(), "at the floor");
    fc.handle_processed(secs(1), r2);
    assert!(fc.can_read());
    fc.handle_processed(secs(1), r1);
}

#[test]
fn reading_past_total_capacity_is_a_contract_error_and_never_a_drop() {
    let c = FlowConfig { peer_reading_capacity_msgs: 1, ..cfg() };
    let mut fc = receiver(&c, LedgerLimits::default());
    let _r = fc.handle_received(secs(1), MessageType::GetScpState, 8).unwrap();
    let err = fc.handle_received(secs(1), MessageType::GetScpState, 8).unwrap_err();
    assert_eq!(err, FlowError::ReadWhileThrottled);
    assert!(err.is_contract_misuse() && !err.is_peer_misbehaviour());
}

// ---------------------------------------------------------------- §6.4 queues

#[test]
fn queues_are_served_scp_then_transactions_then_demands_then_adverts() {
    let mut fc = sender_with_credit(&cfg(), grant(100, 100_000));
    let _ = fc.enqueue(secs(1), advert(1, 1));
    let _ = fc.enqueue(secs(1), demand(2, 1));
    let _ = fc.enqueue(secs(1), tx(3, 100));
    let _ = fc.enqueue(secs(1), scp(4, statement(1, 5, externalize(ballot(1, b"x")))));
    let order: Vec<u64> = core::iter::from_fn(|| fc.poll_send(secs(1))).map(|s| s.payload.id).collect();
    assert_eq!(order, [4, 3, 2, 1]);
}

#[test]
fn each_queue_is_first_in_first_out() {
    let mut fc = sender_with_credit(&cfg(), grant(100, 100_000));
    for id in 0..5 {
        let _ = fc.enqueue(secs(id), tx(id, 100));
    }
    let sent: Vec<_> = core::iter::from_fn(|| fc.poll_send(secs(9))).collect();
    assert_eq!(sent.iter().map(|s| s.payload.id).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(sent[3].enqueued_at, secs(3), "the enqueue time is handed back");
}

#[test]
fn a_blocked_queue_is_skipped_so_a_small_advert_overtakes_a_large_transaction() {
    let mut fc = sender_with_credit(&cfg(), grant(5, 500));
    let _ = fc.enqueue(secs(1), tx(1, 1_000));
    let _ = fc.enqueue(secs(1), tx(2, 10));
    let _ = fc.enqueue(secs(1), advert(3, 1));
    assert_eq!(fc.no_capacity_since(), None);
    let out = fc.poll_send(secs(2)).unwrap();
    assert_eq!(out.payload.id, 3, "the advert goes; the small tx stays behind the large one");
    assert_eq!(fc.no_capacity_since(), Some(secs(2)));
    assert!(fc.poll_send(secs(2)).is_none());
    assert_eq!(fc.first_waiting(Priority::Transaction).unwrap().size_bytes(), 1_000);
}

#[test]
fn in_flight_messages_are_skipped_and_leave_the_queue_when_written() {
    let mut fc = sender_with_credit(&cfg(), grant(10, 10_000));
    let _ = fc.enqueue(secs(1), tx(1, 100));
    let _ = fc.enqueue(secs(1), tx(2, 100));
    let first = fc.poll_send(secs(1)).unwrap();
    let q = *fc.stats().queue(Priority::Transaction);
    assert_eq!((q.len_msgs, q.in_flight_msgs, q.bytes), (2, 1, 200), "still queued while in flight");
    let second = fc.poll_send(secs(1)).unwrap();
    assert_eq!(second.payload.id, 2, "the in-flight head is skipped");
    assert!(fc.handle_write_complete(secs(2), first.ticket));
    assert!(!fc.handle_write_complete(secs(2), first.ticket), "completion is idempotent");
    assert!(fc.handle_write_complete(secs(2), second.ticket));
    let q = *fc.stats().queue(Priority::Transaction);
    assert_eq!((q.len_msgs, q.in_flight_msgs, q.bytes, q.sent_msgs_total), (0, 0, 0, 2));
}

#[test]
fn the_no_capacity_clock_starts_at_creation_moves_when_blocked_and_stops_on_grants() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(10));
    assert_eq!(fc.poll_timeout(), Some(secs(70)));
    fc.handle_send_more(secs(11), &grant(1, 100)).unwrap();
    assert_eq!(fc.poll_timeout(), None);
    let _ = fc.enqueue(secs(12), tx(1, 100));
    let _ = fc.enqueue(secs(12), tx(2, 100));
    assert!(fc.poll_send(secs(12)).is_some());
    assert!(fc.poll_send(secs(12)).is_none());
    assert_eq!(fc.no_capacity_since(), Some(secs(12)));
    // Polling again without a new event does not move it (stellar-core only tries to send
    // on an enqueue, a grant or a completed write) ...
    assert!(fc.poll_send(secs(20)).is_none());
    assert_eq!(fc.no_capacity_since(), Some(secs(12)));
    // ... but every such attempt that finds a waiting message without credit overwrites it.
    let _ = fc.enqueue(secs(30), tx(3, 100));
    assert!(fc.poll_send(secs(30)).is_none());
    assert_eq!(fc.no_capacity_since(), Some(secs(30)));
    assert_eq!(fc.poll_timeout(), Some(secs(90)));
    // A grant that still does not let the message through clears it until the next attempt.
    fc.handle_send_more(secs(31), &grant(0, 1)).unwrap();
    assert_eq!(fc.no_capacity_since(), None);
    assert!(fc.poll_send(secs(32)).is_none());
    assert_eq!(fc.no_capacity_since(), Some(secs(32)));
}

#[test]
fn sixty_seconds_without_outbound_credit_drops_the_peer() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    assert_eq!(fc.handle_timeout(secs(59)), Ok(()));
    let err = fc.handle_timeout(secs(60)).unwrap_err();
    assert_eq!(err.reason(), "idle timeout (no new flood requests)");
    assert_eq!(fc.handle_timeout(secs(61)), Err(err), "idempotent");
    // With credit and nothing blocked, the clock does not run.
    let mut fc = sender_with_credit(&cfg(), grant(1, 1));
    assert_eq!(fc.handle_timeout(secs(1_000)), Ok(()));
}

#[test]
fn a_transaction_larger_than_the_maximum_transaction_size_is_not_queued() {
    let ledger = LedgerLimits { max_tx_size_bytes: 1_000, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), ledger, secs(0));
    let r = fc.enqueue(secs(0), tx(1, 1_001));
    assert!(r.over_max_tx_size && !r.queued);
    assert_eq!((r.dropped_msgs, r.dropped_bytes), (1, 1_001));
    let r = fc.enqueue(secs(0), tx(2, 1_000));
    assert!(r.queued && !r.shed_anything());
    assert_eq!(fc.stats().queue(Priority::Transaction).len_msgs, 1);
    // The size limit only applies to transactions.
    assert!(fc.enqueue(secs(0), advert(3, 100)).queued);
}

#[test]
fn the_transaction_queue_over_its_message_limit_is_discarded_whole() {
    let ledger = LedgerLimits { max_tx_set_size_ops: 3, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), ledger, secs(0));
    for id in 0..3 {
        assert!(!fc.enqueue(secs(0), tx(id, 10)).shed_anything());
    }
    let r = fc.enqueue(secs(0), tx(3, 10));
    assert!(r.queue_discarded && !r.queued);
    assert_eq!((r.dropped_msgs, r.dropped_bytes), (4, 40));
    let q = *fc.stats().queue(Priority::Transaction);
    assert_eq!((q.len_msgs, q.bytes, q.dropped_msgs_total), (0, 0, 4));
}

#[test]
fn the_transaction_queue_over_its_byte_limit_is_discarded_whole() {
    let c = FlowConfig { outbound_tx_queue_byte_limit: 250, ..cfg() };
    let mut fc = Fc::new(&c, LedgerLimits::default(), secs(0));
    assert!(fc.enqueue(secs(0), tx(1, 100)).queued);
    assert!(fc.enqueue(secs(0), tx(2, 150)).queued, "250 is not over 250");
    let r = fc.enqueue(secs(0), tx(3, 1));
    assert!(r.queue_discarded);
    assert_eq!(r.dropped_msgs, 3);
    assert_eq!(fc.stats().queue(Priority::Transaction).len_msgs, 0);
}

#[test]
fn scp_messages_for_forgotten_slots_are_trimmed_except_the_checkpoint() {
    let ledger = LedgerLimits { min_slot_to_remember: 10, checkpoint_slot: 8, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    for (id, slot) in [(1, 7), (2, 8), (3, 9), (4, 10)] {
        let _ = fc.enqueue(secs(0), scp(id, statement(id as u8, slot, externalize(ballot(1, b"v")))));
    }
    fc.handle_ledger_limits(secs(1), ledger);
    // Trimming happens at the next SCP enqueue.
    let r = fc.enqueue(secs(1), scp(5, statement(5, 11, externalize(ballot(1, b"v")))));
    assert_eq!((r.scp_old_slot_msgs, r.dropped_msgs), (2, 2));
    let slots: Vec<_> = fc.queued(Priority::Scp).map(|e| e.meta.scp_slot_index().unwrap()).collect();
    assert_eq!(slots, [8, 10, 11]);
    // The new message itself is trimmed when its slot is forgotten.
    let r = fc.enqueue(secs(1), scp(6, statement(6, 3, externalize(ballot(1, b"v")))));
    assert!(!r.queued && r.scp_old_slot_msgs == 1);
}

#[test]
fn an_older_scp_statement_is_replaced_in_place_by_the_newer_one_once_per_enqueue() {
    let mut fc = Fc::new(&cfg(), LedgerLimits::default(), secs(0));
    // Two statements of node 1 that do not supersede each other (a PREPARE ranks below a
    // CONFIRM), with one of node 2 between them.
    let c1 = statement(1, 5, confirm(ballot(2, b"v"), 1, 1));
    let other = statement(2, 5, prepare(ballot(1, b"v"), None, None, 0));
    let p1 = statement(1, 5, prepare(ballot(5, b"v"), None, None, 0));
    assert!(!fc.enqueue(secs(0), scp(1, c1)).scp_replaced);
    assert!(!fc.enqueue(secs(0), scp(2, other)).scp_replaced);
    assert!(!fc.enqueue(secs(0), scp(3, p1)).scp_replaced);
    // Node 1's EXTERNALIZE supersedes both, but only the first is replaced in one enqueue.
    let r = fc.enqueue(secs(1), scp(4, statement(1, 5, externalize(ballot(2, b"v")))));
    assert!(r.scp_replaced && r.queued);
    assert_eq!(r.dropped_msgs, 1);
    let ids: Vec<_> = fc.queued(Priority::Scp).map(|e| e.payload.unwrap().id).collect();
    assert_eq!(ids, [4, 2, 3], "the new message takes the place of the replaced one");
    let times: Vec<_> = fc.queued(Priority::Scp).map(|e| e.enqueued_at).collect();
    assert_eq!(times, [secs(1), secs(0), secs(0)], "with its own enqueue time");
    // Nominations are compared with nominations only.
    let r = fc.enqueue(secs(1), scp(5, statement(1, 5, nominate(&[b"a"], &[]))));
    assert!(!r.scp_replaced);
}

#[test]
fn the_scp_queue_ignores_the_byte_and_message_limits() {
    let c = FlowConfig { outbound_tx_queue_byte_limit: 1, ..cfg() };
    let ledger = LedgerLimits { max_tx_set_size_ops: 1, ..LedgerLimits::default() };
    let mut fc = Fc::new(&c, ledger, secs(0));
    for id in 0..20u64 {
        let r = fc.enqueue(secs(0), scp(id, statement(id as u8, 5, externalize(ballot(1, b"v")))));
        assert!(!r.shed_anything());
    }
    assert_eq!(fc.stats().queue(Priority::Scp).len_msgs, 20);
}

#[test]
fn advert_and_demand_queues_are_discarded_when_their_hashes_exceed_the_limit() {
    let ledger = LedgerLimits { max_tx_set_size_ops: 10, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), ledger, secs(0));
    assert!(fc.enqueue(secs(0), advert(1, 6)).queued);
    assert!(fc.enqueue(secs(0), advert(2, 4)).queued, "10 hashes is not over 10");
    assert!(fc.enqueue(secs(0), demand(3, 10)).queued, "separate count per type");
    let r = fc.enqueue(secs(0), advert(4, 1));
    assert!(r.queue_discarded && r.dropped_msgs == 3);
    let s = fc.stats();
    assert_eq!((s.queue(Priority::Advert).len_msgs, s.queue(Priority::Advert).hashes), (0, 0));
    assert_eq!(s.queue(Priority::Demand).hashes, 10);
}

#[test]
fn in_flight_scp_entries_are_neither_trimmed_nor_replaced() {
    let mut fc = sender_with_credit(&cfg(), grant(1, 10_000));
    let _ = fc.enqueue(secs(0), scp(1, statement(1, 5, prepare(ballot(1, b"v"), None, None, 0))));
    let out = fc.poll_send(secs(0)).unwrap();
    fc.handle_ledger_limits(secs(1), LedgerLimits { min_slot_to_remember: 9, ..LedgerLimits::default() });
    let r = fc.enqueue(secs(1), scp(2, statement(1, 5, externalize(ballot(1, b"v")))));
    assert!(!r.scp_replaced, "the in-flight PREPARE cannot be replaced");
    assert_eq!(r.scp_old_slot_msgs, 1, "only the new, forgotten-slot message is removed");
    let q = *fc.stats().queue(Priority::Scp);
    assert_eq!((q.len_msgs, q.in_flight_msgs), (1, 1));
    assert!(fc.handle_write_complete(secs(2), out.ticket));
}

#[test]
fn a_discarded_queue_takes_its_in_flight_entries_without_counting_them_as_dropped() {
    let ledger = LedgerLimits { max_tx_set_size_ops: 2, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), ledger, secs(0));
    fc.handle_send_more(secs(0), &grant(1, 1_000)).unwrap();
    let _ = fc.enqueue(secs(0), tx(1, 10));
    let out = fc.poll_send(secs(0)).unwrap();
    let _ = fc.enqueue(secs(0), tx(2, 10));
    let r = fc.enqueue(secs(0), tx(3, 10));
    assert!(r.queue_discarded);
    assert_eq!(r.dropped_msgs, 2, "the in-flight message is still written");
    assert!(!fc.handle_write_complete(secs(1), out.ticket), "already gone from the queue");
    fc.check_invariants().unwrap();
}

#[test]
fn the_local_hard_bound_limits_every_queue() {
    let c = FlowConfig { queue_hard_limit_msgs: 3, ..cfg() };
    let ledger = LedgerLimits { max_tx_set_size_ops: 1_000, ..LedgerLimits::default() };
    let mut fc = Fc::new(&c, ledger, secs(0));
    // SCP: the oldest waiting entry is shed.
    for id in 0..4u64 {
        let r = fc.enqueue(secs(0), scp(id, statement(id as u8, 5, externalize(ballot(1, b"v")))));
        assert_eq!(r.hard_limit_msgs, u64::from(id == 3));
    }
    let ids: Vec<_> = fc.queued(Priority::Scp).map(|e| e.payload.unwrap().id).collect();
    assert_eq!(ids, [1, 2, 3]);
    // Adverts without hashes cannot exceed the hash limit, but the hard bound holds.
    for id in 0..3 {
        assert!(fc.enqueue(secs(0), advert(id, 0)).queued);
    }
    assert!(fc.enqueue(secs(0), advert(9, 0)).queue_discarded);
    // In flight: at most the bound.
    fc.handle_send_more(secs(0), &grant(100, 100_000)).unwrap();
    let sent = core::iter::from_fn(|| fc.poll_send(secs(0))).filter(|s| s.priority == Priority::Scp).count();
    assert_eq!(sent, 3);
    let r = fc.enqueue(secs(0), scp(10, statement(10, 5, externalize(ballot(1, b"v")))));
    assert!(!r.queued && r.hard_limit_msgs == 1, "all in flight: the new message is shed");
    fc.check_invariants().unwrap();
}

#[test]
fn spec_shedding_may_drop_transactions_while_lower_priority_adverts_stay() {
    // Documented in the `queue` module: the per-queue rules of §6.4 shed a higher-priority
    // queue without touching lower-priority ones. What holds is isolation.
    let ledger = LedgerLimits { max_tx_set_size_ops: 1, ..LedgerLimits::default() };
    let mut fc = Fc::new(&cfg(), ledger, secs(0));
    let _ = fc.enqueue(secs(0), advert(1, 1));
    let _ = fc.enqueue(secs(0), tx(2, 10));
    let r = fc.enqueue(secs(0), tx(3, 10));
    assert!(r.queue_discarded && r.priority == Priority::Transaction);
    assert_eq!(fc.stats().queue(Priority::Advert).len_msgs, 1, "the advert stays");
}

#[test]
fn an_earlier_now_is_treated_as_the_latest_one() {
    let mut fc = sender_with_credit(&cfg(), grant(1, 100));
    let _ = fc.enqueue(secs(50), tx(1, 100));
    let _ = fc.enqueue(secs(10), tx(2, 100));
    let sent = fc.poll_send(secs(5)).unwrap();
    assert_eq!(sent.enqueued_at, secs(50));
    assert!(fc.poll_send(secs(5)).is_none());
    assert_eq!(fc.no_capacity_since(), Some(secs(50)));
    let second = fc.queued(Priority::Transaction).nth(1).unwrap().enqueued_at;
    assert_eq!(second, secs(50));
}
