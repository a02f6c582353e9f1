//! The `overlay-sim` program: flags for every scenario knob, the run, the outputs, the bench.

mod flags;

use crate::error::SimError;
use crate::plot;
use crate::progress::ProgressBar;
use crate::scenario::Scenario;
use crate::world::World;
use clap::{Parser, ValueEnum};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Which scenario the flags start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// About 100 pubnet-like nodes under transaction load with mild faults.
    Default,
    /// 10 nodes with every fault, as the seed sweep runs them.
    SmallFaulty,
    /// 5 validators signing SCP statements, reaching each other only through a line of 3
    /// watcher-like relays.
    ConsensusRelay,
    /// 50 pubnet-like nodes mapped by overlay-crawl's crawler from validator 0.
    Crawl,
    /// 50 pubnet-like nodes; validator 0 runs a time-sliced survey of the whole network.
    Survey,
    /// 33 nodes with 16 peers each relaying 5,000 tx/s while 8 validators exchange SCP
    /// messages (`--tx-rate 0` for the idle comparison).
    ScpLoad,
}

/// Topology kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopologyKind {
    /// Tier-1 core of organisations plus watchers that discover the rest.
    Pubnet,
    /// Every node connected to every other.
    Mesh,
    /// A ring.
    Ring,
    /// A random regular graph.
    Regular,
    /// Validators connected to relays only (`--validators`, `--relays`, `--relay-shape`).
    Relayed,
}

/// How relays are linked (relayed topology).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RelayShapeArg {
    /// Relays in a line, validators spread along it.
    Line,
    /// Relays in a full mesh, each validator on two of them.
    Mesh,
}

/// Planted bugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlantedBug {
    /// A node sends each transaction back to the peer it came from.
    Echo,
    /// A node writes more flood messages than its peer granted.
    Overrun,
    /// Relays flood SCP envelopes at once, without fetching what they reference
    /// (consensus-relay only).
    UnfetchedRelay,
}

/// Simulate a whole Stellar overlay network in virtual time and report what happened.
///
/// With no arguments it runs the default scenario: a pubnet-like network of 100 nodes
/// (7 organisations × 3 validators, 79 watchers) under transaction load with mild faults.
/// Every flag overrides one knob of the chosen preset. A run is a pure function of its
/// scenario and seed; a broken invariant prints the seed and the event, and exits 1.
#[derive(Debug, Parser)]
#[command(name = "overlay-sim", version, about, long_about = None)]
pub struct Args {
    /// Run seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Scenario to start from.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write pictures (latency CDF, bandwidth per node) as SVG into this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Do not print the text report.
    #[arg(long)]
    pub quiet: bool,
    /// No progress bar on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Run every node as a driver that reads and seals on connection tasks: each admitted
    /// peer's reader and writer taken out of the node. The wire, and so the report, is the
    /// same byte for byte; a difference is a bug.
    #[arg(long)]
    pub take_connection_work: bool,
    /// Run the bench instead: `--bench-nodes` nodes flooding `--bench-txs` transactions;
    /// prints events per second, wall time and peak memory. Only `--seed`,
    /// `--max-tx-set-ops`, `--report` and `--plot` apply to it.
    #[arg(long)]
    pub bench: bool,
    /// Nodes of the bench.
    #[arg(long, default_value_t = 1_000)]
    pub bench_nodes: u32,
    /// Transactions of the bench.
    #[arg(long, default_value_t = 10_000)]
    pub bench_txs: u64,

    // ---- topology
    /// Topology.
    #[arg(long, value_enum, help_heading = "Topology")]
    pub topology: Option<TopologyKind>,
    /// Nodes (mesh, ring, regular).
    #[arg(long, help_heading = "Topology")]
    pub nodes: Option<u32>,
    /// Neighbours per node (regular).
    #[arg(long, help_heading = "Topology")]
    pub degree: Option<u32>,
    /// Validators among the nodes (regular, relayed).
    #[arg(long, help_heading = "Topology")]
    pub validators: Option<u32>,
    /// Relays (relayed).
    #[arg(long, help_heading = "Topology")]
    pub relays: Option<u32>,
    /// How the relays are linked (relayed).
    #[arg(long, value_enum, help_heading = "Topology")]
    pub relay_shape: Option<RelayShapeArg>,
    /// Organisations in the core (pubnet).
    #[arg(long, help_heading = "Topology")]
    pub orgs: Option<u32>,
    /// Validators per organisation (pubnet).
    #[arg(long, help_heading = "Topology")]
    pub validators_per_org: Option<u32>,
    /// Watchers (pubnet).
    #[arg(long, help_heading = "Topology")]
    pub watchers: Option<u32>,
    /// Known peers of each watcher (pubnet).
    #[arg(long, help_heading = "Topology")]
    pub watcher_known_peers: Option<u32>,
    /// TARGET_PEER_CONNECTIONS of nodes the topology does not set.
    #[arg(long, help_heading = "Topology")]
    pub target_connections: Option<usize>,

