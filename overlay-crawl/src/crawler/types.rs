//! What the crawl and its driver pass each other: [`ConnId`], [`Output`], [`CrawlEvent`] and
//! [`Progress`].

#[cfg(doc)]
use super::Crawler;
use crate::results::Failure;
use overlay_proto::{NodeId, PeerAddress};

/// A crawl connection, unique for the crawl's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl core::fmt::Display for ConnId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to `address` (resolve it first if it is a name) for `conn`,
    /// then report [`Crawler::handle_connected`] or [`Crawler::handle_connect_failed`].
    Connect {
        /// The connection.
        conn: ConnId,
        /// Where to dial.
        address: PeerAddress,
    },
    /// Write `bytes` on `conn`, in order.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// Whole frames.
        bytes: Vec<u8>,
    },
    /// Close the socket of `conn` (or abandon its dial); nothing more will be written and
    /// nothing more it reports is looked at.
    Close {
        /// The connection.
        conn: ConnId,
    },
}

/// What the crawl reports as it goes, for logs and progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrawlEvent {
    /// A node answered at `address` (its HELLO arrived) and the visit is over.
    Found {
        /// Where.
        address: PeerAddress,
        /// Who.
        node: NodeId,
        /// Whether it accepted us.
        accepted: bool,
        /// Entries of its PEERS, if it sent one.
        peers: Option<usize>,
    },
    /// A visit failed (the node may have answered first, see [`Failure::node_id`]).
    Failed(Failure),
}

/// Counts for a progress line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Addresses learned.
    pub known: usize,
    /// Waiting for a dial.
    pub queued: usize,
    /// Connections open.
    pub in_flight: usize,
    /// Addresses dialed.
    pub dialed: usize,
    /// Nodes that answered.
    pub nodes: usize,
    /// Failed visits.
    pub failures: usize,
}
