//! End-to-end authenticated throughput between two tokio nodes on loopback TCP, beside the
//! tokio limit of PERF.md measured in the same run.
//!
//! * baseline: a tokio task writes pre-sealed 200-byte transaction frames to a loopback TCP
//!   socket in 64 KiB writes; another reads them in 64 KiB chunks and does the receive path
//!   (record mark, HMAC verify over the received bytes, XDR decode, SHA-256);
//! * ours: two `OverlayManager`s on 127.0.0.1, connected and authenticated; node A sends
//!   distinct transactions to node B with `send_many_to`, 50 at a time, from 8 tasks at
//!   once, at most 500 in flight; the time runs
//!   until B's subscriber has seen every one (flow control, MAC, decode, Floodgate and the
//!   relay application included).
//!
//! `cargo run --release -p overlay-benches --bin loopback -- [MESSAGES] [--driver tokio|mio]`
//! prints both rates and their ratio (PERF.md target: 0.7 or more). With `--driver mio` the
//! two nodes are `overlay_mio::OverlayManager`s (each an event loop on its own thread) and
//! the 8 senders are threads calling the blocking `send_many_to`; the baseline is the same
//! raw tokio reader.

use hmac::{Hmac, KeyInit};
use overlay_auth::{MacChannel, MacKeys};
use overlay_benches::{receive_path, sealed_transactions};
use overlay_proto::fixtures::transaction_message;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::xdr::{MessageType, StellarMessage};
use overlay_proto::{Network, PeerAddress};
use overlay_tokio::{LocalNode, OverlayConfig, OverlayManager};
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

const CHUNK: usize = 64 * 1024;
const SENDERS: usize = 8;
/// Messages per `send_many_to` call: one round trip to A's node for each batch.
const BATCH: usize = 50;
/// Messages in flight from A's `send_many_to` to B's subscriber: below A's transaction queue
/// limit, above the flow-control window (PEER_FLOOD_READING_CAPACITY, 200).
const WINDOW: usize = 500;
/// The run fails if no transaction arrives for this long (other messages do not count: B
/// also gets a few control and fetch messages, which must not keep a stalled run alive).
const STALL: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Messages per second through a raw tokio reader doing the receive path.
async fn baseline(messages: u64) -> Result<f64, Error> {
    let keys = MacKeys { send: [3; 32], recv: [4; 32] };
    let stream = sealed_transactions(&mut MacChannel::new(&keys), 1, messages);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let writer = tokio::spawn(async move {
        let mut socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        for chunk in stream.chunks(CHUNK) {
            socket.write_all(chunk).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let (mut socket, _) = listener.accept().await?;
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.send)?;
    let mut decoder = FrameDecoder::new();
    decoder.set_authenticated();
    let mut buf = vec![0u8; CHUNK];
    let mut seen = 0;
    let start = Instant::now();
    while seen < messages {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Err("the writer closed early".into());
        }
        decoder.feed(&buf[..n]);
        seen += receive_path(&mut decoder, &keyed);
    }
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    writer.await??;
    Ok(rate)
}

async fn node() -> Result<OverlayManager, Error> {
    let config = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        subscriber_capacity: 1 << 16,
        ..OverlayConfig::default()
    };
    let manager = OverlayManager::new(config, LocalNode::generate(Network::Standalone.id()))?;
    manager.start().await?;
    Ok(manager)
}

/// Messages per second from one `OverlayManager` to another.
async fn overlay(messages: u64) -> Result<f64, Error> {
    let a = node().await?;
    let b = node().await?;
    let mut at_b = b.subscribe();
    b.connect(&PeerAddress::from(a.local_addr().ok_or("no address")?)).await?;
    while a.peer_infos().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let b_id = b.node_id();
    let txs: Vec<StellarMessage> = (0..messages).map(|i| transaction_message(1_000_000 + i)).collect();
    let txs = Arc::new(txs);
    // `send_many_to` queues without waiting for flow control, and a full queue sheds (§6.4), so
    // the senders keep at most WINDOW messages between A's call and B's subscriber.
    let window = Arc::new(Semaphore::new(WINDOW));
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|k| {
            let (a, txs, window) = (a.clone(), txs.clone(), window.clone());
            tokio::spawn(async move {
                for batch in txs.chunks(BATCH).skip(k).step_by(SENDERS) {
                    window.acquire_many(batch.len() as u32).await.expect("open").forget();
                    a.send_many_to(&b_id, batch.to_vec()).await?;
                }
                Ok::<_, overlay_tokio::OverlayError>(())
            })
        })
        .collect();
    let mut seen = 0u64;
    let mut deadline = tokio::time::Instant::now() + STALL;
    while seen < messages {
        let next = tokio::time::timeout_at(deadline, at_b.recv()).await;
        match next.map_err(|_| format!("no transaction for {STALL:?} after {seen} of {messages}"))? {
            Ok(m) if m.message.discriminant() == MessageType::Transaction => {
                seen += 1;
                window.add_permits(1);
                deadline = tokio::time::Instant::now() + STALL;
            }
            Ok(_) => {}
            Err(overlay_tokio::Closed) => return Err("node B stopped".into()),
        }
    }
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    for s in senders {
        s.await??;
    }
    if at_b.missed() > 0 {
        return Err(format!("the subscriber missed {} messages", at_b.missed()).into());
    }
    drop(at_b);
    a.shutdown().await;
    b.shutdown().await;
    Ok(rate)
}

