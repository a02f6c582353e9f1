//! `connect`, and the [`Overlay`] implementation: the manager's operations as futures that
//! need no runtime (the loop's answer wakes the task that awaits it).

use crate::driver::Command;
use crate::manager::OverlayManager;
use crate::queue::{self, Receiver};
use overlay_host::{
    ConnectError, NodeInfo, Overlay, OverlayConfig, OverlayError, OverlaySnapshot, PeerInfo, PeersReport,
};
use overlay_node::survey::SurveyResults;
use overlay_proto::xdr::StellarMessage;
use overlay_proto::{NodeId, PeerAddress};
use std::future::Future;
use std::net::SocketAddr;

type ConnectReply = Receiver<Result<NodeId, ConnectError>>;

impl OverlayManager {
    /// Queue a dial of the resolved `address`; the reply comes once the peer admitted us.
    fn dial(&self, address: PeerAddress) -> Result<ConnectReply, ConnectError> {
        let (tx, rx) = queue::reply();
        self.send(Command::Connect(address, tx))?;
        Ok(rx)
    }

    /// Dial a peer now (a host name is resolved first, on this thread) and wait until it is
    /// authenticated and admitted us: its NodeID, or why not.
    pub fn connect(&self, address: &PeerAddress) -> Result<NodeId, ConnectError> {
        let resolved = overlay_host::dns::resolve(&address.to_string())
            .ok_or_else(|| ConnectError::Unresolvable(address.to_string()))?;
        self.dial(resolved)?.recv().ok_or(ConnectError::Overlay(OverlayError::NotRunning))?
    }

    /// [`connect`](Self::connect) without blocking the caller: a host name is resolved on a
    /// thread of its own.
    fn connect_async(
        &self,
        address: &PeerAddress,
    ) -> impl Future<Output = Result<NodeId, ConnectError>> + Send + use<> {
        let (address, manager) = (address.clone(), self.clone());
        let reply: Result<ConnectReply, ConnectError> = if overlay_host::dns::needs_lookup(&address) {
            let (tx, rx) = queue::reply();
            let lookup = std::thread::Builder::new().name("overlay-connect".into()).spawn(move || {
                let dialed = match overlay_host::dns::resolve(&address.to_string()) {
                    Some(a) => manager.dial(a).and_then(|rx| rx.recv().ok_or(OverlayError::NotRunning.into())),
                    None => Err(ConnectError::Unresolvable(address.to_string())),
                };
                let flat = dialed.and_then(|r| r);
                let _ = tx.try_send(flat);
            });
            lookup.map(|_| rx).map_err(|e| ConnectError::Dropped(e.to_string()))
        } else {
            manager.dial(address)
        };
        async move { reply?.recv_async().await.ok_or(ConnectError::Overlay(OverlayError::NotRunning))? }
    }
}

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
        self.connect_async(address)
    }

    fn disconnect(&self, peer: &NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_disconnect(*peer).resolve()
    }

    fn ban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_ban(peer).resolve()
    }

    fn unban_peer(&self, peer: NodeId) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_unban(peer).resolve()
    }

    fn bans(&self) -> impl Future<Output = Result<Vec<NodeId>, OverlayError>> + Send {
        self.op_bans().resolve()
    }

    fn metrics(&self) -> impl Future<Output = Result<Vec<(&'static str, u64)>, OverlayError>> + Send {
        self.op_metrics().resolve()
    }

    fn peers_report(&self) -> impl Future<Output = Result<PeersReport, OverlayError>> + Send {
        self.op_peers().resolve()
    }

    fn info(&self) -> impl Future<Output = Result<NodeInfo, OverlayError>> + Send {
        self.op_info().resolve()
    }

    fn snapshot(&self) -> impl Future<Output = Result<OverlaySnapshot, OverlayError>> + Send {
        self.op_snapshot().resolve()
    }

    fn broadcast(&self, message: StellarMessage) -> impl Future<Output = Result<usize, OverlayError>> + Send {
        self.op_broadcast(message).resolve()
    }

    fn start_survey_collecting(&self, nonce: u32) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_survey_start(nonce).resolve()
    }

    fn stop_survey_collecting(&self) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_survey_stop().resolve()
    }

    fn survey_topology(
        &self,
        node: NodeId,
        inbound_index: u32,
        outbound_index: u32,
    ) -> impl Future<Output = Result<(), OverlayError>> + Send {
        self.op_survey_topology(node, inbound_index, outbound_index).resolve()
    }

    fn survey_results(&self) -> impl Future<Output = Result<SurveyResults, OverlayError>> + Send {
        self.op_survey_results().resolve()
    }

    /// Shut down on a thread of its own (joining the loop blocks), resolving when done.
    fn shutdown(&self) -> impl Future<Output = ()> + Send {
        let (tx, mut rx) = queue::reply::<()>();
        let manager = self.clone();
        let spawned = std::thread::Builder::new().name("overlay-shutdown".into()).spawn(move || {
            manager.shutdown();
            let _ = tx.try_send(());
        });
        async move {
            if spawned.is_ok() {
                let _ = rx.recv_async().await;
            }
        }
    }
}
