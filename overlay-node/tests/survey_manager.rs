//! Issue 13 acceptance 1 and 6: stellar-core's `SurveyManagerTests.cpp` cases, on the
//! in-memory harness with virtual time. Each test names its C++ case and section.
//!
//! The network of the C++ cases: A → B → C, B → E, and D → B; A, B, C and E are each
//! other's transitive quorum (supplied by the application), D is not in it.

use overlay_node::harness::Harness;
use overlay_node::survey::{NodeReport, Phase, SurveyConfig, SurveyError, messages, seal};
use overlay_node::{AppInput, LedgerState, NodeConfig, NodeEvent, Received, SURVEY_BAD_SIGNATURE};
use overlay_proto::NodeId;
use overlay_proto::xdr::{StellarMessage, SurveyResponseBody, TopologyResponseBodyV2};
use std::time::Duration;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;
const E: usize = 4;
const NONCE: u32 = 1234;

fn id(i: usize) -> NodeId {
    Harness::node_id(i)
}

/// The five nodes, each with `survey(i)` as its settings, the quorum {A, B, C, E} supplied
/// to every node, and the links of the C++ case.
fn network(survey: impl Fn(usize) -> SurveyConfig) -> Harness {
    let mut h = Harness::new();
    for i in 0..5 {
        h.add_node(NodeConfig { survey: survey(i), ..Harness::config() });
    }
    for i in 0..5 {
        h.app_input(i, AppInput::TransitiveQuorum(vec![id(A), id(B), id(C), id(E)]));
    }
    for (from, to) in [(A, B), (B, C), (B, E), (D, B)] {
        h.connect(from, to);
        assert!(h.linked(from, to));
    }
    h
}

fn default_network() -> Harness {
    network(|_| SurveyConfig::default())
}

fn phase(h: &Harness, i: usize) -> Phase {
    h.nodes[i].survey_results().phase.expect("a phase")
}

fn collecting(h: &Harness, i: usize, surveyor: usize) -> bool {
    phase(h, i) == Phase::Collecting { nonce: NONCE, surveyor: id(surveyor) }
}

fn reporting(h: &Harness, i: usize, surveyor: usize) -> bool {
    phase(h, i) == Phase::Reporting { nonce: NONCE, surveyor: id(surveyor) }
}

/// Every node moves to `ledger` (requests of the same node at one ledger are refused).
fn close_ledger(h: &mut Harness, ledger: u32) {
    for i in 0..h.nodes.len() {
        h.app_input(i, AppInput::Ledger(LedgerState { tracking_ledger: ledger, ..LedgerState::GENESIS }));
    }
}

/// `surveyor` starts, collects for a minute and stops.
fn collect(h: &mut Harness, surveyor: usize) {
    h.nodes[surveyor].start_survey_collecting(h.now, NONCE).unwrap();
    h.pump();
    h.run_for(Duration::from_secs(60));
    h.nodes[surveyor].stop_survey_collecting(h.now).unwrap();
    h.pump();
}

fn report(h: &Harness, surveyor: usize, node: usize) -> Option<NodeReport> {
    h.nodes[surveyor].survey_results().nodes.get(&id(node)).cloned()
}

fn peers(list: &[overlay_proto::xdr::TimeSlicedPeerData]) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = list.iter().map(|p| NodeId::from_xdr(&p.peer_stats.id)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<NodeId>) -> Vec<NodeId> {
    v.sort();
    v
}

