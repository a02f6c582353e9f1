//! The library side of the `stellar-overlay` program: what the program reads and writes that
//! other tools (and the fuzz targets) use too.
//!
//! - [`config_file`]: a stellar-core configuration file's overlay keys onto an
//!   [`OverlayConfig`](overlay_tokio::OverlayConfig).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod config_file;
