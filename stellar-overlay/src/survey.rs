//! `stellar-overlay survey`: run a node, survey the network it reaches (PROTOCOL.md §12), and
//! write the map. The node does the protocol (overlay-node's surveyor); this module runs the
//! steps in order, walks the network breadth-first from the answers, and writes the map
//! (`map`) as JSON, DOT and SVG.
//!
//! Steps: wait for peers (and for the network's ledger, which every survey message carries);
//! start collecting with the nonce; wait `--collect` seconds; stop; ask our own peers, then
//! every node the answers name, each from index 0 and again from 25, 50, ... while a list
//! came back full; end when every node asked has answered and nothing new is named, or at
//! `--timeout`.

mod map;

use crate::node::{NodeOptions, Prepared, dial};
use clap::Args;
use map::SurveyMap;
use overlay_node::survey::data::PEERS_PER_RESPONSE;
use overlay_node::survey::{SurveyError, SurveyResults};
use overlay_proto::NodeId;
use overlay_proto::xdr::StellarMessage;
use overlay_tokio::{OverlayError, OverlayManager, Subscription};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Nodes listed in the summary table.
const TABLE_ROWS: usize = 40;
/// How often the walk looks at the node's results and prints progress.
const POLL: Duration = Duration::from_millis(200);

const EXIT_CODES: &str = "\
Exit codes:
  0  the map was written (nodes that never answered are listed in it)
  1  a failure, reported on stderr: no peer within --wait, the node refused the survey (another
     survey is running), no node answered, a file could not be written, --svg without
     Graphviz, interrupted (what was learned is written first)
  2  bad arguments

The nodes surveyed take part only if their SURVEYOR_KEYS names this node's key (or, when
empty, their quorum set holds it): run with --secret-key or a --config NODE_SEED they know.
stellar-core's operators let the network collect for up to 30 minutes (--collect 1800; every
node stops collecting on its own after 30 minutes) and send requests 10 at a time every 15 s,
so a large network takes many minutes to ask (raise --timeout).";

#[derive(Args, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct SurveyArgs {
    #[command(flatten)]
    node: NodeOptions,
    /// The survey's nonce [default: random].
    #[arg(long)]
    nonce: Option<u32>,
    /// Seconds the network collects between START and STOP. Short surveys see little
    /// traffic; stellar-core's surveys collect for up to 30 minutes.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    collect: u64,
    /// Seconds to ask and wait for answers after collecting; the survey ends sooner when
    /// every node learned of has answered.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Authenticated peers to wait for before starting.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    min_peers: u64,
    /// Seconds to wait for those peers.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    wait: u64,
    /// Seconds to wait, once connected, for the network's ledger to move (the node follows
    /// its validators' EXTERNALIZE messages): nodes ignore survey messages more than 6
    /// ledgers off their own. 0 starts at once (a network without consensus).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    sync_wait: u64,
    /// Ask at most N nodes.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_nodes: usize,
    /// Write the map as JSON to FILE ("-" for stdout): nodes with their data, links with
    /// both ends' statistics, the nodes that never answered [default: a summary on stdout].
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the map as a Graphviz DOT picture to FILE.
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// Write the map as SVG to FILE (needs Graphviz's `dot` program).
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Milliseconds between batches of requests (stellar-core: 15000); for tests.
    #[arg(long, hide = true, value_name = "MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..))]
    request_period_ms: u64,
}

pub async fn run(args: SurveyArgs) -> Result<(), String> {
    if args.svg.is_some() && !graphviz_installed() {
        return Err("--svg needs Graphviz's `dot` program, which is not installed (install graphviz, or write \
                    --dot FILE and render it elsewhere)"
            .into());
    }
    let Prepared { mut config, local, connect, .. } = args.node.prepare(None).await?;
    // A surveyor needs no listener; --listen gives it one.
    config.listen_enabled = args.node.listens();
    config.survey_request_period = Duration::from_millis(args.request_period_ms);
    let me = local.node_id();
    let manager = OverlayManager::new(config, local).map_err(|e| e.to_string())?;
    let mut messages = manager.subscribe();
    manager.start().await.map_err(|e| e.to_string())?;
    eprintln!("survey: surveyor {me}");
    dial(&manager, connect);
    let mut progress = Progress::new(args.quiet);
    let mut walk = Walk::new(me, args.max_nodes);
    let outcome = tokio::select! {
        r = survey(&manager, &args, &mut messages, &mut progress, &mut walk) => r,
        _ = tokio::signal::ctrl_c() => Err(Stop::Interrupted),
    };
    progress.end();
    let results = manager.survey_results().await;
    manager.shutdown().await;
    // Once the survey started, what was learned is written, even after an interruption or
    // a failure.
    if let (Some(nonce), Ok(results)) = (walk.nonce, &results) {
        let map = SurveyMap::build(me, nonce, args.collect, results, &walk.asked.keys().copied().collect());
        write(&args, &map)?;
        if outcome.is_ok() && map.answered() == 0 {
            return Err("no node answered (do their SURVEYOR_KEYS name this node?)".into());
        }
    }
    outcome.map_err(|e| e.to_string())?;
    results.map(|_| ()).map_err(|e| e.to_string())
}

