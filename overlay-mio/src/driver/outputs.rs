//! The node's outputs, carried out: bytes into socket buffers, dials and closes, deliveries
//! to the application, peer-database changes to the writer, events to the log, the
//! subscribers and the callers of `connect`.

use super::Driver;
use overlay_host::persist::WriterReport;
use overlay_host::{OverlayEvent, ReceivedMessage, fallback_socket};
use overlay_node::app::Delivery;
use overlay_node::{ConnId, NodeEvent, Output};
use overlay_proto::{MessageClass, PeerAddress};
use std::net::SocketAddr;

impl Driver {
    /// Take every output the node has, in order.
    pub(crate) fn drain_outputs(&mut self) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Connect { conn, address } => self.dial(conn, address),
                Output::Transmit { conn, bytes } => {
                    if let Some(s) = self.sockets.get_mut(&conn) {
                        s.queue(bytes);
                        self.to_flush.insert(conn);
                    }
                }
                Output::Close { conn } => self.close(conn),
                Output::Deliver(d) => self.deliver(d),
                Output::Store(change) => {
                    if let Some(w) = self.writer.as_ref() {
                        if let Some(WriterReport::Dropped) = w.push(change) {
                            self.shared.events.publish(&overlay_host::setup::store_fell_behind());
                        }
                    }
                }
                Output::Event(e) => self.publish(e),
            }
        }
    }

    /// Rouse the application and the readers for what this turn gave them: once per turn
    /// of the loop, however many deliveries, messages and events it made.
    pub(crate) fn flush_handoffs(&mut self) {
        self.ch.deliveries.announce();
        self.shared.subscribers.flush();
        self.shared.events.flush();
    }

    fn deliver(&mut self, d: Delivery) {
        if self.ch.deliveries.try_send_quiet(d).is_err() {
            self.deliveries_missed += 1;
            self.shared.events.publish(&OverlayEvent::ApplicationLagged { missed: self.deliveries_missed });
        }
    }

    fn socket_of(&self, conn: ConnId, address: &PeerAddress) -> SocketAddr {
        self.sockets.get(&conn).map_or_else(|| fallback_socket(address), |s| s.remote)
    }

    fn publish(&mut self, e: NodeEvent) {
        trace(&e);
        if let Some((reply, result)) = self.connecting.on_event(&e) {
            let _ = reply.try_send(result);
        }
        let socket = match &e {
            NodeEvent::Connected { conn, address, .. } | NodeEvent::Disconnected { conn, address, .. } => {
                self.socket_of(*conn, address)
            }
            _ => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let event = OverlayEvent::from_node(&e, socket);
        match e {
            NodeEvent::Connected { .. } | NodeEvent::Disconnected { was_authenticated: true, .. } => {
                self.refresh_peers()
            }
            NodeEvent::Message { peer, message, first_seen, .. } if !self.shared.subscribers.is_empty() => {
                let received = ReceivedMessage::new(peer, message, first_seen);
                for missed in self.shared.subscribers.publish(&received) {
                    self.shared.events.publish(&OverlayEvent::SubscriberLagged { missed });
                }
            }
            _ => {}
        }
        self.shared.events.publish(&event);
    }
}

/// Connection events go to `tracing` (debug level for messages, info for connects and
/// drops), with the connection's id.
fn trace(e: &NodeEvent) {
    match e {
        NodeEvent::Connected { conn, remote, role, .. } => {
            tracing::info!(conn = conn.0, peer = %remote.node_id, ?role, version = %remote.version_str, "authenticated")
        }
        NodeEvent::Message { conn, message, size, .. } => {
            tracing::debug!(conn = conn.0, kind = message.message_type().wire_name(), bytes = size, "received")
        }
        NodeEvent::Control { .. } => {}
        NodeEvent::Disconnected { conn, peer, reason, .. } => {
            tracing::info!(conn = conn.0, peer = ?peer.map(|p| p.to_string()), reason = %reason, "dropped")
        }
    }
}
