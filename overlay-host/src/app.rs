//! The application beside the node: the default [`Relay`], and the thread an in-process
//! [`Application`] runs on, whatever channels carry its deliveries and answers.

use crate::clock::now;
use crate::config::OverlayConfig;
use overlay_node::app::{AppInput, Application, Delivery};
use overlay_node::{Relay, RelayConfig};
use overlay_proto::NetworkId;

/// The relay (stellar-core's watcher behaviour) configured from `config`: the default
/// application of both drivers.
pub fn relay(config: &OverlayConfig, network_id: NetworkId) -> Box<dyn Application + Send> {
    let mut relay = RelayConfig::new(network_id);
    relay.ledger = config.ledger;
    relay.max_slots_to_remember = config.max_slots_to_remember();
    relay.trusted_validators = config.trusted_validators.clone();
    Box::new(Relay::new(relay))
}

/// Deliveries that may wait at once: every pending verdict and an item for each fetch. The
/// delivery queue of either driver has this bound, so a delivery is dropped (and reported)
/// only if the application stops answering.
pub fn delivery_capacity(config: &OverlayConfig) -> usize {
    let i = &config.items;
    i.pending_transactions_max + i.pending_envelopes_max + 2 * config.flood.fetch_trackers_max + 1024
}

/// Run `app` on a thread of its own until `next` returns `None` (the node stopped
/// delivering) or `send` returns `false` (the node stopped listening): signature checks and
/// other slow work stay off the node's loop. `next` waits for the next delivery; `send`
/// hands an input back to the node (and may wait while its queue is full).
pub fn spawn_thread(
    mut app: Box<dyn Application + Send>,
    mut next: impl FnMut() -> Option<Delivery> + Send + 'static,
    mut send: impl FnMut(AppInput) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("overlay-app".into()).spawn(move || {
        while let Some(d) = next() {
            app.handle_delivery(now(), d);
            while let Some(input) = app.poll_input() {
                if !send(input) {
                    return;
                }
            }
        }
    })
}
