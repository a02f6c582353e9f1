//! A relay under load, on loopback: one node R with 8 authenticated peers, transactions
//! arriving from 4 of them by pull mode and advertised to the other 4, while one peer
//! broadcasts an SCP envelope every 50 ms through R.
//!
//! Reports the sustained rate of transactions R relays (received by each of the 4 far
//! peers, per second), the process's CPU time per relayed transaction (all 9 nodes share
//! this process and its 2 cores, so it bounds R's own cost from above), and the propagation
//! of SCP envelopes from the sending peer through R to the far peers, idle and under load
//! (issue 12: SCP p99 under load at most 1.1 × idle; stellar-core issue 2441).
//!
//! Every node runs the in-memory application (every transaction accepted, every envelope
//! ready), so that unsigned test envelopes flood, on a ledger whose tx sets hold 250,000
//! operations (the limit sizes pull mode's adverts, demands and queues).
//!
//! Pull mode caps each link: a node demands at most 1,000 hashes (the XDR bound of
//! FLOOD_DEMAND) from a peer per demand period, 200 ms by default (§9.3), so a far peer whose
//! only peer is R receives at most 5,000 transactions a second. The second argument sets the
//! demand period of every node, to measure R beyond that cap.
//!
//! `cargo run --release -p overlay-benches --bin relay -- [LOAD_SECONDS] [DEMAND_PERIOD_MS]`

use overlay_node::{LedgerState, MemoryApp};
use overlay_proto::fixtures::{scp_message, transaction_message};
use overlay_proto::xdr::{Limits, MessageType, StellarMessage, WriteXdr};
use overlay_proto::{Hash256, Network, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager, Subscription};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Transactions broadcast and not yet received by the slowest far peer, at most.
const WINDOW: u64 = 40_000;
/// The ledger's tx-set limit, in operations.
const TX_SET_OPS: u32 = 250_000;
/// An SCP envelope this often.
const SCP_EVERY: Duration = Duration::from_millis(50);

fn config(demand_period_ms: u64) -> OverlayConfig {
    let mut c = OverlayConfig { listen_ip: [127, 0, 0, 1].into(), listen_port: 0, ..OverlayConfig::default() };
    c.flood.flood_demand_period_ms = demand_period_ms;
    c
}

async fn node(demand_period_ms: u64) -> Result<OverlayManager, Error> {
    let app = Box::new(MemoryApp::default());
    let m =
        OverlayManager::with_application(config(demand_period_ms), LocalNode::generate(Network::Standalone.id()), app)?;
    m.start().await?;
    // A ledger of pubnet's size and more: the tx-set limit sizes adverts, demands and the
    // outbound transaction queues (the genesis ledger's 100 operations would cap the rate).
    m.ledger_closed(LedgerState { max_tx_set_size_ops: TX_SET_OPS, ..LedgerState::GENESIS }).await?;
    Ok(m)
}

fn key(m: &StellarMessage) -> Hash256 {
    Hash256::sha256(&m.to_xdr(Limits::none()).unwrap_or_default())
}

/// CPU seconds of this process (user + system).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Counts a far peer's transactions and measures its SCP envelopes' latency.
fn watch(
    mut sub: Subscription,
    txs: Arc<AtomicU64>,
    sent: Arc<Mutex<HashMap<Hash256, Instant>>>,
    latencies: Arc<Mutex<Vec<(Instant, f64)>>>,
) {
    tokio::spawn(async move {
        while let Ok(m) = sub.recv().await {
            match m.message.discriminant() {
                MessageType::Transaction => {
                    txs.fetch_add(1, Ordering::Relaxed);
                }
                MessageType::ScpMessage => {
                    let at = sent.lock().expect("sent").get(&key(&m.message)).copied();
                    if let Some(at) = at {
                        latencies.lock().expect("latencies").push((at, at.elapsed().as_secs_f64() * 1e3));
                    }
                }
                _ => {}
            }
        }
    });
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let load_secs: u64 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let demand_ms: u64 = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let relay = node(demand_ms).await?;
    let addr = PeerAddress::from(relay.local_addr().ok_or("no address")?);
    let mut peers = Vec::new();
    for _ in 0..8 {
        let p = node(demand_ms).await?;
        p.connect(&addr).await?;
        peers.push(p);
    }
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let far_counts: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for (p, count) in peers[4..].iter().zip(&far_counts) {
        watch(p.subscribe(), count.clone(), sent.clone(), latencies.clone());
    }
    // SCP envelopes from peer 0, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let scp = {
        let (p0, sent, stop) = (peers[0].clone(), sent.clone(), stop.clone());
        let id = p0.node_id();
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let m = scp_message(id, 2, n);
                sent.lock().expect("sent").insert(key(&m), Instant::now());
                let _ = p0.broadcast(m).await;
                n += 1;
                tokio::time::sleep(SCP_EVERY).await;
            }
        })
    };
    // Idle: SCP only.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let load_start = Instant::now();
    let slowest = {
        let far = far_counts.clone();
        move || far.iter().map(|c| c.load(Ordering::Relaxed)).min().unwrap_or(0)
    };
    let broadcast = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..4)
        .map(|k| {
            let (p, broadcast, stop, slowest) = (peers[k].clone(), broadcast.clone(), stop.clone(), slowest.clone());
            tokio::spawn(async move {
                let mut n = k as u64;
                while !stop.load(Ordering::Relaxed) {
                    if broadcast.load(Ordering::Relaxed) >= slowest() + WINDOW {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    let _ = p.broadcast(transaction_message(1_000_000 + n)).await;
                    broadcast.fetch_add(1, Ordering::Relaxed);
                    n += 4;
                }
            })
        })
        .collect();
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c0, r0, t0) = (cpu_seconds(), slowest(), Instant::now());
    tokio::time::sleep(Duration::from_secs(load_secs)).await;
    let (c1, r1, t1) = (cpu_seconds(), slowest(), Instant::now());
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        let _ = s.await;
    }
    let _ = scp.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rate = (r1 - r0) as f64 / (t1 - t0).as_secs_f64();
    let cpu_us = (c1 - c0) * 1e6 / ((r1 - r0).max(1) as f64);
    let lat = latencies.lock().expect("latencies").clone();
    let mut idle: Vec<f64> = lat.iter().filter(|(at, _)| *at < load_start).map(|(_, ms)| *ms).collect();
    let mut load: Vec<f64> =
        lat.iter().filter(|(at, _)| *at >= load_start + Duration::from_secs(2)).map(|(_, ms)| *ms).collect();
    idle.sort_by(f64::total_cmp);
    load.sort_by(f64::total_cmp);
    println!(
        "relay R with 8 peers on 127.0.0.1: transactions from 4 by pull mode, advertised to 4; demand period {demand_ms} ms; {load_secs} s measured"
    );
    println!("relayed transactions per second (each far peer)   {rate:>10.0}");
    println!("process CPU per relayed transaction (9 nodes)     {cpu_us:>10.1} µs");
    for (name, v) in [("idle", &idle), ("under load", &load)] {
        println!(
            "SCP through R, {name:<10}  p50 {:>7.2} ms  p99 {:>7.2} ms  (n = {})",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.len()
        );
    }
    println!("SCP p99 ratio (target ≤ 1.1): {:.2}", percentile(&load, 0.99) / percentile(&idle, 0.99).max(1e-9));
    relay.shutdown().await;
    for p in peers {
        p.shutdown().await;
    }
    Ok(())
}
