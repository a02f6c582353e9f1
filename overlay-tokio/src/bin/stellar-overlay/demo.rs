//! `stellar-overlay demo`: nodes on 127.0.0.1 handshake and exchange transactions.

use clap::Args;
use overlay_node::DropReason;
use overlay_proto::Network;
use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::MessageType;
use overlay_tokio::{ConnectionConfig, LocalNode, NodeEvent, PeerConnection, SharedAuth, SimpleNode, SimpleNodeConfig};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Nodes that dial the listening node.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Transactions each of them sends.
    #[arg(long, default_value_t = 1000)]
    transactions: u64,
}

pub async fn run(args: DemoArgs) -> Result<(), String> {
    let network = Network::Standalone.id();
    let start = Instant::now();
    let config = SimpleNodeConfig { listen: Some("127.0.0.1:0".parse().expect("literal")), ..Default::default() };
    let mut hub = SimpleNode::start(LocalNode::generate(network), config).await.map_err(|e| e.to_string())?;
    let addr = hub.local_addr().ok_or("the hub has no address")?;
    println!("hub listening on {addr}");

    let mut clients = Vec::new();
    for i in 0..args.nodes {
        let auth = SharedAuth::new(&LocalNode::generate(network));
        let conn =
            PeerConnection::connect(&auth, addr, &ConnectionConfig::default()).await.map_err(|e| e.to_string())?;
        println!("node {i} ({}) authenticated with the hub ({})", auth.node_id(), conn.remote().version_str);
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
    let mut received = 0u64;
    let mut connected = 0usize;
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    while received < expected {
        tokio::select! {
            ev = hub.next_event() => match ev {
                Some(NodeEvent::Message { message_type: MessageType::Transaction, .. }) => received += 1,
                Some(NodeEvent::Connected { .. }) => connected += 1,
                Some(_) => {}
                None => break,
            },
            _ = &mut deadline => break,
        }
    }
    let elapsed = sending.elapsed();
    for c in clients {
        c.close(DropReason::LocalSilent("demo done")).await;
    }
    hub.shutdown().await;
    println!(
        "{connected} handshakes in {:.1} ms; {received}/{expected} transactions delivered in {:.1} ms ({:.0} tx/s)",
        handshakes.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3,
        received as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if received == expected { Ok(()) } else { Err(format!("only {received} of {expected} transactions arrived")) }
}
