//! A crawler of the Stellar overlay network, as one sans-IO state machine.
//!
//! Deterministic protocol logic with no networking, no OS time and no global randomness:
//! [`Crawler`] decides whom to dial next (bounded concurrency, a bound on dials, polite
//! pacing per host, timeouts), runs one [`overlay_node::Peer`] per connection as the
//! initiator (the handshake, MAC and flow control are the node's own code), records each
//! node's HELLO (key, versions, version string, listening port), the PEERS it sends (an
//! acceptor sends them to the initiator right after its AUTH, PROTOCOL.md §10.4) and whether
//! it accepted us (SEND_MORE_EXTENDED, or an ERROR such as `ERR_LOAD (peer rejected)`), and
//! follows the addresses it learns. Drivers (the `stellar-overlay crawl` program over tokio,
//! the simulator's crawl scenario) carry out the dials and writes and feed back what happens.
//! The result is a [`CrawlReport`]: nodes, addresses, edges (from PEERS) and failures with
//! their reasons, as JSON, a Graphviz picture ([`CrawlReport::to_dot`]) or a table
//! ([`CrawlReport::summary_table`]).
//!
//! It does **not** listen (nodes that try to dial the address we advertise are refused),
//! resolve names (the driver does, on [`Output::Connect`]), relay or answer anything (a visit
//! ends as soon as the node's verdict is known), or run a survey (PROTOCOL.md §12: that asks
//! nodes about their own connections; a crawl sees only what PEERS say nodes know).
//!
//! # Drain contract
//!
//! The driver feeds inputs, each with `now` (never going backwards):
//! [`handle_connected`](Crawler::handle_connected), [`handle_connect_failed`](Crawler::handle_connect_failed),
//! [`handle_bytes`](Crawler::handle_bytes), [`handle_socket_closed`](Crawler::handle_socket_closed),
//! [`handle_timeout`](Crawler::handle_timeout). After [`Crawler::new`] and after each input
//! it drains [`Crawler::poll_output`] until `None`:
//! - [`Output::Connect`]: dial the address, then report `handle_connected` (with our local IP
//!   on that connection, if known) or `handle_connect_failed`;
//! - [`Output::Transmit`]: write the bytes on that connection, in order;
//! - [`Output::Close`]: close the socket (after the writes before it), or abandon the dial;
//!   nothing more it reports on that connection matters;
//!
//! then drains [`Crawler::poll_event`] (for logs, optional), arms a timer for
//! [`Crawler::poll_timeout`] and calls [`Crawler::handle_timeout`] then. The crawl is over
//! when [`Crawler::is_done`]; [`Crawler::report`] is the map.
//!
//! ```
//! use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
//! use overlay_crawl::{CrawlConfig, Crawler, DialError, Output};
//! use overlay_proto::{Network, Timestamp};
//!
//! let auth = LocalAuth::new(NodeIdentity::from_seed([1; 32]), Network::Testnet.id(), [2; 32], HelloParams::default());
//! let seed = "127.0.0.1:11625".parse().unwrap();
//! let mut crawler = Crawler::new(CrawlConfig::default(), auth, [seed], 7, Timestamp::ZERO);
//! let Some(Output::Connect { conn, .. }) = crawler.poll_output() else { unreachable!() };
//! crawler.handle_connect_failed(Timestamp::from_millis(1), conn, DialError::Refused("connection refused".into()));
//! assert!(crawler.is_done());
//! let report = crawler.report();
//! assert_eq!(report.failures[0].kind.name(), "refused");
//! ```
//!
//! # Modules
//!
//! | module | job |
//! |---|---|
//! | `config` | [`CrawlConfig`]: bounds, pacing, timeouts |
//! | `frontier` | the addresses known and the dial queue, per host, with pacing |
//! | `crawler` | [`Crawler`]: the visits (one `Peer` each), what they found |
//! | `results` | [`CrawlReport`] and its parts, as serialised to JSON |
//! | `render` | the DOT picture and the summary table |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config;
pub mod crawler;
mod frontier;
mod render;
pub mod results;

pub use config::CrawlConfig;
pub use crawler::{ConnId, CrawlEvent, Crawler, Output, Progress};
pub use results::{
    AddressReport, AddressStatus, CrawlReport, DialError, Edge, Failure, FailureKind, NodeReport, StopReason, Totals,
};
