//! The application beside the node: an in-process [`Application`] on a thread of its own,
//! or an embedder reading [`Deliveries`] and answering through the manager.

use super::batch::BatchReceiver;
use overlay_node::app::{AppInput, Application, Delivery};
use tokio::sync::mpsc;

/// The deliveries of the node, for an application outside the overlay (a validator): every
/// transaction and SCP envelope seen first, every item fetched. Answer each transaction and
/// envelope with a verdict through the [`OverlayManager`](super::OverlayManager)
/// (`tx_verdict`, `scp_verdict`, or `app_input`).
///
/// Deliveries are never dropped silently: the queue holds every delivery that can wait for
/// a verdict at once (the node's bounds on pending verdicts); should it ever fill, the
/// overlay reports [`OverlayEvent::ApplicationLagged`](super::OverlayEvent).
#[derive(Debug)]
pub struct Deliveries {
    rx: BatchReceiver<Delivery>,
}

impl Deliveries {
    pub(crate) fn new(rx: BatchReceiver<Delivery>) -> Self {
        Deliveries { rx }
    }

    /// The next delivery, or `None` once the overlay has shut down.
    pub async fn recv(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// The next delivery, waiting on this thread (for applications with threads of their
    /// own; never call it from an async task).
    pub fn blocking_recv(&mut self) -> Option<Delivery> {
        self.rx.blocking_recv()
    }

    /// The next delivery if one is waiting.
    pub fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv()
    }
}

/// Run `app` on a thread of its own until the node stops delivering: signature checks and
/// other slow work stay off the node's loop.
pub(crate) fn spawn_app_thread(
    app: Box<dyn Application + Send>,
    mut deliveries: BatchReceiver<Delivery>,
    inputs: mpsc::Sender<Vec<AppInput>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let next = move |wait| if wait { deliveries.blocking_recv() } else { deliveries.try_recv() };
    overlay_host::app::spawn_thread(app, next, move |i| inputs.blocking_send(i).is_ok())
}
