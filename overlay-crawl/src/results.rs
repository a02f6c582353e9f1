//! What a crawl found: [`CrawlReport`] (nodes, addresses, edges, failures) and the values it
//! is made of. Everything here serialises to the JSON that `stellar-overlay crawl --json`
//! writes; node ids are `G...` strkeys and addresses `IP:PORT` strings.

use overlay_auth::HelloFacts;
use overlay_proto::{NodeId, PeerAddress};
use serde::{Serialize, Serializer};

/// Why a dial could not open a TCP connection, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// The remote refused the connection (nothing listens there), with the system's text.
    Refused(String),
    /// The driver's own connect timeout fired first.
    TimedOut,
    /// Anything else: no route, a name that does not resolve, ... with the system's text.
    Unreachable(String),
}

/// Why the crawl stopped before it had dialed every address it learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The crawl's deadline (`--timeout`) passed.
    Deadline,
    /// `max_nodes` addresses had been dialed.
    MaxNodes,
}

impl StopReason {
    /// Words for a person.
    pub fn text(self) -> &'static str {
        match self {
            StopReason::Deadline => "crawl deadline reached",
            StopReason::MaxNodes => "max-nodes bound reached",
        }
    }
}

/// The kind of a failure, one per way a visit can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The TCP connection was refused.
    Refused,
    /// The TCP connection could not be made for another reason (no route, no such name).
    Unreachable,
    /// The TCP connection, the handshake or the whole crawl took too long.
    TimedOut,
    /// The handshake failed on our side, with stellar-core's reason (a certificate that
    /// does not verify, an incompatible overlay version, a MAC that does not match, ...).
    HandshakeFailed,
    /// The remote sent an ERROR: it refused us (`ERR_LOAD (peer rejected)`, `ERR_CONF (wrong
    /// network passphrase)`, ...).
    Rejected,
    /// The remote closed the connection without an ERROR before the visit was over.
    Closed,
    /// Never dialed: the crawl stopped first (deadline or max-nodes bound).
    NotDialed,
}

impl FailureKind {
    /// Its JSON name.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::Unreachable => "unreachable",
            FailureKind::TimedOut => "timed_out",
            FailureKind::HandshakeFailed => "handshake_failed",
            FailureKind::Rejected => "rejected",
            FailureKind::Closed => "closed",
            FailureKind::NotDialed => "not_dialed",
        }
    }
}

/// What the crawl knows of an address now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressStatus {
    /// Waiting for a dial.
    Queued,
    /// Being visited.
    Dialing,
    /// A node answered here (`dialed`), or it is the listening address a node gave in its
    /// HELLO (not dialed: it is the same node).
    Node {
        /// The node.
        node: NodeId,
        /// Whether the crawl dialed this address.
        dialed: bool,
    },
    /// The visit failed.
    Failed(FailureKind),
    /// Our own address (our IP as a connection showed it, with the listening port of our
    /// HELLO), which nodes learn from our HELLO and advertise to us in turn.
    Own,
    /// Never dialed: the crawl stopped first.
    NotDialed(StopReason),
}

/// One failed (or skipped) address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The address.
    #[serde(serialize_with = "display")]
    pub address: PeerAddress,
    /// What went wrong.
    pub kind: FailureKind,
    /// In stellar-core's words where there are some: `connection refused`, `ERR_LOAD (peer
    /// rejected)`, `failed to verify auth cert`, `handshake timed out`, ...
    pub reason: String,
    /// The node, if its HELLO arrived before the failure.
    #[serde(serialize_with = "display_opt")]
    pub node_id: Option<NodeId>,
}

/// A node that answered: its HELLO, where, and how the visit went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    /// Its NodeID.
    #[serde(serialize_with = "display")]
    pub node_id: NodeId,
    /// The addresses it answered at.
    #[serde(serialize_with = "display_vec")]
    pub addresses: Vec<PeerAddress>,
    /// HELLO `overlayVersion`.
    pub overlay_version: u32,
    /// HELLO `overlayMinVersion`.
    pub overlay_min_version: u32,
    /// HELLO `ledgerVersion`.
    pub ledger_version: u32,
    /// HELLO `versionStr`.
    pub version_str: String,
    /// HELLO `listeningPort`.
    pub listening_port: u16,
    /// Whether it accepted us: the handshake completed and it did not refuse us with an
    /// ERROR (it sent SEND_MORE_EXTENDED, or nothing at all within the PEERS wait).
    pub accepted: bool,
    /// How the visit ended: `admitted` (SEND_MORE_EXTENDED arrived), `authenticated`
    /// (nothing more within the wait), or the ERROR or reason that ended it.
    pub verdict: String,
    /// Entries of the PEERS message it sent us; `None` if it sent none (a node that knows no
    /// address sends no PEERS, and one that refuses us may send none).
    pub peers: Option<usize>,
}

