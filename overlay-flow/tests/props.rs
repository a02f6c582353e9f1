//! Property tests over random interleavings of sends, grants, reads, processing, write
//! completions, ledger changes and time (PROTOCOL.md §6), through the public API only.
//!
//! Properties:
//! 1. `never_send_past_granted_capacity`: the messages and bytes released by `poll_send`
//!    never exceed what the peer granted, and each released message fitted the credit left.
//! 2. `never_grant_more_than_local_capacity`: against a peer that respects our grants, the
//!    credit the peer holds (granted minus received) never exceeds our available flood
//!    capacity, in messages and in bytes, no grant carries zero bytes, and the conforming
//!    peer is never rejected.
//! 3. `capacity_is_conserved_both_ways`: two machines exchanging traffic both ways; for each
//!    direction, granted = used + remaining at the sender and the receiver's grants equal what
//!    the sender was granted; no protocol error; once everything drains, every message that
//!    was not shed is delivered, in FIFO order per priority.
//! 4. `shedding_is_confined_to_the_enqueued_priority`: enqueuing a message of priority p never
//!    removes or alters a message of another priority (so a higher-priority message is never
//!    shed because of lower-priority traffic), and SCP messages are only shed as obsolete or
//!    over the hard bound. The literal "a higher-priority message is never shed while a
//!    lower-priority one stays queued" is false under the spec (a full transaction queue is
//!    discarded while adverts stay); see the `queue` module doc.
//! 5. `sending_follows_priority_order`: `poll_send` returns the first waiting message of the
//!    highest-priority queue whose first waiting message fits the credit.

use core::time::Duration;
use overlay_flow::{FlowConfig, FlowControl, FlowError, LedgerLimits, MessageMeta, OutboundMessage, Receipt};
use overlay_proto::xdr::{
    Hash, MessageType, NodeId, PublicKey, ScpBallot, ScpEnvelope, ScpNomination, ScpStatement, ScpStatementConfirm,
    ScpStatementExternalize, ScpStatementPledges, ScpStatementPrepare, SendMoreExtended, Uint256, Value,
};
use overlay_proto::{Priority, Timestamp};
use proptest::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;

// ------------------------------------------------------------------ message generation

#[derive(Clone, Debug)]
enum Kind {
    Scp { node: u8, slot: u64, pledge: u8, counter: u32 },
    Tx { size: usize },
    Advert { hashes: usize },
    Demand { hashes: usize },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        1 => (0u8..4, 0u64..12, 0u8..4, 0u32..4)
            .prop_map(|(node, slot, pledge, counter)| Kind::Scp { node, slot, pledge, counter }),
        3 => (1usize..6_000).prop_map(|size| Kind::Tx { size }),
        1 => (0usize..6).prop_map(|hashes| Kind::Advert { hashes }),
        1 => (0usize..6).prop_map(|hashes| Kind::Demand { hashes }),
    ]
}

fn value(counter: u32) -> Value {
    Value(vec![counter as u8; 1 + counter as usize % 3].try_into().unwrap())
}

fn statement(node: u8, slot: u64, pledge: u8, counter: u32) -> ScpStatement {
    let b = ScpBallot { counter, value: value(counter) };
    let pledges = match pledge {
        0 => ScpStatementPledges::Nominate(ScpNomination {
            quorum_set_hash: Hash([0; 32]),
            votes: (0..=counter).map(value).collect::<Vec<_>>().try_into().unwrap(),
            accepted: Default::default(),
        }),
        1 => ScpStatementPledges::Prepare(ScpStatementPrepare { ballot: b, ..Default::default() }),
        2 => ScpStatementPledges::Confirm(ScpStatementConfirm {
            ballot: b,
            n_prepared: counter,
            n_commit: 0,
            n_h: counter,
            quorum_set_hash: Hash([0; 32]),
        }),
        _ => ScpStatementPledges::Externalize(ScpStatementExternalize {
            commit: b,
            n_h: counter,
            commit_quorum_set_hash: Hash([0; 32]),
        }),
    };
    ScpStatement { node_id: NodeId(PublicKey::PublicKeyTypeEd25519(Uint256([node; 32]))), slot_index: slot, pledges }
}

