//! overlay-sim (not yet written).
