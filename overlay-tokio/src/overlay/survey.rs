//! Time-sliced surveys (PROTOCOL.md §12) through the [`OverlayManager`]: the surveyor's four
//! commands, as stellar-core's `startsurveycollecting`, `stopsurveycollecting`,
//! `surveytopologytimesliced` and `getsurveyresult`. The node does the work (see
//! [`overlay_node::survey`]); this module carries the commands to the node task and the
//! answers back.
//!
//! A survey of ours runs in three steps: start collecting (every node that hears us records
//! its peers' counters from then), stop collecting (they finalize them), then queue the nodes
//! to ask. Requests go out `requests_per_period` (10) at a time every
//! [`survey_request_period`](super::OverlayConfig::survey_request_period); each answer lists at
//! most 25 inbound and 25 outbound peers, so a node with more is asked again from index 25,
//! 50, ... Only nodes whose `SURVEYOR_KEYS` (or, when empty, transitive quorum) names us take
//! part.
//!
//! ```no_run
//! # async fn run(manager: overlay_tokio::OverlayManager, peer: overlay_proto::NodeId)
//! #     -> Result<(), overlay_tokio::OverlayError> {
//! manager.start_survey_collecting(42).await?;
//! // ... let the network collect (stellar-core's surveys collect for up to 30 minutes) ...
//! manager.stop_survey_collecting().await?;
//! manager.survey_topology(peer, 0, 0).await?;
//! let results = manager.survey_results().await?;
//! if let Some(report) = results.nodes.get(&peer) {
//!     println!("{} inbound peers", report.node.total_inbound_peer_count);
//! }
//! # Ok(()) }
//! ```

use super::OverlayManager;
use super::task::Command;
use overlay_host::OverlayError;
use overlay_node::Node;
use overlay_node::survey::{SurveyError, SurveyResults};
use overlay_proto::{NodeId, Timestamp};
use tokio::sync::oneshot;

type Reply<T> = oneshot::Sender<T>;

/// A survey command for the node task.
pub(crate) enum SurveyCommand {
    Start(u32, Reply<Result<(), SurveyError>>),
    Stop(Reply<Result<(), SurveyError>>),
    Topology { node: NodeId, inbound_index: u32, outbound_index: u32, reply: Reply<Result<(), SurveyError>> },
    Results(Reply<SurveyResults>),
}

impl SurveyCommand {
    /// Carry the command out on the node (the node task drains its outputs next).
    pub(crate) fn run(self, node: &mut Node, now: Timestamp) {
        // A caller that gave up waiting dropped its receiver; nothing to tell it.
        match self {
            SurveyCommand::Start(nonce, r) => {
                let _ = r.send(node.start_survey_collecting(now, nonce));
            }
            SurveyCommand::Stop(r) => {
                let _ = r.send(node.stop_survey_collecting(now));
            }
            SurveyCommand::Topology { node: id, inbound_index, outbound_index, reply } => {
                let _ = reply.send(node.survey_topology(now, id, inbound_index, outbound_index));
            }
            SurveyCommand::Results(r) => {
                let _ = r.send(node.survey_results());
            }
        }
    }
}

impl OverlayManager {
    /// Start a survey of ours with `nonce` (stellar-core's `startsurveycollecting`): our
    /// node starts collecting and the signed START_COLLECTING floods. Refused with
    /// [`SurveyError::AlreadyActive`] while any survey (ours or another's) is collecting or
    /// reporting here.
    pub async fn start_survey_collecting(&self, nonce: u32) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::Survey(SurveyCommand::Start(nonce, tx))).await??)
    }

    /// Stop collecting our survey (`stopsurveycollecting`): our data is finalized, the
    /// signed STOP_COLLECTING floods, and the reporting phase begins. Refused with
    /// [`SurveyError::NotOurs`] unless our survey is collecting.
    pub async fn stop_survey_collecting(&self) -> Result<(), OverlayError> {
        Ok(self.call(|tx| Command::Survey(SurveyCommand::Stop(tx))).await??)
    }

    /// Queue `node` to be asked for its peers from the given page indices
    /// (`surveytopologytimesliced`); the first batch of requests goes at once, the next every
    /// `survey_request_period`. Refused while our survey is not reporting, for ourselves,
    /// for an entry already queued, and past the backlog's bound.
    pub async fn survey_topology(
        &self,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> Result<(), OverlayError> {
        Ok(self
            .call(|reply| Command::Survey(SurveyCommand::Topology { node, inbound_index, outbound_index, reply }))
            .await??)
    }

    /// What our surveys learned (`getsurveyresult`): each answering node's data and its
    /// peers over every page received, the nodes whose answer did not open, the backlog.
    pub async fn survey_results(&self) -> Result<SurveyResults, OverlayError> {
        self.call(|tx| Command::Survey(SurveyCommand::Results(tx))).await
    }
}
