//! [`SurveyData`]: what a node collects during a time-sliced survey and reports after it
//! (§12.4, stellar-core's `SurveyDataManager`).

use core::time::Duration;
use overlay_proto::xdr::{PeerStats, TimeSlicedNodeData, TimeSlicedPeerData, TopologyResponseBodyV2};
use overlay_proto::{NodeId, Timestamp};
use std::collections::BTreeMap;

/// Peers per list in one response (`TimeSlicedPeerDataList` holds 25).
pub const PEERS_PER_RESPONSE: usize = 25;

/// Latency samples kept per peer while collecting (one per tick: 30 min of 3-s ticks fits).
const LATENCY_SAMPLES_MAX: usize = 1024;

/// The counters of one connection the survey reports, as deltas over the collecting phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Messages read.
    pub messages_read: u64,
    /// Messages written.
    pub messages_written: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Bytes of flood messages seen first from this peer.
    pub unique_flood_bytes: u64,
    /// Bytes of flood messages this peer sent that we had already.
    pub duplicate_flood_bytes: u64,
    /// Bytes of fetched items (tx sets, quorum sets) we were waiting for.
    pub unique_fetch_bytes: u64,
    /// Bytes of items nobody was fetching.
    pub duplicate_fetch_bytes: u64,
    /// Flood messages seen first from this peer.
    pub unique_flood_msgs: u64,
    /// Duplicate flood messages.
    pub duplicate_flood_msgs: u64,
    /// Fetched items we were waiting for.
    pub unique_fetch_msgs: u64,
    /// Items nobody was fetching.
    pub duplicate_fetch_msgs: u64,
}

impl PeerCounters {
    fn since(&self, start: &PeerCounters) -> PeerCounters {
        PeerCounters {
            messages_read: self.messages_read.saturating_sub(start.messages_read),
            messages_written: self.messages_written.saturating_sub(start.messages_written),
            bytes_read: self.bytes_read.saturating_sub(start.bytes_read),
            bytes_written: self.bytes_written.saturating_sub(start.bytes_written),
            unique_flood_bytes: self.unique_flood_bytes.saturating_sub(start.unique_flood_bytes),
            duplicate_flood_bytes: self.duplicate_flood_bytes.saturating_sub(start.duplicate_flood_bytes),
            unique_fetch_bytes: self.unique_fetch_bytes.saturating_sub(start.unique_fetch_bytes),
            duplicate_fetch_bytes: self.duplicate_fetch_bytes.saturating_sub(start.duplicate_fetch_bytes),
            unique_flood_msgs: self.unique_flood_msgs.saturating_sub(start.unique_flood_msgs),
            duplicate_flood_msgs: self.duplicate_flood_msgs.saturating_sub(start.duplicate_flood_msgs),
            unique_fetch_msgs: self.unique_fetch_msgs.saturating_sub(start.unique_fetch_msgs),
            duplicate_fetch_msgs: self.duplicate_fetch_msgs.saturating_sub(start.duplicate_fetch_msgs),
        }
    }
}

/// An authenticated peer as the survey sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// Its NodeID.
    pub id: NodeId,
    /// Whether it dialed us.
    pub inbound: bool,
    /// Its HELLO's version string.
    pub version: String,
    /// When it authenticated.
    pub connected_since: Timestamp,
    /// Its counters now.
    pub counters: PeerCounters,
    /// Its last measured ping, if any.
    pub latency_ms: Option<u64>,
}

/// The node-wide facts a response reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Authenticated inbound peers now.
    pub inbound: u32,
    /// Authenticated outbound peers now.
    pub outbound: u32,
    /// `NODE_IS_VALIDATOR`.
    pub is_validator: bool,
    /// The inbound limit.
    pub max_inbound: u32,
    /// The outbound limit.
    pub max_outbound: u32,
}

/// Where a node is in a survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No survey.
    Inactive,
    /// Collecting data for `surveyor`'s survey `nonce`.
    Collecting {
        /// The survey.
        nonce: u32,
        /// Who runs it.
        surveyor: NodeId,
    },
    /// Collecting ended; answering requests of the survey.
    Reporting {
        /// The survey.
        nonce: u32,
        /// Who runs it.
        surveyor: NodeId,
    },
}

#[derive(Debug, Clone)]
struct Start {
    inbound: bool,
    counters: PeerCounters,
}

