//! `stellar-overlay node`.

use crate::events::{emit, emit_json};
use crate::{LogFormat, NetworkArgs, identity};
use clap::Args;
use overlay_tokio::{LocalNode, SimpleNode, SimpleNodeConfig};
use serde_json::json;
use std::net::SocketAddr;
use tokio::net::lookup_host;

#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Address to listen on, e.g. 127.0.0.1:11625 (port 0 picks a free port).
    #[arg(long)]
    listen: String,
    /// A peer to dial (HOST:PORT); may be repeated. Redialed after a failure or a drop.
    #[arg(long = "connect")]
    connect: Vec<String>,
    #[command(flatten)]
    network: NetworkArgs,
    /// The node's secret seed (S...). A random identity if absent.
    #[arg(long)]
    secret_key: Option<String>,
    /// How events are written to stdout.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

async fn resolve(s: &str) -> Result<SocketAddr, String> {
    let target = if s.contains(':') { s.to_string() } else { format!("{s}:11625") };
    lookup_host(&target)
        .await
        .map_err(|e| format!("cannot resolve {s}: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("no IPv4 address for {s}"))
}

pub async fn run(args: NodeArgs) -> Result<(), String> {
    let network_id = args.network.network_id()?;
    let listen = resolve(&args.listen).await?;
    let mut connect = Vec::new();
    for c in &args.connect {
        connect.push(resolve(c).await?);
    }
    let mut local = LocalNode::new(identity(args.secret_key.as_deref())?, network_id);
    let config = SimpleNodeConfig { listen: Some(listen), connect, ..SimpleNodeConfig::default() };
    // The HELLO advertises the port we really listen on (known once bound when it is 0).
    let bound = std::net::TcpListener::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let actual = bound.local_addr().map_err(|e| e.to_string())?;
    drop(bound);
    local.hello.listening_port = actual.port();
    let node_id = local.node_id();
    let config = SimpleNodeConfig { listen: Some(actual), ..config };
    let mut node = SimpleNode::start(local, config).await.map_err(|e| format!("cannot listen on {actual}: {e}"))?;
    let address = node.local_addr().unwrap_or(actual);
    emit_json(
        args.log_format,
        json!({"event": "listening", "node": node_id.to_string(), "address": address.to_string()}),
        format!("listening    {node_id} {address}"),
    );
    loop {
        tokio::select! {
            ev = node.next_event() => match ev {
                Some(ev) => emit(args.log_format, &ev),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    node.shutdown().await;
    Ok(())
}
