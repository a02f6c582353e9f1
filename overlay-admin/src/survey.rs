//! stellar-core's survey commands (`startsurveycollecting?nonce=N`, `stopsurveycollecting`,
//! `surveytopologytimesliced?node=G...&inboundpeerindex=I&outboundpeerindex=O`,
//! `getsurveyresult`): their texts, their errors, and the JSON of `getsurveyresult` in
//! stellar-core's shape (`SurveyManager::getJsonResults`).

use crate::commands::{Body, Reply};
use overlay_node::survey::{NodeReport, Phase, SurveyError, SurveyResults};
use overlay_proto::NodeId;
use overlay_proto::xdr::{TimeSlicedNodeData, TimeSlicedPeerData};
use overlay_tokio::OverlayError;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// `startsurveycollecting`'s answer (stellar-core's text).
pub const STARTED: &str = "Requested network to start survey collecting.";
/// `stopsurveycollecting`'s answer.
pub const STOPPED: &str = "Requested network to stop survey collecting.";
/// The start of `surveytopologytimesliced`'s answer; stellar-core adds `Survey started ` for
/// the first node of a reporting session and `Survey already running!` after.
pub const ADDING: &str = "Adding node.";

/// Nodes remembered as asked in one survey, to list them (as `null`) in `getsurveyresult`
/// until they answer; past it more are asked but not listed until they answer.
const ASKED_MAX: usize = 4096;

/// The surveyor session as the admin commands saw it: the survey whose reporting they
/// started, and the nodes they queued in it.
#[derive(Debug, Default)]
struct Session {
    nonce: Option<u32>,
    asked: BTreeSet<NodeId>,
}

/// What the survey commands remember between calls; shared by every clone of an
/// [`Admin`](crate::Admin).
#[derive(Debug, Clone, Default)]
pub struct SurveySession(Arc<Mutex<Session>>);

impl SurveySession {
    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic cannot leave the session half-updated: each change is one assignment.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `node` was queued in survey `nonce`: whether it is the first of that survey.
    pub(crate) fn queued(&self, nonce: Option<u32>, node: NodeId) -> bool {
        let mut s = self.lock();
        let first = s.nonce != nonce;
        if first {
            *s = Session { nonce, asked: BTreeSet::new() };
        }
        if s.asked.len() < ASKED_MAX {
            s.asked.insert(node);
        }
        first
    }

    fn asked(&self, nonce: Option<u32>) -> BTreeSet<NodeId> {
        let s = self.lock();
        if s.nonce == nonce && nonce.is_some() { s.asked.clone() } else { BTreeSet::new() }
    }
}

/// The answer of `surveytopologytimesliced` after queueing.
pub(crate) fn adding(first: bool) -> Reply {
    let tail = if first { "Survey started " } else { "Survey already running!" };
    Reply { status: 200, body: Body::Text(format!("{ADDING}{tail}")) }
}

/// An error of a survey command: stellar-core's text where it has one, with 409 for a
/// survey in the wrong phase or a node queued already, 400 for surveying oneself, 429 for a
/// full backlog, 503 when the overlay is not running.
pub(crate) fn error(command: &str, e: OverlayError) -> Reply {
    let OverlayError::Survey(s) = e else { return Reply::from(e) };
    let (status, message) = match (command, &s) {
        ("startsurveycollecting", SurveyError::AlreadyActive) => {
            (409, "Failed to start survey collecting. Another survey is active on the network.".to_string())
        }
        ("stopsurveycollecting", SurveyError::NotOurs(_)) => {
            (409, "Failed to stop survey collecting. No survey of ours is collecting on this node.".to_string())
        }
        (_, SurveyError::NotOurs(phase)) => (
            409,
            format!("Cannot add node: no survey of ours is {phase} (startsurveycollecting, then stopsurveycollecting)"),
        ),
        (_, SurveyError::SelfSurvey) => (400, "addPeerToBacklog failed: Peer is self.".to_string()),
        (_, SurveyError::Duplicate) => {
            (409, "addPeerToBacklog failed: Peer is already in the backlog with these indices.".to_string())
        }
        (_, SurveyError::BacklogFull) => (429, "addPeerToBacklog failed: the survey backlog is full.".to_string()),
        (_, other) => (409, other.to_string()),
    };
    Reply::error(status, message)
}

