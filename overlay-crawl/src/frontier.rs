//! [`Frontier`]: every address the crawl knows, and the queue of those still to dial, paced
//! per host.
//!
//! Queued addresses wait in one queue per host; the hosts with queued addresses take turns
//! (round robin), so that a crawl spreads its dials over machines. A host is ready when it
//! has fewer than `host_connections_max` connections open and its last dial started at least
//! `host_interval` ago.

use crate::results::AddressStatus;
use overlay_proto::{Host, NodeId, PeerAddress, Timestamp};
use std::collections::{BTreeMap, VecDeque};

/// Where an address was first learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Given as a seed.
    Seed,
    /// In the PEERS of this node.
    Peers(NodeId),
    /// The listening address (remote IP, HELLO listening port) of this node.
    Hello(NodeId),
}

/// What the crawl knows of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Known {
    pub status: AddressStatus,
    pub source: Source,
    /// How many PEERS messages listed it.
    pub advertised: u32,
}

#[derive(Debug, Default)]
struct HostState {
    queued: VecDeque<PeerAddress>,
    in_flight: usize,
    last_dial: Option<Timestamp>,
}

/// The crawl's addresses. See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Frontier {
    /// Every address remembered, with its status. Bounded by `max_addresses` (see
    /// [`learn`](Self::learn)).
    known: BTreeMap<PeerAddress, Known>,
    /// Per host: its queue, its open connections and its last dial (kept for the pacing
    /// of later dials). At most one entry per remembered address, so bounded by
    /// `max_addresses`.
    hosts: BTreeMap<Host, HostState>,
    /// Hosts with queued addresses, in turn order; each host appears at most once.
    turns: VecDeque<Host>,
    queued: usize,
    /// New addresses forgotten because `max_addresses` was reached.
    pub forgotten: u64,
}

impl Frontier {
    /// Remember `address` from `source` (queued for a dial) unless it is known already
    /// (then only its advertisement count moves) or `max_addresses` are remembered (then it
    /// is counted in `forgotten`). Returns whether it was new.
    pub fn learn(&mut self, address: PeerAddress, source: Source, max_addresses: usize) -> bool {
        let advert = u32::from(matches!(source, Source::Peers(_)));
        if let Some(k) = self.known.get_mut(&address) {
            k.advertised = k.advertised.saturating_add(advert);
            return false;
        }
        if self.known.len() >= max_addresses {
            self.forgotten += 1;
            return false;
        }
        self.known.insert(address.clone(), Known { status: AddressStatus::Queued, source, advertised: advert });
        let host = address.host.clone();
        let h = self.hosts.entry(host.clone()).or_default();
        if h.queued.is_empty() {
            self.turns.push_back(host);
        }
        h.queued.push_back(address);
        self.queued += 1;
        true
    }

    /// Remember `address` with a final `status` (our own address, a node's listening
    /// address), taking it out of the queue if it was queued. Returns whether it was queued.
    pub fn settle(
        &mut self,
        address: &PeerAddress,
        status: AddressStatus,
        source: Source,
        max_addresses: usize,
    ) -> bool {
        let full = self.known.len() >= max_addresses;
        match self.known.get_mut(address) {
            Some(k) if k.status == AddressStatus::Queued => {
                k.status = status;
                self.unqueue(address);
                true
            }
            Some(_) => false,
            None if full => {
                self.forgotten += 1;
                false
            }
            None => {
                self.known.insert(address.clone(), Known { status, source, advertised: 0 });
                false
            }
        }
    }

    fn unqueue(&mut self, address: &PeerAddress) {
        let Some(h) = self.hosts.get_mut(&address.host) else { return };
        let before = h.queued.len();
        h.queued.retain(|a| a != address);
        self.queued -= before - h.queued.len();
        if h.queued.is_empty() {
            self.turns.retain(|t| t != &address.host);
        }
    }

    /// Set the status of a known address.
    pub fn set_status(&mut self, address: &PeerAddress, status: AddressStatus) {
        if let Some(k) = self.known.get_mut(address) {
            k.status = status;
        }
    }

    /// The record of an address.
    pub fn get(&self, address: &PeerAddress) -> Option<&Known> {
        self.known.get(address)
    }