/// At most WINDOW messages between A's `send_many_to` and B's subscriber, for sender threads.
struct Window {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Window {
    fn acquire(&self, n: usize) {
        let mut free = self.free.lock().expect("window");
        while *free < n {
            free = self.freed.wait(free).expect("window");
        }
        *free -= n;
    }

    fn release(&self) {
        let mut free = self.free.lock().expect("window");
        *free += 1;
        // A sender waits for a whole batch: wake one when there is room for it.
        if *free >= BATCH {
            self.freed.notify_one();
        }
    }
}

fn mio_node() -> Result<overlay_mio::OverlayManager, Error> {
    let config = OverlayConfig {
        listen_ip: [127, 0, 0, 1].into(),
        listen_port: 0,
        subscriber_capacity: 1 << 16,
        ..OverlayConfig::default()
    };
    let manager = overlay_mio::OverlayManager::new(config, LocalNode::generate(Network::Standalone.id()))?;
    manager.start()?;
    Ok(manager)
}

/// Messages per second from one mio-driven node to another, as [`overlay`] measures them.
fn mio_overlay(messages: u64) -> Result<f64, Error> {
    let a = mio_node()?;
    let b = mio_node()?;
    let at_b = b.subscribe();
    b.connect(&PeerAddress::from(a.local_addr().ok_or("no address")?))?;
    let events = a.events();
    while a.peer_infos().is_empty() {
        // Each event (the connection's first) is a reason to look again.
        let _ = events.try_recv().or_else(|| events.recv_timeout(Duration::from_millis(5)).ok());
    }
    drop(events);
    let b_id = b.node_id();
    let txs: Arc<Vec<StellarMessage>> = Arc::new((0..messages).map(|i| transaction_message(1_000_000 + i)).collect());
    let window = Arc::new(Window { free: std::sync::Mutex::new(WINDOW), freed: std::sync::Condvar::new() });
    let start = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|k| {
            let (a, txs, window) = (a.clone(), txs.clone(), window.clone());
            std::thread::spawn(move || {
                for batch in txs.chunks(BATCH).skip(k).step_by(SENDERS) {
                    window.acquire(batch.len());
                    a.send_many_to(&b_id, batch.to_vec())?;
                }
                Ok::<_, overlay_tokio::OverlayError>(())
            })
        })
        .collect();
    let mut seen = 0u64;
    let mut deadline = Instant::now() + STALL;
    while seen < messages {
        let left = deadline.saturating_duration_since(Instant::now());
        let m =
            at_b.recv_timeout(left).map_err(|_| format!("no transaction for {STALL:?} after {seen} of {messages}"))?;
        if m.message.discriminant() == MessageType::Transaction {
            seen += 1;
            window.release();
            deadline = Instant::now() + STALL;
        }
    }
    let rate = messages as f64 / start.elapsed().as_secs_f64();
    for s in senders {
        s.join().map_err(|_| "a sender panicked")??;
    }
    if at_b.missed() > 0 {
        return Err(format!("the subscriber missed {} messages", at_b.missed()).into());
    }
    drop(at_b);
    a.shutdown();
    b.shutdown();
    Ok(rate)
}

/// `[MESSAGES] [--driver tokio|mio]`.
fn arguments() -> Result<(u64, String), Error> {
    let (mut messages, mut driver) = (50_000, "tokio".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--driver" => driver = args.next().ok_or("--driver needs tokio or mio")?,
            n => messages = n.parse()?,
        }
    }
    if driver != "tokio" && driver != "mio" {
        return Err(format!("--driver {driver}: tokio or mio").into());
    }
    Ok((messages, driver))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (messages, driver) = arguments()?;
    let base = baseline(messages).await?;
    let ours = match driver.as_str() {
        "mio" => tokio::task::spawn_blocking(move || mio_overlay(messages)).await??,
        _ => overlay(messages).await?,
    };
    println!("{messages} 200-byte transactions over loopback TCP");
    println!("baseline: raw tokio reader, receive path   {:>10.0} msg/s", base);
    println!("two {driver} OverlayManagers, send_many_to → subscriber  {:>10.0} msg/s", ours);
    println!("ratio (target 0.7): {:.2}", ours / base);
    Ok(())
}
