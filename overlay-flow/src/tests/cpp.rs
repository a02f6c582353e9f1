//! Equivalents of the flow-control cases of stellar-core's OverlayTests.cpp (PROTOCOL.md §16),
//! each naming the C++ case it mirrors. The LoopbackPeer pair becomes a [`Pair`] of machines
//! joined by in-memory queues; "crank" runs both until nothing moves.

use super::*;
use crate::scp_order::tests::{ballot, externalize, nominate, statement};
use overlay_proto::Priority;
use overlay_proto::xdr::{ScpStatementPledges, ScpStatementPrepare};

/// Size of the test transaction `tx1` (larger than the minimum Soroban max-tx-size).
const TX1: usize = 20_000;

fn explicit(capacity_bytes: u32, batch_bytes: u32) -> FlowConfig {
    FlowConfig {
        peer_flood_reading_capacity_bytes: capacity_bytes,
        send_more_batch_bytes: batch_bytes,
        ..FlowConfig::default()
    }
}

fn ledger_with_max_tx(max_tx_size_bytes: u32) -> LedgerLimits {
    LedgerLimits { max_tx_size_bytes, max_tx_set_size_ops: 1_000, ..LedgerLimits::default() }
}

/// The `test(shouldRequestMore)` lambda of "flow control byte capacity" / "send more flow":
/// A (initiator, config `a`) sends tx1 to B (acceptor, config `b`).
fn send_more_flow(a: &FlowConfig, b: &FlowConfig, should_request_more: bool) {
    let max_tx = TX1 as u32;
    a.validate(max_tx).unwrap();
    b.validate(max_tx).unwrap();
    let mut p = Pair::new(a, b, ledger_with_max_tx(max_tx));
    let b_total = b.flood_capacity_bytes(max_tx);
    // Both sides hold the other's full capacity.
    assert_eq!(p.a.fc.stats().outbound.capacity_bytes, b_total);
    assert_eq!(p.b.fc.stats().outbound.capacity_bytes, a.flood_capacity_bytes(max_tx));
    let grants_before = p.b.grants_sent.len();

    p.send(Side::A, tx(1, TX1));

    assert_eq!(p.b.delivered.len(), 1);
    assert_eq!(p.b.grants_sent.len() - grants_before, usize::from(should_request_more));
    // The receiver is back to full capacity.
    let local = p.b.fc.stats().local;
    assert_eq!(local.flood_available_bytes, b_total);
    let out = p.a.fc.stats().outbound.capacity_bytes;
    if should_request_more {
        assert_eq!(out, b_total, "sender capacity restored");
    } else {
        assert_eq!(out, b_total - TX1 as u64, "sender capacity still reduced");
    }
    assert!(p.connected());
}

#[test]
fn flow_control_byte_capacity_basic_capacity_accounting() {
    // C++: OverlayTests "flow control byte capacity" / "basic capacity accounting"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, ledger_with_max_tx(TX1 as u32));
    p.b.auto_process = false;
    let total = c.flood_capacity_bytes(TX1 as u32);
    p.send(Side::A, tx(1, TX1));
    assert_eq!(p.a.fc.stats().outbound.capacity_bytes, total - TX1 as u64);
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0, "written and removed");
    assert_eq!(p.b.fc.stats().local.flood_available_bytes, total - TX1 as u64);
}

#[test]
fn flow_control_byte_capacity_batch_size_is_less_than_message_size() {
    // C++: OverlayTests "flow control byte capacity" / "batch size is less than message size"
    let b = explicit(2 * TX1 as u32 + 2_000, TX1 as u32 / 2);
    send_more_flow(&FlowConfig::default(), &b, true);
}

#[test]
fn flow_control_byte_capacity_message_count_kicks_in_first() {
    // C++: OverlayTests "flow control byte capacity" / "message count kicks in first"
    let b = FlowConfig {
        peer_flood_reading_capacity_msgs: 1,
        send_more_batch_msgs: 1,
        ..explicit(3 * TX1 as u32 + 2_000, 2 * TX1 as u32)
    };
    send_more_flow(&FlowConfig::default(), &b, true);
}

