//! The node's side of time-sliced surveys (PROTOCOL.md §12): taking part in others' surveys,
//! relaying, answering, and running our own as a surveyor. See [`crate::survey`].

use super::{ConnId, Node};
use crate::peer::DropReason;
use crate::survey::{NodeFacts, NodeReport, PeerView, Phase, SurveyError, SurveyResults, messages};
use overlay_proto::xdr::{
    ErrorCode, MessageType, SignedTimeSlicedSurveyRequestMessage, SignedTimeSlicedSurveyResponseMessage,
    StellarMessage, SurveyMessageCommandType, SurveyResponseBody,
};
use overlay_proto::{NodeId, Timestamp};
use rand_chacha::rand_core::Rng;
use std::sync::Arc;

/// ERR_MISC "Survey has invalid signature" (§12.2): a direct peer that sent a survey message
/// with a bad signature is dropped.
pub const SURVEY_BAD_SIGNATURE: DropReason =
    DropReason::Local { code: ErrorCode::Misc, text: "Survey has invalid signature" };

impl Node {
    /// The authenticated peers as the survey sees them.
    fn survey_peers(&self) -> Vec<PeerView> {
        self.authenticated
            .iter()
            .filter_map(|(id, c)| {
                let conn = self.conns.get(c)?;
                let p = conn.peer.as_deref()?;
                let s = p.stats();
                let mut counters = conn.survey_counts;
                counters.messages_read = s.messages_read;
                counters.messages_written = s.messages_written;
                counters.bytes_read = s.bytes_read;
                counters.bytes_written = s.bytes_written;
                Some(PeerView {
                    id: *id,
                    inbound: conn.direction == overlay_auth::Role::Acceptor,
                    version: p.remote().map(|r| r.version_str.clone()).unwrap_or_default(),
                    connected_since: s.authenticated_at.unwrap_or(s.created_at),
                    counters,
                    latency_ms: s.latency_ms,
                })
            })
            .collect()
    }

    fn node_facts(&self) -> NodeFacts {
        let (_, _, ai, ao) = self.connection_counts();
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        NodeFacts {
            inbound: n(ai),
            outbound: n(ao),
            is_validator: self.survey.config.is_validator,
            max_inbound: n(self.limits.max_inbound),
            max_outbound: n(self.limits.max_outbound),
        }
    }

    /// Record a survey message from `from` (if any) in the Floodgate and send it to every
    /// authenticated peer that does not know it (surveys bypass flow control, §8.1).
    fn flood_survey(&mut self, from: Option<NodeId>, msg: &StellarMessage) {
        let Ok(xdr) = overlay_proto::wire::encode_message(msg) else { return };
        let xdr: Arc<[u8]> = xdr.into();
        let id = overlay_flood::identity::flood_message_id_from_xdr(&xdr);
        if let Some(f) = from {
            let _ = self.floodgate.record_received(id, f, self.ledger.tracking_ledger);
        }
        self.flood_push(id, msg);
    }

    /// A survey message from the authenticated peer on `conn`: whether it was taken (started,
    /// stopped, relayed or answered); anything else is ignored silently, and a bad signature
    /// drops the peer (§12.2, §12.3).
    pub(super) fn on_survey(&mut self, conn: ConnId, from: NodeId, msg: &StellarMessage) -> bool {
        let me = self.node_id();
        let local = self.ledger.tracking_ledger;
        let mut bad_signature = false;
        let taken = match msg {
            StellarMessage::TimeSlicedSurveyStartCollecting(m) => {
                let s = &m.start_collecting;
                let surveyor = NodeId::from_xdr(&s.surveyor_id);
                self.survey.permitted(&surveyor, &me)
                    && self.survey.limiter.ledger_valid(s.ledger_num, local)
                    && !self.survey.data.is_active()
                    && {
                        bad_signature = !messages::start_signed(m);
                        !bad_signature
                    }
                    && {
                        let peers = self.survey_peers();
                        let synced = self.ledger.synced;
                        self.survey.data.start(self.now, s.nonce, surveyor, &peers, synced)
                    }
            }
            StellarMessage::TimeSlicedSurveyStopCollecting(m) => {
                let s = &m.stop_collecting;
                let surveyor = NodeId::from_xdr(&s.surveyor_id);
                self.survey.permitted(&surveyor, &me)
                    && self.survey.limiter.ledger_valid(s.ledger_num, local)
                    && matches!(self.survey.data.phase(), Phase::Collecting { nonce, surveyor: who }
                        if nonce == s.nonce && who == surveyor)
                    && {
                        bad_signature = !messages::stop_signed(m);
                        !bad_signature
                    }
                    && {
                        let (peers, facts) = (self.survey_peers(), self.node_facts());
                        self.survey.data.stop(self.now, s.nonce, surveyor, &peers, facts)
                    }
            }
            StellarMessage::TimeSlicedSurveyRequest(m) => self.on_survey_request(m, &mut bad_signature),
            StellarMessage::TimeSlicedSurveyResponse(m) => self.on_survey_response(m, &mut bad_signature),
            _ => false,
        };
        if bad_signature {
            self.close_conn(conn, SURVEY_BAD_SIGNATURE);
            return false;
        }
        if taken
            && !matches!(msg, StellarMessage::TimeSlicedSurveyRequest(r) if NodeId::from_xdr(&r.request.request.surveyed_peer_id) == me)
            && !matches!(msg, StellarMessage::TimeSlicedSurveyResponse(r) if NodeId::from_xdr(&r.response.response.surveyor_peer_id) == me)
        {
            self.flood_survey(Some(from), msg);
        }
        self.arm_survey_check();
        taken
    }

