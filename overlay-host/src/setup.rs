//! Starting a node, as both drivers do it: check the configuration against the local node,
//! open and read the peer database and start its writer, build and start the [`Node`].
//! Everything here may block (the database is read from disk): a driver calls it before its
//! loop runs, or off its loop.

use crate::clock::{now, random_bytes, unix_now};
use crate::config::OverlayConfig;
use crate::error::OverlayError;
use crate::events::OverlayEvent;
use crate::local::LocalNode;
use crate::persist::{StoreWriter, WriterReport};
use overlay_auth::LocalAuth;
use overlay_node::app::AppInput;
use overlay_node::discovery::{MemoryStore, PeerStore};
use overlay_node::{Node, NodeConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Check `config` and that it names the network of `local` (if it names one).
pub fn validate(config: &OverlayConfig, local: &LocalNode) -> Result<(), OverlayError> {
    config.node_config()?;
    if config.network_id().is_some_and(|n| n != local.network_id) {
        return Err(OverlayError::Config {
            key: "network_passphrase (NETWORK_PASSPHRASE)",
            reason: "names another network than the local node's".into(),
        });
    }
    Ok(())
}

/// The peer store to use: `given`, else the SQLite file of `config.database` (opened now, so
/// that a corrupt, locked or read-only file is reported at once), else none (memory only).
pub fn store_for(
    config: &OverlayConfig,
    given: Option<Box<dyn PeerStore + Send>>,
) -> Result<Option<Box<dyn PeerStore + Send>>, OverlayError> {
    Ok(match (given, &config.database) {
        (Some(s), _) => Some(s),
        (None, Some(path)) => Some(Box::new(crate::store::SqliteStore::open(path)?)),
        (None, None) => None,
    })
}

/// Read the peer records and bans of `store` (blocking) and start its writer. A failed or
/// dropped write counts in `failures`, is logged, and is published as
/// [`OverlayEvent::StoreFailed`].
pub fn load_store(
    store: Option<Box<dyn PeerStore + Send>>,
    failures: Arc<AtomicU64>,
    publish: impl Fn(OverlayEvent) + Send + 'static,
) -> Result<(MemoryStore, Option<StoreWriter>), OverlayError> {
    let Some(store) = store else { return Ok((MemoryStore::new(), None)) };
    let view = overlay_node::discovery::load_view(&store)?;
    let max = 2 * (view.max_records() + view.max_bans()) as usize;
    let writer = StoreWriter::start(store, max, move |r| {
        failures.fetch_add(1, Ordering::Relaxed);
        let error = match r {
            WriterReport::Failed(e) => e,
            WriterReport::Dropped => "a change was not written".into(),
        };
        tracing::warn!(%error, "peer database");
        publish(OverlayEvent::StoreFailed { error });
    })
    .map_err(|e| OverlayError::Config { key: "peer database", reason: e.to_string() })?;
    Ok((view, Some(writer)))
}

/// The event for a change the writer's full queue dropped (see [`StoreWriter::push`]).
pub fn store_fell_behind() -> OverlayEvent {
    OverlayEvent::StoreFailed { error: "the peer database fell behind; a change was not written".into() }
}

/// Build and start the node: our HELLO advertises `node_config.peer_port`; keys, nonces and
/// the node's generator are seeded from the operating system; the configured transitive
/// quorum is handed to it.
pub fn start_node(
    config: &OverlayConfig,
    local: &LocalNode,
    node_config: NodeConfig,
    view: MemoryStore,
) -> Result<Node, OverlayError> {
    let mut hello = local.hello.clone();
    hello.listening_port = node_config.peer_port;
    let auth = LocalAuth::new(local.identity.clone(), local.network_id, random_bytes(), hello);
    let seed = u64::from_le_bytes(random_bytes());
    let mut node = Node::new(node_config, auth, view, seed, now());
    node.start(now(), unix_now());
    if !config.transitive_quorum.is_empty() {
        let quorum = config.transitive_quorum.iter().copied().collect();
        node.handle_app(now(), AppInput::TransitiveQuorum(quorum))?;
    }
    Ok(node)
}
