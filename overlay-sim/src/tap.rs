//! The wire tap: what the simulator reads from the bytes nodes write, without keys and
//! without decoding whole messages.
//!
//! Every frame body is an `AuthenticatedMessage` (`u32 v ‖ u64 seq ‖ StellarMessage ‖ mac`),
//! and nothing is encrypted, so the message type, its XDR size, the two numbers of a
//! SEND_MORE_EXTENDED and a hash of a TRANSACTION can be read at fixed offsets. The tap is
//! an independent observer for the invariants (capacity, echo) and the source of the
//! bytes-by-class report; it trusts nothing the nodes say about themselves.

use overlay_proto::xdr::MessageType;
use overlay_proto::{MessageClass, SeededState};
use serde::Serialize;
use std::hash::BuildHasher;

/// Length of the fixed part of a body before the StellarMessage (`v` and `seq`).
const MSG_OFFSET: usize = 12;
/// Length of the MAC at the end of a body.
const MAC_LEN: usize = 32;

/// The traffic classes of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficClass {
    /// HELLO, AUTH.
    Handshake,
    /// ERROR_MSG.
    Error,
    /// TRANSACTION.
    Transaction,
    /// FLOOD_ADVERT.
    FloodAdvert,
    /// FLOOD_DEMAND.
    FloodDemand,
    /// SCP_MESSAGE.
    Scp,
    /// SEND_MORE, SEND_MORE_EXTENDED.
    FlowControl,
    /// GET_TX_SET, TX_SET, GENERALIZED_TX_SET, GET_SCP_QUORUMSET (pings), SCP_QUORUMSET,
    /// DONT_HAVE.
    Fetch,
    /// GET_SCP_STATE.
    ScpState,
    /// PEERS.
    Peers,
    /// Surveys, unknown types and bytes that are not frames.
    Other,
}

impl TrafficClass {
    /// Every class, in report order.
    pub const ALL: [TrafficClass; 11] = [
        TrafficClass::Handshake,
        TrafficClass::Error,
        TrafficClass::Transaction,
        TrafficClass::FloodAdvert,
        TrafficClass::FloodDemand,
        TrafficClass::Scp,
        TrafficClass::FlowControl,
        TrafficClass::Fetch,
        TrafficClass::ScpState,
        TrafficClass::Peers,
        TrafficClass::Other,
    ];

    /// Index into [`TrafficClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The report's name for the class.
    pub fn name(self) -> &'static str {
        match self {
            TrafficClass::Handshake => "handshake",
            TrafficClass::Error => "error",
            TrafficClass::Transaction => "transaction",
            TrafficClass::FloodAdvert => "flood_advert",
            TrafficClass::FloodDemand => "flood_demand",
            TrafficClass::Scp => "scp",
            TrafficClass::FlowControl => "flow_control",
            TrafficClass::Fetch => "fetch",
            TrafficClass::ScpState => "scp_state",
            TrafficClass::Peers => "peers",
            TrafficClass::Other => "other",
        }
    }

    /// The class of a message type.
    pub fn of(t: MessageType) -> TrafficClass {
        use MessageType as T;
        match t {
            T::Hello | T::Auth => TrafficClass::Handshake,
            T::ErrorMsg => TrafficClass::Error,
            T::Transaction => TrafficClass::Transaction,
            T::FloodAdvert => TrafficClass::FloodAdvert,
            T::FloodDemand => TrafficClass::FloodDemand,
            T::ScpMessage => TrafficClass::Scp,
            T::SendMore | T::SendMoreExtended => TrafficClass::FlowControl,
            T::GetTxSet | T::TxSet | T::GeneralizedTxSet | T::GetScpQuorumset | T::ScpQuorumset | T::DontHave => {
                TrafficClass::Fetch
            }
            T::GetScpState => TrafficClass::ScpState,
            T::Peers => TrafficClass::Peers,
            _ => TrafficClass::Other,
        }
    }
}

/// What the tap reads from one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo<'a> {
    /// The whole frame, record mark included.
    pub frame: &'a [u8],
    /// The message type, if the body is long enough and the type is known.
    pub message_type: Option<MessageType>,
    /// The XDR of the StellarMessage (empty if the body is too short).
    pub message_xdr: &'a [u8],
}

impl FrameInfo<'_> {
    /// The traffic class.
    pub fn class(&self) -> TrafficClass {
        self.message_type.map_or(TrafficClass::Other, TrafficClass::of)
    }

    /// Whether the message is under flow control (SCP, TRANSACTION, FLOOD_ADVERT,
    /// FLOOD_DEMAND).
    pub fn is_flood(&self) -> bool {
        self.message_type.is_some_and(|t| t.is_flood())
    }

    /// Its size in flow-control units: the XDR size of the StellarMessage (§6).
    pub fn flow_bytes(&self) -> u64 {
        self.message_xdr.len() as u64
    }

    /// `(numMessages, numBytes)` of a SEND_MORE_EXTENDED.
    pub fn grant(&self) -> Option<(u64, u64)> {
        if self.message_type != Some(MessageType::SendMoreExtended) || self.message_xdr.len() < 12 {
            return None;
        }
        let x = self.message_xdr;
        let m = u32::from_be_bytes([x[4], x[5], x[6], x[7]]);
        let b = u32::from_be_bytes([x[8], x[9], x[10], x[11]]);
        Some((u64::from(m), u64::from(b)))
    }

    /// A 64-bit identity of a TRANSACTION (a fast hash of its XDR).
    pub fn transaction_id(&self) -> Option<u64> {
        (self.message_type == Some(MessageType::Transaction)).then(|| message_id64(self.message_xdr))
    }
}

