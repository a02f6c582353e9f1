//! The four outbound queues of one peer and their load shedding (PROTOCOL.md §6.4).
//!
//! Queues are FIFO, one per [`Priority`], and served highest priority first by
//! [`FlowControl::poll_send`](crate::FlowControl::poll_send). A message released for writing
//! stays in its queue, "in flight", until the driver reports that its write completed; in-flight
//! entries always form a prefix of their queue (they are taken from the front, and every
//! removal or replacement below skips them), they count towards the queue's length, bytes and
//! hashes, and they are never trimmed or replaced.
//!
//! Shedding happens only when a message is enqueued, and only in that message's queue:
//! - TRANSACTION: a transaction larger than the maximum transaction size is not queued. After
//!   appending, if the queue holds more than `maxTxSetSizeOps` messages or more than
//!   `OUTBOUND_TX_QUEUE_BYTE_LIMIT` bytes, the **whole** queue is discarded, the new message
//!   included.
//! - FLOOD_ADVERT / FLOOD_DEMAND: after appending, if the queue holds more than
//!   `maxTxSetSizeOps` hashes, the whole queue is discarded.
//! - SCP_MESSAGE (never byte-limited): entries for slots below `minSlotToRemember` are removed
//!   unless their slot is the checkpoint slot; and the first entry (not in flight, not the new
//!   message) holding an older statement of the same node and slot than the new message (see
//!   [`scp_order`](crate::scp_order)) is overwritten in place by the new message, whose own
//!   place at the tail is removed.
//! - Every queue \[LOCAL\]: at most [`FlowConfig::queue_hard_limit_msgs`] entries. Over it the
//!   SCP queue sheds its oldest entries not in flight and the other queues are discarded.
//!
//! # What shedding guarantees about priorities
//!
//! The spec's shedding is per queue, so the literal property "a higher-priority message is
//! never shed while a lower-priority message for the same peer stays queued" does **not**
//! hold: when the transaction queue goes over its limit it is discarded while adverts and
//! demands stay queued, and an SCP statement replaced by a newer one is shed whatever the
//! other queues hold. What holds, and what the property tests check, is:
//! 1. isolation: enqueuing a message of priority `p` removes only messages of priority `p`;
//!    a message is never shed because of traffic of another priority, in particular never
//!    because of lower-priority traffic;
//! 2. SCP messages are shed only when obsolete (forgotten slot, or superseded by a newer
//!    statement of the same node for the same slot) or over the local hard bound, never for
//!    message counts or bytes of the ledger limits;
//! 3. serving order: a message of priority `p` is released only if every queue of higher
//!    priority has no waiting message or its first waiting message does not fit the credit.
//!
//! [`FlowConfig::queue_hard_limit_msgs`]: crate::FlowConfig::queue_hard_limit_msgs

use crate::capacity::OutboundCapacity;
use crate::message::{MessageMeta, OutboundMessage, Sendable, WriteTicket};
use crate::scp_order::is_newer_statement;
use crate::stats::QueueStats;
use overlay_proto::{Priority, Timestamp};
use std::collections::VecDeque;

/// The limits applied at enqueue time, gathered from the config and the ledger.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueueLimits {
    pub(crate) max_tx_size_bytes: u64,
    pub(crate) max_tx_set_size_ops: u64,
    pub(crate) tx_queue_byte_limit: u64,
    pub(crate) min_slot_to_remember: u64,
    pub(crate) checkpoint_slot: u64,
    pub(crate) hard_limit_msgs: usize,
    pub(crate) strict_priority_shedding: bool,
}

