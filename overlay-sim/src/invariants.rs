//! The invariants every run checks, and the checks that read a node's own state.
//!
//! Checked by the world as it runs (see [`crate::world`]):
//! - **no panic**: a panic while handling an event ends the run with the event and seed;
//! - **capacity**: on every write, the flood messages (count and XDR bytes) a node has put
//!   on a connection stay within the SEND_MORE_EXTENDED grants delivered to it on that
//!   connection, as read on the wire by the [tap](crate::tap);
//! - **a dropped peer never sends again**: no write on a connection after the node closed
//!   it, and after the node reported it disconnected only the flush of what was already
//!   sealed (never a flood message);
//! - **no echo**: a node never sends a transaction back on the connection it came in on;
//! - **honest peers are not blamed**: over a connection whose bytes no fault and no
//!   misbehaving node touched, no node drops its peer for a protocol error (framing, XDR,
//!   MAC, flow control, message order);
//! - **delivery**: every flooded message reaches every honest node that stayed connected to
//!   its origin (through honest nodes and connections up on both ends, across links that
//!   were not cut or partitioned) from the broadcast until the deadline; every tx-set fetch
//!   between two such nodes completes. A connection stops counting from the write in which
//!   the link corrupted a record mark's length: the receiver's framing is then out of step,
//!   and with a longer announced body (up to 16 MiB is legal after authentication, §1.2)
//!   it waits for bytes that never make a valid frame while both nodes keep the connection
//!   open, so messages across it are lost until a timeout drops it, as in stellar-core;
//! - **timers advance**: a node's timer does not fire again and again at one instant;
//! - **the peer database persists**: when a node stops and at the end, the store the world
//!   rebuilt by applying the node's `Output::Store` changes in order (and starts the node's
//!   next incarnation from) equals the node's own view of its records and bans.
//!
//! In the consensus-relay scenario (see [`crate::consensus`] and `world::consensus`), also:
//! - **(a) envelopes reach validators**: every envelope a validator broadcasts is ready
//!   (every item it references held) at every other validator's application within the
//!   deadline, unless one of them was down or cut off from the other through running nodes;
//! - **(b) relays flood only what they can serve**: a relay never writes an SCP_MESSAGE
//!   unless its node holds every tx set and the quorum set the statement references (read
//!   on the wire, checked against `Node::holds_tx_set` / `holds_quorum_set`);
//! - **(c) relays serve what they flooded**: a GET_TX_SET or GET_SCP_QUORUMSET a validator
//!   writes to a relay for an item of an envelope the relay has flooded is answered with the
//!   item within 3 s, and a relay never answers DONT_HAVE for such an item.
//!
//! In the crawl scenario (see [`crate::crawl`]), also: every node reachable from the crawl's
//! seeds that stayed up throughout is found, and no node drops the crawler for a protocol
//! error.
//!
//! Checked on every node every `check_interval_ms` and at the end ([`check_node`]): flow
//! control's own invariants, used credit within granted credit, and every queue and map
//! within its bound (Floodgate, pull-mode queues and histories, demand history, fetch
//! trackers, held items and deliveries waiting for a verdict, outbound queues, unsent bytes,
//! connection slots, the in-memory application's transactions).

use crate::network::NodeIndex;
use overlay_node::Node;

/// A node as simulated: the real node; its application runs beside it in the world.
pub type SimulatedNode = Node;

