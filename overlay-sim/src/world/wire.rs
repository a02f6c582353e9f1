//! Wire-tap checks: every byte a node writes is read by the [tap](crate::tap) before the
//! link carries it, and every byte delivered to a node is read before the node sees it. The
//! tap trusts nothing the nodes say about themselves.
//!
//! On every write: flood messages stay within the SEND_MORE_EXTENDED grants delivered to
//! the writer; no flood message after the writer reported its peer gone; no transaction
//! sent back on the connection it came in on; and, in the consensus-relay scenario, the
//! relay checks of [`super::consensus`] on SCP messages and item requests and replies.

use super::tcp::EndState;
use super::{Event, Res, World};
use crate::invariants::Violation;
use crate::tap;
use core::time::Duration;
use overlay_proto::xdr::MessageType;

/// When to look whether an honest node dropped a peer that sent past its grant, after the
/// offending frame was written.
const PUNISH_DEADLINE: Duration = Duration::from_secs(15);

/// Whether the consensus-relay checks read frames of this type.
fn consensus_reads(t: Option<MessageType>) -> bool {
    matches!(
        t,
        Some(
            MessageType::ScpMessage
                | MessageType::GetTxSet
                | MessageType::GetScpQuorumset
                | MessageType::TxSet
                | MessageType::GeneralizedTxSet
                | MessageType::ScpQuorumset
                | MessageType::DontHave
        )
    )
}

impl World {
    /// Read what side `side` of `sim` writes, and check it.
    pub(super) fn tap_write(&mut self, sim: u64, side: usize, bytes: &[u8]) -> Res {
        let now = self.q.now();
        let consensus = self.consensus.is_some();
        let c = self.conns.get_mut(&sim).expect("present");
        let (w, r) = (c.ends[side].node, c.ends[1 - side].node);
        let writer = &mut self.nodes[w as usize];
        let declared = !writer.is_honest();
        let dropped = c.ends[side].state == EndState::Disconnected;
        let mut violation = None;
        let mut overran = false;
        let mut frames = 0u64;
        let mut relay_frames = Vec::new();
        for f in tap::frames(bytes) {
            frames += 1;
            writer.sent.add(f.class(), f.frame.len());
            if f.message_type == Some(MessageType::GetTxSet) {
                self.stats.get_tx_set_sent += 1;
            }
            if consensus && consensus_reads(f.message_type) {
                relay_frames.push(f.message_xdr.to_vec());
            }
            if f.is_flood() {
                if dropped && !declared && violation.is_none() {
                    let conn_id = c.ends[side].conn.map_or(0, |x| x.0);
                    let message_type = f.message_type.map_or("?", |t| overlay_proto::MessageClass::wire_name(&t));
                    violation = Some(Violation::FloodAfterDrop { node: w, conn_id, message_type });
                }
                let sent = &mut c.flood_sent[side];
                sent.0 += 1;
                sent.1 += f.flow_bytes();
                let granted = c.grants_delivered[1 - side];
                if sent.0 > granted.0 || sent.1 > granted.1 {
                    if declared {
                        overran = true;
                    } else if violation.is_none() {
                        violation = Some(Violation::SendPastCapacity {
                            node: w,
                            peer: r,
                            conn: sim,
                            sent_msgs: sent.0,
                            sent_bytes: sent.1,
                            granted_msgs: granted.0,
                            granted_bytes: granted.1,
                        });
                    }
                }
            }
            if let Some((m, b)) = f.grant() {
                let g = &mut c.grants_written[side];
                g.0 += m;
                g.1 += b;
            }
            if let Some(id) = f.transaction_id() {
                if !declared && violation.is_none() && c.recent_rx[side].as_ref().is_some_and(|s| s.contains(id)) {
                    violation = Some(Violation::Echo { node: w, peer: r });
                }
            }
        }
        self.stats.wire_frames_checked += frames;
        if let Some(v) = violation {
            return Err(self.fail(v));
        }
        let c = self.conns.get_mut(&sim).expect("present");
        if overran && !c.punish_scheduled[side] && c.ends[1 - side].state == EndState::Open {
            c.punish_scheduled[side] = true;
            let profile = self.net.profile(w, r);
            let at = now + Duration::from_millis(profile.latency_ms) + PUNISH_DEADLINE;
            self.q.schedule_at(at, Event::CheckPunished { conn: sim, side: 1 - side })?;
        }
        for xdr in relay_frames {
            self.consensus_wire(sim, side, &xdr)?;
        }
        Ok(())
    }

    /// Read what arrives at side `to` of `sim`: traffic counters, and the transactions it
    /// brings (for the echo check).
    pub(super) fn tap_read(&mut self, sim: u64, to: usize, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&sim) else { return };
        let sn = &mut self.nodes[c.ends[to].node as usize];
        for f in tap::frames(bytes) {
            sn.received.add(f.class(), f.frame.len());
            if let Some(id) = f.transaction_id() {
                c.recent_rx[to].get_or_insert_with(Default::default).insert(id);
            }
        }
    }
}