/// What [`FlowControl::enqueue`](crate::FlowControl::enqueue) did, for metrics
/// (`overlay.outbound-queue.drop-{scp,tx,advert,demand}`) and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnqueueReport {
    /// The queue the message was for.
    pub priority: Priority,
    /// Whether the new message is in the queue after the call.
    pub queued: bool,
    /// Messages this call shed for good (the new one included when it was not kept); entries
    /// already in flight are not counted: they are still written.
    pub dropped_msgs: u64,
    /// Bytes of the messages counted in `dropped_msgs`.
    pub dropped_bytes: u64,
    /// TRANSACTION larger than the maximum transaction size: not queued.
    pub over_max_tx_size: bool,
    /// The queue went over its limit (or the hard bound) and was discarded as a whole.
    pub queue_discarded: bool,
    /// SCP entries removed because their slot is no longer remembered.
    pub scp_old_slot_msgs: u64,
    /// An older SCP statement of the same node and slot was replaced by the new message.
    pub scp_replaced: bool,
    /// SCP entries shed by the local hard bound.
    pub hard_limit_msgs: u64,
    /// Waiting messages of lower-priority queues discarded first, under
    /// [`FlowConfig::strict_priority_shedding`](crate::FlowConfig::strict_priority_shedding).
    pub lower_priority_dropped_msgs: u64,
}

impl EnqueueReport {
    fn new(priority: Priority, queued: bool) -> Self {
        EnqueueReport {
            priority,
            queued,
            dropped_msgs: 0,
            dropped_bytes: 0,
            over_max_tx_size: false,
            queue_discarded: false,
            scp_old_slot_msgs: 0,
            scp_replaced: false,
            hard_limit_msgs: 0,
            lower_priority_dropped_msgs: 0,
        }
    }

    /// Whether anything was shed.
    pub fn shed_anything(&self) -> bool {
        self.dropped_msgs > 0
    }
}

/// A read-only view of a queued entry.
#[derive(Debug)]
pub struct QueuedView<'a, P> {
    /// Its metadata.
    pub meta: &'a MessageMeta,
    /// Its payload; `None` once handed to the writer.
    pub payload: Option<&'a P>,
    /// When it was enqueued.
    pub enqueued_at: Timestamp,
    /// Whether it was handed to the writer and its write has not completed.
    pub in_flight: bool,
}

#[derive(Debug)]
struct Entry<P> {
    id: u64,
    meta: MessageMeta,
    /// `None` exactly when in flight.
    payload: Option<P>,
    enqueued_at: Timestamp,
}

impl<P> Entry<P> {
    fn in_flight(&self) -> bool {
        self.payload.is_none()
    }
}

#[derive(Debug)]
struct Queue<P> {
    /// Bound: `FlowConfig::queue_hard_limit_msgs` entries, in flight included (poll_send
    /// stops releasing at that many in flight). Why: the spec's limits come from the ledger
    /// and do not bound the SCP queue or adverts without hashes. On overflow at enqueue: the
    /// SCP queue sheds its oldest waiting entries (the new one if all others are in flight);
    /// the other queues are discarded whole, as over their spec limits.
    entries: VecDeque<Entry<P>>,
    in_flight: usize,
    bytes: u64,
    hashes: u64,
    sent_msgs_total: u64,
    dropped_msgs_total: u64,
    dropped_bytes_total: u64,
}

impl<P> Queue<P> {
    fn new() -> Self {
        Queue {
            entries: VecDeque::new(),
            in_flight: 0,
            bytes: 0,
            hashes: 0,
            sent_msgs_total: 0,
            dropped_msgs_total: 0,
            dropped_bytes_total: 0,
        }
    }

    fn account_removed(&mut self, meta: &MessageMeta) {
        self.bytes = self.bytes.saturating_sub(meta.size_bytes());
        self.hashes = self.hashes.saturating_sub(meta.hash_count());
    }

    fn count_dropped(&mut self, report: &mut EnqueueReport, size_bytes: u64) {
        report.dropped_msgs += 1;
        report.dropped_bytes = report.dropped_bytes.saturating_add(size_bytes);
        self.dropped_msgs_total = self.dropped_msgs_total.wrapping_add(1);
        self.dropped_bytes_total = self.dropped_bytes_total.wrapping_add(size_bytes);
    }

