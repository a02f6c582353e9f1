//! stellar-core's admin commands and Prometheus metrics for a running overlay: either
//! driver's manager (`overlay_tokio::OverlayManager`, `overlay_mio::OverlayManager`),
//! through the [`Overlay`](overlay_host::Overlay) trait. The HTTP server runs on axum, so
//! on tokio, whichever driver runs the overlay.
//!
//! The commands keep stellar-core's names, parameters and answers (JSON, or text where
//! stellar-core answers in text): `peers[?fullkeys=true]`, `connect?peer=HOST&port=N`,
//! `droppeer?node=G...[&ban=1]`, `ban?node=G...`, `unban?node=G...`, `bans`, `info`,
//! `metrics` (Prometheus text; `?format=json` for stellar-core's medida shape), and the
//! time-sliced survey commands `startsurveycollecting?nonce=N`, `stopsurveycollecting`,
//! `surveytopologytimesliced?node=G...&inboundpeerindex=I&outboundpeerindex=O`,
//! `getsurveyresult`. Errors are JSON (`{"status": "error", "error": ...}`) with 400, 404,
//! 409, 429 or 503.
//!
//! [`Admin`] runs them on plain data, for any server; [`http::router`] mounts them on axum;
//! [`http::serve`] serves them (`stellar-overlay node --http ADDR`).
//!
//! ```no_run
//! # async fn run(manager: overlay_tokio::OverlayManager) -> std::io::Result<()> {
//! let (addr, _task) = overlay_admin::http::serve("127.0.0.1:11626".parse().unwrap(), overlay_admin::Admin::new(manager)).await?;
//! println!("admin commands on http://{addr}/peers");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod commands;
pub mod http;
pub mod medida;
pub mod prometheus;
pub mod shapes;
pub mod survey;

pub use commands::{Admin, Body, COMMANDS, Reply};
