//! Re-resolution of configured host names every `dns_refresh_interval` (§11.4 step 2), on a
//! thread of its own: the system resolver blocks, and the event loop must not.

use crate::queue::{Receiver, Sender};
use overlay_host::OverlayConfig;
use overlay_host::dns::resolve_all;
use std::thread::JoinHandle;

/// Start the resolver if any peer is configured. It stops when `stop`'s sender is dropped
/// (the loop ends) or the loop stops taking what it sends.
pub(crate) fn spawn(
    config: &OverlayConfig,
    out: Sender<super::driver::Resolved>,
    stop: Receiver<()>,
) -> std::io::Result<Option<JoinHandle<()>>> {
    if config.known_peers.is_empty() && config.preferred_peers.is_empty() {
        return Ok(None);
    }
    let (known, preferred, interval) =
        (config.known_peers.clone(), config.preferred_peers.clone(), config.dns_refresh_interval);
    let thread = std::thread::Builder::new().name("overlay-resolver".into()).spawn(move || {
        // Anything but a timeout (the loop ended) stops the thread.
        while stop.recv_timeout(interval) == Err(false) {
            if out.send((resolve_all(&known), resolve_all(&preferred))).is_err() {
                return;
            }
        }
    })?;
    Ok(Some(thread))
}
