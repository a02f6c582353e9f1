//! Nodes on 127.0.0.1 for the tests, and waits bounded by [`WAIT`].

#![allow(dead_code)]

use overlay_auth::NodeIdentity;
use overlay_mio::{Events, LocalNode, OverlayConfig, OverlayEvent, OverlayManager};
use overlay_proto::{Network, PeerAddress};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Upper bound on any single wait in these tests; a correct run never comes near it.
pub const WAIT: Duration = Duration::from_secs(20);

pub const NET: Network = Network::Standalone;

/// A node on 127.0.0.1 (a free port), dialing only what it is told to (standalone), with
/// `known` as known peers and the peer database `database` (memory if `None`).
pub fn config(known: &[SocketAddr], database: Option<PathBuf>) -> OverlayConfig {
    let mut c = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        known_peers: known.iter().map(|a| PeerAddress::from(*a)).collect(),
        database,
        ..OverlayConfig::default()
    };
    c.listen_port = 0;
    c.allow_localhost_for_testing = true;
    c.auth_timeout_secs = 1;
    c.first_tick_delay = Duration::from_millis(100);
    c
}

pub fn local(seed: u8) -> LocalNode {
    LocalNode::new(NodeIdentity::from_seed([seed; 32]), NET.id())
}

/// A started node with its event feed (opened before start, so no event is missed).
pub fn start(seed: u8, config: OverlayConfig) -> (OverlayManager, Events) {
    let m = OverlayManager::new(config, local(seed)).unwrap();
    let events = m.events();
    m.start().unwrap();
    (m, events)
}

/// The next event matching `pred`, others skipped; panics after [`WAIT`].
pub fn expect_event(events: &Events, what: &str, pred: impl Fn(&OverlayEvent) -> bool) -> OverlayEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if pred(&e) => return e,
            Ok(_) => {}
            Err(e) => panic!("no {what}: {e}"),
        }
    }
}

/// Wait until `check` holds, looking again at every event of `events` (or every 50 ms
/// without one); panics after [`WAIT`].
pub fn wait_until(events: &Events, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        let _ = events.recv_timeout(Duration::from_millis(50));
    }
}

pub fn temp_db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("overlay-mio-{}-{name}.db", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}
