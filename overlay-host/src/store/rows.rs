//! Reading `peers` and `ban` rows into records and node ids.
//!
//! A row that does not parse (a column of the wrong SQL type, an IP that is not a dotted quad,
//! a `type` outside 0..=2, a node id that is not a strkey) is [`StoreError::InvalidRow`];
//! a failure of SQLite itself while stepping through rows goes through
//! [`store_error`](super::failure::store_error).

use super::failure::failed;
use overlay_node::discovery::{PeerRecord, PeerRow, StoreError, node_id_from_db};
use overlay_proto::NodeId;
use rusqlite::{Params, Row, Statement};

/// The `peers` columns `ip, port, nextattempt, numfailures, type` of a row.
pub(super) fn read_peer_row(row: &Row<'_>) -> Result<PeerRow, StoreError> {
    Ok(PeerRow {
        ip: column(row, 0)?,
        port: column(row, 1)?,
        next_attempt_nanos: column(row, 2)?,
        num_failures: column(row, 3)?,
        peer_type: column(row, 4)?,
    })
}

/// The node id in the `nodeid` column of a row.
fn read_node_id(row: &Row<'_>) -> Result<NodeId, StoreError> {
    let text: String = column(row, 0)?;
    node_id_from_db(&text)
}

/// One column of a row; any conversion failure is an invalid row.
fn column<T: rusqlite::types::FromSql>(row: &Row<'_>, index: usize) -> Result<T, StoreError> {
    row.get(index).map_err(|error| {
        tracing::warn!(index, %error, "peer database row does not parse");
        StoreError::InvalidRow
    })
}

/// Every record `statement` selects with `params`, in the order it yields them.
pub(super) fn query_records<P: Params>(
    statement: &mut Statement<'_>,
    params: P,
    operation: &'static str,
) -> Result<Vec<PeerRecord>, StoreError> {
    query_all(statement, params, operation, |row| read_peer_row(row)?.to_record())
}

/// Every node id `statement` selects with `params`.
pub(super) fn query_node_ids<P: Params>(
    statement: &mut Statement<'_>,
    params: P,
    operation: &'static str,
) -> Result<Vec<NodeId>, StoreError> {
    query_all(statement, params, operation, read_node_id)
}

/// Every row `statement` selects, each read by `read`; the first failure stops the read.
fn query_all<P: Params, T>(
    statement: &mut Statement<'_>,
    params: P,
    operation: &'static str,
    read: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut rows = statement.query(params).map_err(failed(operation))?;
    let mut values = Vec::new();
    while let Some(row) = rows.next().map_err(failed(operation))? {
        values.push(read(row)?);
    }
    Ok(values)
}