    /// Every remembered address, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerAddress, &Known)> {
        self.known.iter()
    }

    /// Addresses remembered.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Addresses waiting for a dial.
    pub fn queued(&self) -> usize {
        self.queued
    }

    fn ready(h: &HostState, now: Timestamp, host_max: usize, interval: core::time::Duration) -> bool {
        h.in_flight < host_max && h.last_dial.is_none_or(|t| now >= t + interval)
    }

    /// The next address to dial now, if a host is ready: the first ready host in turn
    /// order gives its oldest queued address and goes to the back of the turns. The dial
    /// counts against the host until [`done`](Self::done).
    pub fn pop_ready(
        &mut self,
        now: Timestamp,
        host_max: usize,
        interval: core::time::Duration,
    ) -> Option<PeerAddress> {
        let turn = self.turns.iter().position(|host| {
            let h = self.hosts.get(host).expect("a host in turn has a state");
            Self::ready(h, now, host_max, interval)
        })?;
        let host = self.turns.remove(turn).expect("position is in range");
        let h = self.hosts.get_mut(&host).expect("a host in turn has a state");
        let address = h.queued.pop_front().expect("a host in turn has a queued address");
        h.in_flight += 1;
        h.last_dial = Some(now);
        if !h.queued.is_empty() {
            self.turns.push_back(host);
        }
        self.queued -= 1;
        self.set_status(&address, AddressStatus::Dialing);
        Some(address)
    }

    /// A dial to `address` is over: its host may take another.
    pub fn done(&mut self, address: &PeerAddress) {
        if let Some(h) = self.hosts.get_mut(&address.host) {
            h.in_flight = h.in_flight.saturating_sub(1);
        }
    }

    /// When a host with queued addresses and a free connection becomes ready by its
    /// interval, if that is later than `now` (hosts that are ready now, or wait for a
    /// connection to end, give no time).
    pub fn next_ready(&self, now: Timestamp, host_max: usize, interval: core::time::Duration) -> Option<Timestamp> {
        self.turns
            .iter()
            .filter_map(|host| self.hosts.get(host))
            .filter(|h| h.in_flight < host_max)
            .filter_map(|h| h.last_dial.map(|t| t + interval))
            .filter(|t| *t > now)
            .min()
    }

    /// Give up every queued address with `status` (the crawl stopped).
    pub fn drain_queue(&mut self, status: AddressStatus) {
        for host in core::mem::take(&mut self.turns) {
            if let Some(h) = self.hosts.get_mut(&host) {
                for a in core::mem::take(&mut h.queued) {
                    if let Some(k) = self.known.get_mut(&a) {
                        k.status = status;
                    }
                }
            }
        }
        self.queued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    fn a(s: &str) -> PeerAddress {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_take_turns_and_are_paced() {
        let mut f = Frontier::default();
        for s in ["1.1.1.1:1", "1.1.1.1:2", "2.2.2.2:1"] {
            assert!(f.learn(a(s), Source::Seed, 10));
        }
        assert!(!f.learn(a("1.1.1.1:1"), Source::Seed, 10), "known already");
        let t0 = Timestamp::from_secs(1);
        let gap = Duration::from_millis(200);
        assert_eq!(f.pop_ready(t0, 1, gap), Some(a("1.1.1.1:1")));
        // 1.1.1.1 is busy: 2.2.2.2 goes next, then nothing is ready.
        assert_eq!(f.pop_ready(t0, 1, gap), Some(a("2.2.2.2:1")));
        assert_eq!(f.pop_ready(t0, 1, gap), None);
        f.done(&a("1.1.1.1:1"));
        // Free, but its interval has not passed.
        assert_eq!(f.pop_ready(t0, 1, gap), None);
        assert_eq!(f.next_ready(t0, 1, gap), Some(t0 + gap));
        assert_eq!(f.pop_ready(t0 + gap, 1, gap), Some(a("1.1.1.1:2")));
        assert_eq!(f.queued(), 0);
        assert_eq!(f.next_ready(t0 + gap, 1, gap), None);
    }

    #[test]
    fn the_address_bound_forgets_new_addresses() {
        let mut f = Frontier::default();
        assert!(f.learn(a("1.1.1.1:1"), Source::Seed, 1));
        assert!(!f.learn(a("1.1.1.1:2"), Source::Seed, 1));
        assert_eq!((f.len(), f.forgotten), (1, 1));
    }

    #[test]
    fn settling_a_queued_address_takes_it_out_of_the_queue() {
        let mut f = Frontier::default();
        f.learn(a("1.1.1.1:1"), Source::Seed, 10);
        assert!(f.settle(&a("1.1.1.1:1"), AddressStatus::Own, Source::Seed, 10));
        assert_eq!(f.queued(), 0);
        assert_eq!(f.pop_ready(Timestamp::ZERO, 1, Duration::ZERO), None);
        assert_eq!(f.get(&a("1.1.1.1:1")).unwrap().status, AddressStatus::Own);
        f.drain_queue(AddressStatus::NotDialed(crate::results::StopReason::Deadline));
    }
}
