//! The SQL text of [`SqliteStore`](super::SqliteStore) and the WHERE clause of a [`PeerQuery`].
//!
//! Every value reaches SQLite as a bound parameter (`?`); the only text assembled at run time
//! is the choice among the fixed condition fragments below.

use overlay_node::discovery::{PeerQuery, PeerType, PeerTypeFilter, timestamp_to_db};
use overlay_proto::Timestamp;

/// The four octets of the dotted quad in `ip`, each as an integer, in one sort direction.
///
/// `CAST(text AS INTEGER)` reads the leading digits of a text (and gives 0 if there are none),
/// so octet 1 is the cast of `ip`, octet 2 the cast of what follows the first dot, octet 3 the
/// cast of what follows the second dot, and octet 4 the cast of what follows the last dot
/// (`rtrim` strips the trailing digits to find it). Sorting by them orders addresses as
/// `Ipv4Addr` does (`9.0.0.1` before `10.0.0.1`), where a text order would not. A malformed
/// `ip` sorts somewhere without failing; reading its row then fails with `InvalidRow`.
macro_rules! ip_octets {
    ($direction:literal) => {
        concat!(
            "CAST(ip AS INTEGER) ",
            $direction,
            ", CAST(substr(ip, instr(ip, '.') + 1) AS INTEGER) ",
            $direction,
            ", CAST(substr(substr(ip, instr(ip, '.') + 1), instr(substr(ip, instr(ip, '.') + 1), '.') + 1) AS INTEGER) ",
            $direction,
            ", CAST(substr(ip, length(rtrim(ip, '0123456789')) + 1) AS INTEGER) ",
            $direction,
            ", ip ",
            $direction,
            ", port ",
            $direction
        )
    };
}

/// The stable order of records: by address as `MemoryStore` orders it (octets, then port);
/// the `ip` text only breaks ties between malformed rows.
pub(super) const ORDER_BY_ADDRESS: &str = concat!(" ORDER BY ", ip_octets!("ASC"));

/// `peers` columns in the order [`read_peer_row`](super::rows::read_peer_row) reads them.
macro_rules! peer_columns {
    () => {
        "ip, port, nextattempt, numfailures, type"
    };
}

/// The schema of the `peers` and `ban` tables (PROTOCOL.md §10.1, §10.6); `nextattempt` holds
/// the integer of `timestamp_to_db`.
pub(super) const CREATE_TABLES: &str = "\
    CREATE TABLE IF NOT EXISTS peers (\
        ip VARCHAR(15) NOT NULL, \
        port INT NOT NULL CHECK (port > 0 AND port <= 65535), \
        nextattempt TIMESTAMP NOT NULL, \
        numfailures INT NOT NULL DEFAULT 0 CHECK (numfailures >= 0), \
        type INT NOT NULL, \
        PRIMARY KEY (ip, port)); \
    CREATE TABLE IF NOT EXISTS ban (nodeid CHARACTER(56) NOT NULL PRIMARY KEY);";

/// Statements that select nothing; preparing them fails if a table or column the store uses
/// is missing.
pub(super) const CHECK_COLUMNS: [&str; 2] =
    [concat!("SELECT ", peer_columns!(), " FROM peers LIMIT 0"), "SELECT nodeid FROM ban LIMIT 0"];

/// One record by key.
pub(super) const SELECT_PEER: &str = concat!("SELECT ", peer_columns!(), " FROM peers WHERE ip = ? AND port = ?");
/// Whether a key has a record.
pub(super) const PEER_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM peers WHERE ip = ? AND port = ?)";
/// The number of records.
pub(super) const COUNT_PEERS: &str = "SELECT COUNT(*) FROM peers";
/// A new record.
pub(super) const INSERT_PEER: &str = concat!("INSERT INTO peers (", peer_columns!(), ") VALUES (?, ?, ?, ?, ?)");
/// The non-key columns of a record.
pub(super) const UPDATE_PEER: &str =
    "UPDATE peers SET nextattempt = ?, numfailures = ?, type = ? WHERE ip = ? AND port = ?";
/// One record by key.
pub(super) const DELETE_PEER: &str = "DELETE FROM peers WHERE ip = ? AND port = ?";
/// Every record with at least `?` failures.
pub(super) const DELETE_MIN_FAILURES: &str = "DELETE FROM peers WHERE numfailures >= ?";
/// Every record of one `ip` with at least `?` failures.
pub(super) const DELETE_IP_MIN_FAILURES: &str = "DELETE FROM peers WHERE numfailures >= ? AND ip = ?";
/// The eviction victim among records of type `?`: most failures, then latest next attempt,
/// then last in the stable order.
pub(super) const EVICTION_VICTIM: &str = concat!(
    "SELECT ",
    peer_columns!(),
    " FROM peers WHERE type = ? ORDER BY numfailures DESC, nextattempt DESC, ",
    ip_octets!("DESC"),
    " LIMIT 1"
);

