//! overlay-flood (not yet written).
