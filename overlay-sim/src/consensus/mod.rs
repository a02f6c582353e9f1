//! The consensus-relay scenario's applications: validators that sign SCP statements about
//! their own tx sets, and the planted relay bug.
//!
//! Validators reach each other only through relays running overlay-node's watcher-like
//! [`Relay`](overlay_node::Relay). Each slot every validator holds a new GeneralizedTxSet of
//! its own, nominates it (a NOMINATE whose vote is the XDR of a StellarValue naming the tx
//! set, with its quorum set's hash), then states PREPARE, CONFIRM and EXTERNALIZE of the
//! slot's chosen value (that of validator `slot mod n`), each signed with Ed25519 over
//! `networkID ‖ XDR(ENVELOPE_TYPE_SCP) ‖ XDR(statement)`. No real SCP runs: what a
//! validator says is a pure function of the slot. At first only the author holds its tx set
//! and quorum set, so relays must fetch them from whoever sent them the envelope, and
//! validators from their relays (PROTOCOL.md §8.7).
//!
//! | module | job |
//! |---|---|
//! | [`values`] | tx sets, quorum sets, values, signed statements |
//! | [`validator`] | [`ValidatorApp`], and [`PlantedRelay`] (the bug) |
//! | [`report`] | the scenario's part of the report |

pub mod report;
pub mod validator;
pub mod values;

pub use validator::{PlantedRelay, ValidatorApp, ValidatorSetup, ValidatorStats};
