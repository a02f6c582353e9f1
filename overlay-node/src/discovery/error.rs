//! [`StoreError`]: the one error type of the discovery module.

use overlay_proto::PeerAddress;

/// Why a peer-record or ban operation failed.
///
/// Store implementations map their own failures onto these variants: the in-memory store
/// only ever returns the bound and contract variants ([`StoreError::StoreFull`],
/// [`StoreError::BanListFull`], [`StoreError::NotIpv4`], [`StoreError::ZeroPort`],
/// [`StoreError::AlreadyExists`], [`StoreError::NotFound`]); a database-backed store also
/// returns [`StoreError::Corrupt`], [`StoreError::Locked`], [`StoreError::ReadOnly`],
/// [`StoreError::InvalidRow`] or [`StoreError::Unavailable`] and logs the details itself
/// (no text payloads in core errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A peer record's address is not an IPv4 literal. The `peers` table holds dotted-quad
    /// IPv4 only (`ip VARCHAR(15)`); host names must be resolved by the driver first and
    /// IPv6 is not supported by stellar-core's overlay.
    #[error("peer address {0} is not an IPv4 literal")]
    NotIpv4(PeerAddress),
    /// A peer record's port is 0 (the table requires `0 < port <= 65535`).
    #[error("peer address {0} has port 0")]
    ZeroPort(PeerAddress),
    /// A new address was refused because the store holds its maximum number of records and
    /// the eviction policy found nothing it may evict (see [`crate::discovery::PeerManager`]).
    #[error("peer store is full ({max_records} records)")]
    StoreFull {
        /// The store's record bound.
        max_records: u64,
    },
    /// A ban was refused because the ban list holds its maximum number of entries.
    #[error("ban list is full ({max_bans} entries)")]
    BanListFull {
        /// The ban list's bound.
        max_bans: u64,
    },
    /// `insert` of an address that already has a record (a caller contract violation).
    #[error("peer record for {0} already exists")]
    AlreadyExists(PeerAddress),
    /// `update` of an address that has no record (a caller contract violation).
    #[error("no peer record for {0}")]
    NotFound(PeerAddress),
    /// The database file is corrupt (for example SQLite `SQLITE_CORRUPT` or `SQLITE_NOTADB`).
    #[error("peer database is corrupt")]
    Corrupt,
    /// The database is locked or busy (another process holds it).
    #[error("peer database is locked")]
    Locked,
    /// The database is read-only; nothing was written.
    #[error("peer database is read-only")]
    ReadOnly,
    /// A stored row does not make a valid record or ban (unknown `type` value, port out of
    /// range, negative failure count, malformed IP or strkey).
    #[error("peer database holds an invalid row")]
    InvalidRow,
    /// Any other storage failure (I/O error, full disk, closed connection).
    #[error("peer database is unavailable")]
    Unavailable,
}