/// Why a survey ended early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("interrupted")]
    Interrupted,
    #[error("no authenticated peer within --wait ({0} s)")]
    NoPeers(u64),
    #[error("{0}")]
    Overlay(#[from] OverlayError),
}

/// One node asked: the page indices of its latest request, the requests sent, and the
/// answers seen (by their ledger: each request goes at a ledger of its own).
#[derive(Debug, Default)]
struct Asked {
    inbound: u32,
    outbound: u32,
    requests: u32,
    answered_at: BTreeSet<u32>,
    /// Peers of its answers already looked at (inbound, outbound).
    scanned: (usize, usize),
}

/// The breadth-first walk over the answers.
struct Walk {
    me: NodeId,
    /// Our survey's, once started.
    nonce: Option<u32>,
    max_nodes: usize,
    asked: BTreeMap<NodeId, Asked>,
    /// Requests the node has not taken yet (its backlog was full), in order.
    pending: VecDeque<(NodeId, u32, u32)>,
}

impl Walk {
    fn new(me: NodeId, max_nodes: usize) -> Self {
        Walk { me, nonce: None, max_nodes, asked: BTreeMap::new(), pending: VecDeque::new() }
    }

    fn ask(&mut self, node: NodeId) {
        if node == self.me || self.asked.contains_key(&node) || self.asked.len() >= self.max_nodes {
            return;
        }
        self.asked.insert(node, Asked { requests: 1, ..Asked::default() });
        self.pending.push_back((node, 0, 0));
    }

    /// A message the node received: a response to our survey counts as an answer of its
    /// node at its ledger (the node kept it before we see it).
    fn observe(&mut self, message: &StellarMessage) {
        let StellarMessage::TimeSlicedSurveyResponse(m) = message else { return };
        let r = &m.response.response;
        if Some(m.response.nonce) != self.nonce || NodeId::from_xdr(&r.surveyor_peer_id) != self.me {
            return;
        }
        if let Some(a) = self.asked.get_mut(&NodeId::from_xdr(&r.surveyed_peer_id)) {
            a.answered_at.insert(r.ledger_num);
        }
    }

    /// Look at the results: ask for the next pages of lists that came back full, and ask
    /// the nodes the answers name. Returns whether every node asked has answered.
    fn advance(&mut self, results: &SurveyResults) -> bool {
        let mut named = Vec::new();
        let mut done = true;
        for (id, a) in &mut self.asked {
            let Some(report) = results.nodes.get(id) else {
                done &= results.bad_responses.contains(id);
                continue;
            };
            // An answer's results can show before its message reaches us.
            let answers = (a.answered_at.len() as u32).max(1);
            if answers < a.requests {
                done = false;
                continue;
            }
            let (il, ol) = (report.inbound.len(), report.outbound.len());
            let new = report.inbound.iter().skip(a.scanned.0).chain(report.outbound.iter().skip(a.scanned.1));
            named.extend(new.map(|p| NodeId::from_xdr(&p.peer_stats.id)));
            a.scanned = (il, ol);
            let page = PEERS_PER_RESPONSE;
            if il >= a.inbound as usize + page || ol >= a.outbound as usize + page {
                // The list that was not full is asked from its end, which answers nothing.
                let (i, o) = (u32::try_from(il).unwrap_or(u32::MAX), u32::try_from(ol).unwrap_or(u32::MAX));
                (a.inbound, a.outbound) = (i, o);
                a.requests += 1;
                self.pending.push_back((*id, i, o));
                done = false;
            }
        }
        for id in named {
            if !self.asked.contains_key(&id) && id != self.me && self.asked.len() < self.max_nodes {
                done = false;
            }
            self.ask(id);
        }
        done && self.pending.is_empty() && results.backlog.is_empty()
    }

    /// Hand the pending requests to the node until its backlog is full.
    async fn feed(&mut self, manager: &OverlayManager) -> Result<(), OverlayError> {
        while let Some(&(node, i, o)) = self.pending.front() {
            match manager.survey_topology(node, i, o).await {
                Ok(()) | Err(OverlayError::Survey(SurveyError::Duplicate | SurveyError::SelfSurvey)) => {}
                Err(OverlayError::Survey(SurveyError::BacklogFull)) => return Ok(()),
                Err(e) => return Err(e),
            }
            self.pending.pop_front();
        }
        Ok(())
    }

    fn answered(&self, results: &SurveyResults) -> usize {
        self.asked.keys().filter(|id| results.nodes.contains_key(id)).count()
    }
}

