//! Connection management: accepting, dialing, admission to authenticated slots, preferred
//! peers, peer records, PEERS, bans, the tick loop and out-of-sync rotation (PROTOCOL.md
//! §10, §11).

use super::{Conn, ConnId, Node, NodeError, NodeEvent, Output};
use crate::config::{MIN_OUTBOUND_WITHOUT_INBOUND, POSSIBLY_PREFERRED_EXTRA};
use crate::discovery::{PeerType, StoreError};
use crate::peer::DropReason;
use overlay_auth::{HelloFacts, Role};
use overlay_proto::{NodeId, PeerAddress};
use rand_chacha::rand_core::Rng;

/// Node state owned by connection management.
#[derive(Debug, Default)]
pub(crate) struct ManageState {
    /// Peer-store failures seen (the store keeps working for reads and later writes).
    pub store_errors: u64,
}

impl Node {
    /// Ban `peer`: its HELLO will be refused. Existing connections are not dropped (§10.6).
    pub fn ban(&mut self, peer: NodeId) -> Result<(), StoreError> {
        let r = self.discovery.ban(&peer).map(|_| ());
        self.flush();
        r
    }

    /// Drop `peer` with ERR_MISC "dropped by user" and ban it (stellar-core's
    /// `droppeer?ban=1`).
    pub fn ban_and_drop(&mut self, now: overlay_proto::Timestamp, peer: NodeId) -> Result<(), StoreError> {
        let _ = self.disconnect(now, peer);
        self.ban(peer)
    }

    /// Lift a ban.
    pub fn unban(&mut self, peer: &NodeId) -> Result<(), StoreError> {
        let r = self.discovery.unban(peer).map(|_| ());
        self.flush();
        r
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &NodeId) -> bool {
        self.discovery.is_banned(peer).unwrap_or(false)
    }

    /// The banned NodeIDs.
    pub fn bans(&self) -> Vec<NodeId> {
        self.discovery.bans().unwrap_or_default()
    }

    /// New resolved addresses of `KNOWN_PEERS` and `PREFERRED_PEERS` (the driver re-resolves
    /// host names periodically, §11.4 step 2): stored as OUTBOUND and PREFERRED records, and
    /// the preferred addresses replace the in-memory set.
    pub fn set_config_peers(&mut self, known: Vec<PeerAddress>, preferred: Vec<PeerAddress>) {
        self.config.known_peers = known;
        self.config.preferred_peers = preferred;
        self.store_config_peers(false);
        self.flush();
    }

    /// §11.4 start: the configured peers are stored (with a hard backoff reset at startup)
    /// and dead records purged.
    pub(super) fn store_config_peers(&mut self, startup: bool) {
        let (known, preferred) = (self.config.known_peers.clone(), self.config.preferred_peers.clone());
        let r = self.discovery.store_config_peers(self.now, &known, &preferred, startup, &mut self.rng);
        self.note_store(r.map(|_| ()));
        if startup {
            let r = self.discovery.purge_dead();
            self.note_store(r.map(|_| ()));
        }
    }

    fn note_store(&mut self, r: Result<(), StoreError>) {
        if r.is_err() {
            self.manage.store_errors += 1;
        }
    }

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

