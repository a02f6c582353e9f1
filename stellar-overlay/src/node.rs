//! `stellar-overlay node`.

use crate::events::{emit, emit_json};
use crate::{LogFormat, NetworkArgs, identity};
use clap::{Args, ValueEnum};
use overlay_proto::PeerAddress;
use overlay_tokio::{LocalNode, Overlay, OverlayConfig, OverlayEvent};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use stellar_overlay::config_file::CoreConfig;
use tokio::sync::broadcast::error::RecvError;

/// The options a node runs with: the `node` command's, and the `survey` command's node.
#[derive(Args, Debug)]
pub struct NodeOptions {
    /// Address to listen on, e.g. 0.0.0.0:11625 (port 0 picks a free port) [default:
    /// 0.0.0.0 and the config file's PEER_PORT, else 11625; `survey` listens only with it].
    #[arg(long)]
    listen: Option<String>,
    /// A peer to dial at once and keep as a known peer (HOST:PORT); may be repeated.
    #[arg(long = "connect")]
    connect: Vec<String>,
    /// A stellar-core configuration file, a validator's or a watcher's, unchanged: its
    /// overlay keys are used (NETWORK_PASSPHRASE, NODE_SEED, PEER_PORT, HTTP_PORT, KNOWN_PEERS,
    /// PREFERRED_PEERS, PREFERRED_PEER_KEYS, PREFERRED_PEERS_ONLY, TARGET_PEER_CONNECTIONS,
    /// MAX_ADDITIONAL_PEER_CONNECTIONS, flow-control and flooding keys, DATABASE,
    /// SURVEYOR_KEYS, NODE_IS_VALIDATOR, [QUORUM_SET] and [[VALIDATORS]]), the others listed
    /// once in the log. Flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    network: NetworkArgs,
    /// The node's secret seed (S...) [default: the config file's NODE_SEED, else random].
    #[arg(long)]
    secret_key: Option<String>,
    /// The peer database (SQLite); ":memory:" keeps it in memory [default: the config
    /// file's DATABASE, else stellar-overlay.db for `node` and memory for `survey`].
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args, Debug)]
pub struct NodeArgs {
    #[command(flatten)]
    node: NodeOptions,
    /// Serve the admin commands on this address (PORT alone: 127.0.0.1:PORT): peers,
    /// connect, droppeer, ban, unban, bans, info, metrics (Prometheus), the survey commands
    /// [default: the config file's HTTP_PORT, on 127.0.0.1 unless PUBLIC_HTTP_PORT].
    #[arg(long)]
    http: Option<String>,
    /// Serve the flat counters of earlier versions in the Prometheus text format on this
    /// address (any path); kept as it was. The admin endpoint's /metrics has the full set.
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// How events are written to stdout.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// What runs the overlay: tokio (tasks on tokio's runtime) or mio (an event loop on a
    /// thread of its own, no async runtime; the admin and metrics endpoints still run on a
    /// small tokio runtime). The log, the admin endpoint and the exit codes are the same.
    #[arg(long, value_enum, default_value = "tokio")]
    driver: Driver,
}

/// The driver that runs the overlay.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// `overlay-tokio`.
    Tokio,
    /// `overlay-mio`.
    Mio,
}

/// The event log of either driver.
enum EventFeed {
    Tokio(tokio::sync::broadcast::Receiver<OverlayEvent>),
    Mio(overlay_mio::Events, u64),
}

impl EventFeed {
    /// The next event; `None` once the overlay has shut down. Lag is logged on stderr.
    async fn recv(&mut self) -> Option<OverlayEvent> {
        loop {
            match self {
                EventFeed::Tokio(rx) => match rx.recv().await {
                    Ok(ev) => return Some(ev),
                    Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "event log fell behind"),
                    Err(RecvError::Closed) => return None,
                },
                EventFeed::Mio(rx, seen_missed) => {
                    let ev = rx.recv_async().await.ok()?;
                    let missed = rx.missed();
                    if missed > *seen_missed {
                        tracing::warn!(missed = missed - *seen_missed, "event log fell behind");
                        *seen_missed = missed;
                    }
                    return Some(ev);
                }
            }
        }
    }
}

/// A node ready to start.
pub struct Prepared {
    /// Its configuration: the file's, then the flags.
    pub config: OverlayConfig,
    /// Its identity and network.
    pub local: LocalNode,
    /// The peers to dial at once (`--connect`; they are known peers too).
    pub connect: Vec<PeerAddress>,
    /// The configuration file (empty without `--config`).
    pub file: CoreConfig,
}

impl NodeOptions {
    /// Whether `--listen` was given.
    pub fn listens(&self) -> bool {
        self.listen.is_some()
    }