    // ---- timeline
    /// Nodes start within this window (ms).
    #[arg(long, help_heading = "Timeline")]
    pub start_spread_ms: Option<u64>,
    /// From the start to the load phase (ms).
    #[arg(long, help_heading = "Timeline")]
    pub warmup_ms: Option<u64>,
    /// Length of the load phase (ms).
    #[arg(long, help_heading = "Timeline")]
    pub load_ms: Option<u64>,
    /// After the load phase (ms); at least the reach deadline.
    #[arg(long, help_heading = "Timeline")]
    pub settle_ms: Option<u64>,

    // ---- load
    /// Transactions per second, broadcast at random nodes.
    #[arg(long, help_heading = "Load")]
    pub tx_rate: Option<f64>,
    /// Stop after this many transactions (0: no limit).
    #[arg(long, help_heading = "Load")]
    pub tx_count: Option<u64>,
    /// Each validator broadcasts an SCP message this often (ms; 0: off).
    #[arg(long, help_heading = "Load")]
    pub scp_interval_ms: Option<u64>,
    /// A ledger closes this often (ms; 0: off).
    #[arg(long, help_heading = "Load")]
    pub ledger_close_ms: Option<u64>,
    /// Nodes fetching each ledger's tx set from a validator.
    #[arg(long, help_heading = "Load")]
    pub tx_set_fetchers: Option<u32>,
    /// The ledger's maximum tx set size in operations.
    #[arg(long, help_heading = "Load")]
    pub max_tx_set_ops: Option<u32>,
    /// Transactions each node's application keeps.
    #[arg(long, help_heading = "Load")]
    pub app_transactions_max: Option<usize>,
    /// Floodgate records each node keeps (node default 200,000).
    #[arg(long, help_heading = "Load")]
    pub floodgate_entries_max: Option<usize>,
    /// Advertised hashes each node remembers per peer (node default 50,000).
    #[arg(long, help_heading = "Load")]
    pub advert_history_entries_max: Option<usize>,
    /// Demand records each node keeps (node default 200,000).
    #[arg(long, help_heading = "Load")]
    pub demand_history_entries_max: Option<usize>,

    // ---- consensus
    /// A consensus slot starts this often (ms; consensus-relay).
    #[arg(long, help_heading = "Consensus")]
    pub slot_interval_ms: Option<u64>,
    /// Time between a validator's statements in a slot (ms; consensus-relay).
    #[arg(long, help_heading = "Consensus")]
    pub ballot_step_ms: Option<u64>,
    /// Transactions per tx set (consensus-relay).
    #[arg(long, help_heading = "Consensus")]
    pub txs_per_set: Option<u32>,
    /// Threshold of every validator's quorum set (0: validators − 1; consensus-relay).
    #[arg(long, help_heading = "Consensus")]
    pub quorum_threshold: Option<u32>,
    /// Do not check on the wire that relays hold what the SCP messages they send reference
    /// (to see the planted relay bug caught by the request check alone).
    #[arg(long, help_heading = "Consensus")]
    pub no_relay_hold_check: bool,

    // ---- crawl
    /// A node the crawl starts from (repeatable; replaces the preset's seeds). With any
    /// preset, runs a crawl.
    #[arg(long = "crawl-seed", value_name = "NODE", help_heading = "Crawl")]
    pub crawl_seeds: Vec<u32>,
    /// The crawl starts this long after the load phase begins (ms).
    #[arg(long, help_heading = "Crawl")]
    pub crawl_start_ms: Option<u64>,
    /// The whole crawl's deadline (ms).
    #[arg(long, help_heading = "Crawl")]
    pub crawl_deadline_ms: Option<u64>,
    /// Addresses the crawl dials at most.
    #[arg(long, help_heading = "Crawl")]
    pub crawl_max_nodes: Option<usize>,
    /// Crawler connections open at once.
    #[arg(long, help_heading = "Crawl")]
    pub crawl_concurrency: Option<usize>,

