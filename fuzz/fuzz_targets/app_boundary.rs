#![no_main]
//! The application boundary and the relay. Node 0 takes SCP envelopes, transactions and
//! quorum sets decoded from the input (sent by authenticated peers, so that they reach its
//! handlers) and delivers them to an application that never answers by itself; the input
//! then answers: verdicts for what was delivered (chosen by index) or for arbitrary hashes,
//! fetches of arbitrary items, ledger changes, held items, time passing. Every decoded
//! envelope also goes through the Relay's checks (signature, referenced items). Checks: no
//! panic, every bound of the node holds, no connection is used after its close.

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use overlay_node::app::{AppInput, Application, Delivery, ScpDelivery, ScpVerdict, TxVerdict};
use overlay_node::harness::Harness;
use overlay_node::{LedgerState, NodeConfig, Relay, RelayConfig};
use overlay_proto::xdr::{Limits, ReadXdr, ScpEnvelope, ScpQuorumSet, StellarMessage, TransactionEnvelope};
use overlay_proto::{Hash256, Network, Timestamp};
use std::sync::Arc;
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Peer k sends an SCP envelope decoded from these bytes.
    Envelope(u8, Vec<u8>),
    /// Peer k sends a transaction decoded from these bytes.
    Transaction(u8, Vec<u8>),
    /// Peer k sends a quorum set decoded from these bytes.
    QuorumSet(u8, Vec<u8>),
    /// A verdict for the n-th delivered transaction, or for an arbitrary hash.
    TxVerdict(u16, Option<[u8; 32]>, u8),
    /// A verdict for the n-th delivered envelope, or for an arbitrary identity.
    ScpVerdict(u16, Option<[u8; 32]>, u8, Vec<[u8; 32]>),
    Ledger(u32, bool),
    HoldQuorumSet(Vec<u8>),
    Advance(u16),
}

fn limits(len: usize) -> Limits {
    Limits { depth: 100, len }
}

/// An application that leaves every answer to the fuzz input.
struct Silent;

impl Application for Silent {
    fn handle_delivery(&mut self, _: Timestamp, _: Delivery) {}
    fn poll_input(&mut self) -> Option<AppInput> {
        None
    }
}

/// The n-th delivered transaction hash or envelope identity of node 0.
fn delivered(h: &Harness, n: u16, scp: bool) -> Option<Hash256> {
    let keys: Vec<Hash256> = h.deliveries[0]
        .iter()
        .filter_map(|d| match d {
            Delivery::Transaction(t) if !scp => Some(t.hash),
            Delivery::ScpEnvelope(e) if scp => Some(e.id),
            _ => None,
        })
        .collect();
    (!keys.is_empty()).then(|| keys[usize::from(n) % keys.len()])
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    let small = overlay_node::ItemLimits {
        pending_transactions_max: 16,
        pending_envelopes_max: 16,
        scp_envelopes_max: 32,
        tx_sets_max: 8,
        quorum_sets_max: 8,
        ..Default::default()
    };
    let config = NodeConfig { items: small.clone(), ..Harness::config() };
    let mut relay = Relay::new(RelayConfig::new(Network::Standalone.id()));
    h.add_node_with_app(config, Box::new(Silent));
    for _ in 0..2 {
        h.add_node(Harness::config());
    }
    h.connect(1, 0);
    h.connect(2, 0);
    h.run_for(Duration::from_secs(1));
    let relay_id = h.nodes[0].node_id();
    for op in ops.into_iter().take(48) {
        let now = h.now;
        let peer = |k: u8| 1 + usize::from(k % 2);
        match op {
            Op::Envelope(k, b) => {
                if let Ok(env) = ScpEnvelope::from_xdr(&b, limits(b.len())) {
                    let msg = StellarMessage::ScpMessage(env.clone());
                    if let Ok(xdr) = overlay_proto::wire::encode_message(&msg) {
                        let xdr: Arc<[u8]> = xdr.into();
                        let id = Hash256::sha256(&xdr);
                        let d = ScpDelivery { id, from: None, envelope: Arc::new(env), xdr, refetched: false };
                        relay.handle_delivery(now, Delivery::ScpEnvelope(d));
                        while relay.poll_input().is_some() {}
                    }
                    let _ = h.nodes[peer(k)].send_to(now, relay_id, &msg);
                }
            }
            Op::Transaction(k, b) => {
                if let Ok(tx) = TransactionEnvelope::from_xdr(&b, limits(b.len())) {
                    let _ = h.nodes[peer(k)].send_to(now, relay_id, &StellarMessage::Transaction(tx));
                }
            }
            Op::QuorumSet(k, b) => {
                if let Ok(q) = ScpQuorumSet::from_xdr(&b, limits(b.len())) {
                    let _ = h.nodes[peer(k)].send_to(now, relay_id, &StellarMessage::ScpQuorumset(q));
                }
            }
            Op::TxVerdict(n, hash, v) => {
                let verdict = [TxVerdict::Accepted, TxVerdict::Duplicate, TxVerdict::Rejected][usize::from(v % 3)];
                if let Some(hash) = hash.map(Hash256).or_else(|| delivered(&h, n, false)) {
                    h.app_input(0, AppInput::TxVerdict { hash, verdict });
                }
            }
            Op::ScpVerdict(n, id, v, hashes) => {
                let Some(id) = id.map(Hash256).or_else(|| delivered(&h, n, true)) else { continue };
                let verdict = match v % 3 {
                    0 => ScpVerdict::Ready,
                    1 => ScpVerdict::Discard,
                    _ => ScpVerdict::Fetch {
                        tx_sets: hashes.iter().take(4).map(|h| Hash256(*h)).collect(),
                        quorum_set: hashes.first().map(|h| Hash256(*h)),
                    },
                };
                h.app_input(0, AppInput::ScpVerdict { id, verdict });
            }
            Op::Ledger(tracking, synced) => {
                let l = LedgerState { tracking_ledger: tracking, synced, ..LedgerState::relay() };
                h.app_input(0, AppInput::Ledger(l));
            }
            Op::HoldQuorumSet(b) => {
                if let Ok(q) = ScpQuorumSet::from_xdr(&b, limits(b.len())) {
                    h.app_input(0, AppInput::HoldQuorumSet(Arc::new(q)));
                }
            }
            Op::Advance(ms) => advance(&mut h, Duration::from_millis(u64::from(ms) * 4)),
        }
        h.pump();
        assert!(h.violations.is_empty(), "{:?}", h.violations);
        let s = h.nodes[0].sizes();
        assert!(s.pending_transactions <= small.pending_transactions_max);
        assert!(s.pending_envelopes <= small.pending_envelopes_max);
        assert!(s.scp_envelopes <= small.scp_envelopes_max);
        assert!(s.tx_sets <= small.tx_sets_max && s.quorum_sets <= small.quorum_sets_max);
    }
});

/// Let `d` pass: the first second timer by timer, the rest in one jump, as a driver that was
/// paused fires every due timer late and at once; minutes then cost no more than a second.
fn advance(h: &mut Harness, d: Duration) {
    let step = d.min(Duration::from_secs(1));
    h.run_for(step);
    h.now = h.now + (d - step);
    h.run_for(Duration::ZERO);
}
