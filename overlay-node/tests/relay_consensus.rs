//! Issue 11 acceptance 1: the relay application against the recorded stellar-core consensus
//! run (`../shared/spec/vectors/stellar-core-v27.1.0-consensus.json`): 752 envelopes of three
//! v27.1.0 validators, with the 36 tx sets and the quorum set they reference.
//!
//! In memory on virtual time: node 1 plays the validators' side (it holds every tx set and the
//! quorum set, and sends the envelopes in recorded order and at recorded times); node 0 is the
//! relay; node 2 is a peer downstream of it. The relay must verify every signature, ask node 1
//! for exactly the items the statements reference, flood an envelope to node 2 only once it
//! holds those items, and serve them to node 2 by hash.

use overlay_node::app::{AppInput, Delivery, ScpDelivery, ScpVerdict};
use overlay_node::harness::Harness;
use overlay_node::node::tx_set_hash;
use overlay_node::relay::references;
use overlay_node::{Application, LedgerState, NodeConfig, NodeEvent, Received, Relay, RelayConfig};
use overlay_proto::xdr::{Limits, ReadXdr, ScpEnvelope, ScpQuorumSet, StellarMessage, Uint256, WriteXdr};
use overlay_proto::{Hash256, Network, Timestamp};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

struct Vector {
    /// (seconds since connect, envelope), in recorded order.
    envelopes: Vec<(f64, ScpEnvelope)>,
    tx_sets: Vec<StellarMessage>,
    quorum_set: ScpQuorumSet,
    /// What the recording client asked for, independently of our code.
    asked_tx_sets: BTreeSet<Hash256>,
    asked_quorum_sets: BTreeSet<Hash256>,
}

fn load() -> Vector {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/vectors/stellar-core-v27.1.0-consensus.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["passphrase"], Network::Standalone.passphrase());
    let mut out = Vector {
        envelopes: Vec::new(),
        tx_sets: Vec::new(),
        quorum_set: ScpQuorumSet::default(),
        asked_tx_sets: BTreeSet::new(),
        asked_quorum_sets: BTreeSet::new(),
    };
    for m in v["messages"].as_array().unwrap() {
        let xdr = m["xdr"].as_str().unwrap();
        let msg = StellarMessage::from_xdr_base64(xdr, Limits { depth: 500, len: 1 << 24 }).unwrap();
        let t = m["t"].as_f64().unwrap();
        match (m["dir"].as_str().unwrap(), msg) {
            ("recv", StellarMessage::ScpMessage(e)) => out.envelopes.push((t, e)),
            ("recv", m @ StellarMessage::GeneralizedTxSet(_)) => out.tx_sets.push(m),
            ("recv", StellarMessage::ScpQuorumset(q)) => out.quorum_set = q,
            ("send", StellarMessage::GetTxSet(h)) => {
                out.asked_tx_sets.insert(Hash256(h.0));
            }
            ("send", StellarMessage::GetScpQuorumset(h)) => {
                out.asked_quorum_sets.insert(Hash256(h.0));
            }
            _ => {}
        }
    }
    assert_eq!(out.envelopes.len(), 752);
    assert_eq!(out.tx_sets.len(), 36);
    out
}

fn delivery(env: &ScpEnvelope) -> ScpDelivery {
    let msg = StellarMessage::ScpMessage(env.clone());
    let xdr: Arc<[u8]> = overlay_proto::wire::encode_message(&msg).unwrap().into();
    let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
    ScpDelivery { id, from: None, envelope: Arc::new(env.clone()), xdr, refetched: false }
}

fn verdict(relay: &mut Relay, d: ScpDelivery) -> ScpVerdict {
    relay.handle_delivery(Timestamp::from_secs(1), Delivery::ScpEnvelope(d));
    let mut out = None;
    while let Some(i) = relay.poll_input() {
        if let AppInput::ScpVerdict { verdict, .. } = i {
            out = Some(verdict);
        }
    }
    out.expect("a verdict")
}