/// A fast, fixed 64-bit hash of a message's XDR, to recognise the same message again.
pub fn message_id64(message_xdr: &[u8]) -> u64 {
    SeededState::new(0x7461_7031).hash_one(message_xdr)
}

/// Walk the frames of `bytes` (whole frames, as nodes write them). A trailing piece that is
/// not a whole frame is reported with no type.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = FrameInfo<'_>> {
    let mut rest = bytes;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let whole = if rest.len() >= 4 {
            let len = (u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) & 0x7fff_ffff) as usize;
            4usize.checked_add(len).filter(|end| *end <= rest.len())
        } else {
            None
        };
        let Some(end) = whole else {
            let frame = rest;
            rest = &[];
            return Some(FrameInfo { frame, message_type: None, message_xdr: &[] });
        };
        let frame = &rest[..end];
        rest = &rest[end..];
        let body = &frame[4..];
        if body.len() < MSG_OFFSET + 4 + MAC_LEN {
            return Some(FrameInfo { frame, message_type: None, message_xdr: &[] });
        }
        let message_xdr = &body[MSG_OFFSET..body.len() - MAC_LEN];
        let code = i32::from_be_bytes([message_xdr[0], message_xdr[1], message_xdr[2], message_xdr[3]]);
        Some(FrameInfo { frame, message_type: MessageType::try_from(code).ok(), message_xdr })
    })
}

/// Bytes and frames per traffic class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassCounters {
    /// Bytes on the wire (record marks included) per class.
    pub bytes: [u64; TrafficClass::ALL.len()],
    /// Frames per class.
    pub frames: [u64; TrafficClass::ALL.len()],
}

impl ClassCounters {
    /// Count one frame.
    pub fn add(&mut self, class: TrafficClass, bytes: usize) {
        self.bytes[class.index()] += bytes as u64;
        self.frames[class.index()] += 1;
    }

    /// Add another set of counters.
    pub fn merge(&mut self, other: &ClassCounters) {
        for i in 0..self.bytes.len() {
            self.bytes[i] += other.bytes[i];
            self.frames[i] += other.frames[i];
        }
    }

    /// All bytes.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

/// Bound on the transactions remembered per direction of a connection for the echo check.
/// Why: the check looks for a transaction sent back on the connection it came in on, which
/// a faulty relay does within moments; remembering more would cost memory per connection in
/// large runs. Past the bound the oldest is forgotten (the check gets weaker, never wrong).
pub const RECENT_TRANSACTIONS_MAX: usize = 256;

/// The last [`RECENT_TRANSACTIONS_MAX`] transaction ids seen, in a ring.
#[derive(Debug, Clone, Default)]
pub struct RecentIds {
    ids: Vec<u64>,
    next: usize,
}

impl RecentIds {
    /// Remember `id`.
    pub fn insert(&mut self, id: u64) {
        if self.ids.len() < RECENT_TRANSACTIONS_MAX {
            self.ids.push(id);
        } else {
            self.ids[self.next] = id;
            self.next = (self.next + 1) % RECENT_TRANSACTIONS_MAX;
        }
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_auth::{MacChannel, MacKeys};
    use overlay_proto::xdr::{SendMoreExtended, StellarMessage};

    fn sealed(msgs: &[StellarMessage]) -> Vec<u8> {
        let mut ch = MacChannel::new(&MacKeys { send: [1; 32], recv: [2; 32] });
        let mut out = Vec::new();
        for m in msgs {
            ch.seal(m, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn reads_types_sizes_grants_and_ids() {
        let tx = overlay_proto::fixtures::transaction_message(1);
        let grant = StellarMessage::SendMoreExtended(SendMoreExtended { num_messages: 40, num_bytes: 100_000 });
        let bytes = sealed(&[tx.clone(), grant, overlay_proto::fixtures::transaction_message(2)]);
        let f: Vec<_> = frames(&bytes).collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].message_type, Some(MessageType::Transaction));
        assert!(f[0].is_flood() && !f[1].is_flood());
        assert_eq!(f[0].flow_bytes(), 220, "the XDR size of the StellarMessage");
        assert_eq!(f[1].grant(), Some((40, 100_000)));
        assert_eq!(f[1].class(), TrafficClass::FlowControl);
        assert!(f[0].transaction_id().is_some());
        assert_ne!(f[0].transaction_id(), f[2].transaction_id());
        assert_eq!(f[0].transaction_id(), frames(&sealed(&[tx])).next().unwrap().transaction_id());
    }

    #[test]
    fn partial_and_garbage_bytes_are_other() {
        let f: Vec<_> = frames(&[0x80, 0, 0, 9, 1, 2]).collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].class(), TrafficClass::Other);
    }

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut r = RecentIds::default();
        for i in 0..(RECENT_TRANSACTIONS_MAX as u64 + 3) {
            r.insert(i);
        }
        assert!(!r.contains(0) && !r.contains(2) && r.contains(3));
        assert!(r.contains(RECENT_TRANSACTIONS_MAX as u64 + 2));
    }
}
