//! How SQLite failures become [`StoreError`]s.
//!
//! | rusqlite error | [`StoreError`] |
//! |---|---|
//! | `SQLITE_CORRUPT`, `SQLITE_NOTADB` | [`StoreError::Corrupt`] |
//! | `SQLITE_BUSY`, `SQLITE_LOCKED` (after the busy timeout) | [`StoreError::Locked`] |
//! | `SQLITE_READONLY` | [`StoreError::ReadOnly`] |
//! | a column of the wrong type or range, bad UTF-8 | [`StoreError::InvalidRow`] |
//! | anything else (`SQLITE_IOERR`, `SQLITE_FULL`, `SQLITE_CANTOPEN`, ...) | [`StoreError::Unavailable`] |
//!
//! `StoreError` carries no text, so each failure is logged here with the operation and
//! SQLite's own message before it is returned.

use overlay_node::discovery::StoreError;
use rusqlite::ErrorCode;

/// The [`StoreError`] of a failed `operation`, logged with SQLite's details.
pub(super) fn store_error(operation: &'static str, error: rusqlite::Error) -> StoreError {
    let mapped = classify(&error);
    tracing::warn!(operation, %error, ?mapped, "peer database operation failed");
    mapped
}

/// A `map_err` adapter: `result.map_err(failed("insert"))`.
pub(super) fn failed(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| store_error(operation, error)
}

/// The [`StoreError`] variant of a rusqlite error (see the module table).
pub(super) fn classify(error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => classify_code(failure.code),
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::Utf8Error(..)
        | rusqlite::Error::InvalidColumnType(..) => StoreError::InvalidRow,
        _ => StoreError::Unavailable,
    }
}

/// The [`StoreError`] variant of an SQLite primary result code.
fn classify_code(code: ErrorCode) -> StoreError {
    match code {
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt,
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Locked,
        ErrorCode::ReadOnly => StoreError::ReadOnly,
        _ => StoreError::Unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn sqlite(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn result_codes_map_to_their_variants() {
        let table = [
            (ffi::SQLITE_CORRUPT, StoreError::Corrupt),
            (ffi::SQLITE_NOTADB, StoreError::Corrupt),
            (ffi::SQLITE_BUSY, StoreError::Locked),
            (ffi::SQLITE_BUSY_SNAPSHOT, StoreError::Locked),
            (ffi::SQLITE_LOCKED, StoreError::Locked),
            (ffi::SQLITE_READONLY, StoreError::ReadOnly),
            (ffi::SQLITE_READONLY_DBMOVED, StoreError::ReadOnly),
            (ffi::SQLITE_IOERR, StoreError::Unavailable),
            (ffi::SQLITE_FULL, StoreError::Unavailable),
            (ffi::SQLITE_CANTOPEN, StoreError::Unavailable),
            (ffi::SQLITE_CONSTRAINT, StoreError::Unavailable),
        ];
        for (code, expected) in table {
            assert_eq!(classify(&sqlite(code)), expected, "code {code}");
        }
    }

    #[test]
    fn column_conversion_failures_are_invalid_rows() {
        let wrong_type = rusqlite::Error::InvalidColumnType(0, "ip".into(), rusqlite::types::Type::Integer);
        assert_eq!(classify(&wrong_type), StoreError::InvalidRow);
        assert_eq!(classify(&rusqlite::Error::IntegralValueOutOfRange(1, -1)), StoreError::InvalidRow);
        assert_eq!(classify(&rusqlite::Error::QueryReturnedNoRows), StoreError::Unavailable);
    }
}