/// The survey's steps, until the walk is complete or `--timeout`.
async fn survey(
    manager: &OverlayManager,
    args: &SurveyArgs,
    messages: &mut Subscription,
    progress: &mut Progress,
    walk: &mut Walk,
) -> Result<(), Stop> {
    let started = Instant::now();
    let wait = Duration::from_secs(args.wait);
    while (manager.peer_infos().len() as u64) < args.min_peers {
        if started.elapsed() >= wait {
            return Err(Stop::NoPeers(args.wait));
        }
        progress.line(format!("survey: waiting for peers, {} of {}", manager.peer_infos().len(), args.min_peers));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = manager.ledger().await?.tracking_ledger;
    let synced = Instant::now();
    let ledger = loop {
        let l = manager.ledger().await?.tracking_ledger;
        if l != first || synced.elapsed() >= Duration::from_secs(args.sync_wait) {
            break l;
        }
        progress.line(format!("survey: waiting for the network's ledger ({} s)", synced.elapsed().as_secs()));
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let nonce = args.nonce.unwrap_or_else(|| u32::from_le_bytes(overlay_tokio::clock::random_bytes()));
    manager.start_survey_collecting(nonce).await?;
    walk.nonce = Some(nonce);
    progress.note(format!("survey: collecting for {} s (nonce {nonce}, ledger {ledger})", args.collect));
    let collecting = Instant::now();
    let collect = Duration::from_secs(args.collect);
    while collecting.elapsed() < collect {
        let peers = manager.peer_infos().len();
        progress.line(format!(
            "survey: collecting {}/{} s, {peers} peers",
            collecting.elapsed().as_secs(),
            args.collect
        ));
        tokio::time::sleep((collect - collecting.elapsed()).min(Duration::from_secs(1))).await;
    }
    manager.stop_survey_collecting().await?;
    for p in manager.peer_infos() {
        walk.ask(p.peer_id);
    }
    let asking = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            m = messages.recv() => match m {
                Ok(m) => walk.observe(&m.message),
                Err(_) => return Ok(()),
            },
            _ = tick.tick() => {
                walk.feed(manager).await?;
                let results = manager.survey_results().await?;
                let done = walk.advance(&results);
                walk.feed(manager).await?;
                progress.line(format!(
                    "survey: asked {} nodes, {} answered, {} queued, {} s",
                    walk.asked.len(),
                    walk.answered(&results),
                    walk.pending.len() + results.backlog.len(),
                    asking.elapsed().as_secs()
                ));
                if done {
                    progress.note(format!(
                        "survey: every node asked answered ({} nodes in {} s)",
                        walk.asked.len(),
                        asking.elapsed().as_secs()
                    ));
                    return Ok(());
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                progress.note(format!("survey: --timeout ({} s) reached; writing what answered", args.timeout));
                return Ok(());
            }
        }
    }
}

/// The progress line on stderr: rewritten in place on a terminal, a line a second at most
/// otherwise.
struct Progress {
    quiet: bool,
    terminal: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Progress { quiet, terminal: std::io::stderr().is_terminal(), last: None }
    }

    fn line(&mut self, line: String) {
        if self.quiet || (!self.terminal && self.last.is_some_and(|t| t.elapsed() < Duration::from_secs(1))) {
            return;
        }
        self.last = Some(Instant::now());
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// A line that stays.
    fn note(&mut self, line: String) {
        self.end();
        eprintln!("{line}");
    }

    fn end(&mut self) {
        if self.terminal && !self.quiet {
            eprint!("\r\x1b[2K");
        }
    }
}

fn graphviz_installed() -> bool {
    std::process::Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success())
}

/// Write the map where the arguments say.
fn write(args: &SurveyArgs, map: &SurveyMap) -> Result<(), String> {
    let summary = map.summary(TABLE_ROWS);
    match &args.json {
        Some(path) => {
            let text = serde_json::to_string_pretty(&map.to_json()).map_err(|e| e.to_string())? + "\n";
            if path == Path::new("-") {
                eprint!("{summary}");
                std::io::stdout().write_all(text.as_bytes()).map_err(|e| format!("stdout: {e}"))?;
            } else {
                print!("{summary}");
                std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
            }
        }
        None => print!("{summary}"),
    }
    let dot = map.to_dot();
    if let Some(path) = &args.dot {
        std::fs::write(path, &dot).map_err(|e| format!("--dot {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        svg(&dot, path)?;
    }
    Ok(())
}

/// Render `dot` to SVG with Graphviz.
fn svg(dot: &str, path: &Path) -> Result<(), String> {
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("--svg: cannot run Graphviz's `dot`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).map_err(|e| format!("--svg: writing to `dot`: {e}"))?;
    }
    let status = child.wait().map_err(|e| format!("--svg: {e}"))?;
    if !status.success() {
        return Err(format!("--svg {}: `dot` failed ({status})", path.display()));
    }
    Ok(())
}
