//! The survey scenario in the world (see [`crate::survey`]): the surveyor's steps, driven
//! through the node's public API, and what the report says of them.

use super::{Event, Res, World, node_id};
use crate::network::NodeIndex;
use crate::survey::{SurveyReport, SurveySpec, Unanswered};
use core::time::Duration;
use overlay_node::survey::data::PEERS_PER_RESPONSE;
use overlay_proto::{NodeId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// A step of the surveyor.
#[derive(Debug, Clone, Copy)]
pub(super) enum SurveyStep {
    Start,
    Stop,
    Poll,
}

/// The survey's state in the world.
#[derive(Debug, Default)]
pub(super) struct SurveyRun {
    spec: SurveySpec,
    started: Option<Timestamp>,
    /// Nodes connected to the surveyor at the START and at the STOP.
    at_start: BTreeSet<NodeIndex>,
    at_stop: BTreeSet<NodeIndex>,
    /// Per node named so far: the page indices last queued (inbound, outbound).
    asked: BTreeMap<NodeId, (u32, u32)>,
    queued: u64,
    refused: u64,
}

impl SurveyRun {
    pub fn new(spec: SurveySpec) -> Self {
        SurveyRun { spec, ..SurveyRun::default() }
    }
}

impl World {
    /// Schedule the survey's START.
    pub(super) fn schedule_survey(&mut self) -> Res {
        if let Some(s) = &self.survey {
            let at = super::START + Duration::from_millis(s.spec.start_ms);
            self.q.schedule_at(at, Event::Survey(SurveyStep::Start))?;
        }
        Ok(())
    }

    fn surveyor_component(&self, surveyor: NodeIndex) -> BTreeSet<NodeIndex> {
        let now = self.q.now();
        self.graph.component_since(surveyor, now, |n| self.nodes[n as usize].live.is_some())
    }

    pub(super) fn survey_step(&mut self, step: SurveyStep) -> Res {
        let Some(run) = self.survey.as_deref() else { return Ok(()) };
        let spec = run.spec;
        let s = spec.surveyor;
        let now = self.q.now();
        if self.nodes[s as usize].live.is_none() {
            return Ok(());
        }
        match step {
            SurveyStep::Start => {
                let component = self.surveyor_component(s);
                if let Some(live) = self.nodes[s as usize].live.as_deref_mut() {
                    let _ = live.node.start_survey_collecting(now, spec.nonce);
                }
                if let Some(run) = self.survey.as_deref_mut() {
                    run.started = Some(now);
                    run.at_start = component;
                }
                self.q.schedule_at(now + Duration::from_millis(spec.collect_ms), Event::Survey(SurveyStep::Stop))?;
            }
            SurveyStep::Stop => {
                let component = self.surveyor_component(s);
                let mut peers = Vec::new();
                if let Some(live) = self.nodes[s as usize].live.as_deref_mut() {
                    let _ = live.node.stop_survey_collecting(now);
                    peers = live.node.authenticated_peers().map(|(id, _)| id).collect();
                }
                if let Some(run) = self.survey.as_deref_mut() {
                    run.at_stop = component;
                }
                for p in peers {
                    self.survey_ask(p, 0, 0);
                }
                self.q.schedule_at(now + Duration::from_millis(spec.poll_ms), Event::Survey(SurveyStep::Poll))?;
            }
            SurveyStep::Poll => {
                let results = match self.nodes[s as usize].live.as_deref() {
                    Some(live) => live.node.survey_results(),
                    None => return Ok(()),
                };
                let page = PEERS_PER_RESPONSE as u32;
                for (id, r) in &results.nodes {
                    for p in r.inbound.iter().chain(r.outbound.iter()) {
                        let peer = NodeId::from_xdr(&p.peer_stats.id);
                        if !self.survey.as_ref().is_some_and(|run| run.asked.contains_key(&peer)) {
                            self.survey_ask(peer, 0, 0);
                        }
                    }
                    // A list that filled its last page may have more.
                    let Some(&(i, o)) = self.survey.as_ref().and_then(|run| run.asked.get(id)) else { continue };
                    let (got_in, got_out) = (r.inbound.len() as u32, r.outbound.len() as u32);
                    let more_in = got_in >= i.saturating_add(page);
                    let more_out = got_out >= o.saturating_add(page);
                    if more_in || more_out {
                        let next = (
                            if more_in { i.saturating_add(page) } else { u32::MAX },
                            if more_out { o.saturating_add(page) } else { u32::MAX },
                        );
                        self.survey_ask(*id, next.0, next.1);
                    }
                }
                if now + Duration::from_millis(spec.poll_ms) < self.end {
                    self.q.schedule_at(now + Duration::from_millis(spec.poll_ms), Event::Survey(SurveyStep::Poll))?;
                }
            }
        }
        self.drain(s)
    }

    /// Queue `node` at the surveyor from the given page indices.
    fn survey_ask(&mut self, node: NodeId, inbound: u32, outbound: u32) {
        let Some(run) = self.survey.as_deref_mut() else { return };
        let s = run.spec.surveyor;
        let now = self.q.now();
        if node == node_id(s) {
            return;
        }
        run.asked.insert(node, (inbound, outbound));
        let Some(live) = self.nodes[s as usize].live.as_deref_mut() else { return };
        match live.node.survey_topology(now, node, inbound, outbound) {
            Ok(()) => run.queued += 1,
            Err(_) => run.refused += 1,
        }
    }

    /// The survey's part of the report.
    pub(super) fn survey_report(&self) -> Option<SurveyReport> {
        let run = self.survey.as_deref()?;
        let s = run.spec.surveyor;
        let results = self.nodes[s as usize].live.as_deref().map(|l| l.node.survey_results()).unwrap_or_default();
        let mut report = SurveyReport {
            surveyor: s,
            requests_queued: run.queued,
            requests_refused: run.refused,
            bad_responses: results.bad_responses.len(),
            answered: results.nodes.len(),
            ..SurveyReport::default()
        };
        for r in results.nodes.values() {
            report.links_reported += r.inbound.len() + r.outbound.len();
            if r.inbound.len() > PEERS_PER_RESPONSE || r.outbound.len() > PEERS_PER_RESPONSE {
                report.paged_nodes += 1;
            }
        }
        let started = run.started.unwrap_or(self.end);
        for n in 0..self.nodes.len() as NodeIndex {
            if n == s {
                continue;
            }
            report.nodes += 1;
            let sn = &self.nodes[n as usize];
            let id = node_id(n);
            let reason = if sn.live.is_none() {
                Some("down at the end")
            } else if sn.up_since.is_none_or(|t| t > started) {
                Some("restarted after the START")
            } else if !run.at_start.contains(&n) {
                Some("not connected to the surveyor at the START")
            } else if !run.at_stop.contains(&n) {
                Some("not connected to the surveyor at the STOP")
            } else {
                None
            };
            let answered = results.nodes.contains_key(&id);
            if reason.is_none() {
                report.reachable += 1;
                report.reachable_answered += usize::from(answered);
            }
            if !answered {
                let reason = reason.unwrap_or(if run.asked.contains_key(&id) {
                    "asked, no answer"
                } else {
                    "never named by a response"
                });
                report.unanswered.push(Unanswered { node: n, reason });
            }
        }
        Some(report)
    }
}
