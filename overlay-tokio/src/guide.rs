//! The examples of the original crate description (`stellar-core-overlay`), as they build
//! against this crate: only the `use` lines and the key type differ. Each is compiled as a
//! doctest; `examples/seed_setup.rs` runs the first one on loopback.
//!
//! # Basic setup
//!
//! ```no_run
//! use overlay_tokio::{OverlayConfig, OverlayManager, LocalNode, PeerAddress};
//! use overlay_auth::NodeIdentity;
//! use overlay_tokio::GenerateIdentity;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Generate a node identity
//!     let secret_key = NodeIdentity::generate();
//!     let local_node = LocalNode::new_testnet(secret_key);
//!
//!     // Configure the overlay
//!     let mut config = OverlayConfig::testnet();
//!     config.known_peers.push(PeerAddress::new("core-testnet1.stellar.org", 11625));
//!
//!     // Create and start the manager
//!     let mut manager = OverlayManager::new(config, local_node)?;
//!     manager.start().await?;
//!
//!     // Subscribe to incoming messages
//!     let mut rx = manager.subscribe();
//!     while let Ok(msg) = rx.recv().await {
//!         println!("Received {:?} from {}", msg.message, msg.from_peer);
//!     }
//!
//!     Ok(())
//! }
//! ```
//!
//! # Configuration options
//!
//! Each name maps onto a stellar-core key (see [`OverlayConfig`](crate::OverlayConfig)).
//!
//! ```
//! use overlay_tokio::OverlayConfig;
//!
//! let mut config = OverlayConfig::default();
//!
//! // Connection limits
//! config.max_inbound_peers = 64;      // Max peers connecting to us
//! config.max_outbound_peers = 8;      // Max peers we connect to
//! config.target_outbound_peers = 4;   // Target number to maintain
//!
//! // Timeouts
//! config.connect_timeout_secs = 5;    // TCP connection timeout
//! config.auth_timeout_secs = 10;      // Handshake timeout
//!
//! // Network settings
//! config.listen_port = 11625;         // Standard Stellar port
//! config.listen_enabled = true;       // Accept incoming connections
//! config.network_passphrase = "Test SDF Network ; September 2015".to_string();
//!
//! // Flood control
//! config.flood_ttl_secs = 300;        // How long to remember seen messages
//! # let node = config.node_config().unwrap();
//! # assert_eq!(node.flood.max_slots_to_remember, 60);
//! # assert_eq!(node.tick_period, std::time::Duration::from_secs(11));
//! ```
//!
//! # Sending messages
//!
//! The transaction (`/* ... */` in the original) comes from a helper of this page.
//!
//! ```no_run
//! # mod example {
//! #     pub use overlay_proto::xdr::StellarMessage as Message;
//! #     /// `StellarMessage::Transaction(/* ... */)` of the original, with a sample envelope.
//! #     pub struct StellarMessage;
//! #     impl StellarMessage {
//! #         #[allow(non_snake_case)]
//! #         pub fn Transaction() -> Message {
//! #             overlay_proto::fixtures::transaction_message(1)
//! #         }
//! #     }
//! # }
//! # async fn run(manager: overlay_tokio::OverlayManager, peer_id: overlay_proto::NodeId,
//! #              message: overlay_proto::xdr::StellarMessage, ledger_seq: u32)
//! #              -> Result<(), Box<dyn std::error::Error>> {
//! use example::StellarMessage;
//!
//! // Broadcast to all peers
//! let tx_msg = StellarMessage::Transaction(/* ... */);
//! let sent_count = manager.broadcast(tx_msg).await?;
//!
//! // Send to a specific peer
//! manager.send_to(&peer_id, message).await?;
//!
//! // Request SCP state from all peers
//! manager.request_scp_state(ledger_seq).await?;
//! # let _ = sent_count;
//! # Ok(()) }
//! ```
//!
//! # Peer management
//!
//! ```no_run
//! # use overlay_tokio::PeerAddress;
//! # async fn run(manager: overlay_tokio::OverlayManager) -> Result<(), Box<dyn std::error::Error>> {
//! // Get connected peer info
//! let peers = manager.peer_infos();
//! for info in peers {
//!     println!("Peer {} at {} (v{})",
//!         info.peer_id,
//!         info.address,
//!         info.version_string
//!     );
//! }
//!
//! // Manual connection
//! let peer_id = manager.connect(&PeerAddress::new("validator.example.com", 11625)).await?;
//!
//! // Disconnect a peer
//! manager.disconnect(&peer_id).await;
//!
//! // Ban a misbehaving peer
//! manager.ban_peer(peer_id).await;
//! # Ok(()) }
//! ```
