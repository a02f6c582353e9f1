//! Properties over arbitrary input sequences:
//! 1. a flooded message is never forwarded back to a peer that sent it to us;
//! 2. a transaction is demanded from at most one peer per scheduler run, never twice from the
//!    same peer, from at most 15 peers, and again only after the backoff
//!    `min(n × 500 ms, 2 s)`; never once we have it;
//! 3. every structure stays within its bound;
//! 4. the Floodgate holds exactly what a plain model holds (records, their ledgers, who knows
//!    them, eviction by oldest ledger then oldest insertion).

use overlay_flood::{
    FetchKind, FetchPeer, FloodConfig, Floodgate, ItemFetcher, LedgerLimits, PeerSlot, PullMessageKind, PullMode,
    QueryKind, QueryLimiter, QueryLimits, TxAvailability, Waiting,
};
use overlay_proto::{Hash256, Timestamp};
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn hash(tag: u8, i: u8) -> Hash256 {
    Hash256::sha256(&[tag, i])
}

// ---- 1. never forwarded back ------------------------------------------------------------

#[derive(Debug, Clone)]
enum GateOp {
    Recv {
        msg: u8,
        from: u8,
        ledger: u8,
        /// Through the sender's [`PeerSlot`] rather than its handle.
        by_slot: bool,
    },
    Broadcast {
        msg: u8,
        peers: u8,
        ledger: u8,
    },
    Forget {
        msg: u8,
    },
    ClearBelow {
        ledger: u8,
    },
    RemovePeer {
        peer: u8,
    },
    /// Broadcast to peers 100 to 100 + count − 1: past 64 peers the records need a wider
    /// peer set.
    Crowd {
        msg: u8,
        count: u8,
        ledger: u8,
    },
}

/// The crowd's peers.
fn crowd(count: u8) -> Vec<u8> {
    (0..count.min(156)).map(|i| 100 + i).collect()
}

fn gate_op() -> impl Strategy<Value = GateOp> {
    prop_oneof![
        4 => (0..12u8, 0..6u8, 0..20u8, any::<bool>())
            .prop_map(|(msg, from, ledger, by_slot)| GateOp::Recv { msg, from, ledger, by_slot }),
        4 => (0..12u8, any::<u8>(), 0..20u8).prop_map(|(msg, peers, ledger)| GateOp::Broadcast { msg, peers, ledger }),
        1 => (0..12u8).prop_map(|msg| GateOp::Forget { msg }),
        1 => (0..20u8).prop_map(|ledger| GateOp::ClearBelow { ledger }),
        1 => prop_oneof![0..6u8, 100..=255u8].prop_map(|peer| GateOp::RemovePeer { peer }),
        1 => (0..12u8, any::<u8>(), 0..20u8).prop_map(|(msg, count, ledger)| GateOp::Crowd { msg, count, ledger }),
    ]
}

