//! overlay-flow (not yet written).
