//! Connection management: accepting, dialing, admission to authenticated slots, preferred
//! peers, the tick loop and out-of-sync rotation (PROTOCOL.md §10.3, §11).

use super::{ConnId, Conn, Node, NodeError, NodeEvent, Output};
use crate::app::Application;
use crate::config::{MIN_OUTBOUND_WITHOUT_INBOUND, POSSIBLY_PREFERRED_EXTRA};
use crate::discovery::PeerStore;
use crate::peer::DropReason;
use overlay_auth::{HelloFacts, Role};
use overlay_proto::{NodeId, PeerAddress};
use rand_chacha::rand_core::Rng;
use std::collections::BTreeSet;

/// Node state owned by connection management.
#[derive(Debug, Default)]
pub(crate) struct ManageState {
    /// Banned NodeIDs (§10.6), checked when a HELLO is processed.
    pub bans: BTreeSet<NodeId>,
}

/// Most addresses dialed for one kind of candidate in one tick (§11.4).
const MAX_DIALS_PER_CALL: usize = 50;

impl<A: Application, S: PeerStore> Node<A, S> {
    /// Ban `peer`: its HELLO will be refused. Existing connections are not dropped (§10.6).
    pub fn ban(&mut self, peer: NodeId) {
        self.manage.bans.insert(peer);
    }

    /// Lift a ban.
    pub fn unban(&mut self, peer: &NodeId) {
        self.manage.bans.remove(peer);
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &NodeId) -> bool {
        self.manage.bans.contains(peer)
    }

    /// The banned NodeIDs.
    pub fn bans(&self) -> impl Iterator<Item = &NodeId> {
        self.manage.bans.iter()
    }

    pub(super) fn store_config_peers(&mut self) {}

    /// §11.2: a pending inbound slot is free, or one of the extra slots for an address that
    /// may be a preferred peer.
    pub(super) fn inbound_slot_free(&self, remote: &PeerAddress) -> bool {
        let (pending_in, _, _, _) = self.connection_counts();
        let max = self.limits.max_inbound_pending;
        if pending_in < max {
            return true;
        }
        let possibly_preferred = self.config.preferred_peers.iter().any(|p| p.ip().is_some() && p.ip() == remote.ip());
        possibly_preferred && pending_in < max + POSSIBLY_PREFERRED_EXTRA
    }

    /// Open an outbound connection if a pending outbound slot is free.
    pub(super) fn dial(&mut self, address: PeerAddress) -> Result<ConnId, NodeError> {
        if self.shutting_down {
            return Err(NodeError::ShuttingDown);
        }
        if address.ip().is_none() {
            return Err(NodeError::NotAnIp(address));
        }
        let (_, pending_out, _, _) = self.connection_counts();
        if pending_out >= self.limits.max_outbound_pending {
            return Err(NodeError::NoSlot);
        }
        self.metrics.outbound_attempt += 1;
        let id = self.insert_conn(Conn::new(Role::Initiator, address.clone(), None));
        self.outputs.push_back(Output::Connect { conn: id, address });
        Ok(id)
    }

    pub(super) fn on_got_hello(&mut self, _conn: ConnId, _facts: &HelloFacts) {}

    fn is_preferred(&self, address: &PeerAddress, id: &NodeId) -> bool {
        self.config.preferred_peer_keys.contains(id) || self.config.preferred_peers.contains(address)
    }