#[test]
fn topology_encrypted_response_memory_check_v2() {
    // The largest body (25 + 25 peers with 100-byte version strings) fits the 64000-byte
    // encryptedBody once sealed.
    let row = overlay_proto::xdr::TimeSlicedPeerData {
        peer_stats: overlay_proto::xdr::PeerStats {
            version_str: vec![b'x'; 100].try_into().unwrap(),
            ..Default::default()
        },
        average_latency_ms: u32::MAX,
    };
    let list: Vec<_> = vec![row; 25];
    let body = SurveyResponseBody::SurveyTopologyResponseV2(TopologyResponseBodyV2 {
        inbound_peers: list.clone().try_into().unwrap(),
        outbound_peers: list.try_into().unwrap(),
        node_data: Default::default(),
    });
    let identity = overlay_auth::NodeIdentity::from_seed([1; 32]);
    let request = messages::request(&identity, id(B), 1, seal::public_key(&[2; 32]), 1, 0, 0);
    let response = messages::response(&identity, &request.request, &body, &[3; 32]);
    let sealed = &response.response.response.encrypted_body;
    assert!(sealed.len() <= 64000 && sealed.len() > 50 * 100);
    assert!(messages::open_response(&[2; 32], &response.response.response).is_ok());
}

#[test]
fn topology_survey_5_normal_nodes() {
    let mut h = default_network();
    collect(&mut h, A);
    for i in [A, B, C, D, E] {
        assert!(reporting(&h, i, A), "node {i} is reporting A's survey");
    }
    for node in [B, C, E] {
        h.nodes[A].survey_topology(h.now, id(node), 0, 0).unwrap();
    }
    // The first queued goes at once, the rest in the next batch, 15 s later.
    h.run_for(Duration::from_secs(1));
    assert_eq!(h.nodes[A].survey_results().nodes.len(), 1);
    h.run_for(Duration::from_secs(15));
    let results = h.nodes[A].survey_results();
    assert_eq!(results.nodes.keys().copied().collect::<Vec<_>>(), sorted(vec![id(B), id(C), id(E)]));
    assert!(results.bad_responses.is_empty());
    let b = report(&h, A, B).unwrap();
    assert_eq!(peers(&b.inbound), sorted(vec![id(A), id(D)]));
    assert_eq!(peers(&b.outbound), sorted(vec![id(C), id(E)]));
    assert_eq!((b.node.total_inbound_peer_count, b.node.total_outbound_peer_count), (2, 2));
    let c = report(&h, A, C).unwrap();
    assert_eq!((peers(&c.inbound), peers(&c.outbound)), (vec![id(B)], vec![]));
    // Counters saw the survey traffic of the collecting minute (the START, pings).
    assert!(b.inbound.iter().all(|p| p.peer_stats.messages_read > 0 && p.peer_stats.seconds_connected >= 60));
    assert!(h.violations.is_empty(), "{:?}", h.violations);
}

#[test]
fn topology_survey_d_is_not_in_transitive_quorum_so_nobody_answers_its_survey() {
    let mut h = default_network();
    collect(&mut h, D);
    assert!(reporting(&h, D, D));
    for i in [A, B, C, E] {
        assert_eq!(phase(&h, i), Phase::Inactive, "node {i} ignores D");
    }
    for node in [A, B, C, E] {
        h.nodes[D].survey_topology(h.now, id(node), 0, 0).unwrap();
    }
    h.run_for(Duration::from_secs(60));
    assert!(h.nodes[D].survey_results().nodes.is_empty());
}

#[test]
fn topology_survey_b_does_not_have_c_in_surveyor_keys_so_c_is_not_heard_past_b() {
    // B hears only A; the others hear their quorum.
    let mut h = network(|i| SurveyConfig {
        surveyor_keys: if i == B { [id(A)].into() } else { Default::default() },
        ..SurveyConfig::default()
    });
    collect(&mut h, C);
    assert!(reporting(&h, C, C));
    for i in [A, B, D, E] {
        assert_eq!(phase(&h, i), Phase::Inactive, "node {i}: C's survey stops at B");
    }
    for node in [A, B, E] {
        h.nodes[C].survey_topology(h.now, id(node), 0, 0).unwrap();
    }
    h.run_for(Duration::from_secs(60));
    assert!(h.nodes[C].survey_results().nodes.is_empty());
}

