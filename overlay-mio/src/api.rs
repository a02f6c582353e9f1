//! The operations of [`OverlayManager`], each a job for the loop. Every operation is
//! written once, as a [`Pending`] answer: the inherent method waits for it on the caller's
//! thread; the [`Overlay`](overlay_host::Overlay) implementation awaits it.

use crate::driver::Driver;
use crate::manager::OverlayManager;
use crate::queue::Receiver;
use overlay_host::clock::now;
use overlay_host::{NodeInfo, OverlayError, OverlaySnapshot, PeersReport};
use overlay_node::app::{AppInput, ScpVerdict, TxVerdict};
use overlay_node::survey::SurveyResults;
use overlay_node::{LedgerState, NodeSizes};
use overlay_proto::xdr::{ScpEnvelope, ScpQuorumSet, StellarMessage};
use overlay_proto::{Hash256, NodeId};
use std::sync::Arc;

/// An answer the loop will give: `R` as it comes, `T` once mapped.
pub(crate) struct Pending<R, T> {
    rx: Result<Receiver<R>, OverlayError>,
    map: fn(R) -> Result<T, OverlayError>,
}

impl<R: Send, T> Pending<R, T> {
    /// Wait for it on this thread.
    pub(crate) fn wait(self) -> Result<T, OverlayError> {
        (self.map)(self.rx?.recv().ok_or(OverlayError::NotRunning)?)
    }

    /// Wait for it as a future.
    pub(crate) async fn resolve(self) -> Result<T, OverlayError> {
        let mut rx = self.rx?;
        (self.map)(rx.recv_async().await.ok_or(OverlayError::NotRunning)?)
    }
}

