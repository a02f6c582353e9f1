//! Hand-offs out of the node task in batches: what one turn of its loop produces for a
//! receiver (deliveries for the application, messages for a subscriber) goes over in one
//! send, so a receiver that keeps up is woken once per turn rather than once per item. The
//! bound is counted in items, as with a bounded channel of single items.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// A batched queue of at most `capacity` items (those pushed and not yet taken).
pub(crate) fn channel<T>(capacity: usize) -> (BatchSender<T>, BatchReceiver<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = BatchSender { tx, batch: Vec::new(), queued: queued.clone(), capacity: capacity.max(1) };
    (sender, BatchReceiver { rx, batch: Vec::new().into_iter(), queued })
}

/// The queue is full, or its receiver is gone.
#[derive(Debug)]
pub(crate) struct Full;

/// The node task's end: [`push`](Self::push) during a turn, [`flush`](Self::flush) at its end.
pub(crate) struct BatchSender<T> {
    tx: mpsc::UnboundedSender<Vec<T>>,
    batch: Vec<T>,
    /// Items sent and not yet taken by the receiver.
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T> BatchSender<T> {
    /// Add `item` to the batch, unless that would put more than `capacity` items in the queue.
    pub(crate) fn push(&mut self, item: T) -> Result<(), Full> {
        if self.tx.is_closed() || self.queued.load(Ordering::Acquire) + self.batch.len() >= self.capacity {
            return Err(Full);
        }
        self.batch.push(item);
        Ok(())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Send the batch, if any. `false` once the receiver is gone.
    pub(crate) fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.tx.is_closed();
        }
        let batch = std::mem::take(&mut self.batch);
        self.queued.fetch_add(batch.len(), Ordering::AcqRel);
        self.tx.send(batch).is_ok()
    }
}

/// The receiving end: items one at a time, in order.
#[derive(Debug)]
pub(crate) struct BatchReceiver<T> {
    rx: mpsc::UnboundedReceiver<Vec<T>>,
    batch: std::vec::IntoIter<T>,
    queued: Arc<AtomicUsize>,
}

impl<T> BatchReceiver<T> {
    fn take(&mut self) -> Option<T> {
        let item = self.batch.next()?;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        Some(item)
    }

    /// The next item, or `None` once the sender is gone and every item was taken.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.take() {
                return Some(item);
            }
            self.batch = self.rx.recv().await?.into_iter();
        }
    }

    /// [`recv`](Self::recv), waiting on this thread (never from an async task).
    pub(crate) fn blocking_recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.take() {
                return Some(item);
            }
            self.batch = self.rx.blocking_recv()?.into_iter();
        }
    }

    /// The next item if one is waiting.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.take() {
                return Some(item);
            }
            self.batch = self.rx.try_recv().ok()?.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_arrive_in_order_once_flushed() {
        let (mut tx, mut rx) = channel(10);
        tx.push(1).unwrap();
        tx.push(2).unwrap();
        assert_eq!(rx.try_recv(), None, "nothing before the flush");
        assert!(tx.flush());
        tx.push(3).unwrap();
        assert!(tx.flush());
        assert_eq!((rx.try_recv(), rx.try_recv(), rx.try_recv(), rx.try_recv()), (Some(1), Some(2), Some(3), None));
    }

    #[test]
    fn the_bound_counts_items_until_they_are_taken() {
        let (mut tx, mut rx) = channel(3);
        for i in 0..3 {
            tx.push(i).unwrap();
        }
        assert!(tx.push(3).is_err(), "the batch itself counts");
        tx.flush();
        assert!(tx.push(3).is_err(), "sent but not taken");
        assert_eq!(rx.try_recv(), Some(0));
        tx.push(3).unwrap();
        assert!(tx.push(4).is_err());
    }

    #[test]
    fn the_end_is_seen_after_the_last_item() {
        let (mut tx, mut rx) = channel(3);
        tx.push(7).unwrap();
        tx.flush();
        drop(tx);
        assert_eq!(rx.blocking_recv(), Some(7));
        assert_eq!(rx.blocking_recv(), None);
    }

    #[test]
    fn a_gone_receiver_is_reported() {
        let (mut tx, rx) = channel::<u8>(3);
        drop(rx);
        assert!(tx.push(1).is_err());
        assert!(!tx.flush());
    }
}
