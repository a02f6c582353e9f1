//! `stellar-overlay crawl`: map a network from seed peers. A thin tokio driver of
//! `overlay_crawl::Crawler` (which holds every decision): one task per connection dials,
//! reads and writes; the crawl loop feeds what happens to the crawler and carries out what
//! it asks, then writes the map as JSON, DOT and (with Graphviz installed) SVG.

use crate::NetworkArgs;
use clap::Args;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_crawl::{ConnId, CrawlConfig, CrawlEvent, CrawlReport, Crawler, DialError, Output};
use overlay_node::DropReason;
use overlay_proto::{Host, PeerAddress};
use overlay_tokio::clock::{instant_of, now, random_bytes, unix_now};
use std::collections::HashMap;
use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Write batches queued for one connection before it is dropped as stuck (a crawl writes a
/// handful of frames per connection).
const WRITE_QUEUE_BATCHES: usize = 64;
/// Socket events queued for the crawl loop; connection tasks wait when it is full.
const EVENT_QUEUE_LEN: usize = 1024;
/// Size of each socket read.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Nodes listed in the summary table.
const TABLE_ROWS: usize = 40;

#[derive(Args, Debug)]
pub struct CrawlArgs {
    /// Seed peers, HOST:PORT (port 11625 if omitted).
    #[arg(required = true, value_name = "HOST:PORT", value_parser = parse_address)]
    seeds: Vec<PeerAddress>,
    #[command(flatten)]
    network: NetworkArgs,
    /// Write the map as JSON (nodes, addresses, edges, failures) to FILE; "-" for stdout.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the map as a Graphviz DOT picture to FILE, and as SVG beside it (FILE with
    /// the extension .svg) when the `dot` program is installed.
    #[arg(long, value_name = "FILE")]
    dot: Option<PathBuf>,
    /// Dial at most N addresses.
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    max_nodes: u64,
    /// Bound the whole crawl to S seconds: open connections are closed and the addresses
    /// not dialed yet are reported as such [default: no bound; every connection is bounded
    /// by the other timeouts].
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Connections open at once.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    concurrency: u64,
    /// Seconds for a TCP connection, then for the handshake, then for the node's PEERS.
    #[arg(long, value_name = "S", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    connect_timeout: u64,
    /// Least time between two dials to one host (ms); one connection per host at a time.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    host_interval_ms: u64,
    /// The listening port our HELLO gives (we do not listen; nodes record it and advertise
    /// it back, and the crawl recognises it as ours).
    #[arg(long, value_name = "PORT", default_value_t = 11625, value_parser = clap::value_parser!(u16).range(1..))]
    listening_port: u16,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn parse_address(s: &str) -> Result<PeerAddress, String> {
    PeerAddress::parse_with_default_port(s, overlay_proto::version::DEFAULT_PEER_PORT).map_err(|e| e.to_string())
}

/// What a connection task reports.
enum IoEvent {
    Connected { conn: ConnId, local_ip: Option<IpAddr> },
    ConnectFailed { conn: ConnId, error: DialError },
    Bytes { conn: ConnId, data: Vec<u8> },
    Closed { conn: ConnId, reason: DropReason },
}

pub async fn run(args: CrawlArgs) -> Result<(), String> {
    let network_id = match args.network.network_id() {
        Ok(id) => id,
        Err(e) => {
            // A bad argument: exit 2, as clap does for the others.
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let identity = NodeIdentity::from_seed(random_bytes());
    let hello = HelloParams {
        listening_port: args.listening_port,
        version_str: format!("{} (crawler)", overlay_proto::version::VERSION_STR),
        ..HelloParams::default()
    };
    let auth = LocalAuth::new(identity, network_id, random_bytes(), hello);
    let timeout = Duration::from_secs(args.connect_timeout);
    let config = CrawlConfig {
        max_nodes: usize::try_from(args.max_nodes).unwrap_or(usize::MAX),
        max_in_flight: args.concurrency as usize,
        host_interval: Duration::from_millis(args.host_interval_ms),
        connect_timeout: timeout,
        handshake_timeout: timeout,
        peers_wait: timeout,
        deadline: args.timeout.map(Duration::from_secs),
        ..CrawlConfig::default()
    };
    let crawler_id = auth.node_id();
    let started = Instant::now();
    let mut crawler = Crawler::new(config, auth, args.seeds.clone(), u64::from_le_bytes(random_bytes()), now());
    let interrupted = drive(&mut crawler, timeout, args.quiet, started).await;
    let report = crawler.report();
    eprint!("{}", report.summary_table(TABLE_ROWS));
    let mut json = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    if let Some(map) = json.as_object_mut() {
        map.insert("crawler".into(), crawler_id.to_string().into());
        map.insert("network_id".into(), network_id.to_string().into());
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())? + "\n";
        if path == Path::new("-") {
            std::io::stdout().write_all(text.as_bytes()).map_err(|e| format!("stdout: {e}"))?;
        } else {
            std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
        }
    }
    if let Some(path) = &args.dot {
        write_picture(path, &report)?;
    }
    if interrupted {
        return Err("interrupted".into());
    }
    if report.totals.nodes == 0 {
        return Err(format!("no node answered ({} addresses dialed)", report.totals.dialed));
    }
    Ok(())
}

/// The crawl loop: carry out the crawler's outputs, feed it the sockets' events and its
/// timer, print progress. Returns whether it was interrupted (Ctrl-C).
async fn drive(crawler: &mut Crawler, connect_timeout: Duration, quiet: bool, started: Instant) -> bool {
    let (events_tx, mut events) = mpsc::channel::<IoEvent>(EVENT_QUEUE_LEN);
    let mut writers: HashMap<ConnId, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let terminal = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(if terminal { Duration::from_secs(1) } else { Duration::from_secs(5) });
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut interrupted = false;
    loop {
        carry_out(crawler, &mut writers, &events_tx, connect_timeout);
        if crawler.is_done() {
            break;
        }
        let deadline = crawler.poll_timeout().map(instant_of);
        tokio::select! {
            Some(ev) = events.recv() => {
                let t = now();
                match ev {
                    IoEvent::Connected { conn, local_ip } => crawler.handle_connected(t, unix_now(), conn, local_ip),
                    IoEvent::ConnectFailed { conn, error } => {
                        writers.remove(&conn);
                        crawler.handle_connect_failed(t, conn, error);
                    }
                    IoEvent::Bytes { conn, data } => crawler.handle_bytes(t, unix_now(), conn, &data),
                    IoEvent::Closed { conn, reason } => crawler.handle_socket_closed(t, conn, reason),
                }
            }
            _ = sleep_until(deadline) => crawler.handle_timeout(now()),
            _ = ticker.tick(), if !quiet => progress(crawler, started, terminal),
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                break;
            }
        }
    }
    if !quiet && terminal {
        eprint!("\r\x1b[2K");
    }
    interrupted
}

/// Drain the crawler's outputs and events. A connection whose write queue is full is
/// reported closed, and what the crawler does about it is drained too.
fn carry_out(
    crawler: &mut Crawler,
    writers: &mut HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
    events: &mpsc::Sender<IoEvent>,
    connect_timeout: Duration,
) {
    loop {
        let mut stuck = Vec::new();
        while let Some(out) = crawler.poll_output() {
            match out {
                Output::Connect { conn, address } => {
                    let (tx, rx) = mpsc::channel(WRITE_QUEUE_BATCHES);
                    writers.insert(conn, tx);
                    tokio::spawn(connection(conn, address, connect_timeout, events.clone(), rx));
                }
                Output::Transmit { conn, bytes } => {
                    if writers.get(&conn).is_some_and(|w| w.try_send(bytes).is_err()) {
                        writers.remove(&conn);
                        stuck.push(conn);
                    }
                }
                // The task writes what was queued before, then shuts the socket down.
                Output::Close { conn } => {
                    writers.remove(&conn);
                }
            }
        }
        while let Some(ev) = crawler.poll_event() {
            match ev {
                CrawlEvent::Found { address, node, accepted, peers } => {
                    tracing::info!(%address, %node, accepted, peers = ?peers, "node found");
                }
                CrawlEvent::Failed(f) => {
                    tracing::info!(address = %f.address, kind = f.kind.name(), reason = %f.reason, "visit failed");
                }
            }
        }
        if stuck.is_empty() {
            return;
        }
        for conn in stuck {
            crawler.handle_socket_closed(now(), conn, DropReason::Io("write queue full".into()));
        }
    }
}

fn progress(crawler: &Crawler, started: Instant, terminal: bool) {
    let p = crawler.progress();
    let line = format!(
        "crawl: {} nodes, {} failures, {} open, {} queued, {} dialed of {} addresses, {:.0} s",
        p.nodes,
        p.failures,
        p.in_flight,
        p.queued,
        p.dialed,
        p.known,
        started.elapsed().as_secs_f64()
    );
    if terminal {
        eprint!("\r\x1b[2K{line}");
    } else {
        eprintln!("{line}");
    }
}

/// One connection: resolve, dial, then shuttle bytes until either side ends it.
async fn connection(
    conn: ConnId,
    address: PeerAddress,
    connect_timeout: Duration,
    events: mpsc::Sender<IoEvent>,
    mut writes: mpsc::Receiver<Vec<u8>>,
) {
    let target = match &address.host {
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, address.port)),
        Host::Name(name) => match tokio::net::lookup_host((name.as_str(), address.port)).await {
            Ok(mut addrs) => addrs.find(SocketAddr::is_ipv4).ok_or_else(|| format!("no IPv4 address for {name}")),
            Err(e) => Err(format!("cannot resolve {name}: {e}")),
        },
    };
    let connected = match target {
        Err(e) => Err(DialError::Unreachable(e)),
        Ok(target) => match tokio::time::timeout(connect_timeout, TcpStream::connect(target)).await {
            Err(_) => Err(DialError::TimedOut),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                Err(DialError::Refused("connection refused".into()))
            }
            Ok(Err(e)) => Err(DialError::Unreachable(e.to_string())),
            Ok(Ok(s)) => Ok(s),
        },
    };
    let stream = match connected {
        Ok(s) => s,
        Err(error) => {
            let _ = events.send(IoEvent::ConnectFailed { conn, error }).await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let local_ip = stream.local_addr().ok().map(|a| a.ip());
    if events.send(IoEvent::Connected { conn, local_ip }).await.is_err() {
        return;
    }
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let reason = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break Some(DropReason::RemoteClosed),
                Ok(n) => {
                    if events.send(IoEvent::Bytes { conn, data: buf[..n].to_vec() }).await.is_err() {
                        break None;
                    }
                }
                Err(e) => break Some(DropReason::Io(format!("error during read: {e}").into())),
            },
            w = writes.recv() => match w {
                Some(bytes) => {
                    if let Err(e) = wr.write_all(&bytes).await {
                        break Some(DropReason::Io(format!("error during write: {e}").into()));
                    }
                }
                // The crawler closed the connection: everything it wrote is out.
                None => {
                    let _ = wr.shutdown().await;
                    break None;
                }
            },
        }
    };
    if let Some(reason) = reason {
        let _ = events.send(IoEvent::Closed { conn, reason }).await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// The DOT file, and the SVG beside it when Graphviz's `dot` is installed.
fn write_picture(path: &Path, report: &CrawlReport) -> Result<(), String> {
    std::fs::write(path, report.to_dot()).map_err(|e| format!("--dot {}: {e}", path.display()))?;
    let svg = path.with_extension("svg");
    match std::process::Command::new("dot").arg("-Tsvg").arg("-o").arg(&svg).arg(path).status() {
        Ok(s) if s.success() => eprintln!("wrote {} and {}", path.display(), svg.display()),
        Ok(s) => eprintln!("wrote {}; dot failed ({s}), no SVG", path.display()),
        Err(_) => eprintln!("wrote {}; Graphviz `dot` is not installed, no SVG", path.display()),
    }
    Ok(())
}
