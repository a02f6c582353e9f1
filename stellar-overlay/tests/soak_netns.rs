//! A soak on a real network of hosts: Linux network namespaces joined by a bridge, each
//! with its own address in 203.0.113.0/24 (TEST-NET-3, which PEERS does not filter, §10.4),
//! one `stellar-overlay node` in each. The nodes know only the first one (the seed) and find
//! each other through PEERS; transactions are flooded from several of them while random
//! nodes are killed (SIGKILL) and restarted on their database.
//!
//! Checks, and a printed report:
//! - every transaction reaches every node that was up from a little before it was submitted
//!   until a little after (`SOAK_WARMUP_SECS` to connect after a start, `SOAK_GRACE_SECS` to
//!   propagate);
//! - no node's RSS, sampled every second, exceeds `SOAK_RSS_MAX_MB`;
//! - every peer database opens after the kills and at the end (`stellar-overlay peers`),
//!   and holds only addresses of this network, never the node's own.
//!
//! The node's `message` events carry the XDR size of each message, not its hash, so every
//! transaction is built with a size of its own (manage-data operations whose lengths add up
//! to a distinct multiple of four bytes) and recognised by it.
//!
//! Needs root and iproute2 (`ip netns`, veth, bridge); ignored by `cargo test`. Run it with
//! `scripts/soak-netns` (20 nodes, 10 minutes) or `scripts/soak-netns --ci` (6 nodes, 60 s).
//! Settings: `SOAK_NODES`, `SOAK_SECONDS`, `SOAK_SENDERS`, `SOAK_TX_PER_SEC`,
//! `SOAK_KILL_EVERY_SECS`, `SOAK_RSS_MAX_MB`, `SOAK_SEED`, `SOAK_DIR` (logs and databases),
//! `SOAK_REPORT` (the report as JSON). The nodes' drivers alternate over
//! `STELLAR_OVERLAY_DRIVERS` (tokio and mio by default), so both drivers soak together.
//!
//! The kernel of the machine this was written on has no `sch_netem`; with it (the
//! `linux-modules-extra` package on Debian and Ubuntu, `kernel-modules-extra` on Fedora),
//! `ip netns exec soak-nI tc qdisc add dev eI root netem delay 50ms 10ms loss 1%` adds delay
//! and loss to node I's link.

mod common;