impl NodeReport {
    pub(crate) fn new(hello: &HelloFacts) -> Self {
        NodeReport {
            node_id: hello.node_id,
            addresses: Vec::new(),
            overlay_version: hello.overlay_version,
            overlay_min_version: hello.overlay_min_version,
            ledger_version: hello.ledger_version,
            version_str: hello.version_str.clone(),
            listening_port: hello.listening_port,
            accepted: false,
            verdict: String::new(),
            peers: None,
        }
    }
}

/// One address the crawl learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressReport {
    /// The address.
    #[serde(serialize_with = "display")]
    pub address: PeerAddress,
    /// `node` (a node answered here or gave it as its listening address), `failed`, `own`
    /// (ours, advertised back to us), `not_dialed`.
    pub status: &'static str,
    /// The node at this address.
    #[serde(serialize_with = "display_opt")]
    pub node_id: Option<NodeId>,
    /// Whether the crawl dialed it.
    pub dialed: bool,
    /// Where it was first learned: `seed`, `peers` (a node's PEERS) or `hello` (a node's
    /// listening port differs from the port it was dialed at).
    pub learned_from: &'static str,
    /// The node that first told us, for `peers` and `hello`.
    #[serde(serialize_with = "display_opt")]
    pub learned_from_node: Option<NodeId>,
    /// How many PEERS messages listed it.
    pub advertised: u32,
}

/// A node advertised an address in its PEERS.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    /// The node that sent PEERS.
    #[serde(serialize_with = "display")]
    pub from: NodeId,
    /// An address it listed.
    #[serde(serialize_with = "display")]
    pub to: PeerAddress,
    /// The node found at that address, if any.
    #[serde(serialize_with = "display_opt")]
    pub to_node: Option<NodeId>,
}

/// Counts over the whole crawl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Addresses learned (seeds included).
    pub addresses: usize,
    /// Addresses dialed.
    pub dialed: usize,
    /// Distinct nodes that answered with a HELLO.
    pub nodes: usize,
    /// Of those, nodes that accepted us.
    pub accepted: usize,
    /// Distinct (node, address) pairs from PEERS.
    pub edges: usize,
    /// Failed visits (skipped addresses not counted).
    pub failures: usize,
    /// Addresses not dialed because the crawl stopped.
    pub not_dialed: usize,
    /// New addresses forgotten past `max_addresses`.
    pub forgotten_addresses: u64,
    /// PEERS entries that were not addresses (port 0 or above 65535).
    pub invalid_peers_entries: u64,
}

/// The map of the network a crawl drew. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrawlReport {
    /// Where it started.
    #[serde(serialize_with = "display_vec")]
    pub seeds: Vec<PeerAddress>,
    /// From the start to the end (or to now, if still running), ms.
    pub elapsed_ms: u64,
    /// Whether every address learned was dialed.
    pub complete: bool,
    /// Why it stopped early, if it did.
    pub stopped_by: Option<StopReason>,
    /// Counts.
    pub totals: Totals,
    /// Every node that answered, in NodeID order.
    pub nodes: Vec<NodeReport>,
    /// Every address learned, in address order.
    pub addresses: Vec<AddressReport>,
    /// Every (node, advertised address) pair, in order.
    pub edges: Vec<Edge>,
    /// Every failed visit, then every address not dialed, in the order they happened.
    pub failures: Vec<Failure>,
}

impl CrawlReport {
    /// The node with this id.
    pub fn node(&self, id: &NodeId) -> Option<&NodeReport> {
        self.nodes.binary_search_by(|n| n.node_id.cmp(id)).ok().map(|i| &self.nodes[i])
    }
}

fn display<T: core::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn display_opt<T: core::fmt::Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn display_vec<T: core::fmt::Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}
