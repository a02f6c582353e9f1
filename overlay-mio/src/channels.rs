//! What a mio-driven overlay hands out: [`Subscription`]s to received messages, [`Events`]
//! for logs, [`Deliveries`] for an application outside the overlay. Each is a bounded queue
//! that can be read on a thread (`recv`, `recv_timeout`, `try_recv`) or awaited from any
//! executor (`recv_async`); none needs a runtime.

use crate::queue::{self, Receiver, SendError, Sender};
use overlay_host::{OverlayEvent, ReceivedMessage};
use overlay_node::app::Delivery;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The overlay has shut down: nothing more will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the overlay has shut down")]
pub struct Closed;

/// Why `recv_timeout` returned without an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived within the time given.
    #[error("nothing arrived in time")]
    Timeout,
    /// The overlay has shut down and everything before was taken.
    #[error("the overlay has shut down")]
    Closed,
}

/// A bounded queue of `T` with a count of what it missed while full.
struct Feed<T> {
    rx: Receiver<T>,
    missed: Arc<AtomicU64>,
}

impl<T> Feed<T> {
    fn recv(&self) -> Result<T, Closed> {
        self.rx.recv().ok_or(Closed)
    }

    fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|closed| if closed { RecvTimeoutError::Closed } else { RecvTimeoutError::Timeout })
    }

    async fn recv_async(&mut self) -> Result<T, Closed> {
        self.rx.recv_async().await.ok_or(Closed)
    }
}

macro_rules! feed_methods {
    ($item:ty) => {
        /// The next item, waiting on this thread; [`Closed`] once the overlay has shut down
        /// and every item before was taken.
        pub fn recv(&self) -> Result<$item, Closed> {
            self.feed.recv()
        }

        /// The next item, waiting at most `timeout`.
        pub fn recv_timeout(&self, timeout: Duration) -> Result<$item, RecvTimeoutError> {
            self.feed.recv_timeout(timeout)
        }

        /// The next item if one is waiting.
        pub fn try_recv(&self) -> Option<$item> {
            self.feed.rx.try_recv()
        }

        /// The next item, as a future any executor can poll.
        pub async fn recv_async(&mut self) -> Result<$item, Closed> {
            self.feed.recv_async().await
        }

        /// Items missed because this queue was full.
        pub fn missed(&self) -> u64 {
            self.feed.missed.load(Ordering::Relaxed)
        }
    };
}

/// Every message received from authenticated peers, in order. A subscriber that falls more
/// than `subscriber_capacity` behind misses messages: [`missed`](Self::missed) counts them
/// and the overlay reports an [`OverlayEvent::SubscriberLagged`].
pub struct Subscription {
    feed: Feed<ReceivedMessage>,
}

impl Subscription {
    feed_methods!(ReceivedMessage);
}

/// Connection events and every received message's type and size, for logs: what
/// `overlay_tokio::OverlayManager::events` gives, as a queue of its own per reader. A reader
/// that falls more than 16,384 events behind misses events ([`missed`](Self::missed)).
pub struct Events {
    feed: Feed<OverlayEvent>,
}

impl Events {
    feed_methods!(OverlayEvent);
}

impl core::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscription").field("missed", &self.missed()).finish_non_exhaustive()
    }
}

impl core::fmt::Debug for Events {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Events").field("missed", &self.missed()).finish_non_exhaustive()
    }
}

/// The deliveries of the node, for an application outside the overlay (a validator): every
/// transaction and SCP envelope seen first, every item fetched. Answer each transaction and
/// envelope with a verdict through the manager (`tx_verdict`, `scp_verdict`, `app_input`).
/// The queue holds every delivery that can wait for a verdict at once; should it fill, the
/// overlay reports [`OverlayEvent::ApplicationLagged`].
pub struct Deliveries {
    rx: Receiver<Delivery>,
}

impl core::fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    pub(crate) fn new(rx: Receiver<Delivery>) -> Self {
        Deliveries { rx }
    }

    /// The next delivery, waiting on this thread; `None` once the overlay has shut down.
    pub fn recv(&self) -> Option<Delivery> {
        self.rx.recv()
    }

    /// The next delivery, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery, RecvTimeoutError> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|closed| if closed { RecvTimeoutError::Closed } else { RecvTimeoutError::Timeout })
    }

    /// The next delivery if one is waiting.
    pub fn try_recv(&self) -> Option<Delivery> {
        self.rx.try_recv()
    }

    /// The next delivery, as a future any executor can poll.
    pub async fn recv_async(&mut self) -> Option<Delivery> {
        self.rx.recv_async().await
    }
}

struct Sub<T> {
    tx: Sender<T>,
    missed: Arc<AtomicU64>,
    /// Whether it is missing items now (one report per episode).
    lagging: bool,
}

/// Readers of one kind of item, each with its own queue. Bound: `capacity` items per
/// reader; past it the reader misses items (counted, and reported once per episode).
pub(crate) struct Fanout<T> {
    subs: Mutex<Vec<Sub<T>>>,
    capacity: usize,
}

impl<T: Clone> Fanout<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Fanout { subs: Mutex::new(Vec::new()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sub<T>>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn feed(&self) -> Feed<T> {
        let (tx, rx) = queue::channel(self.capacity, None);
        let missed = Arc::new(AtomicU64::new(0));
        self.lock().push(Sub { tx, missed: missed.clone(), lagging: false });
        Feed { rx, missed }
    }

    /// Whether anyone reads (so that items are only built when someone does).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Give `item` to every reader; readers are roused at the next [`flush`](Self::flush).
    /// Returns the missed counts of readers that just started lagging. Readers that went
    /// away are forgotten.
    pub(crate) fn publish(&self, item: &T) -> Vec<u64> {
        let mut started = Vec::new();
        self.lock().retain_mut(|s| match s.tx.try_send_quiet(item.clone()) {
            Ok(()) => {
                s.lagging = false;
                true
            }
            Err(SendError::Full(_)) => {
                let n = s.missed.fetch_add(1, Ordering::Relaxed) + 1;
                if !s.lagging {
                    s.lagging = true;
                    started.push(n);
                }
                true
            }
            Err(SendError::Closed(_)) => false,
        });
        started
    }

    /// [`publish`](Self::publish) and rouse the readers now: for publishers outside the loop.
    pub(crate) fn publish_now(&self, item: &T) -> Vec<u64> {
        let started = self.publish(item);
        self.flush();
        started
    }

    /// Rouse the readers that were given something since the last flush (once per turn of
    /// the loop, not once per item).
    pub(crate) fn flush(&self) {
        self.lock().retain(|s| s.tx.announce());
    }

    /// End every reader's queue: they get what is queued, then [`Closed`].
    pub(crate) fn close(&self) {
        self.flush();
        self.lock().clear();
    }
}

impl Fanout<ReceivedMessage> {
    pub(crate) fn subscribe(&self) -> Subscription {
        Subscription { feed: self.feed() }
    }
}

impl Fanout<OverlayEvent> {
    pub(crate) fn subscribe(&self) -> Events {
        Events { feed: self.feed() }
    }
}