use overlay_auth::NodeIdentity;
use overlay_proto::xdr::{
    DataValue, Limits, ManageDataOp, Memo, MuxedAccount, Operation, OperationBody, Preconditions, SequenceNumber,
    StellarMessage, String64, Transaction, TransactionEnvelope, TransactionExt, TransactionV1Envelope, Uint256,
    WriteXdr,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stellar-overlay");
const PREFIX: &str = "soak";
/// The client namespace (submitters) has this host number.
const CLIENT_HOST: usize = 250;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Settings {
    nodes: usize,
    seconds: u64,
    senders: usize,
    tx_per_sec: f64,
    kill_every: u64,
    warmup: u64,
    grace: u64,
    rss_max_mb: u64,
    seed: u64,
    dir: PathBuf,
}

impl Settings {
    fn from_env() -> Settings {
        let nodes: usize = env("SOAK_NODES", 20);
        let seconds: u64 = env("SOAK_SECONDS", 600);
        let short = seconds < 180;
        Settings {
            nodes: nodes.clamp(2, 200),
            seconds,
            senders: env("SOAK_SENDERS", 3usize).clamp(1, nodes),
            tx_per_sec: env("SOAK_TX_PER_SEC", 1.5),
            kill_every: env("SOAK_KILL_EVERY_SECS", if short { 12 } else { 20 }),
            warmup: env("SOAK_WARMUP_SECS", if short { 8 } else { 15 }),
            grace: env("SOAK_GRACE_SECS", if short { 10 } else { 20 }),
            rss_max_mb: env("SOAK_RSS_MAX_MB", 64),
            seed: env("SOAK_SEED", 1),
            dir: std::env::var("SOAK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| std::env::temp_dir().join(format!("soak-{}", std::process::id()))),
        }
    }
}

fn lock(n: &Arc<Mutex<Node>>) -> std::sync::MutexGuard<'_, Node> {
    n.lock().unwrap_or_else(|e| e.into_inner())
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn sh(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

fn ns(i: usize) -> String {
    format!("{PREFIX}-n{i}")
}

fn ip_of(i: usize) -> String {
    format!("203.0.113.{}", i + 1)
}

/// The namespaces, the bridge and the veth pairs; removed on drop.
struct Network {
    names: Vec<String>,
}

impl Network {
    fn remove_leftovers() {
        let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            if name.starts_with(&format!("{PREFIX}-")) {
                let _ = Command::new("ip").args(["netns", "del", name]).status();
            }
        }
    }

    fn create(nodes: usize) -> Network {
        Network::remove_leftovers();
        let sw = format!("{PREFIX}-sw");
        sh(&["netns", "add", &sw]);
        let mut net = Network { names: vec![sw.clone()] };
        sh(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        sh(&["-n", &sw, "link", "set", "br0", "up"]);
        let hosts: Vec<(String, usize)> =
            (0..nodes).map(|i| (ns(i), i)).chain([(format!("{PREFIX}-cl"), CLIENT_HOST - 1)]).collect();
        for (name, host) in hosts {
            sh(&["netns", "add", &name]);
            net.names.push(name.clone());
            let (b, e) = (format!("b{host}"), format!("e{host}"));
            sh(&["-n", &sw, "link", "add", &b, "type", "veth", "peer", "name", &e, "netns", &name]);
            sh(&["-n", &sw, "link", "set", &b, "master", "br0", "up"]);
            sh(&["-n", &name, "addr", "add", &format!("{}/24", ip_of(host)), "dev", &e]);
            sh(&["-n", &name, "link", "set", &e, "up"]);
            sh(&["-n", &name, "link", "set", "lo", "up"]);
        }
        net
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for n in self.names.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// What one node printed, with the soak time of each line.
#[derive(Default)]
struct NodeLog {
    /// (soak seconds, StellarMessage XDR size) of every TRANSACTION received.
    transactions: Vec<(f64, u64)>,
    connected: u64,
    disconnected: u64,
    /// Authenticated peers now (connected minus disconnected of this run).
    peers_now: i64,
}

/// One run of one node.
struct Run {
    child: Child,
    start: f64,
}

struct Node {
    index: usize,
    secret: String,
    db: PathBuf,
    log: Arc<Mutex<NodeLog>>,
    run: Option<Run>,
    /// (start, end) of every finished run, in soak seconds.
    segments: Vec<(f64, f64)>,
    rss_max_kb: u64,
    restarts: u64,
}

impl Node {
    fn start(&mut self, t0: Instant, nodes: usize, dir: &Path) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns(self.index), BIN, "node", "--driver", &common::driver_for(self.index)])
            .args(["--listen", &format!("{}:11625", ip_of(self.index))])
            .args(["--network", "standalone", "--log-format", "json", "--secret-key", &self.secret])
            .arg("--database")
            .arg(&self.db);
        if self.index != 0 {
            cmd.args(["--connect", &format!("{}:11625", ip_of(0))]);
        }
        let _ = nodes;
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("n{}.stderr", self.index)))
            .expect("a log file");
        let mut child = cmd.stdout(Stdio::piped()).stderr(err).spawn().expect("spawn a node");
        let stdout = child.stdout.take().expect("stdout");
        let (log, start) = (self.log.clone(), t0.elapsed().as_secs_f64());
        let mut raw = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("n{}.jsonl", self.index)))
            .expect("a log file");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let t = t0.elapsed().as_secs_f64();
                let _ = writeln!(raw, "{t:.3} {line}");
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
                match v["event"].as_str() {
                    Some("message") if v["type"] == "TRANSACTION" => {
                        if let Some(b) = v["bytes"].as_u64() {
                            l.transactions.push((t, b));
                        }
                    }
                    Some("connected") => {
                        l.connected += 1;
                        l.peers_now += 1;
                    }
                    Some("disconnected") if !v["peer"].is_null() => {
                        l.disconnected += 1;
                        l.peers_now -= 1;
                    }
                    _ => {}
                }
            }
        });
        self.log.lock().unwrap_or_else(|e| e.into_inner()).peers_now = 0;
        self.run = Some(Run { child, start });
    }

    fn kill(&mut self, t0: Instant) {
        if let Some(mut r) = self.run.take() {
            let _ = r.child.kill();
            let _ = r.child.wait();
            self.segments.push((r.start, t0.elapsed().as_secs_f64()));
        }
    }

    fn pid(&self) -> Option<u32> {
        self.run.as_ref().map(|r| r.child.id())
    }

    fn sample_rss(&mut self) {
        let Some(pid) = self.pid() else { return };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
        let kb = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.rss_max_kb = self.rss_max_kb.max(kb);
    }

    /// Whether it was up over the whole of `[from, to]`.
    fn up_during(&self, from: f64, to: f64) -> Option<(f64, f64)> {
        self.segments.iter().copied().find(|&(s, e)| s <= from && e >= to)
    }
}