#[test]
fn flow_control_byte_capacity_automatic_calculation_of_byte_configs() {
    // C++: OverlayTests "flow control byte capacity" / "automatic calculation of byte configs"
    send_more_flow(&FlowConfig::default(), &FlowConfig::default(), false);
}

#[test]
fn flow_control_byte_capacity_mixed_and_older_versions() {
    // C++: OverlayTests "flow control byte capacity" / "mixed versions" and "older versions".
    // Every overlay version this crate speaks (>= 41) does byte flow control, so there is no
    // version input: both configurations behave the same.
    let c = explicit(2 * TX1 as u32 + 2_000, TX1 as u32);
    send_more_flow(&c, &c, true);
}

// ---------------------------------------------------------------- transaction size upgrades

/// Sizes of "transaction size upgrades": tx2 is larger than tx1 and than the initial maximum.
const TX2: usize = TX1 + 200;
const FEE_BUMP_OVERHEAD: usize = 40;
/// The flood buffer the C++ test sets (`setFlowControlExtraBufferSize(100)`).
const BUFFER: u32 = 100;
/// maxTxSize = max(classic = tx1, sorobanMax(tx1 envelope = tx1 - 4) + buffer).
const MAX_TX_INITIAL: u32 = TX1 as u32 - 4 + BUFFER;
/// After upgrading the Soroban max to tx2's envelope size.
const MAX_TX_UPGRADED: u32 = TX2 as u32 - 4 + BUFFER;

fn upgrades_pair() -> Pair {
    // Batch = tx1 + 1 and capacity = batch + tx1 + buffer on both sides: tx2 cannot be sent.
    let c = explicit(2 * TX1 as u32 + 1 + BUFFER, TX1 as u32 + 1);
    c.validate(MAX_TX_INITIAL).unwrap();
    let mut p = Pair::new(&c, &c, ledger_with_max_tx(MAX_TX_INITIAL));
    p.send(Side::A, tx(1, TX1));
    assert_eq!(p.b.delivered.len(), 1);
    p
}

fn upgrade(p: &mut Pair, side: Side, max_tx_size_bytes: u32) {
    let now = p.now;
    p.node(side).fc.handle_ledger_limits(now, ledger_with_max_tx(max_tx_size_bytes));
    p.crank();
}

#[test]
fn transaction_size_upgrades_no_upgrade_drop_messages_over_limit() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "no upgrade, drop messages over limit"
    let mut p = upgrades_pair();
    let r = p.send(Side::A, tx(2, TX2));
    assert!(r.over_max_tx_size);
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0);
    assert_eq!(p.b.delivered.len(), 1);
}

#[test]
fn transaction_size_upgrades_fee_bump_is_within_limit() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "fee bump is within limit"
    let mut p = upgrades_pair();
    p.send(Side::A, tx(2, TX1 + FEE_BUMP_OVERHEAD));
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0);
    assert_eq!(p.b.delivered.len(), 2);
}

#[test]
fn transaction_size_upgrades_both_upgrade() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "upgrade increases limit" / "both upgrade"
    let mut p = upgrades_pair();
    let a_grants = p.a.grants_sent.len();
    upgrade(&mut p, Side::A, MAX_TX_UPGRADED);
    upgrade(&mut p, Side::B, MAX_TX_UPGRADED);
    let d = MAX_TX_UPGRADED - MAX_TX_INITIAL;
    assert_eq!(p.a.grants_sent[a_grants..], [grant(0, d)]);
    assert_eq!(*p.b.grants_sent.last().unwrap(), grant(0, d));
    p.send(Side::A, tx(2, TX2));
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0);
    assert_eq!(p.b.delivered.len(), 2);

    // "fee-bump for tx2 is within limit after upgrade"
    let mut fee_bump = p;
    fee_bump.send(Side::A, tx(3, TX2 + FEE_BUMP_OVERHEAD));
    assert_eq!(fee_bump.b.delivered.len(), 3);
}

