//! Deterministic simulation of whole Stellar overlay networks in virtual time.
//!
//! `overlay-sim` runs many [`overlay_node::Node`]s in one process, on one virtual clock, with
//! one seeded generator, so that a run is a pure function of its [`Scenario`] and seed:
//! rerun a seed and every byte, every timer and every random choice comes out the same.
//! Each node is the real sans-IO node with the in-memory application; the simulator is a
//! driver that holds **no protocol logic**: it carries bytes over simulated links, fires
//! timers, plays the scenario (load, churn, partitions, misbehaving peers) and checks
//! invariants on what the nodes do.
//!
//! It does **not** open sockets, read a clock, spawn threads, or judge anything a node
//! decides beyond the [invariants]; it does not run real consensus (in the flooding
//! scenarios SCP messages and tx sets are synthetic and unsigned; in the consensus-relay
//! scenario validators sign statements about their own tx sets, but what they say is a
//! function of the slot, see [`consensus`]) nor the application's validation of
//! transactions.
//!
//! # Running it
//!
//! ```no_run
//! use overlay_sim::{Scenario, World};
//!
//! let mut world = World::new(Scenario::small_faulty(7)).expect("a valid scenario");
//! world.run(&mut |_progress| {}).expect("every invariant holds");
//! println!("{}", world.report().to_text());
//! ```
//!
//! `Scenario::consensus_relay(seed)` runs validators that sign SCP statements and reach each
//! other only through overlay-node's watcher-like relays (see [`consensus`]).
//!
//! Or from the command line: `cargo run --release -p overlay-sim` runs the default
//! pubnet-like scenario; `--help` lists every knob.
//!
//! # Modules
//!
//! | module | job |
//! |---|---|
//! | [`clock`] | virtual clock and the event queue ordered by (time, sequence) |
//! | [`rng`] | the run's seeded generator, per-node seeds |
//! | [`link`] | one direction of a TCP connection as a sans-IO model with faults |
//! | [`network`] | link profiles per pair, cuts, partitions |
//! | [`tap`] | reading frames on the wire: types, sizes, grants, transaction ids |
//! | [`fault`] | misbehaving nodes: bad MACs, garbage, overrunning flow control, echoing |
//! | [`topology`] | full mesh, ring, random regular, pubnet-like |
//! | [`scenario`] | every knob of a run |
//! | [`world`] | the event loop |
//! | [`consensus`] | the consensus-relay scenario's validators and planted relay bug |
//! | [`crawl`] | the crawl scenario: overlay-crawl's crawler maps the network from seeds |
//! | [`invariants`] | what every run checks |
//! | [`histogram`] | bounded latency histograms |
//! | [`report`] | the report, as text and JSON |
//! | [`plot`] | SVG pictures of a report |
//! | [`progress`] | the progress bar |
//! | [`cli`] | the `overlay-sim` program |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod consensus;
pub mod crawl;
pub mod error;
pub mod fault;
pub mod histogram;
pub mod invariants;
pub mod link;
pub mod network;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod survey;
pub mod tap;
pub mod topology;
pub mod world;

pub use error::SimError;
pub use invariants::Violation;
pub use report::Report;
pub use scenario::Scenario;
pub use world::World;
