//! Issue 13 acceptance 3: surveys against the run recorded with stellar-core v27.1.0
//! (`../shared/spec/vectors/stellar-core-v27.1.0-survey.json`).
//!
//! Part A: stellar-core surveyed a client; its START_COLLECTING, STOP_COLLECTING and
//! SURVEY_REQUEST are fed to our node, which must take part and answer. Part B: the client
//! surveyed stellar-core; our surveyor, given the client's seed and the recorded fields, must
//! send the same bytes, and stellar-core's sealed response must open under the recorded key.

#[path = "../../testing/python.rs"]
mod python;

use overlay_auth::{HelloParams, NodeIdentity};
use overlay_node::harness::Harness;
use overlay_node::survey::{Phase, SurveyConfig, messages, seal};
use overlay_node::{AppInput, LedgerState, NodeConfig, NodeEvent, Received};
use overlay_proto::xdr::{Limits, ReadXdr, StellarMessage, SurveyResponseBody, WriteXdr};
use overlay_proto::{Network, NodeId};
use serde_json::Value;

struct Recorded {
    seed: [u8; 32],
    core: NodeId,
    /// (direction, message) of every survey message, in order.
    messages: Vec<(String, StellarMessage)>,
    part: Value,
}

fn part(name: &str) -> Recorded {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/vectors/stellar-core-v27.1.0-survey.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["passphrase"], Network::Standalone.passphrase());
    let p = v[name].clone();
    let hex32 = |k: &str| -> [u8; 32] { hex::decode(p[k].as_str().unwrap()).unwrap().try_into().unwrap() };
    let messages = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let msg = StellarMessage::from_xdr_base64(m["xdr"].as_str().unwrap(), Limits { depth: 100, len: 1 << 20 });
            (m["dir"].as_str().unwrap().to_owned(), msg.unwrap())
        })
        .filter(|(_, m)| is_survey(m))
        .collect();
    Recorded { seed: hex32("our_node_seed_hex"), core: NodeId(hex32("core_node_public_hex")), messages, part: p }
}

fn is_survey(m: &StellarMessage) -> bool {
    matches!(
        m,
        StellarMessage::TimeSlicedSurveyStartCollecting(_)
            | StellarMessage::TimeSlicedSurveyStopCollecting(_)
            | StellarMessage::TimeSlicedSurveyRequest(_)
            | StellarMessage::TimeSlicedSurveyResponse(_)
    )
}

fn signed(m: &StellarMessage) -> bool {
    match m {
        StellarMessage::TimeSlicedSurveyStartCollecting(m) => messages::start_signed(m),
        StellarMessage::TimeSlicedSurveyStopCollecting(m) => messages::stop_signed(m),
        StellarMessage::TimeSlicedSurveyRequest(m) => messages::request_signed(m),
        StellarMessage::TimeSlicedSurveyResponse(m) => messages::response_signed(m),
        _ => false,
    }
}

fn xdr(m: &StellarMessage) -> Vec<u8> {
    m.to_xdr(Limits::none()).unwrap()
}

/// Node 0 with `seed` and `survey` settings, connected to node 1; returns the harness.
fn pair(seed: [u8; 32], survey: SurveyConfig) -> Harness {
    let mut h = Harness::new();
    let config = NodeConfig { survey, ..Harness::config() };
    h.add_node_with(config, Network::Standalone.passphrase(), HelloParams::default(), seed);
    h.add_node(Harness::config());
    h.connect(1, 0);
    assert!(h.linked(0, 1));
    h
}

fn at_ledger(h: &mut Harness, i: usize, ledger: u32) {
    h.app_input(i, AppInput::Ledger(LedgerState { tracking_ledger: ledger, ..LedgerState::GENESIS }));
}

/// The survey messages node `i` received, in order.
fn survey_received(h: &Harness, i: usize) -> Vec<StellarMessage> {
    h.events[i]
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message { message: Received::Other(m), .. } if is_survey(m) => Some((**m).clone()),
            _ => None,
        })
        .collect()
}

fn ledger_of(m: &StellarMessage) -> u32 {
    match m {
        StellarMessage::TimeSlicedSurveyStartCollecting(m) => m.start_collecting.ledger_num,
        StellarMessage::TimeSlicedSurveyStopCollecting(m) => m.stop_collecting.ledger_num,
        StellarMessage::TimeSlicedSurveyRequest(m) => m.request.request.ledger_num,
        StellarMessage::TimeSlicedSurveyResponse(m) => m.response.response.ledger_num,
        _ => unreachable!(),
    }
}

#[test]
fn every_stellar_core_survey_signature_verifies() {
    let mut core_signed = 0;
    for name in ["A_core_surveys_us", "B_we_survey_core"] {
        let r = part(name);
        for (dir, m) in &r.messages {
            assert!(signed(m), "{name}: {dir} {:?} verifies", m.name());
            // A signature over other bytes does not verify.
            let mut bytes = xdr(m);
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            let altered = StellarMessage::from_xdr(&bytes, Limits::none()).unwrap();
            assert!(!signed(&altered), "{name}: altered {:?} fails", m.name());
            core_signed += usize::from(dir == "recv");
        }
    }
    assert_eq!(core_signed, 4, "3 from core as surveyor, 1 response");
}