#[test]
fn transaction_size_upgrades_upgrade_decreases_limit() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "upgrade increases limit" / "both upgrade" / "upgrade decreases limit"
    let mut p = upgrades_pair();
    upgrade(&mut p, Side::A, MAX_TX_UPGRADED);
    upgrade(&mut p, Side::B, MAX_TX_UPGRADED);
    p.send(Side::A, tx(2, TX2));
    assert_eq!(p.b.delivered.len(), 2);
    // Queue another large tx, then both decrease the limit: it was accepted before, so it
    // still goes; no SEND_MORE_EXTENDED is sent for a decrease.
    p.send(Side::A, tx(3, TX2));
    let grants = (p.a.grants_sent.len(), p.b.grants_sent.len());
    upgrade(&mut p, Side::A, TX1 as u32);
    upgrade(&mut p, Side::B, TX1 as u32);
    assert_eq!(p.b.delivered.len(), 3);
    assert_eq!((p.a.grants_sent.len(), p.b.grants_sent.len()), grants);
    // tx1 still fits the classic limit.
    p.send(Side::A, tx(4, TX1));
    assert_eq!(p.b.delivered.len(), 4);
    // tx2 is now over the limit and dropped.
    assert!(p.send(Side::A, tx(5, TX2)).over_max_tx_size);
    assert_eq!(p.b.delivered.len(), 4);
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0);
}

#[test]
fn transaction_size_upgrades_upgrade_delayed_acceptor_eventually_upgrades() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "upgrade increases limit" / "upgrade delayed" / "acceptor eventually upgrades"
    let mut p = upgrades_pair();
    upgrade(&mut p, Side::A, MAX_TX_UPGRADED);
    p.send(Side::A, tx(2, TX2));
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, TX2 as u64, "stuck");
    p.advance(Duration::from_secs(5));
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, TX2 as u64, "still stuck");
    assert_eq!(p.b.delivered.len(), 1);
    upgrade(&mut p, Side::B, MAX_TX_UPGRADED);
    assert_eq!(p.a.fc.stats().queue(Priority::Transaction).bytes, 0);
    assert_eq!(p.b.delivered.len(), 2);
    assert!(p.connected());
}

#[test]
fn transaction_size_upgrades_upgrade_delayed_acceptor_never_upgrades_drop_after_timeout() {
    // C++: OverlayTests "flow control byte capacity" / "transaction size upgrades" /
    // "upgrade increases limit" / "upgrade delayed" / "acceptor never upgrades, drop after timeout"
    let mut p = upgrades_pair();
    upgrade(&mut p, Side::A, MAX_TX_UPGRADED);
    p.send(Side::A, tx(2, TX2));
    p.advance(crate::config::PEER_SEND_MODE_IDLE_TIMEOUT + Duration::from_secs(5));
    assert!(!p.connected());
    assert_eq!(p.a.dropped.unwrap().reason(), "idle timeout (no new flood requests)");
}

// ---------------------------------------------------------------- other flow-control cases

#[test]
fn flow_control_total_byte_capacity_throttles_non_flood_traffic() {
    // C++: OverlayTests "flow control total byte capacity throttles non-flood traffic"
    // Bursts of large non-flood messages (SCP_QUORUMSET) exceed the total byte capacity: the
    // reader pauses, never drops, and drains back to full capacity; 100 iterations.
    let c = FlowConfig::default();
    let mut fc = receiver(&c, LedgerLimits::default());
    let full = fc.stats().local;
    for _ in 0..100 {
        let mut receipts = Vec::new();
        while fc.can_read() {
            receipts.push(fc.handle_received(secs(1), MessageType::ScpQuorumset, 400_000).unwrap());
        }
        assert_eq!(receipts.len(), 3, "1 MiB above the floor holds three 400 kB messages");
        assert!(fc.is_read_throttled());
        for r in receipts {
            fc.handle_processed(secs(1), r);
        }
        assert_eq!(fc.stats().local, full);
        assert!(fc.can_read());
        assert_eq!(fc.poll_grant(), None);
    }
}

