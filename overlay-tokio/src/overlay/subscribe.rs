//! [`Subscription`]: every message received from authenticated peers, for as many
//! subscribers as ask, each with its own bounded queue.

use overlay_host::ReceivedMessage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The overlay has shut down: no message will come any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the overlay has shut down")]
pub struct Closed;

/// Received messages, in order. A subscriber that falls more than the configured capacity
/// behind misses messages: [`missed`](Self::missed) counts them and the overlay reports an
/// [`OverlayEvent::SubscriberLagged`](super::OverlayEvent::SubscriberLagged); `recv` goes on
/// with the next message, so a `while let Ok(..)` loop ends only at shutdown.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<ReceivedMessage>,
    missed: Arc<AtomicU64>,
}

impl Subscription {
    /// The next message, or [`Closed`] once the overlay has shut down and every message
    /// before that was taken.
    pub async fn recv(&mut self) -> Result<ReceivedMessage, Closed> {
        self.rx.recv().await.ok_or(Closed)
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Option<ReceivedMessage> {
        self.rx.try_recv().ok()
    }

    /// Messages this subscriber missed because its queue was full.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

struct Subscriber {
    tx: mpsc::Sender<ReceivedMessage>,
    missed: Arc<AtomicU64>,
    /// Whether it is missing messages now (one event per episode).
    lagging: bool,
}

/// The subscribers. Bound: one queue of `capacity` messages each.
#[derive(Default)]
pub(crate) struct Hub {
    subs: Mutex<Vec<Subscriber>>,
    capacity: usize,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Hub { subs: Mutex::new(Vec::new()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        let missed = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { tx, missed: missed.clone(), lagging: false });
        Subscription { rx, missed }
    }

    /// Whether anyone listens (so that messages are only copied when someone does).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Give `msg` to every subscriber. Returns the missed counts of subscribers that just
    /// started lagging.
    pub fn publish(&self, msg: &ReceivedMessage) -> Vec<u64> {
        let mut started = Vec::new();
        self.lock().retain_mut(|s| match s.tx.try_send(msg.clone()) {
            Ok(()) => {
                s.lagging = false;
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let n = s.missed.fetch_add(1, Ordering::Relaxed) + 1;
                if !s.lagging {
                    s.lagging = true;
                    started.push(n);
                }
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        started
    }

    /// End every subscription (shutdown): they get what is queued, then [`Closed`].
    pub fn close(&self) {
        self.lock().clear();
    }
}
