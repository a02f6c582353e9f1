//! [`PeerRow`] and the column conversions a SQL-backed [`PeerStore`](super::PeerStore) needs.
//!
//! Kept here, next to the record types, so that every store agrees on one mapping:
//!
//! | column | Rust | conversion |
//! |---|---|---|
//! | `ip VARCHAR(15)` | `Ipv4Addr` | dotted quad, strictly parsed back |
//! | `port INT` | `u16` | 1..=65535 |
//! | `nextattempt INTEGER` | [`Timestamp`] | [`timestamp_to_db`] / [`timestamp_from_db`] (nanoseconds) |
//! | `numfailures INT` | `u32` | 0..=u32::MAX |
//! | `type INT` | [`PeerType`] | [`PeerType::as_db_int`] / [`PeerType::from_db_int`] |
//! | `ban.nodeid CHARACTER(56)` | [`NodeId`] | `G...` strkey, [`node_id_to_db`] / [`node_id_from_db`] |
//!
//! A persistent store outlives the process, so the `Timestamp`s it keeps are only meaningful
//! if the driver's epoch is stable across restarts (for example, the Unix epoch). With a
//! per-process epoch a restarted node would read old `nextattempt` values on the wrong time
//! line (stellar-core stores wall-clock times here).

use super::error::StoreError;
use super::record::{PeerRecord, PeerType, address_of, ipv4_key};
use overlay_proto::{NodeId, Timestamp};

/// A `peers` row as SQL values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    /// `ip`: dotted-quad IPv4.
    pub ip: String,
    /// `port`.
    pub port: i64,
    /// `nextattempt`: nanoseconds since the driver's epoch.
    pub next_attempt_nanos: i64,
    /// `numfailures`.
    pub num_failures: i64,
    /// `type`.
    pub peer_type: i64,
}

impl PeerRow {
    /// The row of a record; fails only if the address cannot have a record.
    ///
    /// ```
    /// use overlay_node::discovery::{PeerRecord, PeerRow};
    /// use overlay_proto::Timestamp;
    /// let r = PeerRecord::new("1.2.3.4:5".parse().unwrap(), Timestamp::from_secs(1)).unwrap();
    /// let row = PeerRow::from_record(&r).unwrap();
    /// assert_eq!((row.ip.as_str(), row.port, row.peer_type), ("1.2.3.4", 5, 0));
    /// assert_eq!(row.to_record().unwrap(), r);
    /// ```
    pub fn from_record(record: &PeerRecord) -> Result<PeerRow, StoreError> {
        let (ip, port) = ipv4_key(&record.address)?;
        Ok(PeerRow {
            ip: ip.to_string(),
            port: i64::from(port),
            next_attempt_nanos: timestamp_to_db(record.next_attempt),
            num_failures: i64::from(record.num_failures),
            peer_type: record.peer_type.as_db_int(),
        })
    }

    /// The record of a row; [`StoreError::InvalidRow`] if any column is out of range.
    pub fn to_record(&self) -> Result<PeerRecord, StoreError> {
        let ip = self.ip.parse().map_err(|_| StoreError::InvalidRow)?;
        let port = u16::try_from(self.port).ok().filter(|p| *p != 0).ok_or(StoreError::InvalidRow)?;
        let num_failures = u32::try_from(self.num_failures).map_err(|_| StoreError::InvalidRow)?;
        Ok(PeerRecord {
            address: address_of(ip, port),
            next_attempt: timestamp_from_db(self.next_attempt_nanos),
            num_failures,
            peer_type: PeerType::from_db_int(self.peer_type)?,
        })
    }
}

/// A timestamp as the `nextattempt` integer: nanoseconds since the epoch, saturating at
/// `i64::MAX` (about 292 years).
pub fn timestamp_to_db(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanos()).unwrap_or(i64::MAX)
}

/// A `nextattempt` integer as a timestamp; a negative value (never written by this crate)
/// reads as the epoch, which only makes the record due at once.
pub fn timestamp_from_db(nanos: i64) -> Timestamp {
    Timestamp::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

/// A node id as the `ban.nodeid` text: its 56-character `G...` strkey.
pub fn node_id_to_db(node: &NodeId) -> String {
    node.to_string()
}

/// A `ban.nodeid` text as a node id; [`StoreError::InvalidRow`] if it is not a `G...` strkey.
pub fn node_id_from_db(text: &str) -> Result<NodeId, StoreError> {
    text.parse().map_err(|_| StoreError::InvalidRow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> PeerRow {
        PeerRow { ip: "1.25.50.200".into(), port: 256, next_attempt_nanos: 5, num_failures: 3, peer_type: 2 }
    }

    // C++: PeerManagerTests "toXdr" / "database roundtrip" — inbound, outbound, preferred.
    #[test]
    fn database_roundtrip_for_each_type() {
        for t in PeerType::ALL {
            let mut r = PeerRecord::new("1.25.50.200:256".parse().unwrap(), Timestamp::from_secs(3)).unwrap();
            r.peer_type = t;
            r.num_failures = 7;
            let back = PeerRow::from_record(&r).unwrap().to_record().unwrap();
            assert_eq!(back, r);
        }
    }

    #[test]
    fn invalid_rows_are_typed_errors() {
        let cases: [fn(&mut PeerRow); 8] = [
            |r| r.ip = "1.2.3".into(),
            |r| r.ip = "::1".into(),
            |r| r.ip = "host".into(),
            |r| r.port = 0,
            |r| r.port = 65_536,
            |r| r.num_failures = -1,
            |r| r.num_failures = i64::from(u32::MAX) + 1,
            |r| r.peer_type = 3,
        ];
        for (i, break_it) in cases.iter().enumerate() {
            let mut r = row();
            break_it(&mut r);
            assert_eq!(r.to_record(), Err(StoreError::InvalidRow), "case {i}");
        }
        assert!(row().to_record().is_ok());
    }

    #[test]
    fn timestamps_saturate_and_clamp() {
        assert_eq!(timestamp_to_db(Timestamp::MAX), i64::MAX);
        assert_eq!(timestamp_from_db(-5), Timestamp::ZERO);
        let t = Timestamp::from_millis(1_234);
        assert_eq!(timestamp_from_db(timestamp_to_db(t)), t);
    }

    #[test]
    fn node_ids_are_stored_as_strkeys() {
        let text = "GAIF3ENJ3TQKZY22ZEMJFAA4U22F3R4FVYIWXH3FURVGKJVVOERCCCNZ";
        let id = node_id_from_db(text).unwrap();
        assert_eq!(node_id_to_db(&id), text);
        assert_eq!(node_id_to_db(&id).len(), 56);
        assert_eq!(node_id_from_db("GABC"), Err(StoreError::InvalidRow));
    }
}