#[test]
fn loopback_peer_flow_control_activation_basic() {
    // C++: OverlayTests "loopback peer flow control activation" / "basic"
    let c = FlowConfig::default();
    let p = Pair::new(&c, &c, LedgerLimits::default());
    for node in [&p.a, &p.b] {
        let s = node.fc.stats();
        assert_eq!((s.outbound.capacity_msgs, s.outbound.capacity_bytes), (200, 300_000));
        assert_eq!((s.local.flood_available_msgs, s.local.flood_available_bytes), (200, 300_000));
    }
    assert_eq!(p.a.grants_sent, [grant(200, 300_000)]);
    assert!(p.connected());
}

#[test]
fn loopback_peer_flow_control_activation_bad_peer_invalid_value_in_the_message() {
    // C++: OverlayTests "loopback peer flow control activation" / "bad peer" /
    // "invalid value in the message"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, LedgerLimits::default());
    p.inject(Side::A, Frame::Grant(grant(0, 0)));
    assert!(!p.connected());
    assert_eq!(p.a.dropped.unwrap().reason(), "invalid message SEND_MORE_EXTENDED");
}

#[test]
fn loopback_peer_flow_control_activation_bad_peer_invalid_message_type() {
    // C++: OverlayTests "loopback peer flow control activation" / "bad peer" /
    // "invalid message type"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, LedgerLimits::default());
    p.inject(Side::A, Frame::LegacySendMore);
    assert!(!p.connected());
    assert_eq!(p.a.dropped.unwrap().reason(), "unexpected message type SEND_MORE");
}

#[test]
fn drop_peers_that_dont_respect_capacity_bytes() {
    // C++: OverlayTests "drop peers that dont respect capacity" (bytes): capacity of one tx
    // plus 1 + 2000 bytes; the acceptor sends two txs bypassing flow control.
    let tx_size = 3_000usize;
    let a = explicit(tx_size as u32 + 1 + 2_000, 1);
    let mut p = Pair::new(&a, &FlowConfig::default(), ledger_with_max_tx(tx_size as u32));
    p.a.auto_process = false;
    let msg = Payload { id: 1, ty: MessageType::Transaction, size: tx_size };
    p.inject(Side::A, Frame::Flood(msg.clone()));
    assert!(p.connected());
    p.inject(Side::A, Frame::Flood(msg));
    assert!(!p.connected());
    assert_eq!(p.a.dropped.unwrap().reason(), "unexpected flood message, peer at capacity");
}

#[test]
fn drop_peers_that_dont_respect_capacity_messages() {
    // C++: OverlayTests "drop peers that dont respect capacity" (messages)
    let a = FlowConfig { peer_flood_reading_capacity_msgs: 1, send_more_batch_msgs: 1, ..FlowConfig::default() };
    let mut p = Pair::new(&a, &FlowConfig::default(), LedgerLimits::default());
    p.a.auto_process = false;
    let msg = Payload { id: 1, ty: MessageType::Transaction, size: 100 };
    p.inject(Side::A, Frame::Flood(msg.clone()));
    p.inject(Side::A, Frame::Flood(msg));
    assert_eq!(p.a.dropped, Some(FlowError::FloodOverCapacity));
}

#[test]
fn drop_idle_flow_controlled_peers() {
    // C++: OverlayTests "drop idle flow-controlled peers": the initiator's byte batch is
    // larger than its capacity, so it never grants more; the acceptor is left without credit
    // and drops it after PEER_SEND_MODE_IDLE_TIMEOUT.
    let tx_size = 200usize;
    let a = explicit(tx_size as u32, tx_size as u32 + 1);
    assert!(a.validate(tx_size as u32).is_err(), "deliberately broken, as in the C++ test");
    let mut p = Pair::new(&a, &FlowConfig::default(), LedgerLimits::default());
    p.send(Side::B, tx(1, tx_size));
    p.send(Side::B, tx(2, tx_size));
    assert!(p.b.fc.stats().outbound.capacity_bytes < tx_size as u64);
    assert_eq!(p.a.delivered.len(), 1);
    p.advance(Duration::from_secs(59));
    assert!(p.connected());
    p.advance(Duration::from_secs(6));
    assert!(!p.connected());
    assert_eq!(p.b.dropped.unwrap().reason(), "idle timeout (no new flood requests)");
}