proptest! {
    #[test]
    fn message_is_never_forwarded_back_to_a_sender(ops in prop::collection::vec(gate_op(), 1..200), max in 1..16usize) {
        let cfg = FloodConfig { floodgate_entries_max: max, ..FloodConfig::default() };
        let mut gate: Floodgate<u8> = Floodgate::new(&cfg, 1);
        // Model: for each live record, the peers that sent us the message.
        let mut senders: BTreeMap<u8, BTreeSet<u8>> = BTreeMap::new();
        for op in ops {
            senders.retain(|m, _| gate.contains(&hash(0, *m)));
            match op {
                GateOp::Recv { msg, from, ledger, .. } => {
                    let new = gate.record_received(hash(0, msg), from, u32::from(ledger)).unwrap();
                    let known = senders.contains_key(&msg);
                    if new {
                        senders.insert(msg, BTreeSet::from([from]));
                    } else {
                        senders.entry(msg).or_default().insert(from);
                    }
                    // A known message is never reported new and vice versa.
                    prop_assert!(!(new && known));
                }
                GateOp::Broadcast { msg, peers, ledger } => {
                    let list: Vec<u8> = (0..8).filter(|b| peers & (1 << b) != 0).map(|b| b % 6).collect();
                    let told = gate.broadcast(hash(0, msg), u32::from(ledger), &list).unwrap();
                    let s = senders.get(&msg).cloned().unwrap_or_default();
                    for p in &told {
                        prop_assert!(!s.contains(p), "message {} sent back to its sender {}", msg, p);
                        prop_assert!(list.contains(p));
                    }
                    let distinct: BTreeSet<_> = told.iter().collect();
                    prop_assert_eq!(distinct.len(), told.len());
                    // Broadcasting again tells nobody.
                    if gate.contains(&hash(0, msg)) {
                        prop_assert!(gate.broadcast(hash(0, msg), u32::from(ledger), &list).unwrap().is_empty());
                    }
                }
                GateOp::Forget { msg } => {
                    gate.forget(&hash(0, msg));
                }
                GateOp::ClearBelow { ledger } => gate.clear_below(u32::from(ledger)),
                GateOp::RemovePeer { peer } => {
                    gate.remove_peer(&peer);
                    for s in senders.values_mut() {
                        s.remove(&peer);
                    }
                }
                GateOp::Crowd { msg, count, ledger } => {
                    let told = gate.broadcast(hash(0, msg), u32::from(ledger), &crowd(count)).unwrap();
                    let s = senders.get(&msg).cloned().unwrap_or_default();
                    prop_assert!(told.iter().all(|p| !s.contains(p)));
                }
            }
            prop_assert!(gate.len() <= max);
        }
    }
}

// ---- 4. the Floodgate against a model ----------------------------------------------------

/// A record of the model: ledger, insertion number, peers that know the message.
type ModelRecord = (u32, u64, BTreeSet<u8>);

/// Removes the model's record to evict: the oldest ledger, then the oldest insertion.
fn model_evict(model: &mut BTreeMap<u8, ModelRecord>) {
    let oldest = model.iter().min_by_key(|(_, (ledger, n, _))| (*ledger, *n)).map(|(m, _)| *m);
    if let Some(m) = oldest {
        model.remove(&m);
    }
}

