//! Fault resealing: what a misbehaving node does to the bytes its honest node writes and
//! reads (see [`crate::fault`]). Faults that need no keys damage the bytes; those that need
//! the node's session keys (overrunning flow control, echoing transactions) re-seal frames
//! with correct MACs and sequence numbers, so that only the protocol-level misbehaviour
//! remains for the peer to notice.

use super::{Res, World};
use crate::fault::{self, Misbehaviour, MisbehaviourKind, Resealer};
use crate::network::NodeIndex;
use crate::tap;

/// Most transactions a misbehaving node echoes per delivery.
const ECHO_PER_DELIVERY_MAX: usize = 16;
/// Most extra frames an overrunning node writes at once.
const OVERRUN_FRAMES_MAX: u64 = 512;

impl World {
    /// The bytes node `n` writes on side `side` of `sim`, as its misbehaviour (if any) turns
    /// them.
    pub(super) fn misbehave_outgoing(&mut self, n: NodeIndex, sim: u64, side: usize, bytes: Vec<u8>) -> Vec<u8> {
        match self.nodes[n as usize].misbehaviour {
            None => bytes,
            Some(m) if !m.kind.needs_keys() => fault::damage(m.kind, m.prob, bytes, &mut self.rng),
            Some(m) => self.reseal_outgoing(n, sim, side, m, &bytes),
        }
    }

    /// A write of a node whose misbehaviour needs its keys: re-sealed, maybe with extra
    /// frames past the peer's grant.
    fn reseal_outgoing(&mut self, n: NodeIndex, sim: u64, side: usize, m: Misbehaviour, bytes: &[u8]) -> Vec<u8> {
        let secret = self.nodes[n as usize].ecdh_secret;
        let c = self.conns.get_mut(&sim).expect("present");
        let role = if side == 0 { overlay_auth::Role::Initiator } else { overlay_auth::Role::Acceptor };
        let r = c.reseal[side].get_or_insert_with(|| Box::new(Resealer::new(role, secret)));
        let mut extra = Vec::new();
        let granted = c.grants_delivered[1 - side];
        if m.kind == MisbehaviourKind::Overrun
            && !c.overrun_done[side]
            && r.is_keyed()
            && c.ends[side].authenticated
            && granted.0 > 0
            && self.rng.chance(m.prob)
        {
            c.overrun_done[side] = true;
            let room = granted.0.saturating_sub(c.flood_sent[side].0);
            for _ in 0..(room + 1).min(OVERRUN_FRAMES_MAX) {
                let msg = overlay_proto::fixtures::transaction_message(self.next_overrun_tx);
                self.next_overrun_tx += 1;
                if let Ok(x) = overlay_proto::wire::encode_message(&msg) {
                    extra.push(x);
                }
            }
        }
        r.rewrite(bytes, &extra)
    }

    /// Bytes arrive at side `to` of `sim`: a misbehaving node that needs its keys follows
    /// the session; an echoing one picks the transactions to send back. Returns those.
    pub(super) fn misbehave_incoming(&mut self, sim: u64, to: usize, bytes: &[u8]) -> Vec<Vec<u8>> {
        let Some(c) = self.conns.get_mut(&sim) else { return Vec::new() };
        let sn = &self.nodes[c.ends[to].node as usize];
        let Some(m) = sn.misbehaviour.filter(|m| m.kind.needs_keys()) else { return Vec::new() };
        let role = if to == 0 { overlay_auth::Role::Initiator } else { overlay_auth::Role::Acceptor };
        let secret = sn.ecdh_secret;
        c.reseal[to].get_or_insert_with(|| Box::new(Resealer::new(role, secret))).observe_incoming(bytes);
        if m.kind != MisbehaviourKind::Echo {
            return Vec::new();
        }
        tap::frames(bytes)
            .filter(|f| f.transaction_id().is_some())
            .take(ECHO_PER_DELIVERY_MAX)
            .map(|f| f.message_xdr.to_vec())
            .collect()
    }

    /// Send `echoes` back on the connection they came from, re-sealed.
    pub(super) fn echo(&mut self, sim: u64, to: usize, echoes: Vec<Vec<u8>>) -> Res {
        if echoes.is_empty() {
            return Ok(());
        }
        let Some(c) = self.conns.get_mut(&sim) else { return Ok(()) };
        if c.reset || c.ends[to].state != super::tcp::EndState::Open {
            return Ok(());
        }
        let Some(reseal) = c.reseal[to].as_deref_mut().filter(|r| r.is_keyed()) else { return Ok(()) };
        let out = reseal.rewrite(&[], &echoes);
        self.write(sim, to, out)
    }
}
