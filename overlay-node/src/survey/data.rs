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
