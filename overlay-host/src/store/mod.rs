//! [`SqliteStore`]: the SQLite [`PeerStore`] of the driver (PROTOCOL.md §10.1, §10.6).
//!
//! The `peers` and `ban` tables of stellar-core in one SQLite file, with the column mapping of
//! [`PeerRow`] and the same answers as [`MemoryStore`](overlay_node::discovery::MemoryStore)
//! for the same calls, bounds included. It does not decide anything: eviction, backoff and
//! purges are the [`PeerManager`](overlay_node::discovery::PeerManager)'s.
//!
//! | module | job |
//! |---|---|
//! | `schema` | opening: schema version, tables, integrity and write probes |
//! | `sql` | the statements, the WHERE clause of a query, the stable order |
//! | `rows` | rows into records and node ids |
//! | `failure` | SQLite errors into [`StoreError`] variants |

mod failure;
mod rows;
mod schema;
mod sql;

pub use schema::{Access, SCHEMA_VERSION};

use failure::failed;
use overlay_node::discovery::{
    MAX_BANS_DEFAULT, MAX_PEER_RECORDS_DEFAULT, PeerQuery, PeerRecord, PeerRow, PeerStore, PeerType, StoreError,
    node_id_to_db,
};
use overlay_proto::{NodeId, PeerAddress, Timestamp};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior, params, params_from_iter};
use sql::PeerFilter;
use std::net::Ipv4Addr;
use std::path::Path;

/// How long a statement waits for another connection's lock before failing with
/// [`StoreError::Locked`] (`SqliteStoreOptions::busy_timeout_ms`'s default).
pub const BUSY_TIMEOUT_MS_DEFAULT: u64 = 1_000;

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteStoreOptions {
    /// The record bound: a new address past it is refused with [`StoreError::StoreFull`]
    /// (default [`MAX_PEER_RECORDS_DEFAULT`]).
    pub max_records: u64,
    /// The ban bound: a new ban past it is refused with [`StoreError::BanListFull`]
    /// (default [`MAX_BANS_DEFAULT`]).
    pub max_bans: u64,
    /// How long to wait for another connection's lock (default [`BUSY_TIMEOUT_MS_DEFAULT`]).
    pub busy_timeout_ms: u64,
    /// Read-write (the default) or read-only.
    pub access: Access,
}

impl Default for SqliteStoreOptions {
    fn default() -> Self {
        SqliteStoreOptions::with_limits(MAX_PEER_RECORDS_DEFAULT, MAX_BANS_DEFAULT)
    }
}

impl SqliteStoreOptions {
    /// Read-write with the default busy timeout and these bounds.
    pub const fn with_limits(max_records: u64, max_bans: u64) -> Self {
        SqliteStoreOptions {
            max_records,
            max_bans,
            busy_timeout_ms: BUSY_TIMEOUT_MS_DEFAULT,
            access: Access::ReadWrite,
        }
    }
}

/// Peer records and bans in an SQLite database.
///
/// Answers exactly as `MemoryStore` does: records come in `(ip, port)` order with the IP
/// compared as a number (the SQL sorts by the four octets, not the text), bans in key-byte
/// order, and the same bounds are enforced the same way. Every value is a bound parameter.
/// A method that runs more than one statement runs them in one `BEGIN IMMEDIATE`
/// transaction, so a failed write leaves the rows as they were. No method panics. Failures
/// are logged with SQLite's message and returned as:
///
/// | SQLite | [`StoreError`] |
/// |---|---|
/// | `SQLITE_CORRUPT`, `SQLITE_NOTADB` | [`StoreError::Corrupt`] |
/// | `SQLITE_BUSY`, `SQLITE_LOCKED` (after the busy timeout) | [`StoreError::Locked`] |
/// | `SQLITE_READONLY` | [`StoreError::ReadOnly`] |
/// | a column of the wrong type, an IP, `type` or node id that does not parse | [`StoreError::InvalidRow`] |
/// | anything else (`SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`, ...) | [`StoreError::Unavailable`] |
///
/// Opening checks the file at once: not a database or damaged → [`StoreError::Corrupt`],
/// not writable → [`StoreError::ReadOnly`], locked past the busy timeout →
/// [`StoreError::Locked`], written by a newer schema → [`StoreError::Unavailable`].
///
/// ```
/// use overlay_node::discovery::{PeerRecord, PeerStore};
/// use overlay_proto::Timestamp;
/// use overlay_host::SqliteStore;
/// let mut store = SqliteStore::in_memory().unwrap();
/// let r = PeerRecord::new("1.2.3.4:11625".parse().unwrap(), Timestamp::from_secs(5)).unwrap();
/// store.insert(&r).unwrap();
/// assert_eq!(store.load(&r.address).unwrap(), Some(r));
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
    max_records: u64,
    max_bans: u64,
}

