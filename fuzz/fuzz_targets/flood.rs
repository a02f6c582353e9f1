#![no_main]
//! Arbitrary sequences of flooding inputs — received and broadcast messages, adverts, demands,
//! transactions, fetches, DONT_HAVEs, items, ledger closes, peer churn, queries and timeouts
//! (time only moves forward) — fed to the Floodgate, PullMode, an ItemFetcher and query
//! limiters, with every bound checked after each step.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overlay_flood::rand_core::TryRng;
use overlay_flood::{
    FetchKind, FetchPeer, FloodConfig, Floodgate, ItemFetcher, LedgerLimits, PullMode, QueryKind, QueryLimiter,
    QueryLimits, TxAvailability, Waiting,
};
use overlay_proto::{Hash256, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

/// A deterministic generator (splitmix64) seeded by the input, so a crash replays.
struct SplitMix(u64);

impl TryRng for SplitMix {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.try_next_u64().map(|v| (v >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Recv { msg: u8, from: u8 },
    Broadcast { msg: u8 },
    Forget { msg: u8 },
    CloseLedger { ledgers: u8 },
    RemovePeer { peer: u8 },
    AddPeer { peer: u8, ping_ms: u16 },
    Advert { peer: u8, hashes: Vec<u8> },
    Demand { hashes: Vec<u8> },
    QueueAdvert { peer: u8, hash: u8 },
    Tx { from: u8, hash: u8 },
    Fetch { item: u8, env: u8 },
    StopFetch { item: u8, env: u8 },
    DontHave { item: u8, from: u8 },
    Item { item: u8 },
    FetchRange { min: Option<u8>, max: Option<u8>, keep: u8 },
    Query { peer: u8, kind: u8 },
    Limits { tx_set_ops: u16, queue_ops: u16, close_ms: u16 },
    Advance { ms: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    small_bounds: bool,
    ops: Vec<Op>,
}

fn hash(tag: u8, i: u8) -> Hash256 {
    Hash256::sha256(&[tag, i])
}

fn env(e: u8) -> Waiting<u8> {
    Waiting { msg_id: hash(3, e), slot_index: u64::from(e % 32), envelope: e }
}

fuzz_target!(|input: Input| {
    let cfg = if input.small_bounds {
        FloodConfig {
            floodgate_entries_max: 8,
            advert_history_entries_max: 5,
            demand_history_entries_max: 6,
            incoming_adverts_max: 4,
            fetch_trackers_max: 3,
            fetch_waiting_envelopes_max: 2,
            ..FloodConfig::default()
        }
    } else {
        FloodConfig::default()
    };
    let mut limits = LedgerLimits::default();
    let mut now = Timestamp::from_secs(1);
    let mut rng = SplitMix(input.seed);
    let mut gate: Floodgate<u8> = Floodgate::new(&cfg, input.seed);
    let mut pull: PullMode<u8> = PullMode::new(&cfg, limits, input.seed, now);
    let mut fetcher: ItemFetcher<u8, u8> = ItemFetcher::new(FetchKind::QuorumSet, &cfg, input.seed);
    let mut queries: BTreeMap<u8, QueryLimiter> = BTreeMap::new();
    let mut peers: BTreeMap<u8, u64> = BTreeMap::new();
    let mut have: BTreeSet<Hash256> = BTreeSet::new();
    let mut ledger = 1u32;

    for op in input.ops.into_iter().take(2_000) {
        let view: Vec<FetchPeer<u8>> = peers.iter().map(|(&peer, &ping_ms)| FetchPeer { peer, ping_ms }).collect();
        let list: Vec<u8> = peers.keys().copied().collect();
        match op {
            Op::Recv { msg, from } => {
                if let Ok(new) = gate.record_received(hash(0, msg), from, ledger) {
                    if new {
                        for p in gate.broadcast(hash(0, msg), ledger, &list).unwrap() {
                            assert_ne!(p, from, "forwarded back to its sender");
                        }
                    }
                }
            }
            Op::Broadcast { msg } => {
                // By slot handle, as the node broadcasts.
                let handles: Vec<_> = list.iter().map(|&p| gate.peer_slot(p).unwrap()).collect();
                for i in gate.broadcast_to_slots(hash(0, msg), ledger, &handles).unwrap() {
                    pull.queue_outgoing_advert(now, list[i], hash(1, msg));
                }
            }
            Op::Forget { msg } => {
                gate.forget(&hash(0, msg));
            }
            Op::CloseLedger { ledgers } => {
                ledger = ledger.saturating_add(u32::from(ledgers % 16));
                let min = (ledger + 1).saturating_sub(cfg.max_slots_to_remember);
                gate.clear_below(min);
                pull.clear_below(min);
            }
            Op::RemovePeer { peer } => {
                peers.remove(&peer);
                gate.remove_peer(&peer);
                pull.remove_peer(&peer);
            }
            Op::AddPeer { peer, ping_ms } => {
                peers.insert(peer, u64::from(ping_ms));
                pull.add_peer(peer).unwrap();
            }
            Op::Advert { peer, hashes } => {
                let hs: Vec<_> = hashes.iter().take(1000).map(|&i| hash(1, i)).collect();
                pull.handle_flood_advert(peer, &hs, ledger, &mut rng);
            }
            Op::Demand { hashes } => {
                let hs: Vec<_> = hashes.iter().take(1000).map(|&i| hash(1, i)).collect();
                let sent = pull.handle_flood_demand(&hs, |h| {
                    if have.contains(h) { TxAvailability::Have } else { TxAvailability::Unknown }
                });
                assert!(sent.iter().all(|h| have.contains(h)));
            }
            Op::QueueAdvert { peer, hash: i } => {
                pull.queue_outgoing_advert(now, peer, hash(1, i));
            }
            Op::Tx { from, hash: i } => {
                have.insert(hash(1, i));
                pull.handle_transaction(now, from, &hash(1, i));
            }
            Op::Fetch { item, env: e } => fetcher.fetch(now, &mut rng, hash(2, item), env(e), &view, &gate),
            Op::StopFetch { item, env: e } => fetcher.stop_fetch(&hash(2, item), &env(e).msg_id),
            Op::DontHave { item, from } => fetcher.handle_dont_have(now, &mut rng, &hash(2, item), from, &view, &gate),
            Op::Item { item } => {
                fetcher.handle_item(&hash(2, item));
            }
            Op::FetchRange { min, max, keep } => {
                fetcher.stop_fetching_outside_range(min.map(u64::from), max.map(u64::from), u64::from(keep))
            }
            Op::Query { peer, kind } => {
                let q = QueryLimits::new(&cfg, limits.ledger_close_time_ms);
                queries.entry(peer).or_default().allow(now, QueryKind::ALL[usize::from(kind % 3)], &q);
            }
            Op::Limits { tx_set_ops, queue_ops, close_ms } => {
                limits = LedgerLimits {
                    max_tx_set_size_ops: u32::from(tx_set_ops),
                    max_queue_size_ops: u64::from(queue_ops),
                    ledger_close_time_ms: u64::from(close_ms),
                    ..limits
                };
                pull.set_ledger_limits(limits);
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                pull.handle_timeout(now, &mut rng, |h| have.contains(h));
                fetcher.handle_timeout(now, &mut rng, &view, &gate);
                assert!(pull.poll_timeout().is_some_and(|t| t > now));
                assert!(fetcher.poll_timeout().is_none_or(|t| t > now));
            }
        }

        // Bounds after every step.
        assert!(gate.len() <= cfg.floodgate_entries_max);
        let st = gate.stats();
        assert!(st.order_entries <= st.entries + 2 * cfg.floodgate_entries_max.max(1024));
        assert!(st.peers <= overlay_flood::PEERS_MAX);
        assert!(pull.demands().len() <= cfg.demand_history_entries_max);
        for p in 0..=u8::MAX {
            assert!(pull.incoming_len(&p) <= cfg.incoming_adverts_max);
            assert!(pull.outgoing_len(&p) <= overlay_flood::TX_HASHES_PER_MESSAGE_MAX);
            assert!(pull.history_len(&p) <= cfg.advert_history_entries_max);
        }
        assert!(fetcher.len() <= cfg.fetch_trackers_max);
        assert!(fetcher.pending_requests() <= 2 * cfg.fetch_trackers_max);
        while let Some(r) = fetcher.poll_request() {
            assert!(list.contains(&r.peer), "asked a peer that is not authenticated");
        }
        while let Some(t) = pull.poll_transmit() {
            assert!(!t.hashes.is_empty() && t.hashes.len() <= overlay_flood::TX_HASHES_PER_MESSAGE_MAX);
        }
    }
});
