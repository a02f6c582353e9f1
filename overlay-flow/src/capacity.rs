//! Capacity in messages and bytes, both ways (PROTOCOL.md §6.1 to §6.3).
//!
//! - `OutboundCapacity`: the credit the peer granted us with SEND_MORE_EXTENDED; a flood
//!   message is charged when it is released for writing.
//! - `LocalCapacity`: what we can absorb from the peer. Flood capacity (the credit we grant)
//!   and total reading capacity (every message) are locked on receipt and released when
//!   processing ends; processed flood messages are granted back in batches.
//!
//! All arithmetic is checked or saturating: no input can make it panic. Lifetime totals use
//! wrapping addition; they cannot wrap in practice (each grant adds at most 2^32 - 1).

use crate::config::{FlowConfig, READ_FLOOR_BYTES};
use crate::error::FlowError;
use crate::stats::{LocalStats, OutboundStats};
use overlay_proto::xdr::SendMoreExtended;

/// Our credit for sending flood messages to the peer (§6.1).
#[derive(Clone, Debug, Default)]
pub(crate) struct OutboundCapacity {
    msgs: u64,
    bytes: u64,
    granted_msgs_total: u64,
    granted_bytes_total: u64,
    used_msgs_total: u64,
    used_bytes_total: u64,
    grants_received: u64,
}

impl OutboundCapacity {
    /// Validation of a SEND_MORE_EXTENDED, in stellar-core's order: zero bytes, then overflow
    /// of either 64-bit counter.
    #[inline]
    pub(crate) fn check_grant(&self, grant: &SendMoreExtended) -> Result<(), FlowError> {
        if grant.num_bytes == 0 {
            return Err(FlowError::InvalidSendMoreExtended);
        }
        let msgs_overflow = self.msgs.checked_add(u64::from(grant.num_messages)).is_none();
        let bytes_overflow = self.bytes.checked_add(u64::from(grant.num_bytes)).is_none();
        if msgs_overflow || bytes_overflow {
            return Err(FlowError::CapacityOverflow);
        }
        Ok(())
    }

    /// Adds a grant that passed [`check_grant`](Self::check_grant).
    #[inline]
    pub(crate) fn add_grant(&mut self, grant: &SendMoreExtended) {
        let m = u64::from(grant.num_messages);
        let b = u64::from(grant.num_bytes);
        self.msgs = self.msgs.saturating_add(m);
        self.bytes = self.bytes.saturating_add(b);
        self.granted_msgs_total = self.granted_msgs_total.wrapping_add(m);
        self.granted_bytes_total = self.granted_bytes_total.wrapping_add(b);
        self.grants_received = self.grants_received.wrapping_add(1);
    }

    /// A flood message of `size_bytes` may be sent iff one message and its bytes remain.
    #[inline]
    pub(crate) fn fits(&self, size_bytes: u64) -> bool {
        self.msgs >= 1 && self.bytes >= size_bytes
    }

    /// Charges a message that [`fits`](Self::fits).
    #[inline]
    pub(crate) fn charge(&mut self, size_bytes: u64) {
        debug_assert!(self.fits(size_bytes));
        self.msgs = self.msgs.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(size_bytes);
        self.used_msgs_total = self.used_msgs_total.wrapping_add(1);
        self.used_bytes_total = self.used_bytes_total.wrapping_add(size_bytes);
    }

    /// Test hook: set the remaining credit (stellar-core's `setOutboundCapacity`), keeping the
    /// lifetime totals consistent with it.
    #[cfg(test)]
    pub(crate) fn set_for_testing(&mut self, msgs: u64, bytes: u64) {
        self.msgs = msgs;
        self.bytes = bytes;
        self.granted_msgs_total = self.used_msgs_total.wrapping_add(msgs);
        self.granted_bytes_total = self.used_bytes_total.wrapping_add(bytes);
    }

    pub(crate) fn stats(&self) -> OutboundStats {
        OutboundStats {
            capacity_msgs: self.msgs,
            capacity_bytes: self.bytes,
            granted_msgs_total: self.granted_msgs_total,
            granted_bytes_total: self.granted_bytes_total,
            used_msgs_total: self.used_msgs_total,
            used_bytes_total: self.used_bytes_total,
            grants_received: self.grants_received,
        }
    }