    /// A TRANSACTION larger than the maximum transaction size: counted, not queued.
    #[cold]
    fn refuse_over_max_tx_size(&mut self, size_bytes: u64) -> EnqueueReport {
        let mut report = EnqueueReport::new(Priority::Transaction, false);
        report.over_max_tx_size = true;
        self.count_dropped(&mut report, size_bytes);
        report
    }

    /// Discards every entry, the new one included. In-flight entries leave the queue too
    /// (their write still happens; its completion then finds nothing to remove) but are not
    /// counted as dropped.
    #[cold]
    fn discard_all(&mut self, priority: Priority) -> EnqueueReport {
        let mut report = EnqueueReport::new(priority, false);
        report.queue_discarded = true;
        let entries = core::mem::take(&mut self.entries);
        for e in entries {
            if !e.in_flight() {
                self.count_dropped(&mut report, e.meta.size_bytes());
            }
        }
        self.in_flight = 0;
        self.bytes = 0;
        self.hashes = 0;
        report
    }

    fn stats(&self) -> QueueStats {
        QueueStats {
            len_msgs: self.entries.len(),
            in_flight_msgs: self.in_flight,
            bytes: self.bytes,
            hashes: self.hashes,
            sent_msgs_total: self.sent_msgs_total,
            dropped_msgs_total: self.dropped_msgs_total,
            dropped_bytes_total: self.dropped_bytes_total,
        }
    }
}

/// The four queues of one peer.
#[derive(Debug)]
pub(crate) struct OutboundQueues<P> {
    queues: [Queue<P>; 4],
    next_id: u64,
}

impl<P> OutboundQueues<P> {
    pub(crate) fn new() -> Self {
        OutboundQueues { queues: [Queue::new(), Queue::new(), Queue::new(), Queue::new()], next_id: 0 }
    }

    fn queue(&self, priority: Priority) -> &Queue<P> {
        &self.queues[priority.index()]
    }

    fn queue_mut(&mut self, priority: Priority) -> &mut Queue<P> {
        &mut self.queues[priority.index()]
    }

    /// Appends `msg` and sheds according to §6.4 (see the module doc).
    #[inline(always)]
    pub(crate) fn enqueue(&mut self, now: Timestamp, msg: OutboundMessage<P>, limits: &QueueLimits) -> EnqueueReport {
        let priority = msg.meta.priority();
        let size = msg.meta.size_bytes();
        let q = &mut self.queues[priority.index()];

        if priority == Priority::Transaction && size > limits.max_tx_size_bytes {
            return q.refuse_over_max_tx_size(size);
        }

        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        q.bytes = q.bytes.saturating_add(size);
        q.hashes = q.hashes.saturating_add(msg.meta.hash_count());
        push_entry(&mut q.entries, Entry { id, meta: msg.meta, payload: Some(msg.payload), enqueued_at: now });

        let len = q.entries.len();
        let over = match priority {
            Priority::Transaction => {
                u64::try_from(len).unwrap_or(u64::MAX) > limits.max_tx_set_size_ops
                    || q.bytes > limits.tx_queue_byte_limit
            }
            Priority::Demand | Priority::Advert => q.hashes > limits.max_tx_set_size_ops,
            Priority::Scp => false,
        };
        let shedding = over || len > limits.hard_limit_msgs;
        let lower_dropped =
            if shedding && limits.strict_priority_shedding { self.discard_waiting_below(priority) } else { 0 };
        let q = &mut self.queues[priority.index()];
        let mut report = if priority == Priority::Scp {
            trim_scp(q, priority, id, limits)
        } else if shedding {
            q.discard_all(priority)
        } else {
            EnqueueReport::new(priority, true)
        };
        report.lower_priority_dropped_msgs = lower_dropped;
        report
    }

