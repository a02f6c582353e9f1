#![no_main]
//! Flow control driven by an arbitrary sequence of operations: enqueues of every flood kind
//! and size, grants (zero, huge, overflowing), legacy SEND_MORE, receipts of any message
//! type and size, processing in any order, grant and send drains, write completions,
//! ledger changes and timeouts with increasing time, under arbitrary (also invalid) configs.
//!
//! Checks after every step: no panic; `check_invariants` holds (credit conserved both ways,
//! local capacity within limits, queue accounting); every released message fitted the
//! credit left; no grant carries zero bytes; a refused grant is exactly a zero-byte or
//! overflowing one; the no-credit timeout fires exactly when its clock has run long enough.

use arbitrary::Arbitrary;
use core::time::Duration;
use libfuzzer_sys::fuzz_target;
use overlay_flow::{
    FlowConfig, FlowControl, FlowError, LedgerLimits, MessageMeta, OutboundMessage, Receipt, WriteTicket,
};
use overlay_proto::Timestamp;
use overlay_proto::xdr::{
    FloodAdvert, FloodDemand, Hash, MessageType, NodeId, PublicKey, ScpBallot, ScpEnvelope, ScpNomination,
    ScpStatement, ScpStatementConfirm, ScpStatementExternalize, ScpStatementPledges, ScpStatementPrepare,
    SendMoreExtended, StellarMessage, TransactionEnvelope, TxAdvertVector, TxDemandVector, Uint256, Value,
};
use std::sync::Arc;

