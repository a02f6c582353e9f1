//! A bounded queue between threads that needs no runtime: a sender may wait for room or
//! give up at once; a receiver may wait on its thread, poll, or `.await` it from any
//! executor (the future registers the task's waker). Every channel of the driver is one:
//! commands and application inputs into the loop (which a [`Wake`] then rouses), replies,
//! deliveries, subscriptions and events out of it. Its buffer grows with what it holds, so
//! a large bound costs nothing until it fills.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Rouses the event loop when one of its queues receives something. Wakes coalesce: a
/// burst of sends costs one `mio::Waker::wake` until the loop takes them.
pub(crate) struct Wake {
    waker: mio::Waker,
    pending: std::sync::atomic::AtomicBool,
}

impl Wake {
    pub(crate) fn new(waker: mio::Waker) -> Arc<Self> {
        Arc::new(Wake { waker, pending: std::sync::atomic::AtomicBool::new(false) })
    }

    fn wake(&self) {
        use std::sync::atomic::Ordering;
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A failed wake leaves the loop to its next deadline; nothing better to do.
            let _ = self.waker.wake();
        }
    }

    /// The loop is about to take what its queues hold: later sends must wake it again.
    pub(crate) fn rearm(&self) {
        self.pending.store(false, std::sync::atomic::Ordering::Release);
    }
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receiver: bool,
    waker: Option<Waker>,
    /// Threads waiting in `recv` and in `send`: a condition variable is only signalled
    /// when someone waits on it (a signal is a system call even with no one waiting).
    receiving: usize,
    sending: usize,
    /// Items were queued by [`Sender::try_send_quiet`] since the last notification.
    unannounced: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    wake: Option<Arc<Wake>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every update under this lock is a single push or pop: a panic cannot leave it
        // half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify_receiver(&self, mut s: MutexGuard<'_, State<T>>) {
        s.unannounced = false;
        let waker = s.waker.take();
        let waiting = s.receiving > 0;
        drop(s);
        if waiting {
            self.not_empty.notify_one();
        }
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(w) = &self.wake {
            w.wake();
        }
    }
}

/// Why a send did not happen; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendError<T> {
    /// The queue holds `capacity` items.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The sending side; cloneable.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side. The queue closes for senders when it is dropped.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue of at most `capacity` items; `wake`, if given, is roused on every send.
pub(crate) fn channel<T>(capacity: usize, wake: Option<Arc<Wake>>) -> (Sender<T>, Receiver<T>) {
    let state = State {
        items: VecDeque::new(),
        capacity: capacity.max(1),
        senders: 1,
        receiver: true,
        waker: None,
        receiving: 0,
        sending: 0,
        unannounced: false,
    };
    let shared =
        Arc::new(Shared { state: Mutex::new(state), not_empty: Condvar::new(), not_full: Condvar::new(), wake });
    (Sender { shared: shared.clone() }, Receiver { shared })
}

impl<T> Sender<T> {
    /// Queue `value` unless the queue is full or closed.
    pub(crate) fn try_send(&self, value: T) -> Result<(), SendError<T>> {
        self.push(value, true)
    }

    /// Queue `value` like [`try_send`](Self::try_send) without rousing the receiver: a
    /// batch of these is announced by one [`announce`](Self::announce), so a receiver that
    /// keeps up is woken once per batch rather than once per item.
    pub(crate) fn try_send_quiet(&self, value: T) -> Result<(), SendError<T>> {
        self.push(value, false)
    }

    fn push(&self, value: T, announce: bool) -> Result<(), SendError<T>> {
        let mut s = self.shared.lock();
        if !s.receiver {
            return Err(SendError::Closed(value));
        }
        if s.items.len() >= s.capacity {
            return Err(SendError::Full(value));
        }
        s.items.push_back(value);
        if announce {
            self.shared.notify_receiver(s);
        } else {
            s.unannounced = true;
        }
        Ok(())
    }

    /// Rouse the receiver for what [`try_send_quiet`](Self::try_send_quiet) queued, if
    /// anything. `false` once the receiver is gone.
    pub(crate) fn announce(&self) -> bool {
        let s = self.shared.lock();
        if !s.receiver {
            return false;
        }
        if s.unannounced {
            self.shared.notify_receiver(s);
        }
        true
    }

