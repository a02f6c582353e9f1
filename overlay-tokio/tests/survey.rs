//! Time-sliced surveys through the manager (issue 13), on 127.0.0.1: A dials B, B dials C;
//! A starts collecting, stops, queues B and C, and both answer (C through B, which relays the
//! request and the sealed response). B hears A through its transitive quorum, C through
//! `SURVEYOR_KEYS`. The surveyor's commands are refused in the wrong phase.

mod common;

use common::WAIT;
use overlay_auth::NodeIdentity;
use overlay_node::survey::{Phase, SurveyError};
use overlay_proto::xdr::TimeSlicedPeerData;
use overlay_proto::{Network, NodeId, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayError, OverlayManager};
use std::collections::BTreeSet;
use std::time::Duration;

fn id(seed: u8) -> NodeId {
    NodeIdentity::from_seed([seed; 32]).node_id()
}

fn config() -> OverlayConfig {
    OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        allow_localhost_for_testing: true,
        run_standalone: true,
        survey_request_period: Duration::from_millis(500),
        ..OverlayConfig::default()
    }
}

async fn start(seed: u8, config: OverlayConfig) -> OverlayManager {
    let local = LocalNode::new(NodeIdentity::from_seed([seed; 32]), Network::Standalone.id());
    let m = OverlayManager::new(config, local).unwrap();
    m.start().await.unwrap();
    m
}

fn ids(peers: &[TimeSlicedPeerData]) -> BTreeSet<NodeId> {
    peers.iter().map(|p| NodeId::from_xdr(&p.peer_stats.id)).collect()
}

fn survey_error(r: Result<(), OverlayError>) -> SurveyError {
    match r {
        Err(OverlayError::Survey(e)) => e,
        other => panic!("expected a survey error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surveyor_learns_the_topology_of_a_line_of_three() {
    let (a_id, b_id, c_id) = (id(1), id(2), id(3));
    let a = start(1, config()).await;
    let b = start(2, OverlayConfig { transitive_quorum: [a_id].into(), ..config() }).await;
    let c = start(3, OverlayConfig { surveyor_keys: [a_id].into(), node_is_validator: true, ..config() }).await;
    a.connect(&PeerAddress::from(b.local_addr().unwrap())).await.unwrap();
    b.connect(&PeerAddress::from(c.local_addr().unwrap())).await.unwrap();

    // Nothing to stop or ask yet.
    assert_eq!(survey_error(a.stop_survey_collecting().await), SurveyError::NotOurs("collecting"));
    assert_eq!(survey_error(a.survey_topology(b_id, 0, 0).await), SurveyError::NotOurs("reporting"));

    a.start_survey_collecting(7).await.unwrap();
    assert_eq!(survey_error(a.start_survey_collecting(8).await), SurveyError::AlreadyActive);
    assert_eq!(survey_error(a.survey_topology(b_id, 0, 0).await), SurveyError::NotOurs("reporting"));
    a.stop_survey_collecting().await.unwrap();
    assert_eq!(survey_error(a.survey_topology(a_id, 0, 0).await), SurveyError::SelfSurvey);
    a.survey_topology(b_id, 0, 0).await.unwrap();
    a.survey_topology(c_id, 0, 0).await.unwrap();

    let results = tokio::time::timeout(WAIT, async {
        loop {
            let r = a.survey_results().await.unwrap();
            if r.nodes.contains_key(&b_id) && r.nodes.contains_key(&c_id) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("B and C answered in time");

    assert_eq!(results.nonce, Some(7));
    assert_eq!(results.phase, Some(Phase::Reporting { nonce: 7, surveyor: a_id }));
    assert!(results.bad_responses.is_empty());
    assert!(results.backlog.is_empty());
    let rb = &results.nodes[&b_id];
    assert_eq!((rb.node.total_inbound_peer_count, rb.node.total_outbound_peer_count), (1, 1));
    assert_eq!(ids(&rb.inbound), [a_id].into());
    assert_eq!(ids(&rb.outbound), [c_id].into());
    assert!(!rb.node.is_validator);
    assert!(rb.inbound[0].peer_stats.version_str.to_utf8_string_lossy().starts_with("stellar-overlay-rs"));
    let rc = &results.nodes[&c_id];
    assert_eq!((rc.node.total_inbound_peer_count, rc.node.total_outbound_peer_count), (1, 0));
    assert_eq!(ids(&rc.inbound), [b_id].into());
    assert!(rc.outbound.is_empty());
    assert!(rc.node.is_validator, "C's NODE_IS_VALIDATOR");

    // The nodes that answered are in the reporting phase of A's survey.
    assert_eq!(b.survey_results().await.unwrap().phase, Some(Phase::Reporting { nonce: 7, surveyor: a_id }));
    for m in [a, b, c] {
        m.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_hear_the_surveyor_stays_out() {
    let a_id = id(4);
    let a = start(4, config()).await;
    // B names another surveyor, so A's START is ignored.
    let b = start(5, OverlayConfig { surveyor_keys: [id(9)].into(), ..config() }).await;
    let mut events = b.events();
    a.connect(&PeerAddress::from(b.local_addr().unwrap())).await.unwrap();
    a.start_survey_collecting(1).await.unwrap();
    // B received the START (its log says so) and stayed out of the survey.
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(overlay_tokio::OverlayEvent::Message { message_type, .. }) = events.recv().await {
                if message_type == overlay_proto::xdr::MessageType::TimeSlicedSurveyStartCollecting {
                    return;
                }
            }
        }
    })
    .await
    .expect("B received the START");
    assert_eq!(b.survey_results().await.unwrap().phase, Some(Phase::Inactive));
    a.stop_survey_collecting().await.unwrap();
    a.survey_topology(id(5), 0, 0).await.unwrap();
    let r = a.survey_results().await.unwrap();
    assert_eq!(r.phase, Some(Phase::Reporting { nonce: 1, surveyor: a_id }));
    a.shutdown().await;
    b.shutdown().await;
    assert!(matches!(a.survey_results().await, Err(OverlayError::NotRunning)));
}