    // ---- links
    /// One-way latency of every link (ms).
    #[arg(long, help_heading = "Links")]
    pub latency_ms: Option<u64>,
    /// Extra per-pair latency, uniform in [0, this] (ms).
    #[arg(long, help_heading = "Links")]
    pub latency_spread_ms: Option<u64>,
    /// Jitter per write, uniform in [0, this] (ms).
    #[arg(long, help_heading = "Links")]
    pub jitter_ms: Option<u64>,
    /// Bandwidth per direction (bytes/s; 0: unlimited).
    #[arg(long, help_heading = "Links")]
    pub bandwidth_bytes_per_s: Option<u64>,
    /// Probability that a write is lost once and retransmitted.
    #[arg(long, help_heading = "Links")]
    pub loss: Option<f64>,
    /// Retransmission timeout (ms).
    #[arg(long, help_heading = "Links")]
    pub rto_ms: Option<u64>,
    /// Probability that a write resets the connection.
    #[arg(long, help_heading = "Links")]
    pub reset: Option<f64>,
    /// Probability that a frame is delivered twice.
    #[arg(long, help_heading = "Links")]
    pub duplicate: Option<f64>,
    /// Probability that a frame is moved behind the next one.
    #[arg(long, help_heading = "Links")]
    pub reorder: Option<f64>,
    /// Probability that a write has bits flipped.
    #[arg(long, help_heading = "Links")]
    pub corrupt: Option<f64>,
    /// Socket send buffer per direction (bytes).
    #[arg(long, help_heading = "Links")]
    pub socket_buffer_bytes: Option<u64>,
    /// Dials across a partition time out after this long (ms).
    #[arg(long, help_heading = "Links")]
    pub connect_timeout_ms: Option<u64>,
    /// One link's own profile: `A-B:key=value,...` with keys latency_ms, jitter_ms,
    /// bandwidth_bytes_per_s, loss, rto_ms, reset, duplicate, reorder, corrupt (the rest from
    /// the global profile). Repeatable.
    #[arg(long = "link", value_name = "A-B:K=V,...", help_heading = "Links")]
    pub links: Vec<String>,

    // ---- faults
    /// A partition `AT_MS:DURATION_MS:FRACTION` (from the start of the load). Repeatable;
    /// replaces the preset's partitions.
    #[arg(long = "partition", value_name = "AT:DUR:FRAC", help_heading = "Faults")]
    pub partitions: Vec<String>,
    /// No partitions.
    #[arg(long, help_heading = "Faults")]
    pub no_partitions: bool,
    /// Mean time between link cuts (ms; 0: off).
    #[arg(long, help_heading = "Faults")]
    pub cut_interval_ms: Option<u64>,
    /// How long a cut lasts (ms).
    #[arg(long, help_heading = "Faults")]
    pub cut_duration_ms: Option<u64>,
    /// Mean time between node stops (ms; 0: off).
    #[arg(long, help_heading = "Faults")]
    pub churn_interval_ms: Option<u64>,
    /// How long a stopped node stays down (ms).
    #[arg(long, help_heading = "Faults")]
    pub churn_downtime_ms: Option<u64>,
    /// Probability that a stop is a crash.
    #[arg(long, help_heading = "Faults")]
    pub crash_prob: Option<f64>,
    /// Nodes joining during the load.
    #[arg(long, help_heading = "Faults")]
    pub joins: Option<u32>,
    /// Known peers of a joining node.
    #[arg(long, help_heading = "Faults")]
    pub join_known_peers: Option<u32>,
    /// Nodes whose authenticated frames carry bad MACs.
    #[arg(long, help_heading = "Faults")]
    pub bad_mac_nodes: Option<u32>,
    /// Nodes that send garbage.
    #[arg(long, help_heading = "Faults")]
    pub garbage_nodes: Option<u32>,
    /// Nodes that ignore flow control.
    #[arg(long, help_heading = "Faults")]
    pub overrun_nodes: Option<u32>,
    /// Probability per frame or write of the misbehaviour.
    #[arg(long, help_heading = "Faults")]
    pub misbehaviour_prob: Option<f64>,
    /// Plant a bug in one node without telling the invariants (the run should fail).
    #[arg(long, value_enum, help_heading = "Faults")]
    pub plant_bug: Option<PlantedBug>,
    /// Keep faults during the settle phase.
    #[arg(long, help_heading = "Faults")]
    pub no_heal_at_settle: bool,