fn meta(k: &Kind) -> MessageMeta {
    match *k {
        Kind::Scp { node, slot, pledge, counter } => MessageMeta::scp(
            Arc::new(ScpEnvelope { statement: statement(node, slot, pledge, counter), signature: Default::default() }),
            150 + 8 * counter as usize,
        ),
        Kind::Tx { size } => MessageMeta::transaction(size),
        Kind::Advert { hashes } => MessageMeta::advert(hashes, 8 + 32 * hashes),
        Kind::Demand { hashes } => MessageMeta::demand(hashes, 8 + 32 * hashes),
    }
}

fn grant_strategy() -> impl Strategy<Value = SendMoreExtended> {
    prop_oneof![
        6 => (0u32..50, 0u32..40_000).prop_map(|(m, b)| SendMoreExtended { num_messages: m, num_bytes: b }),
        1 => Just(SendMoreExtended { num_messages: u32::MAX, num_bytes: u32::MAX }),
        1 => Just(SendMoreExtended { num_messages: 0, num_bytes: 0 }),
    ]
}

fn ledger_strategy() -> impl Strategy<Value = LedgerLimits> {
    (1_000u32..20_000, 0u32..40, 0u64..10, 0u64..10).prop_map(|(max_tx, ops, min_slot, checkpoint)| LedgerLimits {
        max_tx_size_bytes: max_tx,
        max_tx_set_size_ops: ops,
        min_slot_to_remember: min_slot,
        checkpoint_slot: checkpoint,
    })
}

fn small_config() -> FlowConfig {
    FlowConfig {
        peer_reading_capacity_msgs: 30,
        peer_flood_reading_capacity_msgs: 25,
        send_more_batch_msgs: 5,
        peer_flood_reading_capacity_bytes: 40_000,
        send_more_batch_bytes: 10_000,
        outbound_tx_queue_byte_limit: 30_000,
        queue_hard_limit_msgs: 16,
        ..FlowConfig::default()
    }
}

// ------------------------------------------------------------------ single-sender operations

#[derive(Clone, Debug)]
enum SendOp {
    Enqueue(Kind),
    Grant(SendMoreExtended),
    Poll(u8),
    Complete(u8),
    Ledger(LedgerLimits),
    Wait(u8),
}

fn send_op() -> impl Strategy<Value = SendOp> {
    prop_oneof![
        5 => kind().prop_map(SendOp::Enqueue),
        2 => grant_strategy().prop_map(SendOp::Grant),
        3 => any::<u8>().prop_map(SendOp::Poll),
        2 => any::<u8>().prop_map(SendOp::Complete),
        1 => ledger_strategy().prop_map(SendOp::Ledger),
        1 => any::<u8>().prop_map(SendOp::Wait),
    ]
}

/// A payload that identifies the message: (enqueue number, priority).
type Id = (u64, Priority);

struct Sender {
    fc: FlowControl<Id>,
    now: Timestamp,
    next_id: u64,
    in_flight: VecDeque<overlay_flow::WriteTicket>,
    granted: (u128, u128),
    sent: (u128, u128),
}

impl Sender {
    fn new(config: &FlowConfig) -> Self {
        let now = Timestamp::from_secs(1);
        let ledger = LedgerLimits { max_tx_set_size_ops: 20, ..LedgerLimits::default() };
        Sender {
            fc: FlowControl::new(config, ledger, now),
            now,
            next_id: 0,
            in_flight: VecDeque::new(),
            granted: (0, 0),
            sent: (0, 0),
        }
    }
}

