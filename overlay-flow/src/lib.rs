//! Per-peer flow control of the Stellar overlay (PROTOCOL.md §6, the capacity step of the
//! §7 pipeline, and rule 2 of the §4.3 timers).
//!
//! This crate is deterministic protocol logic with no networking, no OS time, no threads and
//! no randomness: time comes in as [`Timestamp`] arguments and outputs are drained with
//! `poll_*` methods. One [`FlowControl`] value serves one connection and does:
//! - outbound credit: the peer's SEND_MORE_EXTENDED grants in messages and bytes, validated
//!   (§6.1) and charged as flood messages are released for writing;
//! - local reading capacity: flood capacity (the credit we grant) and total reading capacity,
//!   locked when a message arrives and released when its processing ends; a flood message
//!   past the credit we granted is a peer error; read throttling (§6.2, §6.3);
//! - SEND_MORE_EXTENDED generation: the initial grant after AUTH, a grant per processed batch,
//!   and SEND_MORE_EXTENDED{0, d} when the maximum transaction size grows by `d` (§6.2);
//! - the four outbound priority queues, their serving order and their load shedding,
//!   including the trimming of obsolete SCP messages (§6.4);
//! - the 60-second "no outbound capacity" drop (§4.3 rule 2).
//!
//! It does **not** encode, MAC or frame messages (`overlay-proto`, `overlay-auth`), decide
//! what to flood to whom (`overlay-flood`), process messages, run the idle and straggler
//! timers (`overlay-node`), or do any I/O (the drivers). Messages are opaque to it beyond
//! their [`MessageMeta`]: the caller's payload type `P` (typically an `Arc` of the encoded
//! message) is stored and handed back untouched.
//!
//! # Run loop
//!
//! ```
//! use overlay_flow::{FlowConfig, FlowControl, LedgerLimits, OutboundMessage};
//! use overlay_proto::xdr::{MessageType, StellarMessage, TransactionEnvelope};
//! use overlay_proto::Timestamp;
//!
//! let config = FlowConfig::default();
//! let t0 = Timestamp::from_secs(1);
//! // One machine per side of a connection; payloads here are plain strings.
//! let mut alice: FlowControl<&str> = FlowControl::new(&config, LedgerLimits::default(), t0);
//! let mut bob: FlowControl<&str> = FlowControl::new(&config, LedgerLimits::default(), t0);
//!
//! // After AUTH, each side sends its initial grant.
//! bob.handle_authenticated(t0);
//! let grant = bob.poll_grant().expect("initial grant");
//! assert_eq!((grant.num_messages, grant.num_bytes), (200, 300_000));
//! alice.handle_send_more(t0, &grant).unwrap();
//!
//! // Alice floods a transaction: enqueue, then drain poll_send and write what it returns.
//! let tx = StellarMessage::Transaction(TransactionEnvelope::default());
//! let size = overlay_proto::wire::encode_message(&tx).unwrap().len();
//! let _report = alice.enqueue(t0, OutboundMessage::new(&tx, size, "tx bytes").unwrap());
//! let out = alice.poll_send(t0).expect("credit is available");
//! assert_eq!(out.payload, "tx bytes");
//! assert!(alice.poll_send(t0).is_none());
//! alice.handle_write_complete(t0, out.ticket);
//!
//! // Bob reads it (after MAC verification), processes it, and releases the capacity.
//! let receipt = bob.handle_received(t0, MessageType::Transaction, size).unwrap();
//! bob.handle_processed(t0, receipt);
//! assert!(bob.poll_grant().is_none(), "a batch is 40 messages or 100000 bytes");
//! ```
//!
//! # Modules and stellar-core files
//!
//! | module | job | stellar-core |
//! |---|---|---|
//! | [`config`] | settings, derived byte values, load-time checks | `Config.cpp`, `OverlayManagerImpl.cpp` (`getFlowControlBytes*`) |
//! | [`ledger`] | ledger-driven limits, `maxTxSize` | `HerderImpl.cpp` (`getMaxTxSize`) |
//! | [`capacity`] | credit both ways, grants, read throttling | `FlowControlCapacity.cpp`, `FlowControl.cpp` |
//! | [`queue`] | priority queues and shedding | `FlowControl.cpp` (`addMsgAndMaybeTrimQueue`, `getNextBatchToSend`) |
//! | [`scp_order`] | newer-statement order | `Slot.cpp`, `NominationProtocol.cpp`, `BallotProtocol.cpp` |
//! | [`message`] | outbound message metadata | `FlowControl.h` (`QueuedOutboundMessage`) |
//! | [`stats`] | counters | `FlowControl.cpp` (`getFlowControlJsonInfo`), `OverlayMetrics.cpp` |
//! | [`error`] | errors and drop reasons | `Peer.cpp`, `FlowControl.cpp` (`isSendMoreValid`) |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capacity;
pub mod config;
pub mod error;
pub mod ledger;
pub mod message;
pub mod queue;
pub mod scp_order;
pub mod stats;