/// Whether a node is banned.
pub(super) const BAN_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM ban WHERE nodeid = ?)";
/// The number of bans.
pub(super) const COUNT_BANS: &str = "SELECT COUNT(*) FROM ban";
/// A new ban.
pub(super) const INSERT_BAN: &str = "INSERT INTO ban (nodeid) VALUES (?)";
/// One ban.
pub(super) const DELETE_BAN: &str = "DELETE FROM ban WHERE nodeid = ?";
/// Every ban.
pub(super) const SELECT_BANS: &str = "SELECT nodeid FROM ban";

/// The WHERE clause of a [`PeerQuery`] at a time, with its parameters in order. `count` and
/// `load_page` both build their statement from it, so they always select the same rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PeerFilter {
    /// Empty, or ` WHERE ...` with one `?` per parameter.
    pub(super) clause: String,
    /// The values of the `?`s, in order.
    pub(super) params: Vec<i64>,
}

impl PeerFilter {
    /// The filter of `query` at `now`; mirrors [`PeerQuery::matches`] condition by condition.
    pub(super) fn new(query: &PeerQuery, now: Timestamp) -> PeerFilter {
        let mut conditions: Vec<&'static str> = Vec::with_capacity(3);
        let mut params = Vec::with_capacity(3);
        if query.use_next_attempt {
            conditions.push("nextattempt <= ?");
            params.push(timestamp_to_db(now));
        }
        if let Some(max_failures) = query.max_failures {
            conditions.push("numfailures <= ?");
            params.push(i64::from(max_failures));
        }
        if let Some((condition, value)) = type_condition(query.type_filter) {
            conditions.push(condition);
            params.push(value);
        }
        let clause = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
        PeerFilter { clause, params }
    }

    /// `SELECT COUNT(*)` of the matching records.
    pub(super) fn count_sql(&self) -> String {
        format!("{COUNT_PEERS}{}", self.clause)
    }

    /// The matching records in the stable order, with two more parameters: `LIMIT ? OFFSET ?`.
    pub(super) fn page_sql(&self) -> String {
        format!("SELECT {} FROM peers{}{ORDER_BY_ADDRESS} LIMIT ? OFFSET ?", peer_columns!(), self.clause)
    }
}

/// The condition on `type` of a filter and its value; `None` for [`PeerTypeFilter::Any`].
fn type_condition(filter: PeerTypeFilter) -> Option<(&'static str, i64)> {
    match filter {
        PeerTypeFilter::InboundOnly => Some(("type = ?", PeerType::Inbound.as_db_int())),
        PeerTypeFilter::OutboundOnly => Some(("type = ?", PeerType::Outbound.as_db_int())),
        PeerTypeFilter::PreferredOnly => Some(("type = ?", PeerType::Preferred.as_db_int())),
        PeerTypeFilter::AnyOutbound => Some(("type <> ?", PeerType::Inbound.as_db_int())),
        PeerTypeFilter::Any => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_has_one_parameter() {
        let filters = [
            PeerTypeFilter::InboundOnly,
            PeerTypeFilter::OutboundOnly,
            PeerTypeFilter::PreferredOnly,
            PeerTypeFilter::AnyOutbound,
            PeerTypeFilter::Any,
        ];
        for use_next_attempt in [false, true] {
            for max_failures in [None, Some(7)] {
                for type_filter in filters {
                    let query = PeerQuery { use_next_attempt, max_failures, type_filter };
                    let filter = PeerFilter::new(&query, Timestamp::from_nanos(5));
                    assert_eq!(filter.clause.matches('?').count(), filter.params.len(), "{query:?}");
                    assert_eq!(filter.clause.is_empty(), filter.params.is_empty(), "{query:?}");
                }
            }
        }
    }

    #[test]
    fn filter_values_follow_the_query() {
        let query = PeerQuery::next_attempt_cutoff(PeerType::Preferred);
        let filter = PeerFilter::new(&query, Timestamp::from_nanos(42));
        assert_eq!(filter.clause, " WHERE nextattempt <= ? AND numfailures <= ? AND type = ?");
        assert_eq!(filter.params, vec![42, 120, 2]);
        assert_eq!(PeerFilter::new(&PeerQuery::all(), Timestamp::ZERO).clause, "");
    }
}
