//! Two overlay nodes on 127.0.0.1: the second dials the first, a transaction broadcast at
//! the first reaches the second's subscribers by pull mode, and both shut down.
//!
//! `cargo run -p overlay-tokio --example relay`

use overlay_proto::fixtures::transaction_message;
use overlay_proto::{Network, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
use std::time::Duration;

async fn node() -> Result<OverlayManager, Box<dyn std::error::Error>> {
    // Any free port on loopback.
    let config = OverlayConfig { listen_ip: [127, 0, 0, 1].into(), listen_port: 0, ..OverlayConfig::default() };
    let manager = OverlayManager::new(config, LocalNode::generate(Network::Standalone.id()))?;
    manager.start().await?;
    Ok(manager)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = node().await?;
    let b = node().await?;
    let a_addr = a.local_addr().ok_or("no address")?;
    let mut at_b = b.subscribe();
    let a_id = b.connect(&PeerAddress::from(a_addr)).await?;
    println!("{} and {a_id} are connected", b.node_id());

    let told = a.broadcast(transaction_message(1)).await?;
    println!("node A advertised the transaction to {told} peer(s)");
    let received = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let msg = at_b.recv().await?;
            if msg.message.discriminant() == overlay_proto::xdr::MessageType::Transaction {
                return Ok::<_, overlay_tokio::Closed>(msg);
            }
        }
    })
    .await??;
    println!("node B received a TRANSACTION from {}", received.from_peer);
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
