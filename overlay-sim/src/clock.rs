//! The virtual clock and the event queue: one [`Timestamp`], one queue ordered by
//! `(time, sequence number)`.
//!
//! Two events at the same instant run in the order they were scheduled, so a run never
//! depends on how a heap breaks ties. The clock only moves forward: popping an event sets
//! the time to the event's time, and scheduling into the past is refused.

use crate::error::SimError;
use core::cmp::Ordering;
use core::time::Duration;
use overlay_proto::Timestamp;
use std::collections::BinaryHeap;

/// Default bound on events waiting in the queue. Why: a run schedules a few events per
/// connection and per node at any one time (a delivery per chunk in flight, a timer per
/// node, a handful of scenario actions), so tens of millions means a runaway feedback loop.
/// On overflow the run stops with [`SimError::QueueFull`] rather than eating the memory.
pub const EVENTS_QUEUED_MAX: usize = 50_000_000;

struct Entry<E> {
    at: Timestamp,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the earliest `(time, seq)` first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The clock and the queue of future events.
pub struct EventQueue<E> {
    now: Timestamp,
    next_seq: u64,
    heap: BinaryHeap<Entry<E>>,
    queued_max: usize,
    popped: u64,
}

impl<E> core::fmt::Debug for EventQueue<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventQueue")
            .field("now", &self.now)
            .field("queued", &self.heap.len())
            .field("popped", &self.popped)
            .finish()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time `start`, holding at most `queued_max` events.
    pub fn new(start: Timestamp, queued_max: usize) -> Self {
        EventQueue { now: start, next_seq: 0, heap: BinaryHeap::new(), queued_max, popped: 0 }
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events popped since the start.
    pub fn popped(&self) -> u64 {
        self.popped
    }

    /// Schedule `event` at `at` (an instant in the past counts as now).
    pub fn schedule_at(&mut self, at: Timestamp, event: E) -> Result<(), SimError> {
        if self.heap.len() >= self.queued_max {
            return Err(SimError::QueueFull { queued_max: self.queued_max });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at: at.max(self.now), seq, event });
        Ok(())
    }

    /// Schedule `event` `after` from now.
    pub fn schedule_in(&mut self, after: Duration, event: E) -> Result<(), SimError> {
        let at = self.now.saturating_add(after);
        self.schedule_at(at, event)
    }

    /// The time of the next event, if any.
    pub fn peek_time(&self) -> Option<Timestamp> {
        self.heap.peek().map(|e| e.at)
    }

    /// Take the next event if it is due at or before `until`, moving the clock to its time.
    pub fn pop_until(&mut self, until: Timestamp) -> Option<(Timestamp, E)> {
        if self.heap.peek()?.at > until {
            return None;
        }
        let e = self.heap.pop()?;
        self.now = self.now.max(e.at);
        self.popped += 1;
        Some((e.at, e.event))
    }

    /// Move the clock to `t` without an event (the end of a run); never backwards.
    pub fn advance_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_instant_runs_in_scheduling_order() {
        let mut q = EventQueue::new(Timestamp::ZERO, 100);
        let t = Timestamp::from_millis(5);
        q.schedule_at(t, "b").unwrap();
        q.schedule_at(Timestamp::from_millis(1), "a").unwrap();
        q.schedule_at(t, "c").unwrap();
        let order: Vec<_> = core::iter::from_fn(|| q.pop_until(Timestamp::MAX).map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(q.now(), t);
        assert_eq!(q.popped(), 3);
    }

    #[test]
    fn past_is_now_and_the_bound_holds() {
        let mut q = EventQueue::new(Timestamp::from_secs(10), 2);
        q.schedule_at(Timestamp::from_secs(1), 1).unwrap();
        assert_eq!(q.peek_time(), Some(Timestamp::from_secs(10)));
        q.schedule_in(Duration::from_secs(1), 2).unwrap();
        assert!(matches!(q.schedule_in(Duration::ZERO, 3), Err(SimError::QueueFull { .. })));
        assert!(q.pop_until(Timestamp::from_secs(9)).is_none());
    }
}
