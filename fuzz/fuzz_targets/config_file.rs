#![no_main]
//! The stellar-core configuration file parser (`stellar_overlay::config_file`) fed arbitrary
//! text: parse, the derived values (HTTP address, network, identity), then `apply` onto a
//! configuration. Checks: no panic; a file `apply` accepts gives a configuration that
//! `node_config` accepts, and a node built from it starts, takes a connection, dials and
//! ticks for a minute of virtual time without a panic (a value the parser lets through
//! must not break the node later).
//!
//! Seeds: stellar-core's validator configuration from `../shared/spec` and the keys the
//! parser knows (`fuzz/dict/config_file.dict`).

use libfuzzer_sys::fuzz_target;
use overlay_auth::{HelloParams, LocalAuth, NodeIdentity};
use overlay_node::Node;
use overlay_node::discovery::MemoryStore;
use overlay_proto::{NetworkId, PeerAddress, Timestamp};
use overlay_tokio::OverlayConfig;
use std::time::Duration;
use stellar_overlay::config_file::CoreConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(core) = CoreConfig::parse(&text) else { return };
    let _ = (core.http_addr(), core.network_id(), core.identity().is_ok());
    let mut config = OverlayConfig::testnet();
    if core.apply(&mut config).is_err() {
        return;
    }
    let node_config = config.node_config().expect("a configuration apply accepted is valid");
    let network = config.network_id().unwrap_or_else(|| NetworkId::from_passphrase("x"));
    let hello = HelloParams { listening_port: node_config.peer_port, ..HelloParams::default() };
    let auth = LocalAuth::new(NodeIdentity::from_seed([1; 32]), network, [2; 32], hello);
    let mut now = Timestamp::from_secs(10);
    let unix = 1_800_000_000;
    let mut node = Node::new(node_config, auth, MemoryStore::new(), 1, now);
    node.start(now, unix);
    let _ = node.handle_inbound(now, unix, "198.51.100.7:40000".parse::<PeerAddress>().unwrap());
    let _ = node.connect(now, "198.51.100.8:11625".parse::<PeerAddress>().unwrap());
    let end = now + Duration::from_secs(60);
    for _ in 0..64 {
        while node.poll_output().is_some() {}
        match node.poll_timeout() {
            Some(t) if t <= end => {
                now = now.max(t);
                node.handle_timeout(now, unix + 10);
            }
            _ => break,
        }
    }
});
