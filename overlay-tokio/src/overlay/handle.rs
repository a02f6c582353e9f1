//! [`Overlay`] for [`OverlayManager`]: the program's view of a running overlay, shared
//! with the mio driver's manager.

use super::OverlayManager;
use overlay_host::{
    ConnectError, NodeInfo, Overlay, OverlayConfig, OverlayError, OverlaySnapshot, PeerInfo, PeersReport,
};
use overlay_node::survey::SurveyResults;
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{NodeId, PeerAddress};
use std::future::Future;
use std::net::SocketAddr;

impl Overlay for OverlayManager {
    fn node_id(&self) -> NodeId {
        OverlayManager::node_id(self)
    }

    fn config(&self) -> &OverlayConfig {
        OverlayManager::config(self)
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        OverlayManager::local_addr(self)
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        OverlayManager::peer_infos(self)
    }

    fn connect(&self, address: &PeerAddress) -> impl Future<Output = Result<NodeId, ConnectError>> + Send {
        OverlayManager::connect(self, address)
    }

    fn disconnect(&self, peer: &NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::disconnect(self, peer)
    }

    fn ban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::ban_peer(self, peer)
    }

    fn unban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::unban_peer(self, peer)
    }

    fn bans(&self) -> impl Future<Output = Result<Vec<NodeId>, OverlayError>> + Send {
        OverlayManager::bans(self)
    }

    fn metrics(&self) -> impl Future<Output = Result<Vec<(&'static str, u64)>, OverlayError>> + Send {
        OverlayManager::metrics(self)
    }

    fn peers_report(&self) -> impl Future<Output = Result<PeersReport, OverlayError>> + Send {
        OverlayManager::peers_report(self)
    }

    fn info(&self) -> impl Future<Output = Result<NodeInfo, OverlayError>> + Send {
        OverlayManager::info(self)
    }

    fn snapshot(&self) -> impl Future<Output = Result<OverlaySnapshot, OverlayError>> + Send {
        OverlayManager::snapshot(self)
    }

    fn broadcast(&self, message: StellarMessage) -> impl Future<Output = Result<usize, OverlayError>> + Send {
        OverlayManager::broadcast(self, message)
    }

    fn start_survey_collecting(&self, nonce: u32) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::start_survey_collecting(self, nonce)
    }

    fn stop_survey_collecting(&self) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::stop_survey_collecting(self)
    }

    fn survey_topology(
        &self,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> impl Future<Output = Result<(), OverlayError>> + Send {
        OverlayManager::survey_topology(self, node, inbound_index, outbound_index)
    }

    fn survey_results(&self) -> impl Future<Output = Result<SurveyResults, OverlayError>> + Send {
        OverlayManager::survey_results(self)
    }

    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        OverlayManager::shutdown(self)
    }
}
