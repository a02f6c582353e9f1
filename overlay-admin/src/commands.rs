//! [`Admin`]: stellar-core's admin commands over a running overlay (either driver's manager,
//! through [`Overlay`]), as plain requests and replies, so that any HTTP server (or none)
//! can carry them.

use crate::survey::{self, SurveySession};
use crate::{medida, prometheus, shapes};
use overlay_host::{ConnectError, Overlay, OverlayError};
use overlay_proto::{NodeId, PeerAddress};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The body of a reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// JSON (`application/json`).
    Json(Value),
    /// Plain text, where stellar-core answers in text (`connect`, `droppeer`, `ban`, `unban`,
    /// the survey commands but `getsurveyresult`).
    Text(String),
    /// The Prometheus (OpenMetrics) text exposition.
    OpenMetrics(String),
}

/// A command's answer: an HTTP status and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// 200, or 400 for a bad parameter, 404 for an unknown peer or command, 409 for a survey
    /// command in the wrong phase, 429 for a full survey backlog, 503 when the overlay is not
    /// running.
    pub status: u16,
    /// The body.
    pub body: Body,
}

impl Reply {
    fn ok(body: Body) -> Self {
        Reply { status: 200, body }
    }

    /// An error: JSON `{"status": "error", "error": message}` with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Reply { status, body: Body::Json(json!({ "status": "error", "error": message.into() })) }
    }
}

impl From<OverlayError> for Reply {
    fn from(e: OverlayError) -> Self {
        match e {
            OverlayError::NotRunning => Reply::error(503, e.to_string()),
            OverlayError::Node(overlay_node::NodeError::UnknownPeer(p)) => {
                Reply::error(404, format!("Peer {p} not found"))
            }
            other => Reply::error(400, other.to_string()),
        }
    }
}

/// The commands, by stellar-core's names.
pub const COMMANDS: [&str; 12] = [
    "peers",
    "connect",
    "droppeer",
    "ban",
    "unban",
    "bans",
    "info",
    "metrics",
    "startsurveycollecting",
    "stopsurveycollecting",
    "surveytopologytimesliced",
    "getsurveyresult",
];

/// stellar-core's admin commands for one overlay, run by either driver (`M` is
/// `overlay_tokio::OverlayManager` or `overlay_mio::OverlayManager`).
///
/// ```no_run
/// # async fn run(manager: overlay_tokio::OverlayManager) {
/// use overlay_admin::{Admin, Body};
/// use std::collections::BTreeMap;
/// let admin = Admin::new(manager);
/// let reply = admin.handle("bans", &BTreeMap::new()).await;
/// assert_eq!(reply.status, 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Admin<M = overlay_tokio::OverlayManager> {
    manager: M,
    survey: SurveySession,
}

fn param<'a>(params: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, Reply> {
    params.get(key).map(String::as_str).ok_or_else(|| Reply::error(400, format!("missing parameter '{key}'")))
}

fn node_param(params: &BTreeMap<String, String>) -> Result<NodeId, Reply> {
    let s = param(params, "node")?;
    s.parse::<NodeId>().map_err(|_| Reply::error(404, format!("Peer {s} not found")))
}

/// A required `u32` parameter.
fn u32_param(params: &BTreeMap<String, String>, key: &str) -> Result<u32, Reply> {
    param(params, key)?.parse().map_err(|_| Reply::error(400, format!("'{key}' must be a number from 0 to 4294967295")))
}