/// The node's metrics with their stellar-core names.
type Metrics = Vec<(&'static str, u64)>;

fn same<T>(t: T) -> Result<T, OverlayError> {
    Ok(t)
}

fn flat<T, E: Into<OverlayError>>(r: Result<T, E>) -> Result<T, OverlayError> {
    r.map_err(Into::into)
}

impl OverlayManager {
    fn pending<R: Send + 'static, T>(
        &self,
        f: impl FnOnce(&mut Driver) -> R + Send + 'static,
        map: fn(R) -> Result<T, OverlayError>,
    ) -> Pending<R, T> {
        Pending { rx: self.submit(f), map }
    }

    pub(crate) fn op_broadcast(&self, m: StellarMessage) -> Pending<Result<usize, overlay_node::NodeError>, usize> {
        self.pending(move |d| d.node.broadcast(now(), m), flat)
    }

    pub(crate) fn op_disconnect(&self, p: NodeId) -> Pending<Result<(), overlay_node::NodeError>, ()> {
        self.pending(move |d| d.node.disconnect(now(), p), flat)
    }

    pub(crate) fn op_ban(&self, p: NodeId) -> Pending<Result<(), overlay_node::discovery::StoreError>, ()> {
        self.pending(move |d| d.node.ban_and_drop(now(), p), flat)
    }

    pub(crate) fn op_unban(&self, p: NodeId) -> Pending<Result<(), overlay_node::discovery::StoreError>, ()> {
        self.pending(move |d| d.node.unban(&p), flat)
    }

    pub(crate) fn op_bans(&self) -> Pending<Vec<NodeId>, Vec<NodeId>> {
        self.pending(|d| d.node.bans(), same)
    }

    pub(crate) fn op_metrics(&self) -> Pending<Metrics, Metrics> {
        self.pending(|d| d.node.metrics(), same)
    }

    pub(crate) fn op_peers(&self) -> Pending<PeersReport, PeersReport> {
        self.pending(|d| d.peers_report(), same)
    }

    pub(crate) fn op_info(&self) -> Pending<NodeInfo, NodeInfo> {
        self.pending(|d| d.info(), same)
    }

    pub(crate) fn op_snapshot(&self) -> Pending<OverlaySnapshot, OverlaySnapshot> {
        self.pending(|d| d.snapshot(), same)
    }

    pub(crate) fn op_survey_start(&self, nonce: u32) -> Pending<Result<(), overlay_node::survey::SurveyError>, ()> {
        self.pending(move |d| d.node.start_survey_collecting(now(), nonce), flat)
    }

    pub(crate) fn op_survey_stop(&self) -> Pending<Result<(), overlay_node::survey::SurveyError>, ()> {
        self.pending(|d| d.node.stop_survey_collecting(now()), flat)
    }

    pub(crate) fn op_survey_topology(
        &self,
        node: NodeId,
        inbound: u32,
        outbound: u32,
    ) -> Pending<Result<(), overlay_node::survey::SurveyError>, ()> {
        self.pending(move |d| d.node.survey_topology(now(), node, inbound, outbound), flat)
    }

    pub(crate) fn op_survey_results(&self) -> Pending<SurveyResults, SurveyResults> {
        self.pending(|d| d.node.survey_results(), same)
    }

    pub(crate) fn op_app(&self, input: AppInput) -> Pending<Result<(), overlay_node::NodeError>, ()> {
        self.pending(move |d| d.node.handle_app(now(), input), flat)
    }

    /// Flood a message of ours: a transaction is advertised (pull mode), an SCP envelope
    /// pushed, a survey message sent on. Returns the number of peers newly told.
    pub fn broadcast(&self, message: StellarMessage) -> Result<usize, OverlayError> {
        self.op_broadcast(message).wait()
    }

    /// Send a message to one authenticated peer. HELLO, AUTH, SEND_MORE,
    /// SEND_MORE_EXTENDED and ERROR are refused: they belong to the connection.
    pub fn send_to(&self, peer: &NodeId, message: StellarMessage) -> Result<(), OverlayError> {
        let peer = *peer;
        self.pending(move |d| d.node.send_to(now(), peer, &message), flat).wait()
    }

    /// Send messages to one authenticated peer, in order, in one round trip to the loop (a
    /// submitter's batch). Stops at the first message refused; returns how many were taken.
    pub fn send_many_to(&self, peer: &NodeId, messages: Vec<StellarMessage>) -> Result<usize, OverlayError> {
        let peer = *peer;
        self.pending(move |d| d.node.send_many_to(now(), peer, &messages), flat).wait()
    }

    /// Ask every authenticated peer for its SCP state from `ledger_seq`.
    pub fn request_scp_state(&self, ledger_seq: u32) -> Result<(), OverlayError> {
        self.pending(move |d| d.node.request_scp_state(now(), ledger_seq), same).wait()
    }

    /// Drop an authenticated peer with ERR_MISC "dropped by user".
    pub fn disconnect(&self, peer: &NodeId) -> Result<(), OverlayError> {
        self.op_disconnect(*peer).wait()
    }

    /// Drop a peer if connected and ban it; the ban is stored and survives restarts.
    pub fn ban_peer(&self, peer: NodeId) -> Result<(), OverlayError> {
        self.op_ban(peer).wait()
    }

    /// Lift a ban.
    pub fn unban_peer(&self, peer: NodeId) -> Result<(), OverlayError> {
        self.op_unban(peer).wait()
    }

    /// The banned NodeIDs.
    pub fn bans(&self) -> Result<Vec<NodeId>, OverlayError> {
        self.op_bans().wait()
    }

    /// The node's metrics with their stellar-core names.
    pub fn metrics(&self) -> Result<Vec<(&'static str, u64)>, OverlayError> {
        self.op_metrics().wait()
    }

    /// Every connection, pending and authenticated, with its flow-control state.
    pub fn peers_report(&self) -> Result<PeersReport, OverlayError> {
        self.op_peers().wait()
    }

    /// The overlay part of stellar-core's `info` command.
    pub fn info(&self) -> Result<NodeInfo, OverlayError> {
        self.op_info().wait()
    }

    /// Every measurement: the node's, and the driver's processing times.
    pub fn snapshot(&self) -> Result<OverlaySnapshot, OverlayError> {
        self.op_snapshot().wait()
    }

    /// What the node holds and what waits for the application.
    pub fn sizes(&self) -> Result<NodeSizes, OverlayError> {
        self.pending(|d| d.node.sizes(), same).wait()
    }

    /// The ledger the node works from.
    pub fn ledger(&self) -> Result<LedgerState, OverlayError> {
        self.pending(|d| *d.node.ledger(), same).wait()
    }

    /// An input for the node as from its application (see [`AppInput`]).
    pub fn app_input(&self, input: AppInput) -> Result<(), OverlayError> {
        self.op_app(input).wait()
    }

    /// The verdict on a delivered transaction.
    pub fn tx_verdict(&self, hash: Hash256, verdict: TxVerdict) -> Result<(), OverlayError> {
        self.app_input(AppInput::TxVerdict { hash, verdict })
    }

    /// The verdict on a delivered SCP envelope.
    pub fn scp_verdict(&self, id: Hash256, verdict: ScpVerdict) -> Result<(), OverlayError> {
        self.app_input(AppInput::ScpVerdict { id, verdict })
    }

    /// A ledger closed: new limits, and records older than the window cleared.
    pub fn ledger_closed(&self, ledger: LedgerState) -> Result<(), OverlayError> {
        self.app_input(AppInput::Ledger(ledger))
    }

    /// The node went in or out of sync.
    pub fn set_synced(&self, synced: bool) -> Result<(), OverlayError> {
        let set = move |d: &mut Driver| {
            let ledger = LedgerState { synced, ..*d.node.ledger() };
            let _ = d.node.handle_app(now(), AppInput::Ledger(ledger));
        };
        self.pending(set, same).wait()
    }

    /// Serve this tx set (TX_SET or GENERALIZED_TX_SET) to peers that ask.
    pub fn hold_tx_set(&self, tx_set: StellarMessage) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldTxSet(Arc::new(tx_set)))
    }

    /// Serve this quorum set to peers that ask.
    pub fn hold_quorum_set(&self, quorum_set: ScpQuorumSet) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldQuorumSet(Arc::new(quorum_set)))
    }

    /// Include this envelope in the SCP state served for GET_SCP_STATE.
    pub fn hold_scp_envelope(&self, envelope: ScpEnvelope) -> Result<(), OverlayError> {
        self.app_input(AppInput::HoldScpEnvelope(Arc::new(envelope)))
    }

    /// Start a survey of ours with `nonce` (stellar-core's `startsurveycollecting`).
    pub fn start_survey_collecting(&self, nonce: u32) -> Result<(), OverlayError> {
        self.op_survey_start(nonce).wait()
    }

    /// Stop collecting our survey (`stopsurveycollecting`); the reporting phase begins.
    pub fn stop_survey_collecting(&self) -> Result<(), OverlayError> {
        self.op_survey_stop().wait()
    }

    /// Queue `node` to be asked for its peers from these page indices
    /// (`surveytopologytimesliced`).
    pub fn survey_topology(&self, node: NodeId, inbound_index: u32, outbound_index: u32) -> Result<(), OverlayError> {
        self.op_survey_topology(node, inbound_index, outbound_index).wait()
    }

    /// What our surveys learned (`getsurveyresult`).
    pub fn survey_results(&self) -> Result<SurveyResults, OverlayError> {
        self.op_survey_results().wait()
    }
}
