//! `stellar-overlay submit-tx`: flood transactions read from stdin.

use crate::{NetworkArgs, identity};
use clap::Args;
use overlay_proto::xdr::{Limits, ReadXdr, StellarMessage, TransactionEnvelope};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
use serde_json::json;
use std::io::BufRead;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// A peer to connect to (HOST:PORT); may be repeated. At least one.
    #[arg(long = "connect", required = true)]
    connect: Vec<String>,
    #[command(flatten)]
    network: NetworkArgs,
    /// Seconds to wait for a peer to authenticate, and then for peers to pull the
    /// transactions.
    #[arg(long, default_value_t = 15)]
    timeout: u64,
}

fn read_envelopes() -> Result<Vec<TransactionEnvelope>, String> {
    let mut out = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let env = TransactionEnvelope::from_xdr_base64(line, Limits { depth: 500, len: 1 << 20 })
            .map_err(|e| format!("line {}: not a base64 TransactionEnvelope: {e}", i + 1))?;
        out.push(env);
    }
    Ok(out)
}

pub async fn run(args: SubmitArgs) -> Result<(), String> {
    let envelopes = read_envelopes()?;
    let network_id = args.network.network_id()?;
    let peers = args
        .connect
        .iter()
        .map(|c| overlay_proto::PeerAddress::parse_with_default_port(c, 11625).map_err(|e| format!("{c}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let config = OverlayConfig {
        listen_enabled: false,
        known_peers: peers.clone(),
        connect_timeout_secs: args.timeout.max(1),
        ..OverlayConfig::default()
    };
    let manager =
        OverlayManager::new(config, LocalNode::new(identity(None)?, network_id)).map_err(|e| e.to_string())?;
    manager.start().await.map_err(|e| e.to_string())?;
    let mut authenticated = 0;
    let mut last_error = String::new();
    for addr in &peers {
        match manager.connect(addr).await {
            Ok(_) => authenticated += 1,
            Err(e) => last_error = format!("{addr}: {e}"),
        }
    }
    if authenticated == 0 {
        manager.shutdown().await;
        return Err(format!("no peer authenticated ({last_error})"));
    }
    let mut advertised = 0usize;
    for env in &envelopes {
        advertised += manager.broadcast(StellarMessage::Transaction(env.clone())).await.map_err(|e| e.to_string())?;
    }
    // Peers pull what we advertised: wait until every transaction was sent for a demand, or
    // until the timeout.
    let fulfilled = |m: &[(&str, u64)]| m.iter().find(|(n, _)| *n == "overlay.flood.fulfilled").map_or(0, |(_, v)| *v);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut sent = 0;
    while Instant::now() < deadline {
        sent = fulfilled(&manager.metrics().await.map_err(|e| e.to_string())?);
        if sent as usize >= envelopes.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("{}", json!({"submitted": envelopes.len(), "advertised": advertised, "pulled": sent}));
    manager.shutdown().await;
    Ok(())
}