impl SqliteStore {
    /// Open the database file at `path` read-write with the default options, creating it
    /// with the schema if it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteStoreOptions::default())
    }

    /// Open the database file at `path` with `options` (created if absent and read-write).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteStoreOptions) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let connection = Connection::open_with_flags(path, open_flags(options.access)).map_err(|error| {
            tracing::error!(path = %path.display(), "cannot open the peer database");
            failure::store_error("open", error)
        })?;
        SqliteStore::prepared(connection, options).inspect_err(|error| {
            tracing::error!(path = %path.display(), %error, "peer database refused at start");
        })
    }

    /// A new private in-memory database with the default bounds (for tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::in_memory_with(SqliteStoreOptions::default())
    }

    /// A new private in-memory database with `options` (read-only access makes it unusable:
    /// the schema cannot be created).
    pub fn in_memory_with(options: SqliteStoreOptions) -> Result<SqliteStore, StoreError> {
        let connection = Connection::open_in_memory_with_flags(open_flags(options.access))
            .map_err(failed("open in-memory database"))?;
        SqliteStore::prepared(connection, options)
    }

    fn prepared(mut connection: Connection, options: SqliteStoreOptions) -> Result<SqliteStore, StoreError> {
        schema::prepare(&mut connection, options.access, options.busy_timeout_ms)?;
        Ok(SqliteStore { connection, max_records: options.max_records, max_bans: options.max_bans })
    }

    /// Its record bound.
    pub fn max_records(&self) -> u64 {
        self.max_records
    }

    /// Its ban bound.
    pub fn max_bans(&self) -> u64 {
        self.max_bans
    }

    /// How many records it holds.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        count_rows(&self.connection, sql::COUNT_PEERS, [], "count records")
    }

    /// How many bans it holds.
    pub fn ban_count(&self) -> Result<u64, StoreError> {
        count_rows(&self.connection, sql::COUNT_BANS, [], "count bans")
    }

    /// A transaction holding the write lock from its start; dropped without commit, it rolls
    /// back.
    fn write_transaction(&mut self, operation: &'static str) -> Result<Transaction<'_>, StoreError> {
        self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed(operation))
    }

    /// Run one writing statement; how many rows it changed.
    fn execute(&self, sql: &str, params: impl rusqlite::Params, operation: &'static str) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached(sql).map_err(failed(operation))?;
        let changed = statement.execute(params).map_err(failed(operation))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

/// The SQLite open flags of an access mode (no URI names, no mutex: one thread at a time
/// uses a connection).
fn open_flags(access: Access) -> OpenFlags {
    let mode = match access {
        Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
    };
    mode | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// The single integer a `SELECT COUNT(*)` or `SELECT EXISTS` statement yields, as a `u64`.
fn count_rows(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    operation: &'static str,
) -> Result<u64, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(failed(operation))?;
    let count: i64 = statement.query_row(params, |row| row.get(0)).map_err(failed(operation))?;
    u64::try_from(count).map_err(|_| StoreError::InvalidRow)
}

/// Whether a key has a record.
fn peer_exists(connection: &Connection, row: &PeerRow) -> Result<bool, StoreError> {
    Ok(count_rows(connection, sql::PEER_EXISTS, params![row.ip, row.port], "find record")? > 0)
}

/// Whether a node is banned.
fn ban_exists(connection: &Connection, node_text: &str) -> Result<bool, StoreError> {
    Ok(count_rows(connection, sql::BAN_EXISTS, params![node_text], "find ban")? > 0)
}

/// The row key of an address: its dotted quad and port, or why it cannot have a record.
fn key_of(address: &PeerAddress) -> Result<(String, i64), StoreError> {
    let (ip, port) = overlay_node::discovery::ipv4_key(address)?;
    Ok((ip.to_string(), i64::from(port)))
}

/// `u64` and `usize` counts as SQLite integers, saturating (`LIMIT`/`OFFSET` past `i64::MAX`
/// select the same rows as `i64::MAX` would).
fn saturating_i64<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

impl PeerStore for SqliteStore {
    fn load(&self, address: &PeerAddress) -> Result<Option<PeerRecord>, StoreError> {
        let (ip, port) = key_of(address)?;
        let mut statement = self.connection.prepare_cached(sql::SELECT_PEER).map_err(failed("load"))?;
        Ok(rows::query_records(&mut statement, params![ip, port], "load")?.into_iter().next())
    }

    fn insert(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        let row = PeerRow::from_record(record)?;
        let max_records = self.max_records;
        let transaction = self.write_transaction("begin insert")?;
        if peer_exists(&transaction, &row)? {
            return Err(StoreError::AlreadyExists(record.address.clone()));
        }
        if count_rows(&transaction, sql::COUNT_PEERS, [], "count records")? >= max_records {
            return Err(StoreError::StoreFull { max_records });
        }
        let values = params![row.ip, row.port, row.next_attempt_nanos, row.num_failures, row.peer_type];
        transaction.prepare_cached(sql::INSERT_PEER).and_then(|mut s| s.execute(values)).map_err(failed("insert"))?;
        transaction.commit().map_err(failed("commit insert"))
    }

    fn update(&mut self, record: &PeerRecord) -> Result<(), StoreError> {
        let row = PeerRow::from_record(record)?;
        let values = params![row.next_attempt_nanos, row.num_failures, row.peer_type, row.ip, row.port];
        match self.execute(sql::UPDATE_PEER, values, "update")? {
            0 => Err(StoreError::NotFound(record.address.clone())),
            _ => Ok(()),
        }
    }

    fn delete(&mut self, address: &PeerAddress) -> Result<bool, StoreError> {
        let (ip, port) = key_of(address)?;
        Ok(self.execute(sql::DELETE_PEER, params![ip, port], "delete")? > 0)
    }

    fn delete_with_min_failures(&mut self, min_failures: u32) -> Result<u64, StoreError> {
        self.execute(sql::DELETE_MIN_FAILURES, params![i64::from(min_failures)], "delete failing records")
    }

    fn delete_ip_with_min_failures(&mut self, ip: Ipv4Addr, min_failures: u32) -> Result<u64, StoreError> {
        let values = params![i64::from(min_failures), ip.to_string()];
        self.execute(sql::DELETE_IP_MIN_FAILURES, values, "delete failing records of an ip")
    }

    fn evict_one_inbound(&mut self) -> Result<Option<PeerAddress>, StoreError> {
        let transaction = self.write_transaction("begin eviction")?;
        let victim = {
            let mut statement = transaction.prepare_cached(sql::EVICTION_VICTIM).map_err(failed("find victim"))?;
            let inbound = PeerType::Inbound.as_db_int();
            rows::query_records(&mut statement, params![inbound], "find victim")?.into_iter().next()
        };
        let Some(victim) = victim else { return Ok(None) };
        let row = PeerRow::from_record(&victim)?;
        let mut statement = transaction.prepare_cached(sql::DELETE_PEER).map_err(failed("evict"))?;
        statement.execute(params![row.ip, row.port]).map_err(failed("evict"))?;
        drop(statement);
        transaction.commit().map_err(failed("commit eviction"))?;
        Ok(Some(victim.address))
    }

    fn count(&self, query: &PeerQuery, now: Timestamp) -> Result<u64, StoreError> {
        let filter = PeerFilter::new(query, now);
        count_rows(&self.connection, &filter.count_sql(), params_from_iter(&filter.params), "count")
    }

    fn load_page(
        &self,
        query: &PeerQuery,
        now: Timestamp,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<PeerRecord>, StoreError> {
        let filter = PeerFilter::new(query, now);
        let values = filter.params.iter().copied().chain([saturating_i64(limit), saturating_i64(offset)]);
        let mut statement = self.connection.prepare_cached(&filter.page_sql()).map_err(failed("load page"))?;
        rows::query_records(&mut statement, params_from_iter(values), "load page")
    }

    fn ban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        let text = node_id_to_db(node);
        let max_bans = self.max_bans;
        let transaction = self.write_transaction("begin ban")?;
        if ban_exists(&transaction, &text)? {
            return Ok(false);
        }
        if count_rows(&transaction, sql::COUNT_BANS, [], "count bans")? >= max_bans {
            return Err(StoreError::BanListFull { max_bans });
        }
        transaction
            .prepare_cached(sql::INSERT_BAN)
            .and_then(|mut s| s.execute(params![text]))
            .map_err(failed("ban"))?;
        transaction.commit().map_err(failed("commit ban"))?;
        Ok(true)
    }

    fn unban(&mut self, node: &NodeId) -> Result<bool, StoreError> {
        Ok(self.execute(sql::DELETE_BAN, params![node_id_to_db(node)], "unban")? > 0)
    }

    fn is_banned(&self, node: &NodeId) -> Result<bool, StoreError> {
        ban_exists(&self.connection, &node_id_to_db(node))
    }

    fn bans(&self) -> Result<Vec<NodeId>, StoreError> {
        let mut statement = self.connection.prepare_cached(sql::SELECT_BANS).map_err(failed("list bans"))?;
        let mut nodes = rows::query_node_ids(&mut statement, [], "list bans")?;
        // Strkey text order is not key-byte order (base32 puts digits after letters).
        nodes.sort_unstable();
        Ok(nodes)
    }
}