#[test]
fn our_surveyor_rebuilds_the_clients_messages_byte_for_byte() {
    let r = part("B_we_survey_core");
    let sent: Vec<&StellarMessage> = r.messages.iter().filter(|(d, _)| d == "send").map(|(_, m)| m).collect();
    let [start, stop, request] = sent[..] else { panic!("start, stop and request recorded") };
    let StellarMessage::TimeSlicedSurveyRequest(recorded_request) = request else { panic!("a request") };
    let nonce = recorded_request.request.nonce;
    assert_eq!(nonce, 777);

    let mut h = pair(r.seed, SurveyConfig::default());
    at_ledger(&mut h, 0, ledger_of(start));
    at_ledger(&mut h, 1, ledger_of(start));
    h.nodes[0].start_survey_collecting(h.now, nonce).unwrap();
    h.pump();
    at_ledger(&mut h, 0, ledger_of(stop));
    at_ledger(&mut h, 1, ledger_of(stop));
    h.nodes[0].stop_survey_collecting(h.now).unwrap();
    h.pump();
    at_ledger(&mut h, 0, ledger_of(request));
    at_ledger(&mut h, 1, ledger_of(request));
    h.nodes[0].survey_topology(h.now, r.core, 0, 0).unwrap();
    h.pump();

    let got = survey_received(&h, 1);
    assert_eq!(got.len(), 3, "start, stop and request reached the peer");
    assert_eq!(xdr(&got[0]), xdr(start), "START_COLLECTING byte for byte");
    assert_eq!(xdr(&got[1]), xdr(stop), "STOP_COLLECTING byte for byte");
    // The request's key is the session's fresh Curve25519 key; with it, the same bytes.
    let StellarMessage::TimeSlicedSurveyRequest(ours) = &got[2] else { panic!("a request") };
    let session = h.nodes[0].survey_session_secret().expect("a reporting session");
    assert_eq!(ours.request.request.encryption_key.key, seal::public_key(&session));
    let mut expected = recorded_request.request.clone();
    expected.request.encryption_key.key = seal::public_key(&session);
    let identity = NodeIdentity::from_seed(r.seed);
    let rebuilt =
        messages::request(&identity, r.core, expected.request.ledger_num, seal::public_key(&session), nonce, 0, 0);
    assert_eq!(ours, &rebuilt);
    // And under the recorded key, the recorded bytes.
    let recorded_secret: [u8; 32] =
        hex::decode(r.part["our_survey_curve25519_secret_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let key = seal::public_key(&recorded_secret);
    assert_eq!(key, recorded_request.request.request.encryption_key.key);
    let with_recorded_key = messages::request(&identity, r.core, expected.request.ledger_num, key, nonce, 0, 0);
    assert_eq!(xdr(&StellarMessage::TimeSlicedSurveyRequest(with_recorded_key)), xdr(request), "REQUEST byte for byte");
}

#[test]
fn stellar_cores_sealed_response_opens_with_ours_and_decodes() {
    let r = part("B_we_survey_core");
    let secret: [u8; 32] =
        hex::decode(r.part["our_survey_curve25519_secret_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    let response = r
        .messages
        .iter()
        .find_map(|(d, m)| match m {
            StellarMessage::TimeSlicedSurveyResponse(m) if d == "recv" => Some(m),
            _ => None,
        })
        .expect("core's response");
    assert_eq!(NodeId::from_xdr(&response.response.response.surveyed_peer_id), r.core);
    assert_eq!(response.response.nonce, 777);
    let body = messages::open_response(&secret, &response.response.response).expect("opens and decodes");
    let expected = r.part["response_body_xdr"].as_str().unwrap();
    assert_eq!(body.to_xdr_base64(Limits::none()).unwrap(), expected);
    let SurveyResponseBody::SurveyTopologyResponseV2(b) = body;
    // Core (1-of-1 validator) reported our client as its one inbound peer.
    assert_eq!(b.inbound_peers.len(), 1);
    assert_eq!(NodeId::from_xdr(&b.inbound_peers[0].peer_stats.id), NodeIdentity::from_seed(r.seed).node_id());
    assert!(b.node_data.is_validator);
    // Under another key it does not open.
    assert!(messages::open_response(&[9; 32], &response.response.response).is_err());
}

#[test]
fn our_node_takes_part_in_stellar_cores_survey_and_answers() {
    let r = part("A_core_surveys_us");
    let [start, stop, request] = &r.messages[..] else { panic!("start, stop and request") };
    let survey = SurveyConfig { surveyor_keys: [r.core].into(), ..SurveyConfig::default() };
    let mut h = pair(r.seed, survey);
    let me = NodeIdentity::from_seed(r.seed).node_id();
    let StellarMessage::TimeSlicedSurveyRequest(req) = &request.1 else { panic!("a request") };
    assert_eq!(NodeId::from_xdr(&req.request.request.surveyed_peer_id), me, "core asked our client");

    for (m, ledger) in
        [(&start.1, ledger_of(&start.1)), (&stop.1, ledger_of(&stop.1)), (&request.1, ledger_of(&request.1))]
    {
        at_ledger(&mut h, 0, ledger);
        at_ledger(&mut h, 1, ledger);
        let peer = h.nodes[0].node_id();
        h.nodes[1].send_to(h.now, peer, m).unwrap();
        h.pump();
        if std::ptr::eq(m, &start.1) {
            assert_eq!(h.nodes[0].survey_results().phase, Some(Phase::Collecting { nonce: 4242, surveyor: r.core }));
        }
        if std::ptr::eq(m, &stop.1) {
            assert_eq!(h.nodes[0].survey_results().phase, Some(Phase::Reporting { nonce: 4242, surveyor: r.core }));
        }
    }
    assert!(h.drops(0).is_empty() && h.drops(1).is_empty(), "nobody dropped: {:?}", h.drops(0));
    let answers = survey_received(&h, 1);
    let [StellarMessage::TimeSlicedSurveyResponse(answer)] = &answers[..] else { panic!("one response: {answers:?}") };
    let a = &answer.response.response;
    assert!(messages::response_signed(answer), "signed by the surveyed node");
    assert_eq!(NodeId::from_xdr(&a.surveyed_peer_id), me);
    assert_eq!(NodeId::from_xdr(&a.surveyor_peer_id), r.core);
    assert_eq!((a.ledger_num, answer.response.nonce), (req.request.request.ledger_num, 4242));
    // A sealed box for core's key: the ephemeral key, the tag, and our body (its one
    // outbound peer, node 1). Only core's secret opens it, which the recording does not hold.
    let body = SurveyResponseBody::SurveyTopologyResponseV2(overlay_proto::xdr::TopologyResponseBodyV2 {
        ..Default::default()
    });
    let empty = body.to_xdr(Limits::none()).unwrap().len();
    let version = h.nodes[1].hello().version_str.len().next_multiple_of(4);
    let peer_row = 4 + 32 + 4 + version + 13 * 8 + 4; // NodeID, version string, 13 counters, latency
    assert_eq!(a.encrypted_body.len(), seal::SEAL_OVERHEAD + empty + peer_row);
}

#[test]
fn libsodium_opens_our_nodes_answer() {
    python::ensure("nacl", "pynacl");
    // Our surveyor (node 1) surveys node 0, which has part A's identity; PyNaCl opens the
    // answer with the session's secret.
    let r = part("A_core_surveys_us");
    let surveyor = Harness::node_id(1);
    let mut h = pair(r.seed, SurveyConfig { surveyor_keys: [surveyor].into(), ..SurveyConfig::default() });
    let me = h.nodes[0].node_id();
    h.nodes[1].start_survey_collecting(h.now, 99).unwrap();
    h.run_for(std::time::Duration::from_secs(60));
    h.nodes[1].stop_survey_collecting(h.now).unwrap();
    h.nodes[1].survey_topology(h.now, me, 0, 0).unwrap();
    h.run_for(std::time::Duration::from_secs(1));
    let results = h.nodes[1].survey_results();
    assert!(results.nodes.contains_key(&me), "our surveyor opened it too");
    let answers = survey_received(&h, 1);
    let Some(StellarMessage::TimeSlicedSurveyResponse(answer)) = answers.last() else { panic!("{answers:?}") };
    let secret = h.nodes[1].survey_session_secret().unwrap();
    let line = format!(
        "{} {} {}\n",
        hex::encode(secret),
        hex::encode(&answer.response.response.encrypted_body),
        hex::encode(surveyor.0)
    );
    let script = r#"
import sys
from nacl.public import PrivateKey, SealedBox
secret, sealed, inbound_peer = sys.stdin.read().split()
body = SealedBox(PrivateKey(bytes.fromhex(secret))).decrypt(bytes.fromhex(sealed))
# SurveyResponseBody: the V2 discriminant, then the inbound list: one peer (the surveyor,
# which dialed), key type 0, its key.
assert body[:4] == (2).to_bytes(4, "big"), body[:4]
assert body[4:8] == (1).to_bytes(4, "big"), body[4:8]
assert body[8:12] == bytes(4) and body[12:44] == bytes.fromhex(inbound_peer), body[8:44]
print(len(body))
"#;
    let out = python::run(script, &line).expect("PyNaCl opens our answer");
    assert_eq!(
        out.trim().parse::<usize>().unwrap() + seal::SEAL_OVERHEAD,
        answer.response.response.encrypted_body.len()
    );
}