#[cfg(test)]
mod tests;

pub use capacity::Receipt;
pub use config::FlowConfig;
pub use error::FlowError;
pub use ledger::LedgerLimits;
pub use message::{MessageMeta, OutboundMessage, Sendable, WriteTicket};
pub use queue::{EnqueueReport, QueuedView};
pub use stats::{FlowStats, LocalStats, OutboundStats, QueueStats};

use capacity::{LocalCapacity, OutboundCapacity};
use core::time::Duration;
use overlay_proto::xdr::{MessageType, SendMoreExtended};
use overlay_proto::{MessageClass, Priority, Timestamp};
use queue::{OutboundQueues, QueueLimits};

/// Flow control for one peer connection: credit both ways, grants, outbound queues.
///
/// # Drain contract
///
/// After every `handle_*` call and every [`enqueue`](Self::enqueue), the driver:
/// 1. drains [`poll_grant`](Self::poll_grant) until `None`, sending each SEND_MORE_EXTENDED
///    (outside flow control: it is not a flood message);
/// 2. drains [`poll_send`](Self::poll_send) until `None` (or until its write buffer is full),
///    writing each message in the order returned, and reports each completed write with
///    [`handle_write_complete`](Self::handle_write_complete) (a driver that considers a
///    message written once it is in its buffer may report it at once);
/// 3. checks [`is_read_throttled`](Self::is_read_throttled) before reading the next frame;
/// 4. arms a timer for [`poll_timeout`](Self::poll_timeout) and calls
///    [`handle_timeout`](Self::handle_timeout) when it fires (or on the peer's 5-second
///    recurrent timer, between the idle and straggler checks, as stellar-core does).
///
/// An `Err` from a `handle_*` method that [`is_peer_misbehaviour`](FlowError::is_peer_misbehaviour)
/// means: drop the peer with [`FlowError::reason`] (no ERROR message). `now` must not go
/// backwards; an earlier `now` is treated as the latest one seen.
#[derive(Debug)]
pub struct FlowControl<P> {
    config: FlowConfig,
    ledger: LedgerLimits,
    local: LocalCapacity,
    outbound: OutboundCapacity,
    queues: OutboundQueues<P>,
    /// Since when a queued message has waited for credit: set at creation, overwritten each
    /// time a send attempt finds a waiting message that does not fit, cleared by each valid
    /// SEND_MORE_EXTENDED (§6.4).
    no_capacity_since: Option<Timestamp>,
    /// An event on which stellar-core attempts to send (an enqueue, a grant, a completed
    /// write) happened since `poll_send` last returned `None`. Only such attempts move the
    /// "no outbound capacity" clock, so that how often a driver polls does not matter.
    send_attempt_due: bool,
    last_now: Timestamp,
}

impl<P> FlowControl<P> {
    /// Flow control for a new connection, created with the peer (before the handshake, so
    /// that handshake messages count against total reading capacity). The "no outbound
    /// capacity" clock starts now. The configuration is not validated here (see
    /// [`FlowConfig::validate`]).
    pub fn new(config: &FlowConfig, ledger: LedgerLimits, now: Timestamp) -> Self {
        FlowControl {
            config: config.clone(),
            ledger,
            local: LocalCapacity::new(config, ledger.max_tx_size_bytes),
            outbound: OutboundCapacity::default(),
            queues: OutboundQueues::new(),
            no_capacity_since: Some(now),
            send_attempt_due: false,
            last_now: now,
        }
    }

    #[inline]
    fn advance(&mut self, now: Timestamp) -> Timestamp {
        if now > self.last_now {
            self.last_now = now;
        }
        self.last_now
    }

    // ----- session -----

    /// The handshake completed: the initial grant, SEND_MORE_EXTENDED{flood capacity in
    /// messages, in bytes} (for example {200, 300000}), becomes due on
    /// [`poll_grant`](Self::poll_grant). It must be sent right after AUTH. Idempotent.
    pub fn handle_authenticated(&mut self, now: Timestamp) {
        self.advance(now);
        self.local.authenticate();
    }

    /// The grant [`handle_authenticated`](Self::handle_authenticated) makes due: our whole
    /// flood capacity.
    pub fn initial_grant(&self) -> SendMoreExtended {
        self.local.initial_grant()
    }

    // ----- inbound -----

