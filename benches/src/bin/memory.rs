//! Memory of a node, as the kernel counts it (resident set size): a connected idle node, and
//! the bytes each relayed transaction keeps (Floodgate record, held bytes, application
//! records, queues) over 100,000 distinct 200-byte transactions.
//!
//! Node A runs in this process, with the defaults of `OverlayConfig` and the relay
//! application; its peer, node B, runs in a child process (this program with `peer ADDR`),
//! so that A's resident set is A's alone. B sends A distinct transactions in batches that A
//! asks for on B's standard input, at most two batches ahead of what A received.
//!
//! `cargo run --release -p overlay-benches --bin memory -- [TRANSACTIONS]` prints the
//! resident set at each step and the bytes per transaction (issue 12 targets: an idle
//! connected node at most 10 MiB, at most 350 bytes per transaction kept).

use overlay_proto::fixtures::transaction_message;
use overlay_proto::xdr::MessageType;
use overlay_proto::{Network, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Transactions asked for at a time; at most two batches are outstanding, below B's
/// outbound transaction queue limit (a full queue sheds, §6.4).
const BATCH: u64 = 250;

/// The resident set of this process, in bytes.
fn rss() -> Result<u64, Error> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn config() -> OverlayConfig {
    OverlayConfig { listen_ip: [127, 0, 0, 1].into(), listen_port: 0, ..OverlayConfig::default() }
}

/// Node B: connect to A, then send the transactions A asks for ("N" lines on stdin) until
/// stdin closes.
async fn peer(address: &str) -> Result<(), Error> {
    let b = OverlayManager::new(config(), LocalNode::generate(Network::Standalone.id()))?;
    b.start().await?;
    let a = b.connect(&address.parse::<PeerAddress>()?).await?;
    println!("connected");
    let mut next = 0u64;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(n) = line.map(|l| l.trim().parse::<u64>()) else { break };
            if tx.send(n.unwrap_or(0)).is_err() {
                break;
            }
        }
    });
    while let Some(n) = rx.recv().await {
        for _ in 0..n {
            b.send_to(&a, transaction_message(1_000_000 + next)).await?;
            next += 1;
        }
    }
    b.shutdown().await;
    Ok(())
}

async fn measure(transactions: u64) -> Result<(), Error> {
    let before = rss()?;
    let a = OverlayManager::new(config(), LocalNode::generate(Network::Standalone.id()))?;
    a.start().await?;
    let mut received = a.subscribe();
    let address = a.local_addr().ok_or("no address")?.to_string();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["peer", &address])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_b = child.stdin.take().ok_or("no stdin")?;
    let mut from_b = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    from_b.read_line(&mut line)?;
    if line.trim() != "connected" {
        return Err(format!("the peer said {line:?}").into());
    }
    while a.peer_infos().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Idle: connected, the first flow-control and SCP-state exchanges over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss()?;
    let mut seen = 0u64;
    let mut asked = 0u64;
    // A deadline for the next transaction: other messages must not keep a stalled run alive.
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen < transactions {
        if asked < transactions && asked - seen <= BATCH {
            let n = BATCH.min(transactions - asked);
            writeln!(to_b, "{n}")?;
            to_b.flush()?;
            asked += n;
        }
        let next = tokio::time::timeout_at(deadline, received.recv())
            .await
            .map_err(|_| format!("no transaction for 30 s after {seen} of {transactions}"))?;
        match next {
            Ok(m) if m.message.discriminant() == MessageType::Transaction => {
                seen += 1;
                deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                if seen % 10_000 == 0 {
                    eprint!("\r{seen} received");
                }
            }
            Ok(_) => {}
            Err(_) => return Err("node A stopped".into()),
        }
    }
    eprintln!();
    // Let the application's verdicts and the node's holding settle.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let full = rss()?;
    let sizes = a.sizes().await?;
    drop(to_b);
    let _ = child.wait();
    a.shutdown().await;
    println!("{transactions} distinct 200-byte transactions relayed to one node (defaults, relay application)");
    println!("resident set before the node          {:>8.1} MiB", mib(before));
    println!("connected idle node                   {:>8.1} MiB (target ≤ 10)", mib(idle));
    println!("after {transactions} transactions kept   {:>8.1} MiB", mib(full));
    println!("node sizes after: {sizes:?}");
    println!("bytes per transaction kept (target ≤ 350): {:.0}", (full - idle) as f64 / transactions as f64);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("peer") => peer(&args.next().ok_or("peer ADDRESS")?).await,
        first => measure(first.map(str::parse).transpose()?.unwrap_or(100_000)).await,
    }
}