#[test]
fn drop_peers_that_overflow_capacity_message_capacity() {
    // C++: OverlayTests "drop peers that overflow capacity" / "message capacity"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, LedgerLimits::default());
    p.a.fc.set_outbound_capacity_for_testing(u64::MAX, 300_000);
    p.inject(Side::A, Frame::Grant(grant(2, 2)));
    assert_eq!(p.a.dropped.unwrap().reason(), "Peer capacity overflow");
    assert!(!p.connected());
}

#[test]
fn drop_peers_that_overflow_capacity_byte_capacity() {
    // C++: OverlayTests "drop peers that overflow capacity" / "byte capacity"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, LedgerLimits::default());
    p.a.fc.set_outbound_capacity_for_testing(200, u64::MAX);
    p.inject(Side::A, Frame::Grant(grant(2, 2)));
    assert_eq!(p.a.dropped.unwrap().reason(), "Peer capacity overflow");
}

// ---------------------------------------------------------------- outbound queue filtering

/// The latest messages a validator sent for a slot: a nomination and an externalize.
fn latest_messages(node: u8, slot: u64) -> Vec<ScpStatement> {
    vec![
        statement(node, slot, nominate(&[b"tx set"], &[b"tx set"])),
        statement(node, slot, externalize(ballot(1, b"tx set"))),
    ]
}

/// MAX_SLOTS_TO_REMEMBER = 3, checkpoint frequency 8 (accelerated test checkpoints).
fn filtering_ledger(tracking_slot: u64) -> LedgerLimits {
    let min_slot = tracking_slot.saturating_sub(3 - 1).max(1);
    let checkpoint = (tracking_slot / 8) * 8;
    LedgerLimits {
        max_tx_size_bytes: 102_400,
        max_tx_set_size_ops: 50,
        min_slot_to_remember: min_slot,
        checkpoint_slot: checkpoint,
    }
}

fn filtering_fc(ledger: LedgerLimits) -> Fc {
    Fc::new(&FlowConfig::default(), ledger, secs(0))
}

#[test]
fn outbound_queue_filtering_scp_messages_slot_too_old() {
    // C++: OverlayTests "outbound queue filtering" / "SCP messages, slot too old"
    // lcl = 11; messages for slot lcl - MAX_SLOTS_TO_REMEMBER = 8, the checkpoint: kept.
    let ledger = filtering_ledger(11);
    assert_eq!((ledger.min_slot_to_remember, ledger.checkpoint_slot), (9, 8));
    let mut fc = filtering_fc(ledger);
    for (id, st) in latest_messages(3, 8).into_iter().enumerate() {
        let _ = fc.enqueue(secs(0), scp(id as u64, st));
    }
    assert_eq!(fc.stats().queue(Priority::Scp).len_msgs, 2);
}

#[test]
fn outbound_queue_filtering_scp_messages_checkpoint_too_old() {
    // C++: OverlayTests "outbound queue filtering" / "SCP messages, checkpoint too old"
    // After the next checkpoint (16), messages moved back one checkpoint are all removed.
    let mut fc = filtering_fc(filtering_ledger(16));
    for (id, st) in latest_messages(3, 16 - 8).into_iter().enumerate() {
        let _ = fc.enqueue(secs(0), scp(id as u64, st));
    }
    assert_eq!(fc.stats().queue(Priority::Scp).len_msgs, 0);
}

#[test]
fn outbound_queue_filtering_txs_limit_reached_trim_based_on_message_count() {
    // C++: OverlayTests "outbound queue filtering" / "txs, limit reached" /
    // "trim based on message count": limit + 10 adds leave 9.
    let ledger = filtering_ledger(11);
    let limit = u64::from(ledger.max_tx_set_size_ops);
    let mut fc = filtering_fc(ledger);
    let tx_size = 100;
    for id in 0..limit + 10 {
        let _ = fc.enqueue(secs(0), tx(id, tx_size));
    }
    let q = *fc.stats().queue(Priority::Transaction);
    assert_eq!(q.len_msgs, 9);
    assert_eq!(q.bytes, 9 * tx_size as u64);
    assert!(q.bytes < fc.config().outbound_tx_queue_byte_limit);
    assert_eq!(q.dropped_msgs_total, limit + 1);
}