proptest! {
    #[test]
    fn floodgate_matches_a_model(ops in prop::collection::vec(gate_op(), 1..300), max in 1..16usize, seed in any::<u64>()) {
        let cfg = FloodConfig { floodgate_entries_max: max, ..FloodConfig::default() };
        let mut gate: Floodgate<u8> = Floodgate::new(&cfg, seed);
        let mut model: BTreeMap<u8, ModelRecord> = BTreeMap::new();
        let mut n = 0u64;
        // The slot handles taken, and those of peers removed since.
        let mut slots: BTreeMap<u8, PeerSlot> = BTreeMap::new();
        let mut stale: Vec<PeerSlot> = Vec::new();
        for op in ops {
            match op {
                GateOp::Recv { msg, from, ledger, by_slot } => {
                    // Warming a batch of identities counts the known ones and changes nothing
                    // (the rest of this test checks the gate against the model).
                    let batch: Vec<Hash256> = (0..=msg).map(|m| hash(0, m)).collect();
                    prop_assert_eq!(gate.warm(&batch), model.keys().filter(|&&m| m <= msg).count());
                    let new = if by_slot {
                        // A removed peer's handle is refused and changes nothing.
                        if let Some(&old) = stale.last() {
                            prop_assert!(gate.record_received_from(hash(0, msg), old, u32::from(ledger)).is_err());
                        }
                        let slot = match slots.get(&from).copied() {
                            Some(s) => s,
                            None => {
                                let s = gate.peer_slot(from).unwrap();
                                slots.insert(from, s);
                                s
                            }
                        };
                        gate.record_received_from(hash(0, msg), slot, u32::from(ledger)).unwrap()
                    } else {
                        gate.record_received(hash(0, msg), from, u32::from(ledger)).unwrap()
                    };
                    prop_assert_eq!(new, !model.contains_key(&msg));
                    if new {
                        if model.len() >= max {
                            model_evict(&mut model);
                        }
                        model.insert(msg, (u32::from(ledger), n, BTreeSet::new()));
                        n += 1;
                    }
                    model.get_mut(&msg).expect("just inserted").2.insert(from);
                }
                GateOp::Broadcast { .. } | GateOp::Crowd { .. } => {
                    let (msg, ledger, list) = match op {
                        GateOp::Broadcast { msg, peers, ledger } => {
                            (msg, ledger, (0..8).filter(|b| peers & (1 << b) != 0).map(|b| b % 6).collect())
                        }
                        GateOp::Crowd { msg, count, ledger } => (msg, ledger, crowd(count)),
                        _ => unreachable!(),
                    };
                    // Even messages go by slot handle, and a removed peer's handle among them
                    // is refused before anything is recorded.
                    let told = if msg % 2 == 0 {
                        let mut handles = Vec::new();
                        for &p in &list {
                            handles.push(*slots.entry(p).or_insert_with(|| gate.peer_slot(p).unwrap()));
                        }
                        if let Some(&old) = stale.last() {
                            let with_stale = [handles.as_slice(), &[old]].concat();
                            prop_assert!(gate.broadcast_to_slots(hash(0, msg), u32::from(ledger), &with_stale).is_err());
                        }
                        let at = gate.broadcast_to_slots(hash(0, msg), u32::from(ledger), &handles).unwrap();
                        at.into_iter().map(|i| list[i]).collect::<Vec<u8>>()
                    } else {
                        gate.broadcast(hash(0, msg), u32::from(ledger), &list).unwrap()
                    };
                    if !model.contains_key(&msg) {
                        if model.len() >= max {
                            model_evict(&mut model);
                        }
                        model.insert(msg, (u32::from(ledger), n, BTreeSet::new()));
                        n += 1;
                    }
                    let knowers = &mut model.get_mut(&msg).expect("present").2;
                    let mut expected = Vec::new();
                    for p in list {
                        if knowers.insert(p) {
                            expected.push(p);
                        }
                    }
                    prop_assert_eq!(told, expected);
                }
                GateOp::Forget { msg } => {
                    prop_assert_eq!(gate.forget(&hash(0, msg)), model.remove(&msg).is_some());
                }
                GateOp::ClearBelow { ledger } => {
                    gate.clear_below(u32::from(ledger));
                    model.retain(|_, (l, _, _)| *l >= u32::from(ledger));
                }
                GateOp::RemovePeer { peer } => {
                    gate.remove_peer(&peer);
                    stale.extend(slots.remove(&peer));
                    for (_, _, k) in model.values_mut() {
                        k.remove(&peer);
                    }
                }
            }
            prop_assert_eq!(gate.len(), model.len());
            for m in 0..12u8 {
                let rec = model.get(&m);
                prop_assert_eq!(gate.record_ledger(&hash(0, m)), rec.map(|r| r.0));
                for p in (0..6u8).chain([100, 163, 164, 200, 255]) {
                    prop_assert_eq!(gate.knows(&hash(0, m), &p), rec.is_some_and(|r| r.2.contains(&p)));
                }
            }
            let st = gate.stats();
            prop_assert!(st.order_entries <= 2 * st.entries.max(1024));
        }
    }
}

// ---- 2. demands ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum PullOp {
    Advert { peer: u8, hashes: Vec<u8> },
    Advance { ms: u16 },
    TxArrives { hash: u8, from: u8 },
}