/// What a node collects and reports. Bound: one entry per peer authenticated at the start
/// (the node's slot limits), `LATENCY_SAMPLES_MAX` latencies each.
#[derive(Debug, Clone)]
pub struct SurveyData {
    phase: Phase,
    since: Timestamp,
    collecting_max: Duration,
    reporting_max: Duration,
    initial: BTreeMap<NodeId, Start>,
    latencies: BTreeMap<NodeId, Vec<u64>>,
    added: u32,
    dropped: u32,
    lost_sync: u32,
    /// The node data of the finished collecting phase, with empty peer lists.
    report: Option<TopologyResponseBodyV2>,
    /// Its peers, inbound and outbound, whole (responses page through them).
    pages: (Vec<TimeSlicedPeerData>, Vec<TimeSlicedPeerData>),
}

fn median(v: &[u64]) -> u32 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    u32::try_from(s[s.len() / 2]).unwrap_or(u32::MAX)
}

impl SurveyData {
    /// No survey; collecting lasts at most `collecting_max` (30 min), reporting
    /// `reporting_max` (3 h).
    pub fn new(collecting_max: Duration, reporting_max: Duration) -> Self {
        SurveyData {
            phase: Phase::Inactive,
            since: Timestamp::ZERO,
            collecting_max,
            reporting_max,
            initial: BTreeMap::new(),
            latencies: BTreeMap::new(),
            added: 0,
            dropped: 0,
            lost_sync: 0,
            report: None,
            pages: (Vec::new(), Vec::new()),
        }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether a survey is collecting or reporting.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Inactive)
    }

    /// Whether survey `nonce` is reporting here.
    pub fn reporting(&self, nonce: u32) -> bool {
        matches!(self.phase, Phase::Reporting { nonce: n, .. } if n == nonce)
    }

    /// Start collecting for `surveyor`'s survey `nonce`, from the peers authenticated now;
    /// `synced` is whether the node is in sync (a node that is not counts one lost sync).
    /// Refused while a survey is active.
    pub fn start(&mut self, now: Timestamp, nonce: u32, surveyor: NodeId, peers: &[PeerView], synced: bool) -> bool {
        if self.is_active() {
            return false;
        }
        self.phase = Phase::Collecting { nonce, surveyor };
        self.since = now;
        self.initial = peers.iter().map(|p| (p.id, Start { inbound: p.inbound, counters: p.counters })).collect();
        self.latencies = peers.iter().map(|p| (p.id, p.latency_ms.into_iter().collect())).collect();
        self.added = 0;
        self.dropped = 0;
        self.lost_sync = u32::from(!synced);
        self.report = None;
        true
    }

    /// Stop collecting `surveyor`'s survey `nonce` and finalize the data. Refused unless that
    /// survey is collecting.
    pub fn stop(&mut self, now: Timestamp, nonce: u32, surveyor: NodeId, peers: &[PeerView], node: NodeFacts) -> bool {
        if self.phase != (Phase::Collecting { nonce, surveyor }) {
            return false;
        }
        self.finalize(now, peers, node);
        true
    }

    fn finalize(&mut self, now: Timestamp, peers: &[PeerView], node: NodeFacts) {
        let Phase::Collecting { nonce, surveyor } = self.phase else { return };
        let mut inbound = Vec::new();
        let mut outbound = Vec::new();
        for p in peers {
            let Some(start) = self.initial.get(&p.id) else { continue };
            let d = p.counters.since(&start.counters);
            let stats = PeerStats {
                id: p.id.to_xdr(),
                version_str: p
                    .version
                    .as_bytes()
                    .get(..100)
                    .unwrap_or(p.version.as_bytes())
                    .to_vec()
                    .try_into()
                    .unwrap_or_default(),
                messages_read: d.messages_read,
                messages_written: d.messages_written,
                bytes_read: d.bytes_read,
                bytes_written: d.bytes_written,
                seconds_connected: (now - p.connected_since).as_secs(),
                unique_flood_bytes_recv: d.unique_flood_bytes,
                duplicate_flood_bytes_recv: d.duplicate_flood_bytes,
                unique_fetch_bytes_recv: d.unique_fetch_bytes,
                duplicate_fetch_bytes_recv: d.duplicate_fetch_bytes,
                unique_flood_message_recv: d.unique_flood_msgs,
                duplicate_flood_message_recv: d.duplicate_flood_msgs,
                unique_fetch_message_recv: d.unique_fetch_msgs,
                duplicate_fetch_message_recv: d.duplicate_fetch_msgs,
            };
            let average_latency_ms = median(self.latencies.get(&p.id).map_or(&[][..], Vec::as_slice));
            let row = TimeSlicedPeerData { peer_stats: stats, average_latency_ms };
            if start.inbound { inbound.push(row) } else { outbound.push(row) }
        }
        let node_data = TimeSlicedNodeData {
            added_authenticated_peers: self.added,
            dropped_authenticated_peers: self.dropped,
            total_inbound_peer_count: node.inbound,
            total_outbound_peer_count: node.outbound,
            p75_scp_first_to_self_latency_ms: 0,
            p75_scp_self_to_other_latency_ms: 0,
            lost_sync_count: self.lost_sync,
            is_validator: node.is_validator,
            max_inbound_peer_count: node.max_inbound,
            max_outbound_peer_count: node.max_outbound,
        };
        self.keep_report(inbound, outbound, node_data);
        self.phase = Phase::Reporting { nonce, surveyor };
        self.since = now;
        self.initial.clear();
        self.latencies.clear();
    }

    fn keep_report(
        &mut self,
        inbound: Vec<TimeSlicedPeerData>,
        outbound: Vec<TimeSlicedPeerData>,
        node: TimeSlicedNodeData,
    ) {
        self.report = Some(TopologyResponseBodyV2 {
            inbound_peers: Default::default(),
            outbound_peers: Default::default(),
            node_data: node,
        });
        self.pages = (inbound, outbound);
    }

    /// A peer was admitted while collecting.
    pub fn peer_added(&mut self) {
        if matches!(self.phase, Phase::Collecting { .. }) {
            self.added += 1;
        }
    }

    /// An authenticated peer was dropped while collecting: it is counted and not reported.
    pub fn peer_dropped(&mut self, id: &NodeId) {
        if matches!(self.phase, Phase::Collecting { .. }) {
            self.dropped += 1;
            self.initial.remove(id);
            self.latencies.remove(id);
        }
    }

    /// The node lost sync while collecting.
    pub fn sync_lost(&mut self) {
        if matches!(self.phase, Phase::Collecting { .. }) {
            self.lost_sync += 1;
        }
    }

    /// Note the peers' latest pings (called on every tick while collecting).
    pub fn sample_latencies(&mut self, peers: &[PeerView]) {
        if !matches!(self.phase, Phase::Collecting { .. }) {
            return;
        }
        for p in peers {
            if let (Some(v), Some(ms)) = (self.latencies.get_mut(&p.id), p.latency_ms) {
                if v.len() < LATENCY_SAMPLES_MAX {
                    v.push(ms);
                }
            }
        }
    }

    /// Phase timeouts (checked on the tick): collecting becomes reporting after
    /// `collecting_max`, reporting ends after `reporting_max` (the data is wiped).
    pub fn update(&mut self, now: Timestamp, peers: &[PeerView], node: NodeFacts) {
        match self.phase {
            Phase::Collecting { .. } if now - self.since >= self.collecting_max => self.finalize(now, peers, node),
            Phase::Reporting { .. } if now - self.since >= self.reporting_max => self.reset(),
            _ => {}
        }
    }

    /// End any survey and wipe its data.
    pub fn reset(&mut self) {
        self.phase = Phase::Inactive;
        self.initial.clear();
        self.latencies.clear();
        self.report = None;
        self.pages = (Vec::new(), Vec::new());
    }

    /// The response body for a request of survey `nonce` from the given peer indices: up to
    /// 25 peers of each list from its index (an empty list past the end).
    pub fn response(&self, nonce: u32, inbound_index: u32, outbound_index: u32) -> Option<TopologyResponseBodyV2> {
        if !self.reporting(nonce) {
            return None;
        }
        let report = self.report.as_ref()?;
        let page = |list: &[TimeSlicedPeerData], from: u32| {
            let from = usize::try_from(from).unwrap_or(usize::MAX);
            list.iter().skip(from).take(PEERS_PER_RESPONSE).cloned().collect::<Vec<_>>().try_into().unwrap_or_default()
        };
        Some(TopologyResponseBodyV2 {
            inbound_peers: page(&self.pages.0, inbound_index),
            outbound_peers: page(&self.pages.1, outbound_index),
            node_data: report.node_data.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_secs(60);

    fn id(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    fn peer(n: u8, inbound: bool, read: u64) -> PeerView {
        PeerView {
            id: id(n),
            inbound,
            version: format!("v{n}"),
            connected_since: Timestamp::from_secs(0),
            counters: PeerCounters { messages_read: read, bytes_read: read * 100, ..PeerCounters::default() },
            latency_ms: Some(u64::from(n)),
        }
    }

    fn data() -> SurveyData {
        SurveyData::new(30 * MIN, 180 * MIN)
    }

    fn facts() -> NodeFacts {
        NodeFacts { inbound: 1, outbound: 2, is_validator: true, max_inbound: 64, max_outbound: 8 }
    }

    #[test]
    fn reports_deltas_of_peers_present_at_start_and_still_connected() {
        let mut d = data();
        let t0 = Timestamp::from_secs(100);
        assert!(d.start(t0, 7, id(9), &[peer(1, true, 10), peer(2, false, 5), peer(3, false, 0)], true));
        assert!(!d.start(t0, 8, id(9), &[], true), "one survey at a time");
        d.peer_dropped(&id(3));
        d.peer_added();
        d.sync_lost();
        let later = [peer(1, true, 25), peer(2, false, 6), peer(4, true, 1)];
        assert!(!d.stop(t0 + MIN, 8, id(9), &later, facts()), "another nonce");
        assert!(!d.stop(t0 + MIN, 7, id(8), &later, facts()), "another surveyor");
        assert!(d.stop(t0 + MIN, 7, id(9), &later, facts()));
        assert!(d.reporting(7) && !d.reporting(8));
        let r = d.response(7, 0, 0).unwrap();
        assert_eq!(r.inbound_peers.len(), 1, "peer 4 joined late: not reported");
        assert_eq!(r.inbound_peers[0].peer_stats.messages_read, 15);
        assert_eq!(r.inbound_peers[0].peer_stats.bytes_read, 1500);
        assert_eq!(r.inbound_peers[0].peer_stats.seconds_connected, 160);
        assert_eq!(r.inbound_peers[0].average_latency_ms, 1);
        assert_eq!(r.outbound_peers.len(), 1, "peer 3 dropped: not reported");
        let n = &r.node_data;
        assert_eq!((n.added_authenticated_peers, n.dropped_authenticated_peers, n.lost_sync_count), (1, 1, 1));
        assert_eq!((n.total_inbound_peer_count, n.total_outbound_peer_count), (1, 2));
        assert!(n.is_validator);
        assert!(d.response(8, 0, 0).is_none(), "another survey's request");
    }

    #[test]
    fn a_node_out_of_sync_at_start_counts_one_lost_sync() {
        let mut d = data();
        d.start(Timestamp::ZERO, 1, id(9), &[], false);
        d.stop(Timestamp::ZERO, 1, id(9), &[], facts());
        assert_eq!(d.response(1, 0, 0).unwrap().node_data.lost_sync_count, 1);
    }

    #[test]
    fn median_latency_over_the_samples() {
        let mut d = data();
        d.start(Timestamp::ZERO, 1, id(9), &[peer(1, true, 0)], true);
        for ms in [50, 10, 30, 20] {
            d.sample_latencies(&[PeerView { latency_ms: Some(ms), ..peer(1, true, 0) }]);
        }
        d.stop(Timestamp::ZERO, 1, id(9), &[peer(1, true, 0)], facts());
        // Samples 1 (at start), 50, 10, 30, 20: the median is 20.
        assert_eq!(d.response(1, 0, 0).unwrap().inbound_peers[0].average_latency_ms, 20);
    }

    #[test]
    fn phases_time_out() {
        let mut d = data();
        let t0 = Timestamp::from_secs(10);
        d.start(t0, 1, id(9), &[], true);
        d.update(t0 + 29 * MIN, &[], facts());
        assert!(matches!(d.phase(), Phase::Collecting { .. }));
        d.update(t0 + 30 * MIN, &[], facts());
        assert!(d.reporting(1), "collecting becomes reporting after 30 min");
        let t1 = t0 + 30 * MIN;
        d.update(t1 + 179 * MIN, &[], facts());
        assert!(d.reporting(1));
        d.update(t1 + 180 * MIN, &[], facts());
        assert_eq!(d.phase(), Phase::Inactive, "reporting ends after 3 h");
        assert!(d.response(1, 0, 0).is_none(), "the data is wiped");
    }

    #[test]
    fn pages_of_25() {
        let mut d = data();
        let peers: Vec<PeerView> = (0..60).map(|n| peer(n, n % 2 == 0, 0)).collect();
        d.start(Timestamp::ZERO, 1, id(200), &peers, true);
        d.stop(Timestamp::ZERO, 1, id(200), &peers, facts());
        let len = |i, o| {
            let r = d.response(1, i, o).unwrap();
            (r.inbound_peers.len(), r.outbound_peers.len())
        };
        assert_eq!(len(0, 0), (25, 25));
        assert_eq!(len(25, 25), (5, 5));
        assert_eq!(len(30, 29), (0, 1));
        assert_eq!(len(u32::MAX, 0), (0, 25));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Start(u32, u8, Vec<(u8, bool, u16)>),
        Stop(u32, u8, Vec<(u8, bool, u16)>),
        Wait(u16),
        Drop(u8),
        Add,
        Request(u32, u32, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        let peers = proptest::collection::vec((0u8..40, any::<bool>(), any::<u16>()), 0..40);
        prop_oneof![
            (0u32..3, 0u8..2, peers.clone()).prop_map(|(n, s, p)| Op::Start(n, s, p)),
            (0u32..3, 0u8..2, peers).prop_map(|(n, s, p)| Op::Stop(n, s, p)),
            any::<u16>().prop_map(Op::Wait),
            (0u8..40).prop_map(Op::Drop),
            Just(Op::Add),
            (0u32..3, 0u32..60, 0u32..60).prop_map(|(n, i, o)| Op::Request(n, i, o)),
        ]
    }

    proptest! {
        /// Phases move Inactive → Collecting → Reporting → Inactive only; a response only
        /// while reporting its nonce, with at most 25 peers per list, each one a peer
        /// present at the start.
        #[test]
        fn phases_and_responses(ops in proptest::collection::vec(op(), 0..60)) {
            let mut d = data();
            let mut now = Timestamp::ZERO;
            let mut started = std::collections::BTreeSet::new();
            let views = |p: &[(u8, bool, u16)]| -> Vec<PeerView> {
                p.iter().map(|(n, i, r)| peer(*n, *i, u64::from(*r))).collect()
            };
            for op in ops {
                let before = d.phase();
                match op {
                    Op::Start(n, s, p) => {
                        if d.start(now, n, id(s), &views(&p), true) {
                            started = p.iter().map(|x| id(x.0)).collect();
                        }
                    }
                    Op::Stop(n, s, p) => { d.stop(now, n, id(s), &views(&p), facts()); }
                    Op::Wait(secs) => {
                        now += Duration::from_secs(u64::from(secs) * 60);
                        d.update(now, &[], facts());
                    }
                    Op::Drop(n) => {
                        // A peer that leaves while collecting is not reported; once the
                        // collecting stopped, the report stands as it was.
                        if matches!(d.phase(), Phase::Collecting { .. }) {
                            started.remove(&id(n));
                        }
                        d.peer_dropped(&id(n));
                    }
                    Op::Add => d.peer_added(),
                    Op::Request(n, i, o) => {
                        let r = d.response(n, i, o);
                        prop_assert_eq!(r.is_some(), d.reporting(n));
                        if let Some(r) = r {
                            prop_assert!(r.inbound_peers.len() <= PEERS_PER_RESPONSE);
                            prop_assert!(r.outbound_peers.len() <= PEERS_PER_RESPONSE);
                            for p in r.inbound_peers.iter().chain(r.outbound_peers.iter()) {
                                prop_assert!(started.contains(&NodeId::from_xdr(&p.peer_stats.id)));
                            }
                        }
                    }
                }
                let ok = match (before, d.phase()) {
                    (a, b) if a == b => true,
                    (Phase::Inactive, Phase::Collecting { .. }) => true,
                    (Phase::Collecting { nonce: a, surveyor: s }, Phase::Reporting { nonce: b, surveyor: t }) => a == b && s == t,
                    (Phase::Reporting { .. }, Phase::Inactive) => true,
                    _ => false,
                };
                prop_assert!(ok, "{:?} -> {:?}", before, d.phase());
            }
        }
    }
}
