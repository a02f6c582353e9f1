//! The whole node (overlay-node) against the limits of PERF.md, each beside its baseline
//! measured in the same run:
//!
//! * receive pipeline: 200-byte transactions fed to a node in 64 KiB reads (framing, MAC,
//!   decode, flow accounting, flood hash, Floodgate, the in-memory application, the
//!   SEND_MORE_EXTENDED it answers with), beside the receive-path limit: record mark + HMAC
//!   verify over the received bytes + XDR decode + SHA-256 of the same frames;
//! * send to N peers: an SCP envelope broadcast by a node to 8 authenticated peers, beside
//!   the per-peer limit: encode once, then MAC and frame per peer.

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit};
use overlay_auth::{Handshake, HelloParams, LocalAuth, MacChannel, MacKeys, NodeIdentity, OpenPolicy, Progress};
use overlay_benches::{receive_path, sealed_transactions};
use overlay_node::app::{AppInput, Application, Delivery, TxVerdict};
use overlay_node::discovery::MemoryStore;
use overlay_node::harness::Harness;
use overlay_node::{ConnId, LedgerState, Node, NodeConfig, Opened, Output, PeerWriter, Relay, RelayConfig};
use overlay_proto::fixtures::scp_message;
use overlay_proto::frame::FrameDecoder;
use overlay_proto::wire::encode_message;
use overlay_proto::xdr::{SendMoreExtended, StellarMessage};
use overlay_proto::{Network, PeerAddress, Timestamp};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

const NOW_UNIX: u64 = 1_800_000_000;
const READ_CHUNK: usize = 64 * 1024;
const MESSAGES: usize = 4096;

/// An application that keeps nothing: every transaction is a duplicate to it, so the node
/// neither holds nor floods it. The receive pipeline of the overlay alone.
struct NullApp(Vec<AppInput>);

impl Application for NullApp {
    fn handle_delivery(&mut self, _: Timestamp, d: Delivery) {
        if let Delivery::Transaction(t) = d {
            self.0.push(AppInput::TxVerdict { hash: t.hash, verdict: TxVerdict::Duplicate });
        }
    }
    fn poll_input(&mut self) -> Option<AppInput> {
        self.0.pop()
    }
}

fn now() -> Timestamp {
    Timestamp::from_secs(100)
}

fn node() -> Node {
    let config =
        NodeConfig { max_additional_peer_connections: Some(64), ledger: LedgerState::relay(), ..Harness::config() };
    let auth = LocalAuth::new(
        NodeIdentity::from_seed([1; 32]),
        Network::Standalone.id(),
        [2; 32],
        HelloParams { listening_port: config.peer_port, ..HelloParams::default() },
    );
    let mut n = Node::new(config, auth, MemoryStore::default(), 7, now());
    n.start(now(), NOW_UNIX);
    n
}

/// Drain the node's outputs, handing deliveries to `app` and its answers back (inline, as
/// the simulator runs it).
fn pump(n: &mut Node, app: &mut dyn Application) {
    loop {
        let mut moved = false;
        while let Some(o) = n.poll_output() {
            moved = true;
            match o {
                Output::Deliver(d) => app.handle_delivery(now(), d),
                other => {
                    black_box(other);
                }
            }
        }
        while let Some(i) = app.poll_input() {
            moved = true;
            let _ = n.handle_app(now(), i);
        }
        if !moved {
            return;
        }
    }
}

/// Split whole frames out of `bytes`; returns their bodies.
fn bodies(decoder: &mut FrameDecoder, bytes: &[u8]) -> Vec<Vec<u8>> {
    decoder.feed(bytes);
    std::iter::from_fn(|| decoder.next_frame().unwrap().map(<[u8]>::to_vec)).collect()
}

/// Everything the node wants written on `conn`, frame bodies, split.
fn drain_to(node: &mut Node, conn: ConnId, decoder: &mut FrameDecoder) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(o) = node.poll_output() {
        if let Output::Transmit { conn: c, bytes } = o {
            if c == conn {
                out.extend(bodies(decoder, &bytes));
            }
        }
    }
    out
}