/// Transaction `j`: manage-data operations whose lengths make its StellarMessage XDR
/// exactly 4·j bytes longer than transaction 0's, so that its size names it.
fn transaction(j: usize) -> TransactionEnvelope {
    const FULL_UNITS: usize = 37; // a 64-byte name and a 64-byte value: 148 bytes
    let (full, t) = (j / FULL_UNITS, j % FULL_UNITS);
    let name_extra = t.min(15);
    let value_extra = (t - name_extra).min(17);
    let memo_extra = t - name_extra - value_extra;
    let op = |name_units: usize, value_units: usize| Operation {
        source_account: None,
        body: OperationBody::ManageData(ManageDataOp {
            data_name: String64(vec![b'a'; 4 * name_units].try_into().expect("at most 64 bytes")),
            // 0: none; 1: an empty value; n: 4·(n−1) bytes.
            data_value: (value_units > 0)
                .then(|| DataValue(vec![b'v'; 4 * (value_units - 1)].try_into().expect("at most 64 bytes"))),
        }),
    };
    let mut ops: Vec<Operation> = (0..full).map(|_| op(16, 17)).collect();
    ops.push(op(1 + name_extra, value_extra));
    let memo = match memo_extra {
        0 => Memo::None,
        m => Memo::Text(vec![b'm'; 4 * (m - 1)].try_into().expect("at most 28 bytes")),
    };
    let mut source = [0u8; 32];
    source[..8].copy_from_slice(&(j as u64).to_be_bytes());
    let n = ops.len() as u32;
    TransactionEnvelope::Tx(TransactionV1Envelope {
        tx: Transaction {
            source_account: MuxedAccount::Ed25519(Uint256(source)),
            fee: 100 * n,
            seq_num: SequenceNumber(j as i64 + 1),
            cond: Preconditions::None,
            memo,
            operations: ops.try_into().expect("at most 100 operations"),
            ext: TransactionExt::V0,
        },
        signatures: Default::default(),
    })
}

fn message_size(env: &TransactionEnvelope) -> u64 {
    StellarMessage::Transaction(env.clone()).to_xdr(Limits::none()).map(|x| x.len() as u64).unwrap_or(0)
}

/// A submitted transaction.
struct Submitted {
    index: usize,
    size: u64,
    at: f64,
    via: usize,
    pulled: bool,
}

