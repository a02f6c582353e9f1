//! [`Overlay`]: the operations a program needs of a running overlay, whichever driver runs
//! it. `overlay_tokio::OverlayManager` and `overlay_mio::OverlayManager` implement it, so a
//! program, the admin endpoint or a test can be written once for both.

use crate::config::OverlayConfig;
use crate::error::{ConnectError, OverlayError};
use crate::events::{NodeInfo, OverlaySnapshot, PeerInfo, PeersReport};
use overlay_node::survey::SurveyResults;
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{NodeId, PeerAddress};
use std::future::Future;
use std::net::SocketAddr;

/// A running overlay, as a program drives it. Cheap to clone; every clone drives the same
/// node. Each operation's future needs no particular runtime (a driver without one answers
/// through its own wakers). The methods mean what the drivers' inherent methods of the
/// same names mean.
pub trait Overlay: Clone + Send + Sync + 'static {
    /// Our NodeID.
    fn node_id(&self) -> NodeId;

    /// The configuration.
    fn config(&self) -> &OverlayConfig;

    /// The address the listener is bound to, once started.
    fn local_addr(&self) -> Option<SocketAddr>;

    /// The authenticated peers: a snapshot at most a second old.
    fn peer_infos(&self) -> Vec<PeerInfo>;

    /// Dial a peer now (a host name is resolved first) and wait until it is authenticated
    /// and admitted us: its NodeID, or why not.
    fn connect(&self, address: &PeerAddress) -> impl Future<Output = Result<NodeId, ConnectError>> + Send;

    /// Drop an authenticated peer with ERR_MISC "dropped by user".
    fn disconnect(&self, peer: &NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// Drop a peer if connected and ban it; the ban is stored.
    fn ban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// Lift a ban.
    fn unban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// The banned NodeIDs.
    fn bans(&self) -> impl Future<Output = Result<Vec<NodeId>, OverlayError>> + Send;

    /// The node's metrics with their stellar-core names.
    fn metrics(&self) -> impl Future<Output = Result<Vec<(&'static str, u64)>, OverlayError>> + Send;

    /// Every connection, pending and authenticated.
    fn peers_report(&self) -> impl Future<Output = Result<PeersReport, OverlayError>> + Send;

    /// The overlay part of stellar-core's `info` command.
    fn info(&self) -> impl Future<Output = Result<NodeInfo, OverlayError>> + Send;

    /// Every measurement, the driver's processing times included.
    fn snapshot(&self) -> impl Future<Output = Result<OverlaySnapshot, OverlayError>> + Send;

    /// Flood a message of ours; the number of peers newly told.
    fn broadcast(&self, message: StellarMessage) -> impl Future<Output = Result<usize, OverlayError>> + Send;

    /// Start a survey of ours with `nonce` (`startsurveycollecting`).
    fn start_survey_collecting(&self, nonce: u32) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// Stop collecting our survey (`stopsurveycollecting`).
    fn stop_survey_collecting(&self) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// Queue `node` to be asked for its peers (`surveytopologytimesliced`).
    fn survey_topology(
        &self,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> impl Future<Output = Result<(), OverlayError>> + Send;

    /// What our surveys learned (`getsurveyresult`).
    fn survey_results(&self) -> impl Future<Output = Result<SurveyResults, OverlayError>> + Send;

    /// Drop every peer, flush, write the peer database, end every thread and task.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