fn waiting_ids(fc: &FlowControl<Id>, p: Priority) -> Vec<(Option<Id>, bool)> {
    fc.queued(p).map(|e| (e.payload.copied(), e.in_flight)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_send_past_granted_capacity(ops in prop::collection::vec(send_op(), 1..200)) {
        let mut s = Sender::new(&small_config());
        for op in ops {
            match op {
                SendOp::Enqueue(k) => {
                    let id = (s.next_id, meta(&k).priority());
                    s.next_id += 1;
                    let _ = s.fc.enqueue(s.now, OutboundMessage::from_meta(meta(&k), id));
                }
                SendOp::Grant(g) => {
                    let o = s.fc.stats().outbound;
                    let expected = if g.num_bytes == 0 {
                        Err(FlowError::InvalidSendMoreExtended)
                    } else if o.capacity_msgs.checked_add(u64::from(g.num_messages)).is_none()
                        || o.capacity_bytes.checked_add(u64::from(g.num_bytes)).is_none()
                    {
                        Err(FlowError::CapacityOverflow)
                    } else {
                        Ok(())
                    };
                    prop_assert_eq!(s.fc.handle_send_more(s.now, &g), expected);
                    if expected.is_ok() {
                        s.granted.0 += u128::from(g.num_messages);
                        s.granted.1 += u128::from(g.num_bytes);
                    }
                }
                SendOp::Poll(n) => {
                    for _ in 0..n % 8 {
                        let before = s.fc.stats().outbound;
                        let Some(out) = s.fc.poll_send(s.now) else { break };
                        prop_assert!(before.capacity_msgs >= 1 && before.capacity_bytes >= out.size_bytes);
                        s.sent.0 += 1;
                        s.sent.1 += u128::from(out.size_bytes);
                        s.in_flight.push_back(out.ticket);
                    }
                }
                SendOp::Complete(n) => {
                    for _ in 0..n % 4 {
                        let Some(t) = s.in_flight.pop_front() else { break };
                        s.fc.handle_write_complete(s.now, t);
                    }
                }
                SendOp::Ledger(l) => s.fc.handle_ledger_limits(s.now, l),
                SendOp::Wait(secs) => s.now += Duration::from_secs(u64::from(secs)),
            }
            prop_assert!(s.sent.0 <= s.granted.0, "messages sent past the grants");
            prop_assert!(s.sent.1 <= s.granted.1, "bytes sent past the grants");
            let o = s.fc.stats().outbound;
            prop_assert_eq!(u128::from(o.capacity_msgs), s.granted.0 - s.sent.0);
            prop_assert_eq!(u128::from(o.capacity_bytes), s.granted.1 - s.sent.1);
            prop_assert_eq!(s.fc.check_invariants(), Ok(()));
        }
    }

    #[test]
    fn shedding_is_confined_to_the_enqueued_priority(ops in prop::collection::vec(send_op(), 1..200)) {
        let mut s = Sender::new(&small_config());
        for op in ops {
            match op {
                SendOp::Enqueue(k) => {
                    let m = meta(&k);
                    let p = m.priority();
                    let others: Vec<_> = Priority::ALL.iter().filter(|&&q| q != p)
                        .map(|&q| waiting_ids(&s.fc, q)).collect();
                    let id = (s.next_id, p);
                    s.next_id += 1;
                    let r = s.fc.enqueue(s.now, OutboundMessage::from_meta(m, id));
                    prop_assert_eq!(r.priority, p);
                    let after: Vec<_> = Priority::ALL.iter().filter(|&&q| q != p)
                        .map(|&q| waiting_ids(&s.fc, q)).collect();
                    prop_assert_eq!(others, after, "another priority's queue changed");
                    if p == Priority::Scp {
                        let obsolete = r.scp_old_slot_msgs + u64::from(r.scp_replaced) + r.hard_limit_msgs;
                        prop_assert_eq!(r.dropped_msgs, obsolete);
                        prop_assert!(!r.queue_discarded && !r.over_max_tx_size);
                    } else {
                        prop_assert_eq!(r.scp_old_slot_msgs + r.hard_limit_msgs, 0);
                        prop_assert!(!r.scp_replaced);
                        prop_assert_eq!(r.shed_anything(), r.queue_discarded || r.over_max_tx_size);
                    }
                    let present = s.fc.queued(p).any(|e| e.payload == Some(&id));
                    prop_assert_eq!(present, r.queued);
                }
                SendOp::Grant(g) => { let _ = s.fc.handle_send_more(s.now, &g); }
                SendOp::Poll(n) => {
                    for _ in 0..n % 8 {
                        let Some(out) = s.fc.poll_send(s.now) else { break };
                        s.in_flight.push_back(out.ticket);
                    }
                }
                SendOp::Complete(n) => {
                    for _ in 0..n % 4 {
                        let Some(t) = s.in_flight.pop_front() else { break };
                        s.fc.handle_write_complete(s.now, t);
                    }
                }
                SendOp::Ledger(l) => s.fc.handle_ledger_limits(s.now, l),
                SendOp::Wait(secs) => s.now += Duration::from_secs(u64::from(secs)),
            }
            prop_assert_eq!(s.fc.check_invariants(), Ok(()));
        }
    }

    /// With strict priority shedding (the option of issue 3's literal property): a
    /// higher-priority message is never shed for load while a lower-priority message for the
    /// same peer stays queued (waiting). Obsolete SCP statements are replaced or trimmed as
    /// the spec says; that is not load shedding.
    #[test]
    fn strict_shedding_never_sheds_higher_while_lower_waits(ops in prop::collection::vec(send_op(), 1..200)) {
        let config = FlowConfig { strict_priority_shedding: true, ..small_config() };
        let mut s = Sender::new(&config);
        let mut load_sheds = 0u32;
        for op in ops {
            match op {
                SendOp::Enqueue(k) => {
                    let m = meta(&k);
                    let p = m.priority();
                    let id = (s.next_id, p);
                    s.next_id += 1;
                    let r = s.fc.enqueue(s.now, OutboundMessage::from_meta(m, id));
                    let shed_for_load = r.queue_discarded || r.hard_limit_msgs > 0;
                    if shed_for_load {
                        load_sheds += 1;
                        for lower in Priority::ALL.iter().filter(|q| q.index() > p.index()) {
                            let waiting = s.fc.queued(*lower).filter(|e| !e.in_flight).count();
                            prop_assert_eq!(waiting, 0, "{:?} shed while {:?} waits", p, lower);
                        }
                    }
                }
                SendOp::Grant(g) => { let _ = s.fc.handle_send_more(s.now, &g); }
                SendOp::Poll(n) => {
                    for _ in 0..n % 8 {
                        let Some(out) = s.fc.poll_send(s.now) else { break };
                        s.in_flight.push_back(out.ticket);
                    }
                }
                SendOp::Complete(n) => {
                    for _ in 0..n % 4 {
                        let Some(t) = s.in_flight.pop_front() else { break };
                        s.fc.handle_write_complete(s.now, t);
                    }
                }
                SendOp::Ledger(l) => s.fc.handle_ledger_limits(s.now, l),
                SendOp::Wait(secs) => s.now += Duration::from_secs(u64::from(secs)),
            }
            prop_assert_eq!(s.fc.check_invariants(), Ok(()));
        }
        let _ = load_sheds; // counted for debugging; shedding occurs in most runs
    }

    /// The same property fails under the spec's per-queue shedding (the default), which is
    /// why strict shedding is an option: a full transaction queue is discarded while adverts
    /// stay queued.
    #[test]
    fn per_queue_shedding_can_shed_higher_while_lower_waits(n in 21u64..40) {
        let mut s = Sender::new(&small_config());
        let advert = meta(&Kind::Advert { hashes: 1 });
        let _ = s.fc.enqueue(s.now, OutboundMessage::from_meta(advert, (0, Priority::Advert)));
        let mut discarded = false;
        for i in 0..n {
            let r = s.fc.enqueue(s.now, OutboundMessage::from_meta(meta(&Kind::Tx { size: 200 }), (i + 1, Priority::Transaction)));
            discarded |= r.queue_discarded;
        }
        prop_assert!(discarded);
        prop_assert_eq!(s.fc.queued(Priority::Advert).count(), 1);
    }

    #[test]
    fn sending_follows_priority_order(ops in prop::collection::vec(send_op(), 1..200)) {
        let mut s = Sender::new(&small_config());
        let hard = s.fc.config().queue_hard_limit_msgs;
        for op in ops {
            match op {
                SendOp::Enqueue(k) => {
                    let id = (s.next_id, meta(&k).priority());
                    s.next_id += 1;
                    let _ = s.fc.enqueue(s.now, OutboundMessage::from_meta(meta(&k), id));
                }
                SendOp::Grant(g) => { let _ = s.fc.handle_send_more(s.now, &g); }
                SendOp::Poll(n) => {
                    for _ in 0..n % 8 {
                        let cap = s.fc.stats().outbound;
                        let fits = |fc: &FlowControl<Id>, q: Priority| {
                            fc.first_waiting(q).is_some_and(|m| cap.capacity_msgs >= 1 && cap.capacity_bytes >= m.size_bytes())
                                && fc.stats().queue(q).in_flight_msgs < hard
                        };
                        let expected = Priority::ALL.into_iter().find(|&q| fits(&s.fc, q));
                        let first_ids: Vec<Option<Id>> = Priority::ALL.iter()
                            .map(|&q| s.fc.queued(q).find(|e| !e.in_flight).and_then(|e| e.payload.copied()))
                            .collect();
                        let out = s.fc.poll_send(s.now);
                        prop_assert_eq!(out.as_ref().map(|o| o.priority), expected);
                        let Some(out) = out else { break };
                        prop_assert_eq!(Some(out.payload), first_ids[out.priority.index()], "FIFO within a queue");
                        s.in_flight.push_back(out.ticket);
                    }
                }
                SendOp::Complete(n) => {
                    for _ in 0..n % 4 {
                        let Some(t) = s.in_flight.pop_front() else { break };
                        s.fc.handle_write_complete(s.now, t);
                    }
                }
                SendOp::Ledger(l) => s.fc.handle_ledger_limits(s.now, l),
                SendOp::Wait(secs) => s.now += Duration::from_secs(u64::from(secs)),
            }
        }
    }
}

// ------------------------------------------------------------------ receiver with a conforming peer

#[derive(Clone, Debug)]
enum RecvOp {
    /// The peer sends a flood message of this size if its credit allows.
    PeerSends(Priority, usize),
    /// A non-flood message arrives (if reading is not throttled).
    NonFlood(usize),
    /// Processing of the n-th message in processing ends.
    Process(u8),
    /// Grants due are sent to the peer.
    SendGrants,
    /// The maximum transaction size changes.
    MaxTx(u32),
}

fn recv_op() -> impl Strategy<Value = RecvOp> {
    let prio = prop::sample::select(Priority::ALL.to_vec());
    prop_oneof![
        6 => (prio, 1usize..8_000).prop_map(|(p, s)| RecvOp::PeerSends(p, s)),
        1 => (1usize..300_000).prop_map(RecvOp::NonFlood),
        5 => any::<u8>().prop_map(RecvOp::Process),
        3 => Just(RecvOp::SendGrants),
        1 => (50_000u32..130_000).prop_map(RecvOp::MaxTx),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn never_grant_more_than_local_capacity(
        auto in any::<bool>(),
        ops in prop::collection::vec(recv_op(), 1..300),
    ) {
        let config = if auto { FlowConfig::default() } else { small_config() };
        let now = Timestamp::from_secs(1);
        let mut fc: FlowControl<()> = FlowControl::new(&config, LedgerLimits::default(), now);
        fc.handle_authenticated(now);
        // The peer's view of its credit, from the grants it received.
        let mut peer_credit: (u64, u64) = (0, 0);
        // Grants due on our side, not yet "sent".
        let mut processing: Vec<Receipt> = Vec::new();
        let mut emitted = (0u64, 0u64);
        let mut received = (0u64, 0u64);
        for op in ops {
            match op {
                RecvOp::PeerSends(p, size) => {
                    let size64 = size as u64;
                    if peer_credit.0 >= 1 && peer_credit.1 >= size64 && fc.can_read() {
                        let ty = match p {
                            Priority::Scp => MessageType::ScpMessage,
                            Priority::Transaction => MessageType::Transaction,
                            Priority::Demand => MessageType::FloodDemand,
                            Priority::Advert => MessageType::FloodAdvert,
                        };
                        peer_credit.0 -= 1;
                        peer_credit.1 -= size64;
                        let r = fc.handle_received(now, ty, size);
                        prop_assert!(r.is_ok(), "a conforming peer was rejected: {:?}", r);
                        processing.push(r.unwrap());
                        received.0 += 1;
                        received.1 += size64;
                    }
                }
                RecvOp::NonFlood(size) => {
                    if fc.can_read() {
                        let r = fc.handle_received(now, MessageType::ScpQuorumset, size);
                        prop_assert!(r.is_ok());
                        processing.push(r.unwrap());
                    }
                }
                RecvOp::Process(n) => {
                    if !processing.is_empty() {
                        let i = n as usize % processing.len();
                        fc.handle_processed(now, processing.swap_remove(i));
                    }
                }
                RecvOp::SendGrants => {
                    while let Some(g) = fc.poll_grant() {
                        prop_assert!(g.num_bytes > 0, "a grant with zero bytes");
                        peer_credit.0 += u64::from(g.num_messages);
                        peer_credit.1 += u64::from(g.num_bytes);
                        emitted.0 += u64::from(g.num_messages);
                        emitted.1 += u64::from(g.num_bytes);
                    }
                }
                RecvOp::MaxTx(max_tx) => {
                    fc.handle_ledger_limits(now, LedgerLimits { max_tx_size_bytes: max_tx, ..LedgerLimits::default() });
                }
            }
            let local = fc.stats().local;
            prop_assert_eq!((emitted.0 - received.0, emitted.1 - received.1), peer_credit);
            prop_assert!(peer_credit.0 <= local.flood_available_msgs, "granted more messages than we can absorb");
            prop_assert!(peer_credit.1 <= local.flood_available_bytes, "granted more bytes than we can absorb");
            prop_assert!(local.flood_available_msgs <= local.flood_limit_msgs);
            prop_assert!(local.flood_available_bytes <= local.flood_limit_bytes);
            prop_assert_eq!(fc.check_invariants(), Ok(()));
        }
    }
}

// ------------------------------------------------------------------ two machines, both ways

#[derive(Clone, Debug)]
enum PairOp {
    Enqueue(bool, Kind),
    /// Deliver up to n frames from the wire towards one side.
    Deliver(bool, u8),
    /// Process up to n received messages on one side.
    Process(bool, u8),
    /// Complete up to n writes on one side.
    Complete(bool, u8),
    /// Drain one side's grants and sends.
    Drain(bool),
}

fn pair_op() -> impl Strategy<Value = PairOp> {
    prop_oneof![
        4 => (any::<bool>(), kind()).prop_map(|(s, k)| PairOp::Enqueue(s, k)),
        3 => (any::<bool>(), any::<u8>()).prop_map(|(s, n)| PairOp::Deliver(s, n)),
        3 => (any::<bool>(), any::<u8>()).prop_map(|(s, n)| PairOp::Process(s, n)),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(s, n)| PairOp::Complete(s, n)),
        4 => any::<bool>().prop_map(PairOp::Drain),
    ]
}

#[derive(Debug)]
enum Frame {
    Flood(Id, MessageType, u64),
    Grant(SendMoreExtended),
}

struct Side {
    fc: FlowControl<Id>,
    /// Frames on the wire towards this side, in order.
    wire: VecDeque<Frame>,
    processing: VecDeque<(Receipt, Id)>,
    delivered: Vec<Id>,
    writes: VecDeque<(overlay_flow::WriteTicket, Id, MessageType, u64)>,
    /// Grants this side sent (to the other), summed.
    grants_sent: (u64, u64),
    /// Flood messages this side released for writing, summed.
    used: (u64, u64),
    next_id: u64,
    /// Every message enqueued, in order.
    kept: Vec<Id>,
    /// Messages shed by this side's queues.
    shed: Vec<Id>,
}

impl Side {
    fn new(config: &FlowConfig, now: Timestamp) -> Self {
        let ledger = LedgerLimits { max_tx_set_size_ops: 30, ..LedgerLimits::default() };
        let mut fc = FlowControl::new(config, ledger, now);
        fc.handle_authenticated(now);
        Side {
            fc,
            wire: VecDeque::new(),
            processing: VecDeque::new(),
            delivered: Vec::new(),
            writes: VecDeque::new(),
            grants_sent: (0, 0),
            used: (0, 0),
            next_id: 0,
            kept: Vec::new(),
            shed: Vec::new(),
        }
    }
}

fn message_type(p: Priority) -> MessageType {
    match p {
        Priority::Scp => MessageType::ScpMessage,
        Priority::Transaction => MessageType::Transaction,
        Priority::Demand => MessageType::FloodDemand,
        Priority::Advert => MessageType::FloodAdvert,
    }
}

/// Drains grants and sends of `me`; writes go on `me.writes` until completed.
fn drain(me: &mut Side, peer: &mut Side, now: Timestamp) {
    while let Some(g) = me.fc.poll_grant() {
        me.grants_sent.0 += u64::from(g.num_messages);
        me.grants_sent.1 += u64::from(g.num_bytes);
        peer.wire.push_back(Frame::Grant(g));
    }
    while let Some(out) = me.fc.poll_send(now) {
        me.used.0 += 1;
        me.used.1 += out.size_bytes;
        me.writes.push_back((out.ticket, out.payload, message_type(out.priority), out.size_bytes));
    }
}

/// Completes up to `n` writes of `me`: the frames reach the wire towards `peer`.
fn complete(me: &mut Side, peer: &mut Side, now: Timestamp, n: usize) {
    for _ in 0..n {
        let Some((ticket, id, ty, size)) = me.writes.pop_front() else {
            break;
        };
        me.fc.handle_write_complete(now, ticket);
        peer.wire.push_back(Frame::Flood(id, ty, size));
    }
}

/// Delivers up to `n` frames to `me`. Returns a protocol error if one happens.
fn deliver(me: &mut Side, now: Timestamp, n: usize) -> Result<(), FlowError> {
    for _ in 0..n {
        if me.fc.is_read_throttled() {
            break;
        }
        let Some(frame) = me.wire.pop_front() else {
            break;
        };
        match frame {
            Frame::Grant(g) => {
                let r = me.fc.handle_received(now, MessageType::SendMoreExtended, 12)?;
                me.fc.handle_send_more(now, &g)?;
                me.fc.handle_processed(now, r);
            }
            Frame::Flood(id, ty, size) => {
                let r = me.fc.handle_received(now, ty, size as usize)?;
                me.processing.push_back((r, id));
            }
        }
    }
    Ok(())
}

fn process(me: &mut Side, now: Timestamp, n: usize) {
    for _ in 0..n {
        let Some((r, id)) = me.processing.pop_front() else {
            break;
        };
        me.fc.handle_processed(now, r);
        me.delivered.push(id);
    }
}

fn sides<'s>(a: &'s mut Side, b: &'s mut Side, first: bool) -> (&'s mut Side, &'s mut Side) {
    if first { (a, b) } else { (b, a) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn capacity_is_conserved_both_ways(ops in prop::collection::vec(pair_op(), 1..300)) {
        let config = small_config();
        let now = Timestamp::from_secs(1);
        let mut a = Side::new(&config, now);
        let mut b = Side::new(&config, now);
        for op in ops {
            match op {
                PairOp::Enqueue(first, k) => {
                    let (me, _) = sides(&mut a, &mut b, first);
                    let m = meta(&k);
                    let p = m.priority();
                    let id = (me.next_id, p);
                    me.next_id += 1;
                    let before: Vec<Id> = me.fc.queued(p).filter_map(|e| e.payload.copied()).collect();
                    let r = me.fc.enqueue(now, OutboundMessage::from_meta(m, id));
                    let after: Vec<Id> = me.fc.queued(p).filter_map(|e| e.payload.copied()).collect();
                    for gone in before.iter().chain(Some(&id)).filter(|x| !after.contains(x)) {
                        me.shed.push(*gone);
                    }
                    prop_assert_eq!(
                        r.dropped_msgs as usize,
                        before.iter().chain(Some(&id)).filter(|x| !after.contains(x)).count()
                    );
                    me.kept.push(id);
                }
                PairOp::Deliver(first, n) => {
                    let (me, _) = sides(&mut a, &mut b, first);
                    prop_assert_eq!(deliver(me, now, n as usize % 16), Ok(()));
                }
                PairOp::Process(first, n) => {
                    let (me, _) = sides(&mut a, &mut b, first);
                    process(me, now, n as usize % 16);
                }
                PairOp::Complete(first, n) => {
                    let (me, peer) = sides(&mut a, &mut b, first);
                    complete(me, peer, now, n as usize % 16);
                }
                PairOp::Drain(first) => {
                    let (me, peer) = sides(&mut a, &mut b, first);
                    drain(me, peer, now);
                }
            }
            for (me, peer) in [(&a, &b), (&b, &a)] {
                let o = me.fc.stats().outbound;
                prop_assert_eq!(o.granted_msgs_total, o.used_msgs_total + o.capacity_msgs);
                prop_assert_eq!(o.granted_bytes_total, o.used_bytes_total + o.capacity_bytes);
                prop_assert_eq!((o.used_msgs_total, o.used_bytes_total), me.used);
                // What `me` was granted is what `peer` sent, minus grants still on the wire.
                let (mut wire_m, mut wire_b) = (0u64, 0u64);
                for f in &me.wire {
                    if let Frame::Grant(g) = f {
                        wire_m += u64::from(g.num_messages);
                        wire_b += u64::from(g.num_bytes);
                    }
                }
                prop_assert_eq!((o.granted_msgs_total + wire_m, o.granted_bytes_total + wire_b), peer.grants_sent);
                prop_assert_eq!(me.fc.check_invariants(), Ok(()));
            }
        }

        // Liveness: drain everything; every message not shed arrives, FIFO per priority.
        for _ in 0..10_000 {
            let progress = |a: &Side, b: &Side| {
                let received = |s: &Side| s.fc.stats().outbound.grants_received + s.delivered.len() as u64;
                (a.used, b.used, a.grants_sent, b.grants_sent, received(a), received(b))
            };
            let before = progress(&a, &b);
            drain(&mut a, &mut b, now);
            drain(&mut b, &mut a, now);
            complete(&mut a, &mut b, now, usize::MAX);
            complete(&mut b, &mut a, now, usize::MAX);
            prop_assert_eq!(deliver(&mut a, now, usize::MAX), Ok(()));
            prop_assert_eq!(deliver(&mut b, now, usize::MAX), Ok(()));
            process(&mut a, now, usize::MAX);
            process(&mut b, now, usize::MAX);
            let idle = |s: &Side| s.wire.is_empty() && s.writes.is_empty() && s.processing.is_empty();
            let moved = before != progress(&a, &b);
            if !moved && idle(&a) && idle(&b) {
                break;
            }
        }
        for (me, peer) in [(&a, &b), (&b, &a)] {
            // Nothing is left behind: the credit a drained receiver returns always covers
            // the largest message of these runs.
            for p in Priority::ALL {
                prop_assert_eq!(me.fc.stats().queue(p).len_msgs, 0, "{:?} queue not drained", p);
            }
            let expected: Vec<Id> = me.kept.iter().copied().filter(|id| !me.shed.contains(id)).collect();
            for p in Priority::ALL {
                let mut e: Vec<_> = expected.iter().filter(|id| id.1 == p).map(|id| id.0).collect();
                let mut g: Vec<_> = peer.delivered.iter().filter(|id| id.1 == p).map(|id| id.0).collect();
                if p == Priority::Scp {
                    // A replacing SCP message takes the place of the one it replaces.
                    e.sort_unstable();
                    g.sort_unstable();
                }
                prop_assert_eq!(e, g, "delivery of {:?}", p);
            }
        }
    }
}
