#![no_main]
//! A node driven through arbitrary sequences of authenticated messages of every type from
//! up to four peers, interleaved with time, ledger closes, application verdicts and held
//! items, operator commands and reconnections; the node's rules and bounds are checked
//! after every step (see `common/world.rs` for the list).
//!
//! The peers are real (handshake, MAC, flow control), so every message reaches the node's
//! handlers: TRANSACTION and SCP_MESSAGE (delivered for verdicts, or to the real Relay
//! application when the input asks for it), FLOOD_ADVERT, FLOOD_DEMAND, GET_TX_SET,
//! GET_SCP_QUORUMSET, GET_SCP_STATE, TX_SET, GENERALIZED_TX_SET, SCP_QUORUMSET, DONT_HAVE,
//! PEERS, the surveys, and the ones the connection handles itself (ERROR_MSG, HELLO, AUTH,
//! SEND_MORE, SEND_MORE_EXTENDED). Messages come from the recorded stellar-core sessions
//! (by index, intact or as raw XDR to mutate), from stellar-xdr's `Arbitrary`, or are built
//! to name what the node holds, fetches or was delivered.
//!
//! Input: four header bytes (configuration, peers, their behaviour, the ledger), then
//! operations, each an opcode byte and its operands (`Reader`: past the end, zeros).

#[path = "common/msgs.rs"]
mod msgs;
#[path = "common/pool.rs"]
mod pool;
#[path = "common/world.rs"]
mod world;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use msgs::{peers_message, pick, survey};
use overlay_node::app::{AppInput, ScpVerdict, TxVerdict};
use overlay_node::discovery::MemoryStore;
use overlay_node::{ItemLimits, LedgerState, NodeConfig};
use overlay_proto::Hash256;
use overlay_proto::fixtures;
use overlay_proto::xdr::{
    DontHave, FloodAdvert, FloodDemand, Hash, MessageType, StellarMessage, TxAdvertVector, TxDemandVector, Uint256,
};
use pool::POOL;
use std::time::Duration;
use world::{Behaviour, Reader, World};

/// Operations per input.
const OPS_MAX: usize = 64;

fuzz_target!(|data: &[u8]| run(data));

fn config(flags: u8) -> NodeConfig {
    let mut c = NodeConfig {
        run_standalone: flags & 0x10 == 0,
        allow_private_addresses_for_testing: false,
        ..Default::default()
    };
    if flags & 0x01 != 0 {
        c.items = ItemLimits {
            transactions_max: 8,
            transaction_bytes_max: 16 << 10,
            tx_sets_max: 4,
            tx_set_bytes_max: 64 << 10,
            quorum_sets_max: 4,
            scp_envelopes_max: 16,
            pending_transactions_max: 8,
            pending_envelopes_max: 8,
            verdict_timeout: Duration::from_secs(5),
        };
        c.flood.floodgate_entries_max = 64;
        c.flood.advert_history_entries_max = 8;
        c.flood.demand_history_entries_max = 8;
        c.flood.incoming_adverts_max = 8;
        c.flood.fetch_trackers_max = 4;
        c.flood.fetch_waiting_envelopes_max = 4;
    }
    if flags & 0x02 != 0 {
        c.flood_rate_limit_per_sec = Some(5);
    }
    if flags & 0x08 != 0 {
        c.preferred_peers_only = true;
        c.preferred_peer_keys.insert(World::remote_id(0));
    }
    if flags & 0x40 != 0 {
        c.target_peer_connections = 1;
        c.max_additional_peer_connections = Some(1);
    }
    if flags & 0x80 != 0 {
        c.peer.flow.strict_priority_shedding = true;
    }
    c
}

fn run(data: &[u8]) {
    let mut r = Reader::new(data);
    let (flags, peers, manners, ledger) = (r.u8(), r.u8(), r.u8(), r.u8());
    let config = config(flags);
    let store = if flags & 0x20 != 0 { MemoryStore::with_limits(16, 2) } else { MemoryStore::new() };
    let n = usize::from(peers % 4) + 1;
    let behaviours: Vec<Behaviour> = (0..n)
        .map(|i| Behaviour {
            obey: manners & (1 << i) == 0,
            regrant: manners & (0x10 << i) == 0,
            ..Behaviour::default()
        })
        .collect();
    let mut w = World::new(config, store, &behaviours, flags & 0x04 != 0);
    w.read_elsewhere = ledger & 2 != 0;
    if ledger & 1 == 1 {
        w.app(AppInput::Ledger(LedgerState { tracking_ledger: 80, ledger_protocol: 27, ..LedgerState::relay() }));
    }
    w.drive(n, |k| peers & (0x10 << k) == 0, &mut r, OPS_MAX, step);
}