    fn on_survey_request(&mut self, m: &SignedTimeSlicedSurveyRequestMessage, bad_signature: &mut bool) -> bool {
        let me = self.node_id();
        let r = &m.request.request;
        let surveyor = NodeId::from_xdr(&r.surveyor_peer_id);
        let surveyed = NodeId::from_xdr(&r.surveyed_peer_id);
        if !self.survey.permitted(&surveyor, &me)
            || r.command_type != SurveyMessageCommandType::TimeSlicedSurveyTopology
        {
            return false;
        }
        let reporting = self.survey.data.reporting(m.request.nonce);
        let local = self.ledger.tracking_ledger;
        let accepted =
            self.survey.limiter.add_and_validate_request(surveyor, surveyed, r.ledger_num, local, me, || {
                reporting && {
                    *bad_signature = !messages::request_signed(m);
                    !*bad_signature
                }
            });
        if accepted && surveyed == me {
            self.answer_survey(m);
        }
        accepted
    }

    /// Answer a request addressed to us: our report's page, sealed to the surveyor's key.
    fn answer_survey(&mut self, m: &SignedTimeSlicedSurveyRequestMessage) {
        let req = &m.request;
        let Some(body) = self.survey.data.response(req.nonce, req.inbound_peers_index, req.outbound_peers_index) else {
            return;
        };
        let mut ephemeral = [0u8; 32];
        self.rng.fill_bytes(&mut ephemeral);
        let identity = &self.auth.keys().identity;
        let response =
            messages::response(identity, req, &SurveyResponseBody::SurveyTopologyResponseV2(body), &ephemeral);
        // Recorded in our limiter as the surveyed node's own response.
        let r = &response.response.response;
        let (surveyor, local, me) =
            (NodeId::from_xdr(&r.surveyor_peer_id), self.ledger.tracking_ledger, self.node_id());
        self.survey.limiter.record_and_validate_response(surveyor, me, r.ledger_num, local, || true);
        self.flood_survey(None, &StellarMessage::TimeSlicedSurveyResponse(response));
    }

    fn on_survey_response(&mut self, m: &SignedTimeSlicedSurveyResponseMessage, bad_signature: &mut bool) -> bool {
        let me = self.node_id();
        let r = &m.response.response;
        let surveyor = NodeId::from_xdr(&r.surveyor_peer_id);
        let surveyed = NodeId::from_xdr(&r.surveyed_peer_id);
        if !self.survey.permitted(&surveyor, &me) {
            return false;
        }
        let reporting = self.survey.data.reporting(m.response.nonce);
        let local = self.ledger.tracking_ledger;
        let accepted =
            self.survey.limiter.record_and_validate_response(surveyor, surveyed, r.ledger_num, local, || {
                reporting && {
                    *bad_signature = !messages::response_signed(m);
                    !*bad_signature
                }
            });
        if accepted && surveyor == me {
            self.keep_survey_response(surveyed, r);
        }
        accepted
    }

