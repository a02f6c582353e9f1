//! The JSON shapes of stellar-core's `peers` and `info` answers (recorded from v27.1.0 in
//! `../shared/spec/stellar-core-http/`), filled from the overlay's reports. Fields stellar-core
//! has keep its names; ours are added beside them.

use overlay_auth::Role;
use overlay_tokio::{NodeInfo, PeerInfo, PeersReport, PendingPeer};
use serde_json::{Value, json};

fn id(peer: &PeerInfo, full: bool) -> String {
    if full { peer.peer_id.to_string() } else { peer.peer_id.short() }
}

fn authenticated(peer: &PeerInfo, full: bool) -> Value {
    let f = &peer.flow;
    json!({
        "address": peer.address.to_string(),
        "elapsed": peer.elapsed_secs,
        "flow_control": {
            "local_capacity": { "flood": f.local_flood_msgs, "reading": f.local_reading_msgs },
            "local_capacity_bytes": { "flood": f.local_flood_bytes },
            "peer_capacity": f.peer_msgs,
            "peer_capacity_bytes": f.peer_bytes,
            "queued": f.queued_msgs,
            "queued_bytes": f.queued_bytes,
        },
        "id": id(peer, full),
        "latency": peer.latency_ms.unwrap_or(0),
        "olver": peer.overlay_version,
        "ver": peer.version_string,
        "messages_read": peer.messages_read,
        "messages_written": peer.messages_written,
        "bytes_read": peer.bytes_read,
        "bytes_written": peer.bytes_written,
    })
}

/// A list, or `null` when empty (stellar-core's way).
fn list(items: Vec<Value>) -> Value {
    if items.is_empty() { Value::Null } else { Value::Array(items) }
}

fn pending(peers: &[PendingPeer], role: Role) -> Value {
    list(peers.iter().filter(|p| p.direction == role).map(|p| json!({ "address": p.address.to_string() })).collect())
}

/// `peers`: authenticated and pending connections, inbound and outbound.
pub fn peers(report: &PeersReport, full_keys: bool) -> Value {
    let auth = |role: Role| {
        list(report.authenticated.iter().filter(|p| p.direction == role).map(|p| authenticated(p, full_keys)).collect())
    };
    json!({
        "authenticated_peers": { "inbound": auth(Role::Acceptor), "outbound": auth(Role::Initiator) },
        "pending_peers": {
            "inbound": pending(&report.pending, Role::Acceptor),
            "outbound": pending(&report.pending, Role::Initiator),
        },
    })
}

/// `info`: the overlay part (state, peer counts, versions, the ledger as the node knows it).
pub fn info(info: &NodeInfo, network: Option<String>) -> Value {
    let state = if info.shutting_down {
        "Stopping"
    } else if info.ledger.synced {
        "Synced!"
    } else {
        "Catching up"
    };
    json!({
        "info": {
            "build": info.version_str,
            "network": network,
            "node": info.node_id.to_string(),
            "ledger": {
                "num": info.ledger.tracking_ledger,
                "version": info.ledger.ledger_protocol,
                "maxTxSetSize": info.ledger.max_tx_set_size_ops,
            },
            "peers": { "authenticated_count": info.authenticated_count, "pending_count": info.pending_count },
            "protocol_version": info.ledger.ledger_protocol,
            "overlay_version": info.overlay_versions.1,
            "overlay_min_version": info.overlay_versions.0,
            "startedOn": iso8601(info.started_unix),
            "state": state,
        }
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (UTC; the civil-from-days algorithm).
pub fn iso8601(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_589_119), "2026-12-06T20:31:59Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }
}