// Every one of the 752 signatures verifies with our code; a copy with one bit of the
// signature flipped, and a copy whose statement names another slot, are each discarded.
#[test]
fn every_recorded_signature_verifies_and_every_tampered_copy_is_discarded() {
    let v = load();
    let net = Network::Standalone.id();
    for (_, env) in &v.envelopes {
        assert!(overlay_node::relay::verify(&net, &delivery(env)).is_ok());
        let mut bad_sig = env.clone();
        let mut sig = bad_sig.signature.0.to_vec();
        sig[7] ^= 0x10;
        bad_sig.signature.0 = sig.try_into().unwrap();
        let mut bad_statement = env.clone();
        bad_statement.statement.slot_index += 1;
        for tampered in [bad_sig, bad_statement] {
            let mut relay = Relay::new(RelayConfig::new(net));
            assert_eq!(verdict(&mut relay, delivery(&tampered)), ScpVerdict::Discard);
            assert_eq!(relay.stats().bad_signatures, 1);
        }
    }
    // Another network's relay refuses them all.
    let mut relay = Relay::new(RelayConfig::new(Network::Testnet.id()));
    for (_, env) in v.envelopes.iter().take(20) {
        assert_eq!(verdict(&mut relay, delivery(env)), ScpVerdict::Discard);
    }
}

// The items a statement references are the ones the recording client fetched from the
// stellar-core watcher (it asked for exactly what the statements name).
#[test]
fn the_referenced_items_are_the_ones_stellar_core_served() {
    let v = load();
    let mut tx_sets = BTreeSet::new();
    let mut qsets = BTreeSet::new();
    for (_, env) in &v.envelopes {
        let r = references(&env.statement.pledges).unwrap();
        tx_sets.extend(r.tx_sets);
        qsets.insert(r.quorum_set);
    }
    assert_eq!(tx_sets, v.asked_tx_sets);
    assert_eq!(qsets, v.asked_quorum_sets);
    let held: BTreeSet<Hash256> = v.tx_sets.iter().map(|m| tx_set_hash(m).unwrap().0).collect();
    assert_eq!(held, tx_sets, "each GENERALIZED_TX_SET hashes to what was asked");
    let qxdr = v.quorum_set.to_xdr(Limits::none()).unwrap();
    assert!(qsets.contains(&Hash256::sha256(&qxdr)));
}

/// Per envelope identity, when node 2 received it from the relay.
fn received_at_2(h: &Harness, relay: overlay_proto::NodeId) -> BTreeMap<Hash256, (Timestamp, Arc<ScpEnvelope>)> {
    let mut out = BTreeMap::new();
    for (e, t) in h.events[2].iter().zip(&h.event_times[2]) {
        if let NodeEvent::Message { peer, message: Received::ScpMessage(env), .. } = e {
            if *peer == relay {
                out.entry(delivery(env).id).or_insert((*t, env.clone()));
            }
        }
    }
    out
}

