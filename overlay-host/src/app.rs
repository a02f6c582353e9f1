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

/// Deliveries handled before the thread hands their answers back, at most: enough to make
/// one hand-off per turn of the node's loop, few enough that verdicts return promptly.
const DELIVERIES_PER_HANDOFF: usize = 256;

/// Run `app` on a thread of its own until `next` returns `None` while waiting (the node
/// stopped delivering) or `send` returns `false` (the node stopped listening): signature
/// checks and other slow work stay off the node's loop. `next(true)` waits for the next
/// delivery, `next(false)` takes one only if it is waiting; `send` hands the inputs of what
/// was handled back to the node in one batch (and may wait while its queue is full), so
/// that a busy node is woken once per batch of deliveries, not once per verdict.
pub fn spawn_thread(
    mut app: Box<dyn Application + Send>,
    mut next: impl FnMut(bool) -> Option<Delivery> + Send + 'static,
    mut send: impl FnMut(Vec<AppInput>) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("overlay-app".into()).spawn(move || {
        while let Some(first) = next(true) {
            let mut inputs = Vec::new();
            let mut delivery = Some(first);
            let mut handled = 0;
            while let Some(d) = delivery.take() {
                app.handle_delivery(now(), d);
                inputs.extend(std::iter::from_fn(|| app.poll_input()));
                handled += 1;
                if handled < DELIVERIES_PER_HANDOFF {
                    delivery = next(false);
                }
            }
            if !inputs.is_empty() && !send(inputs) {
                return;
            }
        }
    })
}