/// A list, or `null` when empty (stellar-core's jsoncpp writes an untouched list as null).
fn list(items: Vec<Value>) -> Value {
    if items.is_empty() { Value::Null } else { Value::Array(items) }
}

/// One link as a node reports it (an entry of its `inboundPeers` or `outboundPeers`).
pub fn peer(p: &TimeSlicedPeerData) -> Value {
    let s = &p.peer_stats;
    json!({
        "nodeId": NodeId::from_xdr(&s.id).to_string(),
        "version": s.version_str.to_utf8_string_lossy(),
        "messagesRead": s.messages_read,
        "messagesWritten": s.messages_written,
        "bytesRead": s.bytes_read,
        "bytesWritten": s.bytes_written,
        "secondsConnected": s.seconds_connected,
        "uniqueFloodBytesRecv": s.unique_flood_bytes_recv,
        "duplicateFloodBytesRecv": s.duplicate_flood_bytes_recv,
        "uniqueFetchBytesRecv": s.unique_fetch_bytes_recv,
        "duplicateFetchBytesRecv": s.duplicate_fetch_bytes_recv,
        "uniqueFloodMessageRecv": s.unique_flood_message_recv,
        "duplicateFloodMessageRecv": s.duplicate_flood_message_recv,
        "uniqueFetchMessageRecv": s.unique_fetch_message_recv,
        "duplicateFetchMessageRecv": s.duplicate_fetch_message_recv,
        "averageLatencyMs": p.average_latency_ms,
    })
}

/// A node's own data (the `TimeSlicedNodeData` of its answer), under stellar-core's names.
pub fn node_data(n: &TimeSlicedNodeData) -> Map<String, Value> {
    let v = json!({
        "numTotalInboundPeers": n.total_inbound_peer_count,
        "numTotalOutboundPeers": n.total_outbound_peer_count,
        "maxInboundPeerCount": n.max_inbound_peer_count,
        "maxOutboundPeerCount": n.max_outbound_peer_count,
        "addedAuthenticatedPeers": n.added_authenticated_peers,
        "droppedAuthenticatedPeers": n.dropped_authenticated_peers,
        "p75SCPFirstToSelfLatencyMs": n.p75_scp_first_to_self_latency_ms,
        "p75SCPSelfToOtherLatencyMs": n.p75_scp_self_to_other_latency_ms,
        "lostSyncCount": n.lost_sync_count,
        "isValidator": n.is_validator,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One answering node in `getsurveyresult`: its node data and its peers over every page
/// received.
pub fn node(r: &NodeReport) -> Value {
    let mut m = node_data(&r.node);
    m.insert("inboundPeers".into(), list(r.inbound.iter().map(peer).collect()));
    m.insert("outboundPeers".into(), list(r.outbound.iter().map(peer).collect()));
    Value::Object(m)
}

fn phase_name(p: Option<Phase>) -> &'static str {
    match p {
        Some(Phase::Collecting { .. }) => "collecting",
        Some(Phase::Reporting { .. }) => "reporting",
        Some(Phase::Inactive) | None => "inactive",
    }
}

/// `getsurveyresult`: stellar-core's `backlog`, `badResponseNodes`, `surveyInProgress` (our
/// survey is reporting) and `topology` (each node asked through these commands, `null` until
/// it answers; every node that answered); our `nonce` and `phase` beside them.
pub(crate) fn results(r: &SurveyResults, me: NodeId, session: &SurveySession) -> Value {
    let mut topology: Map<String, Value> =
        session.asked(r.nonce).into_iter().map(|id| (id.to_string(), Value::Null)).collect();
    for (id, report) in &r.nodes {
        topology.insert(id.to_string(), node(report));
    }
    let in_progress = matches!(r.phase, Some(Phase::Reporting { surveyor, .. }) if surveyor == me);
    json!({
        "backlog": list(r.backlog.iter().map(|(id, _, _)| json!(id.to_string())).collect()),
        "badResponseNodes": list(r.bad_responses.iter().map(|id| json!(id.to_string())).collect()),
        "surveyInProgress": in_progress,
        "topology": topology,
        "nonce": r.nonce,
        "phase": phase_name(r.phase),
    })
}
