//! Preparing a newly opened connection: schema version, schema, integrity and write probes.
//!
//! The schema version lives in SQLite's `PRAGMA user_version` (0 in a new database). A database
//! at version 0 gets the tables of §10 and version [`SCHEMA_VERSION`]; one at a newer version
//! than this build knows is refused, so that a future migration can change the tables without
//! an older program misreading them.

use super::failure::failed;
use super::sql::{CHECK_COLUMNS, CREATE_TABLES};
use overlay_node::discovery::StoreError;
use rusqlite::{Connection, MAIN_DB, TransactionBehavior};
use std::time::Duration;

/// The schema version this build writes and reads (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// Prepared statements kept per connection: the fixed statements plus the `count` and
/// `load_page` variants of every query shape (2 × 20); least recently used ones are dropped
/// past it and prepared again when needed.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Whether a connection must accept writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write; opening fails with [`StoreError::ReadOnly`] if the file cannot be
    /// written.
    ReadWrite,
    /// Read only (`SQLITE_OPEN_READ_ONLY`): reads work, every write fails with
    /// [`StoreError::ReadOnly`]; the database must already have the schema.
    ReadOnly,
}

/// Make a freshly opened connection ready, or say why it cannot be: garbage or a damaged file
/// is [`StoreError::Corrupt`], a file that cannot be written (with [`Access::ReadWrite`]) is
/// [`StoreError::ReadOnly`], a holder of the lock past the busy timeout is
/// [`StoreError::Locked`], a newer schema or missing columns are [`StoreError::Unavailable`].
pub(super) fn prepare(connection: &mut Connection, access: Access, busy_timeout_ms: u64) -> Result<(), StoreError> {
    connection.busy_timeout(Duration::from_millis(busy_timeout_ms)).map_err(failed("set busy timeout"))?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    let version = read_version(connection)?;
    check_integrity(connection)?;
    if version == 0 {
        create_schema(connection)?;
    }
    check_columns(connection)?;
    if access == Access::ReadWrite {
        probe_write(connection)?;
    }
    Ok(())
}

/// The stored schema version, refused if newer than [`SCHEMA_VERSION`]. Reading it is the
/// first access to the file, so a file that is not a database fails here.
fn read_version(connection: &Connection) -> Result<i64, StoreError> {
    let version: i64 =
        connection.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(failed("read schema version"))?;
    if version > SCHEMA_VERSION {
        tracing::error!(
            found = version,
            supported = SCHEMA_VERSION,
            "peer database was written by a newer program (schema version too new)"
        );
        return Err(StoreError::Unavailable);
    }
    Ok(version)
}

/// `PRAGMA quick_check`: its first row is `ok` for a sound file, a description otherwise.
fn check_integrity(connection: &Connection) -> Result<(), StoreError> {
    let verdict: String =
        connection.pragma_query_value(None, "quick_check", |row| row.get(0)).map_err(failed("check integrity"))?;
    if verdict != "ok" {
        tracing::error!(%verdict, "peer database failed its integrity check");
        return Err(StoreError::Corrupt);
    }
    Ok(())
}

/// Create the tables and set the version, in one transaction (another process may be doing
/// the same: the version is read again under the write lock).
fn create_schema(connection: &mut Connection) -> Result<(), StoreError> {
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed("begin schema creation"))?;
    if read_version(&transaction)? == 0 {
        transaction.execute_batch(CREATE_TABLES).map_err(failed("create tables"))?;
        transaction.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(failed("set schema version"))?;
    }
    transaction.commit().map_err(failed("commit schema creation"))
}

/// Fail if a table or column the store uses is missing (for example a version-0 file made by
/// another tool with other tables of the same names).
fn check_columns(connection: &Connection) -> Result<(), StoreError> {
    for sql in CHECK_COLUMNS {
        connection.prepare(sql).map_err(failed("check columns"))?;
    }
    Ok(())
}

/// Take the write lock and write the schema version again, then roll back: fails at once on a
/// file that cannot be written, rather than at the first record.
fn probe_write(connection: &mut Connection) -> Result<(), StoreError> {
    if connection.is_readonly(MAIN_DB).map_err(failed("probe write access"))? {
        tracing::error!("peer database file is read-only");
        return Err(StoreError::ReadOnly);
    }
    let transaction =
        connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(failed("begin write probe"))?;
    transaction.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(failed("write probe"))?;
    transaction.rollback().map_err(failed("end write probe"))
}
