//! [`SimError`]: why a run stopped, always with what is needed to reproduce it.

use crate::invariants::Violation;

/// Why a simulation run failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// An invariant broke. Rerun with the same scenario and `seed` to reproduce it.
    #[error("invariant broken (seed {seed}) at {at_ms} ms while handling {event}: {violation}")]
    Invariant {
        /// The run seed.
        seed: u64,
        /// Virtual time of the event, in milliseconds since the start.
        at_ms: f64,
        /// The event being handled.
        event: String,
        /// What broke.
        violation: Violation,
    },
    /// Code under test panicked while handling an event.
    #[error("panic (seed {seed}) at {at_ms} ms while handling {event}: {message}")]
    Panic {
        /// The run seed.
        seed: u64,
        /// Virtual time of the event, in milliseconds since the start.
        at_ms: f64,
        /// The event being handled.
        event: String,
        /// The panic message.
        message: String,
    },
    /// The event queue reached its bound (a runaway feedback loop).
    #[error("event queue full ({queued_max} events)")]
    QueueFull {
        /// The bound.
        queued_max: usize,
    },
    /// The scenario cannot run as given.
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
    /// Writing the report or the plots failed.
    #[error("cannot write {path}: {message}")]
    Output {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
}

impl SimError {
    /// The seed to rerun with, for failures that happened during a run.
    pub fn seed(&self) -> Option<u64> {
        match self {
            SimError::Invariant { seed, .. } | SimError::Panic { seed, .. } => Some(*seed),
            _ => None,
        }
    }
}