    /// Read the configuration file and apply the flags over it; `database` is the peer
    /// database when neither names one.
    pub async fn prepare(&self, database: Option<PathBuf>) -> Result<Prepared, String> {
        let file = match &self.config {
            Some(p) => CoreConfig::load(p).map_err(|e| e.to_string())?,
            None => CoreConfig::default(),
        };
        if !file.ignored.is_empty() {
            tracing::warn!(keys = %file.ignored.join(", "), "configuration keys the overlay does not use (ignored)");
        }
        let mut config = OverlayConfig { database, ..OverlayConfig::default() };
        file.apply(&mut config).map_err(|e| e.to_string())?;
        if let Some(listen) = &self.listen {
            let addr: SocketAddr = tokio::net::lookup_host(listen)
                .await
                .map_err(|e| format!("--listen {listen}: {e}"))?
                .find(SocketAddr::is_ipv4)
                .ok_or_else(|| format!("--listen {listen}: no IPv4 address"))?;
            config.listen_ip = addr.ip();
            config.listen_port = addr.port();
        }
        let connect = self
            .connect
            .iter()
            .map(|c| PeerAddress::parse_with_default_port(c, 11625).map_err(|e| format!("--connect {c}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        config.known_peers.extend(connect.iter().cloned());
        if let Some(db) = &self.database {
            config.database = (db != ":memory:").then(|| PathBuf::from(db));
        }
        let network_id = self.network.network_id_or(file.network_id())?;
        let identity = match (&self.secret_key, file.identity().map_err(|e| e.to_string())?) {
            (Some(s), _) => identity(Some(s))?,
            (None, Some(id)) => id,
            (None, None) => identity(None)?,
        };
        Ok(Prepared { config, local: LocalNode::new(identity, network_id), connect, file })
    }
}

/// Dial `peers` in the background: the event log shows the outcome, and the tick loop
/// retries known peers.
pub fn dial<M: Overlay>(manager: &M, peers: Vec<PeerAddress>) {
    for addr in peers {
        let m = manager.clone();
        tokio::spawn(async move {
            if let Err(e) = m.connect(&addr).await {
                tracing::warn!(peer = %addr, error = %e, "cannot connect now; the tick loop will retry");
            }
        });
    }
}

pub async fn run(args: NodeArgs) -> Result<(), String> {
    let Prepared { config, local, connect, file } =
        args.node.prepare(Some(PathBuf::from("stellar-overlay.db"))).await?;
    let http = match &args.http {
        Some(a) => Some(http_addr(a)?),
        None => file.http_addr(),
    };
    match args.driver {
        Driver::Tokio => {
            let manager = overlay_tokio::OverlayManager::new(config, local).map_err(|e| e.to_string())?;
            let events = EventFeed::Tokio(manager.events());
            manager.start().await.map_err(|e| e.to_string())?;
            serve(&args, http, manager, events, connect).await
        }
        Driver::Mio => {
            let manager = overlay_mio::OverlayManager::new(config, local).map_err(|e| e.to_string())?;
            let events = EventFeed::Mio(manager.events(), 0);
            // Start resolves names and reads the database, blocking: off the runtime's workers.
            let starting = manager.clone();
            tokio::task::spawn_blocking(move || starting.start())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            serve(&args, http, manager, events, connect).await
        }
    }
}

/// Log, dial, serve the endpoints, and run until interrupted or shut down.
async fn serve<M: Overlay + core::fmt::Debug>(
    args: &NodeArgs,
    http: Option<SocketAddr>,
    manager: M,
    mut events: EventFeed,
    connect: Vec<PeerAddress>,
) -> Result<(), String> {
    let node_id = manager.node_id();
    let address = manager.local_addr().map(|a| a.to_string()).unwrap_or_default();
    emit_json(
        args.log_format,
        json!({"event": "listening", "node": node_id.to_string(), "address": address}),
        format!("listening    {node_id} {address}"),
    );
    dial(&manager, connect);
    let metrics = match args.metrics {
        Some(a) => Some(crate::metrics::serve(a, manager.clone()).await?),
        None => None,
    };
    let admin = match http {
        Some(a) => {
            let (bound, task) = overlay_admin::http::serve(a, overlay_admin::Admin::new(manager.clone()))
                .await
                .map_err(|e| format!("--http {a}: {e}"))?;
            emit_json(
                args.log_format,
                json!({"event": "admin", "address": bound.to_string()}),
                format!("admin        http://{bound}/"),
            );
            Some(task)
        }
        None => None,
    };
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => emit(args.log_format, &ev),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    for t in [metrics, admin].into_iter().flatten() {
        t.abort();
    }
    manager.shutdown().await;
    Ok(())
}

/// `PORT` (on 127.0.0.1) or `ADDR:PORT`.
fn http_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse::<SocketAddr>().map_err(|e| format!("--http {s}: {e} (PORT or ADDR:PORT)"))
}