    /// Open and keep a response to our survey (a failure marks the node a bad responder).
    fn keep_survey_response(&mut self, surveyed: NodeId, r: &overlay_proto::xdr::SurveyResponseMessage) {
        let Some(secret) = self.survey.surveyor.secret else { return };
        match messages::open_response(&secret, r) {
            Ok(SurveyResponseBody::SurveyTopologyResponseV2(body)) => {
                let entry = self.survey.surveyor.results.entry(surveyed).or_insert_with(|| NodeReport {
                    node: body.node_data.clone(),
                    inbound: Vec::new(),
                    outbound: Vec::new(),
                });
                entry.node = body.node_data;
                entry.inbound.extend(body.inbound_peers.0.into_vec());
                entry.outbound.extend(body.outbound_peers.0.into_vec());
            }
            Err(_) => {
                self.survey.surveyor.bad.insert(surveyed);
            }
        }
    }

    // ---- the surveyor ----------------------------------------------------------------------

    /// Start collecting for a survey of ours with `nonce` (stellar-core's
    /// `startsurveycollecting`): our node starts collecting and the signed START floods.
    pub fn start_survey_collecting(&mut self, now: Timestamp, nonce: u32) -> Result<(), SurveyError> {
        self.advance(now, self.now_unix);
        if self.survey.data.is_active() {
            return Err(SurveyError::AlreadyActive);
        }
        let me = self.node_id();
        let (peers, synced) = (self.survey_peers(), self.ledger.synced);
        self.survey.data.start(self.now, nonce, me, &peers, synced);
        self.survey.surveyor = crate::survey::Surveyor { nonce: Some(nonce), ..Default::default() };
        let msg = messages::start(&self.auth.keys().identity, nonce, self.ledger.tracking_ledger);
        self.flood_survey(None, &StellarMessage::TimeSlicedSurveyStartCollecting(msg));
        self.arm_survey_check();
        self.flush();
        Ok(())
    }

    /// Stop collecting our survey (`stopsurveycollecting`): our data is finalized and the
    /// signed STOP floods.
    pub fn stop_survey_collecting(&mut self, now: Timestamp) -> Result<(), SurveyError> {
        self.advance(now, self.now_unix);
        let me = self.node_id();
        let Phase::Collecting { nonce, surveyor } = self.survey.data.phase() else {
            return Err(SurveyError::NotOurs("collecting"));
        };
        if surveyor != me {
            return Err(SurveyError::NotOurs("collecting"));
        }
        let (peers, facts) = (self.survey_peers(), self.node_facts());
        self.survey.data.stop(self.now, nonce, me, &peers, facts);
        let msg = messages::stop(&self.auth.keys().identity, nonce, self.ledger.tracking_ledger);
        self.flood_survey(None, &StellarMessage::TimeSlicedSurveyStopCollecting(msg));
        self.flush();
        Ok(())
    }