    /// Strict priority shedding: discard the waiting (not in flight) messages of every queue
    /// of lower priority than `priority`. Returns how many.
    #[cold]
    fn discard_waiting_below(&mut self, priority: Priority) -> u64 {
        let mut dropped = 0;
        for q in self.queues.iter_mut().skip(priority.index() + 1) {
            let mut scratch = EnqueueReport::new(priority, false);
            while q.entries.len() > q.in_flight {
                let Some(e) = q.entries.pop_back() else { break };
                q.account_removed(&e.meta);
                q.count_dropped(&mut scratch, e.meta.size_bytes());
            }
            dropped += scratch.dropped_msgs;
        }
        dropped
    }

    /// The first entry not in flight of a queue.
    #[inline]
    pub(crate) fn first_waiting(&self, priority: Priority) -> Option<&MessageMeta> {
        let q = self.queue(priority);
        q.entries.get(q.in_flight).map(|e| &e.meta)
    }

    /// Hands the next message that fits `credit` to the writer and charges it (§6.4): queues
    /// in priority order, each at its first waiting entry; a queue whose first waiting entry
    /// does not fit is skipped, and so is a queue with `hard_limit_msgs` entries in flight.
    /// Also returns whether a waiting entry was skipped for lack of credit.
    #[inline]
    pub(crate) fn take_next(
        &mut self,
        credit: &mut OutboundCapacity,
        hard_limit_msgs: usize,
    ) -> (Option<Sendable<P>>, bool) {
        let mut blocked = false;
        for (q, priority) in self.queues.iter_mut().zip(Priority::ALL) {
            if q.in_flight >= q.entries.len() || q.in_flight >= hard_limit_msgs {
                continue;
            }
            let Some(entry) = q.entries.get_mut(q.in_flight) else {
                continue;
            };
            let size_bytes = entry.meta.size_bytes();
            if !credit.fits(size_bytes) {
                blocked = true;
                continue;
            }
            let Some(payload) = entry.payload.take() else {
                continue;
            };
            credit.charge(size_bytes);
            q.in_flight += 1;
            q.sent_msgs_total = q.sent_msgs_total.wrapping_add(1);
            let sendable = Sendable {
                payload,
                priority,
                size_bytes,
                enqueued_at: entry.enqueued_at,
                ticket: WriteTicket { priority, id: entry.id },
            };
            return (Some(sendable), blocked);
        }
        (None, blocked)
    }

    /// Removes a written entry; returns whether it was still queued.
    #[inline]
    pub(crate) fn complete(&mut self, ticket: WriteTicket) -> bool {
        let q = self.queue_mut(ticket.priority);
        // Writes complete in the order they were taken: the entry is normally the head.
        if q.in_flight > 0 && q.entries.front().is_some_and(|e| e.id == ticket.id) {
            if let Some(entry) = q.entries.pop_front() {
                q.in_flight -= 1;
                q.account_removed(&entry.meta);
                return true;
            }
        }
        let Some(index) = q.entries.range(..q.in_flight).position(|e| e.id == ticket.id) else {
            return false;
        };
        let Some(entry) = q.entries.remove(index) else {
            return false;
        };
        q.in_flight -= 1;
        q.account_removed(&entry.meta);
        true
    }

    pub(crate) fn iter(&self, priority: Priority) -> impl Iterator<Item = QueuedView<'_, P>> {
        self.queue(priority).entries.iter().map(|e| QueuedView {
            meta: &e.meta,
            payload: e.payload.as_ref(),
            enqueued_at: e.enqueued_at,
            in_flight: e.in_flight(),
        })
    }

    pub(crate) fn stats(&self) -> [QueueStats; 4] {
        [self.queues[0].stats(), self.queues[1].stats(), self.queues[2].stats(), self.queues[3].stats()]
    }

    pub(crate) fn check_invariants(&self, hard_limit_msgs: usize) -> Result<(), &'static str> {
        for (index, q) in self.queues.iter().enumerate() {
            if q.in_flight > q.entries.len() {
                return Err("queue: more in flight than queued");
            }
            if q.entries.len() > hard_limit_msgs.max(q.in_flight) {
                return Err("queue: above its hard bound");
            }
            let mut bytes = 0u64;
            let mut hashes = 0u64;
            for (i, e) in q.entries.iter().enumerate() {
                if e.in_flight() != (i < q.in_flight) {
                    return Err("queue: in-flight entries are not a prefix");
                }
                if e.meta.priority().index() != index {
                    return Err("queue: entry in the wrong queue");
                }
                bytes = bytes.saturating_add(e.meta.size_bytes());
                hashes = hashes.saturating_add(e.meta.hash_count());
            }
            if bytes != q.bytes || hashes != q.hashes {
                return Err("queue: byte or hash count does not match the entries");
            }
        }
        Ok(())
    }
}