/// What broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// A node sent flood messages past the capacity its peer granted.
    #[error(
        "node {node} sent {sent_msgs} flood messages ({sent_bytes} bytes) on connection {conn} to node {peer} \
         but was granted {granted_msgs} ({granted_bytes} bytes)"
    )]
    SendPastCapacity {
        /// The sender.
        node: NodeIndex,
        /// The receiver.
        peer: NodeIndex,
        /// The simulator's connection id.
        conn: u64,
        /// Flood messages written.
        sent_msgs: u64,
        /// Their XDR bytes.
        sent_bytes: u64,
        /// Messages granted and delivered.
        granted_msgs: u64,
        /// Bytes granted and delivered.
        granted_bytes: u64,
    },
    /// A node wrote on a connection it had closed, or never had.
    #[error("node {node} wrote on its connection #{conn_id} after closing it (or without opening it)")]
    TransmitAfterClose {
        /// The writer.
        node: NodeIndex,
        /// The node's connection id.
        conn_id: u64,
    },
    /// A node gave a write batch that its connection's writer could not seal (not whole
    /// frames), once the writer was taken out (`World::take_connection_work`).
    #[error("node {node} gave connection #{conn_id} a write batch its writer cannot seal")]
    UnsealableTransmit {
        /// The writer.
        node: NodeIndex,
        /// The node's connection id.
        conn_id: u64,
    },
    /// A node wrote before the connection was up.
    #[error("node {node} wrote on its connection #{conn_id} before it was connected")]
    TransmitBeforeConnect {
        /// The writer.
        node: NodeIndex,
        /// The node's connection id.
        conn_id: u64,
    },
    /// A node sent a flood message to a peer it had dropped.
    #[error("node {node} sent a {message_type} on its connection #{conn_id} after dropping the peer")]
    FloodAfterDrop {
        /// The writer.
        node: NodeIndex,
        /// The node's connection id.
        conn_id: u64,
        /// The message type.
        message_type: &'static str,
    },
    /// A node sent a transaction back on the connection it came from.
    #[error("node {node} sent a transaction back to node {peer}, which had sent it on the same connection")]
    Echo {
        /// The node.
        node: NodeIndex,
        /// The peer it came from.
        peer: NodeIndex,
    },
    /// A flooded message did not reach a node that stayed connected to its origin.
    #[error(
        "{kind} #{message} broadcast by node {origin} at {at_ms} ms did not reach node {node} within \
         {deadline_ms} ms although both stayed connected"
    )]
    NotDelivered {
        /// "transaction" or "scp".
        kind: &'static str,
        /// The simulator's message number.
        message: u64,
        /// Where it was broadcast.
        origin: NodeIndex,
        /// When, in ms since the start.
        at_ms: f64,
        /// The node it did not reach.
        node: NodeIndex,
        /// The deadline.
        deadline_ms: u64,
    },
    /// A tx-set fetch between connected nodes did not complete.
    #[error(
        "node {node} did not fetch the tx set of node {holder} within {deadline_ms} ms although both stayed connected"
    )]
    FetchNotDone {
        /// The fetching node.
        node: NodeIndex,
        /// The node that holds the set.
        holder: NodeIndex,
        /// The deadline.
        deadline_ms: u64,
    },
    /// A queue or map passed its bound, or a connection count its limit.
    #[error("node {node}: {what} is {value}, over its bound {bound}")]
    BoundExceeded {
        /// The node.
        node: NodeIndex,
        /// What.
        what: &'static str,
        /// Its size.
        value: u64,
        /// The bound.
        bound: u64,
    },
    /// Flow control's own bookkeeping is inconsistent.
    #[error("node {node}, connection #{conn_id}: flow control: {detail}")]
    FlowControl {
        /// The node.
        node: NodeIndex,
        /// The node's connection id.
        conn_id: u64,
        /// What is wrong.
        detail: &'static str,
    },
    /// A node dropped an honest peer for breaking the protocol over a connection no fault
    /// touched.
    #[error("node {node} dropped honest node {peer} for a protocol error ({reason}) on a clean connection")]
    HonestPeerBlamed {
        /// The node that dropped.
        node: NodeIndex,
        /// The honest peer.
        peer: NodeIndex,
        /// The reason it gave.
        reason: String,
    },
    /// The peer database the driver rebuilt from a node's [`StoreChange`] outputs is not the
    /// node's own view of it.
    ///
    /// [`StoreChange`]: overlay_node::discovery::StoreChange
    #[error("node {node}: the peer database rebuilt from its changes ({persisted} records) is not its own ({records})")]
    StoreDiverged {
        /// The node.
        node: NodeIndex,
        /// Records the node holds.
        records: usize,
        /// Records rebuilt from its changes.
        persisted: usize,
    },
    /// An envelope of a validator did not become ready at another validator's application
    /// in time although both stayed connected through running nodes (consensus-relay (a)).
    #[error(
        "{statement} of validator {author} for slot {slot} was not ready at validator {node}'s application \
         within {deadline_ms} ms ({reason}) although both stayed connected"
    )]
    EnvelopeNotDelivered {
        /// NOMINATE, PREPARE, CONFIRM or EXTERNALIZE.
        statement: &'static str,
        /// Its slot.
        slot: u64,
        /// Its author.
        author: NodeIndex,
        /// The validator it did not reach.
        node: NodeIndex,
        /// What that validator's application made of it.
        reason: &'static str,
        /// The deadline.
        deadline_ms: u64,
    },
    /// A relay wrote an SCP message whose tx set or quorum set its node does not hold
    /// (consensus-relay (b)).
    #[error(
        "relay {relay} sent {statement} of validator {author} for slot {slot} to node {peer} without holding \
         its {item} {hash}…"
    )]
    RelayFloodedUnheld {
        /// The relay.
        relay: NodeIndex,
        /// The peer it wrote to.
        peer: NodeIndex,
        /// The statement.
        statement: &'static str,
        /// Its slot.
        slot: u64,
        /// Its author.
        author: NodeIndex,
        /// "tx set" or "quorum set".
        item: &'static str,
        /// The item's hash, first bytes in hex.
        hash: String,
    },
    /// A relay answered DONT_HAVE to a validator for an item of an envelope it had flooded
    /// (consensus-relay (c)).
    #[error(
        "relay {relay} answered DONT_HAVE to validator {validator} for the {item} {hash}… of an envelope it had flooded"
    )]
    RelayDontHaveAfterFlood {
        /// The relay.
        relay: NodeIndex,
        /// The validator.
        validator: NodeIndex,
        /// "tx set" or "quorum set".
        item: &'static str,
        /// The item's hash, first bytes in hex.
        hash: String,
    },
    /// A relay did not answer a validator's request for an item of an envelope it had
    /// flooded (consensus-relay (c)).
    #[error(
        "relay {relay} did not answer validator {validator}'s request for the {item} {hash}… of an envelope it had \
         flooded within {deadline_ms} ms (meanwhile the relay ignored {ignored_queries} queries over its per-peer \
         rate limit, §8.6)"
    )]
    RequestNotAnswered {
        /// The relay.
        relay: NodeIndex,
        /// The validator.
        validator: NodeIndex,
        /// "tx set" or "quorum set".
        item: &'static str,
        /// The item's hash, first bytes in hex.
        hash: String,
        /// The deadline.
        deadline_ms: u64,
        /// Queries the relay's node ignored over its rate limit between the request and the
        /// deadline (§8.6: silence, not DONT_HAVE).
        ignored_queries: u64,
    },
    /// A node's timer fired again and again without time passing.
    #[error("node {node}'s timer fired {fires} times at one instant")]
    TimerStuck {
        /// The node.
        node: NodeIndex,
        /// How many times.
        fires: u32,
    },
    /// The crawl scenario: a node reachable from the crawl's seeds, up for the whole crawl,
    /// was not found (see [`crate::crawl`]).
    #[error("the crawl did not find node {node}, reachable from its seeds and up throughout: {why}")]
    CrawlMissed {
        /// The node.
        node: NodeIndex,
        /// What became of its address.
        why: String,
    },
    /// The crawl scenario: a node dropped the crawler for a protocol error (its links carry
    /// no damage, so the crawler broke the protocol).
    #[error("node {node} dropped the crawler for a protocol error: {reason}")]
    CrawlerBlamed {
        /// The node.
        node: NodeIndex,
        /// The reason it gave.
        reason: String,
    },
}