    /// Queue `value`, waiting while the queue is full; the value back if the receiver is
    /// gone.
    pub(crate) fn send(&self, value: T) -> Result<(), T> {
        let mut s = self.shared.lock();
        loop {
            if !s.receiver {
                return Err(value);
            }
            if s.items.len() < s.capacity {
                s.items.push_back(value);
                self.shared.notify_receiver(s);
                return Ok(());
            }
            s.sending += 1;
            s = self.shared.not_full.wait(s).unwrap_or_else(|p| p.into_inner());
            s.sending -= 1;
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.senders -= 1;
        if s.senders == 0 {
            self.shared.notify_receiver(s);
        }
    }
}

impl<T> Receiver<T> {
    fn take(&self, s: &mut State<T>) -> Option<T> {
        let v = s.items.pop_front();
        if v.is_some() && s.sending > 0 {
            self.shared.not_full.notify_one();
        }
        v
    }

    /// The next item if one is waiting.
    pub(crate) fn try_recv(&self) -> Option<T> {
        let mut s = self.shared.lock();
        self.take(&mut s)
    }

    /// The next item, waiting on this thread; `None` once every sender is gone and the
    /// queue is empty.
    pub(crate) fn recv(&self) -> Option<T> {
        let mut s = self.shared.lock();
        loop {
            if let Some(v) = self.take(&mut s) {
                return Some(v);
            }
            if s.senders == 0 {
                return None;
            }
            s.receiving += 1;
            s = self.shared.not_empty.wait(s).unwrap_or_else(|p| p.into_inner());
            s.receiving -= 1;
        }
    }

    /// The next item, waiting at most `timeout`: `Err(true)` if every sender is gone,
    /// `Err(false)` if the time ran out.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<T, bool> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        loop {
            if let Some(v) = self.take(&mut s) {
                return Ok(v);
            }
            if s.senders == 0 {
                return Err(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(false);
            }
            s.receiving += 1;
            s = self.shared.not_empty.wait_timeout(s, left).unwrap_or_else(|p| p.into_inner()).0;
            s.receiving -= 1;
        }
    }

    /// The next item as a future (`None` once every sender is gone and the queue is empty).
    pub(crate) fn recv_async(&mut self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// Whether every sender is gone (items may still be queued).
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().senders == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.receiver = false;
        let items = std::mem::take(&mut s.items);
        drop(s);
        self.shared.not_full.notify_all();
        drop(items);
    }
}

/// The future of [`Receiver::recv_async`].
pub(crate) struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let rx = &*self.rx;
        let mut s = rx.shared.lock();
        if let Some(v) = rx.take(&mut s) {
            return Poll::Ready(Some(v));
        }
        if s.senders == 0 {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A one-shot reply: the loop answers a command through it.
pub(crate) fn reply<T>() -> (Sender<T>, Receiver<T>) {
    channel(1, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_order_and_closed_when_the_other_side_is_gone() {
        let (tx, rx) = channel(2, None);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.recv(), Some(2));
        assert_eq!(rx.recv_timeout(Duration::ZERO), Err(false));
        drop(tx);
        assert!(rx.is_closed());
        assert_eq!(rx.recv(), None);
        let (tx, rx) = channel::<u8>(1, None);
        drop(rx);
        assert_eq!(tx.try_send(1), Err(SendError::Closed(1)));
        assert_eq!(tx.send(2), Err(2));
    }

    #[test]
    fn quiet_sends_wake_a_waiting_receiver_only_when_announced() {
        let (tx, rx) = channel(4, None);
        let receiver = std::thread::spawn(move || (rx.recv(), rx.recv()));
        tx.try_send_quiet(1u8).unwrap();
        tx.try_send_quiet(2).unwrap();
        assert!(tx.announce());
        assert_eq!(receiver.join().unwrap(), (Some(1), Some(2)));
        assert!(!tx.announce(), "the receiver is gone");
        assert_eq!(tx.try_send_quiet(3), Err(SendError::Closed(3)));
    }

    #[test]
    fn a_waiting_sender_and_a_waiting_receiver_are_released() {
        let (tx, rx) = channel(1, None);
        tx.send(0u32).unwrap();
        let sender = std::thread::spawn(move || {
            for i in 1..100 {
                tx.send(i).unwrap();
            }
        });
        let got: Vec<u32> = std::iter::from_fn(|| rx.recv()).collect();
        sender.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn the_future_completes_when_a_value_arrives() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let (tx, mut rx) = reply::<u8>();
        let mut fut = std::pin::pin!(rx.recv_async());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        tx.try_send(7).unwrap();
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "the sender woke the task");
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Some(7)));
    }
}