    /// §11.3: admit an authenticated peer to a slot of its direction, evicting a
    /// non-preferred peer for a preferred one, or reject it.
    pub(super) fn on_authenticated(&mut self, conn: ConnId, facts: HelloFacts) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(peer) = c.peer.as_ref() else { return };
        let direction = c.direction;
        let address = peer.address().clone();
        let id = facts.node_id;
        if self.authenticated.contains_key(&id) {
            let reason = DropReason::Handshake(overlay_auth::HandshakeError::AlreadyConnected(id));
            self.close_conn(conn, reason);
            return;
        }
        let max = match direction {
            Role::Initiator => self.limits.max_outbound,
            Role::Acceptor => self.limits.max_inbound,
        };
        let in_direction: Vec<(NodeId, ConnId)> = self
            .authenticated
            .iter()
            .filter(|(_, c)| self.conns.get(c).is_some_and(|c| c.direction == direction))
            .map(|(n, c)| (*n, *c))
            .collect();
        let preferred = self.is_preferred(&address, &id);
        let admitted = if in_direction.len() < max {
            preferred || !self.config.preferred_peers_only
        } else if preferred {
            self.evict_non_preferred(&in_direction)
        } else {
            false
        };
        if !admitted {
            self.close_conn(conn, DropReason::PEER_REJECTED);
            return;
        }
        let scp_ledger = self.app.scp_state_ledger();
        let peers = None;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.node_id = Some(id);
            if let Some(p) = c.peer.as_mut() {
                p.admit(self.now, peers, scp_ledger);
            }
        }
        self.authenticated.insert(id, conn);
        let _ = self.pull.add_peer(id);
        match direction {
            Role::Initiator => self.metrics.outbound_establish += 1,
            Role::Acceptor => self.metrics.inbound_establish += 1,
        }
        self.dirty.insert(conn);
        let ev = NodeEvent::Connected { conn, address, role: direction, remote: facts };
        self.outputs.push_back(Output::Event(ev));
    }

    /// Evict the first non-preferred authenticated peer (in NodeID order) of the list with
    /// ERR_LOAD "preferred peer selected instead". Returns whether one was evicted.
    fn evict_non_preferred(&mut self, in_direction: &[(NodeId, ConnId)]) -> bool {
        let victim = in_direction.iter().find(|(n, c)| {
            let addr = self.conns.get(c).and_then(|c| c.peer.as_ref()).map(|p| p.address().clone());
            addr.is_none_or(|a| !self.is_preferred(&a, n))
        });
        let Some((_, conn)) = victim.copied() else { return false };
        self.close_conn(conn, DropReason::PREFERRED_INSTEAD);
        // The slot is freed at once, as stellar-core removes a dropped peer immediately.
        self.drain_events(conn);
        true
    }

    pub(super) fn on_dropped(&mut self, _address: &PeerAddress, _direction: Role) {}

    pub(super) fn on_peers(&mut self, _conn: ConnId, _list: &[overlay_proto::xdr::PeerAddress]) {}

    /// The tick (§11.4): connect to preferred peers, then known outbound peers, keeping one
    /// pending slot for promotion.
    pub(super) fn tick(&mut self) {
        if self.shutting_down || self.config.run_standalone {
            return;
        }
        let (_, pending_out, auth_in, auth_out) = self.connection_counts();
        let pending_slots = self.limits.max_outbound_pending.saturating_sub(pending_out);
        if pending_slots == 0 {
            return;
        }
        let target = if auth_in == 0 {
            self.limits.max_outbound.min(MIN_OUTBOUND_WITHOUT_INBOUND)
        } else {
            self.limits.max_outbound
        };
        let auth_slots = target.saturating_sub(auth_out);
        let preferred = self.config.preferred_peers.clone();
        let non_preferred_out = self.non_preferred_outbound();
        let mut budget = pending_slots.min(auth_slots + non_preferred_out).min(MAX_DIALS_PER_CALL);
        for a in preferred {
            if budget == 0 {
                break;
            }
            if !self.is_connected_to(&a) && self.dial(a).is_ok() {
                budget -= 1;
            }
        }
        let should_drop = auth_slots == 0 && pending_slots > 0;
        self.rotate_if_out_of_sync(should_drop);
        let (_, pending_out, _, auth_out) = self.connection_counts();
        let pending_slots = self.limits.max_outbound_pending.saturating_sub(pending_out);
        let auth_slots = target.saturating_sub(auth_out + pending_out);
        if pending_slots == 0 || auth_slots == 0 {
            return;
        }
        let mut budget = if pending_slots > 1 { (pending_slots - 1).min(auth_slots) } else { pending_slots };
        let known = self.config.known_peers.clone();
        for a in known {
            if budget == 0 {
                break;
            }
            if !self.is_connected_to(&a) && self.dial(a).is_ok() {
                budget -= 1;
            }
        }
    }

    /// §11.6: while out of sync, every `OUT_OF_SYNC_RECONNECT_DELAY` drop one random
    /// non-preferred outbound peer (if the outbound slots are full), so that a partitioned
    /// node finds other peers. Preferred-only topologies therefore never rotate.
    fn rotate_if_out_of_sync(&mut self, should_drop: bool) {
        if self.app.ledger().synced {
            self.out_of_sync_since = None;
            return;
        }
        let Some(since) = self.out_of_sync_since else {
            self.out_of_sync_since = Some(self.now);
            return;
        };
        if !should_drop || self.now - since <= self.config.out_of_sync_reconnect_delay {
            return;
        }
        let candidates: Vec<ConnId> = self
            .authenticated
            .iter()
            .filter(|(n, c)| {
                self.conns.get(c).is_some_and(|c| {
                    c.direction == Role::Initiator && c.peer.as_ref().is_some_and(|p| !self.is_preferred(p.address(), n))
                })
            })
            .map(|(_, c)| *c)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let victim = candidates[(self.rng.next_u64() % candidates.len() as u64) as usize];
        self.close_conn(victim, DropReason::OUT_OF_SYNC);
        self.out_of_sync_since = Some(self.now);
    }

    fn non_preferred_outbound(&self) -> usize {
        self.authenticated
            .iter()
            .filter(|(n, c)| {
                self.conns.get(c).is_some_and(|c| {
                    c.direction == Role::Initiator
                        && c.peer.as_ref().is_some_and(|p| !self.is_preferred(p.address(), n))
                })
            })
            .count()
    }

    /// Whether an open connection (pending or authenticated) goes to `address`.
    fn is_connected_to(&self, address: &PeerAddress) -> bool {
        self.conns.values().any(|c| {
            !c.closed && (c.address == *address || c.peer.as_ref().is_some_and(|p| p.address() == address))
        })
    }
}