/// A hash the node may know: of a recorded transaction, tx set or quorum set, of a
/// delivery, of an item a remote was asked for, or any.
fn known_hash(w: &World, r: &mut Reader) -> Hash256 {
    let i = usize::from(r.u16());
    let d = &w.delivered;
    let found = match r.u8() % 8 {
        0 => pick(&POOL.transactions, i).map(|t| t.0),
        1 => pick(&POOL.tx_sets, i).map(|t| t.0),
        2 => pick(&POOL.quorum_sets, i).map(|q| q.0),
        3 => pick(&d.transactions, i).copied(),
        4 => pick(&d.tx_sets, i).or_else(|| pick(&d.quorum_sets, i)).copied(),
        5 => w.remotes.iter().flat_map(|r| r.asked_tx_sets.iter().chain(&r.asked_quorum_sets)).nth(i % 8).copied(),
        6 => pick(&d.envelopes, i).map(|e| e.0),
        _ => None,
    };
    found.unwrap_or_else(|| r.hash())
}

fn hashes(w: &World, r: &mut Reader) -> Vec<Hash> {
    let n = usize::from(r.u8() % 12);
    (0..n).map(|_| Hash(known_hash(w, r).0)).collect()
}

fn step(w: &mut World, r: &mut Reader) {
    let op = r.u8();
    let k = usize::from(r.u8());
    match op % 28 {
        // A recorded message, as it was.
        0 => {
            let i = usize::from(r.u16());
            if let Some(xdr) = pick(&POOL.xdr, i) {
                send_xdr(w, k, xdr, r.bool());
            }
        }
        // Message XDR from the input (decoded and sealed, or sealed as is).
        1 => {
            let xdr = r.blob().to_vec();
            send_xdr(w, k, &xdr, r.bool());
        }
        // Any message from stellar-xdr's Arbitrary.
        2 => {
            let blob = r.blob();
            if let Ok(msg) = StellarMessage::arbitrary(&mut Unstructured::new(blob)) {
                let plain = r.bool();
                w.send(k, &msg, plain);
            }
        }
        // A transaction: recorded, or a fresh one.
        3 => {
            let i = r.u16();
            let msg = match pick(&POOL.transactions, usize::from(i)) {
                Some((_, t)) if i & 1 == 0 => StellarMessage::Transaction(t.clone()),
                _ => fixtures::transaction_message(u64::from(i)),
            };
            w.send(k, &msg, false);
        }
        // An SCP envelope: recorded, or a made-up one of the remote's.
        4 => {
            let i = r.u16();
            let msg = match pick(&POOL.envelopes, usize::from(i)) {
                Some(e) if i & 1 == 0 => StellarMessage::ScpMessage((**e).clone()),
                _ => fixtures::scp_message(World::remote_id(k % 4), u64::from(r.u8()), u64::from(i)),
            };
            w.send(k, &msg, false);
        }
        5 => {
            let h = hashes(w, r);
            let msg = StellarMessage::FloodAdvert(FloodAdvert { tx_hashes: TxAdvertVector(h.try_into().unwrap()) });
            w.send(k, &msg, false);
        }
        6 => {
            let h = hashes(w, r);
            let msg = StellarMessage::FloodDemand(FloodDemand { tx_hashes: TxDemandVector(h.try_into().unwrap()) });
            w.send(k, &msg, false);
        }
        7 => {
            let h = known_hash(w, r);
            w.send(k, &StellarMessage::GetTxSet(Uint256(h.0)), false);
        }
        8 => {
            let h = known_hash(w, r);
            w.send(k, &StellarMessage::GetScpQuorumset(Uint256(h.0)), false);
        }
        9 => {
            let ledger = if r.bool() { r.u32() } else { u32::from(r.u8()) + 70 };
            w.send(k, &StellarMessage::GetScpState(ledger), false);
        }
        // A tx set or a quorum set (what fetches wait for).
        10 => {
            let i = usize::from(r.u16());
            let msg = if r.bool() {
                pick(&POOL.tx_sets, i).map(|t| (*t.1).clone())
            } else {
                pick(&POOL.quorum_sets, i).map(|q| StellarMessage::ScpQuorumset((*q.1).clone()))
            };
            if let Some(msg) = msg {
                w.send(k, &msg, false);
            }
        }
        11 => {
            let type_ =
                [MessageType::TxSet, MessageType::GeneralizedTxSet, MessageType::ScpQuorumset, MessageType::Hello]
                    [usize::from(r.u8() % 4)];
            let h = known_hash(w, r);
            w.send(k, &StellarMessage::DontHave(DontHave { type_, req_hash: Uint256(h.0) }), false);
        }
        12 => {
            let msg = peers_message(r);
            w.send(k, &msg, false);
        }
        13 => {
            if let Some(msg) = survey(r) {
                w.send(k, &msg, false);
            }
        }
        14 => {
            let (m, b) = (u32::from(r.u16()), r.u32());
            w.send(k, &world::grant(m, b), false);
        }
        15 => w.advance(Duration::from_millis(u64::from(r.u16()))),
        16 => w.advance(Duration::from_secs(u64::from(r.u8()))),
        17 => {
            let tracking = w.node.ledger().tracking_ledger.saturating_add(u32::from(r.u8() % 16));
            let l = LedgerState {
                tracking_ledger: tracking,
                synced: r.u8() % 4 != 0,
                ledger_protocol: if r.bool() { 19 } else { 27 },
                max_tx_set_size_ops: 1 + u32::from(r.u16() % 2000),
                soroban_ledger_max_tx_count: u32::from(r.u8()),
                ledger_close_time_ms: 1000 + u64::from(r.u16() % 8) * 1000,
                ..LedgerState::relay()
            };
            w.app(AppInput::Ledger(l));
        }
        18 => {
            let verdict = [TxVerdict::Accepted, TxVerdict::Duplicate, TxVerdict::Rejected][k % 3];
            let hash = known_hash(w, r);
            w.app(AppInput::TxVerdict { hash, verdict });
        }
        19 => {
            let i = usize::from(r.u16());
            let Some(id) = pick(&w.delivered.envelopes, i).map(|e| e.0) else { return };
            let verdict = match k % 3 {
                0 => ScpVerdict::Ready,
                1 => ScpVerdict::Discard,
                _ => {
                    let tx_sets = (0..r.u8() % 3).map(|_| known_hash(w, r)).collect();
                    let quorum_set = r.bool().then(|| known_hash(w, r));
                    ScpVerdict::Fetch { tx_sets, quorum_set }
                }
            };
            w.app(AppInput::ScpVerdict { id, verdict });
        }
        20 => {
            let i = usize::from(r.u16());
            let input = match k % 3 {
                0 => pick(&POOL.tx_sets, i).map(|t| AppInput::HoldTxSet(t.1.clone())),
                1 => pick(&POOL.quorum_sets, i).map(|q| AppInput::HoldQuorumSet(q.1.clone())),
                _ => pick(&POOL.envelopes, i).map(|e| AppInput::HoldScpEnvelope(e.clone())),
            };
            if let Some(input) = input {
                w.app(input);
            }
        }
        21 => {
            let inbound = r.bool();
            w.connect(k, inbound);
        }
        22 => {
            let (now, id) = (w.now, World::remote_id(k % w.remotes.len()));
            match r.u8() % 6 {
                0 => w.remote_close(k),
                1 => {
                    let _ = w.node.disconnect(now, id);
                }
                2 => {
                    let _ = w.node.ban_and_drop(now, id);
                }
                3 => {
                    let _ = w.node.ban(id);
                }
                4 => {
                    let _ = w.node.unban(&id);
                }
                _ => {
                    let a = w.remotes[k % w.remotes.len()].address.clone();
                    w.node.set_config_peers(vec![a.clone()], if r.bool() { vec![a] } else { vec![] });
                }
            }
            w.drain();
        }
        23 => {
            let i = usize::from(r.u16());
            let msg = match k % 4 {
                0 => Some(fixtures::transaction_message(u64::from(i as u16) | 0x1_0000)),
                1 => pick(&POOL.envelopes, i).map(|e| StellarMessage::ScpMessage((**e).clone())),
                2 => pick(&POOL.surveys, i).cloned(),
                _ => pick(&POOL.xdr, i).and_then(|x| overlay_proto::wire::decode_message(x).ok()),
            };
            if let Some(msg) = msg {
                let now = w.now;
                let _ = w.node.broadcast(now, msg);
                w.drain();
            }
        }
        24 => {
            let i = usize::from(r.u16());
            let Some(env) = pick(&POOL.envelopes, i).cloned() else { return };
            let (now, h) = (w.now, known_hash(w, r));
            if k % 2 == 0 {
                w.node.fetch_tx_set(now, h, (*env).clone());
            } else {
                w.node.fetch_quorum_set(now, h, (*env).clone());
            }
            w.drain();
        }
        // Bytes without a MAC (the connection drops).
        25 => {
            let b = r.blob().to_vec();
            w.send_bytes(k, b);
        }
        26 => {
            let (now, ledger) = (w.now, r.u32());
            w.node.request_scp_state(now, ledger);
            w.drain();
        }
        // HELLO or ERROR after the handshake, plain or sealed.
        _ => {
            let msg = if r.bool() {
                pick(&POOL.hellos, usize::from(r.u8())).cloned()
            } else {
                Some(StellarMessage::ErrorMsg(overlay_proto::xdr::SError {
                    code: overlay_proto::xdr::ErrorCode::Load,
                    msg: "fuzz".try_into().unwrap(),
                }))
            };
            if let Some(msg) = msg {
                let plain = r.bool();
                w.send(k, &msg, plain);
            }
        }
    }
}

/// Remote `k` sends message XDR: decoded and sealed (plain if asked, for HELLO and ERROR),
/// or sealed as raw bytes if it does not decode.
fn send_xdr(w: &mut World, k: usize, xdr: &[u8], plain: bool) {
    match overlay_proto::wire::decode_message(xdr) {
        Ok(msg) => w.send(k, &msg, plain),
        Err(_) => {
            let i = k % w.remotes.len();
            if let Some(f) = w.remotes[i].seal_xdr(xdr) {
                w.send_bytes(k, f);
            }
        }
    }
}