#[test]
fn topology_survey_a_surveyor_filters_out_unknown_responses() {
    let mut h = default_network();
    collect(&mut h, A);
    // B answers a request A never sent: validly signed, for A's nonce and ledger.
    let b = overlay_auth::NodeIdentity::from_seed(Harness::seed(B));
    let a = overlay_auth::NodeIdentity::from_seed(Harness::seed(A));
    let unasked = messages::request(&a, id(B), 1, seal::public_key(&[5; 32]), NONCE, 0, 0);
    let body = SurveyResponseBody::SurveyTopologyResponseV2(TopologyResponseBodyV2::default());
    let response = messages::response(&b, &unasked.request, &body, &[6; 32]);
    h.nodes[B].send_to(h.now, id(A), &StellarMessage::TimeSlicedSurveyResponse(response)).unwrap();
    h.pump();
    let results = h.nodes[A].survey_results();
    assert!(results.nodes.is_empty() && results.bad_responses.is_empty(), "ignored: {results:?}");
    assert!(h.drops(A).is_empty(), "not a reason to drop: the signature is good");
}

#[test]
fn survey_request_process_order_request_processed_fifo() {
    let mut h = network(|_| SurveyConfig { requests_per_period: 1, ..SurveyConfig::default() });
    collect(&mut h, A);
    for node in [E, C, B] {
        h.nodes[A].survey_topology(h.now, id(node), 0, 0).unwrap();
    }
    h.pump();
    let answered = |h: &Harness| h.nodes[A].survey_results().nodes.keys().copied().collect::<Vec<_>>();
    assert_eq!(answered(&h), vec![id(E)]);
    assert_eq!(h.nodes[A].survey_results().backlog, vec![(id(C), 0, 0), (id(B), 0, 0)]);
    h.run_for(Duration::from_secs(14));
    assert_eq!(answered(&h), vec![id(E)], "one request per 15 s");
    h.run_for(Duration::from_secs(1));
    assert_eq!(answered(&h), sorted(vec![id(C), id(E)]));
    h.run_for(Duration::from_secs(15));
    assert_eq!(answered(&h).len(), 3);
}

#[test]
fn time_sliced_static_topology_survey_normal_static_topology_survey() {
    let mut h = default_network();
    // Nothing to ask before a survey of ours reports.
    assert_eq!(h.nodes[A].survey_topology(h.now, id(B), 0, 0), Err(SurveyError::NotOurs("reporting")));
    assert_eq!(h.nodes[A].stop_survey_collecting(h.now), Err(SurveyError::NotOurs("collecting")));
    h.nodes[A].start_survey_collecting(h.now, NONCE).unwrap();
    h.pump();
    for i in [A, B, C, D, E] {
        assert!(collecting(&h, i, A), "node {i} collects (self data included)");
    }
    assert_eq!(h.nodes[A].start_survey_collecting(h.now, NONCE + 1), Err(SurveyError::AlreadyActive));
    // Another permitted surveyor's START is ignored while A's survey runs.
    h.nodes[C].start_survey_collecting(h.now, NONCE + 1).unwrap_err();
    h.run_for(Duration::from_secs(60));
    h.nodes[A].stop_survey_collecting(h.now).unwrap();
    h.pump();
    assert!(reporting(&h, B, A));

    assert_eq!(h.nodes[A].survey_topology(h.now, id(A), 0, 0), Err(SurveyError::SelfSurvey));
    h.nodes[A].survey_topology(h.now, id(B), 0, 0).unwrap();
    h.nodes[A].survey_topology(h.now, id(C), 0, 0).unwrap();
    h.nodes[A].survey_topology(h.now, id(E), 0, 0).unwrap();
    // Queued twice before it is sent: refused.
    let _ = h.nodes[A].survey_topology(h.now, id(D), 0, 0);
    assert_eq!(h.nodes[A].survey_topology(h.now, id(D), 0, 0), Err(SurveyError::Duplicate));
    h.run_for(Duration::from_secs(1));
    let first = report(&h, A, B).unwrap();
    assert_eq!(first.inbound.len(), 2);
    // Index paging: B again from inbound index 1, at a later ledger.
    close_ledger(&mut h, 2);
    h.nodes[A].survey_topology(h.now, id(B), 1, 2).unwrap();
    h.run_for(Duration::from_secs(15));
    let paged = report(&h, A, B).unwrap();
    assert_eq!(paged.inbound.len(), 3, "one more inbound peer: the list from index 1");
    assert_eq!(paged.outbound.len(), 2, "outbound index 2 is past the end: nothing more");
    assert_eq!(NodeId::from_xdr(&paged.inbound[2].peer_stats.id), NodeId::from_xdr(&first.inbound[1].peer_stats.id));
    for node in [C, D, E] {
        assert!(report(&h, A, node).is_some(), "node {node} answered");
    }

    // Reporting ends after 3 h everywhere, and the session with it.
    h.run_for(Duration::from_secs(3 * 3600 + 10));
    for i in [A, B, C, D, E] {
        assert_eq!(phase(&h, i), Phase::Inactive, "node {i}");
    }
    assert!(h.nodes[A].survey_session_secret().is_none(), "the session's key is wiped");
    // A new survey may start; collecting ends by itself after 30 min.
    h.nodes[A].start_survey_collecting(h.now, NONCE).unwrap();
    h.pump();
    h.run_for(Duration::from_secs(30 * 60 + 10));
    for i in [A, B, C, D, E] {
        assert!(reporting(&h, i, A), "node {i} reports after collecting timed out");
    }
}