// The whole run through a relay node, as in the recording.
#[test]
fn the_relay_fetches_what_envelopes_reference_floods_them_only_then_and_serves_the_items() {
    let v = load();
    let latency = Duration::from_millis(20);
    let mut h = Harness::new();
    h.latency = latency;
    let relay_cfg = RelayConfig::new(Network::Standalone.id());
    let relay_ledger = LedgerState::relay();
    h.add_node_with_app(NodeConfig { ledger: relay_ledger, ..Harness::config() }, Box::new(Relay::new(relay_cfg)));
    h.add_node(Harness::config());
    h.add_node(Harness::config());
    // Node 1 holds every item from the start; the relay gets them only by asking.
    for set in &v.tx_sets {
        h.app_input(1, AppInput::HoldTxSet(Arc::new(set.clone())));
    }
    h.app_input(1, AppInput::HoldQuorumSet(Arc::new(v.quorum_set.clone())));
    h.connect(1, 0);
    h.connect(2, 0);
    assert!(h.run_until(h.now + Duration::from_secs(5), |h| h.linked(0, 1) && h.linked(0, 2)));
    let relay_id = h.nodes[0].node_id();
    let start = h.now;
    let mut asked_by_2: BTreeSet<Hash256> = BTreeSet::new();
    for (t, env) in &v.envelopes {
        let at = start + Duration::from_secs_f64(*t);
        h.run_until(at, |_| false);
        let now = h.now;
        h.nodes[1].send_to(now, relay_id, &StellarMessage::ScpMessage(env.clone())).unwrap();
        h.pump();
        // Node 2 asks the relay for what each newly flooded envelope references.
        for (_, (_, e)) in received_at_2(&h, relay_id) {
            let r = references(&e.statement.pledges).unwrap();
            for hash in r.tx_sets {
                if asked_by_2.insert(hash) {
                    h.nodes[2].send_to(now, relay_id, &StellarMessage::GetTxSet(Uint256(hash.0))).unwrap();
                }
            }
            if asked_by_2.insert(r.quorum_set) {
                let q = StellarMessage::GetScpQuorumset(Uint256(r.quorum_set.0));
                h.nodes[2].send_to(now, relay_id, &q).unwrap();
            }
        }
    }
    h.run_for(Duration::from_secs(5));
    let relay: &Relay = h.app(0);
    let stats = relay.stats();

    // Every signature was verified once, none failed.
    assert_eq!(stats.bad_signatures, 0);
    assert_eq!(stats.signatures_checked, 752);

    // The relay asked node 1 for exactly the referenced items, each once.
    let mut asked_tx = Vec::new();
    let mut asked_q = Vec::new();
    for e in &h.events[1] {
        if let NodeEvent::Message { peer, message: Received::Other(m), .. } = e {
            match &**m {
                StellarMessage::GetTxSet(x) if *peer == relay_id => asked_tx.push(Hash256(x.0)),
                StellarMessage::GetScpQuorumset(x) if *peer == relay_id => asked_q.push(Hash256(x.0)),
                _ => {}
            }
        }
    }
    let asked_tx_set: BTreeSet<Hash256> = asked_tx.iter().copied().collect();
    assert_eq!(asked_tx_set, v.asked_tx_sets, "exactly the referenced tx sets");
    assert_eq!(asked_tx.len(), asked_tx_set.len(), "each once");
    // Pings are GET_SCP_QUORUMSET too (§4.4): only the real quorum set may be asked for
    // among hashes that are not pings, and it was asked for.
    assert!(asked_q.iter().any(|q| v.asked_quorum_sets.contains(q)));

    // Every envelope reached node 2, and only after the relay held what it references:
    // the relay received each item from node 1 before node 2 got the envelope.
    let got = received_at_2(&h, relay_id);
    assert_eq!(got.len(), 752, "every envelope was flooded on: {stats:?}, {:?}", h.nodes[0].counters());
    assert_eq!(h.nodes[0].counters().app_verdicts_unknown, 0, "every verdict met its delivery");
    let mut item_at: BTreeMap<Hash256, Timestamp> = BTreeMap::new();
    for (e, t) in h.events[0].iter().zip(&h.event_times[0]) {
        if let NodeEvent::Message { message: Received::Other(m), first_seen: true, .. } = e {
            match &**m {
                StellarMessage::GeneralizedTxSet(_) => {
                    item_at.entry(tx_set_hash(m).unwrap().0).or_insert(*t);
                }
                StellarMessage::ScpQuorumset(q) => {
                    let x = q.to_xdr(Limits::none()).unwrap();
                    item_at.entry(Hash256::sha256(&x)).or_insert(*t);
                }
                _ => {}
            }
        }
    }
    let mut waited = 0;
    for (received, env) in got.values() {
        let r = references(&env.statement.pledges).unwrap();
        for item in r.tx_sets.iter().chain([&r.quorum_set]) {
            let held = item_at.get(item).unwrap_or_else(|| panic!("the relay never received {item:?}"));
            assert!(*held + latency <= *received, "flooded before the item arrived");
        }
        waited += 1;
    }
    assert_eq!(waited, 752);

    // Node 2 asked for every item of what it received, and the relay served each by hash
    // (no DONT_HAVE).
    let mut served = BTreeSet::new();
    for e in &h.events[2] {
        if let NodeEvent::Message { peer, message: Received::Other(m), .. } = e {
            if *peer != relay_id {
                continue;
            }
            match &**m {
                StellarMessage::GeneralizedTxSet(_) => {
                    served.insert(tx_set_hash(m).unwrap().0);
                }
                StellarMessage::ScpQuorumset(q) => {
                    served.insert(Hash256::sha256(&q.to_xdr(Limits::none()).unwrap()));
                }
                StellarMessage::DontHave(d) if asked_by_2.contains(&Hash256(d.req_hash.0)) => {
                    panic!("the relay did not have {:?}", d.req_hash)
                }
                _ => {}
            }
        }
    }
    assert_eq!(served, asked_by_2);

    // The relay tracked the externalized slots, so the node's window moved with them.
    let tracking = relay.tracking_slot().expect("slots externalized");
    assert_eq!(u64::from(h.nodes[0].ledger().tracking_ledger), tracking);
    assert!(h.violations.is_empty(), "{:?}", h.violations);
}
