//! [`FlowConfig`]: the flow-control settings of a node, with stellar-core's keys and defaults
//! (PROTOCOL.md §6.5, §13), the values derived from them (§6.2) and their load-time checks.

use crate::error::FlowError;
use core::time::Duration;

/// `MAX_MESSAGE_SIZE`: the largest frame body after authentication (§1.2), 16 MiB.
pub const MAX_MESSAGE_SIZE_BYTES: u64 = overlay_proto::frame::MAX_MESSAGE_SIZE as u64;

/// `BYTE_CAPACITY_READ_FLOOR`: reading continues only while more than this many bytes of
/// total reading capacity remain, so that any next message fits (§6.3).
pub const READ_FLOOR_BYTES: u64 = MAX_MESSAGE_SIZE_BYTES + 4;

/// Flood byte capacity used when both byte settings are 0 and the maximum transaction size
/// leaves room for it (§6.2).
pub const AUTO_FLOOD_READING_CAPACITY_BYTES: u32 = 300_000;

/// Byte batch used when both byte settings are 0 (§6.2).
pub const AUTO_SEND_MORE_BATCH_BYTES: u32 = 100_000;

/// `PEER_SEND_MODE_IDLE_TIMEOUT`: how long a peer may leave us without outbound credit
/// (§4.3 rule 2). Hard-coded in stellar-core.
pub const PEER_SEND_MODE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Default bound on the entries of any one outbound queue \[LOCAL\]; see
/// [`FlowConfig::queue_hard_limit_msgs`].
pub const DEFAULT_QUEUE_HARD_LIMIT_MSGS: usize = 65_536;