fn pull_op() -> impl Strategy<Value = PullOp> {
    prop_oneof![
        3 => (0..5u8, prop::collection::vec(0..10u8, 1..6)).prop_map(|(peer, hashes)| PullOp::Advert { peer, hashes }),
        3 => (0..3000u16).prop_map(|ms| PullOp::Advance { ms }),
        1 => (0..10u8, 0..5u8).prop_map(|(hash, from)| PullOp::TxArrives { hash, from }),
    ]
}

#[derive(Default, Debug)]
struct Epoch {
    first: Option<Timestamp>,
    demands: Vec<(Timestamp, u8)>,
}

proptest! {
    #[test]
    fn demands_go_to_one_peer_at_a_time_with_backoff(ops in prop::collection::vec(pull_op(), 1..150), seed in any::<u64>()) {
        let cfg = FloodConfig::default();
        let limits = LedgerLimits { max_tx_set_size_ops: 1000, max_queue_size_ops: 30, ..LedgerLimits::default() };
        let mut now = Timestamp::from_secs(1);
        let mut pull: PullMode<u8> = PullMode::new(&cfg, limits, seed, now);
        for p in 0..5 {
            pull.add_peer(p).unwrap();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut have: BTreeSet<Hash256> = BTreeSet::new();
        let mut epochs: BTreeMap<Hash256, Epoch> = BTreeMap::new();
        for op in ops {
            match op {
                PullOp::Advert { peer, hashes } => {
                    let hs: Vec<_> = hashes.iter().map(|&i| hash(1, i)).collect();
                    pull.handle_flood_advert(peer, &hs, 1, &mut rng);
                }
                PullOp::TxArrives { hash: i, from } => {
                    have.insert(hash(1, i));
                    pull.handle_transaction(now, from, &hash(1, i));
                }
                PullOp::Advance { ms } => {
                    let until = now + Duration::from_millis(u64::from(ms));
                    while let Some(t) = pull.poll_timeout() {
                        if t > until {
                            break;
                        }
                        now = now.max(t);
                        pull.handle_timeout(now, &mut rng, |h| have.contains(h));
                        let mut this_run: BTreeSet<Hash256> = BTreeSet::new();
                        while let Some(tx) = pull.poll_transmit() {
                            if tx.kind != PullMessageKind::Demand {
                                continue;
                            }
                            prop_assert!(!tx.hashes.is_empty());
                            for h in tx.hashes {
                                prop_assert!(!have.contains(&h), "demanded a transaction we have");
                                prop_assert!(this_run.insert(h), "one hash demanded from two peers in one run");
                                let e = epochs.entry(h).or_default();
                                // The scheduler purges a record 60 s after its first demand.
                                if e.first.is_some_and(|f| now - f >= Duration::from_secs(60)) {
                                    *e = Epoch::default();
                                }
                                if let Some(&(last, _)) = e.demands.last() {
                                    let n = e.demands.len() as u64;
                                    let backoff = Duration::from_millis((n * 500).min(2000));
                                    prop_assert!(now - last >= backoff, "retried after {:?} < {:?}", now - last, backoff);
                                }
                                prop_assert!(e.demands.iter().all(|&(_, p)| p != tx.peer), "same peer asked twice");
                                e.first.get_or_insert(now);
                                e.demands.push((now, tx.peer));
                                prop_assert!(e.demands.len() <= 15);
                            }
                        }
                    }
                    now = until;
                }
            }
        }
    }
}

// ---- 3. bounds ----------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Recv { msg: u8, from: u8 },
    Broadcast { msg: u8 },
    Forget { msg: u8 },
    CloseLedger,
    RemovePeer { peer: u8 },
    AddPeer { peer: u8 },
    Advert { peer: u8, hashes: Vec<u8> },
    Demand { hashes: Vec<u8> },
    QueueAdvert { peer: u8, hash: u8 },
    Tx { from: u8, hash: u8 },
    Fetch { item: u8, env: u8 },
    StopFetch { item: u8, env: u8 },
    DontHave { item: u8, from: u8 },
    Item { item: u8 },
    Query { peer: u8, kind: u8 },
    Advance { ms: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    let p = || 0..8u8;
    prop_oneof![
        (0..40u8, p()).prop_map(|(msg, from)| Op::Recv { msg, from }),
        (0..40u8).prop_map(|msg| Op::Broadcast { msg }),
        (0..40u8).prop_map(|msg| Op::Forget { msg }),
        Just(Op::CloseLedger),
        p().prop_map(|peer| Op::RemovePeer { peer }),
        p().prop_map(|peer| Op::AddPeer { peer }),
        (p(), prop::collection::vec(any::<u8>(), 0..12)).prop_map(|(peer, hashes)| Op::Advert { peer, hashes }),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|hashes| Op::Demand { hashes }),
        (p(), any::<u8>()).prop_map(|(peer, hash)| Op::QueueAdvert { peer, hash }),
        (p(), any::<u8>()).prop_map(|(from, hash)| Op::Tx { from, hash }),
        (0..10u8, any::<u8>()).prop_map(|(item, env)| Op::Fetch { item, env }),
        (0..10u8, any::<u8>()).prop_map(|(item, env)| Op::StopFetch { item, env }),
        (0..10u8, p()).prop_map(|(item, from)| Op::DontHave { item, from }),
        (0..10u8).prop_map(|item| Op::Item { item }),
        (p(), 0..3u8).prop_map(|(peer, kind)| Op::Query { peer, kind }),
        (0..5000u16).prop_map(|ms| Op::Advance { ms }),
    ]
}