fn flag(params: &BTreeMap<String, String>, key: &str) -> bool {
    params.get(key).is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

impl<M: Overlay> Admin<M> {
    /// Commands for `manager`.
    pub fn new(manager: M) -> Self {
        Admin { manager, survey: SurveySession::default() }
    }

    /// Run `command` with its query parameters.
    pub async fn handle(&self, command: &str, params: &BTreeMap<String, String>) -> Reply {
        let r = match command {
            "peers" => self.peers(flag(params, "fullkeys")).await,
            "connect" => self.connect(params).await,
            "droppeer" => self.droppeer(params).await,
            "ban" => self.ban(params).await,
            "unban" => self.unban(params).await,
            "bans" => self.bans().await,
            "info" => self.info().await,
            "metrics" => self.metrics(params.get("format").map(String::as_str)).await,
            "startsurveycollecting" => self.start_survey_collecting(params).await,
            "stopsurveycollecting" => self.stop_survey_collecting().await,
            "surveytopologytimesliced" => self.survey_topology_time_sliced(params).await,
            "getsurveyresult" => self.get_survey_result().await,
            other => Err(Reply::error(404, format!("unknown command '{other}'; commands: {}", COMMANDS.join(", ")))),
        };
        r.unwrap_or_else(|e| e)
    }

    /// `peers[?fullkeys=true]`.
    pub async fn peers(&self, full_keys: bool) -> Result<Reply, Reply> {
        let report = self.manager.peers_report().await?;
        Ok(Reply::ok(Body::Json(shapes::peers(&report, full_keys))))
    }

    /// `connect?peer=HOST&port=N`: dial now (the reply does not wait for the handshake, as
    /// stellar-core's).
    pub async fn connect(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let host = param(params, "peer")?;
        let port: u16 = param(params, "port")?
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Reply::error(400, "'port' must be a number from 1 to 65535"))?;
        let address = PeerAddress::new(host, port);
        let manager = self.manager.clone();
        let dial = address.clone();
        tokio::spawn(async move {
            if let Err(e) = manager.connect(&dial).await {
                if !matches!(e, ConnectError::Overlay(OverlayError::NotRunning)) {
                    tracing::warn!(peer = %dial, error = %e, "admin connect failed");
                }
            }
        });
        Ok(Reply::ok(Body::Text(format!("Connect to: {address}"))))
    }

    /// `droppeer?node=G...[&ban=1]`.
    pub async fn droppeer(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let node = node_param(params)?;
        if flag(params, "ban") {
            let connected = self.manager.peer_infos().iter().any(|p| p.peer_id == node);
            if !connected {
                return Err(Reply::error(404, format!("Peer {node} not found")));
            }
            self.manager.ban_peer(node).await?;
            Ok(Reply::ok(Body::Text(format!("Drop and ban peer: {node}"))))
        } else {
            self.manager.disconnect(&node).await?;
            Ok(Reply::ok(Body::Text(format!("Drop peer: {node}"))))
        }
    }

    /// `ban?node=G...`: ban (and drop if connected); the ban is stored.
    pub async fn ban(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let node = node_param(params)?;
        self.manager.ban_peer(node).await?;
        Ok(Reply::ok(Body::Text(format!("Ban peer: {node}"))))
    }

    /// `unban?node=G...`.
    pub async fn unban(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let node = node_param(params)?;
        self.manager.unban_peer(node).await?;
        Ok(Reply::ok(Body::Text(format!("Unban peer: {node}"))))
    }

    /// `bans`: `{"bans": [...]}`, or `{"bans": null}` when there is none (stellar-core's).
    pub async fn bans(&self) -> Result<Reply, Reply> {
        let bans = self.manager.bans().await?;
        let list: Vec<String> = bans.iter().map(ToString::to_string).collect();
        let v = if list.is_empty() { Value::Null } else { json!(list) };
        Ok(Reply::ok(Body::Json(json!({ "bans": v }))))
    }

    /// `info`: the overlay part of stellar-core's.
    pub async fn info(&self) -> Result<Reply, Reply> {
        let info = self.manager.info().await?;
        let network = self.manager.config().network_id();
        Ok(Reply::ok(Body::Json(shapes::info(&info, network.is_some().then(|| self.passphrase())))))
    }

    fn passphrase(&self) -> String {
        self.manager.config().network_passphrase.clone()
    }

    /// `metrics`: the Prometheus (OpenMetrics) text; `?format=json` for stellar-core's shape
    /// (medida names).
    pub async fn metrics(&self, format: Option<&str>) -> Result<Reply, Reply> {
        let snapshot = self.manager.snapshot().await?;
        Ok(Reply::ok(match format {
            Some("json") => Body::Json(medida::json(&snapshot)),
            _ => Body::OpenMetrics(prometheus::encode(&snapshot)),
        }))
    }

    /// `startsurveycollecting?nonce=N`: start a survey of ours; the network collects.
    pub async fn start_survey_collecting(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let nonce = u32_param(params, "nonce")?;
        self.manager.start_survey_collecting(nonce).await.map_err(|e| survey::error("startsurveycollecting", e))?;
        Ok(Reply::ok(Body::Text(survey::STARTED.into())))
    }

    /// `stopsurveycollecting`: stop collecting our survey; the reporting phase begins.
    pub async fn stop_survey_collecting(&self) -> Result<Reply, Reply> {
        self.manager.stop_survey_collecting().await.map_err(|e| survey::error("stopsurveycollecting", e))?;
        Ok(Reply::ok(Body::Text(survey::STOPPED.into())))
    }

    /// `surveytopologytimesliced?node=G...&inboundpeerindex=I&outboundpeerindex=O`: queue a
    /// node to ask for its peers from those indices (25 per list and answer).
    pub async fn survey_topology_time_sliced(&self, params: &BTreeMap<String, String>) -> Result<Reply, Reply> {
        let s = param(params, "node")?;
        let node: NodeId = s.parse().map_err(|_| Reply::error(400, format!("'node': {s} is not a node ID (G...)")))?;
        let inbound = u32_param(params, "inboundpeerindex")?;
        let outbound = u32_param(params, "outboundpeerindex")?;
        let command = "surveytopologytimesliced";
        self.manager.survey_topology(node, inbound, outbound).await.map_err(|e| survey::error(command, e))?;
        let nonce = self.manager.survey_results().await?.nonce;
        Ok(survey::adding(self.survey.queued(nonce, node)))
    }

    /// `getsurveyresult`: what our survey learned, in stellar-core's JSON.
    pub async fn get_survey_result(&self) -> Result<Reply, Reply> {
        let results = self.manager.survey_results().await?;
        Ok(Reply::ok(Body::Json(survey::results(&results, self.manager.node_id(), &self.survey))))
    }
}
