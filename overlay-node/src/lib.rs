//! overlay-node (not yet written).