fn env(e: u8) -> Waiting<u8> {
    Waiting { msg_id: hash(3, e), slot_index: u64::from(e % 16), envelope: e }
}

proptest! {
    #[test]
    fn every_structure_stays_within_its_bound(ops in prop::collection::vec(op(), 1..300), seed in any::<u64>()) {
        let cfg = FloodConfig {
            floodgate_entries_max: 8,
            advert_history_entries_max: 5,
            demand_history_entries_max: 6,
            incoming_adverts_max: 4,
            fetch_trackers_max: 3,
            fetch_waiting_envelopes_max: 2,
            ..FloodConfig::default()
        };
        let limits = LedgerLimits { max_tx_set_size_ops: 50, max_queue_size_ops: 100, ..LedgerLimits::default() };
        let mut now = Timestamp::from_secs(1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gate: Floodgate<u8> = Floodgate::new(&cfg, seed);
        let mut pull: PullMode<u8> = PullMode::new(&cfg, limits, seed, now);
        let mut fetcher: ItemFetcher<u8, u8> = ItemFetcher::new(FetchKind::TxSet, &cfg, seed);
        let mut queries: BTreeMap<u8, QueryLimiter> = BTreeMap::new();
        let qlimits = QueryLimits::new(&cfg, limits.ledger_close_time_ms);
        let mut peers: BTreeSet<u8> = BTreeSet::new();
        let mut ledger = 1u32;
        let mut have: BTreeSet<Hash256> = BTreeSet::new();
        for op in ops {
            let view: Vec<FetchPeer<u8>> = peers.iter().map(|&p| FetchPeer { peer: p, ping_ms: u64::from(p) * 300 }).collect();
            let list: Vec<u8> = peers.iter().copied().collect();
            match op {
                Op::Recv { msg, from } => { gate.record_received(hash(0, msg), from, ledger).unwrap(); }
                Op::Broadcast { msg } => {
                    for p in gate.broadcast(hash(0, msg), ledger, &list).unwrap() {
                        pull.queue_outgoing_advert(now, p, hash(1, msg));
                    }
                }
                Op::Forget { msg } => { gate.forget(&hash(0, msg)); }
                Op::CloseLedger => {
                    ledger += 1;
                    let min = (ledger + 1).saturating_sub(cfg.max_slots_to_remember);
                    gate.clear_below(min);
                    pull.clear_below(min);
                    fetcher.stop_fetching_outside_range(Some(u64::from(ledger % 16)), Some(u64::from(ledger % 16) + 8), 0);
                }
                Op::RemovePeer { peer } => {
                    peers.remove(&peer);
                    gate.remove_peer(&peer);
                    pull.remove_peer(&peer);
                }
                Op::AddPeer { peer } => {
                    peers.insert(peer);
                    pull.add_peer(peer).unwrap();
                }
                Op::Advert { peer, hashes } => {
                    let hs: Vec<_> = hashes.iter().map(|&i| hash(1, i)).collect();
                    pull.handle_flood_advert(peer, &hs, ledger, &mut rng);
                }
                Op::Demand { hashes } => {
                    let hs: Vec<_> = hashes.iter().map(|&i| hash(1, i)).collect();
                    let sent = pull.handle_flood_demand(&hs, |h| if have.contains(h) { TxAvailability::Have } else { TxAvailability::Unknown });
                    prop_assert!(sent.iter().all(|h| have.contains(h)));
                }
                Op::QueueAdvert { peer, hash: i } => { pull.queue_outgoing_advert(now, peer, hash(1, i)); }
                Op::Tx { from, hash: i } => {
                    have.insert(hash(1, i));
                    pull.handle_transaction(now, from, &hash(1, i));
                }
                Op::Fetch { item, env: e } => fetcher.fetch(now, &mut rng, hash(2, item), env(e), &view, &gate),
                Op::StopFetch { item, env: e } => fetcher.stop_fetch(&hash(2, item), &env(e).msg_id),
                Op::DontHave { item, from } => fetcher.handle_dont_have(now, &mut rng, &hash(2, item), from, &view, &gate),
                Op::Item { item } => { fetcher.handle_item(&hash(2, item)); }
                Op::Query { peer, kind } => {
                    queries.entry(peer).or_default().allow(now, QueryKind::ALL[usize::from(kind)], &qlimits);
                }
                Op::Advance { ms } => {
                    now += Duration::from_millis(u64::from(ms));
                    pull.handle_timeout(now, &mut rng, |h| have.contains(h));
                    fetcher.handle_timeout(now, &mut rng, &view, &gate);
                    prop_assert!(pull.poll_timeout().is_some_and(|t| t > now));
                    prop_assert!(fetcher.poll_timeout().is_none_or(|t| t > now));
                }
            }
            // Bounds, before draining the outputs.
            prop_assert!(gate.len() <= cfg.floodgate_entries_max);
            let st = gate.stats();
            prop_assert!(st.order_entries <= st.entries + 2 * 1024);
            prop_assert!(pull.demands().len() <= cfg.demand_history_entries_max);
            for p in 0..8u8 {
                prop_assert!(pull.incoming_len(&p) <= cfg.incoming_adverts_max.min(limits.max_tx_set_size_ops as usize));
                prop_assert!(pull.outgoing_len(&p) < pull.max_advert_size());
                prop_assert!(pull.history_len(&p) <= cfg.advert_history_entries_max);
            }
            prop_assert!(fetcher.len() <= cfg.fetch_trackers_max);
            for item in 0..10u8 {
                if let Some(t) = fetcher.tracker(&hash(2, item)) {
                    prop_assert!(t.len() <= cfg.fetch_waiting_envelopes_max);
                    // An asked peer is one of the authenticated peers of the moment.
                    if let Some(p) = t.last_asked() {
                        prop_assert!(p < 8);
                    }
                }
            }
            prop_assert!(fetcher.pending_requests() <= 2 * cfg.fetch_trackers_max);
            while let Some(r) = fetcher.poll_request() {
                // Only peers authenticated at that moment are asked.
                prop_assert!(list.contains(&r.peer));
            }
            while let Some(t) = pull.poll_transmit() {
                prop_assert!(!t.hashes.is_empty() && t.hashes.len() <= 1000);
            }
        }
    }
}
