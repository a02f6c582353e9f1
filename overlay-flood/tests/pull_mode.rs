//! PullMode as the node drives it (PROTOCOL.md §9), and the recorded stellar-core v27.1.0
//! pull-mode session (`tests/data/pull-mode-v27.1.0.json`, a subset of
//! `spec/vectors/stellar-core-v27.1.0-pull-mode.json`).

use overlay_flood::{
    FloodConfig, FloodError, LedgerLimits, PEERS_MAX, PullMessageKind, PullMode, PullTransmit, TxAvailability, identity,
};
use overlay_proto::xdr::{Limits, ReadXdr, StellarMessage, TransactionEnvelope};
use overlay_proto::{Hash256, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::time::Duration;

fn h(i: u32) -> Hash256 {
    Hash256::sha256(&i.to_be_bytes())
}

fn ms(t: u64) -> Timestamp {
    Timestamp::from_millis(t)
}

fn pull(peers: &[u32]) -> PullMode<u32> {
    let mut p = PullMode::new(&FloodConfig::default(), LedgerLimits::default(), 9, ms(0));
    for &x in peers {
        p.add_peer(x).unwrap();
    }
    p
}

fn drain(p: &mut PullMode<u32>) -> Vec<PullTransmit<u32>> {
    core::iter::from_fn(|| p.poll_transmit()).collect()
}

/// Run the timers every time they are due, up to `until`.
fn crank(p: &mut PullMode<u32>, rng: &mut ChaCha8Rng, until: Timestamp, out: &mut Vec<PullTransmit<u32>>) {
    while let Some(t) = p.poll_timeout() {
        if t > until {
            break;
        }
        p.handle_timeout(t, rng, |_| false);
        out.extend(drain(p));
    }
}

#[test]
fn outgoing_adverts_are_batched_by_period_and_size() {
    // §9.1: 100 ms timer from the first hash; flush at maxAdvertSize (2 at genesis limits).
    let mut p = pull(&[1, 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    assert_eq!(p.max_advert_size(), 2);
    assert!(p.queue_outgoing_advert(ms(10), 1, h(1)));
    assert_eq!(p.poll_timeout(), Some(ms(0)), "the first demand run is due at start");
    p.handle_timeout(ms(10), &mut rng, |_| false);
    assert!(drain(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(ms(110)));
    p.handle_timeout(ms(110), &mut rng, |_| false);
    let out = drain(&mut p);
    assert_eq!(out, [PullTransmit { peer: 1, kind: PullMessageKind::Advert, hashes: vec![h(1)] }]);
    // Two hashes fill a batch: sent at once, no timer needed.
    p.queue_outgoing_advert(ms(120), 2, h(2));
    p.queue_outgoing_advert(ms(121), 2, h(3));
    let out = drain(&mut p);
    assert_eq!(out, [PullTransmit { peer: 2, kind: PullMessageKind::Advert, hashes: vec![h(2), h(3)] }]);
    assert_eq!(p.outgoing_len(&2), 0);
    assert_eq!(p.metrics().advertised, 3);
    assert_eq!(p.metrics().adverts_sent, 2);
    // Larger ledgers give larger adverts.
    p.set_ledger_limits(LedgerLimits { max_tx_set_size_ops: 5000, ..LedgerLimits::default() });
    assert_eq!(p.max_advert_size(), 100);
}

#[test]
fn hashes_a_peer_advertised_are_not_advertised_back() {
    // §9.1 last point.
    let mut p = pull(&[1, 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    p.handle_flood_advert(1, &[h(5)], 1, &mut rng);
    assert!(p.peer_knows(&1, &h(5)));
    assert!(!p.queue_outgoing_advert(ms(0), 1, h(5)));
    assert!(p.queue_outgoing_advert(ms(0), 2, h(5)));
    assert_eq!(p.metrics().advert_skipped_known, 1);
    // Unknown peers are ignored.
    assert!(!p.queue_outgoing_advert(ms(0), 77, h(5)));
    // Once the history is cleared by ledger, it may be advertised again.
    p.clear_below(2);
    assert!(p.queue_outgoing_advert(ms(0), 1, h(5)));
}

#[test]
fn demand_timer_runs_every_period() {
    let mut p = pull(&[1]);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    crank(&mut p, &mut rng, ms(1000), &mut out);
    // Runs at 0, 200, ..., 1000.
    assert_eq!(p.demand_metrics().runs, 6);
    assert_eq!(p.poll_timeout(), Some(ms(1200)));
}

// C++: OverlayTests "overlay pull mode" / "ignore duplicated adverts"
#[test]
fn ignore_duplicated_adverts() {
    let mut p = pull(&[0]);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut out = Vec::new();
    for _ in 0..3 {
        p.handle_flood_advert(0, &[h(0)], 1, &mut rng);
    }
    crank(&mut p, &mut rng, ms(3 * 200 + 10), &mut out);
    let demands: Vec<_> = out.iter().filter(|t| t.kind == PullMessageKind::Demand).collect();
    assert_eq!(demands.len(), 1);
    assert_eq!(demands[0].hashes, [h(0)]);
    // 10 s later (before the 60 s purge) the same advert again: no new demand.
    crank(&mut p, &mut rng, ms(10_610), &mut out);
    p.handle_flood_advert(0, &[h(0)], 1, &mut rng);
    crank(&mut p, &mut rng, ms(11_300), &mut out);
    assert_eq!(out.iter().filter(|t| t.kind == PullMessageKind::Demand).count(), 1);
}

// C++: OverlayTests "overlay pull mode with many peers"
#[test]
fn many_peers_exactly_fifteen_demands_in_ten_minutes() {
    let peers: Vec<u32> = (1..20).collect();
    let mut p = pull(&peers);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let unknown = Hash256::sha256(b"never fulfilled");
    for &x in &peers {
        p.handle_flood_advert(x, &[unknown], 1, &mut rng);
    }
    let mut out = Vec::new();
    crank(&mut p, &mut rng, Timestamp::from_secs(600), &mut out);
    let demands: Vec<_> = out.iter().filter(|t| t.kind == PullMessageKind::Demand).collect();
    assert_eq!(demands.len(), 15);
    // Fifteen distinct peers, spaced by the backoff 500, 1000, 1500, 2000, 2000, ...
    let mut who: Vec<u32> = demands.iter().map(|t| t.peer).collect();
    who.sort_unstable();
    who.dedup();
    assert_eq!(who.len(), 15);
    assert_eq!(p.demand_metrics().abandoned, 1);
}

#[test]
fn serving_demands() {
    // §9.4: send what we have, in order; count banned and unknown; no negative reply.
    let mut p = pull(&[1]);
    let sent = p.handle_flood_demand(&[h(1), h(2), h(3), h(4)], |x| match x {
        x if *x == h(2) => TxAvailability::Banned,
        x if *x == h(3) => TxAvailability::Unknown,
        _ => TxAvailability::Have,
    });
    assert_eq!(sent, [h(1), h(4)]);
    let m = p.metrics();
    assert_eq!((m.fulfilled, m.unfulfilled_banned, m.unfulfilled_unknown), (2, 1, 1));
}

#[test]
fn pulled_transactions_record_latency_once() {
    let mut p = pull(&[1]);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    p.handle_flood_advert(1, &[h(1)], 1, &mut rng);
    p.handle_timeout(ms(0), &mut rng, |_| false);
    assert_eq!(drain(&mut p).len(), 1);
    let lat = p.handle_transaction(ms(35), 1, &h(1)).unwrap();
    assert_eq!(lat.since_first_demand, Duration::from_millis(35));
    assert_eq!(lat.from_peer, Some(Duration::from_millis(35)));
    assert!(p.handle_transaction(ms(40), 1, &h(1)).is_none());
    let m = p.metrics();
    assert_eq!((m.pull_latency_count, m.pull_latency_ms_sum, m.pull_latency_ms_max), (1, 35, 35));
}

#[test]
fn removing_a_peer_drops_its_state_and_unsent_messages() {
    let mut p = pull(&[1, 2]);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    p.handle_flood_advert(1, &[h(1)], 1, &mut rng);
    p.queue_outgoing_advert(ms(0), 1, h(2));
    p.queue_outgoing_advert(ms(0), 1, h(3)); // full batch, queued for sending
    assert_eq!(p.pending_transmits(), 1);
    p.remove_peer(&1);
    p.remove_peer(&1);
    assert_eq!(p.pending_transmits(), 0);
    assert_eq!(p.incoming_len(&1), 0);
    assert_eq!(p.peers().collect::<Vec<_>>(), [2]);
}

#[test]
fn peers_are_bounded() {
    let mut p = pull(&[]);
    for x in 0..PEERS_MAX as u32 {
        p.add_peer(x).unwrap();
    }
    p.add_peer(0).unwrap(); // idempotent
    assert_eq!(p.add_peer(9999), Err(FloodError::PeerSlotsExhausted(PEERS_MAX)));
}

#[test]
fn incoming_queue_is_capped_at_max_tx_set_ops() {
    // §9.2 with the genesis limit of 100 operations.
    let mut p = pull(&[1]);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let hashes: Vec<_> = (0..150).map(h).collect();
    p.handle_flood_advert(1, &hashes, 1, &mut rng);
    assert_eq!(p.incoming_len(&1), 100);
    assert_eq!(p.metrics().incoming_dropped, 50);
    assert_eq!(p.history_len(&1), 150);
}

// ---- recorded vectors -------------------------------------------------------------------

fn vectors() -> serde_json::Value {
    let text = include_str!("data/pull-mode-v27.1.0.json");
    serde_json::from_str(text).unwrap()
}

/// Standard base64 with padding (the vector file's encoding).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    out
}

#[test]
fn base64_decoder_round_trips_known_values() {
    assert_eq!(base64_decode("TWFu"), b"Man");
    assert_eq!(base64_decode("TWE="), b"Ma");
    assert_eq!(base64_decode("TQ=="), b"M");
}

fn hex32(s: &str) -> Hash256 {
    Hash256(hex::decode(s).unwrap().try_into().unwrap())
}

#[test]
fn pull_mode_hash_is_sha256_of_the_envelope_xdr() {
    // vectors/README: advert hashes are SHA-256(XDR(TransactionEnvelope)), not the tx hash.
    let v = vectors();
    let txs = v["submitted_transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 4);
    for t in txs {
        let xdr = base64_decode(t["envelope_xdr_b64"].as_str().unwrap());
        let env = TransactionEnvelope::from_xdr(&xdr, Limits::len(xdr.len())).unwrap();
        let expected = hex32(t["sha256_envelope_xdr_hex"].as_str().unwrap());
        assert_eq!(identity::tx_full_hash(&env).unwrap(), expected);
        assert_ne!(expected, hex32(t["tx_hash_hex"].as_str().unwrap()));
        // The same from the TRANSACTION message's XDR, without decoding.
        let msg_xdr = overlay_proto::wire::encode_message(&StellarMessage::Transaction(env)).unwrap();
        assert_eq!(identity::tx_full_hash_from_message_xdr(&msg_xdr).unwrap(), expected);
    }
}

fn frame(v: &serde_json::Value, index: u64) -> (String, Vec<u8>) {
    let f = v["frames"].as_array().unwrap().iter().find(|f| f["index"] == index).unwrap();
    (f["type"].as_str().unwrap().to_owned(), hex::decode(f["stellar_message_xdr_hex"].as_str().unwrap()).unwrap())
}

fn advert_hashes(xdr: &[u8]) -> Vec<Hash256> {
    match overlay_proto::wire::decode_message(xdr).unwrap() {
        StellarMessage::FloodAdvert(a) => a.tx_hashes.0.iter().map(|x| Hash256(x.0)).collect(),
        other => panic!("not an advert: {other:?}"),
    }
}

#[test]
fn recorded_session_replays_byte_for_byte() {
    // Core (peer 1) advertises 1 then 3 hashes; our demands must be the bytes we sent, and
    // each TRANSACTION core sent hashes to an advertised hash.
    let v = vectors();
    let core = 1u32;
    let mut p = pull(&[core]);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut t = ms(0);
    let mut demanded_total = 0;
    for (advert_idx, demand_idx, tx_idxs) in [(35u64, 36u64, &[37u64][..]), (41, 42, &[43, 44, 45][..])] {
        let (ty, advert_xdr) = frame(&v, advert_idx);
        assert_eq!(ty, "FLOOD_ADVERT");
        let hashes = advert_hashes(&advert_xdr);
        // Our encoding of the same advert is byte-identical.
        let ours = PullTransmit { peer: core, kind: PullMessageKind::Advert, hashes: hashes.clone() };
        assert_eq!(overlay_proto::wire::encode_message(&ours.to_message()).unwrap(), advert_xdr);

        p.handle_flood_advert(core, &hashes, 10, &mut rng);
        let due = p.poll_timeout().unwrap().max(t);
        t = due;
        p.handle_timeout(t, &mut rng, |_| false);
        let out = drain(&mut p);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, PullMessageKind::Demand);
        let (ty, demand_xdr) = frame(&v, demand_idx);
        assert_eq!(ty, "FLOOD_DEMAND");
        assert_eq!(overlay_proto::wire::encode_message(&out[0].to_message()).unwrap(), demand_xdr);
        demanded_total += out[0].hashes.len();

        for &ti in tx_idxs {
            let (ty, tx_xdr) = frame(&v, ti);
            assert_eq!(ty, "TRANSACTION");
            let th = identity::tx_full_hash_from_message_xdr(&tx_xdr).unwrap();
            assert!(hashes.contains(&th));
            t += Duration::from_millis(5);
            assert!(p.handle_transaction(t, core, &th).is_some());
        }
        t += Duration::from_millis(200);
    }
    assert_eq!(demanded_total, 4);
    assert_eq!(p.demand_metrics().pulled, 4);
}

#[test]
fn vector_subset_matches_the_shared_file_when_present() {
    // The subset in tests/data was cut from the shared recording; if the shared file is
    // available, check that it still says the same.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/vectors/stellar-core-v27.1.0-pull-mode.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let full: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sub = vectors();
    for (a, b) in
        sub["submitted_transactions"].as_array().unwrap().iter().zip(full["submitted_transactions"].as_array().unwrap())
    {
        assert_eq!(a["envelope_xdr_b64"], b["envelope_xdr_b64"]);
        assert_eq!(a["sha256_envelope_xdr_hex"], b["sha256_envelope_xdr_hex"]);
    }
    for f in sub["frames"].as_array().unwrap() {
        let g = full["frames"].as_array().unwrap().iter().find(|g| g["index"] == f["index"]).unwrap();
        assert_eq!(f["stellar_message_xdr_hex"], g["stellar_message_xdr_hex"]);
    }
}