    pub(crate) fn check_invariants(&self) -> Result<(), &'static str> {
        if self.granted_msgs_total.wrapping_sub(self.used_msgs_total) != self.msgs {
            return Err("outbound: granted msgs != used msgs + remaining msgs");
        }
        if self.granted_bytes_total.wrapping_sub(self.used_bytes_total) != self.bytes {
            return Err("outbound: granted bytes != used bytes + remaining bytes");
        }
        Ok(())
    }
}

/// Proof that a received message holds local capacity, returned by
/// [`FlowControl::handle_received`](crate::FlowControl::handle_received) and given back to
/// [`FlowControl::handle_processed`](crate::FlowControl::handle_processed) when processing
/// of the message ends, whatever its outcome.
///
/// Dropping a receipt without handing it back leaks the capacity it holds.
#[must_use = "hand the receipt back to handle_processed when processing ends"]
#[derive(Debug, PartialEq, Eq)]
pub struct Receipt {
    flood: bool,
    size_bytes: u64,
}

impl Receipt {
    /// Whether the message holds flood capacity.
    pub fn is_flood(&self) -> bool {
        self.flood
    }

    /// The bytes it holds.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
}

/// Our reading capacity for the peer (§6.2, §6.3) and the grants that return it.
///
/// Accounting identity, in messages and in bytes, once the initial grant is made:
/// `emitted + pending_grant + processed + locked == limit + received`, where `locked` is
/// `limit - available`. Hence the credit the peer holds from our grants,
/// `emitted - received`, equals `available - pending_grant - processed` and never exceeds
/// what we can absorb.
#[derive(Clone, Debug)]
pub(crate) struct LocalCapacity {
    flood_limit_msgs: u64,
    flood_available_msgs: u64,
    flood_limit_bytes: u64,
    flood_available_bytes: u64,
    total_limit_msgs: u64,
    total_available_msgs: u64,
    total_limit_bytes: u64,
    total_available_bytes: u64,
    batch_msgs: u64,
    batch_bytes: u64,
    /// Flood messages processed since the last batch was granted.
    processed_msgs: u64,
    processed_bytes: u64,
    /// Granted but not yet returned by `poll_grant`. A sum, not a queue of grants: nothing
    /// grows with the number of grants a slow driver leaves undrained.
    pending_grant_msgs: u64,
    pending_grant_bytes: u64,
    /// Returned by `poll_grant`.
    granted_msgs_total: u64,
    granted_bytes_total: u64,
    grants_sent: u64,
    received_flood_msgs_total: u64,
    received_flood_bytes_total: u64,
    authenticated: bool,
}

impl LocalCapacity {
    pub(crate) fn new(config: &FlowConfig, max_tx_size_bytes: u32) -> Self {
        let flood_bytes = config.flood_capacity_bytes(max_tx_size_bytes);
        let total_bytes = config.total_reading_capacity_bytes();
        LocalCapacity {
            flood_limit_msgs: u64::from(config.peer_flood_reading_capacity_msgs),
            flood_available_msgs: u64::from(config.peer_flood_reading_capacity_msgs),
            flood_limit_bytes: flood_bytes,
            flood_available_bytes: flood_bytes,
            total_limit_msgs: u64::from(config.peer_reading_capacity_msgs),
            total_available_msgs: u64::from(config.peer_reading_capacity_msgs),
            total_limit_bytes: total_bytes,
            total_available_bytes: total_bytes,
            batch_msgs: u64::from(config.send_more_batch_msgs),
            batch_bytes: config.send_more_batch_bytes_effective(),
            processed_msgs: 0,
            processed_bytes: 0,
            pending_grant_msgs: 0,
            pending_grant_bytes: 0,
            granted_msgs_total: 0,
            granted_bytes_total: 0,
            grants_sent: 0,
            received_flood_msgs_total: 0,
            received_flood_bytes_total: 0,
            authenticated: false,
        }
    }

