//! `stellar-overlay`: run a Stellar overlay node, query a peer, or watch a demonstration.
//!
//! Output that others parse is a public interface: with `--log-format json`, stdout carries
//! one JSON object per line (see `events.rs`); exit codes are 0 for success, 1 for a failure
//! the program reports, 2 for bad arguments.

mod demo;
mod events;
mod node;
mod peer_info;

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
}

/// The network to join.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// A named network: pubnet, testnet, futurenet or standalone.
    #[arg(long, default_value = "testnet", conflicts_with = "passphrase")]
    network: String,
    /// A network passphrase (instead of --network).
    #[arg(long)]
    passphrase: Option<String>,
}

impl NetworkArgs {
    fn network_id(&self) -> Result<NetworkId, String> {
        match &self.passphrase {
            Some(p) => Ok(NetworkId::from_passphrase(p)),
            None => self.network.parse::<Network>().map(Network::id).map_err(|e| e.to_string()),
        }
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