#[test]
fn outbound_queue_filtering_txs_limit_reached_trim_based_on_byte_count() {
    // C++: OverlayTests "outbound queue filtering" / "txs, limit reached" /
    // "trim based on byte count": a byte limit of 1.5 messages, 3 adds leave 1.
    let tx_size = 100usize;
    let c = FlowConfig { outbound_tx_queue_byte_limit: (tx_size * 3 / 2) as u64, ..FlowConfig::default() };
    let mut fc = Fc::new(&c, filtering_ledger(11), secs(0));
    for id in 0..3 {
        let _ = fc.enqueue(secs(0), tx(id, tx_size));
    }
    let q = *fc.stats().queue(Priority::Transaction);
    assert_eq!((q.len_msgs, q.bytes), (1, tx_size as u64));
}

#[test]
fn outbound_queue_filtering_obsolete_scp_messages_only_latest_messages_no_trimming() {
    // C++: OverlayTests "outbound queue filtering" / "obsolete SCP messages" /
    // "only latest messages, no trimming": the byte limit does not apply to SCP.
    let c = FlowConfig { outbound_tx_queue_byte_limit: 1, ..FlowConfig::default() };
    let mut fc = Fc::new(&c, filtering_ledger(11), secs(0));
    let envs = latest_messages(3, 11);
    for (id, st) in envs.iter().cloned().enumerate() {
        let _ = fc.enqueue(secs(0), scp(id as u64, st));
    }
    assert_eq!(fc.stats().queue(Priority::Scp).len_msgs, envs.len());
}

/// `injectPrepareMsgs`: before each EXTERNALIZE, a PREPARE copy of it (guaranteed older).
fn inject_prepare_msgs(fc: &mut Fc, envs: &[ScpStatement]) {
    let mut id = 0;
    for st in envs {
        if matches!(st.pledges, ScpStatementPledges::Externalize(_)) {
            let mut copy = st.clone();
            copy.pledges = ScpStatementPledges::Prepare(ScpStatementPrepare::default());
            let _ = fc.enqueue(secs(0), scp(id, copy));
            id += 1;
        }
        let _ = fc.enqueue(secs(0), scp(id, st.clone()));
        id += 1;
    }
}

fn scp_queue_kinds(fc: &Fc) -> Vec<&'static str> {
    fc.queued(Priority::Scp)
        .map(|e| match e.meta.scp_statement().unwrap().pledges {
            ScpStatementPledges::Nominate(_) => "NOMINATE",
            ScpStatementPledges::Prepare(_) => "PREPARE",
            ScpStatementPledges::Confirm(_) => "CONFIRM",
            ScpStatementPledges::Externalize(_) => "EXTERNALIZE",
        })
        .collect()
}

#[test]
fn outbound_queue_filtering_trim_obsolete_messages_trim_prepare_keep_nomination() {
    // C++: OverlayTests "outbound queue filtering" / "obsolete SCP messages" /
    // "trim obsolete messages" / "trim prepare, keep nomination"
    let mut fc = filtering_fc(filtering_ledger(11));
    inject_prepare_msgs(&mut fc, &latest_messages(3, 11));
    assert_eq!(scp_queue_kinds(&fc), ["NOMINATE", "EXTERNALIZE"]);
}

#[test]
fn outbound_queue_filtering_trim_obsolete_messages_trim_prepare_keep_messages_from_other_nodes() {
    // C++: OverlayTests "outbound queue filtering" / "obsolete SCP messages" /
    // "trim obsolete messages" / "trim prepare, keep messages from other nodes"
    let mut fc = filtering_fc(filtering_ledger(11));
    let externalizing: Vec<_> = (1..=3).map(|n| statement(n, 11, externalize(ballot(1, b"v")))).collect();
    inject_prepare_msgs(&mut fc, &externalizing);
    assert_eq!(scp_queue_kinds(&fc), ["EXTERNALIZE"; 3]);
    let nodes: Vec<_> = fc.queued(Priority::Scp).map(|e| e.meta.scp_node_id().unwrap().0[0]).collect();
    assert_eq!(nodes, [1, 2, 3]);
}

