//! Delivery and state checks: the periodic sweep of every node's own state, the deadline
//! checks of flooded messages and tx-set fetches, and the look at overrunning peers.

use super::log::MsgKey;
use super::nodes::SimApp;
use super::tcp::EndState;
use super::{Event, Res, World};
use crate::invariants::{self, Violation};
use crate::network::NodeIndex;
use core::time::Duration;
use overlay_node::DropReason;
use overlay_proto::Timestamp;

impl World {
    pub(super) fn sweep(&mut self) -> Res {
        self.sweep_nodes()?;
        let next = self.q.now() + Duration::from_millis(self.sc.check_interval_ms);
        if next <= self.end {
            self.q.schedule_at(next, Event::Sweep)?;
        }
        Ok(())
    }

    /// Check every running node's own state; refresh the load-shedding counter.
    pub(super) fn sweep_nodes(&mut self) -> Res {
        let mut checks = 0;
        let mut shed = self.stats.shed_closed;
        for (i, sn) in self.nodes.iter().enumerate() {
            let Some(live) = sn.live.as_deref() else { continue };
            let mut result = invariants::check_node(i as NodeIndex, &live.node);
            if let (Ok(n), SimApp::Memory(app)) = (&result, &live.app) {
                let max = self.sc.app_transactions_max;
                result = invariants::bound(i as NodeIndex, "application transactions", app.transaction_count(), max)
                    .map(|()| n + 1);
            }
            match result {
                Ok(n) => checks += n,
                Err(v) => return Err(self.fail(v)),
            }
            shed += super::report_input::shed_of(&live.node);
        }
        self.shed_total = shed;
        self.count_check("node state (flow control, bounds)", checks);
        Ok(())
    }

    pub(super) fn current_shed(&self) -> u64 {
        self.stats.shed_closed
            + self
                .nodes
                .iter()
                .filter_map(|n| n.live.as_deref())
                .map(|l| super::report_input::shed_of(&l.node))
                .sum::<u64>()
    }

    /// Whether node `i` counts for delivery checks of something that happened at `since`:
    /// running since then and honest.
    pub(super) fn is_steady(&self, i: NodeIndex, since: Timestamp) -> bool {
        let sn = &self.nodes[i as usize];
        sn.live.is_some() && sn.up_since.is_some_and(|t| t <= since) && sn.is_honest()
    }

    pub(super) fn check_message(&mut self, id: u32, key: MsgKey) -> Res {
        let Some(rec) = self.log.get(id) else { return Ok(()) };
        let (origin, at, kind) = (rec.origin, rec.at, rec.kind);
        let steady: Vec<NodeIndex> = (0..rec.node_count() as NodeIndex).filter(|&i| self.is_steady(i, at)).collect();
        let missing: Vec<NodeIndex> = steady.iter().copied().filter(|&i| !rec.received_by(i)).collect();
        let coverage = rec.coverage_us(steady.iter().copied());
        let shed_at = rec.shed_at;
        let number = rec.number;
        if self.is_steady(origin, at) && !missing.is_empty() {
            let component = self.graph.component_since(origin, at, |x| self.is_steady(x, at));
            if let Some(&node) = missing.iter().find(|m| component.contains(m)) {
                if self.current_shed() > shed_at {
                    self.log.stats_mut(kind).exempt_load_shed += 1;
                } else {
                    return Err(self.fail(Violation::NotDelivered {
                        kind: kind.name(),
                        message: number,
                        origin,
                        at_ms: self.at_ms(at),
                        node,
                        deadline_ms: self.sc.reach_deadline_ms,
                    }));
                }
            }
        }
        let stats = self.log.stats_mut(kind);
        stats.checked += 1;
        if let Some(us) = coverage.filter(|_| missing.is_empty()) {
            stats.coverage.record_us(us);
        }
        self.log.finish(id, key);
        self.count_check("deliveries checked", 1);
        Ok(())
    }

    pub(super) fn check_fetch(&mut self, id: u32) -> Res {
        let Some(f) = self.log.fetch(id).cloned() else { return Ok(()) };
        self.log.finish_fetch(id);
        self.nodes[f.fetcher as usize].pending_fetches.retain(|x| *x != id);
        if f.done.is_some() {
            self.log.fetch.checked += 1;
            return Ok(());
        }
        let steady = self.is_steady(f.fetcher, f.started) && self.is_steady(f.holder, f.started);
        let linked = self.graph.component_since(f.holder, f.started, |x| x == f.fetcher).contains(&f.fetcher);
        if steady && linked {
            return Err(self.fail(Violation::FetchNotDone {
                node: f.fetcher,
                holder: f.holder,
                deadline_ms: self.sc.reach_deadline_ms,
            }));
        }
        Ok(())
    }

    /// A declared misbehaving peer overran its grant a while ago: did the honest side drop
    /// it? Counted, not required: stellar-core (and this node) only notices an overrun when
    /// its processing falls behind, which synchronous processing never does.
    pub(super) fn check_punished(&mut self, sim: u64, side: usize) -> Res {
        self.stats.overruns += 1;
        let kept = self.conns.get(&sim).is_some_and(|c| {
            let end = &c.ends[side];
            let sn = &self.nodes[end.node as usize];
            end.state == EndState::Open && sn.incarnation == end.incarnation && sn.live.is_some() && !c.reset
        });
        if !kept {
            self.stats.misbehaving_dropped += 1;
        }
        Ok(())
    }
}

pub(super) fn blames_peer(reason: &DropReason) -> bool {
    match reason {
        DropReason::Frame(_)
        | DropReason::CorruptXdr(_)
        | DropReason::Mac(_)
        | DropReason::UnexpectedHello
        | DropReason::OutOfOrderAuth
        | DropReason::ReceivedPeers
        | DropReason::TooManyPeers => true,
        DropReason::Flow(e) => e.is_peer_misbehaviour() && *e != overlay_flow::FlowError::NoOutboundCapacityTimeout,
        _ => false,
    }
}
