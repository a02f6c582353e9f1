//! One connection as the overlay manager sees it.

use crate::peer::Peer;
use overlay_auth::Role;
use overlay_flood::{PeerSlot, QueryLimiter};
use overlay_proto::{NodeId, PeerAddress};
use std::collections::BTreeMap;

/// A connection handle, unique for the node's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl core::fmt::Display for ConnId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The authenticated peers a broadcast goes to, in node-ID order, as parallel lists: the
/// Floodgate takes their slot handles and answers with positions, so a broadcast looks up
/// no peer. A peer without a Floodgate slot (its table full) is left out.
#[derive(Debug, Default)]
pub(crate) struct FloodPeers {
    pub ids: Vec<NodeId>,
    pub conns: Vec<ConnId>,
    pub slots: Vec<PeerSlot>,
}

impl FloodPeers {
    /// Rebuild from the authenticated peers and their connections.
    pub fn rebuild(&mut self, authenticated: &BTreeMap<NodeId, ConnId>, conns: &BTreeMap<ConnId, Conn>) {
        self.ids.clear();
        self.conns.clear();
        self.slots.clear();
        for (&id, &conn) in authenticated {
            if let Some(slot) = conns.get(&conn).and_then(|c| c.flood_slot) {
                self.ids.push(id);
                self.conns.push(conn);
                self.slots.push(slot);
            }
        }
    }
}

pub(crate) struct Conn {
    pub direction: Role,
    /// The address dialed, or the remote socket address of an accepted connection.
    pub address: PeerAddress,
    /// `None` while an outbound TCP connect is in progress.
    pub peer: Option<Box<Peer>>,
    /// Set once admitted to an authenticated slot.
    pub node_id: Option<NodeId>,
    /// The peer's Floodgate slot, taken at admission.
    pub flood_slot: Option<PeerSlot>,
    pub writable: bool,
    pub closed: bool,
    pub limiter: QueryLimiter,
    /// Flood and fetch traffic per first-seen or duplicate, for surveys (§12.4).
    pub survey_counts: crate::survey::PeerCounters,
}

impl Conn {
    pub fn new(direction: Role, address: PeerAddress, peer: Option<Box<Peer>>) -> Self {
        Conn {
            direction,
            address,
            peer,
            node_id: None,
            flood_slot: None,
            writable: true,
            closed: false,
            limiter: QueryLimiter::new(),
            survey_counts: crate::survey::PeerCounters::default(),
        }
    }

    /// Pending: not closed, not admitted (connecting or handshaking).
    pub fn is_pending(&self) -> bool {
        !self.closed && self.node_id.is_none()
    }

    pub fn is_authenticated(&self) -> bool {
        !self.closed && self.node_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use overlay_flood::{FloodConfig, Floodgate};

    #[test]
    fn a_peer_without_a_floodgate_slot_is_left_out_of_broadcasts_and_the_rest_keep_their_order() {
        let mut gate: Floodgate<NodeId> = Floodgate::new(&FloodConfig::default(), 1);
        let (mut authenticated, mut conns) = (BTreeMap::new(), BTreeMap::new());
        for k in [3u8, 1, 2] {
            let (id, conn) = (NodeId([k; 32]), ConnId(u64::from(k)));
            let mut c = Conn::new(Role::Acceptor, PeerAddress::new("127.0.0.1", 11625), None);
            c.node_id = Some(id);
            // Peer 2 found the slot table full.
            c.flood_slot = (k != 2).then(|| gate.peer_slot(id).unwrap());
            authenticated.insert(id, conn);
            conns.insert(conn, c);
        }
        let mut peers = FloodPeers::default();
        peers.rebuild(&authenticated, &conns);
        assert_eq!(peers.ids, [NodeId([1; 32]), NodeId([3; 32])], "node-ID order, peer 2 left out");
        assert_eq!(peers.conns, [ConnId(1), ConnId(3)]);
        let told = gate.broadcast_to_slots(overlay_proto::Hash256([9; 32]), 1, &peers.slots).unwrap();
        assert_eq!(told, [0, 1], "a broadcast still reaches the others");
        authenticated.remove(&NodeId([1; 32]));
        peers.rebuild(&authenticated, &conns);
        assert_eq!(peers.conns, [ConnId(3)], "a dropped peer leaves the lists");
    }
}
