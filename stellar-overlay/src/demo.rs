//! `stellar-overlay demo`: two overlay nodes and a few clients on 127.0.0.1. The clients
//! handshake with node A and send it transactions; node A floods them to node B by pull
//! mode (advert, demand, transaction).

use clap::Args;
use overlay_node::DropReason;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::MessageType;
use overlay_proto::{Network, PeerAddress};
use overlay_tokio::{
    ConnectionConfig, LocalNode, OverlayConfig, OverlayEvent, OverlayManager, PeerConnection, SharedAuth,
};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Clients that dial node A.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Transactions each client sends.
    #[arg(long, default_value_t = 250)]
    transactions: u64,
}

async fn start_node(connect: Option<PeerAddress>) -> Result<OverlayManager, String> {
    let config = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        allow_localhost_for_testing: true,
        ..OverlayConfig::default()
    };
    let node = OverlayManager::new(config, LocalNode::generate(Network::Standalone.id())).map_err(|e| e.to_string())?;
    node.start().await.map_err(|e| e.to_string())?;
    if let Some(a) = connect {
        node.connect(&a).await.map_err(|e| e.to_string())?;
    }
    Ok(node)
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    let start = Instant::now();
    let a = start_node(None).await?;
    let a_addr = a.local_addr().ok_or("node A has no address")?;
    let b = start_node(Some(PeerAddress::from(a_addr))).await?;
    let mut b_events = b.events();
    println!("node A {} on {a_addr}; node B {} dials it", a.node_id(), b.node_id());

    let mut clients = Vec::new();
    for i in 0..args.nodes {
        let auth = SharedAuth::new(&LocalNode::generate(Network::Standalone.id()));
        let conn =
            PeerConnection::connect(&auth, a_addr, &ConnectionConfig::default()).await.map_err(|e| e.to_string())?;
        println!("client {i} ({}) authenticated with node A ({})", auth.node_id(), conn.remote().version_str);
        clients.push(conn);
    }
    let handshakes = start.elapsed();
    let sending = Instant::now();
    for (i, c) in clients.iter().enumerate() {
        for n in 0..args.transactions {
            c.send(transaction_message(i as u64 * 1_000_000 + n)).await.map_err(|e| e.to_string())?;
        }
    }
    let expected = args.nodes as u64 * args.transactions;
    let mut at_b = 0u64;
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    while at_b < expected {
        tokio::select! {
            ev = b_events.recv() => match ev {
                Ok(OverlayEvent::Message { message_type: MessageType::Transaction, .. }) => at_b += 1,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            _ = &mut deadline => break,
        }
    }
    let elapsed = sending.elapsed();
    let metrics = a.metrics().await.map_err(|e| e.to_string())?;
    let get = |name: &str| metrics.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v);
    for c in clients {
        c.close(DropReason::LocalSilent("demo done")).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    println!(
        "{} handshakes in {:.1} ms; {at_b}/{expected} transactions reached node B by pull mode in {:.1} ms ({:.0} tx/s); \
         node A advertised {} hashes and served {} demands",
        args.nodes + 1,
        handshakes.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3,
        at_b as f64 / elapsed.as_secs_f64().max(1e-9),
        get("overlay.flood.advertised"),
        get("overlay.flood.fulfilled"),
    );
    if at_b == expected { Ok(()) } else { Err(format!("only {at_b} of {expected} transactions reached node B")) }
}