/// A remote peer `k` dials the node and completes the handshake; returns the connection
/// at the node and the remote's channel.
fn attach_remote(node: &mut Node, k: u8) -> (ConnId, MacChannel) {
    let mut local = LocalAuth::new(
        NodeIdentity::from_seed([10 + k; 32]),
        Network::Standalone.id(),
        [100 + k; 32],
        HelloParams { listening_port: 11625, ..HelloParams::default() },
    );
    let mut hs: Handshake = local.initiate(NOW_UNIX, [k; 32]);
    let address: PeerAddress = format!("10.1.0.{}:40000", k + 1).parse().unwrap();
    let conn = node.handle_inbound(now(), NOW_UNIX, address).expect("a pending slot");
    let mut decoder = FrameDecoder::new();
    decoder.set_authenticated();
    loop {
        while let Some(frame) = hs.poll_transmit() {
            node.handle_bytes(now(), NOW_UNIX, conn, &frame);
        }
        for body in drain_to(node, conn, &mut decoder) {
            if let Progress::Established(e) = hs.handle_frame(&body, NOW_UNIX, &OpenPolicy).unwrap() {
                while let Some(frame) = hs.poll_transmit() {
                    node.handle_bytes(now(), NOW_UNIX, conn, &frame);
                }
                return (conn, e.channel);
            }
        }
    }
}

/// The receive-path limit over `stream`, read in 64 KiB chunks.
fn baseline_receive(stream: &[u8], keyed: &Hmac<Sha256>) -> u64 {
    let mut decoder = FrameDecoder::new();
    decoder.set_authenticated();
    stream
        .chunks(READ_CHUNK)
        .map(|chunk| {
            decoder.feed(chunk);
            receive_path(&mut decoder, keyed)
        })
        .sum()
}

fn receive_pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("receive_pipeline_200B_tx");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.sample_size(20);

    let keys = MacKeys { send: [3; 32], recv: [4; 32] };
    let stream = sealed_transactions(&mut MacChannel::new(&keys), 1, MESSAGES as u64);
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.send).unwrap();
    g.bench_function("baseline_receive_path", |b| b.iter(|| black_box(baseline_receive(&stream, &keyed))));

    let (every, share) = (Timing::Everything, Timing::NodeShare);
    steady_state(&mut g, "node_null_app", &mut NullApp(Vec::new()), false, every);
    let relay = || Relay::new(RelayConfig::new(Network::Standalone.id()));
    steady_state(&mut g, "node_relay_app", &mut relay(), false, every);
    // Ledgers close every 4096 transactions (a busy network's 5 s): the Floodgate and the
    // held transactions are cleared below the window instead of evicting at their bounds.
    steady_state(&mut g, "node_relay_app_ledger_closes", &mut relay(), true, every);
    // The node loop's share when the driver opens frames on the connection's task.
    steady_state(&mut g, "node_null_app_node_share", &mut NullApp(Vec::new()), false, share);
    steady_state(&mut g, "node_relay_app_ledger_closes_node_share", &mut relay(), true, share);
    g.finish();
}

/// What a receive-pipeline iteration times.
#[derive(Clone, Copy, PartialEq)]
enum Timing {
    /// Bytes in, everything on this thread: framing, MAC, decoding, hashing and the node.
    Everything,
    /// The peer's reader is taken out and opens the frames outside the timing; only the
    /// node's handling of the opened messages is timed (what is left on the node's loop when
    /// a driver reads on the connections' tasks).
    NodeShare,
}

/// Feed `MESSAGES` new transactions per iteration to one node over one connection, kept for
/// the whole run as in a long-lived session, with `app` answering inline. Without ledger
/// closes the Floodgate and the held transactions fill up to their bounds and then evict;
/// with them (`closes`), a ledger closes after every iteration. Sealing is outside the
/// timing; the ledger close is inside.
fn steady_state(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    app: &mut dyn Application,
    closes: bool,
    timing: Timing,
) {
    let mut n = node();
    let (conn, mut channel) = attach_remote(&mut n, 1);
    pump(&mut n, app);
    let mut reader = (timing == Timing::NodeShare).then(|| n.take_reader(conn).expect("an admitted peer"));
    let mut next_tx = 1u64;
    let mut ledger = LedgerState::relay();
    let mut batch = |n: &mut Node, app: &mut dyn Application| {
        let stream = sealed_transactions(&mut channel, next_tx, MESSAGES as u64);
        next_tx += MESSAGES as u64;
        let accepted = n.counters().flood_unique_recv;
        let opened: Vec<Vec<Opened>> = match reader.as_mut() {
            Some(r) => stream
                .chunks(READ_CHUNK)
                .map(|chunk| {
                    let mut out = Vec::new();
                    r.read(chunk, &mut out).expect("frames we sealed");
                    out
                })
                .collect(),
            None => Vec::new(),
        };
        let start = Instant::now();
        if opened.is_empty() {
            for chunk in stream.chunks(READ_CHUNK) {
                n.handle_bytes(now(), NOW_UNIX, conn, chunk);
                pump(n, app);
            }
        }
        for read in opened {
            n.handle_read(now(), NOW_UNIX, conn, read, Ok(()));
            pump(n, app);
        }
        if closes {
            ledger.tracking_ledger += 1;
            let _ = n.handle_app(now(), AppInput::Ledger(ledger));
            pump(n, app);
        }
        let took = start.elapsed();
        assert_eq!(n.counters().flood_unique_recv - accepted, MESSAGES as u64, "every transaction is new");
        took
    };
    // Measured at the steady state: the Floodgate and the held transactions at their bounds
    // (or, with ledger closes, at the window's twelve ledgers), whatever the number of
    // iterations criterion chooses.
    for _ in 0..WARM_BATCHES {
        batch(&mut n, app);
    }
    g.bench_function(name, |b| b.iter_custom(|iters| (0..iters).map(|_| batch(&mut n, app)).sum()));
}