/// Appends an entry. The fast path has no call that could grow the buffer, which lets the
/// compiler write the entry straight into its slot instead of staging it on the stack.
#[inline(always)]
fn push_entry<P>(entries: &mut VecDeque<Entry<P>>, entry: Entry<P>) {
    if entries.len() < entries.capacity() {
        entries.push_back(entry);
    } else {
        push_entry_growing(entries, entry);
    }
}

#[cold]
#[inline(never)]
fn push_entry_growing<P>(entries: &mut VecDeque<Entry<P>>, entry: Entry<P>) {
    entries.push_back(entry);
}

/// SCP trimming of §6.4 after the new message was appended at the tail.
///
/// stellar-core does both removals in one front-to-back pass; the result is the same as
/// first choosing the replacement (the first waiting entry, other than the tail, whose slot is
/// kept and whose statement the tail supersedes) and then removing forgotten slots.
#[inline(never)]
fn trim_scp<P>(q: &mut Queue<P>, priority: Priority, new_id: u64, limits: &QueueLimits) -> EnqueueReport {
    let mut report = EnqueueReport::new(priority, false);
    let forgotten = |meta: &MessageMeta| {
        let slot = meta.scp_slot_index().unwrap_or(0);
        slot < limits.min_slot_to_remember && slot != limits.checkpoint_slot
    };

    let last = q.entries.len().saturating_sub(1);
    let replace_at = q.entries.back().and_then(|tail| {
        let new_st = tail.meta.scp_statement()?;
        q.entries
            .range(q.in_flight..last)
            .position(|e| {
                !forgotten(&e.meta) && e.meta.scp_statement().is_some_and(|old| is_newer_statement(old, new_st))
            })
            .map(|offset| q.in_flight + offset)
    });
    if let Some(index) = replace_at {
        if let Some(tail) = q.entries.pop_back() {
            let old = core::mem::replace(&mut q.entries[index], tail);
            q.account_removed(&old.meta);
            q.count_dropped(&mut report, old.meta.size_bytes());
            report.scp_replaced = true;
        }
    }

    if limits.min_slot_to_remember > 0 {
        let (mut msgs, mut bytes, mut hashes) = (0u64, 0u64, 0u64);
        q.entries.retain(|e| {
            let drop = !e.in_flight() && forgotten(&e.meta);
            if drop {
                msgs += 1;
                bytes = bytes.saturating_add(e.meta.size_bytes());
                hashes = hashes.saturating_add(e.meta.hash_count());
            }
            !drop
        });
        q.bytes = q.bytes.saturating_sub(bytes);
        q.hashes = q.hashes.saturating_sub(hashes);
        q.dropped_msgs_total = q.dropped_msgs_total.wrapping_add(msgs);
        q.dropped_bytes_total = q.dropped_bytes_total.wrapping_add(bytes);
        report.dropped_msgs += msgs;
        report.dropped_bytes = report.dropped_bytes.saturating_add(bytes);
        report.scp_old_slot_msgs = msgs;
    }

    while q.entries.len() > limits.hard_limit_msgs && q.in_flight < q.entries.len() {
        if let Some(oldest) = q.entries.remove(q.in_flight) {
            q.account_removed(&oldest.meta);
            q.count_dropped(&mut report, oldest.meta.size_bytes());
            report.hard_limit_msgs += 1;
        }
    }
    report.queued = q.entries.iter().rev().any(|e| e.id == new_id);
    report
}
