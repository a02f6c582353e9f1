//! Time-sliced surveys (PROTOCOL.md §12; stellar-core's `SurveyManager`,
//! `SurveyDataManager`, `SurveyMessageLimiter`).
//!
//! Every node takes part: on a surveyor's signed START_COLLECTING it records its peers'
//! counters, on STOP_COLLECTING it finalizes them, and it answers a REQUEST addressed to it
//! with a signed RESPONSE whose body is sealed to the surveyor's key; messages for other
//! nodes are relayed within the limits of §12.3. A surveyor (our own node, through
//! [`Node::start_survey_collecting`](crate::Node::start_survey_collecting) and the next two
//! calls) also queues the nodes to ask, sends up to 10 requests every 15 s, and opens and
//! keeps the responses.
//!
//! Sans-IO as the rest of the node: the node passes the time, its identity for signatures
//! and random bytes for the keys. Only surveyors in `SURVEYOR_KEYS`, or when that is empty in
//! the transitive quorum the application supplies, are heard.
//!
//! | module | job | stellar-core |
//! |---|---|---|
//! | `limiter` | [`SurveyLimiter`]: window and per-ledger limits | `SurveyMessageLimiter` |
//! | `data` | [`SurveyData`]: the phases, what is collected and reported | `SurveyDataManager` |
//! | `messages` | signed messages, sealed responses | `SurveyManager::sign*`, `makeSurveyRequest` |
//! | `seal` | libsodium's sealed box | `crypto_box_seal` |

pub mod data;
pub mod limiter;
pub mod messages;
pub mod seal;

pub use data::{NodeFacts, PeerCounters, PeerView, Phase, SurveyData};
pub use limiter::SurveyLimiter;

use core::time::Duration;
use overlay_proto::xdr::{TimeSlicedNodeData, TimeSlicedPeerData};
use overlay_proto::{NodeId, Timestamp};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Settings of surveys (PROTOCOL.md §12, §13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyConfig {
    /// `SURVEYOR_KEYS`: the surveyors heard; empty means those of the transitive quorum the
    /// application supplies ([`AppInput::TransitiveQuorum`](crate::app::AppInput)). Default
    /// empty.
    pub surveyor_keys: BTreeSet<NodeId>,
    /// `NODE_IS_VALIDATOR`, reported in responses. Default false.
    pub is_validator: bool,
    /// Collecting becomes reporting after this. Default 30 min.
    pub collecting_max: Duration,
    /// Reporting ends (the data is wiped) after this. Default 3 h.
    pub reporting_max: Duration,
    /// The surveyor sends requests this often. Default 15 s.
    pub request_period: Duration,
    /// Requests sent each period at most. Default 10.
    pub requests_per_period: usize,
    /// Nodes waiting in the surveyor's backlog at most; more are refused. Default 1000.
    pub backlog_max: usize,
}

impl Default for SurveyConfig {
    fn default() -> Self {
        SurveyConfig {
            surveyor_keys: BTreeSet::new(),
            is_validator: false,
            collecting_max: Duration::from_secs(30 * 60),
            reporting_max: Duration::from_secs(3 * 3600),
            request_period: Duration::from_secs(15),
            requests_per_period: 10,
            backlog_max: 1000,
        }
    }
}

/// Why a surveyor command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SurveyError {
    /// A survey is collecting or reporting already (one at a time).
    #[error("a survey is already running")]
    AlreadyActive,
    /// We are not running a survey in that phase.
    #[error("no survey of ours is {0}")]
    NotOurs(&'static str),
    /// A node does not survey itself.
    #[error("cannot survey self")]
    SelfSurvey,
    /// The node is already in the backlog with these indices.
    #[error("already queued")]
    Duplicate,
    /// The backlog is at its bound.
    #[error("the survey backlog is full")]
    BacklogFull,
}

/// What a surveyor learned of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// Its node data (the latest response's).
    pub node: TimeSlicedNodeData,
    /// Its inbound peers, over every page received.
    pub inbound: Vec<TimeSlicedPeerData>,
    /// Its outbound peers, over every page received.
    pub outbound: Vec<TimeSlicedPeerData>,
}

/// A surveyor's results (stellar-core's `getsurveyresult`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SurveyResults {
    /// Our survey's nonce, while we run one.
    pub nonce: Option<u32>,
    /// Whether our node's survey data is collecting, reporting or inactive.
    pub phase: Option<Phase>,
    /// The nodes that answered.
    pub nodes: BTreeMap<NodeId, NodeReport>,
    /// Nodes whose response did not open or decode.
    pub bad_responses: BTreeSet<NodeId>,
    /// Nodes waiting to be asked (with their page indices).
    pub backlog: Vec<(NodeId, u32, u32)>,
}

/// The surveyor's side. Bounds: `backlog_max` queued; one report per node answering
/// (bounded by the backlog that asked them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Surveyor {
    /// Our survey's nonce, from START until the survey ends.
    pub nonce: Option<u32>,
    /// The session's Curve25519 secret (fresh per reporting session, wiped after).
    pub secret: Option<[u8; 32]>,
    pub backlog: VecDeque<(NodeId, u32, u32)>,
    pub next_request: Option<Timestamp>,
    pub results: BTreeMap<NodeId, NodeReport>,
    pub bad: BTreeSet<NodeId>,
}

/// Everything survey-related a node holds.
#[derive(Debug, Clone)]
pub(crate) struct SurveyState {
    pub config: SurveyConfig,
    pub limiter: SurveyLimiter,
    pub data: SurveyData,
    /// The application's transitive quorum (surveyors heard when `surveyor_keys` is empty).
    pub transitive: BTreeSet<NodeId>,
    pub surveyor: Surveyor,
    /// The next phase check and latency sample, while a survey is active.
    pub next_check: Option<Timestamp>,
}

impl SurveyState {
    pub fn new(config: SurveyConfig) -> Self {
        SurveyState {
            limiter: SurveyLimiter::default(),
            data: SurveyData::new(config.collecting_max, config.reporting_max),
            transitive: BTreeSet::new(),
            surveyor: Surveyor::default(),
            next_check: None,
            config,
        }
    }

    /// Whether `surveyor` may survey us (§12.3).
    pub fn permitted(&self, surveyor: &NodeId, self_id: &NodeId) -> bool {
        surveyor == self_id
            || if self.config.surveyor_keys.is_empty() {
                self.transitive.contains(surveyor)
            } else {
                self.config.surveyor_keys.contains(surveyor)
            }
    }

    pub fn results(&self) -> SurveyResults {
        SurveyResults {
            nonce: self.surveyor.nonce,
            phase: Some(self.data.phase()),
            nodes: self.surveyor.results.clone(),
            bad_responses: self.surveyor.bad.clone(),
            backlog: self.surveyor.backlog.iter().copied().collect(),
        }
    }
}
