//! [`OverlayBuilder`]: a driver's manager with a chosen application and peer store. Each
//! driver names it for its own manager (`overlay_tokio::OverlayBuilder`,
//! `overlay_mio::OverlayBuilder`) and implements [`Assemble`] to build from it.

use crate::app::relay;
use crate::{LocalNode, OverlayConfig, OverlayError};
use overlay_node::app::Application;
use overlay_node::discovery::PeerStore;
use std::marker::PhantomData;

/// A peer store chosen instead of `config.database`.
pub type BoxedStore = Box<dyn PeerStore + Send>;

/// How a driver's manager is made from a builder's choices.
pub trait Assemble: Sized {
    /// What an application outside the overlay reads the node's deliveries from.
    type Deliveries;

    /// The manager with `app` behind the node, on a thread of its own.
    fn assemble(
        config: OverlayConfig,
        local: LocalNode,
        app: Box<dyn Application + Send>,
        store: Option<BoxedStore>,
    ) -> Result<Self, OverlayError>;

    /// The manager and the node's deliveries, for an application outside the overlay.
    fn assemble_with_deliveries(
        config: OverlayConfig,
        local: LocalNode,
        store: Option<BoxedStore>,
    ) -> Result<(Self, Self::Deliveries), OverlayError>;
}

/// Builds a manager `M` with a chosen application and peer store; by default the relay
/// application (stellar-core's watcher behaviour) and the SQLite file of
/// `config.database`, or memory.
pub struct OverlayBuilder<M> {
    config: OverlayConfig,
    local: LocalNode,
    app: Option<Box<dyn Application + Send>>,
    store: Option<BoxedStore>,
    manager: PhantomData<fn() -> M>,
}

impl<M: Assemble> OverlayBuilder<M> {
    /// A builder with the defaults.
    pub fn new(config: OverlayConfig, local: LocalNode) -> Self {
        OverlayBuilder { config, local, app: None, store: None, manager: PhantomData }
    }

    /// Run `app` beside the node (on a thread of its own) instead of the relay.
    pub fn application(mut self, app: Box<dyn Application + Send>) -> Self {
        self.app = Some(app);
        self
    }

    /// Keep peer records and bans in `store` instead of `config.database`. It is read once
    /// at start and written behind the node, off its loop.
    pub fn peer_store(mut self, store: BoxedStore) -> Self {
        self.store = Some(store);
        self
    }

    /// The manager, with the relay (or the given application) behind the node.
    pub fn build(self) -> Result<M, OverlayError> {
        let app = self.app.unwrap_or_else(|| relay(&self.config, self.local.network_id));
        M::assemble(self.config, self.local, app, self.store)
    }

    /// The manager and the node's deliveries, for an application outside the overlay: it
    /// answers through the manager (`tx_verdict`, `scp_verdict`, `ledger_closed`, ...). An
    /// application given to [`application`](Self::application) is not used.
    pub fn build_with_deliveries(self) -> Result<(M, M::Deliveries), OverlayError> {
        M::assemble_with_deliveries(self.config, self.local, self.store)
    }
}

impl<M> core::fmt::Debug for OverlayBuilder<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OverlayBuilder")
            .field("node", &self.local.node_id())
            .field("application", &self.app.is_some())
            .field("peer_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}