    /// A message of type `msg_type` whose StellarMessage XDR is `msg_bytes` long arrived and
    /// passed MAC verification (§7 step 3). Locks one message and `msg_bytes` of total
    /// reading capacity, and for a flood message also of flood capacity.
    ///
    /// Errors: [`FlowError::FloodOverCapacity`] for a flood message beyond the credit we
    /// granted (drop the peer; a flood message before authentication is beyond it too);
    /// contract misuse if total capacity cannot hold the message (the driver read while
    /// throttled) or a flood message has zero bytes. On error nothing is locked.
    #[inline]
    pub fn handle_received(
        &mut self,
        now: Timestamp,
        msg_type: MessageType,
        msg_bytes: usize,
    ) -> Result<Receipt, FlowError> {
        self.advance(now);
        let size = u64::try_from(msg_bytes).unwrap_or(u64::MAX);
        self.local.lock(msg_type.is_flood(), size)
    }

    /// Processing of a received message ended, whatever its outcome (handled, ignored while
    /// out of sync, discarded as a duplicate or by an overloaded scheduler): releases what
    /// `receipt` holds. When a batch of flood messages is complete, a grant becomes due on
    /// [`poll_grant`](Self::poll_grant), and reading may resume.
    #[inline]
    pub fn handle_processed(&mut self, now: Timestamp, receipt: Receipt) {
        self.advance(now);
        self.local.release(receipt);
    }

    /// The next SEND_MORE_EXTENDED to send, if one is due. Drain until `None`.
    #[inline]
    pub fn poll_grant(&mut self) -> Option<SendMoreExtended> {
        self.local.poll_grant()
    }

    /// Whether reading may continue: one message and more than 16 MiB + 4 bytes of total
    /// reading capacity remain (§6.3).
    #[inline]
    pub fn can_read(&self) -> bool {
        self.local.can_read()
    }

    /// Whether reading must pause until processing releases capacity (§6.3). Non-flood
    /// traffic is only ever a reason to pause, never to drop.
    #[inline]
    pub fn is_read_throttled(&self) -> bool {
        !self.local.can_read()
    }

    /// A SEND_MORE_EXTENDED from the peer (§6.1): validated, then added to our credit; it
    /// clears the "no outbound capacity" clock. Drain [`poll_send`](Self::poll_send) after.
    ///
    /// Errors (drop the peer): [`FlowError::InvalidSendMoreExtended`] for `numBytes == 0`,
    /// [`FlowError::CapacityOverflow`] if either counter would pass 2^64 - 1. On error the
    /// credit is unchanged.
    #[inline]
    pub fn handle_send_more(&mut self, now: Timestamp, grant: &SendMoreExtended) -> Result<(), FlowError> {
        self.advance(now);
        self.outbound.check_grant(grant)?;
        self.outbound.add_grant(grant);
        self.no_capacity_since = None;
        self.send_attempt_due = true;
        Ok(())
    }

    /// A legacy SEND_MORE from the peer: always [`FlowError::LegacySendMore`] (drop it).
    pub fn handle_legacy_send_more(&mut self, now: Timestamp) -> Result<(), FlowError> {
        self.advance(now);
        Err(FlowError::LegacySendMore)
    }

    // ----- outbound -----

    /// Queues a flood message for the peer and sheds according to §6.4 (see [`queue`]);
    /// the report says what was shed. Drain [`poll_send`](Self::poll_send) after.
    #[inline]
    pub fn enqueue(&mut self, now: Timestamp, msg: OutboundMessage<P>) -> EnqueueReport {
        let now = self.advance(now);
        let limits = self.queue_limits();
        self.send_attempt_due = true;
        self.queues.enqueue(now, msg, &limits)
    }

    /// The next message that may be written now, if any: queues in priority order (SCP,
    /// transactions, demands, adverts), each in FIFO order past the messages already in
    /// flight; a queue whose first waiting message does not fit the credit is skipped, so a
    /// small advert may overtake a large transaction. The message's credit is charged and it
    /// stays in its queue, in flight, until
    /// [`handle_write_complete`](Self::handle_write_complete). Drain until `None`.
    ///
    /// The "no outbound capacity" clock is set to `now` when a waiting message does not fit
    /// during the first drain after an enqueue, a grant or a completed write (the events on
    /// which stellar-core tries to send); polling again without such an event does not move it.
    ///
    /// A queue with [`FlowConfig::queue_hard_limit_msgs`] messages in flight releases no more
    /// until writes complete.
    #[inline]
    pub fn poll_send(&mut self, now: Timestamp) -> Option<Sendable<P>> {
        let now = self.advance(now);
        let attempt = core::mem::take(&mut self.send_attempt_due);
        let (sendable, blocked) = self.queues.take_next(&mut self.outbound, self.config.queue_hard_limit_msgs);
        if blocked && attempt {
            self.no_capacity_since = Some(now);
        }
        if sendable.is_some() {
            // The drain continues: the attempt is still under way.
            self.send_attempt_due = attempt;
        }
        sendable
    }