/// Per-peer flow-control settings. `Default` gives stellar-core's defaults.
///
/// Call [`validate`](FlowConfig::validate) when the configuration is loaded;
/// [`FlowControl::new`](crate::FlowControl::new) does not validate (stellar-core's own tests
/// run deliberately broken settings, and so do ours) and no setting can make it panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    /// `PEER_READING_CAPACITY`, default **201**: received messages of any kind that may be in
    /// processing at once (total reading capacity in messages, §6.3).
    pub peer_reading_capacity_msgs: u32,
    /// `PEER_FLOOD_READING_CAPACITY`, default **200**: flood messages we grant the peer and
    /// may hold in processing at once (§6.2).
    pub peer_flood_reading_capacity_msgs: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE`, default **40**: flood messages processed before
    /// we send SEND_MORE_EXTENDED (§6.2).
    pub send_more_batch_msgs: u32,
    /// `PEER_FLOOD_READING_CAPACITY_BYTES`, default **0** (automatic: 300000, or
    /// maxTxSize + 100000 when the maximum transaction size needs it; §6.2).
    pub peer_flood_reading_capacity_bytes: u32,
    /// `FLOW_CONTROL_SEND_MORE_BATCH_SIZE_BYTES`, default **0** (automatic: 100000; §6.2).
    pub send_more_batch_bytes: u32,
    /// `PEER_TOTAL_READING_CAPACITY_BYTES`, default **1048576**: received bytes that may be in
    /// processing at once, on top of the [`READ_FLOOR_BYTES`] floor (§6.3).
    pub peer_total_reading_capacity_bytes: u64,
    /// `OUTBOUND_TX_QUEUE_BYTE_LIMIT`, default **3145728** (3 MiB): bytes of queued outbound
    /// transactions above which the whole transaction queue is discarded (§6.4).
    pub outbound_tx_queue_byte_limit: u64,
    /// `PEER_SEND_MODE_IDLE_TIMEOUT` (hard-coded in stellar-core), default **60 s**: drop the
    /// peer when it has left us without outbound credit this long (§4.3 rule 2).
    pub send_mode_idle_timeout: Duration,
    /// No stellar-core key \[LOCAL\], default **65536**: hard bound on the entries (queued and
    /// in flight) of each of the four outbound queues. The spec's own limits (§6.4) come from
    /// the ledger and do not bound the SCP queue or a queue of adverts without hashes; this
    /// bound does. Over it, the SCP queue sheds its oldest entries not in flight, and the
    /// other queues are discarded as when they exceed their spec limit.
    pub queue_hard_limit_msgs: usize,
    /// No stellar-core key \[LOCAL\], default **false**: strict priority shedding. The spec
    /// sheds each queue on its own (§6.4), so a transaction queue over its limit is discarded
    /// while adverts and demands stay queued. With this set, whenever a queue is shed for load
    /// (over its limit or the hard bound), every waiting message of the lower-priority queues
    /// is discarded first, so a higher-priority message is never shed for load while a
    /// lower-priority one stays queued. It sheds more in total; it suits a sender that would
    /// rather lose adverts than transactions and SCP messages. Obsolete SCP statements are
    /// still replaced and trimmed as the spec says (that is not load shedding).
    pub strict_priority_shedding: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            peer_reading_capacity_msgs: 201,
            peer_flood_reading_capacity_msgs: 200,
            send_more_batch_msgs: 40,
            peer_flood_reading_capacity_bytes: 0,
            send_more_batch_bytes: 0,
            peer_total_reading_capacity_bytes: 1_048_576,
            outbound_tx_queue_byte_limit: 3_145_728,
            send_mode_idle_timeout: PEER_SEND_MODE_IDLE_TIMEOUT,
            queue_hard_limit_msgs: DEFAULT_QUEUE_HARD_LIMIT_MSGS,
            strict_priority_shedding: false,
        }
    }
}

impl FlowConfig {
    /// Whether both byte settings are 0, so that the byte capacity and batch are derived
    /// from the maximum transaction size (§6.2).
    pub fn is_byte_config_automatic(&self) -> bool {
        self.peer_flood_reading_capacity_bytes == 0 && self.send_more_batch_bytes == 0
    }

    /// `floodByteCapacity` (§6.2): the flood byte credit of the initial grant and the local
    /// limit, for a ledger whose maximum transaction size is `max_tx_size_bytes`.
    ///
    /// ```
    /// use overlay_flow::FlowConfig;
    /// let auto = FlowConfig::default();
    /// assert_eq!(auto.flood_capacity_bytes(102_400), 300_000);
    /// assert_eq!(auto.flood_capacity_bytes(250_000), 350_000);
    /// ```
    pub fn flood_capacity_bytes(&self, max_tx_size_bytes: u32) -> u64 {
        if self.is_byte_config_automatic() {
            let auto = u64::from(AUTO_FLOOD_READING_CAPACITY_BYTES);
            let batch = u64::from(AUTO_SEND_MORE_BATCH_BYTES);
            let max_tx = u64::from(max_tx_size_bytes);
            if auto - batch >= max_tx { auto } else { max_tx + batch }
        } else {
            u64::from(self.peer_flood_reading_capacity_bytes)
        }
    }

    /// `byteBatch` (§6.2): processed flood bytes that trigger a SEND_MORE_EXTENDED.
    pub fn send_more_batch_bytes_effective(&self) -> u64 {
        if self.is_byte_config_automatic() {
            u64::from(AUTO_SEND_MORE_BATCH_BYTES)
        } else {
            u64::from(self.send_more_batch_bytes)
        }
    }

    /// Total reading capacity in bytes: [`READ_FLOOR_BYTES`] plus
    /// `PEER_TOTAL_READING_CAPACITY_BYTES` (§6.3).
    pub fn total_reading_capacity_bytes(&self) -> u64 {
        READ_FLOOR_BYTES.saturating_add(self.peer_total_reading_capacity_bytes)
    }

    /// The load-time checks of §6.2, in stellar-core's order, then the byte-config check for
    /// a ledger whose maximum transaction size is `max_tx_size_bytes` (explicit byte settings
    /// only: the automatic values always pass it).
    ///
    /// ```
    /// use overlay_flow::{FlowConfig, FlowError};
    /// assert_eq!(FlowConfig::default().validate(102_400), Ok(()));
    /// let bad = FlowConfig { send_more_batch_msgs: 300, ..FlowConfig::default() };
    /// assert!(matches!(bad.validate(102_400), Err(FlowError::BatchMsgsAboveFloodCapacity { .. })));
    /// ```
    pub fn validate(&self, max_tx_size_bytes: u32) -> Result<(), FlowError> {
        if self.send_more_batch_msgs > self.peer_flood_reading_capacity_msgs {
            return Err(FlowError::BatchMsgsAboveFloodCapacity {
                batch_msgs: self.send_more_batch_msgs,
                capacity_msgs: self.peer_flood_reading_capacity_msgs,
            });
        }
        if self.peer_reading_capacity_msgs <= self.peer_flood_reading_capacity_msgs {
            return Err(FlowError::ReadingCapacityNotAboveFlood {
                reading_msgs: self.peer_reading_capacity_msgs,
                flood_msgs: self.peer_flood_reading_capacity_msgs,
            });
        }
        if self.send_more_batch_bytes > self.peer_flood_reading_capacity_bytes {
            return Err(FlowError::BatchBytesAboveFloodCapacity {
                batch_bytes: self.send_more_batch_bytes,
                capacity_bytes: self.peer_flood_reading_capacity_bytes,
            });
        }
        if !self.is_byte_config_automatic() {
            // Cannot underflow: the previous check ensures batch <= capacity.
            let room = self.peer_flood_reading_capacity_bytes - self.send_more_batch_bytes;
            if room < max_tx_size_bytes {
                return Err(FlowError::ByteCapacityBelowMaxTxSize {
                    capacity_bytes: self.peer_flood_reading_capacity_bytes,
                    batch_bytes: self.send_more_batch_bytes,
                    max_tx_size_bytes,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_defaults() {
        // PROTOCOL.md §6.5.
        let c = FlowConfig::default();
        assert_eq!(c.peer_flood_reading_capacity_msgs, 200);
        assert_eq!(c.send_more_batch_msgs, 40);
        assert_eq!(c.peer_reading_capacity_msgs, 201);
        assert_eq!(c.peer_flood_reading_capacity_bytes, 0);
        assert_eq!(c.send_more_batch_bytes, 0);
        assert_eq!(c.peer_total_reading_capacity_bytes, 1_048_576);
        assert_eq!(c.outbound_tx_queue_byte_limit, 3_145_728);
        assert_eq!(c.send_mode_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.total_reading_capacity_bytes(), 16_777_220 + 1_048_576);
        assert_eq!(READ_FLOOR_BYTES, 16_777_220);
        assert_eq!(c.validate(102_400), Ok(()));
    }

    #[test]
    fn automatic_byte_capacity_follows_the_maximum_transaction_size() {
        // §6.2: 300000 if 300000 - 100000 >= maxTxSize, else maxTxSize + 100000.
        let c = FlowConfig::default();
        assert_eq!(c.flood_capacity_bytes(200_000), 300_000);
        assert_eq!(c.flood_capacity_bytes(200_001), 300_001);
        assert_eq!(c.flood_capacity_bytes(u32::MAX), u64::from(u32::MAX) + 100_000);
        assert_eq!(c.send_more_batch_bytes_effective(), 100_000);
        // Automatic values always satisfy the byte-config check.
        assert_eq!(c.validate(u32::MAX), Ok(()));
    }

    #[test]
    fn explicit_byte_settings_are_used_as_given() {
        let c = FlowConfig {
            peer_flood_reading_capacity_bytes: 500_000,
            send_more_batch_bytes: 0,
            ..FlowConfig::default()
        };
        assert!(!c.is_byte_config_automatic());
        assert_eq!(c.flood_capacity_bytes(102_400), 500_000);
        assert_eq!(c.send_more_batch_bytes_effective(), 0);
        let only_batch = FlowConfig { send_more_batch_bytes: 10, ..FlowConfig::default() };
        assert_eq!(only_batch.flood_capacity_bytes(102_400), 0);
    }

    #[test]
    fn load_time_constraints_are_checked_in_order() {
        // §6.2 "Config constraints checked at load".
        let batch_over = FlowConfig { send_more_batch_msgs: 201, ..FlowConfig::default() };
        assert_eq!(
            batch_over.validate(1),
            Err(FlowError::BatchMsgsAboveFloodCapacity { batch_msgs: 201, capacity_msgs: 200 })
        );
        let reading_equal = FlowConfig { peer_reading_capacity_msgs: 200, ..FlowConfig::default() };
        assert_eq!(
            reading_equal.validate(1),
            Err(FlowError::ReadingCapacityNotAboveFlood { reading_msgs: 200, flood_msgs: 200 })
        );
        let bytes_over =
            FlowConfig { peer_flood_reading_capacity_bytes: 10, send_more_batch_bytes: 11, ..FlowConfig::default() };
        assert_eq!(
            bytes_over.validate(1),
            Err(FlowError::BatchBytesAboveFloodCapacity { batch_bytes: 11, capacity_bytes: 10 })
        );
        // Equal batch and capacity are allowed by the first and third checks.
        let edge = FlowConfig {
            send_more_batch_msgs: 200,
            peer_flood_reading_capacity_bytes: 300,
            send_more_batch_bytes: 100,
            ..FlowConfig::default()
        };
        assert_eq!(edge.validate(200), Ok(()));
        assert_eq!(
            edge.validate(201),
            Err(FlowError::ByteCapacityBelowMaxTxSize {
                capacity_bytes: 300,
                batch_bytes: 100,
                max_tx_size_bytes: 201
            })
        );
    }

    #[test]
    fn batch_size_greater_than_message_size_is_refused_at_startup() {
        // C++: OverlayTests "flow control byte capacity" / "batch size is greater than message size"
        // capacity = 2 * txSize + 2000, batch = 2 * txSize: capacity - batch < maxTxSize = txSize.
        let tx_size = 4_000u32;
        let c = FlowConfig {
            peer_flood_reading_capacity_bytes: 2 * tx_size + 2_000,
            send_more_batch_bytes: 2 * tx_size,
            ..FlowConfig::default()
        };
        assert!(matches!(c.validate(tx_size), Err(FlowError::ByteCapacityBelowMaxTxSize { .. })));
        // "batch size is less than message size": capacity = 2 * txSize + 2000, batch = txSize / 2.
        let ok = FlowConfig { send_more_batch_bytes: tx_size / 2, ..c };
        assert_eq!(ok.validate(tx_size), Ok(()));
    }
}
