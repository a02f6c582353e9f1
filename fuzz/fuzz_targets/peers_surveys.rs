#![no_main]
//! PEERS and the four TimeSlicedSurvey* messages fed to a node as authenticated messages
//! from its peers (the node dialed some of them, so their PEERS is taken, and was dialed by
//! others, which must not send it), interleaved with time (with the tick loop on, so that
//! what PEERS taught is dialed), reconnections and ledger changes.
//!
//! Survey messages are recorded ones (stellar-core's signed START, STOP, REQUEST and
//! RESPONSE), arbitrary ones, or signed by a peer that is a surveyor (in `SURVEYOR_KEYS`, or
//! in the transitive quorum the application gives): START and STOP, REQUESTs to the node or
//! to another peer, RESPONSEs to the requests the node sent as a surveyor; and the node runs
//! its own surveys (start, stop, topology requests).
//!
//! Checks (besides `common/world.rs`'s): no panic; the peer database stays within its
//! bounds and holds no address §10.4 filters out (private, loopback, port 0); the PEERS the
//! node sends are at most 50 public IPv4 entries with no failures, none the recipient's
//! own; its Store outputs replay to its view; every bound and rule of the world.
//!
//! Input: two header bytes (store bound and surveyors, peers), then operations.

#[path = "common/msgs.rs"]
mod msgs;
#[path = "common/pool.rs"]
mod pool;
#[path = "common/world.rs"]
mod world;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use msgs::{peers_message, pick, survey};
use overlay_node::app::AppInput;
use overlay_node::discovery::MemoryStore;
use overlay_node::survey::messages;
use overlay_node::{LedgerState, NodeConfig};
use overlay_proto::xdr::{
    PeerAddress, StellarMessage, SurveyResponseBody, TimeSlicedNodeData, TopologyResponseBodyV2, VecM,
};
use pool::POOL;
use std::time::Duration;
use world::{Behaviour, Reader, World};

/// Operations per input.
const OPS_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let (header, peers) = (r.u8(), r.u8());
    let mut config = NodeConfig { run_standalone: peers & 0x80 != 0, ..NodeConfig::default() };
    let quorum = header & 0x40 != 0;
    if !quorum {
        // Remotes 0 and 1 and the recorded surveyors are heard.
        config.survey.surveyor_keys = [World::remote_id(0), World::remote_id(1)].into_iter().collect();
        config.survey.surveyor_keys.extend(POOL.surveyors.iter().copied());
    }
    let store = MemoryStore::with_limits(u64::from(header % 64) + 1, 4);
    let n = usize::from(peers % 4) + 1;
    let mut w = World::new(config, store, &vec![Behaviour::default(); n], false);
    w.app(AppInput::Ledger(LedgerState { tracking_ledger: 100, ..LedgerState::relay() }));
    if quorum {
        w.app(AppInput::TransitiveQuorum(vec![World::remote_id(0), World::remote_id(2)]));
    }
    // Mostly dialed by the node: PEERS from those is taken.
    w.drive(n, |k| peers & (0x10 << k) != 0, &mut r, OPS_MAX, step);
});

/// A ledger number near the node's.
fn ledger_num(w: &World, r: &mut Reader) -> u32 {
    let d = r.u8();
    let tracking = w.node.ledger().tracking_ledger;
    if d & 0x80 == 0 { tracking.saturating_add(u32::from(d % 8)).saturating_sub(4) } else { r.u32() }
}

fn step(w: &mut World, r: &mut Reader) {
    let (op, k) = (r.u8(), usize::from(r.u8()));
    let now = w.now;
    match op % 16 {
        0 => {
            let msg = peers_message(r);
            w.send(k, &msg, false);
        }
        1 => {
            if let Some(msg) = survey(r) {
                w.send(k, &msg, false);
            }
        }
        // Any PEERS from stellar-xdr's Arbitrary.
        2 => {
            let blob = r.blob();
            if let Ok(p) = VecM::<PeerAddress, 100>::arbitrary(&mut Unstructured::new(blob)) {
                w.send(k, &StellarMessage::Peers(p), false);
            }
        }
        3 => w.advance(Duration::from_millis(u64::from(r.u16()) * 4)),
        4 => {
            let inbound = r.bool();
            w.connect(k, inbound);
        }
        5 => w.remote_close(k),
        // A signed START or STOP of remote `signer`'s survey, sent by remote k.
        6 | 7 => {
            let signer = usize::from(r.u8());
            let (nonce, ledger) = (u32::from(r.u8() % 4), ledger_num(w, r));
            let id = w.remote_identity(signer).clone();
            let msg = if op % 16 == 6 {
                StellarMessage::TimeSlicedSurveyStartCollecting(messages::start(&id, nonce, ledger))
            } else {
                StellarMessage::TimeSlicedSurveyStopCollecting(messages::stop(&id, nonce, ledger))
            };
            w.send(k, &msg, false);
        }
        // A signed REQUEST of remote `signer` to the node or to another remote.
        8 => {
            let (signer, target) = (usize::from(r.u8()), r.u8());
            let surveyed =
                if target & 1 == 0 { w.node.node_id() } else { World::remote_id(usize::from(target >> 1) % 4) };
            let (nonce, ledger) = (u32::from(r.u8() % 4), ledger_num(w, r));
            let (inbound, outbound) = (u32::from(r.u8() % 4), u32::from(r.u8() % 4));
            let id = w.remote_identity(signer).clone();
            let m = messages::request(&id, surveyed, ledger, [0x5a; 32], nonce, inbound, outbound);
            w.send(k, &StellarMessage::TimeSlicedSurveyRequest(m), false);
        }
        // Remote k answers a request the node sent it (or garbles the answer).
        9 => {
            let i = k % w.remotes.len();
            let Some(req) = pick(&w.remotes[i].survey_requests, usize::from(r.u8())).cloned() else { return };
            let body = SurveyResponseBody::SurveyTopologyResponseV2(TopologyResponseBodyV2 {
                inbound_peers: Default::default(),
                outbound_peers: Default::default(),
                node_data: TimeSlicedNodeData::default(),
            });
            let id = w.remote_identity(i).clone();
            let mut m = messages::response(&id, &req, &body, &[0x33; 32]);
            if r.bool() {
                m.response.nonce ^= 1;
            }
            w.send(k, &StellarMessage::TimeSlicedSurveyResponse(m), false);
        }
        // The node's own survey: start, stop, topology requests.
        10 => {
            let _ = w.node.start_survey_collecting(now, u32::from(r.u8()));
            w.drain();
        }
        11 => {
            let _ = w.node.stop_survey_collecting(now);
            w.drain();
        }
        12 => {
            let (target, inbound, outbound) = (usize::from(r.u8()), u32::from(r.u8() % 4), u32::from(r.u8() % 4));
            let _ = w.node.survey_topology(now, World::remote_id(target % 4), inbound, outbound);
            w.drain();
        }
        13 => {
            let tracking = w.node.ledger().tracking_ledger.saturating_add(u32::from(r.u8() % 4));
            let synced = r.u8() % 4 != 0;
            w.app(AppInput::Ledger(LedgerState { tracking_ledger: tracking, synced, ..LedgerState::relay() }));
        }
        14 => w.advance(Duration::from_secs(u64::from(r.u16() % 4096))),
        _ => {
            let (m, b) = (u32::from(r.u16()), r.u32());
            w.send(k, &world::grant(m, b), false);
        }
    }
}