/// A size within its bound, or [`Violation::BoundExceeded`].
pub fn bound(node: NodeIndex, what: &'static str, value: usize, max: usize) -> Result<(), Violation> {
    if value > max {
        return Err(Violation::BoundExceeded { node, what, value: value as u64, bound: max as u64 });
    }
    Ok(())
}

/// Bound of the pull-mode output queue (`4 × PEERS_MAX` in overlay-flood).
const PULL_OUTBOX_MAX: usize = 4 * overlay_flood::config::PEERS_MAX;

/// Check one node's own state: its flow control and every bound. Returns the number of
/// checks made.
pub fn check_node(index: NodeIndex, node: &SimulatedNode) -> Result<u64, Violation> {
    let mut checks = 0u64;
    let config = node.config();
    let fg = node.floodgate().stats();
    bound(index, "Floodgate records", fg.entries, fg.entries_max)?;
    checks += 1;

    let pull = node.pull_mode();
    let ledger = pull.ledger_limits();
    let incoming_max = ledger.incoming_advert_limit(&config.flood);
    for p in pull.peers() {
        bound(index, "incoming advert queue", pull.incoming_len(&p), incoming_max)?;
        bound(index, "outgoing advert batch", pull.outgoing_len(&p), overlay_flood::config::TX_HASHES_PER_MESSAGE_MAX)?;
        bound(index, "advert history", pull.history_len(&p), config.flood.advert_history_entries_max)?;
        checks += 3;
    }
    bound(index, "pull-mode peers", pull.peers().count(), overlay_flood::config::PEERS_MAX)?;
    bound(index, "demand history", pull.demands().len(), config.flood.demand_history_entries_max)?;
    bound(index, "pull-mode output queue", pull.pending_transmits(), PULL_OUTBOX_MAX)?;
    checks += 4;

    let sizes = node.sizes();
    let items = &config.items;
    bound(index, "fetch trackers (tx sets and quorum sets)", sizes.fetches, 2 * config.flood.fetch_trackers_max)?;
    bound(index, "held transactions", sizes.transactions, items.transactions_max)?;
    bound(index, "held transaction bytes", sizes.transaction_bytes, items.transaction_bytes_max)?;
    bound(index, "held tx sets", sizes.tx_sets, items.tx_sets_max)?;
    bound(index, "held quorum sets", sizes.quorum_sets, items.quorum_sets_max)?;
    bound(index, "held SCP envelopes", sizes.scp_envelopes, items.scp_envelopes_max)?;
    bound(index, "transactions waiting for a verdict", sizes.pending_transactions, items.pending_transactions_max)?;
    bound(index, "envelopes waiting for a verdict", sizes.pending_envelopes, items.pending_envelopes_max)?;
    checks += 8;

    let limits = node.limits();
    let (pending_in, pending_out, auth_in, auth_out) = node.connection_counts();
    bound(index, "authenticated inbound peers", auth_in, limits.max_inbound)?;
    bound(index, "authenticated outbound peers", auth_out, limits.max_outbound)?;
    bound(index, "pending outbound connections", pending_out, limits.max_outbound_pending)?;
    bound(
        index,
        "pending inbound connections",
        pending_in,
        limits.max_inbound_pending + overlay_node::config::POSSIBLY_PREFERRED_EXTRA,
    )?;
    checks += 4;

    let queue_max = config.peer.flow.queue_hard_limit_msgs;
    for (conn, _role, peer) in node.connections() {
        let Some(peer) = peer else { continue };
        if peer.is_closed() {
            continue;
        }
        let flow_err = |detail| Violation::FlowControl { node: index, conn_id: conn.0, detail };
        peer.flow().check_invariants().map_err(flow_err)?;
        let s = peer.flow_stats();
        if s.outbound.used_msgs_total > s.outbound.granted_msgs_total {
            return Err(flow_err("more messages charged than granted"));
        }
        if s.outbound.used_bytes_total > s.outbound.granted_bytes_total {
            return Err(flow_err("more bytes charged than granted"));
        }
        if s.local.flood_available_msgs > s.local.flood_limit_msgs
            || s.local.flood_available_bytes > s.local.flood_limit_bytes
        {
            return Err(flow_err("more reading capacity available than the limit"));
        }
        for q in &s.queues {
            bound(index, "outbound queue", q.len_msgs, queue_max)?;
        }
        bound(index, "unsent bytes of a peer", peer.unsent_bytes(), config.peer.max_unsent_bytes)?;
        checks += 9;
    }
    Ok(checks)
}