/// Batches fed before measuring: more than the Floodgate's 200,000 records.
const WARM_BATCHES: usize = 200_000 / MESSAGES + 2;

const PEERS: u8 = 8;
const BROADCASTS: usize = 1000;

fn send_to_peers(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_scp_to_8_peers");
    g.throughput(Throughput::Elements(BROADCASTS as u64 * u64::from(PEERS)));
    g.sample_size(20);
    let envelopes: Vec<StellarMessage> =
        (0..BROADCASTS).map(|i| scp_message(NodeIdentity::from_seed([1; 32]).node_id(), 5, i as u64)).collect();

    let mut channels: Vec<MacChannel> =
        (0..PEERS).map(|k| MacChannel::new(&MacKeys { send: [k; 32], recv: [k + 1; 32] })).collect();
    let mut out = Vec::with_capacity(1 << 20);
    g.bench_function("baseline_encode_once_mac_per_peer", |b| {
        b.iter(|| {
            for env in &envelopes {
                let xdr = encode_message(env).unwrap();
                out.clear();
                for ch in &mut channels {
                    ch.seal_xdr(&xdr, &mut out);
                }
                black_box(&out);
            }
        })
    });

    // The node seals every frame itself.
    g.bench_function("node_broadcast", |b| {
        b.iter_batched(
            || granted_node(&envelopes, false),
            |(n, envelopes, _)| broadcast_all(n, envelopes, None),
            BatchSize::PerIteration,
        )
    });
    // The connections' writers were taken: the node writes unsealed frames and each
    // connection's `PeerWriter` seals them, here on the same thread (the same total work).
    g.bench_function("node_broadcast_sealed_by_writers", |b| {
        b.iter_batched(
            || granted_node(&envelopes, true),
            |(n, envelopes, mut writers)| broadcast_all(n, envelopes, Some(&mut writers)),
            BatchSize::PerIteration,
        )
    });
    // The same, without the sealing: the node loop's own share, what is left on its thread
    // when a driver seals on the connections' tasks.
    g.bench_function("node_broadcast_node_share", |b| {
        b.iter_batched(
            || granted_node(&envelopes, true),
            |(n, envelopes, _)| broadcast_all(n, envelopes, None),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// A node with PEERS admitted peers, each granting enough for the whole run; with
/// `take_writers`, the peers' writers taken out.
fn granted_node(
    envelopes: &[StellarMessage],
    take_writers: bool,
) -> (Node, Vec<StellarMessage>, BTreeMap<ConnId, PeerWriter>) {
    let mut n = node();
    let mut conns = Vec::new();
    for k in 0..PEERS {
        let (conn, mut channel) = attach_remote(&mut n, k);
        let grant = StellarMessage::SendMoreExtended(SendMoreExtended { num_messages: 1_000_000, num_bytes: 1 << 30 });
        let mut frame = Vec::new();
        channel.seal(&grant, &mut frame).unwrap();
        n.handle_bytes(now(), NOW_UNIX, conn, &frame);
        conns.push(conn);
    }
    while n.poll_output().is_some() {}
    let writers = match take_writers {
        true => conns.iter().map(|&c| (c, n.take_writer(c).expect("admitted and drained"))).collect(),
        false => BTreeMap::new(),
    };
    (n, envelopes.to_vec(), writers)
}

/// Broadcast every envelope and take the node's outputs, sealing them with `writers` if given.
fn broadcast_all(
    mut n: Node,
    envelopes: Vec<StellarMessage>,
    mut writers: Option<&mut BTreeMap<ConnId, PeerWriter>>,
) -> Node {
    let mut bytes = 0;
    for env in envelopes {
        assert_eq!(n.broadcast(now(), env).unwrap(), usize::from(PEERS));
        while let Some(o) = n.poll_output() {
            if let Output::Transmit { conn, bytes: mut b } = o {
                if let Some(w) = writers.as_deref_mut().and_then(|w| w.get_mut(&conn)) {
                    w.seal(&mut b).unwrap();
                }
                bytes += b.len();
            }
        }
    }
    black_box(bytes);
    n
}

criterion_group!(benches, receive_pipeline, send_to_peers);
criterion_main!(benches);
