//! overlay-tokio
