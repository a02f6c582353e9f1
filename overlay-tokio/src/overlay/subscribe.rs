//! [`Subscription`]: every message received from authenticated peers, for as many
//! subscribers as ask, each with its own bounded queue. The node task publishes during a
//! turn of its loop and flushes at its end: a subscriber is woken once per turn.

use super::batch::{self, BatchReceiver, BatchSender};
use overlay_host::ReceivedMessage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    rx: BatchReceiver<ReceivedMessage>,
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
        self.rx.try_recv()
    }

    /// Messages this subscriber missed because its queue was full.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

struct Subscriber {
    tx: BatchSender<ReceivedMessage>,
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
        let (tx, rx) = batch::channel(self.capacity);
        let missed = Arc::new(AtomicU64::new(0));
        self.lock().push(Subscriber { tx, missed: missed.clone(), lagging: false });
        Subscription { rx, missed }
    }

    /// Whether anyone listens (so that messages are only copied when someone does).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Give `msg` to every subscriber (at the next [`flush`](Self::flush)). Returns the
    /// missed counts of subscribers that just started lagging.
    pub fn publish(&self, msg: &ReceivedMessage) -> Vec<u64> {
        let mut started = Vec::new();
        // A subscriber gone is removed at the next flush.
        for s in self.lock().iter_mut().filter(|s| !s.tx.is_closed()) {
            match s.tx.push(msg.clone()) {
                Ok(()) => s.lagging = false,
                Err(batch::Full) => {
                    let n = s.missed.fetch_add(1, Ordering::Relaxed) + 1;
                    if !s.lagging {
                        s.lagging = true;
                        started.push(n);
                    }
                }
            }
        }
        started
    }

    /// Hand what was published since the last flush to the subscribers; forget those gone.
    pub fn flush(&self) {
        self.lock().retain_mut(|s| s.tx.flush());
    }

    /// End every subscription (shutdown): they get what is queued, then [`Closed`].
    pub fn close(&self) {
        let mut subs = self.lock();
        for s in subs.iter_mut() {
            s.tx.flush();
        }
        subs.clear();
    }
}