    /// Queue `node` for a topology request from the given page indices
    /// (`surveytopologytimesliced`); requests go out in batches of 10 at most, 15 s apart (the
    /// first batch at once).
    pub fn survey_topology(
        &mut self,
        now: Timestamp,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> Result<(), SurveyError> {
        self.advance(now, self.now_unix);
        let me = self.node_id();
        if node == me {
            return Err(SurveyError::SelfSurvey);
        }
        let Phase::Reporting { nonce, surveyor } = self.survey.data.phase() else {
            return Err(SurveyError::NotOurs("reporting"));
        };
        if surveyor != me {
            return Err(SurveyError::NotOurs("reporting"));
        }
        let s = &mut self.survey.surveyor;
        let entry = (node, inbound_index, outbound_index);
        if s.backlog.contains(&entry) {
            return Err(SurveyError::Duplicate);
        }
        if s.backlog.len() >= self.survey.config.backlog_max {
            return Err(SurveyError::BacklogFull);
        }
        if s.secret.is_none() {
            let mut secret = [0u8; 32];
            self.rng.fill_bytes(&mut secret);
            self.survey.surveyor.secret = Some(secret);
        }
        let s = &mut self.survey.surveyor;
        s.nonce = Some(nonce);
        s.backlog.push_back(entry);
        if s.next_request.is_none() {
            s.next_request = Some(self.now);
        }
        self.survey_timers();
        self.flush();
        Ok(())
    }

    /// What our surveys learned.
    pub fn survey_results(&self) -> SurveyResults {
        self.survey.results()
    }

    /// The Curve25519 secret of our reporting session, for tests that open responses with
    /// another implementation. Test scaffolding only.
    #[cfg(feature = "test-harness")]
    pub fn survey_session_secret(&self) -> Option<[u8; 32]> {
        self.survey.surveyor.secret
    }

    /// Send up to `requests_per_period` queued requests (§12.4).
    fn send_survey_requests(&mut self) {
        let me = self.node_id();
        let (Phase::Reporting { nonce, surveyor }, Some(secret)) =
            (self.survey.data.phase(), self.survey.surveyor.secret)
        else {
            return;
        };
        if surveyor != me {
            return;
        }
        let key = crate::survey::seal::public_key(&secret);
        let mut later = Vec::new();
        for _ in 0..self.survey.config.requests_per_period {
            let Some((node, inbound, outbound)) = self.survey.surveyor.backlog.pop_front() else { break };
            let ledger = self.ledger.tracking_ledger;
            let m = messages::request(&self.auth.keys().identity, node, ledger, key, nonce, inbound, outbound);
            if self.survey.limiter.add_and_validate_request(me, node, ledger, ledger, me, || true) {
                self.flood_survey(None, &StellarMessage::TimeSlicedSurveyRequest(m));
            } else {
                // Asked already at this ledger (another page of the same node): every node
                // on the way would refuse it too, so it waits for a later ledger.
                later.push((node, inbound, outbound));
            }
        }
        self.survey.surveyor.backlog.extend(later);
    }

    /// Survey timers: requests of our backlog every `request_period`, phase timeouts and
    /// latency samples every tick period while a survey is active.
    pub(super) fn survey_timers(&mut self) {
        if self.survey.surveyor.next_request.is_some_and(|t| t <= self.now) {
            // A batch, then the next no sooner than a period later; with nothing to send,
            // the timer stops until a node is queued.
            let queued = self.survey.surveyor.backlog.len();
            self.send_survey_requests();
            self.survey.surveyor.next_request = (queued > 0).then(|| self.now + self.survey.config.request_period);
        }
        if self.survey.next_check.is_some_and(|t| t <= self.now) {
            let (peers, facts) = (self.survey_peers(), self.node_facts());
            self.survey.data.sample_latencies(&peers);
            self.survey.data.update(self.now, &peers, facts);
            if !self.survey.data.is_active() {
                // The survey ended: our session's key goes too.
                self.survey.surveyor.secret = None;
                self.survey.surveyor.backlog.clear();
                self.survey.surveyor.next_request = None;
            }
            self.survey.next_check = None;
            self.arm_survey_check();
        }
    }

    /// Check the survey's phase again a tick period from now, while one is active.
    fn arm_survey_check(&mut self) {
        if self.survey.data.is_active() && self.survey.next_check.is_none() {
            self.survey.next_check = Some(self.now + self.config.tick_period);
        }
    }

    /// When the survey timers are due.
    pub(super) fn survey_deadline(&self) -> Option<Timestamp> {
        [self.survey.surveyor.next_request, self.survey.next_check].into_iter().flatten().min()
    }

    /// Count a message of `size` bytes from `conn` in the survey's per-peer counters: a flood
    /// message (first seen or a duplicate) or a fetched item (wanted or not).
    pub(super) fn count_for_survey(&mut self, conn: ConnId, t: MessageType, size: usize, first_seen: bool) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let n = &mut c.survey_counts;
        let size = size as u64;
        match t {
            MessageType::Transaction
            | MessageType::ScpMessage
            | MessageType::TimeSlicedSurveyRequest
            | MessageType::TimeSlicedSurveyResponse
            | MessageType::TimeSlicedSurveyStartCollecting
            | MessageType::TimeSlicedSurveyStopCollecting => {
                if first_seen {
                    n.unique_flood_bytes += size;
                    n.unique_flood_msgs += 1;
                } else {
                    n.duplicate_flood_bytes += size;
                    n.duplicate_flood_msgs += 1;
                }
            }
            MessageType::TxSet | MessageType::GeneralizedTxSet | MessageType::ScpQuorumset => {
                if first_seen {
                    n.unique_fetch_bytes += size;
                    n.unique_fetch_msgs += 1;
                } else {
                    n.duplicate_fetch_bytes += size;
                    n.duplicate_fetch_msgs += 1;
                }
            }
            _ => {}
        }
    }
}