    /// Open an outbound connection if a pending outbound slot is free; the record's backoff
    /// is increased first (§10.2 INCREASE).
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
        let r = self.discovery.note_connect_attempt(self.now, &address, &mut self.rng);
        self.note_store(r.map(|_| ()));
        self.metrics.outbound_attempt += 1;
        let id = self.insert_conn(Conn::new(Role::Initiator, address.clone(), None));
        self.outputs.push_back(Output::Connect { conn: id, address });
        Ok(id)
    }

    /// §3.5 step 12: the record type after a valid HELLO.
    pub(super) fn on_got_hello(&mut self, conn: ConnId, _facts: &HelloFacts) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(address) = c.peer.as_ref().map(|p| p.address().clone()) else { return };
        let preferred = self.config.preferred_peers.contains(&address);
        let r = self.discovery.note_hello(self.now, &address, c.direction, preferred);
        self.note_store(r.map(|_| ()));
    }

    fn is_preferred(&self, address: &PeerAddress, id: &NodeId) -> bool {
        self.config.preferred_peer_keys.contains(id) || self.config.preferred_peers.contains(address)
    }

    /// §3.6 steps 5–9 and §11.3: reset the backoff of a peer we dialed, then admit it to a
    /// slot of its direction (evicting a non-preferred peer for a preferred one) or reject it.
    pub(super) fn on_authenticated(&mut self, conn: ConnId, facts: HelloFacts) {
        let Some(c) = self.conns.get(&conn) else { return };
        let Some(peer) = c.peer.as_ref() else { return };
        let direction = c.direction;
        let address = peer.address().clone();
        let id = facts.node_id;
        let r = self.discovery.note_authenticated(self.now, &address, direction, &mut self.rng);
        self.note_store(r.map(|_| ()));
        // An acceptor sends PEERS right after its AUTH, before the slot decision (§3.6
        // steps 3 and 6): a peer turned away still learns addresses.
        let peers = match direction {
            Role::Acceptor => self.discovery.build_peers_message(self.now, &address, &mut self.rng).unwrap_or(None),
            Role::Initiator => None,
        };
        let rejection = if self.authenticated.contains_key(&id) {
            Some(DropReason::Handshake(overlay_auth::HandshakeError::AlreadyConnected(id)))
        } else if !self.admit_to_slot(direction, &address, &id) {
            Some(DropReason::PEER_REJECTED)
        } else {
            None
        };
        if let Some(reason) = rejection {
            if let (Some(p), Some(msg)) = (self.conns.get_mut(&conn).and_then(|c| c.peer.as_mut()), peers.as_ref()) {
                let _ = p.send(self.now, msg);
            }
            self.close_conn(conn, reason);
            return;
        }
        let scp_ledger = self.ledger.scp_state_ledger(self.remember());
        // A full slot table leaves it unset: its floods are then recorded by node ID, and
        // refused the same way.
        let flood_slot = self.floodgate.peer_slot(id).ok();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.node_id = Some(id);
            c.flood_slot = flood_slot;
            if let Some(p) = c.peer.as_mut() {
                p.admit(self.now, peers, scp_ledger);
            }
        }
        self.authenticated.insert(id, conn);
        self.survey.data.peer_added();
        self.flood_peers.rebuild(&self.authenticated, &self.conns);
        let _ = self.pull.add_peer(id);
        match direction {
            Role::Initiator => self.metrics.outbound_establish += 1,
            Role::Acceptor => self.metrics.inbound_establish += 1,
        }
        self.dirty.insert(conn);
        self.outputs.push_back(Output::Event(NodeEvent::Connected {
            conn,
            address,
            role: direction,
            remote: Box::new(facts),
        }));
    }

    /// §11.3: whether a slot of `direction` is available for this peer.
    fn admit_to_slot(&mut self, direction: Role, address: &PeerAddress, id: &NodeId) -> bool {
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
        let preferred = self.is_preferred(address, id);
        if in_direction.len() < max {
            preferred || !self.config.preferred_peers_only
        } else {
            preferred && self.evict_non_preferred(&in_direction)
        }
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

    /// §11.7: a dropped peer's IP loses its records with 120 failures or more.
    pub(super) fn on_dropped(&mut self, address: &PeerAddress, _direction: Role) {
        let r = self.discovery.note_peer_removed(address);
        self.note_store(r.map(|_| ()));
    }

    /// §10.4: addresses learned from the acceptor (the peer already refused PEERS from an
    /// initiator and a second PEERS).
    pub(super) fn on_peers(&mut self, conn: ConnId, list: &[overlay_proto::xdr::PeerAddress]) {
        let Some(sender) = self.conns.get(&conn).and_then(|c| c.peer.as_ref()).map(|p| p.address().clone()) else {
            return;
        };
        let r = self.discovery.handle_peers(self.now, &sender, list);
        self.note_store(r.map(|_| ()));
    }

    /// The tick (§11.4): preferred peers first, out-of-sync rotation, then OUTBOUND-type
    /// records keeping one pending slot for promotion, then INBOUND-type records (whose
    /// HELLO promotes them to OUTBOUND).
    pub(super) fn tick(&mut self) {
        if self.shutting_down || self.config.run_standalone {
            return;
        }
        let Some((pending_slots, auth_slots)) = self.slots() else { return };
        let want = pending_slots.min(auth_slots + self.non_preferred_outbound());
        self.connect_to(PeerType::Preferred, want);
        self.rotate_if_out_of_sync(auth_slots == 0 && pending_slots > 0);
        let Some((pending_slots, auth_slots)) = self.slots() else { return };
        if auth_slots > 0 {
            let n = if pending_slots > 1 { (pending_slots - 1).min(auth_slots) } else { pending_slots };
            self.connect_to(PeerType::Outbound, n);
        }
        if let Some((pending_slots, _)) = self.slots() {
            self.connect_to(PeerType::Inbound, pending_slots);
        }
    }

    /// Free pending outbound slots and free authenticated outbound slots (against the
    /// effective target: 3 while no inbound peer is authenticated), or `None` if no pending
    /// slot is free.
    fn slots(&self) -> Option<(usize, usize)> {
        let (_, pending_out, auth_in, auth_out) = self.connection_counts();
        let pending_slots = self.limits.max_outbound_pending.saturating_sub(pending_out);
        let target = if auth_in == 0 {
            self.limits.target_outbound.min(MIN_OUTBOUND_WITHOUT_INBOUND)
        } else {
            self.limits.target_outbound
        };
        (pending_slots > 0).then(|| (pending_slots, target.saturating_sub(auth_out)))
    }

    /// Dial up to `n` due records of `peer_type` that no connection already reaches.
    fn connect_to(&mut self, peer_type: PeerType, n: usize) {
        if n == 0 {
            return;
        }
        let conns = &self.conns;
        let connected = |a: &PeerAddress| {
            conns
                .values()
                .filter(|c| !c.closed)
                .find(|c| c.peer.as_ref().map_or(&c.address, |p| p.address()) == a)
                .map(|c| c.direction)
        };
        let found = self.discovery.peers_to_connect(self.now, peer_type, n, connected, &mut self.rng);
        let Ok(addresses) = found else {
            self.manage.store_errors += 1;
            return;
        };
        for a in addresses {
            if self.dial(a) == Err(NodeError::NoSlot) {
                break;
            }
        }
    }

    /// §11.6: while out of sync, every `OUT_OF_SYNC_RECONNECT_DELAY` drop one random
    /// non-preferred outbound peer (if the outbound slots are full), so that a partitioned
    /// node finds other peers. Preferred-only topologies therefore never rotate.
    fn rotate_if_out_of_sync(&mut self, should_drop: bool) {
        if self.ledger.synced {
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
        let candidates = self.non_preferred_outbound_conns();
        if candidates.is_empty() {
            return;
        }
        let victim = candidates[(self.rng.next_u64() % candidates.len() as u64) as usize];
        self.close_conn(victim, DropReason::OUT_OF_SYNC);
        self.out_of_sync_since = Some(self.now);
    }

    fn non_preferred_outbound_conns(&self) -> Vec<ConnId> {
        self.authenticated
            .iter()
            .filter(|(n, c)| {
                self.conns.get(c).is_some_and(|c| {
                    c.direction == Role::Initiator
                        && c.peer.as_ref().is_some_and(|p| !self.is_preferred(p.address(), n))
                })
            })
            .map(|(_, c)| *c)
            .collect()
    }

    fn non_preferred_outbound(&self) -> usize {
        self.non_preferred_outbound_conns().len()
    }
}
