//! `stellar-overlay`: run a Stellar overlay node, query a peer, or watch a demonstration.
//!
//! Output that others parse is a public interface: with `--log-format json`, stdout carries
//! one JSON object per line (see `events.rs`); exit codes are 0 for success, 1 for a failure
//! the program reports, 2 for bad arguments.

mod crawl;
mod demo;
mod events;
mod metrics;
mod node;
mod peer_info;
mod peers;
mod submit;
mod survey;

use clap::{Args, Parser, Subcommand, ValueEnum};
use overlay_auth::NodeIdentity;
use overlay_proto::{Network, NetworkId};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "stellar-overlay", version, about = "Stellar overlay (peer-to-peer) node and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node: listen, dial, keep connections open, log what happens.
    Node(node::NodeArgs),
    /// Handshake with one peer as initiator and print its HELLO as one JSON object.
    PeerInfo(peer_info::PeerInfoArgs),
    /// Start a few nodes on 127.0.0.1, connect them, exchange transactions, print a summary.
    Demo(demo::DemoArgs),
    /// Read base64 TransactionEnvelopes from stdin, one per line, and flood them.
    SubmitTx(submit::SubmitArgs),
    /// List the peer records and bans stored in a peer database. (A running node's
    /// connections are its admin endpoint's `peers` command: `node --http PORT`, then
    /// `curl 127.0.0.1:PORT/peers`.)
    Peers(peers::PeersArgs),
    /// Map a network from seed peers: handshake with every node reachable through PEERS,
    /// write the nodes, addresses, edges and failures as JSON and a Graphviz picture.
    Crawl(crawl::CrawlArgs),
    /// Run a node and survey the network it reaches (time-sliced survey): collect, then ask
    /// every node breadth-first for its peers; write the map as JSON, DOT and SVG.
    Survey(survey::SurveyArgs),
}

/// The network to join.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// A named network: pubnet, testnet, futurenet or standalone [default: the config
    /// file's NETWORK_PASSPHRASE, else testnet].
    #[arg(long, conflicts_with = "passphrase")]
    network: Option<String>,
    /// A network passphrase (instead of --network).
    #[arg(long)]
    passphrase: Option<String>,
}

impl NetworkArgs {
    /// The network id: the flags, else `fallback` (a config file's), else testnet.
    fn network_id_or(&self, fallback: Option<NetworkId>) -> Result<NetworkId, String> {
        match (&self.passphrase, &self.network) {
            (Some(p), _) => Ok(NetworkId::from_passphrase(p)),
            (None, Some(n)) => n.parse::<Network>().map(Network::id).map_err(|e| e.to_string()),
            (None, None) => Ok(fallback.unwrap_or_else(|| Network::Testnet.id())),
        }
    }

    fn network_id(&self) -> Result<NetworkId, String> {
        self.network_id_or(None)
    }
}

/// How events are written to stdout.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Lines for people.
    Text,
}

fn identity(secret: Option<&str>) -> Result<NodeIdentity, String> {
    match secret {
        Some(s) => NodeIdentity::from_strkey(s).map_err(|e| format!("--secret-key: {e}")),
        None => Ok(NodeIdentity::from_seed(overlay_tokio::clock::random_bytes())),
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Node(a) => node::run(a).await,
            Command::PeerInfo(a) => peer_info::run(a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::SubmitTx(a) => submit::run(a).await,
            Command::Peers(a) => peers::run(a),
            Command::Crawl(a) => crawl::run(a).await,
            Command::Survey(a) => survey::run(a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
