//! `stellar-overlay peer-info`.

use crate::events::direction_name;
use crate::{NetworkArgs, identity};
use clap::Args;
use overlay_node::DropReason;
use overlay_tokio::{ConnectionConfig, LocalNode, PeerConnection, SharedAuth};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct PeerInfoArgs {
    /// The peer, HOST:PORT (port 11625 if omitted).
    address: String,
    #[command(flatten)]
    network: NetworkArgs,
    /// Seconds to wait for the connection and the handshake.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub async fn run(args: PeerInfoArgs) -> Result<(), String> {
    let network_id = args.network.network_id()?;
    let target = if args.address.contains(':') { args.address.clone() } else { format!("{}:11625", args.address) };
    let addr: SocketAddr = tokio::net::lookup_host(&target)
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", args.address))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| format!("no IPv4 address for {}", args.address))?;
    let local = LocalNode::new(identity(None)?, network_id);
    let auth = SharedAuth::new(&local);
    let config = ConnectionConfig { connect_timeout: Duration::from_secs(args.timeout), ..ConnectionConfig::default() };
    let connect = PeerConnection::connect(&auth, addr, &config);
    let conn = tokio::time::timeout(Duration::from_secs(args.timeout), connect)
        .await
        .map_err(|_| format!("{addr}: no handshake within {} s", args.timeout))?
        .map_err(|e| format!("{addr}: {e}"))?;
    let r = conn.remote();
    let info = json!({
        "peer": r.node_id.to_string(),
        "address": addr.to_string(),
        "direction": direction_name(conn.role()),
        "overlay_version": r.overlay_version,
        "overlay_min_version": r.overlay_min_version,
        "ledger_version": r.ledger_version,
        "version_str": r.version_str,
        "listening_port": r.listening_port,
        "network_id": network_id.to_string(),
        "cert_expiration": r.cert_expiration,
    });
    println!("{info}");
    conn.close(DropReason::LocalSilent("peer-info done")).await;
    Ok(())
}