    // ---- checks
    /// A flooded message must reach every node connected to its origin within this (ms).
    #[arg(long, help_heading = "Checks")]
    pub reach_deadline_ms: Option<u64>,
    /// How often every node's state is checked (ms).
    #[arg(long, help_heading = "Checks")]
    pub check_interval_ms: Option<u64>,
}

/// Write the report and plots of a finished (or failed) run.
fn write_outputs(args: &Args, world: &World) -> Result<(), SimError> {
    let report = world.report();
    let io = |path: &std::path::Path, e: std::io::Error| SimError::Output {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json() + "\n").map_err(|e| io(path, e))?;
    }
    if let Some(dir) = &args.plot {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let (tx, scp) = world.latency_histograms();
        let mut curves = vec![("transactions", "#1f77b4", tx), ("SCP messages", "#d62728", scp)];
        if let Some(envelopes) = world.envelope_latency() {
            curves.push(("SCP envelopes ready at validators", "#2ca02c", envelopes));
        }
        let cdf = plot::latency_cdf_svg(&curves);
        let p = dir.join("latency_cdf.svg");
        std::fs::write(&p, cdf).map_err(|e| io(&p, e))?;
        let p = dir.join("bandwidth_per_node.svg");
        std::fs::write(&p, plot::bandwidth_svg(&report)).map_err(|e| io(&p, e))?;
    }
    Ok(())
}

/// Peak resident memory of this process in KiB (`VmHWM`), where /proc exists.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run_bench(args: &Args) -> ExitCode {
    let mut sc = Scenario::bench(args.bench_nodes, args.bench_txs);
    if let Some(seed) = args.seed {
        sc.seed = seed;
    }
    if let Some(ops) = args.max_tx_set_ops {
        sc.max_tx_set_ops = ops;
    }
    eprintln!("bench: {} nodes (random 8-regular), {} transactions at 1,000/s", args.bench_nodes, args.bench_txs);
    let started = Instant::now();
    let mut world = match World::new(sc) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut bar = ProgressBar::new(!args.no_progress);
    let result = world.run(&mut |p| bar.update(p));
    bar.finish();
    let wall = started.elapsed();
    let report = world.report();
    let events = world.events();
    println!("bench: {} nodes, {} transactions broadcast", args.bench_nodes, report.transactions.broadcast);
    println!(
        "  wall time {:.2} s for {:.1} s virtual ({:.1}× real time)",
        wall.as_secs_f64(),
        report.virtual_ms as f64 / 1e3,
        report.virtual_ms as f64 / 1e3 / wall.as_secs_f64().max(1e-9)
    );
    println!("  {} events, {:.0} events/s", events, events as f64 / wall.as_secs_f64().max(1e-9));
    println!(
        "  transaction receipts {}; propagation p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        report.transactions.receipts,
        report.transactions.latency_ms.p50_ms,
        report.transactions.latency_ms.p99_ms,
        report.transactions.latency_ms.max_ms
    );
    match peak_rss_kib() {
        Some(k) => println!("  peak RSS {:.2} GiB (VmHWM {k} kB)", k as f64 / (1024.0 * 1024.0)),
        None => println!("  peak RSS unknown (no /proc/self/status)"),
    }
    if let Err(e) = write_outputs(args, &world) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::from(1)
        }
    }
}

/// The program: parse the flags, run, report. Exit codes: 0 every invariant held, 1 a
/// broken invariant, a panic or an output error, 2 bad arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if args.bench {
        return run_bench(&args);
    }
    let scenario = match args.scenario() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = scenario.seed;
    let started = Instant::now();
    let mut world = match World::new(scenario) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.take_connection_work {
        world.take_connection_work();
    }
    let mut bar = ProgressBar::new(!args.no_progress);
    let result = world.run(&mut |p| bar.update(p));
    bar.finish();
    let wall = started.elapsed();
    if let Err(e) = write_outputs(&args, &world) {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    match result {
        Ok(()) => {
            if !args.quiet {
                // A closed stdout (a pager quit early) is not an error of the run.
                let mut out = std::io::stdout().lock();
                let _ = write!(out, "{}", world.report().to_text());
                let _ = writeln!(
                    out,
                    "\nwall time {:.2} s, {:.0} events/s",
                    wall.as_secs_f64(),
                    world.events() as f64 / wall.as_secs_f64().max(1e-9)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            eprintln!("reproduce with the same flags and --seed {seed}");
            ExitCode::from(1)
        }
    }
}