#[test]
fn time_sliced_dynamic_topology_survey() {
    let mut h = default_network();
    let f = h.add_node(Harness::config());
    h.app_input(f, AppInput::TransitiveQuorum(vec![id(A), id(B), id(C), id(E)]));
    h.nodes[A].start_survey_collecting(h.now, NONCE).unwrap();
    h.pump();
    h.run_for(Duration::from_secs(30));
    // F joins B late; E leaves.
    h.connect(f, B);
    assert!(h.linked(f, B));
    h.nodes[B].disconnect(h.now, id(E)).unwrap();
    h.pump();
    h.run_for(Duration::from_secs(30));
    h.nodes[A].stop_survey_collecting(h.now).unwrap();
    h.pump();
    assert!(collecting(&h, E, A), "E, disconnected, never heard the STOP");
    assert_eq!(phase(&h, f), Phase::Inactive, "F joined after the START");
    for node in [B, E, f] {
        h.nodes[A].survey_topology(h.now, id(node), 0, 0).unwrap();
    }
    h.run_for(Duration::from_secs(60));
    let results = h.nodes[A].survey_results();
    assert_eq!(results.nodes.keys().copied().collect::<Vec<_>>(), vec![id(B)], "E and F do not answer");
    let b = &results.nodes[&id(B)];
    assert_eq!((b.node.added_authenticated_peers, b.node.dropped_authenticated_peers), (1, 1));
    assert_eq!(peers(&b.outbound), vec![id(C)], "E dropped: not reported");
    assert_eq!(peers(&b.inbound), sorted(vec![id(A), id(D)]), "F joined late: not reported");
    assert_eq!(b.node.total_inbound_peer_count, 3, "but counted now");

    // A new survey from an uninvolved node is ignored by the others while A's reports.
    for i in 0..h.nodes.len() {
        h.app_input(i, AppInput::TransitiveQuorum(vec![id(A), id(B), id(C), id(D), id(E)]));
    }
    let _ = h.nodes[D].start_survey_collecting(h.now, NONCE + 1);
    h.pump();
    assert!(reporting(&h, B, A) && reporting(&h, C, A));
}