    /// The grant sent right after authentication: the whole flood capacity (§6.2).
    pub(crate) fn initial_grant(&self) -> SendMoreExtended {
        SendMoreExtended {
            num_messages: clamp_u32(self.flood_limit_msgs),
            num_bytes: clamp_u32(self.flood_limit_bytes),
        }
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Authentication completed: the whole flood capacity becomes the peer's credit. Once.
    pub(crate) fn authenticate(&mut self) {
        if self.authenticated {
            return;
        }
        self.authenticated = true;
        self.pending_grant_msgs = self.pending_grant_msgs.saturating_add(self.flood_limit_msgs);
        self.pending_grant_bytes = self.pending_grant_bytes.saturating_add(self.flood_limit_bytes);
    }

    /// Locks capacity for a received message (§6.2, §6.3). On error nothing changes.
    #[inline]
    pub(crate) fn lock(&mut self, flood: bool, size_bytes: u64) -> Result<Receipt, FlowError> {
        if flood {
            if size_bytes == 0 {
                return Err(FlowError::EmptyFloodMessage);
            }
            // Before authentication the peer holds no credit at all.
            if !self.authenticated || self.flood_available_msgs < 1 || self.flood_available_bytes < size_bytes {
                return Err(FlowError::FloodOverCapacity);
            }
        }
        if self.total_available_msgs < 1 || self.total_available_bytes < size_bytes {
            return Err(FlowError::ReadWhileThrottled);
        }
        self.total_available_msgs -= 1;
        self.total_available_bytes -= size_bytes;
        if flood {
            self.flood_available_msgs -= 1;
            self.flood_available_bytes -= size_bytes;
            self.received_flood_msgs_total = self.received_flood_msgs_total.wrapping_add(1);
            self.received_flood_bytes_total = self.received_flood_bytes_total.wrapping_add(size_bytes);
        }
        Ok(Receipt { flood, size_bytes })
    }

    /// Releases what a receipt holds and makes a batch grant due when the batch is complete
    /// (§6.2). Releases are capped at the limits, so a receipt from another instance cannot
    /// raise capacity above its limit.
    #[inline]
    pub(crate) fn release(&mut self, receipt: Receipt) {
        let size = receipt.size_bytes;
        self.total_available_msgs = (self.total_available_msgs + 1).min(self.total_limit_msgs);
        self.total_available_bytes = self.total_available_bytes.saturating_add(size).min(self.total_limit_bytes);
        if !receipt.flood {
            return;
        }
        self.flood_available_msgs = (self.flood_available_msgs + 1).min(self.flood_limit_msgs);
        self.flood_available_bytes = self.flood_available_bytes.saturating_add(size).min(self.flood_limit_bytes);
        self.processed_msgs = self.processed_msgs.saturating_add(1);
        self.processed_bytes = self.processed_bytes.saturating_add(size);
        if self.processed_msgs == self.batch_msgs || self.processed_bytes >= self.batch_bytes {
            self.pending_grant_msgs = self.pending_grant_msgs.saturating_add(self.processed_msgs);
            self.pending_grant_bytes = self.pending_grant_bytes.saturating_add(self.processed_bytes);
            self.processed_msgs = 0;
            self.processed_bytes = 0;
        }
    }

    /// A max-tx-size increase of `increase_bytes` (§6.2): the flood byte limit and the
    /// available bytes grow, and once authenticated the increase is granted as
    /// SEND_MORE_EXTENDED{0, increase}.
    pub(crate) fn grow_flood_bytes(&mut self, increase_bytes: u64) {
        self.flood_limit_bytes = self.flood_limit_bytes.saturating_add(increase_bytes);
        self.flood_available_bytes = self.flood_available_bytes.saturating_add(increase_bytes);
        if self.authenticated {
            self.pending_grant_bytes = self.pending_grant_bytes.saturating_add(increase_bytes);
        }
    }

    /// The next SEND_MORE_EXTENDED to send, if a grant is due.
    ///
    /// Grants made due and not yet polled are summed into one message (a driver that drains
    /// after every input sees one message per batch, as stellar-core sends). A message never
    /// carries `numBytes == 0`, which the peer would reject: pending messages without pending
    /// bytes (only possible with a flood byte capacity of 0) are held back.
    #[inline]
    pub(crate) fn poll_grant(&mut self) -> Option<SendMoreExtended> {
        if self.pending_grant_bytes == 0 {
            return None;
        }
        let m = clamp_u32(self.pending_grant_msgs);
        let b = clamp_u32(self.pending_grant_bytes);
        self.pending_grant_msgs -= u64::from(m);
        self.pending_grant_bytes -= u64::from(b);
        self.granted_msgs_total = self.granted_msgs_total.wrapping_add(u64::from(m));
        self.granted_bytes_total = self.granted_bytes_total.wrapping_add(u64::from(b));
        self.grants_sent = self.grants_sent.wrapping_add(1);
        Some(SendMoreExtended { num_messages: m, num_bytes: b })
    }

    /// Reading is allowed iff a message and more than [`READ_FLOOR_BYTES`] remain (§6.3).
    #[inline]
    pub(crate) fn can_read(&self) -> bool {
        self.total_available_msgs > 0 && self.total_available_bytes > READ_FLOOR_BYTES
    }

    pub(crate) fn stats(&self) -> LocalStats {
        LocalStats {
            flood_limit_msgs: self.flood_limit_msgs,
            flood_available_msgs: self.flood_available_msgs,
            flood_limit_bytes: self.flood_limit_bytes,
            flood_available_bytes: self.flood_available_bytes,
            total_limit_msgs: self.total_limit_msgs,
            total_available_msgs: self.total_available_msgs,
            total_limit_bytes: self.total_limit_bytes,
            total_available_bytes: self.total_available_bytes,
            processed_since_grant_msgs: self.processed_msgs,
            processed_since_grant_bytes: self.processed_bytes,
            pending_grant_msgs: self.pending_grant_msgs,
            pending_grant_bytes: self.pending_grant_bytes,
            granted_msgs_total: self.granted_msgs_total,
            granted_bytes_total: self.granted_bytes_total,
            grants_sent: self.grants_sent,
            received_flood_msgs_total: self.received_flood_msgs_total,
            received_flood_bytes_total: self.received_flood_bytes_total,
            authenticated: self.authenticated,
        }
    }

    pub(crate) fn check_invariants(&self) -> Result<(), &'static str> {
        if self.flood_available_msgs > self.flood_limit_msgs || self.flood_available_bytes > self.flood_limit_bytes {
            return Err("local: flood available above its limit");
        }
        if self.total_available_msgs > self.total_limit_msgs || self.total_available_bytes > self.total_limit_bytes {
            return Err("local: total available above its limit");
        }
        let locked_msgs = self.flood_limit_msgs - self.flood_available_msgs;
        let locked_bytes = self.flood_limit_bytes - self.flood_available_bytes;
        if !self.authenticated {
            let idle = self.granted_msgs_total
                | self.pending_grant_msgs
                | self.processed_msgs
                | self.received_flood_msgs_total
                | locked_msgs
                | locked_bytes;
            return if idle == 0 { Ok(()) } else { Err("local: flood activity before auth") };
        }
        let lhs_msgs = self
            .granted_msgs_total
            .wrapping_add(self.pending_grant_msgs)
            .wrapping_add(self.processed_msgs)
            .wrapping_add(locked_msgs);
        if lhs_msgs != self.flood_limit_msgs.wrapping_add(self.received_flood_msgs_total) {
            return Err("local: granted + pending + processed + locked != limit + received (msgs)");
        }
        let lhs_bytes = self
            .granted_bytes_total
            .wrapping_add(self.pending_grant_bytes)
            .wrapping_add(self.processed_bytes)
            .wrapping_add(locked_bytes);
        if lhs_bytes != self.flood_limit_bytes.wrapping_add(self.received_flood_bytes_total) {
            return Err("local: granted + pending + processed + locked != limit + received (bytes)");
        }
        Ok(())
    }
}

fn clamp_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}
