//! The "Basic Setup" example of the original crate description, run on loopback: a second
//! node on 127.0.0.1 plays the known peer (instead of core-testnet1.stellar.org) and floods
//! a transaction; the loop ends at the first transaction instead of running forever.
//!
//! `cargo run -p overlay-tokio --example seed_setup`

use overlay_auth::NodeIdentity;
use overlay_tokio::GenerateIdentity;
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager, PeerAddress};

/// The peer on loopback: a node on the test network, on any free port.
async fn loopback_peer() -> Result<OverlayManager, Box<dyn std::error::Error>> {
    let config = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        known_peers: Vec::new(),
        ..OverlayConfig::testnet()
    };
    let peer = OverlayManager::new(config, LocalNode::new_testnet(NodeIdentity::generate()))?;
    peer.start().await?;
    Ok(peer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let peer = loopback_peer().await?;
    let peer_port = peer.local_addr().ok_or("the peer has no address")?.port();

    // --- the original example, with the loopback peer as the known peer ---
    // Generate a node identity
    let secret_key = NodeIdentity::generate();
    let local_node = LocalNode::new_testnet(secret_key);

    // Configure the overlay
    let mut config = OverlayConfig::testnet();
    config.known_peers = vec![PeerAddress::new("127.0.0.1", peer_port)];
    config.listen_port = 0;

    // Create and start the manager
    let manager = OverlayManager::new(config, local_node)?;
    manager.start().await?;

    // Subscribe to incoming messages
    let mut rx = manager.subscribe();
    // --- end of the original setup ---

    // The peer floods a transaction once the known peer is connected (the tick dials it).
    let at_peer = peer.clone();
    let flood = tokio::spawn(async move {
        let mut events = at_peer.events();
        while let Ok(e) = events.recv().await {
            if matches!(e, overlay_tokio::OverlayEvent::Connected { .. }) {
                return at_peer.broadcast(overlay_proto::fixtures::transaction_message(1)).await;
            }
        }
        Ok(0)
    });
    let wait = std::time::Duration::from_secs(30);
    tokio::time::timeout(wait, async {
        while let Ok(msg) = rx.recv().await {
            println!("Received {:?} from {}", msg.message.discriminant(), msg.from_peer);
            if msg.message.discriminant() == overlay_proto::xdr::MessageType::Transaction {
                break;
            }
        }
    })
    .await?;
    flood.await??;
    manager.shutdown().await;
    peer.shutdown().await;
    Ok(())
}
