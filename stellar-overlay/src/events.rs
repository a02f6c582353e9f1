//! The event lines of `stellar-overlay node`. JSON lines are a public interface: fields are
//! only ever added.

use crate::LogFormat;
use overlay_auth::Role;
use overlay_proto::MessageClass;
use overlay_tokio::OverlayEvent as NodeEvent;
use serde_json::{Value, json};
use std::io::Write;

/// The JSON object for an event.
pub fn to_json(event: &NodeEvent) -> Value {
    match event {
        NodeEvent::Connected { address, direction, remote } => json!({
            "event": "connected",
            "peer": remote.node_id.to_string(),
            "address": address.to_string(),
            "direction": direction_name(*direction),
            "overlay_version": remote.overlay_version,
            "overlay_min_version": remote.overlay_min_version,
            "ledger_version": remote.ledger_version,
            "version_str": remote.version_str,
            "listening_port": remote.listening_port,
        }),
        NodeEvent::Message { peer, message_type, bytes, first_seen } => json!({
            "event": "message",
            "peer": peer.to_string(),
            "type": message_type.wire_name(),
            "bytes": bytes,
            "first_seen": first_seen,
        }),
        NodeEvent::Disconnected { peer, address, reason } => json!({
            "event": "disconnected",
            "peer": peer.map(|p| p.to_string()),
            "address": address.to_string(),
            "reason": reason,
        }),
        NodeEvent::SubscriberLagged { missed } => json!({"event": "subscriber_lagged", "missed": missed}),
        NodeEvent::ApplicationLagged { missed } => json!({"event": "application_lagged", "missed": missed}),
        NodeEvent::StoreFailed { error } => json!({"event": "store_error", "error": error}),
        other => json!({"event": "other", "debug": format!("{other:?}")}),
    }
}

/// "inbound" if the remote dialed us, "outbound" if we dialed.
pub fn direction_name(role: Role) -> &'static str {
    match role {
        Role::Initiator => "outbound",
        Role::Acceptor => "inbound",
    }
}

/// A line for people.
pub fn to_text(event: &NodeEvent) -> String {
    match event {
        NodeEvent::Connected { address, direction, remote } => format!(
            "connected    {} {} {} ({} overlay {}..{})",
            remote.node_id,
            address,
            direction_name(*direction),
            remote.version_str,
            remote.overlay_min_version,
            remote.overlay_version
        ),
        NodeEvent::Message { peer, message_type, bytes, .. } => {
            format!("message      {} {} {} bytes", peer, message_type.wire_name(), bytes)
        }
        NodeEvent::Disconnected { peer, address, reason } => {
            format!("disconnected {} {} {}", peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into()), address, reason)
        }
        NodeEvent::SubscriberLagged { missed } => format!("lagged       a subscriber missed {missed} messages"),
        NodeEvent::ApplicationLagged { missed } => format!("lagged       the application missed {missed} deliveries"),
        NodeEvent::StoreFailed { error } => format!("store-error  {error}"),
        other => format!("other        {other:?}"),
    }
}

/// Write one event to stdout in `format`, flushing so that readers see whole lines at once.
pub fn emit(format: LogFormat, event: &NodeEvent) {
    let line = match format {
        LogFormat::Json => to_json(event).to_string(),
        LogFormat::Text => to_text(event),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Write a JSON line that is not a connection event (for example "listening").
pub fn emit_json(format: LogFormat, value: Value, text: String) {
    let mut out = std::io::stdout().lock();
    let _ = match format {
        LogFormat::Json => writeln!(out, "{value}"),
        LogFormat::Text => writeln!(out, "{text}"),
    };
    let _ = out.flush();
}