#[test]
fn a_bad_survey_signature_from_a_direct_peer_drops_it_with_err_misc() {
    let mut h = default_network();
    let a = overlay_auth::NodeIdentity::from_seed(Harness::seed(A));
    let mut start = messages::start(&a, NONCE, 1);
    start.signature.0 = vec![7u8; 64].try_into().unwrap();
    h.nodes[B].send_to(h.now, id(C), &StellarMessage::TimeSlicedSurveyStartCollecting(start)).unwrap();
    h.pump();
    assert_eq!(h.drops(C), vec![SURVEY_BAD_SIGNATURE.text().into_owned()]);
    assert!(!h.linked(B, C));
    // B hears ERR_MISC "Survey has invalid signature" from C.
    assert!(h.drops(B).iter().any(|d| d.contains("Survey has invalid signature")), "{:?}", h.drops(B));
    assert_eq!(phase(&h, C), Phase::Inactive);
    // Other peers are unaffected.
    assert!(h.linked(A, B) && h.linked(B, E));
    // An unpermitted surveyor's bad signature is never checked: ignored, no drop.
    let stranger = overlay_auth::NodeIdentity::from_seed([99; 32]);
    let mut start = messages::start(&stranger, NONCE, 1);
    start.signature.0 = vec![7u8; 64].try_into().unwrap();
    h.nodes[B].send_to(h.now, id(A), &StellarMessage::TimeSlicedSurveyStartCollecting(start)).unwrap();
    h.pump();
    assert!(h.linked(A, B));
}

#[test]
fn limiter_and_relay_rules_with_several_surveyors() {
    // Twelve surveyors all heard by B; their requests reach B from A and B relays to C.
    let surveyors: Vec<overlay_auth::NodeIdentity> =
        (0..12u8).map(|n| overlay_auth::NodeIdentity::from_seed([200 + n; 32])).collect();
    let keys: std::collections::BTreeSet<NodeId> = surveyors.iter().map(|s| s.node_id()).chain([id(A)]).collect();
    let mut h = network(|_| SurveyConfig { surveyor_keys: keys.clone(), ..SurveyConfig::default() });
    collect(&mut h, A);
    let relayed = |h: &Harness| {
        h.events[C]
            .iter()
            .filter(|e| {
                matches!(e, NodeEvent::Message { message: Received::Other(m), .. }
                if matches!(**m, StellarMessage::TimeSlicedSurveyRequest(_)))
            })
            .count()
    };
    let send = |h: &mut Harness, s: &overlay_auth::NodeIdentity, surveyed: NodeId, nonce: u32, ledger: u32| {
        let m = messages::request(s, surveyed, ledger, seal::public_key(&[1; 32]), nonce, 0, 0);
        h.nodes[A].send_to(h.now, id(B), &StellarMessage::TimeSlicedSurveyRequest(m)).unwrap();
        h.pump();
    };
    // Ten surveyors are relayed for a ledger, the eleventh and twelfth are not.
    for s in &surveyors {
        send(&mut h, s, id(C), NONCE, 1);
    }
    assert_eq!(relayed(&h), 10);
    // A relayed surveyor's eleventh surveyed node in the ledger is refused; duplicates too.
    for n in 0..10u8 {
        send(&mut h, &surveyors[0], NodeId([n; 32]), NONCE, 1);
    }
    assert_eq!(relayed(&h), 10 + 9, "ten surveyed per surveyor, C counted already");
    send(&mut h, &surveyors[1], id(C), NONCE, 1);
    assert_eq!(relayed(&h), 19, "a duplicate");
    // Another nonce than the one reporting, or a ledger outside the window: not relayed.
    send(&mut h, &surveyors[1], id(E), NONCE + 1, 1);
    send(&mut h, &surveyors[1], id(E), NONCE, 8);
    assert_eq!(relayed(&h), 19);
    // The next ledgers: old records are cleared and the surveyors are heard again.
    close_ledger(&mut h, 8);
    send(&mut h, &surveyors[11], id(C), NONCE, 8);
    assert_eq!(relayed(&h), 20);
    assert!(h.drops(B).is_empty());
}