    /// The write of a message returned by [`poll_send`](Self::poll_send) completed: it leaves
    /// its queue (if it is still there: a discarded queue takes its in-flight entries with
    /// it). Returns whether it was still queued.
    #[inline]
    pub fn handle_write_complete(&mut self, now: Timestamp, ticket: WriteTicket) -> bool {
        self.advance(now);
        self.send_attempt_due = true;
        self.queues.complete(ticket)
    }

    // ----- timers -----

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: when the "no
    /// outbound capacity" clock reaches `PEER_SEND_MODE_IDLE_TIMEOUT`, if it is running.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.no_capacity_since.map(|since| since + self.config.send_mode_idle_timeout)
    }

    /// Checks the "no outbound capacity" rule (§4.3 rule 2): `Err`
    /// ([`FlowError::NoOutboundCapacityTimeout`], drop the peer) once the clock has run for
    /// `PEER_SEND_MODE_IDLE_TIMEOUT`. Idempotent.
    pub fn handle_timeout(&mut self, now: Timestamp) -> Result<(), FlowError> {
        let now = self.advance(now);
        match self.no_capacity_since {
            Some(since) if now - since >= self.config.send_mode_idle_timeout => {
                Err(FlowError::NoOutboundCapacityTimeout)
            }
            _ => Ok(()),
        }
    }

    // ----- ledger -----

    /// New ledger-driven limits (after each ledger close). An increase of the maximum
    /// transaction size by `d` grows the flood byte capacity by `d` and, once authenticated,
    /// makes SEND_MORE_EXTENDED{0, d} due on [`poll_grant`](Self::poll_grant); a decrease
    /// only lowers the size above which transactions are not queued (§6.2). Queues are not
    /// re-trimmed until the next enqueue.
    pub fn handle_ledger_limits(&mut self, now: Timestamp, limits: LedgerLimits) {
        self.advance(now);
        let old = self.ledger.max_tx_size_bytes;
        if limits.max_tx_size_bytes > old {
            self.local.grow_flood_bytes(u64::from(limits.max_tx_size_bytes - old));
        }
        self.ledger = limits;
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The ledger-driven limits in use.
    pub fn ledger_limits(&self) -> &LedgerLimits {
        &self.ledger
    }

    /// Whether [`handle_authenticated`](Self::handle_authenticated) was called.
    pub fn is_authenticated(&self) -> bool {
        self.local.is_authenticated()
    }

    /// Since when a queued message has waited for credit, if the clock runs.
    pub fn no_capacity_since(&self) -> Option<Timestamp> {
        self.no_capacity_since
    }

    /// How long the clock has run at `now` (for `overlay.connection.flood-throttle`).
    pub fn no_capacity_for(&self, now: Timestamp) -> Option<Duration> {
        self.no_capacity_since.map(|since| now - since)
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> FlowStats {
        FlowStats {
            outbound: self.outbound.stats(),
            local: self.local.stats(),
            queues: self.queues.stats(),
            no_capacity_since: self.no_capacity_since,
            read_throttled: self.is_read_throttled(),
        }
    }

    /// The entries of one queue, front first.
    pub fn queued(&self, priority: Priority) -> impl Iterator<Item = QueuedView<'_, P>> {
        self.queues.iter(priority)
    }

    /// The first message of a queue not yet handed to the writer.
    pub fn first_waiting(&self, priority: Priority) -> Option<&MessageMeta> {
        self.queues.first_waiting(priority)
    }

    /// Checks the internal accounting (for tests, fuzzing and the simulator); `Err` names the
    /// broken invariant. Costs a pass over the queues.
    ///
    /// - outbound, both units: granted = used + remaining;
    /// - local, both units: available ≤ limit; once authenticated,
    ///   granted + pending grant + processed since grant + locked = limit + received, so the
    ///   credit the peer holds (granted − received) never exceeds the available capacity;
    ///   before authentication, nothing granted, received or locked;
    /// - queues: in-flight entries form a prefix; each entry is in its priority's queue;
    ///   byte and hash counts match the entries; no queue is above its hard bound.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.outbound.check_invariants()?;
        self.local.check_invariants()?;
        self.queues.check_invariants(self.config.queue_hard_limit_msgs)
    }

    #[inline]
    fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_tx_size_bytes: u64::from(self.ledger.max_tx_size_bytes),
            max_tx_set_size_ops: u64::from(self.ledger.max_tx_set_size_ops),
            tx_queue_byte_limit: self.config.outbound_tx_queue_byte_limit,
            min_slot_to_remember: self.ledger.min_slot_to_remember,
            checkpoint_slot: self.ledger.checkpoint_slot,
            hard_limit_msgs: self.config.queue_hard_limit_msgs,
            strict_priority_shedding: self.config.strict_priority_shedding,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_outbound_capacity_for_testing(&mut self, msgs: u64, bytes: u64) {
        self.outbound.set_for_testing(msgs, bytes);
    }
}