/// `stellar-overlay submit-tx` from the client namespace to node `via`.
fn submit(env: &TransactionEnvelope, via: usize) -> bool {
    let b64 = env.to_xdr_base64(Limits::none()).expect("encodes");
    let child = Command::new("ip")
        .args(["netns", "exec", &format!("{PREFIX}-cl"), BIN, "submit-tx"])
        .args(["--connect", &format!("{}:11625", ip_of(via)), "--network", "standalone", "--timeout", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{b64}");
    }
    let Ok(out) = child.wait_with_output() else { return false };
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    out.status.success() && v["pulled"].as_u64().unwrap_or(0) >= 1
}

/// A database as `stellar-overlay peers` lists it: record addresses and bans.
fn read_db(db: &Path) -> Result<(Vec<String>, usize), String> {
    let out = Command::new(BIN).args(["peers", "--database"]).arg(db).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let (mut records, mut bans) = (Vec::new(), 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        match v["address"].as_str() {
            Some(a) => records.push(a.to_string()),
            None => bans += 1,
        }
    }
    Ok((records, bans))
}

#[test]
#[ignore = "needs root and iproute2; run by scripts/soak-netns"]
fn soak_on_network_namespaces() {
    let s = Settings::from_env();
    std::fs::create_dir_all(&s.dir).expect("the soak directory");
    eprintln!(
        "soak: {} nodes, {} s, {} senders at {} tx/s, a kill every {} s, seed {}, logs in {}",
        s.nodes,
        s.seconds,
        s.senders,
        s.tx_per_sec,
        s.kill_every,
        s.seed,
        s.dir.display()
    );
    let _net = Network::create(s.nodes);
    let mut rng = Rng(s.seed | 1);

    // Sizes must name transactions.
    let capacity = ((s.seconds as f64) * s.tx_per_sec) as usize + 16;
    let sizes: Vec<u64> = (0..capacity).map(|j| message_size(&transaction(j))).collect();
    assert_eq!(sizes.iter().collect::<BTreeSet<_>>().len(), sizes.len(), "transaction sizes are distinct");

    let t0 = Instant::now();
    let nodes: Vec<Arc<Mutex<Node>>> = (0..s.nodes)
        .map(|i| {
            let mut seed = [0x5au8; 32];
            seed[0] = i as u8;
            let db = s.dir.join(format!("n{i}.db"));
            let _ = std::fs::remove_file(&db);
            Arc::new(Mutex::new(Node {
                index: i,
                secret: NodeIdentity::from_seed(seed).secret_strkey(),
                db,
                log: Arc::default(),
                run: None,
                segments: Vec::new(),
                rss_max_kb: 0,
                restarts: 0,
            }))
        })
        .collect();
    for n in &nodes {
        lock(n).start(t0, s.nodes, &s.dir);
        // The seed first: the others dial it.
        std::thread::sleep(Duration::from_millis(if lock(n).index == 0 { 300 } else { 20 }));
    }

    let end = Duration::from_secs(s.seconds);
    let submit_from = Duration::from_secs(s.warmup + 5);
    let submit_until = end.saturating_sub(Duration::from_secs(s.grace + 2));
    let kills_from = Duration::from_secs(s.warmup + 10);
    let kills_until = end.saturating_sub(Duration::from_secs(s.grace + s.warmup));
    let submitted: Arc<Mutex<Vec<Submitted>>> = Arc::default();
    let mut submitters = Vec::new();
    let mut next_tx = 0usize;
    let mut next_kill = kills_from;
    let mut down: Option<(usize, Instant)> = None;
    let mut dbs_after_kills = (0usize, Vec::new());
    let mut tick = Instant::now();
    while t0.elapsed() < end {
        let now = t0.elapsed();
        // Transactions at the set rate, each through an up sender.
        while now >= submit_from
            && now < submit_until
            && (next_tx as f64) < (now - submit_from).as_secs_f64() * s.tx_per_sec
            && next_tx < capacity
        {
            let want = next_tx % s.senders + usize::from(s.nodes > s.senders);
            let via = (0..s.nodes).map(|k| (want + k) % s.nodes).find(|&k| lock(&nodes[k]).run.is_some()).unwrap_or(0);
            let (j, at, submitted) = (next_tx, now.as_secs_f64(), submitted.clone());
            submitters.push(std::thread::spawn(move || {
                let env = transaction(j);
                let pulled = submit(&env, via);
                let size = message_size(&env);
                submitted.lock().unwrap_or_else(|e| e.into_inner()).push(Submitted { index: j, size, at, via, pulled });
            }));
            next_tx += 1;
        }
        // Kill one node at a time, restart it a few seconds later.
        if let Some((i, back_at)) = down {
            if Instant::now() >= back_at {
                let mut n = lock(&nodes[i]);
                // The database of a killed node opens.
                match read_db(&n.db) {
                    Ok(_) => dbs_after_kills.0 += 1,
                    Err(e) => dbs_after_kills.1.push(format!("node {i}: {e}")),
                }
                n.start(t0, s.nodes, &s.dir);
                n.restarts += 1;
                down = None;
            }
        } else if now >= next_kill && now < kills_until {
            let i = rng.below(s.nodes as u64) as usize;
            lock(&nodes[i]).kill(t0);
            let secs = 2 + rng.below(s.kill_every.max(4) / 2);
            down = Some((i, Instant::now() + Duration::from_secs(secs)));
            next_kill = now + Duration::from_secs(s.kill_every);
        }
        if tick.elapsed() >= Duration::from_secs(1) {
            tick = Instant::now();
            for n in &nodes {
                lock(n).sample_rss();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for h in submitters {
        let _ = h.join();
    }
    let peers_at_end: Vec<i64> = nodes.iter().map(|n| lock(n).log.lock().map(|l| l.peers_now).unwrap_or(0)).collect();
    for n in &nodes {
        let mut n = lock(n);
        n.sample_rss();
        n.kill(t0);
    }

    // Deliveries: each transaction a node pulled, to every node up from WARMUP before it
    // to GRACE after it.
    let submitted = std::mem::take(&mut *submitted.lock().unwrap_or_else(|e| e.into_inner()));
    let accepted: Vec<&Submitted> = submitted.iter().filter(|t| t.pulled).collect();
    let (mut expected, mut delivered, mut lost) = (0usize, 0usize, Vec::new());
    for n in &nodes {
        let n = lock(n);
        let log = n.log.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
        for (t, b) in &log.transactions {
            seen.entry(*b).or_default().push(*t);
        }
        for tx in &accepted {
            let Some((_, seg_end)) = n.up_during(tx.at - s.warmup as f64, tx.at + s.grace as f64) else { continue };
            expected += 1;
            let got = seen.get(&tx.size).is_some_and(|ts| ts.iter().any(|&t| t >= tx.at - 1.0 && t <= seg_end));
            if got {
                delivered += 1;
            } else {
                lost.push(format!("tx {} (via node {}, at {:.1} s) not at node {}", tx.index, tx.via, tx.at, n.index));
            }
        }
    }

    // Databases: each opens, holds only this network's addresses, never the node's own.
    let own_net = |a: &str| a.starts_with("203.0.113.");
    let mut db_problems = dbs_after_kills.1.clone();
    let mut records_total = 0;
    for n in &nodes {
        let n = lock(n);
        match read_db(&n.db) {
            Ok((records, _)) => {
                records_total += records.len();
                let me = format!("{}:11625", ip_of(n.index));
                for r in &records {
                    if !own_net(r) || *r == me {
                        db_problems.push(format!("node {}: record {r}", n.index));
                    }
                }
            }
            Err(e) => db_problems.push(format!("node {}: {e}", n.index)),
        }
    }

    let rss: Vec<u64> = nodes.iter().map(|n| lock(n).rss_max_kb / 1024).collect();
    let rss_max = rss.iter().copied().max().unwrap_or(0);
    let restarts: u64 = nodes.iter().map(|n| lock(n).restarts).sum();
    let connections: u64 = nodes.iter().map(|n| lock(n).log.lock().map(|l| l.connected).unwrap_or(0)).sum();
    let report = json!({
        "nodes": s.nodes,
        "seconds": s.seconds,
        "seed": s.seed,
        "kills_and_restarts": restarts,
        "transactions": {
            "submitted": submitted.len(),
            "pulled_by_a_node": accepted.len(),
            "expected_deliveries": expected,
            "delivered": delivered,
            "lost": lost.len(),
        },
        "rss_mb": { "max": rss_max, "bound": s.rss_max_mb, "per_node": rss },
        "databases": {
            "reopened_after_kills": dbs_after_kills.0,
            "records_at_end": records_total,
            "problems": db_problems,
        },
        "connections_made": connections,
        "peers_at_end": peers_at_end,
    });
    println!("== soak report\n{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    for l in lost.iter().take(20) {
        println!("lost: {l}");
    }
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        let _ = std::fs::write(path, serde_json::to_string_pretty(&report).unwrap_or_default());
    }
    assert!(!accepted.is_empty(), "no transaction was submitted");
    assert!(lost.is_empty(), "{} of {expected} deliveries lost", lost.len());
    assert!(rss_max <= s.rss_max_mb, "a node reached {rss_max} MiB (bound {} MiB)", s.rss_max_mb);
    assert!(db_problems.is_empty(), "peer databases: {db_problems:?}");
}