#[test]
fn outbound_queue_filtering_advert_demand_limit_reached_count_based() {
    // C++: OverlayTests "outbound queue filtering" / "advert demand limit reached" /
    // "count-based": the byte limit does not apply; over the hash limit the queue is
    // cleared, so limit + 10 one-hash adds leave 9, and one more two-hash add makes 10.
    let c = FlowConfig { outbound_tx_queue_byte_limit: 1, ..FlowConfig::default() };
    let ledger = filtering_ledger(11);
    let limit = u64::from(ledger.max_tx_set_size_ops);
    let mut fc = Fc::new(&c, ledger, secs(0));
    for id in 0..limit + 10 {
        let _ = fc.enqueue(secs(0), advert(id, 1));
        let _ = fc.enqueue(secs(0), demand(id, 1));
    }
    assert_eq!(fc.stats().queue(Priority::Advert).len_msgs, 9);
    assert_eq!(fc.stats().queue(Priority::Demand).len_msgs, 9);
    assert!(fc.enqueue(secs(0), advert(1_000, 2)).queued);
    assert!(fc.enqueue(secs(0), demand(1_000, 2)).queued);
    assert_eq!(fc.stats().queue(Priority::Advert).len_msgs, 10);
    assert_eq!(fc.stats().queue(Priority::Demand).len_msgs, 10);
}

// ---------------------------------------------------------------- queue purging, out of sync

#[test]
fn queue_purging_after_write_completion_p1_never_reads() {
    // C++: OverlayTests "Queue purging after write completion" / "p1 never reads": writes to
    // the corked peer never complete, the tx queue is trimmed (drop-tx grows), nothing arrives.
    let c = FlowConfig::default();
    let ledger = LedgerLimits { max_tx_set_size_ops: 500, ..LedgerLimits::default() };
    let mut p = Pair::new(&c, &c, ledger);
    p.a.corked = true;
    for id in 0..1_000 {
        p.send(Side::A, tx(id, 220));
    }
    let q = *p.a.fc.stats().queue(Priority::Transaction);
    assert!(q.dropped_msgs_total > 0);
    assert!(q.len_msgs <= 500);
    assert_eq!(p.a.in_flight.len(), 200, "the initial credit went to the writer");
    assert!(p.b.delivered.is_empty());
}

#[test]
fn queue_purging_after_write_completion_p1_received_all_txs() {
    // C++: OverlayTests "Queue purging after write completion" / "p1 received all txs"
    let c = FlowConfig::default();
    let mut p = Pair::new(&c, &c, LedgerLimits::default());
    for id in 0..1_000 {
        p.send(Side::A, tx(id, 220));
    }
    assert_eq!(p.b.delivered.len(), 1_000);
    assert!(p.b.delivered.iter().map(|d| d.id).eq(0..1_000), "in order");
    let q = *p.a.fc.stats().queue(Priority::Transaction);
    assert_eq!((q.len_msgs, q.dropped_msgs_total), (0, 0));
    assert!(p.connected());
}

#[test]
fn flow_control_when_out_of_sync() {
    // C++: OverlayTests "flow control when out of sync": with capacity 1, an out-of-sync
    // receiver ignores transactions but releases capacity, so grants keep flowing and the
    // sender is not dropped.
    let b = FlowConfig {
        peer_flood_reading_capacity_msgs: 1,
        send_more_batch_msgs: 1,
        peer_reading_capacity_msgs: 2,
        ..FlowConfig::default()
    };
    let mut p = Pair::new(&FlowConfig::default(), &b, LedgerLimits::default());
    for id in 0..10 {
        let _ = p.a.fc.enqueue(p.now, tx(id, 300));
    }
    p.crank();
    // "delivered" here means processed (and ignored) by the out-of-sync node.
    assert_eq!(p.b.delivered.len(), 10);
    assert_eq!(p.b.grants_sent.len(), 1 + 10);
    assert!(p.connected());
    p.advance(Duration::from_secs(120));
    assert!(p.connected());
}
