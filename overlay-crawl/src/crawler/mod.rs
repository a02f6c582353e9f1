//! [`Crawler`]: the crawl as one sans-IO state machine. See the [crate docs](crate) for the
//! drain contract.

mod create;
mod dial;
mod drain;
mod inputs;
mod outputs;
mod types;
mod visit;

pub use types::{ConnId, CrawlEvent, Output, Progress};

use crate::config::CrawlConfig;
use crate::frontier::Frontier;
use crate::results::{Failure, NodeReport, StopReason};
use overlay_auth::LocalAuth;
use overlay_node::PeerConfig;
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use visit::Visit;

/// The crawl. See the [crate docs](crate) for the drain contract.
pub struct Crawler {
    config: CrawlConfig,
    peer_config: Arc<PeerConfig>,
    auth: LocalAuth,
    listening_port: u16,
    rng: ChaCha8Rng,
    started: Timestamp,
    now: Timestamp,
    now_unix: u64,
    seeds: Vec<PeerAddress>,
    frontier: Frontier,
    /// Open connections. Bounded by `max_in_flight`.
    visits: BTreeMap<ConnId, Visit>,
    next_conn: u64,
    dialed: usize,
    /// Our own addresses: each local IP a connection showed, with our listening port.
    /// Bounded by the number of connections (in practice one or two entries).
    own: BTreeSet<PeerAddress>,
    /// Nodes that answered. Bounded by `max_nodes` (one per dial at most).
    nodes: BTreeMap<NodeId, NodeReport>,
    /// Bounded by 100 entries (the XDR bound of PEERS) per node.
    edges: BTreeSet<(NodeId, PeerAddress)>,
    /// Failed visits, in order. Bounded by `max_nodes` (one per dial at most); addresses
    /// not dialed are added when the crawl ends.
    failures: Vec<Failure>,
    invalid_entries: u64,
    stopped: Option<StopReason>,
    finished_at: Option<Timestamp>,
    /// Drained by the driver after every input; one input adds at most the transmits and
    /// closes of the connections it touched and the dials it made room for.
    outputs: VecDeque<Output>,
    /// At most one per visit ended since the driver last drained them.
    events: VecDeque<CrawlEvent>,
    dirty: BTreeSet<ConnId>,
}

impl core::fmt::Debug for Crawler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Crawler")
            .field("node_id", &self.auth.node_id())
            .field("progress", &self.progress())
            .field("done", &self.is_done())
            .finish_non_exhaustive()
    }
}
