//! `stellar-overlay crawl` against real `stellar-overlay node` processes on 127.0.0.1 (issue
//! 13, acceptance 5): 20 nodes, each configured (a stellar-core file with
//! `ALLOW_LOCALHOST_FOR_TESTING`) to know the next one only, are all found from one seed,
//! with their keys and the PEERS edges; with unreachable seeds the crawl ends within its
//! `--timeout`; bad arguments exit 2. The nodes alternate between the two drivers
//! (`common::driver_for`), so the crawl meets both, and both meet each other.

mod common;

use overlay_auth::NodeIdentity;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_stellar-overlay");
const NODES: usize = 20;
const WAIT: Duration = Duration::from_secs(30);

/// A node process whose stdout (JSON lines) arrives on a channel; killed on drop.
struct Node {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Node {
    fn spawn(config: &PathBuf, port: u16, driver: &str) -> Node {
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(BIN)
            .args(["node", "--driver", driver, "--config"])
            .arg(config)
            .args(["--listen", &listen, "--database", ":memory:", "--network", "standalone", "--log-format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn stellar-overlay node");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Node { child, lines }
    }

    /// Wait for the node's `listening` event: it accepts connections from then on.
    fn listening(&self) -> Value {
        loop {
            let v = self.lines.recv_timeout(WAIT).expect("a listening event");
            if v["event"] == "listening" {
                return v;
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` distinct free ports on 127.0.0.1 (held together while they are chosen).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stellar-overlay-crawl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn crawl_finds_all_twenty_nodes_of_a_local_network_from_one_seed() {
    let dir = scratch("twenty");
    // One more port: the listening port the crawler advertises (nothing listens there).
    let ports = free_ports(NODES + 1);
    let identities: Vec<NodeIdentity> = (0..NODES).map(|i| NodeIdentity::from_seed([i as u8 + 1; 32])).collect();
    let ids: Vec<String> = identities.iter().map(|k| k.node_id().to_string()).collect();
    let mut nodes = Vec::new();
    for i in 0..NODES {
        // A stellar-core configuration file: the node's seed, loopback addresses allowed in
        // PEERS (§10.4), and one known peer, the next node of a ring.
        let config = dir.join(format!("node{i}.cfg"));
        let text = format!(
            "NODE_SEED=\"{} node{i}\"\nALLOW_LOCALHOST_FOR_TESTING=true\nKNOWN_PEERS=[\"127.0.0.1:{}\"]\n",
            identities[i].secret_strkey(),
            ports[(i + 1) % NODES]
        );
        std::fs::write(&config, text).unwrap();
        nodes.push(Node::spawn(&config, ports[i], &common::driver_for(i)));
    }
    for (i, n) in nodes.iter().enumerate() {
        let l = n.listening();
        assert_eq!(l["node"], ids[i].as_str());
        assert_eq!(l["address"], format!("127.0.0.1:{}", ports[i]));
    }

    let json = dir.join("map.json");
    let dot = dir.join("map.dot");
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["crawl", &format!("127.0.0.1:{}", ports[0]), "--network", "standalone", "--timeout", "60"])
        .args(["--listening-port", &ports[NODES].to_string()])
        .arg("--json")
        .arg(&json)
        .arg("--dot")
        .arg(&dot)
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    eprintln!("crawl of {NODES} nodes took {:.2} s:\n{stderr}", elapsed.as_secs_f64());

    let map: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(map["complete"], true);
    assert_eq!(map["totals"]["nodes"], NODES);
    assert_eq!(map["totals"]["accepted"], NODES);
    assert_eq!(map["totals"]["failures"], 0, "{}", map["failures"]);
    let found: BTreeMap<String, &Value> =
        map["nodes"].as_array().unwrap().iter().map(|n| (n["node_id"].as_str().unwrap().to_string(), n)).collect();
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), ids.iter().cloned().collect::<BTreeSet<_>>());
    for (i, id) in ids.iter().enumerate() {
        let n = found[id];
        assert_eq!(n["addresses"][0], format!("127.0.0.1:{}", ports[i]), "node {i}");
        assert_eq!(n["listening_port"], ports[i]);
        assert_eq!((n["overlay_version"].as_u64(), n["overlay_min_version"].as_u64()), (Some(42), Some(41)));
        assert!(n["version_str"].as_str().unwrap().starts_with("stellar-overlay-rs"));
        assert_eq!(n["accepted"], true);
        assert_eq!(n["verdict"], "admitted");
    }
    // Every node advertised the next one of the ring (its KNOWN_PEERS), and every edge
    // leads to a node that was found.
    let edges: BTreeSet<(String, String, String)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let to_node = e["to_node"].as_str().unwrap_or_else(|| panic!("edge to no node: {e}"));
            (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into(), to_node.into())
        })
        .collect();
    for i in 0..NODES {
        let next = (i + 1) % NODES;
        let edge = (ids[i].clone(), format!("127.0.0.1:{}", ports[next]), ids[next].clone());
        assert!(edges.contains(&edge), "node {i} did not advertise node {next}: {edges:?}");
    }
    let picture = std::fs::read_to_string(&dot).unwrap();
    for id in &ids {
        assert!(picture.contains(&format!("\"{id}\" [label=")), "{id} not in the picture");
    }
    assert!(stderr.contains(&format!("crawl: {NODES} nodes ({NODES} accepted us)")), "{stderr}");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crawl_with_unreachable_seeds_ends_within_its_timeout() {
    // A port nothing listens on (refused at once), and two that accept the TCP connection
    // but never answer (the kernel completes the connection; nobody reads).
    let [closed, silent_a, silent_b] = free_ports(3)[..] else { unreachable!() };
    let _silent: Vec<TcpListener> =
        [silent_a, silent_b].iter().map(|p| TcpListener::bind(("127.0.0.1", *p)).unwrap()).collect();
    let timeout_s = 2;
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["crawl", "--network", "standalone", "--timeout", &timeout_s.to_string(), "--json", "-", "--quiet"])
        .args([closed, silent_a, silent_b].map(|p| format!("127.0.0.1:{p}")))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        elapsed < Duration::from_secs(timeout_s) + Duration::from_secs(1),
        "took {elapsed:?} with --timeout {timeout_s}"
    );
    // Nothing answered: a reported failure.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no node answered"), "{stderr}");
    let map: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(map["stopped_by"], "deadline");
    assert_eq!(map["totals"]["nodes"], 0);
    let failures: BTreeMap<String, (String, String)> = map["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_string();
            (s("address"), (s("kind"), s("reason")))
        })
        .collect();
    assert_eq!(failures[&format!("127.0.0.1:{closed}")], ("refused".into(), "connection refused".into()));
    // The silent ones were still waiting for a HELLO (or, for the second, for its turn on
    // the same host) when the deadline came.
    for p in [silent_a, silent_b] {
        let (kind, reason) = &failures[&format!("127.0.0.1:{p}")];
        assert!(
            (kind.as_str(), reason.as_str()) == ("timed_out", "crawl deadline reached")
                || (kind.as_str(), reason.as_str()) == ("not_dialed", "crawl deadline reached"),
            "{p}: {kind} {reason}"
        );
    }
}

#[test]
fn crawl_refuses_bad_arguments_with_exit_code_2() {
    for args in [
        vec!["crawl"],
        vec!["crawl", "127.0.0.1:0"],
        vec!["crawl", "127.0.0.1:11625", "--timeout", "0"],
        vec!["crawl", "127.0.0.1:11625", "--max-nodes", "0"],
        vec!["crawl", "127.0.0.1:11625", "--network", "nosuchnet"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