#[derive(Arbitrary, Debug)]
struct Input {
    config: Config,
    ledger: Ledger,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
struct Config {
    reading_msgs: u8,
    flood_msgs: u8,
    batch_msgs: u8,
    flood_bytes: u16,
    batch_bytes: u16,
    auto_bytes: bool,
    total_bytes: u32,
    tx_queue_bytes: u16,
    hard_limit_msgs: u8,
    idle_timeout_secs: u8,
}

#[derive(Arbitrary, Debug)]
struct Ledger {
    max_tx_size_bytes: u16,
    max_tx_set_size_ops: u8,
    min_slot: u8,
    checkpoint_slot: u8,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Scp { node: u8, slot: u8, pledge: u8, counter: u8 },
    Tx,
    Advert { hashes: u8 },
    Demand { hashes: u8 },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Authenticate,
    Enqueue { kind: Kind, size: u16, via_message: bool },
    SendMore { messages: u32, bytes: u32 },
    HugeSendMore,
    LegacySendMore,
    Receive { type_code: u8, size: u32 },
    Process { index: u8 },
    PollGrants,
    PollSend { count: u8 },
    Complete { count: u8 },
    Ledger(Ledger),
    Advance { millis: u32 },
    Timeout,
}

fn config(c: &Config) -> FlowConfig {
    FlowConfig {
        peer_reading_capacity_msgs: u32::from(c.reading_msgs),
        peer_flood_reading_capacity_msgs: u32::from(c.flood_msgs),
        send_more_batch_msgs: u32::from(c.batch_msgs),
        peer_flood_reading_capacity_bytes: if c.auto_bytes { 0 } else { u32::from(c.flood_bytes) },
        send_more_batch_bytes: if c.auto_bytes { 0 } else { u32::from(c.batch_bytes) },
        peer_total_reading_capacity_bytes: u64::from(c.total_bytes),
        outbound_tx_queue_byte_limit: u64::from(c.tx_queue_bytes),
        send_mode_idle_timeout: Duration::from_secs(u64::from(c.idle_timeout_secs)),
        queue_hard_limit_msgs: usize::from(c.hard_limit_msgs),
        strict_priority_shedding: c.hard_limit_msgs % 2 == 1,
    }
}

fn ledger(l: &Ledger) -> LedgerLimits {
    LedgerLimits {
        max_tx_size_bytes: u32::from(l.max_tx_size_bytes),
        max_tx_set_size_ops: u32::from(l.max_tx_set_size_ops),
        min_slot_to_remember: u64::from(l.min_slot),
        checkpoint_slot: u64::from(l.checkpoint_slot),
    }
}

fn value(n: u8) -> Value {
    Value(vec![n; usize::from(n % 4)].try_into().expect("short value"))
}

fn statement(node: u8, slot: u8, pledge: u8, counter: u8) -> ScpStatement {
    let ballot = ScpBallot { counter: u32::from(counter % 4), value: value(counter) };
    let pledges = match pledge % 4 {
        0 => ScpStatementPledges::Nominate(ScpNomination {
            quorum_set_hash: Hash([0; 32]),
            votes: (0..counter % 4).map(value).collect::<Vec<_>>().try_into().expect("few votes"),
            accepted: (0..counter / 64).map(value).collect::<Vec<_>>().try_into().expect("few"),
        }),
        1 => ScpStatementPledges::Prepare(ScpStatementPrepare {
            ballot,
            prepared: (counter & 16 != 0).then(|| ScpBallot { counter: 1, value: value(counter / 2) }),
            n_h: u32::from(counter / 32),
            ..Default::default()
        }),
        2 => ScpStatementPledges::Confirm(ScpStatementConfirm {
            ballot,
            n_prepared: u32::from(counter / 16),
            n_commit: 0,
            n_h: u32::from(counter / 32),
            quorum_set_hash: Hash([0; 32]),
        }),
        _ => ScpStatementPledges::Externalize(ScpStatementExternalize {
            commit: ballot,
            n_h: 1,
            commit_quorum_set_hash: Hash([0; 32]),
        }),
    };
    ScpStatement {
        node_id: NodeId(PublicKey::PublicKeyTypeEd25519(Uint256([node % 4; 32]))),
        slot_index: u64::from(slot % 16),
        pledges,
    }
}

fn hashes(n: u8) -> Vec<Hash> {
    (0..n % 8).map(|i| Hash([i; 32])).collect()
}

fn outbound(kind: &Kind, size: u16, via_message: bool, id: u64) -> OutboundMessage<u64> {
    let size = usize::from(size);
    if via_message {
        let msg = match kind {
            Kind::Scp { node, slot, pledge, counter } => StellarMessage::ScpMessage(ScpEnvelope {
                statement: statement(*node, *slot, *pledge, *counter),
                signature: Default::default(),
            }),
            Kind::Tx => StellarMessage::Transaction(TransactionEnvelope::default()),
            Kind::Advert { hashes: n } => StellarMessage::FloodAdvert(FloodAdvert {
                tx_hashes: TxAdvertVector(hashes(*n).try_into().expect("few hashes")),
            }),
            Kind::Demand { hashes: n } => StellarMessage::FloodDemand(FloodDemand {
                tx_hashes: TxDemandVector(hashes(*n).try_into().expect("few hashes")),
            }),
        };
        return OutboundMessage::new(&msg, size, id).expect("flood messages are accepted");
    }
    let meta = match kind {
        Kind::Scp { node, slot, pledge, counter } => MessageMeta::scp(
            Arc::new(ScpEnvelope {
                statement: statement(*node, *slot, *pledge, *counter),
                signature: Default::default(),
            }),
            size,
        ),
        Kind::Tx => MessageMeta::transaction(size),
        Kind::Advert { hashes: n } => MessageMeta::advert(usize::from(n % 8), size),
        Kind::Demand { hashes: n } => MessageMeta::demand(usize::from(n % 8), size),
    };
    OutboundMessage::from_meta(meta, id)
}

fuzz_target!(|input: Input| {
    let cfg = config(&input.config);
    let mut now = Timestamp::from_secs(1);
    let mut fc: FlowControl<u64> = FlowControl::new(&cfg, ledger(&input.ledger), now);
    let mut processing: Vec<Receipt> = Vec::new();
    let mut writes: Vec<WriteTicket> = Vec::new();
    let mut next_id = 0u64;

    for op in input.ops.iter().take(2_000) {
        match op {
            Op::Authenticate => fc.handle_authenticated(now),
            Op::Enqueue { kind, size, via_message } => {
                let msg = outbound(kind, *size, *via_message, next_id);
                next_id += 1;
                let priority = msg.meta.priority();
                let report = fc.enqueue(now, msg);
                assert_eq!(report.priority, priority);
                assert_eq!(report.shed_anything(), report.dropped_msgs > 0);
            }
            Op::SendMore { messages, bytes } => send_more(&mut fc, now, *messages, *bytes),
            Op::HugeSendMore => send_more(&mut fc, now, u32::MAX, u32::MAX),
            Op::LegacySendMore => {
                assert_eq!(fc.handle_legacy_send_more(now), Err(FlowError::LegacySendMore));
            }
            Op::Receive { type_code, size } => {
                let Ok(ty) = MessageType::try_from(i32::from(*type_code % 25)) else {
                    continue;
                };
                let before = fc.stats();
                match fc.handle_received(now, ty, *size as usize) {
                    Ok(receipt) => processing.push(receipt),
                    Err(e) => {
                        assert!(matches!(
                            e,
                            FlowError::FloodOverCapacity | FlowError::ReadWhileThrottled | FlowError::EmptyFloodMessage
                        ));
                        assert_eq!(fc.stats(), before, "a refused message locks nothing");
                    }
                }
            }
            Op::Process { index } => {
                if !processing.is_empty() {
                    let receipt = processing.swap_remove(usize::from(*index) % processing.len());
                    fc.handle_processed(now, receipt);
                }
            }
            Op::PollGrants => {
                while let Some(g) = fc.poll_grant() {
                    assert!(g.num_bytes > 0, "a zero-byte grant would be refused by the peer");
                }
            }
            Op::PollSend { count } => {
                for _ in 0..*count {
                    let credit = fc.stats().outbound;
                    let Some(out) = fc.poll_send(now) else { break };
                    assert!(credit.capacity_msgs >= 1 && credit.capacity_bytes >= out.size_bytes);
                    assert!(out.enqueued_at <= now);
                    writes.push(out.ticket);
                }
            }
            Op::Complete { count } => {
                for _ in 0..*count {
                    let Some(ticket) = writes.pop() else { break };
                    fc.handle_write_complete(now, ticket);
                }
            }
            Op::Ledger(l) => fc.handle_ledger_limits(now, ledger(l)),
            Op::Advance { millis } => now += Duration::from_millis(u64::from(*millis)),
            Op::Timeout => {
                let due = fc.poll_timeout().is_some_and(|t| now >= t);
                let result = fc.handle_timeout(now);
                assert_eq!(result.is_err(), due);
                if let Err(e) = result {
                    assert_eq!(e.reason(), "idle timeout (no new flood requests)");
                }
            }
        }
        if let Err(broken) = fc.check_invariants() {
            panic!("invariant broken after {op:?}: {broken}");
        }
    }
});

fn send_more(fc: &mut FlowControl<u64>, now: Timestamp, messages: u32, bytes: u32) {
    let credit = fc.stats().outbound;
    let grant = SendMoreExtended { num_messages: messages, num_bytes: bytes };
    let expected = if bytes == 0 {
        Err(FlowError::InvalidSendMoreExtended)
    } else if credit.capacity_msgs.checked_add(u64::from(messages)).is_none()
        || credit.capacity_bytes.checked_add(u64::from(bytes)).is_none()
    {
        Err(FlowError::CapacityOverflow)
    } else {
        Ok(())
    };
    assert_eq!(fc.handle_send_more(now, &grant), expected);
    if expected.is_ok() {
        assert_eq!(fc.no_capacity_since(), None);
    } else {
        assert_eq!(fc.stats().outbound, credit, "a refused grant changes nothing");
    }
}
